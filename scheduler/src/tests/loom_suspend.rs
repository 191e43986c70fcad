//! loom: the suspension hand-shake (`suspend.rs`). A stopper requests a
//! suspension, waits until the handler reports it suspended, reads what the
//! handler published (the saved sp), and resumes it; the handler (entered
//! at any point, before or after the request — a signal may arrive late)
//! suspends only if asked and always returns. A late resume is never lost
//! and the stopper never reads before the handler published.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::suspend::{Suspension, REQ_SUSPEND};

struct Sim {
    susp: Suspension,
    sp: UnsafeCell<usize>,
    handler_done: AtomicBool,
}

// SAFETY: `sp` is written by the handler before the Release that raises
// `suspended` and read by the stopper after its Acquire (checked by loom).
unsafe impl Sync for Sim {}
// SAFETY: as above.
unsafe impl Send for Sim {}

/// The handler's wait: under loom a yield instead of a futex (the word is
/// re-read on return, as after a spurious futex wake-up).
fn wait(_w: &crate::loom::sync::atomic::AtomicU32, _seen: u32) {
    thread::yield_now();
}

fn handler(s: &Sim) {
    if s.susp.requests() & REQ_SUSPEND != 0 {
        // SAFETY: published before `suspend` raises the flag (Release).
        s.susp
            .suspend(|| s.sp.with_mut(|p| unsafe { *p = 0xfeed }), wait);
    }
    s.handler_done.store(true, SeqCst);
}

#[test]
fn loom_suspend_handshake() {
    loom::model(|| {
        let s = Arc::new(Sim {
            susp: Suspension::new(),
            sp: UnsafeCell::new(0),
            handler_done: AtomicBool::new(false),
        });
        // The signal is delivered after the request (as pthread_kill after
        // `request`), so the handler thread starts after it.
        s.susp.request(REQ_SUSPEND);
        let h = {
            let s = s.clone();
            thread::spawn(move || handler(&s))
        };
        // The stopper waits for the suspension, reads, resumes.
        while !s.susp.is_suspended() {
            thread::yield_now();
        }
        // SAFETY: the Acquire in `is_suspended` pairs with the handler's
        // Release: the write of `sp` is visible and nothing writes it now.
        let sp = s.sp.with(|p| unsafe { *p });
        assert_eq!(sp, 0xfeed);
        s.susp.resume(|_| {});
        h.join().unwrap();
        assert!(s.handler_done.load(SeqCst));
    });
}

#[test]
fn loom_suspend_late_signal() {
    // The world restarts before the handler runs: the handler must not
    // wait for a resume that already happened.
    loom::model(|| {
        let s = Arc::new(Sim {
            susp: Suspension::new(),
            sp: UnsafeCell::new(0),
            handler_done: AtomicBool::new(false),
        });
        s.susp.request(REQ_SUSPEND);
        let h = {
            let s = s.clone();
            thread::spawn(move || handler(&s))
        };
        s.susp.resume(|_| {});
        h.join().unwrap();
        assert!(s.handler_done.load(SeqCst));
        assert!(!s.susp.is_suspended());
    });
}
