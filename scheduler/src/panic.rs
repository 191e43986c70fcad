//! Go's panic semantics: an uncaught panic in a goroutine prints `panic:
//! <message>`, a blank line and `goroutine N [running]:`, and the process
//! exits with status 2; a panic the goroutine catches itself
//! (`std::panic::catch_unwind`, Go's `recover`) prints nothing.
//!
//! See [crate]. Whether a panic is caught is known only once unwinding
//! ends, so the report is split in two:
//!
//! 1. The panic hook (for goroutines; other threads keep the previous
//!    hook) only *records* the panic — goroutine, message, location — in a
//!    small ring ([`RECENT`]); it prints nothing.
//! 2. `goroutine_entry` catches the unwind at the bottom of the goroutine's
//!    stack (unwinding must never cross the switch trampoline) and calls
//!    [`goroutine_panicked`], which prints the report with the recorded
//!    location and exits 2. A panic caught earlier never gets there.
//!
//! **A closed standard output.** Rust ignores SIGPIPE, so `println!` to a
//! closed pipe panics (`failed printing to stdout: Broken pipe`); Go's
//! program dies of SIGPIPE instead, silently. An uncaught panic of that
//! kind ends the process the way Go's would ([`die_of_sigpipe`]).
//!
//! **A panic while panicking.** A `Drop` that panics while a panic unwinds
//! through it makes Rust abort the process (SIGABRT, `thread caused
//! non-unwinding panic. aborting.`). Before it does, std calls the hook
//! once more, for a panic it raises itself: `panic in a destructor during
//! cleanup` (and `panic in a function that cannot unwind` when a panic
//! reaches an `extern "C"` boundary). The hook recognises those, prints
//! what Go prints for nested panics —
//!
//! ```text
//! panic: A
//! <TAB>panic: B
//!
//! goroutine N [running]:
//! ```
//!
//! — naming the goroutine's last two recorded panics, and exits 2 before
//! Rust can abort. (The ring cannot tell a panic that is still unwinding
//! from one a `catch_unwind` caught earlier, so with deeper nesting, or a
//! panic caught inside the panicking `Drop`, the two named are the last two
//! the goroutine raised.)

use crate::loom::sync::Mutex;
use crate::sched::getg;
use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::OnceLock;

/// One panic as the hook saw it.
#[derive(Debug)]
struct Record {
    /// The goroutine that panicked.
    goid: u64,
    /// The payload as text (see [`payload_message`]).
    msg: String,
    /// `file:line:column` of the `panic!`, if std knows it.
    location: Option<String>,
}

/// How many recent panics [`RECENT`] keeps (of all goroutines together):
/// enough that a report finds its own goroutine's record unless dozens of
/// other goroutines panicked in between (the report then just lacks the
/// location line).
const RECENT_CAP: usize = 64;

/// The most recent panics of goroutines, oldest first. Protected by its
/// lock; taken only by the panic hook and the report, never while another
/// lock is held.
static RECENT: Mutex<VecDeque<Record>> = Mutex::new(VecDeque::new());

/// The message std gives the panic it raises when a `Drop` panics while a
/// panic unwinds (`core::panicking::panic_in_cleanup`).
const PANIC_IN_CLEANUP: &str = "panic in a destructor during cleanup";
/// The message std gives the panic it raises when a panic reaches a
/// function that cannot unwind (`core::panicking::panic_cannot_unwind`).
const PANIC_CANNOT_UNWIND: &str = "panic in a function that cannot unwind";

/// A panic payload as text: the `&str` or `String` of `panic!`, else a
/// placeholder.
fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic value)".to_string()
    }
}

/// Installs the hook (once per process).
pub(crate) fn install_hook() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let g = getg();
            if g.is_null() {
                prev(info);
                return;
            }
            // SAFETY: Gs are never freed.
            let goid = unsafe { &*g }.goid();
            let msg = payload_message(info.payload());
            let from_core = info
                .location()
                .is_some_and(|l| l.file().ends_with("core/src/panicking.rs"));
            if from_core && msg == PANIC_IN_CLEANUP {
                // Rust aborts when this hook returns: report both panics.
                let mut last = recent_of(goid, 2);
                let inner = last.pop();
                let outer = last.pop();
                report_and_exit(goid, outer.as_ref(), inner.as_ref());
            }
            if from_core && msg == PANIC_CANNOT_UNWIND {
                let last = recent_of(goid, 1).pop();
                report_and_exit(goid, None, last.as_ref());
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let mut r = RECENT.lock();
            if r.len() == RECENT_CAP {
                r.pop_front();
            }
            r.push_back(Record {
                goid,
                msg,
                location,
            });
        }));
    });
}

/// The last `n` recorded panics of goroutine `goid`, oldest first.
fn recent_of(goid: u64, n: usize) -> Vec<Record> {
    let mut r = RECENT.lock();
    let mut out = Vec::new();
    let mut i = r.len();
    while i > 0 && out.len() < n {
        i -= 1;
        if r[i].goid == goid {
            out.extend(r.remove(i));
        }
    }
    out.reverse();
    out
}

/// Prints Go's report of an uncaught panic `inner` (raised while `outer`
/// was unwinding, if given) in goroutine `goid`, and exits 2.
fn report_and_exit(goid: u64, outer: Option<&Record>, inner: Option<&Record>) -> ! {
    let _ = std::io::stdout().flush();
    let mut e = std::io::stderr().lock();
    let unknown = "(unknown panic)";
    match outer {
        Some(o) => {
            let _ = write!(
                e,
                "panic: {}\n\tpanic: {}\n",
                o.msg,
                inner.map_or(unknown, |r| &r.msg)
            );
        }
        None => {
            let _ = writeln!(e, "panic: {}", inner.map_or(unknown, |r| &r.msg));
        }
    }
    let _ = write!(e, "\ngoroutine {goid} [running]:\n");
    if let Some(loc) = inner.and_then(|r| r.location.as_deref()) {
        let _ = writeln!(e, "\t{loc}");
    }
    let _ = e.flush();
    // SAFETY: _exit has no preconditions; Go does not run deferred code of
    // other goroutines either.
    unsafe { libc::_exit(2) }
}

/// Called at the goroutine's entry when its body unwound: the panic was not
/// caught. Prints Go's report (message from the payload, location from the
/// hook's record) and exits 2 as Go does.
pub(crate) fn goroutine_panicked(payload: Box<dyn std::any::Any + Send>) -> ! {
    let msg = payload_message(&*payload);
    if is_broken_stdio(&msg) {
        die_of_sigpipe();
    }
    // Dropping the payload could itself panic; leak it.
    std::mem::forget(payload);
    let g = getg();
    let goid = if g.is_null() {
        0
    } else {
        // SAFETY: Gs are never freed; we are running on this G.
        unsafe { &*g }.goid()
    };
    let record = {
        let mut r = RECENT.lock();
        let at = r.iter().rposition(|x| x.goid == goid && x.msg == msg);
        at.and_then(|i| r.remove(i))
    };
    let record = record.unwrap_or(Record {
        goid,
        msg,
        location: None,
    });
    report_and_exit(goid, None, Some(&record))
}

/// Whether `msg` is std's panic for a `print!`/`eprint!` to a closed pipe
/// (Rust ignores SIGPIPE, so the write fails with EPIPE and `print!`
/// panics).
fn is_broken_stdio(msg: &str) -> bool {
    (msg.starts_with("failed printing to stdout: ")
        || msg.starts_with("failed printing to stderr: "))
        && msg.ends_with(&format!("(os error {})", libc::EPIPE))
}

/// What Go does when a write to standard output or error finds the pipe
/// closed (`os/signal`: "a write to a broken pipe on file descriptors 1 or
/// 2 will cause the program to exit with a SIGPIPE signal"): the process
/// dies of SIGPIPE, silently, as `yes | head` does. Writes to other
/// descriptors keep failing with EPIPE, as Rust's do.
fn die_of_sigpipe() -> ! {
    // SAFETY: resetting one signal's disposition, unblocking it and
    // raising it have no preconditions; nothing else runs meanwhile that
    // relies on SIGPIPE being ignored (the process is ending).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
        // Not reached: SIGPIPE's default action ends the process.
        libc::_exit(2)
    }
}
