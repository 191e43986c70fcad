//! The Chrome Trace Event JSON of the synthetic trace, checked structurally:
//! go tool trace's layout, pids from 1, consistent slices, flows and counters.

use std::collections::{BTreeMap, HashMap};

use gort_profiler::synthetic;
use gort_profiler::trace::json::{to_value, PID_PROCS, PID_STATS, TID_GC};
use serde_json::Value;

fn events() -> (Vec<Value>, serde_json::Map<String, Value>) {
    let v = to_value(&synthetic::trace()).unwrap();
    // the writer's bytes parse back to the same value
    let mut buf = Vec::new();
    gort_profiler::trace::json::write(&synthetic::trace(), &mut buf).unwrap();
    let back: Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(back, v);
    assert_eq!(v["displayTimeUnit"], "ns");
    (
        v["traceEvents"].as_array().unwrap().clone(),
        v["stackFrames"].as_object().unwrap().clone(),
    )
}

#[test]
fn trace_json_is_structurally_valid() {
    let (evs, frames) = events();
    for e in &evs {
        for k in ["name", "ph", "cat", "pid"] {
            assert!(e.get(k).is_some(), "event without {k}: {e}");
        }
        assert!(e["pid"].as_u64().unwrap() >= 1, "pid 0 used: {e}");
        if e["ph"] != "M" {
            assert!(e["ts"].as_f64().unwrap() >= 0.0, "{e}");
        }
        for k in ["sf", "esf"] {
            if let Some(id) = e.get(k) {
                assert!(
                    frames.contains_key(&id.as_u64().unwrap().to_string()),
                    "dangling {k}: {e}"
                );
            }
        }
    }
    // every frame's parent exists
    for (id, f) in &frames {
        if let Some(p) = f.get("parent") {
            assert!(
                frames.contains_key(&p.as_u64().unwrap().to_string()),
                "frame {id} has dangling parent"
            );
        }
        assert!(
            f["name"].as_str().unwrap().contains(':'),
            "frame name is fn:line"
        );
    }
}

#[test]
fn trace_json_has_go_tool_trace_layout() {
    let (evs, _) = events();
    let meta: Vec<(&str, u64, Option<u64>, &Value)> = evs
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["pid"].as_u64().unwrap(),
                e.get("tid").and_then(Value::as_u64),
                &e["args"],
            )
        })
        .collect();
    // process names have no tid (Go writes 0); thread names have the P (or pseudo-P) number
    let name_of = |pid, tid: Option<u64>| {
        let kind = if tid.is_some() {
            "thread_name"
        } else {
            "process_name"
        };
        meta.iter()
            .find(|m| m.0 == kind && m.1 == pid && (tid.is_none() || m.2 == tid))
            .map(|m| m.3["name"].as_str().unwrap().to_string())
    };
    assert_eq!(name_of(PID_PROCS, None).as_deref(), Some("PROCS"));
    assert_eq!(name_of(PID_STATS, None).as_deref(), Some("STATS"));
    assert_eq!(name_of(PID_PROCS, Some(0)).as_deref(), Some("Proc 0"));
    assert_eq!(name_of(PID_PROCS, Some(1)).as_deref(), Some("Proc 1"));
    assert_eq!(name_of(PID_PROCS, Some(TID_GC)).as_deref(), Some("GC"));

    // one X slice per goroutine run (7 GoStarts), named "G<id> <start fn>"
    let runs: Vec<&Value> = evs
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "goroutine")
        .collect();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &runs {
        *names.entry(r["name"].as_str().unwrap()).or_default() += 1;
        assert!(r["dur"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        names,
        BTreeMap::from([
            ("G1 main.main", 2),
            ("G2 main.worker", 2),
            ("G3 main.worker", 2),
            ("G4 main.consumer", 1)
        ])
    );
    // runs on one P never overlap (Perfetto needs nesting per thread)
    let mut by_tid: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for r in &runs {
        let ts = r["ts"].as_f64().unwrap();
        by_tid
            .entry(r["tid"].as_u64().unwrap())
            .or_default()
            .push((ts, ts + r["dur"].as_f64().unwrap()));
    }
    for (tid, mut v) in by_tid {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in v.windows(2) {
            assert!(
                w[0].1 <= w[1].0 + 1e-9,
                "overlapping runs on P {tid}: {w:?}"
            );
        }
    }

    // the GC cycle: 97000 → 469000 ns after the first event: at 97 µs, 372 µs long
    let gc: Vec<&Value> = evs
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == "GC")
        .collect();
    assert_eq!(gc.len(), 1);
    assert_eq!(gc[0]["tid"].as_u64(), Some(TID_GC));
    assert_eq!(gc[0]["ts"].as_f64(), Some(97.0));
    assert_eq!(gc[0]["dur"].as_f64(), Some(372.0));
    let stw: Vec<&str> = evs
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "gc")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        stw,
        [
            "STW (sweep termination)",
            "STW (mark termination)",
            "GC",
            "SWEEP"
        ]
    );
    let sweep = evs.iter().find(|e| e["name"] == "SWEEP").unwrap();
    assert_eq!(sweep["args"]["Swept bytes"], 65536);
    assert_eq!(sweep["args"]["Reclaimed bytes"], 32768);

    // flow arrows: 4 go (create) + 2 unblock, each an s/t pair with one id, s not after t
    let mut flows: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in evs.iter().filter(|e| e["ph"] == "s" || e["ph"] == "t") {
        flows.entry(e["id"].as_u64().unwrap()).or_default().push(e);
    }
    assert_eq!(flows.len(), 6);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for pair in flows.values() {
        assert_eq!(pair.len(), 2);
        assert_eq!(
            (pair[0]["ph"].as_str(), pair[1]["ph"].as_str()),
            (Some("s"), Some("t"))
        );
        assert!(pair[0]["ts"].as_f64() <= pair[1]["ts"].as_f64());
        *kinds.entry(pair[0]["name"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(kinds, BTreeMap::from([("go", 4), ("unblock", 2)]));

    // counters live in STATS; the last Heap sample shows 2 MiB allocated, goal 6 MiB
    let counters: Vec<&Value> = evs.iter().filter(|e| e["ph"] == "C").collect();
    assert!(counters
        .iter()
        .all(|c| c["pid"].as_u64() == Some(PID_STATS)));
    let heap: Vec<&&Value> = counters.iter().filter(|c| c["name"] == "Heap").collect();
    assert_eq!(heap.len(), 5);
    let last = heap.last().unwrap();
    assert_eq!(last["args"]["Allocated"], 2 << 20);
    assert_eq!(last["args"]["NextGC"], 4 << 20);
    for c in counters.iter().filter(|c| c["name"] == "Goroutines") {
        for k in ["Running", "Runnable", "GCWaiting"] {
            assert!(c["args"][k].as_i64().unwrap() >= 0, "{c}");
        }
        assert!(
            c["args"]["Running"].as_i64().unwrap() <= 2,
            "at most one running G per P: {c}"
        );
    }
    let threads: Vec<i64> = counters
        .iter()
        .filter(|c| c["name"] == "Threads")
        .map(|c| c["args"]["Running"].as_i64().unwrap())
        .collect();
    assert_eq!(threads, [1, 2, 1, 0]);
}

/// Parse the JSON with two JavaScript trace models (the DevTools trace
/// engine and @tracerbench/trace-model), installed from npm by this test
/// into a temporary prefix — nothing is vendored. Skips with a printed
/// reason when node/npm or the registry are unavailable, unless
/// `GORT_REQUIRE_NODE=1`.
#[test]
fn trace_json_parses_with_js_trace_models() {
    use std::process::Command;
    let skip = |why: &str| {
        if std::env::var("GORT_REQUIRE_NODE").as_deref() == Ok("1") {
            panic!("GORT_REQUIRE_NODE=1 but {why}");
        }
        eprintln!("SKIPPED trace_json_parses_with_js_trace_models: {why}");
    };
    let works = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !works("node") || !works("npm") {
        return skip("no node/npm on PATH");
    }
    let prefix = std::env::temp_dir().join("gort-js-trace-models");
    let installed = |p: &std::path::Path| {
        p.join("node_modules/@paulirish/trace_engine/analyze-trace.mjs")
            .exists()
            && p.join("node_modules/@tracerbench/trace-model/dist/index.js")
                .exists()
    };
    if !installed(&prefix) {
        std::fs::create_dir_all(&prefix).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args([
                "@paulirish/trace_engine@0.0.65",
                "@tracerbench/trace-model@8.0.0",
            ])
            .output()
            .unwrap();
        if !out.status.success() || !installed(&prefix) {
            return skip(&format!(
                "npm install failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let file = std::env::temp_dir().join(format!("gort-trace-{}.json", std::process::id()));
    let mut buf = Vec::new();
    gort_profiler::trace::json::write(&synthetic::trace(), &mut buf).unwrap();
    std::fs::write(&file, &buf).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/check_trace.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&prefix)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (evs, _) = events();
    // the DevTools engine kept every event and found every row of PROCS (pid 1)
    assert_eq!(
        seen["engineEvents"].as_u64(),
        Some(evs.len() as u64),
        "{seen}"
    );
    assert_eq!(
        seen["threadsInProcess"],
        serde_json::json!({"1": [0, 1, 1000001, 1000002, 1000003, 1000004]}),
        "{seen}"
    );
    // the strict model saw both processes (it would drop pid 0) and the named rows;
    // it folds tid-0 events (Proc 0) into the process itself
    assert_eq!(
        seen["tracerbench"],
        serde_json::json!([
            {"name": "STATS", "threads": []},
            {"name": "PROCS", "threads": ["GC", "Network", "Timers", "Syscalls", "Proc 1"]}
        ]),
        "{seen}"
    );
}
