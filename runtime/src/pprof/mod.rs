//! Go's packages `runtime/pprof` and `net/http/pprof`: profiles of a
//! running gort program, in the gzip'd `profile.proto` format `go tool
//! pprof` reads, in Go's legacy text formats, and over HTTP.
//!
//! See [crate] for the overview.
//!
//! ```
//! use std::io::Write;
//!
//! let (heap, goroutines) = gort::run(|| {
//!     gort::runtime::set_mem_profile_rate(1); // record every allocation
//!     let s = gort::make_slice::<u64>(1000);
//!     s.set(0, 7);
//!     let mut heap = Vec::new();
//!     gort::pprof::write_heap_profile(&mut heap).unwrap(); // what `go tool pprof` reads
//!     let mut text = Vec::new();
//!     let g = gort::pprof::lookup("goroutine").unwrap();
//!     g.write_to(&mut text, 1).unwrap(); // "goroutine profile: total 1" ...
//!     (heap, String::from_utf8(text).unwrap())
//! });
//! assert_eq!(&heap[..2], &[0x1f, 0x8b]); // gzip
//! assert!(goroutines.starts_with("goroutine profile: total "));
//! ```
//!
//! # The profiles
//!
//! | name | what | recorded by |
//! |---|---|---|
//! | cpu ([`start_cpu_profile`]) | where the CPU time goes, 100 samples per CPU-second | SIGPROF on every thread running goroutines (`gort_profiler::cpu`) |
//! | `heap` | live objects as of the last completed GC, by allocation stack | the allocator's sampler, one sample per [`runtime::set_mem_profile_rate`](crate::runtime::set_mem_profile_rate) bytes on average (512 KiB), and the sweeper |
//! | `allocs` | the same data, showing all allocations by default | same |
//! | `goroutine` | every goroutine's stack | the scheduler's goroutine profile: a brief stop of the world opens it, then each goroutine's frame chain is walked before it runs again |
//! | `threadcreate` | OS threads the scheduler started | the scheduler's thread count (no creation stacks) |
//! | `block` | time spent blocked on channels, `select`, `WaitGroup`, `Mutex` | the scheduler's park/start events, sampled per [`runtime::set_block_profile_rate`](crate::runtime::set_block_profile_rate) |
//! | `mutex` | time waiters spent waiting for contended [`crate::sync::Mutex`]es, by the stack that unlocked | same, one in [`runtime::set_mutex_profile_fraction`](crate::runtime::set_mutex_profile_fraction) |
//!
//! Each is read with [`lookup`]`(name)` and [`Profile::write_to`]`(w,
//! debug)`: `debug = 0` writes the gzip'd proto, `1` Go's legacy text
//! (`heap profile: ...`, `goroutine profile: total N`, `--- contention:`),
//! `2` for `goroutine` the panic-style dump of every goroutine. [`serve`]
//! offers all of them at `/debug/pprof/` with Go's routes and headers, on
//! a bounded pool of threads, cancelling captures whose client leaves;
//! the handlers it routes to ([`http`]) take and return the `http`
//! crate's types, for any other server or router.
//!
//! The CPU profile ([`start_cpu_profile`], [`stop_cpu_profile`]) samples
//! every thread that runs goroutines 100 times per CPU-second (see
//! [`gort_profiler::cpu`] for the mechanism).
//!
//! **Labels** ([`do_with_labels`], [`set_goroutine_labels`]: Go's
//! `pprof.Do` and `pprof.SetGoroutineLabels`) tag a goroutine and the
//! goroutines it starts; CPU samples, goroutine records and — beyond Go —
//! heap and allocs samples carry them, and `go tool pprof
//! -tagfocus=key=value` selects by them:
//!
//! | profile | labels of | Go |
//! |---|---|---|
//! | cpu | the goroutine a tick interrupted (read in the SIGPROF handler: one load from its G) | same |
//! | goroutine | each goroutine, at the profile's instant; `debug=1` prints `# labels: {...}`, `debug=2` prints `{k: v}` after the header's `]` | same (Go 1.27's default `tracebacklabels=1`) |
//! | heap, allocs | the goroutine that allocated the sampled object, at the allocation | no labels (golang/go#23458) |
//!
//! gort has no `context.Context`: the goroutine's current labels play the
//! part of the context's, so [`do_with_labels`] adds to them and restores
//! them afterwards, as `pprof.Do(ctx, ...)` does with the labels of `ctx`.
//! A label set is interned once and kept for the life of the process
//! ([`gort_profiler::labels`]), so label kinds of work, not unbounded
//! values such as request ids.
//!
//! Recorders keep raw return PCs; frames are named when a profile is
//! written, with the profiler's symbolizer (DWARF line tables of the
//! executable), so every Location carries function, file and line.
//! Rust function names keep their crate path (`tour::alloc_tree`), which is
//! what `go tool pprof -top` prints.
//!
//! # Reading them
//!
//! ```text
//! go tool pprof -top gort-out/heap.pprof                          # live bytes by function
//! go tool pprof -sample_index=alloc_space -top gort-out/heap.pprof   # everything allocated
//! go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap       # from a live program
//! ```

mod contention;
mod cpu;
mod goroutine;
mod heap;
pub mod http;
mod labels;
mod server;

pub(crate) use contention::{bucket_bytes as contention_bucket_bytes, set_trace_recorder};
pub use contention::{set_block_profile_rate, set_mutex_profile_fraction};
pub use cpu::{start_cpu_profile, stop_cpu_profile};
pub use labels::{do_with_labels, goroutine_labels, label, labels, set_goroutine_labels, LabelSet};
pub use server::{serve, PprofServer, QUEUED, WORKERS};

use gort_profiler::pprof::{HeapKind, ProfileMeta};
use gort_profiler::Frame;
use std::io::{self, Write};

/// The profiles [`lookup`] knows, in Go's (sorted) order.
pub const PROFILE_NAMES: [&str; 6] = [
    "allocs",
    "block",
    "goroutine",
    "heap",
    "mutex",
    "threadcreate",
];

/// Which profile a [`Profile`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Heap,
    Allocs,
    Goroutine,
    ThreadCreate,
    Block,
    Mutex,
}

/// A named profile (Go's `*pprof.Profile`), from [`lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    kind: Kind,
}

impl Profile {
    /// The profile's name (`heap`, `goroutine`, …).
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Heap => "heap",
            Kind::Allocs => "allocs",
            Kind::Goroutine => "goroutine",
            Kind::ThreadCreate => "threadcreate",
            Kind::Block => "block",
            Kind::Mutex => "mutex",
        }
    }

    /// Go's `Profile.Count`: the number of records — buckets for heap and
    /// allocs, goroutines for goroutine, threads for threadcreate, distinct
    /// stacks for block and mutex.
    pub fn count(&self) -> usize {
        match self.kind {
            Kind::Heap | Kind::Allocs => heap::count(),
            Kind::Goroutine => goroutine::count(),
            Kind::ThreadCreate => goroutine::thread_count(),
            Kind::Block => contention::count(false),
            Kind::Mutex => contention::count(true),
        }
    }

    /// Go's `Profile.WriteTo(w, debug)`: `debug == 0` writes the gzip'd
    /// `profile.proto`, `debug > 0` Go's legacy text (for `goroutine`,
    /// `debug >= 2` is the panic-style dump of every goroutine). A negative
    /// value does what it does in Go: text for `heap` and `allocs`
    /// (`debug != 0`), proto for the others (`debug > 0` is their test).
    pub fn write_to(&self, w: impl Write, debug: i32) -> io::Result<()> {
        match self.kind {
            Kind::Heap => heap::write(w, HeapKind::Heap, debug),
            Kind::Allocs => heap::write(w, HeapKind::Allocs, debug),
            Kind::Goroutine => goroutine::write(w, debug),
            Kind::ThreadCreate => goroutine::write_threadcreate(w, debug),
            Kind::Block => contention::write(w, false, debug),
            Kind::Mutex => contention::write(w, true, debug),
        }
    }
}

/// Go's `pprof.Lookup`: the profile called `name` (`heap`, `allocs`,
/// `goroutine`, `threadcreate`, `block`, `mutex`), or None for any other
/// name.
pub fn lookup(name: &str) -> Option<Profile> {
    let kind = match name {
        "heap" => Kind::Heap,
        "allocs" => Kind::Allocs,
        "goroutine" => Kind::Goroutine,
        "threadcreate" => Kind::ThreadCreate,
        "block" => Kind::Block,
        "mutex" => Kind::Mutex,
        _ => return None,
    };
    Some(Profile { kind })
}

/// Go's `pprof.Profiles`: every profile, sorted by name.
pub fn profiles() -> Vec<Profile> {
    PROFILE_NAMES.iter().filter_map(|n| lookup(n)).collect()
}

/// Go's `pprof.WriteHeapProfile(w)`: the heap profile as gzip'd proto
/// (`lookup("heap").write_to(w, 0)`).
pub fn write_heap_profile(w: impl Write) -> io::Result<()> {
    heap::write(w, HeapKind::Heap, 0)
}

/// Called once at start-up: the allocation sampler walks goroutine stacks
/// within the bounds the scheduler knows.
pub(crate) fn install() {
    gort_gc::heap::set_profile_stack_bounds(gort_scheduler::current_goroutine_stack_bounds);
    // So do `gort_profiler::cpu::callers` (the goroutine, block and mutex
    // profiles' own-stack walks) and the CPU profiler's signal handler.
    gort_profiler::cpu::set_goroutine_stack_bounds(gort_scheduler::current_goroutine_stack_bounds);
    // Every recorder reads the running goroutine's labels through this
    // (the CPU profiler's handler, the allocation sampler).
    gort_profiler::labels::set_current_fn(gort_scheduler::current_labels);
}

/// Profile-wide facts: program name (the Mapping's file), time now.
fn meta() -> ProfileMeta {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "gort".to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    ProfileMeta {
        program,
        time_nanos: now,
        duration_nanos: 0,
    }
}

/// Names the frames of a stack of return PCs (leaf first), inlined calls
/// expanded.
fn symbolize_stack(pcs: &[u64]) -> Vec<Frame> {
    gort_profiler::symbolize::symbolize(pcs)
}

/// The return PCs of the calling goroutine's stack, leaf first (the
/// first is the return into the function that called this one), at most
/// `max` (≤ 64): `gort_profiler::cpu::callers`, whose bounds `install`
/// registered. Nothing on a thread that is not a goroutine.
#[inline(never)]
fn walk_own_stack(out: &mut Vec<u64>, max: usize) {
    if gort_scheduler::current_goroutine_stack_bounds().is_none() {
        return;
    }
    let mut buf = [0u64; 64];
    // skip 1: this function's own return into its caller.
    let n = gort_profiler::cpu::callers(1, &mut buf[..max.min(64)]);
    out.extend_from_slice(&buf[..n]);
}
