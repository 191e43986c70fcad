//! The stop-the-world rendezvous: Go's `gcwaiting` / `stopwait` / `stopnote`.
//!
//! See [crate] ("The stop-the-world protocol"). The stopper sets
//! `stopwait = gomaxprocs` and raises `gcwaiting`; every P stops once —
//! a running P's M at its next safepoint or scheduling point
//! ([`World::stop_and_park`]), an idle P on the stopper's behalf
//! ([`World::stop_one`]) — and the last one wakes the stopper. The stopper
//! later calls [`World::release`], which bumps the **epoch** every parked M
//! waits on. Parked Ms read the epoch under the same lock as they decrement
//! `stopwait`, so a release can never slip between the two (`loom_stw`).
//!
//! The stopper sleeps on a futex word (the **nudge**) that the last P to
//! stop bumps; so does a goroutine that leaves its P in the preemption
//! handler for the stop (the handler may take no lock), and the stopper
//! then stops that P at once rather than at its next tick.

use crate::loom::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::*};
use crate::loom::sync::{Condvar, Mutex};

/// Where a P was counted as stopped (for the fatal error of a P counted
/// twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopSite {
    /// Its M, at a scheduling point (`gcstopm`).
    Gcstopm,
    /// Its M released it to the idle list while a stop was pending.
    Pidleput,
    /// The stopper's own P.
    Stopper,
    /// The stopper took it off the idle list.
    IdleList,
    /// The stopper took it out of the `Syscall` state.
    Syscall,
}

impl StopSite {
    const ALL: [StopSite; 5] = [
        StopSite::Gcstopm,
        StopSite::Pidleput,
        StopSite::Stopper,
        StopSite::IdleList,
        StopSite::Syscall,
    ];

    fn name(self) -> &'static str {
        match self {
            StopSite::Gcstopm => "its M (gcstopm)",
            StopSite::Pidleput => "its M going idle (pidleput)",
            StopSite::Stopper => "the stopper, as its own P",
            StopSite::IdleList => "the stopper, off the idle list",
            StopSite::Syscall => "the stopper, out of the Syscall state",
        }
    }
}

/// Rendezvous state.
#[derive(Debug)]
pub(crate) struct World {
    /// A stop is requested or in force. Written by the stopper only.
    gcwaiting: AtomicBool,
    /// Ps that still have to stop. Decremented under `lock`.
    stopwait: AtomicI32,
    /// The epoch and the stop marks.
    lock: Mutex<Rendezvous>,
    /// The stopper's wake-up word: bumped (and the stopper woken) when the
    /// last P stops and when a goroutine leaves its P in the preemption
    /// handler for the stop (the stopper then stops that P at once instead
    /// of at its next tick). A futex, because the handler may take no lock.
    nudge: AtomicU32,
    /// Signalled on release.
    start_cond: Condvar,
}

/// What [`World`]'s lock guards.
#[derive(Debug)]
struct Rendezvous {
    /// Incremented by every [`World::release`].
    epoch: u64,
    /// Per P id: `(epoch + 1) << 8 | site` of the last stop the P was
    /// counted in. Every P stops exactly once per stop; a second count
    /// means two parties each believed they held the P, and is reported
    /// with both sites rather than as a count gone negative (or, worse, as
    /// a stop that ends while a P still runs). Grown on demand.
    marks: Vec<u64>,
}

/// Wakes the stopper sleeping on the nudge word (see [`World::nudge`]).
#[cfg(not(loom))]
fn wake(word: &AtomicU32) {
    crate::preempt::futex_wake(word);
}

/// loom's stopper spins on the word instead (a loom atomic is no futex).
#[cfg(loom)]
fn wake(_: &AtomicU32) {}

impl World {
    pub(crate) fn new() -> World {
        World {
            gcwaiting: AtomicBool::new(false),
            stopwait: AtomicI32::new(0),
            lock: Mutex::new(Rendezvous {
                epoch: 0,
                marks: Vec::new(),
            }),
            nudge: AtomicU32::new(0),
            start_cond: Condvar::new(),
        }
    }

    /// Whether a stop is requested (the safepoint slow path reads it).
    pub(crate) fn requested(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `request`.
        self.gcwaiting.load(Acquire)
    }

    /// The stopper: `nprocs` Ps must stop.
    pub(crate) fn request(&self, nprocs: i32) {
        self.stopwait.store(nprocs, Relaxed);
        // SeqCst: the store is ordered before the stopper's later lock
        // acquisitions and reads of P status (StoreLoad with Ms that
        // release Ps under the scheduler lock).
        self.gcwaiting.store(true, SeqCst);
    }

    /// P `id` stopped on someone else's behalf (the stopper's own P, an
    /// idle P, a P left in a system call) or released while a stop is
    /// pending.
    pub(crate) fn stop_one(&self, id: usize, site: StopSite) {
        let mut l = self.lock.lock();
        self.dec_locked(&mut l, id, site);
    }

    fn dec_locked(&self, r: &mut Rendezvous, id: usize, site: StopSite) {
        if r.marks.len() <= id {
            r.marks.resize(id + 1, 0);
        }
        let prev_mark = r.marks[id];
        if prev_mark >> 8 == r.epoch + 1 {
            let first = StopSite::ALL[(prev_mark & 0xff) as usize];
            crate::rt_throw!(
                "stopTheWorld: P {id} stopped twice: by {}, then by {}",
                first.name(),
                site.name()
            );
        }
        r.marks[id] = (r.epoch + 1) << 8 | site as u64;
        // AcqRel: pairs with the stopper's Acquire load in `wait_stopped`;
        // everything this P did before stopping happens-before the stopper
        // proceeds.
        let prev = self.stopwait.fetch_sub(1, AcqRel);
        if prev == 1 {
            self.nudge(wake);
        } else if prev < 1 {
            crate::rt_throw!("stopTheWorld: stopwait went negative");
        }
    }

    /// A running P's M stops: counts itself and parks until the world
    /// starts again.
    pub(crate) fn stop_and_park(&self, id: usize) {
        let mut l = self.lock.lock();
        let epoch = l.epoch;
        self.dec_locked(&mut l, id, StopSite::Gcstopm);
        while l.epoch == epoch {
            l = self.start_cond.wait(l);
        }
    }

    /// Wakes the stopper if it sleeps in [`World::wait_stopped`]: `wake`
    /// is a futex wake of the word. Lock-free and async-signal-safe (the
    /// preemption handler calls it).
    pub(crate) fn nudge(&self, wake: impl FnOnce(&AtomicU32)) {
        // Release: pairs with the Acquire load in `wait_stopped`: what the
        // nudger did before (a P left in the `Syscall` state, a count) is
        // visible to the stopper's next look.
        self.nudge.fetch_add(1, Release);
        wake(&self.nudge);
    }

    /// The stopper waits for every P. Each round it runs `tick` (which
    /// stops the Ps left in system calls and re-pokes running goroutines
    /// now and then), then, unless every P has stopped, `sleep(word,
    /// seen)`: a futex wait with a short timeout, which returns at once if
    /// a nudge came since `seen` was read. A nudge before that read is
    /// seen by this round's `tick` and count check (the Release/Acquire
    /// pair on the word), so none is lost.
    pub(crate) fn wait_stopped(
        &self,
        mut tick: impl FnMut(),
        mut sleep: impl FnMut(&AtomicU32, u32),
    ) {
        loop {
            // Acquire: pairs with the Release in `nudge`.
            let seen = self.nudge.load(Acquire);
            tick();
            // Acquire: pairs with the AcqRel decrements.
            if self.stopwait.load(Acquire) <= 0 {
                return;
            }
            sleep(&self.nudge, seen);
        }
    }

    /// The stopper restarts the world.
    pub(crate) fn release(&self) {
        let mut l = self.lock.lock();
        // Release: pairs with the Acquire in `requested`.
        self.gcwaiting.store(false, Release);
        l.epoch += 1;
        self.start_cond.notify_all();
    }
}
