//! What one CPU-profiler tick costs the interrupted thread: the
//! frame-pointer walk of a 32-deep stack (the same walk the SIGPROF handler
//! does, through `callers`) and one push into the sample ring (plus the
//! reader's pop). At 100 ticks per CPU-second, a tick of T µs costs
//! T × 100 µs per second, i.e. T / 100 percent of the thread's time.
//!
//! `cargo bench -p gort-profiler --bench cpu_tick` (15:50 UTC, loaded 2-core
//! machine: walk ~0.30 µs, push + pop ~0.064 µs; the kernel's signal
//! delivery, not measured here, comes on top).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gort_profiler::cpu::ring::{Ring, MAX_STACK};
use gort_profiler::symbolize::callers;

/// Recurses `depth` frames, then runs `f` there.
#[inline(never)]
fn at_depth(depth: u32, f: &mut dyn FnMut()) {
    if depth == 0 {
        f();
    } else {
        at_depth(depth - 1, f);
        black_box(depth);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_tick");
    g.bench_function("walk 32 frames (callers)", |b| {
        let mut buf = [0u64; MAX_STACK];
        at_depth(30, &mut || {
            b.iter(|| black_box(callers(0, &mut buf)));
        });
    });
    g.bench_function("ring push + pop of 32 PCs", |b| {
        let ring = Ring::new(1024);
        let pcs: Vec<u64> = (0..32).map(|i| 0x40_0000 + i * 16).collect();
        let mut out = Vec::with_capacity(MAX_STACK);
        b.iter(|| {
            ring.push(black_box(&pcs));
            // SAFETY: this thread is the ring's only consumer.
            unsafe { ring.pop(&mut out) };
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
