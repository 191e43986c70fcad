//! `syscalls` — goroutines blocked in the kernel keep neither the world nor
//! their P (Go twin: `samples/go/syscalls`).
//!
//! 1. 64 goroutines each call `std::thread::sleep(200 ms)` (a blocking
//!    system call the runtime knows nothing about) and the program waits
//!    for all: with the Ps handed off they sleep together (about 200 ms);
//!    holding their Ps, 64 / GOMAXPROCS rounds of 200 ms.
//! 2. A goroutine blocks in `read(2)` on an empty pipe; main times
//!    `runtime::gc()` (which stops the world twice) ten times.
//!
//! ```text
//! GOMAXPROCS=2 cargo run --release --bin syscalls
//! ```

use std::time::{Duration, Instant};

fn main() {
    gort::run(|| {
        let procs = gort::runtime::gomaxprocs(0);
        let wg = gort::sync::WaitGroup::new();
        let t = Instant::now();
        for _ in 0..64 {
            wg.add(1);
            let wg = wg.clone();
            gort::go(move || {
                std::thread::sleep(Duration::from_millis(200));
                wg.done();
            });
        }
        wg.wait();
        println!(
            "64 goroutines in sleep(200ms), GOMAXPROCS={procs}: {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );

        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) with a valid two-int array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            eprintln!("syscalls: pipe failed");
            std::process::exit(2);
        }
        let rd = fds[0];
        gort::go(move || {
            let mut b = [0u8; 1];
            // SAFETY: read(2) into a valid one-byte buffer.
            unsafe { libc::read(rd, b.as_mut_ptr().cast(), 1) };
        });
        gort::sleep(Duration::from_millis(20));
        let mut worst = Duration::ZERO;
        let mut total = Duration::ZERO;
        for _ in 0..10 {
            let t = Instant::now();
            gort::runtime::gc();
            let e = t.elapsed();
            worst = worst.max(e);
            total += e;
        }
        println!(
            "runtime.GC() with a goroutine blocked in read(2): mean {:.2} ms, max {:.2} ms",
            total.as_secs_f64() * 1e3 / 10.0,
            worst.as_secs_f64() * 1e3
        );
    });
}
