//! The per-goroutine stack-scan word: who scans a goroutine's stack in a
//! collector cycle, and the guarantee that it is scanned exactly once and
//! never while the goroutine runs.
//!
//! See [crate] ("Concurrent stack scanning") for the overview and
//! `stw.rs` for the epochs and the stack jobs built on it.
//!
//! The collector scans goroutine stacks **concurrently** (Go's design since
//! 1.8, proposal 17503): at the start of a cycle, with the world stopped, the
//! scheduler only opens a new *scan epoch* `e` (a counter: O(1), no
//! per-goroutine work in the pause). From then on every goroutine whose word
//! is not "scanned in `e`" is *unscanned*. Two kinds of scanner race for it:
//!
//! * a **mark worker** walking the goroutines (a *stack job*), and
//! * the **M about to switch into it** (`execute`), which must not run a
//!   goroutine whose stack is unscanned.
//!
//! Whoever wins the claim (a CAS) scans the stack `[saved sp, top)` and then
//! publishes "scanned in `e`". The loser either sees "scanned" (nothing to
//! do) or sees the claim and waits for the publication (a scan takes
//! microseconds). So:
//!
//! 1. **exactly one scan per epoch**: only a CAS from an unscanned value
//!    claims, and only the claimer publishes;
//! 2. **never while running**: the M runs the goroutine only after it
//!    observed "scanned in `e`" with Acquire, which pairs with the scanner's
//!    Release publication, so every read of the scan happens before the
//!    goroutine's first write to its stack;
//! 3. a goroutine that never runs in the epoch is scanned by a stack job.
//!
//! `loom_scan` checks 1 and 2 with the claim racing the M.
//!
//! # The word
//!
//! | value | meaning |
//! |---|---|
//! | `e << 1` | scanned in epoch `e` |
//! | `e << 1 \| 1` | claimed in epoch `e`: a scan is in progress |
//! | anything else | unscanned in epoch `e` |
//!
//! Epochs start at 1, so a fresh word (0) is unscanned in every epoch. A
//! claim never outlives its epoch: the collector ends an epoch only after
//! every stack job is done, with the world stopped (no M is in `execute`).

use crate::loom::sync::atomic::{AtomicU32, Ordering::*};

/// The claim bit.
const CLAIMED: u32 = 1;

/// What [`ScanState::try_claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The caller claimed the stack: it must scan it, then call
    /// [`ScanState::publish`].
    Mine,
    /// Another scanner holds the claim: the stack will be scanned shortly.
    Busy,
    /// Already scanned in this epoch.
    Scanned,
}

impl Claim {
    /// The outcome's name, for debugging output.
    #[allow(dead_code)]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Claim::Mine => "mine",
            Claim::Busy => "busy",
            Claim::Scanned => "scanned",
        }
    }
}

/// A goroutine's stack-scan word (see the module doc). Atomic; written by
/// the scanner that claims it, and by the spawner of the goroutine before it
/// is published (nobody else can see the G then).
#[derive(Debug, Default)]
pub(crate) struct ScanState(AtomicU32);

impl ScanState {
    /// Unscanned in every epoch.
    pub(crate) fn new() -> ScanState {
        ScanState(AtomicU32::new(0))
    }

    /// Whether the stack was scanned in `epoch` (the M's fast check).
    #[inline]
    pub(crate) fn is_scanned(&self, epoch: u32) -> bool {
        // Acquire: pairs with the Release in `publish`: the scan's reads of
        // the stack happen before whatever the caller does next with it
        // (run the goroutine).
        self.0.load(Acquire) == epoch << 1
    }

    /// Try to claim the stack for scanning in `epoch`.
    pub(crate) fn try_claim(&self, epoch: u32) -> Claim {
        let scanned = epoch << 1;
        let claimed = scanned | CLAIMED;
        // Acquire: pairs with `publish` (see `is_scanned`).
        let mut w = self.0.load(Acquire);
        loop {
            if w == scanned {
                return Claim::Scanned;
            }
            if w == claimed {
                return Claim::Busy;
            }
            // Acquire on success: the claimer reads the goroutine's saved
            // stack pointer and stack next; they were written before the
            // goroutine last switched out, which happens before the epoch
            // began (the world was stopped) or before the spawner's
            // publication.
            match self.0.compare_exchange(w, claimed, Acquire, Acquire) {
                Ok(_) => return Claim::Mine,
                Err(now) => w = now,
            }
        }
    }

    /// The claimer finished scanning in `epoch`.
    pub(crate) fn publish(&self, epoch: u32) {
        // Release: pairs with the Acquire loads of `is_scanned` and
        // `try_claim`: the scan is complete before anyone runs the goroutine.
        self.0.store(epoch << 1, Release);
    }

    /// A goroutine born (or reused) while `epoch` is open starts scanned:
    /// its stack holds only its start closure, which the spawner shades
    /// (the copy barrier). `epoch == 0`: no scan is open; the word becomes
    /// unscanned in every future epoch. Only the spawner, before it
    /// publishes the G, calls this.
    pub(crate) fn born(&self, epoch: u32) {
        // Relaxed: the G's publication (a Release store of its status and a
        // run-queue hand-off) orders it before any scanner's load.
        self.0.store(epoch << 1, Relaxed);
    }
}
