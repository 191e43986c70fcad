//! sysmon: the scheduler's monitor thread, and the timers it fires.
//!
//! See [crate] for the overview. sysmon runs on its own OS thread without a
//! P (as in Go). Each round it
//!
//! 0. every 100 ms, returns the pages of (at most 512) pooled stacks beyond the pool cap
//!    (`sched::scavenge_stacks`);
//! 1. fires expired timers (readies the sleeping goroutines), and
//! 2. retakes Ps (`preempt::retake`): a P left by a goroutine in a system
//!    call goes to another M when there is work for it; a goroutine that
//!    has held its P without a safepoint for a tick while others wait is
//!    asked by signal whether it sits in the kernel (then it leaves the P);
//!    one that has run more than [`FORCE_PREEMPT`] is asked to yield at its
//!    next safepoint (the G's `preempt` flag and `POLL_PREEMPT`) and, if
//!    others wait, to leave its P at its next async-safe instruction.
//!
//! It then sleeps until the earliest timer or for its delay — 20 µs while
//! it finds Ps to retake, doubling after 1 ms of idle rounds up to 10 ms, as
//! Go's sysmon does; adding an earlier timer wakes it.
//!
//! Timers live in one heap under one lock (Go keeps a heap per P; one heap
//! is simpler and enough for `sleep`). A pending timer keeps the deadlock
//! detector quiet, as in Go: its goroutine will wake.

use crate::g::{WaitReason, G};
use crate::hooks::now_nanos;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Condvar, Mutex};
use crate::sched::{self, POLL, POLL_PREEMPT};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A goroutine that holds its P longer than this is asked to yield (Go's
/// `forcePreemptNS`).
pub const FORCE_PREEMPT: Duration = Duration::from_millis(10);

/// How often sysmon returns the pages of cold pooled stacks.
const SCAVENGE_PERIOD: Duration = Duration::from_millis(100);

/// sysmon's longest sleep (Go's 10 ms).
const SYSMON_TICK: Duration = Duration::from_millis(10);

/// sysmon's shortest sleep, while it finds Ps to retake (Go's 20 µs).
const SYSMON_MIN: Duration = Duration::from_micros(20);

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
    let mut ticks = Vec::new();
    let mut idle = 0u32;
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
        // 2. queue the goroutines preempted by signal (they wait in their
        // handler), then retake Ps from goroutines in system calls or long
        // runs, and ask long runners to yield (`preempt.rs`)
        sched::drain_preempted(sched::sched());
        let (acted, outstanding) = crate::preempt::retake(now, &mut ticks);
        if outstanding {
            POLL.fetch_or(POLL_PREEMPT, SeqCst);
        } else if POLL.load(Relaxed) & POLL_PREEMPT != 0 {
            POLL.fetch_and(!POLL_PREEMPT, SeqCst);
        }
        // Go's sysmon delay: 20 µs while it finds work, doubling after 50
        // idle rounds (1 ms), up to 10 ms.
        if acted {
            idle = 0;
        } else {
            idle += 1;
        }
        let delay = if idle <= 50 {
            SYSMON_MIN
        } else {
            (SYSMON_MIN * (1 << (idle - 50).min(10))).min(SYSMON_TICK)
        };
        // 3. sleep
        let now = now_nanos();
        let tick_end = now + delay.as_nanos() as u64;
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
