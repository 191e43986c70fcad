//! `measure`: run one command and report its wall time and peak RSS.
//!
//! ```text
//! measure RESULT_FILE COMMAND [ARGS...]
//! ```
//!
//! Runs `COMMAND` with inherited stdin/stdout/stderr, waits for it with
//! `wait4` (which returns the child's own resource usage), and appends one
//! line to `RESULT_FILE`:
//!
//! ```text
//! <wall seconds> <user seconds> <sys seconds> <peak RSS KiB> <exit status>
//! ```
//!
//! `samples/compare.sh` uses it for both the gort sample and its Go twin, so
//! both sides are measured by the same code (nanosecond wall clock, unlike
//! `/usr/bin/time`'s two decimals). It is not a gort program: it never
//! starts the runtime. The code is `gort_samples::tour::twins::measure_main`,
//! which the `tour` also runs (as `tour --measure`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    gort_samples::tour::twins::measure_main(&args)
}
