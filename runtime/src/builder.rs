//! [`Builder`]: the knobs of [`crate::env`], set in code.
//!
//! See [crate] for the overview.
//!
//! A setting made on the builder wins over the environment; a setting left
//! alone takes the environment's value if the variable is set, and Go's
//! default otherwise. [`Builder::ignore_env`] makes the environment
//! irrelevant (tests that must not be disturbed by a user's `GOGC`).
//! [`crate::run`] is `Builder::new().run(f)`.

use crate::env::{EnvKnobs, MAX_GOMAXPROCS};
use std::time::Duration;

/// Configuration of one gort program: GOMAXPROCS, the collector's pacing
/// and debug switches. Build it, then call [`Builder::run`].
///
/// ```no_run
/// let sum = gort::Builder::new()
///     .gomaxprocs(2)
///     .gc_percent(50)
///     .gctrace(true)
///     .run(|| (1..=10u64).sum::<u64>());
/// assert_eq!(sum, 55);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until `run` is called"]
pub struct Builder {
    gomaxprocs: Option<usize>,
    gc_percent: Option<i32>,
    memory_limit: Option<i64>,
    gctrace: Option<bool>,
    schedtrace: Option<Duration>,
    clobberfree: Option<bool>,
    max_stack: Option<usize>,
    ignore_env: bool,
}

/// The settings a program runs with, after merging the builder, the
/// environment and Go's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Number of Ps, `1..=MAX_GOMAXPROCS`.
    pub(crate) gomaxprocs: usize,
    /// GOGC; negative means off.
    pub(crate) gc_percent: i32,
    /// GOMEMLIMIT in bytes; `i64::MAX` means no limit.
    pub(crate) memory_limit: i64,
    /// `GODEBUG=gctrace=1`.
    pub(crate) gctrace: bool,
    /// `GODEBUG=schedtrace=N`, as a period; `None` when off.
    pub(crate) schedtrace: Option<Duration>,
    /// `GODEBUG=clobberfree=1`.
    pub(crate) clobberfree: bool,
    /// The max stack of every goroutine, in bytes (`GORT_MAXSTACK`).
    pub(crate) max_stack: usize,
}

impl Builder {
    /// A builder with nothing set: every knob comes from the environment or
    /// Go's default (GOMAXPROCS = number of CPUs, GOGC = 100, no memory
    /// limit, no traces).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of Ps (Go's `GOMAXPROCS`): how many goroutines run at the same
    /// time. Clamped to `1..=256`.
    pub fn gomaxprocs(mut self, n: usize) -> Builder {
        self.gomaxprocs = Some(n.clamp(1, MAX_GOMAXPROCS));
        self
    }

    /// Go's `GOGC`: collect when the heap has grown by this percent over the
    /// live heap of the last cycle. Negative turns the collector's pacing
    /// off (`GOGC=off`).
    pub fn gc_percent(mut self, percent: i32) -> Builder {
        self.gc_percent = Some(if percent < 0 { -1 } else { percent });
        self
    }

    /// Go's `GOMEMLIMIT`: a soft limit on the runtime's memory, in bytes
    /// (`i64::MAX` for none). Negative values are ignored, as in Go's
    /// `debug.SetMemoryLimit`.
    pub fn memory_limit(mut self, bytes: i64) -> Builder {
        if bytes >= 0 {
            self.memory_limit = Some(bytes);
        }
        self
    }

    /// `GODEBUG=gctrace=1`: print Go's one-line summary of every GC cycle
    /// to stderr.
    pub fn gctrace(mut self, on: bool) -> Builder {
        self.gctrace = Some(on);
        self
    }

    /// `GODEBUG=schedtrace=N`: print Go's `SCHED` line to stderr every
    /// `period` (`Duration::ZERO` turns it off).
    pub fn schedtrace(mut self, period: Duration) -> Builder {
        self.schedtrace = Some(period);
        self
    }

    /// `GODEBUG=clobberfree=1`: fill every freed object with a poison
    /// pattern, so a use of a freed object fails loudly (a debugging aid;
    /// it costs a write per freed byte).
    pub fn clobberfree(mut self, on: bool) -> Builder {
        self.clobberfree = Some(on);
        self
    }

    /// The most a goroutine's stack may use, in bytes (Go's
    /// `debug.SetMaxStack`; environment: `GORT_MAXSTACK`). Default 8 MiB;
    /// clamped to 16 KiB ..= 64 GiB. Each goroutine reserves this much
    /// address space for its stack (frames cannot move, so stacks do not
    /// grow by copying as Go's do); only the pages it touches cost memory,
    /// and the collector scans only the part in use. A goroutine that needs
    /// more ends the program with `fatal error: stack overflow`.
    ///
    /// Fixed by the first start of the runtime in a process; later runs
    /// keep it.
    pub fn max_stack(mut self, bytes: usize) -> Builder {
        self.max_stack = Some(bytes.clamp(
            gort_scheduler::MIN_STACK_SIZE,
            gort_scheduler::MAX_STACK_SIZE,
        ));
        self
    }

    /// Do not read `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG` or
    /// `GORT_MAXSTACK`: what is not set on the builder takes the default.
    pub fn ignore_env(mut self) -> Builder {
        self.ignore_env = true;
        self
    }

    /// Merge with the environment (unless ignored) and Go's defaults. A
    /// malformed environment value is an error naming it.
    pub(crate) fn settings(&self) -> Result<Settings, crate::env::KnobError> {
        let env = if self.ignore_env {
            EnvKnobs::default()
        } else {
            EnvKnobs::from_env()?
        };
        Ok(self.merge(&env))
    }

    fn merge(&self, env: &EnvKnobs) -> Settings {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let schedtrace_env = match env.godebug.schedtrace_ms {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        };
        Settings {
            gomaxprocs: self
                .gomaxprocs
                .or(env.gomaxprocs)
                .unwrap_or(cpus)
                .clamp(1, MAX_GOMAXPROCS),
            gc_percent: self.gc_percent.or(env.gogc).unwrap_or(100),
            memory_limit: self.memory_limit.or(env.gomemlimit).unwrap_or(i64::MAX),
            gctrace: self.gctrace.unwrap_or(env.godebug.gctrace > 0),
            schedtrace: match self.schedtrace {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
                None => schedtrace_env,
            },
            clobberfree: self.clobberfree.unwrap_or(env.godebug.clobberfree),
            max_stack: self
                .max_stack
                .or(env.maxstack)
                .unwrap_or(gort_scheduler::DEFAULT_STACK_SIZE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Godebug;

    #[test]
    fn defaults_are_gos() {
        let s = Builder::new().merge(&EnvKnobs::default());
        assert_eq!(s.gc_percent, 100);
        assert_eq!(s.memory_limit, i64::MAX);
        assert!(s.gomaxprocs >= 1);
        assert!(!s.gctrace && !s.clobberfree && s.schedtrace.is_none());
        assert_eq!(s.max_stack, 8 << 20);
    }

    #[test]
    fn env_fills_what_the_builder_left_alone() {
        let env = EnvKnobs {
            gogc: Some(50),
            gomemlimit: Some(1 << 30),
            gomaxprocs: Some(3),
            godebug: Godebug {
                gctrace: 1,
                schedtrace_ms: 250,
                clobberfree: true,
            },
            maxstack: Some(1 << 30),
        };
        let s = Builder::new().merge(&env);
        assert_eq!(
            s,
            Settings {
                gomaxprocs: 3,
                gc_percent: 50,
                memory_limit: 1 << 30,
                gctrace: true,
                schedtrace: Some(Duration::from_millis(250)),
                clobberfree: true,
                max_stack: 1 << 30,
            }
        );
        let s = Builder::new()
            .gomaxprocs(1)
            .gc_percent(-7)
            .memory_limit(4096)
            .gctrace(false)
            .schedtrace(Duration::ZERO)
            .clobberfree(false)
            .max_stack(4 << 20)
            .merge(&env);
        assert_eq!(
            s,
            Settings {
                gomaxprocs: 1,
                gc_percent: -1,
                memory_limit: 4096,
                gctrace: false,
                schedtrace: None,
                clobberfree: false,
                max_stack: 4 << 20,
            }
        );
    }

    #[test]
    fn out_of_range_values_are_clamped_or_ignored() {
        let s = Builder::new()
            .gomaxprocs(0)
            .memory_limit(-1)
            .merge(&EnvKnobs::default());
        assert_eq!(s.gomaxprocs, 1);
        assert_eq!(s.memory_limit, i64::MAX);
        let s = Builder::new()
            .gomaxprocs(10_000)
            .merge(&EnvKnobs::default());
        assert_eq!(s.gomaxprocs, MAX_GOMAXPROCS);
    }
}
