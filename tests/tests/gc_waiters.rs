//! Goroutines parked in `runtime::gc()` while others allocate and start
//! cycles, under `GOGC=1` with `clobberfree`: every waiter is woken (the
//! host's `block_until`/`cycle_done` loses no wake-up), every stop of the
//! world completes, and every list comes through intact.
//!
//! A lost wake-up or a stop of the world that never completes shows as a
//! hang, so the scenario runs in a child process with a time limit and a
//! hang fails the test with that diagnosis instead of blocking the run.
//! Each round runs the scenario in a fresh process (start-up races are part
//! of what it exercises).

use gort::runtime::{gc, gomaxprocs, read_mem_stats};
use gort::sync::{Mutex, WaitGroup};
use gort::{chan, go, Builder, Gc};
use gort_tests::lists::{expected, list, sum, Cell};
use gort_tests::{child_case, run_child_with_limit, run_tests, stderr_of, stdout_of};
use std::sync::Arc;
use std::time::Duration;

/// 8 goroutines, 10 rounds each; the even ones call `gc()` every round.
fn scenario() {
    Builder::new().gc_percent(1).clobberfree(true).run(|| {
        let before = read_mem_stats();
        let wg = WaitGroup::new();
        let bad = Arc::new(Mutex::new(0u64));
        for g in 0..8u64 {
            let (wg, bad) = (wg.clone(), bad.clone());
            wg.add(1);
            go(move || {
                for round in 0..10u64 {
                    let salt = g * 100 + round;
                    let l = list(100, salt, 16);
                    if g % 2 == 0 {
                        gc();
                    }
                    if sum(l) != expected(100, salt) {
                        *bad.lock() += 1;
                    }
                }
                wg.done();
            });
        }
        wg.wait();
        let after = read_mem_stats();
        println!("bad={}", *bad.lock());
        println!("forced={}", after.num_forced_gc - before.num_forced_gc);
    });
}

/// Every kind of stop of the world at once: collections (forced and
/// paced), `read_mem_stats`, GOMAXPROCS changes, while lists travel
/// through channels between goroutines.
fn stw_storm() {
    Builder::new().gc_percent(1).clobberfree(true).run(|| {
        let lists = chan::<(u64, Gc<Cell>)>(2);
        let results = chan::<bool>(64);
        let stoppers = WaitGroup::new();
        for k in 0..3u64 {
            let stoppers = stoppers.clone();
            stoppers.add(1);
            go(move || {
                for i in 0..20u64 {
                    match (k + i) % 3 {
                        0 => gc(),
                        1 => {
                            let m = read_mem_stats();
                            assert_eq!(m.heap_idle + m.heap_inuse, m.heap_sys);
                        }
                        _ => {
                            gomaxprocs(if i % 2 == 0 { 1 } else { 2 });
                        }
                    }
                }
                stoppers.done();
            });
        }
        for p in 0..4u64 {
            let lists = lists.clone();
            go(move || {
                for i in 0..10u64 {
                    let salt = p * 1000 + i;
                    lists.send((salt, list(80, salt, 16)));
                }
            });
        }
        for _ in 0..2 {
            let (lists, results) = (lists.clone(), results.clone());
            go(move || {
                while let Some((salt, l)) = lists.recv() {
                    std::hint::black_box(list(20, 0, 16));
                    results.send(sum(l) == expected(80, salt));
                }
            });
        }
        let mut ok = 0;
        for _ in 0..40 {
            if results.recv().expect("a result") {
                ok += 1;
            }
        }
        lists.close();
        stoppers.wait();
        gomaxprocs(2);
        println!("ok={ok}");
    });
}

/// GOMAXPROCS changes from several goroutines at once, while two goroutines
/// play ping-pong on channels: a stopper often runs on a P that its own
/// change destroys, and the next change (another goroutine's) revives it.
fn resize_storm() {
    Builder::new().run(|| {
        let resizers = WaitGroup::new();
        for k in 0..4i32 {
            let resizers = resizers.clone();
            resizers.add(1);
            go(move || {
                for i in 0..150i32 {
                    gomaxprocs(1 + (k + i) % 4);
                }
                resizers.done();
            });
        }
        let (ping, pong) = (chan::<u64>(0), chan::<u64>(0));
        let (ping2, pong2) = (ping.clone(), pong.clone());
        go(move || {
            while let Some(v) = ping2.recv() {
                pong2.send(v + 1);
            }
        });
        let mut total = 0u64;
        for i in 0..3000u64 {
            ping.send(i);
            total += pong.recv().expect("pong") - i;
        }
        ping.close();
        resizers.wait();
        gomaxprocs(2);
        println!("pongs={total}");
    });
}

/// Runs the child `case` in 5 fresh processes; each must exit 0 and print
/// `want`. `what` names the scenario in failure messages.
fn five_rounds(case: &str, what: &str, want: &str) {
    for round in 0..5 {
        let Some(out) = run_child_with_limit(case, &[], Duration::from_secs(60)) else {
            panic!("round {round}: {what} hung for 60 s");
        };
        let so = stdout_of(&out);
        assert!(
            out.status.success(),
            "round {round}: {:?}\n{}",
            out.status,
            stderr_of(&out)
        );
        assert!(
            so.contains(want),
            "round {round}: {what}: no {want:?} in:\n{so}"
        );
    }
}

fn gomaxprocs_from_many_goroutines_at_once() {
    five_rounds("resize_storm", "the GOMAXPROCS storm", "pongs=3000\n");
}

fn every_stop_of_the_world_at_once() {
    five_rounds(
        "stw_storm",
        "the STW storm (lists lost or corrupted?)",
        "ok=40\n",
    );
}

fn waiters_are_woken_and_lists_survive() {
    for round in 0..5 {
        let Some(out) = run_child_with_limit("scenario", &[], Duration::from_secs(60)) else {
            panic!(
                "round {round}: the scenario hung for 60 s — a goroutine parked in gc() was \
                 never woken, or a stop of the world never completed"
            );
        };
        let so = stdout_of(&out);
        assert!(
            out.status.success(),
            "round {round}: {:?}\n{}",
            out.status,
            stderr_of(&out)
        );
        assert!(
            so.contains("bad=0\n"),
            "round {round}: corrupted lists:\n{so}"
        );
        let forced: u64 = so
            .lines()
            .find_map(|l| l.strip_prefix("forced="))
            .and_then(|v| v.parse().ok())
            .expect("forced= line");
        // 40 gc() calls share cycles, but each call waits for a cycle that
        // starts after it, so at least 10 forced cycles happen.
        assert!(forced >= 10, "round {round}: only {forced} forced cycles");
    }
}

fn main() {
    if let Some(case) = child_case() {
        match case.as_str() {
            "scenario" => scenario(),
            "stw_storm" => stw_storm(),
            "resize_storm" => resize_storm(),
            other => panic!("unknown child case {other}"),
        }
        return;
    }
    run_tests(&[
        (
            "gomaxprocs_from_many_goroutines_at_once",
            gomaxprocs_from_many_goroutines_at_once,
        ),
        (
            "waiters_are_woken_and_lists_survive",
            waiters_are_woken_and_lists_survive,
        ),
        (
            "every_stop_of_the_world_at_once",
            every_stop_of_the_world_at_once,
        ),
    ]);
}
