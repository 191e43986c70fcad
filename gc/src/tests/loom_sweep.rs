//! loom model of the sweep gate: a concurrent sweep never overlaps the
//! marking of the next cycle.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::sweep::SweepGate;

/// A span's mark bits: written by the sweeper (clearing them) and by the
/// marker of the next cycle. loom reports a race if both can touch them at
/// once.
struct Bits(UnsafeCell<u64>);
// SAFETY: the gate is what serializes the accesses; loom checks it.
unsafe impl Sync for Bits {}

#[test]
fn loom_sweep_gate_vs_cycle_start() {
    loom::model(|| {
        let gate = Arc::new(SweepGate::default());
        let bits = Arc::new(Bits(UnsafeCell::new(0b1010)));
        let sweeper = {
            let (gate, bits) = (gate.clone(), bits.clone());
            thread::spawn(move || {
                // Sweeping the garbage of cycle 0.
                if gate.enter(0) {
                    // SAFETY: inside the gate; loom checks exclusivity.
                    bits.0.with_mut(|b| unsafe { *b = 0 });
                    gate.leave();
                }
            })
        };
        // Cycle 1 starts: advance the gate (waits for sweepers), then mark.
        gate.advance(1);
        // SAFETY: the gate is empty and no sweeper can enter for cycle 1.
        bits.0.with_mut(|b| unsafe { *b |= 1 });
        sweeper.join().unwrap();
        // SAFETY: the sweeper has ended.
        let b = bits.0.with(|b| unsafe { *b });
        assert_eq!(b & 1, 1, "the new mark bit was cleared by a late sweep");
    });
}
