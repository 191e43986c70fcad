//! Goroutine-aware `WaitGroup` and `Mutex<T>`: blocking parks the
//! goroutine, not the OS thread.
//!
//! See [crate] for the overview.

use crate::g::{WaitReason, G};
use crate::lock::SpinLock;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use crate::loom::sync::Arc;
use crate::sched;
use std::collections::VecDeque;

/// Goroutines parked on a sync object. Protected by its `SpinLock`.
#[derive(Debug, Default)]
struct Waiters(VecDeque<usize>);

/// `sync.WaitGroup`: wait for a collection of goroutines to finish. A
/// cloneable handle; clones share the counter.
///
/// ```
/// use gort_scheduler::{go, run, sync::WaitGroup};
/// run(|| {
///     let wg = WaitGroup::new();
///     for _ in 0..10 {
///         wg.add(1);
///         let wg = wg.clone();
///         go(move || wg.done());
///     }
///     wg.wait();
/// });
/// ```
#[derive(Debug, Clone, Default)]
pub struct WaitGroup {
    inner: Arc<WgInner>,
}

#[derive(Debug, Default)]
struct WgInner {
    /// High 32 bits: the counter (signed); low 32 bits: waiters. Go's
    /// `state` packing.
    state: AtomicU64,
    lock: SpinLock,
    /// Protected by `lock`.
    waiters: UnsafeCell<Waiters>,
}

// SAFETY: `waiters` is protected by `lock`; the rest is atomic.
unsafe impl Sync for WgInner {}
// SAFETY: as above.
unsafe impl Send for WgInner {}

impl WaitGroup {
    /// A counter at zero.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `delta` (may be negative) to the counter; at zero, every waiter
    /// is released.
    ///
    /// # Panics
    ///
    /// `sync: negative WaitGroup counter` if the counter goes below zero.
    pub fn add(&self, delta: i64) {
        let i = &self.inner;
        let d = (delta as u64) << 32;
        // AcqRel: Release publishes the work done before `done()` to the
        // waiter; Acquire orders the waiter check below.
        let state = i.state.fetch_add(d, AcqRel).wrapping_add(d);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter reached zero with waiters: release them all.
        i.lock.lock();
        i.state.store(0, Release);
        // SAFETY: lock held.
        let ws: Vec<usize> = i
            .waiters
            .with_mut(|q| unsafe { (*q).0.drain(..).collect() });
        i.lock.unlock();
        for g in ws {
            sched::unpark(g as *mut G);
        }
    }

    /// `add(-1)`.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks until the counter is zero.
    pub fn wait(&self) {
        let i = &self.inner;
        loop {
            // Acquire: pairs with the AcqRel in `add`.
            let s = i.state.load(Acquire);
            if (s >> 32) as i32 == 0 {
                return;
            }
            i.lock.lock();
            // Register as a waiter only if nothing changed meanwhile.
            if i.state.compare_exchange(s, s + 1, AcqRel, Relaxed).is_ok() {
                sched::park_with(WaitReason::WaitGroup, |g| {
                    // SAFETY: lock held.
                    i.waiters
                        .with_mut(|q| unsafe { (*q).0.push_back(g as usize) });
                    i.lock.unlock();
                });
                return;
            }
            i.lock.unlock();
        }
    }
}

/// A mutual-exclusion lock whose `lock` parks the goroutine (Go's
/// `sync.Mutex`, holding the value like Rust's). Ownership is handed
/// directly to the longest waiter on unlock, so waiters never starve.
#[derive(Debug, Default)]
pub struct Mutex<T> {
    /// Bit 0: locked; bit 1: there are waiters.
    state: AtomicU32,
    lock: SpinLock,
    /// Protected by `lock`.
    waiters: UnsafeCell<Waiters>,
    value: UnsafeCell<T>,
}

const LOCKED: u32 = 1;
const WAITERS: u32 = 2;

// SAFETY: the value is only reachable through a guard, which exists once
// at a time (the lock protocol); T: Send because guards move between
// goroutines and threads.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Mutex<T> {}

/// Proof of holding a [`Mutex`]; unlocks on drop.
#[derive(Debug)]
pub struct MutexGuard<'a, T> {
    m: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `v`.
    pub fn new(v: T) -> Mutex<T> {
        Mutex {
            state: AtomicU32::new(0),
            lock: SpinLock::new(),
            waiters: UnsafeCell::new(Waiters::default()),
            value: UnsafeCell::new(v),
        }
    }

    /// Locks, parking the goroutine while another holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Acquire: pairs with the Release in `unlock`.
        if self
            .state
            .compare_exchange(0, LOCKED, Acquire, Relaxed)
            .is_ok()
        {
            return MutexGuard { m: self };
        }
        self.lock_slow();
        MutexGuard { m: self }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange(0, LOCKED, Acquire, Relaxed)
            .ok()
            .map(|_| MutexGuard { m: self })
    }

    #[cold]
    fn lock_slow(&self) {
        for _ in 0..32 {
            // Acquire: as in `lock`.
            let s = self.state.load(Relaxed);
            if s & LOCKED == 0
                && self
                    .state
                    .compare_exchange(s, s | LOCKED, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            crate::loom::hint::spin_loop();
        }
        self.lock.lock();
        loop {
            let s = self.state.load(Relaxed);
            if s & LOCKED == 0 {
                // Acquire: as in `lock`.
                if self
                    .state
                    .compare_exchange(s, s | LOCKED, Acquire, Relaxed)
                    .is_ok()
                {
                    self.lock.unlock();
                    return;
                }
                continue;
            }
            if self
                .state
                .compare_exchange(s, s | WAITERS, Relaxed, Relaxed)
                .is_ok()
            {
                break;
            }
        }
        // Park; `unlock` hands us the lock (LOCKED stays set).
        sched::park_with(WaitReason::Mutex, |g| {
            // SAFETY: spin lock held.
            self.waiters
                .with_mut(|q| unsafe { (*q).0.push_back(g as usize) });
            self.lock.unlock();
        });
        // Acquire fence: pairs with the Release store in `unlock_slow`; the
        // previous holder's writes are visible to us.
        crate::loom::sync::atomic::fence(Acquire);
    }

    fn unlock(&self) {
        // Release: publishes the critical section to the next holder.
        if self
            .state
            .compare_exchange(LOCKED, 0, Release, Relaxed)
            .is_ok()
        {
            return;
        }
        self.unlock_slow();
    }

    #[cold]
    fn unlock_slow(&self) {
        self.lock.lock();
        // SAFETY: spin lock held.
        let (next, more) = self.waiters.with_mut(|q| unsafe {
            let q = &mut *q;
            (q.0.pop_front(), !q.0.is_empty())
        });
        match next {
            Some(g) => {
                // Hand-off: stays LOCKED, now owned by `g`.
                // Release: pairs with the Acquire fence in `lock_slow`.
                self.state
                    .store(LOCKED | if more { WAITERS } else { 0 }, Release);
                self.lock.unlock();
                sched::unpark(g as *mut G);
            }
            None => {
                // Release: as in `unlock`.
                self.state.store(0, Release);
                self.lock.unlock();
            }
        }
    }

    /// Consumes the mutex, returning the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T> core::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves exclusive access.
        self.m.value.with(|p| unsafe { &*p })
    }
}

impl<T> core::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive access.
        self.m.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}
