//! The collector's statistics, as Go's `runtime.MemStats` reports them
//! (≈ `mstats.go`). See [crate] for the overview.
//!
//! The collector keeps the GC half of a [`MemStats`] (cycle counts, the
//! pause ring, CPU time) behind one lock, updated once per cycle at mark
//! termination. A snapshot copies it and fills the heap half from the
//! heap's counters (which sweeping updates), the off-heap `*_sys` fields
//! from the heap's metadata ([`crate::heap::HeapMetadata`]) plus the
//! collector's work queues and barrier buffers (`gc_sys`) and its own
//! structures (`other_sys`), and `next_gc` from the pacer: the goal the
//! next cycle runs against, which that cycle's gctrace line and
//! [`CycleRecord::heap_goal`] show.

use crate::host::GcMutex;
use gort_profiler::MemStats;

/// The GC half of the statistics, plus what the gctrace line and the CPU
/// fraction need.
#[derive(Debug, Default)]
pub(crate) struct GcStats {
    /// num_gc, num_forced_gc, pause ring, pause_total_ns, last_gc.
    pub(crate) mem: MemStats,
    /// Cumulative GC CPU time (pauses × GOMAXPROCS + assists + workers), ns.
    pub(crate) gc_cpu_ns: u64,
    /// Every stop-the-world pause ever, ns (for the pause distribution).
    pub(crate) pauses: Vec<u64>,
    /// Spans swept by background sweepers (cumulative).
    pub(crate) bg_swept_spans: u64,
    /// Bytes freed by background sweepers (cumulative).
    pub(crate) bg_swept_bytes: u64,
    /// Cycles whose mark termination had to restart marking.
    pub(crate) mark_restarts: u64,
    /// One record per completed cycle.
    pub(crate) cycles: Vec<CycleRecord>,
}

/// What one completed cycle did (the gctrace figures, unformatted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleRecord {
    /// Cycle number (1-based).
    pub num: u32,
    /// Forced by `gc()`.
    pub forced: bool,
    /// Sweep-termination pause, ns (from the stop request to the restart).
    pub sweep_term_ns: u64,
    /// Concurrent mark wall time, ns.
    pub mark_wall_ns: u64,
    /// Mark-termination pause (the last one, if marking restarted), ns.
    pub mark_term_ns: u64,
    /// Bytes marked live (traced + allocated black).
    pub heap_marked: u64,
    /// The heap goal this cycle ran against: the pacer's goal (MemStats
    /// `next_gc`) when it started, as gctrace's `# MB goal` shows it.
    pub heap_goal: u64,
    /// Bytes scanned.
    pub scan_work: u64,
    /// CPU time in assists, ns.
    pub assist_cpu_ns: u64,
    /// CPU time in background workers, ns.
    pub background_cpu_ns: u64,
    /// CPU time of idle marking (Ps with no goroutine to run), ns.
    pub idle_cpu_ns: u64,
    /// Times mark termination restarted marking.
    pub restarts: u32,
    /// Part of `sweep_term_ns` spent waiting for the host to stop the world.
    pub sweep_term_stop_ns: u64,
    /// Part of `mark_term_ns` spent waiting for the host to stop the world.
    pub mark_term_stop_ns: u64,
    /// Part of `sweep_term_ns` spent shading roots (stacks, runtime ranges, Root registry).
    pub roots_ns: u64,
    /// Part of `mark_term_ns` spent handing cached spans back and starting the sweep cycle.
    pub sweep_setup_ns: u64,
}

/// The collector's figures for `runtime/metrics` (`gort::metrics`); the
/// CPU times are sums over completed cycles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GcMetrics {
    /// GOGC (negative: off).
    pub gc_percent: i32,
    /// GOMEMLIMIT, bytes (`i64::MAX`: none).
    pub memory_limit: i64,
    /// Bytes marked live by the last completed cycle (0 before the first).
    pub heap_live: u64,
    /// CPU time of mark assists, ns.
    pub assist_cpu_ns: u64,
    /// CPU time of the background (dedicated and fractional) mark workers, ns.
    pub background_cpu_ns: u64,
    /// CPU time of idle marking, ns.
    pub idle_cpu_ns: u64,
    /// The pauses' share of the GC CPU time: each pause × GOMAXPROCS, ns.
    pub pause_cpu_ns: u64,
}

/// [`GcStats`] behind the collector's stats lock (rank `gc.stats`, a leaf:
/// nothing is acquired while holding it).
#[derive(Debug, Default)]
pub(crate) struct StatsCell(pub(crate) GcMutex<GcStats>);

/// What a pause-distribution benchmark wants: every STW pause so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PauseSummary {
    /// Number of pauses.
    pub count: usize,
    /// Longest pause, ns.
    pub max_ns: u64,
    /// 99th percentile pause, ns (nearest rank).
    pub p99_ns: u64,
    /// Median pause, ns.
    pub p50_ns: u64,
    /// Sum of pauses, ns.
    pub total_ns: u64,
}

impl PauseSummary {
    /// Summarize a list of pauses.
    pub fn of(pauses: &[u64]) -> PauseSummary {
        if pauses.is_empty() {
            return PauseSummary::default();
        }
        let mut v = pauses.to_vec();
        v.sort_unstable();
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        PauseSummary {
            count: v.len(),
            max_ns: *v.last().unwrap_or(&0),
            p99_ns: rank(0.99),
            p50_ns: rank(0.50),
            total_ns: v.iter().sum(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pause_summary_uses_nearest_rank() {
        let v: Vec<u64> = (1..=200).collect();
        let s = PauseSummary::of(&v);
        assert_eq!(s.count, 200);
        assert_eq!(s.max_ns, 200);
        assert_eq!(s.p99_ns, 198);
        assert_eq!(s.p50_ns, 100);
        assert_eq!(s.total_ns, 200 * 201 / 2);
        assert_eq!(PauseSummary::of(&[]), PauseSummary::default());
    }
}
