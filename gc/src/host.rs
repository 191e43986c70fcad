//! The `Host` trait: the collector's only view of the world that runs
//! mutators. See [crate] for the overview.
//!
//! The collector never imports the scheduler. Whatever runs mutators — the
//! real goroutine scheduler (`runtime/src/host.rs` in crate `gort`) or the
//! [`MockHost`](crate::tests::mock_host::MockHost) of the tests — implements
//! [`Host`], the way an MMTk binding implements MMTk's `Collection`,
//! `ActivePlan` and `Scanning` traits (`reference/style.md` §5, §9.2).
//!
//! # The one rule
//!
//! Every `Host` method is called with **no collector lock held**. The host
//! takes its own locks (run queues, the P list) and may call back into the
//! collector (a P reaching a safepoint flushes its barrier buffer); if the
//! collector held one of its locks across a host call, the two lock orders
//! would meet and could deadlock. In debug builds every call site asserts it
//! through `assert_no_gc_locks`, which reads a per-thread count that
//! `GcMutex` maintains.
//!
//! # Capability tokens
//!
//! [`WorldStopped`] is proof that the world is stopped: only a host can make
//! one (through an `unsafe` constructor), and functions that need a stopped
//! world take `&WorldStopped` instead of saying "caller must stop the world"
//! in prose (`reference/style.md` §8 item 6).

use crate::loom::sync::{Mutex, MutexGuard};
use std::fmt;

/// Why the world is being stopped (Go's `stwReason`, shown in traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StwReason {
    /// Phase 1 of a cycle: finish the previous sweep, turn the barrier on.
    SweepTermination,
    /// Phase 3 of a cycle: flush barrier buffers, turn the barrier off.
    MarkTermination,
    /// A consistent statistics snapshot (Go's `ReadMemStats`).
    ReadMemStats,
    /// Anything else a host or test wants to do with every P stopped.
    Other,
}

impl StwReason {
    /// The name Go's execution trace uses for this reason.
    pub fn name(self) -> &'static str {
        match self {
            StwReason::SweepTermination => "GC sweep termination",
            StwReason::MarkTermination => "GC mark termination",
            StwReason::ReadMemStats => "read mem stats",
            StwReason::Other => "other",
        }
    }
}

/// Proof that every P is stopped at a safepoint. Made only by a [`Host`]'s
/// `stop_the_world` and consumed by its `start_the_world`.
///
/// It is neither `Clone` nor `Copy`: one stop, one start.
pub struct WorldStopped {
    reason: StwReason,
    _private: (),
}

impl WorldStopped {
    /// Make the token.
    ///
    /// # Safety
    ///
    /// The caller (a host) must have brought every P to a safepoint, with
    /// each stopped mutator's registers spilled on its stack, and must keep
    /// them there until the token is handed back to `start_the_world`.
    pub unsafe fn new_unchecked(reason: StwReason) -> WorldStopped {
        WorldStopped {
            reason,
            _private: (),
        }
    }

    /// Why the world was stopped.
    pub fn reason(&self) -> StwReason {
        self.reason
    }
}

impl fmt::Debug for WorldStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorldStopped({})", self.reason.name())
    }
}

/// What a root range holds, for the statistics (Go's `maxStackScan` and
/// `globalsScan` in the gctrace line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// A goroutine's (or mock thread's) stack, from its saved stack pointer to
    /// its top, with its callee-saved registers spilled inside the range.
    Stack,
    /// Memory the runtime holds on a user's behalf (channel buffers, blocked
    /// senders' values, timer payloads, start closures not yet run).
    RuntimeHeld,
    /// Registered global data.
    Global,
}

/// Receives the roots the host reports (≈ MMTk's `RootsWorkFactory`).
///
/// Every root is **conservative**: each pointer-aligned word of a range is a
/// candidate that the collector checks against the heap (an address inside
/// a live object, interior pointers included, keeps that object alive).
pub trait RootVisitor {
    /// Scan `[start, end)` word by word. `start` is rounded up and `end`
    /// down to a word boundary. The host guarantees the memory is readable
    /// and does not change during the call.
    fn visit_range(&mut self, kind: RangeKind, start: usize, end: usize);
}

/// How a mark worker is run (Go's `gcMarkWorkerMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkWorkerMode {
    /// Runs until marking is done, on its own thread (or a P given over to it).
    Dedicated,
    /// Takes only part of a P (when whole dedicated workers would be more
    /// than 30 % off 25 % × GOMAXPROCS: GOMAXPROCS ≤ 3 or = 6, as in Go):
    /// the worker sleeps whenever its CPU time runs ahead of the remainder
    /// of that goal, times the mark phase's wall time.
    Fractional,
}

impl MarkWorkerMode {
    /// The name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            MarkWorkerMode::Dedicated => "dedicated",
            MarkWorkerMode::Fractional => "fractional",
        }
    }
}

/// Services the collector needs from whatever runs mutators.
///
/// Implemented by `gort` (`runtime/src/host.rs`, on top of the scheduler)
/// and by [`MockHost`](crate::tests::mock_host::MockHost) in tests. Every
/// method is called with **no collector lock held**.
pub trait Host: Send + Sync + 'static {
    /// GOMAXPROCS: the number of Ps, `1..=256`. P ids are `0..gomaxprocs()`.
    fn gomaxprocs(&self) -> usize;

    /// The id of the P the calling thread runs on, or `None` on a thread
    /// that has no P (a mark worker, a test's main thread). Stable between
    /// two safepoints of the caller.
    fn current_p(&self) -> Option<usize>;

    /// [`Host::current_p`], pinned: until the [`Pin`](crate::heap::Pin) is
    /// released, the host does not preempt the caller asynchronously, so
    /// the P stays its own (the allocator's fast path and the write
    /// barrier's buffer are P-local). Hosts without asynchronous preemption
    /// keep the default.
    fn pin_p(&self) -> crate::heap::Pin {
        crate::heap::Pin::unpinned(self.current_p())
    }

    /// The host's safepoint word, if it has one: while it reads non-zero,
    /// every allocation takes the slow path (whose hook calls
    /// [`Host::safepoint`]). The pointer must satisfy
    /// [`Heap::set_poll_word`](crate::heap::Heap::set_poll_word)'s contract.
    fn poll_word(&self) -> Option<*const u32> {
        None
    }

    /// A safepoint poll: if a stop of the world is pending, park the caller
    /// here (registers spilled) until the world restarts. The collector
    /// calls it only where the caller may be stopped (the allocation slow
    /// path, between slices of assist work). Cheap when nothing is pending.
    fn safepoint(&self);

    /// `[lo, hi)` of the calling thread's stack if it is a mutator's whose
    /// stack the collector scans conservatively (a goroutine's), else
    /// `None` (the default). A large allocation clears the dead part of
    /// that stack below its frame (see `collector::clear_dead_stack`).
    fn current_stack_bounds(&self) -> Option<(usize, usize)> {
        None
    }

    /// Bring every P to a safepoint and return once all have stopped
    /// (≈ MMTk `Collection::stop_all_mutators`). Callable from a thread with
    /// a P (the caller's own stack is then part of the roots, from the point
    /// of this call) and from a thread without one (a mark worker). Only one
    /// stop is in effect at a time: a second caller waits (counting as
    /// stopped itself if it has a P).
    fn stop_the_world(&self, reason: StwReason) -> WorldStopped;

    /// Restart the mutators stopped by `token`'s `stop_the_world`
    /// (≈ `Collection::resume_mutators`).
    fn start_the_world(&self, token: WorldStopped);

    /// Report the root ranges that must be scanned while the world is
    /// stopped, at the start of marking (≈ MMTk
    /// `scan_roots_in_mutator_thread` + `scan_vm_specific_roots`): the
    /// values the runtime holds on users' behalf, and goroutine stacks from
    /// their saved stack pointer to their top (registers spilled).
    ///
    /// A host that scans stacks concurrently (see
    /// [`Host::scan_stack_jobs`]) reports here only the stacks that run
    /// right after the restart (the stopper's own) and opens a scan epoch:
    /// from then on it must never run a goroutine whose stack is not
    /// scanned yet, and must apply the copy barrier
    /// ([`crate::barrier::copy_barrier`]) to every value it moves between
    /// goroutine stacks or from a stack into memory already scanned.
    fn scan_roots(&self, w: &WorldStopped, roots: &mut dyn RootVisitor);

    /// Concurrent stack scanning (mark workers, world running): scan, through
    /// `roots`, the stacks of up to `max_chunks` × 32 goroutines the epoch
    /// opened by [`Host::scan_roots`] has not scanned yet. Returns `true`
    /// once every such stack is scanned and no scan is in progress —
    /// marking may only terminate then. The default (a host that scans every
    /// stack in `scan_roots`) has nothing to do.
    fn scan_stack_jobs(&self, roots: &mut dyn RootVisitor, max_chunks: usize) -> bool {
        let _ = (roots, max_chunks);
        true
    }

    /// At mark termination, world stopped: scan whatever stack
    /// [`Host::scan_stack_jobs`] has not (normally nothing: the collector
    /// terminates only after it returned `true`), returning how many stacks
    /// that was. The epoch stays open: marking may restart.
    fn finish_stack_scan(&self, w: &WorldStopped, roots: &mut dyn RootVisitor) -> usize {
        let _ = (w, roots);
        0
    }

    /// Marking is over (world stopped): close the scan epoch.
    fn end_stack_scan(&self, w: &WorldStopped) {
        let _ = w;
    }

    /// Run `worker` (call [`MarkWorker::run`](crate::mark::MarkWorker::run)) on a thread the host manages
    /// (≈ `Collection::spawn_gc_thread`). `run` may stop the world.
    fn spawn_mark_worker(&self, mode: MarkWorkerMode, worker: crate::mark::MarkWorker);

    /// Run `sweeper` (call [`BackgroundSweeper::run`](crate::sweep::BackgroundSweeper::run))
    /// on a thread the host manages, at low priority (Go's `bgsweep`).
    fn spawn_background_sweeper(&self, sweeper: crate::sweep::BackgroundSweeper);

    /// Park the caller until `done()` is true (≈ `Collection::block_for_gc`).
    /// The collector calls [`Host::cycle_done`] after making any cycle's
    /// completion visible to `done`; a host checks `done()` under the same
    /// lock `cycle_done` takes, so no wake-up is lost. A caller with a P
    /// must count as stopped while parked here (the cycle it waits for stops
    /// the world).
    fn block_until(&self, done: &dyn Fn() -> bool);

    /// A cycle ended: wake every caller of [`Host::block_until`] so it
    /// re-checks its condition.
    fn cycle_done(&self);

    /// Wake every caller of [`Host::block_until`] so it re-checks its
    /// condition, in the middle of a cycle (a mark worker flushed credit
    /// that a parked assist may be waiting for; Go's `gcFlushBgCredit`).
    /// Same lock discipline as [`Host::cycle_done`]; not a cycle end.
    fn wake_blocked(&self);
}

// ---------------------------------------------------------------------------
// "No collector lock is held across a Host call", checked in debug builds.

#[cfg(not(all(test, loom)))]
thread_local! {
    /// How many [`GcMutex`]es the current thread holds.
    static GC_LOCKS_HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Adds `delta` to the calling thread's [`GC_LOCKS_HELD`] and returns the
/// new count.
///
/// Never inlined: a goroutine may resume on another OS thread after any
/// switch point, and a TLS address inlined into a caller can be computed
/// once and kept across that point (the compiler treats the thread as
/// fixed for the whole function). `Collector::gc` did exactly that: it
/// parks in `Host::block_until` and then read the counter of the thread it
/// had left, which was holding a lock of its own at that moment.
#[cfg(not(all(test, loom)))]
#[inline(never)]
fn gc_locks_held(delta: isize) -> usize {
    GC_LOCKS_HELD.with(|c| {
        let n = c.get().wrapping_add_signed(delta);
        c.set(n);
        n
    })
}

/// Counts the sweep gate (`sweep.rs`) like a collector lock for
/// [`thread_holds_gc_locks`]: sweep termination, with the world stopped,
/// waits for the sweepers inside. Not counted for [`assert_no_gc_locks`]'s
/// rule, which is about mutexes.
#[inline(never)]
pub(crate) fn gate_entered(delta: isize) {
    #[cfg(not(all(test, loom)))]
    GATE_HELD.with(|c| c.set(c.get().wrapping_add_signed(delta)));
    #[cfg(all(test, loom))]
    let _ = delta;
}

/// Counts a lock of the collector's sync facade about to be taken (+1) or
/// just released (-1) by the calling thread, for
/// [`thread_holds_gc_locks`]. Never inlined, like [`gc_locks_held`].
#[inline(never)]
pub(crate) fn facade_locks(delta: isize) {
    #[cfg(not(all(test, loom)))]
    FACADE_HELD.with(|c| c.set(c.get().wrapping_add_signed(delta)));
    #[cfg(all(test, loom))]
    let _ = delta;
}

#[cfg(not(all(test, loom)))]
thread_local! {
    /// Facade locks the current thread holds or is taking.
    static FACADE_HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(not(all(test, loom)))]
thread_local! {
    /// Sweep-gate entries the current thread holds.
    static GATE_HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread holds a collector lock. A const-initialised
/// thread-local read: callable from a signal handler (the host's
/// async-preemption check: a thread holding a collector lock is never
/// suspended, since the world-stopped collector takes them).
pub fn thread_holds_gc_locks() -> bool {
    #[cfg(not(all(test, loom)))]
    {
        gc_locks_held(0) != 0
            || GATE_HELD.with(|c| c.get()) != 0
            || FACADE_HELD.with(|c| c.get()) != 0
    }
    #[cfg(all(test, loom))]
    {
        false
    }
}

/// Debug builds: abort with `fatal error` if the calling thread holds a
/// collector lock. Called before every `Host` method call.
#[inline]
#[track_caller]
pub(crate) fn assert_no_gc_locks() {
    #[cfg(all(debug_assertions, not(all(test, loom))))]
    {
        let n = gc_locks_held(0);
        if n != 0 {
            crate::rt_throw!(
                "runtime: calling the host with {n} gc lock(s) held at {}",
                std::panic::Location::caller()
            );
        }
    }
}

/// The collector's mutex: the facade's mutex plus a count
/// of the locks the thread holds so [`assert_no_gc_locks`] can check the
/// host-call rule. Every lock of the collector is one of these, and each is
/// listed in `docs/lock-order.md`.
#[derive(Debug, Default)]
pub(crate) struct GcMutex<T>(Mutex<T>);

/// The guard of a [`GcMutex`].
#[derive(Debug)]
pub(crate) struct GcMutexGuard<'a, T>(MutexGuard<'a, T>);

impl<T> GcMutex<T> {
    pub(crate) fn new(t: T) -> GcMutex<T> {
        GcMutex(Mutex::new(t))
    }

    pub(crate) fn lock(&self) -> GcMutexGuard<'_, T> {
        let g = self.0.lock();
        #[cfg(not(all(test, loom)))]
        gc_locks_held(1);
        GcMutexGuard(g)
    }
}

impl<T> Drop for GcMutexGuard<'_, T> {
    fn drop(&mut self) {
        #[cfg(not(all(test, loom)))]
        gc_locks_held(-1);
    }
}

impl<T> std::ops::Deref for GcMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for GcMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

#[cfg(all(test, not(loom), debug_assertions))]
mod tests {
    use super::*;

    const CHILD: &str = "GORT_GC_LOCK_CHILD";

    /// Calling the host with a collector lock held is a fatal error in
    /// debug builds (checked in a child process: `rt_throw!` exits 2).
    #[test]
    fn host_call_with_a_gc_lock_held_is_fatal() {
        if std::env::var_os(CHILD).is_some() {
            let m = GcMutex::new(0u32);
            {
                let _g = m.lock();
            }
            // Released: fine.
            assert_no_gc_locks();
            let _g = m.lock();
            assert_no_gc_locks();
            unreachable!("assert_no_gc_locks returned with a lock held");
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "host::tests::host_call_with_a_gc_lock_held_is_fatal",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("fatal error: runtime: calling the host with 1 gc lock(s) held at "),
            "{stderr}"
        );
    }
}
