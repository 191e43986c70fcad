//! The `customrouter` sample: "Hello World" at `/` and gort's
//! `/debug/pprof/` handlers on one `tiny_http` server; plain HTTP and
//! `go tool pprof` fetch from it.

use gort_tests::go_tools::{go_tool, have_go, TestDir};
use gort_tests::http_client::get;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Something for the CPU profile to see.
#[inline(never)]
fn spin() {
    let mut x = 1u64;
    while !STOP.load(Ordering::Relaxed) {
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        gort::gosched();
    }
}

#[test]
fn one_server_answers_hello_world_and_pprof() {
    // The test thread is not a goroutine (see pprof_http_wedge.rs).
    let router = gort_samples::customrouter::listen("127.0.0.1:0").unwrap();
    let addr = router.addr();
    gort::go(spin);

    let a = get(addr, "/");
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "Hello World");
    assert_eq!(a.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(get(addr, "/anything/else").text(), "Hello World");

    let a = get(addr, "/debug/pprof/");
    assert_eq!(a.status, 200);
    assert!(a.text().contains("<a href='heap?debug=1'>heap</a>"));
    let a = get(addr, "/debug/pprof/goroutine?debug=1");
    assert!(
        a.text().starts_with("goroutine profile: total "),
        "{}",
        a.text()
    );
    // Beyond the twin: the runtime's metrics in the Prometheus text format.
    let a = get(addr, "/debug/metrics");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some(gort::metrics::CONTENT_TYPE));
    assert!(
        a.text()
            .contains("# TYPE go_gc_cycles_total_gc_cycles_total counter"),
        "{}",
        a.text()
    );
    let a = get(addr, "/debug/pprof/nosuch");
    assert_eq!((a.status, a.text().as_str()), (404, "Unknown profile\n"));
    let a = get(addr, "/debug/pprof/trace?seconds=0.2");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(&a.body[..16], b"go 1.19 trace\0\0\0");

    if have_go("one_server_answers_hello_world_and_pprof") {
        let dir = TestDir::new("customrouter");
        // A CPU profile, as the walk-through takes it from the custom router.
        let url = format!("http://{addr}/debug/pprof/profile");
        let (raw, err) = go_tool(&dir, &["pprof", "-raw", "-seconds", "2", &url]);
        assert!(raw.contains("PeriodType: cpu nanoseconds"), "{raw}\n{err}");
        assert!(raw.contains("spin"), "{raw}");
        let url = format!("http://{addr}/debug/pprof/heap");
        let (raw, err) = go_tool(&dir, &["pprof", "-raw", &url]);
        assert!(raw.contains("PeriodType: space bytes"), "{raw}\n{err}");
    }
    STOP.store(true, Ordering::Relaxed);
    drop(router);
}
