//! loom models of the marking protocols: the barrier racing a marker, mark
//! termination racing barrier-buffer flushes, and work-stealing termination.
//! They run the real `GcWork`, `WorkQueues` and `BarrierState` code over a
//! tiny [`TestGraph`]; the P's "running between safepoints" is a loom mutex
//! the mutator holds while it runs and the terminator takes to stop it.

use crate::barrier::BarrierState;
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::mark::test_graph::TestGraph;
use crate::mark::work::{GcWork, WorkQueues};

/// The terminator's check, as `Collector::mark_termination` does it: once
/// the token count says no grey object is left, stop the world (take the
/// P), flush the P's buffer, and finish only if that shaded nothing.
/// Returns with the world still stopped, as mark termination ends.
fn terminate<'p>(
    q: &WorkQueues,
    g: &TestGraph,
    b: &BarrierState,
    p: &'p Mutex<()>,
) -> crate::loom::sync::MutexGuard<'p, ()> {
    let mut gcw = GcWork::for_worker(q, g, 0);
    loop {
        gcw.drain(None);
        gcw.dispose();
        if !q.is_done() {
            thread::yield_now();
            continue;
        }
        let stopped = p.lock();
        // SAFETY: holding the P's lock is the model's stopped world.
        unsafe { b.flush(0, q, g) };
        if q.is_done() {
            return stopped;
        }
    }
}

/// With the world stopped at the end of mark: every object reachable from
/// `roots` through the graph's current edges is marked.
fn assert_reachable_marked(g: &TestGraph, roots: &[usize]) {
    let mut seen = vec![false; g.len()];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        assert!(
            g.is_marked(i),
            "object {i} is reachable but white at the end of mark"
        );
        for e in &g.edges[i] {
            let v = e.load(crate::loom::sync::atomic::Ordering::Relaxed);
            if v != 0 {
                stack.push((v - g.base) / 32);
            }
        }
    }
}

/// An object moved from one field to another during marking is never lost.
/// 0 is the root (already black when the mutator runs), 1 is grey and holds
/// the only pointer to 2. The mutator copies 1.f into 0.f and clears 1.f,
/// each store after the barrier, while a marker drains concurrently.
#[test]
fn loom_barrier_vs_marker() {
    loom::model(|| {
        let g = Arc::new(TestGraph::new(3));
        g.link(1, 0, Some(2));
        let q = Arc::new(WorkQueues::new(1));
        let b = Arc::new(BarrierState::new(1));
        let p = Arc::new(Mutex::new(()));
        {
            // Roots at mark start: 0 and 1; 0 scanned (black).
            let mut w = GcWork::new(&q, &*g);
            w.shade(g.addr(0));
            w.drain(None);
            w.shade(g.addr(1));
            w.dispose();
        }
        let m = {
            let (g, q, b, p) = (g.clone(), q.clone(), b.clone(), p.clone());
            thread::spawn(move || {
                let _running = p.lock();
                let v = g.edges[1][0].load(crate::loom::sync::atomic::Ordering::Relaxed);
                // SAFETY: this thread owns P 0 while it holds `p`.
                unsafe { b.enqueue(0, 0, v, &q, &*g) };
                g.link(0, 0, Some(2));
                // SAFETY: as above.
                unsafe { b.enqueue(0, v, 0, &q, &*g) };
                g.link(1, 0, None);
            })
        };
        let stopped = terminate(&q, &g, &b, &p);
        assert_reachable_marked(&g, &[0, 1]);
        drop(stopped);
        m.join().unwrap();
    });
}

/// Mark termination racing a P that fills and flushes its own buffer
/// (4 entries under loom, so the second store flushes): the terminator never
/// ends marking with a reachable object white, whether the P's own flush
/// happens before, during or after the terminator's check.
#[test]
fn loom_mark_termination_vs_buffer_flush() {
    loom::model(|| {
        // 0 root; 1, 2, 3 reachable only through the mutator's stores.
        let g = Arc::new(TestGraph::new(4));
        let q = Arc::new(WorkQueues::new(1));
        let b = Arc::new(BarrierState::new(1));
        let p = Arc::new(Mutex::new(()));
        {
            let mut w = GcWork::new(&q, &*g);
            w.shade(g.addr(0));
            w.dispose();
        }
        let m = {
            let (g, q, b, p) = (g.clone(), q.clone(), b.clone(), p.clone());
            thread::spawn(move || {
                for (field, obj) in [(0usize, 1usize), (1, 2), (2, 3)] {
                    let _running = p.lock();
                    // The new value is shaded (old is null); a white object
                    // stored into a black one is the insertion case.
                    // SAFETY: this thread owns P 0 while it holds `p`.
                    unsafe { b.enqueue(0, 0, g.addr(obj), &q, &*g) };
                    g.link(0, field, Some(obj));
                }
            })
        };
        let stopped = terminate(&q, &g, &b, &p);
        assert_reachable_marked(&g, &[0]);
        drop(stopped);
        m.join().unwrap();
    });
}

/// Two workers share a chain 0 → 1 → 2 → 3 by stealing. A worker that
/// leaves because the token count reads 0 must find every reachable object
/// marked at that moment: termination is never detected early.
#[test]
fn loom_work_stealing_termination() {
    loom::model(|| {
        let g = Arc::new(TestGraph::new(4));
        g.link(0, 0, Some(1));
        g.link(0, 1, Some(2));
        g.link(2, 0, Some(3));
        let q = Arc::new(WorkQueues::new(2));
        {
            let mut w = GcWork::new(&q, &*g);
            w.shade(g.addr(0));
            w.dispose();
        }
        let workers: Vec<_> = (0..2)
            .map(|slot| {
                let (g, q) = (g.clone(), q.clone());
                thread::spawn(move || {
                    let mut w = GcWork::for_worker(&q, &*g, slot);
                    loop {
                        w.drain(None);
                        w.dispose();
                        if q.is_done() {
                            assert_eq!(g.marked(), 4, "termination detected with work left");
                            return;
                        }
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    });
}

/// Page-local marking (`mark::span`) with two workers over spans of two
/// objects: {0, 1} and {2, 3}. Roots 0 and 2 are shaded first (each takes
/// its span: two entries). Scanning 0 marks 3 in span 1 while the other
/// worker may be releasing span 1 to scan 2 (the marker-vs-release race of
/// the owned byte); 3 points back at 1, in span 0, which its scanner may be
/// scanning (a "mine" object of the round, marked at the round's end).
/// When a worker reads termination, every reachable object is marked and
/// every marked one was scanned exactly when it should be: the marks equal
/// the scanned bits and no span is left owned.
#[test]
fn loom_span_marking_vs_release() {
    loom::model(|| {
        let g = Arc::new(TestGraph::with_spans(4, 2));
        g.link(0, 0, Some(3));
        g.link(3, 0, Some(1));
        let q = Arc::new(WorkQueues::new(2));
        {
            let mut w = GcWork::new(&q, &*g);
            assert!(w.shade(g.addr(0)));
            assert!(w.shade(g.addr(2)));
            w.dispose();
        }
        let workers: Vec<_> = (0..2)
            .map(|slot| {
                let (g, q) = (g.clone(), q.clone());
                thread::spawn(move || {
                    let mut w = GcWork::for_worker(&q, &*g, slot);
                    loop {
                        w.drain(None);
                        w.dispose();
                        if q.is_done() {
                            assert_eq!(g.marked(), 4, "termination detected with work left");
                            return;
                        }
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        g.check_spans_done();
    });
}

/// The barrier (a mutator's shade, no span being scanned) racing a worker
/// that scans the span the shaded object lives in: the object is marked
/// while the span's entry is queued or being taken, and is still scanned
/// (it points to 3, which must end up marked).
#[test]
fn loom_span_shade_vs_scanner() {
    loom::model(|| {
        // Span {0, 1}: 0 is a root with an entry; 1 is reachable only
        // through the mutator's shade. Span {2, 3}: 1 → 3.
        let g = Arc::new(TestGraph::with_spans(4, 2));
        g.link(1, 0, Some(3));
        let q = Arc::new(WorkQueues::new(1));
        {
            let mut w = GcWork::new(&q, &*g);
            w.shade(g.addr(0));
            w.dispose();
        }
        let m = {
            let (g, q) = (g.clone(), q.clone());
            thread::spawn(move || {
                let mut w = GcWork::new(&q, &*g);
                w.shade(g.addr(1));
                w.dispose();
            })
        };
        let mut w = GcWork::for_worker(&q, &*g, 0);
        loop {
            w.drain(None);
            w.dispose();
            if q.is_done() {
                break;
            }
            thread::yield_now();
        }
        drop(w);
        m.join().unwrap();
        // The mutator's shade is over: whatever it left is queued.
        let mut w = GcWork::for_worker(&q, &*g, 0);
        w.drain(None);
        w.dispose();
        drop(w);
        assert!(q.is_done());
        assert_eq!(g.marked(), 3, "0, 1 and 3 are reachable");
        assert!(!g.is_marked(2));
        g.check_spans_done();
    });
}

/// The "many marks" path of `span::try_acquire`, which only reads the owned
/// byte: spans of three objects, {0, 1, 2} and {3, 4, 5}; roots 0 and 3
/// (two entries). Scanning 0 marks 4 (span 1 is owned: "many", an RMW)
/// and then 5 (a read of "many", no write) while the other worker may be
/// taking span 1's entry. 4 and 5 point back into span 0 (1 and 2), so
/// termination with either unscanned leaves a reachable object white. This
/// model fails if `span::take` reads the mark words with loads instead of
/// RMWs.
#[test]
fn loom_span_many_marks_vs_release() {
    loom::model(|| {
        let g = Arc::new(TestGraph::with_spans(6, 3));
        g.link(0, 0, Some(4));
        g.link(0, 1, Some(5));
        g.link(4, 0, Some(1));
        g.link(5, 0, Some(2));
        let q = Arc::new(WorkQueues::new(2));
        {
            let mut w = GcWork::new(&q, &*g);
            assert!(w.shade(g.addr(0)));
            assert!(w.shade(g.addr(3)));
            w.dispose();
        }
        let workers: Vec<_> = (0..2)
            .map(|slot| {
                let (g, q) = (g.clone(), q.clone());
                thread::spawn(move || {
                    let mut w = GcWork::for_worker(&q, &*g, slot);
                    loop {
                        w.drain(None);
                        w.dispose();
                        if q.is_done() {
                            assert_eq!(g.marked(), 6, "termination detected with work left");
                            return;
                        }
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        g.check_spans_done();
    });
}
