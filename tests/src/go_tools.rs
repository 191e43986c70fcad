//! What the interop tests share: is Go here, a scratch directory, and
//! running `go tool` in it. Without Go the Go checks are skipped with a
//! printed reason, unless `GORT_REQUIRE_GO=1` (CI), where they fail.
//!
//! Used by the `gort-tests` crate (as its `go_tools` module) and, through
//! `#[path]`, by `gort-profiler`'s own interop tests
//! (`profiler/tests/go_tools.rs`), which cannot depend on `gort-tests`
//! (that crate depends on the runtime, which depends on the profiler): one
//! file, not two copies. Only `std` may be used here.

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

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory with its own HOME/PPROF_TMPDIR; removed when the test
/// passes, kept (and named) when it fails.
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
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
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

/// The build cache the Go command uses outside the tests (`$GOCACHE`,
/// else the user cache directory's `go-build`).
fn user_gocache() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("GOCACHE") {
        return Some(PathBuf::from(c));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("go-build"))
}

/// Runs `GOROOT/bin/go tool ARGS` in `dir` with that GOROOT; returns
/// (success, stdout, stderr). The user's build cache is kept: newer Go
/// toolchains build `go tool trace` and friends on first use, which takes
/// over a minute with an empty cache.
pub fn go_tool_of(root: &Path, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(root.join("bin/go"));
    if let Some(cache) = user_gocache() {
        cmd.env("GOCACHE", cache);
    }
    let out = cmd
        .arg("tool")
        .args(args)
        .current_dir(dir)
        .env("GOROOT", root)
        .env("GOTOOLCHAIN", "local")
        .env("HOME", dir.join("home"))
        .output()
        .expect("spawn go");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
