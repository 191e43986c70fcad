//! The cycle: starting it, marking, terminating it, and the public knobs
//! (≈ Go's `mgc.go`). See [crate] for the overview; the numbered steps of
//! the crate essay are marked `// (1a)` … in the code below.
//!
//! # Fields
//!
//! | field | protected by |
//! |---|---|
//! | `phase` | written only by the thread driving the cycle (starter, then terminator) |
//! | `cycle` | `GcMutex` rank `gc.cycle` (held only to claim/release a cycle; never across a host call) |
//! | `cycles_started`, `cycles_done` | atomics; written under `cycle` or with the world stopped |
//! | `marking` | atomic; written with the world stopped |
//! | `terminating` | atomic CAS: one mark terminator at a time |
//! | `cur` (per-cycle figures) | `GcMutex` rank `gc.cur`; a leaf |
//! | `stats` | `GcMutex` rank `gc.stats`; a leaf |
//! | `assist_debt[p]` | atomic; written by the thread running P `p` (and by a goroutine parked in an assist it charged) |
//! | `credit` | see `mark::assist::AssistCredit` |

use crate::barrier::BarrierState;
use crate::heap::{Heap, ObjectKind};
use crate::host::{
    assert_no_gc_locks, GcMutex, Host, MarkWorkerMode, RootVisitor as _, StwReason, WorldStopped,
};
use crate::loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use crate::mark::assist::AssistCredit;
use crate::mark::roots::ConservativeRoots;
use crate::mark::work::{GcWork, WorkQueues};
use crate::mark::{MarkWorker, Marked, ObjectGraph, Work};
use crate::pacer::{CycleEnd, Pacer, BACKGROUND_UTILIZATION, OVER_ASSIST_WORK};

/// Scan work of one slice of idle marking ([`Collector::idle_mark`]):
/// about 30 µs at the mark rate gcpause measures (~500 MB/s).
const IDLE_MARK_WORK: u64 = 16 << 10;
use crate::phase::{Phase, PhaseCell};
use crate::stats::{CycleRecord, GcMetrics, GcStats, PauseSummary, StatsCell};
use crate::sweep::SweepGate;
use gort_profiler::{GcTraceLine, MemStats};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use Ordering::{Acquire, Relaxed, Release, SeqCst};

/// Marking restarts allowed at mark termination before the terminator
/// drains the rest with the world stopped (see [`Collector::mark_termination`]).
const MAX_MARK_RESTARTS: u32 = 8;

/// How the collector is set up (the facade fills it from `GOGC`,
/// `GOMEMLIMIT` and `GODEBUG`).
#[derive(Clone, Debug)]
pub struct GcConfig {
    /// GOGC; −1 = off. Default 100.
    pub gc_percent: i32,
    /// GOMEMLIMIT in bytes; `i64::MAX` = no limit.
    pub memory_limit: i64,
    /// `GODEBUG=gctrace=1`: one line per cycle on stderr.
    pub gctrace: bool,
    /// `GODEBUG=clobberfree=1`: poison freed objects.
    pub clobberfree: bool,
    /// Number of dedicated mark workers (with a fractional worker only if
    /// 0); `None` = Go's split of 25 % of GOMAXPROCS (see
    /// `mark_workers`). For tests and benchmarks whose MockHost Ps stand
    /// for goroutines rather than processors.
    pub mark_workers: Option<usize>,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            gc_percent: 100,
            memory_limit: crate::pacer::NO_LIMIT,
            gctrace: false,
            clobberfree: false,
            mark_workers: None,
        }
    }
}

/// Figures of the cycle in progress (for the pacer, MemStats and gctrace).
#[derive(Debug, Default)]
struct CycleFigures {
    num: u32,
    forced: bool,
    start_ns_since_init: u64,
    heap_alloc_start: u64,
    heap_live_start: u64,
    /// The pacer's goal when the cycle started (gctrace's goal).
    heap_goal: u64,
    sweep_term_ns: u64,
    mark_start: Option<Instant>,
    mark_wall_ns: u64,
    mark_term_ns: u64,
    pause_ns: u64,
    sweep_term_stop_ns: u64,
    roots_ns: u64,
    stack_bytes: u64,
    restarts: u32,
    procs: u32,
}

/// Claimed while a cycle runs (between its start and its mark termination).
#[derive(Debug, Default)]
struct CycleClaim {
    active: bool,
}

/// The collector: one per process, installed with [`install`].
pub struct Collector {
    pub(crate) host: &'static dyn Host,
    pub(crate) heap: &'static Heap,
    pub(crate) phase: PhaseCell,
    pub(crate) barrier: BarrierState,
    pub(crate) queues: WorkQueues,
    pub(crate) pacer: Pacer,
    stats: StatsCell,
    cycle: GcMutex<CycleClaim>,
    cur: GcMutex<CycleFigures>,
    /// Number of the last cycle started (1-based).
    pub(crate) cycles_started: AtomicU32,
    /// Number of cycles whose mark termination finished (MemStats num_gc).
    pub(crate) cycles_done: AtomicU32,
    /// Number of the last cycle whose marking has ended (set in its mark
    /// termination, with the world stopped). Between this and
    /// `cycles_done` the cycle winds down with the world running (heap
    /// profile, gctrace line) and still holds the cycle claim.
    mark_ended: AtomicU32,
    /// Concurrent sweepers vs the start of mark (see [`SweepGate`]).
    sweep_gate: SweepGate,
    /// Assists and workers may blacken objects (Go's `gcBlackenEnabled`).
    marking: AtomicBool,
    /// A mark worker is running mark termination.
    terminating: AtomicBool,
    gctrace: AtomicBool,
    /// Dedicated mark workers per cycle (read-only after construction).
    workers: usize,
    /// CPUs the fractional mark worker may use, 0 for none (read-only
    /// after construction; see `mark_workers`).
    fractional: f64,
    /// Scan work each P owes (positive) or has in credit (negative), bytes.
    assist_debt: Box<[AtomicI64]>,
    /// The same for threads with no P (shared).
    assist_debt_shared: AtomicI64,
    /// Scan work done by background workers and not yet claimed by
    /// assists, and the count of assists parked waiting for it.
    credit: AssistCredit,
    /// This cycle's CPU time in assists / background workers, ns.
    assist_cpu_ns: AtomicU64,
    worker_cpu_ns: AtomicU64,
    /// CPU time of idle marking this cycle, ns ([`Collector::idle_mark`]).
    idle_cpu_ns: AtomicU64,
    /// This cycle's scan work and traced marked bytes.
    scan_work: AtomicU64,
    marked_bytes: AtomicU64,
    /// This cycle's stack bytes scanned after the pause (stack jobs and
    /// scans before a goroutine runs); added to the gctrace "MB stacks".
    stack_bytes_concurrent: AtomicU64,
    /// Stacks left unscanned when mark termination began, scanned there
    /// with the world stopped (expected 0; see `mark_termination`).
    late_stacks: AtomicU64,
    init: Instant,
    /// The execution tracer's hook (see [`Collector::set_trace_hook`]),
    /// called while `trace_on`.
    trace_hook: OnceLock<fn(TraceEvent)>,
    trace_on: AtomicBool,
}

/// What the collector tells an execution tracer, on the thread that does
/// the work, for Go's `GCMarkAssistStart`/`GCMarkAssistDone` and
/// `GCSweepStart`/`GCSweepDone` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEvent {
    /// An allocating goroutine starts a mark assist: its credit did not
    /// cover its debt, so it scans (and may park) until it has paid.
    AssistStart,
    /// That assist is over.
    AssistDone,
    /// An allocating goroutine sweeps spans before a large allocation
    /// (Go's `mheap.reclaim`).
    SweepStart,
    /// That sweep is over.
    SweepDone {
        /// Bytes of the spans swept.
        swept: u64,
        /// Bytes freed.
        reclaimed: u64,
    },
    /// A P with nothing to run has just marked for `nanos` (one slice of
    /// Go's idle mark worker), on the scheduler's own stack: no goroutine
    /// is current.
    IdleMark {
        /// How long the slice took.
        nanos: u64,
    },
    /// A background mark worker (a thread of the host's, holding no P)
    /// has just marked for `nanos`: a stretch of scanning that ended
    /// because the worker found nothing to scan, or went to sleep (a
    /// fractional worker ahead of its goal), or stopped, or after
    /// [`WORKER_TRACE_SLICE`] (a long stretch is reported in pieces).
    /// Go's dedicated or fractional mark worker running.
    WorkerMark {
        /// How the worker runs.
        mode: MarkWorkerMode,
        /// Which worker of the cycle (its work queue slot).
        slot: usize,
        /// How long it marked.
        nanos: u64,
    },
}

/// The longest stretch of a background worker's marking reported as one
/// [`TraceEvent::WorkerMark`]: a tracer places each piece where it can,
/// so a long stretch is reported in pieces.
pub const WORKER_TRACE_SLICE: Duration = Duration::from_millis(1);

/// A mark assist as the tracer sees it: started by [`AssistSpan::begin`]
/// (once), done when dropped, whichever way the assist returns.
struct AssistSpan<'c>(&'c Collector, bool);

impl AssistSpan<'_> {
    fn begin(&mut self) {
        if !self.1 {
            self.1 = true;
            self.0.trace(TraceEvent::AssistStart);
        }
    }
}

impl Drop for AssistSpan<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.trace(TraceEvent::AssistDone);
        }
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("phase", &self.phase.get())
            .field("cycles_done", &self.cycles_done.load(Relaxed))
            .finish()
    }
}

static GLOBAL: OnceLock<Collector> = OnceLock::new();

/// Install the process-wide collector over the global heap
/// ([`crate::heap::global`]) with `host`. The first call wins; later calls
/// return the installed collector with `Err`.
pub fn install(
    host: &'static dyn Host,
    config: GcConfig,
) -> Result<&'static Collector, &'static Collector> {
    let mut fresh = false;
    let c = GLOBAL.get_or_init(|| {
        fresh = true;
        Collector::new(host, crate::heap::global(), &config)
    });
    if !fresh {
        return Err(c);
    }
    c.heap
        .set_current_p(|| try_global().and_then(|c| c.host.current_p()));
    c.heap.set_pin_p(|| match try_global() {
        Some(c) => c.host.pin_p(),
        None => crate::heap::Pin::unpinned(None),
    });
    if let Some(w) = c.host.poll_word() {
        // SAFETY: the host's contract for `poll_word`.
        unsafe { c.heap.set_poll_word(w) };
    }
    c.heap.set_alloc_hook(alloc_hook);
    c.heap.set_clobber_free(config.clobberfree);
    Ok(c)
}

/// The installed collector, if any.
#[inline]
pub fn try_global() -> Option<&'static Collector> {
    GLOBAL.get()
}

/// The installed collector; a fatal error if none was installed.
pub fn global() -> &'static Collector {
    match GLOBAL.get() {
        Some(c) => c,
        None => crate::rt_throw!("runtime: gort-gc used before collector::install"),
    }
}

#[cfg(not(all(test, loom)))]
thread_local! {
    /// The mode of the background mark worker the calling thread runs.
    static WORKER_MODE: std::cell::Cell<Option<MarkWorkerMode>> =
        const { std::cell::Cell::new(None) };
}

/// The mode of the background mark worker running on the calling thread,
/// `None` on any other thread. An execution tracer labels a stop of the
/// world that a worker makes (mark termination) with it: Go's trace shows
/// mark termination on the worker goroutine that reached it. Never
/// inlined, like every thread-local access of the runtime (see
/// `host::gc_locks_held`).
#[inline(never)]
pub fn current_worker_mode() -> Option<MarkWorkerMode> {
    #[cfg(not(all(test, loom)))]
    return WORKER_MODE.with(|m| m.get());
    #[cfg(all(test, loom))]
    None
}

/// Sets [`current_worker_mode`] for the calling thread.
#[inline(never)]
fn set_worker_mode(mode: Option<MarkWorkerMode>) {
    #[cfg(not(all(test, loom)))]
    WORKER_MODE.with(|m| m.set(mode));
    #[cfg(all(test, loom))]
    let _ = mode;
}

/// The heap's slow-path hook: triggers cycles and runs mark assists.
fn alloc_hook(_heap: &Heap, size: usize) {
    let Some(c) = try_global() else { return };
    if size > crate::heap::size_class::MAX_SMALL_SIZE {
        clear_dead_stack(c.host());
    }
    if !c.marking.load(Relaxed)
        && (c.pacer.gc_percent() >= 0 || c.pacer.memory_limit() != crate::pacer::NO_LIMIT)
    {
        let trigger = c.pacer.trigger();
        if trigger != u64::MAX && c.heap_live() >= trigger {
            // The hook runs before the allocation: the bytes that crossed
            // the trigger were allocated already, as when Go's mallocgc
            // starts a cycle after the allocation that crossed it. This
            // allocation is then the first of the new mark phase and
            // assists like any other (below).
            c.start_cycle(false);
        }
    }
    // Every slow path is a safepoint, and every allocation takes the slow
    // path while the host's safepoint word is set (`Heap::set_poll_word`):
    // a pending stop of the world, ragged barrier or preemption request
    // reaches an allocating goroutine at its next allocation.
    c.host().safepoint();
    if c.marking.load(Relaxed) {
        // While marking, the heap calls here once per HOOK_BATCH_BYTES
        // allocated on each P (hook batching; `size` is that batch) and on
        // every refill.
        c.assist(size as u64);
    }
    if size > crate::heap::size_class::MAX_SMALL_SIZE && !c.heap.sweep_done() {
        // A large allocation sweeps first until it has freed as many bytes
        // as it takes (Go's `mheap.reclaim`): the pages of the garbage the
        // last cycle found are reused before new pages are touched. Small
        // allocations sweep lazily on refill (the heap's side).
        let freed = c.sweep_until(c.cycles_started.load(SeqCst), size as u64);
        if freed < size as u64 {
            // Nothing left to claim: the last spans may be in a sweeper's
            // hands (the background sweeper's), their pages about to come
            // back. Take them rather than fresh ones.
            c.sweep_gate.wait_for_sweepers();
        }
    }
}

/// Bytes of dead stack [`clear_dead_stack`] zeroes.
const STACK_CLEAR_BYTES: usize = 16 << 10;

/// Zeroes [`STACK_CLEAR_BYTES`] of the calling goroutine's stack just below
/// this frame, if its stack has that much room and 16 KiB more (Boehm's
/// `GC_clear_stack`). Roots are conservative: a frame's slot that its code
/// has not written yet still holds what an earlier, deeper call left
/// there, and a stop of the world scans it. A goroutine that allocates
/// large objects one after another (the memstats walk-through's 100 MB
/// slices) goes down different call chains in turn (a cycle started, an
/// assist, a sweep, or none), and a slot of one chain can keep a slice
/// two allocations old alive through a cycle; that cycle's goal then
/// doubles and the loop ends with 3–4 slices instead of 2 (1 run in 40
/// on a busy machine). Clearing at each large allocation, before its slow
/// path goes deeper, leaves the chains below only what this allocation
/// writes. The cost, a 16 KiB memset, is small beside the large object's
/// own clearing.
#[inline(never)]
fn clear_dead_stack(host: &dyn Host) {
    let Some((lo, _)) = host.current_stack_bounds() else {
        return;
    };
    let here = std::hint::black_box(&lo) as *const usize as usize;
    if here.saturating_sub(lo) >= STACK_CLEAR_BYTES + (16 << 10) {
        zero_stack_frame();
    }
}

/// A frame of [`STACK_CLEAR_BYTES`] of zeroes.
#[inline(never)]
fn zero_stack_frame() {
    let zeroes = [0usize; STACK_CLEAR_BYTES / 8];
    std::hint::black_box(&zeroes);
}

/// The current thread's CPU time, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; the clock id is a constant.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// [`ObjectGraph`] over the real heap.
struct HeapGraph<'h>(&'h Heap);

impl ObjectGraph for HeapGraph<'_> {
    #[inline]
    fn mark(&self, addr: usize, scanning: usize) -> Marked {
        if !self.0.in_arena(addr) {
            return Marked::No;
        }
        let Some(o) = self.0.find_object(addr) else {
            return Marked::No;
        };
        let size = o.size;
        if o.span.is_span_scanned() {
            // Page-local marking (`mark::span`). Scanned soon (in this
            // span's next round, or when its entry is taken): start
            // loading it.
            o.prefetch();
            let start = o.span.start();
            if start == scanning {
                return Marked::Mine(o.index);
            }
            if !crate::mark::span::set_mark(&o.span.mark_bits, o.index) {
                return Marked::No;
            }
            let work = if crate::mark::span::try_acquire(&o.span.owned) {
                Work::Span(start | (o.index << 1) | 1)
            } else {
                Work::None
            };
            return Marked::New { size, work };
        }
        if !o.try_mark() {
            return Marked::No;
        }
        let work = match o.kind {
            ObjectKind::Noscan => Work::None,
            ObjectKind::Precise | ObjectKind::Conservative => {
                // A grey object is scanned soon: start loading it (heap glue).
                o.prefetch();
                Work::Object(o.base)
            }
        };
        Marked::New { size, work }
    }

    fn trace(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize {
        // A grey object: the heap's scan skips find_object's checks and
        // hands edges straight to `f`.
        self.0.scan_object(base, f)
    }

    #[inline]
    fn span_key(&self, entry: usize) -> usize {
        // A span entry is the span's start (page aligned) with the slot
        // below the page bits.
        entry & !(crate::heap::PAGE_SIZE - 1)
    }

    fn take_span(&self, entry: usize, out: &mut crate::mark::span::SpanBits) -> usize {
        self.0.take_span(entry, out)
    }

    fn local_range(&self, key: usize) -> Option<(usize, usize, u64)> {
        self.0.span_local_range(key)
    }

    fn mark_span(&self, key: usize, bits: &mut crate::mark::span::SpanBits) -> usize {
        self.0.mark_span(key, bits)
    }

    fn scan_span(
        &self,
        key: usize,
        bits: &crate::mark::span::SpanBits,
        f: &mut dyn FnMut(usize),
    ) -> usize {
        self.0.scan_span(key, bits, f)
    }
}

/// What mark termination decided.
enum MarkDone {
    /// Marking is complete; the cycle ended.
    Done,
    /// Flushing the barrier buffers found work: marking resumed.
    Restart,
}

impl Collector {
    fn new(host: &'static dyn Host, heap: &'static Heap, config: &GcConfig) -> Collector {
        let procs = host.gomaxprocs().clamp(1, crate::heap::MAX_PROCS);
        let (workers, fractional) = match config.mark_workers {
            None => mark_workers(procs),
            Some(0) => (0, procs as f64 * BACKGROUND_UTILIZATION),
            Some(n) => (n, 0.0),
        };
        Collector {
            host,
            heap,
            phase: PhaseCell::new(),
            barrier: BarrierState::new(crate::heap::MAX_PROCS),
            // One work slot per background worker.
            queues: WorkQueues::new((workers + usize::from(fractional > 0.0)).max(1)),
            workers,
            fractional,
            pacer: Pacer::new(config.gc_percent, config.memory_limit),
            stats: StatsCell::default(),
            cycle: GcMutex::new(CycleClaim::default()),
            cur: GcMutex::new(CycleFigures::default()),
            cycles_started: AtomicU32::new(0),
            cycles_done: AtomicU32::new(0),
            mark_ended: AtomicU32::new(0),
            sweep_gate: SweepGate::default(),
            marking: AtomicBool::new(false),
            terminating: AtomicBool::new(false),
            gctrace: AtomicBool::new(config.gctrace),
            assist_debt: (0..crate::heap::MAX_PROCS)
                .map(|_| AtomicI64::new(0))
                .collect(),
            assist_debt_shared: AtomicI64::new(0),
            credit: AssistCredit::new(),
            assist_cpu_ns: AtomicU64::new(0),
            worker_cpu_ns: AtomicU64::new(0),
            idle_cpu_ns: AtomicU64::new(0),
            scan_work: AtomicU64::new(0),
            marked_bytes: AtomicU64::new(0),
            stack_bytes_concurrent: AtomicU64::new(0),
            late_stacks: AtomicU64::new(0),
            init: Instant::now(),
            trace_hook: OnceLock::new(),
            trace_on: AtomicBool::new(false),
        }
    }

    /// The host, after the debug check that no collector lock is held.
    #[inline]
    #[track_caller]
    fn host(&self) -> &'static dyn Host {
        assert_no_gc_locks();
        self.host
    }

    /// Go's heapLive (allocated bytes plus free slots of cached spans):
    /// cheap, compared with the trigger on every allocation slow path.
    fn heap_live(&self) -> u64 {
        self.heap.heap_live()
    }

    /// Bytes of allocated objects, exactly (MemStats HeapAlloc).
    fn heap_alloc(&self) -> u64 {
        self.heap.stats().heap_alloc
    }

    /// Memory outside heap spans, for the memory-limit goal.
    fn non_heap(&self) -> u64 {
        let s = self.heap.stats();
        s.heap_sys
            .saturating_sub(s.heap_inuse)
            .saturating_sub(s.heap_released)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase.get()
    }

    /// Completed cycles (MemStats `num_gc`).
    pub fn num_gc(&self) -> u32 {
        self.cycles_done.load(Acquire)
    }

    /// Turn `GODEBUG=gctrace=1` output on or off.
    pub fn set_gctrace(&self, on: bool) {
        self.gctrace.store(on, Relaxed);
    }

    // ---------------------------------------------------------------------
    // (1) Sweep termination and (2a) the start of mark.

    /// Start a cycle if none is running (Go's `gcStart`). Returns the
    /// number of the cycle started, or `None` if one was already running.
    pub(crate) fn start_cycle(&'static self, forced: bool) -> Option<u32> {
        // Sweep what the last cycle left, with the world running (Go sweeps
        // in gcStart before stopping the world).
        self.sweep_while_current(self.cycles_started.load(SeqCst));
        // Go's gcStart re-tests the trigger after sweeping: the heap size
        // that fired it included garbage that sweeping just freed.
        if !forced && self.heap_live() < self.pacer.trigger() {
            return None;
        }
        let n = loop {
            {
                let mut claim = self.cycle.lock();
                if !claim.active && self.phase.get() == Phase::Off {
                    claim.active = true;
                    // SeqCst: the other half of the Dekker pair with the
                    // `sweepers` count in `sweep_while_current` (see there).
                    break self.cycles_started.fetch_add(1, SeqCst) + 1;
                }
            }
            // Another cycle holds the claim. While it is starting or
            // marking, the caller's allocation is paced by assists: give up.
            // Once its marking has ended it only winds down (heap profile,
            // gctrace line) before it releases the claim; giving up then
            // would let this allocation, which crossed the trigger, and every
            // one after it go ahead with no cycle at all (an allocator of big
            // noscan objects, whose assists find nothing to scan and return
            // once marking is off, piled up 400 MB-1 GB of 100 MB slices this
            // way while the terminating thread waited for a CPU). So wait for
            // it, as Go's gcStart waits on `gcsema` for the previous cycle's
            // mark termination, then sweep and test the trigger again.
            let running = self.cycles_started.load(Acquire);
            // Acquire: pairs with the Release store in mark termination.
            if self.mark_ended.load(Acquire) != running {
                return None;
            }
            self.block_until_done(running);
            self.sweep_while_current(self.cycles_started.load(SeqCst));
            if !forced && self.heap_live() < self.pacer.trigger() {
                return None;
            }
        };
        // (1a) Close the sweep gate to the last cycle's concurrent sweepers
        // and wait for those inside a span to leave it, while the world still
        // runs: a sweeper thread (not stopped by a stop of the world) that the
        // OS deschedules inside a span would otherwise stretch the pause
        // (7 ms seen on a loaded machine). Spans they leave unswept are
        // swept below.
        self.sweep_gate.advance(n);
        let t0 = Instant::now();
        // Stop the world.
        let w = self.host().stop_the_world(StwReason::SweepTermination);
        let sweep_term_stop_ns = t0.elapsed().as_nanos() as u64;
        self.phase.set(Phase::SweepTermination);
        // (1b) Sweep any unswept spans (normally none left by now). Every
        // concurrent sweeper has left its span (a sweep still running once
        // marking starts would clear the new mark bits): the gate advanced
        // above, so this second advance does not wait.
        self.sweep_gate.advance(n);
        self.heap.finish_sweep();
        let procs = self.host().gomaxprocs().clamp(1, crate::heap::MAX_PROCS);
        let heap_alloc_start = self.heap_alloc();
        let heap_live_start = self.heap_live();
        let heap_goal = self.pacer.goal();
        self.scan_work.store(0, Relaxed);
        self.marked_bytes.store(0, Relaxed);
        self.stack_bytes_concurrent.store(0, Relaxed);
        self.assist_cpu_ns.store(0, Relaxed);
        self.worker_cpu_ns.store(0, Relaxed);
        self.idle_cpu_ns.store(0, Relaxed);
        self.credit.reset();
        for d in self.assist_debt.iter() {
            d.store(0, Relaxed);
        }
        self.assist_debt_shared.store(0, Relaxed);
        if !self.queues.is_done() {
            crate::rt_throw!("runtime: grey objects left over at sweep termination");
        }
        // (2a) Barrier on, allocate-black on, assists on, then roots.
        self.barrier.set_enabled(&w, true);
        self.heap.set_allocate_black(true);
        self.heap.set_hook_batch(true);
        self.phase.set(Phase::Mark);
        self.pacer.revise(heap_live_start, 0);
        self.marking.store(true, Relaxed);
        let t_roots = Instant::now();
        let (stack_bytes, _runtime_held_bytes) = self.shade_roots(&w);
        let roots_ns = t_roots.elapsed().as_nanos() as u64;
        let pause_end = Instant::now();
        {
            let mut cur = self.cur.lock();
            *cur = CycleFigures {
                num: n,
                forced,
                start_ns_since_init: t0.duration_since(self.init).as_nanos() as u64,
                heap_alloc_start,
                heap_live_start,
                heap_goal,
                sweep_term_ns: pause_end.duration_since(t0).as_nanos() as u64,
                mark_start: Some(pause_end),
                pause_ns: pause_end.duration_since(t0).as_nanos() as u64,
                stack_bytes,
                sweep_term_stop_ns,
                roots_ns,
                procs: procs as u32,
                ..CycleFigures::default()
            };
        }
        // (2b) Start the world, and the background workers.
        self.host().start_the_world(w);
        self.record_pause(pause_end.duration_since(t0).as_nanos() as u64);
        let dedicated = self.workers.min(self.queues.slots());
        if self.fractional > 0.0 {
            self.spawn_worker(n, dedicated, MarkWorkerMode::Fractional);
        }
        for slot in 0..dedicated {
            self.spawn_worker(n, slot, MarkWorkerMode::Dedicated);
        }
        Some(n)
    }

    /// (2c) Shade every root: the host's ranges (stacks, runtime-held values),
    /// conservatively. Returns (stack bytes, other bytes) scanned.
    fn shade_roots(&self, w: &WorldStopped) -> (u64, u64) {
        let g = HeapGraph(self.heap);
        let mut gcw = GcWork::new(&self.queues, &g);
        let (stack, other) = {
            let mut v = ConservativeRoots::new(&mut gcw);
            self.host().scan_roots(w, &mut v);
            (v.stack_bytes, v.other_bytes)
        };
        crate::root::for_each_root(&mut |addr| {
            gcw.shade(addr);
        });
        self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
        gcw.dispose();
        (stack, other)
    }

    fn spawn_worker(&'static self, cycle: u32, slot: usize, mode: MarkWorkerMode) {
        let worker = MarkWorker {
            body: Box::new(move || self.mark_worker(cycle, slot, mode)),
        };
        self.host().spawn_mark_worker(mode, worker);
    }

    // ---------------------------------------------------------------------
    // (2d) Background marking and (2e) termination detection.

    /// The body of a background mark worker for cycle `cycle` (Go's
    /// `gcBgMarkWorker`): drain, and when no grey object is left anywhere
    /// (the token count is 0), try to become the terminator.
    ///
    /// A [`MarkWorkerMode::Fractional`] worker keeps its CPU time at the
    /// part of 25 % × GOMAXPROCS that dedicated workers leave (Go's
    /// `fractionalUtilizationGoal` × GOMAXPROCS: 0.25 CPU with one P, 0.5
    /// with two) of the mark phase's wall time: when ahead, it sleeps.
    fn mark_worker(&'static self, cycle: u32, slot: usize, mode: MarkWorkerMode) {
        let g = HeapGraph(self.heap);
        let mut gcw = GcWork::for_worker(&self.queues, &g, slot);
        let mut idle_rounds = 0u32;
        let start = Instant::now();
        let goal = match mode {
            MarkWorkerMode::Fractional => Some(self.fractional),
            MarkWorkerMode::Dedicated => None,
        };
        let mut my_cpu = 0u64;
        set_worker_mode(Some(mode));
        // While tracing: when the current stretch of scanning began
        // (reported as `TraceEvent::WorkerMark` when it ends).
        let mut stretch: Option<Instant> = None;
        // Whether every goroutine stack of this cycle is scanned (the host's
        // stack jobs; `true` at once for a host that scans them all in the
        // pause). Marking cannot end before.
        let mut stacks_done = false;
        loop {
            if self.cycles_done.load(Acquire) >= cycle {
                break;
            }
            let cpu0 = thread_cpu_ns();
            let t0 = self.trace_on.load(Relaxed).then(Instant::now);
            if !stacks_done {
                // (2c) Stack jobs first: goroutines parked since the pause
                // hold the roots the rest of the mark needs.
                let mut v = ConservativeRoots::new(&mut gcw);
                stacks_done = self.host().scan_stack_jobs(&mut v, 8);
                self.stack_bytes_concurrent
                    .fetch_add(v.stack_bytes, Relaxed);
            }
            let done = gcw.drain(Some(64 << 10));
            gcw.dispose();
            if done > 0 {
                idle_rounds = 0;
                if let Some(t0) = t0 {
                    let since = *stretch.get_or_insert(t0);
                    if since.elapsed() >= WORKER_TRACE_SLICE {
                        self.trace_worker_stretch(mode, slot, &mut stretch);
                    }
                }
                if self.credit.flush(done as i64) {
                    // An assist waits for credit (Go's gcFlushBgCredit).
                    self.host().wake_blocked();
                }
                self.scan_work.fetch_add(done, Relaxed);
                let used = thread_cpu_ns().saturating_sub(cpu0);
                self.worker_cpu_ns.fetch_add(used, Relaxed);
                my_cpu += used;
                // Parked assists wait for this worker: no idling then.
                if let Some(goal) = goal.filter(|_| !self.credit.any_parked()) {
                    let allowed = goal * start.elapsed().as_nanos() as f64;
                    if my_cpu as f64 > allowed {
                        self.trace_worker_stretch(mode, slot, &mut stretch);
                        let ahead = ((my_cpu as f64 - allowed) / goal) as u64;
                        std::thread::sleep(Duration::from_nanos(ahead.min(1_000_000)));
                    }
                }
                continue;
            }
            self.trace_worker_stretch(mode, slot, &mut stretch);
            self.marked_bytes
                .fetch_add(std::mem::take(&mut gcw.marked_bytes), Relaxed);
            // A round that found nothing to drain is worker time too (its
            // stack jobs, the look for work): Go charges a worker from the
            // moment it runs. Mark termination, below, is charged as a pause.
            let used = thread_cpu_ns().saturating_sub(cpu0);
            self.worker_cpu_ns.fetch_add(used, Relaxed);
            my_cpu += used;
            if stacks_done
                && self.queues.is_done()
                && self.phase.get() == Phase::Mark
                && self
                    .terminating
                    .compare_exchange(false, true, Acquire, Relaxed)
                    .is_ok()
            {
                // Re-check under the claim: the cycle may have ended.
                let r =
                    if self.cycles_done.load(Acquire) >= cycle || self.phase.get() != Phase::Mark {
                        MarkDone::Done
                    } else {
                        self.mark_termination()
                    };
                // Release: pairs with the Acquire CAS above.
                self.terminating.store(false, Release);
                if let MarkDone::Done = r {
                    break;
                }
                continue;
            }
            idle_rounds += 1;
            if idle_rounds < 64 {
                crate::loom::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        self.trace_worker_stretch(mode, slot, &mut stretch);
        set_worker_mode(None);
        self.marked_bytes
            .fetch_add(std::mem::take(&mut gcw.marked_bytes), Relaxed);
    }

    /// Reports the background worker's stretch of scanning that began at
    /// `stretch` (if any) as ending now, and clears it.
    fn trace_worker_stretch(
        &self,
        mode: MarkWorkerMode,
        slot: usize,
        stretch: &mut Option<Instant>,
    ) {
        if let Some(since) = stretch.take() {
            self.trace(TraceEvent::WorkerMark {
                mode,
                slot,
                nanos: since.elapsed().as_nanos() as u64,
            });
        }
    }

    // ---------------------------------------------------------------------
    // (3) Mark termination and (4a) the start of sweep.

    /// Stop the world, flush every P's barrier buffer; if that shaded
    /// nothing, end marking and start sweeping; otherwise restart the world
    /// and keep marking (Go's `gcMarkDone` + `gcMarkTermination`).
    fn mark_termination(&self) -> MarkDone {
        let t0 = Instant::now();
        // (3a) Stop the world.
        let w = self.host().stop_the_world(StwReason::MarkTermination);
        let mark_term_stop_ns = t0.elapsed().as_nanos() as u64;
        self.phase.set(Phase::MarkTermination);
        let g = HeapGraph(self.heap);
        // Buffers hold the barrier's shades since their last flush.
        let shaded = self.barrier.flush_all(&w, &self.queues, &g);
        // Stacks no stack job scanned (none normally: a worker terminates
        // only once the host reported every stack scanned; O(1) then).
        // Whatever they shade makes the queues non-empty: marking restarts.
        let late = {
            let mut gcw = GcWork::new(&self.queues, &g);
            let mut v = ConservativeRoots::new(&mut gcw);
            let late = self.host().finish_stack_scan(&w, &mut v);
            self.stack_bytes_concurrent
                .fetch_add(v.stack_bytes, Relaxed);
            self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
            gcw.dispose();
            late
        };
        self.late_stacks.fetch_add(late as u64, Relaxed);
        if !self.queues.is_done() {
            let restarts = {
                let mut cur = self.cur.lock();
                cur.restarts += 1;
                cur.restarts
            };
            if restarts <= MAX_MARK_RESTARTS {
                // Work appeared: resume concurrent marking.
                self.phase.set(Phase::Mark);
                let end = Instant::now();
                let pause = end.duration_since(t0).as_nanos() as u64;
                self.cur.lock().pause_ns += pause;
                self.host().start_the_world(w);
                self.record_pause(pause);
                return MarkDone::Restart;
            }
            // Mutators keep producing work: finish it with the world stopped
            // (bounded: nothing can add to it now).
            let mut gcw = GcWork::new(&self.queues, &g);
            let done = gcw.drain(None);
            self.scan_work.fetch_add(done, Relaxed);
            self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
            gcw.dispose();
            if !self.queues.is_done() {
                crate::rt_throw!("runtime: grey objects left after a stopped-world drain");
            }
        }
        let _ = shaded;
        let mark_end = t0;
        // (3b) Marking is over: no assists, no barrier, no allocate-black,
        // no stack scanning.
        self.marking.store(false, Relaxed);
        self.barrier.set_enabled(&w, false);
        self.host().end_stack_scan(&w);
        self.heap.set_allocate_black(false);
        self.heap.set_hook_batch(false);
        let heap_alloc_end = self.heap_alloc();
        let heap_live_end = self.heap_live();
        // (3c) Housekeeping: give cached spans back before sweeping.
        let t_setup = Instant::now();
        self.heap.flush_caches();
        // (4a) Set up sweeping: every span becomes unswept.
        self.heap.start_sweep_cycle();
        let sweep_setup_ns = t_setup.elapsed().as_nanos() as u64;
        self.phase.set(Phase::Off);
        // Release: pairs with the Acquire load in `start_cycle`, which then
        // waits for this cycle's `cycles_done` instead of giving up.
        self.mark_ended
            .store(self.cycles_started.load(Relaxed), Release);
        let mut cur = std::mem::take(&mut *self.cur.lock());
        cur.stack_bytes += self.stack_bytes_concurrent.load(Relaxed);
        let marked_traced = self.marked_bytes.load(Relaxed);
        let black_alloc = heap_alloc_end.saturating_sub(cur.heap_alloc_start);
        let heap_marked = marked_traced + black_alloc;
        let end = Instant::now();
        let pause = end.duration_since(t0).as_nanos() as u64;
        cur.mark_term_ns = pause;
        cur.pause_ns += pause;
        cur.mark_wall_ns = cur.mark_start.map_or(0, |s| {
            mark_end.saturating_duration_since(s).as_nanos() as u64
        });
        let assist = self.assist_cpu_ns.load(Relaxed);
        let background = self.worker_cpu_ns.load(Relaxed);
        // Idle marking is free CPU, as in Go: in gctrace's idle column and
        // the cycle record, not in the GC CPU fraction or the pacer.
        let idle = self.idle_cpu_ns.load(Relaxed);
        let scan_work = self.scan_work.load(Relaxed);
        self.pacer.end_cycle(
            &CycleEnd {
                heap_marked,
                heap_live_start: cur.heap_live_start,
                heap_live_end,
                scan_work,
                stack_scan: cur.stack_bytes,
                globals_scan: 0,
                mark_wall_ns: cur.mark_wall_ns,
                mark_cpu_ns: assist + background,
                procs: cur.procs,
            },
            self.non_heap(),
        );
        let procs = cur.procs as u64;
        let now_unix = unix_ns();
        let (line, n) = {
            let mut st = self.stats.0.lock();
            st.gc_cpu_ns += (cur.sweep_term_ns + cur.mark_term_ns) * procs + assist + background;
            let elapsed = self.init.elapsed().as_nanos() as u64 * procs;
            let frac = if elapsed > 0 {
                st.gc_cpu_ns as f64 / elapsed as f64
            } else {
                0.0
            };
            st.mem.gc_cpu_fraction = frac;
            st.mem.record_pause(cur.pause_ns, now_unix);
            if cur.forced {
                st.mem.num_forced_gc += 1;
            }
            st.mark_restarts += u64::from(cur.restarts > 0);
            let num = st.mem.num_gc;
            st.cycles.push(CycleRecord {
                num,
                forced: cur.forced,
                sweep_term_ns: cur.sweep_term_ns,
                mark_wall_ns: cur.mark_wall_ns,
                mark_term_ns: cur.mark_term_ns,
                heap_marked,
                heap_goal: cur.heap_goal,
                scan_work,
                assist_cpu_ns: assist,
                background_cpu_ns: background,
                idle_cpu_ns: idle,
                restarts: cur.restarts,
                sweep_term_stop_ns: cur.sweep_term_stop_ns,
                mark_term_stop_ns,
                roots_ns: cur.roots_ns,
                sweep_setup_ns,
            });
            let line = GcTraceLine {
                num: st.mem.num_gc,
                start_ns: cur.start_ns_since_init,
                gc_cpu_fraction: frac,
                sweep_term_clock_ns: cur.sweep_term_ns,
                mark_clock_ns: cur.mark_wall_ns,
                mark_term_clock_ns: cur.mark_term_ns,
                sweep_term_cpu_ns: cur.sweep_term_ns * procs,
                assist_cpu_ns: assist,
                background_cpu_ns: background,
                idle_cpu_ns: idle,
                mark_term_cpu_ns: cur.mark_term_ns * procs,
                heap_start_bytes: cur.heap_live_start,
                heap_end_bytes: heap_live_end,
                heap_marked_bytes: heap_marked,
                heap_goal_bytes: cur.heap_goal,
                stacks_bytes: cur.stack_bytes,
                globals_bytes: 0,
                procs: cur.procs,
                forced: cur.forced,
            };
            (line, st.mem.num_gc)
        };
        self.host().start_the_world(w);
        self.record_pause(pause);
        // (4a') The heap profile's counts of this cycle, published outside
        // the pause but before the cycle counts as done (Go's mProf_Flush
        // after startTheWorld).
        self.heap.publish_heap_profile();
        // Print before the cycle counts as done, so that a `gc()` caller
        // that returns has seen its line on stderr.
        if self.gctrace.load(Relaxed) {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        {
            let mut claim = self.cycle.lock();
            claim.active = false;
        }
        // Release: pairs with the Acquire loads in `num_gc`, the workers and
        // the `block_until` conditions.
        self.cycles_done.store(n, Release);
        // (4b) Wake whoever waits for this cycle; (4c) sweep in the background.
        self.host().cycle_done();
        self.host()
            .spawn_background_sweeper(crate::sweep::BackgroundSweeper { cycle: cur.num });
        MarkDone::Done
    }

    fn record_pause(&self, ns: u64) {
        self.stats.0.lock().pauses.push(ns);
    }

    pub(crate) fn stats_bg_swept(&self, spans: u64, bytes: u64) {
        let mut st = self.stats.0.lock();
        st.bg_swept_spans += spans;
        st.bg_swept_bytes += bytes;
    }

    // ---------------------------------------------------------------------
    // Mutator side: the barrier slow path and assists.

    /// The write barrier while marking: buffer on the current P, or shade
    /// directly on a thread without one.
    pub(crate) fn barrier_slow(&self, old: usize, new: usize) {
        let g = HeapGraph(self.heap);
        let mut pin = self.host().pin_p();
        match pin.p() {
            Some(p) if p < self.barrier.procs() => {
                // SAFETY: the host says this thread runs P `p` and pinned it
                // (no asynchronous preemption until released), and the
                // barrier is not a safepoint, so nobody else uses its buffer.
                unsafe { self.barrier.enqueue(p, old, new, &self.queues, &g) };
                pin.release();
            }
            _ => {
                pin.release();
                let mut gcw = GcWork::new(&self.queues, &g);
                gcw.shade(old);
                gcw.shade(new);
                self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
                gcw.dispose();
            }
        }
    }

    /// A mark assist (Go's `gcAssistAlloc`): allocating `bytes` while
    /// marking costs `bytes × assist ratio` of scan work, paid from
    /// background credit first, then by scanning. What can be paid neither
    /// way (no credit, no grey object left) is waited for: the caller parks
    /// until a worker flushes enough credit or the mark phase ends (Go's
    /// `gcParkAssist`; see [`AssistCredit`]). Without that wait an
    /// allocator of big `noscan` objects, which leave nothing to scan,
    /// would outrun the cycle with objects born black.
    fn assist(&self, bytes: u64) {
        let p = self.host().current_p();
        let debt_cell = match p {
            Some(p) if p < self.assist_debt.len() => &self.assist_debt[p],
            _ => &self.assist_debt_shared,
        };
        let owed = (bytes as f64 * self.pacer.assist_ratio()) as i64;
        if debt_cell.fetch_add(owed, Relaxed) + owed <= 0 {
            return;
        }
        // The cycle this debt belongs to: its end cancels the debt.
        let cycle = self.cycles_started.load(Acquire);
        let g = HeapGraph(self.heap);
        // Traced from the first scan (a debt that stolen credit covers is
        // no assist, as in Go's gcAssistAlloc) to whichever return.
        let mut span = AssistSpan(self, false);
        loop {
            // Assist time runs from here to the safepoint below (never
            // across a park or a safepoint, where this thread may run other
            // goroutines).
            let cpu0 = thread_cpu_ns();
            let charge = || {
                self.assist_cpu_ns
                    .fetch_add(thread_cpu_ns().saturating_sub(cpu0), Relaxed);
            };
            let debt = debt_cell.load(Relaxed);
            if debt <= 0 {
                charge();
                return;
            }
            // (a) Steal background credit.
            let took = self.credit.take(debt);
            if took > 0 {
                debt_cell.fetch_sub(took, Relaxed);
                if took >= debt {
                    charge();
                    return;
                }
            }
            let debt = debt - took;
            span.begin();
            // (b) Scan.
            let mut gcw = GcWork::new(&self.queues, &g);
            let done = gcw.drain(Some((debt + OVER_ASSIST_WORK) as u64));
            self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
            gcw.dispose();
            debt_cell.fetch_sub(done as i64, Relaxed);
            self.scan_work.fetch_add(done, Relaxed);
            charge();
            // Holding nothing now: a stop of the world may take us here.
            self.host().safepoint();
            let debt = debt_cell.load(Relaxed);
            if debt <= 0 || !self.marking.load(Relaxed) || self.cycles_done.load(Acquire) >= cycle {
                return;
            }
            if done > 0 {
                // Scanning helped; there may be more to scan.
                continue;
            }
            // (c) Nothing to scan and not enough credit: park until a
            // worker's credit covers the debt or the cycle's mark ends.
            self.credit.will_park();
            self.host().block_until(&|| {
                // Acquire: pairs with the Release store of `cycles_done` at
                // the end of mark termination.
                self.cycles_done.load(Acquire) >= cycle || self.credit.available() >= debt
            });
            self.credit.unparked();
            if self.cycles_done.load(Acquire) >= cycle {
                // Go drops the assist debt at the end of mark, too.
                return;
            }
        }
    }

    // ---------------------------------------------------------------------
    // Public knobs (Go's runtime and runtime/debug).

    /// `runtime.GC()`: run a full cycle that starts after this call and
    /// block until it and its sweep have finished.
    pub fn gc(&'static self) {
        let target = self.cycles_started.load(Acquire) + 1;
        loop {
            if self.cycles_done.load(Acquire) >= target {
                break;
            }
            if self.cycles_started.load(Acquire) >= target {
                self.block_until_done(target);
                continue;
            }
            if self.phase.get() == Phase::Off {
                match self.start_cycle(true) {
                    Some(n) => self.block_until_done(n),
                    None => {
                        // Another thread is starting a cycle and may be
                        // waiting for our P to stop: let it.
                        self.host().safepoint();
                        crate::loom::thread::yield_now();
                    }
                }
                continue;
            }
            // A cycle that started before our call is running: let it end.
            let running = self.cycles_started.load(Acquire);
            self.block_until_done(running);
        }
        // As runtime.GC: sweep everything before returning (unless another
        // cycle has started, whose sweep termination does it).
        self.sweep_while_current(target);
    }

    /// Sweep spans one at a time while `cycle` is still the latest cycle
    /// started; returns (spans, bytes freed). Every concurrent sweep goes
    /// through here (background sweeper, `gc()`, the pre-start sweep) so
    /// that sweep termination can wait for them: a span whose sweep
    /// overlapped the next mark would lose that mark's bits.
    ///
    /// See [`SweepGate`] for the protocol.
    pub(crate) fn sweep_while_current(&self, cycle: u32) -> (u64, u64) {
        let (mut spans, mut bytes) = (0, 0);
        while self.sweep_gate.enter(cycle) {
            let r = self.heap.sweep_one();
            self.sweep_gate.leave();
            match r {
                Some(r) => {
                    spans += 1;
                    bytes += r.bytes_freed as u64;
                }
                None => break,
            }
        }
        (spans, bytes)
    }

    /// [`Collector::sweep_while_current`] that stops once `want` bytes were
    /// freed.
    fn sweep_until(&self, cycle: u32, want: u64) -> u64 {
        let (mut bytes, mut swept) = (0, 0);
        while bytes < want && self.sweep_gate.enter(cycle) {
            let r = self.heap.sweep_one();
            self.sweep_gate.leave();
            match r {
                Some(r) => {
                    if swept == 0 {
                        // Traced from the first span swept, as Go's
                        // traceGCSweepSpan starts the event.
                        self.trace(TraceEvent::SweepStart);
                    }
                    bytes += r.bytes_freed as u64;
                    swept += r.bytes_swept as u64;
                }
                None => break,
            }
        }
        if swept > 0 {
            self.trace(TraceEvent::SweepDone {
                swept,
                reclaimed: bytes,
            });
        }
        bytes
    }

    fn block_until_done(&self, n: u32) {
        let done = || self.cycles_done.load(Acquire) >= n;
        if !done() {
            self.host().block_until(&done);
        }
    }

    /// Installs the execution tracer's hook, told of mark assists and of
    /// the sweeping an allocation does ([`TraceEvent`]) while
    /// [`Collector::trace_events`] is on. It runs on the goroutine doing
    /// the work, with no collector lock held, and must not block or
    /// allocate from the managed heap. Returns false if already set.
    pub fn set_trace_hook(&self, f: fn(TraceEvent)) -> bool {
        self.trace_hook.set(f).is_ok()
    }

    /// Turns the calls of the trace hook on or off.
    pub fn trace_events(&self, on: bool) {
        self.trace_on.store(on, Relaxed);
    }

    #[inline]
    fn trace(&self, e: TraceEvent) {
        if self.trace_on.load(Relaxed) {
            if let Some(f) = self.trace_hook.get() {
                f(e);
            }
        }
    }

    /// `debug.SetGCPercent`: set GOGC (negative = off), return the old
    /// value. Turning the collector off waits for a running mark to end.
    pub fn set_gc_percent(&self, pct: i32) -> i32 {
        let old = self.pacer.set_gc_percent(pct, self.non_heap());
        if pct < 0 {
            // As Go's gcWaitOnMark: a cycle already started completes first.
            let n = self.cycles_started.load(Acquire);
            self.block_until_done(n);
        }
        old
    }

    /// `debug.SetMemoryLimit`: set GOMEMLIMIT in bytes (negative only
    /// reads), return the old value.
    pub fn set_memory_limit(&self, limit: i64) -> i64 {
        self.pacer.set_memory_limit(limit, self.non_heap())
    }

    /// `debug.FreeOSMemory`: a full collection, then every free page back
    /// to the OS. Returns the bytes released.
    pub fn free_os_memory(&'static self) -> usize {
        self.gc();
        self.heap.free_os_memory()
    }

    /// A MemStats snapshot: the collector's figures, the heap's current
    /// figures (updated by sweeping) and the heap goal. Not stopped-world
    /// consistent; see [`Collector::read_mem_stats`].
    pub fn mem_stats(&self) -> MemStats {
        let mut m = self.stats.0.lock().mem.clone();
        let h = self.heap.stats();
        m.alloc = h.heap_alloc;
        m.heap_alloc = h.heap_alloc;
        m.total_alloc = h.total_alloc;
        m.mallocs = h.mallocs;
        m.frees = h.frees;
        m.heap_objects = h.heap_objects;
        m.heap_sys = h.heap_sys;
        m.heap_idle = h.heap_idle;
        m.heap_inuse = h.heap_inuse;
        m.heap_released = h.heap_released;
        let md = self.heap.metadata();
        m.mspan_inuse = md.mspan_inuse;
        m.mspan_sys = md.mspan_sys;
        m.mcache_inuse = md.mcache_inuse;
        m.mcache_sys = md.mcache_sys;
        m.buck_hash_sys = md.buck_hash_sys;
        // The collector's own metadata: grey-object queues and barrier
        // buffers are Go's work buffers (GCSys); its struct, per-P assist
        // debts and cycle history are the rest (OtherSys).
        m.gc_sys = md.gc_sys + self.queues.footprint() + self.barrier.footprint();
        m.other_sys = md.other_sys + self.footprint();
        m.sys = m.heap_sys
            + m.stack_sys
            + m.mspan_sys
            + m.mcache_sys
            + m.buck_hash_sys
            + m.gc_sys
            + m.other_sys;
        m.next_gc = self.pacer.goal().min(i64::MAX as u64);
        m
    }

    /// Bytes of the collector's own structures outside the heap (MemStats
    /// `OtherSys`): the struct, the per-P assist debts, the pause list and
    /// the cycle records (vectors count their capacity).
    fn footprint(&self) -> u64 {
        let st = self.stats.0.lock();
        (std::mem::size_of::<Collector>()
            + std::mem::size_of_val(&*self.assist_debt)
            + st.pauses.capacity() * std::mem::size_of::<u64>()
            + st.cycles.capacity() * std::mem::size_of::<CycleRecord>()) as u64
    }

    /// `runtime.ReadMemStats`: [`Collector::mem_stats`] with the world stopped.
    pub fn read_mem_stats(&self) -> MemStats {
        let w = self.host().stop_the_world(StwReason::ReadMemStats);
        let m = self.mem_stats();
        self.host().start_the_world(w);
        m
    }

    /// What `runtime/metrics` reads from the collector besides
    /// [`Collector::mem_stats`] (see [`GcMetrics`]).
    pub fn metrics(&self) -> GcMetrics {
        let st = self.stats.0.lock();
        let mut m = GcMetrics {
            gc_percent: self.pacer.gc_percent(),
            memory_limit: self.pacer.memory_limit(),
            heap_live: self.pacer.heap_marked(),
            ..GcMetrics::default()
        };
        for c in &st.cycles {
            m.assist_cpu_ns += c.assist_cpu_ns;
            m.background_cpu_ns += c.background_cpu_ns;
            m.idle_cpu_ns += c.idle_cpu_ns;
        }
        m.pause_cpu_ns = st
            .gc_cpu_ns
            .saturating_sub(m.assist_cpu_ns + m.background_cpu_ns);
        m
    }

    /// Every stop-the-world pause so far, summarized.
    pub fn pause_summary(&self) -> PauseSummary {
        PauseSummary::of(&self.stats.0.lock().pauses)
    }

    /// The figures of every completed cycle, oldest first.
    pub fn cycle_records(&self) -> Vec<CycleRecord> {
        self.stats.0.lock().cycles.clone()
    }

    /// Cycles whose mark termination restarted marking at least once.
    pub fn mark_restarts(&self) -> u64 {
        self.stats.0.lock().mark_restarts
    }

    /// Stacks that were still unscanned when mark termination began and
    /// were scanned with the world stopped, over all cycles (expected 0).
    pub fn late_stack_scans(&self) -> u64 {
        self.late_stacks.load(Relaxed)
    }

    /// Idle-time marking (Go's idle mark worker): a P that found no
    /// goroutine to run marks instead of parking its M, one slice of
    /// `IDLE_MARK_WORK` (16 KiB) of scan work at a time, so that a goroutine
    /// made runnable meanwhile waits one slice at most (the scheduler looks
    /// at its queues between slices, and stops for a stop of the world
    /// there). Returns whether there was anything to mark. The host calls
    /// it on an M's g0, holding a P, with no scheduler lock held. Stack
    /// jobs are left to the background workers. The slice bound is checked
    /// between work items: a span entry is scanned whole (at most its
    /// span's 8 KiB of small objects), and so is an object (there are no oblets,
    /// Go's 128 KiB pieces of a large object, yet), so a huge object full
    /// of pointers lengthens one slice, and the stop of the world waiting
    /// for this P, by its scan time, as it already does for an assist.
    pub fn idle_mark(&self) -> bool {
        if !self.marking.load(Relaxed) || self.phase.get() != Phase::Mark {
            return false;
        }
        let cpu0 = thread_cpu_ns();
        let t0 = self.trace_on.load(Relaxed).then(Instant::now);
        let g = HeapGraph(self.heap);
        let mut gcw = GcWork::new(&self.queues, &g);
        let done = gcw.drain(Some(IDLE_MARK_WORK));
        self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
        gcw.dispose();
        if done == 0 {
            // The look for work is idle-worker time even when it finds none.
            self.idle_cpu_ns
                .fetch_add(thread_cpu_ns().saturating_sub(cpu0), Relaxed);
            return false;
        }
        self.scan_work.fetch_add(done, Relaxed);
        if self.credit.flush(done as i64) {
            // A parked assist waits for credit (Go's gcFlushBgCredit).
            self.host().wake_blocked();
        }
        self.idle_cpu_ns
            .fetch_add(thread_cpu_ns().saturating_sub(cpu0), Relaxed);
        if let Some(t0) = t0 {
            self.trace(TraceEvent::IdleMark {
                nanos: t0.elapsed().as_nanos() as u64,
            });
        }
        true
    }

    /// A goroutine stack `[start, end)` scanned after the pause, by the host
    /// (before it runs the goroutine): shade every word conservatively.
    pub fn scan_stack(&self, start: usize, end: usize) {
        let g = HeapGraph(self.heap);
        let mut gcw = GcWork::new(&self.queues, &g);
        let mut v = ConservativeRoots::new(&mut gcw);
        v.visit_range(crate::host::RangeKind::Stack, start, end);
        self.stack_bytes_concurrent
            .fetch_add(v.stack_bytes, Relaxed);
        self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
        gcw.dispose();
    }

    /// The copy barrier's slow path: shade every word of `[start, end)`
    /// that points into an allocated object.
    pub(crate) fn shade_range(&self, start: usize, end: usize) {
        let g = HeapGraph(self.heap);
        let mut gcw = GcWork::new(&self.queues, &g);
        crate::barrier::shade_words(&mut gcw, start, end);
        self.marked_bytes.fetch_add(gcw.marked_bytes, Relaxed);
        gcw.dispose();
    }

    /// Internal counters for tests (a copy).
    #[doc(hidden)]
    pub fn debug_counters(&self) -> (u64, u64) {
        let st: &GcStats = &self.stats.0.lock();
        (st.bg_swept_spans, st.bg_swept_bytes)
    }
}

/// Go's split of the background utilization goal, 25 % of GOMAXPROCS,
/// into workers (`gcControllerState.startCycle`): `int(goal + 0.5)`
/// dedicated workers, unless that is more than 30 % off the goal (with 25 %:
/// GOMAXPROCS ≤ 3 or = 6); then one fewer if that is too many, and a
/// fractional worker runs the rest. Returns (dedicated workers, CPUs of
/// the fractional worker, 0 for none).
fn mark_workers(procs: usize) -> (usize, f64) {
    let goal = procs as f64 * BACKGROUND_UTILIZATION;
    let mut dedicated = (goal + 0.5) as usize;
    const MAX_UTIL_ERROR: f64 = 0.3;
    if (dedicated as f64 / goal - 1.0).abs() > MAX_UTIL_ERROR {
        if dedicated as f64 > goal {
            dedicated -= 1;
        }
        (dedicated, goal - dedicated as f64)
    } else {
        (dedicated, 0.0)
    }
}

/// `runtime.GC()` on the installed collector.
pub fn gc() {
    global().gc()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn mark_worker_split_is_gos() {
        // (GOMAXPROCS, dedicated, fractional CPUs), as Go's startCycle.
        for (procs, dedicated, fractional) in [
            (1, 0, 0.25),
            (2, 0, 0.5),
            (3, 0, 0.75),
            (4, 1, 0.0),
            (5, 1, 0.0),
            (6, 1, 0.5),
            (7, 2, 0.0),
            (8, 2, 0.0),
            (256, 64, 0.0),
        ] {
            assert_eq!(
                mark_workers(procs),
                (dedicated, fractional),
                "GOMAXPROCS={procs}"
            );
        }
    }
}
