//! `Trace`: how the collector finds the managed pointers inside a value.
//!
//! See [crate::heap] for the object layout. A precise object's first word
//! points to its [`TypeInfo`], whose `trace` function calls
//! [`Trace::trace`] on the value that follows; `Trace::trace` reports every
//! managed pointer the value holds to the [`Tracer`].

use crate::cell::GcCell;
use crate::ptr::{Gc, GcSlice};

/// Where a [`Tracer`] sends what it finds. Implemented by the collector's
/// marker (and by the heap's barrier helpers).
pub trait TraceSink {
    /// A precise edge: `base` is the base address (header word) of a live
    /// managed object.
    fn edge(&mut self, base: usize);
    /// A word of a conservatively scanned object: maybe a pointer into the
    /// heap (interior or not), maybe not. Resolve with
    /// [`crate::heap::Heap::find_object`].
    fn candidate(&mut self, word: usize) {
        let _ = word;
    }
}

/// A closure is a sink for precise edges (conservative candidates are dropped).
impl<F: FnMut(usize)> TraceSink for F {
    fn edge(&mut self, base: usize) {
        self(base)
    }
}

enum Mode<'a> {
    Sink(&'a mut dyn TraceSink),
    /// Edges straight to a function (the collector's scan loop): one
    /// indirect call per edge instead of two.
    Edges(&'a mut dyn FnMut(usize)),
    /// Keep the (single) edge of a value of at most one word, for the
    /// write barrier of `GcCell::set` / `GcSlice::set`.
    Capture(usize),
}

/// What [`Trace::trace`] reports pointers to.
pub struct Tracer<'a> {
    mode: Mode<'a>,
}

impl std::fmt::Debug for Tracer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl<'a> Tracer<'a> {
    /// A tracer that forwards edges to `sink`.
    pub fn new(sink: &'a mut dyn TraceSink) -> Tracer<'a> {
        Tracer {
            mode: Mode::Sink(sink),
        }
    }

    /// A tracer that calls `f` with each edge (for the collector's scan
    /// loop, see `Heap::scan_object`).
    pub(crate) fn from_fn(f: &'a mut dyn FnMut(usize)) -> Tracer<'a> {
        Tracer {
            mode: Mode::Edges(f),
        }
    }

    /// Reports one managed object by its base address.
    #[inline]
    pub fn edge(&mut self, base: usize) {
        match &mut self.mode {
            Mode::Edges(f) => f(base),
            Mode::Sink(s) => s.edge(base),
            Mode::Capture(slot) => {
                if *slot != 0 {
                    crate::rt_throw!("runtime: a one-word value reported two managed pointers");
                }
                *slot = base;
            }
        }
    }
}

/// The base of the managed object a one-word value points to (0 for none).
/// `GcCell` and `GcSlice` elements are at most one word, so they hold at
/// most one managed pointer.
#[inline]
pub(crate) fn edge_of<T: Trace>(v: &T) -> usize {
    let mut t = Tracer {
        mode: Mode::Capture(0),
    };
    v.trace(&mut t);
    match t.mode {
        Mode::Capture(b) => b,
        Mode::Sink(_) | Mode::Edges(_) => 0,
    }
}

/// The write barrier of a store of `new` over `old` into managed memory:
/// `write_barrier(old object, new object)`, called before the store.
#[inline]
pub(crate) fn barrier_store<T: Trace>(old: &T, new: &T) {
    if T::NEEDS_TRACE {
        crate::barrier::write_barrier(edge_of(old), edge_of(new));
    }
}

/// A type whose managed pointers the collector can find.
///
/// # Safety
///
/// Implementors promise, as gc-arena's `Collect` rules do:
///
/// 1. `trace` reports every [`Gc`], [`GcSlice`] (and every value holding
///    them) reachable from `self` without going through another managed
///    object, by calling `trace` on it — and nothing else.
/// 2. The type does not need `Drop` (`std::mem::needs_drop` is false):
///    managed objects are freed without running destructors. `Gc::new`
///    checks this at compile time too.
/// 3. Managed pointers inside change only through barrier-aware cells
///    ([`GcCell`], [`GcSlice::set`]); interior mutability that adopts new
///    managed pointers without the barrier (`Cell<Gc<T>>`) must not
///    implement `Trace`.
/// 4. `NEEDS_TRACE` is false only if the type holds no managed pointer:
///    such values are allocated *noscan* and never traced.
///
/// `#[derive(Trace)]` writes a correct impl for structs and enums whose
/// fields are all `Trace`.
pub unsafe trait Trace {
    /// Whether values of this type can hold managed pointers.
    const NEEDS_TRACE: bool = true;

    /// Reports the managed pointers in `self` to `tracer`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Type information of a precise object: kept in its span (small
/// objects) or pointed to by its header word (see the heap essay, "Object
/// layout").
#[derive(Debug)]
pub struct TypeInfo {
    /// Type name for profiles and debugging (`std::any::type_name`).
    pub name: fn() -> &'static str,
    /// Traces the value at the given address (the object base plus the header).
    ///
    /// # Safety
    ///
    /// The address must hold a live value of the type this info describes.
    pub trace: unsafe fn(usize, &mut Tracer<'_>),
}

/// The `TypeInfo` of `T` as a single object.
pub(crate) struct InfoOf<T>(std::marker::PhantomData<T>);

impl<T: Trace> InfoOf<T> {
    pub(crate) const INFO: &'static TypeInfo = &TypeInfo {
        name: std::any::type_name::<T>,
        trace: trace_value::<T>,
    };
}

/// # Safety
///
/// `addr` holds a live `T`.
unsafe fn trace_value<T: Trace>(addr: usize, t: &mut Tracer<'_>) {
    // SAFETY: the caller guarantees a live T at addr.
    let v = unsafe { &*(addr as *const T) };
    v.trace(t);
}

macro_rules! leaf_trace {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: holds no managed pointer and needs no Drop.
        unsafe impl Trace for $t {
            const NEEDS_TRACE: bool = false;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

leaf_trace!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    &'static str,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
    std::time::Duration,
);

// SAFETY: PhantomData holds nothing.
unsafe impl<T: ?Sized> Trace for std::marker::PhantomData<T> {
    const NEEDS_TRACE: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

// SAFETY: traces the contained value when present.
unsafe impl<T: Trace> Trace for Option<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(t);
        }
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if T::NEEDS_TRACE {
            for v in self {
                v.trace(t);
            }
        }
    }
}

macro_rules! tuple_trace {
    ($(($($n:tt $t:ident),+))*) => {$(
        // SAFETY: traces every field.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const NEEDS_TRACE: bool = false $(|| $t::NEEDS_TRACE)+;
            #[inline]
            fn trace(&self, t: &mut Tracer<'_>) {
                $(self.$n.trace(t);)+
            }
        }
    )*};
}

tuple_trace! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
}

// SAFETY: a Gc is one edge, to its object's base.
unsafe impl<T: Trace> Trace for Gc<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        t.edge(self.base());
    }
}

// SAFETY: a GcSlice is one edge, to its object's base.
unsafe impl<T: Trace + Copy> Trace for GcSlice<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if let Some(b) = self.base() {
            t.edge(b);
        }
    }
}

// SAFETY: traces the current value (an atomic load).
unsafe impl<T: Trace + Copy> Trace for GcCell<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if T::NEEDS_TRACE {
            self.get().trace(t);
        }
    }
}
