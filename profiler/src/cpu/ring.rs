//! The sample ring: a preallocated, bounded, lock-free multi-producer /
//! single-consumer queue of stacks, with a drop counter (the role of Go's
//! `profBuf`).
//!
//! See [crate::cpu] for the overview. Producers are SIGPROF handlers on any
//! number of threads; they may not allocate, lock or wait, so a full ring
//! **drops** the sample and counts it in [`Ring::lost`] (reported in the
//! profile as Go reports lost samples). The consumer is the profiler's
//! reader thread.
//!
//! # Protocol (D. Vyukov's bounded queue, one consumer)
//!
//! Each slot has a sequence number `seq`. With `cap` slots, slot `i` starts
//! at `seq = i`. For the position `pos` (a counter that only grows; the slot
//! is `pos % cap`):
//!
//! * `seq == pos`: the slot is free for the producer of `pos`. A producer
//!   claims `pos` by a CAS `tail: pos → pos + 1`, writes the stack, then
//!   publishes with `seq = pos + 1` (Release).
//! * `seq == pos + 1`: the slot holds the stack of `pos`, ready for the
//!   consumer, who reads it and frees the slot for the next lap with
//!   `seq = pos + cap` (Release).
//! * `seq < pos` (as seen by a producer at `pos`): the consumer has not freed
//!   the slot from the previous lap — the ring is full: drop and count.
//!
//! Fields and what protects them:
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `tail` | producers (CAS) | producers |
//! | `head` | the consumer only | the consumer |
//! | slot `tag`, `len`, `pcs` | the producer that claimed the slot, before its Release on `seq` | the consumer, after its Acquire of `seq == pos + 1` |
//! | slot `seq` | producer (publish), consumer (free) | both |
//! | `lost` | producers (Relaxed add) | anyone (a statistic) |
//!
//! A producer that has claimed a slot but not yet published it holds up the
//! consumer at that slot (the consumer sees `seq != pos + 1` and returns
//! "empty for now"); it never waits itself. A handler runs to completion
//! quickly, and SIGPROF is blocked while its own handler runs, so a thread
//! never interrupts its own unfinished push.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

/// Most PCs one sample holds: the interrupted PC plus 63 return PCs
/// (the brief's 64-frame bound).
pub const MAX_STACK: usize = 64;

struct Slot {
    seq: AtomicUsize,
    /// The sample's tag (the CPU profiler's: the label word of the
    /// interrupted goroutine).
    tag: UnsafeCell<u64>,
    len: UnsafeCell<usize>,
    pcs: UnsafeCell<[u64; MAX_STACK]>,
}

/// A bounded MPSC ring of stacks (see the module doc).
pub struct Ring {
    slots: Box<[Slot]>,
    tail: AtomicUsize,
    head: AtomicUsize,
    lost: AtomicU64,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.slots.len())
            .field("lost", &self.lost())
            .finish()
    }
}

// SAFETY: the slots' cells are accessed under the seq protocol above: a
// slot's data has one writer (the claiming producer) before its Release
// publish and one reader (the consumer) after the matching Acquire.
unsafe impl Sync for Ring {}
// SAFETY: as above; the ring owns plain data.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring of `capacity` slots (≥ 1), all allocated now.
    pub fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                tag: UnsafeCell::new(0),
                len: UnsafeCell::new(0),
                pcs: UnsafeCell::new([0; MAX_STACK]),
            })
            .collect();
        Ring {
            slots,
            tail: AtomicUsize::new(0),
            head: AtomicUsize::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Samples dropped because the ring was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Relaxed)
    }

    /// Takes the lost-sample count, resetting it to 0.
    pub fn take_lost(&self) -> u64 {
        self.lost.swap(0, Relaxed)
    }

    /// Appends a stack (at most [`MAX_STACK`] PCs are kept). Never blocks,
    /// never allocates: async-signal-safe. Returns false (and counts a lost
    /// sample) when the ring is full.
    pub fn push(&self, pcs: &[u64]) -> bool {
        self.push_tagged(0, pcs)
    }

    /// [`Ring::push`] with a tag word, handed back by [`Ring::pop_tagged`]
    /// with the stack.
    pub fn push_tagged(&self, tag: u64, pcs: &[u64]) -> bool {
        let cap = self.slots.len();
        let mut pos = self.tail.load(Relaxed);
        let slot = loop {
            let slot = &self.slots[pos % cap];
            // Acquire: pairs with the consumer's Release free (`seq = pos +
            // cap` of the previous lap), so its reads of the slot happen
            // before our writes.
            let seq = slot.seq.load(Acquire);
            let dif = seq.wrapping_sub(pos) as isize;
            if dif == 0 {
                match self
                    .tail
                    .compare_exchange_weak(pos, pos + 1, Relaxed, Relaxed)
                {
                    Ok(_) => break slot,
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                self.lost.fetch_add(1, Relaxed);
                return false;
            } else {
                // Another producer took `pos`; catch up.
                pos = self.tail.load(Relaxed);
            }
        };
        let n = pcs.len().min(MAX_STACK);
        // SAFETY: we claimed `pos`: no other producer writes this slot until
        // the consumer frees it, and the consumer reads it only after our
        // Release below.
        unsafe {
            slot.pcs
                .with_mut(|p| (&mut *p)[..n].copy_from_slice(&pcs[..n]));
            slot.len.with_mut(|l| *l = n);
            slot.tag.with_mut(|t| *t = tag);
        }
        // Release: publishes the writes above; pairs with the consumer's
        // Acquire in `pop`.
        slot.seq.store(pos + 1, Release);
        true
    }

    /// Removes the oldest published stack into `out` (cleared first).
    /// Returns false when nothing is ready (empty, or the next slot is
    /// claimed but not yet published).
    ///
    /// # Safety
    ///
    /// Single consumer: no two calls of `pop` on the same ring may overlap.
    pub unsafe fn pop(&self, out: &mut Vec<u64>) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.pop_tagged(out) }.is_some()
    }

    /// [`Ring::pop`], returning the stack's tag (None: the ring is empty).
    ///
    /// # Safety
    ///
    /// As for [`Ring::pop`]: only one thread at a time may consume.
    pub unsafe fn pop_tagged(&self, out: &mut Vec<u64>) -> Option<u64> {
        let cap = self.slots.len();
        let pos = self.head.load(Relaxed);
        let slot = &self.slots[pos % cap];
        // Acquire: pairs with the producer's Release publish.
        if slot.seq.load(Acquire) != pos + 1 {
            return None;
        }
        out.clear();
        // SAFETY: seq == pos + 1: the producer is done with the slot and no
        // producer touches it until we free it below.
        let tag = unsafe {
            let n = slot.len.with(|l| *l);
            slot.pcs.with(|p| out.extend_from_slice(&(&*p)[..n]));
            slot.tag.with(|t| *t)
        };
        self.head.store(pos + 1, Relaxed);
        // Release: our reads above happen before the next lap's producer
        // writes (pairs with the Acquire load in `push`).
        slot.seq.store(pos + cap, Release);
        Some(tag)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tags_travel_with_their_stacks() {
        let r = Ring::new(2);
        let mut out = Vec::new();
        assert!(r.push_tagged(0xabc, &[1, 2]));
        assert!(r.push(&[3]));
        // SAFETY: one consumer (this test).
        unsafe {
            assert_eq!(r.pop_tagged(&mut out), Some(0xabc));
            assert_eq!(out, [1, 2]);
            assert_eq!(r.pop_tagged(&mut out), Some(0));
            assert_eq!(out, [3]);
            assert_eq!(r.pop_tagged(&mut out), None);
        }
    }

    #[test]
    fn fifo_order_truncation_and_lost_count() {
        let r = Ring::new(3);
        let mut out = Vec::new();
        // SAFETY: one consumer (this test).
        assert!(!unsafe { r.pop(&mut out) });
        assert!(r.push(&[1, 2]));
        assert!(r.push(&[3]));
        assert!(r.push(&[4; 100]));
        assert!(!r.push(&[5]), "full");
        assert_eq!(r.lost(), 1);
        // SAFETY: one consumer.
        unsafe {
            assert!(r.pop(&mut out));
            assert_eq!(out, [1, 2]);
            assert!(r.pop(&mut out));
            assert_eq!(out, [3]);
            assert!(r.pop(&mut out));
            assert_eq!(out, vec![4; MAX_STACK]);
            assert!(!r.pop(&mut out));
        }
        // The slots are reused on the next lap.
        for lap in 0..10u64 {
            assert!(r.push(&[lap, lap + 1]));
            // SAFETY: one consumer.
            assert!(unsafe { r.pop(&mut out) });
            assert_eq!(out, [lap, lap + 1]);
        }
        assert_eq!(r.take_lost(), 1);
        assert_eq!(r.lost(), 0);
    }

    #[test]
    fn producers_on_threads_lose_nothing_that_fits_and_count_the_rest() {
        let r = Arc::new(Ring::new(64));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut ok = 0u64;
                    for i in 0..5_000u64 {
                        if r.push(&[t, i, t ^ i]) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut out = Vec::new();
        let mut got = 0u64;
        let mut last = [None::<u64>; 4];
        let mut done = false;
        while !done {
            done = threads.iter().all(|t| t.is_finished());
            // SAFETY: this thread is the only consumer.
            while unsafe { r.pop(&mut out) } {
                assert_eq!(out.len(), 3);
                let (t, i) = (out[0], out[1]);
                assert_eq!(out[2], t ^ i, "torn sample");
                // per producer, FIFO
                assert!(last[t as usize].is_none_or(|l| l < i));
                last[t as usize] = Some(i);
                got += 1;
            }
        }
        let pushed: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(got, pushed);
        assert_eq!(pushed + r.lost(), 4 * 5_000);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two producers race for the last free slots while the consumer
    /// drains: every sample is either delivered whole, exactly once, or
    /// counted lost.
    #[test]
    fn loom_two_producers_one_consumer() {
        loom::model(|| {
            let r = Arc::new(Ring::new(2));
            let hs: Vec<_> = (1..=2u64)
                .map(|t| {
                    let r = r.clone();
                    loom::thread::spawn(move || {
                        let a = r.push(&[t, 10 * t]);
                        let b = r.push(&[t, 10 * t + 1]);
                        a as u64 + b as u64
                    })
                })
                .collect();
            let mut out = Vec::new();
            let mut got = Vec::new();
            // SAFETY: this thread is the only consumer.
            if unsafe { r.pop(&mut out) } {
                got.push(out.clone());
            }
            let pushed: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            // SAFETY: as above.
            while unsafe { r.pop(&mut out) } {
                got.push(out.clone());
            }
            assert_eq!(got.len() as u64, pushed);
            assert_eq!(pushed + r.lost(), 4);
            for s in &got {
                assert_eq!(s.len(), 2);
                assert!(s[1] == 10 * s[0] || s[1] == 10 * s[0] + 1, "torn: {s:?}");
            }
            got.sort();
            got.dedup();
            assert_eq!(got.len() as u64, pushed, "duplicate delivery");
        });
    }
}
