//! The loom side of the facade (the crate's own tests under `RUSTFLAGS="--cfg loom"`).
#![allow(dead_code, unused_imports)]

pub(crate) mod sync {
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
}

pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}
