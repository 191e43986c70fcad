//! The scheduler's measurements for `runtime/metrics`: the scheduling
//! latency histogram, the stop-the-world pause histograms and goroutine
//! counts by state.
//!
//! See [crate] for the overview. `gort::metrics` reads these and names them
//! as Go does (`/sched/latencies:seconds`, `/sched/pauses/...`).
//!
//! ## Time histograms
//!
//! [`TimeHistogram`] is Go's `timeHistogram` bucket scheme (an HDR
//! histogram): a duration in nanoseconds falls in the bucket of its most
//! significant set bit, and inside it in one of four linear sub-buckets
//! chosen by the next two bits. Bits below 9 are not told apart (one
//! bucket for 0–511 ns, split in four sub-buckets of 128 ns); bits from 48
//! up fall in an overflow bucket (2^47 ns, about 39 hours, or more), and a
//! negative duration in an underflow bucket. That makes 39 × 4 counting
//! buckets plus the two extremes, 160 in all, each an atomic counter:
//! recording is one add, from any thread, without a lock.
//!
//! ## Scheduling latency: sampled, as in Go
//!
//! The time a goroutine spends runnable before it runs is measured on one
//! in [`G_TRACKING_PERIOD`] (8) runnable periods of each goroutine, as Go
//! samples it (`gTrackingPeriod`): the G counts its transitions into
//! `Runnable` (a new goroutine starts its count from its goid, Go starts
//! from a random number), and on every eighth one stamps the clock
//! ([`stamp_runnable`]: `newproc`, `ready`, and every requeue in
//! `execute`). When an M switches into a stamped G it reads the clock
//! again and records the difference ([`record_run`]). So the common
//! scheduling path reads no clock at all: one owner-only counter update
//! when a G becomes runnable and one load when it starts running.
//!
//! A P-less goroutine that waits on the global queue for a P (a locked G,
//! see `preempt.rs`) becomes runnable and running without passing through
//! these points; its wait is not sampled.
//!
//! ## Stop-the-world pauses
//!
//! Every stop of the world is timed by `stw.rs` (Go's `worldStop`), from
//! the moment the stopper holds the world semaphore (Go's
//! `startedStopping`; a stopper queued behind another stop does not count
//! its wait) to the moment every P is stopped (**stopping**) and to the
//! moment the world is started again (**total**): one sample each in the GC
//! histograms (sweep and mark termination) or the other ones (`gomaxprocs`,
//! `read_mem_stats`, the goroutine profile, the tracer).

use crate::g::{GStatus, G};
use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::stw::StwReason;

/// One in this many runnable periods of a goroutine is timed (Go's
/// `gTrackingPeriod`).
pub const G_TRACKING_PERIOD: u8 = 8;

/// Bits below this are not told apart (Go's `timeHistMinBucketBits`).
const MIN_BUCKET_BITS: u32 = 9;
/// Bits from this one up go to the overflow bucket (Go's
/// `timeHistMaxBucketBits`, exclusive).
const MAX_BUCKET_BITS: u32 = 48;
/// Sub-bucket bits (Go's `timeHistSubBucketBits`).
const SUB_BUCKET_BITS: u32 = 2;
const NUM_SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
const NUM_BUCKETS: usize = (MAX_BUCKET_BITS - MIN_BUCKET_BITS + 1) as usize;
const NUM_COUNTS: usize = NUM_BUCKETS * NUM_SUB_BUCKETS;

/// Number of buckets of a [`TimeHistogram`] as `runtime/metrics` reports it:
/// the counting buckets plus underflow and overflow.
pub const TIME_HIST_TOTAL_BUCKETS: usize = NUM_COUNTS + 2;

/// A distribution of durations in nanoseconds, in Go's `timeHistogram`
/// buckets (see the module docs). Safe to record into and read from any
/// thread at once; a read is not a snapshot of one instant (each counter is
/// read once).
#[derive(Debug)]
pub struct TimeHistogram {
    /// Atomic counters; Relaxed everywhere: each is an independent count.
    counts: [AtomicU64; NUM_COUNTS],
    /// Negative durations.
    underflow: AtomicU64,
    /// Durations of 2^47 ns or more.
    overflow: AtomicU64,
    /// Sum of every recorded duration, ns (negative ones count as 0), so
    /// a reader can report an exact sum next to the counts.
    sum_ns: AtomicU64,
}

impl Default for TimeHistogram {
    fn default() -> Self {
        TimeHistogram::new()
    }
}

impl TimeHistogram {
    /// An empty histogram.
    pub const fn new() -> TimeHistogram {
        TimeHistogram {
            counts: [const { AtomicU64::new(0) }; NUM_COUNTS],
            underflow: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Adds one duration of `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: i64) {
        if ns < 0 {
            self.underflow.fetch_add(1, Relaxed);
            return;
        }
        self.sum_ns.fetch_add(ns as u64, Relaxed);
        match bucket_index(ns as u64) {
            Some(i) => self.counts[i].fetch_add(1, Relaxed),
            None => self.overflow.fetch_add(1, Relaxed),
        };
    }

    /// The counts in `runtime/metrics` order: underflow, the 156 counting
    /// buckets, overflow ([`TIME_HIST_TOTAL_BUCKETS`] entries, matching the
    /// boundaries of [`time_histogram_boundaries`]).
    pub fn counts_into(&self, out: &mut Vec<u64>) {
        out.clear();
        out.push(self.underflow.load(Relaxed));
        out.extend(self.counts.iter().map(|c| c.load(Relaxed)));
        out.push(self.overflow.load(Relaxed));
    }

    /// Sum of the recorded durations, ns.
    pub fn sum_ns(&self) -> u64 {
        self.sum_ns.load(Relaxed)
    }

    /// Number of recorded durations.
    pub fn count(&self) -> u64 {
        self.underflow.load(Relaxed)
            + self.overflow.load(Relaxed)
            + self.counts.iter().map(|c| c.load(Relaxed)).sum::<u64>()
    }
}

/// The counting bucket of a duration, or `None` for the overflow bucket.
#[inline]
fn bucket_index(ns: u64) -> Option<usize> {
    let len = u64::BITS - ns.leading_zeros();
    let (bit, bucket) = if len < MIN_BUCKET_BITS {
        (MIN_BUCKET_BITS, 0)
    } else {
        (len, (len - MIN_BUCKET_BITS + 1) as usize)
    };
    if bucket >= NUM_BUCKETS {
        return None;
    }
    let sub = ((ns >> (bit - 1 - SUB_BUCKET_BITS)) as usize) % NUM_SUB_BUCKETS;
    Some(bucket * NUM_SUB_BUCKETS + sub)
}

/// The bucket boundaries of every [`TimeHistogram`], in seconds, as
/// `runtime/metrics` reports them: `-Inf`, then the lower bound of each
/// counting bucket, then 2^47 ns (the overflow bucket's lower bound) and
/// `+Inf`; [`TIME_HIST_TOTAL_BUCKETS`] + 1 entries. Every finite boundary
/// is a whole number of nanoseconds, exact in an `f64`.
pub fn time_histogram_boundaries() -> Vec<f64> {
    let mut b = Vec::with_capacity(TIME_HIST_TOTAL_BUCKETS + 1);
    b.push(f64::NEG_INFINITY);
    for j in 0..NUM_SUB_BUCKETS as u64 {
        b.push((j << (MIN_BUCKET_BITS - 1 - SUB_BUCKET_BITS)) as f64 / 1e9);
    }
    for bit in MIN_BUCKET_BITS..MAX_BUCKET_BITS {
        for j in 0..NUM_SUB_BUCKETS as u64 {
            let ns = (1u64 << (bit - 1)) | (j << (bit - 1 - SUB_BUCKET_BITS));
            b.push(ns as f64 / 1e9);
        }
    }
    b.push((1u64 << (MAX_BUCKET_BITS - 1)) as f64 / 1e9);
    b.push(f64::INFINITY);
    b
}

/// Time from runnable to running (`/sched/latencies:seconds`).
static SCHED_LATENCIES: TimeHistogram = TimeHistogram::new();
/// GC stops of the world, request to restart.
static STW_TOTAL_GC: TimeHistogram = TimeHistogram::new();
/// GC stops of the world, request to every P stopped.
static STW_STOPPING_GC: TimeHistogram = TimeHistogram::new();
/// Other stops of the world, request to restart.
static STW_TOTAL_OTHER: TimeHistogram = TimeHistogram::new();
/// Other stops of the world, request to every P stopped.
static STW_STOPPING_OTHER: TimeHistogram = TimeHistogram::new();

/// The scheduling latency histogram (sampled; see the module docs).
pub fn sched_latencies() -> &'static TimeHistogram {
    &SCHED_LATENCIES
}

/// The stop-the-world histograms: `(total, stopping)` for GC pauses
/// (`gc == true`) or for the others.
pub fn stw_pauses(gc: bool) -> (&'static TimeHistogram, &'static TimeHistogram) {
    if gc {
        (&STW_TOTAL_GC, &STW_STOPPING_GC)
    } else {
        (&STW_TOTAL_OTHER, &STW_STOPPING_OTHER)
    }
}

/// Records one stop of the world (called by `start_the_world`).
pub(crate) fn record_stw(reason: StwReason, stopping_ns: u64, total_ns: u64) {
    let gc = matches!(
        reason,
        StwReason::GcSweepTermination | StwReason::GcMarkTermination
    );
    let (total, stopping) = stw_pauses(gc);
    stopping.record(stopping_ns as i64);
    total.record(total_ns as i64);
}

/// The monotonic clock in nanoseconds (never 0 once the system is up).
#[inline]
fn nanotime() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `g` becomes runnable: on every [`G_TRACKING_PERIOD`]th time, stamp the
/// clock so that [`record_run`] measures this runnable period. Called by
/// whoever owns the G at that moment (its `track_seq` and `runnable_since`
/// are owner-only, handed over with the G).
#[inline]
pub(crate) fn stamp_runnable(g: &G) {
    let seq = g.track_seq.load(Relaxed).wrapping_add(1);
    g.track_seq.store(seq, Relaxed);
    if seq.is_multiple_of(G_TRACKING_PERIOD) {
        g.runnable_since.store(nanotime(), Relaxed);
    }
}

/// An M is about to run `g`: if this runnable period was stamped, record
/// its length.
#[inline]
pub(crate) fn record_run(g: &G) {
    let since = g.runnable_since.load(Relaxed);
    if since != 0 {
        g.runnable_since.store(0, Relaxed);
        SCHED_LATENCIES.record(nanotime() as i64 - since as i64);
    }
}

/// Goroutines by state, approximately (read without stopping the world,
/// each G's state once): Go's `/sched/goroutines/*` metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoroutineStates {
    /// Running on an M with a P.
    pub running: u64,
    /// On a run queue.
    pub runnable: u64,
    /// Parked (channel, timer, `WaitGroup`, `Mutex`, park).
    pub waiting: u64,
    /// Running without a P: in a system call or a long run whose P was
    /// retaken (Go's "not in Go").
    pub not_in_go: u64,
}

/// Counts the goroutines in each state (see [`GoroutineStates`]).
pub fn goroutine_states() -> GoroutineStates {
    let s = crate::sched::sched();
    let all = s.allg.lock();
    let mut st = GoroutineStates::default();
    for &g in &all.list {
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*g };
        if gr.foreign {
            continue;
        }
        match gr.status() {
            GStatus::Running => st.running += 1,
            GStatus::Runnable => st.runnable += 1,
            GStatus::Waiting => st.waiting += 1,
            GStatus::Syscall => st.not_in_go += 1,
            GStatus::Idle | GStatus::Dead => {}
        }
    }
    st
}

/// The stack size of new goroutines, bytes (reserved address space).
pub fn starting_stack_size() -> usize {
    crate::stack::stack_size()
}

/// The number of Ms (threads that run goroutines) created so far; Ms do not
/// exit.
pub fn thread_count() -> u64 {
    u64::from(crate::sched::sched_stats().threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_gos_scheme() {
        let b = time_histogram_boundaries();
        assert_eq!(b.len(), TIME_HIST_TOTAL_BUCKETS + 1);
        assert_eq!(b.len(), 163, "Go 1.27 reports 163 boundaries");
        assert_eq!(b[1], 0.0);
        assert_eq!(b[2], 64e-9);
        assert_eq!(b[3], 128e-9);
        assert_eq!(b[b.len() - 2], 140737.488355328);
        // Every duration lands in the bucket whose bounds hold it.
        let mut counts = Vec::new();
        for ns in [0i64, 63, 64, 511, 512, 1000, 999_999, 1 << 40, 1 << 47, -5] {
            let h = TimeHistogram::new();
            h.record(ns);
            h.counts_into(&mut counts);
            let i = counts.iter().position(|&c| c == 1).unwrap();
            let secs = ns as f64 / 1e9;
            assert!(
                b[i] <= secs && secs < b[i + 1],
                "{ns} ns in [{}, {})",
                b[i],
                b[i + 1]
            );
            assert_eq!(h.count(), 1);
        }
    }
}
