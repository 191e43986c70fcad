//! Go's `checkdead` condition, as a function of what the scheduler sees
//! under its lock.
//!
//! See [crate] ("Deadlock detection"). Split out of `sched.rs` so that
//! `loom_deadcheck` drives the real condition against a thread outside the
//! scheduler that readies a goroutine.

/// What the deadlock check reads, all under the scheduler lock except the
/// atomics (`run_active`, `external`, the timer count) and the thread count
/// of the process (read last, only if everything else says "dead": it costs
/// a read of `/proc/self/stat`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts {
    /// `run` calls in progress.
    pub(crate) run_active: u32,
    /// [`crate::ExternalActivity`] guards alive, plus readies in progress
    /// from threads without a P.
    pub(crate) external: u32,
    /// A stop of the world is requested.
    pub(crate) world_requested: bool,
    /// Every M is idle.
    pub(crate) all_ms_idle: bool,
    /// Some run queue (global or local) holds a goroutine.
    pub(crate) runnable: bool,
    /// Timers not yet delivered.
    pub(crate) pending_timers: usize,
    /// Goroutines alive.
    pub(crate) goroutines: i64,
    /// Every P is idle or stopped (none held by a stopper or a P-less M).
    pub(crate) all_ps_idle: bool,
}

/// Whether every goroutine is asleep for good: nothing runs, nothing is
/// runnable, no timer will fire, and nobody outside the scheduler can wake
/// a goroutine — `foreign_threads()` counts the threads that are neither
/// Ms, runtime threads nor callers of `run`.
pub(crate) fn deadlocked(f: &Facts, foreign_threads: impl FnOnce() -> i64) -> bool {
    f.run_active > 0
        && f.external == 0
        && !f.world_requested
        && f.all_ms_idle
        && !f.runnable
        && f.pending_timers == 0
        && f.goroutines > 0
        && f.all_ps_idle
        && foreign_threads() <= 0
}
