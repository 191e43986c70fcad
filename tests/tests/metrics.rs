//! `gort::metrics` (Go's `runtime/metrics`) through the public API: the
//! numbers agree with `read_mem_stats` and the collector's own records, the
//! histograms count what they say, and the Prometheus text is read by a real
//! parser (Python's `prometheus_client`).
//!
//! The histograms and counters are process-wide; each test reads them
//! inside one `gort::run` body, and run bodies take turns, so the other
//! test's collections never fall between two reads of one test.

use gort::metrics::{self, Sample, Value, ValueKind};
use gort::runtime::{gc, read_mem_stats};
use gort::sync::WaitGroup;
use gort::{chan, go, Gc};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// Reads every metric into a map by name.
fn read_map() -> HashMap<String, Value> {
    let mut s: Vec<Sample> = metrics::all().iter().map(|d| Sample::new(d.name)).collect();
    metrics::read(&mut s);
    s.into_iter().map(|s| (s.name, s.value)).collect()
}

fn u(m: &HashMap<String, Value>, name: &str) -> u64 {
    m[name].uint64()
}

fn hist_count(m: &HashMap<String, Value>, name: &str) -> u64 {
    m[name].float64_histogram().counts.iter().sum()
}

/// Ping-pong `n` values between two goroutines (2n schedulings at least).
fn ping_pong(n: u64) {
    let (a, b) = (chan::<u64>(0), chan::<u64>(0));
    let wg = WaitGroup::new();
    wg.add(1);
    {
        let (a, b, wg) = (a.clone(), b.clone(), wg.clone());
        go(move || {
            while let Some(v) = a.recv() {
                b.send(v + 1);
            }
            wg.done();
        });
    }
    for i in 0..n {
        a.send(i);
        assert_eq!(b.recv(), Some(i + 1));
    }
    a.close();
    wg.wait();
}

#[test]
fn metrics_agree_with_memstats_and_the_collector() {
    struct Seen {
        before: HashMap<String, Value>,
        after: HashMap<String, Value>,
        mem: gort::MemStats,
        pauses: usize,
        totals: Vec<(u64, u64)>,
        gogc_50: u64,
        other_later: u64,
    }
    let seen = gort::run(|| {
        let before = read_map();
        // Allocate (and drop) managed objects, schedule a lot, collect.
        let mut keep = None;
        for i in 0..20_000u64 {
            keep = Some(Gc::new([i; 4]));
        }
        std::hint::black_box(keep);
        ping_pong(20_000);
        gc();
        gc();
        let old = gort::debug::set_gc_percent(50);
        let gogc_50 = read_map()["/gc/gogc:percent"].uint64();
        gort::debug::set_gc_percent(old);
        // Nothing runs or allocates on the managed heap now: the metrics
        // and MemStats read the same counters. (read_mem_stats stops the
        // world: one more "other" pause after `after`.)
        let after = read_map();
        let mem = read_mem_stats();
        let pauses = gort::crates::gc::collector::global().pause_summary().count;
        let other_later = hist_count(&read_map(), "/sched/pauses/total/other:seconds");
        // The memory classes' total against MemStats::sys, a few times: a
        // pooled stack's pages may be returned between two reads.
        let mut totals = Vec::new();
        for _ in 0..5 {
            let t = read_map()["/memory/classes/total:bytes"].uint64();
            let sys = read_mem_stats().sys;
            totals.push((t, sys));
            if t == sys {
                break;
            }
        }
        Seen {
            before,
            after,
            mem,
            pauses,
            totals,
            gogc_50,
            other_later,
        }
    });
    let (a, m) = (&seen.after, &seen.mem);

    // Every metric reads as the kind `all` gives it.
    for d in metrics::all() {
        assert_eq!(a[d.name].kind(), d.kind, "{}", d.name);
    }

    // Heap counters are MemStats's.
    assert_eq!(u(a, "/gc/heap/allocs:bytes"), m.total_alloc);
    assert_eq!(u(a, "/gc/heap/allocs:objects"), m.mallocs);
    assert_eq!(u(a, "/gc/heap/frees:objects"), m.frees);
    assert_eq!(u(a, "/gc/heap/frees:bytes"), m.total_alloc - m.heap_alloc);
    assert_eq!(u(a, "/gc/heap/objects:objects"), m.heap_objects);
    assert_eq!(u(a, "/gc/heap/goal:bytes"), m.next_gc);
    assert_eq!(u(a, "/gc/heap/tiny/allocs:objects"), 0);
    assert!(u(a, "/gc/heap/allocs:objects") - u(&seen.before, "/gc/heap/allocs:objects") >= 20_000);
    assert!(u(a, "/gc/heap/live:bytes") > 0);
    assert!(u(a, "/gc/heap/live:bytes") <= m.heap_alloc);

    // Cycle counters are NumGC and NumForcedGC.
    assert_eq!(u(a, "/gc/cycles/total:gc-cycles"), u64::from(m.num_gc));
    assert_eq!(
        u(a, "/gc/cycles/forced:gc-cycles"),
        u64::from(m.num_forced_gc)
    );
    assert_eq!(
        u(a, "/gc/cycles/automatic:gc-cycles") + u(a, "/gc/cycles/forced:gc-cycles"),
        u(a, "/gc/cycles/total:gc-cycles")
    );
    assert!(m.num_forced_gc >= 2);

    // Memory classes: the heap classes are HeapSys, and they all add up to
    // the total, which is MemStats::sys.
    let classes: u64 = metrics::all()
        .iter()
        .filter(|d| {
            d.name.starts_with("/memory/classes/") && d.name != "/memory/classes/total:bytes"
        })
        .map(|d| u(a, d.name))
        .sum();
    assert_eq!(classes, u(a, "/memory/classes/total:bytes"));
    let heap: u64 = ["free", "objects", "released", "unused"]
        .iter()
        .map(|c| u(a, &format!("/memory/classes/heap/{c}:bytes")))
        .sum();
    assert_eq!(heap, m.heap_sys);
    assert_eq!(u(a, "/memory/classes/heap/objects:bytes"), m.heap_alloc);
    let (t, sys) = *seen.totals.last().unwrap();
    assert_eq!(
        t, sys,
        "memory classes total vs MemStats::sys: {:?}",
        seen.totals
    );

    // GC pauses: one sample per stop-the-world pause the collector records,
    // in the stopping and total histograms and the deprecated twin.
    let gc_pauses = hist_count(a, "/sched/pauses/total/gc:seconds");
    assert_eq!(gc_pauses, seen.pauses as u64);
    assert_eq!(
        hist_count(a, "/sched/pauses/stopping/gc:seconds"),
        gc_pauses
    );
    assert_eq!(hist_count(a, "/gc/pauses:seconds"), gc_pauses);
    assert!(gc_pauses >= 2 * u64::from(m.num_gc));
    // Other pauses: read_mem_stats stopped the world once after `after`.
    let other = hist_count(a, "/sched/pauses/total/other:seconds");
    assert_eq!(seen.other_later, other + 1);
    assert_eq!(other, hist_count(a, "/sched/pauses/stopping/other:seconds"));

    // Scheduling latency: 40,000 channel hand-offs, one in 8 sampled.
    let lat = hist_count(a, "/sched/latencies:seconds")
        - hist_count(&seen.before, "/sched/latencies:seconds");
    assert!(
        lat >= 1_000,
        "only {lat} latency samples for 40,000 hand-offs"
    );
    let h = a["/sched/latencies:seconds"].float64_histogram();
    assert_eq!(h.buckets.len(), h.counts.len() + 1);
    assert_eq!(h.buckets.len(), 163);
    assert_eq!(h.counts[0], 0, "no negative latency");

    // GC CPU classes.
    let f = |n: &str| a[n].float64();
    assert!(f("/cpu/classes/gc/pause:cpu-seconds") > 0.0);
    let sum = f("/cpu/classes/gc/mark/assist:cpu-seconds")
        + f("/cpu/classes/gc/mark/dedicated:cpu-seconds")
        + f("/cpu/classes/gc/mark/idle:cpu-seconds")
        + f("/cpu/classes/gc/pause:cpu-seconds");
    assert!((sum - f("/cpu/classes/gc/total:cpu-seconds")).abs() < 1e-9);

    // Knobs and scheduler figures.
    assert_eq!(u(a, "/gc/gogc:percent"), 100);
    assert_eq!(seen.gogc_50, 50);
    assert_eq!(u(a, "/gc/gomemlimit:bytes"), i64::MAX as u64);
    assert_eq!(
        u(a, "/sched/gomaxprocs:threads"),
        gort::runtime::gomaxprocs(0) as u64
    );
    assert_eq!(u(a, "/sched/goroutines:goroutines"), 1);
    assert!(u(a, "/sched/goroutines/running:goroutines") >= 1);
    assert!(u(a, "/sched/threads/total:threads") >= 1);
    assert!(u(a, "/gc/stack/starting-size:bytes") >= 16 * 1024);

    // An unknown name.
    let mut bad = [Sample::new("/gc/heap/allocs-by-size:bytes")];
    metrics::read(&mut bad);
    assert_eq!(bad[0].value, Value::Bad);
    assert_eq!(bad[0].value.kind(), ValueKind::Bad);
}

/// The parser run on the exposition: prints one line per sample,
/// `family<TAB>type<TAB>sample-name<TAB>labels-json<TAB>value`.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print("\t".join([fam.name, fam.type, s.name, json.dumps(s.labels, sort_keys=True), repr(float(s.value))]))
"#;

#[test]
fn prometheus_text_is_read_by_prometheus_client() {
    let resp = gort::run(|| {
        ping_pong(2_000);
        gc();
        let req = http::Request::get("/debug/metrics").body(()).unwrap();
        metrics::metrics_handler(req)
    });
    assert_eq!(resp.status(), http::StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], metrics::CONTENT_TYPE);
    let text = String::from_utf8(resp.body().clone()).unwrap();
    let post = metrics::metrics_handler(http::Request::post("/debug/metrics").body(()).unwrap());
    assert_eq!(post.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    let Some(parsed) = run_parser(&text) else {
        return;
    };
    // (family, type, sample name, labels, value)
    let rows: Vec<Vec<&str>> = parsed.lines().map(|l| l.split('\t').collect()).collect();
    for d in metrics::all() {
        let prom = gort::metrics::prometheus_name(d);
        let family = prom.strip_suffix("_total").unwrap_or(&prom);
        let want_type = match (d.kind, d.cumulative) {
            (ValueKind::Float64Histogram, _) => "histogram",
            (_, true) => "counter",
            _ => "gauge",
        };
        let fam: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == family).collect();
        assert!(!fam.is_empty(), "{} ({prom}) not parsed", d.name);
        assert!(
            fam.iter().all(|r| r[1] == want_type),
            "{prom}: {:?}",
            fam[0]
        );
        if want_type == "histogram" {
            let buckets: Vec<(f64, f64)> = fam
                .iter()
                .filter(|r| r[2] == format!("{prom}_bucket"))
                .map(|r| {
                    let le = r[3].split('"').nth(3).unwrap();
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    };
                    (le, r[4].parse().unwrap())
                })
                .collect();
            assert!(buckets.len() >= 3, "{prom}: {buckets:?}");
            assert!(buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
            let count: f64 = fam
                .iter()
                .find(|r| r[2] == format!("{prom}_count"))
                .unwrap()[4]
                .parse()
                .unwrap();
            assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
            assert!(fam.iter().any(|r| r[2] == format!("{prom}_sum")));
        } else {
            assert_eq!(fam.len(), 1, "{prom}");
            assert_eq!(fam[0][2], prom);
        }
    }
    let value = |name: &str| -> f64 {
        rows.iter().find(|r| r[2] == name).unwrap()[4]
            .parse()
            .unwrap()
    };
    assert!(value("go_gc_cycles_forced_gc_cycles_total") >= 1.0);
    assert!(value("go_sched_latencies_seconds_count") >= 100.0);
    assert!(value("go_sched_pauses_total_gc_seconds_count") >= 2.0);
    assert!(value("go_sched_pauses_total_gc_seconds_sum") > 0.0);
    assert_eq!(value("go_gc_gogc_percent"), 100.0);
}

/// Runs the parser, or says why not (no python3, no prometheus_client).
fn run_parser(text: &str) -> Option<String> {
    let child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped: no python3 ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("No module named 'prometheus_client'") {
        eprintln!("skipped: python3 has no prometheus_client (pip install prometheus_client)");
        return None;
    }
    assert!(
        out.status.success(),
        "prometheus_client rejected the text:\n{err}\n{text}"
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Go 1.27's `metrics.All()` (`tests/data/metricsall/main.go`'s output):
/// every metric gort lists is Go's, with Go's kind, cumulative flag and
/// description; every one it leaves out is named in the module docs' list
/// of what gort does not report.
#[test]
fn the_list_is_go_127s() {
    let go = include_str!("../data/go127_metrics_all.tsv");
    let go: HashMap<&str, Vec<&str>> = go
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '\t').collect();
            (f[0], f)
        })
        .collect();
    for d in metrics::all() {
        let g = go
            .get(d.name)
            .unwrap_or_else(|| panic!("{} is not a Go 1.27 metric", d.name));
        assert_eq!(g[1], format!("{:?}", d.kind), "{}", d.name);
        assert_eq!(g[2], d.cumulative.to_string(), "{}", d.name);
        assert_eq!(g[3], d.description, "{}", d.name);
    }
    let docs = include_str!("../../runtime/src/metrics.rs");
    let not_reported = &docs[docs.find("# What gort does not report").unwrap()..];
    for name in go.keys() {
        if metrics::describe(name).is_some() {
            continue;
        }
        // Listed by name, or by its family (`/gc/finalizers/*`).
        let (path, _) = name.split_once(':').unwrap();
        let family = format!("{}/*", &path[..path.rfind('/').unwrap()]);
        assert!(
            not_reported.contains(&format!("`{name}`"))
                || not_reported.contains(&format!("`{path}`"))
                || not_reported.contains(&format!("`{family}`")),
            "{name}: neither reported nor listed as left out"
        );
    }
}
