//! loom model of the stop-the-world handshake against `MockHost`.

use crate::host::{Host, StwReason};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::tests::mock_host::MockHost;

/// Mutator data written between safepoints; the stopper reads it with the
/// world stopped. loom reports a data race if the handshake ever lets the
/// stopper in while the mutator runs.
struct Shared(UnsafeCell<u64>);
// SAFETY: the model's point is that the handshake serializes the accesses;
// loom checks it.
unsafe impl Sync for Shared {}

#[test]
fn loom_stop_the_world_handshake() {
    loom::model(|| {
        let host = Arc::new(MockHost::new(1));
        let data = Arc::new(Shared(UnsafeCell::new(0)));
        let m = {
            let (host, data) = (host.clone(), data.clone());
            thread::spawn(move || {
                host.acquire_p(usize::MAX);
                for _ in 0..2 {
                    // SAFETY: running on our P; loom checks exclusivity.
                    data.0.with_mut(|v| unsafe { *v += 1 });
                    host.safepoint();
                }
                host.release_p();
            })
        };
        let w = host.stop_the_world(StwReason::Other);
        // SAFETY: world stopped; loom checks exclusivity.
        let seen = data.0.with(|v| unsafe { *v });
        assert!(seen <= 2);
        host.start_the_world(w);
        m.join().unwrap();
        // SAFETY: the mutator has ended.
        assert_eq!(data.0.with(|v| unsafe { *v }), 2);
    });
}
