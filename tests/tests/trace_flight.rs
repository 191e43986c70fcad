//! `gort::trace::FlightRecorder`: the execution trace kept in a bounded
//! ring of generations, written out on demand as a whole trace that Go
//! 1.19's `go tool trace -d` and the newer Go's `go tool trace -d=parsed`
//! read, covering at least the last `min_age` and not much more, with
//! `max_bytes` taking precedence; Go's errors for misuse; running beside
//! a written trace.

use gort::trace::{FlightRecorder, FlightRecorderConfig};
use gort_tests::go_tools::{go_tool, go_tool_of, have_go, newer_go, TestDir};
use gort_tests::view_trace;
use std::time::{Duration, Instant};

/// Goroutines handing values over a channel: a steady stream of create,
/// start, block, unblock and end events (a few thousand a second), for
/// `d`.
#[inline(never)]
fn ping_pong_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < d {
        let c = gort::chan::<u64>(0);
        let tx = c.clone();
        gort::go(move || {
            tx.send(1);
        });
        n += c.recv().unwrap();
        if n % 8 == 0 {
            gort::sleep(Duration::from_millis(1));
        }
    }
    n
}

/// A churn of allocations: collection cycles in the window.
#[inline(never)]
fn churn(n: usize) {
    for i in 0..n {
        let v = gort::make_slice::<u8>(64 << 10);
        v.set(0, i as u8);
    }
}

/// Parses `file` in `dir` with both Go toolchains and opens it in both
/// trace viewers (which build their events at start, where a trace the
/// parser accepts can still crash them); returns the span of the trace
/// (its last event's time, ns from the first, per Go 1.19's `-d`) if Go
/// 1.19 is here.
fn parse_with_go(test: &str, dir: &TestDir, file: &str) -> Option<u64> {
    let mut span = None;
    if have_go(test) {
        let (events, _) = go_tool(dir, &["trace", "-d", file]);
        assert!(events.contains(" GoCreate "), "{file}: no GoCreate");
        span = events
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .max();
        if let Err(e) = view_trace(None, dir, file) {
            panic!("{file}: Go 1.19's viewer failed: {e}");
        }
    }
    if let Some(root) = newer_go(test) {
        let (ok, out, err) = go_tool_of(&root, dir, &["trace", "-d=parsed", file]);
        assert!(
            ok,
            "{file}: newer go tool trace -d=parsed failed:\n{err}\n{}",
            &out[..out.len().min(2000)]
        );
        if let Err(e) = view_trace(Some(&root), dir, file) {
            panic!("{file}: the newer Go's viewer failed: {e}");
        }
    }
    span
}

#[test]
fn the_window_covers_min_age_and_not_the_whole_run() {
    let dir = TestDir::new("flight-window");
    let min_age = Duration::from_millis(400);
    let (bytes, window, ran) = gort::run(move || {
        let fr = FlightRecorder::new(FlightRecorderConfig {
            min_age,
            max_bytes: 64 << 20,
        });
        fr.start().unwrap();
        let t = Instant::now();
        gort::go(|| churn(2000));
        ping_pong_for(Duration::from_millis(2500));
        let mut out = Vec::new();
        let n = fr.write_to(&mut out).unwrap();
        assert_eq!(n as usize, out.len());
        let window = fr.window().unwrap();
        let ran = t.elapsed();
        fr.stop();
        assert!(!fr.enabled());
        (out, window, ran)
    });
    assert!(bytes.starts_with(b"go 1.19 trace\0\0\0"));
    // At least min_age; whole generations; older ones dropped: far less
    // than the 2.5 s the program ran (min_age + one generation that
    // crosses it + the active one + the settling delay).
    assert!(window.span >= min_age, "{window:?}");
    assert!(
        window.span < Duration::from_millis(1500),
        "{window:?} after {ran:?}"
    );
    assert!(window.generations >= 2, "{window:?}");
    std::fs::write(dir.join("flight.out"), &bytes).unwrap();
    if let Some(span) = parse_with_go("the_window_covers_min_age", &dir, "flight.out") {
        // The trace's events reach back at least min_age (the last settle
        // delay of events may not have arrived yet: 100 ms of slack).
        assert!(
            span + 100_000_000 >= min_age.as_nanos() as u64,
            "span {span} ns"
        );
        assert!(span < 1_500_000_000, "span {span} ns");
    }
}

#[test]
fn max_bytes_takes_precedence_over_min_age() {
    let (window, bytes) = gort::run(|| {
        let fr = FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_secs(30),
            max_bytes: 16 << 10,
        });
        fr.start().unwrap();
        ping_pong_for(Duration::from_millis(2000));
        let w = fr.window().unwrap();
        let mut out = Vec::new();
        fr.write_to(&mut out).unwrap();
        (w, out)
    });
    // Without the byte bound the window would hold the whole 2 s run.
    assert!(window.span < Duration::from_millis(1500), "{window:?}");
    let dir = TestDir::new("flight-bytes");
    std::fs::write(dir.join("small.out"), &bytes).unwrap();
    parse_with_go("max_bytes_takes_precedence", &dir, "small.out");
}

#[test]
fn misuse_gets_gos_errors_and_defaults_are_gos() {
    gort::run(|| {
        let d = FlightRecorder::new(FlightRecorderConfig::default());
        assert_eq!(d.min_age(), Duration::from_secs(10));
        assert_eq!(d.max_bytes(), 10 << 20);
        assert_eq!(
            d.write_to(std::io::sink()).unwrap_err().to_string(),
            "cannot snapshot a disabled flight recorder"
        );
        d.start().unwrap();
        assert!(d.enabled());
        assert_eq!(
            d.start().unwrap_err().to_string(),
            "cannot enable a enabled flight recorder"
        );
        let other = FlightRecorder::new(FlightRecorderConfig::default());
        assert!(other.start().is_err(), "one flight recorder at a time");
        assert!(!other.enabled());
        other.stop(); // not running: nothing happens
        assert!(d.enabled());
        d.stop();
        assert!(!d.enabled());
        // Stopped, another one may start.
        other.start().unwrap();
        other.stop();
    });
}

#[test]
fn runs_beside_a_written_trace() {
    let dir = TestDir::new("flight-beside");
    let (flight, traced) = gort::run(|| {
        let fr = FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_millis(200),
            max_bytes: 0,
        });
        fr.start().unwrap();
        ping_pong_for(Duration::from_millis(300));
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
        ping_pong_for(Duration::from_millis(300));
        gort::runtime::gc();
        gort::trace::stop().unwrap();
        // The flight recorder keeps recording after the trace stopped.
        ping_pong_for(Duration::from_millis(300));
        assert!(gort::trace::is_enabled());
        let mut out = Vec::new();
        fr.write_to(&mut out).unwrap();
        fr.stop();
        assert!(!gort::trace::is_enabled());
        let traced = std::mem::take(&mut *buf.lock().unwrap());
        (out, traced)
    });
    std::fs::write(dir.join("flight.out"), &flight).unwrap();
    std::fs::write(dir.join("traced.out"), &traced).unwrap();
    parse_with_go("runs_beside_a_written_trace", &dir, "flight.out");
    parse_with_go("runs_beside_a_written_trace", &dir, "traced.out");
}
