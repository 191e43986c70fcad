//! The `std` side of the facade (normal builds).
#![allow(clippy::disallowed_types, dead_code, unused_imports)]

pub(crate) mod sync {
    pub(crate) use ::std::sync::Arc;

    /// A non-poisoning mutex (parking_lot's), with the same `lock()` signature
    /// as the loom side.
    pub(crate) use parking_lot::{Mutex, MutexGuard};

    /// A condition variable with loom's by-value `wait` signature (parking_lot's underneath).
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(parking_lot::Condvar::new())
        }

        /// Blocks until notified; returns the re-acquired guard.
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }

    pub(crate) mod atomic {
        pub(crate) use ::std::sync::atomic::{
            fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
            AtomicUsize, Ordering,
        };
    }
}

pub(crate) mod cell {
    /// `std::cell::UnsafeCell` with loom's closure-based accessors, so code
    /// written against loom compiles unchanged in normal builds.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(::std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(data: T) -> UnsafeCell<T> {
            UnsafeCell(::std::cell::UnsafeCell::new(data))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a mutable raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) mod thread {
    pub(crate) use ::std::thread::{current, spawn, yield_now, JoinHandle};
}

pub(crate) mod hint {
    pub(crate) use ::std::hint::spin_loop;
}

/// Work-stealing deques: crossbeam-deque in normal builds. crossbeam-deque is
/// not loom-instrumented, so under loom `mocked.rs` substitutes a queue with
/// the same API built on loom's mutex.
pub(crate) mod deque {
    pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};
}
