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

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// The gate between concurrent sweepers and the start of the next mark.
///
/// A sweep that overlaps the next cycle's marking would clear that cycle's
/// fresh mark bits (sweeping turns a span's mark bits into its allocation
/// bits and zeroes them). So every concurrent sweep enters the gate for the
/// cycle whose garbage it sweeps, and sweep termination of the next cycle
/// [`advance`](SweepGate::advance)s the gate and waits for it to empty.
///
/// One atomic word holds both halves — the cycle the gate is open for (high
/// 32 bits) and the number of sweepers inside (low 32 bits) — so entering
/// (a compare-and-swap that checks the cycle) and advancing are ordered by
/// that word's modification order: either a sweeper entered before the
/// advance, and the advancer waits for it, or its CAS sees the new cycle
/// and it sweeps nothing. (A first version used two atomics and a SeqCst
/// Dekker pair; the loom model `loom_sweep_gate_vs_cycle_start` rejects it,
/// loom modelling SeqCst as acquire/release, so one word it is.)
#[derive(Debug, Default)]
pub(crate) struct SweepGate {
    /// `cycle << 32 | sweepers inside`.
    state: AtomicU64,
}

impl SweepGate {
    /// Enter to sweep on behalf of cycle `cycle`; false (and not entered)
    /// once the gate has advanced past it.
    pub(crate) fn enter(&self, cycle: u32) -> bool {
        // Inside the gate counts as holding a collector lock: a thread
        // inside must not be suspended for a stop of the world, whose sweep
        // termination waits for the gate. Counted before the CAS that
        // enters, so no instruction of a thread inside goes uncounted.
        crate::host::gate_entered(1);
        let mut v = self.state.load(Ordering::Relaxed);
        loop {
            if (v >> 32) as u32 != cycle {
                crate::host::gate_entered(-1);
                return false;
            }
            // Acquire: pairs with the Release of `advance`'s CAS (not needed
            // for safety; keeps the sweeper's view of the heap current).
            match self
                .state
                .compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Leave after an `enter` that returned true.
    pub(crate) fn leave(&self) {
        // Release: pairs with the Acquire load in `advance`; the sweep's
        // writes to the span happen before the next mark starts.
        self.state.fetch_sub(1, Ordering::Release);
        // After the decrement: the thread stays counted while inside.
        crate::host::gate_entered(-1);
    }

    /// Waits a bounded while (about a thousand yields at most) for the
    /// sweepers inside to leave. For a large allocation that found no span
    /// left to claim: a sweeper may be freeing, right now, the pages it
    /// could reuse, and without the wait it takes fresh pages instead (the
    /// program's RSS grows by one large object: bigbytes-touch read 199 or
    /// 296 MiB from run to run). A sweep of one span takes microseconds;
    /// the bound keeps a stream of sweepers from holding the caller.
    pub(crate) fn wait_for_sweepers(&self) {
        for _ in 0..1000 {
            // Acquire: pairs with the Release in `leave`: the spans the
            // sweepers freed are back in the page heap.
            if self.state.load(Ordering::Acquire) & 0xffff_ffff == 0 {
                return;
            }
            crate::loom::thread::yield_now();
        }
    }

    /// Open the gate for `cycle` only (refusing sweepers of older cycles)
    /// and wait until every sweeper already inside has left.
    pub(crate) fn advance(&self, cycle: u32) {
        let mut v = self.state.load(Ordering::Relaxed);
        loop {
            let next = (u64::from(cycle) << 32) | (v & 0xffff_ffff);
            // AcqRel: the Release half orders the advance before later
            // sweepers' failing CASes; the Acquire half pairs with `leave`.
            match self
                .state
                .compare_exchange_weak(v, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        // Acquire: pairs with the Release in `leave`.
        while self.state.load(Ordering::Acquire) & 0xffff_ffff != 0 {
            crate::loom::thread::yield_now();
        }
    }
}
