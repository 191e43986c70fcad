//! Interop: the real Go 1.19 tools read what gort-profiler writes.
//!
//! Every test writes the synthetic data set (`gort_profiler::synthetic`)
//! into a fresh directory and runs `go tool pprof` / `go tool trace` on it,
//! asserting exact sample types, periods, values and function names.
//!
//! Without a Go toolchain the tests print why and return — unless
//! `GORT_REQUIRE_GO=1` (as CI sets it), in which case they fail.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use gort_profiler::synthetic;

#[path = "../../tests/src/go_tools.rs"]
#[allow(dead_code)] // the newer-Go helpers are gort-tests' only
mod go_tools;
use go_tools::{go_tool, have_go, TestDir};

/// A fresh directory holding all synthetic outputs, plus HOME/PPROF_TMPDIR.
/// Removed when the test passes; kept (its path is in the failure) when it fails.
fn setup(name: &str) -> TestDir {
    let dir = TestDir::new(name);
    synthetic::write_all(&dir).expect("write synthetic outputs");
    dir
}

/// The parsed parts of `go tool pprof -raw` output.
struct Raw {
    period_type: String,
    period: String,
    sample_header: String,
    /// (values, location ids)
    samples: Vec<(Vec<i64>, Vec<u64>)>,
    /// location id -> function name
    functions: BTreeMap<u64, String>,
    mappings: Vec<String>,
}

fn raw(dir: &Path, file: &str) -> Raw {
    let (out, _) = go_tool(dir, &["pprof", "-raw", file]);
    let mut r = Raw {
        period_type: String::new(),
        period: String::new(),
        sample_header: String::new(),
        samples: vec![],
        functions: BTreeMap::new(),
        mappings: vec![],
    };
    let mut section = "";
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("PeriodType: ") {
            r.period_type = v.to_string();
        } else if let Some(v) = line.strip_prefix("Period: ") {
            r.period = v.to_string();
        } else if line == "Samples:" || line == "Locations" || line == "Mappings" {
            section = if line == "Samples:" {
                "samples-header"
            } else {
                line
            };
        } else if section == "samples-header" {
            r.sample_header = line.trim().to_string();
            section = "samples";
        } else if section == "samples" {
            if let Some((vals, locs)) = line.split_once(':') {
                if let Ok(values) = vals
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<Vec<i64>, _>>()
                {
                    let ids = locs
                        .split_whitespace()
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    r.samples.push((values, ids));
                }
            }
        } else if section == "Locations" {
            // "     1: 0x401710 M=1 main.fib /src/synthetic/main.go:60 s=0"
            let mut it = line.split_whitespace();
            if let (Some(id), Some(_addr), Some(_m), Some(func)) =
                (it.next(), it.next(), it.next(), it.next())
            {
                if let Ok(id) = id.trim_end_matches(':').parse() {
                    r.functions.insert(id, func.to_string());
                }
            }
        } else if section == "Mappings" && !line.trim().is_empty() {
            r.mappings.push(line.trim().to_string());
        }
    }
    r
}

impl Raw {
    /// Function names of a sample's stack, leaf first.
    fn stack(&self, i: usize) -> Vec<&str> {
        self.samples[i]
            .1
            .iter()
            .map(|id| self.functions[id].as_str())
            .collect()
    }
    fn find(&self, values: &[i64]) -> Vec<&str> {
        let i = self
            .samples
            .iter()
            .position(|(v, _)| v == values)
            .unwrap_or_else(|| panic!("no sample with values {values:?} in {:?}", self.samples));
        self.stack(i)
    }
}

#[test]
fn pprof_raw_reads_every_profile_kind() {
    if !have_go("pprof_raw_reads_every_profile_kind") {
        return;
    }
    let dir = setup("raw");

    let cpu = raw(&dir, "cpu.pb.gz");
    assert_eq!(cpu.period_type, "cpu nanoseconds");
    assert_eq!(cpu.period, "10000000");
    assert_eq!(cpu.sample_header, "samples/count cpu/nanoseconds");
    assert_eq!(cpu.samples.len(), 4);
    assert_eq!(
        cpu.find(&[42, 420_000_000]),
        ["main.fib", "main.fib", "main.worker", "runtime.goexit"]
    );
    assert_eq!(
        cpu.find(&[17, 170_000_000]),
        ["main.buildTree", "main.worker", "runtime.goexit"]
    );
    assert_eq!(
        cpu.find(&[3, 30_000_000]),
        ["main.consumer", "runtime.goexit"]
    );
    assert_eq!(
        cpu.mappings,
        ["1: 0x401000/0x406000/0x0 synthetic  [FN][FL][LN]"]
    );

    for (file, dflt) in [("heap.pb.gz", ""), ("allocs.pb.gz", "[dflt]")] {
        let h = raw(&dir, file);
        assert_eq!(h.period_type, "space bytes", "{file}");
        assert_eq!(h.period, "524288", "{file}");
        assert_eq!(
            h.sample_header,
            format!(
                "alloc_objects/count alloc_space/bytes{dflt} inuse_objects/count inuse_space/bytes"
            ),
            "{file}"
        );
        // 14 × 4096 B un-sampled at 512 KiB: ×128.5 (Go's worked example); runtime.mallocgc hidden
        assert_eq!(
            h.find(&[1799, 7_368_741, 1799, 7_368_741]),
            ["main.alloc", "main.main", "runtime.main"]
        );
        // 200 × 64 B (150 freed): ×8192.5
        assert_eq!(
            h.find(&[1_638_500, 104_864_000, 409_625, 26_216_000]),
            ["main.buildTree", "main.worker", "runtime.goexit"]
        );
    }

    let g = raw(&dir, "goroutine.pb.gz");
    assert_eq!(g.period_type, "goroutine count");
    assert_eq!(g.period, "1");
    assert_eq!(g.sample_header, "goroutine/count");
    assert_eq!(
        g.find(&[3]),
        [
            "runtime.gopark",
            "sync.runtime_SemacquireMutex",
            "sync.(*Mutex).Lock",
            "main.worker",
            "runtime.goexit"
        ]
    );
    assert_eq!(g.samples.iter().map(|s| s.0[0]).sum::<i64>(), 5);

    let t = raw(&dir, "threadcreate.pb.gz");
    assert_eq!(t.period_type, "threadcreate count");
    assert_eq!(t.sample_header, "threadcreate/count");
    assert_eq!(
        t.find(&[1]),
        ["runtime.newm", "runtime.startm", "runtime.mstart"]
    );

    let b = raw(&dir, "block.pb.gz");
    assert_eq!(b.period_type, "contentions count");
    assert_eq!(b.period, "1");
    assert_eq!(b.sample_header, "contentions/count delay/nanoseconds");
    assert_eq!(
        b.find(&[6, 12_000_000]),
        ["sync.(*Mutex).Lock", "main.worker", "runtime.goexit"]
    );
    assert_eq!(
        b.find(&[2, 3_000_000]),
        ["runtime.chanrecv1", "main.main", "runtime.main"]
    );

    let m = raw(&dir, "mutex.pb.gz");
    assert_eq!(m.period_type, "contentions count");
    assert_eq!(m.sample_header, "contentions/count delay/nanoseconds");
    // 4 events, 8 ms, sampled 1 in 5: Go multiplies both by the fraction
    assert_eq!(
        m.find(&[20, 40_000_000]),
        ["sync.(*Mutex).Unlock", "main.main", "runtime.main"]
    );
}

/// The first row of `go tool pprof -top` output after the column header.
fn top_row(dir: &Path, args: &[&str]) -> String {
    let mut a = vec!["pprof", "-top"];
    a.extend_from_slice(args);
    let (out, _) = go_tool(dir, &a);
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"));
    lines.next();
    lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn pprof_top_shows_the_expected_leaf() {
    if !have_go("pprof_top_shows_the_expected_leaf") {
        return;
    }
    let dir = setup("top");
    assert_eq!(
        top_row(&dir, &["cpu.pb.gz"]),
        "420ms 62.69% 62.69% 420ms 62.69% main.fib"
    );
    assert_eq!(
        top_row(&dir, &["-sample_index=alloc_space", "heap.pb.gz"]),
        "100.01MB 93.43% 93.43% 100.01MB 93.43% main.buildTree"
    );
    assert_eq!(
        top_row(&dir, &["heap.pb.gz"]),
        "25MB 78.06% 78.06% 25MB 78.06% main.buildTree"
    );
    assert_eq!(
        top_row(&dir, &["-sample_index=delay", "block.pb.gz"]),
        "12ms 80.00% 80.00% 12ms 80.00% sync.(*Mutex).Lock"
    );
    let (out, _) = go_tool(&dir, &["pprof", "-top", "cpu.pb.gz"]);
    assert!(out.starts_with("File: synthetic\nType: cpu\n"), "{out}");
}

#[test]
fn trace_d_parses_every_event() {
    if !have_go("trace_d_parses_every_event") {
        return;
    }
    let dir = setup("traced");
    let (out, _) = go_tool(&dir, &["trace", "-d", "trace.out"]);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        if let (Some(ts), Some(name)) = (it.next(), it.next()) {
            if ts.parse::<u64>().is_ok() {
                *counts.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    let expected: BTreeMap<String, usize> = [
        ("ProcStart", 2),
        ("ProcStop", 2),
        ("Gomaxprocs", 1),
        ("GoCreate", 4),
        ("GoStart", 7),
        ("GoEnd", 2),
        ("GoSched", 1),
        ("GoSleep", 1),
        ("GoBlockSync", 1),
        ("GoBlockRecv", 1),
        ("GoBlockSelect", 1),
        ("GoUnblock", 2),
        ("GCStart", 1),
        ("GCDone", 1),
        ("GCSTWStart", 2),
        ("GCSTWDone", 2),
        ("GCSweepStart", 1),
        ("GCSweepDone", 1),
        ("HeapAlloc", 3),
        ("HeapGoal", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected, "go tool trace -d output:\n{out}");
    // the same counts as the model's own events
    let mut model: BTreeMap<String, usize> = BTreeMap::new();
    for e in &synthetic::trace().events {
        *model.entry(e.kind.name().to_string()).or_default() += 1;
    }
    assert_eq!(model, expected);
    // timestamps are ns from the first event; sequence numbers as Go's writer derives them
    assert!(
        out.contains("69000 GoUnblock p=0 g=1 off=75 g=2 seq=2"),
        "{out}"
    );
    assert!(out.contains("97000 GCStart p=1000004 g=0"), "{out}");
    assert!(out.contains("kindid=1 kind=sweep termination"), "{out}");
    assert!(
        out.contains("GCSweepDone p=1 g=3") && out.contains("swept=65536 reclaimed=32768"),
        "{out}"
    );
}

#[test]
fn trace_pprof_sync_and_sched_produce_profiles() {
    if !have_go("trace_pprof_sync_and_sched_produce_profiles") {
        return;
    }
    let dir = setup("tracepprof");
    for kind in ["sync", "sched"] {
        let out = Command::new("go")
            .args(["tool", "trace", &format!("-pprof={kind}"), "trace.out"])
            .current_dir(&dir)
            .env("HOME", dir.join("home"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "-pprof={kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.starts_with(&[0x1f, 0x8b]),
            "-pprof={kind} wrote no gzip'd profile"
        );
        std::fs::write(dir.join(format!("{kind}.pb.gz")), &out.stdout).unwrap();
    }
    let sync = raw(&dir, "sync.pb.gz");
    assert_eq!(sync.sample_header, "contentions/count delay/nanoseconds");
    assert_eq!(
        sync.samples.len(),
        2,
        "the unlinked GoBlockSelect is not counted"
    );
    // g2 blocked on the mutex 27000 → 69000; main blocked on recv 74000 → 570000
    assert_eq!(
        sync.find(&[1, 42_000]),
        ["sync.(*Mutex).Lock", "main.worker"]
    );
    assert_eq!(
        sync.find(&[1, 496_000]),
        ["runtime.chanrecv1", "main.main", "runtime.main"]
    );

    let sched = raw(&dir, "sched.pb.gz");
    assert_eq!(sched.sample_header, "contentions/count delay/nanoseconds");
    // create → first start latencies, and unblock → start latencies
    assert_eq!(sched.find(&[2, 25_000]), ["main.main", "runtime.main"]); // two workers: 7000 + 18000
    assert_eq!(sched.find(&[1, 528_000]), ["main.main", "runtime.main"]); // consumer
    assert_eq!(
        sched.find(&[1, 8_000]),
        ["sync.(*Mutex).Unlock", "main.main", "runtime.main"]
    );
    assert_eq!(
        sched.find(&[1, 29_000]),
        ["runtime.chansend1", "main.consumer"]
    );
}

#[test]
fn legacy_text_is_read_by_pprof() {
    if !have_go("legacy_text_is_read_by_pprof") {
        return;
    }
    let dir = setup("text");
    // pprof's legacy heap parser un-samples the raw text counts itself
    let h = raw(&dir, "heap.txt");
    assert_eq!(h.period_type, "space bytes");
    assert_eq!(h.period, "524288");
    assert_eq!(h.samples.len(), 2);
    let c = raw(&dir, "block.txt");
    assert_eq!(c.sample_header, "contentions/count delay/nanoseconds");
    let g = raw(&dir, "goroutine.txt");
    assert_eq!(g.sample_header, "goroutine/count");
    assert_eq!(g.samples.iter().map(|s| s.0[0]).sum::<i64>(), 5);
}

/// Start `go tool trace -http` on `trace.out` and fetch its own viewer JSON
/// (`/jsontrace`), then stop the server.
fn go_viewer_json(dir: &Path, file: &str) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    let mut cmd = Command::new("go");
    cmd.args(["tool", "trace", "-http=127.0.0.1:0", file])
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("BROWSER", "true") // "open" the viewer with /bin/true
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Ended (with the tool `go` started) when dropped.
    let mut server = go_tools::ToolServer::spawn(cmd).expect("spawn go tool trace");
    let stderr = server.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://") {
                let _ = tx.send(line[i + 7..].trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(120));
    let result = addr.map_err(|e| e.to_string()).and_then(|addr| {
        let mut s = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(s, "GET /jsontrace HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let (head, body) = resp.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(format!("bad response: {head}"));
        }
        serde_json::from_str(body).map_err(|e| e.to_string())
    });
    drop(server);
    result.unwrap_or_else(|e| panic!("fetching go tool trace's /jsontrace: {e}"))
}

/// Events of a viewer JSON as comparable strings: pids shifted back to
/// Go's numbering, stack references resolved to frame-name chains, flow
/// ids and `cat` dropped (numbering and categories are not layout).
fn canonical(v: &serde_json::Value, pid_shift: u64) -> (Vec<String>, Vec<String>) {
    let frames = v["stackFrames"].as_object().cloned().unwrap_or_default();
    let chain = |id: &serde_json::Value| -> String {
        let mut out = vec![];
        let mut cur = id.as_u64().map(|i| i.to_string());
        while let Some(c) = cur {
            let f = &frames[&c];
            out.push(f["name"].as_str().unwrap().to_string());
            cur = f
                .get("parent")
                .and_then(|p| p.as_u64())
                .map(|p| p.to_string());
        }
        out.join(" < ")
    };
    let (mut evs, mut meta) = (vec![], vec![]);
    for e in v["traceEvents"].as_array().unwrap() {
        let pid = e["pid"].as_u64().unwrap_or(0) - pid_shift;
        let tid = e["tid"].as_u64().unwrap_or(0);
        if e["ph"] == "M" {
            meta.push(format!("{} pid={pid} tid={tid} {}", e["name"], e["args"]));
            continue;
        }
        let f = |k: &str| e.get(k).map(|x| x.to_string()).unwrap_or_default();
        let num = |k: &str| {
            e.get(k)
                .and_then(|x| x.as_f64())
                .map(|x| format!("{x:.4}"))
                .unwrap_or_default()
        };
        evs.push(format!(
            "{} {} s={} ts={} dur={} pid={pid} tid={tid} args={} sf=[{}] esf=[{}]",
            f("ph"),
            f("name"),
            f("s"),
            num("ts"),
            num("dur"),
            f("args"),
            e.get("sf").map(&chain).unwrap_or_default(),
            e.get("esf").map(&chain).unwrap_or_default(),
        ));
    }
    evs.sort();
    meta.sort();
    (evs, meta)
}

#[test]
fn trace_json_matches_go_tool_trace_viewer() {
    if !have_go("trace_json_matches_go_tool_trace_viewer") {
        return;
    }
    let dir = setup("viewer");
    compare_with_viewer(&dir, "trace.out", "trace.json");
}

/// Require our JSON (`json`) to hold exactly the events go tool trace's
/// viewer produces from the v1 file (`out`) written from the same trace.
fn compare_with_viewer(dir: &Path, out: &str, json: &str) {
    let go = go_viewer_json(dir, out);
    let ours: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(json)).unwrap()).unwrap();
    let (go_evs, go_meta) = canonical(&go, 0);
    let (our_evs, our_meta) = canonical(&ours, 1);
    assert!(
        go_evs.len() > 50,
        "go's viewer produced {} events",
        go_evs.len()
    );
    assert_eq!(our_meta, go_meta, "metadata differs from go tool trace's");
    let missing: Vec<&String> = go_evs.iter().filter(|e| !our_evs.contains(e)).collect();
    let extra: Vec<&String> = our_evs.iter().filter(|e| !go_evs.contains(e)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "JSON differs from go tool trace's /jsontrace\nmissing (Go has, we lack):\n{}\nextra (we have, Go lacks):\n{}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(our_evs, go_evs);
}

#[test]
fn every_event_kind_parses_and_views_like_go() {
    if !have_go("every_event_kind_parses_and_views_like_go") {
        return;
    }
    let dir = setup("everykind");
    let t = synthetic::trace_every_kind();
    let mut buf = Vec::new();
    gort_profiler::trace::v1::write(&t, &mut buf).unwrap();
    std::fs::write(dir.join("every.out"), &buf).unwrap();
    buf.clear();
    gort_profiler::trace::json::write(&t, &mut buf).unwrap();
    std::fs::write(dir.join("every.json"), &buf).unwrap();

    let (out, _) = go_tool(&dir, &["trace", "-d", "every.out"]);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        if let (Some(ts), Some(name)) = (it.next(), it.next()) {
            if ts.parse::<u64>().is_ok() {
                *counts.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    let mut model: BTreeMap<String, usize> = BTreeMap::new();
    for e in &t.events {
        *model.entry(e.kind.name().to_string()).or_default() += 1;
    }
    assert_eq!(counts, model, "go tool trace -d output:\n{out}");
    // every kind of the model appears
    for name in [
        "Gomaxprocs",
        "ProcStart",
        "ProcStop",
        "GoCreate",
        "GoStart",
        "GoEnd",
        "GoStop",
        "GoSched",
        "GoPreempt",
        "GoSleep",
        "GoBlock",
        "GoBlockSend",
        "GoBlockRecv",
        "GoBlockSelect",
        "GoBlockSync",
        "GoBlockCond",
        "GoBlockNet",
        "GoBlockGC",
        "GoUnblock",
        "GoWaiting",
        "GCStart",
        "GCDone",
        "GCSTWStart",
        "GCSTWDone",
        "GCSweepStart",
        "GCSweepDone",
        "HeapAlloc",
        "HeapGoal",
    ] {
        assert!(counts.contains_key(name), "{name} missing from -d output");
    }
    // Go moves the wake-up of a network-blocked goroutine to its Network row
    assert!(out.contains("GoUnblock p=1000002"), "{out}");
    compare_with_viewer(&dir, "every.out", "every.json");
}

/// Parse `go tool trace -d` output into event-name counts.
fn d_counts(out: &str) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        if let (Some(ts), Some(name)) = (it.next(), it.next()) {
            if ts.parse::<u64>().is_ok() {
                *counts.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    counts
}

/// Random but valid scheduling histories on 4 Ps: Go parses every event,
/// and (with distinct timestamps) its viewer's JSON equals ours; with
/// coarse timestamps that tie across Ps, Go's merge still finds the order.
#[test]
fn simulated_histories_parse_and_view_like_go() {
    if !have_go("simulated_histories_parse_and_view_like_go") {
        return;
    }
    let dir = setup("simulated");
    for (seed, coarse) in [(1, false), (2, false), (3, true), (4, true)] {
        let t = synthetic::simulated_trace(seed, 4, 40, 3000, 3000, coarse);
        t.check().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let out = format!("sim{seed}.out");
        let json = format!("sim{seed}.json");
        let mut buf = Vec::new();
        gort_profiler::trace::v1::write(&t, &mut buf).unwrap();
        std::fs::write(dir.join(&out), &buf).unwrap();
        buf.clear();
        gort_profiler::trace::json::write(&t, &mut buf).unwrap();
        std::fs::write(dir.join(&json), &buf).unwrap();

        let (d, _) = go_tool(&dir, &["trace", "-d", &out]);
        let mut model: BTreeMap<String, usize> = BTreeMap::new();
        for e in &t.events {
            *model.entry(e.kind.name().to_string()).or_default() += 1;
        }
        assert!(
            t.events.len() > 1500,
            "seed {seed}: only {} events",
            t.events.len()
        );
        assert_eq!(
            d_counts(&d),
            model,
            "seed {seed}: go tool trace -d disagrees"
        );
        if !coarse {
            compare_with_viewer(&dir, &out, &json);
        }
        // the derived blocking profiles build too
        for kind in ["-pprof=sync", "-pprof=sched"] {
            let o = Command::new("go")
                .args(["tool", "trace", kind, &out])
                .current_dir(&dir)
                .env("HOME", dir.join("home"))
                .output()
                .unwrap();
            assert!(
                o.status.success() && o.stdout.starts_with(&[0x1f, 0x8b]),
                "seed {seed} {kind}"
            );
        }
    }
}
