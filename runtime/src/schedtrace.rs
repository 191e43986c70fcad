//! `GODEBUG=schedtrace=N`: Go's `SCHED` summary line every N milliseconds.
//!
//! See [crate] for the overview. Go 1.19's `schedtrace` (in `proc.go`)
//! prints, to stderr,
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=2 idleprocs=2 threads=5 spinningthreads=0 idlethreads=2 runqueue=0 [0 0]
//! ```
//!
//! the milliseconds since the runtime started, then GOMAXPROCS, idle Ps, OS
//! threads (Ms), spinning Ms, idle Ms, the global run-queue length and, in
//! brackets, each P's local run-queue length. Go prints it from `sysmon`;
//! gort prints it from a thread of its own that reads
//! [`gort_scheduler::sched_stats`] (the same approximate snapshot Go's
//! reads are: counters may move while it is taken).
//!
//! The printer starts the first time a period is set and keeps running; a
//! period of zero pauses it.

use gort_scheduler::SchedStats;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

/// When the runtime started (Go's `runtimeInitTime`).
static START: OnceLock<Instant> = OnceLock::new();

/// The period in milliseconds; 0 = off. Relaxed: a lone setting read by the
/// printer, no other data hangs on it.
static PERIOD_MS: AtomicU64 = AtomicU64::new(0);

/// Starts the printer thread once.
static PRINTER: Once = Once::new();

/// Record the runtime's start time (the `SCHED <n>ms` origin).
pub(crate) fn init_clock() {
    START.get_or_init(Instant::now);
}

/// Set the period (`None` = off); starts the printer on first use.
pub(crate) fn set_period(period: Option<Duration>) {
    let ms = period.map_or(0, |d| d.as_millis().clamp(1, u128::from(u64::MAX)) as u64);
    PERIOD_MS.store(ms, Relaxed);
    if ms > 0 {
        PRINTER.call_once(|| {
            std::thread::Builder::new()
                .name("gort-schedtrace".into())
                .spawn(printer)
                .unwrap_or_else(|e| {
                    gort_scheduler::rt_throw!("gort: cannot start the schedtrace thread: {e}")
                });
        });
    }
}

fn printer() {
    loop {
        let ms = PERIOD_MS.load(Relaxed);
        if ms > 0 {
            let since = START.get_or_init(Instant::now).elapsed();
            let line = format_line(since, &gort_scheduler::sched_stats());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        std::thread::sleep(Duration::from_millis(ms.max(10)));
    }
}

/// One `SCHED` line, newline included, exactly as Go 1.19 prints it.
pub(crate) fn format_line(since_start: Duration, s: &SchedStats) -> String {
    let mut out = format!(
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={}",
        since_start.as_millis(),
        s.gomaxprocs,
        s.idleprocs,
        s.threads,
        s.spinningthreads,
        s.idlethreads,
        s.runqueue
    );
    // Go prints " " before each P's length, "[" before the first and "]\n"
    // after the last.
    let n = s.local_runqueues.len();
    for (i, len) in s.local_runqueues.iter().enumerate() {
        out.push(' ');
        if i == 0 {
            out.push('[');
        }
        let _ = write!(out, "{len}");
        if i == n - 1 {
            out.push_str("]\n");
        }
    }
    if n == 0 {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_gos() {
        let s = SchedStats {
            gomaxprocs: 2,
            idleprocs: 1,
            threads: 4,
            spinningthreads: 0,
            idlethreads: 1,
            runqueue: 3,
            local_runqueues: vec![0, 5],
        };
        assert_eq!(
            format_line(Duration::from_millis(1004), &s),
            "SCHED 1004ms: gomaxprocs=2 idleprocs=1 threads=4 spinningthreads=0 idlethreads=1 runqueue=3 [0 5]\n"
        );
        let one = SchedStats {
            gomaxprocs: 1,
            local_runqueues: vec![7],
            ..s
        };
        assert!(format_line(Duration::ZERO, &one).ends_with("runqueue=3 [7]\n"));
    }
}
