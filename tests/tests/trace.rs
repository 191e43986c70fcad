//! `gort::trace`: an execution trace of goroutines, channels, sleeps,
//! yields and a forced collection, written in Go's v1 format and read back by Go 1.19's own parser
//! (`go tool trace -d`). Without Go on PATH the parse step is skipped with a
//! printed reason, unless `GORT_REQUIRE_GO=1` (CI), where it fails.

use gort::sync::WaitGroup;
use gort::{chan, go, gosched, sleep};
use gort_tests::go_tools::have_go;
use std::process::Command;
use std::time::Duration;

/// A small program with every kind of scheduler event.
fn workload() {
    let c = chan::<u64>(0);
    let wg = WaitGroup::new();
    for i in 0..4u64 {
        let (c, wg) = (c.clone(), wg.clone());
        wg.add(1);
        go(move || {
            gosched();
            c.send(i);
            sleep(Duration::from_millis(2));
            wg.done();
        });
    }
    let mut sum = 0;
    for _ in 0..4 {
        sum += c.recv().expect("a value");
    }
    wg.wait();
    assert_eq!(sum, 6);
    // A receive that finds no sender parks (GoBlockRecv, then GoUnblock by
    // the sender). The receives above may all find their senders already
    // waiting, so this part makes the block near-certain: each sender
    // sleeps before sending, and ten rounds mean a main goroutine
    // descheduled for a whole sleep once cannot hide every block.
    let r = chan::<u64>(0);
    for round in 0..10u64 {
        let sender = r.clone();
        go(move || {
            sleep(Duration::from_millis(2));
            sender.send(round);
        });
        assert_eq!(r.recv(), Some(round));
    }
}

#[test]
fn go_tool_trace_reads_the_trace() {
    let dir = std::env::temp_dir().join(format!("gort-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.out");
    let file = std::fs::File::create(&path).unwrap();
    gort::run(move || {
        gort::trace::start(file).expect("start");
        assert!(
            gort::trace::start(std::io::sink()).is_err(),
            "a second start fails, as in Go"
        );
        workload();
        gort::runtime::gc();
        gort::trace::stop().expect("stop writes a trace Go's parser rules accept");
    });
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"go 1.19 trace\0\0\0"), "v1 header");
    if !have_go("go_tool_trace_reads_the_trace") {
        return;
    }
    let out = Command::new("go")
        .args(["tool", "trace", "-d"])
        .arg(&path)
        .output()
        .expect("run go tool trace");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "go tool trace -d failed:\n{text}");
    for ev in [
        "GoCreate",
        "GoStart",
        "GoSched",
        "GoBlockRecv",
        "GoUnblock",
        "GoSleep",
        "GoEnd",
    ] {
        assert!(text.contains(ev), "no {ev} event in:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
