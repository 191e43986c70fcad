//! The park/unpark hand-shake between a parking G and its waker.
//!
//! See [crate] for the overview. Parking is two steps on two stacks:
//!
//! 1. On the G's stack, **before** it publishes itself to any waker (puts a
//!    sudog on a channel queue, a timer in the heap, …) it calls
//!    [`ParkState::prepare`]. Then it publishes itself, releases whatever lock
//!    guarded the publication, and switches to g0.
//! 2. On g0, once the G is off its stack, the scheduler calls
//!    [`ParkState::commit`]. If that succeeds the G is parked: it owns no M
//!    and whoever wakes it will make it runnable. If it fails, a waker came
//!    in between step 1 and step 2: the G goes straight back on the run
//!    queue.
//!
//! A waker calls [`ParkState::unpark`] exactly once per publication. It
//! returns `true` when the waker must make the G runnable (the G had
//! committed), `false` when the G's own M will (the G was still on its way
//! to g0). Either way exactly one side readies the G — no lost wake-up and no
//! double run; `loom_park` checks it.

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};

/// Not parking.
const RUNNING: u8 = 0;
/// Published to wakers, still on the way to g0 (or about to commit).
const PARKING: u8 = 1;
/// Committed: off its stack, waiting for a waker.
const PARKED: u8 = 2;
/// A waker came before the commit.
const NOTIFIED: u8 = 3;

/// Atomic; written by the parking G, its M's g0 and one waker, as above.
#[derive(Debug, Default)]
pub(crate) struct ParkState(AtomicU8);

impl ParkState {
    /// A state that is not parking.
    pub(crate) fn new() -> ParkState {
        ParkState(AtomicU8::new(RUNNING))
    }

    /// Step 1, on the G's stack, before publishing the G to wakers.
    pub(crate) fn prepare(&self) {
        // Relaxed: the publication that follows (a lock release or a Release
        // store) orders this store before any waker's swap.
        self.0.store(PARKING, Relaxed);
    }

    /// Step 2, on g0 after the switch. `true`: parked; `false`: a waker
    /// already came, the caller must make the G runnable again.
    pub(crate) fn commit(&self) -> bool {
        // AcqRel: Release publishes the G's saved stack pointer and status
        // (written before the switch) to the waker that swaps PARKED out;
        // Acquire (on failure) pairs with the waker's swap so the values it
        // handed over are visible when the G resumes.
        match self.0.compare_exchange(PARKING, PARKED, AcqRel, Acquire) {
            Ok(_) => true,
            Err(NOTIFIED) => {
                self.0.store(RUNNING, Relaxed);
                false
            }
            Err(s) => crate::rt_throw!("park commit in state {s}"),
        }
    }

    /// Called once by a waker. `true`: the G was parked and the caller must
    /// make it runnable.
    pub(crate) fn unpark(&self) -> bool {
        // AcqRel: Acquire pairs with the Release of `commit` (the G's saved
        // context is visible before we queue it); Release publishes whatever
        // the waker handed over (a received value) to the G.
        match self.0.swap(NOTIFIED, AcqRel) {
            PARKED => {
                self.0.store(RUNNING, Relaxed);
                true
            }
            PARKING => false,
            s => crate::rt_throw!("unpark of a goroutine in park state {s}"),
        }
    }
}
