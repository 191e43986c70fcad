//! Stop the world, root enumeration, safepoints and the ragged barrier —
//! what the collector's host (`runtime/src/host.rs`) calls.
//!
//! See [crate] ("The stop-the-world protocol") for the overview and
//! `world.rs` for the rendezvous itself.

use crate::g::{GStatus, G};
use crate::loom::sync::atomic::Ordering::*;
use crate::sched::{
    self, current_p_ptr, getg, sched, PStatus, Sched, P, POLL, POLL_SAFEPOINT_FN, POLL_STW,
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
    start: Instant,
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

/// Brings every P to a stop and returns when none runs a goroutine (except
/// the caller, if it is one). Callable from a goroutine or from any OS
/// thread. Cooperative: a goroutine stops at its next safepoint, so a
/// goroutine spinning without safepoints delays the stop.
pub fn stop_the_world(reason: StwReason) -> WorldStopped {
    let s = sched();
    let start = Instant::now();
    acquire_worldsema(s);
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
        unsafe { &*p }.set_status(PStatus::GcStop);
        s.world.stop_one();
    }
    {
        let mut l = sched::lock_sched(s);
        while let Some(ip) = l.pidle.pop() {
            // SAFETY: Ps are leaked.
            unsafe { &*ip }.set_status(PStatus::GcStop);
            l.stopped.push(ip);
            s.world.stop_one();
        }
    }
    s.world.wait_stopped(|| {
        POLL.fetch_or(POLL_STW, SeqCst);
    });
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
        start,
    }
}

/// Restarts the world stopped by `w`.
pub fn start_the_world(w: WorldStopped) {
    let s = sched();
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
            l.pidle.push(p);
        }
        if !w.owner_p.is_null() {
            // SAFETY: Ps are leaked.
            let pr = unsafe { &*w.owner_p };
            if pr.status() == PStatus::GcStop {
                pr.set_status(PStatus::Running);
            }
        }
        POLL.fetch_and(!POLL_STW, SeqCst);
        s.stw_owner.store(core::ptr::null_mut(), Release);
        s.world.release();
    }
    sched::wakep();
    release_worldsema(s);
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
                });
                continue;
            }
            if st == GStatus::Running {
                crate::rt_throw!("goroutine {} running while the world is stopped", gr.goid());
            }
            // SAFETY: the world is stopped and the G is not running: its
            // saved sp is valid and stable.
            let sp = unsafe { gr.saved_sp() };
            f(&GoroutineStack {
                goid: gr.goid(),
                status: st,
                sp,
                hi: gr.hi,
                lo: gr.lo + page,
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
    acquire_worldsema(s);
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
}

/// Changes GOMAXPROCS with the world stopped (Go's `procresize`).
pub(crate) fn set_gomaxprocs(n: usize) -> usize {
    let s = sched();
    let n = n.clamp(1, sched::MAX_PROCS);
    let w = stop_the_world(StwReason::Gomaxprocs);
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
    let owner_p = w.owner_p;
    start_the_world(w);
    // SAFETY: Ps are leaked.
    if !owner_p.is_null() && unsafe { &*owner_p }.status() == PStatus::Dead {
        // Our P is gone: leave it at once (the scheduler moves us).
        sched::gosched();
    }
    old
}
