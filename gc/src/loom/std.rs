//! The `std` side of the facade (normal builds).
#![allow(clippy::disallowed_types, dead_code, unused_imports)]

pub(crate) mod sync {
    pub(crate) use ::std::sync::Arc;

    /// A non-poisoning mutex (parking_lot's), with the same `lock()` signature
    /// as the loom side. A newtype rather than a re-export so that clippy's
    /// `disallowed_types` (which sees through re-exports) flags only direct
    /// uses of parking_lot outside this facade.
    ///
    /// Every lock counts itself for the calling thread
    /// (`host::facade_locks`) *before* it is taken and until *after* it is
    /// released, so that the preemption signal's handler never suspends a
    /// goroutine that holds (or is taking) one: world-stopped collector code
    /// takes these locks ([`crate::host::thread_holds_gc_locks`]).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard of [`Mutex`]: parking_lot's, released before the count
    /// drops.
    pub(crate) struct MutexGuard<'a, T> {
        g: ::std::mem::ManuallyDrop<parking_lot::MutexGuard<'a, T>>,
    }

    impl<T> Mutex<T> {
        pub(crate) const fn new(t: T) -> Mutex<T> {
            Mutex(parking_lot::Mutex::new(t))
        }

        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            crate::host::facade_locks(1);
            MutexGuard {
                g: ::std::mem::ManuallyDrop::new(self.0.lock()),
            }
        }

        #[inline]
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            crate::host::facade_locks(1);
            match self.0.try_lock() {
                Some(g) => Some(MutexGuard {
                    g: ::std::mem::ManuallyDrop::new(g),
                }),
                None => {
                    crate::host::facade_locks(-1);
                    None
                }
            }
        }
    }

    impl<T> Drop for MutexGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            // SAFETY: dropped exactly once, here; `g` is not used after.
            unsafe { ::std::mem::ManuallyDrop::drop(&mut self.g) };
            crate::host::facade_locks(-1);
        }
    }

    impl<T> ::std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.g
        }
    }

    impl<T> ::std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.g
        }
    }

    impl<T: ::std::fmt::Debug> ::std::fmt::Debug for MutexGuard<'_, T> {
        fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
            (**self.g).fmt(f)
        }
    }

    /// parking_lot's condition variable behind loom's guard-passing API.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Condvar {
            Condvar(parking_lot::Condvar::new())
        }

        /// Blocks until notified (spurious wake-ups possible).
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            // The count stays up while waiting: only tests wait on a
            // collector condvar.
            self.0.wait(&mut guard.g);
            guard
        }

        /// Blocks until notified or `dur` passed; the bool is "timed out".
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            dur: ::std::time::Duration,
        ) -> (MutexGuard<'a, T>, bool) {
            let r = self.0.wait_for(&mut guard.g, dur);
            (guard, r.timed_out())
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Atomics: newtypes over std's (see [`Mutex`] for why not re-exports),
    /// with the subset of methods loom's atomics also have.
    pub(crate) mod atomic {
        pub(crate) use ::std::sync::atomic::{fence, Ordering};

        macro_rules! int_atomic {
            ($name:ident, $t:ty) => {
                #[derive(Debug, Default)]
                #[repr(transparent)]
                pub(crate) struct $name(::std::sync::atomic::$name);

                impl $name {
                    pub(crate) const fn new(v: $t) -> $name {
                        $name(::std::sync::atomic::$name::new(v))
                    }
                    #[inline(always)]
                    pub(crate) fn load(&self, o: Ordering) -> $t {
                        self.0.load(o)
                    }
                    #[inline(always)]
                    pub(crate) fn store(&self, v: $t, o: Ordering) {
                        self.0.store(v, o)
                    }
                    #[inline(always)]
                    pub(crate) fn swap(&self, v: $t, o: Ordering) -> $t {
                        self.0.swap(v, o)
                    }
                    #[inline(always)]
                    pub(crate) fn compare_exchange(
                        &self,
                        a: $t,
                        b: $t,
                        s: Ordering,
                        f: Ordering,
                    ) -> Result<$t, $t> {
                        self.0.compare_exchange(a, b, s, f)
                    }
                    #[inline(always)]
                    pub(crate) fn compare_exchange_weak(
                        &self,
                        a: $t,
                        b: $t,
                        s: Ordering,
                        f: Ordering,
                    ) -> Result<$t, $t> {
                        self.0.compare_exchange_weak(a, b, s, f)
                    }
                    #[inline(always)]
                    pub(crate) fn fetch_add(&self, v: $t, o: Ordering) -> $t {
                        self.0.fetch_add(v, o)
                    }
                    #[inline(always)]
                    pub(crate) fn fetch_sub(&self, v: $t, o: Ordering) -> $t {
                        self.0.fetch_sub(v, o)
                    }
                    #[inline(always)]
                    pub(crate) fn fetch_or(&self, v: $t, o: Ordering) -> $t {
                        self.0.fetch_or(v, o)
                    }
                    #[inline(always)]
                    pub(crate) fn fetch_and(&self, v: $t, o: Ordering) -> $t {
                        self.0.fetch_and(v, o)
                    }
                }
            };
        }

        int_atomic!(AtomicU8, u8);
        int_atomic!(AtomicU32, u32);
        int_atomic!(AtomicI32, i32);
        int_atomic!(AtomicU64, u64);
        int_atomic!(AtomicI64, i64);
        int_atomic!(AtomicUsize, usize);

        /// std's `AtomicBool` (see the module docs).
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub(crate) struct AtomicBool(::std::sync::atomic::AtomicBool);

        impl AtomicBool {
            pub(crate) const fn new(v: bool) -> AtomicBool {
                AtomicBool(::std::sync::atomic::AtomicBool::new(v))
            }
            #[inline(always)]
            pub(crate) fn load(&self, o: Ordering) -> bool {
                self.0.load(o)
            }
            #[inline(always)]
            pub(crate) fn store(&self, v: bool, o: Ordering) {
                self.0.store(v, o)
            }
            #[inline(always)]
            pub(crate) fn swap(&self, v: bool, o: Ordering) -> bool {
                self.0.swap(v, o)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange(
                &self,
                a: bool,
                b: bool,
                s: Ordering,
                f: Ordering,
            ) -> Result<bool, bool> {
                self.0.compare_exchange(a, b, s, f)
            }
        }

        /// std's `AtomicPtr` (see the module docs).
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub(crate) struct AtomicPtr<T>(::std::sync::atomic::AtomicPtr<T>);

        impl<T> AtomicPtr<T> {
            pub(crate) const fn new(v: *mut T) -> AtomicPtr<T> {
                AtomicPtr(::std::sync::atomic::AtomicPtr::new(v))
            }
            #[inline(always)]
            pub(crate) fn load(&self, o: Ordering) -> *mut T {
                self.0.load(o)
            }
            #[inline(always)]
            pub(crate) fn store(&self, v: *mut T, o: Ordering) {
                self.0.store(v, o)
            }
            #[inline(always)]
            pub(crate) fn swap(&self, v: *mut T, o: Ordering) -> *mut T {
                self.0.swap(v, o)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange(
                &self,
                a: *mut T,
                b: *mut T,
                s: Ordering,
                f: Ordering,
            ) -> Result<*mut T, *mut T> {
                self.0.compare_exchange(a, b, s, f)
            }
        }
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

        /// Consumes the cell, returning the contents.
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
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

    /// Makes crossbeam-epoch's process-wide collector, which the deques'
    /// stealers use, now rather than at the first steal. It is made once,
    /// under a `OnceLock`: made lazily, the first steal of one thread
    /// makes it while another thread's first steal waits for the lock. A
    /// goroutine's first steal (an assist) suspended there by the
    /// preemption signal for a stop of the world, and an M's first steal
    /// (idle marking, on its g0, holding its P) waiting for it, never let
    /// that stop complete: a deadlock seen once in ~500 runs of the
    /// memstats sample on a busy machine. Called where the collector
    /// builds its work queues, before any thread marks.
    pub(crate) fn make_epoch_collector() {
        let _ = crossbeam_epoch::default_collector();
    }
}
