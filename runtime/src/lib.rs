//! # gort: a Go-style managed runtime
//!
//! `gort` is the crate users depend on. It joins the collector
//! (`gort-gc`), the scheduler (`gort-scheduler`) and the instrumentation
//! (`gort-profiler`) into one runtime with Go's public surface: `run`, `go`,
//! channels, `Gc<T>`, `runtime::read_mem_stats`, `pprof`, `trace`, and Go's
//! environment knobs (`GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG`).
//!
//! The facade is built by the facade issue, once the scheduler, heap and
//! collector exist; `runtime/src/host.rs` will be the one place where the
//! collector and the scheduler meet.

pub use gort_gc as gc_crate;
pub use gort_profiler as profiler_crate;
pub use gort_scheduler as scheduler_crate;

pub mod env;
