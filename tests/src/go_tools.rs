//! What the interop tests share: is Go here, a scratch directory, and
//! running `go tool` in it. Without Go the Go checks are skipped with a
//! printed reason, unless `GORT_REQUIRE_GO=1` (CI), where they fail.
//!
//! Used by the `gort-tests` crate (as its `go_tools` module) and, through
//! `#[path]`, by `gort-profiler`'s own interop tests
//! (`profiler/tests/go_tools.rs`), which cannot depend on `gort-tests`
//! (that crate depends on the runtime, which depends on the profiler), and
//! by the tour's test (`samples/tests/tour.rs`, which needs the `tour`
//! binary of `gort-samples`, a dependency of `gort-tests`): one file, not
//! three copies. Only `std` may be used here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Is `go` usable? Fails the test if it is required (`GORT_REQUIRE_GO=1`)
/// and absent; otherwise prints why the Go checks are skipped.
pub fn have_go(test: &str) -> bool {
    let ok = Command::new("go")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("GORT_REQUIRE_GO").as_deref() == Ok("1") {
            panic!("{test}: GORT_REQUIRE_GO=1 but no working `go` on PATH");
        }
        eprintln!("SKIPPED {test} (go tool part): no `go` toolchain on PATH (install golang-go, or set GORT_REQUIRE_GO=1 to make this fail)");
    }
    ok
}

/// `go tool trace -http` (or any `go tool` that serves until killed),
/// started in a process group of its own so that [`ToolServer`]'s drop
/// ends the tool, not only the `go` command that started it: `go tool`
/// runs the tool as its child, and killing `go` alone leaves the tool
/// serving, an orphan, after the test.
#[derive(Debug)]
pub struct ToolServer(pub std::process::Child);

impl ToolServer {
    /// Spawns `cmd` in a new process group.
    pub fn spawn(mut cmd: Command) -> std::io::Result<ToolServer> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).spawn().map(ToolServer)
    }
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        // The group's id is the leader's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory with its own HOME/PPROF_TMPDIR; removed when it is
/// dropped, whether the test passed or failed (captures can be large), unless
/// `GORT_KEEP_TEST_DIRS=1` asks to keep a failed test's for inspection.
#[derive(Debug)]
pub struct TestDir(PathBuf);

impl TestDir {
    /// A new, empty directory.
    pub fn new(name: &str) -> TestDir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("gort-pprof-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        TestDir(dir)
    }
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if std::env::var("GORT_KEEP_TEST_DIRS").as_deref() == Ok("1") {
                eprintln!("kept {} for inspection", self.0.display());
                return;
            }
            eprintln!(
                "removed {} (set GORT_KEEP_TEST_DIRS=1 to keep a failed test's files)",
                self.0.display()
            );
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `go tool ARGS` in `dir`, requires success, returns its stdout as
/// bytes (for binary output such as `go tool trace -pprof=…`).
pub fn go_tool_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("go")
        .arg("tool")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("PPROF_TMPDIR", dir.join("home"))
        .output()
        .expect("spawn go");
    assert!(
        out.status.success(),
        "go tool {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `go tool ARGS` in `dir`, requires success, returns (stdout, stderr).
pub fn go_tool(dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("go")
        .arg("tool")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("PPROF_TMPDIR", dir.join("home"))
        .output()
        .expect("spawn go");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "go tool {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // pprof reports a profile it could not read on stderr, sometimes with
    // exit status 0.
    assert!(
        !stderr.contains("parsing profile"),
        "go tool {args:?}: {stderr}"
    );
    (stdout, stderr)
}

/// The newer Go toolchain the interop tests also read traces with: its
/// GOROOT, from `GORT_GO_NEW_ROOT` or `$HOME/go127/go`, if its `bin/go`
/// exists. Absent, the checks with it are skipped with a printed reason
/// (or fail under `GORT_REQUIRE_GO=1`).
pub fn newer_go(test: &str) -> Option<PathBuf> {
    let root = std::env::var_os("GORT_GO_NEW_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join("go127/go")))?;
    if root.join("bin/go").is_file() {
        return Some(root);
    }
    if std::env::var("GORT_REQUIRE_GO").as_deref() == Ok("1") {
        panic!("{test}: GORT_REQUIRE_GO=1 but no {}/bin/go", root.display());
    }
    eprintln!(
        "SKIPPED {test} (newer Go part): no {}/bin/go (set GORT_GO_NEW_ROOT)",
        root.display()
    );
    None
}

/// The build cache the newer toolchain uses: `GOCACHE` if set, else the
/// user's default one (`$XDG_CACHE_HOME/go-build` or `$HOME/.cache/go-build`),
/// not one under the test's own HOME. Newer distributions build `go tool
/// trace` on first use and cache it; a cache per test directory would build
/// it (~100 MB) again in every test, under the temporary directory.
fn user_go_cache() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("GOCACHE") {
        return Some(PathBuf::from(c));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("go-build"))
}

/// `GOROOT/bin/go`, to run in `dir` with that GOROOT, no toolchain
/// switch, the test's HOME and the user's build cache ([`user_go_cache`]).
pub fn go_of(root: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(root.join("bin/go"));
    cmd.current_dir(dir)
        .env("GOROOT", root)
        .env("GOTOOLCHAIN", "local")
        .env("HOME", dir.join("home"));
    if let Some(cache) = user_go_cache() {
        cmd.env("GOCACHE", cache);
    }
    cmd
}

/// Runs `GOROOT/bin/go tool ARGS` in `dir` with that GOROOT; returns
/// (success, stdout, stderr).
pub fn go_tool_of(root: &Path, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = go_of(root, dir)
        .arg("tool")
        .args(args)
        .output()
        .expect("spawn go");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
