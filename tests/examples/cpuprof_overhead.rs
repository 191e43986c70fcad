//! The CPU profiler's overhead: `binarytrees N` with and without a CPU
//! profile running, alternated in one process, timed by wall clock and by
//! process CPU time.
//!
//! ```text
//! cargo run --release -p gort-tests --example cpuprof_overhead -- 16 5
//! ```
//!
//! Arguments: depth (default 16) and rounds (default 5). Each round runs
//! the program once unprofiled and once profiled (order alternating); the
//! medians and their ratios are printed. The profiles are discarded, or,
//! with `CPUPROFILE=FILE`, the last one is kept in FILE
//! (`go tool pprof -top FILE`).
//! Not a test: the machine's load decides the numbers, so they are
//! reported, never asserted.

use std::time::Instant;

/// CPU time of the whole process so far, ns (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_ns() -> u64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout) for
    // clock_gettime, which keeps no pointer to it.
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

/// `struct timespec` on 64-bit Linux (this crate does not depend on libc).
#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let depth: i32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let (walls, cpus, samples) = gort::run(move || {
        let mut walls = [Vec::new(), Vec::new()];
        let mut cpus = [Vec::new(), Vec::new()];
        let mut samples = Vec::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for profiled in order {
                let (t, c) = (Instant::now(), process_cpu_ns());
                if profiled {
                    // CPUPROFILE=FILE keeps the profile of the last profiled run.
                    let w: Box<dyn std::io::Write + Send> = match std::env::var_os("CPUPROFILE") {
                        Some(path) => Box::new(std::fs::File::create(path).expect("CPUPROFILE")),
                        None => Box::new(std::io::sink()),
                    };
                    gort::pprof::start_cpu_profile(w).expect("start");
                }
                gort_samples::binarytrees::run(depth, &mut |_| {});
                if profiled {
                    gort::pprof::stop_cpu_profile();
                    let s = gort::crates::profiler::cpu::last_stats().expect("stats");
                    samples.push((s.samples, s.lost, s.thread_cpu_ns / 1_000_000));
                }
                let i = profiled as usize;
                walls[i].push(t.elapsed().as_secs_f64());
                cpus[i].push((process_cpu_ns() - c) as f64 / 1e9);
            }
        }
        (walls, cpus, samples)
    });
    let [mut w0, mut w1] = walls;
    let [mut c0, mut c1] = cpus;
    let (w0, w1, c0, c1) = (
        median(&mut w0),
        median(&mut w1),
        median(&mut c0),
        median(&mut c1),
    );
    println!("binarytrees {depth}, {rounds} rounds, medians:");
    println!("  without profile: wall {w0:.3} s, cpu {c0:.3} s");
    println!("  with profile:    wall {w1:.3} s, cpu {c1:.3} s");
    println!(
        "  ratio with/without: wall {:.3}, cpu {:.3}",
        w1 / w0,
        c1 / c0
    );
    println!(
        "  per profiled run (samples, lost, CPU ms of the profiled threads = the Ms): {samples:?}"
    );
    println!("  (the collector's mark workers and sweeper run on the facade's own threads, which are not profiled)");
}
