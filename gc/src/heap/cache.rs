//! The per-P cache (Go's `mcache`): one span per span class, allocated from
//! without a lock, plus the P's allocation counters.
//!
//! See [crate::heap] for the overview.

use super::page_heap::PageHeap;
use super::span::{below_mask, Span, SpanPtr, NUM_SPAN_CLASSES, UNIFORM_MIXED};
use super::types;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// The cache's view of the span it allocates from for one span class.
/// Copies of the span's read-only fields sit here so the fast path touches
/// one cache line of the cache plus the span's `free_index`.
#[derive(Debug)]
pub(crate) struct CachedSpan {
    /// The span, or null when this class has none cached yet.
    pub(crate) span: *const Span,
    /// Span start (copy).
    pub(crate) base: usize,
    /// Object size (copy).
    pub(crate) elem_size: usize,
    /// Object slots (copy).
    pub(crate) nelems: usize,
    /// Slot index of bit 0 of `bits` (a multiple of 64).
    pub(crate) window: usize,
    /// Free slots of the window at or above the span's free_index (1 = free),
    /// masked to slots below `nelems` (Go's `allocCache`, not inverted).
    pub(crate) bits: u64,
    /// The span's `needzero` (copy, fixed while cached).
    pub(crate) needzero: bool,
    /// The span's `typed` (copy): its objects' types live in `uniform`
    /// or the table.
    pub(crate) typed: bool,
    /// The span's type table (copy, kept in step by `note_type`; 0 = none).
    pub(crate) table: usize,
    /// The span's `uniform` type word (copy, kept in step by `note_type`).
    pub(crate) uniform: u64,
}

impl CachedSpan {
    pub(crate) const EMPTY: CachedSpan = CachedSpan {
        span: std::ptr::null(),
        base: 0,
        elem_size: 0,
        nelems: 0,
        window: 0,
        bits: 0,
        needzero: false,
        typed: false,
        table: 0,
        uniform: 0,
    };

    /// Takes a span (owned by this cache from now on) and positions the
    /// window at its `free_index`.
    pub(crate) fn load(&mut self, s: SpanPtr) {
        let span = s.get();
        self.span = s.0;
        self.base = span.start();
        self.elem_size = span.elem_size();
        self.nelems = span.nelems();
        self.needzero = span.needzero.load(Ordering::Relaxed);
        self.typed = span.is_typed();
        self.table = span.table.load(Ordering::Relaxed);
        self.uniform = span.uniform.load(Ordering::Relaxed);
        let fi = span.free_index.load(Ordering::Relaxed);
        self.window = fi & !63;
        self.bits = self.window_bits(span, self.window) & !below_mask(fi, self.window / 64);
        if self.needzero {
            // Clear every free slot now, run by run, rather than each slot
            // as it is handed out: one memset per run writes whole cache
            // lines (no read-for-ownership per object) and keeps the fast
            // path free of the clearing. From here the free slots are zero
            // and only this cache writes them (the slots it allocates), so
            // the span no longer needs zeroing, for this cache or the next.
            self.zero_free_slots(span, fi);
            self.needzero = false;
            span.needzero.store(false, Ordering::Relaxed);
        }
    }

    /// Clears the free slots at or above `fi` (runs of clear alloc bits).
    fn zero_free_slots(&self, span: &Span, fi: usize) {
        for w in fi / 64..self.nelems.div_ceil(64) {
            let mut free = !span.alloc_bits[w].load(Ordering::Relaxed)
                & below_mask(self.nelems, w)
                & !below_mask(fi, w);
            while free != 0 {
                let lo = free.trailing_zeros() as usize;
                let len = (free >> lo).trailing_ones() as usize;
                super::zero(
                    self.base + (w * 64 + lo) * self.elem_size,
                    len * self.elem_size,
                );
                // Clear the run's bits (and those below it).
                free &= if lo + len >= 64 {
                    0
                } else {
                    !((1u64 << (lo + len)) - 1)
                };
            }
        }
    }

    fn window_bits(&self, span: &Span, window: usize) -> u64 {
        if window >= self.nelems {
            return 0;
        }
        let w = window / 64;
        !span.alloc_bits[w].load(Ordering::Relaxed) & below_mask(self.nelems, w)
    }

    /// The fast path: the next free slot of the window, or None. The slot
    /// is taken but not yet visible to lookups: the caller prepares it
    /// (zeroes it, writes its type) and then calls [`CachedSpan::publish`].
    #[inline(always)]
    pub(crate) fn next_free_fast(&mut self) -> Option<usize> {
        let bits = self.bits;
        if bits == 0 {
            return None;
        }
        let idx = self.window + bits.trailing_zeros() as usize;
        self.bits = bits & (bits - 1);
        Some(idx)
    }

    /// Moves the window forward over the span's alloc bits; the next free
    /// slot's index (taken, not yet published), or None when the span is
    /// full.
    #[inline]
    pub(crate) fn next_free(&mut self) -> Option<usize> {
        if self.bits != 0 {
            return self.next_free_fast();
        }
        self.next_free_refill()
    }

    #[inline(never)]
    fn next_free_refill(&mut self) -> Option<usize> {
        if self.span.is_null() {
            return None;
        }
        // SAFETY: non-null span pointers in a cache point to live spans.
        let span = unsafe { &*self.span };
        while self.bits == 0 {
            let next = self.window + 64;
            if next >= self.nelems {
                return None;
            }
            self.window = next;
            self.bits = self.window_bits(span, next);
        }
        self.next_free_fast()
    }

    /// An allocation in slot `idx` of a uniform (or still empty) typed span
    /// whose type word `w` differs from the span's uniform type: the first
    /// one sets it; any other — or an untyped allocation, `w` = 0 — turns
    /// the span mixed. Called before the slot is published, whose Release
    /// store publishes the uniform word as well.
    ///
    /// Turning mixed gives the span its type table (from the page heap's
    /// pool, `pages`): every entry is filled with the old uniform type
    /// (each slot allocated so far has it; free slots are written when
    /// they are allocated), slot `idx`'s with `w`; then the table is
    /// published, and only then `uniform` says mixed. A lookup that sees
    /// "mixed" therefore finds the table complete — the loom model
    /// `loom_span_turns_mixed` checks the hand-over.
    #[cold]
    #[inline(never)]
    pub(crate) fn note_type(&mut self, pages: &PageHeap, idx: usize, w: u32) {
        debug_assert!(self.typed && self.uniform != UNIFORM_MIXED);
        // SAFETY: a typed allocation has a loaded span.
        let span = unsafe { &*self.span };
        if self.uniform == 0 && w != 0 {
            self.uniform = u64::from(w);
            // Relaxed: no slot was allocated under the old word (0: none
            // yet); the Release store of `free_index` that publishes this
            // slot publishes the word with it.
            span.uniform.store(self.uniform, Ordering::Relaxed);
            return;
        }
        let table = pages.take_table(span.spanclass().size_class(), self.nelems);
        let old = self.uniform as u32;
        for i in 0..self.nelems {
            types::store_type_word(types::entry_addr(table, i), old);
        }
        types::store_type_word(types::entry_addr(table, idx), w);
        // Release: pairs with the Acquire load of `uniform` in
        // `Span::type_of` (through the one below); publishes the entries.
        span.table.store(table, Ordering::Release);
        // Release: pairs with the Acquire load in `Span::type_of`; a lookup
        // that sees "mixed" sees the table pointer and its entries.
        span.uniform.store(UNIFORM_MIXED, Ordering::Release);
        self.table = table;
        self.uniform = UNIFORM_MIXED;
    }

    /// Address of slot `idx`.
    #[inline(always)]
    pub(crate) fn addr_of(&self, idx: usize) -> usize {
        self.base + idx * self.elem_size
    }

    /// Makes slot `idx` (just taken, zeroed and typed) an allocated object
    /// for lookups.
    #[inline(always)]
    pub(crate) fn publish(&self, idx: usize) {
        // SAFETY: a slot was taken, so a span is loaded; span structures
        // outlive the heap's caches.
        let span = unsafe { &*self.span };
        // Release: pairs with the Acquire load in `Span::is_allocated`; a
        // lookup that sees the new index sees the slot zeroed and typed.
        span.free_index.store(idx + 1, Ordering::Release);
    }

    /// Gives the span up: commits the slots allocated since it was cached
    /// into its alloc bits and alloc count, and returns it.
    pub(crate) fn release(&mut self) -> Option<SpanPtr> {
        if self.span.is_null() {
            return None;
        }
        let s = SpanPtr(self.span);
        let span = s.get();
        let fi = span.free_index.load(Ordering::Relaxed);
        let mut count = 0;
        for w in 0..super::span::BITMAP_WORDS {
            let m = below_mask(fi, w);
            // Every slot below free_index is allocated (the cache hands out
            // the lowest free slot first); committing them keeps lookups right
            // after free_index is reset by the next sweep.
            let v = span.alloc_bits[w].fetch_or(m, Ordering::Release) | m;
            count += (v & span.valid_mask(w)).count_ones() as usize;
        }
        span.alloc_count.store(count, Ordering::Relaxed);
        *self = CachedSpan::EMPTY;
        Some(s)
    }
}

/// One P's cache: what only that P touches between safepoints.
#[derive(Debug)]
pub(crate) struct Cache {
    /// The span of each span class (index = `SpanClass::index`).
    pub(crate) spans: [CachedSpan; NUM_SPAN_CLASSES],
}

impl Cache {
    pub(crate) fn new() -> Box<Cache> {
        Box::new(Cache {
            spans: std::array::from_fn(|_| CachedSpan::EMPTY),
        })
    }
}

/// A P's cache plus its statistics. The counters are written only by the
/// owning P (a Relaxed load and store, no read-modify-write: a plain `mov`
/// on x86-64) and read by anyone who sums statistics (Relaxed: a reader
/// needs no ordering with other memory, only an untorn value).
#[derive(Debug)]
pub(crate) struct CacheSlot {
    /// The cache. Accessed only by the thread currently running the P
    /// (the host's guarantee), or under the heap's shared-cache lock for the
    /// shared slot, or by the collector with the world stopped.
    pub(crate) cache: UnsafeCell<Box<Cache>>,
    /// Objects allocated through this cache (Go's `Mallocs`, per P).
    pub(crate) mallocs: AtomicU64,
    /// Bytes allocated through this cache (Go's `TotalAlloc`, per P).
    pub(crate) total_alloc: AtomicU64,
    /// Bytes left before the next heap-profile sample (Go's
    /// `mcache.nextSample`); owner only, like the counters; reset to 0 by
    /// `profile::set_mem_profile_rate`.
    pub(crate) next_sample: AtomicU64,
    /// Bytes allocated on the fast path since the slow-path hook last ran
    /// on this P, while hook batching is on (`Heap::set_hook_batch`).
    /// Owner only, like the counters.
    pub(crate) unhooked: AtomicU64,
}

impl CacheSlot {
    pub(crate) fn new() -> CacheSlot {
        CacheSlot {
            cache: UnsafeCell::new(Cache::new()),
            mallocs: AtomicU64::new(0),
            total_alloc: AtomicU64::new(0),
            next_sample: AtomicU64::new(0),
            unhooked: AtomicU64::new(0),
        }
    }

    /// Hook batching: counts `size` more bytes on the fast path, or false
    /// when they would reach [`super::HOOK_BATCH_BYTES`] (the allocation
    /// then takes the slow path and the hook gets the count).
    #[inline(always)]
    pub(crate) fn batch_allows(&self, size: usize) -> bool {
        let u = self.unhooked.load(Ordering::Relaxed) + size as u64;
        if u >= super::HOOK_BATCH_BYTES {
            return false;
        }
        self.unhooked.store(u, Ordering::Relaxed);
        true
    }

    /// Takes back a `batch_allows(size)` whose allocation went to the slow
    /// path after all (span full).
    #[inline]
    pub(crate) fn batch_undo(&self, size: usize) {
        let u = self.unhooked.load(Ordering::Relaxed);
        self.unhooked
            .store(u.saturating_sub(size as u64), Ordering::Relaxed);
    }

    /// Adds one allocation of `bytes` at `addr` to the counters (owner
    /// only), and samples it for the heap profile when the countdown runs
    /// out (one compare-and-branch on the fast path; see `profile`).
    #[inline(always)]
    pub(crate) fn count(&self, bytes: usize, addr: usize) {
        let left = self.next_sample.load(Ordering::Relaxed);
        if bytes as u64 > left {
            self.next_sample
                .store(super::profile::sample(addr, bytes), Ordering::Relaxed);
        } else {
            self.next_sample
                .store(left - bytes as u64, Ordering::Relaxed);
        }
        self.mallocs
            .store(self.mallocs.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.total_alloc.store(
            self.total_alloc.load(Ordering::Relaxed) + bytes as u64,
            Ordering::Relaxed,
        );
    }
}

// SAFETY: the raw span pointers in a cache refer to span structures that live
// as long as the heap; the host guarantees one user at a time per P.
unsafe impl Send for CachedSpan {}
