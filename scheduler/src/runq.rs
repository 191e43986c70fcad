//! A P's local run queue: Go's fixed ring plus the `runnext` slot.
//!
//! See [crate] for the overview. One owner (the M holding the P) pushes at
//! the tail and pops at the head; any number of stealers take *half* the
//! ring at the head with one CAS. This is Go's `runqput`/`runqget`/
//! `runqgrab` (`proc.go`) on the crate's loom-switchable atomics, so
//! `loom_runq` explores the real code.
//!
//! # Fields
//!
//! | field     | written by                                 | read by            |
//! |-----------|--------------------------------------------|--------------------|
//! | `tail`    | owner only (Release store publishes slots) | owner, stealers    |
//! | `head`    | owner and stealers, by CAS                 | owner, stealers    |
//! | `buf[i]`  | owner (slots in `[tail, head+LEN)`), and a stealer writes into *its own* ring | stealers read `[head, tail)` |
//! | `runnext` | owner (swap), stealers (CAS to null)       | both               |
//!
//! Slots are `AtomicPtr`s accessed with `Relaxed`: a stealer may read a slot
//! the owner is about to overwrite, but its CAS on `head` then fails and the
//! value is discarded (Go relies on the same argument).

use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering::*};

/// Ring capacity: Go's 256. Shrunk to 4 under loom so models reach the
/// overflow and steal-half paths with few operations.
#[cfg(not(loom))]
pub(crate) const RUNQ_LEN: usize = 256;
/// Ring capacity: Go's 256. Shrunk to 4 under loom so models reach the
/// overflow and steal-half paths with few operations.
#[cfg(loom)]
pub(crate) const RUNQ_LEN: usize = 4;

/// A bounded single-producer, multi-consumer ring of `*mut T` plus `runnext`.
#[derive(Debug)]
pub(crate) struct RunQueue<T> {
    /// Next slot to consume. CAS by owner and stealers.
    head: AtomicU32,
    /// Next slot to fill. Written by the owner only.
    tail: AtomicU32,
    /// The ring.
    buf: Box<[AtomicPtr<T>]>,
    /// A G to run next, ahead of the ring (inherits the time slice).
    runnext: AtomicPtr<T>,
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            buf: (0..RUNQ_LEN)
                .map(|_| AtomicPtr::new(core::ptr::null_mut()))
                .collect(),
            runnext: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Owner only. Puts `g` in `runnext` (when `next`) or at the tail.
    /// Returns `true` when stealable work was added (the ring grew or
    /// overflowed): then the caller should wake a spinning M. When the ring
    /// is full, half of it plus the G go to `overflow`, in order, for the
    /// caller to put on the global queue.
    pub(crate) fn put(&self, g: *mut T, next: bool, overflow: &mut Vec<*mut T>) -> bool {
        let mut g = g;
        if next {
            // AcqRel: Release publishes the G to a stealer's CAS; Acquire
            // pairs with a previous owner's swap (same thread, for loom).
            let old = self.runnext.swap(g, AcqRel);
            if old.is_null() {
                return false;
            }
            g = old;
        }
        loop {
            // Acquire: pairs with the Release CAS of stealers/consumers, so
            // their reads of the slots we are about to overwrite are done.
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed); // only we write it
            if (t.wrapping_sub(h) as usize) < RUNQ_LEN {
                self.buf[t as usize % RUNQ_LEN].store(g, Relaxed);
                // Release: pairs with Acquire loads of `tail` in `grab`;
                // publishes the slot.
                self.tail.store(t.wrapping_add(1), Release);
                return true;
            }
            // Full: move half to the global queue (Go's runqputslow).
            let n = (t.wrapping_sub(h) / 2) as usize;
            let start = overflow.len();
            for i in 0..n {
                overflow.push(self.buf[(h as usize + i) % RUNQ_LEN].load(Relaxed));
            }
            // Release: pairs with the owner's own Acquire (and stealers'):
            // the slots were read before they can be reused.
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n as u32), Release, Relaxed)
                .is_ok()
            {
                overflow.push(g);
                return true;
            }
            overflow.truncate(start);
        }
    }

    /// Owner only. Takes `runnext` (second value `true`: it inherits the
    /// time slice) or the head of the ring.
    pub(crate) fn get(&self) -> Option<(*mut T, bool)> {
        let next = self.runnext.load(Relaxed);
        if !next.is_null() {
            // Acquire: pairs with the Release half of the swap in `put`.
            // Only a stealer can race us here; if it wins, fall through.
            if self
                .runnext
                .compare_exchange(next, core::ptr::null_mut(), Acquire, Relaxed)
                .is_ok()
            {
                return Some((next, true));
            }
        }
        loop {
            // Acquire: pairs with stealers' Release CAS on `head`.
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed);
            if t == h {
                return None;
            }
            let g = self.buf[h as usize % RUNQ_LEN].load(Relaxed);
            // Release: our slot read is ordered before the owner (us) or
            // anyone reuses the slot.
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Release, Relaxed)
                .is_ok()
            {
                return Some((g, false));
            }
        }
    }

    /// Whether both the ring and `runnext` look empty (a racy snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Acquire);
        t == h && self.runnext.load(Acquire).is_null()
    }

    /// Whether `runnext` holds a G (a racy snapshot).
    pub(crate) fn has_runnext(&self) -> bool {
        !self.runnext.load(Relaxed).is_null()
    }

    /// Whether the ring is empty (a racy snapshot).
    pub(crate) fn is_ring_empty(&self) -> bool {
        self.head.load(Acquire) == self.tail.load(Acquire)
    }

    /// Number of Gs, including `runnext` (a racy snapshot).
    pub(crate) fn len(&self) -> usize {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Acquire);
        t.wrapping_sub(h) as usize + usize::from(!self.runnext.load(Acquire).is_null())
    }

    /// Steals half of `victim`'s ring into `self` (whose owner must be the
    /// caller) and returns one G to run; the rest is published in `self`.
    /// With `steal_runnext`, an empty ring lets the thief take `runnext`.
    pub(crate) fn steal_from(&self, victim: &RunQueue<T>, steal_runnext: bool) -> Option<*mut T> {
        let t = self.tail.load(Relaxed);
        let n = self.grab(victim, t, steal_runnext);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let g = self.buf[(t as usize + n as usize) % RUNQ_LEN].load(Relaxed);
        if n == 0 {
            return Some(g);
        }
        let h = self.head.load(Acquire);
        if t.wrapping_sub(h) as usize + n as usize >= RUNQ_LEN {
            crate::rt_throw!("runqsteal: runq overflow");
        }
        // Release: pairs with Acquire loads of `tail` by our own stealers;
        // publishes the stolen slots.
        self.tail.store(t.wrapping_add(n), Release);
        Some(g)
    }

    /// Copies half of `victim`'s ring into our slots starting at `t`
    /// (unpublished until the caller moves `tail`). Returns how many.
    fn grab(&self, victim: &RunQueue<T>, t: u32, steal_runnext: bool) -> u32 {
        loop {
            // Acquire (both): pairs with the owner's Release on `tail` and
            // other consumers' Release CAS on `head`.
            let h = victim.head.load(Acquire);
            let vt = victim.tail.load(Acquire);
            let mut n = vt.wrapping_sub(h);
            n -= n / 2;
            if n == 0 {
                if steal_runnext {
                    let next = victim.runnext.load(Acquire);
                    if !next.is_null() {
                        // Acquire: pairs with the Release half of the
                        // owner's swap in `put`.
                        if victim
                            .runnext
                            .compare_exchange(next, core::ptr::null_mut(), Acquire, Relaxed)
                            .is_ok()
                        {
                            self.buf[t as usize % RUNQ_LEN].store(next, Relaxed);
                            return 1;
                        }
                    }
                }
                return 0;
            }
            if n as usize > RUNQ_LEN / 2 {
                // head and tail read at different times: inconsistent.
                continue;
            }
            for i in 0..n {
                let g = victim.buf[(h.wrapping_add(i)) as usize % RUNQ_LEN].load(Relaxed);
                self.buf[(t.wrapping_add(i)) as usize % RUNQ_LEN].store(g, Relaxed);
            }
            // Release: our reads of the victim's slots happen before its
            // owner (Acquire load of head in `put`) reuses them.
            if victim
                .head
                .compare_exchange(h, h.wrapping_add(n), Release, Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Owner only (or with the world stopped): removes everything.
    pub(crate) fn drain(&self, out: &mut Vec<*mut T>) {
        let next = self.runnext.swap(core::ptr::null_mut(), AcqRel);
        if !next.is_null() {
            out.push(next);
        }
        while let Some((g, _)) = self.get() {
            out.push(g);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn p(n: usize) -> *mut u8 {
        n as *mut u8
    }

    #[test]
    fn fifo_runnext_overflow_and_steal() {
        let q = RunQueue::<u8>::new();
        let mut ov = Vec::new();
        assert!(!q.put(p(1), true, &mut ov)); // runnext only: not stealable
        assert!(q.put(p(2), true, &mut ov)); // kicks 1 to the ring
        assert_eq!(q.get(), Some((p(2), true)));
        assert_eq!(q.get(), Some((p(1), false)));
        assert_eq!(q.get(), None);
        for i in 0..RUNQ_LEN {
            q.put(p(i + 10), false, &mut ov);
        }
        assert!(ov.is_empty());
        q.put(p(999), false, &mut ov);
        assert_eq!(ov.len(), RUNQ_LEN / 2 + 1);
        assert_eq!(ov[0], p(10));
        assert_eq!(*ov.last().unwrap(), p(999));
        assert_eq!(q.len(), RUNQ_LEN / 2);
        let thief = RunQueue::<u8>::new();
        let g = thief.steal_from(&q, false).unwrap();
        assert_eq!(g, p(10 + RUNQ_LEN / 2 + RUNQ_LEN / 4 - 1));
        assert_eq!(thief.len() + 1 + q.len(), RUNQ_LEN / 2);
        let mut all = Vec::new();
        q.drain(&mut all);
        thief.drain(&mut all);
        all.push(g);
        all.sort();
        let want: Vec<_> = (10 + RUNQ_LEN / 2..10 + RUNQ_LEN).map(p).collect();
        assert_eq!(all, want);
    }
}
