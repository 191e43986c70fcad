//! # The allocator
//!
//! Where managed objects live, how they are laid out, how any address leads
//! back to its object, and how memory goes back to the OS. This is Go's
//! allocator (`malloc.go`, `mheap.go`, `mcentral.go`, `mcache.go`,
//! `mgcscavenge.go`) with gort's object model on top; the *policy* of
//! collection (when to mark, when to sweep) is the collector's
//! (`crate::collector`, `crate::sweep`), which calls the entry points
//! described here.
//!
//! ## The arena
//!
//! One reservation of address space for the whole heap
//! ([`HeapConfig::arena_bytes`], default [`DEFAULT_ARENA_BYTES`] = 64 GiB),
//! mapped `PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE`
//! through memmap2 and aligned to a page. Untouched memory costs nothing;
//! the heap "grows" by handing out more of it (in steps of at least 1 MiB,
//! counted in `heap_sys`). A second anonymous mapping holds the **page
//! table**: one span pointer per 8 KiB page, null for free pages. Running
//! out of arena is `fatal error: out of memory`.
//!
//! ## Address → object in O(1)
//!
//! [`Heap::find_object`]: (1) range check against the arena; (2) page
//! table lookup → span (Acquire, pairs with the Release that installed
//! it); (3) the span's state says it holds objects; (4) slot index =
//! `(offset × div_mul) >> 32` — Go's `divMul`, a multiply and a shift that
//! equals `offset / size` for every offset in a span (checked exhaustively
//! in `size_class::tests`); indices past the last slot are the span's tail
//! waste → None; (5) the slot is allocated if it is below the span's
//! `free_index` or its alloc bit is set. Interior pointers therefore find
//! their object. **One-past-the-end**: `base + size` is the next slot (or
//! the tail), never the object itself. Rust creates such pointers when it
//! iterates a slice, so [`crate::ptr::GcSlice`] allocates one spare byte
//! (Boehm's padding byte) and its elements' end pointer stays inside its
//! own slot; single objects (`Gc<T>`) are not padded — code that keeps
//! only `(&*gc as *const T).add(1)` alive must keep the `Gc` too.
//!
//! ## Size classes, spans and object kinds
//!
//! Requests up to 32 KiB are rounded up to one of Go's 67 size classes
//! (`size_class.rs`, table and waste written once); a span is a run of
//! pages holding objects of one **span class** = size class × object
//! kind. The kind is a property of the span class, as Go's noscan bit is:
//!
//! * **noscan** — no managed pointers; never scanned (byte slices, numbers,
//!   `Gc<T>` where `T::NEEDS_TRACE` is false);
//! * **precise** — traced by the `trace` function of the type's
//!   `&'static TypeInfo` (name + trace fn), found as "Object layout" below
//!   says. A precise slice's value is `[len][elements][pad byte]`;
//! * **conservative** — every aligned word is a candidate pointer (buffers
//!   of unknown layout the runtime keeps for users).
//!
//! Objects over 32 KiB get a span of their own (class 0, "large"), page
//! aligned and rounded up to whole pages. gort has no tiny allocator.
//!
//! ## Object layout: where a precise object's type lives
//!
//! Noscan and conservative objects are their value, nothing else. A
//! precise object needs its `TypeInfo`, and where it is kept depends on the
//! slot size (`types.rs`), as in Go 1.22's "allocation headers":
//!
//! * **slots up to [`TYPE_TABLE_MAX_SIZE`] (512 B): outside the object.**
//!   Such a span is *typed*: its slots fill its pages exactly as a noscan
//!   span's do (a 16-byte node costs 16 bytes, 512 per 8 KiB span, as in
//!   Go), and the value starts at the object's base. The type is kept as
//!   a 4-byte *type word* (the `TypeInfo`'s distance from an anchor in
//!   8-byte units: no registry, no lock, encoded by a subtraction):
//!   * while every allocation the span has seen since it was made had one
//!     type — one type per size class is the common case in tree-shaped
//!     heaps — that word sits in the span structure (`Span::uniform`, kept
//!     by the allocating P: a compare per allocation, a store only on the
//!     span's first allocation). The span needs nothing else, and a lookup
//!     takes the type from the span structure it has already loaded;
//!   * the first allocation of another type (or an untyped one) turns the
//!     span **mixed**: the allocating P gives it a **type table**, one
//!     type word per slot, outside the arena (from a per-size-class pool in
//!     the page heap, so the lock is taken once per span that turns mixed,
//!     not per object), fills every entry with the old uniform word, writes
//!     the new slot's, publishes the table and then says "mixed" (Release
//!     stores; `loom_span_turns_mixed`). From then on each allocation
//!     writes its slot's entry. A span that dies gives its table back to
//!     the pool; tables are freed only with the heap, so a table address
//!     read from a span structure is always readable, and a lookup checks
//!     the slot index against the table's own capacity.
//! * **bigger precise objects (and large ones): a header word** holding the
//!   `&'static TypeInfo`, the value after it ([`precise_header_bytes`]); at
//!   576 bytes and up a word is under 1.4 % of the slot.
//!
//! [`Heap::alloc_precise`] takes the `TypeInfo` and records it **before**
//! the slot is published (the Release store of `free_index`), after the
//! slot is zeroed; so a lookup that finds an allocated object always finds
//! its type and zeroed-or-initialised memory, never a stale entry of a
//! previous occupant. An allocation without a type ([`Heap::alloc`] of a
//! precise object, tests only) records type word 0, which traces nothing.
//! Allocate-black marks the slot before it is published as well.
//! The value itself is written by the typed API after allocation returns:
//! a marker may trace a zeroed value (all its pointers None), as before.
//!
//! Rejected:
//! * **a header word on every precise object** (what gort did first): 8
//!   bytes on 16-byte tree nodes is 50 %; binarytrees 18 peaked at ~1.5× Go's
//!   RSS.
//! * **a type table at the end of every small precise span** (what gort did
//!   next): 4 bytes per slot whether the span needs them or not (a 16-byte
//!   node cost 20 bytes, 409 per span instead of 512), and the collector
//!   read the table for every object unless the span was uniform anyway.
//! * **a u16 index into a global type registry**: 2 bytes instead of 4, but
//!   a type needs a place to cache its index, and Rust has no per-type
//!   statics for generic types (`InfoOf<T>` is a promoted constant that may
//!   even be duplicated across codegen units), so every allocation would
//!   look its type up in a map. The 32-bit distance needs no lookup.
//! * **spans dedicated to one type** (type in the span, never a table):
//!   every P would cache one span per (size class, type) — a map lookup on
//!   the fast path and a partly filled span per type per P. Uniform spans
//!   get the same 0 bytes per object for the common case without either.
//! * **Go 1.19's pointer bitmap** (2 bits per word): `Trace` is code, not a
//!   layout; enums put pointers at different offsets per variant.
//!
//! The collector also prefetches an object when it greys it
//! ([`ObjectRef::prefetch`]), and its table entry if the span is mixed.
//! Spans of small scannable objects (precise or conservative, slots up to
//! 512 bytes) are *span-scanned*: besides the mark bits they carry scanned
//! bits and an owned byte for page-local marking (`crate::mark::span`),
//! and the collector scans their objects through [`Heap`]'s span calls,
//! reading the slot size, kind and (while uniform) type once per span.
//!
//! ## The cache hierarchy (malloc.go's four steps)
//!
//! 1. **Cache** (per P, no lock): the P's span of the class; a 64-slot
//!    window of free bits (`CachedSpan::bits`) gives the next slot with a
//!    `trailing_zeros`; the window moves over the span's alloc bits. This is
//!    [`Heap::alloc_on`] — `#[inline]`, one Relaxed load of the flags word,
//!    no lock, no atomic read-modify-write (the per-P counters are a load
//!    and a store; the span's `free_index` is one Release store).
//! 2. **Central** (`#[cold] alloc_slow`, one lock per span class): give the
//!    full span back, take a swept span with free slots; if there is none,
//!    sweep unswept spans of the class until one has room (lazy sweep).
//! 3. **Page heap** (page-heap lock): a new span from the lowest free run
//!    of pages, first fit.
//! 4. **Arena**: grow the heap into fresh reserved pages.
//!
//! Before any of this, the slow path calls the collector's hook (trigger a
//! cycle, assist marking) with no heap lock held; the hook may be a
//! safepoint, so the P is re-read after it. While always-slow is on,
//! every allocation takes the slow path. While the collector marks it
//! turns on allocate-black, which the fast path handles itself (it marks
//! the slot before publishing it), and **hook batching**
//! ([`Heap::set_hook_batch`]): each P counts the bytes it allocates on the
//! fast path and calls the hook once per [`HOOK_BATCH_BYTES`] with the
//! count — so mark assists are paid in batches, as Go's `mallocgc` only
//! deducts from an assist credit. Before batching, every allocation during
//! marking took the slow path, looked its P up three times and did an
//! atomic add on the assist debt; gcbench spends about 40 % of its time
//! marking.
//!
//! ## Span states and sweep generations
//!
//! [`SpanState`] lists where a span is (Dead / InCache / InCentral / Large)
//! and its allowed transitions. Orthogonally, a span's `sweepgen` relative
//! to the heap's (Go's scheme): h−2 needs sweeping, h−1 is being swept, h is
//! swept. [`Heap::start_sweep_cycle`] (world stopped, after marking) flushes
//! every cache, adds 2 to h and moves every span onto its unswept list;
//! [`Heap::sweep_one`] (background) and the refill path (lazy) take spans
//! off those lists, claim them by CAS h−2 → h−1, free unmarked objects —
//! mark bits become alloc bits, mark bits are cleared — and put them back
//! or free their pages. Spans cached during marking hold only objects
//! allocated black or reachable ones, so nothing live is freed.
//!
//! ## Fields: who may touch what
//!
//! | data | written by | under | read by |
//! |---|---|---|---|
//! | page table entry | page heap (span made / freed) | page-heap lock, Release | anyone, Acquire |
//! | span `start`, `npages`, class, `elem_size`, `nelems` | page heap, span Dead | page-heap lock | anyone (atomics) |
//! | span `state` | transition owner (see `SpanState`) | lock of the list it moves to | anyone |
//! | span `free_index` | the P caching it; the sweeper owning it | none (single owner), Release | lookups, Acquire |
//! | span alloc bits | sweeper (owner); uncaching P (fetch_or) | ownership | lookups, sweeper |
//! | span mark bits | markers, allocate-black (fetch_or); sweeper clears | atomics; clearing by owner | markers, sweeper |
//! | span scanned bits, `owned` (span-scanned spans) | markers (`mark::span`), allocate-black; sweeper clears the bits | atomics; clearing by owner | markers, sweeper (debug check: scanned = marked, not owned) |
//! | span `sweepgen` | sweeper (CAS claim, Release store) | — | anyone |
//! | span `alloc_count`, `needzero` | sweeper; uncaching P; caching P (clears `needzero` after zeroing) | ownership | the next owner |
//! | `CachedSpan` (window, bits) | the P's thread | host: one thread per P between safepoints; stopped world for flushes; shared cache: its lock | same |
//! | per-P `mallocs`, `total_alloc` | the P's thread (load + store) | — | stats readers (Relaxed) |
//! | central lists | anyone | that central's lock | — |
//! | free runs, scavenged / need-zero page bits, pool | page heap | page-heap lock | — |
//! | `frees`, `freed_bytes`, `heap_live` | sweepers, refills | atomics | stats, pacer |
//!
//! Lock order (docs/lock-order.md, gc section): shared cache < central <
//! page heap; the large list and the root registry are leaves. No heap lock
//! is held when the collector's hook or the host is called.
//!
//! ## The zeroing rule
//!
//! Objects are always handed out zeroed, and **memory fresh from the OS or
//! released with `MADV_DONTNEED` is never cleared by hand.** The page heap
//! keeps two bits per page: *scavenged* (released or never touched: reads
//! as zero) and *need-zero* (held data once). A new small span gets
//! `needzero` if any of its pages needs it; a cache that takes a span
//! with `needzero` clears its free slots then, one memset per run of free
//! slots (whole cache lines, no read-for-ownership per object, nothing to
//! clear on the fast path), and the span no longer needs zeroing.
//! A large object clears only its dirty pages: a dirty run
//! shorter than 1 MiB by hand; in a longer one (`mincore`, one call per
//! 16 MiB) the pages still resident are cleared by hand and the others are
//! dropped with `MADV_DONTNEED` (the kernel hands back zero pages on first
//! touch, and pages the program never touches never cost RSS). Go 1.19
//! clears every dirty page with memclr. Measured (compare.sh, gort/Go
//! wall): dropping every long run made `bigbytes-touch` 1.44×, because
//! faulting a page back in costs more than clearing it while resident;
//! clearing every run by hand would make the untouched `bigbytes` touch
//! its 100 MB per slice; by residency, `bigbytes` stays at 0.03× and
//! `bigbytes-touch` is 0.72–0.79×. Sweeping
//! sets `needzero` on spans where it freed objects. So `make_slice::<u8>
//! (100_000_000)` on fresh or released pages touches none of its 100 MB
//! (`gc/tests/heap_scavenge.rs` checks RSS; `benches/alloc.rs` times it).
//!
//! ## The scavenger
//!
//! Free pages go back to the OS with `MADV_DONTNEED` (see `scavenger.rs`):
//! in the background, down to a retention goal (110 % of `heap_inuse` or
//! what the pacer sets), 8 MiB per 100 ms; and all at once on
//! [`Heap::free_os_memory`]. Released pages are zero on next use.
//!
//! ## Statistics
//!
//! [`HeapStats`] uses Go's names and meanings. Counters on the allocation
//! path (`mallocs`, `total_alloc`) are per P and summed on read; sweep-side
//! counters are heap atomics; page counts live under the page-heap lock. By
//! construction `heap_idle + heap_inuse = heap_sys`, `mallocs − frees =
//! heap_objects`, `heap_released ≤ heap_idle`. `heap_idle` is the grown
//! pages in no span: the pages of spans that sweeping emptied, as soon as
//! it frees them. The heap's own bookkeeping outside its spans (span
//! structures, caches, bitmaps, the page table) is [`Heap::metadata`],
//! in MemStats' off-heap categories (`metadata.rs` says which is which).
//!
//! ## Where the allocation-heavy samples spend their time
//!
//! `perf record -g` of gcbench (one goroutine, 2 Ps; frame pointers are
//! on) before this session's changes: a third of the samples in marking,
//! and the mutator paying for every allocation during marking on the slow
//! path (hook, safepoint, assist debt, three current-P look-ups) plus a
//! cache miss per object for the clearing store. Changed here: hook
//! batching, uniform spans (no type-table miss when scanning), clearing
//! free slots when a span is cached, the grey prefetch, a scan of grey
//! objects without a second full lookup ([`Heap::scan_object`]). gcbench
//! went from 1.12–1.48× Go's wall time to 0.77–0.92× (CPU 1.49× →
//! 0.84–0.89×; compare.sh, three tables at load 6–9); binarytrees 18 is
//! 0.68–0.84×, bigbytes-touch 0.59–0.79×. What the
//! profile still shows, outside the heap: the current-P chain (~8 % of
//! samples: a function pointer, a closure, a `dyn Host` call and two
//! thread-local reads per allocation), the idle M spinning in the
//! scheduler's `schedule` (~6 %, on a 2-core machine it competes with the
//! mark worker), and a mark loop that costs about twice Go's CPU per
//! marked byte (gctrace: ~1.2 ms/MB against 0.5–0.7) — the object's cache
//! miss, a deque pop with a fence and a mark-bit RMW per object.
//!
//! ## Rejected or postponed
//!
//! * Go's radix-tree page allocator (`mpagealloc.go`): gort's page heap is a
//!   `BTreeMap` of coalesced free runs searched first fit, linear in the
//!   number of free runs. Simple and correct; a summary tree is the next step
//!   if fragmented heaps show it in profiles.
//! * The scavenger holds the page-heap lock during `madvise` (Go drops it);
//!   the 8 MiB budget bounds the hold time in the background.
//! * A header word on every object (simpler lookups, worse for `[]byte`):
//!   only precise objects over 512 bytes have one.
//! * Go's tiny allocator and per-size-class statistics (`BySize`): not yet.

pub mod size_class;

mod arena;
mod cache;
mod central;
mod metadata;
mod page_heap;
mod profile;
mod reclaim;
mod scavenger;
mod span;
mod types;

pub use metadata::HeapMetadata;
#[cfg(not(all(test, loom)))]
pub use profile::{
    mem_profile, mem_profile_buckets, post_sweep as profile_post_sweep, profile_cycle,
};
pub use profile::{
    mem_profile_rate, samples_taken, set_mem_profile_rate,
    set_stack_bounds as set_profile_stack_bounds, MemProfileRecord, DEFAULT_MEM_PROFILE_RATE,
};
pub use reclaim::{SweepResult, CLOBBER_WORD};
pub use scavenger::ScavengerHandle;
pub use span::{ObjectKind, Span, SpanClass, SpanState, NUM_SPAN_CLASSES};
pub use types::{precise_header_bytes, TYPE_TABLE_MAX_SIZE};

use crate::loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use crate::trace::{TraceSink, Tracer, TypeInfo};
use arena::Arena;
use cache::{CacheSlot, CachedSpan};
use central::Central;
use page_heap::PageHeap;
use size_class::{size_to_class, MAX_SMALL_SIZE};
use span::SpanPtr;
use std::sync::OnceLock;

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 13;
/// The heap's page: 8 KiB, the unit the page heap hands out.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Most Ps a heap serves (P ids are `0..MAX_PROCS`).
pub const MAX_PROCS: usize = 256;
/// Default size of the arena reservation: 64 GiB of address space
/// (reserved with `MAP_NORESERVE`, so it costs no memory until used).
pub const DEFAULT_ARENA_BYTES: usize = 64 << 30;

/// `flags` bit: objects are born marked (the collector is marking).
const FLAG_ALLOCATE_BLACK: u32 = 1;
/// `flags` bit: every allocation takes the slow path and calls the hook.
const FLAG_ALWAYS_SLOW: u32 = 2;
/// `flags` bit: the hook is called at least once per [`HOOK_BATCH_BYTES`]
/// allocated on each P, with the bytes allocated since its last call.
const FLAG_HOOK_BATCH: u32 = 4;

/// While hook batching is on ([`Heap::set_hook_batch`]), a P allocates
/// this many bytes on the fast path between two calls of the hook.
pub const HOOK_BATCH_BYTES: u64 = 16 << 10;

/// How a heap is set up.
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Bytes of address space reserved for the arena (the heap's maximum
    /// size). Default [`DEFAULT_ARENA_BYTES`].
    pub arena_bytes: usize,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            arena_bytes: DEFAULT_ARENA_BYTES,
        }
    }
}

/// Spans of large objects, which belong to no central.
#[derive(Debug, Default)]
pub(crate) struct LargeLists {
    /// Swept large spans.
    pub(crate) inuse: Vec<SpanPtr>,
    /// Large spans not yet swept in this cycle.
    pub(crate) unswept: Vec<SpanPtr>,
}

/// The heap statistics, with Go's `runtime.MemStats` meanings.
///
/// Identities (hold for every snapshot): `heap_idle + heap_inuse ==
/// heap_sys`, `mallocs - frees == heap_objects`, `heap_released <=
/// heap_idle`, `total_alloc - heap_alloc` = bytes freed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes of allocated objects, including unreachable ones not yet swept.
    pub heap_alloc: u64,
    /// Bytes of heap memory obtained from the arena (grown).
    pub heap_sys: u64,
    /// Bytes in free pages (in no span), released or not.
    pub heap_idle: u64,
    /// Bytes in spans (pages holding at least one object slot in use or cached).
    pub heap_inuse: u64,
    /// Bytes of free pages returned to the OS.
    pub heap_released: u64,
    /// Allocated objects (mallocs − frees).
    pub heap_objects: u64,
    /// Cumulative objects allocated.
    pub mallocs: u64,
    /// Cumulative objects freed (by sweeping).
    pub frees: u64,
    /// Cumulative bytes allocated (slot sizes, as Go counts them).
    pub total_alloc: u64,
}

/// A located object: what [`Heap::find_object`] returns.
#[derive(Clone, Copy, Debug)]
pub struct ObjectRef<'h> {
    /// First byte of the object (its header word for precise objects).
    pub base: usize,
    /// Bytes in the object's slot (the size class size; whole span for large).
    pub size: usize,
    /// The object's kind (its span class's).
    pub kind: ObjectKind,
    /// Slot index in its span.
    pub index: usize,
    /// The span holding it.
    pub span: &'h Span,
}

impl ObjectRef<'_> {
    /// Sets the object's mark bit; true if it was white (not yet marked).
    /// The object counts as scanned too (black): the collector's own
    /// marking of page-locally marked objects goes through `mark::span`.
    #[inline]
    pub fn try_mark(&self) -> bool {
        self.span.mark_black(self.index)
    }
    /// Whether the object is marked.
    #[inline]
    pub fn is_marked(&self) -> bool {
        self.span.is_marked(self.index)
    }
    /// The type information of a precise object (None for other kinds, or
    /// a precise object allocated without a type by [`Heap::alloc`]): its
    /// span's uniform type, its entry in the span's type table, or its
    /// header word.
    #[inline]
    pub fn type_info(&self) -> Option<&'static TypeInfo> {
        self.span.type_of(self.index, self.base)
    }

    /// Asks the CPU to start loading the object's first cache line (and,
    /// for a precise object of a mixed span, its type table entry): the
    /// collector calls it when it greys the object, so the load overlaps
    /// other work before the object is scanned (Go's `greyobject` does the
    /// same). A hint only: no effect on other architectures, or under Miri.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: prefetching never faults and has no effect on
            // program semantics, whatever the address.
            unsafe { _mm_prefetch(self.base as *const i8, _MM_HINT_T0) };
            if self.span.uniform.load(Ordering::Relaxed) == span::UNIFORM_MIXED {
                let table = self.span.table.load(Ordering::Relaxed);
                if table != 0 {
                    // SAFETY: as above.
                    unsafe {
                        _mm_prefetch(
                            types::entry_addr(table, self.index) as *const i8,
                            _MM_HINT_T0,
                        )
                    };
                }
            }
        }
    }

    /// Address of the object's value: the base, plus the header word of a
    /// precise object that has one.
    #[inline]
    pub fn value(&self) -> usize {
        self.base + self.span.header_bytes()
    }
}

/// Reads one word of managed memory atomically (Relaxed): concurrent
/// markers and mutators may touch it.
#[inline]
#[allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics): see cell.rs
pub(crate) fn load_word(addr: usize) -> usize {
    // SAFETY: callers pass a word-aligned address inside an allocated
    // object slot of the arena, which is mapped read-write for the heap's
    // life; AtomicUsize has the layout of usize.
    unsafe { (*(addr as *const core::sync::atomic::AtomicUsize)).load(Ordering::Relaxed) }
}

/// A goroutine pinned to its P for one allocation (or one write-barrier
/// enqueue): while pinned, the host does not preempt it asynchronously, so
/// the P — and its cache — stay its own. The host makes one
/// ([`Pin::new`]); [`Pin::release`] ends the section.
#[derive(Debug)]
pub struct Pin {
    /// The pinned P's id, `usize::MAX` for none. Two words in all, so the
    /// host's hook returns a `Pin` in registers (the allocator calls it on
    /// every allocation).
    p: usize,
    /// The host's pin count of the calling thread, decremented on release
    /// (null: nothing to undo).
    count: *const u32,
}

impl Pin {
    /// A P that is not pinned (a host without asynchronous preemption, or
    /// an explicit P in tests).
    #[inline]
    pub fn unpinned(p: Option<usize>) -> Pin {
        Pin {
            p: p.unwrap_or(usize::MAX),
            count: core::ptr::null(),
        }
    }

    /// A pinned P.
    ///
    /// # Safety
    ///
    /// `count` must be null, or the calling thread's pin count: an aligned
    /// `u32` accessed only atomically, already incremented for this pin,
    /// read by nothing but this thread and its signal handlers, living as
    /// long as the thread. The pin must be released on the same thread with
    /// no switch point in between.
    #[inline]
    pub unsafe fn new(p: Option<usize>, count: *const u32) -> Pin {
        Pin {
            p: p.unwrap_or(usize::MAX),
            count,
        }
    }

    /// The pinned P, if any.
    #[inline]
    pub fn p(&self) -> Option<usize> {
        (self.p != usize::MAX).then_some(self.p)
    }

    fn is_pinned(&self) -> bool {
        !self.count.is_null()
    }

    /// Ends the pinned section.
    #[inline]
    pub fn release(&mut self) {
        if !self.count.is_null() {
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            // SAFETY: `Pin::new`'s contract.
            let w = unsafe { HostWord(self.count).word() };
            w.store(w.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
            self.count = core::ptr::null();
        }
    }
}

/// A word owned by the host (its safepoint word, a pin count), accessed
/// atomically through a raw pointer. Outside every loom model: the
/// protocols it takes part in are the host's.
#[derive(Debug, Clone, Copy)]
struct HostWord(*const u32);

// SAFETY: the word is only accessed atomically (see `set_poll_word`).
unsafe impl Send for HostWord {}
// SAFETY: as above.
unsafe impl Sync for HostWord {}

impl HostWord {
    /// # Safety
    ///
    /// The pointer must satisfy `set_poll_word`'s contract.
    #[allow(clippy::disallowed_types)] // the host's word, not a modelled protocol
    unsafe fn word<'a>(self) -> &'a core::sync::atomic::AtomicU32 {
        // SAFETY: aligned, live, only accessed atomically (caller).
        unsafe { core::sync::atomic::AtomicU32::from_ptr(self.0 as *mut u32) }
    }

    #[inline(always)]
    fn load(&self) -> u32 {
        // SAFETY: installed through `set_poll_word`, whose contract holds.
        unsafe { self.word() }.load(Ordering::Relaxed)
    }
}

/// The heap: arena, page heap, centrals, per-P caches, statistics.
///
/// Usually one per process ([`global`]); tests make private ones.
#[derive(Debug)]
pub struct Heap {
    pub(crate) arena: Arena,
    pub(crate) pages: PageHeap,
    /// One per span class. Each has its own lock.
    pub(crate) central: Box<[Central]>,
    /// Lock rank `gc.heap.large`.
    pub(crate) large: Mutex<LargeLists>,
    /// Per-P caches, created on the P's first allocation.
    pub(crate) caches: Box<[OnceLock<Box<CacheSlot>>]>,
    /// The cache of threads that run no P. Lock rank `gc.heap.shared_cache`.
    pub(crate) shared: Mutex<CacheSlot>,
    /// FLAG_* bits; read (Relaxed) on every allocation.
    flags: AtomicU32,
    /// Go's `mheap_.sweepgen`. Written at start_sweep_cycle (world stopped).
    pub(crate) sweepgen: AtomicU32,
    /// Spans on unswept lists or being swept.
    pub(crate) unswept: AtomicUsize,
    /// First central that may still hold unswept spans in this cycle
    /// (reset by start_sweep_cycle, advanced by sweep_one).
    pub(crate) sweep_cursor: AtomicUsize,
    /// Objects freed by sweeping (cumulative).
    pub(crate) frees: AtomicU64,
    /// Bytes freed by sweeping (cumulative).
    pub(crate) freed_bytes: AtomicU64,
    /// Go's `heapLive`: bytes of spans handed to caches (all their free
    /// slots count as allocated while cached) plus large objects, minus what
    /// sweeping freed. Updated at refill, uncache, large alloc and sweep —
    /// never on the fast path — so the collector can read it cheaply.
    pub(crate) heap_live: AtomicU64,
    /// `GODEBUG=clobberfree=1`.
    pub(crate) clobber_free: AtomicBool,
    /// Returns the calling thread's P id (set once by the host).
    current_p: OnceLock<fn() -> Option<usize>>,
    /// Pins the calling goroutine to its P for one allocation (set once by
    /// the host; see [`Pin`]).
    pin_p: OnceLock<fn() -> Pin>,
    /// The host's safepoint word (see [`Heap::set_poll_word`]): while it is
    /// not 0 every allocation takes the slow path, whose hook is a
    /// safepoint.
    poll: OnceLock<HostWord>,
    /// Called at the start of every slow path, with no heap lock held.
    alloc_hook: OnceLock<fn(&Heap, usize)>,
    /// Told `heap_live`'s new value after each change while
    /// `heap_live_observed` is on (see [`Heap::set_heap_live_hook`]).
    heap_live_hook: OnceLock<fn(u64)>,
    heap_live_observed: AtomicBool,
    /// Scavenger goal and state.
    pub(crate) scav: scavenger::ScavengerState,
}

// SAFETY: the raw pointers inside (span pointers in caches and lists) point
// at span structures owned by this heap; caches are touched only by the
// thread running their P (host guarantee) or under the shared-cache lock;
// everything else is atomics or behind locks.
unsafe impl Sync for Heap {}
// SAFETY: as above; nothing in a heap is tied to a thread.
unsafe impl Send for Heap {}

impl Heap {
    /// Reserves the arena and builds an empty heap.
    pub fn new(config: HeapConfig) -> std::io::Result<Heap> {
        let arena = Arena::reserve(config.arena_bytes)?;
        let pages = PageHeap::new(arena.npages);
        Ok(Heap {
            arena,
            pages,
            central: (0..NUM_SPAN_CLASSES).map(|_| Central::default()).collect(),
            large: Mutex::new(LargeLists::default()),
            caches: (0..MAX_PROCS).map(|_| OnceLock::new()).collect(),
            shared: Mutex::new(CacheSlot::new()),
            flags: AtomicU32::new(0),
            sweepgen: AtomicU32::new(0),
            unswept: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
            frees: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            heap_live: AtomicU64::new(0),
            clobber_free: AtomicBool::new(false),
            current_p: OnceLock::new(),
            pin_p: OnceLock::new(),
            poll: OnceLock::new(),
            alloc_hook: OnceLock::new(),
            heap_live_hook: OnceLock::new(),
            heap_live_observed: AtomicBool::new(false),
            scav: scavenger::ScavengerState::new(),
        })
    }

    /// Installs the function that names the calling thread's P (the host's
    /// `current_p`). Until then, and whenever it returns None, allocation
    /// goes through the locked shared cache. Returns false if already set.
    pub fn set_current_p(&self, f: fn() -> Option<usize>) -> bool {
        self.current_p.set(f).is_ok()
    }

    /// Installs the function that pins the calling goroutine to its P for one
    /// allocation (the host's `pin_p`): until the [`Pin`] is released the
    /// host does not preempt the goroutine asynchronously, so the P's cache
    /// stays its own. Without it, allocations use [`Heap::set_current_p`]'s
    /// function unpinned (enough for a host without asynchronous
    /// preemption). Returns false if already set.
    pub fn set_pin_p(&self, f: fn() -> Pin) -> bool {
        self.pin_p.set(f).is_ok()
    }

    /// Installs the host's safepoint word: while it reads non-zero (a stop of
    /// the world, a ragged barrier or a preemption is pending), every
    /// allocation leaves the fast path for the slow path, whose hook is a
    /// safepoint — so every allocation is a safepoint when one is due, at
    /// the cost of one load on the fast path.
    ///
    /// # Safety
    ///
    /// `word` must point to an aligned `u32`, only ever accessed atomically,
    /// that lives for the rest of the process.
    pub unsafe fn set_poll_word(&self, word: *const u32) -> bool {
        self.poll.set(HostWord(word)).is_ok()
    }

    /// Whether the host's safepoint word is quiet (true without one).
    #[inline(always)]
    fn poll_quiet(&self) -> bool {
        match self.poll.get() {
            Some(w) => w.load() == 0,
            None => true,
        }
    }

    /// Pins the calling goroutine for one allocation (see [`Pin`]).
    #[inline]
    fn pin(&self) -> Pin {
        match self.pin_p.get() {
            Some(f) => f(),
            None => Pin::unpinned(self.current_p()),
        }
    }

    /// Installs the slow-path hook: called with the request size at the
    /// start of every allocation slow path (cache refill, large object,
    /// every allocation while [`Heap::set_always_slow`] is on), with no heap
    /// lock held, before the object exists. The collector triggers cycles
    /// and runs assists there; it may be a safepoint (the heap re-reads the
    /// current P afterwards). Returns false if already set.
    pub fn set_alloc_hook(&self, f: fn(&Heap, usize)) -> bool {
        self.alloc_hook.set(f).is_ok()
    }

    /// Installs the function told `heap_live`'s new value each time it
    /// changes — a span enters or leaves a cache, a large object is
    /// allocated, a sweep frees slots — while [`Heap::observe_heap_live`]
    /// is on (Go's tracer records its `HeapAlloc` event at the same points,
    /// in `gcController.update`). It runs on the allocating or sweeping
    /// thread, possibly with the goroutine pinned and heap locks held: it
    /// must not allocate from this heap or block. Returns false if already
    /// set.
    pub fn set_heap_live_hook(&self, f: fn(u64)) -> bool {
        self.heap_live_hook.set(f).is_ok()
    }

    /// Turns the calls of the `heap_live` hook on or off.
    pub fn observe_heap_live(&self, on: bool) {
        self.heap_live_observed.store(on, Ordering::Relaxed);
    }

    /// `heap_live` changed to `now` (one relaxed load unless observed).
    #[inline]
    pub(crate) fn heap_live_changed(&self, now: u64) {
        if self.heap_live_observed.load(Ordering::Relaxed) {
            if let Some(f) = self.heap_live_hook.get() {
                f(now);
            }
        }
    }

    /// Adds `bytes` to `heap_live` and tells the observer.
    #[inline]
    pub(crate) fn heap_live_add(&self, bytes: u64) {
        let old = self.heap_live.fetch_add(bytes, Ordering::Relaxed);
        self.heap_live_changed(old.wrapping_add(bytes));
    }

    /// Subtracts `bytes` from `heap_live` and tells the observer.
    #[inline]
    pub(crate) fn heap_live_sub(&self, bytes: u64) {
        let old = self.heap_live.fetch_sub(bytes, Ordering::Relaxed);
        self.heap_live_changed(old.wrapping_sub(bytes));
    }

    /// The calling thread's P, as the host reports it.
    #[inline]
    pub fn current_p(&self) -> Option<usize> {
        self.current_p.get().and_then(|f| f())
    }

    /// Allocate-black: while on, every new object is born marked (Go's
    /// `gcmarknewobject`). The collector turns it on at the start of mark
    /// and off at mark termination.
    pub fn set_allocate_black(&self, on: bool) {
        self.set_flag(FLAG_ALLOCATE_BLACK, on);
    }

    /// While on, every allocation takes the slow path and calls the hook
    /// (for mark assists). Costs the fast path nothing when off: it tests
    /// the same flags word as allocate-black.
    pub fn set_always_slow(&self, on: bool) {
        self.set_flag(FLAG_ALWAYS_SLOW, on);
    }

    /// While on, allocations stay on the fast path (allocate-black marks
    /// there too) but each P calls the hook once it has allocated
    /// [`HOOK_BATCH_BYTES`] since its last call, with `size` = those bytes
    /// (capped at [`MAX_SMALL_SIZE`]; any rest is carried to the next call,
    /// so the sizes the hook sees add up to what was allocated). Go's mark
    /// assists work the same way: `mallocgc` only deducts from the
    /// goroutine's assist credit and assists when it runs out. A real slow
    /// path (refill, large object) adds the bytes counted so far as well;
    /// a large allocation's hook call is its own size only.
    pub fn set_hook_batch(&self, on: bool) {
        self.set_flag(FLAG_HOOK_BATCH, on);
    }

    fn set_flag(&self, bit: u32, on: bool) {
        // Relaxed: the flags are read by allocations on any thread; the
        // collector flips them with the world stopped, and starting the
        // world again orders the store before every mutator's next step.
        if on {
            self.flags.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Whether allocate-black is on.
    pub fn allocate_black(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & FLAG_ALLOCATE_BLACK != 0
    }

    /// `GODEBUG=clobberfree=1`: sweeping fills freed objects with
    /// [`CLOBBER_WORD`].
    pub fn set_clobber_free(&self, on: bool) {
        self.clobber_free.store(on, Ordering::Relaxed);
    }

    /// Allocates a zeroed object of at least `size` bytes and kind `kind`,
    /// 8-byte aligned (page aligned when larger than 32 KiB), on the
    /// calling thread's P. A precise object allocated here has no type
    /// (its collector trace does nothing) — the typed API uses
    /// [`Heap::alloc_precise`].
    #[inline]
    pub fn alloc(&self, size: usize, kind: ObjectKind) -> *mut u8 {
        let mut pin = self.pin();
        let r = self.alloc_typed(&mut pin, size, kind, None);
        pin.release();
        r
    }

    /// [`Heap::alloc`] on P `p` (None: the shared cache). The caller must be
    /// the thread running P `p` (the host's guarantee), or a test that uses
    /// `p` from one thread only.
    #[inline]
    pub fn alloc_on(&self, p: Option<usize>, size: usize, kind: ObjectKind) -> *mut u8 {
        self.alloc_typed(&mut Pin::unpinned(p), size, kind, None)
    }

    /// Allocates a zeroed precise object for a value of `value_size` bytes
    /// of the type `info` describes, on the calling thread's P, and returns
    /// the address of the **value**: the object's base when the type is
    /// kept outside the object (`value_size` ≤ [`TYPE_TABLE_MAX_SIZE`]),
    /// base + 8 when the object carries a header word
    /// ([`precise_header_bytes`]). The type is recorded before the object
    /// becomes visible to lookups.
    #[inline]
    pub fn alloc_precise(&self, value_size: usize, info: &'static TypeInfo) -> *mut u8 {
        let object = precise_object_size(value_size);
        let mut pin = self.pin();
        let base = self.alloc_typed(&mut pin, object, ObjectKind::Precise, Some(info));
        pin.release();
        base.wrapping_add(object - value_size)
    }

    /// [`Heap::alloc_precise`] on P `p` (see [`Heap::alloc_on`]).
    #[inline]
    pub fn alloc_precise_on(
        &self,
        p: Option<usize>,
        value_size: usize,
        info: &'static TypeInfo,
    ) -> *mut u8 {
        let object = precise_object_size(value_size);
        let base = self.alloc_typed(
            &mut Pin::unpinned(p),
            object,
            ObjectKind::Precise,
            Some(info),
        );
        base.wrapping_add(object - value_size)
    }

    /// The allocation path (malloc.go's four steps, see the essay): the
    /// cache's window, else [`Heap::alloc_slow`]. Returns the object base.
    #[inline(always)]
    fn alloc_typed(
        &self,
        pin: &mut Pin,
        size: usize,
        kind: ObjectKind,
        info: Option<&'static TypeInfo>,
    ) -> *mut u8 {
        let p = pin.p();
        let flags = self.flags.load(Ordering::Relaxed);
        if size <= MAX_SMALL_SIZE && flags & FLAG_ALWAYS_SLOW == 0 && self.poll_quiet() {
            if let Some(slot) = p.and_then(|p| self.caches.get(p)).and_then(|c| c.get()) {
                if flags & FLAG_HOOK_BATCH != 0 && !slot.batch_allows(size) {
                    return self.alloc_slow(pin, size, kind, info);
                }
                let spc = SpanClass::new(size_to_class(size), kind);
                // SAFETY: only the thread running P `p` touches its cache
                // between safepoints (host guarantee, see `alloc_on`'s doc),
                // and nothing here is a safepoint.
                let got = slot.cache.with_mut(|c| unsafe {
                    let c = &mut (*c).spans[spc.index()];
                    let idx = c.next_free()?;
                    let addr = c.addr_of(idx);
                    prepare_slot(&self.pages, c, idx, addr, info);
                    if flags & FLAG_ALLOCATE_BLACK != 0 {
                        // Born black before it is visible (Go's
                        // `gcmarknewobject`).
                        (*c.span).mark_black(idx);
                    }
                    c.publish(idx);
                    Some((addr, c.elem_size))
                });
                if let Some((addr, elem)) = got {
                    slot.count(elem, addr);
                    return addr as *mut u8;
                }
                if flags & FLAG_HOOK_BATCH != 0 {
                    // The refill's hook call counts this allocation itself.
                    slot.batch_undo(size);
                }
            }
        }
        self.alloc_slow(pin, size, kind, info)
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(
        &self,
        pin: &mut Pin,
        size: usize,
        kind: ObjectKind,
        info: Option<&'static TypeInfo>,
    ) -> *mut u8 {
        let mut p = pin.p();
        if let Some(hook) = self.alloc_hook.get() {
            // Bytes the fast path allocated since the hook last ran (hook
            // batching), capped so that the hook still tells small from
            // large; the rest waits for the next call.
            let mut bytes = size;
            if size <= MAX_SMALL_SIZE {
                if let Some(slot) = p.and_then(|p| self.caches.get(p)).and_then(|c| c.get()) {
                    let total = slot.unhooked.load(Ordering::Relaxed) + size as u64;
                    bytes = total.min(MAX_SMALL_SIZE as u64) as usize;
                    slot.unhooked.store(total - bytes as u64, Ordering::Relaxed);
                }
            }
            // The hook may be a safepoint (the goroutine may stop, yield and
            // resume on another P): unpinned around it, pinned again after,
            // which re-reads the P.
            let pinned = pin.is_pinned();
            pin.release();
            hook(self, bytes);
            if pinned {
                *pin = self.pin();
                p = pin.p();
            } else if self.current_p.get().is_some() {
                p = self.current_p();
            }
        }
        if size > MAX_SMALL_SIZE {
            return self.alloc_large(p, size, kind, info);
        }
        let spc = SpanClass::new(size_to_class(size), kind);
        match p.filter(|&p| p < MAX_PROCS) {
            Some(p) => {
                let slot = self.caches[p].get_or_init(|| Box::new(CacheSlot::new()));
                self.alloc_small_in(slot, spc, info)
            }
            None => {
                let slot = self.shared.lock();
                self.alloc_small_in(&slot, spc, info)
            }
        }
    }

    /// Allocates from `slot`'s span of class `spc`, refilling it if needed.
    fn alloc_small_in(
        &self,
        slot: &CacheSlot,
        spc: SpanClass,
        info: Option<&'static TypeInfo>,
    ) -> *mut u8 {
        let black = self.allocate_black();
        // SAFETY: the caller is the thread running the slot's P, or holds the
        // shared-cache lock; either way nobody else touches this cache.
        let (addr, elem) = slot.cache.with_mut(|c| unsafe {
            let c = &mut (*c).spans[spc.index()];
            let idx = match c.next_free() {
                Some(i) => i,
                None => {
                    if let Some(old) = c.release() {
                        self.uncache_span(old);
                    }
                    c.load(self.cache_span(spc));
                    c.next_free()
                        .unwrap_or_else(|| crate::rt_throw!("runtime: fresh span has no free slot"))
                }
            };
            let addr = c.addr_of(idx);
            prepare_slot(&self.pages, c, idx, addr, info);
            if black {
                // Born black before it is visible: no marker can find it
                // white in between.
                (*c.span).mark_black(idx);
            }
            c.publish(idx);
            (addr, c.elem_size)
        });
        slot.count(elem, addr);
        addr as *mut u8
    }

    /// A span of its own for an object over 32 KiB.
    fn alloc_large(
        &self,
        p: Option<usize>,
        size: usize,
        kind: ObjectKind,
        info: Option<&'static TypeInfo>,
    ) -> *mut u8 {
        let npages = size.div_ceil(PAGE_SIZE);
        let mut dirty = Vec::new();
        let s = self.pages.alloc_span_dirty(
            &self.arena,
            npages,
            SpanClass::new(0, kind),
            self.sweepgen.load(Ordering::Relaxed),
            SpanState::Large,
            Some(&mut dirty),
        );
        let span = s.get();
        let addr = span.start();
        if npages * PAGE_SIZE >= arena::HUGE_SPAN_BYTES {
            self.arena
                .advise_huge(self.arena.page_of(addr), npages, true);
        }
        // The zeroing rule: only pages that held data need clearing; fresh
        // and released pages are already zero. A short dirty run is cleared
        // by hand; in a long one, pages still in memory are cleared by hand
        // too (cheaper than faulting them in again) and pages that are not
        // are handed to the kernel, which supplies zero pages on first touch
        // (see "The zeroing rule").
        for (page, n) in dirty {
            if n >= RELEASE_TO_ZERO_PAGES {
                self.arena.residency_runs(page, n, |p, k, resident| {
                    if resident {
                        zero(self.arena.page_addr(p), k * PAGE_SIZE);
                    } else {
                        self.arena.release(p, k);
                    }
                });
            } else {
                zero(self.arena.page_addr(page), n * PAGE_SIZE);
            }
        }
        if let (ObjectKind::Precise, Some(info)) = (kind, info) {
            store_header(addr, info);
        }
        self.heap_live_add((npages * PAGE_SIZE) as u64);
        span.alloc_count.store(1, Ordering::Relaxed);
        if self.allocate_black() {
            span.try_mark(0);
        }
        // The one slot is allocated from now on.
        span.free_index.store(1, Ordering::Release);
        self.large.lock().inuse.push(s);
        let bytes = npages * PAGE_SIZE;
        match p.filter(|&p| p < MAX_PROCS) {
            Some(p) => self.caches[p]
                .get_or_init(|| Box::new(CacheSlot::new()))
                .count(bytes, addr),
            None => self.shared.lock().count(bytes, addr),
        }
        addr as *mut u8
    }

    /// Gives every span cached by P `p` back to the centrals (Go's
    /// `mcache.releaseAll`). Call from the thread running `p`, or with the
    /// world stopped.
    pub fn flush_cache(&self, p: usize) {
        if let Some(slot) = self.caches.get(p).and_then(|c| c.get()) {
            self.flush_slot(slot);
        }
    }

    /// Flushes every P's cache and the shared one. Call with the world
    /// stopped (mark termination, before [`Heap::start_sweep_cycle`]).
    pub fn flush_caches(&self) {
        for c in self.caches.iter() {
            if let Some(slot) = c.get() {
                self.flush_slot(slot);
            }
        }
        let slot = self.shared.lock();
        self.flush_slot(&slot);
    }

    pub(crate) fn flush_slot(&self, slot: &CacheSlot) {
        // SAFETY: the caller has exclusive use of the cache (its P's thread,
        // stopped world, or the shared lock).
        slot.cache.with_mut(|c| unsafe {
            for cs in (*c).spans.iter_mut() {
                if let Some(s) = cs.release() {
                    self.uncache_span(s);
                }
            }
        });
    }

    /// Maps any address to the allocated object containing it, in O(1):
    /// arena bounds check, page → span table, slot index by multiply and
    /// shift, allocation bit. Interior pointers count; an address in a free
    /// slot, in a span's tail waste, on a free page or outside the arena
    /// gives None.
    ///
    /// One-past-the-end: an address equal to `base + size` of an object is
    /// the next slot (or the tail), so it does not keep the object alive.
    /// [`crate::ptr::GcSlice`] allocates one spare byte so that the end
    /// pointer of its elements stays inside its own slot (Boehm's
    /// padding-byte rule, applied where Rust creates end pointers: slice
    /// iteration).
    #[inline]
    pub fn find_object(&self, addr: usize) -> Option<ObjectRef<'_>> {
        let sp = self.arena.span_of(addr);
        if sp.is_null() {
            return None;
        }
        // SAFETY: non-null table entries point at span structures owned by
        // this heap, which live as long as `self`.
        let span = unsafe { &*sp };
        let state = span.state();
        if state != SpanState::InCache && state != SpanState::InCentral && state != SpanState::Large
        {
            return None;
        }
        let start = span.start();
        if addr < start || addr >= start + span.npages() * PAGE_SIZE {
            return None;
        }
        let index = span.slot_of(addr)?;
        if !span.is_allocated(index) {
            return None;
        }
        let size = span.elem_size();
        Some(ObjectRef {
            base: start + index * size,
            size,
            kind: span.kind(),
            index,
            span,
        })
    }

    /// Marks the object containing `addr` (interior pointers count); Some(true)
    /// if it was white, Some(false) if already marked, None if `addr` is
    /// not in an allocated object.
    #[inline]
    pub fn try_mark(&self, addr: usize) -> Option<bool> {
        self.find_object(addr).map(|o| o.try_mark())
    }

    /// Whether the object containing `addr` is marked (None: no object).
    #[inline]
    pub fn is_marked(&self, addr: usize) -> Option<bool> {
        self.find_object(addr).map(|o| o.is_marked())
    }

    /// Reports the pointers held by `obj` to `sink`: nothing for noscan;
    /// the `Trace` impl (through the object's type information) for
    /// precise objects, which reports exact object bases through
    /// [`TraceSink::edge`]; every aligned word for conservative objects,
    /// through [`TraceSink::candidate`].
    pub fn trace_object(&self, obj: &ObjectRef<'_>, sink: &mut dyn TraceSink) {
        match obj.kind {
            ObjectKind::Noscan => {}
            ObjectKind::Precise => {
                if let Some(ti) = obj.type_info() {
                    let mut t = Tracer::new(sink);
                    // SAFETY: the uniform word, table entry or header word
                    // names the type of the value at `obj.value()` (recorded by
                    // `alloc_precise` before the slot was published).
                    unsafe { (ti.trace)(obj.value(), &mut t) };
                }
            }
            ObjectKind::Conservative => {
                let mut a = obj.base;
                while a < obj.base + obj.size {
                    sink.candidate(load_word(a));
                    a += 8;
                }
            }
        }
    }

    /// Scans a grey object for the collector: calls `f` with every edge of
    /// a precise object (object bases, through its type's `trace`) or every
    /// word of a conservative one, and returns the object's slot size.
    ///
    /// `base` must be the base of an object that is allocated and marked —
    /// a grey object, which nothing frees while marking runs — so the lookup
    /// is the page table and the slot index only, without
    /// [`Heap::find_object`]'s state and allocation checks (checked in
    /// debug builds).
    #[inline]
    pub fn scan_object(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize {
        let sp = self.arena.span_of(base);
        if sp.is_null() {
            crate::rt_throw!("runtime: grey object {base:#x} is in no span");
        }
        // SAFETY: non-null table entries point at span structures owned by
        // this heap, which live as long as `self`.
        let span = unsafe { &*sp };
        let index = match span.slot_of(base) {
            Some(i) if cfg!(not(debug_assertions)) || span.is_allocated(i) => i,
            _ => crate::rt_throw!("runtime: grey object {base:#x} is not an allocated object"),
        };
        let size = span.elem_size();
        match span.kind() {
            ObjectKind::Noscan => {}
            ObjectKind::Precise => {
                if let Some(ti) = span.type_of(index, base) {
                    let mut t = Tracer::from_fn(f);
                    // SAFETY: as in `trace_object`.
                    unsafe { (ti.trace)(base + span.header_bytes(), &mut t) };
                }
            }
            ObjectKind::Conservative => {
                let mut a = base;
                while a < base + size {
                    f(load_word(a));
                    a += 8;
                }
            }
        }
        size
    }

    /// The span of a span-scanned span's entry or key (its start address,
    /// optionally with a slot index in the bits below the page): a span
    /// that holds marked objects, so it is live and in the page table.
    #[inline]
    fn marking_span(&self, addr: usize) -> &Span {
        let sp = self.arena.span_of(addr);
        if sp.is_null() {
            crate::rt_throw!("runtime: span entry {addr:#x} is in no span");
        }
        // SAFETY: non-null table entries point at span structures owned by
        // this heap, which live as long as `self`.
        let span = unsafe { &*sp };
        debug_assert!(span.is_span_scanned() && span.start() == addr & !(PAGE_SIZE - 1));
        span
    }

    /// Takes a span entry (`crate::mark::span`): releases the span and
    /// claims into `out` the objects the caller must scan. `entry` is the
    /// span's start with `(slot << 1) | 1` in the bits below the page.
    /// Returns the number claimed.
    pub(crate) fn take_span(&self, entry: usize, out: &mut crate::mark::span::SpanBits) -> usize {
        let span = self.marking_span(entry);
        let first = (entry & (PAGE_SIZE - 1)) >> 1;
        crate::mark::span::take(
            &span.owned,
            &span.mark_bits,
            &span.scanned,
            first,
            span.bitmap_words(),
            out,
        )
    }

    /// For a span-scanned span of precise objects at `start`: its slots'
    /// range (first byte, bytes) and `div_mul` (see
    /// `ObjectGraph::local_range`). None for conservative spans.
    pub(crate) fn span_local_range(&self, start: usize) -> Option<(usize, usize, u64)> {
        let span = self.marking_span(start);
        (span.kind() == ObjectKind::Precise).then(|| {
            (
                start,
                span.nelems() * span.elem_size(),
                span.div_mul.load(Ordering::Relaxed),
            )
        })
    }

    /// Marks the objects of `bits` (found by the caller in the span at
    /// `start`, which it is scanning) and keeps those it claims for
    /// scanning; returns the bytes this call marked.
    pub(crate) fn mark_span(&self, start: usize, bits: &mut crate::mark::span::SpanBits) -> usize {
        let span = self.marking_span(start);
        let n = crate::mark::span::mark_and_claim(
            &span.mark_bits,
            &span.scanned,
            bits,
            span.bitmap_words(),
        );
        n * span.elem_size()
    }

    /// Scans the claimed objects `bits` of the span at `start`, in address
    /// order, calling `f` with every edge (precise) or word (conservative);
    /// returns the bytes scanned. The span's kind, slot size and, while
    /// the span is uniform, the type are read once.
    pub(crate) fn scan_span(
        &self,
        start: usize,
        bits: &crate::mark::span::SpanBits,
        f: &mut dyn FnMut(usize),
    ) -> usize {
        let span = self.marking_span(start);
        let size = span.elem_size();
        let words = span.bitmap_words();
        let mut n = 0;
        match span.kind() {
            ObjectKind::Precise => {
                // Acquire: as in `Span::type_of`.
                let u = span.uniform.load(Ordering::Acquire);
                let uniform = if u != span::UNIFORM_MIXED {
                    Some(types::decode(u as u32))
                } else {
                    None
                };
                for (w, &word) in bits.iter().enumerate().take(words) {
                    let mut b = word;
                    while b != 0 {
                        let idx = w * 64 + b.trailing_zeros() as usize;
                        b &= b - 1;
                        n += 1;
                        let base = start + idx * size;
                        debug_assert!(span.is_allocated(idx) && span.is_marked(idx));
                        let ti = match uniform {
                            Some(t) => t,
                            None => span.type_of(idx, base),
                        };
                        if let Some(ti) = ti {
                            let mut t = Tracer::from_fn(f);
                            // SAFETY: as in `trace_object`: a claimed object is
                            // allocated and marked, and its type word (the
                            // span's while uniform) names its value's type.
                            unsafe { (ti.trace)(base, &mut t) };
                        }
                    }
                }
            }
            ObjectKind::Conservative => {
                for (w, &word) in bits.iter().enumerate().take(words) {
                    let mut b = word;
                    while b != 0 {
                        let idx = w * 64 + b.trailing_zeros() as usize;
                        b &= b - 1;
                        n += 1;
                        let base = start + idx * size;
                        let mut a = base;
                        while a < base + size {
                            f(load_word(a));
                            a += 8;
                        }
                    }
                }
            }
            ObjectKind::Noscan => {
                crate::rt_throw!("runtime: noscan span {start:#x} queued for scanning")
            }
        }
        n * size
    }

    /// A snapshot of the statistics: per-P counters summed on read.
    pub fn stats(&self) -> HeapStats {
        let mut mallocs = 0;
        let mut total_alloc = 0;
        for c in self.caches.iter() {
            if let Some(slot) = c.get() {
                mallocs += slot.mallocs.load(Ordering::Relaxed);
                total_alloc += slot.total_alloc.load(Ordering::Relaxed);
            }
        }
        {
            let s = self.shared.lock();
            mallocs += s.mallocs.load(Ordering::Relaxed);
            total_alloc += s.total_alloc.load(Ordering::Relaxed);
        }
        // Frees are read after mallocs: a concurrent sweep can only free
        // objects whose malloc was counted already, so frees ≤ mallocs.
        let frees = self.frees.load(Ordering::Relaxed);
        let freed_bytes = self.freed_bytes.load(Ordering::Relaxed);
        let (sys, inuse, released) = {
            let h = self.pages.inner.lock();
            (h.grown, h.inuse_pages, h.released_pages)
        };
        let page = PAGE_SIZE as u64;
        HeapStats {
            heap_alloc: total_alloc.saturating_sub(freed_bytes),
            heap_sys: sys as u64 * page,
            heap_idle: (sys - inuse) as u64 * page,
            heap_inuse: inuse as u64 * page,
            heap_released: released as u64 * page,
            heap_objects: mallocs.saturating_sub(frees),
            mallocs,
            frees,
            total_alloc,
        }
    }

    /// Go's `heapLive` (see the field): cheap, read by the pacer on every
    /// slow path. Counts the free slots of cached spans, so it is at least
    /// `stats().heap_alloc` between sweeps.
    #[inline]
    pub fn heap_live(&self) -> u64 {
        self.heap_live.load(Ordering::Relaxed)
    }

    /// Bytes reserved for the arena.
    pub fn arena_bytes(&self) -> usize {
        self.arena.npages * PAGE_SIZE
    }

    /// Whether `addr` lies in this heap's arena (a cheap prefilter for
    /// conservative scanning).
    #[inline]
    pub fn in_arena(&self, addr: usize) -> bool {
        self.arena.contains(addr)
    }
}

/// The object size for a precise value of `value_size` bytes, header
/// included ([`crate::size::precise_object_bytes`]); a size that would
/// wrap is Go's `fatal error: out of memory` (`mcache.allocLarge`), never a
/// wrapped small object.
#[inline(always)]
fn precise_object_size(value_size: usize) -> usize {
    match crate::size::precise_object_bytes(value_size) {
        Some(object) => object,
        None => precise_too_large(),
    }
}

#[cold]
#[inline(never)]
fn precise_too_large() -> ! {
    crate::rt_throw!("out of memory")
}

/// Readies a slot taken from a cached span before [`CachedSpan::publish`]
/// makes it visible: zeroes it if the span needs it, then records its
/// type — nothing at all while the span stays uniform in it (see
/// `Span::uniform`), the table entry once the span is mixed (0 for an
/// untyped allocation, so no stale entry survives), or the header word of
/// a bigger precise object.
#[inline(always)]
fn prepare_slot(
    pages: &PageHeap,
    c: &mut CachedSpan,
    idx: usize,
    addr: usize,
    info: Option<&'static TypeInfo>,
) {
    if c.needzero {
        zero(addr, c.elem_size);
    }
    if c.typed {
        let w = info.map_or(0, types::encode);
        if u64::from(w) != c.uniform || w == 0 {
            if c.uniform == span::UNIFORM_MIXED {
                types::store_type_word(types::entry_addr(c.table, idx), w);
            } else {
                c.note_type(pages, idx, w);
            }
        }
    } else if let Some(info) = info {
        store_header(addr, info);
    }
}

/// Writes the header word of a precise object bigger than
/// [`TYPE_TABLE_MAX_SIZE`] (before its slot is published).
#[inline]
#[allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics): see cell.rs
fn store_header(base: usize, info: &'static TypeInfo) {
    // SAFETY: `base` is the word-aligned start of a slot the allocating
    // thread owns and has not published; stale lookups may read it, hence
    // atomic.
    unsafe {
        (*(base as *const core::sync::atomic::AtomicUsize))
            .store(info as *const TypeInfo as usize, Ordering::Relaxed)
    };
}

/// A dirty run of at least this many pages (1 MiB) in a new large span is
/// worth a `mincore` call: its non-resident pages are zeroed by
/// `MADV_DONTNEED` (nothing to write, and they stay out of RSS until
/// touched) and only its resident pages by hand. Shorter runs are cleared
/// by hand outright.
const RELEASE_TO_ZERO_PAGES: usize = (1 << 20) / PAGE_SIZE;

/// Clears `n` bytes at `addr` (an object slot the caller owns).
#[inline]
fn zero(addr: usize, n: usize) {
    if n <= 32 {
        // Small slots (a multiple of 8 bytes): up to four word stores beat a
        // call into libc's memset. Volatile only so LLVM does not turn the
        // loop back into that call.
        let p = addr as *mut u64;
        for i in 0..n / 8 {
            // SAFETY: as below; `i < n / 8` stays inside the slot, which is
            // 8-byte aligned.
            unsafe { p.add(i).write_volatile(0) };
        }
        return;
    }
    // SAFETY: `[addr, addr+n)` is an object slot just handed to the caller,
    // inside the mapped arena; nobody else reads or writes it yet.
    unsafe { std::ptr::write_bytes(addr as *mut u8, 0, n) };
}

static GLOBAL: OnceLock<Heap> = OnceLock::new();

/// Installs the process-wide heap with `config` (once; later calls and
/// calls after [`global`] created the default heap return the existing
/// heap unchanged, with `Err`).
pub fn init_global(config: HeapConfig) -> Result<&'static Heap, &'static Heap> {
    let mut fresh = false;
    let h = GLOBAL.get_or_init(|| {
        fresh = true;
        Heap::new(config)
            .unwrap_or_else(|e| crate::rt_throw!("runtime: cannot reserve the heap arena: {e}"))
    });
    if fresh {
        Ok(h)
    } else {
        Err(h)
    }
}

/// The process-wide heap the typed API allocates from; created with the
/// default configuration on first use if [`init_global`] was not called.
#[inline]
pub fn global() -> &'static Heap {
    match GLOBAL.get() {
        Some(h) => h,
        None => global_slow(),
    }
}

#[cold]
fn global_slow() -> &'static Heap {
    GLOBAL.get_or_init(|| {
        Heap::new(HeapConfig::default())
            .unwrap_or_else(|e| crate::rt_throw!("runtime: cannot reserve the heap arena: {e}"))
    })
}

#[cfg(all(test, loom))]
mod loom_heap;
#[cfg(all(test, not(loom)))]
mod tests;
