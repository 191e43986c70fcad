//! # gort: a Go-style managed runtime
//!
//! `gort` is the crate programs depend on. It gives a Rust program what a Go
//! program takes for granted: goroutines on an M:N scheduler, channels, a
//! garbage-collected heap with a concurrent collector, and Go's
//! instrumentation and knobs (`runtime.ReadMemStats`, `GOGC`, `GOMEMLIMIT`,
//! `GOMAXPROCS`, `GODEBUG=gctrace=1`).
//!
//! ```
//! use gort::{Gc, GcCell, Trace};
//!
//! /// A managed list cell: `next` is a field that may change after
//! /// allocation, so it is a `GcCell` (its `set` tells the collector).
//! #[derive(Trace)]
//! struct Node {
//!     value: u64,
//!     next: GcCell<Option<Gc<Node>>>,
//! }
//!
//! let total = gort::run(|| {
//!     let results = gort::chan::<u64>(0);
//!     for g in 0..4 {
//!         let results = results.clone();
//!         // `go f()`: each goroutine builds and sums its own list.
//!         gort::go(move || {
//!             let mut head: Option<Gc<Node>> = None;
//!             for v in 1..=1000 {
//!                 head = Some(Gc::new(Node { value: v, next: GcCell::new(head) }));
//!             }
//!             let (mut sum, mut cur) = (0, head);
//!             while let Some(n) = cur {
//!                 sum += n.value;
//!                 cur = n.next.get();
//!             }
//!             results.send(sum + g);
//!         });
//!     }
//!     gort::runtime::gc(); // runtime.GC(): the lists on the goroutines' stacks survive it
//!     (0..4).map(|_| results.recv().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 4 * 500_500 + 6);
//! ```
//!
//! ## Go's packages, gort's modules
//!
//! | Go | gort |
//! | --- | --- |
//! | `func main()` | [`run`]`(|| ...)` (or [`Builder::run`]) |
//! | `go f()` · `runtime.Gosched()` · `time.Sleep(d)` | [`go`] · [`gosched`] · [`sleep`] |
//! | `&T{...}` (a heap object) | [`Gc::new`] → [`Gc<T>`] (`Copy`, `Deref`) |
//! | a pointer field assigned after allocation | [`GcCell<T>`]: `get`, `set` (barriered) |
//! | `make([]T, n)` · `s[i]` · `s[i] = v` | [`make_slice`]`::<T>(n)` → [`GcSlice<T>`]: `get`, `set` |
//! | a global `var p *T` | [`Root<T>`] |
//! | `make(chan T, n)` · `select` | [`chan()`]`::<T>(n)` → [`Chan<T>`] · [`select!`] |
//! | `sync.WaitGroup` · `sync.Mutex` | [`sync::WaitGroup`] · [`sync::Mutex`] |
//! | `runtime.ReadMemStats` · `runtime.GC` · `runtime.NumGoroutine` · `runtime.GOMAXPROCS` | [`runtime::read_mem_stats`] · [`runtime::gc`] · [`runtime::num_goroutine`] · [`runtime::gomaxprocs`] |
//! | `debug.SetGCPercent` · `debug.SetMemoryLimit` · `debug.FreeOSMemory` | [`debug::set_gc_percent`] · [`debug::set_memory_limit`] · [`debug::free_os_memory`] |
//! | `metrics.All()` · `metrics.Read(s)` · a Prometheus `/metrics` endpoint | [`metrics::all`] · [`metrics::read`] · [`metrics::write_prometheus`], [`metrics::metrics_handler`] |
//! | `trace.Start(w)` · `trace.Stop()` | [`trace::start`]`(w)` · [`trace::stop`]`()` (goroutine, P and GC-phase events; `go tool trace` reads the file) |
//! | `pprof.StartCPUProfile` · `pprof.Lookup(name).WriteTo` | [`pprof::start_cpu_profile`] · [`pprof::lookup`]`(name)?.write_to` |
//! | `import _ "net/http/pprof"` + `http.ListenAndServe` · `pprof.Index`, `Profile`, `Trace`, … on your own mux | [`pprof::serve`]`(addr)` · [`pprof::http::index`], [`pprof::http::profile`], [`pprof::http::trace`], … (`http::Request` → `http::Response`) |
//! | a cgo call (`entersyscall`/`exitsyscall`) | [`blocking`]`(\|\| ...)`: the goroutine's P goes to another M meanwhile |
//! | `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG` | the same variables ([`mod@env`]), or [`Builder`] |
//!
//! ## Where a managed pointer may live
//!
//! The collector finds live objects from their *roots* and from the objects
//! they point to. A [`Gc<T>`] (or [`GcSlice<T>`]) is seen when it is:
//!
//! * on a goroutine's stack or in its registers (local variables,
//!   arguments, closures a goroutine captured — scanned conservatively:
//!   every word that looks like a pointer into the heap keeps its object);
//! * inside a managed object, in a field the type's [`Trace`] reports
//!   (`#[derive(Trace)]` reports every field);
//! * held by the runtime on your behalf: a channel's buffer, a value a
//!   blocked sender is handing over, a goroutine's start closure;
//! * in a [`Root<T>`].
//!
//! Anywhere else — a `std` `Vec`, a `Box`, a `static`, another thread's
//! stack that is not a goroutine — it is **invisible**, and the object may
//! be freed while you still hold the pointer. Put such pointers in a
//! [`Root`], or in a [`GcSlice`]. `GODEBUG=clobberfree=1` fills freed
//! objects with `0xdeadbeef`, so such a mistake shows up at once in tests.
//!
//! Fields that change after allocation are [`GcCell`]s, and slice elements
//! change through [`GcSlice::set`]: both run the collector's write barrier,
//! which is what lets the collector mark while goroutines run. Safe code
//! has no other way to store a managed pointer into a managed object.
//! Managed types have no `Drop` (finalizers are not supported).
//!
//! ## How the pieces fit
//!
//! ```text
//! your program ──► gort (this crate: run, knobs, Host) ──┬──► gort-gc        heap, allocator, collector
//!                                                         ├──► gort-scheduler G/M/P, stacks, channels, STW
//!                                                         └──► gort-profiler  MemStats, gctrace, pprof, trace
//! ```
//!
//! The collector and the scheduler do not know each other. The collector
//! asks a [`Host`](gort_gc::host::Host) to stop the world, enumerate
//! goroutine stacks and run its worker threads; this crate's `host` module
//! is that host, built from scheduler calls, and the only place the two
//! meet. [`run`] starts both: the scheduler with `GOMAXPROCS` Ps, then the
//! collector over the process's heap, paced by `GOGC` and `GOMEMLIMIT`.
//!
//! ## Knobs
//!
//! `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG` (`gctrace=1`,
//! `schedtrace=N`, `clobberfree=1`) have Go's syntax and meaning, and
//! gort's `GORT_MAXSTACK` (a goroutine's max stack, `8MiB` by default) has
//! `GOMEMLIMIT`'s (see [`mod@env`]); a malformed value stops the program
//! before it starts, with a
//! message naming the variable and exit status 2. [`Builder`] sets the same
//! things in code and wins over the environment.
//!
//! ## Failures, as in Go
//!
//! * a panic that no `std::panic::catch_unwind` in its goroutine catches
//!   (Go's `recover`) prints `panic: <message>`, then
//!   `goroutine N [running]:`, and exits with status 2; a caught one prints
//!   nothing; a panic while a panic unwinds (a `Drop` that panics) prints
//!   both, `panic: A` then `\tpanic: B`, and exits 2 where Rust would abort;
//! * an impossible size is Go's panic, never a wrapped size or an abort:
//!   `runtime error: makeslice: len out of range`, `makechan: size out of
//!   range`, `runtime error: index out of range [i] with length n`;
//! * when every goroutine is blocked and nothing can wake one:
//!   `fatal error: all goroutines are asleep - deadlock!`, status 2;
//! * a goroutine whose frames outgrow its max stack (8 MiB unless
//!   [`Builder::max_stack`] or `GORT_MAXSTACK` says otherwise) hits a guard
//!   page: `runtime: goroutine stack exceeds N-byte limit`,
//!   `fatal error: stack overflow`, status 2;
//! * a broken runtime invariant: `fatal error: <what>`, status 2.
//!
//! ## Choosing
//!
//! * Plain Rust values (numbers, `String`, `Vec` of non-pointers) need no
//!   managed heap at all: use them freely inside goroutines.
//! * Shared, cyclic or long-lived graphs: [`Gc<T>`] with `#[derive(Trace)]`;
//!   mutable links in [`GcCell`].
//! * Big arrays: [`make_slice`] — a byte or number slice is *noscan* (never
//!   scanned), a slice of `Option<Gc<T>>` is traced element by element.
//! * Handing work between goroutines: [`chan()`]; waiting for a group:
//!   [`sync::WaitGroup`]; shared mutable state: [`sync::Mutex`] (parks the
//!   goroutine, not the thread).
//! * Blocking system calls (files, sockets, `std::thread::sleep`) are fine
//!   in a goroutine: the runtime notices within a few tens of microseconds
//!   and gives its P to another thread; wrap a call you know blocks in
//!   [`blocking`] to hand the P off at once. A goroutine that computes
//!   without ever calling the runtime is preempted by a signal, as in Go
//!   (see gort-scheduler's essay, "Preemption").
//! * Plain `std::thread`s may use channels, [`sync::Mutex`] and
//!   [`sync::WaitGroup`]: blocking operations block that thread.

// The derive names the trait `::gort::Trace`; inside this crate (its unit
// tests) that path must resolve too.
extern crate self as gort;

pub mod alloc;
mod builder;
pub mod debug;
pub mod env;
mod host;
mod lock;
pub mod metrics;
pub mod pprof;
mod run;
pub mod runtime;
mod schedtrace;
pub mod trace;

pub use builder::Builder;
pub use gort_scheduler::blocking;
pub use run::{go, gosched, run, sleep};
pub use runtime::MemStats;

// The managed heap (gort-gc's typed API). `Trace` is both the trait and
// its derive macro.
pub use gort_gc::{make_slice, Gc, GcCell, GcSlice, Root, Trace, TraceSink, Tracer, Zeroable};

// Channels (gort-scheduler). `select!` is exported at the crate root by
// `#[macro_export]` in gort-scheduler and re-exported here.
pub use gort_scheduler::select;
pub use gort_scheduler::{chan, Chan};

/// Go's package `sync`: primitives that park the goroutine, not the thread.
pub mod sync {
    pub use gort_scheduler::sync::{Mutex, MutexGuard, WaitGroup};
}

/// The crates gort is built from, for code that needs more than the facade
/// (the collector's internals, the scheduler's hooks, the profiler's
/// encoders).
pub mod crates {
    pub use gort_gc as gc;
    pub use gort_profiler as profiler;
    pub use gort_scheduler as scheduler;
}
