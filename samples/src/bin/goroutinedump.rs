//! `goroutinedump` — what a goroutine profile costs the program it
//! profiles, beside its Go twin (`samples/go/goroutinedump/main.go`).
//!
//! `goroutinedump [N ...]` (default `1000 10000 100000`): for each N, parks
//! N goroutines on a channel receive (three frames deep), lets a ticker
//! goroutine sleep 1 ms in a loop, and writes the goroutine profile three
//! times — `debug=0` (gzip'd proto), `debug=1` (grouped text) and
//! `debug=2` (every goroutine's stack, Go's `/debug/pprof/goroutine?debug=2`)
//! — into memory. Each line gives the time the write took, its size, and
//! the ticker's longest gap between two wake-ups while the write ran (a
//! 1 ms sleep that returns after 1.1 ms is normal; a stop of the world
//! shows as a longer gap), beside the longest gap of an equal time with no
//! profile running.
//!
//! ```text
//! cargo run --release --bin goroutinedump
//! cargo run --release --bin goroutinedump -- 100000
//! ```

use gort::sync::WaitGroup;
use gort::{chan, go, Chan};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The ticker's state: whether a measurement runs, its longest gap (ns),
/// and whether to stop.
#[derive(Default)]
struct Ticker {
    measuring: AtomicBool,
    max_gap: AtomicU64,
    ticks: AtomicU64,
    stop: AtomicBool,
}

#[inline(never)]
fn parked_leaf(ch: &Chan<u32>) -> u32 {
    ch.recv().unwrap_or(0)
}

#[inline(never)]
fn parked_middle(ch: &Chan<u32>) -> u32 {
    std::hint::black_box(parked_leaf(ch)) + 1
}

#[inline(never)]
fn parked(ch: Chan<u32>, wg: WaitGroup, started: &AtomicUsize) {
    started.fetch_add(1, Relaxed);
    std::hint::black_box(parked_middle(&ch));
    wg.done();
}

fn arg_list() -> Vec<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return vec![1000, 10_000, 100_000];
    }
    args.iter()
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("goroutinedump: argument {a:?}: expected a goroutine count");
                std::process::exit(2)
            })
        })
        .collect()
}

/// Runs `f` while the ticker measures; returns (elapsed, longest gap, ticks).
fn measured(t: &Ticker, f: impl FnOnce()) -> (Duration, Duration, u64) {
    t.max_gap.store(0, Relaxed);
    t.ticks.store(0, Relaxed);
    t.measuring.store(true, SeqCst);
    let start = Instant::now();
    f();
    let el = start.elapsed();
    t.measuring.store(false, SeqCst);
    (
        el,
        Duration::from_nanos(t.max_gap.load(Relaxed)),
        t.ticks.load(Relaxed),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let counts = arg_list();
    gort::run(move || {
        let t = Arc::new(Ticker::default());
        {
            let t = t.clone();
            go(move || {
                let mut last = Instant::now();
                while !t.stop.load(Relaxed) {
                    gort::sleep(Duration::from_millis(1));
                    let now = Instant::now();
                    if t.measuring.load(Relaxed) {
                        let gap = (now - last).as_nanos() as u64;
                        t.max_gap.fetch_max(gap, Relaxed);
                        t.ticks.fetch_add(1, Relaxed);
                    }
                    last = now;
                }
            });
        }
        for n in counts {
            let ch = chan::<u32>(0);
            let wg = WaitGroup::new();
            let started = Arc::new(AtomicUsize::new(0));
            wg.add(n as i64);
            for _ in 0..n {
                let (ch, wg, started) = (ch.clone(), wg.clone(), started.clone());
                go(move || parked(ch, wg, &started));
            }
            // Every goroutine on its way into the receive, then a moment
            // for the last ones to park.
            while started.load(Relaxed) < n {
                gort::sleep(Duration::from_millis(5));
            }
            gort::sleep(Duration::from_millis(50));
            let p = gort::pprof::lookup("goroutine").unwrap();
            for debug in [0, 1, 2] {
                let mut buf = Vec::new();
                let (el, gap, ticks) = measured(&t, || p.write_to(&mut buf, debug).unwrap());
                let (_, idle_gap, _) =
                    measured(&t, || gort::sleep(el.max(Duration::from_millis(20))));
                println!(
                    "goroutines={n} debug={debug}: {:.1} ms, {} bytes, longest ticker gap {:.2} ms ({ticks} ticks; {:.2} ms without a profile)",
                    ms(el),
                    buf.len(),
                    ms(gap),
                    ms(idle_gap),
                );
            }
            ch.close();
            wg.wait();
        }
        t.stop.store(true, Relaxed);
    });
}
