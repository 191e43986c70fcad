//! Marking: shading roots and draining grey objects (≈ Go's `mgcmark.go`).
//! See [crate] for the overview.
//!
//! The mark code sees the heap only through `ObjectGraph`: find the object
//! containing an address and set its mark bit, list what a scannable object
//! points to, and the span calls of page-local marking. The collector
//! implements it over the real heap ([`crate::collector`]); the loom models
//! and unit tests implement it over small hand-made graphs, so the same
//! queue, span and termination code runs in both.
//!
//! * `work`: the work queues and the token count that detects termination.
//! * `span`: page-local marking (Go's Green Tea): small scannable objects
//!   are queued as span entries and scanned a span at a time.
//! * `assist`: background credit and parked assists.
//! * `roots`: conservative scanning of root ranges, word by word.
//!
//! # Where the time goes, and what paid
//!
//! On a forced collection of a tree of 16-byte nodes (the `marktree`
//! sample), `perf` put most of an object-by-object marker's time on three
//! things per object: the mark bit's `lock bts`, the deque's push and its
//! LIFO pop (crossbeam's pop has a SeqCst fence), and the miss on the
//! object's first line when it is scanned. Page-local marking (`span`)
//! removes the queue traffic for objects whose span is already queued or
//! being scanned, and marks what a scan finds in its own span a bitmap
//! word at a time (one locked instruction for up to 64 objects); an object
//! is still prefetched when it is found, so the miss overlaps the rest of
//! the round. Together these more than halved the process CPU of a forced
//! collection of that tree (commit message of the change has the figures).
//!
//! # Tried on the scan loop and not kept
//!
//! Each measured alone on the same sample (process CPU across `gc()`,
//! alternating runs against the unchanged binary) with object-by-object
//! marking, none made a difference beyond the run-to-run spread:
//!
//! * a private grey stack in front of a mark worker's deque (half of it
//!   moved to the deque when it fills or the deque runs dry, as Go's
//!   `gcWork.balance`), to save the SeqCst fence of every LIFO pop;
//! * a look-ahead FIFO of 8 popped objects, prefetched when popped and
//!   scanned 8 pops later (Cher et al., ASPLOS 2004), since the grey-time
//!   prefetch is wasted when a LIFO pops the object it just pushed;
//! * a span structure laid out so a marker touches one line of fields
//!   and one of mark bits (`repr(C)`, 64-byte aligned);
//! * the first 16 edges of an object buffered by the `Tracer` and shaded
//!   in a direct loop, instead of an indirect call per edge.

pub(crate) mod assist;
pub(crate) mod roots;
pub(crate) mod span;
pub(crate) mod work;

/// What [`ObjectGraph::mark`] did with an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marked {
    /// Not in an allocated object, or the object was marked already.
    No,
    /// This call marked the object (`size` bytes); `work` is what the
    /// caller owes it.
    New { size: usize, work: Work },
    /// An allocated object of the span the caller is scanning, by slot,
    /// left unmarked: the caller marks it with the round's others
    /// ([`ObjectGraph::mark_span`]).
    Mine(usize),
}

/// The work a newly marked object leaves to its marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// None: a noscan object (black at once), or a span-scanned object
    /// whose span someone else holds an entry for (`span`).
    None,
    /// Queue this object base (an object scanned on its own).
    Object(usize),
    /// Queue this span entry (bit 0 set): the marker took the span.
    Span(usize),
}

/// The collector's view of the heap while marking. Every method may be
/// called from many threads at once, concurrently with allocation.
pub(crate) trait ObjectGraph: Sync {
    /// Find the allocated object containing `addr` (interior addresses
    /// count) and set its mark bit. `scanning` is the key of the span the
    /// caller is scanning (0: none): an object there is [`Marked::Mine`].
    fn mark(&self, addr: usize, scanning: usize) -> Marked;
    /// Call `f` with every candidate referent of the marked object at `base`
    /// (precise fields, or every word of a conservative object) and return
    /// the object's size. A marked object is not freed while marking runs.
    fn trace(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize;
    /// The key of the span a span entry names (non-zero).
    fn span_key(&self, entry: usize) -> usize;
    /// Take a span entry off a queue (`span::take`): claim into `out` the
    /// objects to scan; returns how many.
    fn take_span(&self, entry: usize, out: &mut span::SpanBits) -> usize;
    /// For a span whose scan reports only precise edges (exact bases of
    /// allocated objects): its slots' address range `(first, bytes)` and
    /// the `div_mul` that turns an offset into a slot index. An edge found
    /// in that range while scanning the span is [`Marked::Mine`] without a
    /// lookup. None for other spans (conservative words need the lookup's
    /// checks).
    fn local_range(&self, key: usize) -> Option<(usize, usize, u64)>;
    /// Mark the objects of `bits` in span `key` and keep in `bits` those
    /// this call claims for scanning (`span::mark_and_claim`); returns the
    /// bytes this call marked.
    fn mark_span(&self, key: usize, bits: &mut span::SpanBits) -> usize;
    /// Scan the claimed objects `bits` of span `key` as [`trace`](Self::trace)
    /// does; returns the bytes scanned.
    fn scan_span(&self, key: usize, bits: &span::SpanBits, f: &mut dyn FnMut(usize)) -> usize;
}

/// A background mark worker handed to [`Host::spawn_mark_worker`]
/// (Go's `gcBgMarkWorker`). The host calls [`MarkWorker::run`] once on a
/// thread of its choosing; `run` returns when the cycle's marking is over.
///
/// [`Host::spawn_mark_worker`]: crate::host::Host::spawn_mark_worker
pub struct MarkWorker {
    pub(crate) body: Box<dyn FnOnce() + Send>,
}

impl MarkWorker {
    /// Mark until this cycle's marking is done (this worker may be the one
    /// that stops the world for mark termination).
    pub fn run(self) {
        (self.body)()
    }
}

impl std::fmt::Debug for MarkWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkWorker")
    }
}

#[cfg(test)]
pub(crate) mod test_graph {
    //! A small object graph for unit tests of the mark code: objects are
    //! 32-byte slots of a leaked array, each with up to three referents.
    //! Objects are grouped into spans of `per_span` objects; a graph made
    //! with [`TestGraph::with_spans`] marks them page-locally (`span`), as
    //! the heap marks small scannable objects, one made with
    //! [`TestGraph::new`] queues every object on its own.
    use super::span::{self, SpanBits};
    use super::*;
    use crate::loom::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

    /// One span's bitmaps and owned byte (at most 64 objects).
    pub(crate) struct TestSpan {
        marks: [AtomicU64; 1],
        scanned: [AtomicU64; 1],
        owned: AtomicU8,
    }

    /// `n` objects of 32 bytes at `base`; `edges[i]` are i's referents.
    pub(crate) struct TestGraph {
        pub(crate) base: usize,
        n: usize,
        per_span: usize,
        span_scan: bool,
        spans: Vec<TestSpan>,
        pub(crate) edges: Vec<[AtomicUsize; 3]>,
        pub(crate) noscan: Vec<bool>,
    }

    impl TestGraph {
        /// Objects queued one by one.
        pub(crate) fn new(n: usize) -> TestGraph {
            TestGraph::make(n, 64, false)
        }
        /// Objects marked page-locally, `per_span` (1..=64) to a span.
        pub(crate) fn with_spans(n: usize, per_span: usize) -> TestGraph {
            TestGraph::make(n, per_span, true)
        }
        fn make(n: usize, per_span: usize, span_scan: bool) -> TestGraph {
            assert!((1..=64).contains(&per_span));
            TestGraph {
                base: 0x10_0000,
                n,
                per_span,
                span_scan,
                spans: (0..n.div_ceil(per_span))
                    .map(|_| TestSpan {
                        marks: [AtomicU64::new(0)],
                        scanned: [AtomicU64::new(0)],
                        owned: AtomicU8::new(span::UNOWNED),
                    })
                    .collect(),
                edges: (0..n)
                    .map(|_| {
                        [
                            AtomicUsize::new(0),
                            AtomicUsize::new(0),
                            AtomicUsize::new(0),
                        ]
                    })
                    .collect(),
                noscan: vec![false; n],
            }
        }
        pub(crate) fn len(&self) -> usize {
            self.n
        }
        pub(crate) fn addr(&self, i: usize) -> usize {
            self.base + 32 * i
        }
        pub(crate) fn link(&self, from: usize, field: usize, to: Option<usize>) {
            self.edges[from][field].store(to.map_or(0, |t| self.addr(t)), Relaxed);
        }
        pub(crate) fn is_marked(&self, i: usize) -> bool {
            let s = &self.spans[i / self.per_span];
            s.marks[0].load(Relaxed) & (1 << (i % self.per_span)) != 0
        }
        pub(crate) fn is_scanned(&self, i: usize) -> bool {
            let s = &self.spans[i / self.per_span];
            s.scanned[0].load(Relaxed) & (1 << (i % self.per_span)) != 0
        }
        pub(crate) fn marked(&self) -> usize {
            (0..self.len()).filter(|&i| self.is_marked(i)).count()
        }
        /// Page-local marking's end state: every marked object scanned
        /// (noscan ones count as scanned) and no span owned.
        pub(crate) fn check_spans_done(&self) {
            for (s, sp) in self.spans.iter().enumerate() {
                assert_eq!(
                    sp.marks[0].load(Relaxed),
                    sp.scanned[0].load(Relaxed),
                    "span {s}: a marked object was not scanned"
                );
                assert_eq!(
                    sp.owned.load(Relaxed),
                    span::UNOWNED,
                    "span {s} still owned"
                );
            }
        }
        fn edges_of(&self, i: usize, f: &mut dyn FnMut(usize)) {
            for e in &self.edges[i] {
                let v = e.load(Relaxed);
                if v != 0 {
                    f(v);
                }
            }
        }
    }

    impl ObjectGraph for TestGraph {
        fn mark(&self, addr: usize, scanning: usize) -> Marked {
            if addr < self.base || addr >= self.base + 32 * self.n {
                return Marked::No;
            }
            let i = (addr - self.base) / 32;
            let (s, idx) = (i / self.per_span, i % self.per_span);
            let sp = &self.spans[s];
            if self.span_scan && self.noscan[i] {
                // Noscan: black at once (scanned and marked, as allocate-black).
                if !span::set_black(&sp.marks, &sp.scanned, idx) {
                    return Marked::No;
                }
                return Marked::New {
                    size: 32,
                    work: Work::None,
                };
            }
            if self.span_scan && scanning == s + 1 {
                return Marked::Mine(idx);
            }
            if !span::set_mark(&sp.marks, idx) {
                return Marked::No;
            }
            let work = if self.noscan[i] {
                Work::None
            } else if !self.span_scan {
                Work::Object(self.addr(i))
            } else if span::try_acquire(&sp.owned) {
                Work::Span(((s + 1) << 8) | (idx << 1) | 1)
            } else {
                Work::None
            };
            Marked::New { size: 32, work }
        }
        fn trace(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize {
            self.edges_of((base - self.base) / 32, f);
            32
        }
        fn span_key(&self, entry: usize) -> usize {
            entry >> 8
        }
        fn take_span(&self, entry: usize, out: &mut SpanBits) -> usize {
            let sp = &self.spans[(entry >> 8) - 1];
            let first = (entry & 0xff) >> 1;
            span::take(&sp.owned, &sp.marks, &sp.scanned, first, 1, out)
        }
        fn local_range(&self, key: usize) -> Option<(usize, usize, u64)> {
            let first = (key - 1) * self.per_span;
            let n = self.per_span.min(self.n - first);
            Some((self.addr(first), 32 * n, 1 << 27))
        }
        fn mark_span(&self, key: usize, bits: &mut SpanBits) -> usize {
            let sp = &self.spans[key - 1];
            32 * span::mark_and_claim(&sp.marks, &sp.scanned, bits, 1)
        }
        fn scan_span(&self, key: usize, bits: &SpanBits, f: &mut dyn FnMut(usize)) -> usize {
            let mut b = bits[0];
            let mut n = 0;
            while b != 0 {
                let i = (key - 1) * self.per_span + b.trailing_zeros() as usize;
                b &= b - 1;
                self.edges_of(i, f);
                n += 32;
            }
            n
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::test_graph::TestGraph;
    use super::work::{GcWork, WorkQueues};

    /// A binary tree of 1023 nodes plus 100 unreachable ones: draining from
    /// the root marks exactly the tree, and the token count returns to 0.
    #[test]
    fn drain_marks_exactly_the_reachable_objects() {
        let g = TestGraph::new(1123);
        for i in 0..511 {
            g.link(i, 0, Some(2 * i + 1));
            g.link(i, 1, Some(2 * i + 2));
        }
        // garbage pointing into the tree must not matter
        for i in 1023..1123 {
            g.link(i, 0, Some(i - 1000));
        }
        let q = WorkQueues::new(2);
        {
            let mut w = GcWork::for_worker(&q, &g, 0);
            assert!(w.shade(g.addr(0) + 7)); // interior pointer
            assert!(!w.shade(g.addr(0)));
            assert!(!q.is_done());
            let scanned = w.drain(None);
            assert_eq!(scanned, 1023 * 32);
            w.dispose();
        }
        assert!(q.is_done());
        assert_eq!(g.marked(), 1023);
    }

    /// The same tree in spans of 8 objects, marked page-locally: exactly
    /// the tree is marked, every marked object scanned once (the scan work
    /// counts each once), no span left owned.
    #[test]
    fn span_drain_marks_and_scans_each_object_once() {
        let g = TestGraph::with_spans(1123, 8);
        for i in 0..511 {
            g.link(i, 0, Some(2 * i + 1));
            g.link(i, 1, Some(2 * i + 2));
        }
        for i in 1023..1123 {
            g.link(i, 0, Some(i - 1000));
        }
        let q = WorkQueues::new(2);
        {
            let mut w = GcWork::for_worker(&q, &g, 0);
            assert!(w.shade(g.addr(0) + 7));
            assert!(!w.shade(g.addr(0)));
            let scanned = w.drain(None);
            assert_eq!(scanned, 1023 * 32);
            assert_eq!(w.marked_bytes, 1023 * 32);
            w.dispose();
        }
        assert!(q.is_done());
        assert_eq!(g.marked(), 1023);
        assert!((1023..1123).all(|i| !g.is_marked(i) && !g.is_scanned(i)));
        g.check_spans_done();
    }

    /// Page-local marking with two workers and a budgeted assist on a
    /// 200,000-object tree in spans of 64: all reachable objects marked and
    /// scanned, each counted once across all handles.
    #[test]
    fn span_workers_and_assists_share_work() {
        let n = 200_000;
        let g = TestGraph::with_spans(n + 10, 64);
        for i in 0..n {
            if 2 * i + 1 < n {
                g.link(i, 0, Some(2 * i + 1));
            }
            if 2 * i + 2 < n {
                g.link(i, 1, Some(2 * i + 2));
            }
        }
        let q = WorkQueues::new(2);
        {
            let mut root = GcWork::new(&q, &g);
            root.shade(g.addr(0));
            root.dispose();
        }
        let total = crate::loom::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for slot in 0..2 {
                let (q, g, total) = (&q, &g, &total);
                s.spawn(move || {
                    let mut w = GcWork::for_worker(q, g, slot);
                    while !q.is_done() {
                        w.drain(None);
                        w.dispose();
                        std::thread::yield_now();
                    }
                    total.fetch_add(w.scan_work, crate::loom::sync::atomic::Ordering::Relaxed);
                });
            }
            let (q, g, total) = (&q, &g, &total);
            s.spawn(move || {
                while !q.is_done() {
                    let mut a = GcWork::new(q, g);
                    a.drain(Some(4096));
                    a.dispose();
                    total.fetch_add(a.scan_work, crate::loom::sync::atomic::Ordering::Relaxed);
                }
            });
        });
        assert_eq!(g.marked(), n);
        assert_eq!(
            total.load(crate::loom::sync::atomic::Ordering::Relaxed),
            32 * n as u64
        );
        g.check_spans_done();
    }

    /// Two workers and a budgeted assist share one graph; all reachable
    /// objects end up marked, no unreachable one does.
    #[test]
    fn workers_and_assists_share_work_by_stealing() {
        let n = 200_000;
        let g = TestGraph::new(n + 10);
        for i in 0..n {
            if 2 * i + 1 < n {
                g.link(i, 0, Some(2 * i + 1));
            }
            if 2 * i + 2 < n {
                g.link(i, 1, Some(2 * i + 2));
            }
        }
        let q = WorkQueues::new(2);
        {
            let mut root = GcWork::new(&q, &g);
            root.shade(g.addr(0));
            root.dispose();
        }
        std::thread::scope(|s| {
            for slot in 0..2 {
                let (q, g) = (&q, &g);
                s.spawn(move || {
                    let mut w = GcWork::for_worker(q, g, slot);
                    while !q.is_done() {
                        w.drain(None);
                        w.dispose();
                        std::thread::yield_now();
                    }
                });
            }
            let (q, g) = (&q, &g);
            s.spawn(move || {
                while !q.is_done() {
                    let mut a = GcWork::new(q, g);
                    a.drain(Some(4096));
                    a.dispose();
                }
            });
        });
        assert_eq!(g.marked(), n);
        assert_eq!(q.pending(), 0);
    }
}
