//! # gort-profiler: what Go programmers use to watch a running program
//!
//! This crate records and encodes what gort's instrumentation produces:
//! `runtime.MemStats`, pprof profiles (gzip'd `profile.proto`, readable by
//! `go tool pprof`), Go's legacy text profiles, the execution trace (Go's v1
//! format for `go tool trace`, and Chrome Trace Event JSON for Perfetto),
//! the `GODEBUG=gctrace=1` line, and the `/debug/pprof/` HTTP routes.
//!
//! ## Place in the workspace
//!
//! ```text
//! samples, tests ──► runtime (gort) ──┬──► gc ─────────┐
//!                                     ├──► scheduler ──┼──► profiler
//!                                     └──► profiler ◄──┘
//! ```
//!
//! The profiler is the leaf: it knows nothing of goroutines or spans. The
//! collector and the scheduler call into it to record samples and events;
//! the `gort` facade exposes its encoders as `gort::pprof` and `gort::trace`.
//!
//! ## Glossary
//!
//! * **sample** — one observation with a stack and values (a CPU tick, a
//!   sampled allocation, a blocking event).
//! * **location** — one frame of a stack: a PC with function, file, line.
//! * **event** — one timestamped record of the execution trace.

pub mod gctrace;
pub mod memstats;

pub use gctrace::GcTraceLine;
pub use memstats::{BySize, MemStats};
pub mod pprof;
pub mod stack;
pub mod text;

pub use stack::{Frame, Stack};
pub mod synthetic;
pub mod trace;
