//! `sched` — the scheduler micro-benchmarks of the Go twin
//! (`samples/go/sched/main.go`).
//!
//! 1. spawn+join: 1,000,000 goroutines that each call `WaitGroup::done`;
//! 2. chan ping-pong: 1,000,000 round trips over two unbuffered channels;
//! 3. gosched: two goroutines yielding 1,000,000 times each;
//! 4. 100,000 goroutines parked on a channel receive, then `StackInuse` and
//!    `Sys` from `read_mem_stats` (goroutine stacks are runtime-owned
//!    mappings whose untouched pages cost nothing).
//!
//! Each line has the Go twin's format, so the two outputs can be read side
//! by side.

use gort::runtime::read_mem_stats;
use gort::sync::WaitGroup;
use gort::{chan, go, gosched};
use std::time::Instant;

fn main() {
    gort::run(|| {
        // spawn: 1,000,000 goroutines that each do nothing, wait all
        let n = 1_000_000;
        let wg = WaitGroup::new();
        let t = Instant::now();
        wg.add(n as i64);
        for _ in 0..n {
            let wg = wg.clone();
            go(move || wg.done());
        }
        wg.wait();
        let el = t.elapsed();
        println!(
            "spawn+join: {:.1} ns/goroutine",
            el.as_nanos() as f64 / n as f64
        );

        // ping-pong over unbuffered channels: 1,000,000 round trips
        let (a, b) = (chan::<i64>(0), chan::<i64>(0));
        {
            let (a, b) = (a.clone(), b.clone());
            go(move || {
                while let Some(v) = a.recv() {
                    b.send(v);
                }
            });
        }
        let m = 1_000_000;
        let t = Instant::now();
        for i in 0..m {
            a.send(i);
            b.recv();
        }
        let el = t.elapsed();
        println!(
            "chan ping-pong: {:.1} ns/round trip",
            el.as_nanos() as f64 / m as f64
        );
        a.close();

        // yield: Gosched between two goroutines
        let t = Instant::now();
        let wg2 = WaitGroup::new();
        wg2.add(2);
        for _ in 0..2 {
            let wg2 = wg2.clone();
            go(move || {
                for _ in 0..m {
                    gosched();
                }
                wg2.done();
            });
        }
        wg2.wait();
        let el = t.elapsed();
        println!(
            "gosched: {:.1} ns/yield",
            el.as_nanos() as f64 / (2 * m) as f64
        );

        // 100k live goroutines parked, memory
        let k = 100_000;
        let block = chan::<()>(0);
        let wg3 = WaitGroup::new();
        wg3.add(k);
        for _ in 0..k {
            let (wg3, block) = (wg3.clone(), block.clone());
            go(move || {
                wg3.done();
                block.recv();
            });
        }
        wg3.wait();
        let ms = read_mem_stats();
        println!(
            "100k parked goroutines: StackInuse {} MiB, Sys {} MiB",
            ms.stack_inuse >> 20,
            ms.sys >> 20
        );
        block.close();
    })
}
