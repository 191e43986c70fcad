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
    fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    Ordering::*,
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

/// The state of a P.
///
/// Allowed transitions: `Idle ⇄ Running` (acquire/release by an M),
/// `Idle | Running → GcStop → Idle | Running` (stop/start the world),
/// `GcStop → Dead` and `Dead → GcStop` (GOMAXPROCS change, world stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PStatus {
    /// On the idle list (or held by a stopper); no M.
    Idle = 0,
    /// Held by an M that runs Gs or looks for them.
    Running = 1,
    /// Stopped for a stop-the-world.
    GcStop = 2,
    /// Beyond GOMAXPROCS: unused.
    Dead = 3,
}

impl PStatus {
    /// Go's name (`_Pidle` …), for traces and dumps.
    pub fn name(self) -> &'static str {
        match self {
            PStatus::Idle => "idle",
            PStatus::Running => "running",
            PStatus::GcStop => "gcstop",
            PStatus::Dead => "dead",
        }
    }

    fn from_u8(v: u8) -> PStatus {
        match v {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::GcStop,
            _ => PStatus::Dead,
        }
    }
}

/// A P: the right to run goroutines, with a local run queue.
#[derive(Debug)]
pub(crate) struct P {
    /// 0..GOMAXPROCS. Immutable.
    pub(crate) id: usize,
    /// A [`PStatus`]; written by the owning M or under the scheduler lock /
    /// with the world stopped.
    status: AtomicU8,
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
}

impl P {
    fn new(id: usize) -> P {
        P {
            id,
            status: AtomicU8::new(PStatus::Idle as u8),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            m: AtomicPtr::new(null_mut()),
            gfree: UnsafeCell::new(Vec::new()),
            run_safepoint_fn: AtomicBool::new(false),
            local: AtomicPtr::new(null_mut()),
            ngdelta: AtomicI64::new(0),
            goidcache: UnsafeCell::new((0, 0)),
        }
    }

    pub(crate) fn status(&self) -> PStatus {
        PStatus::from_u8(self.status.load(Acquire))
    }

    pub(crate) fn set_status(&self, s: PStatus) {
        // Release: pairs with Acquire in `status` (stealers, stoppers).
        self.status.store(s as u8, Release);
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
    /// The P held, or null. Written by this M (and by a waker, under the
    /// scheduler lock, through `nextp`).
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
        }
    })
}

/// Starts sysmon once the scheduler exists.
pub(crate) fn ensure_sysmon() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
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
            self.world.stop_one();
        } else {
            pr.set_status(PStatus::Idle);
            l.pidle.push(p);
        }
    }

    fn pidleget_locked(&self, l: &mut SchedLocked) -> Option<*mut P> {
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

fn acquirep(m: &M, p: *mut P) {
    // SAFETY: Ps are leaked.
    let pr = unsafe { &*p };
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
    }));
    let mp = m as *const M as usize;
    std::thread::Builder::new()
        .name(format!("gort-m{id}"))
        .spawn(move || mstart(mp as *const M))
        .unwrap_or_else(|e| crate::rt_throw!("newm: cannot create an OS thread: {e}"));
}

fn mstart(m: *const M) {
    CURRENT_M.with(|c| c.set(m as *mut M));
    crate::signal::install_altstack();
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
    if s.run_active.load(SeqCst) == 0 || s.external.load(SeqCst) > 0 || s.world.requested() {
        return;
    }
    if (l.midle.len() as u32) < l.mcount {
        return;
    }
    if l.runq.len > 0 || crate::sysmon::pending_timers() > 0 || s.goroutines() <= 0 {
        return;
    }
    if l.pidle.len() + l.stopped.len() < s.nprocs() {
        return; // some P is held (e.g. by a stopper)
    }
    for i in 0..s.nprocs() {
        // SAFETY: Ps are leaked.
        if !unsafe { &*s.p(i) }.runq.is_empty() {
            return;
        }
    }
    crate::rt_throw!("all goroutines are asleep - deadlock!");
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
    s.world.stop_and_park();
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
    // Back on g0: the G has switched out.
    m.curg.store(null_mut(), Relaxed);
    // SAFETY: written by the G just before it switched to us, same thread.
    let after = m
        .after
        .with_mut(|a| unsafe { core::mem::replace(&mut *a, After::Nothing) });
    // SAFETY: m.p is set (a G never releases the P).
    let p = unsafe { &*m.p.load(Relaxed) };
    match after {
        After::Yield => {
            gr.set_status(GStatus::Runnable);
            if p.status() == PStatus::Dead {
                globrunq_put(g);
            } else {
                runqput(p, g, false);
            }
        }
        After::Preempted => {
            gr.set_status(GStatus::Runnable);
            globrunq_put(g);
        }
        After::StwStop => {
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
    // SAFETY: Gs are never freed; `g` is the running G (us).
    mcall_from(unsafe { &*g }, after);
}

/// [`mcall`] for a caller that already has its G: the M is read from the
/// G (`G::m`, written by the M that runs it, i.e. ours, before the switch
/// to us), which saves a thread-local lookup on every park and yield.
#[inline(never)]
pub(crate) fn mcall_from(g: &G, after: After) {
    // SAFETY: `g` is the running G, so `g.m` is the M running it (set in
    // `execute` on this very thread before switching to us); Ms are leaked.
    unsafe {
        let m = &*g.m.load(Relaxed);
        m.after.with_mut(|a| *a = after);
        let to = m.g0_sp.with(|p| *p);
        g.sp.with_mut(|from| switch::switch(from, to));
    }
    // Resumed; the M above may not be ours any more.
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
    gr.set_status(GStatus::Runnable);
    hooks::emit(|| SchedEvent::GoUnblock { goid: gr.goid() });
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms are leaked; m.p is written by this thread only.
        let p = unsafe { (*m).p.load(Relaxed) };
        // SAFETY: Ps are leaked.
        if !p.is_null() && matches!(unsafe { &*p }.status(), PStatus::Running | PStatus::GcStop) {
            // SAFETY: as above.
            runqput(unsafe { &*p }, g, true);
            return;
        }
    }
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
    let parent_id = if parent.is_null() {
        0
    } else {
        // SAFETY: Gs are never freed.
        unsafe { &*parent }.goid()
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
    if epoch != 0 {
        crate::stw::copy_barrier_slow(data, size);
    }
    gr.goid.store(goid, Relaxed);
    gr.parent.store(parent_id, Relaxed);
    gr.creator_pc.store(creator_pc, Relaxed);
    gr.released.store(false, Relaxed);
    gr.select_done.store(0, Relaxed);
    gr.wait_reason.store(0, Relaxed);
    s.ngoroutines.fetch_add(1, SeqCst);
    hooks::emit(|| SchedEvent::GoCreate {
        goid,
        parent: parent_id,
    });
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
    goid
}

// ---------------------------------------------------------------------------
// Parking and yielding (called on a goroutine)

/// Parks the calling goroutine: `publish` must make it findable by exactly
/// one waker (and may release the lock that guards that). Returns once woken.
pub(crate) fn park_with(reason: WaitReason, publish: impl FnOnce(*mut G)) {
    let g = getg();
    if g.is_null() {
        panic!(
            "gort: blocking operation ({}) outside a goroutine",
            reason.name()
        );
    }
    // SAFETY: Gs are never freed; we are g.
    let gr = unsafe { &*g };
    gr.wait_reason.store(reason as u8, Relaxed);
    gr.park.prepare();
    publish(g);
    hooks::emit(|| SchedEvent::GoBlock {
        goid: gr.goid(),
        reason,
    });
    mcall(After::Park);
    gr.wait_reason.store(0, Relaxed);
}

/// Wakes a G parked with [`park_with`] (exactly once per publication).
pub(crate) fn unpark(g: *mut G) {
    // SAFETY: Gs are never freed.
    if unsafe { &*g }.park.unpark() {
        ready(g);
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
    let p = current_p_ptr();
    // SAFETY: a running G's M holds a P; Ps are leaked.
    if !p.is_null() && unsafe { &*p }.run_safepoint_fn.load(Relaxed) {
        // SAFETY: as above.
        crate::stw::run_safepoint_fn(unsafe { &*p });
    }
    if s.world.requested() && s.stw_owner.load(Acquire) != g {
        mcall(After::StwStop);
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
        mcall(After::Preempted);
    }
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
