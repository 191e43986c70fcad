//! loom: the hand-over of a P its goroutine left (`handoff.rs`). The M
//! leaves its P (publishing a value first, as it publishes its G's saved sp
//! and status) and then tries to take it back, while sysmon tries to retake
//! it and a stopper tries to stop it. Exactly one of the three wins the P,
//! and whoever wins sees what the M published; and the M that ends up
//! holding the P is the one the P names.

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

/// A P left in `Syscall` may be retaken, handed to a second M and left by
/// that M in turn before the first M comes back; the first M's CAS then
/// wins a P that another M left. Whoever holds the P at the end must be the
/// M the P names (`P::m`): stoppers and sysmon signal that M, and
/// `gcstopm` takes a P that names another M for one a resize destroyed.
#[test]
fn loom_syscall_owner() {
    const A: usize = 1;
    const B: usize = 2;
    loom::model(|| {
        // M A has left the P (`leave_p`); the P still names A.
        let p = Arc::new(PState::new(PStatus::Syscall));
        let named = Arc::new(AtomicUsize::new(A));
        let held = Arc::new(AtomicUsize::new(0));
        let a = {
            let (p, named, held) = (p.clone(), named.clone(), held.clone());
            thread::spawn(move || {
                // exitsyscall's first step.
                if p.cas(PStatus::Syscall, PStatus::Running) {
                    named.store(A, Relaxed);
                    held.store(A, Relaxed);
                }
            })
        };
        let b = {
            let (p, named, held) = (p.clone(), named.clone(), held.clone());
            thread::spawn(move || {
                // sysmon retakes the P and hands it to M B (`acquirep`)...
                if p.cas(PStatus::Syscall, PStatus::Idle) {
                    named.store(B, Relaxed);
                    held.store(B, Relaxed);
                    p.set(PStatus::Running);
                    // ... whose goroutine leaves it in turn, and comes back.
                    p.set(PStatus::Syscall);
                    if p.cas(PStatus::Syscall, PStatus::Running) {
                        named.store(B, Relaxed);
                        held.store(B, Relaxed);
                    }
                }
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        if p.get() == PStatus::Running {
            assert_eq!(named.load(Relaxed), held.load(Relaxed));
        }
    });
}
