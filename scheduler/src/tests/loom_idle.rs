//! loom: the spinning-M wake-up protocol. A submitter publishes work while
//! the only spinning M gives up: either the M's re-check finds the work, or
//! the submitter sees an idle P and no spinner and wakes an M. Never both
//! miss (the two SeqCst fences of `idle.rs`).

use crate::idle::Idle;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::thread;

#[test]
fn loom_idle_spinning_wakeup_not_lost() {
    loom::model(|| {
        // Two Ps: P0 runs the submitting goroutine, P1 is held by the
        // spinning M. Nobody is idle yet.
        let idle = Arc::new(Idle::new());
        idle.nmspinning.store(1, SeqCst);
        let work = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicBool::new(false));

        let (i2, w2, k2) = (idle.clone(), work.clone(), woken.clone());
        let submitter = thread::spawn(move || {
            w2.fetch_add(1, Relaxed); // runqput (published)
            if i2.should_wake() {
                k2.store(true, Relaxed); // startm(spinning)
            }
        });

        // The spinning M.
        let mut taken = work.load(Relaxed) > 0;
        if !taken {
            idle.npidle.fetch_add(1, SeqCst); // pidleput
            idle.stop_spinning();
            if work.load(Relaxed) > 0 {
                // re-check found work: take the P back
                idle.npidle.fetch_sub(1, SeqCst);
                taken = true;
            }
        } else {
            idle.found_work();
        }
        submitter.join().unwrap();
        assert!(
            taken || woken.load(Relaxed),
            "work published but nobody will run it"
        );
    });
}
