//! Runtime tests: the scheduler driven through the crate's own API.
//!
//! All tests share one scheduler per test process (`run` configures it on
//! first use). Tests whose outcome is a process exit (panics, deadlock,
//! stack overflow) re-run this test binary as a child with `GORT_CHILD` set.

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Arc;
use crate::sync::{Mutex, WaitGroup};
use crate::*;
use std::time::{Duration, Instant};

/// Runs `f` with at least 2 Ps.
fn rt<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    run_with(
        Config {
            gomaxprocs: Some(2),
            ..Config::default()
        },
        f,
    )
}

#[test]
fn run_returns_main_value_and_main_is_a_goroutine() {
    let (v, id, p) = rt(|| (6 * 7, current_goroutine_id(), current_p()));
    assert_eq!(v, 42);
    assert!(id.is_some_and(|i| i >= 1));
    assert!(p.is_some());
    assert_eq!(current_goroutine_id(), None);
}

#[test]
fn ten_thousand_goroutines_sum() {
    let sum = rt(|| {
        let total = Arc::new(AtomicU64::new(0));
        let wg = WaitGroup::new();
        for i in 0..10_000u64 {
            wg.add(1);
            let (t, wg) = (total.clone(), wg.clone());
            go(move || {
                t.fetch_add(i, SeqCst);
                wg.done();
            });
        }
        wg.wait();
        total.load(SeqCst)
    });
    assert_eq!(sum, 10_000 * 9_999 / 2);
}

#[test]
fn unbuffered_ping_pong_checksum() {
    let got = rt(|| {
        let (a, b) = (chan::<u64>(0), chan::<u64>(0));
        let (a2, b2) = (a.clone(), b.clone());
        go(move || {
            while let Some(v) = a2.recv() {
                b2.send(v * 2 + 1);
            }
            b2.close();
        });
        let mut sum = 0;
        for i in 0..20_000 {
            a.send(i);
            sum += b.recv().unwrap();
        }
        a.close();
        assert_eq!(b.recv(), None);
        sum
    });
    assert_eq!(got, (0..20_000u64).map(|i| i * 2 + 1).sum::<u64>());
}

#[test]
fn buffered_fifo_close_and_try_ops() {
    rt(|| {
        let c = chan::<String>(3);
        assert_eq!(c.cap(), 3);
        c.send("a".into());
        c.send("b".into());
        assert_eq!(c.try_send("c".into()), Ok(()));
        assert_eq!(c.try_send("d".into()), Err("d".to_string()));
        assert_eq!(c.len(), 3);
        // A blocked sender's value keeps FIFO order.
        let c2 = c.clone();
        let wg = WaitGroup::new();
        wg.add(1);
        let wg2 = wg.clone();
        go(move || {
            c2.send("e".into());
            wg2.done();
        });
        while c.len() < 3 {
            gosched();
        }
        sleep(Duration::from_millis(2));
        let got: Vec<String> = (0..4).map(|_| c.recv().unwrap()).collect();
        assert_eq!(got, ["a", "b", "c", "e"]);
        wg.wait();
        assert_eq!(c.try_recv(), None);
        c.send("z".into());
        c.close();
        assert!(c.is_closed());
        assert_eq!(c.recv().as_deref(), Some("z"));
        assert_eq!(c.recv(), None);
        assert_eq!(c.try_recv(), None);
    });
}

#[test]
fn close_wakes_blocked_receivers() {
    let n = rt(|| {
        let c = chan::<u32>(0);
        let woke = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        for _ in 0..50 {
            wg.add(1);
            let (c, woke, wg) = (c.clone(), woke.clone(), wg.clone());
            go(move || {
                if c.recv().is_none() {
                    woke.fetch_add(1, SeqCst);
                }
                wg.done();
            });
        }
        sleep(Duration::from_millis(5));
        c.close();
        wg.wait();
        woke.load(SeqCst)
    });
    assert_eq!(n, 50);
}

#[test]
fn select_default_blocking_and_send_cases() {
    rt(|| {
        let a = chan::<i32>(0);
        let b = chan::<i32>(1);
        let r = select! {
            recv(a) -> v => v,
            default => Some(-1),
        };
        assert_eq!(r, Some(-1));
        // Blocking select: a goroutine sends on `a` later.
        let a2 = a.clone();
        go(move || {
            sleep(Duration::from_millis(2));
            a2.send(7);
        });
        let r = select! {
            recv(a) -> v => ("a", v),
            recv(b) -> v => ("b", v),
        };
        assert_eq!(r, ("a", Some(7)));
        // Send case into a buffered channel with room.
        let r = select! {
            send(b, 5) => "sent",
            recv(a) -> _v => "recv",
        };
        assert_eq!(r, "sent");
        assert_eq!(b.recv(), Some(5));
        // A blocking select whose send case is taken by a receiver.
        let got = chan::<i32>(1);
        let (a3, got2) = (a.clone(), got.clone());
        go(move || got2.send(a3.recv().unwrap()));
        let r = select! {
            send(a, 11) => 1,
            recv(b) -> _v => 2,
        };
        assert_eq!(r, 1);
        assert_eq!(got.recv(), Some(11));
        // A closed channel makes a recv case fire with None.
        b.close();
        let r = select! { recv(b) -> v => v };
        assert_eq!(r, None);
        // Many selects racing on two channels: every value is delivered once.
        let (x, y) = (chan::<u64>(0), chan::<u64>(0));
        let done = chan::<u64>(0);
        for _ in 0..4 {
            let (x, y, done) = (x.clone(), y.clone(), done.clone());
            go(move || {
                let mut sum = 0;
                loop {
                    let v = select! {
                        recv(x) -> v => v,
                        recv(y) -> v => v,
                    };
                    match v {
                        Some(v) => sum += v,
                        None => break,
                    }
                }
                done.send(sum);
            });
        }
        for i in 0..2000u64 {
            if i % 2 == 0 {
                x.send(i)
            } else {
                y.send(i)
            }
        }
        x.close();
        // the other goroutines see y only after x is drained; close y too
        y.close();
        let total: u64 = (0..4).map(|_| done.recv().unwrap()).sum();
        assert_eq!(total, (0..2000u64).sum::<u64>());
    });
}

#[test]
fn mutex_counts_exactly_under_contention() {
    let v = rt(|| {
        let m = Arc::new(Mutex::new(0u64));
        let wg = WaitGroup::new();
        for _ in 0..8 {
            wg.add(1);
            let (m, wg) = (m.clone(), wg.clone());
            go(move || {
                for i in 0..2000 {
                    let mut g = m.lock();
                    let v = *g;
                    if i % 64 == 0 {
                        gosched(); // hold the lock across a switch point
                    }
                    *g = v + 1;
                }
                wg.done();
            });
        }
        wg.wait();
        let x = *m.lock();
        x
    });
    assert_eq!(v, 16_000);
}

#[test]
fn sleep_waits_at_least_the_duration() {
    let (elapsed, woke) = rt(|| {
        let t = Instant::now();
        sleep(Duration::from_millis(20));
        let e = t.elapsed();
        // Many concurrent sleepers: each wakes no earlier than asked.
        let c = chan::<(u64, Duration)>(64);
        for ms in [3u64, 8, 15, 1, 0, 5, 12, 2] {
            let c = c.clone();
            go(move || {
                let t = Instant::now();
                sleep(Duration::from_millis(ms));
                c.send((ms, t.elapsed()));
            });
        }
        let woke: Vec<(u64, Duration)> = (0..8).map(|_| c.recv().unwrap()).collect();
        (e, woke)
    });
    assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    assert_eq!(woke.len(), 8);
    for (ms, took) in woke {
        assert!(
            took >= Duration::from_millis(ms),
            "slept {took:?} for {ms} ms"
        );
    }
}

#[test]
#[should_panic(expected = "sync: negative WaitGroup counter")]
fn waitgroup_negative_panics() {
    // Outside a goroutine the panic reaches the caller (no exit 2).
    WaitGroup::new().done();
}

// ---------------------------------------------------------------------------
// Child-process tests: the outcome is the process's exit.

/// If this process is the child for `name`, runs `body` (which must end the
/// process) and never returns; otherwise re-runs this test binary as that
/// child and returns its output.
fn in_child(name: &str, body: impl FnOnce()) -> std::process::Output {
    if std::env::var("GORT_CHILD").as_deref() == Ok(name) {
        body();
        std::process::exit(0);
    }
    let exe = std::env::current_exe().unwrap();
    // Cross-testing under qemu-user: re-run the child through the same
    // runner cargo used for us (the variable is inherited from cargo's
    // environment).
    let runner = std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER")
        .ok()
        .filter(|_| cfg!(target_arch = "aarch64"));
    let mut cmd = match runner {
        Some(r) => {
            let mut parts = r.split_whitespace();
            let mut c = std::process::Command::new(parts.next().unwrap());
            c.args(parts).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    cmd.args([
        "--exact",
        &format!("tests::runtime::{name}"),
        "--nocapture",
        "--test-threads=1",
    ])
    .env("GORT_CHILD", name)
    .output()
    .unwrap()
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn goroutine_panic_prints_go_report_and_exits_2() {
    let out = in_child("goroutine_panic_prints_go_report_and_exits_2", || {
        rt(|| {
            let c = chan::<()>(0);
            let c2 = c.clone();
            let id = go(move || {
                c2.recv();
                panic!("boom {}", 7);
            });
            eprintln!("child goroutine id {id}");
            c.send(());
            sleep(Duration::from_secs(5));
        });
    });
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let id: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("child goroutine id "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no id line in {err}"));
    assert!(
        err.contains(&format!("panic: boom 7\n\ngoroutine {id} [running]:\n")),
        "stderr: {err}"
    );
}

#[test]
fn send_on_closed_channel_panics_in_goroutine() {
    let out = in_child("send_on_closed_channel_panics_in_goroutine", || {
        rt(|| {
            let c = chan::<u8>(1);
            c.close();
            c.send(1);
        });
    });
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.starts_with("panic: send on closed channel\n\ngoroutine "),
        "stderr: {err}"
    );
}

#[test]
fn negative_waitgroup_in_goroutine_exits_2() {
    let out = in_child("negative_waitgroup_in_goroutine_exits_2", || {
        rt(|| WaitGroup::new().add(-1));
    });
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.starts_with("panic: sync: negative WaitGroup counter\n\ngoroutine "),
        "stderr: {err}"
    );
}

#[test]
fn all_goroutines_asleep_is_a_fatal_deadlock() {
    let out = in_child("all_goroutines_asleep_is_a_fatal_deadlock", || {
        // libtest runs this on a thread of its own; its main thread only
        // waits for it and can wake no goroutine: not a possible waker.
        let _libtest_main = crate::RuntimeThread::begin_before_start(&Config {
            gomaxprocs: Some(2),
            ..Config::default()
        });
        rt(|| {
            let c = chan::<u8>(0);
            let c2 = c.clone();
            go(move || {
                c2.recv();
            });
            sleep(Duration::from_millis(5)); // a pending timer is not a deadlock
            c.recv(); // nobody will ever send
        });
    });
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err, "fatal error: all goroutines are asleep - deadlock!\n");
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let buf = [n; 32];
    std::hint::black_box(&buf);
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    recurse(n + 1) + buf[5]
}

#[test]
fn stack_overflow_is_reported_by_the_guard_page() {
    let out = in_child("stack_overflow_is_reported_by_the_guard_page", || {
        rt(|| {
            let c = chan::<()>(0);
            let c2 = c.clone();
            let id = go(move || {
                c2.recv();
                std::hint::black_box(recurse(0));
            });
            eprintln!("child goroutine id {id}");
            c.send(());
            sleep(Duration::from_secs(5));
        });
    });
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let id: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("child goroutine id "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no id line in {err}"));
    assert!(
        err.contains("-byte limit\nfatal error: stack overflow\n\n"),
        "stderr: {err}"
    );
    assert!(
        err.contains(&format!("goroutine {id} [running]:\n")),
        "stderr: {err}"
    );
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn hundred_thousand_parked_goroutines() {
    let out = in_child("hundred_thousand_parked_goroutines", || {
        let (n, rss, maps, released, k) = rt(|| {
            // With the mprotect fallback (no MADV_GUARD_INSTALL, e.g. under
            // qemu-user) each stack costs two VMAs: 25,000 is what fits
            // under the default vm.max_map_count.
            go(|| {});
            let fallback = crate::stack::guard_kind() == Some(crate::stack::GuardKind::Mprotect);
            let k: usize = if fallback { 25_000 } else { 100_000 };
            let block = chan::<()>(0);
            let wg = WaitGroup::new();
            let exited = Arc::new(AtomicUsize::new(0));
            let before = rss_kib();
            for _ in 0..k {
                wg.add(1);
                let (b, wg, e) = (block.clone(), wg.clone(), exited.clone());
                go(move || {
                    wg.done();
                    b.recv();
                    e.fetch_add(1, SeqCst);
                });
            }
            wg.wait();
            let n = num_goroutine();
            let rss = (rss_kib() - before) * 1024 / k as u64;
            // Resident stack bytes: at least one page per parked goroutine,
            // and far below the reservation.
            let (inuse, total) = stack_memory();
            // (qemu-user, the only place the fallback is used here, does not
            // emulate mincore: the check is for native runs.)
            if !fallback {
                assert!(inuse >= k * 4096 && inuse <= total, "{inuse} {total}");
                assert!(inuse < k * crate::DEFAULT_STACK_SIZE / 8, "{inuse}");
            }
            let maps = map_count();
            block.close();
            while exited.load(SeqCst) < k {
                sleep(Duration::from_millis(1));
            }
            (n, rss, maps, exited.load(SeqCst), k)
        });
        println!("RESULT {n} {rss} {maps} {released} {k}");
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_of(&out));
    let line = text
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap();
    let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    let k = v[4];
    assert!(v[0] >= k && v[0] <= k + 10, "num_goroutine {}", v[0]);
    assert!(
        k < 100_000 || v[2] < 65_530 / 4,
        "{} mappings: guard pages must not split VMAs",
        v[2]
    );
    assert_eq!(v[3], k);
    eprintln!("RSS per parked goroutine: {} bytes", v[1]);
}

#[test]
fn gomaxprocs_changes_at_run_time() {
    let out = in_child("gomaxprocs_changes_at_run_time", || {
        let r = run_with(
            Config {
                gomaxprocs: Some(2),
                ..Config::default()
            },
            || {
                let mut seen = vec![gomaxprocs(0)];
                let old = gomaxprocs(1);
                seen.push(old);
                seen.push(gomaxprocs(0));
                let sum = par_sum(64);
                let stats1 = sched_stats();
                gomaxprocs(3);
                seen.push(gomaxprocs(0));
                let sum2 = par_sum(64);
                let stats3 = sched_stats();
                // Shrink while goroutines are running.
                let c = chan::<u64>(0);
                let c2 = c.clone();
                go(move || c2.send(par_sum(32)));
                gomaxprocs(2);
                let sum3 = c.recv().unwrap();
                (
                    seen,
                    sum,
                    sum2,
                    sum3,
                    stats1.local_runqueues.len(),
                    stats3.local_runqueues.len(),
                )
            },
        );
        println!("RESULT {r:?}");
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_of(&out));
    let want = par_sum_expected(64);
    assert!(
        text.contains(&format!(
            "RESULT ([2, 2, 1, 3], {want}, {want}, {}, 1, 3)",
            par_sum_expected(32)
        )),
        "{text}"
    );
}

fn par_sum(n: u64) -> u64 {
    let total = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    for i in 0..n {
        wg.add(1);
        let (t, wg) = (total.clone(), wg.clone());
        go(move || {
            for k in 0..100 {
                t.fetch_add(i * k, SeqCst);
                if k % 10 == 0 {
                    gosched();
                }
            }
            wg.done();
        });
    }
    wg.wait();
    total.load(SeqCst)
}

fn par_sum_expected(n: u64) -> u64 {
    (0..n).map(|i| (0..100).map(|k| i * k).sum::<u64>()).sum()
}

// ---------------------------------------------------------------------------
// Stop the world, root enumeration, ragged barrier, preemption.

const MAGIC_STACK: u64 = 0x5eed_f00d_dead_beef;
const MAGIC_BUF: u64 = 0x0b0f_fe4e_c0de_cafe;
const MAGIC_SELF: u64 = 0x5e1f_5e1f_5e1f_5e1f;

fn range_contains(lo: usize, hi: usize, word: u64) -> bool {
    let mut a = (lo + 7) & !7;
    while a + 8 <= hi {
        // SAFETY: the ranges come from the scheduler's root enumeration:
        // readable stack or buffer memory, stable while the world is stopped.
        if unsafe { (a as *const u64).read_volatile() } == word {
            return true;
        }
        a += 8;
    }
    false
}

#[test]
fn stop_the_world_freezes_goroutines_and_reports_roots() {
    rt(|| {
        let counters: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
        let stop = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
        let wg = WaitGroup::new();
        for i in 0..3 {
            wg.add(1);
            let (c, stop, wg) = (counters.clone(), stop.clone(), wg.clone());
            go(move || {
                while !stop.load(SeqCst) {
                    c[i].fetch_add(1, SeqCst);
                    safepoint();
                }
                wg.done();
            });
        }
        // A parked goroutine with a value only on its stack.
        let park_ch = chan::<u8>(0);
        let pc = park_ch.clone();
        wg.add(1);
        let wg2 = wg.clone();
        go(move || {
            let magic = std::hint::black_box(MAGIC_STACK);
            pc.recv();
            std::hint::black_box(magic);
            wg2.done();
        });
        // A value only in a channel buffer.
        let buf = chan::<u64>(4);
        buf.send(MAGIC_BUF);
        sleep(Duration::from_millis(5));
        let mine = std::hint::black_box(MAGIC_SELF);

        let w = stop_the_world(StwReason::Other);
        let snap: Vec<u64> = counters.iter().map(|c| c.load(SeqCst)).collect();
        std::thread::sleep(Duration::from_millis(3));
        let again: Vec<u64> = counters.iter().map(|c| c.load(SeqCst)).collect();
        assert_eq!(snap, again, "a goroutine ran while the world was stopped");
        let (mut n, mut found_stack, mut found_self) = (0, false, false);
        let me = current_goroutine_id().unwrap();
        for_each_goroutine_stack(&w, &mut |s| {
            n += 1;
            assert!(s.sp >= s.lo && s.sp < s.hi, "{s:?}");
            found_stack |= range_contains(s.sp, s.hi, MAGIC_STACK);
            if s.goid == me {
                assert_eq!(s.status, GStatus::Running);
                found_self |= range_contains(s.sp, s.hi, MAGIC_SELF);
            }
        });
        let mut found_buf = false;
        for_each_runtime_range(&w, &mut |a, b| found_buf |= range_contains(a, b, MAGIC_BUF));
        start_the_world(w);
        std::hint::black_box(mine);
        assert!(n >= 5, "only {n} goroutines reported");
        assert!(found_stack, "parked goroutine's stack value not found");
        assert!(found_self, "caller's own stack value not found");
        assert!(found_buf, "channel buffer value not found");
        // The world runs again.
        let before = counters[0].load(SeqCst);
        while counters[0].load(SeqCst) == before {
            sleep(Duration::from_millis(1));
        }
        stop.store(true, SeqCst);
        park_ch.close();
        wg.wait();
        assert_eq!(buf.recv(), Some(MAGIC_BUF));
    });
}

#[test]
fn stop_the_world_from_a_plain_thread() {
    rt(|| {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
        let wg = WaitGroup::new();
        for _ in 0..2 {
            wg.add(1);
            let (c, stop, wg) = (count.clone(), stop.clone(), wg.clone());
            go(move || {
                while !stop.load(SeqCst) {
                    c.fetch_add(1, SeqCst);
                    safepoint();
                }
                wg.done();
            });
        }
        let c2 = count.clone();
        let guard = ExternalActivity::begin();
        let t = std::thread::spawn(move || {
            let w = stop_the_world(StwReason::GcSweepTermination);
            let a = c2.load(SeqCst);
            std::thread::sleep(Duration::from_millis(3));
            let b = c2.load(SeqCst);
            let mut running = 0;
            for_each_goroutine_stack(&w, &mut |s| {
                if s.status == GStatus::Running {
                    running += 1;
                }
            });
            start_the_world(w);
            (a, b, running)
        });
        while !t.is_finished() {
            sleep(Duration::from_millis(1));
        }
        let (a, b, running) = t.join().unwrap();
        drop(guard);
        stop.store(true, SeqCst);
        wg.wait();
        assert_eq!(a, b);
        assert_eq!(running, 0);
    });
}

#[test]
fn ragged_barrier_runs_once_per_p() {
    let hits = rt(|| {
        let hits: Arc<Vec<AtomicUsize>> =
            Arc::new((0..MAX_PROCS).map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
        let wg = WaitGroup::new();
        wg.add(1);
        let (s2, wg2) = (stop.clone(), wg.clone());
        go(move || {
            while !s2.load(SeqCst) {
                safepoint();
            }
            wg2.done();
        });
        let h = hits.clone();
        for_each_p_at_safepoint(&move |p| {
            h[p].fetch_add(1, SeqCst);
        });
        stop.store(true, SeqCst);
        wg.wait();
        let n = gomaxprocs(0) as usize;
        hits.iter()
            .take(n)
            .map(|h| h.load(SeqCst))
            .collect::<Vec<_>>()
    });
    assert!(hits.iter().all(|&h| h == 1), "{hits:?}");
}

#[test]
fn sysmon_preempts_a_long_running_goroutine_at_safepoints() {
    // Two goroutines that never block on a P of their own: without
    // preemption requests the second would never run on a single P.
    let out = in_child(
        "sysmon_preempts_a_long_running_goroutine_at_safepoints",
        || {
            let ok = run_with(
                Config {
                    gomaxprocs: Some(1),
                    ..Config::default()
                },
                || {
                    let flag = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
                    let f2 = flag.clone();
                    go(move || f2.store(true, SeqCst));
                    let t = Instant::now();
                    while !flag.load(SeqCst) && t.elapsed() < Duration::from_secs(5) {
                        safepoint();
                    }
                    flag.load(SeqCst)
                },
            );
            println!("RESULT {ok}");
        },
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RESULT true"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn park_and_unpark_from_another_thread() {
    rt(|| {
        let slot: Arc<crate::loom::sync::Mutex<Option<Parked>>> = Arc::new(Default::default());
        let s2 = slot.clone();
        let _guard = ExternalActivity::begin();
        let t = std::thread::spawn(move || loop {
            if let Some(p) = s2.lock().take() {
                p.unpark();
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        });
        park(WaitReason::GcWait, |p| *slot.lock() = Some(p));
        t.join().unwrap();
    });
}

// ---------------------------------------------------------------------------
// Profiler hooks, frame walks, the stack scavenger.

#[derive(Default)]
struct Counting {
    counts: crate::loom::sync::Mutex<std::collections::HashMap<&'static str, usize>>,
    last_ts: AtomicU64,
    backwards: AtomicUsize,
}

impl SchedRecorder for Counting {
    fn record(&self, nanos: u64, ev: SchedEvent) {
        let k = match ev {
            SchedEvent::GoCreate { .. } => "create",
            SchedEvent::GoStart { .. } => "start",
            SchedEvent::GoSched { .. } => "sched",
            SchedEvent::GoPreempt { .. } => "preempt",
            SchedEvent::GoBlock { .. } => "block",
            SchedEvent::GoUnblock { .. } => "unblock",
            SchedEvent::GoEnd { .. } => "end",
            SchedEvent::GoSysCall { .. } => "syscall",
            SchedEvent::GoSysExit { .. } => "sysexit",
            SchedEvent::ProcStart { .. } => "procstart",
            SchedEvent::ProcStop { .. } => "procstop",
        };
        *self.counts.lock().entry(k).or_default() += 1;
        if nanos == 0 {
            self.backwards.fetch_add(1, SeqCst);
        }
        self.last_ts.store(nanos, SeqCst);
    }
}

#[test]
fn profiler_hooks_see_every_goroutine_event() {
    let out = in_child("profiler_hooks_see_every_goroutine_event", || {
        let rec: &'static Counting = Box::leak(Box::default());
        set_recorder(Some(rec));
        rt(|| {
            let c = chan::<u32>(0);
            let wg = WaitGroup::new();
            for i in 0..100 {
                wg.add(1);
                let (c, wg) = (c.clone(), wg.clone());
                go(move || {
                    gosched();
                    c.send(i);
                    wg.done();
                });
            }
            let s: u32 = (0..100).map(|_| c.recv().unwrap()).sum();
            wg.wait();
            assert_eq!(s, 4950);
        });
        // The main goroutine ends just after `run` got its value.
        while num_goroutine() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        set_recorder(None);
        let c = rec.counts.lock();
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        println!(
            "RESULT create={} end={} sched={} block={} unblock={} start={} zero_ts={}",
            g("create"),
            g("end"),
            g("sched"),
            g("block"),
            g("unblock"),
            g("start"),
            rec.backwards.load(SeqCst)
        );
        assert!(g("procstart") >= 1);
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let line = text
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap()
        .to_string();
    let kv: std::collections::HashMap<&str, usize> = line
        .split(' ')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    // 100 goroutines + main.
    assert_eq!(kv["create"], 101, "{line}");
    assert_eq!(kv["end"], 101, "{line}");
    assert!(kv["sched"] >= 100, "{line}");
    // Every block is matched by an unblock; a park that was woken before its
    // commit also reports one unblock.
    assert!(kv["unblock"] >= kv["block"], "{line}");
    assert!(kv["start"] >= 101 + kv["sched"], "{line}");
    assert_eq!(kv["zero_ts"], 0, "{line}");
}

/// A goroutine profile taken while goroutines run and spawn: every goroutine
/// parked before it is listed once, with its wait reason and its switch
/// frame first; the caller once, `Running`, with the stack it passed; no
/// goroutine twice.
#[test]
fn goroutine_profile_lists_each_goroutine_once() {
    rt(|| {
        let c = chan::<()>(0);
        let wg = WaitGroup::new();
        let mut parked = Vec::new();
        for _ in 0..200 {
            let (c, wg) = (c.clone(), wg.clone());
            wg.add(1);
            parked.push(go(move || {
                c.recv();
                wg.done();
            }));
        }
        let stop = Arc::new(AtomicUsize::new(0));
        let busy = {
            let stop = stop.clone();
            go(move || {
                while stop.load(SeqCst) == 0 {
                    go(gosched);
                    gosched();
                }
                stop.store(2, SeqCst);
            })
        };
        sleep(Duration::from_millis(5));
        let me = current_goroutine_id().unwrap();
        for _ in 0..5 {
            let p = goroutine_profile(&[1, 2, 3], 32);
            let mut seen = std::collections::HashSet::new();
            for r in &p.records {
                assert!(seen.insert(r.goid), "goroutine {} twice", r.goid);
                if r.goid == me {
                    assert_eq!(r.status, GStatus::Running);
                    assert_eq!(p.frames(r), &[1, 2, 3]);
                }
            }
            for id in &parked {
                let r = p.records.iter().find(|r| r.goid == *id).unwrap();
                assert_eq!(
                    (r.status, r.wait_reason),
                    (GStatus::Waiting, WaitReason::ChanReceive)
                );
                assert!(!p.frames(r).is_empty());
            }
            assert!(seen.contains(&me) && seen.contains(&busy));
        }
        stop.store(1, SeqCst);
        while stop.load(SeqCst) != 2 {
            gosched();
        }
        c.close();
        wg.wait();
    });
}

#[test]
fn frame_walk_of_a_parked_goroutine_starts_at_its_switch() {
    rt(|| {
        let c = chan::<()>(0);
        let c2 = c.clone();
        let id = go(move || {
            c2.recv();
        });
        sleep(Duration::from_millis(2));
        let w = stop_the_world(StwReason::GoroutineProfile);
        let mut frames = Vec::new();
        let mut status = None;
        let mut visited_reason = None;
        for_each_goroutine_stack(&w, &mut |s| {
            if s.goid == id {
                status = Some(s.status);
                visited_reason = Some(s.wait_reason);
                s.frames(&mut frames, 32);
            }
        });
        let reason = goroutine_wait_reason(&w, id);
        start_the_world(w);
        c.send(());
        assert_eq!(status, Some(GStatus::Waiting));
        assert_eq!(reason, Some(WaitReason::ChanReceive));
        assert_eq!(visited_reason, reason);
        // The first return address is right after a call of the switch, or
        // of `mcall` when the compiler made the switch a tail call.
        assert!(!frames.is_empty());
        let pc = frames[0];
        let target = crate::switch::gort_switch as *const () as usize;
        // SAFETY: `pc` is a return address into our own code: the bytes
        // before it are the call instruction.
        let called = unsafe {
            if cfg!(target_arch = "x86_64") {
                assert_eq!(
                    *((pc - 5) as *const u8),
                    0xE8,
                    "no call rel32 before {pc:#x}"
                );
                let rel = ((pc - 4) as *const i32).read_unaligned() as isize;
                (pc as isize + rel) as usize
            } else {
                let insn = ((pc - 4) as *const u32).read_unaligned();
                assert_eq!(insn >> 26, 0b100101, "no BL before {pc:#x}");
                let imm = (((insn & 0x03FF_FFFF) << 6) as i32 >> 6) as isize * 4;
                ((pc - 4) as isize + imm) as usize
            }
        };
        let mcall = crate::sched::mcall as *const () as usize;
        assert!(
            called == target || called == mcall,
            "call before {pc:#x} goes to {called:#x}, not gort_switch {target:#x} or mcall {mcall:#x}"
        );
    });
}

#[test]
fn pooled_stacks_beyond_the_cap_are_returned_to_the_os() {
    let out = in_child(
        "pooled_stacks_beyond_the_cap_are_returned_to_the_os",
        || {
            let (touched, after) = rt(|| {
                const N: usize = 3000;
                let before = rss_kib();
                let gate = chan::<()>(0);
                let wg = WaitGroup::new();
                for _ in 0..N {
                    wg.add(1);
                    let (gate, wg) = (gate.clone(), wg.clone());
                    go(move || {
                        // Touch 64 KiB of this goroutine's stack.
                        let buf = [7u8; 64 * 1024];
                        std::hint::black_box(&buf);
                        wg.done();
                        gate.recv();
                    });
                }
                wg.wait();
                let touched = rss_kib().saturating_sub(before);
                gate.close();
                while num_goroutine() > 1 {
                    sleep(Duration::from_millis(1));
                }
                sleep(Duration::from_millis(900)); // the scavenger: 512 stacks per 100 ms
                (touched, rss_kib().saturating_sub(before))
            });
            println!("RESULT {touched} {after}");
        },
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let line = text
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap();
    let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    // 3000 × 64 KiB ≈ 190 MiB touched; all but the 1024 pooled stacks' worth
    // (≈ 66 MiB) must be given back.
    assert!(v[0] > 150 * 1024, "touched only {} KiB", v[0]);
    assert!(
        v[1] < v[0] / 2,
        "RSS growth {} KiB after the scavenger (was {} KiB)",
        v[1],
        v[0]
    );
}

#[test]
#[should_panic(expected = "send on closed channel")]
fn try_send_on_closed_channel_panics() {
    // Non-blocking operations work outside goroutines too.
    let c = chan::<u8>(1);
    c.close();
    let _ = c.try_send(1);
}

#[test]
#[should_panic(expected = "close of closed channel")]
fn double_close_panics() {
    let c = chan::<u8>(0);
    c.close();
    c.close();
}

#[test]
fn select_chooses_among_ready_cases_at_random() {
    let (na, nb) = rt(|| {
        let (a, b) = (chan::<u8>(1), chan::<u8>(1));
        let (mut na, mut nb) = (0, 0);
        for _ in 0..400 {
            a.send(1);
            b.send(2);
            select! {
                recv(a) -> _v => na += 1,
                recv(b) -> _v => nb += 1,
            }
            // drain the other one
            let _ = a.try_recv();
            let _ = b.try_recv();
        }
        (na, nb)
    });
    assert_eq!(na + nb, 400);
    assert!(na > 50 && nb > 50, "unfair: {na} vs {nb}");
}

/// Starts a goroutine that waits for a value on `ch`; its creator PC must
/// lie inside this function, although `go` is its last act (a tail
/// position, where a non-inlined `go` could be entered by a jump).
#[inline(never)]
fn spawns_a_waiter(ch: Chan<u32>) -> u64 {
    go(move || {
        ch.recv();
    })
}

#[test]
fn go_records_a_creator_pc_inside_its_caller() {
    assert_eq!(
        call_site_pc(),
        0,
        "a test thread is neither a goroutine nor an M"
    );
    let (pc, main_pc) = rt(|| {
        let ch = chan::<u32>(0);
        let goid = spawns_a_waiter(ch.clone());
        let me = current_goroutine_id();
        let (mut pc, mut main_pc) = (None, None);
        let w = stop_the_world(StwReason::GoroutineProfile);
        for_each_goroutine_stack(&w, &mut |s| {
            if s.goid == goid {
                pc = Some(s.creator_pc);
            }
            if Some(s.goid) == me {
                main_pc = Some(s.creator_pc);
            }
        });
        start_the_world(w);
        ch.send(1);
        (pc.unwrap(), main_pc.unwrap())
    });
    let entry = spawns_a_waiter as *const () as usize;
    assert!(
        entry < pc && pc < entry + 4096,
        "creator pc {pc:#x} not inside spawns_a_waiter at {entry:#x}"
    );
    assert_eq!(main_pc, 0, "the main goroutine has no creator");
}
