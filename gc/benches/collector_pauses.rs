//! Collector numbers on MockHost: stop-the-world pause distribution with a
//! big live heap and many mutator stacks, mark throughput, and the GC CPU
//! fraction of a binary-trees run.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-gc cargo bench -p gort-gc --bench collector_pauses
//! GORT_BENCH_LIVE_MB=256 GORT_BENCH_PARKED=126 ... # scale down
//! GORT_BENCH_MODE=bintrees GORT_BENCH_DEPTH=18 ... # GC CPU fraction of binary-trees
//! ```
//!
//! MockHost mutators are OS threads, one per P, so "10,000 goroutines"
//! is scaled to the most Ps MockHost has (256): `PARKED` threads that each
//! hold a small structure on their stack and sit parked in the host (as
//! goroutines blocked on channels do; their stacks are scanned at every
//! cycle), plus 2 threads that allocate garbage and poll safepoints. Mark
//! workers: 1 (Go's count for GOMAXPROCS = 2, the machine's cores).

extern crate gort_gc as gort;

use gort_gc::collector::{self, Collector, GcConfig};
use gort_gc::host::Host;
use gort_gc::stats::PauseSummary;
use gort_gc::tests::mock_host::MockHost;
use gort_gc::{make_slice, Gc, GcSlice, Root, Trace};
use std::time::Instant;

#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn tree(depth: u32) -> Gc<Node> {
    if depth == 0 {
        return Gc::new(Node {
            left: None,
            right: None,
        });
    }
    Gc::new(Node {
        left: Some(tree(depth - 1)),
        right: Some(tree(depth - 1)),
    })
}

fn check(n: Gc<Node>) -> u64 {
    1 + n.left.map_or(0, check) + n.right.map_or(0, check)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn on_mutator<R: Send + 'static>(
    host: &'static MockHost,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    host.spawn_mutator(move || tx.send(f()).unwrap())
        .join()
        .unwrap();
    rx.recv().unwrap()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mode = std::env::var("GORT_BENCH_MODE").unwrap_or_default();
    if mode == "bintrees" {
        return bintrees();
    }
    let live_mb = env("GORT_BENCH_LIVE_MB", 1024);
    let parked = env("GORT_BENCH_PARKED", 253) as usize;
    let running = 2usize;
    let secs = env("GORT_BENCH_SECS", 20);
    let host = MockHost::leak(parked + running + 1);
    let c: &'static Collector = collector::install(
        host,
        GcConfig {
            mark_workers: Some(1),
            ..GcConfig::default()
        },
    )
    .unwrap();

    // 1. The live heap: trees of depth 15 (65,535 nodes of 24 bytes ≈ 1.5 MiB each).
    let t = Instant::now();
    let ntrees = (live_mb << 20) / (65_535 * 24);
    let live: Root<GcSlice<Option<Gc<Node>>>> = on_mutator(host, move || {
        let slots = make_slice::<Option<Gc<Node>>>(ntrees as usize);
        for i in 0..ntrees as usize {
            slots.set(i, Some(tree(15)));
        }
        Root::new(Gc::new(slots))
    });
    let build = t.elapsed();
    collector::gc();
    let m = c.mem_stats();
    println!(
        "live heap: {ntrees} trees, heap_alloc {:.0} MiB, built in {:.2} s ({} cycles during the build)",
        m.heap_alloc as f64 / (1 << 20) as f64,
        build.as_secs_f64(),
        m.num_gc
    );

    // 2. Mark throughput: forced cycles with the mutators idle.
    let before = c.cycle_records().len();
    for _ in 0..3 {
        collector::gc();
    }
    let recs = c.cycle_records();
    for r in &recs[before..] {
        println!(
            "forced cycle {}: marked {:.0} MiB in {:.1} ms wall = {:.0} MB/s (1 worker; scan work {:.0} MiB, worker CPU {:.1} ms)",
            r.num,
            r.heap_marked as f64 / (1 << 20) as f64,
            ms(r.mark_wall_ns),
            r.heap_marked as f64 / 1e6 / (r.mark_wall_ns as f64 / 1e9),
            r.scan_work as f64 / (1 << 20) as f64,
            ms(r.background_cpu_ns)
        );
    }

    // 3. Pauses under load: parked mutators with stack-held structures,
    //    running mutators allocating garbage, cycles back to back.
    let mut handles = Vec::new();
    for i in 0..parked {
        handles.push(host.spawn_mutator(move || {
            // A structure only this stack holds.
            let mine = tree(4);
            host.block_until(&stop_requested);
            assert_eq!(check(mine), 31, "parked mutator {i}: structure lost");
        }));
    }
    let t = Instant::now();
    for _ in 0..running {
        handles.push(host.spawn_mutator(move || {
            let mut n = 0u64;
            while !stop_requested() {
                let t = tree(6);
                n += check(t);
                host.safepoint();
            }
            assert!(n > 0);
        }));
    }
    let mut forced = 0;
    while t.elapsed().as_secs() < secs {
        collector::gc();
        forced += 1;
    }
    request_stop();
    host.cycle_done(); // wake the parked mutators to re-check
    for h in handles {
        h.join().expect("mutator failed");
    }
    let all = c.pause_summary();
    let recs = c.cycle_records();
    let load: Vec<u64> = recs
        .iter()
        .filter(|r| r.num as usize > before + 3)
        .flat_map(|r| [r.sweep_term_ns, r.mark_term_ns])
        .collect();
    let s = PauseSummary::of(&load);
    println!(
        "under load ({parked} parked + {running} running mutators, {secs} s, {forced} forced cycles, {} cycles): \
         STW pauses n={} max {:.3} ms p99 {:.3} ms p50 {:.3} ms",
        recs.len(),
        s.count,
        ms(s.max_ns),
        ms(s.p99_ns),
        ms(s.p50_ns)
    );
    println!(
        "all pauses since start (incl. build): n={} max {:.3} ms p99 {:.3} ms; gc_cpu_fraction {:.3}",
        all.count,
        ms(all.max_ns),
        ms(all.p99_ns),
        c.mem_stats().gc_cpu_fraction
    );
    let stop = PauseSummary::of(
        &recs
            .iter()
            .flat_map(|r| [r.sweep_term_stop_ns, r.mark_term_stop_ns])
            .collect::<Vec<_>>(),
    );
    let work = PauseSummary::of(
        &recs
            .iter()
            .flat_map(|r| {
                [
                    r.sweep_term_ns - r.sweep_term_stop_ns.min(r.sweep_term_ns),
                    r.mark_term_ns - r.mark_term_stop_ns.min(r.mark_term_ns),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "of which waiting for the host to stop the world: max {:.3} ms p50 {:.3} ms; \
         collector work with the world stopped: max {:.3} ms p99 {:.3} ms p50 {:.3} ms",
        ms(stop.max_ns),
        ms(stop.p50_ns),
        ms(work.max_ns),
        ms(work.p99_ns),
        ms(work.p50_ns)
    );
    let roots = PauseSummary::of(&recs.iter().map(|r| r.roots_ns).collect::<Vec<_>>());
    let setup = PauseSummary::of(&recs.iter().map(|r| r.sweep_setup_ns).collect::<Vec<_>>());
    println!(
        "inside: root shading max {:.3} ms p50 {:.3} ms; sweep setup (flush caches + sweepgen) max {:.3} ms p50 {:.3} ms",
        ms(roots.max_ns),
        ms(roots.p50_ns),
        ms(setup.max_ns),
        ms(setup.p50_ns)
    );
    let sweep_term = PauseSummary::of(&recs.iter().map(|r| r.sweep_term_ns).collect::<Vec<_>>());
    let mark_term = PauseSummary::of(&recs.iter().map(|r| r.mark_term_ns).collect::<Vec<_>>());
    println!(
        "sweep termination max {:.3} ms p50 {:.3} ms; mark termination max {:.3} ms p50 {:.3} ms",
        ms(sweep_term.max_ns),
        ms(sweep_term.p50_ns),
        ms(mark_term.max_ns),
        ms(mark_term.p50_ns)
    );
    drop(live);
}

static STOP_FLAG: std::sync::OnceLock<()> = std::sync::OnceLock::new();

fn stop_requested() -> bool {
    STOP_FLAG.get().is_some()
}

fn request_stop() {
    let _ = STOP_FLAG.set(());
}

/// Binary trees (Benchmarks Game rules) on one mutator, GOGC=100: prints
/// the check lines and the GC CPU fraction.
fn bintrees() {
    let n = env("GORT_BENCH_DEPTH", 18) as u32;
    let host = MockHost::leak(1);
    let gctrace = std::env::var("GODEBUG").is_ok_and(|v| v.contains("gctrace=1"));
    let c = collector::install(
        host,
        GcConfig {
            gctrace,
            ..GcConfig::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    on_mutator(host, move || {
        let max_depth = n.max(6);
        let stretch = tree(max_depth + 1);
        println!(
            "stretch tree of depth {}\t check: {}",
            max_depth + 1,
            check(stretch)
        );
        let long_lived = tree(max_depth);
        let mut d = 4;
        while d <= max_depth {
            let iters = 1u64 << (max_depth - d + 4);
            let mut sum = 0;
            for _ in 0..iters {
                sum += check(tree(d));
            }
            println!("{iters}\t trees of depth {d}\t check: {sum}");
            d += 2;
        }
        println!(
            "long lived tree of depth {max_depth}\t check: {}",
            check(long_lived)
        );
    });
    let m = c.mem_stats();
    let s = c.pause_summary();
    // GC CPU as a share of the process's CPU time (on a shared machine the
    // wall-clock based gc_cpu_fraction understates it).
    let gc_cpu: u64 = c
        .cycle_records()
        .iter()
        .map(|r| r.assist_cpu_ns + r.background_cpu_ns + r.sweep_term_ns + r.mark_term_ns)
        .sum();
    // SAFETY: getrusage fills the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let proc_cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) as f64
        + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) as f64 / 1e6;
    println!(
        "binary-trees {n}: {:.2} s wall, {proc_cpu:.2} s CPU, {} cycles, gc_cpu_fraction {:.3}, \
         GC CPU {:.2} s = {:.1} % of process CPU, pauses max {:.3} ms p99 {:.3} ms, max RSS {} MB",
        t.elapsed().as_secs_f64(),
        m.num_gc,
        m.gc_cpu_fraction,
        gc_cpu as f64 / 1e9,
        gc_cpu as f64 / 1e9 / proc_cpu * 100.0,
        ms(s.max_ns),
        ms(s.p99_ns),
        ru.ru_maxrss / 1024
    );
}
