//! Allocation benchmarks (issue 4): small objects of 16, 64, 512 and 4096
//! bytes on a P's cache, and one 100 MB slice on fresh, reused (dirty) and
//! released pages. The Go twin is `benches/go/alloc_test.go`; compare
//! ns/op from the same machine and run.
//!
//! Small-object loops free everything every 4 MiB of allocation (flush,
//! start a sweep cycle with nothing marked, sweep) — Go's minimum heap goal,
//! which is where Go's collector runs in its twin loop — so the measured
//! cost includes sweeping, as Go's includes its collector's.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gort_gc::heap::{Heap, HeapConfig};
use gort_gc::ptr::make_slice_in;
use gort_gc::{Gc, ObjectKind};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn heap() -> &'static Heap {
    Box::leak(Box::new(
        Heap::new(HeapConfig {
            arena_bytes: 4 << 30,
        })
        .unwrap(),
    ))
}

fn cycle(h: &Heap) {
    h.flush_caches();
    h.start_sweep_cycle();
    h.finish_sweep();
}

const FREE_EVERY_BYTES: usize = 4 << 20;

fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_small");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for size in [16usize, 64, 512, 4096] {
        let h = heap();
        let per_cycle = FREE_EVERY_BYTES / size;
        g.bench_with_input(BenchmarkId::new("heap_alloc", size), &size, |b, &size| {
            let mut n = 0;
            b.iter(|| {
                let p = h.alloc_on(Some(0), size, ObjectKind::Noscan);
                n += 1;
                if n == per_cycle {
                    n = 0;
                    cycle(h);
                }
                black_box(p)
            })
        });
    }
    // The typed path: Gc::new of a 16-byte value (noscan) on a P.
    let h = heap();
    h.set_current_p(|| Some(0));
    g.bench_function("gc_new/16", |b| {
        let mut n = 0;
        b.iter(|| {
            let g = Gc::new_in(h, [0u64; 2]);
            n += 1;
            if n == FREE_EVERY_BYTES / 16 {
                n = 0;
                cycle(h);
            }
            black_box(g)
        })
    });
    // make_slice: a noscan []u64 of 8 and a precise []Option<Gc<T>> of 8
    // (the size checks of make_slice are on this path).
    g.bench_function("make_slice_u64/8", |b| {
        let mut n = 0;
        b.iter(|| {
            let s = make_slice_in::<u64>(h, black_box(8));
            n += 1;
            if n == FREE_EVERY_BYTES / 80 {
                n = 0;
                cycle(h);
            }
            black_box(s)
        })
    });
    g.bench_function("make_slice_gc/8", |b| {
        let mut n = 0;
        b.iter(|| {
            let s = make_slice_in::<Option<Gc<u64>>>(h, black_box(8));
            n += 1;
            if n == FREE_EVERY_BYTES / 80 {
                n = 0;
                cycle(h);
            }
            black_box(s)
        })
    });
    g.finish();
}

const BIG: usize = 100_000_000;

fn big(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_100MB");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(200));
    // Fresh pages: a new heap per iteration (not timed), one allocation timed.
    g.bench_function("fresh", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let h = Heap::new(HeapConfig {
                    arena_bytes: 1 << 30,
                })
                .unwrap();
                let s = Instant::now();
                black_box(h.alloc_on(Some(0), BIG, ObjectKind::Noscan));
                t += s.elapsed();
            }
            t
        })
    });
    // Reused pages: the previous 100 MB object was written and freed, so its
    // pages hold data and must be cleared (Go clears them too).
    g.bench_function("reused_dirty", |b| {
        let h = heap();
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let p = h.alloc_on(Some(0), BIG, ObjectKind::Noscan);
                // SAFETY: p is a 100 MB object of ours.
                unsafe { std::ptr::write_bytes(p, 1, BIG) };
                cycle(h);
                let s = Instant::now();
                black_box(h.alloc_on(Some(0), BIG, ObjectKind::Noscan));
                t += s.elapsed();
                cycle(h);
            }
            t
        })
    });
    // Released pages: as above, then free_os_memory (MADV_DONTNEED): zero
    // without clearing.
    g.bench_function("scavenged", |b| {
        let h = heap();
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let p = h.alloc_on(Some(0), BIG, ObjectKind::Noscan);
                // SAFETY: p is a 100 MB object of ours.
                unsafe { std::ptr::write_bytes(p, 1, BIG) };
                cycle(h);
                h.free_os_memory();
                let s = Instant::now();
                black_box(h.alloc_on(Some(0), BIG, ObjectKind::Noscan));
                t += s.elapsed();
                cycle(h);
            }
            t
        })
    });
    g.finish();
}

criterion_group!(benches, small, big);
criterion_main!(benches);
