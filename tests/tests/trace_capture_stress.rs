//! Every capture parses: execution traces taken over HTTP
//! (`/debug/pprof/trace?seconds=F`) from a program that collects garbage
//! all the time, started and stopped at whatever point its cycles have
//! reached, are read by Go 1.19's trace viewer (`go tool trace`, whose
//! `/jsontrace` builds the viewer's events and crashed on a trace that
//! ended between `GCStart` and `GCDone`) and by the newer Go's parser
//! (`go tool trace -d=parsed`).

use gort_tests::go_tools::{go_tool, go_tool_of, have_go, newer_go, TestDir};
use gort_tests::http_client::get;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

/// Allocates 64 KiB slices with a small live set, about 2 MiB per
/// millisecond: a cycle every few milliseconds.
#[inline(never)]
fn churn() {
    let keep = gort::make_slice::<u64>(16);
    let mut i = 0;
    while !STOP.load(Ordering::Relaxed) {
        let v = gort::make_slice::<u8>(64 << 10);
        v.set(0, i as u8);
        i += 1;
        if i % 32 == 0 {
            keep.set(i / 32 % 16, v.get(0) as u64);
            gort::sleep(Duration::from_millis(1));
        }
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `file` with Go 1.19's `go tool trace` and fetches `/jsontrace`
/// (the viewer's whole trace); returns the answer's status and body, or
/// what went wrong.
fn view_with_go119(dir: &std::path::Path, file: &str) -> Result<Vec<u8>, String> {
    let port = free_port();
    let log_path = dir.join(format!("{file}.viewer.log"));
    let mut child = Command::new("go")
        .args(["tool", "trace", &format!("-http=127.0.0.1:{port}"), file])
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("BROWSER", "true") // "opens" no browser
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn go tool trace");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // It listens before it parses; the page answers once it has parsed.
    let start = Instant::now();
    let result = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("go tool trace exited: {status}"));
        }
        if start.elapsed() > Duration::from_secs(120) {
            break Err("go tool trace never answered".to_string());
        }
        if TcpStream::connect(addr).is_ok() {
            break match std::panic::catch_unwind(|| get(addr, "/jsontrace")) {
                Ok(a) if a.status == 200 => Ok(a.body),
                Ok(a) => Err(format!("/jsontrace: {} {}", a.status, a.text())),
                Err(_) => Err("/jsontrace: no answer (the viewer crashed?)".into()),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    // net/http recovers a handler's panic and logs it.
    if log.contains("panic") {
        return Err(format!("the viewer panicked:\n{log}"));
    }
    result.map_err(|e| format!("{e}\n{log}"))
}

/// A trace of `secs` started and stopped by a goroutine.
fn from_a_goroutine(secs: f64) -> Vec<u8> {
    let (tx, rx) = std::sync::mpsc::channel();
    gort::go(move || {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct W(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        gort::trace::start(W(buf.clone())).unwrap();
        gort::sleep(Duration::from_secs_f64(secs));
        gort::trace::stop().unwrap();
        let _ = tx.send(std::mem::take(&mut *buf.lock().unwrap()));
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the tracing goroutine hung")
}

#[test]
fn traces_captured_over_http_at_any_moment_parse() {
    let server = gort::pprof::serve("127.0.0.1:0").unwrap();
    let addr = server.addr();
    for _ in 0..2 {
        gort::go(churn);
    }
    let go119 = have_go("traces_captured_over_http_at_any_moment_parse");
    let go_new = newer_go("traces_captured_over_http_at_any_moment_parse");
    let dir = TestDir::new("trace-stress");
    let gc0 = gort::runtime::read_mem_stats().num_gc;
    let start = Instant::now();
    let (mut gc_events, mut captures) = (0, 0);
    for i in 0..12 {
        // 10 ms to 100 ms: stops land at every point of a cycle; then
        // 0.6 s and 1 s, written in several parts as they record. Most
        // over HTTP (stopped by a request thread), every third from a
        // goroutine (the caller's own run must be ended in the trace).
        let secs = if i < 10 {
            0.01 + 0.01 * i as f64
        } else {
            0.6 + 0.4 * (i - 10) as f64
        };
        let body = if i % 3 == 2 {
            from_a_goroutine(secs)
        } else {
            let a = get(addr, &format!("/debug/pprof/trace?seconds={secs}"));
            assert_eq!(a.status, 200, "capture {i}: {}", a.text());
            a.body
        };
        assert_eq!(&body[..16], b"go 1.19 trace\0\0\0");
        let file = format!("trace-{i}.out");
        std::fs::write(dir.join(&file), &body).unwrap();
        captures += 1;
        if go119 {
            let (events, err) = go_tool(&dir, &["trace", "-d", &file]);
            let starts = events.matches(" GCStart ").count();
            let dones = events.matches(" GCDone ").count();
            assert_eq!(starts, dones, "capture {i}: GCStart/GCDone unpaired\n{err}");
            gc_events += starts;
            if let Err(e) = view_with_go119(&dir, &file) {
                panic!("capture {i} ({secs} s): Go 1.19's viewer failed: {e}");
            }
        }
        if let Some(root) = &go_new {
            let (ok, out, err) = go_tool_of(root, &dir, &["trace", "-d=parsed", &file]);
            assert!(
                ok,
                "capture {i}: newer go tool trace -d=parsed failed:\n{err}\n{}",
                &out[..out.len().min(2000)]
            );
        }
        assert!(start.elapsed() < Duration::from_secs(600), "hung");
    }
    let cycles = gort::runtime::read_mem_stats().num_gc - gc0;
    eprintln!("{captures} captures, {cycles} GC cycles meanwhile, {gc_events} GCStart events in the captures");
    assert!(
        cycles >= 10,
        "the program should collect all the time: {cycles} cycles"
    );
    if go119 {
        assert!(gc_events > 0, "no capture saw a cycle");
    }
    STOP.store(true, Ordering::Relaxed);
    server.stop();
}
