//! Test support and the loom models of the collector's protocols.
//!
//! * [`mock_host`]: [`MockHost`](mock_host::MockHost), a [`Host`](crate::host::Host)
//!   made of OS threads. Public so that the stress tests (`gc/tests/stress*.rs`)
//!   and the collector benchmarks can drive the collector without the scheduler.
//! * `loom_*` modules (only under `RUSTFLAGS="--cfg loom"`): models of the write
//!   barrier racing a marker, mark termination racing barrier-buffer
//!   flushes, work-stealing termination, the stop-the-world handshake, the
//!   gate between concurrent sweepers and the start of mark, parked
//!   assists woken by background credit, and the copy barrier racing a
//!   concurrent stack scan.

pub mod mock_host;

#[cfg(all(test, loom))]
mod loom_assist;
#[cfg(all(test, loom))]
mod loom_mark;
#[cfg(all(test, loom))]
mod loom_stackscan;
#[cfg(all(test, loom))]
mod loom_stw;
#[cfg(all(test, loom))]
mod loom_sweep;

#[cfg(all(test, loom, not(debug_assertions)))]
compile_error!("loom models need debug assertions: RUSTFLAGS=\"--cfg loom -C debug-assertions\"");
