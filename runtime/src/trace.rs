//! Go's package `runtime/trace`: an execution trace of the scheduler's
//! events, written in Go's v1 format for `go tool trace`.
//!
//! See [crate] for the overview.
//!
//! # What it records, and what it does not (yet)
//!
//! The scheduler reports Go's tracer events through its hook
//! ([`gort_scheduler::set_recorder`]): goroutine create / start / yield /
//! preempt / block / unblock / end and P start / stop. [`start`] installs a
//! recorder that keeps them in memory; [`stop`] turns them into a
//! [`gort_profiler::trace::Trace`], checks it against the rules of Go's
//! trace parser ([`Trace::check`](gort_profiler::trace::Trace::check)), and
//! writes it with the profiler's v1 encoder. The goroutine timeline, the
//! Ps, blocking and unblocking are therefore real.
//!
//! The trace is written while it records, as Go's tracer hands its
//! buffers to `ReadTrace`: a writer thread (`gort-trace-writer`, one per
//! trace) takes the events older than `SETTLE` (100 ms) every
//! `WRITE_EVERY` (100 ms), converts them, and writes them as one more
//! part ([`StreamWriter`]: a batch per P, checked and numbered as the
//! continuation of the parts before); [`stop`] writes the rest and the
//! string and stack tables. Memory holds only the last ~200 ms of events
//! and the stacks, and a consumer (the `/debug/pprof/trace` stream) gets
//! the trace as it happens. An event recorded later than `SETTLE` after
//! its time stamp is moved up to the end of the part already written.
//!
//! The collector's phases go by at the host (`GcPhase` in this module): a
//! stop of the world for sweep termination starts a cycle (`GCStart`,
//! `GCSTWStart`), one for mark termination ends its marking, and the
//! collector waking its waiters ends the cycle (`GCDone`, with `HeapAlloc`
//! and `HeapGoal`). The collector's own hook
//! ([`gort_gc::collector::Collector::set_trace_hook`]) reports a
//! goroutine's mark assist (`GCMarkAssistStart`/`Done`) and the sweeping an
//! allocation does before it takes pages (`GCSweepStart`/`Done`), and the
//! heap's (`gort_gc::heap::Heap::set_heap_live_hook`) every change of its
//! live bytes, of which the recorder keeps the moves of 256 KiB or 1/32 or
//! more as `HeapAlloc` (so the Heap counter follows allocations between
//! collections, not only their ends).
//!
//! Mark workers: Go runs them as goroutines on Ps (one per P, created
//! with the start function `runtime.gcBgMarkWorker` when the first cycle
//! starts, parked between runs), each run labelled `GC (dedicated)`,
//! `GC (fractional)` or `GC (idle)` (`GoStartLabel`; the newer Go's
//! reader makes it `GoStart` plus `GoLabel`). The trace has the same
//! goroutines (P `p`'s is id `2^40 + p`), described as parked at the
//! start of a trace that follows a cycle, and runs them where gort marks:
//!
//! * A P of gort's with nothing to run marks in slices between looks at
//!   its queues, as Go's idle worker does; the collector reports each
//!   slice that found work (`TraceEvent::IdleMark`), and the P's worker
//!   runs "GC (idle)" from the slice's start to the end of the last slice
//!   before the P does anything else.
//! * gort's dedicated and fractional workers are threads of the host's
//!   pool that hold no P (they run beside the GOMAXPROCS Ps, where Go's
//!   take a P). The collector reports each stretch of their marking
//!   (`TraceEvent::WorkerMark`, at most 1 ms each); the trace shows it as
//!   a "GC (dedicated)" or "GC (fractional)" run of the worker goroutine
//!   of a P that runs nothing in the trace then (stopped, or between
//!   goroutines): that P's share of the machine was free, and the
//!   worker's thread used a CPU. Stretches less than 50 µs apart make one
//!   run; it ends where the last one ended (its goroutine parks, and a P
//!   started for it stops again) at a longer pause, after 2 ms with no
//!   report, or when the P does something else. While every P runs a
//!   goroutine or marks idle, the stretch is not shown: Go's per-P
//!   timeline has no row for a thread beside the Ps, and rows for Ps
//!   beyond GOMAXPROCS would crash the minimum mutator utilization of
//!   Go 1.19 and of the newer Go (both index their per-P table by the P
//!   of each worker run). Marking that ended before the part of the trace
//!   already written is dropped.
//! * Go writes a stop of the world on the goroutine that stops it (and
//!   Go 1.22+'s viewer needs a goroutine there); when gort's collector
//!   stops the world from its own thread, the stop is written on the
//!   worker goroutine of a P that runs none, labelled as the stopping
//!   worker runs ("GC (fractional)" or "GC (dedicated)"; "GC (dedicated)"
//!   for a thread that is no worker), for the length of the stop (or, if
//!   every P runs a goroutine, on the lowest P's).
//!
//! GOMAXPROCS is written at the start, twice (the newer Go's reader takes
//! the first for the end of the trace's opening and keeps no value from
//! it; its MMU page needs one), and again each time the world restarts
//! after a collector's stop, as Go's `startTheWorld` writes it.
//!
//! # System calls
//!
//! A goroutine can run without its P: inside [`crate::blocking`], or after
//! the preemption signal took the P from it (a long call into the kernel,
//! a stop of the world). Go's trace calls that a system call. The
//! scheduler reports `GoSysCall` when `blocking` starts, and `GoSysExit`
//! when such a goroutine takes an idle P (Go's `exitsyscall`) or `GoStart`
//! when an M hands it its P (a goroutine that waits for one), which the
//! conversion writes as `GoSysExit` then `GoStart`; that the P left it
//! shows in the trace when another M
//! starts it, or it stops, or another goroutine starts on it, and the
//! conversion then writes `GoSysBlock` for the goroutine (as Go's `retake`
//! does). A goroutine whose P went idle and came back to it unseen gets
//! its `GoSysBlock` at its `GoSysExit`. `GoSysExit` is written only for a
//! goroutine the trace has in a system call (after its `GoSysBlock`):
//! Go 1.19's viewer counts them and rejects a trace whose count goes
//! below zero. One that was P-less when the trace started is runnable in
//! the trace until it gets a P (`GoStart` alone).
//!
//! # Stacks
//!
//! The recorder takes a stack where Go's tracer does, for the events that
//! happen on a goroutine: `GoCreate` (the creating goroutine's stack at
//! its `go` call), `GoUnblock` (the waker's stack, when a goroutine wakes
//! it; none when sysmon's timers do), `GoBlock*`/`GoSleep`, `GoSched` and
//! `GoPreempt` (where the goroutine stopped). It walks the frame-pointer
//! chain with [`gort_profiler::symbolize::callers`] when the event happens
//! (raw PCs only), and [`stop`] names the frames with the profiler's
//! symbolizer. The runtime's own frames at the top (`gort_scheduler::…`,
//! `gort::…`) are cut, as Go cuts `runtime.*` frames, so a blocked
//! goroutine's stack starts at the user function that called `recv`.
//! `go tool trace -pprof=sync` therefore points at real source lines.
//!
//! One thing Go records that gort cannot: a goroutine's **start
//! function**. A closure given to `go` runs inside the scheduler's generic
//! trampoline, and the scheduler reports no entry PC. The `start` frame of
//! `GoCreate` is therefore the function that executed the `go` call (the
//! top user frame of the creation stack); goroutines that existed before
//! the trace started get the frame `gort.createdBeforeTrace`, except the
//! main goroutine (the body of [`crate::run`]), which gets Go's name for
//! its start function, `runtime.main`.
//!
//! # From hook events to a trace Go's parser accepts
//!
//! The hooks fire on whatever thread the event happens on, each with its
//! own clock reading, so the recorder sees a faithful but slightly
//! unordered stream. The conversion in [`stop`]:
//!
//! 1. sorts the events by time (ties keep recording order);
//! 2. describes the goroutines that existed at [`start`], as Go's
//!    `StartTrace` does: a `GoCreate` for each, `GoWaiting` for the blocked
//!    ones (those running without a P are runnable in the trace until
//!    they take one), and `ProcStart` + `GoStart` for the one that called `start`;
//! 3. attributes each event to a P: the P named by the event, else the P the
//!    goroutine runs on, else the P of the recording thread, else P 0;
//! 4. starts a P implicitly (`ProcStart`) the first time an event needs it
//!    running — a P that was already running when the trace started never
//!    reports its start;
//! 5. ends what the stop cut, as Go's `StopTrace` does: both [`start`]
//!    and [`stop`] stop the world at a moment when no collection cycle
//!    runs (Go's `stopTheWorldGC`), so every `GCStart` in the trace has
//!    its `GCDone` and no goroutine but the caller of `stop` still runs;
//!    the caller's run ends with `GoSched` (Go's `traceGoSched`), and a
//!    `GCDone` or `GCSTWDone` whose hook had not fired when the events
//!    were taken (those hooks fire after the world restarts) is placed
//!    where the cycle's marking ended, or at the end. Go 1.19's trace
//!    viewer needs both ends of every span: an open one crashes it;
//! 6. repairs the two reorderings the per-thread clocks allow: a `GoStart`
//!    seen before the `GoUnblock` that made it possible gets the unblock
//!    first (the late one is dropped), and a `GoCreate` missing for a
//!    goroutine created while the world restarted is added.
//!
//! # The flight recorder
//!
//! [`FlightRecorder`] (Go 1.25's) is a second consumer of the same
//! recorder: it keeps the events in a bounded ring of generations, each
//! with a snapshot of the goroutines' states at its start, and writes the
//! recent past on demand as a whole trace, through the same conversion
//! (see its module, `trace/flight.rs`). It may run beside [`start`].

use gort_profiler::stack::Frame;
use gort_profiler::trace::v1::StreamWriter;
use gort_profiler::trace::{BlockReason, EventKind, StackId, StwKind, Trace};
use gort_scheduler::{GStatus, SchedEvent, SchedRecorder, WaitReason};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

mod flight;
pub use flight::{
    FlightRecorder, FlightRecorderConfig, FlightWindow, DEFAULT_MAX_BYTES, DEFAULT_MIN_AGE,
};

/// What the recorder saw: a scheduler hook event, or a collector phase the
/// host observed (see [`gc_phase`]).
#[derive(Debug, Clone, Copy)]
enum Ev {
    Sched(SchedEvent),
    /// A collector phase, and the label of the mark worker whose thread
    /// saw it (the stops of the world a worker makes), if any.
    Gc(GcPhase, Option<&'static str>),
    /// The heap's live bytes changed (Go's `HeapAlloc`), sampled: see
    /// [`heap_live_sample`].
    HeapLive(u64),
    /// A goroutine's mark assist or sweep began or ended (the collector's
    /// trace hook, [`gc_work_event`]).
    GcWork(u64, gort_gc::collector::TraceEvent),
    /// A P with nothing to run marked from `start` to the event's time
    /// (Go's idle mark worker).
    IdleMark {
        p: usize,
        start: u64,
    },
    /// A background mark worker's thread (no P) marked from `start` to
    /// the event's time (Go's dedicated or fractional worker).
    WorkerMark {
        slot: usize,
        label: &'static str,
        start: u64,
    },
}

/// The ids of the trace's mark-worker goroutines: `WORKER_GOID + p` for
/// P `p` (far above any goroutine id a program reaches).
const WORKER_GOID: u64 = 1 << 40;

/// The collector's trace hook: a mark assist or a sweep by the calling
/// goroutine (only goroutines do them; a worker thread's is not Go's
/// event), a P's slice of idle marking, a background worker's stretch of
/// marking.
fn gc_work_event(e: gort_gc::collector::TraceEvent) {
    if !tracing() {
        return;
    }
    if let gort_gc::collector::TraceEvent::IdleMark { nanos } = e {
        // On the scheduler's stack, between goroutines: the M's P.
        let Some(p) = gort_scheduler::current_m_p() else {
            return;
        };
        let ts = gort_scheduler::hooks::now_nanos();
        push(Raw {
            ts,
            thread_p: Some(p),
            ev: Ev::IdleMark {
                p,
                start: ts.saturating_sub(nanos),
            },
            stack: None,
        });
        return;
    }
    if let gort_gc::collector::TraceEvent::WorkerMark { mode, slot, nanos } = e {
        // On a thread of the host's pool, without a P.
        let ts = gort_scheduler::hooks::now_nanos();
        push(Raw {
            ts,
            thread_p: None,
            ev: Ev::WorkerMark {
                slot,
                label: worker_label(mode),
                start: ts.saturating_sub(nanos),
            },
            stack: None,
        });
        return;
    }
    let Some(goid) = gort_scheduler::current_goroutine_id() else {
        return;
    };
    let thread_p = gort_scheduler::current_p();
    if thread_p.is_none() {
        // Without its P (`lock` would wait for one inside the collector):
        // the converter ends what this would have ended when it can.
        return;
    }
    let ts = gort_scheduler::hooks::now_nanos();
    push(Raw {
        ts,
        thread_p,
        ev: Ev::GcWork(goid, e),
        stack: None,
    });
}

/// Converts a mark assist's or a sweep's start or end by goroutine `g`.
/// Go's parser keeps one open assist per goroutine and one open sweep per
/// P, and attributes an assist event to the goroutine running on its P, so
/// an event of a goroutine not running in the trace is deferred (an
/// assist's end) or dropped.
fn gc_work(c: &mut Converter, ts: u64, g: u64, work: gort_gc::collector::TraceEvent) {
    use gort_gc::collector::TraceEvent as T;
    let running = match c.gs.get(&g) {
        Some(G::Running(p)) => Some(*p),
        _ => None,
    };
    match work {
        T::AssistStart => {
            let Some(p) = running else { return };
            match c.assists.get(&g).copied() {
                Some(false) => return, // still open: the same assist goes on
                Some(true) => c.t.push(ts, p as u32, EventKind::GcMarkAssistDone),
                None => {}
            }
            c.t.push(ts, p as u32, EventKind::GcMarkAssistStart { stack: 0 });
            c.assists.insert(g, false);
        }
        T::AssistDone => {
            if let Some(deferred) = c.assists.get_mut(&g) {
                match running {
                    Some(p) => {
                        c.t.push(ts, p as u32, EventKind::GcMarkAssistDone);
                        c.assists.remove(&g);
                    }
                    None => *deferred = true,
                }
            }
        }
        T::SweepStart => {
            let Some(p) = running else { return };
            if c.sweeps.values().any(|&q| q == p) {
                return;
            }
            let ts = ts.max(c.sweep_closed.get(&p).copied().unwrap_or(0));
            c.t.push(ts, p as u32, EventKind::SweepStart { stack: 0 });
            c.sweeps.insert(g, p);
        }
        T::SweepDone { swept, reclaimed } => {
            if let Some(p) = c.sweeps.remove(&g) {
                let ts = ts.max(last_ts(&c.t, p as u32));
                c.t.push(ts, p as u32, EventKind::SweepDone { swept, reclaimed });
                c.sweep_closed.insert(p, ts);
            }
        }
        T::IdleMark { .. } | T::WorkerMark { .. } => {} // recorded as Ev::IdleMark, WorkerMark
    }
}

/// Go's labels of its mark workers' runs (`gcMarkWorkerModeStrings`).
const IDLE: &str = "GC (idle)";
const DEDICATED: &str = "GC (dedicated)";
const FRACTIONAL: &str = "GC (fractional)";

/// Go's label of a background worker's runs.
fn worker_label(mode: gort_gc::host::MarkWorkerMode) -> &'static str {
    match mode {
        gort_gc::host::MarkWorkerMode::Dedicated => DEDICATED,
        gort_gc::host::MarkWorkerMode::Fractional => FRACTIONAL,
    }
}

/// Two stretches of a background worker's marking closer than this show
/// as one run of its goroutine (the reports of one stretch in pieces, see
/// `gort_gc::collector::WORKER_TRACE_SLICE`, follow each other closely).
const WORKER_GAP: u64 = 50_000;

/// A P's mark worker goroutine running in the trace.
#[derive(Debug, Clone, Copy)]
struct WorkerRun {
    /// When its last slice of marking ended: where it parks.
    end: u64,
    /// Its label (the `GoStartLabel` of the run).
    label: &'static str,
    /// The background worker whose marking it shows (its slot), `None`
    /// for a P's idle marking.
    slot: Option<usize>,
    /// The P was stopped in the trace when the run began (started for it):
    /// it stops again when the run ends, unless something else runs there.
    raised: bool,
}

/// How long after a background worker's last reported stretch its run
/// is closed if no other stretch follows: a stretch is reported when it
/// ends, at most about 1 ms after it began
/// (`gort_gc::collector::WORKER_TRACE_SLICE`), so by then the next one of
/// a worker that marks on has been seen.
const WORKER_QUIET: u64 = 2_000_000;

/// Ends the runs of background workers that have reported no stretch for
/// [`WORKER_QUIET`] by `now` (their goroutine parks where the last stretch
/// ended; a P started for the run stops again). Nothing else ends such a
/// run on a P where nothing happens, and the part of the trace written
/// next would stretch it to its own start.
fn close_quiet_workers(c: &mut Converter, now: u64) {
    let mut quiet: Vec<usize> = c
        .workers
        .iter()
        .filter(|(_, r)| r.slot.is_some() && r.end + WORKER_QUIET < now)
        .map(|(&p, _)| p)
        .collect();
    quiet.sort_unstable();
    for p in quiet {
        end_worker_run(c, p);
    }
}

/// Ends the background worker's run on P `p` where its last stretch
/// ended: its goroutine parks, and a P started for the run stops again.
fn end_worker_run(c: &mut Converter, p: usize) {
    let Some(run) = c.workers.get(&p).copied() else {
        return;
    };
    if c.running.get(&p) != Some(&(WORKER_GOID + p as u64)) {
        c.workers.remove(&p);
        return;
    }
    c.lost_p(run.end, p);
    if run.raised && c.up[p] && !c.running.contains_key(&p) {
        let at = last_ts(&c.t, p as u32);
        c.t.push(at, p as u32, EventKind::ProcStop);
        c.up[p] = false;
    }
}

/// A slice of idle marking on P `p` from `start` to `end`: P `p`'s mark
/// worker goroutine runs (Go's `GoStartLabel` "GC (idle)"), created the
/// first time, unblocked after the first; a slice that follows the last
/// with nothing in between on the P extends its run. The run ends (its
/// `GoBlock`, as Go's worker parks) when the P does something else
/// ([`Converter::lost_p`]). A background worker's run shown on the P
/// ends first: the P's own M marks there.
fn idle_mark(c: &mut Converter, p: usize, start: u64, end: u64) {
    let p = c.p_index(p);
    let w = WORKER_GOID + p as u64;
    if c.running.get(&p) == Some(&w) {
        match c.workers.get_mut(&p) {
            Some(run) if run.label != IDLE => {}
            Some(run) => {
                run.end = end;
                return;
            }
            None => {
                // Started for a stop of the world: it marks on.
                c.workers.insert(
                    p,
                    WorkerRun {
                        end,
                        label: DEDICATED,
                        slot: None,
                        raised: false,
                    },
                );
                return;
            }
        }
    }
    let start = start.max(c.floor).max(last_ts(&c.t, p as u32));
    c.lost_p(start, p);
    let start = c.start_worker(start, p, IDLE);
    c.workers.insert(
        p,
        WorkerRun {
            end: end.max(start),
            label: IDLE,
            slot: None,
            raised: false,
        },
    );
}

/// A stretch of marking from `start` to `end` by background worker `slot`
/// (a thread of the host's that holds no P) with Go's `label`. Go runs
/// such a worker as a P's mark worker goroutine; the trace shows the
/// stretch as a run of the worker goroutine of a P that runs nothing then
/// (one stopped, or between goroutines; preferably the one it showed on
/// last, then a stopped one): that P's share of the machine was free, and
/// the worker's thread used a CPU. The run begins no earlier than the P's
/// last event and ends when the P does something else. While every P runs
/// a goroutine (or marks idle itself), the stretch is not shown: the
/// worker's thread then runs beside GOMAXPROCS goroutines, and Go's
/// per-P timeline has no row for it.
fn worker_mark(c: &mut Converter, slot: usize, label: &'static str, start: u64, end: u64) {
    let shown = c
        .workers
        .iter()
        .find(|(p, r)| {
            r.slot == Some(slot)
                && r.label == label
                && c.running.get(p) == Some(&(WORKER_GOID + **p as u64))
        })
        .map(|(&p, r)| (p, r.end));
    let mut last_p = c.worker_last_p.get(&slot).copied();
    if let Some((p, last)) = shown {
        if start <= last + WORKER_GAP {
            if let Some(run) = c.workers.get_mut(&p) {
                run.end = end.max(last);
            }
            return;
        }
        // It paused (a fractional worker's sleep): its goroutine parks.
        end_worker_run(c, p);
        last_p = Some(p);
    }
    let free = (0..c.up.len())
        .filter(|p| !c.running.contains_key(p))
        .min_by_key(|&p| (Some(p) != last_p, c.up[p], p));
    let Some(p) = free else {
        return;
    };
    let start = start.max(c.floor).max(last_ts(&c.t, p as u32));
    if start >= end {
        return;
    }
    let raised = !c.up[p];
    let start = c.start_worker(start, p, label);
    c.workers.insert(
        p,
        WorkerRun {
            end: end.max(start),
            label,
            slot: Some(slot),
            raised,
        },
    );
    c.worker_last_p.insert(slot, p);
}

/// A collector phase, as seen at the host boundary (`runtime/src/host.rs`):
/// the collector stops the world for sweep termination at the start of a
/// cycle and for mark termination at its end, and wakes waiters when a
/// cycle is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GcPhase {
    /// The world is about to stop for sweep termination: a cycle starts.
    SweepTerminationStop,
    /// The world is about to stop for mark termination.
    MarkTerminationStop,
    /// The world restarts after a GC stop.
    WorldRestart,
    /// A cycle is complete (the collector woke its waiters).
    CycleDone {
        /// Live heap bytes now (Go's `HeapAlloc` trace event).
        heap_alloc: u64,
        /// The next heap goal (Go's `HeapGoal` / `NextGC`).
        heap_goal: u64,
    },
}

/// One event with its time, the P of the thread that recorded it and, for
/// events that happen on the goroutine itself, its stack (raw return PCs).
#[derive(Debug, Clone)]
struct Raw {
    ts: u64,
    thread_p: Option<usize>,
    ev: Ev,
    stack: Option<Box<[u64]>>,
}

/// Most frames kept per event stack (Go keeps 128; 32 shows the caller
/// chain of ordinary programs).
const STACK_DEPTH: usize = 32;

/// The calling goroutine's stack for `ev`, if Go's tracer records one for
/// that kind of event (those that happen on the goroutine).
fn event_stack(ev: &SchedEvent) -> Option<Box<[u64]>> {
    match ev {
        SchedEvent::GoCreate { .. }
        | SchedEvent::GoUnblock { .. }
        | SchedEvent::GoBlock { .. }
        | SchedEvent::GoSched { .. }
        | SchedEvent::GoPreempt { .. }
        | SchedEvent::GoSysCall { .. } => {
            gort_scheduler::current_goroutine_id()?;
            let mut buf = [0u64; STACK_DEPTH];
            let n = gort_profiler::symbolize::callers(0, &mut buf);
            Some(buf[..n].into())
        }
        _ => None,
    }
}

/// What `start` saw with the world stopped.
struct Begin {
    start_ts: u64,
    /// Goroutines at start: (goid, status), and the P and goroutine of the
    /// caller of `start`, if it is a goroutine.
    initial: Vec<(u64, GStatus)>,
    caller: Option<(usize, u64)>,
    gomaxprocs: usize,
    /// The main goroutine (named `runtime.main`).
    main_goid: u64,
    /// The heap's live bytes and goal at start.
    heap: (u64, u64),
    /// Whether a collection cycle ran before: Go's mark worker goroutines
    /// (one per P, created at the first cycle's start) exist, parked.
    workers: bool,
}

/// The trace being recorded. Protected by `ACTIVE`.
struct Active {
    out: Box<dyn Write + Send>,
    /// The events converted so far (those not yet written in `conv.t`).
    conv: Converter,
    writer: StreamWriter,
    /// Which trace this is (the writer thread of an earlier one exits).
    id: u64,
    /// The first error writing a part; the rest is not written and `stop`
    /// returns it.
    failed: Option<io::Error>,
}

/// Numbers the traces, for their writer threads.
static TRACE_ID: AtomicU64 = AtomicU64::new(0);

/// How often the writer thread writes the events recorded so far.
const WRITE_EVERY: Duration = Duration::from_millis(100);
/// How old an event must be before it is written: the hooks stamp an
/// event before they record it, so a recent stamp may still have earlier
/// ones on their way. An event later than this is moved up to the last
/// part's end (see `Converter::floor`).
const SETTLE: Duration = Duration::from_millis(100);

/// The writer thread of trace `id` (Go's `ReadTrace` loop): every
/// [`WRITE_EVERY`], converts and writes the events older than [`SETTLE`],
/// until that trace stops.
fn writer_thread(id: u64) {
    loop {
        std::thread::sleep(WRITE_EVERY);
        let mut active = lock(&ACTIVE);
        let Some(a) = active.as_mut().filter(|a| a.id == id) else {
            return;
        };
        if a.failed.is_some() {
            continue;
        }
        let horizon = gort_scheduler::hooks::now_nanos().saturating_sub(SETTLE.as_nanos() as u64);
        let events: Vec<Raw> = {
            let mut recorded = lock(&EVENTS);
            let (old, recent) = std::mem::take(&mut *recorded)
                .into_iter()
                .partition(|r| r.ts < horizon);
            *recorded = recent;
            old
        };
        feed(&mut a.conv, events, horizon);
        let written = a
            .writer
            .write_events(&mut a.conv.t, &mut a.out)
            .and_then(|()| a.out.flush());
        if let Err(e) = written {
            a.failed = Some(gort_error(e));
        }
    }
}

/// A trace that breaks Go's rules is gort's fault: say so.
fn gort_error(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::InvalidData {
        io::Error::other(format!("gort trace: {e}"))
    } else {
        e
    }
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);
/// Recorded events. Protected by its mutex (held only to push or take).
static EVENTS: Mutex<Vec<Raw>> = Mutex::new(Vec::new());
/// Whether the recorder keeps events: a trace is written ([`start`]) or a
/// [`FlightRecorder`] runs. Relaxed: a late or early event at the edges is
/// handled by the conversion.
static ON: AtomicBool = AtomicBool::new(false);
/// Whether a trace is written (between [`start`] and [`stop`]): the
/// recorder pushes on `EVENTS`.
static STREAM_ON: AtomicBool = AtomicBool::new(false);

/// After a consumer (the written trace, the flight recorder) started or
/// stopped: the recorder, the heap's and the collector's hooks run while
/// either does. Serialized, so that the last caller installs what the
/// flags say now.
fn consumers_changed() {
    static CHANGING: Mutex<()> = Mutex::new(());
    let _one = lock(&CHANGING);
    let any = STREAM_ON.load(Ordering::Relaxed) || flight::on();
    let heap = gort_gc::heap::global();
    if any {
        heap.set_heap_live_hook(heap_live_sample);
    }
    heap.observe_heap_live(any);
    if let Some(c) = gort_gc::collector::try_global() {
        if any {
            c.set_trace_hook(gc_work_event);
        }
        c.trace_events(any);
    }
    ON.store(any, Ordering::Relaxed);
    crate::pprof::set_trace_recorder(any.then_some(&RECORDER as &dyn SchedRecorder));
}

/// Hands a recorded event to each consumer that runs. Not `lock`: the
/// scheduler calls recorders pinned already, and `lock` would take a P
/// back for a goroutine that has just given its own away (see
/// `Recorder::record`).
fn push(r: Raw) {
    let raw =
        |m: &'static Mutex<Vec<Raw>>| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let stream = STREAM_ON.load(Ordering::Relaxed);
    if flight::on() {
        if !stream {
            return raw(flight::pending()).push(r);
        }
        raw(flight::pending()).push(r.clone());
    }
    if stream {
        raw(&EVENTS).push(r);
    }
}

use crate::lock::lock;

struct Recorder;

impl SchedRecorder for Recorder {
    fn record(&self, nanos: u64, ev: SchedEvent) {
        if ON.load(Ordering::Relaxed) {
            let thread_p = gort_scheduler::current_p();
            let stack = event_stack(&ev);
            // Not `lock`: the scheduler calls recorders pinned already, and
            // `lock` would take a P back for a goroutine that has just
            // given its own away (`blocking`'s hand-off reports ProcStop
            // from the goroutine's thread): the trace would end the system
            // call it records.
            push(Raw {
                ts: nanos,
                thread_p,
                ev: Ev::Sched(ev),
                stack,
            });
        }
    }
}

/// Whether a trace is being recorded (one relaxed load: the host checks it
/// before computing anything for [`gc_phase`]).
#[inline]
pub(crate) fn tracing() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Record a collector phase observed by the host, if tracing.
pub(crate) fn gc_phase(phase: GcPhase) {
    if tracing() {
        let ts = gort_scheduler::hooks::now_nanos();
        let thread_p = gort_scheduler::current_p();
        push(Raw {
            ts,
            thread_p,
            ev: Ev::Gc(
                phase,
                gort_gc::collector::current_worker_mode().map(worker_label),
            ),
            stack: None,
        });
    }
}

/// The last `heap_live` recorded (see [`heap_live_sample`]).
static HEAP_LAST: AtomicU64 = AtomicU64::new(0);

/// The heap's `heap_live` hook while tracing: records a `HeapAlloc` when
/// the value moved by at least 256 KiB or 1/32 of the last one recorded
/// since then. Go records every change (each span a cache takes, each
/// large object); a program that allocates gigabytes a second would fill
/// the trace with them, while the counter `go tool trace` draws needs
/// only the movements it can show: every large object of 256 KiB or
/// more, each step of the saw-tooth, the peaks. Runs on the allocating
/// or sweeping thread (see `Heap::set_heap_live_hook`): no heap
/// allocation, no blocking beyond the event buffer's lock.
fn heap_live_sample(now: u64) {
    if !tracing() {
        return;
    }
    let last = HEAP_LAST.load(Ordering::Relaxed);
    if now.abs_diff(last) < (last / 32).max(256 << 10) {
        return;
    }
    let thread_p = gort_scheduler::current_p();
    if thread_p.is_none() && gort_scheduler::current_goroutine_id().is_some() {
        // A goroutine running without its P (sweeping in a system call's
        // shadow): `lock` would make it wait for a P inside the heap. The
        // next change is recorded instead.
        return;
    }
    HEAP_LAST.store(now, Ordering::Relaxed);
    let ts = gort_scheduler::hooks::now_nanos();
    push(Raw {
        ts,
        thread_p,
        ev: Ev::HeapLive(now),
        stack: None,
    });
}

static RECORDER: Recorder = Recorder;

/// Go's `trace.IsEnabled`: whether a trace is being recorded (between
/// [`start`] and [`stop`]).
pub fn is_enabled() -> bool {
    // Not ACTIVE's lock: `start` holds it while the world stops, and a
    // goroutine blocked on it would never reach the stop.
    ON.load(Ordering::Relaxed)
}

/// Stops the world at a moment when no collection cycle is running (Go's
/// `stopTheWorldGC`, which `StartTrace` and `StopTrace` use "so we always
/// see a consistent view of GC-related events"): a cycle starts and ends
/// with stops of the world of its own, so with the world stopped and the
/// collector's phase `Off`, every cycle is either wholly before this point
/// or wholly after it. While a cycle runs, the world is restarted and the
/// stop tried again a moment later.
fn stop_the_world_outside_gc() -> gort_scheduler::WorldStopped {
    loop {
        let world = gort_scheduler::stop_the_world(gort_scheduler::StwReason::Trace);
        let off = gort_gc::collector::try_global()
            .is_none_or(|c| c.phase() == gort_gc::phase::Phase::Off);
        if off {
            return world;
        }
        gort_scheduler::start_the_world(world);
        let pause = std::time::Duration::from_micros(200);
        if gort_scheduler::current_goroutine_id().is_some() {
            crate::sleep(pause);
        } else {
            std::thread::sleep(pause);
        }
    }
}

/// `trace.Start`: start recording an execution trace, written to `w` as
/// it records (see the module doc) and finished by [`stop`]. Fails if a
/// trace is already being recorded.
pub fn start(w: impl Write + Send + 'static) -> io::Result<()> {
    crate::run::ensure_started();
    // The stack walks of the recorder stay inside the goroutine's stack.
    gort_profiler::cpu::set_goroutine_stack_bounds(gort_scheduler::current_goroutine_stack_bounds);
    gort_profiler::cpu::set_thread_stack_bounds(gort_scheduler::hooks::current_thread_stack_bounds);
    // One walk now, so the first event does not pay for the walker's
    // one-time setup (the list of executable segments).
    gort_profiler::symbolize::callers(0, &mut [0u64; 1]);
    let mut active = lock(&ACTIVE);
    if active.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "tracing is already enabled",
        ));
    }
    // Snapshot the goroutines with the world stopped, and install the
    // recorder before it restarts, so no event falls between the two.
    let world = stop_the_world_outside_gc();
    let mut initial = Vec::new();
    gort_scheduler::for_each_goroutine_stack(&world, &mut |s| initial.push((s.goid, s.status)));
    let caller = gort_scheduler::current_p().zip(gort_scheduler::current_goroutine_id());
    let start_ts = gort_scheduler::hooks::now_nanos();
    lock(&EVENTS).clear();
    // The heap's size and goal when the trace starts, then its changes.
    let heap = gort_gc::heap::global();
    let heap_live = heap.heap_live();
    let heap_goal = gort_gc::collector::try_global().map_or(0, |c| c.mem_stats().next_gc);
    HEAP_LAST.store(heap_live, Ordering::Relaxed);
    STREAM_ON.store(true, Ordering::Relaxed);
    consumers_changed();
    let id = TRACE_ID.fetch_add(1, Ordering::Relaxed) + 1;
    *active = Some(Active {
        out: Box::new(w),
        conv: begin(&Begin {
            start_ts,
            initial,
            caller,
            gomaxprocs: gort_scheduler::gomaxprocs(0).max(1) as usize,
            main_goid: gort_scheduler::main_goroutine_id(),
            heap: (heap_live, heap_goal),
            workers: gort_gc::collector::try_global().is_some_and(|c| c.num_gc() > 0),
        }),
        writer: StreamWriter::new(),
        id,
        failed: None,
    });
    gort_scheduler::start_the_world(world);
    drop(active);
    let mark = gort_scheduler::RuntimeThread::begin();
    if let Err(e) = std::thread::Builder::new()
        .name("gort-trace-writer".into())
        .spawn(move || {
            let _mark = mark;
            writer_thread(id)
        })
    {
        // Without its writer the trace is written whole at `stop`.
        eprintln!("gort: trace writer thread: {e}; the trace is written when it stops");
    }
    Ok(())
}

/// `trace.Stop`: stop recording and write the rest of the trace. Does
/// nothing if no trace is being recorded. Errors (a write error, or a
/// trace that breaks Go's parser rules, then or in a part written before)
/// are returned, where Go would only log them.
pub fn stop() -> io::Result<()> {
    let Some(mut a) = lock(&ACTIVE).take() else {
        return Ok(());
    };
    // Take the events at a point outside any collection cycle, as Go's
    // `StopTrace` does, so a cycle the trace saw start is seen to end.
    let world = stop_the_world_outside_gc();
    STREAM_ON.store(false, Ordering::Relaxed);
    consumers_changed();
    let events = std::mem::take(&mut *lock(&EVENTS));
    let end_ts = gort_scheduler::hooks::now_nanos();
    gort_scheduler::start_the_world(world);
    if let Some(e) = a.failed.take() {
        return Err(e);
    }
    feed(&mut a.conv, events, end_ts);
    end(&mut a.conv, end_ts);
    a.writer
        .finish(&mut a.conv.t, &mut a.out)
        .map_err(gort_error)?;
    a.out.flush()
}

/// Per-goroutine state while converting (Go's parser's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    Runnable,
    Running(usize),
    Waiting,
    /// Running without a P (a system call, or left by the preemption
    /// signal): in Go's trace, blocked in a syscall (`GoSysBlock`) until
    /// `GoSysExit`.
    InSyscall,
    Dead,
}

struct Converter {
    t: Trace,
    start: StackId,
    /// Stack ids of the raw stacks seen so far.
    stacks: HashMap<Box<[u64]>, (StackId, StackId)>,
    gs: HashMap<u64, G>,
    /// Goroutine running on each P (absent: none).
    running: HashMap<usize, u64>,
    up: Vec<bool>,
    /// The P of events that name none: the caller of `start`'s, or 0.
    first_p: usize,
    /// No event is placed before this time: the trace's start, then the
    /// horizon of the last part written (a late event is moved up to it,
    /// so each part's events follow the previous part's).
    floor: u64,
    /// A GC cycle, a GC stop of the world, is open.
    in_gc: bool,
    in_stw: bool,
    /// When the world last restarted after a mark termination stop, and
    /// on which P: the end of the cycle's marking.
    marked: Option<(u64, u32)>,
    /// The open stop of the world is a mark termination.
    stw_is_mark_termination: bool,
    /// Goroutines in a mark assist (GCMarkAssistStart written); with
    /// `true` if its end came while the goroutine was not running, so the
    /// trace still has it open (closed before its next start).
    assists: HashMap<u64, bool>,
    /// Goroutines sweeping, and the P their GCSweepStart went to.
    sweeps: HashMap<u64, usize>,
    /// Per P, the time its last sweep was closed at (a later start is
    /// written no earlier: events reach the converter in arrival order,
    /// and a closing event may carry a later time than the next start).
    sweep_closed: HashMap<usize, u64>,
    /// Ps whose mark worker runs in the trace, with its run.
    workers: HashMap<usize, WorkerRun>,
    /// The P each background worker (by slot) showed on last.
    worker_last_p: HashMap<usize, usize>,
    /// GOMAXPROCS (the trace's `Gomaxprocs` events).
    procs: u64,
    /// Cycles started in the trace (sweep termination seen) and not done.
    cycles_open: u32,
    /// Where the open stop of the world was written: P, goroutine, and
    /// whether that is the P's mark worker, started for it.
    stw_on: Option<(usize, u64, bool, &'static str)>,
}

impl Converter {
    fn p_index(&mut self, p: usize) -> usize {
        if p >= self.up.len() {
            self.up.resize(p + 1, false);
        }
        p
    }

    fn ensure_up(&mut self, ts: u64, p: usize) {
        let p = self.p_index(p);
        if !self.up[p] {
            self.up[p] = true;
            self.t
                .push(ts, p as u32, EventKind::ProcStart { thread: p as u64 });
        }
    }

    fn create(&mut self, ts: u64, p: usize, g: u64) {
        self.create_at(ts, p, g, None);
    }

    /// `GoCreate` for `g`, with the creator's stack if it was recorded.
    fn create_at(&mut self, ts: u64, p: usize, g: u64, pcs: Option<&[u64]>) {
        if !self.gs.contains_key(&g) {
            let (stack, start) = match self.stack_ids(pcs) {
                (0, _) => (0, self.start),
                ids => ids,
            };
            self.t
                .push(ts, p as u32, EventKind::GoCreate { g, start, stack });
            self.gs.insert(g, G::Runnable);
        }
    }

    /// The trace's stack id for raw PCs (0: none), and the id of a
    /// one-frame stack of its top user frame (a created goroutine's
    /// `start`, see the module doc).
    fn stack_ids(&mut self, pcs: Option<&[u64]>) -> (StackId, StackId) {
        let Some(pcs) = pcs else { return (0, 0) };
        if let Some(&ids) = self.stacks.get(pcs) {
            return ids;
        }
        let frames = gort_profiler::symbolize::symbolize(pcs);
        let user = frames
            .iter()
            .position(|f| !is_runtime_frame(&f.function))
            .unwrap_or(frames.len());
        let ids = if user == frames.len() {
            (0, 0)
        } else {
            let start = self.t.stack(&frames[user..user + 1]);
            (self.t.stack(&frames[user..]), start)
        };
        self.stacks.insert(pcs.into(), ids);
        ids
    }

    /// Runs P `p`'s mark worker goroutine (`runtime.gcBgMarkWorker`) from
    /// `ts` (or the P's last event) with `label`: created the first time,
    /// unblocked after. The P must run no goroutine in the trace. Returns
    /// the time it starts.
    fn start_worker(&mut self, ts: u64, p: usize, label: &str) -> u64 {
        let w = WORKER_GOID + p as u64;
        let ts = ts.max(self.floor).max(last_ts(&self.t, p as u32));
        self.ensure_up(ts, p);
        match self.gs.get(&w) {
            None => self.create_worker(ts, p, w),
            Some(G::Runnable) => {}
            Some(G::Waiting) => {
                self.t
                    .push(ts, p as u32, EventKind::GoUnblock { g: w, stack: 0 });
            }
            _ => return ts,
        }
        let label = self.t.label(label);
        self.t
            .push(ts, p as u32, EventKind::GoStartLabel { g: w, label });
        self.gs.insert(w, G::Running(p));
        self.running.insert(p, w);
        ts
    }

    /// `GoCreate` of mark worker goroutine `w` (`runtime.gcBgMarkWorker`)
    /// on P `p`.
    fn create_worker(&mut self, ts: u64, p: usize, w: u64) {
        let stack = self
            .t
            .stack(&[Frame::new("runtime.gcBgMarkWorker", "?", 0, 0, 0)]);
        self.t.push(
            ts,
            p as u32,
            EventKind::GoCreate {
                g: w,
                start: stack,
                stack: 0,
            },
        );
        self.gs.insert(w, G::Runnable);
    }

    /// A goroutine to write a stop of the world on at `ts` (Go's trace
    /// writes it on the goroutine that stops the world, and Go 1.22+'s
    /// viewer needs one): the one running on `prefer` (the recording
    /// thread's P), else a P's mark worker started on a P that runs none
    /// with `label` (gort's collector stops the world from a worker
    /// thread, where Go's runs a mark worker goroutine: the label of that
    /// worker's mode), else the goroutine on the lowest P.
    /// Returns (P, goroutine, whether the worker was started for it).
    fn gc_context(
        &mut self,
        ts: u64,
        prefer: Option<usize>,
        label: &'static str,
    ) -> (usize, u64, bool) {
        if let Some(p) = prefer {
            if let Some(&g) = self.running.get(&p) {
                return (p, g, false);
            }
        }
        let idle = prefer
            .into_iter()
            .chain(0..self.up.len())
            .find(|p| !self.running.contains_key(p));
        if let Some(p) = idle {
            let p = self.p_index(p);
            self.start_worker(ts, p, label);
            return (p, WORKER_GOID + p as u64, true);
        }
        let (&p, &g) = self
            .running
            .iter()
            .min_by_key(|(p, _)| **p)
            .expect("a P runs a goroutine");
        (p, g, false)
    }

    /// Ends the open stop of the world at `ts`, on the goroutine that
    /// started it if it still runs (else on one [`Converter::gc_context`]
    /// finds); returns where.
    fn stw_done(&mut self, ts: u64) -> (u64, u32) {
        let (sp, sg, started, label) =
            self.stw_on
                .take()
                .unwrap_or((self.first_p, 0, false, DEDICATED));
        let (p, extra) = match self.gs.get(&sg) {
            Some(G::Running(q)) if sg != 0 => (*q, false),
            _ => {
                let (p, _, started) = self.gc_context(ts, Some(sp), label);
                (p, started)
            }
        };
        let at = ts.max(self.floor).max(last_ts(&self.t, p as u32));
        self.t.push(at, p as u32, EventKind::StwDone);
        // Go's startTheWorld writes GOMAXPROCS (procresize's
        // traceGomaxprocs) each time the world restarts.
        let procs = self.procs;
        self.t
            .push(at, p as u32, EventKind::Gomaxprocs { procs, stack: 0 });
        if extra {
            self.lost_p(at, p);
        }
        if started {
            // The worker started for the stop parks (if it still runs).
            if self.running.get(&sp) == Some(&(WORKER_GOID + sp as u64)) {
                self.lost_p(at, sp);
            }
        }
        (at, p as u32)
    }

    /// The goroutine running on `p` in the trace, if any, ran on without
    /// its P (the scheduler gave the P to another M, or stopped it): in
    /// Go's words it blocked in a system call (`GoSysBlock`, as Go's
    /// `retake` and `entersyscallblock` record for the P they take).
    fn lost_p(&mut self, ts: u64, p: usize) {
        let Some(g) = self.running.get(&p).copied() else {
            return;
        };
        if g == WORKER_GOID + p as u64 {
            // The P's idle mark worker parks where its last slice ended.
            let end = self.workers.remove(&p).map_or(ts, |r| r.end);
            let at = end.min(ts).max(self.floor).max(last_ts(&self.t, p as u32));
            let block = EventKind::GoBlock {
                reason: BlockReason::Other,
                stack: 0,
            };
            self.leave(at, g, block, G::Waiting);
            return;
        }
        self.leave(ts, g, EventKind::GoSysBlock, G::InSyscall);
    }

    /// Goroutine `g` runs on `p` again after running without a P:
    /// `GoSysExit` then `GoStart` on `p` (Go's `exitsyscall`).
    /// A goroutine the trace has runnable (P-less when the trace
    /// started) only starts: a GoSysExit needs a GoSysBlock before it.
    fn sys_exit(&mut self, ts: u64, g: u64, p: usize) {
        let exit = match self.gs.get(&g).copied() {
            Some(G::Running(q)) => {
                // It left `q` without the P's start or stop by another M
                // showing (the P went idle and came back to it).
                self.lost_p(ts, q);
                true
            }
            Some(G::InSyscall) => true,
            Some(G::Runnable) => false,
            _ => return,
        };
        if exit && self.gs.get(&g) != Some(&G::InSyscall) {
            // Not on `q` in the trace after all: no GoSysBlock was
            // written, so no GoSysExit may be.
            return;
        }
        self.ensure_up(ts, p);
        self.lost_p(ts, p);
        if exit {
            self.t.push(ts, p as u32, EventKind::GoSysExit { g });
        }
        self.t.push(ts, p as u32, EventKind::GoStart { g });
        self.gs.insert(g, G::Running(p));
        self.running.insert(p, g);
    }

    /// The current goroutine on its P leaves it with `kind`.
    fn leave(&mut self, ts: u64, g: u64, kind: EventKind, next: G) {
        if let Some(G::Running(p)) = self.gs.get(&g).copied() {
            self.t.push(ts, p as u32, kind);
            self.running.remove(&p);
            self.gs.insert(g, next);
        }
    }
}

/// The runtime's own frames, cut from the top of event stacks (Go cuts
/// `runtime.*` the same way).
fn is_runtime_frame(function: &str) -> bool {
    ["gort_scheduler::", "gort_profiler::", "gort_gc::", "gort::"]
        .iter()
        .any(|p| function.starts_with(p))
}

fn block_kind(reason: WaitReason, stack: StackId) -> EventKind {
    let reason = match reason {
        WaitReason::Sleep => return EventKind::GoSleep { stack },
        WaitReason::ChanReceive => BlockReason::Recv,
        WaitReason::ChanSend => BlockReason::Send,
        WaitReason::Select => BlockReason::Select,
        WaitReason::WaitGroup | WaitReason::Mutex => BlockReason::Sync,
        WaitReason::GcWait => BlockReason::Gc,
        WaitReason::None | WaitReason::Other => BlockReason::Other,
    };
    EventKind::GoBlock { reason, stack }
}

impl Converter {
    /// A converter whose trace opens at `ts0` on P `first_p` with
    /// GOMAXPROCS and the heap's size and goal (`heap`: live, goal; no goal
    /// event when 0), for [`begin`] and the flight recorder's snapshot
    /// start. Also returns the stack that names the main goroutine's
    /// start, `runtime.main`, as Go names it.
    fn opening(
        ts0: u64,
        gomaxprocs: usize,
        first_p: usize,
        heap: (u64, u64),
    ) -> (Converter, StackId) {
        let mut c = Converter {
            t: Trace::new(),
            start: 0,
            stacks: HashMap::new(),
            gs: HashMap::new(),
            running: HashMap::new(),
            up: vec![false; gomaxprocs],
            first_p,
            floor: ts0,
            in_gc: false,
            in_stw: false,
            marked: None,
            stw_is_mark_termination: false,
            assists: HashMap::new(),
            sweeps: HashMap::new(),
            sweep_closed: HashMap::new(),
            workers: HashMap::new(),
            worker_last_p: HashMap::new(),
            stw_on: None,
            procs: gomaxprocs as u64,
            cycles_open: 0,
        };
        c.start =
            c.t.stack(&[Frame::new("gort.createdBeforeTrace", "?", 0, 0, 0)]);
        let main_start = c.t.stack(&[Frame::new("runtime.main", "?", 0, 0, 0)]);
        let procs = gomaxprocs as u64;
        // Twice, as in Go's traces (StartTrace's own stop of the world,
        // then the next restart's): the newer Go's reader takes the first
        // for the end of the trace's opening and keeps no value from it,
        // and its minimum mutator utilization needs one (without, its
        // /mmu page panics).
        for _ in 0..2 {
            c.t.push(
                ts0,
                first_p as u32,
                EventKind::Gomaxprocs { procs, stack: 0 },
            );
        }
        let (live, goal) = heap;
        c.t.push(ts0, first_p as u32, EventKind::HeapAlloc { bytes: live });
        if goal != 0 {
            c.t.push(ts0, first_p as u32, EventKind::HeapGoal { bytes: goal });
        }
        (c, main_start)
    }

    /// Creates goroutine `g` on P `p` at the trace's start: the main
    /// goroutine (`main_goid`) as started by `runtime.main` (`main_start`),
    /// any other as created before the trace.
    fn create_initial(&mut self, ts0: u64, p: usize, g: u64, main_goid: u64, main_start: StackId) {
        if g == main_goid && !self.gs.contains_key(&g) {
            self.t.push(
                ts0,
                p as u32,
                EventKind::GoCreate {
                    g,
                    start: main_start,
                    stack: 0,
                },
            );
            self.gs.insert(g, G::Runnable);
        } else {
            self.create(ts0, p, g);
        }
    }
}

/// A converter at the start of a trace: the goroutines that existed at
/// `start` described (step 2 of the module doc).
fn begin(a: &Begin) -> Converter {
    let first_p = a.caller.map_or(0, |(p, _)| p);
    let ts0 = a.start_ts;
    let (mut c, main_start) = Converter::opening(ts0, a.gomaxprocs, first_p, a.heap);
    let create =
        |c: &mut Converter, p: usize, g: u64| c.create_initial(ts0, p, g, a.main_goid, main_start);
    for &(g, status) in &a.initial {
        create(&mut c, first_p, g);
        // A goroutine running without its P at the start is, to Go's
        // trace, in a system call that began before it. It is written as
        // runnable (it starts when it takes a P: GoStart, no GoSysExit),
        // not waiting: Go 1.19's viewer counts the goroutines in system
        // calls and rejects a GoSysExit of one that entered none (as after
        // `GoWaiting`). Not Go's `GoInSyscall` either: the newer Go's
        // viewer keeps such a goroutine on the P that event was written on
        // and panics when that P stops.
        if status == GStatus::Waiting && Some(g) != a.caller.map(|c| c.1) {
            c.t.push(ts0, first_p as u32, EventKind::GoWaiting { g });
            c.gs.insert(g, G::Waiting);
        }
    }
    if a.workers {
        for p in 0..a.gomaxprocs {
            let w = WORKER_GOID + p as u64;
            c.create_worker(ts0, first_p, w);
            c.t.push(ts0, first_p as u32, EventKind::GoWaiting { g: w });
            c.gs.insert(w, G::Waiting);
        }
    }
    if let Some((p, g)) = a.caller {
        c.ensure_up(ts0, p);
        create(&mut c, p, g);
        c.t.push(ts0, p as u32, EventKind::GoStart { g });
        c.gs.insert(g, G::Running(p));
        c.running.insert(p, g);
    }
    c
}

/// Converts recorded events (steps 1 and 3–6 of the module doc) into
/// `c.t`, continuing from where earlier calls left the goroutines, the Ps
/// and the collector; then no later event goes before `horizon`.
fn feed(c: &mut Converter, mut events: Vec<Raw>, horizon: u64) {
    let (ts0, first_p) = (c.floor, c.first_p);
    let (mut in_gc, mut in_stw) = (c.in_gc, c.in_stw);
    let mut marked = c.marked;
    let mut stw_is_mark_termination = c.stw_is_mark_termination;
    events.sort_by_key(|r| r.ts);
    for r in events {
        let ts = r.ts.max(ts0);
        if !c.workers.is_empty() {
            close_quiet_workers(c, ts);
        }
        let here = |c: &Converter, g: u64| match c.gs.get(&g) {
            Some(G::Running(p)) => Some(*p),
            _ => None,
        };
        let ev = match r.ev {
            Ev::Sched(ev) => ev,
            Ev::GcWork(goid, work) => {
                gc_work(c, ts, goid, work);
                continue;
            }
            // Marking that ended before the part of the trace already
            // written is dropped: moved up, it would show at a time when
            // it did not happen (after its cycle, even).
            Ev::IdleMark { .. } | Ev::WorkerMark { .. } if r.ts <= ts0 => continue,
            Ev::IdleMark { p, start } => {
                idle_mark(c, p, start, ts);
                continue;
            }
            Ev::WorkerMark { slot, label, start } => {
                worker_mark(c, slot, label, start, ts);
                continue;
            }
            Ev::HeapLive(bytes) => {
                let p = r.thread_p.unwrap_or(first_p) as u32;
                c.t.push(ts, p, EventKind::HeapAlloc { bytes });
                continue;
            }
            Ev::Gc(phase, by) => {
                // GC cycles and STW phases do not nest; a phase whose
                // partner happened outside the trace is dropped.
                let p = r.thread_p.unwrap_or(first_p) as u32;
                match phase {
                    GcPhase::SweepTerminationStop | GcPhase::MarkTerminationStop => {
                        let sweep = phase == GcPhase::SweepTerminationStop;
                        if sweep {
                            c.cycles_open += 1;
                        }
                        if sweep && !in_gc {
                            c.t.push(ts, p, EventKind::GcStart { stack: 0 });
                            in_gc = true;
                        }
                        if in_gc && !in_stw {
                            let kind = if sweep {
                                StwKind::SweepTermination
                            } else {
                                StwKind::MarkTermination
                            };
                            let by = by.unwrap_or(DEDICATED);
                            let (sp, sg, started) = c.gc_context(ts, r.thread_p, by);
                            let at = ts.max(last_ts(&c.t, sp as u32));
                            c.t.push(at, sp as u32, EventKind::StwStart { kind });
                            c.stw_on = Some((sp, sg, started, by));
                            in_stw = true;
                            stw_is_mark_termination = !sweep;
                        }
                    }
                    GcPhase::WorldRestart => {
                        if in_stw {
                            let (at, p) = c.stw_done(ts);
                            in_stw = false;
                            if stw_is_mark_termination {
                                marked = Some((at, p));
                            }
                        }
                    }
                    GcPhase::CycleDone {
                        heap_alloc,
                        heap_goal,
                    } => {
                        // A cycle whose done comes after the next cycle
                        // started (its hook runs after the world restarts,
                        // on a thread that may wait for a CPU meanwhile)
                        // is one cycle with the next in the trace (no
                        // second GCStart while one is open): the later
                        // cycle's done ends it, so that the later cycle's
                        // work stays inside.
                        if c.cycles_open > 1 {
                            c.cycles_open -= 1;
                            c.t.push(ts, p, EventKind::HeapAlloc { bytes: heap_alloc });
                            continue;
                        }
                        c.cycles_open = 0;
                        // Go emits GCDone inside mark termination's stop
                        // too; its parser does not nest GC inside STW.
                        if in_gc {
                            c.t.push(ts, p, EventKind::GcDone);
                            c.t.push(ts, p, EventKind::HeapAlloc { bytes: heap_alloc });
                            c.t.push(ts, p, EventKind::HeapGoal { bytes: heap_goal });
                            in_gc = false;
                        }
                    }
                }
                continue;
            }
        };
        match ev {
            SchedEvent::ProcStart { p } => {
                let p = c.p_index(p);
                if c.up[p] && c.running.contains_key(&p) {
                    // Another M takes the P of a goroutine that runs on
                    // without it: Go's retake (GoSysBlock, ProcStop), then
                    // the new M's ProcStart.
                    c.lost_p(ts, p);
                    c.t.push(ts, p as u32, EventKind::ProcStop);
                    c.up[p] = false;
                }
                if !c.up[p] {
                    c.up[p] = true;
                    c.t.push(ts, p as u32, EventKind::ProcStart { thread: p as u64 });
                }
            }
            SchedEvent::ProcStop { p } => {
                let p = c.p_index(p);
                // A P stops under its goroutine only if that one runs on
                // without it.
                c.lost_p(ts, p);
                c.ensure_up(ts, p);
                c.t.push(ts, p as u32, EventKind::ProcStop);
                c.up[p] = false;
            }
            SchedEvent::GoCreate { goid, parent } => {
                let p = r.thread_p.or_else(|| here(c, parent)).unwrap_or(first_p);
                c.create_at(ts, p, goid, r.stack.as_deref());
            }
            SchedEvent::GoStart { goid, p } => {
                c.ensure_up(ts, p);
                // The P's goroutine in the trace left it without an event
                // of its own: it runs on without the P.
                c.lost_p(ts, p);
                c.create(ts, p, goid);
                match c.gs.get(&goid).copied() {
                    Some(G::Waiting) => {
                        // Its GoUnblock was stamped later on another thread.
                        c.t.push(ts, p as u32, EventKind::GoUnblock { g: goid, stack: 0 });
                    }
                    Some(G::InSyscall) => {
                        c.t.push(ts, p as u32, EventKind::GoSysExit { g: goid });
                    }
                    Some(G::Running(q)) => {
                        c.leave(ts, goid, EventKind::GoSched { stack: 0 }, G::Runnable);
                        let _ = q;
                    }
                    Some(G::Dead) => continue,
                    _ => {}
                }
                c.t.push(ts, p as u32, EventKind::GoStart { g: goid });
                c.gs.insert(goid, G::Running(p));
                c.running.insert(p, goid);
            }
            SchedEvent::GoSched { goid } => {
                let (stack, _) = c.stack_ids(r.stack.as_deref());
                c.leave(ts, goid, EventKind::GoSched { stack }, G::Runnable)
            }
            SchedEvent::GoPreempt { goid } => {
                let (stack, _) = c.stack_ids(r.stack.as_deref());
                c.leave(ts, goid, EventKind::GoPreempt { stack }, G::Runnable)
            }
            SchedEvent::GoBlock { goid, reason } => {
                let (stack, _) = c.stack_ids(r.stack.as_deref());
                c.leave(ts, goid, block_kind(reason, stack), G::Waiting)
            }
            SchedEvent::GoEnd { goid } => c.leave(ts, goid, EventKind::GoEnd, G::Dead),
            SchedEvent::GoSysCall { goid } => {
                if let Some(G::Running(p)) = c.gs.get(&goid).copied() {
                    let (stack, _) = c.stack_ids(r.stack.as_deref());
                    c.t.push(ts, p as u32, EventKind::GoSysCall { stack });
                }
            }
            SchedEvent::GoSysExit { goid, p } => {
                let p = c.p_index(p);
                c.sys_exit(ts, goid, p);
            }
            SchedEvent::GoUnblock { goid } => {
                if c.gs.get(&goid) == Some(&G::Waiting) {
                    let p = r.thread_p.unwrap_or(first_p);
                    let (stack, _) = c.stack_ids(r.stack.as_deref());
                    c.t.push(ts, p as u32, EventKind::GoUnblock { g: goid, stack });
                    c.gs.insert(goid, G::Runnable);
                }
            }
        }
    }
    c.in_gc = in_gc;
    c.in_stw = in_stw;
    c.marked = marked;
    c.stw_is_mark_termination = stw_is_mark_termination;
    close_quiet_workers(c, horizon);
    c.floor = c.floor.max(horizon);
}

/// Ends the trace at `end_ts` (step 5 of the module doc).
fn end(c: &mut Converter, end_ts: u64) {
    let end = (end_ts.max(c.floor), c.first_p as u32);
    // Go's `StopTrace` ends the calling goroutine's run with `GoSched`
    // (`traceGoSched`); the world was stopped when the events were taken,
    // so the caller is the only goroutine that can still be running. Go's
    // trace viewer needs the end of every run.
    // A stop of the world still open ends first, on a running goroutine
    // (see `Converter::gc_context`).
    let mut marked = c.marked.map(|(ts, p)| (ts.max(c.floor), p));
    if c.in_stw {
        let at = c.stw_done(end.0);
        if c.stw_is_mark_termination {
            marked = Some(at);
        }
        c.in_stw = false;
    }
    let mut still: Vec<(usize, u64)> = c.running.iter().map(|(&p, &g)| (p, g)).collect();
    still.sort_unstable();
    for (p, g) in still {
        let ts = last_ts(&c.t, p as u32).max(end.0);
        if g == WORKER_GOID + p as u64 {
            c.lost_p(ts, p);
        } else {
            c.leave(ts, g, EventKind::GoSched { stack: 0 }, G::Runnable);
        }
    }
    // A sweep still open (its goroutine was stopped with the world) ends
    // here: Go's viewer needs both ends of a sweep.
    let mut sweeps: Vec<usize> = c.sweeps.drain().map(|(_, p)| p).collect();
    sweeps.sort_unstable();
    for p in sweeps {
        let ts = last_ts(&c.t, p as u32).max(end.0);
        c.t.push(
            ts,
            p as u32,
            EventKind::SweepDone {
                swept: 0,
                reclaimed: 0,
            },
        );
    }
    close_gc(&mut c.t, c.in_gc, false, marked, end);
}

/// Ends, at the end of the trace, the collector's spans its events left
/// open. `stop` took the events with the world stopped outside any cycle
/// (`stop_the_world_outside_gc`), so an open span is one whose closing
/// event the collector had not recorded yet: the restart of the world
/// after a GC stop (its hook runs after the world runs again), or the
/// cycle's `CycleDone` (after its last mark termination). The stop is
/// closed at the end of the trace, the cycle where its last mark
/// termination ended (`marked`: the restart after it, or the end of the
/// trace if that restart is the missing event) — Go's `GCDone` belongs
/// inside mark termination too. Go's trace
/// viewer needs both ends of every span (an open `GCStart` or
/// `GCSTWStart` crashes `go tool trace` 1.19's viewer).
fn close_gc(
    t: &mut Trace,
    in_gc: bool,
    in_stw: bool,
    marked: Option<(u64, u32)>,
    (end, end_p): (u64, u32),
) {
    if in_stw {
        t.push(end.max(last_ts(t, end_p)), end_p, EventKind::StwDone);
    }
    if in_gc {
        let (ts, p) = marked.unwrap_or((end, end_p));
        // After the P's own later events, if any: per-P order is time order.
        t.push(ts.max(last_ts(t, p)), p, EventKind::GcDone);
    }
}

/// The time of P `p`'s last event so far (0 if none).
fn last_ts(t: &Trace, p: u32) -> u64 {
    t.events
        .iter()
        .filter(|e| e.p == p)
        .map(|e| e.ts)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gort_profiler::trace::v1::{self, ev};

    /// A converter for a capture that starts while goroutine 5 runs
    /// without a P (in a system call, or frozen in the preemption
    /// handler by the stop of the world that starts the trace), with the
    /// main goroutine 1 calling `start` on P 0.
    fn capture_with_g5_p_less() -> Converter {
        begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running), (5, GStatus::Syscall)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: false,
        })
    }

    fn sched(ts: u64, ev: SchedEvent) -> Raw {
        Raw {
            ts,
            thread_p: None,
            ev: Ev::Sched(ev),
            stack: None,
        }
    }

    /// The converted trace, checked against Go's rules (the checker also
    /// holds Go 1.19's viewer's count of goroutines in system calls), then
    /// written and read back: (type, goroutine argument) of each event
    /// about goroutine 5, in the order of P 1's and P 0's batches.
    fn g5_events(mut c: Converter, events: Vec<Raw>) -> Vec<u8> {
        feed(&mut c, events, 0);
        end(&mut c, 10_000);
        c.t.check().expect("the trace keeps Go's rules");
        let d = v1::decode(&v1::encode(&c.t).unwrap()).unwrap();
        let mut evs: Vec<_> = d.events.iter().collect();
        evs.sort_by_key(|e| e.ts); // stable: per-P order at equal times
        evs.iter()
            .filter(|e| {
                matches!(
                    e.ty,
                    ev::GO_CREATE
                        | ev::GO_WAITING
                        | ev::GO_SYS_EXIT
                        | ev::GO_START
                        | ev::GO_UNBLOCK
                ) && e.args[0] == 5
            })
            .map(|e| e.ty)
            .collect()
    }

    /// The failure seen in a capture: a goroutine P-less at the start got
    /// a P (here handed over by another M, `hand_p_to_locked`'s GoStart)
    /// and the trace wrote `GoWaiting` … `GoSysExit`, which Go 1.19's
    /// viewer counts as a system call ending that never began
    /// (`insyscall=-1`). It is runnable in the trace, and starts.
    #[test]
    fn p_less_at_start_then_handed_a_p() {
        let got = g5_events(
            capture_with_g5_p_less(),
            vec![
                sched(2_000, SchedEvent::ProcStart { p: 1 }),
                sched(2_000, SchedEvent::GoStart { goid: 5, p: 1 }),
                sched(
                    3_000,
                    SchedEvent::GoBlock {
                        goid: 5,
                        reason: WaitReason::Sleep,
                    },
                ),
            ],
        );
        assert_eq!(got, [ev::GO_CREATE, ev::GO_START]);
    }

    /// The same goroutine taking an idle P (exitsyscall's GoSysExit).
    #[test]
    fn p_less_at_start_then_takes_an_idle_p() {
        let got = g5_events(
            capture_with_g5_p_less(),
            vec![sched(2_000, SchedEvent::GoSysExit { goid: 5, p: 1 })],
        );
        assert_eq!(got, [ev::GO_CREATE, ev::GO_START]);
    }

    /// P-less at the start, it took its old P back unseen (no event) and
    /// blocked and was woken there (events the trace drops: it does not
    /// run in the trace); then an M starts it on P 1, and it runs on
    /// without its P until it takes an idle one: one GoStart (no
    /// GoSysExit: it was runnable), then GoSysBlock, GoSysExit, GoStart.
    #[test]
    fn p_less_at_start_unseen_until_a_later_start() {
        let got = g5_events(
            capture_with_g5_p_less(),
            vec![
                sched(
                    2_000,
                    SchedEvent::GoBlock {
                        goid: 5,
                        reason: WaitReason::ChanReceive,
                    },
                ),
                sched(2_500, SchedEvent::GoUnblock { goid: 5 }),
                sched(3_000, SchedEvent::GoStart { goid: 5, p: 1 }),
                sched(3_500, SchedEvent::ProcStop { p: 1 }),
                sched(4_000, SchedEvent::GoSysExit { goid: 5, p: 1 }),
            ],
        );
        assert_eq!(
            got,
            [ev::GO_CREATE, ev::GO_START, ev::GO_SYS_EXIT, ev::GO_START]
        );
    }

    /// A goroutine that lost its P in the trace (another M started it)
    /// and comes back: GoSysBlock then GoSysExit; a second, stray
    /// GoSysExit (the goroutine runs in the trace) writes GoSysBlock
    /// first, never a GoSysExit alone.
    #[test]
    fn sys_exit_only_after_a_sys_block() {
        let c = begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running), (5, GStatus::Runnable)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: false,
        });
        let got = g5_events(
            c,
            vec![
                sched(2_000, SchedEvent::GoStart { goid: 5, p: 1 }),
                // Another M takes P 1: G5 runs on without it.
                sched(3_000, SchedEvent::ProcStart { p: 1 }),
                sched(4_000, SchedEvent::GoSysExit { goid: 5, p: 1 }),
                sched(5_000, SchedEvent::GoSysExit { goid: 5, p: 1 }),
            ],
        );
        assert_eq!(
            got,
            [
                ev::GO_CREATE,
                ev::GO_START,
                ev::GO_SYS_EXIT,
                ev::GO_START,
                ev::GO_SYS_EXIT,
                ev::GO_START
            ]
        );
    }

    fn worker(ts: u64, slot: usize, label: &'static str, start: u64) -> Raw {
        Raw {
            ts,
            thread_p: None,
            ev: Ev::WorkerMark { slot, label, start },
            stack: None,
        }
    }

    /// (type, P, label) of the labelled starts and of the worker
    /// goroutines' other events, in time order, from the converted,
    /// checked, written and decoded trace.
    fn worker_events(mut c: Converter, events: Vec<Raw>) -> Vec<(u8, u64, String)> {
        feed(&mut c, events, 0);
        end(&mut c, 300_000);
        c.t.check().expect("the trace keeps Go's rules");
        let d = v1::decode(&v1::encode(&c.t).unwrap()).unwrap();
        let mut evs: Vec<_> = d.events.iter().collect();
        evs.sort_by_key(|e| e.ts);
        evs.iter()
            .filter(|e| {
                e.ty == ev::GO_START_LABEL
                    || matches!(e.ty, ev::GO_CREATE | ev::GO_UNBLOCK | ev::GO_BLOCK)
                        && e.args[0] >= WORKER_GOID
                    || e.ty == ev::GO_BLOCK && e.p == 1
            })
            .map(|e| {
                let label = match e.ty {
                    ev::GO_START_LABEL => d.strings[&e.args[2]].clone(),
                    _ => String::new(),
                };
                (e.ty, e.p, label)
            })
            .collect()
    }

    /// A background worker's stretches of marking run P 1's worker
    /// goroutine while P 1 runs nothing: created at the first, one run for
    /// stretches less than `WORKER_GAP` apart, parked and unblocked across
    /// a longer pause; a stretch while both Ps run goroutines is not
    /// shown.
    #[test]
    fn background_worker_runs_on_a_free_p() {
        let c = begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running), (5, GStatus::Runnable)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: false,
        });
        let got = worker_events(
            c,
            vec![
                worker(2_000, 0, FRACTIONAL, 1_500),
                worker(2_600, 0, FRACTIONAL, 2_020), // continues the run
                worker(120_000, 0, FRACTIONAL, 100_000), // after a pause
                sched(200_000, SchedEvent::GoStart { goid: 5, p: 1 }),
                worker(260_000, 0, FRACTIONAL, 250_000), // P 1 busy: not shown
            ],
        );
        let l = |ty, p, s: &str| (ty, p, s.to_string());
        assert_eq!(
            got,
            [
                l(ev::GO_CREATE, 1, ""),
                l(ev::GO_START_LABEL, 1, FRACTIONAL),
                l(ev::GO_BLOCK, 1, ""),
                l(ev::GO_UNBLOCK, 1, ""),
                l(ev::GO_START_LABEL, 1, FRACTIONAL),
                l(ev::GO_BLOCK, 1, ""),
            ]
        );
    }

    /// A trace that starts after a cycle describes each P's worker
    /// goroutine, parked; its first run unblocks it.
    #[test]
    fn workers_exist_parked_after_a_cycle() {
        let c = begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: true,
        });
        let got = worker_events(c, vec![worker(2_000, 0, DEDICATED, 1_500)]);
        let l = |ty, p, s: &str| (ty, p, s.to_string());
        assert_eq!(
            got,
            [
                l(ev::GO_CREATE, 0, ""),
                l(ev::GO_CREATE, 0, ""),
                l(ev::GO_UNBLOCK, 1, ""),
                l(ev::GO_START_LABEL, 1, DEDICATED),
                l(ev::GO_BLOCK, 1, ""),
            ]
        );
    }

    /// A background worker's run on a P that was stopped ends where its
    /// last stretch ended once it has been quiet for `WORKER_QUIET`, and
    /// the P stops again; nothing on that P has to happen for it.
    #[test]
    fn quiet_worker_parks_and_its_p_stops() {
        let mut c = begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: false,
        });
        let later = 10_000_000;
        feed(
            &mut c,
            vec![
                worker(200_000, 0, DEDICATED, 100_000),
                sched(later, SchedEvent::GoSched { goid: 1 }),
            ],
            0,
        );
        c.t.check().expect("the trace keeps Go's rules");
        let p1: Vec<(u64, &str)> =
            c.t.events
                .iter()
                .filter(|e| e.p == 1)
                .map(|e| {
                    let name = match e.kind {
                        EventKind::ProcStart { .. } => "ProcStart",
                        EventKind::GoCreate { .. } => "GoCreate",
                        EventKind::GoStartLabel { .. } => "GoStartLabel",
                        EventKind::GoBlock { .. } => "GoBlock",
                        EventKind::ProcStop => "ProcStop",
                        _ => "other",
                    };
                    (e.ts, name)
                })
                .collect();
        assert_eq!(
            p1,
            [
                (100_000, "ProcStart"),
                (100_000, "GoCreate"),
                (100_000, "GoStartLabel"),
                (200_000, "GoBlock"),
                (200_000, "ProcStop"),
            ]
        );
    }

    /// A cycle's done that comes after the next cycle's start (the
    /// terminating thread waited for a CPU before its hook ran) does not
    /// end the trace's cycle: the next cycle's worker runs inside it, and
    /// the next done ends it.
    #[test]
    fn late_cycle_done_keeps_the_next_cycle_inside() {
        let mut c = begin(&Begin {
            start_ts: 1_000,
            initial: vec![(1, GStatus::Running)],
            caller: Some((0, 1)),
            gomaxprocs: 2,
            main_goid: 1,
            heap: (0, 0),
            workers: false,
        });
        let gc = |ts, phase| Raw {
            ts,
            thread_p: Some(0),
            ev: Ev::Gc(phase, None),
            stack: None,
        };
        let done = GcPhase::CycleDone {
            heap_alloc: 1,
            heap_goal: 2,
        };
        feed(
            &mut c,
            vec![
                gc(10_000, GcPhase::SweepTerminationStop),
                gc(11_000, GcPhase::WorldRestart),
                gc(20_000, GcPhase::MarkTerminationStop),
                gc(21_000, GcPhase::WorldRestart),
                gc(30_000, GcPhase::SweepTerminationStop),
                gc(31_000, GcPhase::WorldRestart),
                gc(32_000, done),
                worker(40_000, 0, FRACTIONAL, 35_000),
                gc(50_000, GcPhase::MarkTerminationStop),
                gc(51_000, GcPhase::WorldRestart),
                gc(52_000, done),
            ],
            0,
        );
        end(&mut c, 60_000);
        c.t.check().expect("the trace keeps Go's rules");
        let mut evs: Vec<_> = c.t.events.iter().collect();
        evs.sort_by_key(|e| e.ts);
        let cycle: Vec<(u64, &str)> = evs
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::GcStart { .. } => Some((e.ts, "GCStart")),
                EventKind::GcDone => Some((e.ts, "GCDone")),
                EventKind::GoStartLabel { .. } => Some((e.ts, "GoStartLabel")),
                _ => None,
            })
            .collect();
        assert_eq!(
            cycle,
            [
                (10_000, "GCStart"),
                (35_000, "GoStartLabel"),
                (52_000, "GCDone")
            ]
        );
    }
}
