//! The flight recorder (Go 1.25's `runtime/trace.FlightRecorder`): the
//! execution trace kept in memory, in a bounded ring of generations, and
//! written out on demand as a complete trace of the recent past.
//!
//! See [super] for the tracer. The flight recorder is a second consumer of
//! the same recorder: while it runs, every event the scheduler's hook and
//! the host report is also pushed on the flight recorder's pending list
//! (both consumers may run at once, as in Go).
//!
//! # Generations
//!
//! A background thread (`gort-flight-recorder`) wakes every
//! `super::WRITE_EVERY`, takes the pending events older than
//! `super::SETTLE` (so that events stamped earlier on other threads have
//! arrived), and appends them, sorted, to the **active generation**. It
//! also replays them on a **mirror** of the scheduler's state as the trace
//! sees it: each goroutine runnable, running on a P, or waiting. Once the
//! active generation spans the **period** (half the minimum age, between
//! 100 ms and 1 s; Go's generations last about a second), or holds a
//! quarter of `max_bytes` (so that a burst of events does not make one
//! generation far larger than the bound; Go has no such rule), it is
//! closed:
//! it joins the ring, and a new generation begins whose **snapshot** is a
//! copy of the mirror at that instant — what Go's v2 format writes at the
//! start of each generation, and what a v1 trace needs at its start (see
//! step 2 of [super]'s conversion).
//!
//! When a generation is closed, the ring keeps (Go's rule in
//! `runtime/trace/recorder.go`) the newest generation, then older ones as
//! long as the generations kept so far hold at most `max_bytes` and the
//! oldest of them began less than `min_age` ago. A written trace therefore
//! covers at least the last `min_age` (once the recorder has run that
//! long), unless `max_bytes` cut it shorter: `max_bytes` wins, as in Go.
//! The size of a generation is what its events occupy in memory (the
//! event and its stack of return PCs), which is what the bound protects.
//!
//! # Writing
//!
//! [`FlightRecorder::write_to`] takes the oldest kept generation's
//! snapshot as the start of a trace — a `GoCreate` for every goroutine in
//! it, `GoWaiting` for the waiting ones, `ProcStart` and `GoStart` for the
//! running ones — and converts every event since (the ring's, the active
//! generation's and the pending ones) with the tracer's own conversion
//! (`feed` and `end` of [super]), then writes it with the v1 encoder
//! (checked against Go's parser rules first). The result is a whole trace
//! file, read by Go 1.19's `go tool trace` and by newer Go's.
//!
//! A collection cycle that was already running when the written window
//! begins appears from its next cycle on (the conversion drops a cycle's
//! end whose start is not in the trace), as a goroutine's run that began
//! before the window appears from the window's start.

use super::{end, feed, lock, Converter, Ev, Raw, G};
use gort_profiler::trace::v1::StreamWriter;
use gort_profiler::trace::EventKind;
use gort_scheduler::{GStatus, SchedEvent};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Go's default minimum age (`NewFlightRecorder` with `MinAge == 0`).
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(10);
/// Go's default maximum size (`MaxBytes == 0`): 10 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 << 20;

/// Go's `trace.FlightRecorderConfig`. A zero field takes Go's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlightRecorderConfig {
    /// A lower bound on the age of the events the window keeps: a written
    /// trace covers at least this much of the recent past (unless
    /// `max_bytes` cuts it). Zero: 10 s.
    pub min_age: Duration,
    /// An upper bound on the memory the window's events occupy; it takes
    /// precedence over `min_age`. Zero: 10 MiB.
    pub max_bytes: u64,
}

/// Go's `trace.FlightRecorder`: a moving window over the execution trace,
/// written out with [`write_to`](FlightRecorder::write_to).
///
/// At most one flight recorder runs at a time (as in Go); it may run while
/// a trace is recorded with [`super::start`].
///
/// ```
/// use std::time::Duration;
///
/// let trace = gort::run(|| {
///     let fr = gort::trace::FlightRecorder::new(gort::trace::FlightRecorderConfig {
///         min_age: Duration::from_millis(500),
///         max_bytes: 1 << 20,
///     });
///     fr.start().unwrap();
///     for _ in 0..10 {
///         let c = gort::chan::<u32>(0);
///         let tx = c.clone();
///         gort::go(move || tx.send(1));
///         c.recv();
///     }
///     let mut out = Vec::new();
///     fr.write_to(&mut out).unwrap(); // the recent past, as a whole trace
///     fr.stop();
///     out
/// });
/// assert!(trace.starts_with(b"go 1.19 trace\0\0\0"));
/// ```
#[derive(Debug)]
pub struct FlightRecorder {
    id: u64,
    min_age: Duration,
    max_bytes: u64,
    /// One `write_to` at a time (Go's `writing` mutex, tried).
    writing: Mutex<()>,
}

/// Numbers the flight recorders (the running one owns the global state).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whether a flight recorder runs (the recorder pushes on `PENDING`).
static FLIGHT_ON: AtomicBool = AtomicBool::new(false);
/// The id of the running flight recorder (0: none), for `enabled`, which
/// takes no lock (a goroutine must never wait on `FLIGHT` while `start`
/// holds it with the world stopped). Written under `FLIGHT`.
static OWNER: AtomicU64 = AtomicU64::new(0);
/// Events recorded and not yet taken by the flight recorder's thread.
/// Protected by its mutex (held only to push or take).
static PENDING: Mutex<Vec<Raw>> = Mutex::new(Vec::new());
/// The running flight recorder's window. Lock order: `FLIGHT` before
/// `PENDING`.
static FLIGHT: Mutex<Option<Window>> = Mutex::new(None);

/// Whether a flight recorder runs.
#[inline]
pub(super) fn on() -> bool {
    FLIGHT_ON.load(Ordering::Relaxed)
}

/// Where the recorder keeps events for the flight recorder.
pub(super) fn pending() -> &'static Mutex<Vec<Raw>> {
    &PENDING
}

/// The state of the goroutines and Ps as the trace sees it after some
/// prefix of the events (the transitions of `feed`).
#[derive(Debug, Clone, Default)]
struct Mirror {
    /// Goroutines not dead.
    gs: HashMap<u64, G>,
    /// The goroutine running on each P.
    running: HashMap<usize, u64>,
    /// The P the recorder attributes events without one to.
    first_p: usize,
    gomaxprocs: usize,
    /// The main goroutine (named `runtime.main` in the trace).
    main_goid: u64,
    /// The heap's live bytes and goal, as last reported.
    heap: (u64, u64),
}

impl Mirror {
    fn leave(&mut self, g: u64, next: G) {
        if let Some(G::Running(p)) = self.gs.get(&g).copied() {
            self.running.remove(&p);
            if next == G::Dead {
                self.gs.remove(&g);
            } else {
                self.gs.insert(g, next);
            }
        }
    }

    /// The goroutine running on `p` in the trace goes on without it (the
    /// converter's `lost_p`): in a system call, to Go's trace.
    fn lost_p(&mut self, p: usize) {
        if let Some(g) = self.running.get(&p).copied() {
            self.leave(g, G::InSyscall);
        }
    }

    fn apply(&mut self, ev: &Ev) {
        let ev = match ev {
            Ev::Sched(ev) => ev,
            Ev::HeapLive(bytes) => {
                self.heap.0 = *bytes;
                return;
            }
            Ev::Gc(
                super::GcPhase::CycleDone {
                    heap_alloc,
                    heap_goal,
                },
                _,
            ) => {
                self.heap = (*heap_alloc, *heap_goal);
                return;
            }
            _ => return,
        };
        match *ev {
            SchedEvent::ProcStart { .. } | SchedEvent::GoSysCall { .. } => {}
            SchedEvent::ProcStop { p } => self.lost_p(p),
            SchedEvent::GoSysExit { goid, p } => {
                match self.gs.get(&goid).copied() {
                    Some(G::Running(q)) => self.lost_p(q),
                    Some(G::InSyscall) => {}
                    _ => return,
                }
                self.lost_p(p);
                self.gs.insert(goid, G::Running(p));
                self.running.insert(p, goid);
            }
            SchedEvent::GoCreate { goid, .. } => {
                self.gs.entry(goid).or_insert(G::Runnable);
            }
            SchedEvent::GoStart { goid, p } => {
                if self.running.get(&p) != Some(&goid) {
                    self.lost_p(p);
                }
                if let Some(G::Running(q)) = self.gs.get(&goid).copied() {
                    self.running.remove(&q);
                }
                self.gs.insert(goid, G::Running(p));
                self.running.insert(p, goid);
            }
            SchedEvent::GoSched { goid } | SchedEvent::GoPreempt { goid } => {
                self.leave(goid, G::Runnable)
            }
            SchedEvent::GoBlock { goid, .. } => self.leave(goid, G::Waiting),
            SchedEvent::GoEnd { goid } => self.leave(goid, G::Dead),
            SchedEvent::GoUnblock { goid } => {
                if self.gs.get(&goid) == Some(&G::Waiting) {
                    self.gs.insert(goid, G::Runnable);
                }
            }
        }
    }
}

/// One generation: the state at its start and its events.
#[derive(Debug)]
struct Generation {
    /// When it began (the trace clock, ns).
    start: u64,
    snapshot: Mirror,
    events: Vec<Raw>,
    /// What its events occupy in memory.
    bytes: u64,
}

impl Generation {
    fn new(start: u64, snapshot: Mirror) -> Generation {
        Generation {
            start,
            snapshot,
            events: Vec::new(),
            bytes: 0,
        }
    }
}

/// Bytes one event occupies in a generation.
fn raw_bytes(r: &Raw) -> u64 {
    (std::mem::size_of::<Raw>() + r.stack.as_ref().map_or(0, |s| s.len() * 8)) as u64
}

/// The running flight recorder's state.
#[derive(Debug)]
struct Window {
    owner: u64,
    min_age: u64,
    max_bytes: u64,
    /// How long a generation lasts.
    period: u64,
    /// Closed generations, oldest first.
    ring: VecDeque<Generation>,
    active: Generation,
    /// The state after every event taken so far.
    mirror: Mirror,
}

impl Window {
    /// Takes the pending events older than `horizon` into the active
    /// generation, and closes it if it spans the period.
    fn advance(&mut self, horizon: u64) {
        let mut events: Vec<Raw> = {
            let mut pending = lock(&PENDING);
            let (old, recent) = std::mem::take(&mut *pending)
                .into_iter()
                .partition(|r| r.ts < horizon);
            *pending = recent;
            old
        };
        events.sort_by_key(|r| r.ts);
        for r in events {
            self.mirror.apply(&r.ev);
            self.active.bytes += raw_bytes(&r);
            self.active.events.push(r);
        }
        let long = horizon.saturating_sub(self.active.start) >= self.period;
        if long || self.active.bytes >= self.max_bytes / 4 {
            self.close(horizon);
        }
    }

    /// Closes the active generation at `now` and trims the ring (Go's
    /// `endGeneration`).
    fn close(&mut self, now: u64) {
        let mut snapshot = self.mirror.clone();
        snapshot.gomaxprocs = gort_scheduler::gomaxprocs(0).max(1) as usize;
        let next = Generation::new(now, snapshot);
        let done = std::mem::replace(&mut self.active, next);
        self.ring.push_back(done);
        // Keep the newest, then older ones while the kept ones hold at
        // most `max_bytes` and the oldest kept began at most `min_age`
        // ago: generations that cross a bound are kept, none wholly
        // outside it.
        let mut size = 0;
        let mut keep = 0;
        for g in self.ring.iter().rev() {
            if keep > 0 {
                let oldest = &self.ring[self.ring.len() - keep];
                if size > self.max_bytes || now.saturating_sub(oldest.start) > self.min_age {
                    break;
                }
            }
            size += g.bytes;
            keep += 1;
        }
        let drop = self.ring.len() - keep;
        self.ring.drain(..drop);
    }
}

/// The flight recorder's thread: advances the window of recorder `owner`
/// every `WRITE_EVERY` until it stops.
fn window_thread(owner: u64) {
    loop {
        std::thread::sleep(super::WRITE_EVERY);
        let mut w = lock(&FLIGHT);
        let Some(win) = w.as_mut().filter(|w| w.owner == owner) else {
            return;
        };
        let horizon =
            gort_scheduler::hooks::now_nanos().saturating_sub(super::SETTLE.as_nanos() as u64);
        win.advance(horizon);
    }
}

/// A converter whose trace starts at `ts0` in the state `m` (step 2 of
/// [super]'s conversion, from a snapshot instead of a stopped world).
fn begin_at(ts0: u64, m: &Mirror) -> Converter {
    let (mut c, main_start) = Converter::opening(ts0, m.gomaxprocs.max(1), m.first_p, m.heap);
    let create =
        |c: &mut Converter, p: usize, g: u64| c.create_initial(ts0, p, g, m.main_goid, main_start);
    let mut gs: Vec<(u64, G)> = m.gs.iter().map(|(&g, &s)| (g, s)).collect();
    gs.sort_unstable_by_key(|&(g, _)| g);
    for &(g, state) in &gs {
        match state {
            G::Running(p) => {
                c.ensure_up(ts0, p);
                create(&mut c, p, g);
                c.t.push(ts0, p as u32, EventKind::GoStart { g });
                c.gs.insert(g, G::Running(p));
                c.running.insert(p, g);
            }
            G::Waiting | G::InSyscall => {
                // In a system call, to Go's trace, is waiting like a
                // blocked goroutine until its GoSysExit.
                create(&mut c, m.first_p, g);
                c.t.push(ts0, m.first_p as u32, EventKind::GoWaiting { g });
                c.gs.insert(g, state);
            }
            G::Runnable | G::Dead => create(&mut c, m.first_p, g),
        }
    }
    c
}

impl FlightRecorder {
    /// Go's `trace.NewFlightRecorder(cfg)`: a flight recorder, not yet
    /// started; zero settings take Go's defaults (10 s, 10 MiB).
    pub fn new(cfg: FlightRecorderConfig) -> FlightRecorder {
        FlightRecorder {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            min_age: if cfg.min_age.is_zero() {
                DEFAULT_MIN_AGE
            } else {
                cfg.min_age
            },
            max_bytes: if cfg.max_bytes == 0 {
                DEFAULT_MAX_BYTES
            } else {
                cfg.max_bytes
            },
            writing: Mutex::new(()),
        }
    }

    /// The minimum age in effect.
    pub fn min_age(&self) -> Duration {
        self.min_age
    }

    /// The maximum size in effect.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Go's `FlightRecorder.Start`: begins recording into the window.
    ///
    /// # Errors
    ///
    /// Go's messages: `cannot enable a enabled flight recorder` if this
    /// one runs, `flight recorder already enabled` if another one does.
    pub fn start(&self) -> io::Result<()> {
        crate::run::ensure_started();
        // The recorder's stack walks stay inside the goroutine's stack (as
        // for `super::start`), and the walker's one-time setup is paid now.
        gort_profiler::cpu::set_goroutine_stack_bounds(
            gort_scheduler::current_goroutine_stack_bounds,
        );
        gort_profiler::cpu::set_thread_stack_bounds(
            gort_scheduler::hooks::current_thread_stack_bounds,
        );
        gort_profiler::symbolize::callers(0, &mut [0u64; 1]);
        let mut flight = lock(&FLIGHT);
        if let Some(w) = flight.as_ref() {
            let msg = if w.owner == self.id {
                "cannot enable a enabled flight recorder"
            } else {
                "flight recorder already enabled"
            };
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
        }
        // The state at the start, with the world stopped outside any
        // collection cycle, and the recorder on before it restarts.
        let world = super::stop_the_world_outside_gc();
        let mut m = Mirror {
            gomaxprocs: gort_scheduler::gomaxprocs(0).max(1) as usize,
            main_goid: gort_scheduler::main_goroutine_id(),
            heap: (
                gort_gc::heap::global().heap_live(),
                gort_gc::collector::try_global().map_or(0, |c| c.mem_stats().next_gc),
            ),
            ..Mirror::default()
        };
        gort_scheduler::for_each_goroutine_stack(&world, &mut |s| {
            let st = match s.status {
                GStatus::Waiting => G::Waiting,
                GStatus::Syscall => G::InSyscall,
                _ => G::Runnable,
            };
            m.gs.insert(s.goid, st);
        });
        if let Some((p, g)) =
            gort_scheduler::current_p().zip(gort_scheduler::current_goroutine_id())
        {
            m.gs.insert(g, G::Running(p));
            m.running.insert(p, g);
            m.first_p = p;
        }
        let now = gort_scheduler::hooks::now_nanos();
        lock(&PENDING).clear();
        let min_age = self.min_age.as_nanos() as u64;
        *flight = Some(Window {
            owner: self.id,
            min_age,
            max_bytes: self.max_bytes,
            period: (min_age / 2).clamp(100_000_000, 1_000_000_000),
            ring: VecDeque::new(),
            active: Generation::new(now, m.clone()),
            mirror: m,
        });
        FLIGHT_ON.store(true, Ordering::Relaxed);
        OWNER.store(self.id, Ordering::Relaxed);
        super::consumers_changed();
        gort_scheduler::start_the_world(world);
        drop(flight);
        let owner = self.id;
        let mark = gort_scheduler::RuntimeThread::begin();
        std::thread::Builder::new()
            .name("gort-flight-recorder".into())
            .spawn(move || {
                let _mark = mark;
                window_thread(owner)
            })
            .map(|_| ())
            .inspect_err(|_| self.stop())
    }

    /// Go's `FlightRecorder.Stop`: ends recording and drops the window.
    /// Waits for a `write_to` in progress. Does nothing if this recorder
    /// does not run.
    pub fn stop(&self) {
        if !self.enabled() {
            return;
        }
        let _writing = lock(&self.writing);
        let mut flight = lock(&FLIGHT);
        if flight.as_ref().is_none_or(|w| w.owner != self.id) {
            return;
        }
        FLIGHT_ON.store(false, Ordering::Relaxed);
        OWNER.store(0, Ordering::Relaxed);
        super::consumers_changed();
        *flight = None;
        lock(&PENDING).clear();
    }

    /// Go's `FlightRecorder.Enabled`: whether this recorder runs.
    pub fn enabled(&self) -> bool {
        // Relaxed: a flag read, ordered by nothing else.
        OWNER.load(Ordering::Relaxed) == self.id
    }

    /// Go's `FlightRecorder.WriteTo`: writes the window — at least the
    /// last `min_age` (or since `start`, if that is sooner), unless
    /// `max_bytes` cut it — as a whole trace in Go's v1 format. Returns
    /// the number of bytes written.
    ///
    /// # Errors
    ///
    /// Go's messages: `cannot snapshot a disabled flight recorder` if this
    /// recorder does not run, `call to WriteTo for trace.FlightRecorder
    /// already in progress` if another call is writing; the writer's
    /// error; a trace that breaks Go's parser rules (gort's fault, said
    /// so).
    pub fn write_to(&self, mut w: impl Write) -> io::Result<u64> {
        let Ok(_writing) = self.writing.try_lock() else {
            return Err(io::Error::other(
                "call to WriteTo for trace.FlightRecorder already in progress",
            ));
        };
        let bytes = {
            let flight = lock(&FLIGHT);
            let Some(win) = flight.as_ref().filter(|w| w.owner == self.id) else {
                return Err(io::Error::other(
                    "cannot snapshot a disabled flight recorder",
                ));
            };
            let first = win.ring.front().unwrap_or(&win.active);
            let mut c = begin_at(first.start, &first.snapshot);
            let mut events: Vec<Raw> = win
                .ring
                .iter()
                .chain(std::iter::once(&win.active))
                .flat_map(|g| g.events.iter().cloned())
                .collect();
            events.extend(lock(&PENDING).iter().cloned());
            let end_ts = gort_scheduler::hooks::now_nanos();
            feed(&mut c, events, end_ts);
            end(&mut c, end_ts);
            let mut out = Vec::new();
            StreamWriter::new()
                .finish(&mut c.t, &mut out)
                .map_err(super::gort_error)?;
            out
        };
        w.write_all(&bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Figures about the window, for tests and the curious: the number of
    /// generations kept (closed ones plus the active one), the bytes
    /// their events occupy, and how far back the window reaches (None if
    /// this recorder does not run).
    pub fn window(&self) -> Option<FlightWindow> {
        let flight = lock(&FLIGHT);
        let win = flight.as_ref().filter(|w| w.owner == self.id)?;
        let oldest = win.ring.front().unwrap_or(&win.active).start;
        Some(FlightWindow {
            generations: win.ring.len() + 1,
            bytes: win.ring.iter().map(|g| g.bytes).sum::<u64>() + win.active.bytes,
            span: Duration::from_nanos(gort_scheduler::hooks::now_nanos().saturating_sub(oldest)),
        })
    }
}

impl Drop for FlightRecorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What [`FlightRecorder::window`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightWindow {
    /// Generations kept (the active one included).
    pub generations: usize,
    /// Bytes their events occupy.
    pub bytes: u64,
    /// From the start of the oldest kept generation to now.
    pub span: Duration,
}
