//! Every capture parses: execution traces taken over HTTP
//! (`/debug/pprof/trace?seconds=F`) from a program that collects garbage
//! all the time, started and stopped at whatever point its cycles have
//! reached, are read by Go 1.19's trace viewer (`go tool trace`, whose
//! `/jsontrace` builds the viewer's events and crashed on a trace that
//! ended between `GCStart` and `GCDone`) and by the newer Go's parser
//! (`go tool trace -d=parsed`, from `$HOME/go127` or `GORT_GO_NEW_ROOT`).
//! Without either toolchain its part is skipped, and the output says so.
//!
//! The busy program runs in a child process with a time limit (a stop of
//! the world that never completes would otherwise hang the test run, and
//! a killed test leaves its files behind); the parent reads the captures
//! the child wrote into the test's directory, which it removes in every
//! case.

use gort_tests::go_tools::{go_tool, go_tool_of, have_go, newer_go, TestDir};
use gort_tests::http_client::get;
use gort_tests::{child_case, run_child_with_limit, run_tests, stderr_of, stdout_of, view_trace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Where the child writes its captures.
const DIR_VAR: &str = "GORT_TRACE_STRESS_DIR";
/// How many captures the child takes.
const CAPTURES: usize = 12;

/// The child: a program that collects all the time, traced 12 times over
/// HTTP or from a goroutine; writes `trace-I.out` into `$GORT_TRACE_STRESS_DIR`
/// and prints the number of cycles it ran meanwhile.
fn capture_child() {
    let dir = std::path::PathBuf::from(std::env::var_os(DIR_VAR).expect("GORT_TRACE_STRESS_DIR"));
    let server = gort::pprof::serve("127.0.0.1:0").unwrap();
    let addr = server.addr();
    for _ in 0..2 {
        gort::go(churn);
    }
    let gc0 = gort::runtime::read_mem_stats().num_gc;
    for i in 0..CAPTURES {
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
        std::fs::write(dir.join(format!("trace-{i}.out")), &body).unwrap();
        eprintln!("capture {i}: {secs} s, {} bytes", body.len());
    }
    let cycles = gort::runtime::read_mem_stats().num_gc - gc0;
    println!("cycles {cycles}");
    STOP.store(true, Ordering::Relaxed);
    server.stop();
}

fn traces_captured_over_http_at_any_moment_parse() {
    let test = "traces_captured_over_http_at_any_moment_parse";
    let go119 = have_go(test);
    let go_new = newer_go(test);
    let dir = TestDir::new("trace-stress");
    let limit = Duration::from_secs(300);
    let dir_str = dir
        .to_str()
        .expect("a UTF-8 temporary directory")
        .to_string();
    let Some(out) = run_child_with_limit("capture", &[(DIR_VAR, &dir_str)], limit) else {
        let written = (0..CAPTURES)
            .filter(|i| dir.join(format!("trace-{i}.out")).exists())
            .count();
        panic!("the traced program hung: {written} of {CAPTURES} captures written in {limit:?}");
    };
    assert!(
        out.status.success(),
        "the traced program failed ({}):\n{}",
        out.status,
        stderr_of(&out)
    );
    let cycles: u64 = stdout_of(&out)
        .lines()
        .find_map(|l| l.strip_prefix("cycles "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the child's cycle count");
    let mut gc_events = 0;
    for i in 0..CAPTURES {
        let file = format!("trace-{i}.out");
        let body = std::fs::read(dir.join(&file)).unwrap();
        assert_eq!(&body[..16], b"go 1.19 trace\0\0\0");
        if go119 {
            let (events, err) = go_tool(&dir, &["trace", "-d", &file]);
            let starts = events.matches(" GCStart ").count();
            let dones = events.matches(" GCDone ").count();
            assert_eq!(starts, dones, "capture {i}: GCStart/GCDone unpaired\n{err}");
            gc_events += starts;
            if let Err(e) = view_trace(None, &dir, &file) {
                panic!("capture {i}: Go 1.19's viewer failed: {e}");
            }
        }
        if let Some(root) = &go_new {
            let (ok, out, err) = go_tool_of(root, &dir, &["trace", "-d=parsed", &file]);
            assert!(
                ok,
                "capture {i}: newer go tool trace -d=parsed failed:\n{err}\n{}",
                &out[..out.len().min(2000)]
            );
            if let Err(e) = view_trace(Some(root), &dir, &file) {
                panic!("capture {i}: the newer Go's viewer failed: {e}");
            }
        }
    }
    eprintln!(
        "{CAPTURES} captures, {cycles} GC cycles meanwhile, {gc_events} GCStart events in the captures; \
         read by Go 1.19 (-d and the viewer's /jsontrace): {}; by the newer Go (-d=parsed and the viewer's /jsontrace): {}",
        if go119 { "yes" } else { "SKIPPED (no go on PATH)" },
        match &go_new {
            Some(r) => format!("yes ({})", r.display()),
            None => "SKIPPED (no newer Go)".to_string(),
        }
    );
    assert!(
        cycles >= 10,
        "the program should collect all the time: {cycles} cycles"
    );
    if go119 {
        assert!(gc_events > 0, "no capture saw a cycle");
    }
}

fn main() {
    if child_case().as_deref() == Some("capture") {
        capture_child();
        return;
    }
    run_tests(&[(
        "traces_captured_over_http_at_any_moment_parse",
        traces_captured_over_http_at_any_moment_parse,
    )]);
}
