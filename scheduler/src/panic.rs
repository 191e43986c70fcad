//! Go's panic semantics: a panicking goroutine prints `panic: <message>`, a
//! blank line and `goroutine N [running]:`, and the process exits with
//! status 2.
//!
//! See [crate]. The panic hook prints (for goroutines only; other threads
//! keep the previous hook), and `goroutine_entry` catches the unwind at the
//! bottom of the goroutine's stack — unwinding must never cross the switch
//! trampoline — and exits.

use crate::sched::getg;
use std::io::Write as _;
use std::sync::OnceLock;

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
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "(non-string panic value)".to_string()
            };
            let _ = std::io::stdout().flush();
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "panic: {msg}\n\ngoroutine {goid} [running]:\n");
            if let Some(loc) = info.location() {
                let _ = writeln!(e, "\t{}:{}:{}", loc.file(), loc.line(), loc.column());
            }
            let _ = e.flush();
        }));
    });
}

/// Called at the goroutine's entry when its body unwound: the hook has
/// printed the report; exit 2 as Go does.
pub(crate) fn goroutine_panicked(payload: Box<dyn std::any::Any + Send>) -> ! {
    // Dropping the payload could itself panic; leak it.
    std::mem::forget(payload);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit has no preconditions; Go does not run deferred code of
    // other goroutines either.
    unsafe { libc::_exit(2) }
}
