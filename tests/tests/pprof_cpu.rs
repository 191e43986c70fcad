//! `gort::pprof::start_cpu_profile` / `stop_cpu_profile` on goroutines,
//! read back by Go 1.19's `go tool pprof` (`-raw` and `-top`).
//!
//! Two goroutines burn CPU in two distinctly named functions doing the
//! same work, three units against one (~1.2 s of CPU in all). The profile
//! must name both, hold about one sample per 10 ms of the profiled threads'
//! CPU time, show them about 3:1, carry Go's sample types and period, and
//! every stack through them must end at the goroutine's first frame (the
//! scheduler's switch trampoline calling `goroutine_entry`): the
//! frame-pointer walk reached the bottom of the goroutine stack and went no
//! further.
//!
//! The numeric checks run on the decoded profile in every case; the `go
//! tool pprof` checks are skipped with a printed reason when Go is absent,
//! unless `GORT_REQUIRE_GO=1` (CI), where that fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gort::crates::profiler::cpu;
use gort::crates::profiler::pprof::{check_valid, decode, Profile};
use gort::sync::WaitGroup;
use gort_tests::go_tools::{go_tool, have_go, TestDir};

/// The work: a xorshift loop, written out in each burner so that the CPU
/// time is the burner's own (flat), not a shared helper's.
macro_rules! spin {
    ($iters:expr) => {{
        let (mut x, mut i) = (0x9e37_79b9_7f4a_7c15u64, 0u64);
        while i < $iters {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i += 1;
        }
        x
    }};
}

/// The same work, under two names.
#[inline(never)]
fn burn_three_parts(iters: u64) -> u64 {
    spin!(iters)
}

#[inline(never)]
fn burn_one_part(iters: u64) -> u64 {
    spin!(iters)
}

/// Iterations per millisecond: the best of five short runs (the machine is
/// shared; the fastest run is the least disturbed).
fn iterations_per_ms() -> u64 {
    let n = 1_000_000u64;
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(burn_one_part(std::hint::black_box(n)));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    (n as f64 / best / 1000.0) as u64
}

/// A `Write` the test reads back after `stop_cpu_profile`.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Is the root (outermost frame) of a goroutine stack the goroutine's own
/// first frame?
fn goroutine_root(names: &[String]) -> bool {
    let root = names.last().map_or("", |s| s.as_str());
    root.ends_with("gort_trampoline") || root.ends_with("sched::goroutine_entry")
}

/// Is it the root of an M's own OS-thread stack (the scheduler loop)?
/// std's thread entry, then at most glibc's start_thread and clone (no
/// exported symbols: `libc.so.6+0x…`; clone only where glibc keeps frame
/// records, as on aarch64).
fn thread_root(names: &[String]) -> bool {
    let start = names
        .iter()
        .position(|n| n.contains("Thread::new::thread_start"));
    start.is_some_and(|i| {
        names[i + 1..].len() <= 2 && names[i + 1..].iter().all(|n| n.starts_with("libc.so"))
    })
}

/// Function names of each location (innermost first), from the decoded profile.
fn names_of(p: &Profile, loc_ids: &[u64]) -> Vec<String> {
    loc_ids
        .iter()
        .flat_map(|&id| {
            let loc = &p.location[(id - 1) as usize];
            loc.line.iter().map(|l| {
                let f = &p.function[(l.function_id - 1) as usize];
                p.string_table[f.name as usize].clone()
            })
        })
        .collect()
}

#[test]
fn cpu_profile_of_two_goroutines_three_to_one() {
    // ~100 ms of CPU per unit: 9 units against 3, ~1.2 s in all.
    let unit = iterations_per_ms() * 100;

    let out = Shared::default();
    let w = out.clone();
    gort::run(move || {
        gort::pprof::start_cpu_profile(w).unwrap();
        let again = gort::pprof::start_cpu_profile(std::io::sink()).unwrap_err();
        assert_eq!(again.to_string(), "cpu profiling already in use");
        let wg = WaitGroup::new();
        for (parts, three) in [(9u64, true), (3u64, false)] {
            let wg = wg.clone();
            wg.add(1);
            gort::go(move || {
                let mut x = 0;
                for _ in 0..parts {
                    x ^= if three {
                        burn_three_parts(unit)
                    } else {
                        burn_one_part(unit)
                    };
                    // a safepoint between units, so both share the Ps fairly
                    gort::gosched();
                }
                std::hint::black_box(x);
                wg.done();
            });
        }
        wg.wait();
        gort::pprof::stop_cpu_profile();
        // Stopping again without a profile does nothing.
        gort::pprof::stop_cpu_profile();
    });
    let stats = cpu::last_stats().expect("the profile was written");
    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip'd");

    // --- the decoded profile (always) ---
    let p = decode(&bytes).unwrap();
    check_valid(&p).unwrap();
    assert_eq!(p.period, 10_000_000);
    let (mut three, mut one, mut total, mut leaf_only) = (0i64, 0i64, 0i64, 0i64);
    for s in &p.sample {
        let names = names_of(&p, &s.location_id);
        assert_eq!(s.value[1], s.value[0] * 10_000_000);
        total += s.value[0];
        let burns_three = names.iter().any(|n| n == "pprof_cpu::burn_three_parts");
        let burns_one = names.iter().any(|n| n == "pprof_cpu::burn_one_part");
        if burns_three {
            three += s.value[0];
        }
        if burns_one {
            one += s.value[0];
        }
        if burns_three || burns_one {
            assert!(goroutine_root(&names), "goroutine stack root: {names:?}");
            assert!(
                names
                    .iter()
                    .any(|n| n.contains("cpu_profile_of_two_goroutines_three_to_one::{{closure}}")),
                "the goroutine's closure is on the stack: {names:?}"
            );
        } else if s.location_id.len() == 1 {
            // A tick in the middle of a context switch: only the
            // interrupted PC is trusted.
            leaf_only += s.value[0];
        } else {
            assert!(
                goroutine_root(&names) || thread_root(&names),
                "stack ends neither at a goroutine's nor at a thread's start: {names:?}"
            );
        }
    }
    eprintln!("{stats:?}\nburn_three_parts {three}, burn_one_part {one}, all {total}, leaf-only {leaf_only}");
    assert_eq!(total as u64, stats.samples + stats.lost);
    assert!(
        leaf_only * 10 <= total,
        "{leaf_only} of {total} samples have no walked stack"
    );
    let expected = stats.thread_cpu_ns as f64 / 1e7;
    assert!(
        total as f64 > 0.8 * expected && (total as f64) < 1.1 * expected + 2.0,
        "{total} samples for {expected:.1} expected from {} ns of M CPU time",
        stats.thread_cpu_ns
    );
    assert!(three + one >= total * 8 / 10, "{three} + {one} of {total}");
    let ratio = three as f64 / one.max(1) as f64;
    assert!(
        (2.0..=4.5).contains(&ratio),
        "ratio {ratio:.2} ({three}:{one})"
    );

    // --- go tool pprof ---
    if !have_go("cpu_profile_of_two_goroutines_three_to_one") {
        return;
    }
    let dir = TestDir::new("cpu");
    let file = dir.join("cpu.pprof");
    std::fs::write(&file, &bytes).unwrap();
    let raw = go_tool_clean(&dir, &["pprof", "-raw", "cpu.pprof"]);
    assert!(raw.contains("PeriodType: cpu nanoseconds\n"), "{raw}");
    assert!(raw.contains("Period: 10000000\n"), "{raw}");
    assert!(raw.contains("samples/count cpu/nanoseconds"), "{raw}");
    let (samples, locations) = parse_raw(&raw);
    let mut go_total = 0;
    let (mut go_three, mut go_one) = (0, 0);
    for (values, ids) in &samples {
        go_total += values[0];
        let names: Vec<String> = ids.iter().flat_map(|id| locations[id].clone()).collect();
        if names.iter().any(|n| n == "pprof_cpu::burn_three_parts") {
            go_three += values[0];
            assert!(goroutine_root(&names), "{names:?}");
        }
        if names.iter().any(|n| n == "pprof_cpu::burn_one_part") {
            go_one += values[0];
            assert!(goroutine_root(&names), "{names:?}");
        }
        assert_eq!(values[1], values[0] * 10_000_000);
    }
    assert_eq!((go_total, go_three, go_one), (total, three, one));

    let top = go_tool_clean(&dir, &["pprof", "-top", "cpu.pprof"]);
    eprintln!("go tool pprof -top cpu.pprof:\n{top}");
    let rows = top_rows(&top);
    let flat = |name: &str| rows.iter().find(|r| r.1 == name).map(|r| r.0);
    let (Some(f3), Some(f1)) = (
        flat("pprof_cpu::burn_three_parts"),
        flat("pprof_cpu::burn_one_part"),
    ) else {
        panic!("both burners in -top:\n{top}");
    };
    let r = f3 / f1;
    assert!((2.0..=4.5).contains(&r), "-top flat ratio {r:.2}\n{top}");
}

/// `go tool ARGS` in `dir`; must succeed without a parse complaint.
fn go_tool_clean(dir: &Path, args: &[&str]) -> String {
    let (stdout, stderr) = go_tool(dir, args);
    assert!(
        !stderr.contains("parsing profile") && !stderr.contains("failed"),
        "go tool {args:?}:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Samples `(values, location ids)` and each location's function names
/// from `go tool pprof -raw` output. Location lines are
/// `ID: ADDR M=1 FUNCTION FILE:LINE s=N`, inlined callers on continuation
/// lines `FUNCTION FILE:LINE s=N`; function names may contain spaces
/// (`<T as Trait>::f`), so a line is split from the right.
#[allow(clippy::type_complexity)]
fn parse_raw(out: &str) -> (Vec<(Vec<i64>, Vec<u64>)>, BTreeMap<u64, Vec<String>>) {
    let mut samples = vec![];
    let mut locs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut section = "";
    let mut current = 0u64;
    let function = |rest: &str| -> String {
        // rest = "FUNCTION FILE:LINE s=N"
        let rest = rest.trim_end();
        let rest = rest.rsplit_once(' ').map_or(rest, |(a, _)| a); // drop s=N
        rest.rsplit_once(' ')
            .map_or(rest, |(a, _)| a)
            .trim()
            .to_string() // drop FILE:LINE
    };
    for line in out.lines() {
        match line {
            "Samples:" => section = "samples-header",
            "Locations" => section = "locations",
            "Mappings" => section = "mappings",
            _ if section == "samples-header" => section = "samples",
            _ if section == "samples" => {
                if let Some((vals, ids)) = line.split_once(':') {
                    if let Ok(v) = vals
                        .split_whitespace()
                        .map(str::parse)
                        .collect::<Result<Vec<i64>, _>>()
                    {
                        let ids = ids
                            .split_whitespace()
                            .filter_map(|s| s.parse().ok())
                            .collect();
                        samples.push((v, ids));
                    }
                }
            }
            _ if section == "locations" => {
                let t = line.trim_start();
                if let Some((id, rest)) = t
                    .split_once(": ")
                    .filter(|(id, _)| id.parse::<u64>().is_ok())
                {
                    current = id.parse().unwrap();
                    // rest = "ADDR M=1 FUNCTION FILE:LINE s=N"
                    let rest = rest.splitn(3, ' ').nth(2).unwrap_or("");
                    locs.entry(current).or_default().push(function(rest));
                } else if !t.is_empty() {
                    locs.entry(current).or_default().push(function(t));
                }
            }
            _ => {}
        }
    }
    (samples, locs)
}

/// (flat %, function) rows of `go tool pprof -top`.
fn top_rows(out: &str) -> Vec<(f64, String)> {
    out.lines()
        .filter_map(|l| {
            // "  90ms 69.23% 69.23%   90ms 69.23%  name"
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.len() < 6 || !cols[1].ends_with('%') {
                return None;
            }
            let flat: f64 = cols[1].trim_end_matches('%').parse().ok()?;
            Some((flat, cols[5..].join(" ")))
        })
        .collect()
}
