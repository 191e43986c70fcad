//! # gort-scheduler: goroutines on gort's own stacks
//!
//! This crate owns goroutines: their stacks, the context switch between them,
//! the run queues, parking, timers and the runtime-aware blocking primitives
//! (channels, `WaitGroup`, `Mutex`), and the stop-the-world handshake the
//! collector uses. The design is Go's G/M/P scheduler.
//!
//! ## Place in the workspace
//!
//! ```text
//! samples, tests ──► runtime (gort) ──┬──► gc ─────────┐
//!                                     ├──► scheduler ──┼──► profiler
//!                                     └──► profiler ◄──┘
//! ```
//!
//! The scheduler never depends on the collector; `gort` joins the two in
//! `runtime/src/host.rs`. It calls into `gort-profiler` (a leaf) to record
//! scheduling events.
//!
//! ## Glossary
//!
//! As in Go's `src/runtime/HACKING.md`; one word per concept:
//!
//! * **G** — a goroutine: a stack, a saved stack pointer, a status.
//! * **M** — a machine: an OS thread that runs Gs. Each M has its own
//!   scheduler stack, **g0**, on which scheduling decisions run.
//! * **P** — a processor: the right to run Go code, with a local run queue.
//!   There are `GOMAXPROCS` Ps. Never "core" or "slot".
//! * **run queue** — a P's bounded local queue of runnable Gs (plus the
//!   `runnext` slot); the **global queue** is shared.
//! * **park** — take the current G off its M until someone **readies** it.
//! * **safepoint** — a point where a G checks whether the world must stop or
//!   it must yield.
//!
//! ## Conventions
//!
//! Every synchronization primitive comes from [`crate::loom`] (a facade over
//! std/parking_lot or loom). Broken invariants end in [`rt_throw!`], which
//! prints `fatal error: ...` and exits 2. See `HACKING.md` at the workspace
//! root.

#![cfg_attr(loom, allow(dead_code))]

pub mod fatal;
pub(crate) mod loom;

mod idle;
mod park;
mod runq;
mod world;

#[cfg(not(all(test, loom)))]
mod api;
#[cfg(not(all(test, loom)))]
pub mod chan;
#[cfg(not(all(test, loom)))]
mod g;
#[cfg(not(all(test, loom)))]
pub mod hooks;
#[cfg(not(all(test, loom)))]
mod lock;
#[cfg(not(all(test, loom)))]
mod panic;
#[cfg(not(all(test, loom)))]
mod roots;
#[cfg(not(all(test, loom)))]
mod sched;
#[cfg(not(all(test, loom)))]
mod signal;
#[cfg(not(all(test, loom)))]
pub mod stack;
#[cfg(not(all(test, loom)))]
mod stw;
#[cfg(not(all(test, loom)))]
mod switch;
#[cfg(not(all(test, loom)))]
pub mod sync;
#[cfg(not(all(test, loom)))]
mod sysmon;

#[cfg(not(all(test, loom)))]
pub use api::*;
#[cfg(not(all(test, loom)))]
pub use chan::{chan, Chan};
#[cfg(not(all(test, loom)))]
pub use g::{GStatus, WaitReason};
#[cfg(not(all(test, loom)))]
pub use hooks::{set_recorder, SchedEvent, SchedRecorder};
#[cfg(not(all(test, loom)))]
pub use sched::{sched_stats, Config, PStatus, SchedStats, MAX_PROCS};
#[cfg(not(all(test, loom)))]
pub use stack::DEFAULT_STACK_SIZE;
#[cfg(not(all(test, loom)))]
pub use stw::{
    for_each_goroutine_stack, for_each_p_at_safepoint, for_each_runtime_range, start_the_world,
    stop_the_world, GoroutineStack, StwReason, WorldStopped,
};
#[cfg(not(all(test, loom)))]
pub use sysmon::FORCE_PREEMPT;

#[cfg(test)]
mod tests;
