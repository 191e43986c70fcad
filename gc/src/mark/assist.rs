//! Background credit and parked assists (≈ Go's `gcFlushBgCredit` and
//! `gcParkAssist`).
//!
//! A goroutine that allocates while marking owes scan work (see
//! `Collector::assist`). It pays from the background workers' credit
//! first, then by scanning grey objects itself. When neither is possible —
//! no credit, no grey object to scan (a program allocating big `noscan`
//! slices has almost nothing to scan) — it must not simply go on
//! allocating: its new objects are born black, so a fast allocator would
//! outrun the cycle and the heap would grow without bound. Go parks such a
//! goroutine until a background worker flushes enough credit or the mark
//! phase ends; so does gort, through [`crate::host::Host::block_until`].
//!
//! # The protocol (no lost wake-up)
//!
//! | assist (parker) | worker (flusher) |
//! |---|---|
//! | `parked += 1` (RMW, AcqRel) | `credit += work` (RMW, AcqRel) |
//! | `block_until(credit ≥ need ∨ cycle over)`: the condition reads `credit` with an RMW (`fetch_add(0)`, AcqRel) under the host's waiter lock | reads `parked` with an RMW (`fetch_add(0)`, AcqRel); if > 0, `Host::wake_blocked()` (takes the waiter lock) |
//! | `parked -= 1` after waking | |
//!
//! Every access is a read-modify-write, and an RMW reads the last value in
//! its location's modification order. Either the flusher's `credit` RMW
//! comes first in that order — then the parker's condition reads the
//! credit and does not sleep — or the parker's `credit` RMW comes first;
//! then the flusher's reads from it (release → acquire), so the parker's
//! `parked += 1` happens before the flusher's read of `parked`, which sees
//! it and wakes; because the host checks the condition and registers the
//! waiter under the lock `wake_blocked` takes, that wake-up finds the
//! parker either not yet checked (it will see the credit) or asleep. (A
//! SeqCst-load Dekker pair would do on hardware, but loom models SeqCst as
//! acquire/release and rejects it, as for [`crate::sweep::SweepGate`].) The end of the
//! cycle wakes every parker through `Host::cycle_done`. The loom model
//! `loom_assist::loom_assist_park_vs_credit_flush` checks this.

use crate::loom::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use Ordering::{AcqRel, Relaxed};

/// Background scan credit and the count of parked assists.
///
/// | field | protected by |
/// |---|---|
/// | `credit` | atomic; added to by workers, taken by assists (CAS) |
/// | `parked` | atomic; each parker adds 1 before parking, subtracts 1 after |
#[derive(Debug)]
pub(crate) struct AssistCredit {
    credit: AtomicI64,
    parked: AtomicU32,
}

impl Default for AssistCredit {
    fn default() -> Self {
        AssistCredit::new()
    }
}

impl AssistCredit {
    /// No credit, nobody parked.
    pub(crate) fn new() -> AssistCredit {
        AssistCredit {
            credit: AtomicI64::new(0),
            parked: AtomicU32::new(0),
        }
    }

    /// Forget the last cycle's credit (at sweep termination, world stopped).
    pub(crate) fn reset(&self) {
        self.credit.store(0, Relaxed);
    }

    /// Credit available now. For the parked assist's wake-up condition only
    /// (an RMW; see the module doc).
    pub(crate) fn available(&self) -> i64 {
        // An RMW, AcqRel: the parker's half of the pair with the RMW in
        // `flush` (see the module doc); a plain load could read a stale value.
        self.credit.fetch_add(0, AcqRel)
    }

    /// Take up to `want` bytes of credit; returns what was taken.
    pub(crate) fn take(&self, want: i64) -> i64 {
        let mut cur = self.credit.load(Relaxed);
        loop {
            if cur <= 0 || want <= 0 {
                return 0;
            }
            let t = cur.min(want);
            // Relaxed: credit is a counter; nothing is published through it.
            match self.credit.compare_exchange(cur, cur - t, Relaxed, Relaxed) {
                Ok(_) => return t,
                Err(now) => cur = now,
            }
        }
    }

    /// A worker adds `work` bytes of credit. Returns true if an assist may
    /// be parked waiting for it: the caller must then call
    /// `Host::wake_blocked`.
    #[must_use]
    pub(crate) fn flush(&self, work: i64) -> bool {
        // RMWs, AcqRel: pair with the RMWs in `will_park` and `available`
        // (see the module doc).
        self.credit.fetch_add(work, AcqRel);
        self.parked.fetch_add(0, AcqRel) > 0
    }

    /// An assist is about to park (call before `block_until`).
    pub(crate) fn will_park(&self) {
        // AcqRel: pairs with the RMW on `parked` in `flush` (see the module
        // doc).
        self.parked.fetch_add(1, AcqRel);
    }

    /// The assist woke up.
    pub(crate) fn unparked(&self) {
        self.parked.fetch_sub(1, Relaxed);
    }

    /// Some assist is parked (for the fractional worker: do not idle then).
    pub(crate) fn any_parked(&self) -> bool {
        self.parked.load(Relaxed) > 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn credit_is_taken_at_most_once_and_flush_reports_parked_assists() {
        let c = AssistCredit::new();
        assert_eq!(c.take(10), 0, "no credit yet");
        assert!(!c.flush(6), "nobody parked: no wake-up needed");
        assert_eq!(c.take(4), 4);
        assert_eq!(c.take(4), 2, "only what is left");
        assert_eq!(c.available(), 0);
        c.will_park();
        assert!(c.any_parked());
        assert!(c.flush(3), "a parked assist must be woken");
        assert_eq!(c.available(), 3);
        c.unparked();
        assert!(!c.any_parked());
        c.reset();
        assert_eq!(c.take(1), 0, "reset forgets the last cycle's credit");
    }
}
