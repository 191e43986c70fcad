//! Spans: runs of pages holding objects of one span class, their state
//! machine, and their allocation and mark bitmaps.
//!
//! See [crate::heap] for the overview (the "# Fields" table there says who
//! may touch which field of a span, and when).

use super::size_class::{self, MAX_OBJECTS_PER_SPAN, NUM_SIZE_CLASSES};
use super::{types, PAGE_SIZE};
use crate::loom::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use crate::trace::TypeInfo;

/// Words in a span bitmap (one bit per object slot).
pub(crate) const BITMAP_WORDS: usize = MAX_OBJECTS_PER_SPAN / 64;

/// What the collector does with an object's contents. A property of the
/// span class, as Go's noscan bit is: every object of a span has the same
/// kind, so the kind costs no per-object space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ObjectKind {
    /// No managed pointers (byte slices, numbers): never scanned.
    Noscan = 0,
    /// Traced through its [`crate::trace::TypeInfo`]: kept in the span
    /// structure or the span's type table for slots up to 512 bytes, in a
    /// header word (the object's first word) for bigger ones (see the
    /// heap essay).
    Precise = 1,
    /// Every aligned word is a candidate pointer: runtime-internal buffers
    /// of unknown layout (channel buffers, closures held by the runtime).
    Conservative = 2,
}

impl ObjectKind {
    /// All kinds, in `repr` order.
    pub const ALL: [ObjectKind; 3] = [
        ObjectKind::Noscan,
        ObjectKind::Precise,
        ObjectKind::Conservative,
    ];

    /// A short name for traces and debug output.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Noscan => "noscan",
            ObjectKind::Precise => "precise",
            ObjectKind::Conservative => "conservative",
        }
    }

    fn from_u8(v: u8) -> ObjectKind {
        match v {
            0 => ObjectKind::Noscan,
            1 => ObjectKind::Precise,
            _ => ObjectKind::Conservative,
        }
    }
}

/// A size class and an object kind in one number (Go's `spanClass`):
/// `class * 3 + kind`. Class 0 is "large" (one object per span).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanClass(pub u16);

/// Number of span classes (every size class in each of the three kinds).
pub const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 3;

impl SpanClass {
    /// The span class of size class `class` with objects of `kind`.
    #[inline]
    pub const fn new(class: usize, kind: ObjectKind) -> SpanClass {
        SpanClass((class * 3 + kind as usize) as u16)
    }
    /// The size class (0 = large).
    #[inline]
    pub const fn size_class(self) -> usize {
        self.0 as usize / 3
    }
    /// The object kind.
    #[inline]
    pub fn kind(self) -> ObjectKind {
        ObjectKind::from_u8((self.0 % 3) as u8)
    }
    /// Index into per-span-class arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The state of a span (Go's `mSpanState`, refined by where the span is).
///
/// Allowed transitions (each made by the code named, under the lock named):
///
/// ```text
///            page heap alloc (page-heap lock)
///   Dead ─────────────────────────────► InCache ◄──────┐ cache_span (central lock)
///    ▲  └─────────────────────────────► Large          │
///    │       alloc_large (page-heap lock)  │           ▼
///    │                                     │        InCentral
///    └──── sweep frees every object ───────┴───────────┘
///          (sweeper owns the span: sweepgen h−1; then page-heap lock)
///   InCache ──► InCentral   uncache / flush (central lock)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SpanState {
    /// Owns no pages; the span structure sits in the page heap's pool.
    /// Nobody may read its fields as meaningful.
    Dead = 0,
    /// Owned by one P's cache: only that P allocates from it (no lock);
    /// others may look objects up and set mark bits.
    InCache = 1,
    /// On its size class's central list (partial, full or unswept),
    /// protected by that central's lock; or held by a sweeper that took it
    /// off the unswept list (sweepgen says so).
    InCentral = 2,
    /// A large-object span (one object over 32 KiB), on the heap's large
    /// list or held by a sweeper.
    Large = 3,
}

impl SpanState {
    /// Name for traces and fatal errors (Go's `mSpanStateNames`).
    pub fn name(self) -> &'static str {
        match self {
            SpanState::Dead => "dead",
            SpanState::InCache => "in-cache",
            SpanState::InCentral => "in-central",
            SpanState::Large => "large",
        }
    }

    fn from_u8(v: u8) -> SpanState {
        match v {
            0 => SpanState::Dead,
            1 => SpanState::InCache,
            2 => SpanState::InCentral,
            _ => SpanState::Large,
        }
    }
}

/// One span. Allocated once and never freed while its heap lives (dead
/// spans are pooled), so a stale pointer read from the page table always
/// points at *some* span structure; readers validate it with `state`.
///
/// All fields are atomics so that lock-free readers (address lookup during
/// conservative scanning, the write barrier, profilers) never race in the
/// language sense. Who may *write* each field is in the heap essay's
/// "# Fields" table.
#[derive(Debug)]
pub struct Span {
    /// First byte of the span. Written while Dead (page-heap lock).
    pub(crate) start: AtomicUsize,
    /// Length in pages. Written while Dead (page-heap lock).
    pub(crate) npages: AtomicUsize,
    /// Span class (size class and kind). Written while Dead.
    pub(crate) spanclass: AtomicU32,
    /// Bytes per object slot (the span length for a large span). Written while Dead.
    pub(crate) elem_size: AtomicUsize,
    /// Object slots. Written while Dead.
    pub(crate) nelems: AtomicUsize,
    /// `div_mul(elem_size)` (small spans): index = (offset × div_mul) >> 32.
    pub(crate) div_mul: AtomicU64,
    /// A [`SpanState`]; written by the transitions in its doc.
    pub(crate) state: AtomicU8,
    /// Go's `sweepgen` relative to the heap's: h−2 needs sweeping, h−1 is
    /// being swept, h is swept. Written by the sweeper that claims the span
    /// (CAS) and at span creation.
    pub(crate) sweepgen: AtomicU32,
    /// Whether free slots may hold old data and must be cleared when
    /// allocated. False for spans made of fresh or released pages.
    /// Written by the page heap at creation and by the sweeper.
    pub(crate) needzero: AtomicBool,
    /// Every slot below `free_index` is allocated. Written only by the
    /// owner (the P caching the span, or the sweeper); Release stores pair
    /// with Acquire loads in lookups.
    pub(crate) free_index: AtomicUsize,
    /// Allocated slots, as of the last sweep plus what caches committed on
    /// uncache. Written by the sweeper and by the uncaching P.
    pub(crate) alloc_count: AtomicUsize,
    /// Allocation bits: slot i is allocated if bit i is set or
    /// `i < free_index`. Written by the sweeper (owner) and on uncache
    /// (fetch_or); read by anyone.
    pub(crate) alloc_bits: [AtomicU64; BITMAP_WORDS],
    /// Mark bits, set atomically by markers (and by allocate-black);
    /// cleared by the sweeper.
    pub(crate) mark_bits: [AtomicU64; BITMAP_WORDS],
    /// Holds objects sampled by the heap profiler (`profile`): set by the
    /// sampler, cleared by the sweeper when none is left; sweeping consults
    /// the profiler only for spans that have it.
    pub(crate) profiled: AtomicBool,
    /// Whether the span's objects keep their type outside themselves
    /// (precise spans of slots up to `TYPE_TABLE_MAX_SIZE`): in `uniform`,
    /// or in the type table. Written while Dead.
    pub(crate) typed: AtomicBool,
    /// Address of the span's type table (`types.rs`: made when the span
    /// first turns mixed, outside the arena), 0 while it has none. Written
    /// by the P caching the span (Release, before `uniform` says mixed),
    /// taken back to the page heap's pool when the span dies.
    pub(crate) table: AtomicUsize,
    /// For a typed span: the type word shared by every allocation made in
    /// it since it was created (0: none yet), or [`UNIFORM_MIXED`] once two
    /// types (or an untyped allocation) met — from then on each slot's
    /// type is in the table. While uniform, a lookup takes the type from
    /// here, from the span structure it has already loaded, and the span
    /// needs no table at all: its objects cost their slot and nothing
    /// more. Written by the P caching the span before it publishes the
    /// slot (Release when it turns mixed); reset while Dead.
    pub(crate) uniform: AtomicU64,
    /// Whether the span's objects are marked page-locally (`mark::span`):
    /// small spans of scannable objects (slots up to
    /// `TYPE_TABLE_MAX_SIZE`). Written while Dead.
    pub(crate) span_scan: AtomicBool,
    /// Scanned bits of a span-scanned span (`mark::span`): set by the
    /// marker that claims an object for scanning, and by allocate-black;
    /// cleared by the sweeper with the mark bits.
    pub(crate) scanned: [AtomicU64; BITMAP_WORDS],
    /// Whether an entry for this span is queued (`mark::span`'s owned
    /// byte): set by markers, swapped back by the scanner taking the entry.
    /// None between cycles.
    pub(crate) owned: AtomicU8,
}

/// [`Span::uniform`]: objects of more than one type (no type word has
/// bit 32 set).
pub(crate) const UNIFORM_MIXED: u64 = 1 << 32;

impl Span {
    pub(crate) fn new_dead() -> Span {
        Span {
            start: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            spanclass: AtomicU32::new(0),
            elem_size: AtomicUsize::new(0),
            nelems: AtomicUsize::new(0),
            div_mul: AtomicU64::new(0),
            state: AtomicU8::new(SpanState::Dead as u8),
            sweepgen: AtomicU32::new(0),
            needzero: AtomicBool::new(false),
            free_index: AtomicUsize::new(0),
            alloc_count: AtomicUsize::new(0),
            alloc_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            mark_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            profiled: AtomicBool::new(false),
            typed: AtomicBool::new(false),
            table: AtomicUsize::new(0),
            uniform: AtomicU64::new(0),
            span_scan: AtomicBool::new(false),
            scanned: std::array::from_fn(|_| AtomicU64::new(0)),
            owned: AtomicU8::new(crate::mark::span::UNOWNED),
        }
    }

    /// (Re)initialises a dead span for `npages` pages at `start` holding
    /// objects of `spanclass` (`large_size` is used for class 0). Caller
    /// holds the page-heap lock and the span is Dead.
    pub(crate) fn init(
        &self,
        start: usize,
        npages: usize,
        spanclass: SpanClass,
        sweepgen: u32,
        needzero: bool,
    ) {
        let class = spanclass.size_class();
        let span_bytes = npages * PAGE_SIZE;
        let (elem, n) = if class == 0 {
            (span_bytes, 1)
        } else {
            (
                size_class::class_size(class),
                size_class::class_objects(class),
            )
        };
        let typed = class != 0
            && spanclass.kind() == ObjectKind::Precise
            && elem <= types::TYPE_TABLE_MAX_SIZE;
        let span_scan = class != 0
            && spanclass.kind() != ObjectKind::Noscan
            && elem <= types::TYPE_TABLE_MAX_SIZE;
        self.start.store(start, Ordering::Relaxed);
        self.npages.store(npages, Ordering::Relaxed);
        self.spanclass.store(spanclass.0 as u32, Ordering::Relaxed);
        self.elem_size.store(elem, Ordering::Relaxed);
        self.nelems.store(n, Ordering::Relaxed);
        self.div_mul
            .store(size_class::div_mul(elem), Ordering::Relaxed);
        self.sweepgen.store(sweepgen, Ordering::Relaxed);
        self.needzero.store(needzero, Ordering::Relaxed);
        self.free_index.store(0, Ordering::Relaxed);
        self.alloc_count.store(0, Ordering::Relaxed);
        self.profiled.store(false, Ordering::Relaxed);
        self.typed.store(typed, Ordering::Relaxed);
        // The table went back to the pool when the span died
        // (`PageHeap::free_span`).
        self.table.store(0, Ordering::Relaxed);
        self.uniform.store(0, Ordering::Relaxed);
        self.span_scan.store(span_scan, Ordering::Relaxed);
        self.owned
            .store(crate::mark::span::UNOWNED, Ordering::Relaxed);
        for w in 0..BITMAP_WORDS {
            self.alloc_bits[w].store(0, Ordering::Relaxed);
            self.mark_bits[w].store(0, Ordering::Relaxed);
            self.scanned[w].store(0, Ordering::Relaxed);
        }
        // The state is stored last; the Release store of the page table
        // entries that follows publishes all of the above.
    }

    /// First byte of the span.
    #[inline]
    pub fn start(&self) -> usize {
        self.start.load(Ordering::Relaxed)
    }
    /// Length in pages.
    #[inline]
    pub fn npages(&self) -> usize {
        self.npages.load(Ordering::Relaxed)
    }
    /// Bytes per object slot.
    #[inline]
    pub fn elem_size(&self) -> usize {
        self.elem_size.load(Ordering::Relaxed)
    }
    /// Number of object slots.
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Ordering::Relaxed)
    }
    /// Span class.
    #[inline]
    pub fn spanclass(&self) -> SpanClass {
        SpanClass(self.spanclass.load(Ordering::Relaxed) as u16)
    }
    /// Object kind of every object in the span.
    #[inline]
    pub fn kind(&self) -> ObjectKind {
        self.spanclass().kind()
    }
    /// Current state.
    #[inline]
    pub fn state(&self) -> SpanState {
        SpanState::from_u8(self.state.load(Ordering::Acquire))
    }
    #[inline]
    pub(crate) fn set_state(&self, s: SpanState) {
        // Release: pairs with the Acquire in `state()`; a reader that sees
        // the new state sees the fields written before the transition.
        self.state.store(s as u8, Ordering::Release);
    }
    /// Go's `sweepgen` of this span (see [`crate::heap::Heap::sweepgen`]).
    #[inline]
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }

    /// Whether the span keeps its objects' types outside them (see the
    /// `typed` field).
    #[inline]
    pub(crate) fn is_typed(&self) -> bool {
        self.typed.load(Ordering::Relaxed)
    }

    /// Bytes before the value in each object of this span: one header word
    /// for precise spans that are not typed (slots over 512 bytes, large
    /// objects), else 0.
    #[inline]
    pub fn header_bytes(&self) -> usize {
        if self.kind() == ObjectKind::Precise && !self.is_typed() {
            8
        } else {
            0
        }
    }

    /// The type of the precise object in slot `idx` at `base` (None for
    /// other kinds, or a precise object allocated without one).
    #[inline]
    pub(crate) fn type_of(&self, idx: usize, base: usize) -> Option<&'static TypeInfo> {
        if self.kind() != ObjectKind::Precise {
            return None;
        }
        if self.is_typed() {
            // Acquire: pairs with the Release store of UNIFORM_MIXED in
            // `CachedSpan::note_type`; a reader that sees the span mixed
            // sees its table and the entries of every slot allocated
            // before. A uniform word needs nothing more: the lookup that
            // found the object allocated acquired the Release store that
            // published it, which came after the word was written.
            let u = self.uniform.load(Ordering::Acquire);
            if u != UNIFORM_MIXED {
                return types::decode(u as u32);
            }
            let table = self.table.load(Ordering::Relaxed);
            if table == 0 {
                // Only a stale reader (the span died and was made again)
                // sees a mixed span without a table.
                return None;
            }
            return types::decode(types::entry(table, idx));
        }
        let word = super::load_word(base);
        // SAFETY: a non-zero header word of a precise object is always a
        // `&'static TypeInfo`, written by the allocation path before the
        // slot was published.
        (word != 0).then(|| unsafe { &*(word as *const TypeInfo) })
    }

    /// Index of the slot containing `addr` (which must be inside the span),
    /// or None for the tail waste past the last slot.
    #[inline]
    pub(crate) fn slot_of(&self, addr: usize) -> Option<usize> {
        let off = addr - self.start();
        let idx = if self.spanclass().size_class() == 0 {
            0
        } else {
            ((off as u64 * self.div_mul.load(Ordering::Relaxed)) >> 32) as usize
        };
        (idx < self.nelems()).then_some(idx)
    }

    /// Whether slot `idx` holds an allocated object.
    #[inline]
    pub(crate) fn is_allocated(&self, idx: usize) -> bool {
        // Acquire: pairs with the Release store of `free_index` by the
        // allocating P (cache.rs), so the object's zeroing/header is visible.
        idx < self.free_index.load(Ordering::Acquire)
            || self.alloc_bits[idx / 64].load(Ordering::Acquire) & (1 << (idx % 64)) != 0
    }

    /// Sets the mark bit of slot `idx`; true if it was clear (the object was white).
    #[inline]
    pub(crate) fn try_mark(&self, idx: usize) -> bool {
        let bit = 1u64 << (idx % 64);
        // Relaxed: the bit carries no data; the collector publishes the
        // objects it scans through its own work queues and stop-the-world
        // hand-offs. The RMW alone makes exactly one marker win.
        self.mark_bits[idx / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Marks slot `idx` for allocate-black: a span-scanned span's slot is
    /// also set scanned (first), so no marker claims the new object.
    /// True if the object was white.
    #[inline]
    pub(crate) fn mark_black(&self, idx: usize) -> bool {
        if self.is_span_scanned() {
            crate::mark::span::set_black(&self.mark_bits, &self.scanned, idx)
        } else {
            self.try_mark(idx)
        }
    }

    /// Whether the span's objects are marked page-locally (`span_scan`).
    #[inline]
    pub(crate) fn is_span_scanned(&self) -> bool {
        self.span_scan.load(Ordering::Relaxed)
    }

    /// Bitmap words covering the span's slots.
    #[inline]
    pub(crate) fn bitmap_words(&self) -> usize {
        self.nelems().div_ceil(64)
    }

    /// Whether slot `idx` is marked.
    #[inline]
    pub(crate) fn is_marked(&self, idx: usize) -> bool {
        self.mark_bits[idx / 64].load(Ordering::Relaxed) & (1 << (idx % 64)) != 0
    }

    /// Marks of the whole span, as a snapshot.
    pub(crate) fn mark_snapshot(&self) -> [u64; BITMAP_WORDS] {
        std::array::from_fn(|w| self.mark_bits[w].load(Ordering::Relaxed))
    }

    /// Allocated slots as a bitmap (alloc bits ∪ slots below free_index).
    pub(crate) fn alloc_snapshot(&self) -> [u64; BITMAP_WORDS] {
        let fi = self.free_index.load(Ordering::Acquire);
        std::array::from_fn(|w| {
            let below = below_mask(fi, w);
            self.alloc_bits[w].load(Ordering::Acquire) | below
        })
    }

    /// Number of slots actually in use as bitmap bits (mask of valid bits of word w).
    pub(crate) fn valid_mask(&self, w: usize) -> u64 {
        below_mask(self.nelems(), w)
    }
}

/// The bits of bitmap word `w` whose slot index is below `n`.
#[inline]
pub(crate) fn below_mask(n: usize, w: usize) -> u64 {
    let lo = w * 64;
    if n <= lo {
        0
    } else if n >= lo + 64 {
        u64::MAX
    } else {
        (1u64 << (n - lo)) - 1
    }
}

/// A pointer to a span that may cross threads: span structures are never
/// freed while their heap lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanPtr(pub(crate) *const Span);
// SAFETY: a `Span` is all atomics and lives as long as its heap.
unsafe impl Send for SpanPtr {}
// SAFETY: as above.
unsafe impl Sync for SpanPtr {}

impl SpanPtr {
    #[inline]
    pub(crate) fn get<'a>(self) -> &'a Span {
        // SAFETY: span structures are allocated by the page heap and freed
        // only when the heap itself is dropped; every SpanPtr in circulation
        // belongs to a live heap (callers hold `&Heap`).
        unsafe { &*self.0 }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn below_mask_covers_exactly_the_slots_below_n() {
        for n in 0..=MAX_OBJECTS_PER_SPAN {
            for w in 0..BITMAP_WORDS {
                let m = below_mask(n, w);
                for b in 0..64 {
                    assert_eq!(m & (1 << b) != 0, w * 64 + b < n, "n {n} word {w} bit {b}");
                }
            }
        }
    }

    #[test]
    fn bitmaps_mark_allocate_and_snapshot() {
        let s = Span::new_dead();
        s.init(
            0x10_0000,
            1,
            SpanClass::new(3, ObjectKind::Precise),
            0,
            false,
        );
        // A precise span of 24-byte slots keeps types out of its objects:
        // every slot of the class, no header, no table until it is mixed.
        assert_eq!((s.nelems(), s.is_typed()), (341, true));
        assert_eq!(s.table.load(Ordering::Relaxed), 0);
        assert_eq!(s.slot_of(0x10_0000 + 24 * 340), Some(340));
        assert_eq!(s.header_bytes(), 0);
        s.init(
            0x10_0000,
            1,
            SpanClass::new(3, ObjectKind::Conservative),
            0,
            false,
        );
        assert_eq!(
            (s.elem_size(), s.nelems(), s.kind(), s.is_typed()),
            (24, 341, ObjectKind::Conservative, false)
        );
        assert_eq!(s.slot_of(0x10_0000 + 24 * 340 + 23), Some(340));
        assert_eq!(s.slot_of(0x10_0000 + 24 * 341), None, "tail waste");
        for i in [0, 63, 64, 200, 340] {
            assert!(s.try_mark(i));
            assert!(!s.try_mark(i));
            assert!(s.is_marked(i));
        }
        assert!(!s.is_marked(1));
        let m = s.mark_snapshot();
        assert_eq!(m.iter().map(|w| w.count_ones()).sum::<u32>(), 5);
        s.free_index.store(70, Ordering::Relaxed);
        s.alloc_bits[4].store(1 << 2, Ordering::Relaxed); // slot 258
        let a = s.alloc_snapshot();
        assert_eq!(a[0], u64::MAX);
        assert_eq!(a[1], (1 << 6) - 1);
        assert_eq!(a[4], 1 << 2);
        assert!(s.is_allocated(69) && !s.is_allocated(70) && s.is_allocated(258));
        assert_eq!(s.valid_mask(5), (1 << (341 - 320)) - 1);
    }
}
