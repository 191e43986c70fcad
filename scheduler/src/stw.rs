//! Stop the world, root enumeration, safepoints and the ragged barrier —
//! what the collector's host (`runtime/src/host.rs`) calls.
//!
//! See [crate] ("The stop-the-world protocol") for the overview and
//! `world.rs` for the rendezvous itself.

use crate::g::{GStatus, WaitReason, G};
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use crate::loom::sync::Mutex;
use crate::sched::{
    self, current_p_ptr, getg, sched, PStatus, Sched, M, P, POLL, POLL_SAFEPOINT_FN, POLL_STW,
};
use std::time::{Duration, Instant};

/// Why the world is stopped (Go's `stwReason`; a label for traces and
/// metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StwReason {
    /// GC sweep termination (start of a cycle).
    GcSweepTermination,
    /// GC mark termination.
    GcMarkTermination,
    /// `gomaxprocs(n)`.
    Gomaxprocs,
    /// `read_mem_stats`.
    ReadMemStats,
    /// A goroutine profile.
    GoroutineProfile,
    /// Starting or stopping the execution tracer.
    Trace,
    /// Anything else (tests, debugging).
    Other,
}

impl StwReason {
    /// Go's spelling.
    pub fn name(self) -> &'static str {
        match self {
            StwReason::GcSweepTermination => "GC sweep termination",
            StwReason::GcMarkTermination => "GC mark termination",
            StwReason::Gomaxprocs => "GOMAXPROCS",
            StwReason::ReadMemStats => "ReadMemStats",
            StwReason::GoroutineProfile => "goroutine profile",
            StwReason::Trace => "start trace",
            StwReason::Other => "other",
        }
    }
}

/// Proof that the world is stopped; give it back to [`start_the_world`].
/// While it exists no goroutine runs, except the one that stopped the world
/// (if a goroutine did).
#[derive(Debug)]
pub struct WorldStopped {
    reason: StwReason,
    owner_g: *mut G,
    owner_p: *mut P,
    /// The stopper's M, pinned until the restart (null off a goroutine).
    pinned: *mut M,
    start: Instant,
    /// When this stopper began stopping (after it won the world semaphore;
    /// Go's `startedStopping`).
    stopping_from: Instant,
    /// How long stopping took (from `stopping_from` to every P stopped), ns.
    stopping_ns: u64,
}

impl WorldStopped {
    /// Why the world was stopped.
    pub fn reason(&self) -> StwReason {
        self.reason
    }

    /// When the stop was requested.
    pub fn started_at(&self) -> Instant {
        self.start
    }

    /// The goroutine that stopped the world (null: a thread did).
    pub(crate) fn owner_g(&self) -> *mut G {
        self.owner_g
    }
}

// SAFETY: the token may be handed to another thread (Go's STW can be ended
// by a different thread); the pointers are to never-freed Gs/Ps.
unsafe impl Send for WorldStopped {}

fn acquire_worldsema(s: &Sched) {
    let mut spins = 0u32;
    // Acquire: pairs with the Release in `release_worldsema`.
    while s
        .worldsema
        .compare_exchange(false, true, Acquire, Relaxed)
        .is_err()
    {
        if !getg().is_null() {
            // Let a stopper that is waiting for our P have it.
            crate::safepoint();
            sched::gosched();
        } else if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
        spins += 1;
    }
}

fn release_worldsema(s: &Sched) {
    // Release: pairs with the Acquire CAS in `acquire_worldsema`.
    s.worldsema.store(false, Release);
}

/// Brings every P to a stop and returns when no goroutine runs (except the
/// caller, if it is one). Callable from a goroutine or from any OS thread.
/// A goroutine stops at its next safepoint, or — if it does not reach one
/// — at its next async-safe instruction, where the preemption signal's
/// handler suspends it (`preempt.rs`); a goroutine running without a P
/// (in a system call) is suspended the same way.
pub fn stop_the_world(reason: StwReason) -> WorldStopped {
    let s = sched();
    let start = Instant::now();
    crate::preempt::ensure_p();
    acquire_worldsema(s);
    // A goroutine stopper is pinned from here to the end of
    // `start_the_world`: the preemption handler must not make it leave
    // the P it is about to stop (and restart) as its own.
    let pinned = crate::preempt::pin_with_p();
    let stopping_from = Instant::now();
    let g = getg();
    let p = if g.is_null() {
        core::ptr::null_mut()
    } else {
        current_p_ptr()
    };
    if !g.is_null() {
        s.stw_owner.store(g, Release);
    }
    let n = s.nprocs();
    s.world.request(n as i32);
    POLL.fetch_or(POLL_STW, SeqCst);
    if !p.is_null() {
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        pr.set_status(PStatus::GcStop);
        s.world.stop_one(pr.id, crate::world::StopSite::Stopper);
    }
    {
        let mut l = sched::lock_sched(s);
        while let Some(ip) = l.pidle.pop() {
            // SAFETY: Ps are leaked.
            let pr = unsafe { &*ip };
            pr.set_status(PStatus::GcStop);
            l.stopped.push(ip);
            s.world.stop_one(pr.id, crate::world::StopSite::IdleList);
        }
    }
    let me = sched::current_m();
    crate::preempt::preempt_running(me);
    // The signalled goroutines leave their Ps within microseconds and nudge
    // us (only this stopper stops a P left in `Syscall`); between nudges we
    // look every 20 µs (plus the kernel's timer slack), and ask the running
    // goroutines again every 100 µs: a thread that was not at an async-safe
    // instruction, or not on a CPU, is asked again.
    let mut poked = Instant::now();
    s.world.wait_stopped(
        || {
            POLL.fetch_or(POLL_STW, SeqCst);
            crate::preempt::stop_syscall_ps();
            if poked.elapsed() >= Duration::from_micros(100) {
                crate::preempt::preempt_running(me);
                poked = Instant::now();
            }
        },
        |word, seen| crate::preempt::futex_wait_for(word, seen, Duration::from_micros(20)),
    );
    // Every P is stopped; goroutines running without one may still be
    // executing user code: suspend them too.
    crate::preempt::suspend_pless(me);
    for i in 0..n {
        // SAFETY: Ps are leaked.
        let st = unsafe { &*s.p(i) }.status();
        if st != PStatus::GcStop {
            crate::rt_throw!("stopTheWorld: P {i} in status {} after the stop", st.name());
        }
    }
    WorldStopped {
        reason,
        owner_g: g,
        owner_p: p,
        pinned,
        start,
        stopping_from,
        stopping_ns: stopping_from.elapsed().as_nanos() as u64,
    }
}

/// Restarts the world stopped by `w`.
pub fn start_the_world(w: WorldStopped) {
    let s = sched();
    // Ps stopped on their M's behalf that have goroutines queued (a P left
    // in `Syscall`, a P handed to an M that had not taken it) each get an
    // M; an idle P's run queue is empty (Go's `procresize` returns them
    // as `runnablePs`).
    let mut busy: Vec<*mut P> = Vec::new();
    {
        let mut l = sched::lock_sched(s);
        let stopped: Vec<*mut P> = l.stopped.drain(..).collect();
        for p in stopped {
            // SAFETY: Ps are leaked.
            let pr = unsafe { &*p };
            if pr.status() == PStatus::Dead {
                continue;
            }
            pr.set_status(PStatus::Idle);
            if pr.runq.is_empty() {
                l.pidle.push(p);
            } else {
                // Counted idle while stopped (see `stop_syscall_ps`).
                s.idle.npidle.fetch_sub(1, SeqCst);
                busy.push(p);
            }
        }
        if !w.owner_p.is_null() {
            // SAFETY: Ps are leaked.
            let pr = unsafe { &*w.owner_p };
            if pr.status() == PStatus::GcStop {
                pr.set_status(PStatus::Running);
            }
        }
        // Goroutines preempted for the stop wait in their handler for a P.
        s.drain_preempted_locked(&mut l);
        POLL.fetch_and(!POLL_STW, SeqCst);
        s.stw_owner.store(core::ptr::null_mut(), Release);
        s.world.release();
    }
    // Threads suspended in the preemption handler continue without a P and
    // take one back at their next runtime entry.
    crate::preempt::resume_all();
    for p in busy {
        sched::startm_with(s, p, false);
    }
    sched::wakep();
    release_worldsema(s);
    // The stopper's pin, on whichever M runs it now (pins move with a
    // goroutine across a switch).
    if !w.pinned.is_null() {
        debug_assert!(
            getg() == w.owner_g,
            "start_the_world must run on the goroutine that stopped the world"
        );
        crate::preempt::unpin(sched::current_m());
    }
    // Go's `worldStop` accounting: one sample per stop of the world.
    let total_ns = w.stopping_from.elapsed().as_nanos() as u64;
    crate::metrics::record_stw(w.reason, w.stopping_ns, total_ns);
}

/// One goroutine's stack as the collector sees it while the world is
/// stopped.
#[derive(Debug, Clone, Copy)]
pub struct GoroutineStack {
    /// Goroutine id.
    pub goid: u64,
    /// Its status.
    pub status: GStatus,
    /// Lowest live address: the saved stack pointer (callee-saved registers
    /// are spilled at and above it).
    pub sp: usize,
    /// Top of the stack (exclusive).
    pub hi: usize,
    /// Lowest usable address of the stack (above the guard page).
    pub lo: usize,
    /// Return PC of the `go` call that created the goroutine (Go's `gopc`,
    /// printed as `created by` in goroutine dumps); 0 for the main
    /// goroutine and when unknown.
    pub creator_pc: usize,
    /// Why it waits, if `status` is `Waiting` (else [`WaitReason::None`]).
    pub wait_reason: WaitReason,
}

/// `gr`'s wait reason if `st` (its status) is `Waiting`.
fn reason_of(gr: &G, st: GStatus) -> WaitReason {
    if st == GStatus::Waiting {
        WaitReason::from_u8(gr.wait_reason.load(Relaxed))
    } else {
        WaitReason::None
    }
}

/// Visits every live goroutine's stack `[sp, hi)` while the world is
/// stopped. If the caller is the goroutine that stopped the world, its own
/// stack is reported from below its spilled registers; if another thread
/// calls this while a goroutine holds the world stopped, that goroutine's
/// whole usable stack is reported (it is running, so its sp is unknown).
pub fn for_each_goroutine_stack(w: &WorldStopped, f: &mut dyn FnMut(&GoroutineStack)) {
    let s = sched();
    let page = crate::stack::page_size();
    let me = getg();
    {
        // Snapshot the list so `f` runs with no scheduler lock held (Gs are
        // only added by spawns, and nothing spawns while the world is
        // stopped except, possibly, the stopper itself).
        let all: Vec<*mut G> = s.allg.lock().list.clone();
        for &g in &all {
            // SAFETY: Gs are never freed.
            let gr = unsafe { &*g };
            let st = gr.status();
            if matches!(st, GStatus::Dead | GStatus::Idle) {
                continue;
            }
            if g == w.owner_g {
                if g == me {
                    continue; // reported below with spilled registers
                }
                f(&GoroutineStack {
                    goid: gr.goid(),
                    status: st,
                    sp: gr.lo + page,
                    hi: gr.hi,
                    lo: gr.lo + page,
                    creator_pc: gr.creator_pc.load(Relaxed),
                    wait_reason: reason_of(gr, st),
                });
                continue;
            }
            if st == GStatus::Running {
                crate::rt_throw!("goroutine {} running while the world is stopped", gr.goid());
            }
            // SAFETY: the world is stopped and the G is not running (a
            // `Syscall` G's thread is suspended, see `stop_the_world`): its
            // saved sp is valid and stable.
            let sp = unsafe { gr.saved_sp() };
            f(&GoroutineStack {
                goid: gr.goid(),
                status: st,
                sp,
                hi: gr.hi,
                lo: gr.lo + page,
                creator_pc: gr.creator_pc.load(Relaxed),
                wait_reason: reason_of(gr, st),
            });
        }
    }
    if !me.is_null() && me == w.owner_g {
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*me };
        crate::switch::with_spilled_registers(&mut |sp| {
            f(&GoroutineStack {
                goid: gr.goid(),
                status: GStatus::Running,
                sp,
                hi: gr.hi,
                lo: gr.lo + page,
                creator_pc: gr.creator_pc.load(Relaxed),
                wait_reason: WaitReason::None,
            })
        });
    }
}

/// Visits every runtime-held range of user values (channel buffers) as
/// `(start, end)` while the world is stopped. `f` runs with the registry
/// lock held (so no buffer can be freed under it): it must not create or
/// drop channels. Values of blocked senders are
/// not here: they stay on the sender's own stack, inside the range
/// [`for_each_goroutine_stack`] reports; start closures are on their
/// goroutine's stack likewise.
pub fn for_each_runtime_range(_w: &WorldStopped, f: &mut dyn FnMut(usize, usize)) {
    crate::roots::for_each(f);
}

/// Runs the ragged barrier's function for `p` if it is flagged.
pub(crate) fn run_safepoint_fn(p: &P) {
    let s = sched();
    // AcqRel: Acquire pairs with the Release store of the flag (the
    // function pointer is visible); only one runner wins the swap.
    if p.run_safepoint_fn.swap(false, AcqRel) {
        let f = s.sp_fn.load(Acquire) as *const &(dyn Fn(usize) + Sync);
        if f.is_null() {
            crate::rt_throw!("safepoint function flagged without a function");
        }
        // SAFETY: the barrier's caller keeps the function alive until
        // sp_pending reaches 0, which happens only after this call.
        unsafe { (*f)(p.id) };
        // Release: pairs with the Acquire load in the waiting loop.
        s.sp_pending.fetch_sub(1, Release);
    }
}

/// Runs `f(p)` once for every P, each at that P's next safepoint or
/// scheduling point (idle Ps run it on the caller's thread), and returns when
/// all have (Go's `forEachP`, the GC's "ragged barrier"). Serialized with
/// stop-the-world.
pub fn for_each_p_at_safepoint(f: &(dyn Fn(usize) + Sync)) {
    let s = sched();
    crate::preempt::ensure_p();
    acquire_worldsema(s);
    // Pinned to our P until the end: we run its function as its owner.
    let pinned = crate::preempt::pin_with_p();
    let fp: *const &(dyn Fn(usize) + Sync) = &f;
    s.sp_fn.store(fp as *mut (), Release);
    let n = s.nprocs();
    s.sp_pending.store(n as i64, SeqCst);
    for i in 0..n {
        // SAFETY: Ps are leaked.
        unsafe { &*s.p(i) }.run_safepoint_fn.store(true, Release);
    }
    POLL.fetch_or(POLL_SAFEPOINT_FN, SeqCst);
    if !getg().is_null() {
        let p = current_p_ptr();
        if !p.is_null() {
            // SAFETY: Ps are leaked.
            run_safepoint_fn(unsafe { &*p });
        }
    }
    let idle: Vec<*mut P> = {
        let mut l = sched::lock_sched(s);
        core::mem::take(&mut l.pidle)
    };
    for &p in &idle {
        // SAFETY: Ps are leaked; taken off the idle list, nobody else holds them.
        run_safepoint_fn(unsafe { &*p });
    }
    {
        let mut l = sched::lock_sched(s);
        l.pidle.extend(idle);
    }
    let mut spins = 0u32;
    // Acquire: pairs with the Release decrements in `run_safepoint_fn`.
    while s.sp_pending.load(Acquire) > 0 {
        // Ps whose goroutine left them (system call, preemption) run the
        // function here, on the caller's thread, and are handed off (Go's
        // forEachP does the same for _Psyscall Ps).
        run_for_syscall_ps(s);
        if spins % 20 == 19 {
            // A goroutine that reaches no safepoint is asked to leave its P.
            poke_flagged_ps(s);
        }
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
        spins += 1;
    }
    POLL.fetch_and(!POLL_SAFEPOINT_FN, SeqCst);
    s.sp_fn.store(core::ptr::null_mut(), Release);
    sched::wakep();
    release_worldsema(s);
    crate::preempt::unpin(pinned);
}

fn run_for_syscall_ps(s: &Sched) {
    for i in 0..s.nprocs() {
        let p = s.p(i);
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        if pr.run_safepoint_fn.load(Acquire)
            && pr.status() == PStatus::Syscall
            && pr.cas_status(PStatus::Syscall, PStatus::Idle)
        {
            run_safepoint_fn(pr);
            sched::handoffp(s, p);
        }
    }
}

fn poke_flagged_ps(s: &Sched) {
    for i in 0..s.nprocs() {
        let p = s.p(i);
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        if pr.run_safepoint_fn.load(Relaxed) && pr.status() == PStatus::Running {
            let m = pr.m.load(Relaxed);
            if !m.is_null() && m != sched::current_m() {
                // SAFETY: Ms are leaked.
                crate::preempt::signal_m(unsafe { &*m }, crate::preempt::REQ_FORCE);
            }
        }
    }
}

/// Changes GOMAXPROCS with the world stopped (Go's `procresize`).
pub(crate) fn set_gomaxprocs(n: usize) -> usize {
    let s = sched();
    let n = n.clamp(1, sched::MAX_PROCS);
    let mut w = stop_the_world(StwReason::Gomaxprocs);
    let old = s.nprocs();
    if n != old {
        let mut l = sched::lock_sched(s);
        if n < old {
            for i in n..old {
                let p = s.p(i);
                if let Some(at) = l.stopped.iter().position(|&x| x == p) {
                    l.stopped.swap_remove(at);
                    s.idle.npidle.fetch_sub(1, SeqCst);
                }
                // SAFETY: Ps are leaked.
                sched::destroy_p(s, &mut l, unsafe { &*p });
            }
            // SAFETY: Ps are leaked.
            if !w.owner_p.is_null() && unsafe { &*w.owner_p }.id >= n {
                let old_p = w.owner_p;
                w.owner_p = take_p0_for_stopper(s, &mut l);
                drop(l);
                // What Go's trace shows when procresize moves the caller:
                // it stops on its destroyed P and starts on P 0.
                // SAFETY: Gs are never freed; a stopper with an owner P is
                // a goroutine (us).
                let goid = unsafe { &*getg() }.goid();
                // SAFETY: Ps are leaked.
                let old_id = unsafe { &*old_p }.id;
                crate::hooks::emit(|| crate::hooks::SchedEvent::GoSched { goid });
                crate::hooks::emit(|| crate::hooks::SchedEvent::ProcStop { p: old_id });
                crate::hooks::emit(|| crate::hooks::SchedEvent::ProcStart { p: 0 });
                crate::hooks::emit(|| crate::hooks::SchedEvent::GoStart { goid, p: 0 });
            }
        } else {
            for i in old..n {
                let p = sched::ensure_p(s, i);
                // SAFETY: Ps are leaked.
                unsafe { &*p }.set_status(PStatus::GcStop);
                l.stopped.push(p);
                s.idle.npidle.fetch_add(1, SeqCst);
            }
        }
        s.gomaxprocs.store(n as u32, Release);
    }
    start_the_world(w);
    old
}

/// The stopper of a GOMAXPROCS decrease whose own P is being destroyed
/// moves to P 0 before the restart (Go's `procresize` does the same). It
/// must not go on with a dead P: a later increase may revive that P and put
/// it on the idle list while this M still takes it for its own, and two Ms
/// would then run on one P (each counting it at the next stop). P 0 is
/// either on the stopped list or held by an M parked in `gcstopm`, which
/// finds at the restart that the P names another M and leaves it (see
/// `gcstopm`). Called with the world stopped and the scheduler lock held;
/// returns P 0, now the stopper's, still `GcStop` (the restart makes it
/// `Running` as the stopper's P).
fn take_p0_for_stopper(s: &sched::Sched, l: &mut sched::SchedLocked) -> *mut P {
    let p0 = s.p(0);
    if let Some(at) = l.stopped.iter().position(|&x| x == p0) {
        l.stopped.swap_remove(at);
        s.idle.npidle.fetch_sub(1, SeqCst);
    }
    let me = sched::current_m();
    // SAFETY: Ps are leaked.
    let pr = unsafe { &*p0 };
    // Release: pairs with the Acquire load of `p.m` in `gcstopm` (the
    // parked M reads it after the restart, which also orders it).
    pr.m.store(me, Release);
    // SAFETY: Ms are leaked; the stopper is a goroutine (it has an owner
    // P), pinned to this M; `m.p` is written by its own thread.
    unsafe { &*me }.p.store(p0, Relaxed);
    p0
}

// ---------------------------------------------------------------------------
// Concurrent stack scanning: scan epochs, stack jobs and the copy barrier.
//
// See [crate] ("Concurrent stack scanning") for the overview and
// `scanstate.rs` for the per-goroutine claim protocol.

/// The open scan epoch, or 0 when no cycle is scanning stacks. Written only
/// with the world stopped ([`begin_stack_scan`], [`end_stack_scan`]), so
/// every P sees the new value after the restart: the scheduler's checks load
/// it Relaxed (one load when no cycle runs, like the write barrier's flag).
/// A thread without a P (not stopped by a stop of the world) loads it
/// SeqCst where it matters (`newproc`).
pub(crate) static SCAN_EPOCH: AtomicU32 = AtomicU32::new(0);
/// The last epoch opened (1, 2, …; 0 is skipped on wrap-around). Written
/// with the world stopped.
static SCAN_GEN: AtomicU32 = AtomicU32::new(0);

/// The open epoch's stack jobs: the goroutines `allg[..jobs]`, i.e. the Gs
/// that existed when it opened (allg only grows; later Gs are born
/// scanned). Handed out in chunks of [`JOB_CHUNK`].
#[derive(Debug)]
struct ScanJobs {
    /// The epoch these jobs belong to (a worker of an older cycle that
    /// comes late sees a mismatch and stops).
    epoch: u32,
    /// Number of jobs.
    jobs: usize,
    /// The next job index to hand out.
    next: usize,
    /// Jobs finished: the G scanned (by anyone) or found dead.
    finished: usize,
}

/// Lock `stw.scan_jobs`, a leaf: taken to hand out a chunk of jobs and to
/// count finished ones (once per 32 goroutines), never while another lock
/// is held.
static SCAN_JOBS: Mutex<ScanJobs> = Mutex::new(ScanJobs {
    epoch: 0,
    jobs: 0,
    next: 0,
    finished: 0,
});

/// Counters since the process started (see [`StackScanCounts`]).
static SCANNED_IN_PAUSE: AtomicU64 = AtomicU64::new(0);
static SCANNED_BY_JOBS: AtomicU64 = AtomicU64::new(0);
static SCANNED_BEFORE_RUN: AtomicU64 = AtomicU64::new(0);
static SCANNED_AT_TERMINATION: AtomicU64 = AtomicU64::new(0);

/// Job indices a stack-job call takes at once.
const JOB_CHUNK: usize = 32;

/// What the collector's host gives the scheduler so that it can scan a
/// goroutine's stack itself (before running it) and shade values it copies
/// between stacks and channel buffers, without depending on the collector.
#[derive(Debug, Clone, Copy)]
pub struct StackScanHooks {
    /// Scan `[start, end)` conservatively as a goroutine stack (called on
    /// an M's g0, holding a P, with no scheduler lock held).
    pub scan_stack: fn(usize, usize),
    /// The copy barrier: shade every word of `[start, end)` that points into
    /// a managed object (the bytes of a value about to be copied).
    pub shade_copied: fn(usize, usize),
}

static HOOKS: std::sync::OnceLock<StackScanHooks> = std::sync::OnceLock::new();

/// Registers the collector's hooks (once per process; later calls are
/// ignored). Must happen before the first [`begin_stack_scan`].
pub fn set_stack_scan_hooks(h: StackScanHooks) {
    let _ = HOOKS.set(h);
}

fn hooks() -> &'static StackScanHooks {
    match HOOKS.get() {
        Some(h) => h,
        None => crate::rt_throw!("stack scan used before set_stack_scan_hooks"),
    }
}

static IDLE_MARK: std::sync::OnceLock<fn() -> bool> = std::sync::OnceLock::new();

/// Registers the collector's idle-marking hook (once per process; later
/// calls are ignored): an M whose P finds no goroutine to run calls it, on
/// its g0, holding the P, with no scheduler lock held, before it gives up
/// the P. It marks one bounded slice and returns whether there was work;
/// the M then looks at the run queues (and for a stop of the world) again.
pub fn set_idle_mark_hook(f: fn() -> bool) {
    let _ = IDLE_MARK.set(f);
}

/// The idle-marking hook's answer; false if none is registered.
pub(crate) fn idle_mark() -> bool {
    IDLE_MARK.get().is_some_and(|f| f())
}

/// How many goroutine stacks were scanned where, since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackScanCounts {
    /// Scan epochs opened (collector cycles).
    pub epochs: u64,
    /// In the sweep-termination pause (the stopper's own stack).
    pub in_pause: u64,
    /// By mark workers' stack jobs, concurrently.
    pub by_jobs: u64,
    /// By an M just before it switched into the goroutine.
    pub before_run: u64,
    /// With the world stopped at mark termination because a job was left
    /// (expected 0: the collector waits for every job before terminating).
    pub at_termination: u64,
}

/// Reads the stack-scan counters.
pub fn stack_scan_counts() -> StackScanCounts {
    StackScanCounts {
        epochs: u64::from(SCAN_GEN.load(Relaxed)),
        in_pause: SCANNED_IN_PAUSE.load(Relaxed),
        by_jobs: SCANNED_BY_JOBS.load(Relaxed),
        before_run: SCANNED_BEFORE_RUN.load(Relaxed),
        at_termination: SCANNED_AT_TERMINATION.load(Relaxed),
    }
}

/// Opens a scan epoch with the world stopped (the collector's sweep
/// termination) and scans, through `f(start, end)`, the only stack that
/// runs right after the restart: the stopper's own, from below a fresh
/// spill of its callee-saved registers. Every other goroutine is now
/// unscanned; none is running (asserted by [`stop_the_world`]). O(1) in the
/// number of goroutines. Returns the number of stack jobs (goroutines that
/// exist now).
pub fn begin_stack_scan(w: &WorldStopped, f: &mut dyn FnMut(usize, usize)) -> usize {
    let _ = hooks(); // an M may need them as soon as the world restarts
    let s = sched();
    let mut e = SCAN_GEN.load(Relaxed).wrapping_add(1);
    if e == 0 || e > u32::MAX >> 1 {
        e = 1; // the word keeps e << 1
    }
    SCAN_GEN.store(e, Relaxed);
    // Open the epoch before the snapshot of allg. SeqCst: pairs with the
    // SeqCst fence + load in `newproc` on a thread without a P (which the
    // stop did not stop): a G it adds to allg after our snapshot is then
    // sure to see the epoch, and shades its closure (see there).
    SCAN_EPOCH.store(e, SeqCst);
    let jobs = s.allg.lock().list.len();
    *SCAN_JOBS.lock() = ScanJobs {
        epoch: e,
        jobs,
        next: 0,
        finished: 0,
    };
    let owner = w.owner_g;
    if !owner.is_null() {
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*owner };
        let page = crate::stack::page_size();
        if owner == getg() {
            crate::switch::with_spilled_registers(&mut |sp| f(sp, gr.hi));
        } else {
            // A goroutine holds the world stopped and runs elsewhere: its sp
            // is unknown, so its whole usable stack.
            f(gr.lo + page, gr.hi);
        }
        gr.scan.publish(e);
        SCANNED_IN_PAUSE.fetch_add(1, Relaxed);
    }
    // Goroutines without a P are suspended now but run as soon as the world
    // restarts, without passing through `execute`: scan them here, in the
    // pause (their stacks are frozen, their registers in the signal frame
    // above the saved sp).
    // Found through the Ms (a P-less G runs on one), so the pause does not
    // grow with the number of goroutines.
    for m in s.all_ms() {
        // SAFETY: Ms are leaked.
        let g = unsafe { &*m }.curg.load(Acquire);
        if g.is_null() || g == owner {
            continue;
        }
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*g };
        if gr.status() == GStatus::Syscall && !gr.scan.is_scanned(e) {
            // SAFETY: the world is stopped and the G's thread suspended.
            let sp = unsafe { gr.saved_sp() };
            f(sp, gr.hi);
            gr.scan.publish(e);
            SCANNED_IN_PAUSE.fetch_add(1, Relaxed);
        }
    }
    jobs
}

/// Stack jobs, for mark workers (any thread, world running): claims and
/// scans, through `f(start, end)`, the stacks of at most `max_chunks` ×
/// 32 goroutines of the open epoch that are not scanned yet. A goroutine
/// another scanner holds is waited for. Returns `true` once every job of
/// the epoch is finished — scanned by someone, or dead — so that no scan is
/// in progress either (with no epoch open: `true`).
pub fn scan_stack_jobs(max_chunks: usize, f: &mut dyn FnMut(usize, usize)) -> bool {
    let e = SCAN_EPOCH.load(Acquire);
    if e == 0 {
        return true;
    }
    let s = sched();
    let mut batch: Vec<*mut G> = Vec::with_capacity(JOB_CHUNK);
    for _ in 0..max_chunks {
        let (start, end) = {
            let mut j = SCAN_JOBS.lock();
            if j.epoch != e {
                return true; // a late worker of an older cycle
            }
            if j.next >= j.jobs {
                break;
            }
            let start = j.next;
            j.next = (start + JOB_CHUNK).min(j.jobs);
            (start, j.next)
        };
        batch.clear();
        batch.extend_from_slice(&s.allg.lock().list[start..end]);
        for &g in &batch {
            // SAFETY: Gs are never freed.
            if scan_job(unsafe { &*g }, e, f) {
                SCANNED_BY_JOBS.fetch_add(1, Relaxed);
            }
        }
        let mut j = SCAN_JOBS.lock();
        if j.epoch == e {
            j.finished += end - start;
        }
    }
    let j = SCAN_JOBS.lock();
    j.epoch != e || j.finished >= j.jobs
}

/// One stack job: make sure `g`'s stack is scanned in epoch `e` (or that it
/// is dead). Returns whether this call scanned it.
fn scan_job(gr: &G, e: u32, f: &mut dyn FnMut(usize, usize)) -> bool {
    let mut spins = 0u32;
    loop {
        // SeqCst: a goroutine published by a thread without a P after this
        // epoch opened is seen here (see `newproc`).
        let st = GStatus::from_u8(gr.status.load(SeqCst));
        if matches!(st, GStatus::Dead | GStatus::Idle) {
            // Dead since before the epoch, or it ran (hence was scanned) and
            // exited; reused, it is born scanned.
            return false;
        }
        if st == GStatus::Syscall {
            // Scanned in the pause that opened the epoch, or it was running
            // (hence scanned) when it left its P: never unscanned here.
            if !gr.scan.is_scanned(e) {
                crate::rt_throw!("goroutine {} runs without a P and unscanned", gr.goid());
            }
            return false;
        }
        match gr.scan.try_claim(e) {
            crate::scanstate::Claim::Mine => {
                if gr.status() == GStatus::Running {
                    crate::rt_throw!("goroutine {} runs with an unscanned stack", gr.goid());
                }
                // SAFETY: our claim keeps the G from running (an M runs it
                // only once it is scanned), so its saved sp is valid and its
                // frames do not change; a waker may still write a value into
                // a parked G's stack slot, shading it first (the copy
                // barrier), and the scan reads words one by one.
                let sp = unsafe { gr.saved_sp() };
                f(sp, gr.hi);
                gr.scan.publish(e);
                return true;
            }
            crate::scanstate::Claim::Scanned => return false,
            crate::scanstate::Claim::Busy => {
                // An M scans it before running it: microseconds.
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

/// With the world stopped at mark termination: scans every stack job not
/// finished yet (normally none, and then this is O(1)) and returns how many
/// stacks it scanned. The epoch stays open ([`end_stack_scan`] closes it):
/// marking may still restart.
pub fn finish_stack_scan(_w: &WorldStopped, f: &mut dyn FnMut(usize, usize)) -> usize {
    let e = SCAN_EPOCH.load(Acquire);
    let jobs = {
        let j = SCAN_JOBS.lock();
        if e == 0 || j.epoch != e || j.finished >= j.jobs {
            return 0;
        }
        j.jobs
    };
    let all: Vec<*mut G> = sched().allg.lock().list[..jobs].to_vec();
    let mut n = 0;
    for &g in &all {
        // SAFETY: Gs are never freed.
        if scan_job(unsafe { &*g }, e, f) {
            n += 1;
        }
    }
    {
        let mut j = SCAN_JOBS.lock();
        j.next = jobs;
        j.finished = jobs;
    }
    SCANNED_AT_TERMINATION.fetch_add(n as u64, Relaxed);
    n
}

/// With the world stopped when marking is over: closes the epoch. The
/// scheduler's checks and copy barrier are one relaxed load again.
pub fn end_stack_scan(_w: &WorldStopped) {
    SCAN_EPOCH.store(0, SeqCst);
}

/// The M's check before switching into `gr` (`execute`): one relaxed load
/// when no epoch is open; otherwise the G's word, and if the stack is not
/// scanned yet, scan it here.
#[inline]
pub(crate) fn ensure_scanned(gr: &G) {
    let e = SCAN_EPOCH.load(Relaxed);
    if e != 0 && !gr.scan.is_scanned(e) {
        scan_before_run(gr, e);
    }
}

#[cold]
#[inline(never)]
fn scan_before_run(gr: &G, e: u32) {
    let mut spins = 0u32;
    loop {
        match gr.scan.try_claim(e) {
            crate::scanstate::Claim::Mine => {
                // SAFETY: the G is Runnable and ours (taken off a run
                // queue), so its saved sp is valid; our claim keeps any
                // stack job away.
                let sp = unsafe { gr.saved_sp() };
                (hooks().scan_stack)(sp, gr.hi);
                gr.scan.publish(e);
                SCANNED_BEFORE_RUN.fetch_add(1, Relaxed);
                return;
            }
            crate::scanstate::Claim::Scanned => return,
            crate::scanstate::Claim::Busy => {
                // A mark worker is scanning it: microseconds.
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

/// The copy barrier: while an epoch is open, shade the managed objects
/// `[start, start + len)` points to, before those bytes are copied from one
/// goroutine's stack (or a channel buffer) to another's. One relaxed load
/// otherwise.
#[inline]
pub(crate) fn copy_barrier(start: usize, len: usize) {
    if len >= core::mem::size_of::<usize>() && SCAN_EPOCH.load(Relaxed) != 0 {
        copy_barrier_slow(start, len);
    }
}

#[cold]
#[inline(never)]
pub(crate) fn copy_barrier_slow(start: usize, len: usize) {
    if let Some(h) = HOOKS.get() {
        (h.shade_copied)(start, start + len);
    }
}
