//! `measure`: run one command and report its wall time and peak RSS.
//!
//! ```text
//! measure RESULT_FILE COMMAND [ARGS...]
//! ```
//!
//! Runs `COMMAND` with inherited stdin/stdout/stderr, waits for it with
//! `wait4` (which returns the child's own resource usage), and appends one
//! line to `RESULT_FILE`:
//!
//! ```text
//! <wall seconds> <user seconds> <sys seconds> <peak RSS KiB> <exit status>
//! ```
//!
//! `samples/compare.sh` uses it for both the gort sample and its Go twin, so
//! both sides are measured by the same code (nanosecond wall clock, unlike
//! `/usr/bin/time`'s two decimals). It is not a gort program: it never
//! starts the runtime.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        eprintln!("measure: wait4 failed: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let st = ExitStatus::from_raw(status);
    let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
    let line = format!(
        "{wall:.6} {:.6} {:.6} {} {code}\n",
        secs(ru.ru_utime),
        secs(ru.ru_stime),
        ru.ru_maxrss
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args[0])
        .unwrap_or_else(|e| {
            eprintln!("measure: cannot open {}: {e}", args[0]);
            std::process::exit(2);
        });
    f.write_all(line.as_bytes()).expect("measure: write result");
    // `child` was reaped by wait4 above; forget it so nothing waits again.
    std::mem::forget(child);
    std::process::exit(code);
}
