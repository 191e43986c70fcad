//! Loom models of the heap's lock-free protocols (run by CI with
//! `--cfg loom`, filter `loom_`):
//!
//! * a mark bit has exactly one winner ([`Span::try_mark`]);
//! * a span has exactly one sweeper (the sweepgen claim CAS);
//! * a lookup that sees a slot allocated (Acquire load of `free_index`)
//!   sees what the allocator wrote before publishing it (Release store) —
//!   the same Release/Acquire pair publishes a span through the page table;
//! * likewise for a span's uniform type word (`Span::uniform`);
//! * a lookup that sees a span mixed sees its type table
//!   (`CachedSpan::note_type`).

use super::span::{Span, UNIFORM_MIXED};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use crate::loom::thread;

#[test]
fn loom_try_mark_has_one_winner() {
    loom::model(|| {
        let s = Arc::new(Span::new_dead());
        let s2 = s.clone();
        let t = thread::spawn(move || s2.try_mark(70));
        let mine = s.try_mark(70);
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "exactly one marker turns the object black");
        assert!(s.is_marked(70));
        assert!(
            !s.is_marked(6),
            "a neighbouring bit of the same word stays clear"
        );
    });
}

#[test]
fn loom_sweep_claim_has_one_owner() {
    loom::model(|| {
        let s = Arc::new(Span::new_dead());
        let h = 4u32;
        s.sweepgen.store(h - 2, Ordering::Relaxed);
        let claim = move |s: &Span| {
            s.sweepgen
                .compare_exchange(h - 2, h - 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        let s2 = s.clone();
        let t = thread::spawn(move || claim(&s2));
        let mine = claim(&s);
        assert!(mine ^ t.join().unwrap());
    });
}

#[test]
fn loom_free_index_publishes_the_slot() {
    loom::model(|| {
        let s = Arc::new(Span::new_dead());
        s.nelems.store(4, Ordering::Relaxed);
        // Stands for what the allocation path writes before publishing a
        // slot: its zeroing and its type word (type table entry or header).
        let header = Arc::new(AtomicUsize::new(0));
        let (s2, h2) = (s.clone(), header.clone());
        let alloc = thread::spawn(move || {
            h2.store(0xbeef, Ordering::Relaxed);
            // The cache's fast path: Release store of the new free_index.
            s2.free_index.store(1, Ordering::Release);
        });
        if s.is_allocated(0) {
            assert_eq!(header.load(Ordering::Relaxed), 0xbeef);
        }
        alloc.join().unwrap();
        assert!(s.is_allocated(0) && !s.is_allocated(1));
    });
}

#[test]
fn loom_uniform_type_is_published_with_the_slot() {
    // The allocating P records a new span's first type in `Span::uniform`
    // (Relaxed) before its Release store of `free_index`; a lookup that sees
    // the slot allocated (Acquire) must read that type, never "none yet".
    loom::model(|| {
        let s = Arc::new(Span::new_dead());
        s.nelems.store(4, Ordering::Relaxed);
        let s2 = s.clone();
        let alloc = thread::spawn(move || {
            s2.uniform.store(0x1234, Ordering::Relaxed);
            s2.free_index.store(1, Ordering::Release);
        });
        if s.is_allocated(0) {
            assert_eq!(s.uniform.load(Ordering::Relaxed), 0x1234);
        }
        alloc.join().unwrap();
    });
}

#[test]
fn loom_span_turns_mixed() {
    // Slot 0 holds a type-A object (the span uniform in A); the allocating
    // P takes slot 1 for type B: fills a table, publishes it (Release),
    // says "mixed" (Release), publishes slot 1 (Release). A lookup of
    // either slot must find its type: uniform A, or mixed with the table
    // in place — never mixed without a table, never slot 1 under A.
    loom::model(|| {
        let s = Arc::new(Span::new_dead());
        s.nelems.store(4, Ordering::Relaxed);
        s.uniform.store(0xa, Ordering::Relaxed);
        s.free_index.store(1, Ordering::Relaxed);
        let s2 = s.clone();
        let alloc = thread::spawn(move || {
            s2.table.store(0x7000, Ordering::Release);
            s2.uniform.store(UNIFORM_MIXED, Ordering::Release);
            s2.free_index.store(2, Ordering::Release);
        });
        let one = s.is_allocated(1);
        // The loads of `Span::type_of`.
        let u = s.uniform.load(Ordering::Acquire);
        if u == UNIFORM_MIXED {
            assert_eq!(s.table.load(Ordering::Relaxed), 0x7000);
        } else {
            assert_eq!(u, 0xa);
            assert!(!one, "slot 1 looked up under the old uniform type");
        }
        alloc.join().unwrap();
    });
}
