//! The state word of a P, and the hand-over of a P that its goroutine left
//! (`Syscall`): exactly one of its own M, sysmon and a stopper takes it.
//!
//! See [crate] ("System calls and the P-less state"). Split out of
//! `sched.rs` so that `loom_syscall` drives the real word.

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};

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
