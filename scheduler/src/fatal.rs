//! `rt_throw!`: the fatal-error path for broken runtime invariants.
//!
//! Go's runtime calls `throw("...")` when one of its own invariants breaks: it
//! prints `fatal error: ...` and exits with status 2, because a runtime whose
//! bookkeeping is wrong cannot be trusted to unwind (see Go's
//! `src/runtime/HACKING.md`, "Error handling and reporting"). gort does the
//! same. A recoverable `panic!` is for *user* mistakes that Go also reports as
//! panics (send on a closed channel, a negative `WaitGroup` counter);
//! `rt_throw!` is for "this cannot happen".

/// Prints `fatal error: <message>` to stderr and exits the process with
/// status 2 without unwinding or running destructors.
///
/// ```should_panic
/// // (doctests cannot observe an exit status; see the crate's tests for a child-process check)
/// # panic!();
/// ```
#[macro_export]
macro_rules! rt_throw {
    ($($arg:tt)*) => {
        $crate::fatal::throw_args(::core::format_args!($($arg)*))
    };
}

/// The function behind [`rt_throw!`]; kept out of line so call sites stay small.
#[cold]
#[inline(never)]
pub fn throw_args(args: core::fmt::Arguments<'_>) -> ! {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    // Errors writing to stderr are ignored: we are about to exit anyway.
    let _ = writeln!(err, "fatal error: {args}");
    let _ = err.flush();
    // SAFETY: `_exit` takes no pointers and never returns; skipping atexit
    // handlers and destructors is the point (the runtime's state is broken).
    unsafe { libc::_exit(2) }
}
