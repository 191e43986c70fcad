//! `stoplatency` — how long a stop of the world takes to stop goroutines
//! that never reach a safepoint (Go twin: `samples/go/stoplatency`).
//!
//! One goroutine per P spins in a loop with no call, no allocation and no
//! channel operation; main then reads the memory statistics `ROUNDS` times
//! (each read stops the world, as Go's `runtime.ReadMemStats` does) and
//! prints the distribution of one read's latency — the time to stop the
//! spinners (by the preemption signal: they have no safepoint), read and
//! restart. Without asynchronous preemption the first read never returns.
//!
//! ```text
//! cargo run --release --bin stoplatency [ROUNDS]
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn spin() {
    let mut x = 1u64;
    while !STOP.load(Relaxed) {
        for _ in 0..1000 {
            x = black_box(x.wrapping_mul(3).wrapping_add(1));
        }
    }
    black_box(x);
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("stoplatency: ROUNDS must be a positive integer, got {a:?}");
                std::process::exit(2)
            })
        })
        .unwrap_or(2000);
    gort::run(move || {
        let procs = gort::runtime::gomaxprocs(0) as usize;
        for _ in 0..procs {
            gort::go(spin);
        }
        // Let the spinners take every P (main waits its turn).
        gort::sleep(Duration::from_millis(50));
        let mut lat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            black_box(gort::runtime::read_mem_stats());
            lat.push(t.elapsed());
        }
        STOP.store(true, Relaxed);
        lat.sort();
        let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize].as_secs_f64() * 1e6;
        println!(
            "ReadMemStats with {procs} spinning goroutines, {rounds} rounds: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
            q(0.5),
            q(0.99),
            lat[lat.len() - 1].as_secs_f64() * 1e6
        );
        // The stops alone (from deciding to stop until every P stopped),
        // and the whole pauses (until the restart), as runtime/metrics
        // records them: the call's time above also holds the statistics'
        // own work outside the pause and any wait for a P.
        for (what, name) in [
            ("time to stop", "/sched/pauses/stopping/other:seconds"),
            ("pause", "/sched/pauses/total/other:seconds"),
        ] {
            let mut s = [gort::metrics::Sample::new(name)];
            gort::metrics::read(&mut s);
            let gort::metrics::Value::Float64Histogram(h) = &s[0].value else {
                continue;
            };
            let total: u64 = h.counts.iter().sum();
            // The upper bound of the bucket where the cumulative count
            // reaches `f` of the samples.
            let upper = |f: f64| {
                let want = ((total as f64) * f).ceil().max(1.0) as u64;
                let mut seen = 0;
                for (i, &c) in h.counts.iter().enumerate() {
                    seen += c;
                    if seen >= want {
                        return h.buckets[i + 1] * 1e6;
                    }
                }
                f64::INFINITY
            };
            println!(
                "{what} ({total} stops, {name} bucket upper bounds): p50 <= {:.1} us, p99 <= {:.1} us, max <= {:.1} us",
                upper(0.5),
                upper(0.99),
                upper(1.0)
            );
        }
    });
}
