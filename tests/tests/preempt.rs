//! No goroutine can hold the world: the programs of the preemption issue,
//! each run as a child process (this binary re-executed) under GOMAXPROCS=1
//! and 2, with a generous time limit that only detects a hang. A case prints
//! `ok` (and its checks) as its last act; the parent asserts exit status 0
//! and that line.

use gort::{go, runtime, sleep, Gc};
use gort_tests::{child_case, run_child_with_limit, run_tests, stderr_of, stdout_of};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicU64 = AtomicU64::new(0);

/// A loop with no safepoint: no allocation, no channel, no call into gort.
#[inline(never)]
fn spin_forever() {
    let mut x = 1u64;
    loop {
        x = black_box(x.wrapping_mul(3).wrapping_add(1));
        if x == 0 {
            SPINS.fetch_add(1, Relaxed);
        }
    }
}

#[derive(gort::Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    v: u64,
}

fn tree(d: u32) -> Gc<Node> {
    if d == 0 {
        return Gc::new(Node {
            left: None,
            right: None,
            v: 1,
        });
    }
    Gc::new(Node {
        left: Some(tree(d - 1)),
        right: Some(tree(d - 1)),
        v: 1,
    })
}

/// Sums a tree recursively: no allocation, no safepoint.
#[inline(never)]
fn sum(n: &Node) -> u64 {
    black_box(n.v) + n.left.as_ref().map_or(0, |l| sum(l)) + n.right.as_ref().map_or(0, |r| sum(r))
}

/// Sends 0..1000 from a new goroutine to this one over an unbuffered
/// channel and returns the sum (499500): other goroutines run meanwhile.
fn channel_sum() -> u64 {
    let c = gort::chan::<u64>(0);
    let c2 = c.clone();
    go(move || {
        for i in 0..1000 {
            c2.send(i);
        }
    });
    (0..1000).map(|_| c.recv().unwrap()).sum()
}

fn child(case: &str) {
    match case {
        // Two goroutines allocate in a loop while main asks for stops of
        // the world: each allocation is a safepoint when one is due.
        "allocators_vs_gc" => gort::run(|| {
            for _ in 0..2 {
                go(|| loop {
                    let n = Gc::new(Node {
                        left: None,
                        right: None,
                        v: 7,
                    });
                    black_box(n);
                    if STOP.load(Relaxed) {
                        return;
                    }
                });
            }
            // The heap stays near its goal (4 MB: nothing is live) because
            // the allocators meet every stop at their next allocation; it
            // reached 1146 MB when they polled only while marking.
            let mut heap_sys = 0;
            for _ in 0..5 {
                runtime::gc();
                heap_sys = heap_sys.max(runtime::read_mem_stats().heap_sys);
            }
            let n = runtime::gomaxprocs(0);
            runtime::gomaxprocs(n);
            let m = runtime::read_mem_stats();
            STOP.store(true, Relaxed);
            heap_sys = heap_sys.max(m.heap_sys);
            println!("num_gc>=5 {}", m.num_gc >= 5);
            println!("heap_sys {} MiB", heap_sys >> 20);
            println!("heap_sys<=128MiB {}", heap_sys <= 128 << 20);
            println!("ok");
        }),
        // Goroutines hold a std (OS-level) Mutex across long spins, so the
        // preemption signal often finds one inside its critical section
        // (for a stop of the world, or for fairness after 10 ms): it must
        // not be frozen there while the goroutine that runs on its P next
        // blocks its thread on the same lock, nor while a stop waits.
        "std_mutex_vs_gc" => gort::run(|| {
            let m = std::sync::Arc::new(std::sync::Mutex::new(0u64));
            let wg = gort::sync::WaitGroup::new();
            for _ in 0..3 {
                let (m, wg) = (m.clone(), wg.clone());
                wg.add(1);
                go(move || {
                    for _ in 0..20 {
                        let mut v = m.lock().unwrap();
                        let mut x = *v;
                        for _ in 0..2_000_000 {
                            x = black_box(x.wrapping_mul(3).wrapping_add(1));
                        }
                        black_box(x);
                        *v += 1;
                    }
                    wg.done();
                });
            }
            for _ in 0..5 {
                runtime::gc();
                sleep(Duration::from_millis(5));
            }
            wg.wait();
            println!("count {}", *m.lock().unwrap());
            println!("ok");
        }),
        // Goroutines print (stdout's lock is an OS-level lock held inside
        // std) while main collects: a goroutine preempted with the lock
        // held must not wedge the others or the stops.
        "stdout_vs_gc" => gort::run(|| {
            let wg = gort::sync::WaitGroup::new();
            for g in 0..4 {
                let wg = wg.clone();
                wg.add(1);
                go(move || {
                    for i in 0..2000 {
                        println!("line {g} {i}");
                    }
                    wg.done();
                });
            }
            for _ in 0..5 {
                runtime::gc();
            }
            wg.wait();
            println!("ok");
        }),
        // A goroutine spins without a safepoint; main collects.
        "spinner_vs_gc" => gort::run(|| {
            go(spin_forever);
            sleep(Duration::from_millis(20));
            let before = runtime::read_mem_stats().num_gc;
            for _ in 0..3 {
                runtime::gc();
            }
            let after = runtime::read_mem_stats().num_gc;
            println!("cycles {}", after - before);
            println!("ok");
        }),
        // Main sleeps while a spinner holds the only P: it must run again
        // (fairness), and `run` returns while the spinner still spins.
        "spinner_vs_sleep" => gort::run(|| {
            go(spin_forever);
            for _ in 0..5 {
                sleep(Duration::from_millis(10));
            }
            println!("ok");
        }),
        // A recursive walk of a tree (no allocation) while main allocates
        // 128 MiB: every cycle must stop the walker.
        "tree_walk_vs_alloc" => gort::run(|| {
            let t = tree(16);
            let want = (1u64 << 17) - 1;
            let bad = std::sync::Arc::new(AtomicU64::new(0));
            let b2 = bad.clone();
            go(move || loop {
                if sum(&t) != want {
                    b2.fetch_add(1, Relaxed);
                }
                if STOP.load(Relaxed) {
                    return;
                }
            });
            let mut keep = Vec::new();
            for i in 0..(128 * 1024 / 64) {
                let s = gort::make_slice::<u8>(64 * 1024);
                if i % 64 == 0 {
                    keep.push(s);
                }
            }
            STOP.store(true, Relaxed);
            println!("corrupt sums {}", bad.load(Relaxed));
            println!("ok");
        }),
        // `run` returns when main returns, whatever the others do.
        "run_returns" => {
            gort::run(|| {
                for _ in 0..4 {
                    go(spin_forever);
                }
                sleep(Duration::from_millis(5));
            });
            println!("ok");
        }
        // A goroutine blocked in read(2) on an empty pipe holds neither the
        // world nor its P.
        "blocked_read" => gort::run(|| {
            let mut fds = [0i32; 2];
            // SAFETY: pipe(2) with a valid array.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            let rd = fds[0];
            go(move || {
                let mut b = [0u8; 1];
                // SAFETY: read(2) into a valid buffer.
                let n = unsafe { libc::read(rd, b.as_mut_ptr().cast(), 1) };
                black_box(n);
            });
            sleep(Duration::from_millis(20));
            runtime::gc();
            runtime::gc();
            // Other goroutines keep running meanwhile (with GOMAXPROCS=1
            // they need the blocked goroutine's P).
            println!("sum {}", channel_sum());
            println!("ok");
        }),
        // The same with a goroutine blocked in a TCP read (a socket on
        // 127.0.0.1 that nobody writes to until the end).
        "blocked_tcp_read" => gort::run(|| {
            use std::io::{Read, Write};
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (mut server, _) = l.accept().unwrap();
            let got = gort::chan::<u8>(1);
            let got2 = got.clone();
            go(move || {
                let mut b = [0u8; 1];
                client.read_exact(&mut b).unwrap();
                got2.send(b[0]);
            });
            sleep(Duration::from_millis(20));
            runtime::gc();
            runtime::gc();
            println!("sum {}", channel_sum());
            server.write_all(&[42]).unwrap();
            println!("got {}", got.recv().unwrap());
            println!("ok");
        }),
        // A goroutine in std::thread::sleep: gc() must not wait for it (the
        // sleep outlasts the parent's time limit).
        "thread_sleep_vs_gc" => gort::run(|| {
            go(|| std::thread::sleep(Duration::from_secs(600)));
            sleep(Duration::from_millis(20));
            runtime::gc();
            println!("ok");
        }),
        // 64 goroutines each in std::thread::sleep(2 s) at once: with the Ps
        // handed off they all sleep together (about 2 s; 64 s otherwise, past
        // the parent's limit).
        "sleepers" => gort::run(|| {
            let wg = gort::sync::WaitGroup::new();
            for _ in 0..64 {
                wg.add(1);
                let wg = wg.clone();
                go(move || {
                    std::thread::sleep(Duration::from_secs(2));
                    wg.done();
                });
            }
            wg.wait();
            println!("ok");
        }),
        // The explicit API: `blocking` hands the P off at once.
        "blocking_api" => gort::run(|| {
            let wg = gort::sync::WaitGroup::new();
            for _ in 0..64 {
                wg.add(1);
                let wg = wg.clone();
                go(move || {
                    gort::blocking(|| std::thread::sleep(Duration::from_secs(2)));
                    let g = Gc::new(Node {
                        left: None,
                        right: None,
                        v: 3,
                    });
                    assert_eq!(g.v, 3);
                    wg.done();
                });
            }
            wg.wait();
            runtime::gc();
            println!("ok");
        }),
        // A plain std::thread fills a channel main waits on: no false
        // deadlock while the thread lives.
        "foreign_try_send" => gort::run(|| {
            let c = gort::chan::<u64>(1);
            let c2 = c.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                c2.try_send(42).unwrap();
            });
            println!("got {:?}", c.recv());
            t.join().unwrap();
            println!("ok");
        }),
        // A plain std::thread holds a gort Mutex while main locks it.
        "foreign_mutex" => gort::run(|| {
            let m = std::sync::Arc::new(gort::sync::Mutex::new(0u64));
            let m2 = m.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                let mut g = m2.lock();
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(500));
                *g += 1;
            });
            gort::blocking(|| rx.recv().unwrap());
            *m.lock() += 1;
            t.join().unwrap();
            println!("value {}", *m.lock());
            println!("ok");
        }),
        // Blocking receives and sends from a plain std::thread block that
        // thread; a managed value it sends survives collections while it
        // waits (its stack is a runtime-held range then).
        "foreign_blocking" => gort::run(|| {
            let to_thread = gort::chan::<u64>(0);
            let from_thread = gort::chan::<Gc<Node>>(0);
            let (a, b) = (to_thread.clone(), from_thread.clone());
            let t = std::thread::spawn(move || {
                let mut sum = 0;
                while let Some(v) = a.recv() {
                    sum += v;
                }
                let n = Gc::new(Node {
                    left: None,
                    right: None,
                    v: sum,
                });
                b.send(n);
            });
            for i in 1..=100 {
                to_thread.send(i);
            }
            to_thread.close();
            sleep(Duration::from_millis(50));
            for _ in 0..3 {
                runtime::gc();
                black_box(gort::make_slice::<u64>(4096));
            }
            let n = from_thread.recv().unwrap();
            t.join().unwrap();
            println!("value {}", n.v);
            println!("ok");
        }),
        other => panic!("unknown child case {other}"),
    }
}

fn check(case: &str, procs: &str, limit_s: u64, expect: &[&str]) {
    let out = run_child_with_limit(case, &[("GOMAXPROCS", procs)], Duration::from_secs(limit_s))
        .unwrap_or_else(|| panic!("{case} (GOMAXPROCS={procs}) hung: killed after {limit_s} s"));
    let so = stdout_of(&out);
    assert!(
        out.status.success() && so.lines().last() == Some("ok"),
        "{case} (GOMAXPROCS={procs}): status {:?}\nstdout:\n{so}\nstderr:\n{}",
        out.status,
        stderr_of(&out)
    );
    for e in expect {
        assert!(
            so.lines().any(|l| l == *e),
            "{case} (GOMAXPROCS={procs}): expected line {e:?}\nstdout:\n{so}"
        );
    }
}

fn both(case: &str, limit_s: u64, expect: &[&str]) {
    check(case, "1", limit_s, expect);
    check(case, "2", limit_s, expect);
}

fn main() {
    if let Some(case) = child_case() {
        child(&case);
        return;
    }
    run_tests(&[
        ("allocators_vs_gc", || {
            both(
                "allocators_vs_gc",
                120,
                &["num_gc>=5 true", "heap_sys<=128MiB true"],
            )
        }),
        ("spinner_vs_gc", || {
            both("spinner_vs_gc", 120, &["cycles 3"])
        }),
        ("spinner_vs_sleep", || both("spinner_vs_sleep", 120, &[])),
        ("std_mutex_vs_gc", || {
            both("std_mutex_vs_gc", 120, &["count 60"])
        }),
        ("stdout_vs_gc", || {
            both("stdout_vs_gc", 120, &["line 3 1999"])
        }),
        ("tree_walk_vs_alloc", || {
            both("tree_walk_vs_alloc", 120, &["corrupt sums 0"])
        }),
        ("run_returns", || both("run_returns", 120, &[])),
        ("blocked_read", || {
            both("blocked_read", 120, &["sum 499500"])
        }),
        ("blocked_tcp_read", || {
            both("blocked_tcp_read", 120, &["sum 499500", "got 42"])
        }),
        ("thread_sleep_vs_gc", || both("thread_sleep_vs_gc", 60, &[])),
        ("sleepers", || both("sleepers", 30, &[])),
        ("blocking_api", || both("blocking_api", 30, &[])),
        ("foreign_try_send", || {
            both("foreign_try_send", 60, &["got Some(42)"])
        }),
        ("foreign_mutex", || both("foreign_mutex", 60, &["value 2"])),
        ("foreign_blocking", || {
            for procs in ["1", "2"] {
                let out = run_child_with_limit(
                    "foreign_blocking",
                    &[
                        ("GOMAXPROCS", procs),
                        ("GOGC", "1"),
                        ("GODEBUG", "clobberfree=1"),
                    ],
                    Duration::from_secs(60),
                )
                .expect("foreign_blocking hung");
                let so = stdout_of(&out);
                assert!(
                    out.status.success() && so.contains("value 5050\nok"),
                    "status {:?}\n{so}\n{}",
                    out.status,
                    stderr_of(&out)
                );
            }
        }),
    ]);
}
