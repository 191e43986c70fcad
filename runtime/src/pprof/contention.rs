//! The `block` and `mutex` profiles: time goroutines spent blocked.
//!
//! See [super] for the overview.
//!
//! # How blocking is observed
//!
//! The scheduler already reports every park and every start of a
//! goroutine to one recorder (`gort_scheduler::set_recorder`, the hook the
//! execution tracer uses). This module installs a recorder that
//!
//! 1. on `GoBlock` (reported on the blocking goroutine's own stack, just
//!    before it switches away) notes the time and walks the goroutine's
//!    frame-pointer chain — the stack of the channel operation, `select`,
//!    `WaitGroup::wait` or `Mutex::lock` that blocked;
//! 2. on the next `GoStart` of that goroutine computes the delay (blocked
//!    plus waiting to run, as Go's `blockevent` measures it) and adds it to
//!    the record of that stack.
//!
//! and forwards every event to the tracer when a trace is being recorded
//! ([`set_trace_recorder`]). No scheduler code changes were needed.
//!
//! # Sampling, as Go does
//!
//! * **block** (`runtime.SetBlockProfileRate(rate)`, ns): an event of
//!   `delay >= rate` is always recorded; a shorter one with probability
//!   `delay / rate`, and then counted as `rate / delay` events of total
//!   `rate` ns (Go 1.19 `saveblockevent`); rate 0 turns it off, 1 records
//!   everything. Parks for `sleep` and the collector's own waits are not
//!   blocking events (Go records neither).
//! * **mutex** (`runtime.SetMutexProfileFraction(n)`): one in `n` waits for
//!   a contended [`crate::sync::Mutex`] is recorded; the profile multiplies
//!   back by `n`. As in Go, the delay — from the moment the waiter started
//!   waiting until the mutex was handed to it — is charged to the stack of
//!   the goroutine that **unlocked** it: the unlock wakes the waiter, and the
//!   scheduler reports that wake-up (`GoUnblock`) on the unlocking
//!   goroutine's own stack, which is walked then.
//!
use super::symbolize_stack;
use gort_profiler::pprof::{contention_profile, ContentionKind, ContentionRecord};
use gort_scheduler::{SchedEvent, SchedRecorder, WaitReason};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Go's block profile rate, ns (0 = off).
static BLOCK_RATE: AtomicI64 = AtomicI64::new(0);
/// Go's mutex profile fraction (0 = off).
static MUTEX_FRACTION: AtomicI64 = AtomicI64::new(0);

/// Frames kept per blocking stack.
const MAX_FRAMES: usize = 64;

/// A goroutine that parked, waiting to be started again.
struct Pending {
    t0: u64,
    reason: WaitReason,
    pcs: Vec<u64>,
    /// For a mutex wait: when and by whom (stack) it was woken.
    unlock: Option<(u64, Vec<u64>)>,
}

/// One record, keyed by raw stack.
#[derive(Default, Clone, Copy)]
struct Counts {
    count: i64,
    nanos: i64,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    block: HashMap<Vec<u64>, Counts>,
    mutex: HashMap<Vec<u64>, Counts>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tracer's recorder, when a trace is running (events are forwarded).
static TRACE: AtomicPtr<&'static dyn SchedRecorder> = AtomicPtr::new(std::ptr::null_mut());

struct Recorder;
static RECORDER: Recorder = Recorder;

impl SchedRecorder for Recorder {
    fn record(&self, nanos: u64, ev: SchedEvent) {
        let t = TRACE.load(Ordering::Acquire);
        if !t.is_null() {
            // SAFETY: non-null values are leaked boxes, never freed.
            unsafe { *t }.record(nanos, ev);
        }
        // Installed for the tracer alone: nothing more to do (and no lock
        // or stack walk to slow the events down).
        if BLOCK_RATE.load(Ordering::Relaxed) == 0 && MUTEX_FRACTION.load(Ordering::Relaxed) == 0 {
            return;
        }
        match ev {
            SchedEvent::GoBlock { goid, reason } if profiled(reason) => {
                let mut pcs = Vec::with_capacity(16);
                super::walk_own_stack(&mut pcs, MAX_FRAMES);
                if let Some(s) = state().as_mut() {
                    s.pending.insert(
                        goid,
                        Pending {
                            t0: nanos,
                            reason,
                            pcs,
                            unlock: None,
                        },
                    );
                }
            }
            SchedEvent::GoUnblock { goid } if MUTEX_FRACTION.load(Ordering::Relaxed) > 0 => {
                // Reported by the goroutine that woke `goid`, on its own
                // stack: for a mutex, the unlocker (see the module docs).
                let mut st = state();
                let Some(s) = st.as_mut() else { return };
                if let Some(p) = s.pending.get_mut(&goid) {
                    if p.reason == WaitReason::Mutex && p.unlock.is_none() {
                        let mut pcs = Vec::with_capacity(16);
                        super::walk_own_stack(&mut pcs, MAX_FRAMES);
                        p.unlock = Some((nanos, pcs));
                    }
                }
            }
            SchedEvent::GoStart { goid, .. } => {
                let mut st = state();
                let Some(s) = st.as_mut() else { return };
                let Some(p) = s.pending.remove(&goid) else {
                    return;
                };
                let delay = nanos.saturating_sub(p.t0) as i64;
                let rate = BLOCK_RATE.load(Ordering::Relaxed);
                if rate > 0 {
                    if delay >= rate {
                        let c = s.block.entry(p.pcs.clone()).or_default();
                        c.count += 1;
                        c.nanos += delay;
                    } else if delay > 0 && (rand() % rate as u64) < delay as u64 {
                        // Go 1.19: kept with probability delay/rate, then
                        // counted as rate/delay events totalling `rate`.
                        let c = s.block.entry(p.pcs.clone()).or_default();
                        c.count += rate / delay;
                        c.nanos += rate;
                    }
                }
                let frac = MUTEX_FRACTION.load(Ordering::Relaxed);
                if let Some((t1, unlocker)) = p.unlock {
                    if frac > 0 && rand().is_multiple_of(frac as u64) {
                        let c = s.mutex.entry(unlocker).or_default();
                        c.count += 1;
                        c.nanos += t1.saturating_sub(p.t0) as i64;
                    }
                }
            }
            SchedEvent::GoSched { goid }
            | SchedEvent::GoPreempt { goid }
            | SchedEvent::GoEnd { goid } => {
                // The goroutine was running: anything pending for it is
                // stale (its wake-up was not seen while profiling was off).
                if let Some(s) = state().as_mut() {
                    s.pending.remove(&goid);
                }
            }
            _ => {}
        }
    }
}

/// Whether a park for `reason` is a blocking event of the profiles.
fn profiled(reason: WaitReason) -> bool {
    matches!(
        reason,
        WaitReason::ChanReceive
            | WaitReason::ChanSend
            | WaitReason::Select
            | WaitReason::WaitGroup
            | WaitReason::Mutex
    )
}

/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
fn rand() -> u64 {
    use std::cell::Cell;
    thread_local! { static S: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) }; }
    S.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// Installs or removes the recorder as the profiles and the tracer need it.
fn reinstall() {
    let on = BLOCK_RATE.load(Ordering::Relaxed) > 0 || MUTEX_FRACTION.load(Ordering::Relaxed) > 0;
    {
        let mut st = state();
        if on && st.is_none() {
            *st = Some(State::default());
        }
        // Waits that began under the old setting are not measured: their
        // start may have been missed, or their end may be.
        if let Some(s) = st.as_mut() {
            s.pending.clear();
        }
    }
    if on || !TRACE.load(Ordering::Acquire).is_null() {
        gort_scheduler::set_recorder(Some(&RECORDER));
    } else {
        gort_scheduler::set_recorder(None);
    }
}

/// Called by the tracer instead of `gort_scheduler::set_recorder`: the
/// scheduler has one recorder slot, shared by the tracer and the
/// contention profiles.
pub(crate) fn set_trace_recorder(r: Option<&'static dyn SchedRecorder>) {
    let p = match r {
        Some(r) => Box::into_raw(Box::new(r)),
        None => std::ptr::null_mut(),
    };
    // Release: pairs with the Acquire in `record`; the old box is leaked
    // (an event in flight may still read it).
    TRACE.swap(p, Ordering::AcqRel);
    reinstall();
}

/// `runtime.SetBlockProfileRate`: record, on average, one blocking event
/// per `rate` nanoseconds spent blocked; 1 records every event, 0 (or less)
/// turns the profile off.
pub fn set_block_profile_rate(rate: i64) {
    BLOCK_RATE.store(rate.max(0), Ordering::Relaxed);
    reinstall();
}

/// `runtime.SetMutexProfileFraction`: record one in `rate` contended
/// mutex waits; 0 turns it off; a negative value only reads. Returns the
/// previous fraction.
pub fn set_mutex_profile_fraction(rate: i32) -> i32 {
    if rate < 0 {
        return MUTEX_FRACTION.load(Ordering::Relaxed) as i32;
    }
    let old = MUTEX_FRACTION.swap(rate as i64, Ordering::Relaxed) as i32;
    reinstall();
    old
}

fn records(kind: ContentionKind) -> Vec<ContentionRecord> {
    let raw: Vec<(Vec<u64>, Counts)> = {
        let st = state();
        let Some(s) = st.as_ref() else {
            return Vec::new();
        };
        let m = match kind {
            ContentionKind::Block => &s.block,
            ContentionKind::Mutex { .. } => &s.mutex,
        };
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    raw.into_iter()
        .map(|(pcs, c)| ContentionRecord {
            stack: trim_recorder_frames(symbolize_stack(&pcs)),
            count: c.count,
            cycles: c.nanos,
        })
        .collect()
}

/// Drops the frames of the recording machinery from the top of a stack —
/// this recorder, the scheduler's hook and its park/ready internals — so
/// that it starts at the primitive the program called
/// (`gort_scheduler::chan::Chan::recv`, `…::sync::Mutex::lock_slow`), as
/// Go's start at `runtime.chanrecv1` or `sync.(*Mutex).Lock`.
fn trim_recorder_frames(mut stack: Vec<gort_profiler::Frame>) -> Vec<gort_profiler::Frame> {
    let internal = |f: &gort_profiler::Frame| {
        let n = f.function.as_str();
        n.starts_with("gort::pprof::")
            || n.starts_with("gort_scheduler::hooks::")
            || n.starts_with("gort_scheduler::sched::")
    };
    let first = stack.iter().position(|f| !internal(f)).unwrap_or(0);
    stack.drain(..first);
    stack
}

/// Number of records of `block` or `mutex`.
pub(crate) fn count(mutex: bool) -> usize {
    let st = state();
    st.as_ref()
        .map_or(0, |s| if mutex { s.mutex.len() } else { s.block.len() })
}

/// Bytes of the block and mutex profiles' buckets (MemStats `BuckHashSys`,
/// which in Go holds the block and mutex buckets beside the heap
/// profile's): each map's entries at its capacity (key, counts and a
/// control byte) plus the stacks the keys own, and the pending waits.
pub(crate) fn bucket_bytes() -> u64 {
    let st = state();
    let Some(s) = st.as_ref() else { return 0 };
    let entry = std::mem::size_of::<(Vec<u64>, Counts)>() + 1;
    let word = std::mem::size_of::<u64>();
    let maps = [&s.block, &s.mutex]
        .into_iter()
        .map(|m| m.capacity() * entry + m.keys().map(|k| k.capacity() * word).sum::<usize>());
    let pending = s.pending.capacity() * (std::mem::size_of::<(u64, Pending)>() + 1)
        + s.pending
            .values()
            .map(|p| p.pcs.capacity() * word)
            .sum::<usize>();
    (maps.sum::<usize>() + pending) as u64
}

/// The mutex fraction as the encoders need it (≥ 1).
fn kind(mutex: bool) -> ContentionKind {
    if mutex {
        ContentionKind::Mutex {
            fraction: MUTEX_FRACTION.load(Ordering::Relaxed).max(1),
        }
    } else {
        ContentionKind::Block
    }
}

/// Writes `block` or `mutex`: Go's text for `debug > 0`, proto otherwise
/// (Go's `writeProfileInternal`). Delays are
/// kept in nanoseconds, so the "cycles" rate is 1e9 per second.
pub(crate) fn write(mut w: impl Write, mutex: bool, debug: i32) -> io::Result<()> {
    let k = kind(mutex);
    let recs = records(k);
    if debug > 0 {
        return gort_profiler::text::write_contention_text(&mut w, k, &recs, 1_000_000_000);
    }
    let p = contention_profile(k, &recs, 1_000_000_000, &super::meta());
    gort_profiler::pprof::write_gzip(&p, w)
}
