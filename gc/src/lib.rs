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
//!    * (b) Shade the roots that must be scanned while the world is still
//!      stopped: the values the runtime holds for users (channel buffers),
//!      the [`Root`] registry, and the stack of the goroutine that stopped
//!      the world (it runs on right after the restart). The host opens a
//!      **scan epoch**: every other goroutine stack is now *unscanned*, and
//!      is scanned later, concurrently (see "Concurrent stack scanning"
//!      below) — the pause does no per-goroutine work. Each word is looked
//!      up in the heap; any address inside an allocated object shades it.
//!      Then start the world, and the background mark workers, through
//!      [`host::Host::spawn_mark_worker`], as Go splits 25 % of GOMAXPROCS:
//!      `int(GOMAXPROCS × 0.25 + 0.5)` dedicated workers, unless that is
//!      more than 30 % off (GOMAXPROCS ≤ 3 or = 6; then a fractional worker
//!      makes up the rest: with 2 Ps, no dedicated worker and a fractional
//!      one at half a CPU). Besides them, a P with no goroutine to run
//!      marks in slices instead of parking its M (**idle marking**, Go's
//!      idle mark worker: [`collector::Collector::idle_mark`]); that CPU
//!      is free, so it is left out of the GC CPU fraction and the pacer,
//!      as in Go, and shows in gctrace's idle column.
//!    * (c) Workers first take **stack jobs** ([`host::Host::scan_stack_jobs`]):
//!      each unscanned goroutine stack, from its saved stack pointer to its
//!      top (its callee-saved registers were spilled there when it last
//!      switched out), is claimed and scanned conservatively; the scheduler
//!      scans one itself if it is about to run it first.
//!      Workers drain grey objects: scan one (it becomes black), shade what
//!      it points to. Small scannable objects (slots up to 512 bytes) are
//!      marked **page-locally**, as Go 1.26's Green Tea does: the queues
//!      carry their *span* once, not each object, and a worker that takes
//!      a span scans all its marked, unscanned objects together, then those
//!      they point to in the same span, round after round, marking each
//!      round's finds a bitmap word at a time (see `mark::span`). Bigger
//!      objects are queued one by one. Workers share work through a global
//!      injector queue and per-worker deques with stealing (crossbeam-deque). Allocating
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
//!      [`mark`]); a worker that reads 0, and has seen every stack job
//!      finished (a stack scan in progress counts as work), tries to become
//!      the terminator.
//! 3. **Mark termination** (stop the world).
//!    * (a) Stop the world and flush every P's write-barrier buffer; scan any
//!      stack still unscanned ([`host::Host::finish_stack_scan`]: normally
//!      none, O(1); counted in [`Collector::late_stack_scans`]).
//!    * (b) If that shaded anything, marking is not over: restart the world and
//!      keep marking (Go's `gcMarkDone` restart); after 8 restarts finish
//!      the drain with the world stopped (bounded: nothing adds to it).
//!    * (c) Otherwise turn the barrier, allocate-black, assists and the scan
//!      epoch off, give the per-P caches' spans back, record statistics,
//!      print the gctrace line.
//! 4. **Sweep** (concurrent).
//!    * (a) Mark every span unswept (`sweepgen += 2`; the swept and unswept
//!      lists of each span class trade places, O(classes) not O(spans)),
//!      restart the world.
//!    * (b) New objects are white again. Allocation sweeps a span before it
//!      uses it (lazily); a background sweeper sweeps the rest.
//!    * (c) `gc()` ([`collector::gc`]) waits for a full cycle that started after
//!      the call, then sweeps everything, as `runtime.GC` does.
//! 5. When the heap reaches the pacer's trigger, start again at 1. An
//!    allocation that reaches it while the last cycle still winds down
//!    (marking over, its heap profile and gctrace line not yet published)
//!    waits for that cycle to end and tests the trigger again, as Go's
//!    `gcStart` waits on `gcsema`; one that reaches it while a cycle marks
//!    pays with an assist instead.
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
//! stacks have no barrier; the next section says why stacks are still safe
//! to scan one at a time. The barrier only appends to a per-P buffer
//! (flushed when full, and at mark termination); when not marking it is one
//! relaxed load and a branch.
//!
//! # Concurrent stack scanning
//!
//! Scanning every goroutine stack with the world stopped costs a pause that
//! grows with the number of goroutines (5.3 ms for 10,000 parked ones, 3 MB
//! of stacks). So, as Go does since 1.8, stacks are scanned **one goroutine
//! at a time while the world runs**. The pause only opens a *scan epoch*
//! (a counter in the scheduler: a goroutine whose scan word is not "scanned
//! in this epoch" is unscanned) and scans the stopper's own stack. Then:
//!
//! * **No goroutine runs with an unscanned stack.** Before the scheduler
//!   switches into a goroutine it checks the goroutine's scan word (one
//!   relaxed load when no epoch is open); if unscanned, it claims the stack
//!   and scans it there (microseconds), or waits for the mark worker that
//!   holds the claim. A mark worker's **stack job** claims a parked or
//!   runnable goroutine the same way (a CAS on the word), so each stack is
//!   scanned exactly once per epoch and never while it runs (the loom model
//!   `loom_scan_claim_worker_vs_scheduler` in gort-scheduler).
//! * **Every running goroutine is therefore black**, and the invariant the
//!   hybrid barrier keeps is enough: whatever a black stack holds is grey,
//!   black, or reachable from a grey object through white ones that the
//!   deletion half of the barrier keeps reachable. A black stack gets a
//!   pointer from the heap (then the heap path stays or was shaded on
//!   deletion), from an allocation (black), or from another stack.
//! * **Between stacks**, a value moves only through the runtime: channel
//!   hand-offs and the start closure of a new goroutine. Every move while
//!   an epoch is open goes through the **copy barrier**
//!   ([`barrier::copy_barrier`]): the runtime shades each word of the value
//!   before copying it (sending into a buffer, handing a value to a parked
//!   receiver's stack, taking a parked sender's value, moving it into a
//!   full buffer's tail, copying a start closure onto a new stack). Go does
//!   the same in `sendDirect` (a bulk barrier), because there the receiving
//!   stack may be scanned while the sender's is not. The loom model
//!   `loom_copy_barrier_vs_stack_scan` shows what it prevents: a value
//!   moved out of an unscanned stack into a scanned one, then gone from its
//!   source, is white when marking ends unless the copy shaded it. In gort
//!   the source of such a move is always a *parked* goroutine's stack (a
//!   running one is black), and a parked goroutine's bytes do not change
//!   until it runs — after its own scan — so the moved bits are still there
//!   when its stack is scanned; the copy barrier makes the argument local
//!   instead of resting on that. (The stress test `gc_stackscan` passes
//!   without it for that reason; it fails when the scheduler runs
//!   goroutines unscanned.)
//! * **New goroutines** are born scanned in the open epoch: their stack
//!   holds only the start closure, which the copy barrier shaded. A
//!   goroutine spawned from a thread without a P (not stopped by a stop of
//!   the world) may miss an epoch that opened meanwhile; a SeqCst handshake
//!   makes sure it is then either a stack job or has its closure shaded.
//! * **Roots scanned once, in the pause:** channel buffers (every value
//!   that enters one while marking is shaded by the copy barrier) and the
//!   [`Root`] registry (`Root::new` shades its referent while marking).
//!   `WaitGroup` holds no values; a `sync::Mutex<T>` keeps its `T` where
//!   the mutex lives (a stack, a managed object through its `Trace`, or
//!   unscanned Rust memory, which needs a `Root` as always); `select!`
//!   cases keep their values on the selecting goroutine's stack and move
//!   them with the same channel code. The main goroutine's return value
//!   crosses to the calling thread outside the collector's view, as before.
//! * **Termination** waits for every stack job: a worker may only try to
//!   terminate after the host reported every job of the epoch finished (a
//!   scan in progress is not finished). A stack left unscanned anyway is
//!   scanned at mark termination with the world stopped, and counted.
//!
//! The cost: the pause no longer grows with the number of goroutines; the
//! scheduler pays one load per switch while an epoch is open, and the
//! first switch into each goroutine of a cycle may scan its stack.
//!
//! What a pause still holds (`gcpause`, 1 GiB live, 10,000 goroutines, two
//! cores): sweep termination ≈ 15–30 µs (the stopper's stack, channel
//! buffers, the `Root` registry), mark termination ≈ 50–130 µs (barrier
//! buffers, handing the caches' spans back, starting the sweep cycle in
//! O(span classes)). The rest is *time to stop*: a stop is cooperative, so
//! it waits for every P to reach a safepoint. At mark termination (the
//! stopper is a mark worker, not a goroutine) that wait takes 1–15 ms in
//! about one cycle in six on the loaded two-core machine (48 MiB live,
//! 1,000 goroutines; also before concurrent stack scanning). Scheduler
//! traces of those stops (`perf record -e sched:sched_switch,sched_wakeup`)
//! show OS scheduling latency, not a long stretch without a safepoint: in
//! one, the last P's M stopped and woke the stopper 78 µs after the
//! request, and the stopper first ran 4.1 ms later, the two CPUs busy with
//! other processes' compilers (even at nice −15); in others the M that had
//! to stop got no CPU for milliseconds. Making assists never park did not
//! change the count. On a quiet machine these stops should take the
//! microseconds they take in the other cycles; measuring there is the
//! next step.
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
//! retained object costs memory only, never correctness. One source is
//! trimmed: a frame's slot that its code has not written yet holds what an
//! earlier, deeper call left there, so a large allocation first zeroes
//! 16 KiB of the dead stack below its frame (Boehm's `GC_clear_stack`;
//! `collector::clear_dead_stack`), and the slow path it goes down (a cycle
//! started, an assist, a sweep) holds no address older than its own
//! allocation. A loop of 100 MB allocations otherwise kept a slice two
//! allocations old alive now and then, and doubled a cycle's goal. Values kept in
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
//! towards Go's hard goal of +10 %). MemStats `next_gc` is the goal the
//! next cycle runs against; that cycle's gctrace line (`# MB goal`) and
//! [`stats::CycleRecord::heap_goal`] show the same figure. Knobs: [`pacer`],
//! `Collector::set_gc_percent`, `set_memory_limit`, `free_os_memory` (as in
//! `runtime/debug`).
//!
//! # Rejected approaches
//!
//! * **Rescanning stacks at mark termination** (Go ≤ 1.7): simpler barrier,
//!   but the second stack scan is a stop-the-world pause that grows with the
//!   number of goroutines ("10's to 100's of milliseconds").
//! * **Scanning every stack once, in the sweep-termination pause** (gort
//!   until 2026-11): simple and obviously correct, but 5.3 ms of pause for
//!   10,000 parked goroutines; replaced by concurrent stack scanning.
//! * **Letting goroutines run unscanned** (Go's way: a goroutine is scanned
//!   when a worker preempts it): needs the insertion half of the barrier to
//!   depend on whether the *writer's* stack is scanned, and a way to stop a
//!   running goroutine; scanning before the first switch into it is simpler
//!   with cooperative scheduling.
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
//! * **type word** — a precise object's `TypeInfo` as a 32-bit distance;
//!   a span of small precise objects is **uniform** while one type word
//!   (kept in the span structure) covers all its objects, **mixed** once it
//!   holds two types, and then has a **type table** (one type word per
//!   slot, outside the arena). See the heap essay, "Object layout".
//! * **cache** — the per-P set of spans a P allocates from without a lock.
//! * **central** — the per-size-class list of spans shared by all Ps.
//! * **white / grey / black** — an object not yet reached / reached but not
//!   scanned / reached and scanned. To **shade** is to turn white into grey.
//! * **span entry** — a work item naming a span of small scannable objects
//!   (page-local marking): whoever takes it scans the span's marked,
//!   unscanned objects; a span is **owned** while an entry for it is
//!   queued or being taken, and its **scanned bits** say which marked
//!   objects some marker has claimed for scanning.
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
//!   queued work items (grey objects and span entries; termination
//!   detection, [`mark`]).
//! * **barrier buffer** — a P's list of addresses the write barrier will shade.
//! * **scan epoch** — the span of one cycle in which goroutine stacks are
//!   scanned concurrently; **stack job** — one goroutine stack a mark worker
//!   must see scanned in the epoch; **copy barrier** — shading the words of
//!   a value the runtime copies between stacks or into a channel buffer.
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
pub mod size;
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
