//! loom: the copy barrier racing a concurrent stack scan. With stacks
//! scanned one goroutine at a time while the world runs, a value can move
//! out of a stack that is not scanned yet into one that is (a waker copying
//! a parked sender's value into the running receiver's stack) and then
//! vanish from its source. The copy barrier (`barrier::shade_copied`,
//! called before the copy) shades it, so the object is marked however the
//! move interleaves with the stack job's scan of the source — and mark
//! termination waits for the stack job (a scan in progress counts as
//! work). Remove the `shade_copied` call and loom finds the interleaving
//! in which the object is reachable but white when marking ends.

use crate::barrier::shade_copied;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::mark::test_graph::TestGraph;
use crate::mark::work::{GcWork, WorkQueues};

#[test]
fn loom_copy_barrier_vs_stack_scan() {
    loom::model(|| {
        // Object 1 is reachable only from a word on a parked goroutine's
        // stack, which the epoch has not scanned yet.
        let g = Arc::new(TestGraph::new(2));
        let q = Arc::new(WorkQueues::new(1));
        // The running mutator's P: held while it runs between safepoints,
        // taken by the terminator to stop the world.
        let p = Arc::new(Mutex::new(()));
        let unscanned = Arc::new(AtomicUsize::new(g.addr(1)));
        // A slot on the running goroutine's stack: scanned (black) already.
        let scanned = Arc::new(AtomicUsize::new(0));
        let job_done = Arc::new(AtomicBool::new(false));

        // The stack job: scan the parked goroutine's stack conservatively.
        let worker = {
            let (g, q, unscanned, job_done) =
                (g.clone(), q.clone(), unscanned.clone(), job_done.clone());
            thread::spawn(move || {
                let mut gcw = GcWork::new(&q, &*g);
                let w = unscanned.load(SeqCst);
                if w != 0 {
                    gcw.shade(w);
                }
                gcw.dispose();
                job_done.store(true, SeqCst);
            })
        };
        // The mutator: takes the value out of the parked stack, whose slot
        // is then reused.
        let mutator = {
            let (g, q, p, unscanned, scanned) = (
                g.clone(),
                q.clone(),
                p.clone(),
                unscanned.clone(),
                scanned.clone(),
            );
            thread::spawn(move || {
                let _running = p.lock();
                let v = unscanned.load(SeqCst);
                let mut gcw = GcWork::new(&q, &*g);
                shade_copied(&mut gcw, v);
                gcw.dispose();
                scanned.store(v, SeqCst);
                unscanned.store(0, SeqCst);
            })
        };
        // The terminator (a mark worker): drain; once the stack job is done
        // and no grey object is left, stop the world and re-check.
        loop {
            let mut gcw = GcWork::new(&q, &*g);
            gcw.drain(None);
            gcw.dispose();
            if !(job_done.load(SeqCst) && q.is_done()) {
                thread::yield_now();
                continue;
            }
            let stopped = p.lock();
            if q.is_done() {
                for w in [scanned.load(SeqCst), unscanned.load(SeqCst)] {
                    if w != 0 {
                        assert!(
                            g.is_marked(1),
                            "object 1 is reachable but white at the end of mark"
                        );
                    }
                }
                drop(stopped);
                break;
            }
        }
        worker.join().unwrap();
        mutator.join().unwrap();
    });
}
