//! gort's global allocator: the system allocator, plus a per-thread count of
//! the calls in progress.
//!
//! The count is what makes asynchronous preemption safe around `malloc`: a
//! goroutine may be suspended at almost any instruction while the world is
//! stopped (see gort-scheduler's essay, "Preemption"), and the code that runs
//! with the world stopped allocates. A thread suspended inside `malloc` or
//! `free` may hold one of the allocator's arena locks, which that code could
//! then wait for forever. The preemption signal's handler asks
//! [`in_allocator`] and leaves such a thread alone (it is asked again a few
//! microseconds later).
//!
//! Installed as the process's `#[global_allocator]` by the `global-allocator`
//! feature (on by default). A program that brings its own global allocator
//! turns the feature off (`default-features = false`); it then gives up that
//! guarantee, and a goroutine suspended inside its allocator while the
//! collector allocates can deadlock the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocator calls in progress on this thread (0 or 1; more only if an
    /// allocator call were interrupted by a signal handler that allocates,
    /// which gort's handlers never do).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether the calling thread is inside the global allocator. A
/// const-initialised thread-local read: callable from a signal handler.
pub(crate) fn in_allocator() -> bool {
    DEPTH.with(|d| d.get() != 0)
}

/// The system allocator with a per-thread count of calls in progress (see
/// the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

#[inline(always)]
fn enter() {
    DEPTH.with(|d| d.set(d.get() + 1));
    // The signal handler runs on this thread: the count must be stored
    // before the allocator's own accesses, and cleared only after them.
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[inline(always)]
fn leave() {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    DEPTH.with(|d| d.set(d.get() - 1));
}

// SAFETY: every method forwards to `System` with the same arguments; the
// count around the call has no effect on the memory returned.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        enter();
        // SAFETY: forwarded from the caller.
        let p = unsafe { System.alloc(layout) };
        leave();
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        enter();
        // SAFETY: forwarded from the caller.
        let p = unsafe { System.alloc_zeroed(layout) };
        leave();
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        enter();
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) };
        leave();
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        enter();
        // SAFETY: forwarded from the caller.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        leave();
        p
    }
}

#[cfg(feature = "global-allocator")]
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The preemption handler's host-side check (`set_async_unsafe_check`):
/// inside the collector's locks or the allocator, a thread is not suspended.
pub(crate) fn async_unsafe() -> bool {
    gort_gc::host::thread_holds_gc_locks() || in_allocator()
}
