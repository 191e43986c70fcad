//! loom: the hand-over of a P its goroutine left (`handoff.rs`). The M
//! leaves its P (publishing a value first, as it publishes its G's saved sp
//! and status) and then tries to take it back, while sysmon tries to retake
//! it and a stopper tries to stop it. Exactly one of the three wins the P,
//! and whoever wins sees what the M published.

use crate::handoff::{PState, PStatus};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::thread;

struct Sim {
    p: PState,
    /// What the M published before leaving (its G's saved sp).
    published: UnsafeCell<usize>,
    wins: AtomicUsize,
}

// SAFETY: `published` is written by the M before the Release of
// `PState::set` and read only by the winner of a CAS out of `Syscall`
// (Acquire): loom checks that this is race-free.
unsafe impl Sync for Sim {}
// SAFETY: as above.
unsafe impl Send for Sim {}

fn take(s: &Sim, to: PStatus) {
    if s.p.cas(PStatus::Syscall, to) {
        // SAFETY: the CAS's Acquire pairs with the M's Release `set`.
        let v = s.published.with(|p| unsafe { *p });
        assert_eq!(v, 42, "the winner sees what the M published");
        s.wins.fetch_add(1, SeqCst);
    }
}

#[test]
fn loom_syscall_handover() {
    loom::model(|| {
        let s = Arc::new(Sim {
            p: PState::new(PStatus::Running),
            published: UnsafeCell::new(0),
            wins: AtomicUsize::new(0),
        });
        let m = {
            let s = s.clone();
            thread::spawn(move || {
                // leave_p: publish, then Running → Syscall
                // SAFETY: nobody reads before the Release below.
                s.published.with_mut(|p| unsafe { *p = 42 });
                s.p.set(PStatus::Syscall);
                // exitsyscall: take it back
                take(&s, PStatus::Running);
            })
        };
        let sysmon = {
            let s = s.clone();
            thread::spawn(move || {
                if s.p.get() == PStatus::Syscall {
                    take(&s, PStatus::Idle);
                }
            })
        };
        // The stopper, on this thread.
        if s.p.get() == PStatus::Syscall {
            take(&s, PStatus::GcStop);
        }
        m.join().unwrap();
        sysmon.join().unwrap();
        // The M always reaches its own CAS after leaving, so the P is taken
        // exactly once.
        assert_eq!(s.wins.load(SeqCst), 1);
        assert_ne!(s.p.get(), PStatus::Syscall);
    });
}
