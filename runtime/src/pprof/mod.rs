//! Go's package `runtime/pprof`: profiles of a running gort program in the
//! gzip'd `profile.proto` format `go tool pprof` reads.
//!
//! See [crate] for the overview. The CPU profile ([`start_cpu_profile`],
//! [`stop_cpu_profile`]) samples every thread that runs goroutines 100
//! times per CPU-second (see [`gort_profiler::cpu`] for the mechanism).

mod cpu;
pub use cpu::{start_cpu_profile, stop_cpu_profile};
