//! loom: the stack-scan claim (`scanstate.rs`). A mark worker's stack job
//! races the M that is about to switch into the same parked goroutine: the
//! stack is scanned exactly once in the epoch, and never while the
//! goroutine runs (loom reports a data race if a scan's read of the stack
//! is not ordered before the goroutine's first write to it).

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::scanstate::{Claim, ScanState};

/// A goroutine's stack: scanners read it, the goroutine writes it once it
/// runs.
struct Stack(UnsafeCell<u64>);
// SAFETY: accesses are ordered by the claim protocol under test (loom
// reports a data race otherwise).
unsafe impl Sync for Stack {}

/// One scanner's side: claim, scan (read the stack), publish; or find it
/// scanned; or wait while another scanner holds it. Returns whether this
/// scanner scanned.
fn ensure_scanned(st: &ScanState, stack: &Stack, epoch: u32, scans: &AtomicUsize) -> bool {
    loop {
        match st.try_claim(epoch) {
            Claim::Mine => {
                // SAFETY: the claim makes us the only scanner, and the
                // goroutine does not run before our publication.
                let v = stack.0.with(|p| unsafe { *p });
                assert_eq!(v, 7, "a scan saw the stack of a running goroutine");
                scans.fetch_add(1, SeqCst);
                st.publish(epoch);
                return true;
            }
            Claim::Scanned => return false,
            Claim::Busy => thread::yield_now(),
        }
    }
}

#[test]
fn loom_scan_claim_worker_vs_scheduler() {
    loom::model(|| {
        const EPOCH: u32 = 3;
        let st = Arc::new(ScanState::new());
        let stack = Arc::new(Stack(UnsafeCell::new(7)));
        let scans = Arc::new(AtomicUsize::new(0));
        let (st2, stack2, scans2) = (st.clone(), stack.clone(), scans.clone());
        // The mark worker's stack job.
        let worker = thread::spawn(move || ensure_scanned(&st2, &stack2, EPOCH, &scans2));
        // The M: the fast check, then claim or wait, then run the goroutine,
        // which writes its stack.
        if !st.is_scanned(EPOCH) {
            ensure_scanned(&st, &stack, EPOCH, &scans);
        }
        assert!(st.is_scanned(EPOCH));
        // SAFETY: ordered after every scan by the publication's Release and
        // our Acquire (loom checks it).
        stack.0.with_mut(|p| unsafe { *p = 8 });
        worker.join().unwrap();
        assert_eq!(scans.load(SeqCst), 1, "the stack is scanned exactly once");
    });
}

#[test]
fn loom_scan_two_jobs_and_a_newborn() {
    // Two stack jobs race for a parked goroutine; a goroutine born in the
    // epoch (by its spawner, before it is published) is never scanned.
    loom::model(|| {
        const EPOCH: u32 = 5;
        let parked = Arc::new(ScanState::new());
        let newborn = Arc::new(ScanState::new());
        newborn.born(EPOCH);
        let stack = Arc::new(Stack(UnsafeCell::new(7)));
        let scans = Arc::new(AtomicUsize::new(0));
        let mut joins = Vec::new();
        for _ in 0..2 {
            let (p, n, stack, scans) = (
                parked.clone(),
                newborn.clone(),
                stack.clone(),
                scans.clone(),
            );
            joins.push(thread::spawn(move || {
                assert_eq!(n.try_claim(EPOCH), Claim::Scanned);
                ensure_scanned(&p, &stack, EPOCH, &scans)
            }));
        }
        let by: usize = joins.into_iter().map(|j| j.join().unwrap() as usize).sum();
        assert_eq!(by, 1);
        assert_eq!(scans.load(SeqCst), 1);
        // The next epoch finds both unscanned again.
        assert_eq!(parked.try_claim(EPOCH + 1), Claim::Mine);
        assert_eq!(newborn.try_claim(EPOCH + 1), Claim::Mine);
    });
}
