//! Unit tests of the allocator on private heaps.
//!
//! Under Miri (the pure-logic and small-heap tests; the heap reaches
//! objects by address, so Miri runs with permissive provenance and warns
//! about integer-to-pointer casts):
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-heap-miri \
//!   cargo +nightly miri test -p gort-gc --lib -- \
//!   heap::size_class heap::span heap::types heap::tests::alloc_returns heap::tests::free_slots \
//!   heap::tests::allocate_black heap::tests::clobberfree heap::tests::lazy_sweep \
//!   heap::tests::precise_objects heap::tests::page_heap heap::tests::hook_batching
//! ```
//!
//! (15 tests, ~16 min on the loaded 2-core machine, 2026-11-26. Miri's
//! isolation stays on: under Miri the heap profiler's sampler seeds its
//! random countdown without the clock.)

use super::page_heap::PageHeapInner;
use super::size_class::{class_objects, class_size, NUM_SIZE_CLASSES};
use super::*;

fn small_heap() -> Heap {
    Heap::new(HeapConfig {
        // Miri materialises mappings, so it gets a small arena (tests that
        // need more are not run under Miri).
        arena_bytes: if cfg!(miri) { 8 << 20 } else { 512 << 20 },
    })
    .unwrap()
}

/// One GC cycle's worth of heap calls, as the collector makes them.
fn cycle(h: &Heap) -> SweepResult {
    h.flush_caches();
    h.start_sweep_cycle();
    h.finish_sweep()
}

fn check_identities(h: &Heap) -> HeapStats {
    let s = h.stats();
    assert_eq!(s.heap_idle + s.heap_inuse, s.heap_sys, "{s:?}");
    assert_eq!(s.mallocs - s.frees, s.heap_objects, "{s:?}");
    assert!(s.heap_released <= s.heap_idle, "{s:?}");
    assert!(s.heap_alloc <= s.heap_inuse, "{s:?}");
    assert!(s.heap_alloc <= s.total_alloc, "{s:?}");
    h.pages.inner.lock().check_invariants();
    s
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn alloc_returns_distinct_slots_of_the_size_class() {
    let h = small_heap();
    let a = h.alloc_on(Some(0), 16, ObjectKind::Noscan);
    let b = h.alloc_on(Some(0), 16, ObjectKind::Noscan);
    assert_eq!(b as usize - a as usize, 16);
    let c = h.alloc_on(Some(0), 17, ObjectKind::Noscan);
    let o = h.find_object(c as usize + 5).unwrap();
    assert_eq!((o.base, o.size), (c as usize, 24));
    let s = check_identities(&h);
    assert_eq!((s.mallocs, s.total_alloc), (3, 56));
}

#[test]
fn every_size_class_and_kind_is_allocated_and_swept() {
    let h = small_heap();
    for class in 1..NUM_SIZE_CLASSES {
        for kind in ObjectKind::ALL {
            let size = class_size(class);
            // Two full spans and part of a third.
            let n = class_objects(class) * 2 + 1;
            let objs: Vec<usize> = (0..n)
                .map(|_| h.alloc_on(Some(1), size, kind) as usize)
                .collect();
            let mut sorted = objs.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), n, "class {class}: duplicate slots");
            for &o in &objs {
                let r = h.find_object(o).unwrap();
                assert_eq!((r.base, r.size, r.kind), (o, size, kind), "class {class}");
            }
            // Keep every third object.
            for &o in objs.iter().step_by(3) {
                assert_eq!(h.try_mark(o + size / 2), Some(true));
                assert_eq!(h.try_mark(o), Some(false), "second mark must lose");
            }
            let kept = n.div_ceil(3);
            let before = h.stats();
            let r = cycle(&h);
            assert_eq!(r.objects_freed, n - kept, "class {class} {kind:?}");
            assert_eq!(r.bytes_freed, (n - kept) * size);
            let after = check_identities(&h);
            assert_eq!(after.frees - before.frees, (n - kept) as u64);
            for (i, &o) in objs.iter().enumerate() {
                let found = h.find_object(o);
                assert_eq!(found.is_some(), i % 3 == 0, "class {class} object {i}");
                if let Some(f) = found {
                    assert!(!f.is_marked(), "sweep must clear mark bits");
                }
            }
            // Nothing marked: the next cycle frees the rest and every span.
            let r = cycle(&h);
            assert_eq!(r.objects_freed, kept, "class {class}");
            let s = check_identities(&h);
            assert_eq!(
                s.heap_inuse, 0,
                "class {class} {kind:?}: spans not returned"
            );
            assert_eq!(s.heap_objects, 0);
            assert_eq!(s.heap_alloc, 0);
        }
    }
    // Every page came back and coalesced into one free run.
    assert_eq!(h.pages.inner.lock().free.len(), 1);
}

#[test]
fn large_objects_get_their_own_span_and_are_swept() {
    let h = small_heap();
    let sizes = [32769, 65536, 100_000, 1 << 20];
    let objs: Vec<usize> = sizes
        .iter()
        .map(|&s| h.alloc_on(None, s, ObjectKind::Noscan) as usize)
        .collect();
    for (&o, &s) in objs.iter().zip(&sizes) {
        assert_eq!(o % PAGE_SIZE, 0);
        let r = h.find_object(o + s - 1).unwrap();
        assert_eq!((r.base, r.size), (o, s.div_ceil(PAGE_SIZE) * PAGE_SIZE));
        assert_eq!(r.span.state(), SpanState::Large);
    }
    h.try_mark(objs[1] + 100).unwrap();
    let r = cycle(&h);
    assert_eq!(r.objects_freed, 3);
    let pages: usize = [32769usize, 100_000, 1 << 20]
        .iter()
        .map(|s| s.div_ceil(PAGE_SIZE))
        .sum();
    assert_eq!(r.pages_freed, pages);
    assert!(h.find_object(objs[0]).is_none());
    assert!(h.find_object(objs[1]).is_some());
    let s = check_identities(&h);
    assert_eq!(s.heap_inuse, 8 * PAGE_SIZE as u64);
}

#[test]
fn page_heap_coalesces_free_runs() {
    // A small arena of its own (no Heap), so this also runs under Miri.
    let arena = super::arena::Arena::reserve(4 << 20).unwrap();
    let a = &arena;
    let heap = super::page_heap::PageHeap::new(arena.npages);
    let mut ph = heap.inner.lock();
    let ph: &mut PageHeapInner = &mut ph;
    let (x, _) = ph.alloc_pages(a, 3, None);
    let (y, _) = ph.alloc_pages(a, 5, None);
    let (z, _) = ph.alloc_pages(a, 2, None);
    assert_eq!((y, z), (x + 3, x + 8), "first fit by address");
    let runs = |ph: &PageHeapInner| ph.free.iter().map(|(&p, &n)| (p, n)).collect::<Vec<_>>();
    let grown = ph.grown;
    assert_eq!(runs(ph), vec![(10, grown - 10)]);
    ph.free_pages(y, 5);
    assert_eq!(runs(ph), vec![(3, 5), (10, grown - 10)]);
    ph.free_pages(x, 3);
    assert_eq!(
        runs(ph),
        vec![(0, 8), (10, grown - 10)],
        "merged with the right neighbour"
    );
    ph.check_invariants();
    ph.free_pages(z, 2);
    assert_eq!(runs(ph), vec![(0, grown)], "merged with both neighbours");
    ph.check_invariants();
    // A request bigger than any run grows the heap, merging with the tail.
    let (w, _) = ph.alloc_pages(a, grown + 7, None);
    assert_eq!(w, 0);
    assert!(ph.grown >= grown + 7);
    ph.check_invariants();
}

#[test]
fn address_lookup_is_exact_over_whole_spans() {
    let h = small_heap();
    for (class, kind) in (1..NUM_SIZE_CLASSES)
        .flat_map(|c| [(c, ObjectKind::Conservative), (c, ObjectKind::Precise)])
    {
        let size = class_size(class);
        // Every kind fills the class's slots: a precise span keeps its
        // types out of its pages (these untyped allocations even make it
        // mixed, with a table).
        let n = class_objects(class);
        // A fresh P per class and kind so the span starts empty; fill it exactly.
        let p = Some(2 * class + kind as usize);
        let first = h.alloc_on(p, size, kind) as usize;
        for _ in 1..n {
            h.alloc_on(p, size, kind);
        }
        assert_eq!(h.find_object(first).unwrap().span.nelems(), n);
        let span = h.find_object(first).unwrap().span;
        let start = span.start();
        assert_eq!(
            first, start,
            "class {class}: fresh span hands out slot 0 first"
        );
        let end = start + span.npages() * PAGE_SIZE;
        // Free the slot in the middle of the span to check free slots too.
        for addr in start.saturating_sub(64)..end + 64 {
            let got = h.find_object(addr).map(|o| o.base);
            let want = if addr < start || addr >= end {
                // Neighbouring pages: either free or another span.
                match h.arena.span_of(addr) {
                    s if s.is_null() => None,
                    _ => got,
                }
            } else if addr < start + n * size {
                Some(start + (addr - start) / size * size)
            } else {
                None // tail waste
            };
            assert_eq!(
                got,
                want,
                "class {class} addr {:#x} (offset {})",
                addr,
                addr as isize - start as isize
            );
        }
        // One past the end of the last object is in the tail or the next span: never the last object.
        let last = start + (n - 1) * size;
        assert_ne!(h.find_object(last + size).map(|o| o.base), Some(last));
    }
}

#[test]
fn free_slots_are_not_objects() {
    let h = small_heap();
    let objs: Vec<usize> = (0..10)
        .map(|_| h.alloc_on(Some(0), 64, ObjectKind::Noscan) as usize)
        .collect();
    for &o in objs.iter().step_by(2) {
        h.try_mark(o);
    }
    cycle(&h);
    for (i, &o) in objs.iter().enumerate() {
        assert_eq!(h.find_object(o + 8).is_some(), i % 2 == 0, "object {i}");
    }
    // Slots past the last allocation were never allocated.
    assert!(h.find_object(objs[9] + 64).is_none());
}

#[test]
fn objects_are_zeroed_on_reuse() {
    let h = small_heap();
    for &size in &[8usize, 48, 1024, 32768, 40000, 3 << 20] {
        let objs: Vec<*mut u8> = (0..20)
            .map(|_| h.alloc_on(Some(0), size, ObjectKind::Noscan))
            .collect();
        for &o in &objs {
            // SAFETY: o is a fresh slot of at least `size` bytes.
            let s = unsafe { std::slice::from_raw_parts_mut(o, size) };
            assert!(s.iter().all(|&b| b == 0), "fresh object not zero");
            s.fill(0xa5);
        }
        cycle(&h); // frees all (nothing marked)
        let again: Vec<*mut u8> = (0..20)
            .map(|_| h.alloc_on(Some(0), size, ObjectKind::Noscan))
            .collect();
        let reused = again.iter().filter(|p| objs.contains(p)).count();
        assert!(
            reused > 0,
            "size {size}: no slot was reused, the test proves nothing"
        );
        for &o in &again {
            // SAFETY: as above.
            let s = unsafe { std::slice::from_raw_parts(o, size) };
            assert!(
                s.iter().all(|&b| b == 0),
                "size {size}: reused object not zeroed"
            );
        }
        cycle(&h);
    }
    // Partly live spans: the survivors' neighbours are reused, and come
    // back zero (the refill clears a span's free slots run by run).
    for &size in &[16usize, 48, 1024] {
        let objs: Vec<usize> = (0..300)
            .map(|_| h.alloc_on(Some(1), size, ObjectKind::Noscan) as usize)
            .collect();
        for &o in &objs {
            // SAFETY: o is a fresh slot of `size` bytes.
            unsafe { std::ptr::write_bytes(o as *mut u8, 0xa5, size) };
        }
        for &o in objs.iter().step_by(3) {
            h.try_mark(o).unwrap();
        }
        h.flush_cache(1);
        cycle(&h);
        let again: Vec<usize> = (0..300)
            .map(|_| h.alloc_on(Some(1), size, ObjectKind::Noscan) as usize)
            .collect();
        assert!(again.iter().filter(|p| objs.contains(p)).count() > 100);
        for &o in &again {
            // SAFETY: a slot of `size` bytes just handed out.
            let s = unsafe { std::slice::from_raw_parts(o as *const u8, size) };
            assert!(
                s.iter().all(|&b| b == 0),
                "size {size}: reused slot at {o:#x} not zeroed"
            );
        }
        for &o in objs.iter().step_by(3) {
            // SAFETY: a survivor (marked above) keeps its contents.
            assert_eq!(unsafe { *(o as *const u8) }, 0xa5, "survivor clobbered");
        }
        cycle(&h);
    }
}

#[test]
fn fresh_and_released_pages_are_not_cleared_by_hand() {
    let h = small_heap();
    let big = 16 << 20;
    let o = h.alloc_on(None, big, ObjectKind::Noscan) as usize;
    let span = h.find_object(o).unwrap().span;
    assert!(!span.needzero.load(Ordering::Relaxed));
    // SAFETY: o is a fresh 16 MiB object.
    unsafe { std::ptr::write_bytes(o as *mut u8, 0x5a, big) };
    cycle(&h);
    // Dirty pages: a reallocation must report them (and clear them).
    {
        let mut dirty = Vec::new();
        let mut ph = h.pages.inner.lock();
        let (p, nz) = ph.alloc_pages(&h.arena, 4, Some(&mut dirty));
        assert!(nz);
        assert_eq!(dirty, vec![(p, 4)]);
        ph.free_pages(p, 4);
    }
    // After free_os_memory the same pages come back zero without clearing.
    let released = h.free_os_memory();
    assert!(released >= big, "released {released}");
    let s = check_identities(&h);
    assert_eq!(s.heap_released, s.heap_idle);
    let mut dirty = Vec::new();
    let mut ph = h.pages.inner.lock();
    let (p, nz) = ph.alloc_pages(&h.arena, big / PAGE_SIZE, Some(&mut dirty));
    assert!(!nz && dirty.is_empty());
    // SAFETY: the pages are in the arena and were just allocated to us.
    let bytes = unsafe { std::slice::from_raw_parts(h.arena.page_addr(p) as *const u8, big) };
    assert!(
        bytes.iter().all(|&b| b == 0),
        "MADV_DONTNEED pages must read as zero"
    );
}

#[test]
fn statistics_identities_hold_under_random_alloc_and_free() {
    let h = small_heap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<(usize, usize)> = Vec::new(); // (base, slot size)
    let (mut mallocs, mut frees, mut total) = (0u64, 0u64, 0u64);
    for round in 0..30 {
        for _ in 0..rng.below(3000) {
            let size = match rng.below(10) {
                0 => 32769 + rng.below(200_000) as usize,
                1..=3 => rng.below(32768) as usize + 1,
                _ => rng.below(256) as usize + 1,
            };
            let kind = ObjectKind::ALL[rng.below(3) as usize];
            let p = [None, Some(0), Some(7)][rng.below(3) as usize];
            let o = h.alloc_on(p, size, kind) as usize;
            let slot = h.find_object(o).unwrap().size;
            assert!(slot >= size);
            mallocs += 1;
            total += slot as u64;
            live.push((o, slot));
        }
        let s = check_identities(&h);
        assert_eq!(
            (s.mallocs, s.total_alloc),
            (mallocs, total),
            "round {round}"
        );
        assert_eq!(s.heap_alloc, live.iter().map(|l| l.1 as u64).sum::<u64>());
        // Keep a random half.
        let mut kept = Vec::new();
        for &(o, sz) in &live {
            if rng.below(2) == 0 {
                h.try_mark(o).unwrap();
                kept.push((o, sz));
            } else {
                frees += 1;
            }
        }
        live = kept;
        cycle(&h);
        let s = check_identities(&h);
        assert_eq!(s.frees, frees, "round {round}");
        assert_eq!(s.heap_objects, live.len() as u64);
        assert_eq!(s.heap_alloc, live.iter().map(|l| l.1 as u64).sum::<u64>());
        assert!(h.heap_live() >= s.heap_alloc);
        if round % 10 == 9 {
            h.free_os_memory();
            let s = check_identities(&h);
            assert_eq!(s.heap_released, s.heap_idle);
        }
    }
}

#[test]
fn allocate_black_objects_survive_the_cycle() {
    let h = small_heap();
    let white = h.alloc_on(Some(0), 32, ObjectKind::Noscan) as usize;
    h.set_allocate_black(true);
    let black = h.alloc_on(Some(0), 32, ObjectKind::Noscan) as usize;
    let big = h.alloc_on(Some(0), 100_000, ObjectKind::Noscan) as usize;
    assert_eq!(h.is_marked(black), Some(true));
    assert_eq!(h.is_marked(big), Some(true));
    assert_eq!(h.is_marked(white), Some(false));
    h.set_allocate_black(false);
    let r = cycle(&h);
    assert_eq!(r.objects_freed, 1);
    assert!(h.find_object(white).is_none());
    assert!(h.find_object(black).is_some() && h.find_object(big).is_some());
}

#[test]
fn clobberfree_poisons_freed_objects() {
    let h = small_heap();
    h.set_clobber_free(true);
    let o = h.alloc_on(Some(0), 64, ObjectKind::Noscan) as usize;
    let keep = h.alloc_on(Some(0), 64, ObjectKind::Noscan) as usize;
    h.try_mark(keep);
    cycle(&h);
    // SAFETY: the slot is still mapped arena memory owned by the heap.
    let words = unsafe { std::slice::from_raw_parts(o as *const u32, 16) };
    assert!(words.iter().all(|&w| w == CLOBBER_WORD));
    // SAFETY: as above.
    let kept = unsafe { std::slice::from_raw_parts(keep as *const u32, 16) };
    assert!(kept.iter().all(|&w| w == 0));
}

#[test]
fn lazy_sweep_on_refill_reuses_swept_spans() {
    let h = small_heap();
    let n = class_objects(size_class::size_to_class(128));
    let objs: Vec<usize> = (0..n)
        .map(|_| h.alloc_on(Some(0), 128, ObjectKind::Noscan) as usize)
        .collect();
    h.try_mark(objs[0]);
    h.flush_caches();
    h.start_sweep_cycle();
    assert!(!h.sweep_done());
    let inuse = h.stats().heap_inuse;
    // The refill sweeps the unswept span instead of growing.
    let o = h.alloc_on(Some(0), 128, ObjectKind::Noscan) as usize;
    assert_eq!(h.stats().heap_inuse, inuse);
    assert!(objs.contains(&o) && o != objs[0]);
    assert!(h.sweep_done());
}

#[test]
fn precise_objects_trace_through_their_type() {
    use crate::trace::{Trace, TraceSink, Tracer, TypeInfo};
    struct Pair(usize, usize);
    // SAFETY: test type whose "pointers" are reported as raw numbers.
    unsafe impl Trace for Pair {
        fn trace(&self, t: &mut Tracer<'_>) {
            t.edge(self.0);
            t.edge(self.1);
        }
    }
    struct Big([usize; 80]);
    // SAFETY: as above (640 bytes: too big to keep its type in the span).
    unsafe impl Trace for Big {
        fn trace(&self, t: &mut Tracer<'_>) {
            t.edge(self.0[0]);
            t.edge(self.0[79]);
        }
    }
    static INFO: &TypeInfo = crate::trace::InfoOf::<Pair>::INFO;
    static BIG: &TypeInfo = crate::trace::InfoOf::<Big>::INFO;
    let h = small_heap();
    // A 16-byte value: no header, its type in the span.
    let o = h.alloc_precise_on(Some(0), 16, INFO) as usize;
    // SAFETY: o is the value area of a fresh 16-byte object.
    unsafe { *(o as *mut Pair) = Pair(0x1111, 0x2222) };
    let mut seen = Vec::new();
    let obj = h.find_object(o + 12).unwrap();
    assert_eq!((obj.base, obj.value(), obj.size), (o, o, 16));
    h.trace_object(&obj, &mut |b: usize| seen.push(b));
    assert_eq!(seen, vec![0x1111, 0x2222]);
    // The collector's scan of a grey object reports the same edges.
    let mut scanned = Vec::new();
    assert_eq!(h.scan_object(o, &mut |b| scanned.push(b)), 16);
    assert_eq!(scanned, seen);
    assert!((obj.type_info().unwrap().name)().ends_with("Pair"));
    // Its neighbour, allocated untyped, has no type (a stale table entry
    // would be a bug): tracing it reports nothing.
    let u = h.alloc_on(Some(0), 16, ObjectKind::Precise) as usize;
    assert_eq!(u, o + 16);
    let un = h.find_object(u).unwrap();
    assert!(un.type_info().is_none());
    h.trace_object(&un, &mut |_: usize| panic!("untyped object traced"));
    // The untyped neighbour made the span mixed: types come from the table.
    assert_eq!(
        obj.span.uniform.load(Ordering::Relaxed),
        super::span::UNIFORM_MIXED
    );
    assert!((h.find_object(o).unwrap().type_info().unwrap().name)().ends_with("Pair"));
    // A fresh span of one type keeps it in the span structure (uniform)
    // until a second type arrives; every object's type stays right.
    static TRIPLE: &TypeInfo = crate::trace::InfoOf::<(Pair, u8)>::INFO;
    let t1 = h.alloc_precise_on(Some(1), 16, INFO) as usize;
    let t2 = h.alloc_precise_on(Some(1), 16, INFO) as usize;
    let span = h.find_object(t1).unwrap().span;
    assert_eq!(
        span.uniform.load(Ordering::Relaxed),
        u64::from(super::types::encode(INFO))
    );
    let t3 = h.alloc_precise_on(Some(1), 16, TRIPLE) as usize;
    assert_eq!(
        span.uniform.load(Ordering::Relaxed),
        super::span::UNIFORM_MIXED
    );
    for (a, name) in [(t1, "Pair"), (t2, "Pair"), (t3, "u8)")] {
        let ti = h.find_object(a).unwrap().type_info().unwrap();
        assert!((ti.name)().ends_with(name), "{}", (ti.name)());
    }
    // A 640-byte value: a header word, then the value.
    let v = h.alloc_precise_on(Some(0), 640, BIG) as usize;
    let b = h.find_object(v).unwrap();
    assert_eq!((b.value(), b.size), (b.base + 8, 704));
    // SAFETY: v is the value area of a fresh 648-byte object (class 704).
    unsafe { (*(v as *mut Big)).0[79] = 0x3333 };
    let mut seen = Vec::new();
    h.trace_object(&b, &mut |x: usize| seen.push(x));
    assert_eq!(seen, vec![0, 0x3333]);
    assert!((b.type_info().unwrap().name)().ends_with("Big"));
    struct Words(Vec<usize>);
    impl TraceSink for Words {
        fn edge(&mut self, _: usize) {
            unreachable!()
        }
        fn candidate(&mut self, w: usize) {
            self.0.push(w)
        }
    }
    let c = h.alloc_on(Some(0), 24, ObjectKind::Conservative) as usize;
    // SAFETY: c is a fresh 24-byte slot.
    unsafe { *((c + 8) as *mut usize) = 42 };
    let mut w = Words(Vec::new());
    h.trace_object(&h.find_object(c).unwrap(), &mut w);
    assert_eq!(w.0, vec![0, 42, 0]);
    let mut words = Vec::new();
    assert_eq!(h.scan_object(c, &mut |x| words.push(x)), 24);
    assert_eq!(words, vec![0, 42, 0]);
}

#[test]
fn ps_allocate_in_parallel_without_sharing_slots() {
    let h: &'static Heap = Box::leak(Box::new(
        Heap::new(HeapConfig {
            arena_bytes: 2 << 30,
        })
        .unwrap(),
    ));
    let threads: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + p as u64);
                let mut mine = Vec::new();
                for _ in 0..10_000 {
                    let size = [8, 16, 48, 200, 1024, 5000, 40_000][rng.below(7) as usize];
                    let o = h.alloc_on(Some(p), size, ObjectKind::Noscan) as usize;
                    // Another P's lookups run concurrently with this one's allocations.
                    assert_eq!(h.find_object(o).unwrap().base, o);
                    mine.push((o, size));
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<(usize, usize)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    for w in all.windows(2) {
        assert!(
            w[0].0 + w[0].1 <= w[1].0,
            "objects overlap: {:?} {:?}",
            w[0],
            w[1]
        );
    }
    let s = check_identities(h);
    assert_eq!(s.mallocs, 40_000);
    assert_eq!(cycle(h).objects_freed, 40_000);
    assert_eq!(check_identities(h).heap_inuse, 0);
}

/// Whether the OS page at `addr` is resident (`mincore`).
#[cfg(not(miri))]
fn os_page_resident(addr: usize) -> bool {
    let mut v = 0u8;
    // SAFETY: `addr` is page-aligned inside the heap's mapping; one byte out.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, 4096, &mut v) };
    assert_eq!(r, 0);
    v & 1 != 0
}

#[test]
#[cfg(not(miri))] // mincore
fn large_reuse_clears_resident_pages_and_drops_the_others() {
    const MIB: usize = 1 << 20;
    let h = small_heap();
    let a = h.alloc_on(Some(0), 4 * MIB, ObjectKind::Noscan) as usize;
    // The first half is used (one byte per OS page); the second half never.
    for off in (0..2 * MIB).step_by(4096) {
        // SAFETY: inside the fresh 4 MiB object.
        unsafe { *((a + off) as *mut u8) = 0xa5 };
    }
    assert_eq!(cycle(&h).objects_freed, 1);
    let b = h.alloc_on(Some(0), 4 * MIB, ObjectKind::Noscan) as usize;
    assert_eq!(b, a, "first fit reuses the freed pages");
    // Resident dirty pages were cleared in place: still resident, now zero.
    // The untouched half was dropped, not written: still not resident —
    // past the transparent huge page that the last touched byte may have
    // brought in (a large span of 4 MiB asks for huge pages).
    let untouched_from = (b + 2 * MIB).next_multiple_of(2 * MIB) - b;
    assert!(untouched_from < 4 * MIB);
    for off in (0..4 * MIB).step_by(4096) {
        if off < 2 * MIB {
            assert!(os_page_resident(b + off), "used page at +{off:#x}");
        } else if off >= untouched_from {
            assert!(!os_page_resident(b + off), "untouched page at +{off:#x}");
        }
    }
    for off in (0..4 * MIB).step_by(512) {
        // SAFETY: inside the 4 MiB object.
        assert_eq!(unsafe { *((b + off) as *const u8) }, 0, "byte at +{off:#x}");
    }
}

/// The `VmFlags` of the mapping of `/proc/self/smaps` that holds `addr`.
#[cfg(all(target_os = "linux", not(miri)))]
fn vm_flags(addr: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if inside {
            if let Some(f) = line.strip_prefix("VmFlags:") {
                return f.split_whitespace().map(str::to_string).collect();
            }
        }
    }
    panic!("no mapping holds {addr:#x}");
}

#[test]
#[cfg(all(target_os = "linux", not(miri)))]
fn only_large_spans_of_4_mib_get_huge_pages_and_give_them_back_when_freed() {
    const MIB: usize = 1 << 20;
    let h = small_heap();
    // Small objects and a large object under 4 MiB: no huge pages (a fault
    // on a fresh huge page would zero 2 MiB while the allocating goroutine
    // cannot stop for a stop of the world).
    let small = h.alloc_on(Some(0), 16, ObjectKind::Noscan) as usize;
    let mid = h.alloc_on(Some(0), 3 * MIB, ObjectKind::Noscan) as usize;
    for a in [small, mid] {
        let f = vm_flags(a);
        assert!(
            f.contains(&"nh".into()) && !f.contains(&"hg".into()),
            "{a:#x}: {f:?}"
        );
    }
    // A large object of 6 MiB: huge pages over the whole 2 MiB pages inside it.
    let big = h.alloc_on(Some(0), 6 * MIB, ObjectKind::Noscan) as usize;
    let inner = big.next_multiple_of(2 * MIB);
    let f = vm_flags(inner);
    assert!(
        f.contains(&"hg".into()) && !f.contains(&"nh".into()),
        "{f:?}"
    );
    if big < inner {
        // The part before the first whole huge page keeps the default.
        assert!(vm_flags(big).contains(&"nh".into()));
    }
    // Freed: back to the arena's default.
    assert_eq!(cycle(&h).objects_freed, 3);
    let f = vm_flags(inner);
    assert!(
        f.contains(&"nh".into()) && !f.contains(&"hg".into()),
        "{f:?}"
    );
}

#[test]
fn hook_batching_keeps_the_fast_path_and_adds_up_the_bytes() {
    use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static BYTES: AtomicU64 = AtomicU64::new(0);
    fn hook(_: &Heap, size: usize) {
        assert!(size <= MAX_SMALL_SIZE, "batched calls look small");
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(size as u64, Relaxed);
    }
    let h = small_heap();
    assert!(h.set_alloc_hook(hook));
    let first = h.alloc_on(Some(0), 32, ObjectKind::Noscan) as usize; // creates the cache
    h.set_allocate_black(true);
    h.set_hook_batch(true);
    let (c0, b0) = (CALLS.load(Relaxed), BYTES.load(Relaxed));
    let n = 10_000u64;
    let objs: Vec<usize> = (0..n)
        .map(|_| h.alloc_on(Some(0), 32, ObjectKind::Noscan) as usize)
        .collect();
    let calls = CALLS.load(Relaxed) - c0;
    let bytes = BYTES.load(Relaxed) - b0;
    // One call per 16 KiB (512 objects) plus span refills, not one per object.
    assert!(calls < n / 100, "{calls} hook calls for {n} allocations");
    let carried = 16 << 10;
    assert!(
        bytes <= 32 * n && bytes + carried >= 32 * n,
        "hook saw {bytes} of {} bytes",
        32 * n
    );
    // Allocate-black held on the fast path too.
    assert!(objs.iter().all(|&o| h.is_marked(o) == Some(true)));
    assert_eq!(h.is_marked(first), Some(false));
    h.set_hook_batch(false);
    h.set_allocate_black(false);
}

/// `Heap::metadata` counts each span structure once (live ones in
/// `mspan_inuse`, pooled ones only in `mspan_sys`), their bitmaps, the page
/// table and the page heap's bitmaps in `gc_sys`, one cache per P that
/// allocated plus the shared one in `mcache_sys`, and stays small beside
/// the heap it describes.
#[test]
fn metadata_counts_span_structures_caches_and_tables() {
    use std::mem::size_of;
    let h = small_heap();
    let bitmaps = (2 * span::BITMAP_WORDS * 8) as u64;
    let span_struct = size_of::<Span>() as u64 - bitmaps;
    let cache = (size_of::<cache::CacheSlot>() + size_of::<cache::Cache>()) as u64;
    let shared = size_of::<cache::Cache>() as u64;

    let empty = h.metadata();
    assert_eq!((empty.mspan_inuse, empty.mspan_sys), (0, 0));
    assert_eq!(empty.mcache_sys, shared, "only the shared cache exists");
    assert_eq!(empty.gc_sys, 0, "no span, no grown page");
    assert!(empty.other_sys >= size_of::<Heap>() as u64);

    // Three spans of one small class on P 0, one large span on P 1.
    let class = size_to_class(64);
    let per_span = class_objects(class);
    for _ in 0..2 * per_span + 1 {
        h.alloc_on(Some(0), 64, ObjectKind::Noscan);
    }
    h.alloc_on(Some(1), 1 << 20, ObjectKind::Noscan);
    let s = check_identities(&h);
    let m = h.metadata();
    assert_eq!(m.mspan_inuse, 4 * span_struct, "{m:?}");
    assert_eq!(m.mspan_sys, 4 * span_struct, "{m:?}");
    assert_eq!(m.mcache_inuse, 2 * cache + shared, "{m:?}");
    assert_eq!(m.mcache_sys, m.mcache_inuse);
    let grown_pages = s.heap_sys / PAGE_SIZE as u64;
    let page_table = (grown_pages * 8).div_ceil(4096) * 4096;
    let page_bitmaps = 2 * (grown_pages.div_ceil(64) * 8).div_ceil(4096) * 4096;
    assert_eq!(m.gc_sys, 4 * bitmaps + page_table + page_bitmaps, "{m:?}");
    // Plausible beside the heap: at least the page table's word per page,
    // and all of it a small fraction of a 1 MiB+ heap.
    assert!(m.gc_sys >= s.heap_sys / PAGE_SIZE as u64 * 8);
    let total = m.mspan_sys + m.mcache_sys + m.gc_sys + m.other_sys + m.buck_hash_sys;
    assert!(
        total < s.heap_sys / 4,
        "metadata {total} for heap_sys {}",
        s.heap_sys
    );

    // Nothing marked: a cycle frees all four spans. Their structures go to
    // the pool: no longer in use, still obtained.
    cycle(&h);
    let after = h.metadata();
    assert_eq!(after.mspan_inuse, 0, "{after:?}");
    assert_eq!(after.mspan_sys, 4 * span_struct, "{after:?}");
    assert_eq!(after.gc_sys, m.gc_sys, "the heap did not shrink");
}

/// A span of small precise objects of one type has no type table (its
/// objects cost their slot, 16 bytes for a two-word node); the first
/// second type gives it one (counted in `gc_sys`), which goes back to a
/// pool when the span dies and serves the next mixed span of the class.
#[test]
fn type_tables_only_for_mixed_spans_and_pooled() {
    use crate::trace::{Trace, Tracer, TypeInfo};
    struct Pair(usize, usize);
    // SAFETY: reports its two words as edges; test only.
    unsafe impl Trace for Pair {
        fn trace(&self, t: &mut Tracer<'_>) {
            t.edge(self.0);
            t.edge(self.1);
        }
    }
    static PAIR: &TypeInfo = crate::trace::InfoOf::<Pair>::INFO;
    static OTHER: &TypeInfo = crate::trace::InfoOf::<(Pair,)>::INFO;
    let h = small_heap();
    let per_span = class_objects(size_to_class(16));
    assert_eq!(per_span, 512, "16-byte slots fill an 8 KiB span");
    // A whole span of Pairs: uniform, no table.
    let first = h.alloc_precise_on(Some(0), 16, PAIR) as usize;
    for i in 1..per_span {
        assert_eq!(
            h.alloc_precise_on(Some(0), 16, PAIR) as usize,
            first + 16 * i
        );
    }
    let span = h.find_object(first).unwrap().span;
    assert_eq!(span.table.load(Ordering::Relaxed), 0);
    assert_eq!(span.nelems(), per_span);
    assert_eq!(h.pages.footprint().table_bytes, 0);
    let bitmaps = (2 * span::BITMAP_WORDS * 8) as u64;
    let uniform_sys = h.metadata().gc_sys;
    // Mixed: every other object a (Pair,), on another P's span.
    let mut objs = Vec::new();
    for i in 0..per_span {
        let info = if i % 3 == 2 { OTHER } else { PAIR };
        objs.push((h.alloc_precise_on(Some(1), 16, info) as usize, info));
    }
    let mixed = h.find_object(objs[0].0).unwrap().span;
    assert_eq!(
        mixed.uniform.load(Ordering::Relaxed),
        super::span::UNIFORM_MIXED
    );
    assert_ne!(mixed.table.load(Ordering::Relaxed), 0);
    for &(a, info) in &objs {
        let ti = h.find_object(a + 8).unwrap().type_info().unwrap();
        assert!(std::ptr::eq(ti, info));
    }
    let table = super::types::table_bytes(per_span);
    // One more span structure (its bitmaps) and the table.
    assert_eq!(h.metadata().gc_sys, uniform_sys + bitmaps + table as u64);
    // Nothing marked: a cycle frees both spans; the table is pooled and
    // the next mixed span of the class takes it instead of a new one.
    cycle(&h);
    objs.clear();
    for i in 0..40 {
        let info = if i % 2 == 0 { PAIR } else { OTHER };
        objs.push((h.alloc_precise_on(Some(2), 16, info) as usize, info));
    }
    for &(a, info) in &objs {
        assert!(std::ptr::eq(
            h.find_object(a).unwrap().type_info().unwrap(),
            info
        ));
    }
    assert_eq!(h.pages.footprint().table_bytes, table, "one table made");
}

/// A precise value so big that value + header would wrap is Go's
/// `fatal error: out of memory`, exit status 2 (in a child process:
/// `rt_throw!` exits), not a tiny object that claims the whole size.
#[test]
#[cfg(not(miri))]
fn a_precise_object_that_would_wrap_is_out_of_memory() {
    const CHILD: &str = "GORT_GC_PRECISE_WRAP_CHILD";
    static INFO: &TypeInfo = crate::trace::InfoOf::<u64>::INFO;
    if std::env::var_os(CHILD).is_some() {
        let h = small_heap();
        let p = h.alloc_precise_on(Some(0), usize::MAX - 3, INFO);
        unreachable!("allocated {p:?} for usize::MAX - 3 bytes");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "heap::tests::a_precise_object_that_would_wrap_is_out_of_memory",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fatal error: out of memory"), "{stderr}");
}
