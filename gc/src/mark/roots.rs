//! Conservative root scanning (≈ Go's `scanConservative`, JSC's
//! `ConservativeRoots::genericAddSpan`). See [crate] for the overview.
//!
//! Each pointer-aligned word of a root range is a candidate. The heap's
//! O(1) lookup rejects words outside the arena, in free pages or in free
//! slots, and maps interior addresses to their object's base, so a word
//! that points anywhere inside a live object keeps it alive. A random
//! integer that happens to land inside an object also keeps it alive: that
//! is the false retention conservative scanning costs (see the essay).

use super::work::GcWork;
use super::ObjectGraph;
use crate::host::{RangeKind, RootVisitor};

const WORD: usize = std::mem::size_of::<usize>();

/// A [`RootVisitor`] that shades every candidate word into a [`GcWork`].
pub(crate) struct ConservativeRoots<'w, 'a, G: ObjectGraph + ?Sized> {
    pub(crate) gcw: &'w mut GcWork<'a, G>,
    /// Bytes of stack ranges visited (gctrace "MB stacks").
    pub(crate) stack_bytes: u64,
    /// Bytes of runtime-held and global ranges visited.
    pub(crate) other_bytes: u64,
    /// Candidate words that hit an object and marked it.
    pub(crate) hits: u64,
}

impl<'w, 'a, G: ObjectGraph + ?Sized> ConservativeRoots<'w, 'a, G> {
    pub(crate) fn new(gcw: &'w mut GcWork<'a, G>) -> Self {
        ConservativeRoots {
            gcw,
            stack_bytes: 0,
            other_bytes: 0,
            hits: 0,
        }
    }
}

impl<G: ObjectGraph + ?Sized> RootVisitor for ConservativeRoots<'_, '_, G> {
    fn visit_range(&mut self, kind: RangeKind, start: usize, end: usize) {
        let start = (start + WORD - 1) & !(WORD - 1);
        let end = end & !(WORD - 1);
        if end <= start {
            return;
        }
        match kind {
            RangeKind::Stack => self.stack_bytes += (end - start) as u64,
            _ => self.other_bytes += (end - start) as u64,
        }
        let mut p = start;
        while p < end {
            // SAFETY: the host guarantees [start, end) is readable and stable
            // for the length of this call (`RootVisitor::visit_range`); `p` is
            // word-aligned inside it. Volatile: the words may be stack slots the
            // compiler knows nothing about; we read them as plain integers.
            let w = unsafe { std::ptr::read_volatile(p as *const usize) };
            if w != 0 && self.gcw.shade(w) {
                self.hits += 1;
            }
            p += WORD;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mark::test_graph::TestGraph;
    use crate::mark::work::WorkQueues;

    #[test]
    fn interior_and_exact_words_are_roots_and_others_are_not() {
        let g = TestGraph::new(16);
        let q = WorkQueues::new(1);
        let words: [usize; 6] = [
            g.addr(3),      // exact
            g.addr(5) + 31, // last byte of object 5
            g.addr(16),     // one past the end of the heap: not an object
            12345,          // small integer
            0,              // null
            g.addr(3) + 8,  // second hit on the same object
        ];
        let mut gcw = GcWork::new(&q, &g);
        let mut v = ConservativeRoots::new(&mut gcw);
        let r = words.as_ptr_range();
        // Misaligned bounds are rounded inwards.
        v.visit_range(RangeKind::Stack, r.start as usize, r.end as usize + 3);
        assert_eq!(v.hits, 2);
        assert_eq!(v.stack_bytes, 48);
        gcw.drain(None);
        gcw.dispose();
        assert_eq!(g.marked(), 2);
        assert!(q.is_done());
    }
}
