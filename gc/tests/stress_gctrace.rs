//! `GODEBUG=gctrace=1`: the collector prints one line per cycle to stderr
//! in Go 1.19's exact format. The test runs itself as a child process
//! (stderr captured), then parses every line field by field.

extern crate gort_gc as gort;

use gort_gc::collector::{self, GcConfig};
use gort_gc::tests::mock_host::MockHost;
use gort_gc::{make_slice, Gc, GcCell, Root, Trace};

#[derive(Trace)]
struct Cell {
    next: GcCell<Option<Gc<Cell>>>,
    n: u64,
}

const CHILD: &str = "GORT_GCTRACE_CHILD";

/// The child: a mutator allocates ~6 MiB (so the pacer starts cycles on
/// its own, 4 MiB minimum goal), keeps a list alive, then two `gc()` calls.
fn child() {
    let host = MockHost::leak(2);
    let c = collector::install(
        host,
        GcConfig {
            gctrace: true,
            ..GcConfig::default()
        },
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    host.spawn_mutator(move || {
        let mut head: Option<Gc<Cell>> = None;
        for i in 0..100_000u64 {
            let c = Gc::new(Cell {
                next: GcCell::new(None),
                n: i,
            });
            if i % 10 == 0 {
                c.next.set(head);
                head = Some(c);
            }
            let _garbage = make_slice::<u8>(40);
        }
        tx.send(Root::new(head.unwrap())).unwrap();
    })
    .join()
    .unwrap();
    let keep = rx.recv().unwrap();
    collector::gc();
    collector::gc();
    assert_eq!(keep.get().n, 99_990);
    eprintln!(
        "CHILD num_gc={} forced={}",
        c.num_gc(),
        c.mem_stats().num_forced_gc
    );
}

/// Parse a `#.###`-style millisecond field as Go's fmtNSAsMS prints it:
/// whole numbers ≥ 10, otherwise at most two significant digits and at
/// most three decimals, or `0`.
fn ms_field_ok(f: &str) -> bool {
    match f.split_once('.') {
        None => f == "0" || (f.parse::<u64>().is_ok() && f.parse::<u64>().unwrap() >= 10),
        Some((int, frac)) => {
            let digits = format!("{int}{frac}").trim_start_matches('0').len();
            int.parse::<u64>().is_ok_and(|i| i < 10)
                && frac.len() <= 3
                && frac.bytes().all(|b| b.is_ascii_digit())
                && (1..=2).contains(&digits)
        }
    }
}

/// Check one line against Go 1.19's format; returns (number, forced).
fn check_line(line: &str) -> (u32, bool) {
    let bad = |why: &str| -> ! { panic!("{why}: {line:?}") };
    let rest = line.strip_prefix("gc ").unwrap_or_else(|| bad("prefix"));
    let (num, rest) = rest.split_once(" @").unwrap_or_else(|| bad("@"));
    let (secs, rest) = rest.split_once("s ").unwrap_or_else(|| bad("s"));
    let (int, frac) = secs.split_once('.').unwrap_or_else(|| bad("seconds"));
    assert!(
        int.parse::<u64>().is_ok() && frac.len() == 3,
        "seconds field: {line}"
    );
    let (pct, rest) = rest.split_once("%: ").unwrap_or_else(|| bad("%"));
    assert!(
        pct.parse::<u32>().is_ok_and(|p| p <= 100),
        "percent: {line}"
    );
    let (clock, rest) = rest
        .split_once(" ms clock, ")
        .unwrap_or_else(|| bad("clock"));
    let clock: Vec<&str> = clock.split('+').collect();
    assert_eq!(clock.len(), 3, "clock fields: {line}");
    let (cpu, rest) = rest.split_once(" ms cpu, ").unwrap_or_else(|| bad("cpu"));
    let (a, rest_cpu) = cpu.split_once('+').unwrap_or_else(|| bad("cpu +"));
    let (mark, term) = rest_cpu.rsplit_once('+').unwrap_or_else(|| bad("cpu +"));
    let mark: Vec<&str> = mark.split('/').collect();
    assert_eq!(mark.len(), 3, "cpu assist/background/idle: {line}");
    for f in clock.iter().chain([&a, &term]).chain(mark.iter()) {
        assert!(
            ms_field_ok(f),
            "ms field {f:?} not in fmtNSAsMS form: {line}"
        );
    }
    let (heaps, rest) = rest.split_once(" MB, ").unwrap_or_else(|| bad("MB"));
    let heaps: Vec<&str> = heaps.split("->").collect();
    assert_eq!(heaps.len(), 3, "heap fields: {line}");
    assert!(
        heaps.iter().all(|h| h.parse::<u64>().is_ok()),
        "heaps: {line}"
    );
    let (goal, rest) = rest.split_once(" MB goal, ").unwrap_or_else(|| bad("goal"));
    assert!(
        goal.parse::<u64>().is_ok_and(|g| g >= 4),
        "goal ≥ 4 MB: {line}"
    );
    let (stacks, rest) = rest
        .split_once(" MB stacks, ")
        .unwrap_or_else(|| bad("stacks"));
    assert!(stacks.parse::<u64>().is_ok(), "stacks: {line}");
    let rest = rest
        .strip_prefix("0 MB globals, ")
        .unwrap_or_else(|| bad("globals"));
    let forced = rest.ends_with(" (forced)");
    let procs = rest.trim_end_matches(" (forced)");
    assert_eq!(procs, "2 P", "procs: {line}");
    (num.parse().unwrap_or_else(|_| bad("number")), forced)
}

#[test]
fn gctrace_lines_are_in_go_1_19_format() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "gctrace_lines_are_in_go_1_19_format",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("gc ")).collect();
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .expect("child summary");
    let num_gc: usize = summary
        .split_whitespace()
        .find_map(|w| w.strip_prefix("num_gc="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(num_gc >= 3, "{summary}");
    assert_eq!(lines.len(), num_gc, "one line per cycle:\n{stderr}");
    let mut forced = 0;
    for (i, l) in lines.iter().enumerate() {
        let (n, f) = check_line(l);
        assert_eq!(n as usize, i + 1, "cycles numbered 1, 2, ...: {l}");
        forced += usize::from(f);
    }
    // The two gc() calls are the last two lines, marked forced; the rest were paced.
    assert_eq!(forced, 2, "{stderr}");
    assert!(lines[lines.len() - 1].ends_with(" (forced)"));
    assert!(lines[lines.len() - 2].ends_with(" (forced)"));
    assert!(summary.ends_with("forced=2"), "{summary}");
}
