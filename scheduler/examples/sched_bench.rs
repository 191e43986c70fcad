//! The scheduler's bench binary: the same four measurements as the Go twin
//! in `shared/reference/go/sched` (spawn+join of 1,000,000 goroutines,
//! unbuffered-channel ping-pong, `gosched` between two goroutines, memory of
//! 100,000 parked goroutines), printed in the twin's format.
//!
//! ```sh
//! cargo run --release -p gort-scheduler --example sched_bench            # gort only
//! cargo run --release -p gort-scheduler --example sched_bench -- ./sched_go 3
//! ```
//!
//! With the path of the built Go twin, it runs gort and Go alternately
//! (`rounds` times, default 3), side by side on the same machine, and prints
//! the median of each and the ratio gort/Go (below 1: gort is faster).

use gort_scheduler::{chan, go, gosched, num_goroutine, run, sync::WaitGroup};
use std::process::Command;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
struct Numbers {
    spawn_ns: f64,
    pingpong_ns: f64,
    gosched_ns: f64,
    /// gort: VmRSS growth per parked goroutine; Go: Sys / 100k (what the
    /// twin can print).
    parked_bytes: f64,
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn measure_gort() -> Numbers {
    // GORT_BENCH_ONLY=spawn|pingpong|gosched|parked runs one part (for
    // profiling).
    let only = std::env::var("GORT_BENCH_ONLY").ok();
    let want = move |name: &str| only.as_deref().is_none_or(|o| o == name);
    run(move || {
        let mut n = Numbers::default();
        // spawn: 1,000,000 goroutines that each do nothing, wait all
        const N: usize = 1_000_000;
        if want("spawn") {
            let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
            let t = Instant::now();
            wg.add(N as i64);
            for _ in 0..N {
                go(move || wg.done());
            }
            wg.wait();
            n.spawn_ns = t.elapsed().as_nanos() as f64 / N as f64;
            println!("spawn+join: {:.1} ns/goroutine", n.spawn_ns);
        }
        const M: u64 = 1_000_000;
        if want("pingpong") {
            // ping-pong over unbuffered channels: 1,000,000 round trips
            let (a, b) = (chan::<u64>(0), chan::<u64>(0));
            let (a2, b2) = (a.clone(), b.clone());
            go(move || {
                while let Some(v) = a2.recv() {
                    b2.send(v);
                }
            });
            let t = Instant::now();
            for i in 0..M {
                a.send(i);
                b.recv();
            }
            n.pingpong_ns = t.elapsed().as_nanos() as f64 / M as f64;
            println!("chan ping-pong: {:.1} ns/round trip", n.pingpong_ns);
            a.close();
        }

        if want("gosched") {
            // yield: gosched between two goroutines
            let t = Instant::now();
            let wg2 = WaitGroup::new();
            wg2.add(2);
            for _ in 0..2 {
                let wg2 = wg2.clone();
                go(move || {
                    for _ in 0..M {
                        gosched();
                    }
                    wg2.done();
                });
            }
            wg2.wait();
            n.gosched_ns = t.elapsed().as_nanos() as f64 / (2 * M) as f64;
            println!("gosched: {:.1} ns/yield", n.gosched_ns);
        }
        if !want("parked") {
            return n;
        }

        // 100k live goroutines parked, memory
        const K: usize = 100_000;
        let before = rss_kib();
        let block = chan::<()>(0);
        let wg3 = WaitGroup::new();
        wg3.add(K as i64);
        for _ in 0..K {
            let (b, wg3) = (block.clone(), wg3.clone());
            go(move || {
                wg3.done();
                b.recv();
            });
        }
        wg3.wait();
        let grown = (rss_kib().saturating_sub(before)) * 1024;
        n.parked_bytes = grown as f64 / K as f64;
        let (inuse, total) = gort_scheduler::stack_memory();
        let (_, reserved) = gort_scheduler::stack_reserved();
        println!(
            "100k parked goroutines: RSS +{} MiB ({:.0} B/goroutine), {} goroutines, StackInuse {} MiB, stacks resident {} MiB, reserved {} MiB",
            grown >> 20,
            n.parked_bytes,
            num_goroutine(),
            inuse >> 20,
            total >> 20,
            reserved >> 20
        );
        block.close();
        n
    })
}

fn measure_go(path: &str) -> Numbers {
    let out = Command::new(path).output().expect("run the Go twin");
    let text = String::from_utf8_lossy(&out.stdout);
    let num = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let sys_mib: f64 = text
        .lines()
        .find_map(|l| l.split("Sys ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(f64::NAN);
    Numbers {
        spawn_ns: num("spawn+join: "),
        pingpong_ns: num("chan ping-pong: "),
        gosched_ns: num("gosched: "),
        parked_bytes: sys_mib * 1048576.0 / 100_000.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(go_path) = args.get(1) else {
        measure_gort();
        return;
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    // gort runs in a child process per round (fresh RSS and scheduler).
    let me = std::env::current_exe().unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let out = Command::new(&me).output().expect("run gort round");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let num = |prefix: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let parked = text
            .lines()
            .find_map(|l| l.split(" MiB (").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN);
        let o = Numbers {
            spawn_ns: num("spawn+join: "),
            pingpong_ns: num("chan ping-pong: "),
            gosched_ns: num("gosched: "),
            parked_bytes: parked,
        };
        let g = measure_go(go_path);
        eprintln!("round {r}: gort {o:?}\n         go   {g:?}");
        ours.push(o);
        theirs.push(g);
    }
    let pick = |v: &[Numbers], f: fn(&Numbers) -> f64| median(v.iter().map(f).collect());
    type Row = (&'static str, fn(&Numbers) -> f64, &'static str);
    let rows: [Row; 4] = [
        ("spawn+join", |n| n.spawn_ns, "ns/goroutine"),
        ("chan ping-pong", |n| n.pingpong_ns, "ns/round trip"),
        ("gosched", |n| n.gosched_ns, "ns/yield"),
        (
            "parked goroutine memory",
            |n| n.parked_bytes,
            "B (gort: RSS; Go: Sys/100k)",
        ),
    ];
    println!(
        "{:<26} {:>12} {:>12} {:>8}",
        "benchmark (median)", "gort", "go 1.19", "gort/go"
    );
    for (name, f, unit) in rows {
        let (a, b) = (pick(&ours, f), pick(&theirs, f));
        println!("{name:<26} {a:>12.1} {b:>12.1} {:>8.2}  {unit}", a / b);
    }
}
