//! Hooks for the profiler and tracer: no-ops until a recorder is installed.
//!
//! See [crate] for the overview. The scheduler reports the events of Go's
//! execution tracer (`GoCreate`, `GoStart`, `GoSched`, `GoPreempt`,
//! `GoBlock`, `GoUnblock`, `GoEnd`, `ProcStart`, `ProcStop`) to one
//! [`SchedRecorder`] with a timestamp in nanoseconds since the scheduler
//! started. When no recorder is installed each hook costs one relaxed load.
//!
//! Hooks are called with no scheduler lock held, from whatever thread the
//! event happens on (a goroutine, an M's g0, sysmon).

use crate::loom::sync::atomic::{AtomicPtr, Ordering::*};
use crate::WaitReason;
use std::time::Instant;

/// One scheduler event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedEvent {
    /// A goroutine was created by `parent` (0: not from a goroutine).
    GoCreate {
        /// The new goroutine.
        goid: u64,
        /// The creating goroutine, 0 if none.
        parent: u64,
    },
    /// A goroutine starts running on a P.
    GoStart {
        /// The goroutine.
        goid: u64,
        /// The P it runs on.
        p: usize,
    },
    /// A goroutine yielded (`gosched`).
    GoSched {
        /// The goroutine.
        goid: u64,
    },
    /// A goroutine yielded at a safepoint because sysmon asked it to.
    GoPreempt {
        /// The goroutine.
        goid: u64,
    },
    /// A goroutine blocked.
    GoBlock {
        /// The goroutine.
        goid: u64,
        /// Why.
        reason: WaitReason,
    },
    /// A blocked goroutine was made runnable.
    GoUnblock {
        /// The goroutine.
        goid: u64,
    },
    /// A goroutine finished.
    GoEnd {
        /// The goroutine.
        goid: u64,
    },
    /// A goroutine enters a call it declared blocking
    /// ([`crate::blocking`]): it goes on running without its P (Go's
    /// `GoSysCall`). A goroutine that leaves its P by the preemption
    /// signal reports nothing here (a signal handler records nothing); its
    /// P's start or stop by another M shows that it left.
    GoSysCall {
        /// The goroutine.
        goid: u64,
    },
    /// A goroutine that ran without its P took an idle P, not the one it
    /// left (that one was handed to another M meanwhile), and runs on `p`
    /// now (Go's `GoSysExit`, then `GoStart` on `p`). One that waits until
    /// an M hands it a P is reported by that M's `GoStart` instead.
    GoSysExit {
        /// The goroutine.
        goid: u64,
        /// The P it runs on now.
        p: usize,
    },
    /// An M acquired a P.
    ProcStart {
        /// The P.
        p: usize,
    },
    /// An M released a P.
    ProcStop {
        /// The P.
        p: usize,
    },
}

/// Receives scheduler events. Implementations must not block and must not
/// call back into the scheduler's blocking API.
pub trait SchedRecorder: Send + Sync + 'static {
    /// Records `ev` that happened at `nanos` since the scheduler started.
    fn record(&self, nanos: u64, ev: SchedEvent);
}

/// The installed recorder: a leaked `Box<&'static dyn SchedRecorder>`, or null.
static RECORDER: AtomicPtr<&'static dyn SchedRecorder> = AtomicPtr::new(core::ptr::null_mut());

/// Installs (or with `None`, removes) the recorder. A removed recorder may
/// still receive events that were in flight.
pub fn set_recorder(r: Option<&'static dyn SchedRecorder>) {
    let p = match r {
        Some(r) => Box::into_raw(Box::new(r)),
        None => core::ptr::null_mut(),
    };
    // Release: pairs with the Acquire load in `emit`; publishes the box.
    // The old box is leaked on purpose: a concurrent `emit` may still read it.
    RECORDER.swap(p, AcqRel);
}

/// The clock origin for timestamps.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the scheduler's clock origin.
pub fn now_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Reports `ev` if a recorder is installed.
#[inline]
pub(crate) fn emit(ev: impl FnOnce() -> SchedEvent) {
    let p = RECORDER.load(Relaxed);
    if !p.is_null() {
        emit_slow(ev());
    }
}

#[cold]
fn emit_slow(ev: SchedEvent) {
    // Acquire: pairs with the Release in `set_recorder`.
    let p = RECORDER.load(Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: non-null values are leaked boxes that are never freed.
    let r = unsafe { *p };
    // Pinned: a recorder takes its own locks (the tracer's buffer), which
    // world-stopped code may take too; a goroutine is never suspended while
    // it holds one.
    let m = crate::preempt::pin();
    r.record(now_nanos(), ev);
    crate::preempt::unpin(m);
}

// ---------------------------------------------------------------------------
// Threads: which OS threads run goroutines (for the CPU profiler's timers)

/// Told about the OS threads that run goroutines and scheduler work (the
/// Ms), so that a profiler can arm a per-thread CPU timer on each. The
/// scheduler does not know what the hook does (it never depends on the
/// profiler); the runtime facade installs one while a CPU profile runs.
pub trait ThreadHook: Send + Sync + 'static {
    /// An M started on the OS thread `tid` (Linux thread id). Called on
    /// that thread, before it runs any goroutine. Ms never exit, so there
    /// is no matching "exiting" call.
    fn thread_started(&self, tid: i32);
}

/// The installed thread hook (a leaked `Box<&'static dyn ThreadHook>`), or null.
static THREAD_HOOK: AtomicPtr<&'static dyn ThreadHook> = AtomicPtr::new(core::ptr::null_mut());

/// Tids of every M started so far, in start order (Ms never exit).
static THREADS: crate::loom::sync::Mutex<Vec<i32>> = crate::loom::sync::Mutex::new(Vec::new());

thread_local! {
    /// `[lo, hi)` of this OS thread's own stack (the M's g0 stack),
    /// recorded by [`thread_started`]; (0, 0) on other threads.
    /// Const-initialized, no destructor: readable from a signal handler.
    static THREAD_STACK: core::cell::Cell<(usize, usize)> = const { core::cell::Cell::new((0, 0)) };
}

/// Installs (or with `None`, removes) the thread hook, and returns the tids
/// of the Ms started before it: the caller handles those itself, the hook
/// gets every later one. A thread starting concurrently may be both in the
/// list and reported to the hook (never neither).
pub fn set_thread_hook(h: Option<&'static dyn ThreadHook>) -> Vec<i32> {
    let p = match h {
        Some(h) => Box::into_raw(Box::new(h)),
        None => core::ptr::null_mut(),
    };
    // SeqCst: the hook is visible to any M that registers after we read the
    // list below (the list lock orders the two); the old box is leaked on
    // purpose (a concurrent caller may still read it).
    THREAD_HOOK.swap(p, SeqCst);
    THREADS.lock().clone()
}

/// `[lo, hi)` of the calling M's own OS-thread stack, `None` on threads
/// that are not Ms. Async-signal-safe (one TLS read), like
/// [`crate::current_goroutine_stack_bounds`].
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
pub fn current_thread_stack_bounds() -> Option<(usize, usize)> {
    let b = THREAD_STACK.with(|c| c.get());
    (b != (0, 0)).then_some(b)
}

/// Called by each M on its own thread when it starts: records the thread's
/// stack bounds and tid, then tells the hook.
pub(crate) fn thread_started() {
    let bounds = query_thread_stack_bounds();
    if bounds.1 > bounds.0 {
        THREAD_STACK.with(|c| c.set(bounds));
    }
    thread_registered();
}

/// `[lo, hi)` of the calling thread's stack, asked of the thread library
/// (`(0, 0)` if it cannot tell). Not async-signal-safe.
pub(crate) fn query_thread_stack_bounds() -> (usize, usize) {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read
    // and destroyed after; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) != 0 {
                size = 0;
            }
            libc::pthread_attr_destroy(&mut attr);
        }
        (addr as usize, addr as usize + size)
    }
}

fn thread_registered() {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    THREADS.lock().push(tid);
    // SeqCst: pairs with the swap in `set_thread_hook` (see there).
    let h = THREAD_HOOK.load(SeqCst);
    if !h.is_null() {
        // SAFETY: non-null values are leaked boxes that are never freed.
        unsafe { *h }.thread_started(tid);
    }
}
