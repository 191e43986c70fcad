//! loom: the stop-the-world rendezvous. Two Ps' Ms run "user code" with a
//! safepoint between steps and then go idle (as `find_runnable` does, under
//! the scheduler lock); a stopper requests the stop, takes the idle Ps,
//! waits, checks nobody runs, and restarts. No P runs while stopped, and
//! every M resumes and finishes afterwards.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::world::{StopMark, StopSite, World};

struct Sim {
    world: World,
    /// Each P's record of the stop it was counted in.
    marks: [StopMark; 2],
    /// The scheduler lock with the idle-P list.
    idle: Mutex<Vec<usize>>,
    /// Ms inside user code right now.
    in_user: AtomicUsize,
    /// Ms that finished.
    done: AtomicUsize,
}

fn worker(s: &Sim, id: usize) {
    // user code, then a safepoint
    s.in_user.fetch_add(1, SeqCst);
    s.in_user.fetch_sub(1, SeqCst);
    if s.world.requested() {
        s.world.stop_and_park(id, &s.marks[id]);
    }
    // go idle (pidleput_locked)
    let mut l = s.idle.lock();
    if s.world.requested() {
        s.world.stop_one(id, &s.marks[id], StopSite::Pidleput);
    } else {
        l.push(id);
    }
    drop(l);
    s.done.fetch_add(1, SeqCst);
}

#[test]
fn loom_stw_handshake() {
    loom::model(|| {
        let s = Arc::new(Sim {
            world: World::new(),
            marks: [StopMark::new(), StopMark::new()],
            idle: Mutex::new(Vec::new()),
            in_user: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        });
        let ms: Vec<_> = (0..2)
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || worker(&s, i))
            })
            .collect();
        // The stopper (a plain thread: no P of its own).
        s.world.request(2);
        {
            let mut l = s.idle.lock();
            for id in l.drain(..) {
                s.world.stop_one(id, &s.marks[id], StopSite::IdleList);
            }
        }
        s.world.wait_stopped(|| {});
        assert_eq!(
            s.in_user.load(SeqCst),
            0,
            "a P runs while the world is stopped"
        );
        s.world.release();
        for m in ms {
            m.join().unwrap();
        }
        assert_eq!(s.done.load(SeqCst), 2);
    });
}
