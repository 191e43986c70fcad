//! The `std` side of the facade (normal builds).
#![allow(dead_code, unused_imports)]

pub(crate) mod sync {
    pub(crate) mod atomic {
        pub(crate) use ::std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
}

pub(crate) mod cell {
    /// `std`'s `UnsafeCell` behind loom's closure-based API.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(::std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(t: T) -> UnsafeCell<T> {
            UnsafeCell(::std::cell::UnsafeCell::new(t))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
