//! The state word of a P, and the hand-over of a P that its goroutine left
//! (`Syscall`): exactly one of its own M, sysmon and a stopper takes it.
//! Also the two pieces of the hand-over of a P *to* a goroutine preempted
//! by signal: the lock-free stack its handler pushes it on
//! ([`PreemptedStack`]) and the word its M waits on ([`Handoff`]).
//!
//! See [crate] ("Preemption", "System calls and the P-less state"). Split
//! out of `sched.rs` so that `loom_syscall` and `loom_handoff` drive the
//! real code.

use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, Ordering::*};
use std::ptr::null_mut;

/// The state of a P.
///
/// Allowed transitions: `Idle ⇄ Running` (acquire/release by an M),
/// `Running → Syscall` (its M's goroutine leaves it: `preempt.rs`),
/// `Syscall → Running` (the same M takes it back, `exitsyscall`),
/// `Syscall → Idle` (sysmon retakes it, or [`crate::blocking`] hands it
/// off), `Idle | Running | Syscall → GcStop → Idle | Running` (stop/start
/// the world), `GcStop → Dead` and `Dead → GcStop` (GOMAXPROCS change,
/// world stopped). Every transition out of `Syscall` is a CAS
/// ([`PState::cas`]): exactly one of the M, sysmon and a stopper wins it.
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
    /// Left by its M, whose goroutine runs without a P (in a system call, a
    /// long run, or suspended): the M may take it back, sysmon may retake
    /// it, a stopper may stop it.
    Syscall = 4,
}

impl PStatus {
    /// Go's name (`_Pidle` …), for traces and dumps.
    pub fn name(self) -> &'static str {
        match self {
            PStatus::Idle => "idle",
            PStatus::Running => "running",
            PStatus::GcStop => "gcstop",
            PStatus::Dead => "dead",
            PStatus::Syscall => "syscall",
        }
    }

    fn from_u8(v: u8) -> PStatus {
        match v {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::GcStop,
            4 => PStatus::Syscall,
            _ => PStatus::Dead,
        }
    }
}

/// A P's state word. Atomic; written by the owning M, or under the
/// scheduler lock, or with the world stopped, or — out of `Syscall` — by
/// whoever wins the CAS.
#[derive(Debug)]
pub(crate) struct PState(AtomicU8);

impl PState {
    pub(crate) fn new(s: PStatus) -> PState {
        PState(AtomicU8::new(s as u8))
    }

    pub(crate) fn get(&self) -> PStatus {
        // Acquire: pairs with the Release in `set` and the AcqRel `cas`:
        // whoever sees a state sees what its writer published before.
        PStatus::from_u8(self.0.load(Acquire))
    }

    pub(crate) fn set(&self, s: PStatus) {
        // Release: pairs with the Acquire in `get` and `cas` (stealers,
        // stoppers, sysmon): e.g. `Running → Syscall` publishes the M's
        // fields (its old P, its G's saved sp and status) to the taker.
        self.0.store(s as u8, Release);
    }

    /// `from → to` if the P is in `from`. AcqRel: Acquire pairs with the
    /// Release of `set` (the winner sees what the P's last owner
    /// published); Release publishes the winner's own writes to the next
    /// reader. Among concurrent contenders exactly one succeeds.
    pub(crate) fn cas(&self, from: PStatus, to: PStatus) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, AcqRel, Acquire)
            .is_ok()
    }
}

/// A node of a [`PreemptedStack`]: something with a link word of its own
/// (a G's `schedlink`, free while the G is on no other list).
pub(crate) trait Linked {
    fn link(&self) -> &AtomicPtr<Self>
    where
        Self: Sized;
}

/// An intrusive lock-free stack (Treiber's): pushed one node at a time by
/// preemption handlers, which may take no lock, and emptied all at once by
/// a thread that may. Nodes are never freed, so there is no ABA problem in
/// `push` (a node is pushed again only after `take_all` removed it, and a
/// push only ever compares the head it will link to).
#[derive(Debug)]
pub(crate) struct PreemptedStack<T> {
    head: AtomicPtr<T>,
}

impl<T: Linked> PreemptedStack<T> {
    pub(crate) fn new() -> PreemptedStack<T> {
        PreemptedStack {
            head: AtomicPtr::new(null_mut()),
        }
    }

    /// Pushes `n`, which is on no list. Lock-free and async-signal-safe.
    pub(crate) fn push(&self, n: *mut T) {
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: nodes are never freed (the caller's contract), and
            // `n`'s link is ours while it is on no list.
            unsafe { &*n }.link().store(head, Relaxed);
            // Release: pairs with the Acquire swap in `take_all`: the link
            // and everything the pusher wrote before are visible to the
            // taker.
            match self.head.compare_exchange(head, n, Release, Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Whether the stack looks empty (a racy hint for a fast path).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Relaxed).is_null()
    }

    /// Empties the stack; returns its nodes in the order they were pushed,
    /// linked through their link words (null-terminated).
    pub(crate) fn take_all(&self) -> *mut T {
        // Acquire: pairs with the Release CAS in `push`.
        let mut n = self.head.swap(null_mut(), Acquire);
        let mut rev: *mut T = null_mut();
        while !n.is_null() {
            // SAFETY: as in `push`; the links were written before the
            // pushes we synchronized with.
            let node = unsafe { &*n };
            let next = node.link().load(Relaxed);
            node.link().store(rev, Relaxed);
            rev = n;
            n = next;
        }
        rev
    }
}

/// The hand-over of a P to an M whose goroutine waits for one (a futex
/// word): the waiting M resets it before it makes its goroutine findable,
/// the M that picks the goroutine sets it once the P is the waiter's.
#[derive(Debug)]
pub(crate) struct Handoff(AtomicU32);

impl Handoff {
    pub(crate) fn new() -> Handoff {
        Handoff(AtomicU32::new(0))
    }

    /// The waiter, before it publishes its goroutine (whose publication,
    /// a Release, orders this store before the giver's).
    pub(crate) fn reset(&self) {
        self.0.store(0, Relaxed);
    }

    /// The waiter: returns once [`Handoff::give`] ran. `wait(word, seen)`
    /// blocks while `word` still holds `seen` (a futex; spurious returns
    /// are fine). Only atomics and `wait`: the preemption handler calls it.
    pub(crate) fn wait(&self, wait: impl Fn(&AtomicU32, u32)) {
        // Acquire: pairs with the Release in `give`: what the giver wrote
        // before (the M's P, the P's owner and state, the G's status) is
        // visible.
        while self.0.load(Acquire) == 0 {
            wait(&self.0, 0);
        }
    }

    /// Whether a hand-over is pending or done (the giver's sanity check).
    pub(crate) fn given(&self) -> bool {
        self.0.load(Relaxed) != 0
    }

    /// The giver, once the P is the waiter's: `wake(word)` wakes the waiter.
    pub(crate) fn give(&self, wake: impl FnOnce(&AtomicU32)) {
        // Release: pairs with the Acquire in `wait`.
        self.0.store(1, Release);
        wake(&self.0);
    }
}
