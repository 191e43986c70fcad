//! The CPU profile: Go's `pprof.StartCPUProfile` / `pprof.StopCPUProfile`.
//!
//! The recording machinery is the profiler crate's ([`gort_profiler::cpu`]:
//! per-thread CPU timers raising SIGPROF at 100 Hz, a frame-pointer walk in
//! the handler, a lock-free ring, a reader thread, the symbolizer). This
//! file joins it to the scheduler, which the profiler does not know:
//!
//! * **which threads** — the scheduler's Ms. [`start_cpu_profile`] installs
//!   a [`gort_scheduler::hooks::ThreadHook`] (once per process) that
//!   registers every M started from then on, and registers the Ms that
//!   already run (`set_thread_hook` returns their tids). Each gets its own
//!   timer while a profile runs. Not sampled: the collector's mark-worker
//!   and sweeper threads (the facade's pool), sysmon and the profiler's own
//!   reader thread — their CPU time is not in the profile.
//! * **which stack** — a tick that interrupts a goroutine is walked inside
//!   that goroutine's stack
//!   ([`gort_scheduler::current_goroutine_stack_bounds`]); one that
//!   interrupts an M on its own OS-thread stack (the scheduler loop) inside
//!   that stack ([`gort_scheduler::hooks::current_thread_stack_bounds`]).
//!   A goroutine's stack ends at the scheduler's goroutine entry (its root
//!   frame is the switch trampoline that calls it, the role of Go's
//!   `runtime.goexit`); an M's ends at the thread's start.
//!
//! Function names follow the symbolizer's rule
//! ([`gort_profiler::symbolize`]): the demangled Rust path without its
//! hash, crate first — `binarytrees::bottom_up`.

use std::io::{self, Write};
use std::sync::Once;

use gort_scheduler::hooks::{self, ThreadHook};

/// Registers each M that starts with the CPU profiler.
struct RegisterMs;

impl ThreadHook for RegisterMs {
    fn thread_started(&self, tid: i32) {
        gort_profiler::cpu::add_thread(tid);
    }
}

static REGISTER_MS: RegisterMs = RegisterMs;

/// Joins the profiler to the scheduler, once per process.
fn connect() {
    static CONNECTED: Once = Once::new();
    CONNECTED.call_once(|| {
        gort_profiler::cpu::set_goroutine_stack_bounds(
            gort_scheduler::current_goroutine_stack_bounds,
        );
        gort_profiler::cpu::set_thread_stack_bounds(hooks::current_thread_stack_bounds);
        for tid in hooks::set_thread_hook(Some(&REGISTER_MS)) {
            gort_profiler::cpu::add_thread(tid);
        }
    });
}

/// The program's name for the profile's mapping (pprof's `File:` line).
fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "gort".to_string())
}

/// Starts CPU profiling (Go's `pprof.StartCPUProfile`): every OS thread
/// that runs goroutines is sampled 100 times per second of its CPU time
/// until [`stop_cpu_profile`], which writes the profile — gzip'd
/// `profile.proto`, sample types `samples/count` and `cpu/nanoseconds`,
/// period 10 ms — to `w`. Read it with `go tool pprof -top FILE`.
///
/// # Errors
///
/// `cpu profiling already in use` while a profile runs, as in Go; an OS
/// error if the signal handler or the reader thread cannot be set up.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
///
/// #[inline(never)]
/// fn spin(d: Duration) -> u64 {
///     let (t, mut x) = (Instant::now(), 0u64);
///     while t.elapsed() < d {
///         x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
///     }
///     x
/// }
///
/// let path = std::env::temp_dir().join(format!("gort-doc-{}.pprof", std::process::id()));
/// let file = std::fs::File::create(&path).unwrap();
/// gort::run(move || {
///     gort::pprof::start_cpu_profile(file).unwrap();
///     // A second start is refused, as Go refuses it.
///     let again = gort::pprof::start_cpu_profile(std::io::sink()).unwrap_err();
///     assert_eq!(again.to_string(), "cpu profiling already in use");
///     spin(Duration::from_millis(300));
///     gort::pprof::stop_cpu_profile();
/// });
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(&bytes[..2], &[0x1f, 0x8b]); // gzip: `go tool pprof -top` reads it
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn start_cpu_profile(w: impl Write + Send + 'static) -> io::Result<()> {
    connect();
    gort_profiler::cpu::start(Box::new(w), &program_name())
}

/// Stops the CPU profile started by [`start_cpu_profile`] and writes it;
/// returns once it is written (Go's `pprof.StopCPUProfile`). Without a
/// running profile it does nothing.
///
/// Like Go's, it has no error result: if writing fails, the error is
/// printed to stderr.
pub fn stop_cpu_profile() {
    if let Err(e) = gort_profiler::cpu::stop() {
        eprintln!("gort: writing the CPU profile: {e}");
    }
}
