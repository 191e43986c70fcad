//! Allocation through the runtime: `Gc::new` and `make_slice` on a
//! goroutine, where every allocation pins the goroutine to its P (the
//! scheduler's `pin_p`, two registers) and polls the safepoint word on the
//! fast path (asynchronous preemption and stop-the-world requests), and the
//! real collector runs when the heap reaches its goal (GOGC) — as Go's
//! allocation benchmarks include Go's collector. Compare with gort-gc's
//! `alloc` bench (`gc_new/16`, `make_slice_u64/8`: the heap alone, no pin,
//! no poll, sweeping every 4 MiB) from the same `cargo bench` run.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{criterion_group, Criterion};
use gort::{make_slice, Gc};
use std::hint::black_box;
use std::time::Duration;

fn on_goroutine(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_runtime");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    g.bench_function("gc_new/16", |b| b.iter(|| black_box(Gc::new([0u64; 2]))));
    g.bench_function("make_slice_u64/8", |b| {
        b.iter(|| black_box(make_slice::<u64>(black_box(8))))
    });
    // The pin alone: what every allocation and write-barrier flush pays.
    g.bench_function("pin_p", |b| {
        b.iter(|| {
            let p = gort::crates::scheduler::pin_p();
            black_box(p.p);
            p.unpin()
        })
    });
    g.finish();
}

criterion_group!(benches, on_goroutine);

fn main() {
    // Criterion runs on the main goroutine, so every allocation takes the
    // runtime's path.
    gort::run(|| {
        benches();
        Criterion::default().configure_from_args().final_summary();
    });
}
