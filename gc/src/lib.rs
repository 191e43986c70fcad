//! # gort-gc: the heap, the allocator and the collector
//!
//! This crate owns every managed object in a gort program: where it lives
//! (the heap and its allocator), how it is found from any address, and when
//! it is freed (a concurrent, parallel, non-moving tri-color mark-and-sweep
//! collector in the style of Go's).
//!
//! ## Place in the workspace
//!
//! ```text
//! samples, tests ──► runtime (gort) ──┬──► gc ─────────┐
//!                                     ├──► scheduler ──┼──► profiler
//!                                     └──► profiler ◄──┘
//! ```
//!
//! `gc` never depends on the scheduler. Everything the collector needs from
//! the world that runs mutators (stopping it, its roots, its per-P state) it
//! asks through a small `Host` trait, which `gort` implements in
//! `runtime/src/host.rs` and a `MockHost` implements for tests. It calls
//! into `gort-profiler` (a leaf) to record allocation samples and events.
//!
//! ## Glossary
//!
//! One word per concept, as in Go's `malloc.go` and `mgc.go`:
//!
//! * **page** — 8 KiB, the unit the heap hands out.
//! * **span** — a run of contiguous pages holding objects of one size class
//!   (or one large object). Never "block" or "page run".
//! * **size class** — one of Go's object sizes up to 32 KiB.
//! * **cache** — the per-P set of spans a P allocates from without a lock.
//! * **central** — the per-size-class list of spans shared by all Ps.
//! * **white / grey / black** — an object not yet reached / reached but not
//!   scanned / reached and scanned. To **shade** is to turn white into grey.
//! * **P** — a processor of the scheduler; here only an index that selects a
//!   cache and a write-barrier buffer.
//!
//! ## Conventions
//!
//! Every synchronization primitive comes from [`crate::loom`] (a facade over
//! std/parking_lot or loom). Broken invariants end in [`rt_throw!`], which
//! prints `fatal error: ...` and exits 2. See `HACKING.md` at the workspace
//! root.

pub mod fatal;
pub(crate) mod loom;

// --- allocator and typed API (heap issue) ---
pub mod cell;
pub mod heap;
pub mod ptr;
pub mod root;
pub mod trace;
pub use cell::GcCell;
pub use gort_gc_derive::Trace;
pub use heap::{Heap, HeapConfig, HeapStats, ObjectKind, ObjectRef};
pub use ptr::{make_slice, Gc, GcSlice, Zeroable};
pub use root::Root;
pub use trace::{Trace, TraceSink, Tracer, TypeInfo};

// --- collector (collector issue) ---
pub mod barrier;
pub mod collector;
pub mod host;
pub mod mark;
pub mod pacer;
pub mod phase;
pub mod stats;
pub mod sweep;
pub mod tests;
