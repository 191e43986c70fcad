//! Go's knobs, read from the environment at start-up (`GOGC`,
//! `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG`) and set in code with
//! `gort::Builder`. Each case runs in a child process so it sees exactly the
//! environment the parent gives it.

use gort::debug::{set_gc_percent, set_memory_limit};
use gort::runtime::{gc, gomaxprocs};
use gort::{Gc, GcCell, Trace};
use gort_tests::{child_case, run_child, run_tests, stderr_of, stdout_of};
use std::time::Duration;

/// A list cell for the clobberfree workload.
#[derive(Trace)]
struct Cell {
    value: u64,
    next: GcCell<Option<Gc<Cell>>>,
}

/// Build a list of `n` cells with values 1..=n while allocating garbage, and
/// return the sum of the values read back after several forced collections.
fn list_workload(n: u64) -> u64 {
    let mut head: Option<Gc<Cell>> = None;
    for v in 1..=n {
        // Garbage between every live allocation, so collections (GOGC=1)
        // happen while the list is being built.
        for _ in 0..8 {
            std::hint::black_box(Gc::new(Cell {
                value: 0,
                next: GcCell::new(None),
            }));
        }
        head = Some(Gc::new(Cell {
            value: v,
            next: GcCell::new(head),
        }));
    }
    gc();
    gc();
    let mut sum = 0;
    let mut cur = head;
    while let Some(c) = cur {
        sum += c.value;
        cur = c.next.get();
    }
    sum
}

fn child(case: &str) {
    match case {
        // Prints what the runtime ended up with, for the parent to check.
        "report" => gort::run(|| {
            let procs = gomaxprocs(0);
            let gogc = set_gc_percent(100);
            let limit = set_memory_limit(-1);
            println!("gomaxprocs={procs} gogc={gogc} memlimit={limit}");
        }),
        // Prints NextGC before each cycle: the goal its gctrace line shows.
        "gc_twice" => gort::run(|| {
            for _ in 0..2 {
                let m = gort::runtime::read_mem_stats();
                println!("next_gc={} num_gc={}", m.next_gc, m.num_gc);
                gc();
            }
        }),
        "sleep_100ms" => gort::run(|| gort::sleep(Duration::from_millis(100))),
        "clobberfree_list" => gort::run(|| {
            println!("sum={}", list_workload(20_000));
            println!("num_gc={}", gort::runtime::read_mem_stats().num_gc);
        }),
        "builder" => gort::Builder::new()
            .gomaxprocs(1)
            .gc_percent(25)
            .memory_limit(1 << 30)
            .run(|| {
                let procs = gomaxprocs(0);
                let gogc = set_gc_percent(100);
                let limit = set_memory_limit(-1);
                println!("gomaxprocs={procs} gogc={gogc} memlimit={limit}");
            }),
        other => panic!("unknown child case {other}"),
    }
}

fn report(env: &[(&str, &str)]) -> String {
    let out = run_child("report", env);
    assert!(
        out.status.success(),
        "{env:?}: {:?}\n{}",
        out.status,
        stderr_of(&out)
    );
    stdout_of(&out).trim().to_string()
}

fn defaults() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        report(&[]),
        format!("gomaxprocs={cpus} gogc=100 memlimit={}", i64::MAX)
    );
}

fn values_are_applied() {
    assert_eq!(
        report(&[
            ("GOGC", "50"),
            ("GOMAXPROCS", "1"),
            ("GOMEMLIMIT", "512MiB")
        ]),
        "gomaxprocs=1 gogc=50 memlimit=536870912"
    );
    assert_eq!(
        report(&[
            ("GOGC", "off"),
            ("GOMAXPROCS", "3"),
            ("GOMEMLIMIT", "1000000B")
        ]),
        format!("gomaxprocs=3 gogc=-1 memlimit=1000000")
    );
    assert_eq!(
        report(&[("GOMEMLIMIT", "off"), ("GOGC", "")]),
        format!(
            "gomaxprocs={} gogc=100 memlimit={}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            i64::MAX
        )
    );
}

fn unknown_godebug_keys_are_ignored() {
    let out = run_child(
        "report",
        &[("GODEBUG", "madvdontneed=1,nonsense,http2debug=2")],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
}

fn malformed_values_exit_2() {
    let cases: &[(&str, &str, &str)] = &[
        ("GOGC", "abc", "GOGC=\"abc\": expected an integer percent"),
        ("GOGC", "10O", "GOGC=\"10O\""),
        (
            "GOMEMLIMIT",
            "1GB",
            "GOMEMLIMIT=\"1GB\": expected a byte count",
        ),
        ("GOMEMLIMIT", "-5", "GOMEMLIMIT=\"-5\""),
        (
            "GOMAXPROCS",
            "0",
            "GOMAXPROCS=\"0\": expected a positive integer",
        ),
        ("GOMAXPROCS", "two", "GOMAXPROCS=\"two\""),
        ("GODEBUG", "gctrace=yes", "GODEBUG: gctrace=\"yes\""),
        ("GODEBUG", "clobberfree=2", "GODEBUG: clobberfree=\"2\""),
    ];
    for (var, value, needle) in cases {
        let out = run_child("report", &[(var, value)]);
        let err = stderr_of(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{var}={value}: {:?}\n{err}",
            out.status
        );
        assert!(
            err.contains(needle),
            "{var}={value}: stderr lacks {needle:?}:\n{err}"
        );
        assert!(out.stdout.is_empty(), "{var}={value}: the program body ran");
    }
}

fn gctrace_prints_one_line_per_cycle() {
    let out = run_child("gc_twice", &[("GODEBUG", "gctrace=1")]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("gc ")).collect();
    assert!(lines.len() >= 2, "expected >= 2 gctrace lines:\n{err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("gc {} @", i + 1)), "{l}");
        for part in [
            "%: ",
            " ms clock, ",
            " ms cpu, ",
            " MB goal, ",
            " MB stacks, ",
            " P",
        ] {
            assert!(l.contains(part), "gctrace line lacks {part:?}: {l}");
        }
    }
    // Each cycle's "# MB goal" is the NextGC read before it started.
    for l in stdout_of(&out).lines() {
        let mut f = l.split(' ').map(|kv| kv.split_once('=').unwrap().1);
        let next_gc: u64 = f.next().unwrap().parse().unwrap();
        let num_gc: usize = f.next().unwrap().parse().unwrap();
        let line = lines
            .get(num_gc)
            .unwrap_or_else(|| panic!("no gctrace line for cycle {}:\n{err}", num_gc + 1));
        let want = format!(" {} MB goal, ", next_gc >> 20);
        assert!(
            line.contains(&want),
            "NextGC {next_gc} before it, so {want:?}: {line}"
        );
    }
    // Without the knob, nothing is printed.
    let out = run_child("gc_twice", &[]);
    assert!(!stderr_of(&out).lines().any(|l| l.starts_with("gc 1 @")));
}

fn schedtrace_prints_sched_lines() {
    let out = run_child(
        "sleep_100ms",
        &[("GODEBUG", "schedtrace=20"), ("GOMAXPROCS", "2")],
    );
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("SCHED ")).collect();
    assert!(
        lines.len() >= 2,
        "expected >= 2 SCHED lines in 100 ms at 20 ms:\n{err}"
    );
    for l in &lines {
        // Go 1.19: SCHED 0ms: gomaxprocs=2 idleprocs=1 threads=3
        // spinningthreads=0 idlethreads=0 runqueue=0 [0 0]
        let rest = l.strip_prefix("SCHED ").unwrap();
        let (ms, rest) = rest.split_once("ms: ").expect("SCHED <n>ms: ");
        assert!(ms.parse::<u64>().is_ok(), "{l}");
        let fields: Vec<&str> = rest.split(' ').collect();
        let names = [
            "gomaxprocs=",
            "idleprocs=",
            "threads=",
            "spinningthreads=",
            "idlethreads=",
            "runqueue=",
        ];
        for (f, name) in fields.iter().zip(names) {
            let v = f
                .strip_prefix(name)
                .unwrap_or_else(|| panic!("{name} in {l}"));
            assert!(v.parse::<u64>().is_ok(), "{l}");
        }
        assert_eq!(fields[0], "gomaxprocs=2", "{l}");
        // One run-queue length per P, in brackets.
        assert_eq!(fields.len(), names.len() + 2, "{l}");
        assert!(
            fields[6].starts_with('[') && fields[7].ends_with(']'),
            "{l}"
        );
    }
}

fn clobberfree_and_gogc_1_keep_live_lists() {
    let n: u64 = 20_000;
    let out = run_child(
        "clobberfree_list",
        &[("GOGC", "1"), ("GODEBUG", "clobberfree=1")],
    );
    let so = stdout_of(&out);
    assert!(out.status.success(), "{}\n{}", so, stderr_of(&out));
    assert!(so.contains(&format!("sum={}\n", n * (n + 1) / 2)), "{so}");
    let num_gc: u64 = so
        .lines()
        .find_map(|l| l.strip_prefix("num_gc="))
        .and_then(|v| v.parse().ok())
        .expect("num_gc line");
    assert!(
        num_gc >= 3,
        "GOGC=1 should collect many times, got {num_gc}"
    );
}

fn builder_settings_win_over_env() {
    let out = run_child("builder", &[("GOMAXPROCS", "2"), ("GOGC", "400")]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out).trim(),
        "gomaxprocs=1 gogc=25 memlimit=1073741824"
    );
}

fn main() {
    if let Some(case) = child_case() {
        child(&case);
        return;
    }
    run_tests(&[
        ("defaults", defaults),
        ("values_are_applied", values_are_applied),
        (
            "unknown_godebug_keys_are_ignored",
            unknown_godebug_keys_are_ignored,
        ),
        ("malformed_values_exit_2", malformed_values_exit_2),
        (
            "gctrace_prints_one_line_per_cycle",
            gctrace_prints_one_line_per_cycle,
        ),
        (
            "schedtrace_prints_sched_lines",
            schedtrace_prints_sched_lines,
        ),
        (
            "clobberfree_and_gogc_1_keep_live_lists",
            clobberfree_and_gogc_1_keep_live_lists,
        ),
        (
            "builder_settings_win_over_env",
            builder_settings_win_over_env,
        ),
    ]);
}
