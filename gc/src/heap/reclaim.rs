//! The object reclaimer: sweeping one span (freeing its unmarked objects),
//! freeing large spans, and the sweep-cycle bookkeeping (`sweepgen`).
//!
//! See [crate::heap] for the overview. The *policy* of sweeping (a
//! background sweeper, proportional sweep, when to finish) is the
//! collector's (`crate::sweep`); this module is the mechanism it calls.

use super::span::{SpanPtr, SpanState, BITMAP_WORDS};
use super::Heap;
use crate::loom::sync::atomic::Ordering;

/// What sweeping one span did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepResult {
    /// Objects freed.
    pub objects_freed: usize,
    /// Bytes freed (object slots × slot size).
    pub bytes_freed: usize,
    /// Pages returned to the page heap (the span held no live object).
    pub pages_freed: usize,
    /// Bytes of the spans swept (their whole size, live or not).
    pub bytes_swept: usize,
}

impl std::ops::AddAssign for SweepResult {
    fn add_assign(&mut self, o: SweepResult) {
        self.objects_freed += o.objects_freed;
        self.bytes_freed += o.bytes_freed;
        self.pages_freed += o.pages_freed;
        self.bytes_swept += o.bytes_swept;
    }
}

/// The byte pattern `clobberfree` writes over freed objects (Go's 0xdeadbeef).
pub const CLOBBER_WORD: u32 = 0xdead_beef;

impl Heap {
    /// The heap's sweep generation (Go's `mheap_.sweepgen`): grows by 2 at
    /// every [`Heap::start_sweep_cycle`]. A span with sweepgen h−2 needs
    /// sweeping, h−1 is being swept, h is swept.
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }

    /// Begins a sweep cycle (Go: the `sweepgen += 2` of `gcSweep`, at mark
    /// termination). Every span becomes unswept; the mark bits set by the
    /// cycle that just ended decide what sweeping frees.
    ///
    /// Call with the world stopped, after allocate-black is turned off, and
    /// only when the previous cycle's sweep is done ([`Heap::sweep_done`]);
    /// a violation throws. It flushes every cache itself (calling
    /// [`Heap::flush_caches`] first is harmless).
    pub fn start_sweep_cycle(&self) {
        // Threads without a P allocate from the shared cache even while the
        // world is stopped; holding its lock keeps them out until every span
        // is on an unswept list with the new generation.
        let shared = self.shared.lock();
        self.flush_slot(&shared);
        for c in self.caches.iter() {
            if let Some(slot) = c.get() {
                self.flush_slot(slot);
            }
        }
        if !self.sweep_done() {
            crate::rt_throw!("runtime: start_sweep_cycle with unswept spans of the last cycle");
        }
        // Release: pairs with the Acquire in `sweepgen()`; sweepers that see
        // the new generation see the lists moved below (they also take the
        // central locks, which order them anyway).
        self.sweepgen.fetch_add(2, Ordering::AcqRel);
        // O(span classes), not O(spans): this runs with the world stopped
        // (mark termination). The unswept lists are empty (the last cycle's
        // sweep is done), so each swaps places with its swept twin.
        let mut n = 0;
        for c in self.central.iter() {
            let mut l = c.lists.lock();
            let l = &mut *l;
            if !l.unswept.is_empty() || !l.unswept_full.is_empty() {
                crate::rt_throw!("runtime: start_sweep_cycle with spans on an unswept list");
            }
            n += l.partial.len() + l.full.len();
            std::mem::swap(&mut l.unswept, &mut l.partial);
            std::mem::swap(&mut l.unswept_full, &mut l.full);
        }
        {
            let mut l = self.large.lock();
            let l = &mut *l;
            if !l.unswept.is_empty() {
                crate::rt_throw!("runtime: start_sweep_cycle with large spans left unswept");
            }
            n += l.inuse.len();
            std::mem::swap(&mut l.unswept, &mut l.inuse);
        }
        self.sweep_cursor.store(0, Ordering::Relaxed);
        self.unswept.fetch_add(n, Ordering::Relaxed);
        if std::ptr::eq(self, super::GLOBAL.get().map_or(std::ptr::null(), |h| h)) {
            super::profile::next_cycle(); // the heap profile's mark termination (O(1))
        }
        drop(shared);
    }

    /// Publishes the heap profile's counts of the cycle whose mark
    /// termination just ran [`Heap::start_sweep_cycle`] (Go's
    /// `mProf_Flush`). Call once the world runs again: it walks every
    /// profile bucket, which has no place in the pause.
    pub fn publish_heap_profile(&self) {
        if std::ptr::eq(self, super::GLOBAL.get().map_or(std::ptr::null(), |h| h)) {
            super::profile::flush_cycle();
        }
    }

    /// Whether every span has been swept in this cycle.
    pub fn sweep_done(&self) -> bool {
        self.unswept.load(Ordering::Acquire) == 0
    }

    /// Sweeps one unswept span (small classes first, then large ones) and
    /// returns what it freed; None when nothing is left to sweep. Safe to
    /// call from any thread, concurrently with mutators and other sweepers
    /// (Go's `sweepone`).
    pub fn sweep_one(&self) -> Option<SweepResult> {
        if self.sweep_done() {
            return None;
        }
        // Unswept lists only shrink during a cycle, so a drained central
        // stays drained: the cursor skips it from then on (Go's
        // `sweepClass`), and a sweep costs O(1) locks, not one per class.
        let n = self.central.len();
        let mut i = self.sweep_cursor.load(Ordering::Relaxed);
        while i < n {
            let s = {
                let mut l = self.central[i].lists.lock();
                l.unswept.pop().or_else(|| l.unswept_full.pop())
            };
            if let Some(s) = s {
                return Some(self.sweep_span(s));
            }
            // Relaxed: the cursor is a hint; the central lock orders the lists.
            let _ =
                self.sweep_cursor
                    .compare_exchange(i, i + 1, Ordering::Relaxed, Ordering::Relaxed);
            i = (i + 1).max(self.sweep_cursor.load(Ordering::Relaxed));
        }
        let s = self.large.lock().unswept.pop();
        s.map(|s| self.sweep_span(s))
    }

    /// Sweeps until every span is swept (Go's `finishsweep_m`); returns the totals.
    pub fn finish_sweep(&self) -> SweepResult {
        let mut total = SweepResult::default();
        while let Some(r) = self.sweep_one() {
            total += r;
        }
        total
    }

    /// Sweeps span `s`, which the caller took off an unswept list and so
    /// owns: frees its unmarked objects, turns the mark bits into the
    /// allocation bits, and puts the span back (central partial/full, the
    /// large list) or returns its pages to the page heap when nothing in it
    /// survived (Go's `mspan.sweep`).
    pub(crate) fn sweep_span(&self, s: SpanPtr) -> SweepResult {
        let span = s.get();
        let h = self.sweepgen.load(Ordering::Acquire);
        // AcqRel: claims the span against any other sweeper (there is none
        // when the lists are used correctly; this is the check).
        if span
            .sweepgen
            .compare_exchange(
                h.wrapping_sub(2),
                h.wrapping_sub(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            crate::rt_throw!(
                "runtime: sweeping span at {:#x} with sweepgen {} (heap {h}), state {}",
                span.start(),
                span.sweepgen.load(Ordering::Relaxed),
                span.state().name()
            );
        }
        let alloc = span.alloc_snapshot();
        let marks = span.mark_snapshot();
        if cfg!(debug_assertions) && span.is_span_scanned() {
            // Page-local marking's invariant at the end of mark: every
            // marked object was claimed and scanned, and no entry is left.
            for (w, m) in marks.iter().enumerate() {
                let s = span.scanned[w].load(Ordering::Relaxed);
                if s != *m {
                    crate::rt_throw!(
                        "runtime: span {:#x} word {w}: marked {m:#x} but scanned {s:#x}",
                        span.start()
                    );
                }
            }
            if span.owned.load(Ordering::Relaxed) != crate::mark::span::UNOWNED {
                crate::rt_throw!("runtime: span {:#x} still owned at sweep", span.start());
            }
        }
        if span.profiled.load(Ordering::Relaxed) {
            super::profile::swept(span, &marks);
        }
        let elem = span.elem_size();
        let mut freed = 0;
        let mut live = 0;
        let clobber = self.clobber_free.load(Ordering::Relaxed);
        for w in 0..BITMAP_WORDS {
            let valid = span.valid_mask(w);
            let dead = alloc[w] & !marks[w] & valid;
            freed += dead.count_ones() as usize;
            live += (marks[w] & valid).count_ones() as usize;
            if clobber && dead != 0 {
                let mut d = dead;
                while d != 0 {
                    let idx = w * 64 + d.trailing_zeros() as usize;
                    d &= d - 1;
                    clobber_object(span.start() + idx * elem, elem);
                }
            }
        }
        // The mark bits become the allocation bits; the slots freed now hold
        // old data, so the span needs zeroing from here on.
        for (w, m) in marks.iter().enumerate() {
            span.alloc_bits[w].store(m & span.valid_mask(w), Ordering::Relaxed);
            span.mark_bits[w].store(0, Ordering::Relaxed);
            span.scanned[w].store(0, Ordering::Relaxed);
        }
        span.free_index.store(0, Ordering::Release);
        span.alloc_count.store(live, Ordering::Relaxed);
        if freed > 0 {
            span.needzero.store(true, Ordering::Relaxed);
        }
        self.frees.fetch_add(freed as u64, Ordering::Relaxed);
        self.freed_bytes
            .fetch_add((freed * elem) as u64, Ordering::Relaxed);
        if freed > 0 {
            self.heap_live_sub((freed * elem) as u64);
        }
        // Release: pairs with the Acquire in `Span::sweepgen`; the bitmaps
        // above are published with "swept".
        span.sweepgen.store(h, Ordering::Release);
        let large = span.state() == SpanState::Large;
        let mut r = SweepResult {
            objects_freed: freed,
            bytes_freed: freed * elem,
            pages_freed: 0,
            bytes_swept: span.npages() * super::PAGE_SIZE,
        };
        if live == 0 && large {
            r.pages_freed = self.free_large(s);
        } else if live == 0 {
            r.pages_freed = span.npages();
            self.pages.free_span(&self.arena, s);
        } else if large {
            self.large.lock().inuse.push(s);
        } else {
            let mut l = self.central[span.spanclass().index()].lists.lock();
            span.set_state(SpanState::InCentral);
            if live == span.nelems() {
                l.full.push(s);
            } else {
                l.partial.push(s);
            }
        }
        // Release: pairs with the Acquire in `sweep_done`; "done" means the
        // span is back on a list (or freed), not just claimed.
        self.unswept.fetch_sub(1, Ordering::Release);
        r
    }
}

impl Heap {
    /// Frees a large-object span (Go's `mheap.freeSpan` for a large
    /// object): clears its page table entries and returns its pages to the
    /// page heap, where they coalesce with free neighbours and count as
    /// dirty (need zeroing) until the scavenger releases them. The caller
    /// owns the span (the sweeper that claimed it and found it unmarked;
    /// its statistics are already counted). Returns the pages freed.
    pub(crate) fn free_large(&self, s: SpanPtr) -> usize {
        let span = s.get();
        if span.state() != SpanState::Large {
            crate::rt_throw!(
                "runtime: free_large of a span in state {} at {:#x}",
                span.state().name(),
                span.start()
            );
        }
        let n = span.npages();
        if n * super::PAGE_SIZE >= super::arena::HUGE_SPAN_BYTES {
            // Back to no huge pages before small spans may reuse the range.
            self.arena
                .advise_huge(self.arena.page_of(span.start()), n, false);
        }
        self.pages.free_span(&self.arena, s);
        n
    }
}

/// Fills a freed object with [`CLOBBER_WORD`] (`GODEBUG=clobberfree=1`).
fn clobber_object(addr: usize, size: usize) {
    let words = size / 4;
    let p = addr as *mut u32;
    for i in 0..words {
        // SAFETY: the object slot [addr, addr+size) lies inside a span that
        // the sweeper owns, and it was just found unreachable; nothing else
        // reads or writes it.
        unsafe { p.add(i).write(CLOBBER_WORD) };
    }
}
