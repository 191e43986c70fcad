//! Safe code cannot corrupt memory (issue 12): sizes computed from a user's
//! number are checked and out of range is Go's panic, no hard limit below
//! Go's (a million parked goroutines, deep recursion with a big max stack),
//! and Rust's aborts become Go's reports. Every case that ends the process
//! runs in a child (this test binary re-executed with `GORT_TEST_CHILD`),
//! and the parent checks its exit status and stderr against Go's output
//! (Go 1.19 and 1.27 print the same first lines for all of these). Every
//! child runs with `GODEBUG=clobberfree=1`.

use gort::{chan, go, make_slice, Gc, GcCell, Trace};
use gort_tests::{child_case, run_child, run_child_with_limit, run_tests, stderr_of, stdout_of};
use std::time::Duration;

#[derive(Trace)]
struct Node {
    value: u64,
    next: GcCell<Option<Gc<Node>>>,
}

/// Runs `body` on a fresh goroutine (not the main one) and waits for it.
fn in_goroutine(body: impl FnOnce() + Send + 'static) {
    let done = chan::<()>(0);
    let d = done.clone();
    go(move || {
        body();
        d.send(());
    });
    done.recv();
}

/// A recursion the optimiser cannot turn into a loop: a few words of
/// frame per level.
#[inline(never)]
fn depth(n: u64) -> u64 {
    if std::hint::black_box(n) == 0 {
        return 0;
    }
    std::hint::black_box(depth(n - 1)) + 1
}

/// `VmRSS` and `VmPTE` of this process, in KiB.
fn rss_and_pte_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmPTE:"))
}

/// Parks `n` goroutines on one channel, reports RSS and page tables per
/// goroutine and the number of mappings, then releases them all and waits
/// until every one has ended.
fn park_many(n: usize) {
    gort::run(move || {
        let block = chan::<()>(0);
        let wg = gort::sync::WaitGroup::new();
        let (rss0, pte0) = rss_and_pte_kib();
        for _ in 0..n {
            wg.add(1);
            let (b, wg) = (block.clone(), wg.clone());
            go(move || {
                wg.done();
                b.recv();
            });
        }
        wg.wait();
        let (rss1, pte1) = rss_and_pte_kib();
        let parked = gort::runtime::num_goroutine();
        // StackInuse counts resident stack pages (mincore from each top).
        let t = std::time::Instant::now();
        let stack_inuse = gort::runtime::read_mem_stats().stack_inuse;
        let read_ms = t.elapsed().as_millis();
        let maps = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count();
        // Wake them all and wait until every one has run to its end.
        block.close();
        while gort::runtime::num_goroutine() > 1 {
            gort::sleep(Duration::from_millis(5));
        }
        println!(
            "RESULT parked={parked} rss_per_g={} pte_per_g={} maps={maps} stack_inuse_per_g={} read_mem_stats_ms={read_ms}",
            (rss1 - rss0) * 1024 / n as u64,
            (pte1 - pte0) * 1024 / n as u64,
            stack_inuse / n as u64,
        );
    });
}

/// The body of each child case.
fn child(case: &str) {
    match case {
        "makeslice_u8_max" => gort::run(|| {
            let s = make_slice::<u8>(std::hint::black_box(usize::MAX));
            s.set(1 << 20, 0x41);
            println!("unreachable: len {}", s.len());
        }),
        "makeslice_gc_wrap" => gort::run(|| {
            let s = make_slice::<Option<Gc<Node>>>(std::hint::black_box((usize::MAX - 8) / 8));
            println!("unreachable: len {}", s.len());
        }),
        "makeslice_over_arena" => gort::run(|| {
            // In range as a product, bigger than the 64 GiB arena.
            let s = make_slice::<u64>(std::hint::black_box(9 << 30));
            println!("unreachable: len {}", s.len());
        }),
        "makeslice_in_goroutine" => gort::run(|| {
            in_goroutine(|| {
                let s = make_slice::<u32>(std::hint::black_box(usize::MAX / 2));
                println!("unreachable: len {}", s.len());
            })
        }),
        "makechan_4096" => gort::run(|| {
            let c = chan::<[u8; 4096]>(std::hint::black_box(1 << 40));
            println!("unreachable: cap {}", c.cap());
        }),
        "makechan_overflow" => gort::run(|| {
            in_goroutine(|| {
                let c = chan::<u64>(std::hint::black_box(usize::MAX / 4));
                println!("unreachable: cap {}", c.cap());
            })
        }),
        "makechan_out_of_memory" => gort::run(|| {
            // 64 TiB: within Go's limit, beyond what the system gives.
            let c = chan::<[u8; 4096]>(std::hint::black_box(1 << 34));
            println!("unreachable: cap {}", c.cap());
        }),
        "index_out_of_range" => gort::run(|| {
            let s = make_slice::<u8>(3);
            println!("unreachable: {}", s.get(std::hint::black_box(5)));
        }),
        "slices_in_range_work" => gort::run(|| {
            // The edges that must keep working: empty, zero-sized
            // elements up to Go's largest int, and a 100 MB slice.
            let e = make_slice::<u64>(0);
            let z = make_slice::<()>(isize::MAX as usize);
            let big = make_slice::<u8>(100_000_000);
            big.set(99_999_999, 7);
            let nodes = make_slice::<Option<Gc<Node>>>(3);
            nodes.set(
                2,
                Some(Gc::new(Node {
                    value: 5,
                    next: GcCell::new(None),
                })),
            );
            let c = chan::<()>(usize::MAX >> 1);
            c.send(());
            println!(
                "ok {} {} {} {} {}",
                e.len(),
                z.len(),
                big.get(99_999_999),
                nodes.get(2).unwrap().value
                    + nodes.get(2).unwrap().next.get().map_or(0, |n| n.value),
                c.len()
            );
        }),
        "makeslice_on_a_plain_thread" => {
            // Not a goroutine: Rust's semantics (the thread unwinds, `join`
            // reports it), never a wrapped size.
            let r = std::thread::spawn(|| make_slice::<u8>(std::hint::black_box(usize::MAX)).len())
                .join();
            let msg = r
                .err()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_default();
            println!("joined: {msg}");
        }
        "panic_while_panicking" => gort::run(|| {
            in_goroutine(|| {
                struct Bomb;
                impl Drop for Bomb {
                    fn drop(&mut self) {
                        panic!("B");
                    }
                }
                let _b = Bomb;
                panic!("A");
            })
        }),
        "recovered_panic_prints_nothing" => gort::run(|| {
            in_goroutine(|| {
                let r = std::panic::catch_unwind(|| {
                    let s = make_slice::<u8>(2);
                    s.get(std::hint::black_box(9))
                });
                let msg = r.err().and_then(|p| p.downcast_ref::<String>().cloned());
                println!("recovered: {}", msg.unwrap_or_default());
            });
            let r =
                std::panic::catch_unwind(|| chan::<u64>(std::hint::black_box(usize::MAX)).cap());
            println!("recovered in main: {}", r.is_err());
        }),
        "recovered_then_uncaught" => gort::run(|| {
            in_goroutine(|| {
                let _ = std::panic::catch_unwind(|| panic!("first, recovered"));
                panic!("second, uncaught");
            })
        }),
        "print_to_closed_stdout" => gort::run(|| {
            in_goroutine(|| loop {
                println!("y");
            })
        }),
        "deep_recursion" => gort::run(|| {
            let n: u64 = std::env::var("DEPTH").unwrap().parse().unwrap();
            let done = chan::<u64>(1);
            let d = done.clone();
            go(move || d.send(depth(n)));
            println!("depth {}", done.recv().unwrap());
        }),
        "park_many" => park_many(std::env::var("N").unwrap().parse().unwrap()),
        other => panic!("unknown child case {other}"),
    }
}

/// `env` plus `GODEBUG=clobberfree=1` unless it sets `GODEBUG` itself:
/// every case runs with freed objects poisoned.
fn clobbered<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = env.to_vec();
    if !v.iter().any(|(k, _)| *k == "GODEBUG") {
        v.push(("GODEBUG", "clobberfree=1"));
    }
    v
}

/// Runs `case` under `env`, expects exit status 2 and stderr starting with
/// `head` (Go's first lines), followed by a `goroutine N [running]:`
/// header when `header` is set. Returns stderr.
fn expect_exit2(case: &str, env: &[(&str, &str)], head: &str, header: bool) -> String {
    let out = run_child_with_limit(case, &clobbered(env), Duration::from_secs(120))
        .unwrap_or_else(|| panic!("{case}: still running after 120 s"));
    let err = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case} {env:?}: exit status {:?}, stderr:\n{err}",
        out.status
    );
    assert!(
        err.starts_with(head),
        "{case} {env:?}: stderr does not start with {head:?}:\n{err}"
    );
    if header {
        let rest = &err[head.len()..];
        let line = rest.lines().next().unwrap_or("");
        let n = line
            .strip_prefix("goroutine ")
            .and_then(|r| r.strip_suffix(" [running]:"));
        assert!(
            n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            "{case}: no `goroutine N [running]:` right after {head:?}:\n{err}"
        );
    }
    assert!(!stdout_of(&out).contains("unreachable"), "{case}: went on");
    err
}

const PROCS: [&str; 2] = ["1", "2"];

fn makeslice_len_out_of_range() {
    for p in PROCS {
        let env = [("GOMAXPROCS", p), ("GODEBUG", "clobberfree=1")];
        for case in [
            "makeslice_u8_max",
            "makeslice_gc_wrap",
            "makeslice_over_arena",
            "makeslice_in_goroutine",
        ] {
            let err = expect_exit2(
                case,
                &env,
                "panic: runtime error: makeslice: len out of range\n\n",
                true,
            );
            // The location is the user's call, not the runtime's.
            assert!(err.contains("tests/sound.rs:"), "{case}: {err}");
        }
    }
}

fn makechan_size_out_of_range() {
    for p in PROCS {
        let env = [("GOMAXPROCS", p)];
        for case in ["makechan_4096", "makechan_overflow"] {
            expect_exit2(case, &env, "panic: makechan: size out of range\n\n", true);
        }
    }
}

fn makechan_out_of_memory_is_fatal_not_an_abort() {
    let err = expect_exit2(
        "makechan_out_of_memory",
        &[],
        "runtime: out of memory: cannot allocate 70368744177664-byte block (channel buffer)\nfatal error: runtime: out of memory\n",
        false,
    );
    assert!(!err.contains("memory allocation of"), "{err}");
}

fn index_out_of_range() {
    for p in PROCS {
        expect_exit2(
            "index_out_of_range",
            &[("GOMAXPROCS", p)],
            "panic: runtime error: index out of range [5] with length 3\n\n",
            true,
        );
    }
}

fn slices_in_range_work() {
    let out = run_child(
        "slices_in_range_work",
        &clobbered(&[("GODEBUG", "clobberfree=1")]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), format!("ok 0 {} 7 5 1", isize::MAX));
}

fn makeslice_on_a_plain_thread() {
    let out = run_child("makeslice_on_a_plain_thread", &clobbered(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out).trim(),
        "joined: runtime error: makeslice: len out of range"
    );
}

fn panic_while_panicking() {
    for p in PROCS {
        let err = expect_exit2(
            "panic_while_panicking",
            &[("GOMAXPROCS", p)],
            "panic: A\n\tpanic: B\n\n",
            true,
        );
        assert!(!err.contains("aborting"), "{err}");
        assert!(!err.contains("panic in a destructor"), "{err}");
    }
}

fn recovered_panic_prints_nothing() {
    for p in PROCS {
        let out = run_child(
            "recovered_panic_prints_nothing",
            &clobbered(&[("GOMAXPROCS", p)]),
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_eq!(err, "", "a recovered panic printed");
        assert_eq!(
            stdout_of(&out),
            "recovered: runtime error: index out of range [9] with length 2\nrecovered in main: true\n"
        );
    }
}

fn recovered_then_uncaught() {
    let err = expect_exit2(
        "recovered_then_uncaught",
        &[],
        "panic: second, uncaught\n\n",
        true,
    );
    assert!(!err.contains("first"), "{err}");
}

fn deep_recursion_with_a_big_max_stack() {
    // Go: 1,000,000 levels work (its max stack is 1 GB).
    let out = run_child_with_limit(
        "deep_recursion",
        &clobbered(&[("GORT_MAXSTACK", "1GiB"), ("DEPTH", "1000000")]),
        Duration::from_secs(120),
    )
    .expect("deep recursion still running after 120 s");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), "depth 1000000");
    // 5,000 levels fit the default max stack (8 MiB).
    let out = run_child("deep_recursion", &clobbered(&[("DEPTH", "5000")]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), "depth 5000");
}

fn stack_overflow_names_the_limit() {
    let err = expect_exit2(
        "deep_recursion",
        &[("GORT_MAXSTACK", "1MiB"), ("DEPTH", "1000000")],
        "runtime: goroutine stack exceeds 1048576-byte limit\nfatal error: stack overflow\n\n",
        true,
    );
    assert!(!err.contains("Segmentation"), "{err}");
}

fn bad_maxstack_is_an_error_naming_the_variable() {
    for bad in ["8MB", "1KiB", "huge"] {
        let out = run_child(
            "deep_recursion",
            &clobbered(&[("GORT_MAXSTACK", bad), ("DEPTH", "1")]),
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with(&format!("gort: malformed GORT_MAXSTACK={bad:?}: expected")),
            "{err}"
        );
    }
}

/// Parks `n` goroutines at the default settings; returns (RSS, page-table
/// bytes) per goroutine and the mappings count.
fn parked(n: usize) -> (u64, u64, u64) {
    let out = run_child_with_limit(
        "park_many",
        &[("N", &n.to_string())],
        Duration::from_secs(600),
    )
    .expect("parking goroutines still running after 600 s");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT in {text}"));
    let field = |k: &str| -> u64 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(k))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(field("parked=") as usize >= n, "{line}");
    eprintln!("{n} parked goroutines: {line}");
    // The memory statistics see the same pages: at least one per parked
    // goroutine, about what RSS grew by.
    let inuse = field("stack_inuse_per_g=");
    assert!(
        (4096..=3 * 4096).contains(&inuse),
        "StackInuse per goroutine {inuse}"
    );
    (field("rss_per_g="), field("pte_per_g="), field("maps="))
}

fn many_parked_goroutines() {
    // The full million (about 8 GB of RSS and 4 GB of page tables) when
    // asked for with GORT_TEST_MILLION=1; 200,000 otherwise, which shows
    // the same per-goroutine costs.
    let n = if std::env::var("GORT_TEST_MILLION").as_deref() == Ok("1") {
        1_000_000
    } else {
        200_000
    };
    let (rss, pte, maps) = parked(n);
    // A page or two of stack per goroutine, one page-table page.
    assert!(rss <= 3 * 4096, "RSS per parked goroutine {rss}");
    assert!(pte <= 2 * 4096, "page tables per parked goroutine {pte}");
    // Chunks of 512 stacks: far below vm.max_map_count (65530).
    assert!(maps < 10_000, "{maps} mappings");
}

/// `yes | head`: a goroutine prints to a pipe nobody reads any more. Go's
/// program dies of SIGPIPE, silently (`os/signal`); so does gort's, instead
/// of reporting Rust's "failed printing to stdout" panic.
fn printing_to_a_closed_pipe_dies_of_sigpipe() {
    use std::os::unix::process::ExitStatusExt as _;
    let out =
        gort_tests::run_child_with_closed_stdout("print_to_closed_stdout", Duration::from_secs(60))
            .expect("the child printing to a closed pipe hung");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "status {:?}, stderr:\n{}",
        out.status,
        stderr_of(&out)
    );
    assert_eq!(stderr_of(&out), "", "Go prints nothing");
}

fn main() {
    if let Some(case) = child_case() {
        child(&case);
        return;
    }
    run_tests(&[
        ("makeslice_len_out_of_range", makeslice_len_out_of_range),
        ("makechan_size_out_of_range", makechan_size_out_of_range),
        (
            "makechan_out_of_memory_is_fatal_not_an_abort",
            makechan_out_of_memory_is_fatal_not_an_abort,
        ),
        ("index_out_of_range", index_out_of_range),
        ("slices_in_range_work", slices_in_range_work),
        ("makeslice_on_a_plain_thread", makeslice_on_a_plain_thread),
        ("panic_while_panicking", panic_while_panicking),
        (
            "recovered_panic_prints_nothing",
            recovered_panic_prints_nothing,
        ),
        ("recovered_then_uncaught", recovered_then_uncaught),
        (
            "deep_recursion_with_a_big_max_stack",
            deep_recursion_with_a_big_max_stack,
        ),
        (
            "stack_overflow_names_the_limit",
            stack_overflow_names_the_limit,
        ),
        (
            "bad_maxstack_is_an_error_naming_the_variable",
            bad_maxstack_is_an_error_naming_the_variable,
        ),
        ("many_parked_goroutines", many_parked_goroutines),
        (
            "printing_to_a_closed_pipe_dies_of_sigpipe",
            printing_to_a_closed_pipe_dies_of_sigpipe,
        ),
    ]);
}
