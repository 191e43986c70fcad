//! Spinning-M and idle-P accounting: Go's `nmspinning` protocol.
//!
//! See [crate] ("The spinning protocol") for the argument. Two counters:
//! `nmspinning` (Ms looking for work without having found any) and `npidle`
//! (Ps on the idle list). The two StoreLoad barriers of the protocol are the
//! `SeqCst` fences in [`Idle::should_wake`] and [`Idle::stop_spinning`]; they
//! pair with each other, which is what `loom_idle` checks.

use crate::loom::sync::atomic::{fence, AtomicU32, Ordering::*};

/// The counters. Atomics; `npidle` is changed only under the scheduler lock
/// (so it equals the idle list's length whenever that lock is free), read
/// anywhere.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    /// Ms that are spinning.
    pub(crate) nmspinning: AtomicU32,
    /// Ps that are idle.
    pub(crate) npidle: AtomicU32,
}

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle {
            nmspinning: AtomicU32::new(0),
            npidle: AtomicU32::new(0),
        }
    }

    /// A submitter has just published stealable work. Returns `true` when
    /// the caller must start a spinning M on an idle P (it then owns one
    /// unit of `nmspinning`, which it must give back with
    /// [`Idle::cancel_wake`] if no idle P can be had).
    pub(crate) fn should_wake(&self) -> bool {
        // SeqCst fence: StoreLoad between publishing the work (before this
        // call) and reading the counters; pairs with the fence in
        // `stop_spinning`. Either the last spinner sees our work in its
        // re-check, or we see its decrement here.
        fence(SeqCst);
        if self.npidle.load(Relaxed) == 0 || self.nmspinning.load(Relaxed) != 0 {
            return false;
        }
        // SeqCst: part of the same total order as the fences.
        self.nmspinning
            .compare_exchange(0, 1, SeqCst, Relaxed)
            .is_ok()
    }

    /// Gives back the unit taken by a successful [`Idle::should_wake`].
    pub(crate) fn cancel_wake(&self) {
        self.nmspinning.fetch_sub(1, SeqCst);
    }

    /// An M without work asks to spin: allowed when fewer than half of the
    /// busy Ps have a spinning M (`2 * nmspinning < gomaxprocs - npidle`).
    pub(crate) fn try_start_spinning(&self, gomaxprocs: u32) -> bool {
        let busy = gomaxprocs.saturating_sub(self.npidle.load(Relaxed));
        if 2 * self.nmspinning.load(Relaxed) >= busy {
            return false;
        }
        self.nmspinning.fetch_add(1, SeqCst);
        true
    }

    /// A spinning M found work: it stops spinning. Returns `true` when it
    /// was the last spinner and must wake another M (`wakep`), so that the
    /// rest of any burst of new work still has a spinner looking for it.
    pub(crate) fn found_work(&self) -> bool {
        // SeqCst RMW: part of the nmspinning total order.
        self.nmspinning.fetch_sub(1, SeqCst) == 1 && self.npidle.load(Relaxed) > 0
    }

    /// A spinning M found nothing and gives up spinning; afterwards it must
    /// re-check every run queue (the "delicate dance" of Go's
    /// `findRunnable`).
    pub(crate) fn stop_spinning(&self) {
        self.nmspinning.fetch_sub(1, SeqCst);
        // SeqCst fence: StoreLoad between the decrement and the re-check of
        // the queues; pairs with the fence in `should_wake`.
        fence(SeqCst);
    }
}
