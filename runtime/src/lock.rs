//! The runtime crate's std mutexes, held pinned.
//!
//! Some of this crate's locks are taken both by goroutines and by code
//! that runs with the world stopped (the collector's waiter list, the
//! tracer's buffer). A goroutine suspended by the preemption signal while
//! it held one would deadlock that code, so each is held with the
//! goroutine pinned ([`gort_scheduler::NoPreempt`]: not preempted
//! asynchronously until the guard drops). Like every runtime lock, these
//! are never held across a blocking gort operation. Poison-free: a panic
//! elsewhere ends the process (Go's panic semantics), so a poisoned lock is
//! never observed in a running program.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A locked std mutex, with the calling goroutine pinned.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    // Dropped after `guard` (fields drop in order): unpinned once unlocked.
    _pin: gort_scheduler::NoPreempt,
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Locks `m` with the calling goroutine pinned.
pub(crate) fn lock<T>(m: &Mutex<T>) -> Locked<'_, T> {
    let pin = gort_scheduler::NoPreempt::new();
    Locked {
        guard: m.lock().unwrap_or_else(PoisonError::into_inner),
        _pin: pin,
    }
}
