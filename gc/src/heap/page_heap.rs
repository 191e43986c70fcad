//! The page heap (Go's `mheap`): free runs of pages, coalesced on free,
//! grown from the arena, scavenged back to the OS.
//!
//! See [crate::heap] for the overview.

use super::arena::Arena;
use super::size_class::NUM_SIZE_CLASSES;
use super::span::{Span, SpanClass, SpanPtr, SpanState};
use super::types;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Mutex;
use std::collections::BTreeMap;

/// The heap grows the arena in steps of at least this many pages (1 MiB),
/// as Go asks the OS for at least 1 MB at a time.
pub(crate) const GROW_MIN_PAGES: usize = 128;

/// Everything behind the page-heap lock.
#[derive(Debug)]
pub(crate) struct PageHeapInner {
    /// Free runs: start page → length in pages. Never two adjacent runs
    /// (free coalesces with both neighbours).
    pub(crate) free: BTreeMap<usize, usize>,
    /// Pages `[0, grown)` of the arena are in use by the heap (heap_sys).
    pub(crate) grown: usize,
    /// Per page: released to the OS (fresh from the arena or
    /// `MADV_DONTNEED`ed); meaningful for free pages.
    scavenged: Vec<u64>,
    /// Per page: may hold old data; meaningful for free pages that are not
    /// scavenged.
    needzero: Vec<u64>,
    /// Pages in spans (heap_inuse / PAGE_SIZE).
    pub(crate) inuse_pages: usize,
    /// Free pages whose memory is released (heap_released / PAGE_SIZE).
    pub(crate) released_pages: usize,
    /// Dead span structures ready for reuse (Go's `fixalloc` free list).
    pool: Vec<SpanPtr>,
    /// Every span structure ever made, freed when the heap is dropped.
    all: Vec<SpanPtr>,
    /// Type tables of dead spans, by size class, ready for the next span
    /// of the class that turns mixed (`types.rs`). Freed with the heap.
    tables: Vec<Vec<usize>>,
    /// Bytes of every type table ever made (live and pooled).
    table_bytes: usize,
}

/// The page heap: one lock over the free runs and the span pool.
#[derive(Debug)]
pub(crate) struct PageHeap {
    /// Lock rank `gc.heap.page_heap` (docs/lock-order.md).
    pub(crate) inner: Mutex<PageHeapInner>,
}

fn get_bit(v: &[u64], i: usize) -> bool {
    v[i / 64] & (1 << (i % 64)) != 0
}

/// Calls `f(word index, mask)` for each bitmap word overlapping pages
/// `[from, from + n)`, with the mask of the pages in range: bitmap work is
/// per 64 pages, so a 100 MB span costs ~200 word operations, not 12 000.
fn for_words(from: usize, n: usize, mut f: impl FnMut(usize, u64)) {
    let end = from + n;
    let mut i = from;
    while i < end {
        let w = i / 64;
        let lo = i % 64;
        let hi = (end - w * 64).min(64);
        let mask = if hi - lo == 64 {
            u64::MAX
        } else {
            ((1u64 << (hi - lo)) - 1) << lo
        };
        f(w, mask);
        i = (w + 1) * 64;
    }
}

fn set_bits(v: &mut [u64], from: usize, n: usize, on: bool) {
    for_words(from, n, |w, m| {
        if on {
            v[w] |= m;
        } else {
            v[w] &= !m;
        }
    });
}

#[cfg(test)]
fn count_bits(v: &[u64], from: usize, n: usize) -> usize {
    (from..from + n).filter(|&i| get_bit(v, i)).count()
}

impl PageHeap {
    pub(crate) fn new(arena_pages: usize) -> PageHeap {
        let words = arena_pages.div_ceil(64);
        PageHeap {
            inner: Mutex::new(PageHeapInner {
                free: BTreeMap::new(),
                grown: 0,
                scavenged: vec![0; words],
                needzero: vec![0; words],
                inuse_pages: 0,
                released_pages: 0,
                pool: Vec::new(),
                all: Vec::new(),
                tables: vec![Vec::new(); NUM_SIZE_CLASSES],
                table_bytes: 0,
            }),
        }
    }

    /// Allocates a span of `npages` pages for `spanclass`, points the page
    /// table at it and returns it in state `state` (InCache or Large).
    pub(crate) fn alloc_span(
        &self,
        arena: &Arena,
        npages: usize,
        spanclass: SpanClass,
        sweepgen: u32,
        state: SpanState,
    ) -> SpanPtr {
        self.alloc_span_dirty(arena, npages, spanclass, sweepgen, state, None)
    }

    /// [`PageHeap::alloc_span`], also listing the runs of pages that hold
    /// old data in `dirty` (start page, pages), so a large allocation clears
    /// only those. The span's `needzero` is false when `dirty` is given (the
    /// caller clears).
    pub(crate) fn alloc_span_dirty(
        &self,
        arena: &Arena,
        npages: usize,
        spanclass: SpanClass,
        sweepgen: u32,
        state: SpanState,
        dirty: Option<&mut Vec<(usize, usize)>>,
    ) -> SpanPtr {
        let mut h = self.inner.lock();
        let want_runs = dirty.is_some();
        let (page, needzero) = h.alloc_pages(arena, npages, dirty);
        let needzero = needzero && !want_runs;
        let s = h.pool.pop().unwrap_or_else(|| {
            let p = SpanPtr(Box::into_raw(Box::new(Span::new_dead())));
            h.all.push(p);
            p
        });
        let span = s.get();
        span.init(arena.page_addr(page), npages, spanclass, sweepgen, needzero);
        span.set_state(state);
        arena.set_span(page, npages, s.0);
        s
    }

    /// Frees the pages of `s` (which the caller owns exclusively: a sweeper
    /// that claimed it) and pools the span structure.
    pub(crate) fn free_span(&self, arena: &Arena, s: SpanPtr) {
        let span = s.get();
        let mut h = self.inner.lock();
        let page = arena.page_of(span.start());
        let n = span.npages();
        arena.set_span(page, n, std::ptr::null());
        span.set_state(SpanState::Dead);
        h.free_pages(page, n);
        // The span's type table, if it had one, goes to the pool (its
        // address stays in the dead span until `Span::init`: a stale
        // reader may still read it, and a pooled table is never freed).
        let table = span.table.load(Ordering::Relaxed);
        if table != 0 {
            h.tables[span.spanclass().size_class()].push(table);
        }
        h.pool.push(s);
    }

    /// A type table for a span of size class `class` with `nelems` slots
    /// (every span of a small class has the same number), from the pool or
    /// new; the caller fills every entry before publishing it.
    pub(crate) fn take_table(&self, class: usize, nelems: usize) -> usize {
        let mut h = self.inner.lock();
        if let Some(t) = h.tables[class].pop() {
            debug_assert_eq!(types::table_cap(t), nelems);
            return t;
        }
        h.table_bytes += types::table_bytes(nelems);
        types::new_table(nelems)
    }
}

/// What the page heap's own bookkeeping occupies (for MemStats, see
/// [`super::HeapMetadata`]), read under the page-heap lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PageHeapFootprint {
    /// Span structures ever made (live and pooled).
    pub(crate) spans_made: usize,
    /// Span structures in the pool (dead, ready for reuse).
    pub(crate) spans_pooled: usize,
    /// Capacity of the `all` and `pool` pointer vectors, in entries.
    pub(crate) span_ptr_capacity: usize,
    /// Pages grown (heap_sys / PAGE_SIZE).
    pub(crate) grown: usize,
    /// Words in each of the two per-page bitmaps (scavenged, need-zero).
    pub(crate) bitmap_words: usize,
    /// Free runs in the `free` map.
    pub(crate) free_runs: usize,
    /// Bytes of type tables made (live and pooled).
    pub(crate) table_bytes: usize,
}

impl PageHeap {
    /// The page heap's bookkeeping figures (takes the page-heap lock).
    pub(crate) fn footprint(&self) -> PageHeapFootprint {
        let h = self.inner.lock();
        PageHeapFootprint {
            spans_made: h.all.len(),
            spans_pooled: h.pool.len(),
            span_ptr_capacity: h.all.capacity() + h.pool.capacity(),
            grown: h.grown,
            bitmap_words: h.scavenged.len(),
            free_runs: h.free.len(),
            table_bytes: h.table_bytes,
        }
    }
}

impl PageHeapInner {
    /// First fit by address (Go's page allocator also returns the lowest
    /// address). Returns the first page and whether any page needs zeroing.
    pub(crate) fn alloc_pages(
        &mut self,
        arena: &Arena,
        npages: usize,
        mut dirty: Option<&mut Vec<(usize, usize)>>,
    ) -> (usize, bool) {
        let found = self
            .free
            .iter()
            .find(|(_, &n)| n >= npages)
            .map(|(&p, &n)| (p, n));
        let (start, len) = match found {
            Some(r) => r,
            None => {
                self.grow(arena, npages);
                self.free
                    .iter()
                    .find(|(_, &n)| n >= npages)
                    .map(|(&p, &n)| (p, n))
                    .unwrap_or_else(|| crate::rt_throw!("runtime: page heap grew but found no run"))
            }
        };
        self.free.remove(&start);
        if len > npages {
            self.free.insert(start + npages, len - npages);
        }
        // Scavenged pages read as zero (fresh, or MADV_DONTNEED of private
        // anonymous memory); others need zeroing if they were ever used.
        let mut needzero = false;
        let mut released = 0;
        let (scav, nz) = (&self.scavenged, &self.needzero);
        for_words(start, npages, |w, m| {
            released += (scav[w] & m).count_ones() as usize;
            let dirty_bits = nz[w] & !scav[w] & m;
            if dirty_bits == 0 {
                return;
            }
            needzero = true;
            if let Some(d) = dirty.as_deref_mut() {
                let mut bits = dirty_bits;
                while bits != 0 {
                    let p = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    match d.last_mut() {
                        Some((s, n)) if *s + *n == p => *n += 1,
                        _ => d.push((p, 1)),
                    }
                }
            }
        });
        self.released_pages -= released;
        set_bits(&mut self.scavenged, start, npages, false);
        set_bits(&mut self.needzero, start, npages, false);
        self.inuse_pages += npages;
        (start, needzero)
    }

    fn grow(&mut self, arena: &Arena, npages: usize) {
        // A free run at the end of the grown region counts towards the request.
        let tail = self
            .free
            .range(..self.grown)
            .next_back()
            .filter(|(&p, &n)| p + n == self.grown)
            .map(|(_, &n)| n)
            .unwrap_or(0);
        let need = npages.saturating_sub(tail).max(GROW_MIN_PAGES);
        let need = need.min(arena.npages - self.grown);
        if tail + need < npages {
            crate::rt_throw!(
                "out of memory: the heap arena of {} bytes is exhausted (HeapConfig::arena_bytes sets its size)",
                arena.npages * super::PAGE_SIZE
            );
        }
        let start = self.grown;
        self.grown += need;
        // Fresh pages are "released": never touched, zero on first touch
        // (Go also marks newly grown memory scavenged).
        set_bits(&mut self.scavenged, start, need, true);
        set_bits(&mut self.needzero, start, need, false);
        self.released_pages += need;
        self.insert_free(start, need);
    }

    /// Returns pages to the free runs, coalescing with both neighbours.
    pub(crate) fn free_pages(&mut self, page: usize, npages: usize) {
        set_bits(&mut self.needzero, page, npages, true);
        set_bits(&mut self.scavenged, page, npages, false);
        self.inuse_pages -= npages;
        self.insert_free(page, npages);
    }

    fn insert_free(&mut self, mut page: usize, mut npages: usize) {
        if let Some((&p, &n)) = self.free.range(..page).next_back() {
            if p + n == page {
                self.free.remove(&p);
                page = p;
                npages += n;
            }
        }
        if let Some(n) = self.free.remove(&(page + npages)) {
            npages += n;
        }
        self.free.insert(page, npages);
    }

    /// Releases free, unreleased pages to the OS, highest addresses first,
    /// until at most `retain` pages of the grown heap are backed or
    /// `budget` pages were released. Returns pages released.
    pub(crate) fn scavenge(&mut self, arena: &Arena, retain: usize, budget: usize) -> usize {
        let mut released = 0;
        let runs: Vec<(usize, usize)> = self.free.iter().rev().map(|(&p, &n)| (p, n)).collect();
        'runs: for (start, n) in runs {
            let mut p = start + n;
            while p > start {
                if self.grown - self.released_pages <= retain || released >= budget {
                    break 'runs;
                }
                // Find the maximal unreleased stretch ending at p.
                p -= 1;
                if get_bit(&self.scavenged, p) {
                    continue;
                }
                let end = p + 1;
                let want = (self.grown - self.released_pages - retain).min(budget - released);
                let mut lo = p;
                while lo > start && !get_bit(&self.scavenged, lo - 1) && end - lo < want {
                    lo -= 1;
                }
                arena.release(lo, end - lo);
                set_bits(&mut self.scavenged, lo, end - lo, true);
                set_bits(&mut self.needzero, lo, end - lo, false);
                self.released_pages += end - lo;
                released += end - lo;
                p = lo;
            }
        }
        released
    }

    /// Pages in free runs (heap_idle / PAGE_SIZE).
    #[cfg(test)]
    pub(crate) fn idle_pages(&self) -> usize {
        self.grown - self.inuse_pages
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut prev_end = None;
        let mut free_total = 0;
        let mut released = 0;
        for (&p, &n) in &self.free {
            assert!(n > 0);
            if let Some(e) = prev_end {
                assert!(
                    p > e,
                    "runs at {p} not coalesced with the run ending at {e}"
                );
            }
            prev_end = Some(p + n);
            free_total += n;
            released += count_bits(&self.scavenged, p, n);
        }
        assert_eq!(free_total, self.idle_pages(), "free runs vs grown − inuse");
        assert_eq!(released, self.released_pages, "released page count");
    }
}

impl Drop for PageHeap {
    fn drop(&mut self) {
        let h = self.inner.lock();
        for s in &h.all {
            // Tables of live spans; those of dead ones are in the pool.
            let span = s.get();
            let table = span.table.load(Ordering::Relaxed);
            if table != 0 && span.state() != SpanState::Dead {
                // SAFETY: made by `new_table`, owned by this span, and the
                // heap is being dropped: nothing reads it any more.
                unsafe { types::free_table(table) };
            }
        }
        for &t in h.tables.iter().flatten() {
            // SAFETY: as above, for the pooled tables.
            unsafe { types::free_table(t) };
        }
        for s in &h.all {
            // SAFETY: every pointer in `all` came from Box::into_raw above
            // and the heap (the only owner of span structures) is being
            // dropped, so no reference to a span outlives this.
            drop(unsafe { Box::from_raw(s.0 as *mut Span) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn word_masks_cover_exactly_the_range() {
        for from in 0..130 {
            for n in 0..140 {
                let mut v = vec![0u64; 5];
                set_bits(&mut v, from, n, true);
                for i in 0..320 {
                    assert_eq!(
                        get_bit(&v, i),
                        (from..from + n).contains(&i),
                        "from {from} n {n} bit {i}"
                    );
                }
                assert_eq!(count_bits(&v, 0, 320), n);
                set_bits(&mut v, from, n, false);
                assert!(v.iter().all(|&w| w == 0));
            }
        }
    }
}
