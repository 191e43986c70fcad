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
    r.record(now_nanos(), ev);
}
