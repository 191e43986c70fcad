//! Sweeping: freeing what the last mark left white (≈ Go's `mgcsweep.go`).
//! See [crate] for the overview (its `# Concurrent sweep` section).
//!
//! The mechanism — sweeping one span, turning mark bits into allocation
//! bits, `sweepgen` — is the heap's (`crate::heap`'s reclaimer). This module
//! is the policy, as in Go:
//!
//! * **at mark termination** (world stopped) the collector starts a sweep
//!   cycle: every span becomes unswept;
//! * **lazily**: an allocation that needs a span from a central sweeps
//!   unswept spans of its class first (the heap does this);
//! * **in the background**: one [`BackgroundSweeper`] per cycle, run by the
//!   host at low priority, sweeps span after span (Go's `bgsweep`);
//! * **at sweep termination** of the next cycle, whatever is still unswept
//!   is swept before marking starts (Go's `finishsweep_m`), first with the
//!   world running, then (normally nothing) with it stopped;
//! * `gc()` sweeps everything before it returns, as `runtime.GC` does, so
//!   statistics and heap profiles right after it are exact.
//!
//! `GODEBUG=clobberfree=1` makes the reclaimer fill every freed object with
//! `0xdeadbeef` ([`crate::heap::CLOBBER_WORD`]), so a pointer the collector
//! failed to see reads poison instead of plausible stale data.

/// A background sweeper handed to
/// [`Host::spawn_background_sweeper`](crate::host::Host::spawn_background_sweeper).
pub struct BackgroundSweeper {
    pub(crate) cycle: u32,
}

impl std::fmt::Debug for BackgroundSweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackgroundSweeper(cycle {})", self.cycle)
    }
}

impl BackgroundSweeper {
    /// Sweep spans one at a time until none is left or a newer cycle has
    /// started (whose sweep termination then finishes the job).
    pub fn run(self) {
        let Some(c) = crate::collector::try_global() else {
            return;
        };
        let (spans, freed) = c.sweep_while_current(self.cycle);
        c.stats_bg_swept(spans, freed);
    }
}

use crate::loom::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// The gate between concurrent sweepers and the start of the next mark.
///
/// A sweep that overlaps the next cycle's marking would clear that cycle's
/// fresh mark bits (sweeping turns a span's mark bits into its allocation
/// bits and zeroes them). So every concurrent sweep enters the gate, and
/// sweep termination, after bumping the started-cycle count, waits for the
/// gate to empty. Dekker pair (both sides SeqCst): a sweeper increments
/// `sweepers` then reads `started`; the starter increments `started` then
/// reads `sweepers`. Either the sweeper sees the new cycle and sweeps
/// nothing, or the starter sees the sweeper and waits for it. Checked by
/// `loom_sweep::loom_sweep_gate_vs_cycle_start`.
#[derive(Debug, Default)]
pub(crate) struct SweepGate {
    /// Threads between a successful `enter` and their `leave`.
    sweepers: AtomicU32,
}

impl SweepGate {
    /// Enter to sweep on behalf of cycle `cycle`; false (and not entered)
    /// if a newer cycle has started (`started` is the started-cycle count).
    pub(crate) fn enter(&self, started: &AtomicU32, cycle: u32) -> bool {
        self.sweepers.fetch_add(1, SeqCst);
        if started.load(SeqCst) != cycle {
            self.sweepers.fetch_sub(1, SeqCst);
            return false;
        }
        true
    }

    /// Leave after an `enter` that returned true.
    pub(crate) fn leave(&self) {
        self.sweepers.fetch_sub(1, SeqCst);
    }

    /// Wait until no sweeper is inside (call after bumping `started`).
    pub(crate) fn wait_empty(&self) {
        while self.sweepers.load(SeqCst) != 0 {
            crate::loom::thread::yield_now();
        }
    }
}
