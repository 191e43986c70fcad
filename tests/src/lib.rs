//! Support code for gort's integration tests (under `tests/tests/`):
//! behaviour visible through the public `gort` API only.
//!
//! Some behaviour can only be observed from outside a process: a panic, a
//! deadlock or a stack overflow ends it with exit status 2, and the
//! environment knobs are read once at start-up. Such tests re-execute their
//! own test binary as a child ([`run_child`]) with `GORT_TEST_CHILD` naming
//! the case to run, and the child's `main` hands control to [`child_case`]
//! first thing. Those test files use `harness = false` (see `Cargo.toml`) so
//! their `main` is ours.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The variable that tells a re-executed test binary which case to run.
pub const CHILD_VAR: &str = "GORT_TEST_CHILD";

/// If this process is a child started by [`run_child`], the name of its
/// case.
pub fn child_case() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

/// Run the current executable again with `GORT_TEST_CHILD=case` plus `env`,
/// with gort's knobs cleared first so the parent's environment does not
/// leak into the case, and return its exit status and output.
pub fn run_child(case: &str, env: &[(&str, &str)]) -> Output {
    child_command(case, env)
        .output()
        .expect("spawn child test process")
}

/// The command that re-runs this executable as the child `case`: gort's
/// knobs cleared, then `GORT_TEST_CHILD=case` and `env` set.
fn child_command(case: &str, env: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    for var in [
        "GOGC",
        "GOMEMLIMIT",
        "GOMAXPROCS",
        "GODEBUG",
        "GORT_MAXSTACK",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(CHILD_VAR, case);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// [`run_child`] with a time limit: `None` if the child was still running
/// after `limit` (it is then killed). Tests of protocols that could hang
/// (lost wake-ups, a stop of the world that never completes) use it so a
/// regression fails the test instead of blocking the whole test run.
pub fn run_child_with_limit(
    case: &str,
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> Option<Output> {
    spawn_and_wait(case, env, false, limit)
}

/// Runs the child `case` with its standard output a pipe whose reading end
/// is closed at once (a program piped into `head` that has exited); its
/// stderr is collected. `None` if it still ran after `limit` (killed).
pub fn run_child_with_closed_stdout(case: &str, limit: std::time::Duration) -> Option<Output> {
    spawn_and_wait(case, &[], true, limit)
}

/// Spawns the child `case` with piped output (stdout's reading end closed
/// at once if `close_stdout`) and waits at most `limit` for it.
fn spawn_and_wait(
    case: &str,
    env: &[(&str, &str)],
    close_stdout: bool,
    limit: std::time::Duration,
) -> Option<Output> {
    use std::io::Read as _;
    let mut child = child_command(case, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    // Both pipes are drained while the child runs: a child that writes more
    // than a pipe holds (64 KiB) would otherwise block in `write` forever
    // and look hung.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let out = drain(if close_stdout {
        drop(stdout);
        None
    } else {
        Some(Box::new(stdout))
    });
    let err = drain(Some(Box::new(child.stderr.take().expect("piped stderr"))));
    let start = std::time::Instant::now();
    loop {
        match child.try_wait().expect("wait for child") {
            Some(status) => {
                return Some(Output {
                    status,
                    stdout: out.join().expect("stdout reader"),
                    stderr: err.join().expect("stderr reader"),
                });
            }
            None if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// A child's stderr as text, for assertions and failure messages.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A child's stdout as text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A harness-less test file's tiny runner: run each `(name, test)` in order,
/// print `test NAME ... ok` like libtest, and exit 1 at the end if any
/// failed (each failure prints its panic message).
pub fn run_tests(tests: &[(&str, fn())]) {
    let mut failed = Vec::new();
    println!("\nrunning {} tests", tests.len());
    for (name, t) in tests {
        let ok = std::panic::catch_unwind(t).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    if failed.is_empty() {
        println!("\ntest result: ok. {} passed; 0 failed\n", tests.len());
    } else {
        println!(
            "\nfailures: {failed:?}\ntest result: FAILED. {} failed\n",
            failed.len()
        );
        std::process::exit(1);
    }
}

/// Go's identities between `MemStats` fields (`profiler.md` §5.1), asserted
/// with `when` naming the snapshot in the failure message.
pub fn assert_memstats_identities(m: &gort::MemStats, when: &str) {
    assert_eq!(m.alloc, m.heap_alloc, "{when}: Alloc = HeapAlloc");
    assert_eq!(
        m.heap_idle + m.heap_inuse,
        m.heap_sys,
        "{when}: HeapIdle + HeapInuse = HeapSys"
    );
    assert_eq!(
        m.mallocs - m.frees,
        m.heap_objects,
        "{when}: Mallocs - Frees = HeapObjects"
    );
    assert!(
        m.heap_released <= m.heap_idle,
        "{when}: HeapReleased <= HeapIdle"
    );
    assert!(
        m.heap_alloc <= m.heap_inuse,
        "{when}: HeapAlloc <= HeapInuse"
    );
    assert!(
        m.total_alloc >= m.heap_alloc,
        "{when}: TotalAlloc >= HeapAlloc"
    );
    assert_eq!(
        m.sys,
        m.heap_sys
            + m.stack_sys
            + m.mspan_sys
            + m.mcache_sys
            + m.buck_hash_sys
            + m.gc_sys
            + m.other_sys,
        "{when}: Sys = the sum of the *Sys fields"
    );
    assert!(
        m.stack_inuse <= m.stack_sys,
        "{when}: StackInuse <= StackSys"
    );
    // The runtime's metadata is real memory (Go's figures are never 0).
    assert!(
        m.mspan_inuse <= m.mspan_sys,
        "{when}: MSpanInuse <= MSpanSys"
    );
    assert!(
        m.mcache_inuse <= m.mcache_sys,
        "{when}: MCacheInuse <= MCacheSys"
    );
    assert!(m.mcache_sys > 0, "{when}: MCacheSys is 0");
    assert!(m.gc_sys > 0, "{when}: GCSys is 0");
    assert!(m.other_sys > 0, "{when}: OtherSys is 0");
    if m.heap_sys > 0 {
        assert!(m.mspan_sys > 0, "{when}: a heap without span structures");
        assert!(
            m.mspan_inuse > 0 || m.heap_inuse == 0,
            "{when}: spans in use without MSpanInuse"
        );
        // The page table alone is a word per 8 KiB page of the heap.
        assert!(
            m.gc_sys >= m.heap_sys / 1024,
            "{when}: GCSys {} below the page table of HeapSys {}",
            m.gc_sys,
            m.heap_sys
        );
    }
    // ... and small beside the heap it describes (Go: a few percent).
    let metadata = m.mspan_sys + m.mcache_sys + m.buck_hash_sys + m.gc_sys + m.other_sys;
    assert!(
        metadata <= m.heap_sys / 8 + (4 << 20),
        "{when}: {metadata} bytes of metadata for HeapSys {}",
        m.heap_sys
    );
}

/// Checksummed managed lists, the payload of the GC stress tests
/// (`gc_channels`, `gc_waiters`, `gc_stackscan`): a list freed while still
/// reachable shows as a wrong [`lists::sum`] (or, under `clobberfree`, a
/// crash on the poisoned pointer).
pub mod lists {
    use gort::{make_slice, Gc, GcCell, Trace};

    /// A singly linked list cell; the [`sum`] of a list made by [`list`] is
    /// [`expected`]`(n, salt)`.
    #[derive(Trace)]
    pub struct Cell {
        /// This cell's number, `v + salt` for the v-th cell made.
        pub value: u64,
        /// The rest of the list.
        pub next: GcCell<Option<Gc<Cell>>>,
    }

    impl std::fmt::Debug for Cell {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Cell")
                .field("value", &self.value)
                .finish_non_exhaustive()
        }
    }

    /// A list of `n` cells holding `1 + salt ..= n + salt`, allocating a
    /// garbage `GcSlice<u64>` of `garbage_words` beside each cell, so that
    /// cycles start while the list grows.
    pub fn list(n: u64, salt: u64, garbage_words: usize) -> Gc<Cell> {
        let mut head = None;
        for v in 1..=n {
            head = Some(Gc::new(Cell {
                value: v + salt,
                next: GcCell::new(head),
            }));
            std::hint::black_box(make_slice::<u64>(garbage_words));
        }
        head.expect("n >= 1")
    }

    /// The sum of the values of the list starting at `head`.
    pub fn sum(head: Gc<Cell>) -> u64 {
        let (mut s, mut cur) = (0, Some(head));
        while let Some(c) = cur {
            s += c.value;
            cur = c.next.get();
        }
        s
    }

    /// What [`sum`] returns for an intact `list(n, salt, _)`.
    pub fn expected(n: u64, salt: u64) -> u64 {
        n * (n + 1) / 2 + n * salt
    }
}

/// What the interop tests share: is Go here, a scratch directory, and
/// running `go tool` in it (see the file's doc).
pub mod go_tools;
/// Plain HTTP requests to the `/debug/pprof/` server.
pub mod http_client;

/// Reading decoded pprof profiles in tests.
pub mod profiles {
    use gort::crates::profiler::pprof::proto::Sample;
    use gort::crates::profiler::pprof::Profile;

    /// The function name of `s`'s leaf (innermost) location in `p`.
    pub fn leaf_function<'a>(p: &'a Profile, s: &Sample) -> &'a str {
        let leaf = p
            .location
            .iter()
            .find(|l| l.id == s.location_id[0])
            .expect("the sample's leaf location");
        let f = p
            .function
            .iter()
            .find(|f| f.id == leaf.line[0].function_id)
            .expect("the leaf's function");
        &p.string_table[f.name as usize]
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `file` with `go tool trace` — Go 1.19's (`root` None) or the
/// one in GOROOT `root` — and fetches `/jsontrace` (the viewer's whole
/// trace, by P); returns its body, or what went wrong. Both build the
/// viewer's events when they start, which is where a trace the parser
/// accepts can still crash them.
pub fn view_trace(
    root: Option<&std::path::Path>,
    dir: &std::path::Path,
    file: &str,
) -> Result<Vec<u8>, String> {
    Ok(trace_tool_pages(root, dir, file, &["/jsontrace"])?.remove(0))
}

/// [`view_trace`] for any pages of `go tool trace`'s server: the bodies of
/// `paths`, fetched in order from one server, or what went wrong.
pub fn trace_tool_pages(
    root: Option<&std::path::Path>,
    dir: &std::path::Path,
    file: &str,
    paths: &[&str],
) -> Result<Vec<Vec<u8>>, String> {
    let port = free_port();
    let log_path = dir.join(format!("{file}.viewer.log"));
    let mut cmd = match root {
        Some(root) => crate::go_tools::go_of(root, dir),
        None => {
            let mut c = Command::new("go");
            c.current_dir(dir).env("HOME", dir.join("home"));
            c
        }
    };
    cmd.args(["tool", "trace", &format!("-http=127.0.0.1:{port}"), file])
        .env("BROWSER", "true") // "opens" no browser
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    // Ended, with the tool `go` started, when dropped (below, or on a panic).
    let mut server = crate::go_tools::ToolServer::spawn(cmd).expect("spawn go tool trace");
    let child = &mut server.0;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // It listens before it parses; the page answers once it has parsed.
    let start = Instant::now();
    let result = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("go tool trace exited: {status}"));
        }
        if start.elapsed() > Duration::from_secs(120) {
            break Err("go tool trace never answered".to_string());
        }
        if TcpStream::connect(addr).is_ok() {
            break paths
                .iter()
                .map(|path| {
                    match std::panic::catch_unwind(|| crate::http_client::get(addr, path)) {
                        Ok(a) if a.status == 200 => Ok(a.body),
                        Ok(a) => Err(format!("{path}: {} {}", a.status, a.text())),
                        Err(_) => Err(format!("{path}: no answer (the viewer crashed?)")),
                    }
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    // net/http recovers a handler's panic and logs it.
    if log.contains("panic") {
        return Err(format!("the viewer panicked:\n{log}"));
    }
    result.map_err(|e| format!("{e}\n{log}"))
}
