//! Criterion benches of the scheduler's three latencies (the bench binary
//! `examples/sched_bench.rs` compares them with Go). Each sample runs its
//! iterations inside one `run`, timed from the main goroutine.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use gort_scheduler::{chan, go, gosched, run, sync::WaitGroup};
use std::time::{Duration, Instant};

fn spawn_join(c: &mut Criterion) {
    c.bench_function("spawn+join", |b| {
        b.iter_custom(|iters| {
            run(move || {
                let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
                let t = Instant::now();
                wg.add(iters as i64);
                for _ in 0..iters {
                    go(move || wg.done());
                }
                wg.wait();
                t.elapsed()
            })
        })
    });
}

fn ping_pong(c: &mut Criterion) {
    c.bench_function("unbuffered ping-pong round trip", |b| {
        b.iter_custom(|iters| {
            run(move || {
                let (a, b) = (chan::<u64>(0), chan::<u64>(0));
                let (a2, b2) = (a.clone(), b.clone());
                go(move || {
                    while let Some(v) = a2.recv() {
                        b2.send(v);
                    }
                });
                let t = Instant::now();
                for i in 0..iters {
                    a.send(i);
                    b.recv();
                }
                let e = t.elapsed();
                a.close();
                e
            })
        })
    });
}

fn yield_pair(c: &mut Criterion) {
    c.bench_function("gosched (two goroutines)", |b| {
        b.iter_custom(|iters| {
            run(move || {
                let wg = WaitGroup::new();
                let t = Instant::now();
                wg.add(2);
                for _ in 0..2 {
                    let wg = wg.clone();
                    go(move || {
                        for _ in 0..iters.div_ceil(2) {
                            gosched();
                        }
                        wg.done();
                    });
                }
                wg.wait();
                t.elapsed()
            })
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! { name = benches; config = config(); targets = spawn_join, ping_pong, yield_pair }
criterion_main!(benches);
