//! Marking: shading roots and draining grey objects (≈ Go's `mgcmark.go`).
//! See [crate] for the overview.
//!
//! The mark code sees the heap only through `ObjectGraph`: find the object
//! containing an address, set its mark bit, list what a scannable object
//! points to. The collector implements it over the real heap
//! ([`crate::collector`]); the loom models and unit tests implement it over
//! small hand-made graphs, so the same queue and termination code runs in
//! both.
//!
//! * `work`: the grey queues and the token count that detects termination.
//! * `assist`: background credit and parked assists.
//! * `roots`: conservative scanning of root ranges, word by word.
//!
//! # Tried on the scan loop and not kept
//!
//! Each measured alone on a forced collection of a tree of 16-byte nodes
//! (the `marktree` sample: process CPU across `gc()`, alternating runs
//! against the unchanged binary), none made a difference beyond the
//! run-to-run spread, so none is in the code:
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
//!
//! `perf` puts half of the shade's samples on the mark bit's `lock bts`,
//! and the cost per object was the same with one P as with two (so not
//! mark-bit lines bouncing between markers). Go 1.26's answer is to stop
//! marking object by object: page-local marking (Green Tea) queues spans
//! and scans the objects of a page together.

pub(crate) mod assist;
pub(crate) mod roots;
pub(crate) mod work;

/// What kind of object, for scanning (the span class's kind, see the heap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    /// Holds no managed pointers: marked black directly, never scanned.
    Noscan,
    /// Traced precisely through its type's `Trace`.
    Precise,
    /// Every aligned word is a candidate pointer.
    Conservative,
}

/// An object found by [`ObjectGraph::mark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Obj {
    /// First byte of the object.
    pub(crate) base: usize,
    /// Size in bytes (the slot size of its size class, or the large span).
    pub(crate) size: usize,
    /// How to scan it.
    pub(crate) kind: ObjKind,
}

/// The collector's view of the heap while marking. Every method may be
/// called from many threads at once, concurrently with allocation.
pub(crate) trait ObjectGraph: Sync {
    /// Find the allocated object containing `addr` (interior addresses
    /// count) and set its mark bit. `None` if `addr` is in no allocated
    /// object; otherwise the object and whether this call marked it (it was
    /// white).
    fn mark(&self, addr: usize) -> Option<(Obj, bool)>;
    /// Call `f` with every candidate referent of the marked object at `base`
    /// (precise fields, or every word of a conservative object) and return
    /// the object's size. A marked object is not freed while marking runs.
    fn trace(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize;
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
    use super::*;
    use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    /// `n` objects of 32 bytes at `base`; `edges[i]` are i's referents.
    pub(crate) struct TestGraph {
        pub(crate) base: usize,
        pub(crate) marks: Vec<AtomicBool>,
        pub(crate) edges: Vec<[AtomicUsize; 3]>,
        pub(crate) noscan: Vec<bool>,
    }

    impl TestGraph {
        pub(crate) fn new(n: usize) -> TestGraph {
            TestGraph {
                base: 0x10_0000,
                marks: (0..n).map(|_| AtomicBool::new(false)).collect(),
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
        pub(crate) fn addr(&self, i: usize) -> usize {
            self.base + 32 * i
        }
        pub(crate) fn link(&self, from: usize, field: usize, to: Option<usize>) {
            self.edges[from][field].store(to.map_or(0, |t| self.addr(t)), Relaxed);
        }
        pub(crate) fn marked(&self) -> usize {
            self.marks.iter().filter(|m| m.load(Relaxed)).count()
        }
    }

    impl ObjectGraph for TestGraph {
        fn mark(&self, addr: usize) -> Option<(Obj, bool)> {
            if addr < self.base || addr >= self.base + 32 * self.marks.len() {
                return None;
            }
            let i = (addr - self.base) / 32;
            let obj = Obj {
                base: self.addr(i),
                size: 32,
                kind: if self.noscan[i] {
                    ObjKind::Noscan
                } else {
                    ObjKind::Precise
                },
            };
            Some((obj, !self.marks[i].swap(true, Relaxed)))
        }
        fn trace(&self, base: usize, f: &mut dyn FnMut(usize)) -> usize {
            for e in &self.edges[(base - self.base) / 32] {
                let v = e.load(Relaxed);
                if v != 0 {
                    f(v);
                }
            }
            32
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
