//! The crate's own tests: loom models (`loom_*`, only under `cfg(loom)`)
//! and runtime tests (only without loom).

#[cfg(not(loom))]
mod runtime;
