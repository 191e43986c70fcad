//! Runtime-held ranges of user values (channel buffers), reported to the
//! collector as conservative roots.
//!
//! See [crate::stw::for_each_runtime_range]. A channel registers its buffer
//! when it is created and unregisters it when dropped. The registry is a
//! slab under one lock (a leaf).

use crate::loom::sync::Mutex;

#[derive(Debug)]
struct Slab {
    ranges: Vec<(usize, usize)>,
    free: Vec<usize>,
}

static REGISTRY: Mutex<Slab> = Mutex::new(Slab {
    ranges: Vec::new(),
    free: Vec::new(),
});

/// Registers `[start, end)`; returns the slot to pass to [`unregister`].
pub(crate) fn register(start: usize, end: usize) -> usize {
    let mut r = REGISTRY.lock();
    if let Some(i) = r.free.pop() {
        r.ranges[i] = (start, end);
        i
    } else {
        r.ranges.push((start, end));
        r.ranges.len() - 1
    }
}

/// Forgets slot `i`.
pub(crate) fn unregister(i: usize) {
    let mut r = REGISTRY.lock();
    r.ranges[i] = (0, 0);
    r.free.push(i);
}

/// Visits every registered range.
pub(crate) fn for_each(f: &mut dyn FnMut(usize, usize)) {
    // The lock stays held while `f` runs: a channel dropped meanwhile (by a
    // thread outside the stopped world) must not free a buffer being read.
    let r = REGISTRY.lock();
    for &(a, b) in &r.ranges {
        if b > a {
            f(a, b);
        }
    }
}
