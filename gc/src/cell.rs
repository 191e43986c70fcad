//! `GcCell<T>`: the one way to change a field of a managed object after
//! construction. Its `set` runs the write barrier before the store.
//!
//! See [crate::heap] for the overview.
#![allow(clippy::disallowed_types)] // see HACK(fixed-layout-atomics) below

use crate::trace::Trace;
use std::marker::PhantomData;

// HACK(fixed-layout-atomics): cells live inside managed objects whose layout
// must not change under `cfg(loom)` (loom's atomics are bigger and need
// construction), so the cell uses core's atomics directly rather than the
// crate::loom facade. They implement no protocol of their own: each access
// is a single load or store.
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Compile-time check that `T` can be loaded and stored with one atomic
/// instruction (size 0, 1, 2, 4 or 8 with matching alignment).
pub(crate) const fn check_atomic_elem<T>() {
    let s = std::mem::size_of::<T>();
    assert!(
        s == 0 || (s <= 8 && s.is_power_of_two() && std::mem::align_of::<T>() == s),
        "GcSlice elements must be at most one word and naturally aligned (u8..u64, f64, Option<Gc<T>>); use GcSlice<Option<Gc<Record>>> for records"
    );
}

/// Loads a `T` with one atomic instruction (Acquire: pairs with the Release
/// in `atomic_store`, so a `Gc` loaded here points at an initialised object).
///
/// # Safety
///
/// `p` is valid, aligned, and `T` passed [`check_atomic_elem`].
#[inline(always)]
pub(crate) unsafe fn atomic_load<T: Copy>(p: *const T) -> T {
    let o = Ordering::Acquire;
    // SAFETY: (all arms) the size dispatch matches T's size and alignment
    // (check_atomic_elem), so the atomic type overlays T exactly and the
    // transmute_copy reads exactly size_of::<T>() initialised bytes.
    unsafe {
        match std::mem::size_of::<T>() {
            0 => std::ptr::read(p),
            1 => std::mem::transmute_copy(&(*(p as *const AtomicU8)).load(o)),
            2 => std::mem::transmute_copy(&(*(p as *const AtomicU16)).load(o)),
            4 => std::mem::transmute_copy(&(*(p as *const AtomicU32)).load(o)),
            _ => std::mem::transmute_copy(&(*(p as *const AtomicU64)).load(o)),
        }
    }
}

/// Stores a `T` with one atomic instruction (Release: publishes the
/// initialisation of any object `v` points to).
///
/// # Safety
///
/// As for [`atomic_load`].
#[inline(always)]
pub(crate) unsafe fn atomic_store<T: Copy>(p: *mut T, v: T) {
    let o = Ordering::Release;
    // SAFETY: as in atomic_load; transmute_copy reads v's size_of::<T>()
    // bytes into an integer of the same size.
    unsafe {
        match std::mem::size_of::<T>() {
            0 => {}
            1 => (*(p as *const AtomicU8)).store(std::mem::transmute_copy(&v), o),
            2 => (*(p as *const AtomicU16)).store(std::mem::transmute_copy(&v), o),
            4 => (*(p as *const AtomicU32)).store(std::mem::transmute_copy(&v), o),
            _ => (*(p as *const AtomicU64)).store(std::mem::transmute_copy(&v), o),
        }
    }
}

/// A field of a managed object that changes after construction:
/// `new(v)`, `get() -> T`, `set(v)`.
///
/// `set` calls [`crate::barrier::write_barrier`]`(old, new)` before the
/// store, with the base addresses of the objects the old and the new value
/// point to (0 for none; a one-word value holds at most one managed
/// pointer). Go's hybrid barrier shades both. The
/// cell offers no `&T`, `&mut T` or raw pointer to its contents, so safe
/// code cannot store a managed pointer into a managed object without the
/// barrier.
///
/// `T` is at most one word (8 bytes): the value is one atomic `u64`, so
/// goroutines on different threads may share the cell. Put bigger records
/// behind a `Gc`.
#[repr(C, align(8))]
pub struct GcCell<T: Trace + Copy> {
    /// The value's bytes, zero-padded to a word.
    bits: AtomicU64,
    _t: PhantomData<T>,
}

impl<T: Trace + Copy> GcCell<T> {
    /// A cell holding `v`.
    #[inline]
    pub fn new(v: T) -> GcCell<T> {
        const {
            assert!(
                std::mem::size_of::<T>() <= 8,
                "GcCell<T> holds at most one word; put bigger values behind a Gc"
            );
        }
        GcCell {
            bits: AtomicU64::new(Self::to_bits(v)),
            _t: PhantomData,
        }
    }

    #[inline(always)]
    fn to_bits(v: T) -> u64 {
        let mut bits = 0u64;
        // SAFETY: size_of::<T>() <= 8 (checked in `new`), so T fits in the
        // u64; an unaligned write needs no alignment.
        unsafe { std::ptr::write_unaligned(&mut bits as *mut u64 as *mut T, v) };
        bits
    }

    /// The current value (Acquire: pairs with the Release in `set`).
    #[inline]
    pub fn get(&self) -> T {
        let bits = self.bits.load(Ordering::Acquire);
        // SAFETY: the bits were produced by `to_bits` from a valid T.
        unsafe { std::ptr::read_unaligned(&bits as *const u64 as *const T) }
    }

    /// Stores `v`, running the write barrier first when `T` can hold
    /// managed pointers (Release: publishes the object `v` points to).
    #[inline]
    pub fn set(&self, v: T) {
        crate::trace::barrier_store(&self.get(), &v);
        self.bits.store(Self::to_bits(v), Ordering::Release);
    }
}

impl<T: Trace + Copy + std::fmt::Debug> std::fmt::Debug for GcCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GcCell").field(&self.get()).finish()
    }
}

impl<T: Trace + Copy + Default> Default for GcCell<T> {
    fn default() -> Self {
        GcCell::new(T::default())
    }
}
