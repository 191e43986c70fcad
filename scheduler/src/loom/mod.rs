//! The `crate::loom` facade: every synchronization primitive this crate uses
//! comes from here.
//!
//! In a normal build these are `std`'s atomics and `parking_lot`'s locks; when
//! the crate's own tests are compiled with `RUSTFLAGS="--cfg loom"` they are loom's
//! instrumented twins, so the loom models under `src/tests/` explore every
//! interleaving of the real code rather than of a copy. This is tokio's
//! `src/loom/` pattern (see `reference/style.md` §4.2):
//!
//! * the `std` side matches loom's API, not the reverse: [`cell::UnsafeCell`]
//!   offers `with`/`with_mut`, locks do not poison;
//! * capacities shrink under `cfg(loom)` where a constant would make a model
//!   explode (each such constant says so next to its definition);
//! * nothing outside this module names `std::sync` or `std::cell::UnsafeCell`
//!   for shared state (clippy's `disallowed_types`, see `clippy.toml` in the crate folder).

#[cfg(not(all(test, loom)))]
mod std;
#[cfg(not(all(test, loom)))]
#[allow(unused_imports)]
pub(crate) use self::std::*;

#[cfg(all(test, loom))]
mod mocked;
#[cfg(all(test, loom))]
#[allow(unused_imports)]
pub(crate) use self::mocked::*;
