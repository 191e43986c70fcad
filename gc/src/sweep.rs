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
