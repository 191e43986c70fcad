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
//!
//! ```text
//! cargo run --release --bin customrouter &          # or: -- 127.0.0.1:0 for any port
//! curl http://localhost:8080/                      # Hello World
//! go tool pprof -top http://localhost:8080/debug/pprof/heap
//! go tool pprof -top -seconds 5 http://localhost:8080   # CPU profile
//! ```
//!
//! One difference from Go's server: `tiny_http` does not let a handler see
//! the connection, so it cannot tell the handlers that a client has gone
//! away (no [`gort::pprof::http::Disconnect`] in the request); an
//! abandoned `profile?seconds=N` here holds the CPU profiler for its N
//! seconds, as it would in Go under a server that never cancels. A trace
//! whose client leaves is stopped anyway: writing its stream fails and
//! the stream, dropped, stops the trace. `gort::pprof::serve` watches its
//! sockets and cancels at once.
//!
//! Requests are answered by [`THREADS`] threads that take turns on the
//! server's queue (tiny_http's own connection threads read the requests),
//! so a 30 s CPU profile does not hold up the others.
//!
//! `--exit-after SECONDS` stops it after that long instead of serving
//! forever (for scripts and tests).

use gort::pprof::http as pprof;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// Threads answering requests.
const THREADS: usize = 4;

/// Go's `message`: `w.Write([]byte("Hello World"))` (Go's server sniffs
/// the type: `text/plain; charset=utf-8`).
fn message(_req: &http::Request<Vec<u8>>) -> http::Response<pprof::Body> {
    http::Response::builder()
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(pprof::Body::from(b"Hello World".to_vec()))
        .expect("a valid response")
}

/// The router: Go's `ServeMux` with `/`, `/debug/pprof/` (a subtree) and
/// the four exact paths registered.
fn route(req: &http::Request<Vec<u8>>) -> http::Response<pprof::Body> {
    match req.uri().path() {
        "/debug/pprof/cmdline" => pprof::cmdline(req),
        "/debug/pprof/profile" => pprof::profile(req),
        "/debug/pprof/symbol" => pprof::symbol(req),
        "/debug/pprof/trace" => pprof::trace(req),
        // ServeMux redirects a subtree's root without its slash.
        "/debug/pprof" => http::Response::builder()
            .status(301)
            .header("Location", "/debug/pprof/")
            .body(pprof::Body::from(Vec::new()))
            .expect("a valid response"),
        p if p.starts_with("/debug/pprof/") => pprof::index(req),
        _ => message(req),
    }
}

/// tiny_http's request → `http::Request` → the router → tiny_http's
/// response.
fn answer(mut req: tiny_http::Request) {
    let mut body = Vec::new();
    if req.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let mut b = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.url());
    for h in req.headers() {
        b = b.header(h.field.as_str().as_str(), h.value.as_str());
    }
    let resp = match b.body(body) {
        Ok(r) => route(&r),
        Err(_) => http::Response::builder()
            .status(400)
            .body(pprof::Body::from(b"400 Bad Request\n".to_vec()))
            .expect("a valid response"),
    };
    let (parts, body) = resp.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_str(), v.as_bytes()).ok())
        .collect();
    let len = body.len(); // None: a stream, sent chunked
    let _ = req.respond(tiny_http::Response::new(
        parts.status.as_u16().into(),
        headers,
        body,
        len,
        None,
    ));
}

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
        let server = match tiny_http::Server::http(addr.as_str()) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                gort_samples::log_println!("listen tcp {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!("serving http://{}/", server.server_addr());
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let s = server.clone();
                std::thread::spawn(move || {
                    while let Ok(req) = s.recv() {
                        answer(req);
                    }
                })
            })
            .collect();
        // The program's main goroutine waits, as Go's ListenAndServe does
        // (sleeping, so gort's deadlock detector stays quiet).
        match exit_after {
            Some(s) => gort::sleep(Duration::from_secs_f64(s)),
            None => loop {
                gort::sleep(Duration::from_secs(3600));
            },
        }
        for _ in 0..THREADS {
            server.unblock();
        }
        for t in threads {
            let _ = t.join();
        }
    })
}
