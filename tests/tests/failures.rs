//! Go's failure semantics, observed from outside the process: a panic, a
//! deadlock and a stack overflow each end the program with exit status 2
//! and Go's message on stderr. Each case runs in a child process (this test
//! binary re-executed with `GORT_TEST_CHILD=<case>`).

use gort::{chan, go, sleep};
use gort_tests::{child_case, run_child, run_tests, stderr_of};
use std::time::Duration;

/// The body of each child case. Every case is expected to end the process
/// before `gort::run` returns; falling through exits 0, which the parent
/// reports as a failure.
fn child(case: &str) {
    match case {
        "panic_in_goroutine" => gort::run(|| {
            go(|| panic!("boom from a goroutine"));
            sleep(Duration::from_secs(10));
        }),
        "panic_in_main" => gort::run(|| {
            let v: Vec<u32> = Vec::new();
            if std::hint::black_box(v.is_empty()) {
                panic!("boom from main");
            }
        }),
        "deadlock_recv" => gort::run(|| {
            let c = chan::<i32>(0);
            c.recv();
        }),
        "deadlock_all_blocked" => gort::run(|| {
            // Every goroutine waits on a channel nobody will ever send on.
            let c = chan::<i32>(0);
            for _ in 0..4 {
                let c = c.clone();
                go(move || {
                    c.recv();
                });
            }
            let wg = gort::sync::WaitGroup::new();
            wg.add(1);
            wg.wait();
        }),
        "stack_overflow" => gort::run(|| {
            println!("{}", recurse(0));
        }),
        "stack_overflow_in_goroutine" => gort::run(|| {
            let done = chan::<u64>(0);
            let d = done.clone();
            go(move || d.send(recurse(0)));
            println!("{:?}", done.recv());
        }),
        other => panic!("unknown child case {other}"),
    }
}

/// Unbounded recursion with a frame the optimiser cannot remove.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if std::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[1]
}

fn expect_exit2(case: &str, needles: &[&str]) -> String {
    let out = run_child(case, &[]);
    let err = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case}: exit status {:?}, stderr:\n{err}",
        out.status
    );
    for n in needles {
        assert!(err.contains(n), "{case}: stderr lacks {n:?}:\n{err}");
    }
    err
}

/// `goroutine N [running]:` with N a number, as Go prints after `panic:`.
fn assert_goroutine_header(case: &str, err: &str) {
    let ok = err.lines().any(|l| {
        l.strip_prefix("goroutine ")
            .and_then(|r| r.strip_suffix(" [running]:"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    assert!(ok, "{case}: no `goroutine N [running]:` line in:\n{err}");
}

fn panic_in_goroutine() {
    let err = expect_exit2("panic_in_goroutine", &["panic: boom from a goroutine"]);
    assert_goroutine_header("panic_in_goroutine", &err);
}

fn panic_in_main() {
    let err = expect_exit2("panic_in_main", &["panic: boom from main"]);
    assert_goroutine_header("panic_in_main", &err);
}

fn deadlock_recv() {
    expect_exit2(
        "deadlock_recv",
        &["fatal error: all goroutines are asleep - deadlock!"],
    );
}

fn deadlock_all_blocked() {
    expect_exit2(
        "deadlock_all_blocked",
        &["fatal error: all goroutines are asleep - deadlock!"],
    );
}

fn stack_overflow() {
    let err = expect_exit2("stack_overflow", &["fatal error: stack overflow"]);
    assert!(!err.contains("Segmentation fault"), "{err}");
}

fn stack_overflow_in_goroutine() {
    expect_exit2(
        "stack_overflow_in_goroutine",
        &["fatal error: stack overflow"],
    );
}

fn main() {
    if let Some(case) = child_case() {
        child(&case);
        return;
    }
    run_tests(&[
        ("panic_in_goroutine", panic_in_goroutine),
        ("panic_in_main", panic_in_main),
        ("deadlock_recv", deadlock_recv),
        ("deadlock_all_blocked", deadlock_all_blocked),
        ("stack_overflow", stack_overflow),
        ("stack_overflow_in_goroutine", stack_overflow_in_goroutine),
    ]);
}
