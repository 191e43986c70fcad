//! loom: the park/unpark hand-shake — exactly one side readies the G, and a
//! value handed over by the waker is visible to the G whichever side wins.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::park::ParkState;

struct Slot(UnsafeCell<u64>);
// SAFETY: accesses are ordered by the park hand-shake under test (loom
// reports a data race otherwise).
unsafe impl Sync for Slot {}

#[test]
fn loom_park_unpark_no_lost_wakeup() {
    loom::model(|| {
        let st = Arc::new(ParkState::new());
        let readied = Arc::new(AtomicUsize::new(0));
        let value = Arc::new(Slot(UnsafeCell::new(0)));
        // Step 1 on the G: prepare, then publish (the spawn publishes).
        st.prepare();
        let (st2, r2, v2) = (st.clone(), readied.clone(), value.clone());
        let waker = thread::spawn(move || {
            // The waker hands over a value, then wakes.
            // SAFETY: the G reads it only after being readied.
            v2.0.with_mut(|p| unsafe { *p = 42 });
            if st2.unpark() {
                r2.fetch_add(1, SeqCst);
                true
            } else {
                false
            }
        });
        // Step 2 on g0 after the switch.
        if !st.commit() {
            // Notified before the commit: g0 requeues the G, which reads
            // the value right away.
            readied.fetch_add(1, SeqCst);
            // SAFETY: ordered after the waker's write by commit's Acquire.
            assert_eq!(value.0.with(|p| unsafe { *p }), 42);
        }
        let by_waker = waker.join().unwrap();
        assert_eq!(readied.load(SeqCst), 1);
        if by_waker {
            // SAFETY: join orders the write.
            assert_eq!(value.0.with(|p| unsafe { *p }), 42);
        }
    });
}
