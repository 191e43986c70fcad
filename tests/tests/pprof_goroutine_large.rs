//! A goroutine profile of 100,000 goroutines completes, lists each once,
//! and shows a goroutine blocked in a system call (P-less) as `syscall`
//! with its own frames. Run as a child process (this binary re-executed)
//! with a generous time limit that only detects a hang.

use gort_tests::{child_case, run_child_with_limit, run_tests, stderr_of, stdout_of};
use std::time::Duration;

const N: usize = 100_000;

#[inline(never)]
fn parked_in_large_dump(ch: gort::Chan<u32>) {
    std::hint::black_box(ch.recv());
}

/// Blocks its thread in the kernel without a P.
#[inline(never)]
fn blocked_in_syscall(d: Duration) {
    gort::blocking(|| std::thread::sleep(d));
}

fn child(case: &str) {
    match case {
        "dump_100k" => gort::run(|| {
            let ch = gort::chan::<u32>(0);
            let wg = gort::sync::WaitGroup::new();
            for _ in 0..N {
                let (ch, wg) = (ch.clone(), wg.clone());
                wg.add(1);
                gort::go(move || {
                    parked_in_large_dump(ch);
                    wg.done();
                });
            }
            {
                let wg = wg.clone();
                wg.add(1);
                gort::go(move || {
                    blocked_in_syscall(Duration::from_secs(3));
                    wg.done();
                });
            }
            while gort::runtime::num_goroutine() < N + 2 {
                gort::sleep(Duration::from_millis(10));
            }
            gort::sleep(Duration::from_millis(300));
            let p = gort::pprof::lookup("goroutine").unwrap();
            let mut t2 = Vec::new();
            p.write_to(&mut t2, 2).unwrap();
            let t2 = String::from_utf8(t2).unwrap();
            let headers = t2.matches("\ngoroutine ").count() + 1;
            let parked = t2.matches("[chan receive]:\n").count();
            let at_leaf = t2.matches("(...)\n").count();
            let syscall: Vec<&str> = t2
                .split("\n\n")
                .filter(|b| b.contains(" [syscall]:\n"))
                .collect();
            // Its stack from the interrupted instruction: the kernel call
            // first (named by libc's symbol), then our function.
            let sys_frames = syscall.first().is_some_and(|b| {
                let first = b.lines().nth(1).unwrap_or("");
                first.contains("nanosleep")
                    && b.contains("\npprof_goroutine_large::blocked_in_syscall(...)\n")
            });
            if !sys_frames {
                eprintln!("{}", syscall.first().unwrap_or(&""));
            }
            let mut t1 = Vec::new();
            p.write_to(&mut t1, 1).unwrap();
            let t1 = String::from_utf8(t1).unwrap();
            println!("headers {headers} parked {parked} frames>0 {}", at_leaf > 0);
            println!("syscall {} with frames {sys_frames}", syscall.len());
            println!("{}", t1.lines().next().unwrap_or(""));
            println!(
                "grouped {}",
                t1.contains(&format!("\n{N} @ 0x")) && t1.contains("parked_in_large_dump+0x")
            );
            ch.close();
            wg.wait();
            println!("ok");
        }),
        _ => panic!("unknown case {case}"),
    }
}

fn main() {
    if let Some(case) = child_case() {
        child(&case);
        return;
    }
    run_tests(&[("dump_100k", || {
        let out = run_child_with_limit("dump_100k", &[], Duration::from_secs(600))
            .expect("the goroutine profile of 100k goroutines did not finish in 600 s");
        let so = stdout_of(&out);
        assert!(out.status.success(), "{so}\n{}", stderr_of(&out));
        for want in [
            format!("headers {} parked {N} frames>0 true", N + 2),
            "syscall 1 with frames true".to_string(),
            format!("goroutine profile: total {}", N + 2),
            "grouped true".to_string(),
            "ok".to_string(),
        ] {
            assert!(so.lines().any(|l| l == want), "want {want:?} in:\n{so}");
        }
    })]);
}
