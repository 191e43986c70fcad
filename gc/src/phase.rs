//! The collector's phase (Go's `gcphase`). See [crate] for the overview.

use crate::loom::sync::atomic::{AtomicU8, Ordering};

/// Where the collector is in its cycle (Go's `_GCoff`, `_GCmark`,
/// `_GCmarktermination`, with sweep termination named as its own phase).
///
/// Allowed transitions (each happens with the world stopped, except
/// `Mark → MarkTermination`, which the mark terminator makes just before it
/// stops the world, and which it may undo, see below):
///
/// ```text
///   Off ──(STW)──► SweepTermination ──(STW)──► Mark ──► MarkTermination ──(STW)──► Off
///                                               ▲              │
///                                               └──(restart)───┘
/// ```
///
/// * `Off → SweepTermination`: a trigger fired (heap goal, `gc()`); the
///   world is stopped by the starting thread.
/// * `SweepTermination → Mark`: leftover spans swept, barrier and
///   allocate-black on, roots shaded; then the world restarts.
/// * `Mark → MarkTermination`: the workers found no grey object anywhere;
///   the terminator stops the world.
/// * `MarkTermination → Mark` (restart): flushing the per-P barrier buffers
///   shaded new objects, so marking resumes concurrently (Go's
///   `gcMarkDone` restart).
/// * `MarkTermination → Off`: no grey object left; barrier and
///   allocate-black off, sweeping set up; then the world restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// No cycle running: the barrier is off, new objects are white, spans
    /// are swept lazily and in the background. The mutators own the heap.
    Off = 0,
    /// The world is stopped to start a cycle; the starting thread owns all
    /// collector state.
    SweepTermination = 1,
    /// Concurrent mark: barrier on, allocate-black, assists on. Mark workers
    /// and assisting mutators own grey objects through the work queues.
    Mark = 2,
    /// No grey work was found; the terminator stops the world, flushes the
    /// per-P barrier buffers and decides whether marking is really done.
    MarkTermination = 3,
}

impl Phase {
    /// The name for traces and messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Off => "off",
            Phase::SweepTermination => "sweep termination",
            Phase::Mark => "mark",
            Phase::MarkTermination => "mark termination",
        }
    }

    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Off,
            1 => Phase::SweepTermination,
            2 => Phase::Mark,
            3 => Phase::MarkTermination,
            _ => crate::rt_throw!("runtime: bad gc phase {v}"),
        }
    }

    /// Whether `self → to` is one of the transitions listed on [`Phase`].
    pub fn can_go_to(self, to: Phase) -> bool {
        matches!(
            (self, to),
            (Phase::Off, Phase::SweepTermination)
                | (Phase::SweepTermination, Phase::Mark)
                | (Phase::Mark, Phase::MarkTermination)
                | (Phase::MarkTermination, Phase::Mark)
                | (Phase::MarkTermination, Phase::Off)
        )
    }
}

/// The current phase, readable from any thread.
///
/// Written only by the thread driving the cycle (the starter, then the
/// terminator), each write checked against [`Phase::can_go_to`].
#[derive(Debug)]
pub(crate) struct PhaseCell(AtomicU8);

impl PhaseCell {
    pub(crate) fn new() -> PhaseCell {
        PhaseCell(AtomicU8::new(Phase::Off as u8))
    }

    /// The phase. Acquire: pairs with the Release in [`PhaseCell::set`], so
    /// a reader that sees a phase also sees what was set up before it.
    pub(crate) fn get(&self) -> Phase {
        Phase::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Move to `to`; a transition not listed on [`Phase`] is a fatal error.
    pub(crate) fn set(&self, to: Phase) {
        let from = self.get();
        if !from.can_go_to(to) {
            crate::rt_throw!(
                "runtime: gc phase transition {} -> {} not allowed",
                from.name(),
                to.name()
            );
        }
        // Release: pairs with the Acquire in `get`.
        self.0.store(to as u8, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn documented_cycle_is_allowed_and_shortcuts_are_not() {
        let p = PhaseCell::new();
        for to in [
            Phase::SweepTermination,
            Phase::Mark,
            Phase::MarkTermination,
            Phase::Mark,
            Phase::MarkTermination,
            Phase::Off,
        ] {
            p.set(to);
            assert_eq!(p.get(), to);
        }
        assert!(!Phase::Off.can_go_to(Phase::Mark));
        assert!(!Phase::Mark.can_go_to(Phase::Off));
        assert!(!Phase::SweepTermination.can_go_to(Phase::Off));
        assert_eq!(Phase::MarkTermination.name(), "mark termination");
    }
}
