//! The collector's mark workers in the execution trace, as Go's trace
//! shows them: each P's mark worker goroutine (created with the start
//! function `runtime.gcBgMarkWorker`) runs labelled `GC (dedicated)`,
//! `GC (fractional)` or `GC (idle)` (`GoStartLabel`), only inside
//! collection cycles. A program that builds pointer-rich lists (so that
//! marking takes a while) and forces collections runs under the tracer
//! with GOMAXPROCS=2 (Go's split: no dedicated worker, a fractional one)
//! and GOMAXPROCS=4 (one dedicated worker, no fractional one), each in a
//! child process. The fractional or dedicated label appears (marking
//! runs, outside the stops of the world) exactly per that split, and the
//! other not at all (a stop of the world a worker makes is labelled with
//! its mode).
//!
//! Where Go is installed, Go 1.19's `go tool trace -d` lists the same
//! labelled starts, and its minimum mutator utilization with only the
//! background workers counted (`/mmuPlot?flags=background`) is below 1 at
//! the plot's largest window: Go's tool counts the workers' runs as the
//! collector's time. The newer Go (`$HOME/go127`) parses the trace
//! (`-d=parsed`, which shows each start's label as a `GoLabel`) and draws
//! the same plot.

use gort::crates::profiler::trace::v1::{self, ev};
use gort_tests::go_tools::{go_tool, go_tool_of, have_go, newer_go, TestDir};
use gort_tests::lists::{expected, list, sum};
use gort_tests::{child_case, run_child_with_limit, run_tests, stderr_of, trace_tool_pages};
use std::collections::HashMap;
use std::time::Duration;

const IDLE: &str = "GC (idle)";
const DEDICATED: &str = "GC (dedicated)";
const FRACTIONAL: &str = "GC (fractional)";

/// The traced program (child): a live list, then garbage lists and
/// forced collections.
fn program(out: String) {
    gort::run(move || {
        let file = std::fs::File::create(out).unwrap();
        // A live list that every cycle marks.
        let keep = list(200_000, 1, 0);
        gort::trace::start(file).unwrap();
        for round in 0..12u64 {
            let l = list(50_000, round, 2);
            assert_eq!(sum(l), expected(50_000, round));
            if round % 3 == 0 {
                gort::runtime::gc();
            }
        }
        gort::trace::stop().unwrap();
        assert_eq!(sum(keep), expected(200_000, 1));
    });
}

/// What the trace shows of the mark workers.
#[derive(Debug, Default)]
struct Workers {
    /// Labelled starts, by label.
    starts: HashMap<String, usize>,
    /// Of those, the runs during which the world was not stopped
    /// (marking, not a stop of the world written on a worker).
    marking: HashMap<String, usize>,
}

fn workers_of(bytes: &[u8]) -> Workers {
    let d = v1::decode(bytes).expect("a v1 trace");
    let mut evs: Vec<&v1::RawEvent> = d.events.iter().collect();
    evs.sort_by_key(|e| e.ts); // stable: per-P order kept at equal times
    let created: HashMap<u64, Vec<&str>> = evs
        .iter()
        .filter(|e| e.ty == ev::GO_CREATE)
        .map(|e| (e.args[0], d.functions(e.args[1])))
        .collect();
    let mut w = Workers::default();
    // Per P: the labelled run going on (label, whether a stop of the
    // world happened during it).
    let mut open: HashMap<u64, (String, bool)> = HashMap::new();
    let (mut in_gc, mut in_stw) = (false, false);
    for e in &evs {
        match e.ty {
            ev::GC_START => in_gc = true,
            ev::GC_DONE => in_gc = false,
            ev::STW_START | ev::STW_DONE => {
                in_stw = e.ty == ev::STW_START;
                for run in open.values_mut() {
                    run.1 = true;
                }
            }
            ev::GO_START_LABEL => {
                let label = d.strings[&e.args[2]].clone();
                assert!(
                    [IDLE, DEDICATED, FRACTIONAL].contains(&label.as_str()),
                    "label {label:?}"
                );
                assert_eq!(
                    created.get(&e.args[0]).map(Vec::as_slice),
                    Some(&["runtime.gcBgMarkWorker"][..]),
                    "G{} runs as {label}",
                    e.args[0]
                );
                assert!(in_gc, "{label} at {} outside a collection cycle", e.ts);
                *w.starts.entry(label.clone()).or_default() += 1;
                open.insert(e.p, (label, in_stw));
            }
            ev::GO_START => {
                open.remove(&e.p);
            }
            ev::GO_BLOCK..=ev::GO_BLOCK_NET
            | ev::GO_BLOCK_GC
            | ev::GO_SCHED
            | ev::GO_PREEMPT
            | ev::GO_SLEEP
            | ev::GO_SYS_BLOCK
            | ev::GO_END
            | ev::GO_STOP => {
                if let Some((label, stopped)) = open.remove(&e.p) {
                    if !stopped {
                        *w.marking.entry(label).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
    w
}

/// The minimum mutator utilization at the largest window of a `go tool
/// trace` MMU plot (JSON: `curve` of `[window, mmu]`, windows growing).
fn mmu_at_largest_window(plot: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(plot);
    let curve = text.split("\"curve\":[").nth(1).expect("a curve");
    // The last point is the largest window.
    let last = curve.rsplit('[').next().unwrap();
    let mmu = last.split(',').nth(1).unwrap();
    mmu.trim_end_matches([']', '}', '\n'])
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {mmu:?} in {text}"))
}

fn traced_with(procs: &str) {
    let test = &format!("trace_workers_gomaxprocs_{procs}");
    let dir = TestDir::new(&format!("trace-workers-{procs}"));
    let path = dir.join("trace.out");
    let out = run_child_with_limit(
        "program",
        &[
            ("GOMAXPROCS", procs),
            ("GORT_TRACE_OUT", path.to_str().unwrap()),
        ],
        Duration::from_secs(120),
    )
    .expect("the traced program finishes in 120 s");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let bytes = std::fs::read(&path).unwrap();
    let w = workers_of(&bytes);
    eprintln!(
        "GOMAXPROCS={procs}: labelled starts {:?}, marking runs {:?}",
        w.starts, w.marking
    );
    let marking = |l: &str| w.marking.get(l).copied().unwrap_or(0);
    match procs {
        // 2 × 0.25 = 0.5: no dedicated worker, a fractional one.
        "2" => {
            assert!(marking(FRACTIONAL) >= 1, "{w:?}");
            assert_eq!(w.starts.get(DEDICATED), None, "{w:?}");
        }
        // 4 × 0.25 = 1: one dedicated worker, no fractional one.
        _ => {
            assert!(marking(DEDICATED) >= 1, "{w:?}");
            assert_eq!(w.starts.get(FRACTIONAL), None, "{w:?}");
        }
    }
    let labelled: usize = w.starts.values().sum();

    let pages = |root| {
        let mmu = match root {
            None => "/mmuPlot?flags=background",
            Some(_) => "/mmu?mode=plot&flags=background",
        };
        trace_tool_pages(root, &dir, "trace.out", &["/jsontrace", mmu])
            .unwrap_or_else(|e| panic!("go tool trace: {e}"))
    };
    if have_go(test) {
        let (dump, _) = go_tool(&dir, &["trace", "-d", "trace.out"]);
        let listed = dump
            .lines()
            .filter(|l| l.contains(" GoStartLabel "))
            .count();
        assert_eq!(listed, labelled, "Go 1.19's GoStartLabel events");
        for label in [DEDICATED, FRACTIONAL] {
            let n = dump
                .lines()
                .filter(|l| l.contains(" GoStartLabel ") && l.contains(label))
                .count();
            assert_eq!(n, w.starts.get(label).copied().unwrap_or(0), "{label}");
        }
        let mmu = mmu_at_largest_window(&pages(None)[1]);
        eprintln!("Go 1.19: background MMU at the largest window {mmu:.3}");
        assert!(mmu < 1.0, "Go 1.19 sees no background worker time");
    }
    if let Some(root) = newer_go(test) {
        let (ok, out, err) = go_tool_of(&root, &dir, &["trace", "-d=parsed", "trace.out"]);
        assert!(ok, "newer go tool trace -d=parsed:\n{err}");
        let labels = out
            .lines()
            .filter(|l| l.contains("Label") && l.contains("GC ("))
            .count();
        assert_eq!(labels, labelled, "the newer Go's labels");
        let mmu = mmu_at_largest_window(&pages(Some(&root))[1]);
        eprintln!("newer Go: background MMU at the largest window {mmu:.3}");
        assert!(mmu < 1.0, "the newer Go sees no background worker time");
    }
}

fn fractional_worker_with_two_ps() {
    traced_with("2");
}

fn dedicated_worker_with_four_ps() {
    traced_with("4");
}

fn main() {
    if let Some(case) = child_case() {
        assert_eq!(case, "program", "unknown child case");
        program(std::env::var("GORT_TRACE_OUT").unwrap());
        return;
    }
    run_tests(&[
        (
            "fractional_worker_with_two_ps",
            fractional_worker_with_two_ps,
        ),
        (
            "dedicated_worker_with_four_ps",
            dedicated_worker_with_four_ps,
        ),
    ]);
}
