//! loom: the deadlock check against a thread outside the scheduler that
//! readies a goroutine (`deadcheck.rs`). The last M goes idle and checks,
//! under the scheduler lock, while a foreign thread — counted in the
//! process's threads from before it runs until after it exits — puts a
//! goroutine on the global queue under the same lock. The check never
//! declares a deadlock: either it sees the thread, or the thread has
//! finished and its goroutine is on the queue. Without the thread count
//! (`foreign_threads` always 0) loom finds the interleaving where the check
//! runs first and declares a false deadlock.

use crate::deadcheck::{deadlocked, Facts};
use crate::loom::sync::atomic::{AtomicI64, AtomicU32, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;

struct Sim {
    /// The scheduler lock with the global queue.
    runq: Mutex<Vec<u32>>,
    external: AtomicU32,
    /// Threads of the process outside the scheduler (the kernel counts a
    /// thread from its creation to its exit).
    foreign: AtomicI64,
}

fn check(s: &Sim, count_threads: bool) -> bool {
    let l = s.runq.lock();
    let facts = Facts {
        run_active: 1,
        external: s.external.load(SeqCst),
        world_requested: false,
        all_ms_idle: true,
        runnable: !l.is_empty(),
        pending_timers: 0,
        goroutines: 1,
        all_ps_idle: true,
    };
    deadlocked(&facts, || {
        if count_threads {
            s.foreign.load(SeqCst)
        } else {
            0
        }
    })
}

fn model(count_threads: bool) {
    loom::model(move || {
        let s = Arc::new(Sim {
            runq: Mutex::new(Vec::new()),
            external: AtomicU32::new(0),
            foreign: AtomicI64::new(1),
        });
        let f = {
            let s = s.clone();
            thread::spawn(move || {
                // `ready` from a thread without a P.
                s.external.fetch_add(1, SeqCst);
                s.runq.lock().push(7);
                s.external.fetch_sub(1, SeqCst);
                // The thread exits.
                s.foreign.fetch_sub(1, SeqCst);
            })
        };
        let dead = check(&s, count_threads);
        f.join().unwrap();
        assert!(
            !dead,
            "false deadlock: a foreign thread readies a goroutine"
        );
    });
}

#[test]
fn loom_deadcheck_foreign_wakeup() {
    model(true);
}

#[test]
#[should_panic(expected = "false deadlock")]
fn loom_deadcheck_without_thread_count_is_wrong() {
    model(false);
}
