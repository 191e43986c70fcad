//! The `crate::loom` facade: the atomics and cells of the lock-free parts of
//! this crate (today: the CPU profiler's sample ring, [`crate::cpu`]) come
//! from here.
//!
//! In a normal build these are `std`'s types; when the crate's own tests are
//! compiled with `RUSTFLAGS="--cfg loom"` they are loom's instrumented twins,
//! so the `loom_` models explore every interleaving of the real ring. The
//! pattern is the one gort-gc and gort-scheduler use: the std side matches
//! loom's API ([`cell::UnsafeCell`] offers `with`/`with_mut`), and
//! capacities shrink under `cfg(loom)` where a constant would make a model
//! explode.
//!
//! Run the models with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//!   cargo test --release --target-dir target/loom -p gort-profiler --lib -- loom_
//! ```

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
