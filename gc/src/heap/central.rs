//! The central lists (Go's `mcentral`): all spans of one span class that no
//! cache holds, shared by every P under one lock per class.
//!
//! See [crate::heap] for the overview.

use super::span::{SpanClass, SpanPtr, SpanState};
use super::{size_class, Heap};
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Mutex;

/// The lists of one span class. A span not held by a cache or a sweeper is
/// on exactly one of them.
#[derive(Debug, Default)]
pub(crate) struct CentralLists {
    /// Swept spans with at least one free slot.
    pub(crate) partial: Vec<SpanPtr>,
    /// Swept spans with no free slot.
    pub(crate) full: Vec<SpanPtr>,
    /// Spans not yet swept in this cycle (sweepgen h−2) that were partial
    /// when it began.
    pub(crate) unswept: Vec<SpanPtr>,
    /// Spans not yet swept in this cycle that were full when it began.
    /// Two lists so that starting a sweep cycle is O(1) per class: each
    /// empty unswept list trades places with its swept twin (Go flips the
    /// roles of its two span sets with `sweepgen += 2`).
    pub(crate) unswept_full: Vec<SpanPtr>,
}

/// One central: a lock and its lists. Lock rank `gc.heap.central`.
#[derive(Debug, Default)]
pub(crate) struct Central {
    pub(crate) lists: Mutex<CentralLists>,
}

impl Heap {
    /// Finds a span with free slots for `spc` and hands it to a cache
    /// (Go's `mcentral.cacheSpan`): a swept partial span, else one made
    /// partial by sweeping unswept spans of the class (lazy sweep), else a
    /// fresh span from the page heap.
    pub(crate) fn cache_span(&self, spc: SpanClass) -> SpanPtr {
        let central = &self.central[spc.index()];
        loop {
            let mut l = central.lists.lock();
            if let Some(s) = l.partial.pop() {
                drop(l);
                return self.took_span(s);
            }
            let Some(s) = l.unswept.pop().or_else(|| l.unswept_full.pop()) else {
                break;
            };
            drop(l);
            // Lazy sweep: this puts `s` on partial or full, or frees it.
            self.sweep_span(s);
        }
        let npages = size_class::CLASS_TO_NPAGES[spc.size_class()] as usize;
        let s = self.pages.alloc_span(
            &self.arena,
            npages,
            spc,
            self.sweepgen.load(Ordering::Relaxed),
            SpanState::InCache,
        );
        self.took_span(s)
    }

    /// Bookkeeping for a span entering a cache: all its free slots count
    /// towards `heap_live` from now on (Go's `mcentral.cacheSpan`).
    fn took_span(&self, s: SpanPtr) -> SpanPtr {
        let span = s.get();
        span.set_state(SpanState::InCache);
        let free = span.nelems() - span.alloc_count.load(Ordering::Relaxed);
        self.heap_live_add((free * span.elem_size()) as u64);
        s
    }

    /// Takes a span back from a cache (Go's `mcentral.uncacheSpan`). The
    /// cache has already committed its allocations (`CachedSpan::release`).
    pub(crate) fn uncache_span(&self, s: SpanPtr) {
        let span = s.get();
        // The slots the cache did not use stop counting towards heap_live.
        let unused = span.nelems() - span.alloc_count.load(Ordering::Relaxed);
        self.heap_live_sub((unused * span.elem_size()) as u64);
        let mut l = self.central[span.spanclass().index()].lists.lock();
        span.set_state(SpanState::InCentral);
        if span.alloc_count.load(Ordering::Relaxed) == span.nelems() {
            l.full.push(s);
        } else {
            l.partial.push(s);
        }
    }
}
