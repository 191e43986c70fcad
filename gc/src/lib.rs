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
//! ## The collector (≈ Go's `mgc.go` header)
//!
//! The collector runs concurrently with the mutators, in parallel on
//! several threads, and never moves an object. It is Go's design — a
//! concurrent mark and sweep with a write barrier, non-generational and
//! non-compacting (Dijkstra et al. 1978, "On-the-fly garbage collection";
//! Yuasa 1990; Go proposal 17503, "Eliminate STW stack re-scanning") — with
//! one change of Riptide's (WebKit, 2017): goroutine stacks are scanned
//! **conservatively**, because Rust gives us no stack maps. Heap objects are
//! traced precisely, through their type's [`Trace`] impl, unless they are
//! *conservative* objects (runtime buffers of unknown layout).
//!
//! A cycle, numbered as in `mgc.go` (the code in [`collector`] carries the
//! same numbers):
//!
//! 1. **Sweep termination** (stop the world).
//!    * (a) Sweep what the previous cycle left unswept, first with the world
//!      running, then stop the world ([`host::Host::stop_the_world`]); wait until
//!      no concurrent sweeper is inside a span (a sweep overlapping the new
//!      mark would clear its mark bits).
//!    * (b) Sweep any span still unswept (normally none).
//! 2. **Mark** (concurrent).
//!    * (a) Turn the write barrier on, make allocation black, enable assists,
//!      set the phase to [`Phase::Mark`](phase::Phase::Mark).
//!    * (b) Shade the roots while the world is still stopped: every stopped
//!      goroutine's stack from its saved stack pointer to its top (its
//!      callee-saved registers were spilled there when it stopped), the
//!      values the runtime holds for users (channel buffers, timer payloads,
//!      start closures), and the [`Root`] registry. Each word is looked up
//!      in the heap; any address inside an allocated object shades it.
//!      Then start the world, and the background mark workers (Go's count:
//!      `int(GOMAXPROCS × 0.25 + 0.5)`, through [`host::Host::spawn_mark_worker`]).
//!    * (c) Workers drain grey objects: scan one (it becomes black), shade what
//!      it points to. They share work through a global injector queue and
//!      per-worker deques with stealing (crossbeam-deque). Allocating
//!      mutators **assist**: each allocation during mark owes scan work in
//!      proportion to its size (the pacer's assist ratio), paid from the
//!      workers' surplus credit or by scanning, so a fast allocator cannot
//!      outrun the collector. What it can pay neither way (no credit, no
//!      grey object left, e.g. big `noscan` slices) it waits for: the
//!      mutator **parks** ([`host::Host::block_until`]) until a worker's
//!      credit covers it or the mark ends (Go's `gcParkAssist`; see
//!      `mark::assist`). A large allocation then first sweeps until it has
//!      freed its own size (Go's `mheap.reclaim`), so the garbage's pages are
//!      reused rather than new ones touched.
//!    * (d) Termination detection: a single count of *tokens* is kept at least
//!      as large as the number of grey objects, wherever they are (see
//!      [`mark`]); a worker that reads 0 tries to become the terminator.
//! 3. **Mark termination** (stop the world).
//!    * (a) Stop the world and flush every P's write-barrier buffer.
//!    * (b) If that shaded anything, marking is not over: restart the world and
//!      keep marking (Go's `gcMarkDone` restart); after 8 restarts finish
//!      the drain with the world stopped (bounded: nothing adds to it).
//!    * (c) Otherwise turn the barrier, allocate-black and assists off, give
//!      the per-P caches' spans back, record statistics, print the gctrace
//!      line.
//! 4. **Sweep** (concurrent).
//!    * (a) Mark every span unswept (`sweepgen += 2`), restart the world.
//!    * (b) New objects are white again. Allocation sweeps a span before it
//!      uses it (lazily); a background sweeper sweeps the rest.
//!    * (c) `gc()` ([`collector::gc`]) waits for a full cycle that started after
//!      the call, then sweeps everything, as `runtime.GC` does.
//! 5. When the heap reaches the pacer's trigger, start again at 1.
//!
//! # The tri-color invariant and the write barrier
//!
//! White objects are not yet reached, grey ones are reached but not scanned,
//! black ones are scanned. Marking is correct if, when it ends, no black
//! object points to a white one that is still reachable. Go's hybrid barrier
//! (`barrier`) keeps this with stacks that are scanned once and never
//! rescanned: every store of a managed pointer into a managed object
//! **shades the overwritten pointer and the new one** before the store.
//! Shading the old value (Yuasa's deletion barrier) means an object the
//! mutator unlinks from the heap — perhaps to keep it only on its stack,
//! which was already scanned — is still marked: every object reachable when
//! marking began stays reachable *to the collector* (snapshot at the
//! beginning). Shading the new value (Dijkstra's insertion barrier) covers
//! pointers from not-yet-scanned places into black objects. New objects are
//! born black, so nothing allocated during mark needs scanning. Stores to
//! stacks have no barrier; that is why stacks are scanned at the start with
//! the world stopped. The barrier only appends to a per-P buffer (flushed
//! when full, and at mark termination); when not marking it is one relaxed
//! load and a branch.
//!
//! # Why stacks are scanned conservatively, and what it costs
//!
//! rustc emits no stack maps, and gort's mutators are plain Rust. So the
//! collector treats every aligned word of a stack as a possible pointer, as
//! Boehm, Riptide, Crystal and Ladybird do. Scanning is from the saved stack
//! pointer to the stack top only (never the whole mapping), and the context
//! switch spills the callee-saved registers onto the stack before saving the
//! stack pointer, so a pointer held only in a register is seen. Interior
//! pointers count: Rust often keeps only `&obj.field` or an element pointer.
//!
//! The cost is **false retention**: an integer, or a stale slot of a dead
//! frame, that happens to hold an address inside some object keeps that
//! object (and all it reaches) alive for the cycle. Published measurements
//! put it well under 1 % of the heap for typical programs (Shahriyar et al.,
//! OOPSLA 2014), and since the collector never moves objects, a falsely
//! retained object costs memory only, never correctness. Values kept in
//! memory the collector does not scan (a `Vec<Gc<T>>` in the malloc heap)
//! are invisible to it: those must be [`Root`]s. `GODEBUG=clobberfree=1`
//! fills freed objects with `0xdeadbeef` so such mistakes fail loudly.
//!
//! # Pacing: what the pacer promises
//!
//! With `GOGC = g` (default 100) the **heap goal** of the next cycle is
//! `live + (live + stacks + globals) × g/100`, never below `4 MiB × g/100`
//! (Go 1.18+). `GOMEMLIMIT` (Go's syntax, e.g. `512MiB`) lowers the goal so
//! total memory stays under the limit, minus 3 % headroom; it is soft: a
//! live heap above the limit makes cycles back to back but does not fail.
//! `GOGC=off` with no limit never starts a cycle on its own. The **trigger**
//! is set so that background workers at 25 % of GOMAXPROCS finish marking
//! as the heap reaches the goal (Go 1.18's model: the runway is the bytes
//! the mutators allocate per byte scanned, times the scan work), clamped to
//! 70–95 % of the way from the live heap to the goal. If the mutators
//! allocate faster than predicted, assists make them pay, so the heap
//! overshoots the goal by little (the assist ratio rises steeply past it,
//! towards Go's hard goal of +10 %). Knobs: [`pacer`],
//! `Collector::set_gc_percent`, `set_memory_limit`, `free_os_memory` (as in
//! `runtime/debug`).
//!
//! # Rejected approaches
//!
//! * **Rescanning stacks at mark termination** (Go ≤ 1.7): simpler barrier,
//!   but the second stack scan is a stop-the-world pause that grows with the
//!   number of goroutines ("10's to 100's of milliseconds").
//! * **Scanning the queues to detect termination**: checking that every
//!   deque is empty one after another misses a grey object that moves
//!   between queues during the check; Go needs a distributed protocol for
//!   it. The token count is one atomic and is checked by a loom model.
//! * **Precise stack maps** through LLVM statepoints: not exposed by rustc.
//! * **A moving (copying) collector**: every conservatively referenced object
//!   would have to be pinned (MMTk's design); not worth it without precise
//!   stacks.
//! * **Reference counting for roots** (rust-gc): every `Gc` copy on the stack
//!   would cost an increment; boa measured large wins by removing it.
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
//! * **root** — a place outside the heap that may hold managed pointers: a
//!   stack range, a runtime-held range, a [`Root`] handle.
//! * **stop the world (STW)** — every P parked at a safepoint, registers
//!   spilled; proven by a [`host::WorldStopped`] token.
//! * **safepoint** — a point where a mutator may be stopped (allocation slow
//!   path, channel operations, explicit polls).
//! * **mark worker** — a thread draining grey objects in the background;
//!   **assist** — marking done by an allocating mutator.
//! * **token** — one unit of the count that is never below the number of
//!   grey objects (termination detection, [`mark`]).
//! * **barrier buffer** — a P's list of addresses the write barrier will shade.
//!
//! ## Conventions
//!
//! Every synchronization primitive comes from `crate::loom` (a facade over
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
pub use collector::{Collector, GcConfig};
pub use host::{Host, MarkWorkerMode, RangeKind, RootVisitor, StwReason, WorldStopped};
