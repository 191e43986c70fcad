//! The Go side of the tour: finding Go toolchains, building the Go twins
//! under `samples/go/`, and measuring a program (gort's or Go's) as a
//! process of its own, the way `samples/compare.sh` does.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One Go toolchain: its `go` command, its `GOROOT` and its version.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// The `go` command (a path).
    pub go: PathBuf,
    /// Its root (the directory above its `bin/`), set as `GOROOT` for
    /// everything run with it.
    pub root: PathBuf,
    /// `go1.19.8`, from `go version`.
    pub version: String,
}

impl Toolchain {
    /// A `go` command of this toolchain, with its `GOROOT` and
    /// `GOTOOLCHAIN=local` (Go 1.21+ would otherwise fetch the toolchain a
    /// module asks for).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.go);
        c.env("GOROOT", &self.root)
            .env("GOTOOLCHAIN", "local")
            .env("GO111MODULE", "off");
        c
    }

    /// The toolchain whose `go` command is `cmd` (a name on `PATH` or a
    /// path), if it runs.
    pub fn find(cmd: &str) -> Option<Toolchain> {
        let path = if cmd.contains('/') {
            PathBuf::from(cmd)
        } else {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|d| d.join(cmd))
                .find(|p| p.is_file())?
        };
        let real = std::fs::canonicalize(&path).ok()?;
        let root = real.parent()?.parent()?.to_path_buf();
        if !root.join("src/runtime").is_dir() {
            return None;
        }
        let tc = Toolchain {
            go: path,
            root,
            version: String::new(),
        };
        let out = tc.command().arg("version").output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let version = text.split_whitespace().nth(2)?.to_string();
        Some(Toolchain { version, ..tc })
    }

    /// The toolchains the tour compares with: `go` on `PATH` (Debian's Go
    /// 1.19 here) and `$HOME/go127/go/bin/go` (today's Go, installed as
    /// `samples/README.md` shows), those that exist, without duplicates.
    pub fn installed() -> Vec<Toolchain> {
        let mut v: Vec<Toolchain> = Vec::new();
        let newer = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join("go127/go/bin/go").display().to_string());
        for cmd in std::iter::once("go".to_string()).chain(newer) {
            if let Some(tc) = Toolchain::find(&cmd) {
                if !v.iter().any(|t| t.root == tc.root) {
                    v.push(tc);
                }
            }
        }
        v
    }

    /// Builds the twin `samples/go/<name>/main.go` into `out_dir`, named
    /// `<name>-<version>`, with this toolchain.
    pub fn build_twin(&self, src: &Path, name: &str, out_dir: &Path) -> io::Result<PathBuf> {
        let exe = out_dir.join(format!("{name}-{}", self.version));
        let exe = std::path::absolute(&exe)?;
        let out = self
            .command()
            .arg("build")
            .arg("-o")
            .arg(&exe)
            .arg("main.go")
            .current_dir(src.join(name))
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{} build of {name} failed: {}",
                self.version,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(exe)
    }
}

/// What one run of a program cost, as `wait4` reports it.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User plus system CPU time of the process.
    pub cpu: Duration,
    /// Peak resident set size, bytes.
    pub max_rss: u64,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
    /// Its exit code (128 + the signal when killed by one).
    pub code: i32,
}

/// The `measure` helper's work (`measure RESULT_FILE COMMAND [ARGS...]`,
/// also `tour --measure ...`): runs `COMMAND` with inherited standard
/// files, waits for it with `wait4` (which returns the child's own resource
/// usage), appends `<wall s> <user s> <sys s> <peak RSS KiB> <exit status>`
/// to `RESULT_FILE` and exits with the command's status.
///
/// Why a helper process: Linux starts a child's peak RSS at the size of the
/// process that spawned it (`exec` keeps the high-water mark of the memory
/// it replaces), so a program measured straight from a big process would
/// report that process's size when its own is smaller. The helper is small
/// and starts no runtime.
pub fn measure_main(args: &[String]) -> ! {
    if args.len() < 2 {
        eprintln!("usage: measure RESULT_FILE COMMAND [ARGS...]");
        std::process::exit(2);
    }
    let start = Instant::now();
    let child = match Command::new(&args[1]).args(&args[2..]).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("measure: cannot start {}: {e}", args[1]);
            std::process::exit(2);
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data, all-zero is valid, and `wait4` only
    // writes through the two pointers, which are valid for the call.
    let (rc, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let rc = libc::wait4(pid, &mut status, 0, &mut ru);
        (rc, ru)
    };
    let wall = start.elapsed().as_secs_f64();
    if rc != pid {
        eprintln!("measure: wait4 failed: {}", io::Error::last_os_error());
        std::process::exit(2);
    }
    // `child` was reaped by wait4 above; forget it so nothing waits again.
    std::mem::forget(child);
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let line = format!(
        "{wall:.6} {:.6} {:.6} {} {code}\n",
        secs(ru.ru_utime),
        secs(ru.ru_stime),
        ru.ru_maxrss
    );
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args[0])
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("measure: cannot write {}: {e}", args[0]);
        std::process::exit(2);
    }
    std::process::exit(code);
}

/// Runs `program ARGS` to its end under the measuring helper `via` (a
/// command that takes [`measure_main`]'s arguments, e.g. `tour
/// --measure`), capturing its output; `result` is the helper's scratch
/// file (removed again).
pub fn measure(mut via: Command, result: &Path, program: &Path, args: &[&str]) -> io::Result<Run> {
    let _ = std::fs::remove_file(result);
    let out = via
        .arg(result)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let line = std::fs::read_to_string(result);
    let _ = std::fs::remove_file(result);
    let line = line.map_err(|e| {
        io::Error::other(format!(
            "no measurement ({e}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })?;
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    if f.len() != 5 {
        return Err(io::Error::other(format!("bad measurement line {line:?}")));
    }
    Ok(Run {
        wall: Duration::from_secs_f64(f[0]),
        cpu: Duration::from_secs_f64(f[1] + f[2]),
        max_rss: f[3] as u64 * 1024,
        stdout: out.stdout,
        stderr: out.stderr,
        code: f[4] as i32,
    })
}

/// The median of `runs` by wall time (the upper one of an even count).
pub fn median(mut runs: Vec<Run>) -> Option<Run> {
    runs.sort_by_key(|r| r.wall);
    let n = runs.len();
    if n == 0 {
        None
    } else {
        Some(runs.swap_remove(n / 2))
    }
}
