//! The `/debug/pprof/` server cannot be wedged by clients that leave: a
//! CPU profile, a trace or a delta profile whose client closes its
//! connection is cancelled (the next request gets the profiler), and a
//! flood of abandoned requests leaves the process's threads and RSS where
//! they were (the request threads are a fixed pool).
//!
//! One test function, so nothing else in this process profiles, traces or
//! starts threads meanwhile. Durations below are hang detectors, never
//! measurements: a wedged server fails them (it would answer 500 for
//! 100,000 s).

use gort_tests::http_client::get;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a case may take before it counts as hung.
const HANG: Duration = Duration::from_secs(120);

/// Sends `GET path` on a new connection and returns the connection, the
/// request in flight.
fn send(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    s
}

/// Sends `GET path` and closes the connection at once. The server may
/// have refused it already (503, closed), so the write may fail.
fn abandon(addr: SocketAddr, path: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
}

/// Waits (hang detector) until `busy` holds, e.g. that the request in flight holds
/// the profiler or tracer, so closing its connection abandons a running
/// capture.
fn until(what: &str, busy: impl Fn() -> bool) {
    let start = Instant::now();
    while !busy() {
        assert!(
            start.elapsed() < HANG,
            "{what}: still waiting after {HANG:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cpu_profile_running() -> bool {
    gort::crates::profiler::cpu::is_profiling()
}

fn trace_running() -> bool {
    gort::trace::is_enabled()
}

/// `GET path` until it is not a 500 (the abandoned capture may still be
/// writing its last bytes); returns the answer and the number of 500s.
fn next_request(addr: SocketAddr, path: &str) -> (gort_tests::http_client::Answer, u32) {
    let start = Instant::now();
    let mut busy = 0;
    loop {
        let a = get(addr, path);
        if a.status != 500 {
            return (a, busy);
        }
        busy += 1;
        assert!(
            start.elapsed() < HANG,
            "{path}: still 500 after the client left: {}",
            a.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Allocates, so heap profiles have samples and GC cycles run.
#[inline(never)]
fn churn() {
    while !STOP.load(Ordering::Relaxed) {
        for _ in 0..100 {
            let v = gort::make_slice::<u64>(1000);
            v.set(0, 1);
        }
        gort::sleep(Duration::from_millis(1));
    }
}

#[test]
fn abandoned_requests_do_not_wedge_the_server() {
    // The test's own thread is not a goroutine: it blocks in socket calls
    // freely, and a stop of the world (trace start) does not wait for it.
    let server = gort::pprof::serve("127.0.0.1:0").unwrap();
    gort::runtime::set_mem_profile_rate(4096);
    gort::go(churn);
    cases(server.addr());
    STOP.store(true, Ordering::Relaxed);
    server.stop();
}

fn cases(addr: SocketAddr) {
    // A CPU profile of 100,000 s, abandoned while it runs.
    let conn = send(addr, "/debug/pprof/profile?seconds=100000");
    until("profile to start", cpu_profile_running);
    drop(conn);
    let (a, busy) = next_request(addr, "/debug/pprof/profile?seconds=1");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(&a.body[..2], &[0x1f, 0x8b]);
    eprintln!("profile: the next request succeeded after {busy} busy answers");

    // A trace of 100,000 s, abandoned while it streams.
    let conn = send(addr, "/debug/pprof/trace?seconds=100000");
    until("trace to start", trace_running);
    drop(conn);
    let (a, busy) = next_request(addr, "/debug/pprof/trace?seconds=0.2");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(&a.body[..16], b"go 1.19 trace\0\0\0");
    eprintln!("trace: the next request succeeded after {busy} busy answers");

    // A trace streams: its first bytes arrive while it still records (a
    // minute long: the ordering, not a duration, is what is checked).
    // Then its client leaves, and it stops.
    let mut conn = send(addr, "/debug/pprof/trace?seconds=60");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
        assert!(n > 0, "the trace ended before any of it arrived");
        got.extend_from_slice(&buf[..n]);
        if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            // the first chunk's size line, then the trace's header
            let body = &got[h + 4..];
            if let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
                if body.len() >= eol + 2 + 16 {
                    assert_eq!(&body[eol + 2..eol + 2 + 16], b"go 1.19 trace\0\0\0");
                    break;
                }
            }
        }
        assert!(start.elapsed() < HANG, "no trace bytes");
    }
    assert!(
        trace_running(),
        "the first bytes of the trace arrived only after it stopped (not streamed)"
    );
    drop(conn);
    until("the abandoned streaming trace to stop", || !trace_running());

    // A flood of abandoned delta profiles (each would wait 60 s). Warm up
    // first (symbolizer tables, the runtime's threads), then count.
    for path in [
        "/debug/pprof/",
        "/debug/pprof/heap",
        "/debug/pprof/goroutine?debug=1",
    ] {
        assert_eq!(get(addr, path).status, 200, "{path}");
    }
    let (threads0, rss0) = (threads(), rss_kib());
    let mut most = threads0;
    let mut refused = 0;
    for i in 0..2000 {
        abandon(addr, "/debug/pprof/heap?seconds=60");
        if i % 8 == 7 {
            // Pace the flood: the queue is first come, first served, so
            // once this request is answered every abandoned one before it
            // has been taken by a worker (started its delta, seen the
            // client gone). Refusals (503) are counted, not expected.
            let a = get(addr, "/debug/pprof/cmdline");
            if a.status == 503 {
                refused += 1;
            } else {
                assert_eq!(a.status, 200, "{}", a.text());
            }
            most = most.max(threads());
        }
    }
    let (threads1, rss1) = (threads(), rss_kib());
    most = most.max(threads1);
    eprintln!(
        "flood of 2000 abandoned heap?seconds=60: threads {threads0} -> {threads1} (at most {most}), RSS {rss0} KiB -> {rss1} KiB, {refused} of 250 pacing requests refused"
    );
    assert!(
        most <= threads0 + 2,
        "threads grew from {threads0} to {most}"
    );
    assert!(
        rss1 <= rss0 + 64 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
    // And a delta profile that is not abandoned still works.
    let a = get(addr, "/debug/pprof/heap?seconds=1");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("Content-Disposition"),
        Some("attachment; filename=\"heap-delta\"")
    );
}
