//! The SIGSEGV/SIGBUS handler that turns a guard-page hit into
//! `fatal error: stack overflow`.
//!
//! See [crate] and `stack.rs`. The handler runs on an alternate signal stack
//! (each M installs its own, [`install_altstack`]), since the faulting
//! goroutine's stack is exhausted. It uses only async-signal-safe calls
//! (`write`, `_exit`) and atomics. A fault outside every guard page is passed
//! to the handler that was installed before ours (Rust's own, which reports
//! main-thread overflows), or re-raised with the default action.

use crate::g::G;
use std::sync::OnceLock;

/// The previous handler, saved at install time.
static OLD: OnceLock<(libc::sigaction, libc::sigaction)> = OnceLock::new();

/// Installs the handler for SIGSEGV and SIGBUS (once per process).
pub(crate) fn install() {
    OLD.get_or_init(|| {
        // SAFETY: plain sigaction calls with zero-initialised structs that we
        // fill in; the handler is an `extern "C"` function of the right type.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old_segv: libc::sigaction = core::mem::zeroed();
            let mut old_bus: libc::sigaction = core::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, &sa, &mut old_segv);
            libc::sigaction(libc::SIGBUS, &sa, &mut old_bus);
            (old_segv, old_bus)
        }
    });
}

/// Size of each M's alternate signal stack.
const ALTSTACK_SIZE: usize = 64 * 1024;

/// Gives the calling thread (an M) an alternate signal stack.
pub(crate) fn install_altstack() {
    let map = memmap2::MmapOptions::new()
        .len(ALTSTACK_SIZE)
        .map_anon()
        .unwrap_or_else(|e| crate::rt_throw!("cannot map a signal stack: {e}"));
    let ss = libc::stack_t {
        ss_sp: map.as_ptr() as *mut libc::c_void,
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    // Ms never exit: the signal stack lives as long as the thread.
    std::mem::forget(map);
    // SAFETY: `ss` describes memory we own for the life of the thread.
    unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
}

fn write_all(bytes: &[u8]) {
    // SAFETY: write(2) on stderr with a valid buffer; async-signal-safe.
    unsafe { libc::write(2, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
}

fn write_u64(mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write_all(&buf[i..]);
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(top) = crate::stack::guard_hit(addr) {
        let g = (top - core::mem::size_of::<G>()) & !(core::mem::align_of::<G>() - 1);
        // SAFETY: every stack's top holds its G (written before the stack is
        // ever run on); we only read the goid atomic.
        let goid = unsafe { &*(g as *const G) }.goid();
        let size = crate::stack::stack_size() as u64;
        write_all(b"runtime: goroutine stack exceeds ");
        write_u64(size);
        write_all(b"-byte limit\nfatal error: stack overflow\n\ngoroutine ");
        write_u64(goid);
        write_all(b" [running]:\n");
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(2) };
    }
    // Not ours: chain.
    if let Some((segv, bus)) = OLD.get() {
        let old = if sig == libc::SIGBUS { bus } else { segv };
        let h = old.sa_sigaction;
        if h != libc::SIG_DFL && h != libc::SIG_IGN {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO
                // and this signature.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { core::mem::transmute(h) };
                f(sig, info, ctx);
            } else {
                // SAFETY: a plain handler has this signature.
                let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(h) };
                f(sig);
            }
            return;
        }
    }
    // Default action: reset and return; the fault repeats and kills us.
    // SAFETY: resetting a signal disposition is async-signal-safe.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}
