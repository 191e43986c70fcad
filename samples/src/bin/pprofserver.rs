//! `pprofserver` — the walk-through's web variant: `bigbytes` with the
//! `/debug/pprof/` endpoints served while it runs.
//!
//! The Go twin (`samples/go/pprofserver/main.go`) imports `net/http/pprof`,
//! serves `localhost:6060`, runs the ten 100,000,000-byte allocations and
//! then waits forever "for the benefit of the pprof server analysis". This
//! program does the same with `gort::pprof::serve`, on the address given as
//! its first argument (default `localhost:6060`). Look at it with:
//!
//! ```text
//! cargo run --release --bin pprofserver &            # or: -- 127.0.0.1:0 for any port
//! go tool pprof -top http://localhost:6060/debug/pprof/heap
//! go tool pprof -sample_index=alloc_space -top http://localhost:6060/debug/pprof/allocs
//! go tool pprof -top -seconds 5 http://localhost:6060       # CPU profile
//! curl http://localhost:6060/debug/pprof/goroutine?debug=2
//! ```
//!
//! `--exit-after SECONDS` stops it after that long instead of waiting
//! forever (for scripts and tests).

use gort::{make_slice, GcSlice};
use std::time::Duration;

/// Go's `bigBytes`: one 100,000,000-byte slice. (`black_box` keeps the
/// call to `make_slice` from becoming a tail jump, which would leave no
/// frame of `big_bytes` for the profile to name.)
#[inline(never)]
fn big_bytes() -> GcSlice<u8> {
    std::hint::black_box(make_slice::<u8>(100_000_000))
}

fn main() {
    let mut addr = "localhost:6060".to_string();
    let mut exit_after: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exit-after" => {
                exit_after = args.next().and_then(|v| v.parse().ok());
                if exit_after.is_none() {
                    eprintln!("usage: pprofserver [ADDR] [--exit-after SECONDS]");
                    std::process::exit(2);
                }
            }
            "-h" | "--help" => {
                eprintln!("usage: pprofserver [ADDR] [--exit-after SECONDS]");
                std::process::exit(2);
            }
            _ => addr = a,
        }
    }
    gort::run(move || {
        // Go's `go func() { log.Println(http.ListenAndServe(addr, nil)) }()`
        let server = match gort::pprof::serve(addr.as_str()) {
            Ok(s) => s,
            Err(e) => {
                gort_samples::log_println!("{e}");
                std::process::exit(1);
            }
        };
        println!("serving http://{}/debug/pprof/", server.addr());
        for _ in 0..10 {
            let s = big_bytes();
            if std::hint::black_box(s).len() != 100_000_000 {
                gort_samples::log_println!("oh noes");
            }
        }
        // Go's `wg.Add(1); wg.Wait()`: stay up for the pprof server
        // analysis. A sleeping goroutine, so gort's deadlock detector (which
        // Go's would not trigger here either: the server is a goroutine
        // there) stays quiet.
        match exit_after {
            Some(s) => gort::sleep(Duration::from_secs_f64(s)),
            None => loop {
                gort::sleep(Duration::from_secs(3600));
            },
        }
        drop(server);
    })
}
