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
    let (elapsed, order) = rt(|| {
        let t = Instant::now();
        sleep(Duration::from_millis(20));
        let e = t.elapsed();
        let c = chan::<u32>(3);
        for (i, ms) in [(3u32, 15u64), (1, 3), (2, 8)] {
            let c = c.clone();
            go(move || {
                sleep(Duration::from_millis(ms));
                c.send(i);
            });
        }
        let order: Vec<u32> = (0..3).map(|_| c.recv().unwrap()).collect();
        (e, order)
    });
    assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    assert_eq!(order, [1, 2, 3]);
}

#[test]
#[should_panic(expected = "sync: negative WaitGroup counter")]
fn waitgroup_negative_panics() {
    // Outside a goroutine the panic reaches the caller (no exit 2).
    WaitGroup::new().done();
}
