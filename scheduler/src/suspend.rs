//! The suspension hand-shake between a stopper and the preemption signal's
//! handler on a P-less goroutine's thread.
//!
//! See [crate] ("System calls and the P-less state") and `preempt.rs`.
//! 1. The stopper sets `REQ_SUSPEND` in the M's request word (Release) and
//!    signals the thread.
//! 2. The handler, on that thread, at an async-safe instruction, saves the
//!    goroutine's stack pointer, raises `suspended` (Release: the saved sp
//!    and the frozen stack are visible to whoever sees it) and waits while
//!    the request bit is set (a futex on the request word).
//! 3. The stopper sees `suspended` (Acquire), scans or counts the thread,
//!    and finally clears the bit (Release) and wakes the word.
//! 4. The handler sees the bit clear (Acquire), lowers `suspended` and
//!    returns into the interrupted code.
//!
//! A wake-up cannot be lost: the handler re-reads the word before every
//! wait, and the futex compares it atomically with the value it read. A
//! clear that comes before the handler even ran leaves a word without the
//! bit, and the handler does not wait at all. `loom_suspend` checks both,
//! and that the stopper sees what the handler published.

use crate::loom::sync::atomic::{AtomicU32, Ordering::*};

/// Leave the P if the goroutine is blocked in a system call (sysmon).
pub(crate) const REQ_LEAVE_P: u32 = 1;
/// Leave the P whatever the goroutine does and go on P-less (a ragged
/// barrier, which runs the P's function on its behalf).
pub(crate) const REQ_FORCE: u32 = 2;
/// Leave the P and stay suspended in the handler until released (a
/// stopper).
pub(crate) const REQ_SUSPEND: u32 = 4;
/// Leave the P and wait in the handler, queued as a locked goroutine, until
/// an M hands over a P (sysmon's fairness preemption while others wait).
pub(crate) const REQ_YIELD: u32 = 8;

/// An M's request word and suspension flag. Atomics: the request word is
/// written by requesters (fetch_or) and by the handler and the resumer
/// (fetch_and); `suspended` only by the M's own thread.
#[derive(Debug)]
pub(crate) struct Suspension {
    /// REQ_* bits.
    pub(crate) preq: AtomicU32,
    /// 1 while the thread waits in the handler with its sp saved.
    suspended: AtomicU32,
}

impl Suspension {
    pub(crate) fn new() -> Suspension {
        Suspension {
            preq: AtomicU32::new(0),
            suspended: AtomicU32::new(0),
        }
    }

    /// Step 1 (a requester), before signalling.
    pub(crate) fn request(&self, bits: u32) {
        // Release: pairs with the handler's Acquire in `requests`.
        self.preq.fetch_or(bits, Release);
    }

    /// The handler's view of the requests.
    pub(crate) fn requests(&self) -> u32 {
        // Acquire: pairs with the Release in `request`.
        self.preq.load(Acquire)
    }

    /// The handler serves the leave requests (they are one-shot).
    pub(crate) fn served_leave(&self) {
        self.preq
            .fetch_and(!(REQ_LEAVE_P | REQ_FORCE | REQ_YIELD), Relaxed);
    }

    /// Steps 2 and 4 (the handler): `publish` saves what the stopper reads
    /// (the sp); `wait(word, seen)` blocks while `word` still holds `seen`
    /// (a futex wait; spurious returns are fine).
    pub(crate) fn suspend(&self, publish: impl FnOnce(), wait: impl Fn(&AtomicU32, u32)) {
        publish();
        // Release: pairs with the stopper's Acquire in `is_suspended`.
        self.suspended.store(1, Release);
        loop {
            // Acquire: pairs with the Release in `resume`.
            let r = self.preq.load(Acquire);
            if r & REQ_SUSPEND == 0 {
                break;
            }
            wait(&self.preq, r);
        }
        self.suspended.store(0, Relaxed);
    }

    /// Step 3 (the stopper): whether the thread is suspended.
    pub(crate) fn is_suspended(&self) -> bool {
        // Acquire: pairs with the Release in `suspend`.
        self.suspended.load(Acquire) != 0
    }

    /// Step 3, end (the stopper): clears the request; `wake(word)` wakes a
    /// waiter on the word if the bit was set.
    pub(crate) fn resume(&self, wake: impl FnOnce(&AtomicU32)) {
        // Release: pairs with the handler's Acquire re-check in `suspend`.
        if self.preq.fetch_and(!REQ_SUSPEND, Release) & REQ_SUSPEND != 0 {
            wake(&self.preq);
        }
    }
}
