//! `run`, `go`, `gosched`, `sleep`, and the runtime's start-up.
//!
//! See [crate] for the overview.
//!
//! # Start-up, in order
//!
//! 1. The settings are resolved ([`Builder`]: code, then the environment,
//!    then Go's defaults). A malformed knob ends the process here, before
//!    anything runs (exit 2).
//! 2. The first start in a process starts the scheduler with the resolved
//!    GOMAXPROCS, then installs the collector over the global heap with
//!    [`HOST`](crate::host::HOST) as its host, GOGC, GOMEMLIMIT, gctrace
//!    and clobberfree, and starts the heap's background scavenger (Go's
//!    `bgscavenge`). A later start (tests call [`run`] once per test)
//!    applies the new settings to the running runtime instead.
//! 3. `GODEBUG=schedtrace=N` starts the printer thread ([`crate::schedtrace`]).
//! 4. The body runs as the main goroutine; the calling thread waits for its
//!    value.
//!
//! Starts are serialized: one `run` body is the main goroutine at a time,
//! so tests that call `run` from several threads take turns (each would
//! otherwise see the others' goroutines in `num_goroutine`).

use crate::builder::{Builder, Settings};
use gort_gc::collector::{self, GcConfig};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Set once the scheduler is started and the collector installed.
static STARTED: OnceLock<()> = OnceLock::new();

/// The background scavenger, started with the runtime.
static SCAVENGER: OnceLock<gort_gc::heap::ScavengerHandle> = OnceLock::new();

/// Serializes `run` bodies (see the module docs). Held by the calling OS
/// thread, never by a goroutine.
static MAIN: Mutex<()> = Mutex::new(());

/// Start the runtime with `s` if this is the first start in the process,
/// else apply `s` to the running runtime.
fn start(s: &Settings) {
    let mut first = false;
    STARTED.get_or_init(|| {
        first = true;
        // The scheduler starts on its first use and keeps its first
        // configuration: an empty main goroutine is that first use.
        gort_scheduler::run_with(
            gort_scheduler::Config {
                gomaxprocs: Some(s.gomaxprocs),
                stack_size: s.max_stack,
            },
            || (),
        );
        let cfg = GcConfig {
            gc_percent: s.gc_percent,
            memory_limit: s.memory_limit,
            gctrace: s.gctrace,
            clobberfree: s.clobberfree,
            // Go's dedicated-worker count, from GOMAXPROCS.
            ..GcConfig::default()
        };
        // The allocator asks for the current P on every allocation: give it
        // the scheduler's function directly (one TLS read) rather than the
        // collector's default path through the Host trait object.
        gort_gc::heap::global().set_current_p(gort_scheduler::current_p);
        gort_gc::heap::global().set_pin_p(pin_p);
        gort_scheduler::set_async_unsafe_check(crate::alloc::async_unsafe);
        if collector::install(&crate::host::HOST, cfg).is_err() {
            gort_scheduler::rt_throw!("gort: the collector was installed outside gort");
        }
        crate::schedtrace::init_clock();
        crate::pprof::install();
        // Go's bgscavenge: return free pages to the OS in the background
        // (8 MiB per 100 ms at most, down to the heap's retention goal).
        // The handle lives as long as the process.
        SCAVENGER.get_or_init(|| {
            // The scavenger thread is the runtime's own for the life of the
            // process (not a possible waker for the deadlock check).
            std::mem::forget(gort_scheduler::RuntimeThread::begin());
            gort_gc::heap::global().start_scavenger()
        });
    });
    if !first {
        if gort_scheduler::gomaxprocs(0) as usize != s.gomaxprocs {
            gort_scheduler::gomaxprocs(s.gomaxprocs as i32);
        }
        let c = collector::global();
        c.set_gc_percent(s.gc_percent);
        c.set_memory_limit(s.memory_limit);
        c.set_gctrace(s.gctrace);
        gort_gc::heap::global().set_clobber_free(s.clobberfree);
    }
    crate::schedtrace::set_period(s.schedtrace);
}

/// The allocator's pin: the scheduler's, directly (see `Host::pin_p`).
#[inline]
fn pin_p() -> gort_gc::heap::Pin {
    let (p, count) = gort_scheduler::pin_p_raw();
    let p = (p != usize::MAX).then_some(p);
    // SAFETY: the scheduler's pin count of the calling thread's M,
    // incremented for this pin; the heap releases it on this thread before
    // any switch point.
    unsafe { gort_gc::heap::Pin::new(p, count) }
}

/// Start the runtime with the environment's settings if nothing started it
/// yet (for [`go`] and the `runtime` functions called outside [`run`]).
pub(crate) fn ensure_started() {
    if STARTED.get().is_none() {
        let s = Builder::new().settings().unwrap_or_else(|e| e.exit());
        let _main = MAIN.lock().unwrap_or_else(PoisonError::into_inner);
        if STARTED.get().is_none() {
            start(&s);
        }
    }
}

impl Builder {
    /// Run `f` as the main goroutine of a gort program configured by this
    /// builder, and return its value (Go's `func main`).
    ///
    /// A malformed environment knob ends the process with status 2 before
    /// `f` runs. A panic in any goroutine prints Go's `panic:` report and
    /// ends the process with status 2; so does a deadlock (every goroutine
    /// blocked) with `fatal error: all goroutines are asleep - deadlock!`.
    /// Goroutines still running when `f` returns are not waited for.
    ///
    /// Called from inside a goroutine, `f` just runs there (the settings of
    /// the running program stay as they are).
    pub fn run<R, F>(self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        if gort_scheduler::current_goroutine_id().is_some() {
            return f();
        }
        let s = self.settings().unwrap_or_else(|e| e.exit());
        let _main = MAIN.lock().unwrap_or_else(PoisonError::into_inner);
        start(&s);
        gort_scheduler::run(f)
    }
}

/// Run `f` as the main goroutine and return its value: Go's `func main`,
/// configured by `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG`
/// (see [`crate::env`]). The same as `Builder::new().run(f)`; see
/// [`Builder::run`] for the details.
///
/// ```
/// let answer = gort::run(|| {
///     let c = gort::chan::<u32>(1);
///     let tx = c.clone();
///     gort::go(move || tx.send(42));
///     c.recv()
/// });
/// assert_eq!(answer, Some(42));
/// ```
pub fn run<R, F>(f: F) -> R
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    Builder::new().run(f)
}

/// Start a goroutine running `f` (Go's `go f()`).
///
/// Whatever `f` captures is moved onto the new goroutine's stack before it
/// runs, so managed pointers it captures stay visible to the collector.
/// Called outside [`run`], it starts the runtime with the environment's
/// settings first.
///
/// The goroutine records its caller as its creator (`created by` in
/// `goroutine?debug=2` dumps, as Go prints the function holding the `go`
/// statement): like [`gort_scheduler::go`], this is `#[inline(always)]`,
/// so the recorded PC lies in the caller's code.
#[inline(always)]
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    ensure_started();
    gort_scheduler::go(f);
}

/// The source file of [`go`], whose inlined frames readers of creator PCs
/// skip (with [`gort_scheduler::GO_FILE`]).
pub(crate) const GO_FILE: &str = file!();

/// Yield the processor so other goroutines run (Go's `runtime.Gosched`);
/// the caller resumes later. Outside a goroutine it yields the OS thread.
pub fn gosched() {
    gort_scheduler::gosched();
}

/// Pause the calling goroutine for at least `d` (Go's `time.Sleep`). The
/// goroutine is parked: its OS thread runs other goroutines meanwhile.
/// Outside a goroutine it sleeps the OS thread.
pub fn sleep(d: Duration) {
    gort_scheduler::sleep(d);
}
