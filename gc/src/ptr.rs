//! `Gc<T>` (a managed pointer) and `GcSlice<T>` (`make([]T, n)`).
//!
//! See [crate::heap] for the object layout.

use crate::cell::{atomic_load, atomic_store, check_atomic_elem};
use crate::heap::{self, precise_header_bytes, Heap, ObjectKind};
use crate::size;
use crate::trace::{InfoOf, Trace, Tracer, TypeInfo};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pointer to a managed object: `Copy`, dereferences to `&T`, freed by
/// the collector when nothing reaches it.
///
/// ```
/// use gort_gc::{Gc, GcCell};
/// # extern crate gort_gc as gort;
/// #[derive(gort::Trace)]
/// struct Node { value: i64, next: GcCell<Option<Gc<Node>>> }
///
/// let a = Gc::new(Node { value: 1, next: GcCell::new(None) });
/// let b = Gc::new(Node { value: 2, next: GcCell::new(Some(a)) });
/// assert_eq!(b.next.get().unwrap().value, 1);
/// ```
///
/// # Where a `Gc` may live
///
/// The collector finds a `Gc` only in goroutine stacks and registers, in
/// managed objects (through `Trace`), in runtime-held values (channel
/// buffers, start closures, timers) and in [`crate::root::Root`] handles.
/// **A `Gc<T>` stored in a `std` `Vec`, `Box`, `HashMap` or any other memory
/// from Rust's global allocator is invisible to the collector**: the object
/// may be freed while that copy still points at it. Keep such pointers in a
/// `Root<T>`, or in managed memory (`make_slice::<Option<Gc<T>>>`).
///
/// There is no `&mut T`: a managed object is shared. Fields that change
/// after construction are [`crate::cell::GcCell`]s, whose `set` runs the
/// write barrier.
#[repr(transparent)]
pub struct Gc<T: Trace> {
    /// The value: the object's base, or base + 8 for a precise object
    /// bigger than 512 bytes, which carries a header word (see the heap
    /// essay, "Object layout").
    ptr: NonNull<T>,
}

impl<T: Trace> Clone for Gc<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Trace> Copy for Gc<T> {}

// SAFETY: a Gc hands out only `&T`; sharing it across threads is sharing `&T`.
unsafe impl<T: Trace + Sync> Send for Gc<T> {}
// SAFETY: as above.
unsafe impl<T: Trace + Sync> Sync for Gc<T> {}

impl<T: Trace> std::ops::Deref for Gc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the object is live while a Gc to it is reachable (the
        // collector's guarantee for Gcs in the places listed above), and
        // holds an initialised T that is only ever shared.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Trace + std::fmt::Debug> std::fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// Bytes before the value of a managed `T`: a header word only for
/// precise objects too big to keep their type in their span.
const fn header_of<T: Trace>() -> usize {
    if T::NEEDS_TRACE {
        precise_header_bytes(std::mem::size_of::<T>())
    } else {
        0
    }
}

impl<T: Trace> Gc<T> {
    /// Moves `value` into a new managed object on the global heap.
    ///
    /// Compile-time checks: `T` must not need `Drop` (managed objects are
    /// freed without destructors) and must be at most 8-byte aligned. The
    /// Drop check also catches hand-written (wrong) `Trace` impls; it is a
    /// post-monomorphization error, so it shows in `cargo build`, not
    /// `cargo check`:
    ///
    /// ```compile_fail
    /// use gort_gc::{Gc, Trace, Tracer};
    /// struct Owned(String);
    /// // SAFETY: deliberately wrong: Owned needs Drop.
    /// unsafe impl Trace for Owned {
    ///     const NEEDS_TRACE: bool = false;
    ///     fn trace(&self, _: &mut Tracer<'_>) {}
    /// }
    /// let _g = Gc::new(Owned(String::from("x")));
    /// ```
    #[inline]
    pub fn new(value: T) -> Gc<T> {
        Gc::new_in(heap::global(), value)
    }

    /// [`Gc::new`] on a given heap (tests with private heaps).
    #[inline]
    pub fn new_in(heap: &Heap, value: T) -> Gc<T> {
        const {
            assert!(
                !std::mem::needs_drop::<T>(),
                "managed types must not need Drop: a managed object is freed without running destructors"
            );
            assert!(
                std::mem::align_of::<T>() <= 8,
                "managed types must be at most 8-byte aligned"
            );
        }
        let value_addr = if T::NEEDS_TRACE {
            // The type is recorded (in the span, or a header) by the heap.
            heap.alloc_precise(std::mem::size_of::<T>(), InfoOf::<T>::INFO)
        } else {
            heap.alloc(std::mem::size_of::<T>(), ObjectKind::Noscan)
        };
        // SAFETY: `value_addr` is the start of the value area of a fresh,
        // zeroed, 8-byte aligned object of at least size_of::<T>() bytes
        // that nobody else references yet. Initialising it needs no
        // barrier: a new object is either white before marking or born
        // black during it.
        unsafe {
            let p = value_addr as *mut T;
            p.write(value);
            Gc {
                ptr: NonNull::new_unchecked(p),
            }
        }
    }

    /// Base address of the object (the value's address, or its header word
    /// for a precise value over 512 bytes): what the collector marks and
    /// what [`Heap::find_object`] returns.
    #[inline]
    pub fn base(self) -> usize {
        self.ptr.as_ptr() as usize - header_of::<T>()
    }

    /// Whether two Gcs point at the same object.
    #[inline]
    pub fn ptr_eq(a: Gc<T>, b: Gc<T>) -> bool {
        a.ptr == b.ptr
    }

    /// The value's address (read-only use; writing through it bypasses the
    /// write barrier and needs `unsafe` anyway).
    #[inline]
    pub fn as_ptr(self) -> *const T {
        self.ptr.as_ptr()
    }

    /// Rebuilds a Gc from [`Gc::base`].
    ///
    /// # Safety
    ///
    /// `base` must be the base of a live managed object holding a `T`.
    pub unsafe fn from_base(base: usize) -> Gc<T> {
        // SAFETY: the caller promises a live object, whose value address is
        // not null.
        unsafe {
            Gc {
                ptr: NonNull::new_unchecked((base + header_of::<T>()) as *mut T),
            }
        }
    }
}

/// Types whose all-zero bit pattern is a valid value (Go's zero value), so
/// `make_slice` can hand out zeroed memory as `T`s.
///
/// # Safety
///
/// The all-zero bytes must be a valid `T`.
pub unsafe trait Zeroable: Copy {}

macro_rules! zeroable {
    ($($t:ty),*) => {$(
        // SAFETY: zero is a valid value of this primitive type.
        unsafe impl Zeroable for $t {}
    )*};
}
zeroable!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64
);
// SAFETY: Gc is a NonNull, so Option<Gc<T>> has the null niche: zero is None.
unsafe impl<T: Trace> Zeroable for Option<Gc<T>> {}

/// A managed slice (`make([]T, len)`): `Copy`, fixed length, elements read
/// and written one at a time (atomically, so goroutines may share it).
/// Setting an element that holds pointers runs the write barrier.
///
/// Element types are at most one word and naturally aligned (`u8`, `i64`,
/// `f64`, `Option<Gc<U>>`, ...): each element is accessed with one atomic
/// load or store. Slices of bigger records are slices of `Gc<Record>`.
pub struct GcSlice<T: Trace + Copy> {
    /// First element (dangling for len 0).
    elems: NonNull<T>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Trace + Copy> Clone for GcSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Trace + Copy> Copy for GcSlice<T> {}
// SAFETY: elements are accessed only through atomic loads and stores.
unsafe impl<T: Trace + Copy + Send + Sync> Send for GcSlice<T> {}
// SAFETY: as above.
unsafe impl<T: Trace + Copy + Send + Sync> Sync for GcSlice<T> {}

impl<T: Trace + Copy> std::fmt::Debug for GcSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcSlice(len={})", self.len)
    }
}

/// The value of a precise slice of `len` elements of `T`: the length word,
/// the elements and the padding byte. Its header (if any) follows from its size.
const fn slice_precise_value<T>(len: usize) -> usize {
    8 + len * std::mem::size_of::<T>() + 1
}

/// `make([]T, len)` on the global heap: a zeroed managed slice.
///
/// A length out of range — negative as a Go `int` (above `isize::MAX`),
/// or a slice bigger than the largest allocation ([`crate::size`]) —
/// panics with Go's `runtime error: makeslice: len out of range`.
#[inline]
#[track_caller]
pub fn make_slice<T: Trace + Zeroable>(len: usize) -> GcSlice<T> {
    make_slice_in(heap::global(), len)
}

/// [`make_slice`] on a given heap.
#[track_caller]
pub fn make_slice_in<T: Trace + Zeroable>(heap: &Heap, len: usize) -> GcSlice<T> {
    const {
        check_atomic_elem::<T>();
        assert!(
            !std::mem::needs_drop::<T>(),
            "managed types must not need Drop"
        );
    }
    let max = size::max_alloc(heap.arena_bytes());
    let value = match size::slice_value_bytes(std::mem::size_of::<T>(), len, T::NEEDS_TRACE, max) {
        Some(v) => v,
        None => makeslice_len_out_of_range(),
    };
    if value == 0 {
        return GcSlice {
            elems: NonNull::dangling(),
            len,
            _t: PhantomData,
        };
    }
    // The value holds the padding byte that keeps the elements' end
    // pointer inside the object (see Heap::find_object), and for a precise
    // slice the length word.
    let elems = if T::NEEDS_TRACE {
        let value = heap.alloc_precise(value, SliceInfo::<T>::INFO);
        // SAFETY: the value area is fresh, zeroed and at least 16 bytes. A
        // marker that traces the slice before this store reads length 0
        // and finds nothing; every element is still zero (None) anyway.
        unsafe { atomic_store(value as *mut usize, len) };
        value as usize + 8
    } else {
        heap.alloc(value, ObjectKind::Noscan) as usize
    };
    GcSlice {
        // SAFETY: heap addresses are never null.
        elems: unsafe { NonNull::new_unchecked(elems as *mut T) },
        len,
        _t: PhantomData,
    }
}

/// Go's `panicmakeslicelen`.
#[cold]
#[inline(never)]
#[track_caller]
fn makeslice_len_out_of_range() -> ! {
    panic!("{}", size::MAKESLICE_LEN_OUT_OF_RANGE)
}

/// Go's `panicIndex`: `runtime error: index out of range [i] with length n`.
#[cold]
#[inline(never)]
#[track_caller]
fn index_out_of_range(i: usize, len: usize) -> ! {
    panic!("runtime error: index out of range [{i}] with length {len}")
}

struct SliceInfo<T>(PhantomData<T>);
impl<T: Trace + Copy> SliceInfo<T> {
    const INFO: &'static TypeInfo = &TypeInfo {
        name: std::any::type_name::<[T]>,
        trace: trace_slice::<T>,
    };
}

/// # Safety
///
/// `addr` is the value address of a precise slice object of `T`s.
unsafe fn trace_slice<T: Trace + Copy>(addr: usize, t: &mut Tracer<'_>) {
    // SAFETY: the word at `addr` is the slice length written by make_slice
    // (atomically: a marker may read it while it is written).
    let len = unsafe { atomic_load(addr as *const usize) };
    let elems = (addr + 8) as *const T;
    for i in 0..len {
        // SAFETY: i < len elements follow the length word; atomic load
        // because mutators may store concurrently.
        let v = unsafe { atomic_load(elems.add(i)) };
        v.trace(t);
    }
}

impl<T: Trace + Copy> GcSlice<T> {
    /// Number of elements (Go's `len`).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`; panics like Go when `i >= len`.
    #[inline]
    #[track_caller]
    pub fn get(&self, i: usize) -> T {
        self.check(i);
        // SAFETY: i < len, the object is live (see Gc), element aligned.
        unsafe { atomic_load(self.elems.as_ptr().add(i)) }
    }

    /// Stores `v` at `i` (barriered when `T` can hold pointers); panics
    /// like Go when `i >= len`.
    #[inline]
    #[track_caller]
    pub fn set(&self, i: usize, v: T) {
        self.check(i);
        // SAFETY: as in `get`.
        let p = unsafe { self.elems.as_ptr().add(i) };
        if T::NEEDS_TRACE {
            // SAFETY: as in `get`.
            let old = unsafe { atomic_load(p) };
            crate::trace::barrier_store(&old, &v);
        }
        // SAFETY: as in `get`.
        unsafe { atomic_store(p, v) };
    }

    #[inline]
    #[track_caller]
    fn check(&self, i: usize) {
        if i >= self.len {
            index_out_of_range(i, self.len);
        }
    }

    /// Base address of the object (None for an empty slice, which
    /// allocates nothing).
    #[inline]
    pub fn base(&self) -> Option<usize> {
        if self.len == 0 || std::mem::size_of::<T>() == 0 {
            return None;
        }
        let prefix = if T::NEEDS_TRACE {
            8 + precise_header_bytes(slice_precise_value::<T>(self.len))
        } else {
            0
        };
        Some(self.elems.as_ptr() as usize - prefix)
    }

    /// Address of the first element (read-only use).
    #[inline]
    pub fn as_ptr(&self) -> *const T {
        self.elems.as_ptr()
    }
}

impl<T: Trace + Copy> GcSlice<T>
where
    T: Zeroable,
{
    /// Copies the elements into a `Vec` (a snapshot).
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len).map(|i| self.get(i)).collect()
    }
}
