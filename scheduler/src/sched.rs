//! M, P, the scheduler loop, spawning, parking and readying.
//!
//! See [crate] for the overview: the glossary, the G states, the spinning
//! protocol and the stop-the-world protocol are described there.
//!
//! # Fields of [`Sched`]
//!
//! | field | protection |
//! |---|---|
//! | `lock` (`SchedLocked`: global queue, idle Ps, idle Ms, M count) | the scheduler lock itself |
//! | `idle` (`nmspinning`, `npidle`) | atomics; `npidle` changes only under `lock` |
//! | `gomaxprocs`, `allp` | written only while the world is stopped (or at start) |
//! | `runq_size` | mirror of the global queue's length, written under `lock`, read racily |
//! | `allg` | the allg lock: list of every G ever created + the stack arena |
//! | `gfree` | the gfree lock: the global pool of dead Gs |
//! | `ngoroutines`, `goidgen`, `run_active`, `external` | atomic counters |
//! | `world`, `worldsema`, `stw_owner` | see `stw.rs` |

use crate::g::{GStatus, WaitReason, G};
use crate::hooks::{self, SchedEvent};
use crate::idle::Idle;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{
    fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*,
};
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use crate::runq::RunQueue;
use crate::stack::{self, StackArena};
use crate::switch;
use crate::world::World;
use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::OnceLock;
use std::time::Duration;

/// Upper bound on GOMAXPROCS (Go's `_MaxGomaxprocs` is 1024 too).
pub const MAX_PROCS: usize = 1024;

/// Pooled stacks the scavenger releases per sysmon round at most.
const SCAVENGE_BATCH: usize = 512;

/// Goroutine ids a P reserves at a time (Go's `_GoidCacheBatch`).
const GOID_BATCH: u64 = 16;

/// Per-P cache of dead Gs before half moves to the global pool.
const GFREE_LOCAL_MAX: usize = 64;

/// Bits of [`POLL`], the safepoint word.
pub(crate) const POLL_STW: u32 = 1;
/// A ragged barrier ("for each P at its next safepoint") is pending.
pub(crate) const POLL_SAFEPOINT_FN: u32 = 2;
/// sysmon asked some goroutine to yield.
pub(crate) const POLL_PREEMPT: u32 = 4;

/// The safepoint word: 0 when nothing is requested, so [`crate::safepoint`]
/// is one relaxed load. Set by stoppers and sysmon, cleared when their
/// request is over. Relaxed is enough: a poll that misses a fresh request
/// sees it at the next safepoint, and the stopper re-checks every 100 µs.
pub(crate) static POLL: AtomicU32 = AtomicU32::new(0);

pub use crate::handoff::PStatus;
use crate::handoff::{Handoff, Linked, PState, PreemptedStack};

/// A P: the right to run goroutines, with a local run queue.
#[derive(Debug)]
pub(crate) struct P {
    /// 0..GOMAXPROCS. Immutable.
    pub(crate) id: usize,
    /// A [`PStatus`]; written by the owning M or under the scheduler lock /
    /// with the world stopped; out of `Syscall` by CAS (`handoff.rs`).
    status: PState,
    /// The local run queue and `runnext` (see `runq.rs`).
    pub(crate) runq: RunQueue<G>,
    /// Incremented by the owner on every scheduling of a new time slice;
    /// read by sysmon to detect a goroutine running > 10 ms.
    pub(crate) schedtick: AtomicU32,
    /// The M holding this P (stale when idle). Written by that M.
    pub(crate) m: AtomicPtr<M>,
    /// Dead Gs cached for reuse. Owned by the M holding the P.
    gfree: UnsafeCell<Vec<*mut G>>,
    /// Set by a ragged barrier; cleared by whoever runs the function for
    /// this P.
    pub(crate) run_safepoint_fn: AtomicBool,
    /// The runtime's per-P slot (the collector's per-P state). Opaque here.
    pub(crate) local: AtomicPtr<()>,
    /// Goroutines created minus goroutines that exited on this P. Written
    /// only by the owning M (load + store, no RMW: no cache-line ping-pong
    /// on the spawn path); summed by [`Sched::goroutines`].
    pub(crate) ngdelta: AtomicI64,
    /// Goroutine ids reserved for this P: `[next, end)`. Owned by the M
    /// holding the P (Go's `goidcache`).
    goidcache: UnsafeCell<(u64, u64)>,
    /// Incremented each time its M's goroutine leaves it (enters the
    /// `Syscall` state); read by sysmon. Written by that M.
    pub(crate) syscalltick: AtomicU32,
    /// When the goroutine last left it (`now_nanos`). Written by that M.
    pub(crate) syscallwhen: AtomicU64,
}

impl P {
    fn new(id: usize) -> P {
        P {
            id,
            status: PState::new(PStatus::Idle),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            m: AtomicPtr::new(null_mut()),
            gfree: UnsafeCell::new(Vec::new()),
            run_safepoint_fn: AtomicBool::new(false),
            local: AtomicPtr::new(null_mut()),
            ngdelta: AtomicI64::new(0),
            goidcache: UnsafeCell::new((0, 0)),
            syscalltick: AtomicU32::new(0),
            syscallwhen: AtomicU64::new(0),
        }
    }

    pub(crate) fn status(&self) -> PStatus {
        self.status.get()
    }

    pub(crate) fn set_status(&self, s: PStatus) {
        self.status.set(s);
    }

    /// See [`PState::cas`].
    pub(crate) fn cas_status(&self, from: PStatus, to: PStatus) -> bool {
        self.status.cas(from, to)
    }
}

/// What g0 does with the G that just switched to it (Go's `mcall` fn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Nothing pending (g0's own state between Gs).
    Nothing,
    /// `gosched`: back on the local queue's tail.
    Yield,
    /// sysmon's request at a safepoint: to the global queue.
    Preempted,
    /// Park: commit the [`crate::park::ParkState`] hand-shake.
    Park,
    /// The goroutine returned: free it.
    Exit,
    /// A stop-the-world is pending: back into `runnext`, stop the P.
    StwStop,
}

/// An M: an OS thread that runs goroutines. Its own thread stack is g0.
#[derive(Debug)]
pub(crate) struct M {
    /// g0's saved stack pointer while a G runs. Owned by this M's thread.
    g0_sp: UnsafeCell<usize>,
    /// The G running on this M, or null on g0. Written by this M; read by
    /// sysmon.
    pub(crate) curg: AtomicPtr<G>,
    /// The P held, or null. Written by this M, and by the M that hands a P
    /// to this M's locked goroutine while this M waits for it
    /// (`hand_p_to_locked`, published by `handoff`).
    pub(crate) p: AtomicPtr<P>,
    /// A P handed over by `startm` before waking this M.
    nextp: AtomicPtr<P>,
    /// Whether this M counts in `nmspinning`. Written by this M, or by its
    /// waker before the wake-up.
    spinning: AtomicBool,
    /// The request of the G that just switched to g0. Written by that G,
    /// read by g0 on the same thread.
    after: UnsafeCell<After>,
    /// Park note: `true` once woken. Protected by its mutex.
    note: Mutex<bool>,
    /// Signalled to wake the M.
    note_cond: Condvar,
    /// Reasons the running G must not be preempted asynchronously: a
    /// P-local section or a switch in progress (Go's `m.locks`). Written
    /// only by this M's thread; read by its signal handler.
    pub(crate) pins: AtomicU32,
    /// Requests of the preemption protocol and the suspension hand-shake
    /// (`suspend.rs`): set by sysmon or a stopper before they signal the
    /// thread; served by its handler.
    pub(crate) susp: crate::suspend::Suspension,
    /// The P this M's goroutine left (`Syscall` state) and may take back.
    /// Written by this M's thread.
    pub(crate) oldp: AtomicPtr<P>,
    /// The hand-over of a P to this M's locked goroutine (a futex word):
    /// the M sets it to 0 before it queues its goroutine, and the M that
    /// picks the goroutine sets it to 1 once it has made this M the owner
    /// of its P (`hand_p_to_locked`).
    pub(crate) handoff: Handoff,
    /// The thread's `pthread_t` (for `pthread_kill`); 0 until it runs.
    pub(crate) thread: AtomicUsize,
}

// SAFETY: the UnsafeCells are accessed only by the M's own thread, as the
// field docs say; everything else is atomic or locked.
unsafe impl Sync for M {}
// SAFETY: as above.
unsafe impl Send for M {}

/// The global run queue: Gs linked through `G::schedlink`.
#[derive(Debug)]
pub(crate) struct GQueue {
    head: *mut G,
    tail: *mut G,
    len: usize,
}

impl GQueue {
    const fn new() -> GQueue {
        GQueue {
            head: null_mut(),
            tail: null_mut(),
            len: 0,
        }
    }

    fn push(&mut self, g: *mut G) {
        // SAFETY: Gs are never freed; the queue lock protects schedlink.
        unsafe { (*g).schedlink.store(null_mut(), Relaxed) };
        if self.tail.is_null() {
            self.head = g;
        } else {
            // SAFETY: as above.
            unsafe { (*self.tail).schedlink.store(g, Relaxed) };
        }
        self.tail = g;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<*mut G> {
        let g = self.head;
        if g.is_null() {
            return None;
        }
        // SAFETY: as in `push`.
        self.head = unsafe { (*g).schedlink.load(Relaxed) };
        if self.head.is_null() {
            self.tail = null_mut();
        }
        self.len -= 1;
        Some(g)
    }
}

/// Fields protected by the scheduler lock.
#[derive(Debug)]
pub(crate) struct SchedLocked {
    /// The global run queue.
    pub(crate) runq: GQueue,
    /// Idle Ps.
    pub(crate) pidle: Vec<*mut P>,
    /// Idle Ps held by a stop-the-world.
    pub(crate) stopped: Vec<*mut P>,
    /// Idle (parked) Ms.
    midle: Vec<*mut M>,
    /// Ms created.
    mcount: u32,
}

/// The global pool of dead Gs (with their stacks). Protected by
/// `Sched::gfree`. LIFO: `list[..released_upto]` have had their pages
/// returned by the scavenger.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    list: Vec<*mut G>,
    released_upto: usize,
}

impl Pool {
    fn pop(&mut self) -> Option<*mut G> {
        let g = self.list.pop();
        self.released_upto = self.released_upto.min(self.list.len());
        g
    }
}

/// Every G ever created plus the stack arena. Protected by `Sched::allg`.
#[derive(Debug, Default)]
pub(crate) struct AllG {
    pub(crate) list: Vec<*mut G>,
    arena: StackArena,
}

/// The scheduler (Go's `schedt`), one per process.
#[derive(Debug)]
pub(crate) struct Sched {
    pub(crate) lock: Mutex<SchedLocked>,
    pub(crate) idle: Idle,
    pub(crate) gomaxprocs: AtomicU32,
    allp: Box<[AtomicPtr<P>]>,
    runq_size: AtomicUsize,
    pub(crate) allg: Mutex<AllG>,
    gfree: Mutex<Pool>,
    pub(crate) ngoroutines: AtomicI64,
    goidgen: AtomicU64,
    mid: AtomicU64,
    /// `run` calls in progress: deadlock detection applies only then.
    pub(crate) run_active: AtomicU32,
    /// Non-goroutine threads that may still ready a goroutine (see
    /// [`crate::ExternalActivity`]).
    pub(crate) external: AtomicU32,
    pub(crate) world: World,
    /// Serializes stoppers and ragged barriers (Go's `worldsema`).
    pub(crate) worldsema: AtomicBool,
    /// The G that stopped the world, if a goroutine did.
    pub(crate) stw_owner: AtomicPtr<G>,
    /// The ragged barrier's function (a `*const &dyn Fn(usize)`), or null.
    pub(crate) sp_fn: AtomicPtr<()>,
    /// Ps that still have to run `sp_fn`.
    pub(crate) sp_pending: AtomicI64,
    /// Every M ever created (Ms never exit). A leaf lock.
    allm: Mutex<Vec<*mut M>>,
    /// Threads of the runtime that are not Ms (sysmon, collector workers,
    /// the scavenger, profile servers): they never block in a gort
    /// operation, so the deadlock check does not count them as possible
    /// wakers. See [`crate::RuntimeThread`].
    pub(crate) runtime_threads: AtomicU32,
    /// Goroutines preempted by signal (`REQ_YIELD`) that wait in their
    /// handler to be queued as locked goroutines: a lock-free stack linked
    /// through `G::schedlink`, pushed by the handler (which may take no
    /// lock) and moved to the global queue by `drain_preempted`.
    pub(crate) preempted: PreemptedStack<G>,
}

// SAFETY: raw pointers inside are to leaked Ms/Ps and never-freed Gs; every
// field is atomic or behind a lock as documented.
unsafe impl Sync for Sched {}
// SAFETY: as above.
unsafe impl Send for Sched {}

static SCHED: OnceLock<Sched> = OnceLock::new();

/// The scheduler; throws if it was never started.
#[inline]
pub(crate) fn sched() -> &'static Sched {
    match SCHED.get() {
        Some(s) => s,
        None => crate::rt_throw!("gort scheduler used before gort_scheduler::run started it"),
    }
}

/// The scheduler, if started.
pub(crate) fn try_sched() -> Option<&'static Sched> {
    SCHED.get()
}

thread_local! {
    /// The M this OS thread is (null on non-M threads).
    static CURRENT_M: Cell<*mut M> = const { Cell::new(null_mut()) };
}

/// The M of the calling thread, or null. Never inlined, and its result must
/// not be kept across a switch point: a goroutine may resume on another M.
#[inline(never)]
pub(crate) fn current_m() -> *mut M {
    CURRENT_M.with(|c| c.get())
}

/// [`current_m`] inlined, for never-inlined functions that contain no switch
/// point (the allocator's pin): there the TLS address cannot outlive the
/// thread it was computed on.
#[inline(always)]
pub(crate) fn current_m_in_place() -> *mut M {
    CURRENT_M.with(|c| c.get())
}

/// The running G of the calling thread, or null on a non-goroutine thread.
#[inline(never)]
pub(crate) fn getg() -> *mut G {
    let m = current_m();
    if m.is_null() {
        return null_mut();
    }
    // SAFETY: Ms are leaked; `curg` is written by this very thread.
    unsafe { (*m).curg.load(Relaxed) }
}

/// Configuration for [`crate::run_with`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of Ps. `None`: `$GOMAXPROCS` if set, else the CPUs available
    /// to the process.
    pub gomaxprocs: Option<usize>,
    /// Reserved bytes per goroutine stack: the most a goroutine's frames
    /// may use (Go's max stack; only touched pages cost memory). Rounded up
    /// to whole pages and clamped to [`stack::MIN_STACK_SIZE`]`..=`
    /// [`stack::MAX_STACK_SIZE`]. Default [`stack::DEFAULT_STACK_SIZE`]
    /// (8 MiB).
    pub stack_size: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            gomaxprocs: None,
            stack_size: stack::DEFAULT_STACK_SIZE,
        }
    }
}

fn default_procs() -> usize {
    match std::env::var("GOMAXPROCS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_PROCS),
            _ => crate::rt_throw!("invalid GOMAXPROCS={v:?}: want an integer ≥ 1"),
        },
        Err(_) => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_PROCS),
    }
}

/// Starts the scheduler once per process (later calls keep the first
/// configuration).
pub(crate) fn init(cfg: &Config) -> &'static Sched {
    SCHED.get_or_init(|| {
        // The clock origin is fixed before any goroutine runs: its lazy
        // initialization is a lock that a goroutine suspended in the middle
        // of it would hold while world-stopped code reads the clock.
        let _ = crate::hooks::now_nanos();
        let page = stack::page_size();
        let size = stack::stack_size_for(cfg.stack_size, page);
        stack::set_stack_size(size);
        let n = cfg
            .gomaxprocs
            .unwrap_or_else(default_procs)
            .clamp(1, MAX_PROCS);
        let allp: Box<[AtomicPtr<P>]> =
            (0..MAX_PROCS).map(|_| AtomicPtr::new(null_mut())).collect();
        let mut pidle = Vec::new();
        for (i, slot) in allp.iter().enumerate().take(n) {
            let p = Box::into_raw(Box::new(P::new(i)));
            slot.store(p, Release);
            pidle.push(p);
        }
        pidle.reverse(); // pop() hands out P0 first
        let idle = Idle::new();
        idle.npidle.store(n as u32, Relaxed);
        crate::signal::install();
        crate::preempt::install();
        crate::panic::install_hook();
        Sched {
            lock: Mutex::new(SchedLocked {
                runq: GQueue::new(),
                pidle,
                stopped: Vec::new(),
                midle: Vec::new(),
                mcount: 0,
            }),
            idle,
            gomaxprocs: AtomicU32::new(n as u32),
            allp,
            runq_size: AtomicUsize::new(0),
            allg: Mutex::new(AllG::default()),
            gfree: Mutex::new(Pool::default()),
            ngoroutines: AtomicI64::new(0),
            goidgen: AtomicU64::new(0),
            mid: AtomicU64::new(0),
            run_active: AtomicU32::new(0),
            external: AtomicU32::new(0),
            world: World::new(),
            worldsema: AtomicBool::new(false),
            stw_owner: AtomicPtr::new(null_mut()),
            sp_fn: AtomicPtr::new(null_mut()),
            sp_pending: AtomicI64::new(0),
            allm: Mutex::new(Vec::new()),
            runtime_threads: AtomicU32::new(0),
            preempted: PreemptedStack::new(),
        }
    })
}

/// Starts sysmon once the scheduler exists.
pub(crate) fn ensure_sysmon() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        sched().runtime_threads.fetch_add(1, SeqCst);
        std::thread::Builder::new()
            .name("gort-sysmon".into())
            .spawn(crate::sysmon::sysmon)
            .unwrap_or_else(|e| crate::rt_throw!("cannot start sysmon: {e}"));
    });
}

impl Sched {
    /// P number `i` (may be null beyond GOMAXPROCS).
    pub(crate) fn p(&self, i: usize) -> *mut P {
        self.allp[i].load(Acquire)
    }

    /// Goroutines that exist (created, not yet exited): the global count
    /// (spawns outside any P) plus every P's delta.
    pub(crate) fn goroutines(&self) -> i64 {
        let mut n = self.ngoroutines.load(SeqCst);
        for slot in self.allp.iter() {
            let p = slot.load(Acquire);
            if p.is_null() {
                break;
            }
            // SAFETY: Ps are leaked.
            n += unsafe { &*p }.ngdelta.load(SeqCst);
        }
        n
    }

    pub(crate) fn nprocs(&self) -> usize {
        self.gomaxprocs.load(Acquire) as usize
    }

    /// A snapshot of every M.
    pub(crate) fn all_ms(&self) -> Vec<*mut M> {
        self.allm.lock().clone()
    }

    /// The global queue's length, read racily (sysmon).
    pub(crate) fn global_runq_len(&self) -> usize {
        self.runq_size.load(Relaxed)
    }

    fn globrunq_put_locked(&self, l: &mut SchedLocked, g: *mut G) {
        l.runq.push(g);
        self.runq_size.store(l.runq.len, Relaxed);
    }

    /// Takes one G for `p` from the global queue and moves a batch (at most
    /// half a local queue, and a fair share) into `p`'s local queue.
    fn globrunq_get_locked(&self, l: &mut SchedLocked, p: &P, max: usize) -> Option<*mut G> {
        if l.runq.len == 0 {
            return None;
        }
        let procs = self.nprocs();
        let mut n = (l.runq.len / procs + 1).min(l.runq.len);
        if max > 0 {
            n = n.min(max);
        }
        n = n.min(crate::runq::RUNQ_LEN / 2);
        let g = l.runq.pop();
        let mut overflow = Vec::new();
        for _ in 1..n {
            let Some(x) = l.runq.pop() else { break };
            p.runq.put(x, false, &mut overflow);
        }
        for x in overflow {
            l.runq.push(x);
        }
        self.runq_size.store(l.runq.len, Relaxed);
        g
    }

    /// [`drain_preempted`] with the scheduler lock held; returns how many
    /// goroutines it moved (the caller wakes an M for them).
    pub(crate) fn drain_preempted_locked(&self, l: &mut SchedLocked) -> usize {
        let mut g = self.preempted.take_all();
        let mut n = 0;
        while !g.is_null() {
            // SAFETY: Gs are never freed; the G is on no other list.
            let next = unsafe { &*g }.schedlink.load(Relaxed);
            self.globrunq_put_locked(l, g);
            g = next;
            n += 1;
        }
        n
    }

    fn pidleput_locked(&self, l: &mut SchedLocked, p: *mut P) {
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        if !pr.runq.is_empty() {
            crate::rt_throw!("pidleput: P has a non-empty run queue");
        }
        pr.m.store(null_mut(), Relaxed);
        self.idle.npidle.fetch_add(1, SeqCst);
        if self.world.requested() {
            pr.set_status(PStatus::GcStop);
            l.stopped.push(p);
            self.world.stop_one(pr.id, crate::world::StopSite::Pidleput);
        } else {
            pr.set_status(PStatus::Idle);
            l.pidle.push(p);
        }
    }

    pub(crate) fn pidleget_locked(&self, l: &mut SchedLocked) -> Option<*mut P> {
        let p = l.pidle.pop()?;
        self.idle.npidle.fetch_sub(1, SeqCst);
        Some(p)
    }
}

/// Whether any P's local queue or the global queue holds work.
fn any_work(s: &Sched) -> bool {
    if s.runq_size.load(Relaxed) > 0 {
        return true;
    }
    (0..s.nprocs()).any(|i| {
        let p = s.p(i);
        // SAFETY: Ps are leaked.
        !p.is_null() && !unsafe { &*p }.runq.is_empty()
    })
}

// ---------------------------------------------------------------------------
// Ms

pub(crate) fn acquirep(m: &M, p: *mut P) {
    // SAFETY: Ps are leaked.
    let pr = unsafe { &*p };
    // A P has one owner. Whoever gave it up cleared its own `m.p` before
    // the P reached us (through the scheduler lock, a status CAS or a
    // `nextp` hand-over, each ordering the clear before our read).
    let prev = pr.m.load(Relaxed);
    // SAFETY: Ms are leaked.
    if !prev.is_null() && !std::ptr::eq(prev, m) && unsafe { &*prev }.p.load(Relaxed) == p {
        crate::rt_throw!(
            "acquirep: P {} ({}) is still held by another M",
            pr.id,
            pr.status().name()
        );
    }
    m.p.store(p, Relaxed);
    pr.m.store(m as *const M as *mut M, Relaxed);
    pr.set_status(PStatus::Running);
    hooks::emit(|| SchedEvent::ProcStart { p: pr.id });
}

/// Wakes an idle M (or creates one) to run `p`.
fn startm(s: &Sched, spinning: bool) {
    let mut l = s.lock.lock();
    let Some(p) = s.pidleget_locked(&mut l) else {
        drop(l);
        if spinning {
            s.idle.cancel_wake();
        }
        return;
    };
    mput_p(s, l, p, spinning);
}

/// Starts an M (an idle one, or a new one) to run P `p`, which the caller
/// took off every list.
pub(crate) fn startm_with(s: &Sched, p: *mut P, spinning: bool) {
    let l = s.lock.lock();
    mput_p(s, l, p, spinning);
}

/// Hands P `p` to an idle M (or a new one), given the scheduler lock `l`,
/// which it releases before waking or creating the M.
fn mput_p(s: &Sched, mut l: MutexGuard<'_, SchedLocked>, p: *mut P, spinning: bool) {
    if let Some(m) = l.midle.pop() {
        drop(l);
        // SAFETY: Ms are leaked.
        let m = unsafe { &*m };
        m.nextp.store(p, Relaxed);
        m.spinning.store(spinning, Relaxed);
        let mut n = m.note.lock();
        *n = true;
        m.note_cond.notify_one();
        drop(n);
    } else {
        l.mcount += 1;
        drop(l);
        newm(s, p, spinning);
    }
}

/// Hands off P `p`, which its M left and someone (sysmon, [`crate::blocking`])
/// took in the `Idle` state without putting it on the idle list (Go's
/// `handoffp`): to a new M if there is work for it, else to the idle list
/// (which stops it if a stop of the world is pending).
pub(crate) fn handoffp(s: &Sched, p: *mut P) {
    // SAFETY: Ps are leaked.
    let pr = unsafe { &*p };
    if !pr.runq.is_empty() || s.runq_size.load(Relaxed) > 0 {
        startm_with(s, p, false);
        return;
    }
    // No spinning M and no idle P: new work would find nobody to run it,
    // so let an M spin on this P (Go does the same).
    if !s.world.requested()
        && s.idle.nmspinning.load(Relaxed) + s.idle.npidle.load(Relaxed) == 0
        && s.idle
            .nmspinning
            .compare_exchange(0, 1, SeqCst, Relaxed)
            .is_ok()
    {
        startm_with(s, p, true);
        return;
    }
    let mut l = s.lock.lock();
    if !pr.runq.is_empty() || l.runq.len > 0 {
        drop(l);
        startm_with(s, p, false);
        return;
    }
    s.pidleput_locked(&mut l, p);
    drop(l);
    hooks::emit(|| SchedEvent::ProcStop { p: pr.id });
}

/// The M of a P-less goroutine, which it queued as a locked goroutine
/// after resetting `m.handoff` (see `preempt::exitsyscall` and the
/// preemption handler), waits until the M that picks the goroutine has
/// handed it a P (`hand_p_to_locked`). Only atomics and a futex: the
/// handler calls it too.
pub(crate) fn wait_for_handoff(m: &M) {
    m.handoff.wait(crate::preempt::futex_wait);
}

/// `m`, running a G with a P, picked `gr`, a locked goroutine waiting on
/// its own M `lm` (`wait_for_handoff`): makes `lm` the owner of `m`'s P on
/// its behalf (`lm` may be waiting in a signal handler, where it may not
/// emit events or take locks), then wakes it. `m` is left without a P.
fn hand_p_to_locked(m: &M, lm: &M, gr: &G) {
    if !std::ptr::eq(lm.curg.load(Relaxed), gr) || lm.handoff.given() {
        crate::rt_throw!(
            "locked goroutine {} picked while its M does not wait for it",
            gr.goid()
        );
    }
    let p = m.p.swap(null_mut(), Relaxed);
    acquirep(lm, p);
    // SAFETY: Ps are leaked.
    let pid = unsafe { &*p }.id;
    crate::metrics::record_run(gr);
    gr.preempt.store(false, Relaxed);
    gr.set_status(GStatus::Running);
    hooks::emit(|| SchedEvent::GoStart {
        goid: gr.goid(),
        p: pid,
    });
    lm.handoff.give(crate::preempt::futex_wake);
}

/// Pushes `g`, preempted by signal and waiting in its handler, on the
/// `preempted` stack. Lock-free and async-signal-safe: runs in the handler.
pub(crate) fn preempted_push(g: &G) {
    sched().preempted.push(g as *const G as *mut G);
}

impl Linked for G {
    fn link(&self) -> &AtomicPtr<G> {
        &self.schedlink
    }
}

/// Moves the goroutines preempted by signal to the global queue, where an
/// M picks each and hands its P to the goroutine's own M. Called by
/// `find_runnable` and by sysmon every round; one relaxed load when there
/// is nothing to move.
pub(crate) fn drain_preempted(s: &Sched) {
    if s.preempted.is_empty() {
        return;
    }
    let moved = {
        let mut l = s.lock.lock();
        s.drain_preempted_locked(&mut l)
    };
    if moved > 0 {
        wakep();
    }
}

fn newm(s: &Sched, p: *mut P, spinning: bool) {
    let id = s.mid.fetch_add(1, Relaxed) + 1;
    let m: &'static M = Box::leak(Box::new(M {
        g0_sp: UnsafeCell::new(0),
        curg: AtomicPtr::new(null_mut()),
        p: AtomicPtr::new(null_mut()),
        nextp: AtomicPtr::new(p),
        spinning: AtomicBool::new(spinning),
        after: UnsafeCell::new(After::Nothing),
        note: Mutex::new(false),
        note_cond: Condvar::new(),
        pins: AtomicU32::new(0),
        susp: crate::suspend::Suspension::new(),
        oldp: AtomicPtr::new(null_mut()),
        handoff: Handoff::new(),
        thread: AtomicUsize::new(0),
    }));
    s.allm.lock().push(m as *const M as *mut M);
    let mp = m as *const M as usize;
    std::thread::Builder::new()
        .name(format!("gort-m{id}"))
        .spawn(move || mstart(mp as *const M))
        .unwrap_or_else(|e| crate::rt_throw!("newm: cannot create an OS thread: {e}"));
}

fn mstart(m: *const M) {
    CURRENT_M.with(|c| c.set(m as *mut M));
    crate::signal::install_altstack();
    // SAFETY: Ms are leaked.
    crate::preempt::register_thread(unsafe { &*m });
    crate::hooks::thread_started();
    // SAFETY: Ms are leaked.
    let m = unsafe { &*m };
    let p = m.nextp.swap(null_mut(), Relaxed);
    acquirep(m, p);
    schedule(m)
}

/// Wakes a spinning M if there is an idle P and nobody spins (Go's `wakep`).
pub(crate) fn wakep() {
    let s = sched();
    if s.idle.should_wake() {
        startm(s, true);
    }
}

/// Parks the M until `startm` hands it a P. Runs the deadlock check.
fn stopm(s: &Sched, m: &M) {
    {
        let mut l = s.lock.lock();
        l.midle.push(m as *const M as *mut M);
        checkdead(s, &l);
    }
    let mut n = m.note.lock();
    while !*n {
        n = m.note_cond.wait(n);
    }
    *n = false;
    drop(n);
    let p = m.nextp.swap(null_mut(), Relaxed);
    acquirep(m, p);
}

/// Runs the deadlock check now (after a timer delivery or the end of an
/// [`crate::ExternalActivity`], which may have hidden the last check).
pub(crate) fn checkdead_now() {
    let s = sched();
    let l = s.lock.lock();
    checkdead(s, &l);
}

/// Go's `checkdead`: called with the scheduler lock held when an M goes
/// idle. Throws when every M is idle, no G is runnable, no timer is pending
/// and a `run` is in progress.
fn checkdead(s: &Sched, l: &SchedLocked) {
    let run_active = s.run_active.load(SeqCst);
    if run_active == 0 {
        return; // the cheap common case: no `run` in progress
    }
    let facts = crate::deadcheck::Facts {
        run_active,
        external: s.external.load(SeqCst),
        world_requested: s.world.requested(),
        all_ms_idle: l.midle.len() as u32 >= l.mcount,
        runnable: l.runq.len > 0
            || (0..s.nprocs()).any(|i| {
                // SAFETY: Ps are leaked.
                !unsafe { &*s.p(i) }.runq.is_empty()
            }),
        pending_timers: crate::sysmon::pending_timers(),
        goroutines: s.goroutines(),
        // Some P may be held by a stopper or left by a P-less M.
        all_ps_idle: l.pidle.len() + l.stopped.len() >= s.nprocs(),
    };
    // A thread outside the scheduler may still wake a goroutine (it may hold
    // a channel, a Mutex or a WaitGroup): no verdict while one lives.
    if crate::deadcheck::deadlocked(&facts, || foreign_threads(s, l)) {
        crate::rt_throw!("all goroutines are asleep - deadlock!");
    }
}

/// Threads of the process that are neither Ms, runtime threads nor callers
/// of [`crate::run`] waiting for their main goroutine: the threads that may
/// still ready a goroutine. Read from `/proc/self/stat` (field 20,
/// `num_threads`); 0 if it cannot be read.
fn foreign_threads(s: &Sched, l: &SchedLocked) -> i64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name (field 2) is in parentheses and may hold spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0;
    };
    let Some(n) = rest
        .split_ascii_whitespace()
        .nth(17)
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return 0;
    };
    let known = i64::from(l.mcount)
        + i64::from(s.runtime_threads.load(SeqCst))
        + i64::from(s.run_active.load(SeqCst));
    n - known
}

// ---------------------------------------------------------------------------
// The scheduler loop (runs on g0)

fn schedule(m: &M) -> ! {
    loop {
        let (g, inherit) = find_runnable(m);
        execute(m, g, inherit);
    }
}

/// The M drops a dead P (GOMAXPROCS shrank) and gets another or parks.
fn drop_dead_p(s: &Sched, m: &M) {
    m.p.store(null_mut(), Relaxed);
    let mut l = s.lock.lock();
    if let Some(p) = s.pidleget_locked(&mut l) {
        drop(l);
        acquirep(m, p);
    } else {
        drop(l);
        stopm(s, m);
    }
}

fn m_found_work(m: &M) {
    if m.spinning.load(Relaxed) {
        m.spinning.store(false, Relaxed);
        if sched().idle.found_work() {
            wakep();
        }
    }
}

/// Finds a runnable G for `m`, blocking the M if there is none (Go's
/// `findRunnable`). Returns the G and whether it inherits the time slice.
fn find_runnable(m: &M) -> (*mut G, bool) {
    let s = sched();
    loop {
        let pp = m.p.load(Relaxed);
        if pp.is_null() {
            // Lost our P in a GOMAXPROCS change.
            drop_dead_p(s, m);
            continue;
        }
        // SAFETY: Ps are leaked.
        let p = unsafe { &*pp };
        match p.status() {
            PStatus::Dead => {
                drop_dead_p(s, m);
                continue;
            }
            PStatus::GcStop => {
                // Our P was stopped on our behalf (a goroutine stopper that
                // ran here has since switched away): wait for the restart.
                s.world_wait_restart(m, p);
                continue;
            }
            _ => {}
        }
        if s.world.requested() {
            gcstopm(s, m, p);
            continue;
        }
        if p.run_safepoint_fn.load(Relaxed) {
            crate::stw::run_safepoint_fn(p);
        }
        drain_preempted(s);
        // Fairness: look at the global queue once in a while.
        if p.schedtick.load(Relaxed) % 61 == 0 && s.runq_size.load(Relaxed) > 0 {
            let mut l = s.lock.lock();
            if let Some(g) = s.globrunq_get_locked(&mut l, p, 1) {
                drop(l);
                m_found_work(m);
                return (g, false);
            }
        }
        if let Some((g, inherit)) = p.runq.get() {
            m_found_work(m);
            return (g, inherit);
        }
        if s.runq_size.load(Relaxed) > 0 {
            let mut l = s.lock.lock();
            if let Some(g) = s.globrunq_get_locked(&mut l, p, 0) {
                drop(l);
                m_found_work(m);
                return (g, false);
            }
        }
        // Steal, if spinning is allowed.
        let procs = s.nprocs();
        if procs > 1
            && (m.spinning.load(Relaxed)
                || s.idle.try_start_spinning(procs as u32) && {
                    m.spinning.store(true, Relaxed);
                    true
                })
        {
            if let Some(g) = steal_work(s, p, procs) {
                m_found_work(m);
                return (g, false);
            }
        }
        // Nothing to run. While the collector marks, mark instead of giving
        // up the P (Go's idle mark worker), one bounded slice at a time, then
        // look at the queues again. A spinning M stays spinning meanwhile:
        // it has not given up looking, so nothing readied can be lost, at
        // worst it waits one slice.
        if crate::stw::idle_mark() {
            continue;
        }
        // Nothing: release the P.
        let mut l = s.lock.lock();
        if s.world.requested() || p.run_safepoint_fn.load(Relaxed) {
            continue;
        }
        if let Some(g) = s.globrunq_get_locked(&mut l, p, 0) {
            drop(l);
            m_found_work(m);
            return (g, false);
        }
        let pid = p.id;
        s.pidleput_locked(&mut l, p as *const P as *mut P);
        m.p.store(null_mut(), Relaxed);
        drop(l);
        hooks::emit(|| SchedEvent::ProcStop { p: pid });
        if m.spinning.load(Relaxed) {
            m.spinning.store(false, Relaxed);
            s.idle.stop_spinning();
            // The delicate dance: work published while we were dropping out
            // of the spinning state must not be lost.
            if any_work(s) {
                let mut l = s.lock.lock();
                if let Some(p2) = s.pidleget_locked(&mut l) {
                    drop(l);
                    acquirep(m, p2);
                    s.idle.nmspinning.fetch_add(1, SeqCst);
                    m.spinning.store(true, Relaxed);
                    continue;
                }
            }
        }
        stopm(s, m);
    }
}

/// A per-thread xorshift generator (Go's `cheaprand`): for steal order and
/// `select` polling order, not for anything that needs quality.
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
pub(crate) fn cheaprand() -> u32 {
    thread_local! { static SEED: Cell<u32> = const { Cell::new(0) }; }
    SEED.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // Seed from this thread's TLS address and the clock, so Ms do not
            // all walk the Ps in the same order.
            let a = s as *const Cell<u32> as usize as u64;
            let t = crate::hooks::now_nanos();
            x = ((a ^ (a >> 32) ^ t ^ (t >> 29)) as u32) | 1;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x
    })
}

/// Four passes over the other Ps in random order, stealing half a run queue;
/// the last pass may also take `runnext` (Go's `stealWork`).
fn steal_work(s: &Sched, p: &P, procs: usize) -> Option<*mut G> {
    for pass in 0..4 {
        let start = cheaprand() as usize % procs;
        for k in 0..procs {
            let i = (start + k) % procs;
            if i == p.id {
                continue;
            }
            if s.world.requested() {
                return None;
            }
            let v = s.p(i);
            if v.is_null() {
                continue;
            }
            // SAFETY: Ps are leaked.
            let v = unsafe { &*v };
            if v.status() != PStatus::Running {
                continue;
            }
            let take_next = pass == 3;
            if take_next && v.runq.has_runnext() && v.runq.is_ring_empty() {
                // Give the victim ~3 µs to run the G it just readied
                // (Go's usleep(3) before stealing runnext).
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_micros(3) {
                    std::hint::spin_loop();
                }
            }
            if let Some(g) = p.runq.steal_from(&v.runq, take_next) {
                return Some(g);
            }
        }
    }
    None
}

/// The M stops its P for a stop-the-world and parks until the restart.
fn gcstopm(s: &Sched, m: &M, p: &P) {
    if m.spinning.load(Relaxed) {
        m.spinning.store(false, Relaxed);
        s.idle.stop_spinning();
    }
    p.set_status(PStatus::GcStop);
    s.world.stop_and_park(p.id);
    // A GOMAXPROCS change may have destroyed our P while we were stopped —
    // and even revived it for someone else: `destroy_p` clears `p.m`.
    // Acquire: pairs with the world release (the resize happened before).
    if !std::ptr::eq(p.m.load(Acquire), m) || p.status() == PStatus::Dead {
        m.p.store(null_mut(), Relaxed);
        return;
    }
    if p.status() == PStatus::GcStop {
        p.set_status(PStatus::Running);
    }
}

impl Sched {
    fn world_wait_restart(&self, m: &M, p: &P) {
        let _ = m;
        while p.status() == PStatus::GcStop {
            std::thread::yield_now();
        }
    }
}

/// Runs `g` on `m` until it switches back, then carries out its request.
fn execute(m: &M, g: *mut G, inherit: bool) {
    // SAFETY: m.p is set; Ps are leaked; Gs are never freed.
    let p = unsafe { &*m.p.load(Relaxed) };
    if !inherit {
        p.schedtick
            .store(p.schedtick.load(Relaxed).wrapping_add(1), Relaxed);
    }
    // SAFETY: Gs are never freed.
    let gr = unsafe { &*g };
    // While the collector scans stacks, no goroutine runs with an unscanned
    // stack: scan it here if no mark worker did yet (one relaxed load when
    // no cycle is scanning; see `scanstate.rs`).
    crate::stw::ensure_scanned(gr);
    // While a goroutine profile is being taken, no goroutine runs before its
    // stack is recorded (one relaxed load otherwise; see `gprofile.rs`).
    crate::gprofile::ensure_recorded(gr);
    let lm = gr.lockedm.load(Relaxed);
    if !lm.is_null() {
        // A P-less goroutine waiting for a P on its own M (it was
        // interrupted at an arbitrary instruction and must resume on its
        // thread): hand it our P, and park until someone hands us one.
        // SAFETY: Ms are leaked.
        hand_p_to_locked(m, unsafe { &*lm }, gr);
        stopm(sched(), m);
        return;
    }
    // Pinned across the switch: until the G is on its own stack the handler
    // must not take this thread for it. The G unpins on arrival.
    m.pins.store(1, Relaxed);
    crate::metrics::record_run(gr);
    gr.set_status(GStatus::Running);
    gr.preempt.store(false, Relaxed);
    gr.m.store(m as *const M as *mut M, Relaxed);
    m.curg.store(g, Relaxed);
    hooks::emit(|| SchedEvent::GoStart {
        goid: gr.goid(),
        p: p.id,
    });
    // SAFETY: `g` is Runnable and owned by us (we took it off a queue), so
    // its saved sp is valid and nobody else runs on its stack; g0_sp is
    // ours.
    unsafe {
        let to = gr.saved_sp();
        m.g0_sp.with_mut(|from| switch::switch(from, to));
    }
    // Back on g0: the G has switched out (pinned, see `mcall_from`).
    m.curg.store(null_mut(), Relaxed);
    m.pins.store(0, Relaxed);
    // SAFETY: written by the G just before it switched to us, same thread.
    let after = m
        .after
        .with_mut(|a| unsafe { core::mem::replace(&mut *a, After::Nothing) });
    // Every switch to g0 is made pinned with a P (`pin_with_p`): a goroutine
    // that left its P takes one back first.
    let p = m.p.load(Relaxed);
    if p.is_null() {
        crate::rt_throw!("a goroutine switched to g0 without a P");
    }
    // SAFETY: Ps are leaked.
    let p = unsafe { &*p };
    match after {
        After::Yield => {
            crate::metrics::stamp_runnable(gr);
            gr.set_status(GStatus::Runnable);
            if p.status() == PStatus::Dead {
                globrunq_put(g);
            } else {
                runqput(p, g, false);
            }
        }
        After::Preempted => {
            crate::metrics::stamp_runnable(gr);
            gr.set_status(GStatus::Runnable);
            globrunq_put(g);
        }
        After::StwStop => {
            crate::metrics::stamp_runnable(gr);
            gr.set_status(GStatus::Runnable);
            if p.status() == PStatus::Dead {
                globrunq_put(g);
            } else {
                runqput(p, g, true);
            }
        }
        After::Park => {
            gr.set_status(GStatus::Waiting);
            if !gr.park.commit() {
                // A waker came first: run it again.
                crate::metrics::stamp_runnable(gr);
                gr.set_status(GStatus::Runnable);
                hooks::emit(|| SchedEvent::GoUnblock { goid: gr.goid() });
                if p.status() == PStatus::Dead {
                    globrunq_put(g);
                } else {
                    runqput(p, g, true);
                }
            }
        }
        After::Exit => {
            gr.set_status(GStatus::Dead);
            // Owner-only counter: a plain load + store.
            p.ngdelta.store(p.ngdelta.load(Relaxed) - 1, SeqCst);
            gfput(p, g);
        }
        After::Nothing => crate::rt_throw!("a goroutine switched to g0 without a request"),
    }
}

/// Switches from the running G to its M's g0, which then performs `after`
/// (Go's `mcall`). Returns when the G is scheduled again, possibly on another
/// M.
#[inline(never)]
pub(crate) fn mcall(after: After) {
    let g = getg();
    if g.is_null() {
        crate::rt_throw!("mcall outside a goroutine");
    }
    crate::preempt::pin_with_p();
    // SAFETY: Gs are never freed; `g` is the running G (us).
    mcall_from(unsafe { &*g }, after);
}

/// [`mcall`] for a caller that already has its G: the M is read from the
/// G (`G::m`, written by the M that runs it, i.e. ours, before the switch
/// to us), which saves a thread-local lookup on every park and yield.
///
/// The caller must have pinned its M (`preempt::pin`) when it decided to
/// switch: g0 drops that pin. On return (resumed, possibly on another M)
/// the goroutine is unpinned.
#[inline(never)]
pub(crate) fn mcall_from(g: &G, after: After) {
    // SAFETY: `g` is the running G, so `g.m` is the M running it (set in
    // `execute` on this very thread before switching to us); Ms are leaked.
    unsafe {
        let m = &*g.m.load(Relaxed);
        // Pins the G holds beyond this switch's own (a runtime lock held
        // across a blocking call, see `NoPreempt`) go with the G, to
        // whichever M resumes it.
        g.pins
            .store(m.pins.load(Relaxed).saturating_sub(1), Relaxed);
        m.after.with_mut(|a| *a = after);
        let to = m.g0_sp.with(|p| *p);
        g.sp.with_mut(|from| switch::switch(from, to));
    }
    // Resumed; the M above may not be ours any more.
    arrive(g);
}

/// A G that was just switched into replaces the pin its M's g0 held across
/// the switch by its own (0 unless it holds a pinned lock).
#[inline]
fn arrive(g: &G) {
    core::sync::atomic::compiler_fence(SeqCst);
    let own = g.pins.swap(0, Relaxed);
    // SAFETY: `g.m` was set by the M that switched to us (this thread).
    unsafe { &*g.m.load(Relaxed) }.pins.store(own, Relaxed);
}

// ---------------------------------------------------------------------------
// Run queues from the outside

/// Puts `g` on `p`'s local queue (owner only); overflow goes global; wakes a
/// spinning M if stealable work appeared.
pub(crate) fn runqput(p: &P, g: *mut G, next: bool) {
    let mut overflow = Vec::new();
    let stealable = p.runq.put(g, next, &mut overflow);
    if !overflow.is_empty() {
        let s = sched();
        let mut l = s.lock.lock();
        for g in overflow {
            s.globrunq_put_locked(&mut l, g);
        }
    }
    if stealable {
        wakep();
    }
}

/// Puts `g` on the global queue and wakes a spinning M.
pub(crate) fn globrunq_put(g: *mut G) {
    let s = sched();
    {
        let mut l = s.lock.lock();
        s.globrunq_put_locked(&mut l, g);
    }
    wakep();
}

/// Makes a parked (or new) G runnable (Go's `ready`): into the current P's
/// `runnext` when called on an M holding a P, else on the global queue.
pub(crate) fn ready(g: *mut G) {
    // SAFETY: Gs are never freed.
    let gr = unsafe { &*g };
    crate::metrics::stamp_runnable(gr);
    gr.set_status(GStatus::Runnable);
    hooks::emit(|| SchedEvent::GoUnblock { goid: gr.goid() });
    // Pinned: our P's run queue is owner-only.
    let m = crate::preempt::pin();
    if !m.is_null() {
        // SAFETY: Ms are leaked; m.p is written by this thread only.
        let p = unsafe { (*m).p.load(Relaxed) };
        // SAFETY: Ps are leaked.
        if !p.is_null() && matches!(unsafe { &*p }.status(), PStatus::Running | PStatus::GcStop) {
            // SAFETY: as above.
            runqput(unsafe { &*p }, g, true);
            crate::preempt::unpin(m);
            return;
        }
    }
    crate::preempt::unpin(m);
    let s = sched();
    s.external.fetch_add(1, SeqCst);
    globrunq_put(g);
    s.external.fetch_sub(1, SeqCst);
}

// ---------------------------------------------------------------------------
// G allocation and spawning

/// Returns a dead G to `p`'s cache, spilling half to the global pool.
fn gfput(p: &P, g: *mut G) {
    hooks::emit(|| SchedEvent::GoEnd {
        // SAFETY: Gs are never freed.
        goid: unsafe { &*g }.goid(),
    });
    p.gfree.with_mut(|v| {
        // SAFETY: the gfree cache is owned by the M holding the P (us).
        let v = unsafe { &mut *v };
        v.push(g);
        if v.len() > GFREE_LOCAL_MAX {
            let spill: Vec<*mut G> = v.drain(..GFREE_LOCAL_MAX / 2).collect();
            gfput_global(spill);
        }
    });
}

fn gfput_global(gs: Vec<*mut G>) {
    let s = sched();
    s.gfree.lock().list.extend(gs);
}

/// The stack scavenger (run by sysmon): pooled stacks beyond
/// [`stack::POOL_CAP`] give their touched pages back to the OS. The pool is
/// LIFO, so the bottom entries are the coldest; releasing lazily keeps a
/// spawn burst from faulting in pages it just returned.
pub(crate) fn scavenge_stacks() -> usize {
    let s = sched();
    let mut pool = s.gfree.lock();
    let mut released = 0;
    // Paced: at most SCAVENGE_BATCH stacks per round, so a large pool left
    // by a spawn burst is trimmed over a few seconds instead of in one long
    // burst of system calls under the pool lock.
    let keep_from = pool
        .list
        .len()
        .saturating_sub(stack::POOL_CAP)
        .min(pool.released_upto + SCAVENGE_BATCH);
    for i in pool.released_upto..keep_from {
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*pool.list[i] };
        if !gr.released.swap(true, Relaxed) {
            // Keep the page holding the G itself.
            // SAFETY: the G is dead and pooled (we hold the pool lock, so
            // nobody can take it meanwhile): nobody runs on or keeps data in
            // its stack.
            unsafe { stack::release_pages(gr.lo, gr.hi - stack::page_size()) };
            released += 1;
        }
    }
    pool.released_upto = pool.released_upto.max(keep_from);
    released
}

/// Takes a dead G (with its stack) or creates one.
fn gfget(p: Option<&P>) -> *mut G {
    if let Some(p) = p {
        // SAFETY: the gfree cache is owned by the M holding the P (us).
        let got = p.gfree.with_mut(|v| unsafe { &mut *v }.pop());
        if let Some(g) = got {
            return g;
        }
        let s = sched();
        let mut pool = s.gfree.lock();
        if !pool.list.is_empty() {
            let n = pool.list.len().min(GFREE_LOCAL_MAX / 2);
            let at = pool.list.len() - n;
            let batch: Vec<*mut G> = pool.list.drain(at..).collect();
            pool.released_upto = pool.released_upto.min(at);
            drop(pool);
            let g = batch[0];
            // SAFETY: as above.
            p.gfree
                .with_mut(|v| unsafe { &mut *v }.extend_from_slice(&batch[1..]));
            return g;
        }
    } else if let Some(g) = sched().gfree.lock().pop() {
        return g;
    }
    let s = sched();
    let mut all = s.allg.lock();
    let (lo, hi) = all.arena.alloc();
    // SAFETY: a fresh stack from the arena.
    let g = unsafe { G::create(lo, hi) };
    all.list.push(g);
    g
}

/// The P of the calling goroutine or M, if any.
pub(crate) fn current_p_ptr() -> *mut P {
    let m = current_m();
    if m.is_null() {
        return null_mut();
    }
    // SAFETY: Ms are leaked; m.p is written by this thread.
    unsafe { (*m).p.load(Relaxed) }
}

unsafe fn start_closure<F: FnOnce()>(data: *mut u8) {
    // SAFETY: `data` holds an F written by `newproc` and read only here.
    let f = unsafe { (data as *mut F).read() };
    f()
}

/// The first function of every goroutine, called by the switch trampoline.
extern "C" fn goroutine_entry(g: usize) -> ! {
    let g = g as *mut G;
    // SAFETY: Gs are never freed; we are it.
    arrive(unsafe { &*g });
    // SAFETY: the G is running (we are it); its start fields were written
    // by newproc before it was published.
    let (f, data) = unsafe { (*g).start.with(|s| *s) };
    let Some(f) = f else {
        crate::rt_throw!("goroutine without a start function")
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `f` is start_closure::<F> matching `data`.
        unsafe { f(data as *mut u8) }
    }));
    if let Err(payload) = r {
        crate::panic::goroutine_panicked(payload);
    }
    mcall(After::Exit);
    crate::rt_throw!("a dead goroutine was scheduled")
}

/// Creates a goroutine running `f` (Go's `newproc`); `creator_pc` is the
/// return PC of the `go` call (Go's `gopc`), 0 if there is none.
pub(crate) fn newproc<F: FnOnce() + Send + 'static>(creator_pc: usize, f: F) -> u64 {
    let s = sched();
    // Pinned until the G is published: the P's G cache, goid cache and run
    // queue are owner-only. A P-less goroutine (one sysmon forced off its
    // P) takes a P back first, as at every runtime entry that uses one.
    let pm = crate::preempt::pin_with_p();
    let p = current_p_ptr();
    let pr = if p.is_null() {
        None
    } else {
        // SAFETY: Ps are leaked.
        Some(unsafe { &*p })
    };
    let g = gfget(pr);
    // SAFETY: Gs are never freed; the G is dead or fresh, so we own it.
    let gr = unsafe { &*g };
    let size = core::mem::size_of::<F>();
    let align = core::mem::align_of::<F>().max(16);
    if size > (gr.hi - gr.lo) / 4 {
        crate::preempt::unpin(pm);
        panic!("gort: go(f): closure of {size} bytes does not fit a quarter of a goroutine stack");
    }
    let data = (gr.hi - size) & !(align - 1);
    let goid = match pr {
        Some(p) => p.goidcache.with_mut(|c| {
            // SAFETY: the cache is owned by the M holding the P (us).
            let c = unsafe { &mut *c };
            if c.0 == c.1 {
                let start = s.goidgen.fetch_add(GOID_BATCH, Relaxed) + 1;
                *c = (start, start + GOID_BATCH);
            }
            c.0 += 1;
            c.0 - 1
        }),
        None => s.goidgen.fetch_add(1, Relaxed) + 1,
    };
    let parent = getg();
    let (parent_id, labels) = if parent.is_null() {
        (0, 0)
    } else {
        // SAFETY: Gs are never freed.
        let pg = unsafe { &*parent };
        (pg.goid(), pg.labels.load(Relaxed))
    };
    // SAFETY: we own the G and its stack: the closure is moved onto the
    // goroutine's own stack below the G, and the first frame below it.
    unsafe {
        (data as *mut F).write(f);
        gr.start
            .with_mut(|st| *st = (Some(start_closure::<F> as unsafe fn(*mut u8)), data));
        let sp = switch::init_frame(data, g as usize, goroutine_entry);
        gr.sp.with_mut(|p| *p = sp);
    }
    // While the collector scans stacks, a new goroutine is born scanned: its
    // stack holds only the closure just copied from ours, which the copy
    // barrier shades (see `scanstate.rs`). SeqCst: see the re-check below.
    let epoch = crate::stw::SCAN_EPOCH.load(SeqCst);
    gr.scan.born(epoch);
    // Likewise, a goroutine born while a goroutine profile is being taken
    // is not in it (see `gprofile.rs`).
    gr.profiled.born(crate::gprofile::open_epoch());
    if epoch != 0 {
        crate::stw::copy_barrier_slow(data, size);
    }
    gr.goid.store(goid, Relaxed);
    gr.parent.store(parent_id, Relaxed);
    gr.creator_pc.store(creator_pc, Relaxed);
    gr.labels.store(labels, Relaxed);
    gr.released.store(false, Relaxed);
    gr.pins.store(0, Relaxed);
    gr.select_done.store(0, Relaxed);
    gr.wait_reason.store(0, Relaxed);
    s.ngoroutines.fetch_add(1, SeqCst);
    hooks::emit(|| SchedEvent::GoCreate {
        goid,
        parent: parent_id,
    });
    // Go starts a new G's tracking count at random; the goid will do.
    gr.track_seq.store(goid as u8, Relaxed);
    gr.runnable_since.store(0, Relaxed);
    crate::metrics::stamp_runnable(gr);
    gr.set_status(GStatus::Runnable);
    match pr {
        Some(p) if matches!(p.status(), PStatus::Running | PStatus::GcStop) => runqput(p, g, true),
        _ => {
            s.external.fetch_add(1, SeqCst);
            globrunq_put(g);
            s.external.fetch_sub(1, SeqCst);
        }
    }
    if pr.is_none() {
        // A thread without a P is not stopped by a stop of the world, so an
        // epoch may have opened since we read it, with this G unscanned in
        // it and perhaps passed over by a stack job that still saw it dead.
        // Dekker with `begin_stack_scan`: its SeqCst store of the epoch and
        // this fence + load. If we do not see the new epoch, the G was in
        // allg before the epoch's snapshot (the snapshot's allg lock comes
        // after the epoch store), so it is a stack job, and the job's SeqCst
        // status load sees it runnable and scans it. If we do, shade the
        // closure now; the G itself is scanned before it runs.
        fence(SeqCst);
        let now = crate::stw::SCAN_EPOCH.load(SeqCst);
        if now != 0 && now != epoch {
            crate::stw::copy_barrier_slow(data, size);
        }
    }
    crate::preempt::unpin(pm);
    goid
}

// ---------------------------------------------------------------------------
// Parking and yielding (called on a goroutine)

/// The calling goroutine's G, or on a thread outside the scheduler its
/// foreign G (created on first use), for the blocking operations.
pub(crate) fn getg_or_foreign() -> *mut G {
    let g = getg();
    if !g.is_null() {
        return g;
    }
    foreign_g()
}

/// The top of the calling (foreign) thread's stack, asked once per thread.
#[inline(never)]
fn foreign_stack_top() -> Option<usize> {
    thread_local! {
        static TOP: Cell<usize> = const { Cell::new(0) };
    }
    TOP.with(|c| {
        if c.get() == 0 {
            let (lo, hi) = crate::hooks::query_thread_stack_bounds();
            c.set(if hi > lo { hi } else { usize::MAX });
        }
        Some(c.get()).filter(|&t| t != usize::MAX)
    })
}

/// The calling thread's foreign G. Never inlined (a TLS access).
#[inline(never)]
fn foreign_g() -> *mut G {
    thread_local! {
        static FOREIGN: Cell<*mut G> = const { Cell::new(null_mut()) };
    }
    FOREIGN.with(|c| {
        if c.get().is_null() {
            c.set(G::create_foreign());
        }
        c.get()
    })
}

/// A thread outside the scheduler blocks in a gort operation: it blocks its
/// OS thread (as a crossbeam channel would) on its foreign G's futex word.
/// While it waits, its stack — from below its spilled registers to its top
/// — is a runtime-held range (a value it sends waits there, and the
/// collector must see it), shaded by the copy barrier if a scan epoch is
/// open.
fn park_foreign(g: *mut G, reason: WaitReason, publish: impl FnOnce(*mut G)) {
    // SAFETY: foreign Gs are leaked; this one is the calling thread's.
    let gr = unsafe { &*g };
    gr.wait_reason.store(reason as u8, Relaxed);
    gr.fwake.store(0, Relaxed);
    gr.park.prepare();
    publish(g);
    let top = foreign_stack_top();
    let mut wait = |sp: usize| {
        let slot = top.map(|hi| {
            crate::stw::copy_barrier(sp, hi - sp);
            crate::roots::register(sp, hi)
        });
        if gr.park.commit() {
            // Acquire: pairs with the Release store in `unpark`.
            while gr.fwake.load(Acquire) == 0 {
                crate::preempt::futex_wait(&gr.fwake, 0);
            }
        }
        if let Some(slot) = slot {
            crate::roots::unregister(slot);
        }
    };
    crate::switch::with_spilled_registers(&mut wait);
    gr.wait_reason.store(0, Relaxed);
}

/// Parks the calling goroutine: `publish` must make it findable by exactly
/// one waker (and may release the lock that guards that). Returns once woken.
/// On a thread outside the scheduler, blocks the thread (see
/// [`park_foreign`]).
pub(crate) fn park_with(reason: WaitReason, publish: impl FnOnce(*mut G)) {
    crate::preempt::ensure_p();
    let g = getg();
    if g.is_null() {
        park_foreign(foreign_g(), reason, publish);
        return;
    }
    // SAFETY: Gs are never freed; we are g.
    let gr = unsafe { &*g };
    gr.wait_reason.store(reason as u8, Relaxed);
    // Pinned from here to the switch (`mcall_from` consumes the pin): a
    // published G must reach g0 holding its P.
    crate::preempt::pin_with_p();
    gr.park.prepare();
    publish(g);
    hooks::emit(|| SchedEvent::GoBlock {
        goid: gr.goid(),
        reason,
    });
    mcall_from(gr, After::Park);
    gr.wait_reason.store(0, Relaxed);
}

/// Wakes a G parked with [`park_with`] (exactly once per publication).
pub(crate) fn unpark(g: *mut G) {
    // SAFETY: Gs are never freed.
    let gr = unsafe { &*g };
    if gr.park.unpark() {
        if gr.foreign {
            // Release: pairs with the Acquire load in `park_foreign`.
            gr.fwake.store(1, Release);
            crate::preempt::futex_wake(&gr.fwake);
        } else {
            ready(g);
        }
    }
}

/// `runtime.Gosched`.
pub(crate) fn gosched() {
    let g = getg();
    if g.is_null() {
        std::thread::yield_now();
        return;
    }
    // SAFETY: Gs are never freed; `g` is us.
    let gr = unsafe { &*g };
    hooks::emit(|| SchedEvent::GoSched { goid: gr.goid() });
    crate::preempt::pin_with_p();
    mcall_from(gr, After::Yield);
}

/// The safepoint slow path: something is requested.
#[cold]
#[inline(never)]
pub(crate) fn safepoint_slow() {
    let g = getg();
    if g.is_null() {
        return;
    }
    let s = sched();
    let pm = crate::preempt::pin_with_p();
    let p = current_p_ptr();
    // SAFETY: a running G's M holds a P; Ps are leaked.
    if !p.is_null() && unsafe { &*p }.run_safepoint_fn.load(Relaxed) {
        // SAFETY: as above.
        crate::stw::run_safepoint_fn(unsafe { &*p });
    }
    if s.world.requested() && s.stw_owner.load(Acquire) != g {
        // SAFETY: Gs are never freed; `g` is us.
        mcall_from(unsafe { &*g }, After::StwStop);
        return;
    }
    // SAFETY: Gs are never freed.
    if unsafe { &*g }.preempt.swap(false, Relaxed) {
        // Our request is served; sysmon sets the bit again on its next
        // round if another goroutine still has one.
        POLL.fetch_and(!POLL_PREEMPT, Relaxed);
        hooks::emit(|| SchedEvent::GoPreempt {
            // SAFETY: as above.
            goid: unsafe { &*g }.goid(),
        });
        // SAFETY: as above.
        mcall_from(unsafe { &*g }, After::Preempted);
        return;
    }
    crate::preempt::unpin(pm);
}

/// Starts the first M if the scheduler has none running yet, by waking one
/// for the global queue.
pub(crate) fn kick() {
    wakep();
}

/// Snapshot of the scheduler's counters (`GODEBUG=schedtrace` fields).
#[derive(Debug, Clone)]
pub struct SchedStats {
    /// GOMAXPROCS.
    pub gomaxprocs: usize,
    /// Idle Ps.
    pub idleprocs: u32,
    /// OS threads created for Ms.
    pub threads: u32,
    /// Spinning Ms.
    pub spinningthreads: u32,
    /// Idle Ms.
    pub idlethreads: u32,
    /// Length of the global run queue.
    pub runqueue: usize,
    /// Local run queue length per P.
    pub local_runqueues: Vec<usize>,
}

/// Reads the scheduler's counters.
pub fn sched_stats() -> SchedStats {
    let s = sched();
    let l = s.lock.lock();
    let n = s.nprocs();
    SchedStats {
        gomaxprocs: n,
        idleprocs: s.idle.npidle.load(Relaxed),
        threads: l.mcount,
        spinningthreads: s.idle.nmspinning.load(Relaxed),
        idlethreads: l.midle.len() as u32,
        runqueue: l.runq.len,
        // SAFETY: Ps are leaked.
        local_runqueues: (0..n).map(|i| unsafe { &*s.p(i) }.runq.len()).collect(),
    }
}

/// Locks the scheduler (used by the STW code in `stw.rs`).
pub(crate) fn lock_sched(s: &Sched) -> MutexGuard<'_, SchedLocked> {
    s.lock.lock()
}

/// Moves `p`'s local queue and G cache out (GOMAXPROCS shrink; world
/// stopped).
pub(crate) fn destroy_p(s: &Sched, l: &mut SchedLocked, p: &P) {
    let mut gs = Vec::new();
    p.m.store(null_mut(), Release);
    p.runq.drain(&mut gs);
    for g in gs {
        s.globrunq_put_locked(l, g);
    }
    // SAFETY: the world is stopped: nobody else touches the cache.
    let cache: Vec<*mut G> = p.gfree.with_mut(|v| unsafe { core::mem::take(&mut *v) });
    if !cache.is_empty() {
        gfput_global(cache);
    }
    p.set_status(PStatus::Dead);
}

/// Creates (or revives) P `i` for a GOMAXPROCS increase (world stopped).
pub(crate) fn ensure_p(s: &Sched, i: usize) -> *mut P {
    let p = s.p(i);
    if !p.is_null() {
        return p;
    }
    let p = Box::into_raw(Box::new(P::new(i)));
    s.allp[i].store(p, Release);
    p
}
