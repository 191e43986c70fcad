//! loom: the stop-the-world rendezvous. Two Ps' Ms run "user code" with a
//! safepoint between steps and then go idle (as `find_runnable` does, under
//! the scheduler lock); a stopper requests the stop, takes the idle Ps,
//! waits, checks nobody runs, and restarts. No P runs while stopped, and
//! every M resumes and finishes afterwards.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::world::{StopSite, World};

struct Sim {
    world: World,
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
        s.world.stop_and_park(id);
    }
    // go idle (pidleput_locked)
    let mut l = s.idle.lock();
    if s.world.requested() {
        s.world.stop_one(id, StopSite::Pidleput);
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
                s.world.stop_one(id, StopSite::IdleList);
            }
        }
        s.world.wait_stopped(|| {}, |_, _| thread::yield_now());
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

/// A GOMAXPROCS decrease that destroys the stopper's own P moves the
/// stopper to P 0, which an M parked in `gcstopm` held: after the restart
/// exactly one M takes P 0 for its own (the parked M sees that the P names
/// another M and leaves it, as `gcstopm` does).
#[test]
fn loom_stopper_takes_p0() {
    loom::model(|| {
        const PARKED: usize = 1;
        const STOPPER: usize = 2;
        let s = Arc::new(Sim {
            world: World::new(),
            idle: Mutex::new(Vec::new()),
            in_user: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        });
        // P 0's owner name (`P::m`), and how many Ms hold it afterwards.
        let owner = Arc::new(AtomicUsize::new(PARKED));
        let holders = Arc::new(AtomicUsize::new(0));
        s.world.request(2);
        let parked = {
            let (s, owner, holders) = (s.clone(), owner.clone(), holders.clone());
            thread::spawn(move || {
                // gcstopm on P 0.
                s.world.stop_and_park(0);
                // Acquire: pairs with the stopper's Release store.
                if owner.load(Acquire) == PARKED {
                    holders.fetch_add(1, SeqCst);
                }
            })
        };
        // The stopper's own P (P 1) stops; it waits for P 0.
        s.world.stop_one(1, StopSite::Stopper);
        s.world.wait_stopped(|| {}, |_, _| thread::yield_now());
        // P 1 is destroyed: the stopper takes P 0.
        owner.store(STOPPER, Release);
        holders.fetch_add(1, SeqCst);
        s.world.release();
        parked.join().unwrap();
        assert_eq!(holders.load(SeqCst), 1, "P 0 held by two Ms");
    });
}
