//! Goroutine profiles: every goroutine's stack as of one instant, taken in
//! time linear in the number of goroutines, with a stop of the world that
//! does O(threads) work.
//!
//! See [crate] ("Goroutine profiles") for the overview. This is Go's
//! `goroutineProfileWithLabelsConcurrent` (`mprof.go`, Go 1.19+) on the
//! claim protocol of the collector's concurrent stack scan
//! (`scanstate.rs`), with a second word per G ([`G::profiled`]) and its own
//! epochs:
//!
//! 1. With the world stopped, [`goroutine_profile`] opens a **profile
//!    epoch** `e` (a counter, O(1)), takes the number of goroutines that
//!    exist (`allg[..n]`, the profile's **jobs**), records the caller's own
//!    stack (walked just before the stop) and the stacks of the P-less
//!    goroutines, whose threads are suspended now and run again after the
//!    restart without passing through `execute`. Both are marked recorded.
//!    That is all the pause does: O(Ms), not O(goroutines).
//! 2. The world restarts. The profiler walks `allg[..n]`, claims each
//!    goroutine not yet recorded in `e` (a CAS on its word), walks its frame
//!    chain from its saved stack pointer, and publishes "recorded".
//! 3. `execute`, before switching into a goroutine, loads the open epoch
//!    (one relaxed load; 0 = none) and, if the goroutine is not recorded,
//!    claims it, walks and records its stack into the shared buffer, and
//!    publishes — or waits while the profiler holds the claim. So **no
//!    goroutine runs before its stack is recorded**: every stack in the
//!    profile is the one it had when the world stopped, and no stack is
//!    walked while it runs.
//! 4. `newproc` makes a goroutine born while the epoch is open "recorded":
//!    it did not exist at the instant the profile describes.
//! 5. When every job is done, the profiler closes the epoch and takes the
//!    records. A claim never outlives its epoch into the next one: the next
//!    epoch opens with the world stopped, when no M is inside `execute`.
//!
//! A goroutine's status and wait reason are read when its stack is
//! recorded, which is before it runs again: one readied after the stop but
//! not yet run shows as `runnable` with the stack it parked with.
//!
//! # Fields
//!
//! | item | protection |
//! |---|---|
//! | [`PROFILE_EPOCH`], `PROFILE_GEN` | written only with the world stopped (open) or by the profiler holding `PROFILING` (close) |
//! | `PROFILING` | a flag taken by CAS: one profile at a time |
//! | `RECORDS` | lock `gprofile.records`, a leaf |
//! | `MAX_FRAMES` | written by the profiler before its stop of the world; read by Ms after the restart |
//! | [`G::profiled`] | the claim protocol of `scanstate.rs` |
//!
//! [`G::profiled`]: crate::g::G

use crate::g::{GStatus, WaitReason, G};
use crate::loom::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use crate::loom::sync::Mutex;
use crate::scanstate::Claim;
use crate::sched::{self, getg, sched};
use crate::stw::{start_the_world, stop_the_world, StwReason};
use std::time::Duration;

/// The open profile epoch, or 0 when no goroutine profile is being taken.
/// Opened with the world stopped, so every M sees it after the restart:
/// `execute` loads it Relaxed, as it loads the scan epoch.
static PROFILE_EPOCH: AtomicU32 = AtomicU32::new(0);
/// The last profile epoch opened (1, 2, …; the word keeps `e << 1`).
/// Written with the world stopped.
static PROFILE_GEN: AtomicU32 = AtomicU32::new(0);
/// One goroutine profile at a time (Go's `goroutineProfile.sema`).
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Goroutines handed to the profiler's walk at once (one allg lock each).
const JOB_CHUNK: usize = 256;

/// The open epoch (0: none), for `newproc`.
#[inline]
pub(crate) fn open_epoch() -> u32 {
    PROFILE_EPOCH.load(Relaxed)
}

/// One goroutine of a [`GoroutineProfile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoroutineRecord {
    /// Goroutine id.
    pub goid: u64,
    /// Its status when its stack was recorded (`Running` for the profiler
    /// itself).
    pub status: GStatus,
    /// Why it waits, if `status` is `Waiting`.
    pub wait_reason: WaitReason,
    /// Return PC of the `go` call that created it (0: the main goroutine,
    /// or unknown), as in [`crate::GoroutineStack::creator_pc`].
    pub creator_pc: usize,
    /// Its label word (see [`crate::current_labels`]) when its stack was
    /// recorded.
    pub labels: usize,
    /// Its return PCs in [`GoroutineProfile`]'s shared buffer.
    start: u32,
    len: u32,
}

/// Every goroutine that existed at one instant, with its stack of return
/// PCs (leaf first). From [`goroutine_profile`].
#[derive(Debug, Default)]
pub struct GoroutineProfile {
    /// The goroutines, in no particular order.
    pub records: Vec<GoroutineRecord>,
    pcs: Vec<usize>,
}

impl GoroutineProfile {
    /// The return PCs of `r`'s stack, leaf first.
    pub fn frames(&self, r: &GoroutineRecord) -> &[usize] {
        &self.pcs[r.start as usize..(r.start + r.len) as usize]
    }

    /// Appends a record of `goid` with the PCs in `pcs`.
    fn push(&mut self, g: &G, status: GStatus, pcs: &[usize]) {
        let reason = if status == GStatus::Waiting {
            WaitReason::from_u8(g.wait_reason.load(Relaxed))
        } else {
            WaitReason::None
        };
        self.records.push(GoroutineRecord {
            goid: g.goid(),
            status,
            wait_reason: reason,
            creator_pc: g.creator_pc.load(Relaxed),
            labels: g.labels.load(Relaxed),
            start: self.pcs.len() as u32,
            len: pcs.len() as u32,
        });
        self.pcs.extend_from_slice(pcs);
    }
}

/// Records made by Ms in `execute`, for the epoch `epoch`. Lock
/// `gprofile.records`, a leaf: taken once per goroutine an M runs while a
/// profile is open, never while another lock is held.
#[derive(Debug)]
struct Records {
    epoch: u32,
    profile: GoroutineProfile,
}

static RECORDS: Mutex<Records> = Mutex::new(Records {
    epoch: 0,
    profile: GoroutineProfile {
        records: Vec::new(),
        pcs: Vec::new(),
    },
});

/// Most frames kept per goroutine.
static MAX_FRAMES: AtomicU32 = AtomicU32::new(64);

/// Takes a goroutine profile (Go's `runtime.GoroutineProfile`, concurrent
/// since Go 1.19): every goroutine that exists when the world is stopped,
/// with at most `max_frames` return PCs of its stack, leaf first; the
/// caller's own stack (if it is a goroutine) is `own`, walked by the caller
/// just before. Callable from a goroutine or any thread; one profile is
/// taken at a time (a second caller waits).
///
/// The world is stopped only to open the profile: the pause does no
/// per-goroutine work. The stacks are then walked while the program runs,
/// each before its goroutine next runs (see the module docs), so the cost
/// is O(goroutines) and other goroutines keep running meanwhile.
pub fn goroutine_profile(own: &[usize], max_frames: usize) -> GoroutineProfile {
    let s = sched();
    crate::preempt::ensure_p();
    acquire_profiling();
    MAX_FRAMES.store(max_frames.min(u32::MAX as usize) as u32, Relaxed);
    let mut out = GoroutineProfile::default();

    let w = stop_the_world(StwReason::GoroutineProfile);
    let mut e = PROFILE_GEN.load(Relaxed).wrapping_add(1);
    if e == 0 || e > u32::MAX >> 1 {
        e = 1; // the word keeps e << 1
    }
    PROFILE_GEN.store(e, Relaxed);
    {
        // Records of an older epoch that a late M pushed after its profiler
        // took the buffer: dropped here (their goroutines were not in it).
        let mut r = RECORDS.lock();
        r.epoch = e;
        r.profile.records.clear();
        r.profile.pcs.clear();
    }
    // Open before the snapshot of allg. SeqCst, as `begin_stack_scan`: a
    // thread without a P (not stopped) that adds a G to allg after the
    // snapshot sees the epoch through the allg lock and makes it born
    // recorded; one that added it before made it a job.
    PROFILE_EPOCH.store(e, SeqCst);
    let jobs = s.allg.lock().list.len();
    let me = getg();
    if !me.is_null() && me == w.owner_g() {
        // SAFETY: Gs are never freed; we are it.
        let gr = unsafe { &*me };
        let own = &own[..own.len().min(max_frames)];
        out.push(gr, GStatus::Running, own);
        gr.profiled.publish(e);
    }
    // P-less goroutines run right after the restart without passing
    // through `execute`: record them now, while their threads are
    // suspended (`stop_the_world`). O(Ms).
    let mut buf = Vec::with_capacity(max_frames);
    for m in s.all_ms() {
        // SAFETY: Ms are leaked.
        let g = unsafe { &*m }.curg.load(Acquire);
        if g.is_null() || g == me {
            continue;
        }
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*g };
        if gr.status() == GStatus::Syscall && !gr.profiled.is_scanned(e) {
            buf.clear();
            // SAFETY: the world is stopped and the G's thread suspended: its
            // saved sp and its stack are frozen.
            let sp = unsafe { gr.saved_sp() };
            crate::api::walk_frames(sp, gr.hi, &mut buf, max_frames);
            out.push(gr, GStatus::Syscall, &buf);
            gr.profiled.publish(e);
        }
    }
    start_the_world(w);

    // The jobs: every goroutine that existed at the stop.
    let mut batch: Vec<*mut G> = Vec::with_capacity(JOB_CHUNK);
    let mut start = 0;
    while start < jobs {
        let end = (start + JOB_CHUNK).min(jobs);
        batch.clear();
        batch.extend_from_slice(&s.allg.lock().list[start..end]);
        for &g in &batch {
            // SAFETY: Gs are never freed.
            record_job(unsafe { &*g }, e, &mut out, &mut buf, max_frames);
        }
        start = end;
    }

    // Every job is recorded, by us or by an M (which pushed its record
    // before publishing). Close the epoch and merge the Ms' records.
    PROFILE_EPOCH.store(0, SeqCst);
    {
        let mut r = RECORDS.lock();
        let theirs = core::mem::take(&mut r.profile);
        r.epoch = 0;
        drop(r);
        let base = out.pcs.len() as u32;
        out.pcs.extend_from_slice(&theirs.pcs);
        out.records.extend(theirs.records.into_iter().map(|mut x| {
            x.start += base;
            x
        }));
    }
    release_profiling();
    out
}

/// One job: make sure `gr` is recorded in epoch `e` (or is dead, or not
/// started and born after the stop).
fn record_job(gr: &G, e: u32, out: &mut GoroutineProfile, buf: &mut Vec<usize>, max: usize) {
    let mut spins = 0u32;
    loop {
        // SeqCst, as `scan_job`'s: a goroutine published by a thread without
        // a P after the epoch opened is seen here.
        let st = GStatus::from_u8(gr.status.load(SeqCst));
        if matches!(st, GStatus::Dead | GStatus::Idle) {
            // Dead at the stop, or it ran (so was recorded) and exited;
            // reused, it is born recorded.
            return;
        }
        if matches!(st, GStatus::Syscall | GStatus::Running) {
            // Recorded in the pause, or it ran (so was recorded before).
            if !gr.profiled.is_scanned(e) {
                crate::rt_throw!(
                    "goroutine {} runs and is not in the goroutine profile",
                    gr.goid()
                );
            }
            return;
        }
        // Pinned while we hold the claim: the M that wants to run the
        // goroutine waits for us.
        let pm = crate::preempt::pin();
        match gr.profiled.try_claim(e) {
            Claim::Mine => {
                let st = gr.status();
                if matches!(st, GStatus::Running | GStatus::Syscall) {
                    crate::rt_throw!("goroutine {} runs while claimed by the profiler", gr.goid());
                }
                buf.clear();
                if !matches!(st, GStatus::Dead | GStatus::Idle) {
                    // SAFETY: our claim keeps the G from running (`execute`
                    // waits for the publication below), so its saved sp is
                    // valid and its frame records do not change.
                    let sp = unsafe { gr.saved_sp() };
                    crate::api::walk_frames(sp, gr.hi, buf, max);
                    out.push(gr, st, buf);
                }
                gr.profiled.publish(e);
                crate::preempt::unpin(pm);
                return;
            }
            Claim::Scanned => {
                crate::preempt::unpin(pm);
                return;
            }
            Claim::Busy => {
                crate::preempt::unpin(pm);
                // An M records it before running it: microseconds.
                spins += 1;
                if spins < 64 {
                    crate::loom::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// The M's check before switching into `gr` (`execute`): one relaxed load
/// when no profile is open; otherwise the G's word, and if its stack is not
/// recorded yet, record it here.
#[inline]
pub(crate) fn ensure_recorded(gr: &G) {
    let e = PROFILE_EPOCH.load(Relaxed);
    if e != 0 && !gr.profiled.is_scanned(e) {
        record_before_run(gr, e);
    }
}

#[cold]
#[inline(never)]
fn record_before_run(gr: &G, e: u32) {
    let mut spins = 0u32;
    loop {
        match gr.profiled.try_claim(e) {
            Claim::Mine => {
                let max = MAX_FRAMES.load(Relaxed) as usize;
                let mut buf = Vec::with_capacity(max);
                // SAFETY: the G is Runnable and ours (taken off a run queue),
                // so its saved sp is valid; our claim keeps the profiler away.
                let sp = unsafe { gr.saved_sp() };
                crate::api::walk_frames(sp, gr.hi, &mut buf, max);
                {
                    let mut r = RECORDS.lock();
                    if r.epoch == e {
                        r.profile.push(gr, gr.status(), &buf);
                    }
                }
                gr.profiled.publish(e);
                return;
            }
            Claim::Scanned => return,
            Claim::Busy => {
                // The profiler is recording it: microseconds.
                spins += 1;
                if spins < 64 {
                    crate::loom::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

fn acquire_profiling() {
    let mut spins = 0u32;
    // Acquire: pairs with the Release in `release_profiling`.
    while PROFILING
        .compare_exchange(false, true, Acquire, Relaxed)
        .is_err()
    {
        if !getg().is_null() {
            sched::gosched();
        } else if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
        spins += 1;
    }
}

fn release_profiling() {
    // Release: pairs with the Acquire CAS in `acquire_profiling`.
    PROFILING.store(false, Release);
}
