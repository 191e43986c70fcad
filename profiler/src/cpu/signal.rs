//! SIGPROF: the handler and the per-thread CPU timers that raise it.
//!
//! See [crate::cpu] for the overview. Everything the handler touches is
//! async-signal-safe: atomics, a TLS read, the bounded frame walk, the
//! goroutine's label word (a load from its G), the lock-free ring, and
//! `errno` saved and restored.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering::*};

use super::ring::MAX_STACK;
use super::{walk, ACTIVE, IN_HANDLER, RING};

/// The Linux tid of the calling thread.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The CPU-time clock of thread `tid` of this process: Linux's
/// `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`, `(~tid << 3) | 6`, the
/// value glibc's `pthread_getcpuclockid` returns.
fn thread_clock(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 6
}

/// CPU time used so far by thread `tid` (ns), `None` if it is gone.
pub(crate) fn thread_cpu_ns(tid: i32) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    let r = unsafe { libc::clock_gettime(thread_clock(tid), &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// An armed POSIX timer delivering SIGPROF to one thread every 10 ms of its
/// CPU time.
#[derive(Debug)]
pub(crate) struct Timer(libc::timer_t);

// SAFETY: a timer id is a plain kernel handle, usable from any thread.
unsafe impl Send for Timer {}

impl Timer {
    /// Creates and arms the timer of thread `tid`; `None` if the thread is
    /// gone (or the kernel refuses).
    pub(crate) fn arm(tid: i32) -> Option<Timer> {
        // SAFETY: an all-zero sigevent is valid; we fill the fields used.
        let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = libc::SIGPROF;
        sev.sigev_notify_thread_id = tid;
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: valid pointers to `sev` and `id`.
        if unsafe { libc::timer_create(thread_clock(tid), &mut sev, &mut id) } != 0 {
            return None;
        }
        let period = super::PERIOD_NS;
        // Go's randomized first tick: somewhere in (0, period].
        let first = 1 + (random() % period as u64) as i64;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: period as libc::c_long,
            },
            it_value: libc::timespec {
                tv_sec: 0,
                tv_nsec: first as libc::c_long,
            },
        };
        // SAFETY: `id` was just created; `spec` is valid.
        if unsafe { libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) } != 0 {
            // SAFETY: `id` is ours and not yet deleted.
            unsafe { libc::timer_delete(id) };
            return None;
        }
        Some(Timer(id))
    }

    /// Deletes the timer. A tick already raised may still arrive.
    pub(crate) fn delete(self) {
        // SAFETY: the timer is ours; consumed, so deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// A cheap random number for the first tick (not for cryptography).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i32(gettid());
    h.finish()
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGPROF handler (once; it is never removed, see
/// [crate::cpu]).
pub(crate) fn install_handler() -> io::Result<()> {
    if INSTALLED.load(Acquire) {
        return Ok(());
    }
    // SAFETY: an all-zero sigaction is valid; we set handler, mask, flags.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_sigprof as *const () as usize;
    // SA_RESTART: interrupted system calls resume (as Go's handlers do);
    // SA_ONSTACK: run on the thread's alternate stack if it has one (the
    // scheduler's Ms do), not on a possibly nearly full goroutine stack.
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: `sa.sa_mask` is a valid sigset to empty.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: valid sigaction; the handler is async-signal-safe.
    if unsafe { libc::sigaction(libc::SIGPROF, &sa, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Release: pairs with the Acquire above (a later start skips the call).
    INSTALLED.store(true, Release);
    Ok(())
}

/// The SIGPROF handler. SIGPROF is blocked while it runs (no
/// `SA_NODEFER`), so it never interrupts itself on one thread.
extern "C" fn on_sigprof(_sig: libc::c_int, _info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SeqCst increment, then SeqCst load of ACTIVE: pairs with `stop`'s
    // SeqCst store of ACTIVE and load of IN_HANDLER (Dekker): either we see
    // the profile stopped, or `stop` waits for us.
    IN_HANDLER.fetch_add(1, SeqCst);
    if ACTIVE.load(SeqCst) {
        // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
        unsafe { record(uc) };
    }
    IN_HANDLER.fetch_sub(1, SeqCst);
}

/// Takes one sample from the interrupted context `uc`.
///
/// # Safety
///
/// `uc` must be the `ucontext_t` the kernel passed to the handler.
unsafe fn record(uc: *mut libc::c_void) {
    let Some(ring) = RING.get() else { return };
    // SAFETY: errno is thread-local; saved and restored around our calls.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: the caller passes the handler's ucontext.
    let (pc, sp, fp) = unsafe { registers(uc as *const libc::ucontext_t) };
    let mut buf = [0u64; MAX_STACK];
    // The leaf is the interrupted instruction itself: as a return PC
    // (see `stack.rs`), pc + 1.
    buf[0] = pc as u64 + 1;
    let mut n = 1;
    if let Some((lo, hi)) = walk::stack_of(fp, sp) {
        // SAFETY: [sp, hi) is the live part of the interrupted thread's
        // current stack: mapped, as it is in use.
        n += unsafe { walk::walk_frames(fp, sp, lo, hi, &walk::is_text, &mut buf[1..]) };
    }
    // The interrupted goroutine's labels: one word, read through the
    // scheduler's async-signal-safe accessor (see `crate::labels`).
    let labels = crate::labels::current_word() as u64;
    ring.push_tagged(labels, &buf[..n]);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// (pc, sp, fp) of the interrupted context.
///
/// # Safety
///
/// `uc` must point to a valid `ucontext_t`.
#[cfg(target_arch = "x86_64")]
unsafe fn registers(uc: *const libc::ucontext_t) -> (usize, usize, usize) {
    // SAFETY: the caller guarantees `uc` is valid.
    let g = unsafe { &(*uc).uc_mcontext.gregs };
    (
        g[libc::REG_RIP as usize] as usize,
        g[libc::REG_RSP as usize] as usize,
        g[libc::REG_RBP as usize] as usize,
    )
}

/// (pc, sp, fp) of the interrupted context.
///
/// # Safety
///
/// `uc` must point to a valid `ucontext_t`.
#[cfg(target_arch = "aarch64")]
unsafe fn registers(uc: *const libc::ucontext_t) -> (usize, usize, usize) {
    // SAFETY: the caller guarantees `uc` is valid.
    let m = unsafe { &(*uc).uc_mcontext };
    (m.pc as usize, m.sp as usize, m.regs[29] as usize)
}
