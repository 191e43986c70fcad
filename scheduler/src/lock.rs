//! The runtime's short-term lock for channel and sync state.
//!
//! See [crate]. A test-and-test-and-set spin lock that yields the OS thread
//! after a short spin. It protects only short critical sections that never
//! contain a switch point (a goroutine parks only *after* releasing it, in
//! the park hand-shake), so holding it never blocks a goroutine, only an M,
//! and only briefly. Unlike a guard-based mutex it can be released by code
//! that did not receive a guard, which `select` needs (it locks several
//! channels in address order and releases them from the park hand-shake).

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    pub(crate) fn new() -> SpinLock {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) {
        // A P-less goroutine takes its P back first: it must not wait for
        // one while holding the lock. Then the lock counts as held for the
        // preemption handler (`preempt.rs`).
        #[cfg(not(all(test, loom)))]
        crate::preempt::enter_lock_with_p();
        loop {
            // Acquire: pairs with the Release in `unlock`.
            if !self.locked.swap(true, Acquire) {
                return;
            }
            let mut spins = 0u32;
            while self.locked.load(Relaxed) {
                if spins < 64 {
                    crate::loom::hint::spin_loop();
                } else {
                    crate::loom::thread::yield_now();
                }
                spins += 1;
            }
        }
    }

    pub(crate) fn unlock(&self) {
        // Release: publishes the critical section to the next `lock`.
        self.locked.store(false, Release);
        #[cfg(not(all(test, loom)))]
        crate::preempt::locks_held(-1);
    }
}
