//! The write barrier: the hook every store of a managed pointer into a
//! managed object goes through (≈ Go's `mbarrier.go` and `mwbbuf.go`).
//! See [crate] for the overview; its `# Write barrier` section says why the
//! barrier is what it is.
//!
//! # What it does
//!
//! While marking, a store `*slot = new` into a managed object first
//! **shades the overwritten value and the new value** (Go's hybrid barrier,
//! Yuasa deletion + Dijkstra insertion, applied unconditionally):
//!
//! ```text
//! write_barrier(old = *slot, new):
//!     if marking: shade(old); shade(new)
//!     *slot = new            // the caller stores after the barrier returns
//! ```
//!
//! When not marking it costs **one relaxed load** of a `static` flag
//! (`ENABLED`, no pointer chase to the collector first) and a predictable
//! branch. The load can be relaxed because the flag only
//! changes with the world stopped: stopping and restarting the world
//! synchronizes every P with the thread that flipped it.
//!
//! # Per-P buffers
//!
//! Shading means a heap lookup and an atomic mark-bit update, too much to do
//! inline on every store. So the barrier only appends `old` and `new` to a
//! buffer of the current P (Go's `wbBuf`, 512 entries); a full buffer is
//! flushed by its P — each entry shaded into the grey queues — and the
//! remaining entries of every P are flushed at mark termination with the
//! world stopped. Between two safepoints only one thread uses a P (the
//! host's promise), so a buffer needs no lock; a thread with no P shades
//! directly.

use crate::loom::cell::UnsafeCell;
#[cfg(not(all(test, loom)))]
use crate::loom::sync::atomic::AtomicBool;
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::mark::work::{GcWork, WorkQueues};
use crate::mark::ObjectGraph;

/// Entries per P buffer (Go's `wbBufEntries`); 4 under loom so a model
/// reaches the full-buffer flush in a few steps.
#[cfg(not(all(test, loom)))]
pub(crate) const WB_BUF_ENTRIES: usize = 512;
#[cfg(all(test, loom))]
pub(crate) const WB_BUF_ENTRIES: usize = 4;

/// One P's buffer of addresses to shade.
#[derive(Debug, Default)]
pub(crate) struct WbBuf {
    /// Owned by the thread running on this P between two safepoints, and by
    /// the stopper of the world while it is stopped. No lock.
    entries: UnsafeCell<Vec<usize>>,
}

// SAFETY: a WbBuf is only touched by the thread that owns its P (the host
// guarantees one thread per P between safepoints) or by the thread that
// stopped the world; both hand-offs go through the host's stop/start
// synchronization, so there is never concurrent access.
unsafe impl Sync for WbBuf {}

/// Is the barrier on? Process-wide, as there is one collector per process
/// ([`crate::collector::install`]). Written only with the world stopped
/// (sweep termination turns it on, mark termination off, through
/// [`BarrierState::set_enabled`]); read Relaxed by every store (see the
/// module doc).
#[cfg(not(all(test, loom)))]
static ENABLED: AtomicBool = AtomicBool::new(false);
// Under loom the facade's atomics cannot live in a `static` (loom makes
// them inside a model); no model stores through `write_barrier`, so a
// plain flag stands in for the same API.
#[cfg(all(test, loom))]
#[allow(clippy::disallowed_types)]
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The per-P buffers (and the switch, through [`BarrierState::set_enabled`]).
#[derive(Debug)]
pub(crate) struct BarrierState {
    /// One buffer per P id (`0..256`).
    bufs: Box<[WbBuf]>,
    /// Buffers whose entries were allocated (a P's first barrier): each
    /// holds [`WB_BUF_ENTRIES`] words from then on. Atomic counter.
    reserved: AtomicUsize,
}

impl BarrierState {
    /// A barrier (off) with buffers for `procs` Ps.
    pub(crate) fn new(procs: usize) -> BarrierState {
        BarrierState {
            bufs: (0..procs).map(|_| WbBuf::default()).collect(),
            reserved: AtomicUsize::new(0),
        }
    }

    /// Turn the process-wide barrier on or off. Only the installed
    /// collector calls it, with the world stopped (`_w`): restarting the
    /// world orders the store before every P's next barrier, hence Relaxed.
    pub(crate) fn set_enabled(&self, _w: &crate::host::WorldStopped, on: bool) {
        ENABLED.store(on, Relaxed);
    }

    /// Record `old` and `new` in P `p`'s buffer; flush it when full.
    ///
    /// # Safety
    ///
    /// The caller must be the thread that owns P `p` right now (between two
    /// of its safepoints), or hold the world stopped.
    pub(crate) unsafe fn enqueue<G: ObjectGraph + ?Sized>(
        &self,
        p: usize,
        old: usize,
        new: usize,
        q: &WorkQueues,
        g: &G,
    ) {
        let buf = &self.bufs[p];
        let full = buf.entries.with_mut(|v| {
            // SAFETY: exclusive access per this function's contract.
            let v = unsafe { &mut *v };
            if v.capacity() == 0 {
                v.reserve_exact(WB_BUF_ENTRIES);
                self.reserved.fetch_add(1, Relaxed);
            }
            if old != 0 {
                v.push(old);
            }
            if new != 0 {
                v.push(new);
            }
            v.len() + 2 > WB_BUF_ENTRIES
        });
        if full {
            // SAFETY: same contract as ours.
            unsafe { self.flush(p, q, g) };
        }
    }

    /// Shade every entry of P `p`'s buffer and empty it (Go's `wbBufFlush`).
    /// Returns the number of objects it turned grey or black.
    ///
    /// # Safety
    ///
    /// As for [`BarrierState::enqueue`].
    pub(crate) unsafe fn flush<G: ObjectGraph + ?Sized>(
        &self,
        p: usize,
        q: &WorkQueues,
        g: &G,
    ) -> usize {
        let entries = self.bufs[p].entries.with_mut(|v| {
            // SAFETY: exclusive access per this function's contract.
            let v = unsafe { &mut *v };
            std::mem::take(v)
        });
        let mut gcw = GcWork::new(q, g);
        let mut shaded = 0;
        for &e in &entries {
            if gcw.shade(e) {
                shaded += 1;
            }
        }
        gcw.dispose();
        // Keep the allocation for the next round.
        let mut entries = entries;
        entries.clear();
        self.bufs[p].entries.with_mut(|v| {
            // SAFETY: exclusive access per this function's contract.
            unsafe { *v = entries };
        });
        shaded
    }

    /// Flush every P's buffer. Returns the number of objects shaded.
    pub(crate) fn flush_all<G: ObjectGraph + ?Sized>(
        &self,
        _w: &crate::host::WorldStopped,
        q: &WorkQueues,
        g: &G,
    ) -> usize {
        let mut n = 0;
        for p in 0..self.bufs.len() {
            // SAFETY: the world is stopped (`_w`), so no P runs.
            n += unsafe { self.flush(p, q, g) };
        }
        n
    }

    /// Bytes of the per-P buffers: the table and every buffer a P has
    /// filled (MemStats `GCSys`).
    pub(crate) fn footprint(&self) -> u64 {
        let table = self.bufs.len() * std::mem::size_of::<WbBuf>();
        let entries = self.reserved.load(Relaxed) * WB_BUF_ENTRIES * std::mem::size_of::<usize>();
        (table + entries) as u64
    }

    /// Number of Ps with buffers.
    pub(crate) fn procs(&self) -> usize {
        self.bufs.len()
    }
}

/// Called by `GcCell::set` / `GcSlice::set` (and every other store of a
/// managed pointer into managed memory) *before* the store, with the
/// address of the object being overwritten and of the one being stored
/// (0 for none). One relaxed load when no cycle is marking.
#[inline]
pub fn write_barrier(old: usize, new: usize) {
    if ENABLED.load(Relaxed) {
        write_barrier_slow(old, new);
    }
}

#[cold]
#[inline(never)]
fn write_barrier_slow(old: usize, new: usize) {
    // Only an installed collector turns the flag on.
    if let Some(c) = crate::collector::try_global() {
        c.barrier_slow(old, new);
    }
}

/// The copy barrier: called by the host *before* it copies the bytes
/// `[start, end)` of a value from one goroutine's stack to another's, or
/// from a stack into memory the collector already scanned (a channel
/// buffer), while stacks are scanned concurrently. Shades every word that
/// points into an allocated object, so a pointer moved out of a stack that
/// is not scanned yet into one that is (or will not be rescanned) is never
/// lost (see the crate essay, "Concurrent stack scanning"). One relaxed
/// load when no cycle is marking.
#[inline]
pub fn copy_barrier(start: usize, end: usize) {
    if ENABLED.load(Relaxed) {
        copy_barrier_slow(start, end);
    }
}

#[cold]
#[inline(never)]
fn copy_barrier_slow(start: usize, end: usize) {
    if let Some(c) = crate::collector::try_global() {
        c.shade_range(start, end);
    }
}

/// Shade, through `gcw`, every word of `[start, end)` (bounds rounded
/// inwards to words) that points into an allocated object.
pub(crate) fn shade_words<G: ObjectGraph + ?Sized>(
    gcw: &mut GcWork<'_, G>,
    start: usize,
    end: usize,
) {
    const WORD: usize = std::mem::size_of::<usize>();
    let mut p = (start + WORD - 1) & !(WORD - 1);
    let end = end & !(WORD - 1);
    while p < end {
        // SAFETY: the caller (`copy_barrier`'s contract) passes the bytes of
        // a live value it is about to copy: readable for the call. Volatile:
        // read as a plain integer, whatever its type.
        let w = unsafe { std::ptr::read_volatile(p as *const usize) };
        shade_copied(gcw, w);
        p += WORD;
    }
}

/// The copy barrier for one word of a copied value (the part the loom model
/// `loom_copy_barrier` drives): shade it if it points into an object.
#[inline]
pub(crate) fn shade_copied<G: ObjectGraph + ?Sized>(gcw: &mut GcWork<'_, G>, word: usize) {
    if word != 0 {
        gcw.shade(word);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mark::test_graph::TestGraph;

    /// The hybrid barrier's classic case: the mutator moves the only
    /// pointer to a white object from a not-yet-scanned object into an
    /// already-scanned (black) one. Shading old and new keeps it alive.
    #[test]
    fn moved_pointer_is_shaded_through_the_buffer() {
        // 0 (root, black) ; 1 (grey, holds 2) ; 2 (white)
        let g = TestGraph::new(3);
        g.link(1, 0, Some(2));
        let q = WorkQueues::new(1);
        let b = BarrierState::new(2);
        let mut w = GcWork::new(&q, &g);
        w.shade(g.addr(0));
        // scan 0 (it has no fields yet): black
        w.drain(None);
        w.shade(g.addr(1));
        // mutator: obj0.f = obj1.f (barrier: old 0, new 2); obj1.f = null (old 2, new 0)
        // SAFETY: single-threaded test; this thread plays P 1.
        unsafe {
            b.enqueue(1, 0, g.addr(2), &q, &g);
            g.link(0, 0, Some(2));
            b.enqueue(1, g.addr(2), 0, &q, &g);
            g.link(1, 0, None);
        }
        w.drain(None);
        w.dispose();
        // Not yet flushed: 2 is still white although reachable.
        assert_eq!(g.marked(), 2);
        // SAFETY: single-threaded test.
        let shaded = unsafe { b.flush(1, &q, &g) };
        assert_eq!(shaded, 1);
        assert_eq!(g.marked(), 3);
    }

    #[test]
    fn full_buffer_flushes_itself() {
        let g = TestGraph::new(WB_BUF_ENTRIES + 8);
        let q = WorkQueues::new(1);
        let b = BarrierState::new(1);
        for i in 0..WB_BUF_ENTRIES / 2 {
            // SAFETY: single-threaded test.
            unsafe { b.enqueue(0, g.addr(2 * i), g.addr(2 * i + 1), &q, &g) };
        }
        // The last enqueue filled the buffer: everything is shaded already.
        assert_eq!(g.marked(), WB_BUF_ENTRIES);
        let mut w = GcWork::new(&q, &g);
        w.drain(None);
        w.dispose();
        assert!(q.is_done());
    }
}
