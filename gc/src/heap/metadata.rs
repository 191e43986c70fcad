//! What the heap's own bookkeeping occupies, in Go's MemStats categories.
//!
//! See [crate::heap] for the overview ("Statistics"). Go counts the
//! allocator's metadata beside the heap: span structures in `MSpanSys`,
//! per-P caches in `MCacheSys`, collector bitmaps and the page allocator's
//! tables in `GCSys`, profile buckets in `BuckHashSys`, the rest in
//! `OtherSys`. gort's structures differ, so each figure below says which
//! of gort's structures it counts, and how:
//!
//! * **span structures** ([`Span`]): a fixed-size struct each, made once
//!   and pooled when dead (Go's `fixalloc`). Its two bitmaps (alloc and
//!   mark bits, one bit per slot) are Go's `gcBits` and go to `GCSys`;
//!   the rest of the struct is `MSpanSys` (`MSpanInuse` for live spans).
//! * **the page table** (one span pointer per arena page) and the page
//!   heap's two per-page bitmaps (scavenged, need-zero): `GCSys`, as Go's
//!   heap-arena metadata and page-allocator bitmaps are `gcMiscSys`. They
//!   are reserved for the whole arena but written only for pages the heap
//!   has grown into, so what they cost is the part covering `heap_sys`,
//!   rounded up to whole OS pages — the same measure as `HeapSys`, which
//!   counts grown pages, not resident ones.
//! * **per-P caches** ([`CacheSlot`] and its [`Cache`]): `MCacheSys`, one
//!   per P that has allocated, plus the shared one.
//! * **heap profile buckets** (stacks, counts, index): `BuckHashSys`; the
//!   map of live sampled objects (Go's profile specials) is `OtherSys`.
//! * **the rest** (the heap struct, central and large span lists, the
//!   per-P cache table, span-pointer vectors, free-run map): `OtherSys`.
//!
//! * **type tables** (`types.rs`: 4 bytes per slot, made when a span of
//!   small precise objects first holds two types, pooled when it dies):
//!   `GCSys`, beside the span bitmaps — Go 1.22 keeps its pointer bits for
//!   small objects inside the span, so they count in `HeapInuse` there;
//!   gort's slots keep every byte of their span, and the tables, which
//!   uniform spans do not have, live outside it. Counted whole, live and
//!   pooled, as they are made.

use super::cache::{Cache, CacheSlot};
use super::central::Central;
use super::span::{Span, SpanPtr, BITMAP_WORDS};
use super::{Heap, LargeLists};
use crate::loom::sync::atomic::AtomicU64;
use std::mem::size_of;
use std::sync::OnceLock;

/// The OS page the kernel backs memory in (the arena's mappings are
/// written in units of it).
const OS_PAGE: u64 = 4096;

/// Bytes of the heap's metadata, by MemStats field (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapMetadata {
    /// Span structures of live spans (without their bitmaps).
    pub mspan_inuse: u64,
    /// Span structures ever made, live and pooled (without their bitmaps).
    pub mspan_sys: u64,
    /// Per-P caches in use.
    pub mcache_inuse: u64,
    /// Per-P caches made (equal to `mcache_inuse`: a cache is never freed).
    pub mcache_sys: u64,
    /// Span bitmaps, type tables, the page table and the page heap's
    /// bitmaps (the part covering grown pages).
    pub gc_sys: u64,
    /// Heap profile buckets and their index.
    pub buck_hash_sys: u64,
    /// Everything else the heap keeps outside its spans.
    pub other_sys: u64,
}

/// `n` rounded up to whole OS pages.
fn os_pages(n: u64) -> u64 {
    n.div_ceil(OS_PAGE) * OS_PAGE
}

impl Heap {
    /// The bytes of the heap's own bookkeeping, by MemStats category (see
    /// `metadata.rs`). Takes the page-heap, central and large-list locks
    /// one at a time, and the profile lock.
    pub fn metadata(&self) -> HeapMetadata {
        let f = self.pages.footprint();
        let word = size_of::<usize>() as u64;
        let bitmaps = (2 * BITMAP_WORDS * size_of::<AtomicU64>()) as u64;
        let span_struct = size_of::<Span>() as u64 - bitmaps;
        let made = f.spans_made as u64;
        let live = (f.spans_made - f.spans_pooled) as u64;

        // Each P's slot and its cache, plus the shared slot's cache (the
        // slot itself lies in the heap struct, counted in OtherSys).
        let caches = self.caches.iter().filter(|c| c.get().is_some()).count() as u64;
        let cache_bytes = caches * (size_of::<CacheSlot>() + size_of::<Cache>()) as u64
            + size_of::<Cache>() as u64;

        let grown = f.grown as u64;
        let page_table = os_pages(grown * word);
        let page_bitmaps = 2 * os_pages(grown.div_ceil(64) * 8).min(f.bitmap_words as u64 * 8);

        let (buckets, sampled_objects) = super::profile::footprint();

        let mut lists = 0u64;
        for c in self.central.iter() {
            let l = c.lists.lock();
            lists += (l.partial.capacity()
                + l.full.capacity()
                + l.unswept.capacity()
                + l.unswept_full.capacity()) as u64;
        }
        {
            let l = self.large.lock();
            lists += (l.inuse.capacity() + l.unswept.capacity()) as u64;
        }
        let other = size_of::<Heap>() as u64
            + (self.central.len() * size_of::<Central>()) as u64
            + lists * size_of::<SpanPtr>() as u64
            + size_of::<LargeLists>() as u64
            + (self.caches.len() * size_of::<OnceLock<Box<CacheSlot>>>()) as u64
            + f.span_ptr_capacity as u64 * size_of::<SpanPtr>() as u64
            // A BTreeMap entry (start, length) and its share of a node.
            + f.free_runs as u64 * 3 * word
            + sampled_objects;

        HeapMetadata {
            mspan_inuse: live * span_struct,
            mspan_sys: made * span_struct,
            mcache_inuse: cache_bytes,
            mcache_sys: cache_bytes,
            gc_sys: made * bitmaps + page_table + page_bitmaps + f.table_bytes as u64,
            buck_hash_sys: buckets,
            other_sys: other,
        }
    }
}
