//! `Root<T>`: a handle that keeps a managed object alive from memory the
//! collector does not scan (a `std` collection, a global, a struct owned by
//! Rust code). The collector enumerates every live handle with
//! [`for_each_root`] (Go's `cgo.Handle` table; wasmtime's `ManuallyRooted`).
//!
//! See [crate::heap] for the overview.

use crate::loom::sync::Mutex;
use crate::ptr::Gc;
use crate::trace::Trace;

/// The table of rooted object bases. Lock rank `gc.root_registry` (a leaf).
#[derive(Debug, Default)]
struct Registry {
    /// Object base per slot; 0 marks a free slot.
    bases: Vec<usize>,
    /// Free slot indices.
    free: Vec<usize>,
    /// Live handles.
    live: usize,
}

/// A plain static, not a lazily initialized one: the collector scans it
/// with the world stopped, and a lazy initialization is a lock that a
/// goroutine suspended in the middle of it would hold for the whole stop.
#[cfg(not(all(test, loom)))]
static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    bases: Vec::new(),
    free: Vec::new(),
    live: 0,
});

#[cfg(not(all(test, loom)))]
fn registry() -> &'static Mutex<Registry> {
    &REGISTRY
}

/// loom's `Mutex::new` is not `const`.
#[cfg(all(test, loom))]
fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: std::sync::OnceLock<Mutex<Registry>> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::default()))
}

fn register(base: usize) -> usize {
    let mut r = registry().lock();
    r.live += 1;
    match r.free.pop() {
        Some(i) => {
            r.bases[i] = base;
            i
        }
        None => {
            r.bases.push(base);
            r.bases.len() - 1
        }
    }
}

/// Calls `f` with the base address of every rooted object. The registry
/// lock is held during the walk: `f` must not create or drop a `Root`.
pub fn for_each_root(f: &mut dyn FnMut(usize)) {
    let r = registry().lock();
    for &b in r.bases.iter().filter(|&&b| b != 0) {
        f(b);
    }
}

/// Number of live `Root` handles.
pub fn root_count() -> usize {
    registry().lock().live
}

/// Keeps a `Gc<T>` alive while the handle exists, wherever the handle is
/// stored. Not `Copy`: `clone` registers another handle, `drop` unregisters.
///
/// ```
/// use gort_gc::{Gc, Root};
/// let kept: Vec<Root<i64>> = (0..3).map(|i| Root::new(Gc::new(i))).collect();
/// assert_eq!(*kept[2].get(), 2);
/// ```
pub struct Root<T: Trace> {
    gc: Gc<T>,
    slot: usize,
}

// SAFETY: a Root is a Gc plus a registry index; see Gc's Send/Sync.
unsafe impl<T: Trace + Sync> Send for Root<T> {}
// SAFETY: as above.
unsafe impl<T: Trace + Sync> Sync for Root<T> {}

impl<T: Trace> Root<T> {
    /// Roots `gc`. While marking, the referent is shaded first (an
    /// insertion barrier): the registry is scanned once, at the start of
    /// the cycle, and the value may come from a stack that is scanned
    /// already, or from one that will not be scanned before its owner drops it.
    pub fn new(gc: Gc<T>) -> Root<T> {
        crate::barrier::write_barrier(0, gc.base());
        Root {
            gc,
            slot: register(gc.base()),
        }
    }

    /// The rooted pointer.
    #[inline]
    pub fn get(&self) -> Gc<T> {
        self.gc
    }
}

impl<T: Trace> std::fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root({:#x})", self.gc.base())
    }
}

impl<T: Trace> Clone for Root<T> {
    fn clone(&self) -> Self {
        Root::new(self.gc)
    }
}

impl<T: Trace> Drop for Root<T> {
    fn drop(&mut self) {
        let mut r = registry().lock();
        r.bases[self.slot] = 0;
        r.free.push(self.slot);
        r.live -= 1;
    }
}

impl<T: Trace> std::ops::Deref for Root<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the registered handle keeps the object alive at least as
        // long as `self`, and a managed object is only ever shared.
        unsafe { &*self.gc.as_ptr() }
    }
}
