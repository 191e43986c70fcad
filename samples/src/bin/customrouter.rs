//! `customrouter` — the walk-through's custom router: "Hello World" at `/`
//! and the `/debug/pprof/` handlers on ONE server of the program's own.
//!
//! The Go twin (`samples/go/customrouter/main.go`) makes an
//! `http.NewServeMux()`, registers its `message` handler on `/` and
//! `pprof.Index`, `Cmdline`, `Profile`, `Symbol` and `Trace` beside it, and
//! serves `:8080`. This program does the same on a `tiny_http` server:
//! each request becomes an `http::Request`, goes to the handler its path
//! selects (`gort::pprof::http::{index, cmdline, profile, symbol,
//! trace}`, or `message`), and the `http::Response` goes back out, with
//! `Transfer-Encoding: chunked` for the trace's stream. Any server that
//! speaks the `http` crate's types (hyper, axum, …) routes the same way.
//! Beyond the twin, `/debug/metrics` serves the runtime's metrics in the
//! Prometheus text format (`gort::metrics::metrics_handler`).
//!
//! ```text
//! cargo run --release --bin customrouter &          # or: -- 127.0.0.1:0 for any port
//! curl http://localhost:8080/                      # Hello World
//! curl http://localhost:8080/debug/metrics         # Prometheus text
//! go tool pprof -top http://localhost:8080/debug/pprof/heap
//! go tool pprof -top -seconds 5 http://localhost:8080   # CPU profile
//! ```
//!
//! One difference from Go's server: `tiny_http` does not let a handler see
//! the connection, so it cannot tell the handlers that a client has gone
//! away (no `gort::pprof::http::Disconnect` in the request); an
//! abandoned `profile?seconds=N` here holds the CPU profiler for its N
//! seconds, as it would in Go under a server that never cancels. A trace
//! whose client leaves is stopped anyway, once writing its stream fails
//! (the stream, dropped, stops the trace). `gort::pprof::serve` watches its
//! sockets and cancels at once.
//!
//! Requests are answered by `gort_samples::customrouter::THREADS`
//! threads that take turns on the server's queue (tiny_http's own
//! connection threads read the requests), so a 30 s CPU profile does not
//! hold up the others.
//!
//! `--exit-after SECONDS` stops it after that long instead of serving
//! forever (for scripts and tests).

use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: customrouter [ADDR] [--exit-after SECONDS]");
    std::process::exit(2);
}

fn main() {
    let mut addr = "localhost:8080".to_string();
    let mut exit_after: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exit-after" => {
                exit_after = args.next().and_then(|v| v.parse().ok());
                if exit_after.is_none() {
                    usage();
                }
            }
            "-h" | "--help" => usage(),
            _ => addr = a,
        }
    }
    gort::run(move || {
        // Go's `http.ListenAndServe(":8080", r)`.
        let router = match gort_samples::customrouter::listen(&addr) {
            Ok(r) => r,
            Err(e) => {
                gort_samples::log_println!("{e}");
                std::process::exit(1);
            }
        };
        println!("serving http://{}/", router.addr());
        // The program's main goroutine waits, as Go's ListenAndServe does
        // (sleeping, so gort's deadlock detector stays quiet).
        match exit_after {
            Some(s) => gort::sleep(Duration::from_secs_f64(s)),
            None => loop {
                gort::sleep(Duration::from_secs(3600));
            },
        }
        drop(router);
    })
}
