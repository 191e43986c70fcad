//! loom model of parked assists: an assist that parks waiting for
//! background credit is always woken by the worker that flushes it (no lost
//! wake-up), and takes the credit afterwards. See [`crate::mark::assist`].

use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;
use crate::mark::assist::AssistCredit;

/// The host's half: `block_until` checks the condition and sleeps under
/// one lock; `wake_blocked` takes the same lock and wakes everyone (as
/// `GortHost` and `MockHost` do).
struct MiniHost {
    waiters: Mutex<()>,
    cv: Condvar,
}

impl MiniHost {
    fn block_until(&self, done: &dyn Fn() -> bool) {
        let mut g = self.waiters.lock();
        while !done() {
            g = self.cv.wait(g);
        }
    }

    fn wake_blocked(&self) {
        let _g = self.waiters.lock();
        self.cv.notify_all();
    }
}

#[test]
fn loom_assist_park_vs_credit_flush() {
    loom::model(|| {
        let credit = Arc::new(AssistCredit::new());
        let host = Arc::new(MiniHost {
            waiters: Mutex::new(()),
            cv: Condvar::new(),
        });
        let need = 2;
        let worker = {
            let (credit, host) = (credit.clone(), host.clone());
            thread::spawn(move || {
                // Two slices of background work, one unit each.
                for _ in 0..2 {
                    if credit.flush(1) {
                        host.wake_blocked();
                    }
                }
            })
        };
        // The assist: no credit yet and nothing to scan → park. A lost
        // wake-up leaves it asleep forever: loom reports the deadlock.
        let mut paid = credit.take(need);
        while paid < need {
            credit.will_park();
            let want = need - paid;
            host.block_until(&|| credit.available() >= want);
            credit.unparked();
            paid += credit.take(need - paid);
        }
        worker.join().unwrap();
        assert_eq!(paid, need);
        assert_eq!(credit.available(), 0, "credit taken exactly once");
        assert!(!credit.any_parked());
    });
}
