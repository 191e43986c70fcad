//! Encoding throughput of the profile and trace writers on synthetic input
//! of realistic size: a 10,000-sample CPU profile (depth-16 stacks over 200
//! functions) and a 100,000-event trace on 4 Ps.
//!
//! `cargo bench -p gort-profiler --bench encode`

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use gort_profiler::pprof::{self, CpuSample, ProfileMeta};
use gort_profiler::trace::{BlockReason, EventKind, Trace};
use gort_profiler::Frame;

fn frame(i: u64) -> Frame {
    let f = i % 200;
    Frame::new(
        format!("main.f{f}"),
        "/src/bench/main.go",
        (10 + i % 50) as u32,
        0x40_0000 + f * 0x100 + i % 50 * 4 + 1,
        0x40_0000 + f * 0x100,
    )
}

fn cpu_samples(n: u64) -> Vec<CpuSample> {
    (0..n)
        .map(|i| CpuSample {
            stack: (0..16)
                .map(|d| frame(i.wrapping_mul(2654435761) >> (d % 8) ^ d))
                .collect(),
            count: 1 + (i % 3) as i64,
            labels: vec![],
        })
        .collect()
}

fn trace(n: u64) -> Trace {
    let mut t = Trace::new();
    let start = t.stack(&[frame(1)]);
    let block = t.stack(&[frame(2), frame(3)]);
    let procs = 4u32;
    let mut ts = 1_000u64;
    for p in 0..procs {
        t.push(
            ts,
            p,
            EventKind::ProcStart {
                thread: p as u64 + 1,
            },
        );
        ts += 10;
    }
    // each P runs its own goroutine, which blocks and is woken by G0 on the same P
    for p in 0..procs {
        let g = p as u64 + 1;
        t.push(ts, p, EventKind::GoCreate { g, start, stack: 0 });
        ts += 10;
    }
    let mut i = 0;
    while i < n {
        for p in 0..procs {
            let g = p as u64 + 1;
            t.push(ts, p, EventKind::GoStart { g });
            t.push(
                ts + 5,
                p,
                EventKind::GoBlock {
                    reason: BlockReason::Sync,
                    stack: block,
                },
            );
            t.push(ts + 7, p, EventKind::GoUnblock { g, stack: block });
            ts += 10;
            i += 3;
        }
    }
    t
}

fn bench(c: &mut Criterion) {
    let samples = cpu_samples(10_000);
    let meta = ProfileMeta::default();
    let mut g = c.benchmark_group("pprof");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("cpu_profile+gzip 10k samples", |b| {
        b.iter(|| {
            pprof::encode_gzip(&pprof::cpu_profile(
                black_box(&samples),
                pprof::CPU_HZ,
                &meta,
            ))
        })
    });
    g.finish();

    let t = trace(100_000);
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(t.events.len() as u64));
    g.bench_function("v1 100k events", |b| {
        b.iter(|| gort_profiler::trace::v1::encode(black_box(&t)).unwrap())
    });
    g.bench_function("json 100k events", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            gort_profiler::trace::json::write(black_box(&t), &mut out).unwrap();
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
