//! The crate's own tests: loom models (`loom_*`, only under `cfg(loom)`)
//! and runtime tests (only without loom).
//!
//! The loom models drive the very structs the runtime uses — `RunQueue`,
//! `ParkState`, `Idle`, `World`, `ScanState`, `PState`, `Suspension`,
//! `PreemptedStack`, `Handoff` — with loom's instrumented atomics and locks
//! (through `crate::loom`). Run them with
//! `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p gort-scheduler --lib -- loom_`.

#[cfg(loom)]
mod loom_deadcheck;
#[cfg(loom)]
mod loom_handoff;
#[cfg(loom)]
mod loom_idle;
#[cfg(loom)]
mod loom_park;
#[cfg(loom)]
mod loom_runq;
#[cfg(loom)]
mod loom_scan;
#[cfg(loom)]
mod loom_stw;
#[cfg(loom)]
mod loom_suspend;
#[cfg(loom)]
mod loom_syscall;

#[cfg(not(loom))]
mod runtime;
