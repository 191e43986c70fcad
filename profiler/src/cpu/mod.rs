//! The recording half of the CPU profiler: SIGPROF ticks, a frame-pointer
//! walk inside the signal handler, a lock-free ring, and a reader thread
//! that aggregates stacks and writes the profile.
//!
//! See [crate] for the overview. The pieces, in the order a tick meets them:
//!
//! 1. **Timers** ([`start`], [`add_thread`]). Each registered OS thread gets
//!    its own POSIX timer on its own CPU clock —
//!    `timer_create(thread CPU clock, SIGEV_THREAD_ID → SIGPROF)` — firing
//!    every 10 ms of that thread's CPU time (100 Hz, Go's rate), the first
//!    tick at a random point of the first period (Go does the same, so that
//!    threads started together do not tick together). A thread that does
//!    not run gets no ticks; a thread that runs gets a tick per 10 ms it
//!    burns, wherever it is. The profiler creates the timers from whichever
//!    thread starts the profile, naming each thread's clock by its tid
//!    (Linux's `(~tid << 3) | 6`, what `pthread_getcpuclockid` computes), so
//!    threads already running need not cooperate. The runtime registers the
//!    scheduler's Ms (its thread hook tells it about Ms started later).
//! 2. **The handler** (`signal.rs`). Async-signal-safe: no allocation, no
//!    lock, no unwinder. It reads the interrupted PC, stack pointer and frame
//!    pointer from the `ucontext` (x86_64 and aarch64), finds which stack
//!    that is — the current goroutine's (bounds from the scheduler) or the
//!    OS thread's (recorded when the thread started, never computed in the
//!    handler) — and walks the frame-pointer chain inside it ([`walk`]: at
//!    most 64 PCs, each frame pointer aligned, inside the stack and above
//!    the last, each return PC in executable code). The stack goes into the
//!    ring, tagged with the interrupted goroutine's label word
//!    ([`crate::labels`]); if the ring is full the sample is counted as
//!    lost.
//! 3. **The ring** ([`ring::Ring`]): preallocated, bounded, multi-producer
//!    single-consumer, lock-free (Vyukov's sequence-numbered slots), with a
//!    lost-sample counter — the role of Go's `profBuf`. A loom model checks
//!    it (`loom_` tests).
//! 4. **The reader thread** drains the ring every 20 ms, counts identical
//!    (stack, label set) pairs and symbolizes each new stack at once (so
//!    the names are cached before the profile ends). At [`stop`] the timers
//!    are deleted, the handlers still running are waited for, the ring is drained a last time, and
//!    every distinct stack is symbolized ([`crate::symbolize`]) and encoded
//!    with [`crate::pprof::cpu_profile`] (`samples/count`,
//!    `cpu/nanoseconds`, period 10 ms), gzip'd, into the writer given to
//!    [`start`]. Lost samples appear as Go shows them, one sample on the
//!    function `runtime/pprof.lostProfileEvent`.
//!
//! Both register layouts are exercised: x86_64 natively, aarch64 under
//! `qemu-aarch64` (the `cpu_profile` and `pprof_cpu` tests pass there, with
//! `go tool pprof` reading the result).
//!
//! The signal handler, once installed, stays installed: a tick already in
//! flight when the profile stops must find a handler (SIGPROF's default
//! action kills the process); between profiles it returns at once.
//!
//! Shared state and what protects it:
//!
//! | state | protected by |
//! |---|---|
//! | `ACTIVE` (handlers record) | atomic; SeqCst with `IN_HANDLER` (see `stop`) |
//! | the ring | its own protocol ([`ring`]) |
//! | the thread list and their timers | the `REGISTRY` mutex (never taken by the handler) |
//! | the session (reader thread, writer) | the `SESSION` mutex |

pub mod ring;
mod signal;
pub mod walk;

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::pprof::{cpu_profile, write_gzip, CpuSample, ProfileMeta, CPU_HZ};
use crate::stack::Frame;

pub use walk::{callers, set_goroutine_stack_bounds, set_thread_stack_bounds};

/// The sampling period in nanoseconds (10 ms: Go's 100 Hz).
pub const PERIOD_NS: i64 = 1_000_000_000 / CPU_HZ;

/// Slots of the sample ring: 1024 stacks, ~0.5 MiB, enough for 10 s of
/// ticks on 100 threads if the reader stalled (it drains every 20 ms).
const RING_SLOTS: usize = 1024;

/// How often the reader thread drains the ring.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// The function Go attributes lost samples to.
pub const LOST_FUNCTION: &str = "runtime/pprof.lostProfileEvent";

/// Handlers record samples only while this is true.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Handlers currently past their `ACTIVE` check (see [`stop`]).
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// The ring, allocated at the first start and never freed (a late handler
/// may still touch it).
static RING: OnceLock<&'static ring::Ring> = OnceLock::new();

/// One registered thread.
#[derive(Debug)]
struct Thread {
    tid: i32,
    /// Its armed timer while a profile runs.
    timer: Option<signal::Timer>,
    /// Its CPU clock when the timer was armed (ns).
    cpu_at_arm: u64,
}

#[derive(Debug, Default)]
struct Registry {
    threads: Vec<Thread>,
    /// Whether a profile runs (new threads get a timer at once).
    profiling: bool,
    /// CPU time of threads whose timers were disarmed, this profile (ns).
    cpu_done: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    threads: Vec::new(),
    profiling: false,
    cpu_done: 0,
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Figures about one finished CPU profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuProfileStats {
    /// Samples recorded (ticks that reached the ring).
    pub samples: u64,
    /// Samples lost because the ring was full.
    pub lost: u64,
    /// Distinct stacks.
    pub stacks: usize,
    /// Threads that had a timer at some point of the profile.
    pub threads: usize,
    /// CPU time those threads used while their timers were armed (ns):
    /// the expected sample count is about this / [`PERIOD_NS`].
    pub thread_cpu_ns: u64,
    /// Wall-clock duration of the profile (ns).
    pub duration_ns: u64,
}

/// A running profile: its reader thread and where the profile goes.
struct Session {
    stop: Arc<AtomicBool>,
    reader: JoinHandle<HashMap<(Vec<u64>, u64), i64>>,
    out: Box<dyn Write + Send>,
    program: String,
    started: Instant,
    start_unix_ns: i64,
    threads_seen: Arc<AtomicUsize>,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);
static LAST_STATS: Mutex<Option<CpuProfileStats>> = Mutex::new(None);
static THREADS_SEEN: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Registers the OS thread `tid` (of this process) for CPU profiling: it
/// gets a timer now if a profile runs, and at every later [`start`].
/// Registering a tid twice is harmless. Threads that register themselves
/// should prefer [`register_current_thread`], which also records their
/// stack bounds for the walk.
pub fn add_thread(tid: i32) {
    let mut r = registry();
    if r.threads.iter().any(|t| t.tid == tid) {
        return;
    }
    let mut t = Thread {
        tid,
        timer: None,
        cpu_at_arm: 0,
    };
    if r.profiling {
        arm(&mut t);
    }
    r.threads.push(t);
}

/// Registers the calling thread (see [`add_thread`]) and records its stack
/// bounds so that the handler can walk its stack.
pub fn register_current_thread() {
    walk::record_thread_stack();
    add_thread(signal::gettid());
}

/// Unregisters the calling thread: its timer (if any) is deleted. A thread
/// that registered itself must call this before it exits.
pub fn unregister_current_thread() {
    let tid = signal::gettid();
    let mut r = registry();
    if let Some(i) = r.threads.iter().position(|t| t.tid == tid) {
        let mut t = r.threads.swap_remove(i);
        let cpu = disarm(&mut t);
        r.cpu_done += cpu;
    }
}

fn threads_seen() -> &'static Arc<AtomicUsize> {
    THREADS_SEEN.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

fn arm(t: &mut Thread) {
    if let Some(timer) = signal::Timer::arm(t.tid) {
        t.cpu_at_arm = signal::thread_cpu_ns(t.tid).unwrap_or(0);
        t.timer = Some(timer);
        threads_seen().fetch_add(1, Relaxed);
    }
}

/// Deletes `t`'s timer; returns the CPU time it used while armed.
fn disarm(t: &mut Thread) -> u64 {
    match t.timer.take() {
        Some(timer) => {
            timer.delete();
            signal::thread_cpu_ns(t.tid).map_or(0, |now| now.saturating_sub(t.cpu_at_arm))
        }
        None => 0,
    }
}

/// Starts a CPU profile written to `w` at [`stop`] (Go's
/// `pprof.StartCPUProfile`). Every registered thread gets a 100 Hz CPU
/// timer. `program` names the profile's mapping (pprof's `File:`).
///
/// # Errors
///
/// `cpu profiling already in use` if a profile runs (Go's message); an OS
/// error if the signal handler cannot be installed.
pub fn start(w: Box<dyn Write + Send>, program: &str) -> io::Result<()> {
    let mut session = SESSION.lock().unwrap_or_else(PoisonError::into_inner);
    if session.is_some() {
        return Err(io::Error::other("cpu profiling already in use"));
    }
    walk::record_text_segments();
    signal::install_handler()?;
    let ring: &'static ring::Ring =
        RING.get_or_init(|| Box::leak(Box::new(ring::Ring::new(RING_SLOTS))));
    // Nothing is in the ring between profiles (stop drained it), but a
    // previous profile's lost count is reset here.
    ring.take_lost();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("gort-cpuprof".into())
            .spawn(move || reader(ring, &stop))?
    };
    threads_seen().store(0, Relaxed);
    // SeqCst: pairs with the handler's SeqCst load (see `stop`).
    ACTIVE.store(true, SeqCst);
    {
        let mut r = registry();
        r.profiling = true;
        r.cpu_done = 0;
        for t in &mut r.threads {
            arm(t);
        }
    }
    *session = Some(Session {
        stop,
        reader,
        out: w,
        program: program.to_string(),
        started: Instant::now(),
        start_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
        threads_seen: threads_seen().clone(),
    });
    Ok(())
}

/// Whether a CPU profile is running.
pub fn is_profiling() -> bool {
    SESSION
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// Stops the running CPU profile, writes it and returns its figures (Go's
/// `pprof.StopCPUProfile`; `Ok(None)` if no profile runs). Returns once
/// the whole profile is written.
///
/// # Errors
///
/// The writer's error, if writing the profile failed.
pub fn stop() -> io::Result<Option<CpuProfileStats>> {
    let mut session = SESSION.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(s) = session.take() else {
        return Ok(None);
    };
    let thread_cpu_ns = {
        let mut r = registry();
        r.profiling = false;
        let mut cpu = r.cpu_done;
        for t in &mut r.threads {
            cpu += disarm(t);
        }
        cpu
    };
    // SeqCst store, then SeqCst loads of IN_HANDLER: a handler either saw
    // ACTIVE false (and records nothing) or had already incremented
    // IN_HANDLER, which we then see and wait out (pairs with the handler's
    // SeqCst increment-then-load).
    ACTIVE.store(false, SeqCst);
    while IN_HANDLER.load(SeqCst) != 0 {
        std::thread::sleep(Duration::from_micros(100));
    }
    s.stop.store(true, Release);
    let counts = s
        .reader
        .join()
        .unwrap_or_else(|_| panic!("the CPU profile reader thread panicked"));
    let ring = RING.get().expect("a profile ran, so the ring exists");
    let lost = ring.take_lost();
    let duration_ns = s.started.elapsed().as_nanos() as u64;
    let mut stats = CpuProfileStats {
        samples: counts.values().sum::<i64>() as u64,
        lost,
        stacks: counts.len(),
        threads: s.threads_seen.load(Relaxed),
        thread_cpu_ns,
        duration_ns,
    };
    let meta = ProfileMeta {
        program: s.program,
        time_nanos: s.start_unix_ns,
        duration_nanos: duration_ns as i64,
    };
    let profile = build_profile(counts, lost, &meta);
    let mut out = s.out;
    write_gzip(&profile, &mut out)?;
    out.flush()?;
    stats.stacks = profile.sample.len();
    *LAST_STATS.lock().unwrap_or_else(PoisonError::into_inner) = Some(stats.clone());
    Ok(Some(stats))
}

/// The figures of the last profile [`stop`] wrote, if any.
pub fn last_stats() -> Option<CpuProfileStats> {
    LAST_STATS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The profile of raw stack counts: each distinct stack symbolized (most
/// frequent first), plus Go's lost-samples record if `lost > 0`.
fn build_profile(
    counts: HashMap<(Vec<u64>, u64), i64>,
    lost: u64,
    meta: &ProfileMeta,
) -> crate::pprof::Profile {
    let mut v: Vec<((Vec<u64>, u64), i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut samples: Vec<CpuSample> = v
        .into_iter()
        .map(|((pcs, labels), count)| CpuSample {
            stack: crate::symbolize::symbolize(&pcs),
            count,
            labels: crate::labels::pairs_of(labels as usize),
        })
        .collect();
    if lost > 0 {
        samples.push(CpuSample {
            stack: vec![Frame::new(LOST_FUNCTION, "", 0, 0, 0)],
            count: lost as i64,
            labels: vec![],
        });
    }
    cpu_profile(&samples, CPU_HZ, meta)
}

/// The reader thread: drains the ring every [`DRAIN_EVERY`], counting
/// identical stacks, until told to stop (after the last handler is done),
/// then drains once more.
fn reader(ring: &'static ring::Ring, stop: &AtomicBool) -> HashMap<(Vec<u64>, u64), i64> {
    let mut counts: HashMap<(Vec<u64>, u64), i64> = HashMap::new();
    let mut buf = Vec::with_capacity(ring::MAX_STACK);
    let mut drain = |counts: &mut HashMap<(Vec<u64>, u64), i64>| {
        // SAFETY: this thread is the ring's only consumer while the
        // session runs (one session at a time; `stop` joins us).
        while let Some(labels) = unsafe { ring.pop_tagged(&mut buf) } {
            let key = (std::mem::take(&mut buf), labels);
            match counts.get_mut(&key) {
                Some(c) => *c += 1,
                None => {
                    // Name the new stack's PCs now, on this thread (which is
                    // not profiled): `stop` then finds them in the
                    // symbolizer's cache and returns sooner.
                    crate::symbolize::symbolize(&key.0);
                    counts.insert(key.clone(), 1);
                }
            }
            buf = key.0;
        }
    };
    loop {
        // Acquire: pairs with the Release in `stop`, after which no handler
        // writes to the ring.
        let last = stop.load(Acquire);
        drain(&mut counts);
        if last {
            return counts;
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn here() -> u64 {
        let mut b = [0u64; 1];
        callers(0, &mut b);
        std::hint::black_box(b[0])
    }

    #[test]
    fn profile_of_counts_with_lost_samples() {
        let pc = here();
        let mut counts = HashMap::new();
        counts.insert((vec![pc], 0), 5);
        let p = build_profile(counts, 3, &ProfileMeta::default());
        crate::pprof::check_valid(&p).unwrap();
        let name = |s: &crate::pprof::proto::Sample| {
            let loc = &p.location[(s.location_id[0] - 1) as usize];
            let f = &p.function[(loc.line[0].function_id - 1) as usize];
            p.string_table[f.name as usize].clone()
        };
        assert_eq!(p.sample.len(), 2);
        assert_eq!(p.sample[0].value, [5, 50_000_000]);
        assert_eq!(name(&p.sample[0]), "gort_profiler::cpu::tests::here");
        assert_eq!(p.sample[1].value, [3, 30_000_000]);
        assert_eq!(name(&p.sample[1]), "runtime/pprof.lostProfileEvent");
        let none = build_profile(HashMap::new(), 0, &ProfileMeta::default());
        assert!(none.sample.is_empty());
    }
}
