//! sysmon: the scheduler's monitor thread, and the timers it fires.
//!
//! See [crate] for the overview. sysmon runs on its own OS thread without a
//! P (as in Go). Each round it
//!
//! 0. every 100 ms, returns the pages of (at most 512) pooled stacks beyond the pool cap
//!    (`sched::scavenge_stacks`);
//! 1. fires expired timers (readies the sleeping goroutines), and
//! 2. asks a goroutine that has held its P for more than [`FORCE_PREEMPT`]
//!    (the P's `schedtick` has not moved) to yield at its next safepoint:
//!    it sets the G's `preempt` flag and the `POLL_PREEMPT` bit of the
//!    safepoint word. Preemption is cooperative: a goroutine that never
//!    reaches a safepoint is never preempted.
//!
//! It then sleeps until the earliest timer or for [`SYSMON_TICK`], whichever
//! is sooner; adding an earlier timer wakes it.
//!
//! Timers live in one heap under one lock (Go keeps a heap per P; one heap
//! is simpler and enough for `sleep`). A pending timer keeps the deadlock
//! detector quiet, as in Go: its goroutine will wake.

use crate::g::{WaitReason, G};
use crate::hooks::now_nanos;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Condvar, Mutex};
use crate::sched::{self, sched, PStatus, POLL, POLL_PREEMPT};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A goroutine that holds its P longer than this is asked to yield (Go's
/// `forcePreemptNS`).
pub const FORCE_PREEMPT: Duration = Duration::from_millis(10);

/// How often sysmon returns the pages of cold pooled stacks.
const SCAVENGE_PERIOD: Duration = Duration::from_millis(100);

/// sysmon's longest sleep.
const SYSMON_TICK: Duration = Duration::from_millis(5);

#[derive(Debug, Default)]
struct Timers {
    /// (when in now_nanos, sequence, G address).
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    seq: u64,
    /// sysmon is asleep until this time (u64::MAX: idle).
    sysmon_until: u64,
}

/// Protected by its own lock (a leaf: nothing is acquired under it).
static TIMERS: Mutex<Timers> = Mutex::new(Timers {
    heap: BinaryHeap::new(),
    seq: 0,
    sysmon_until: u64::MAX,
});
static TIMERS_COND: Condvar = Condvar::new();
/// Timers not yet delivered: decremented only after the sleeper has been
/// readied, so the deadlock check never sees "no timer and nothing
/// runnable" in between.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Timers that have not yet readied their goroutine.
pub(crate) fn pending_timers() -> usize {
    PENDING.load(SeqCst)
}

/// `time.Sleep`: parks the calling goroutine for at least `d`.
pub(crate) fn sleep(d: Duration) {
    if d.is_zero() {
        sched::gosched();
        return;
    }
    let when = now_nanos().saturating_add(d.as_nanos().min(u64::MAX as u128) as u64);
    sched::park_with(WaitReason::Sleep, |g| {
        let mut t = TIMERS.lock();
        t.seq += 1;
        let seq = t.seq;
        t.heap.push(Reverse((when, seq, g as usize)));
        PENDING.fetch_add(1, SeqCst);
        if when < t.sysmon_until {
            TIMERS_COND.notify_one();
        }
    });
}

/// sysmon's body.
pub(crate) fn sysmon() {
    let s = sched();
    // Per P: (last schedtick seen, when it was first seen).
    let mut seen: Vec<(u32, u64)> = Vec::new();
    let mut last_scavenge = 0u64;
    loop {
        let now = now_nanos();
        // 0. return the pages of cold pooled stacks (every 100 ms)
        if now.saturating_sub(last_scavenge) >= SCAVENGE_PERIOD.as_nanos() as u64 {
            last_scavenge = now;
            sched::scavenge_stacks();
        }
        // 1. timers
        let mut due: Vec<usize> = Vec::new();
        let next = {
            let mut t = TIMERS.lock();
            while let Some(Reverse((when, _, g))) = t.heap.peek().copied() {
                if when > now {
                    break;
                }
                t.heap.pop();
                due.push(g);
            }
            t.heap.peek().map(|Reverse((w, _, _))| *w)
        };
        let delivered = !due.is_empty();
        for g in due {
            sched::unpark(g as *mut G);
            PENDING.fetch_sub(1, SeqCst);
        }
        if delivered {
            // The last M may have gone idle while a delivery was pending.
            sched::checkdead_now();
        }
        // 2. preemption requests
        let n = s.nprocs();
        seen.resize(n.max(seen.len()), (0, now));
        let mut outstanding = false;
        for (i, slot) in seen.iter_mut().enumerate().take(n) {
            let p = s.p(i);
            if p.is_null() {
                continue;
            }
            // SAFETY: Ps are leaked.
            let p = unsafe { &*p };
            let tick = p.schedtick.load(Relaxed);
            if p.status() != PStatus::Running || tick != slot.0 {
                *slot = (tick, now);
                continue;
            }
            let m = p.m.load(Relaxed);
            if m.is_null() {
                continue;
            }
            // SAFETY: Ms are leaked; Gs are never freed (a stale G is
            // harmless: the flag is cleared when a G is scheduled).
            let g = unsafe { &*m }.curg.load(Relaxed);
            if g.is_null() {
                continue;
            }
            // SAFETY: as above.
            let gr = unsafe { &*g };
            if now.saturating_sub(slot.1) >= FORCE_PREEMPT.as_nanos() as u64 {
                gr.preempt.store(true, Relaxed);
                outstanding = true;
            } else if gr.preempt.load(Relaxed) {
                outstanding = true;
            }
        }
        if outstanding {
            POLL.fetch_or(POLL_PREEMPT, SeqCst);
        } else if POLL.load(Relaxed) & POLL_PREEMPT != 0 {
            POLL.fetch_and(!POLL_PREEMPT, SeqCst);
        }
        // 3. sleep
        let now = now_nanos();
        let tick_end = now + SYSMON_TICK.as_nanos() as u64;
        let until = next.map_or(tick_end, |w| w.min(tick_end));
        let mut t = TIMERS.lock();
        if t.heap.peek().is_some_and(|Reverse((w, _, _))| *w < until) {
            continue;
        }
        t.sysmon_until = until;
        if until > now {
            let (g, _) = TIMERS_COND.wait_timeout(t, Duration::from_nanos(until - now));
            t = g;
        }
        t.sysmon_until = u64::MAX;
    }
}
