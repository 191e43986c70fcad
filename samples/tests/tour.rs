//! The `tour`, run as a child process the way a newcomer runs it, with
//! `--serve` so that its servers stay up: its steps, the files it writes
//! and the figures it prints are checked, and, where Go is installed, every
//! command it suggests (`$ ...` lines) is run — `go tool pprof -top`/`-raw`
//! on the files and on its servers, the web UIs of `go tool pprof -http`
//! and `go tool trace` until they listen, `curl` as a plain GET — and must
//! succeed and print something.

#[path = "../../tests/src/go_tools.rs"]
#[allow(dead_code)]
mod go_tools;

use go_tools::{have_go, newer_go, TestDir};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the tour may take to reach its serving state (it takes 5–30 s
/// here; Go twins are built on the way).
const TOUR_LIMIT: Duration = Duration::from_secs(600);

/// How long a serving command may take to say it listens.
const SERVE_LIMIT: Duration = Duration::from_secs(120);

/// A child killed when dropped (the test started it).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // The whole process group: `go tool trace` runs the trace tool as a
        // child of `go`, which outlives a kill of `go` alone (every command
        // is spawned as the leader of a group of its own, see `serves`).
        // SAFETY: kill(2) with a negative pid signals that process group.
        unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tour's stdout up to the line saying it serves, or a panic with
/// what it printed if it ends or takes longer than [`TOUR_LIMIT`].
fn run_tour(out: &Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tour"))
        .arg("--out")
        .arg(out)
        .arg("--serve")
        .env_remove("GOGC")
        .env_remove("GOMEMLIMIT")
        .env_remove("GODEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn the tour");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let child = Killed(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        // Drained so the tour never blocks on a full pipe.
        let mut sink = Vec::new();
        let _ = BufReader::new(stderr).read_to_end(&mut sink);
    });
    let start = Instant::now();
    let mut text = String::new();
    loop {
        let left = TOUR_LIMIT.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.starts_with("Serving until interrupted") {
                    return (child, text);
                }
            }
            Err(_) => panic!(
                "the tour ended or took over {TOUR_LIMIT:?} before serving; it printed:\n{text}"
            ),
        }
    }
}

/// The numbers of a table row `   NAME  a  b ...` of the tour's output.
fn row(text: &str, name: &str) -> Vec<u64> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} row in:\n{text}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// The commands the tour suggests: its `   $ ...` lines, without the
/// trailing `(comment)`.
fn suggested(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("$ "))
        .map(|cmd| {
            cmd.split_whitespace()
                .take_while(|w| !w.starts_with('('))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn the_tour_walks_the_walkthrough() {
    let dir = TestDir::new("tour");
    let out = dir.join("out");
    let (tour, text) = run_tour(&out);

    // Every step, in the walk-through's order.
    let mut at = 0;
    for step in [
        "1. bigbytes",
        "2. memstats",
        "3. CPU profile",
        "4. heap profile",
        "5. the pprof server",
        "6. the custom router",
        "7. the trace",
        "8. runtime metrics",
    ] {
        let i = text[at..]
            .find(&format!("\n{step}"))
            .unwrap_or_else(|| panic!("no step {step:?} after byte {at} in:\n{text}"));
        at += i + 1;
    }

    // The baseline is taken before the tour's first allocation: nothing
    // allocated yet; the comparison after ten 100,000,000-byte slices.
    let total = row(&text, "TotalAlloc");
    assert_eq!(total[0], 0, "baseline TotalAlloc:\n{text}");
    assert!(total[1] >= 1_000_000_000, "comparison TotalAlloc:\n{text}");
    let alloc = row(&text, "Alloc");
    assert!(
        alloc[1] <= 1_000_000_000 / 2,
        "the collector freed slices:\n{text}"
    );

    // The files, and the flame graphs drawn from the profiles.
    for f in [
        "memstats.txt",
        "cpu.pprof",
        "cpu.svg",
        "heap.pprof",
        "heap.svg",
        "trace.out",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    for svg in ["cpu.svg", "heap.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(s.contains("<svg") && s.contains("</svg>"), "{svg}");
        assert!(
            !s.contains("No valid input"),
            "{svg} is inferno's empty image"
        );
    }
    let heap = std::fs::read_to_string(out.join("heap.svg")).unwrap();
    assert!(heap.contains("big_bytes"), "heap.svg names big_bytes");
    let cpu = std::fs::read_to_string(out.join("cpu.svg")).unwrap();
    assert!(cpu.contains("binarytrees"), "cpu.svg names the program");

    // The heap profile's in-use figures show the slice the tour held.
    let inuse = text
        .split("inuse_space (in use)")
        .nth(1)
        .unwrap_or_else(|| panic!("no in-use figures:\n{text}"));
    let first = inuse.lines().nth(1).unwrap_or("");
    let mb: f64 = first
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    // One slice of 100 MB held (a stale word on a stack could keep one
    // more, conservative stack scanning being what it is).
    assert!(
        first.contains("big_bytes") && (99.9..=200.1).contains(&mb),
        "in use: {first:?}\n{text}"
    );

    // The servers answered the tour's fetch.
    assert!(
        text.contains("GET /debug/pprof/ -> 200"),
        "pprof index:\n{text}"
    );
    assert!(
        text.contains("GET / -> 200 \"Hello World\""),
        "custom router:\n{text}"
    );
    assert!(
        text.contains("GET /debug/metrics -> 200"),
        "metrics:\n{text}"
    );
    assert!(
        text.contains("go_gc_cycles_total_gc_cycles_total "),
        "{text}"
    );

    let cmds = suggested(&text);
    assert!(cmds.len() >= 10, "commands suggested: {cmds:?}");
    if !have_go("the_tour_walks_the_walkthrough") {
        assert!(text.contains("Go twins: skipped"), "{text}");
        drop(tour);
        return;
    }
    // With Go, the twins' figures are measured beside gort's.
    assert!(!text.contains("Go twin: skipped"), "{text}");
    assert!(
        text.contains("(output byte-identical to gort's)"),
        "binary-trees twin:\n{text}"
    );
    let newer = newer_go("the_tour_walks_the_walkthrough");
    for cmd in &cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["cat", file] => {
                let s = std::fs::read_to_string(file).unwrap();
                assert!(s.contains("# runtime.MemStats"), "{file}: {s}");
            }
            ["curl", "-s", url] => {
                let url = url.strip_prefix("http://").expect("an http URL");
                let (addr, path) = url.split_at(url.find('/').unwrap());
                let a = gort_samples::tour::fetch::get(
                    addr.parse().unwrap(),
                    path,
                    Duration::from_secs(30),
                )
                .unwrap();
                assert_eq!(a.status, 200, "{cmd:?}");
                assert!(!a.body.is_empty(), "{cmd:?}");
            }
            ["go", "tool", rest @ ..] if rest.iter().any(|a| a.starts_with("-http=")) => {
                if let Err(said) = serves(&dir, None, rest) {
                    panic!("{cmd:?} never listened; it said:\n{said}");
                }
                if let Some(root) = &newer {
                    if let Err(said) = serves(&dir, Some(root), rest) {
                        panic!("newer Go: {cmd:?} never listened; it said:\n{said}");
                    }
                }
            }
            ["go", "tool", rest @ ..] => {
                let (stdout, _) = go_tools::go_tool(&dir, rest);
                assert!(!stdout.trim().is_empty(), "{cmd:?} printed nothing");
                if let Some(root) = &newer {
                    let (ok, stdout, stderr) = go_tools::go_tool_of(root, &dir, rest);
                    assert!(ok, "newer Go: {cmd:?}: {stderr}");
                    assert!(
                        !stdout.trim().is_empty(),
                        "newer Go: {cmd:?} printed nothing"
                    );
                }
            }
            _ => panic!("a suggested command the test does not know: {cmd:?}"),
        }
    }
    drop(tour);
}

/// Runs a `go tool ... -http=ADDR ...` command (with the newer Go's root,
/// or the `go` on PATH) until it says where it listens, then stops it;
/// `Err` with what it printed if it ends first or takes over
/// [`SERVE_LIMIT`].
fn serves(dir: &Path, root: Option<&Path>, args: &[&str]) -> Result<(), String> {
    // A newer Go builds `go tool pprof` on first use: with the user's build
    // cache (`go_of`), not a fresh one under the test's HOME, where it was
    // rebuilt on every run (over two minutes on a loaded machine).
    let mut cmd = match root {
        Some(r) => go_tools::go_of(r, dir),
        None => Command::new("go"),
    };
    let child = cmd
        .arg("tool")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("PPROF_TMPDIR", dir.join("home"))
        // No browser is opened: `true` is run in its place.
        .env("BROWSER", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn go");
    let mut child = Killed(child);
    let (tx, rx) = mpsc::channel();
    for r in [
        Box::new(child.0.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.0.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let start = Instant::now();
    let mut said = String::new();
    loop {
        match rx.recv_timeout(SERVE_LIMIT.saturating_sub(start.elapsed())) {
            Ok(line) => {
                said.push_str(&line);
                said.push('\n');
                // pprof: "Serving web UI on http://..."; trace: "Trace
                // viewer is listening on http://...".
                if line.contains("http://127.0.0.1:") {
                    return Ok(());
                }
            }
            Err(_) => return Err(said),
        }
    }
}
