//! Asynchronous preemption and the system-call state: a goroutine that does
//! not reach a safepoint (a compute loop, a blocking system call) neither
//! holds up a stop-the-world nor keeps its P.
//!
//! See [crate] ("Preemption" and "System calls and the P-less state") for
//! the overview. This file holds the mechanism:
//!
//! * the **preemption signal** (`SIGURG`, as in Go) and its handler, which
//!   runs on the interrupted goroutine's own stack (no `SA_ONSTACK`), so the
//!   kernel's signal frame — every register of the interrupted code — lies
//!   inside the range the conservative stack scan reads;
//! * **leaving the P** (the handler or [`blocking`]): the G enters the
//!   `Syscall` state, its P the `Syscall` state, from which sysmon retakes it
//!   (`retake`) and a stopper stops it;
//! * **waiting for a P in the handler**: user code taken off its P (by
//!   sysmon's `REQ_YIELD` or a stop of the world) waits inside the handler
//!   as a runnable locked goroutine until an M hands it a P, so no more
//!   threads run user code than there are Ps;
//! * **suspension**: while the world is stopped, every thread that runs a
//!   P-less goroutine waits inside the handler, its stack frozen;
//! * **exitsyscall** ([`ensure_p`]): a P-less goroutine takes a P back before
//!   it touches P-local state again — its old P if nobody took it, an idle
//!   one, or, failing both, it queues itself as a *locked* goroutine that
//!   only its own M may run, and the M that picks it hands over its P.
//!
//! # Async-safe points
//!
//! The handler acts only when the interrupted code is async-safe: the
//! thread runs a goroutine (not its M's g0), holds no scheduler lock (the
//! facade's `Mutex` and the channels' `SpinLock` count themselves in
//! [`locks_held`]), is not **pinned** (`M::pins`: a P-local section such as
//! the allocator's fast path, a run-queue push, a context switch in
//! progress), and the host's check says it is inside neither the
//! collector's locks nor `malloc` ([`set_async_unsafe_check`]). Everywhere
//! else the handler returns at once; the requester signals again later, and
//! the goroutine meets a cooperative safepoint soon (runtime code does not
//! loop without one).
//!
//! # What the handler may do
//!
//! It runs at an arbitrary instruction of user code, which may hold any
//! lock of libc or std (a `malloc` arena is excluded by the host's check,
//! stdout's lock is not). It therefore takes no lock at all: it writes
//! atomics, reads the clock (vDSO), pushes its goroutine on a lock-free
//! stack, waits on a futex and wakes one (the stopper's nudge, see
//! `world.rs`). Every piece of bookkeeping that needs a lock
//! (handing the P to another M, stopping it for the world, queueing the
//! goroutine) is done by sysmon, a stopper or a scheduling M, which see the
//! P in the `Syscall` state and the goroutine on the `preempted` stack.

use crate::g::{GStatus, G};
use crate::loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
use crate::sched::{self, current_m, sched, PStatus, M, P};
use std::cell::Cell;
use std::ptr::null_mut;

/// The preemption signal (Go's `sigPreempt`): rarely used by anything else,
/// ignored by default, and it interrupts blocking system calls.
pub(crate) const SIG_PREEMPT: libc::c_int = libc::SIGURG;

pub(crate) use crate::suspend::{REQ_FORCE, REQ_LEAVE_P, REQ_SUSPEND, REQ_YIELD};

thread_local! {
    /// Scheduler locks the calling thread holds (see [`locks_held`]).
    static LOCKS: Cell<u32> = const { Cell::new(0) };
}

/// Adds `delta` to the count of scheduler locks the calling thread holds
/// and returns the new count (`delta` 0 reads it). Called by the facade's
/// `Mutex` and by `SpinLock`; read by the signal handler (a const-initialised
/// thread-local without a destructor: a plain load, async-signal-safe).
/// Never inlined, as every TLS access of the runtime (a goroutine may
/// resume on another thread after a switch point; no lock is held across
/// one, so the count is per thread).
#[inline(never)]
pub(crate) fn locks_held(delta: i32) -> u32 {
    LOCKS.with(|c| {
        let n = c.get().wrapping_add_signed(delta);
        c.set(n);
        n
    })
}

/// The host's check, as a `fn() -> bool` address (0: none registered).
static UNSAFE_CHECK: AtomicUsize = AtomicUsize::new(0);

/// Registers the host's part of the async-safety check: `f` returns true
/// when the calling thread is inside code that must not be suspended — it
/// holds a collector lock, or is inside `malloc`/`free` (a suspended thread
/// holding an allocator lock would deadlock the world-stopped code that
/// allocates). `f` runs inside a signal handler: it may only read atomics
/// and const-initialised thread-locals. Later calls replace the check.
pub fn set_async_unsafe_check(f: fn() -> bool) {
    // Release: pairs with the Acquire load in the handler.
    UNSAFE_CHECK.store(f as usize, Release);
}

fn host_says_unsafe() -> bool {
    // Acquire: pairs with the Release in `set_async_unsafe_check`.
    let f = UNSAFE_CHECK.load(Acquire);
    if f == 0 {
        return false;
    }
    // SAFETY: the only values stored are `fn() -> bool` addresses.
    let f: fn() -> bool = unsafe { core::mem::transmute(f) };
    f()
}

/// The executable segment that holds the runtime's (and so the program's)
/// code, `[lo, hi)`; both 0 if unknown. Written once at `install`.
static OWN_TEXT: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Finds [`OWN_TEXT`]: the `PT_LOAD` segment with execute permission that
/// contains this very function's code.
fn find_own_text() {
    struct Find {
        anchor: usize,
        lo: usize,
        hi: usize,
    }
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `Find`.
        let (info, f) = unsafe { (&*info, &mut *(data as *mut Find)) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: `dlpi_phdr` has `dlpi_phnum` entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let lo = info.dlpi_addr as usize + ph.p_vaddr as usize;
                let hi = lo + ph.p_memsz as usize;
                if (lo..hi).contains(&f.anchor) {
                    (f.lo, f.hi) = (lo, hi);
                    return 1;
                }
            }
        }
        0
    }
    let mut f = Find {
        anchor: find_own_text as *const () as usize,
        lo: 0,
        hi: 0,
    };
    // SAFETY: the callback has dl_iterate_phdr's signature and touches only
    // the `Find` we pass.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut f as *mut Find as *mut libc::c_void) };
    OWN_TEXT[0].store(f.lo, Relaxed);
    OWN_TEXT[1].store(f.hi, Relaxed);
}

/// Whether `pc` lies in the program's own code, not in a shared library
/// (libc, the dynamic loader, the vDSO). Async-signal-safe: two loads.
fn in_own_code(pc: usize) -> bool {
    OWN_TEXT[0].load(Relaxed) <= pc && pc < OWN_TEXT[1].load(Relaxed)
}

/// Installs the handler (once per process).
pub(crate) fn install() {
    find_own_text();
    // SAFETY: a plain sigaction with a zeroed struct we fill in; the handler
    // has the SA_SIGINFO signature. No SA_ONSTACK: the handler must run on
    // the interrupted goroutine's stack (see the module docs). SA_RESTART:
    // a system call interrupted only to take its P resumes by itself.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(SIG_PREEMPT, &sa, core::ptr::null_mut()) != 0 {
            crate::rt_throw!("cannot install the preemption signal handler");
        }
    }
}

/// Records the calling M's thread so that it can be signalled.
pub(crate) fn register_thread(m: &M) {
    // SAFETY: pthread_self has no preconditions.
    let t = unsafe { libc::pthread_self() };
    m.thread.store(t as usize, Release);
}

/// Sets `bits` in `m`'s requests and signals its thread.
pub(crate) fn signal_m(m: &M, bits: u32) {
    m.susp.request(bits);
    let t = m.thread.load(Acquire);
    if t != 0 {
        // SAFETY: Ms never exit, so the thread id stays valid.
        unsafe { libc::pthread_kill(t as libc::pthread_t, SIG_PREEMPT) };
    }
}

/// Clears a suspension request and wakes the thread if it waits in the
/// handler.
pub(crate) fn resume_m(m: &M) {
    m.susp.resume(futex_wake);
}

pub(crate) fn futex_wait(word: &AtomicU32, val: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned u32 (the facade's AtomicU32 is
    // repr(transparent) over std's, which has u32's layout); returns at
    // once if the word no longer holds `val`. Async-signal-safe.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32 as *const u32,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

/// [`futex_wait`] for at most `d` (plus the kernel's timer slack).
pub(crate) fn futex_wait_for(word: &AtomicU32, val: u32, d: std::time::Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: as in `futex_wait`; `ts` outlives the call (a relative
    // timeout).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32 as *const u32,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            &ts as *const libc::timespec,
        );
    }
}

pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: as in `futex_wait`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32 as *const u32,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Whether the interrupted context was in a system call: the kernel either
/// rewound the program counter onto the system-call instruction (a restart
/// is pending) or the call returned `EINTR` just now.
fn in_syscall(ctx: *mut libc::c_void) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        let rip = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
        let rax = uc.uc_mcontext.gregs[libc::REG_RAX as usize];
        let page = 4096;
        let is_syscall = |at: usize| -> bool {
            // SAFETY: `at` and `at + 1` lie in the page of code the thread
            // was executing (checked by the callers), which is mapped.
            unsafe { *(at as *const u8) == 0x0f && *((at + 1) as *const u8) == 0x05 }
        };
        if rip % page != page - 1 && is_syscall(rip) {
            return true;
        }
        rip % page >= 2 && rax == -(libc::EINTR as i64) && is_syscall(rip - 2)
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        let pc = uc.uc_mcontext.pc as usize;
        let x0 = uc.uc_mcontext.regs[0] as i64;
        const SVC0: u32 = 0xd400_0001;
        // SAFETY: pc is 4-aligned code the thread was executing.
        if unsafe { *(pc as *const u32) } == SVC0 {
            return true;
        }
        // SAFETY: as above, the previous instruction in the same page.
        pc % 4096 >= 4
            && x0 == -(libc::EINTR as i64)
            && unsafe { *((pc - 4) as *const u32) } == SVC0
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = ctx;
        false
    }
}

fn now_nanos() -> u64 {
    crate::hooks::now_nanos()
}

/// The preemption signal's handler. See the module docs for what it may do.
extern "C" fn handler(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: reading errno through libc's accessor is async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms are leaked.
        serve(unsafe { &*m }, ctx);
    }
    // SAFETY: as above; the interrupted code must see its own errno.
    unsafe { *libc::__errno_location() = errno };
}

fn serve(m: &M, ctx: *mut libc::c_void) {
    // The request's context (e.g. the raised world-stop flag) is visible:
    // see `Suspension::requests`.
    let req = m.susp.requests();
    if req == 0 {
        return;
    }
    let g = m.curg.load(Relaxed);
    if g.is_null() {
        return; // g0: scheduler code, which stops at find_runnable by itself
    }
    // SAFETY: Gs are never freed.
    let gr = unsafe { &*g };
    if m.pins.load(Relaxed) != 0 || locks_held(0) != 0 || host_says_unsafe() {
        if req & (REQ_FORCE | REQ_YIELD) != 0 {
            // Not here: at the next cooperative safepoint instead.
            gr.preempt.store(true, Relaxed);
            sched::POLL.fetch_or(sched::POLL_PREEMPT, Relaxed);
        }
        return;
    }
    // A local's address: below the kernel's signal frame (which holds every
    // register of the interrupted code), above nothing the scan needs.
    let marker = 0u8;
    let sp = core::hint::black_box(&marker) as *const u8 as usize & !7;
    let mut left = false;
    if gr.status() == GStatus::Running {
        let leave = req & (REQ_SUSPEND | REQ_FORCE | REQ_YIELD) != 0
            || (req & REQ_LEAVE_P != 0 && in_syscall(ctx));
        if leave {
            left = leave_p(m, gr, sp);
        }
    }
    if left && sched::sched().world.requested() {
        // The stopper stops our P (left in `Syscall`) as soon as it looks:
        // tell it to look now.
        sched::sched().world.nudge(futex_wake);
    }
    m.susp.served_leave();
    if req & (REQ_SUSPEND | REQ_YIELD) == 0 || gr.status() != GStatus::Syscall {
        return;
    }
    // The saved sp of a goroutine frozen here (see `frozen_frame`).
    let mut frame = frozen_frame(ctx);
    let sp = core::hint::black_box(&mut frame) as *mut _ as usize;
    if left && !in_syscall(ctx) && in_own_code(interrupted_pc_fp(ctx).0) {
        // User code that this handler took off its P, for a stop of the
        // world or for sysmon's preemption while others wait, does not go
        // on P-less: that would put one thread more on the CPUs than
        // GOMAXPROCS, beside the goroutine that runs on its P next. It
        // waits here for a P instead, as a runnable goroutine, which a
        // stopper neither waits for nor suspends. Only in the program's own
        // code: inside libc or the dynamic loader the thread may hold one
        // of their locks (the loader's, taken when a thread registers a
        // thread-local destructor), which an M that is starting up needs
        // before it can take or stop a P. (A system call goes on P-less:
        // it blocks in the kernel, not on a CPU.)
        wait_for_p(m, gr, sp);
    } else if req & REQ_SUSPEND != 0 {
        m.susp.suspend(
            || {
                // SAFETY: we are this G's M; nobody reads the saved sp
                // before `suspend` raises the flag (Release).
                unsafe { gr.sp.with_mut(|s| *s = sp) }
            },
            futex_wait,
        );
    }
    // The frame stays alive (and in memory) while the goroutine is frozen.
    core::hint::black_box(&frame);
}

/// The handler's end of a preemption: `gr`, P-less with its saved sp at
/// `sp`, waits as a runnable locked goroutine until an M picks it and hands
/// over its P. The handler may take no lock, so the goroutine goes on the
/// lock-free `preempted` stack, from which the next `find_runnable`, sysmon
/// round or restart of the world moves it to the global queue; meanwhile
/// sysmon (or a stopper) takes its old P, left in the `Syscall` state.
fn wait_for_p(m: &M, gr: &G, sp: usize) {
    wait_as_locked(m, gr, sp, sched::preempted_push);
    // We own a P again, and our G runs: the old P is no longer ours to
    // take back.
    m.oldp.store(null_mut(), Relaxed);
}

/// `gr`, P-less on its own M `m` with its registers saved below `sp`,
/// becomes a runnable locked goroutine, is made findable by `queue` (the
/// global queue, or from the handler the lock-free `preempted` stack; both
/// publish what is written here with a Release), and waits until the M
/// that picks it has handed `m` a P and set `gr` running.
fn wait_as_locked(m: &M, gr: &G, sp: usize, queue: impl FnOnce(&G)) {
    // SAFETY: we are this G's M; `queue` publishes the saved sp, and nobody
    // reads it before the G is found runnable.
    unsafe { gr.sp.with_mut(|s| *s = sp) };
    gr.lockedm.store(m as *const M as *mut M, Relaxed);
    m.handoff.reset();
    crate::metrics::stamp_runnable(gr);
    gr.set_status(GStatus::Runnable);
    queue(gr);
    sched::wait_for_handoff(m);
    gr.lockedm.store(null_mut(), Relaxed);
}

/// A frame laid out as a switch frame whose frame pointer and return PC are
/// the interrupted code's (its PC + 1, as a return PC), for the saved sp of
/// a goroutine frozen in the handler, so that a walk of the frozen stack (a
/// goroutine profile) starts at the interrupted instruction. It lies in the
/// handler's frames, below the kernel's signal frame: `[sp, top)` still
/// holds every register of the interrupted code for the collector's scan.
#[inline(always)]
fn frozen_frame(ctx: *mut libc::c_void) -> [usize; crate::switch::SAVED_PC_OFFSET / 8 + 1] {
    let mut frame = [0usize; crate::switch::SAVED_PC_OFFSET / 8 + 1];
    let (pc, fp) = interrupted_pc_fp(ctx);
    frame[crate::switch::SAVED_FP_OFFSET / 8] = fp;
    frame[crate::switch::SAVED_PC_OFFSET / 8] = if pc == 0 { 0 } else { pc + 1 };
    frame
}

/// The interrupted code's program counter and frame pointer (0s where
/// unknown).
fn interrupted_pc_fp(ctx: *mut libc::c_void) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        let g = &uc.uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RBP as usize] as usize,
        )
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        (uc.uc_mcontext.pc as usize, uc.uc_mcontext.regs[29] as usize)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = ctx;
        (0, 0)
    }
}

/// The running G leaves its P: the G enters `Syscall`, the P `Syscall`
/// (retakable). Runs on the G's own thread (handler or [`blocking`]) while
/// the thread is async-safe or pinned, so no P-local section is in
/// progress. Takes no lock. Returns whether it left a P.
fn leave_p(m: &M, gr: &G, sp: usize) -> bool {
    let p = m.p.load(Relaxed);
    if p.is_null() {
        return false;
    }
    // SAFETY: Ps are leaked.
    let pr = unsafe { &*p };
    if pr.status() != PStatus::Running {
        // The goroutine stopped the world and its P is already stopped
        // (`GcStop`, set by this very thread): it keeps the P. Only the
        // owning M moves a P out of `Running`, so this cannot change under
        // us.
        return false;
    }
    // SAFETY: we are this G's M; the saved sp is read only while the G is
    // suspended or waiting for a P (after a Release below).
    unsafe { gr.sp.with_mut(|s| *s = sp) };
    gr.set_status(GStatus::Syscall);
    m.oldp.store(p, Relaxed);
    m.p.store(null_mut(), Relaxed);
    pr.syscalltick
        .store(pr.syscalltick.load(Relaxed).wrapping_add(1), Relaxed);
    pr.syscallwhen.store(now_nanos(), Relaxed);
    // Release: pairs with the Acquire CAS of sysmon's retake, the stopper
    // and `exitsyscall`: the G's status and the M's fields are visible to
    // whoever takes the P.
    pr.set_status(PStatus::Syscall);
    true
}

/// `pins` += 1 on the calling thread's M (if it is one); returns the M for
/// [`unpin`]. A pinned goroutine is not preempted asynchronously.
#[inline]
pub(crate) fn pin() -> *mut M {
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms are leaked; `pins` is written only by its own thread.
        let mr = unsafe { &*m };
        mr.pins.store(mr.pins.load(Relaxed) + 1, Relaxed);
        // The handler runs on this thread: keep the compiler from moving the
        // pinned section's accesses above the store.
        core::sync::atomic::compiler_fence(SeqCst);
    }
    m
}

/// [`pin`], on a goroutine that holds a P: a P-less goroutine takes one
/// back first (pinning before looking at the P, so that the handler cannot
/// take it in between). Returns the M, pinned with a P.
pub(crate) fn pin_with_p() -> *mut M {
    loop {
        let m = pin();
        if m.is_null() {
            return m;
        }
        // SAFETY: Ms are leaked; `p` and `curg` are written by this thread.
        let mr = unsafe { &*m };
        let g = mr.curg.load(Relaxed);
        if g.is_null() || !mr.p.load(Relaxed).is_null() {
            return m;
        }
        unpin(m);
        // SAFETY: Gs are never freed; `g` is us.
        exitsyscall(mr, unsafe { &*g });
    }
}

/// Counts a scheduler lock about to be taken ([`locks_held`]), on a
/// goroutine that holds a P: a P-less goroutine takes one back first, so
/// that it never waits for a P while holding the lock (a goroutine spinning
/// on that lock would keep its own P from ever stopping). Counting first
/// and looking at the P second leaves the handler no moment to take it.
pub(crate) fn enter_lock_with_p() {
    loop {
        locks_held(1);
        let m = current_m();
        if m.is_null() {
            return;
        }
        // SAFETY: Ms are leaked; `p` and `curg` are written by this thread.
        let mr = unsafe { &*m };
        let g = mr.curg.load(Relaxed);
        if g.is_null() || !mr.p.load(Relaxed).is_null() {
            return;
        }
        locks_held(-1);
        // SAFETY: Gs are never freed; `g` is us.
        exitsyscall(mr, unsafe { &*g });
    }
}

/// Undoes [`pin`] (same thread, no switch point in between).
#[inline]
pub(crate) fn unpin(m: *mut M) {
    if !m.is_null() {
        core::sync::atomic::compiler_fence(SeqCst);
        // SAFETY: as in `pin`.
        let mr = unsafe { &*m };
        let n = mr.pins.load(Relaxed);
        debug_assert!(n > 0, "unpin of an M that is not pinned");
        mr.pins.store(n.saturating_sub(1), Relaxed);
    }
}

/// A guard that keeps the calling goroutine from being preempted
/// asynchronously while it lives (it pins the thread's M): for runtime code
/// outside this crate that holds a lock the world-stopped code may take (the
/// tracer's buffer). If the goroutine blocks while holding it (the tracer
/// stops the world with its lock held), the pin moves with the goroutine
/// to the M that resumes it (`mcall_from`).
#[derive(Debug)]
pub struct NoPreempt(*mut M);

impl NoPreempt {
    /// Pins the calling goroutine, which takes a P back first if it has
    /// none (nothing on a thread that is not a goroutine): a lock taken
    /// under this guard is never held by a goroutine waiting for a P.
    pub fn new() -> NoPreempt {
        NoPreempt(pin_with_p())
    }
}

impl Default for NoPreempt {
    fn default() -> Self {
        NoPreempt::new()
    }
}

impl Drop for NoPreempt {
    fn drop(&mut self) {
        // The goroutine may have blocked meanwhile and resumed on another M
        // (its pins moved with it, see `mcall_from`): unpin the current one.
        if !self.0.is_null() {
            unpin(current_m());
        }
    }
}

/// A P pinned to the calling goroutine for one P-local section (the
/// allocator's fast path, the write barrier's buffer): until
/// [`PinnedP::unpin`], the goroutine is not preempted asynchronously, so P
/// `p` stays its own. Obtained with [`pin_p`].
#[derive(Debug)]
pub struct PinnedP {
    /// The P's id; `None` outside a goroutine.
    pub p: Option<usize>,
    /// The pinned M's count (null: nothing to undo).
    pins: *const AtomicU32,
}

impl PinnedP {
    /// The P and the address of the pin count to decrement when the
    /// section ends (null: none), for a host that ends it itself (the
    /// collector's `Pin`). The count is an aligned `u32` accessed only
    /// atomically, read by this thread's signal handler.
    pub fn into_raw(self) -> (Option<usize>, *const u32) {
        (self.p, self.pins as *const u32)
    }

    /// Ends the section (on the same thread, with no switch point since
    /// [`pin_p`]).
    #[inline]
    pub fn unpin(self) {
        if !self.pins.is_null() {
            core::sync::atomic::compiler_fence(SeqCst);
            // SAFETY: the count of a leaked M, written only by this thread.
            let c = unsafe { &*self.pins };
            c.store(c.load(Relaxed) - 1, Relaxed);
        }
    }
}

/// Pins the calling goroutine and returns its P, taking one back first if
/// the goroutine is P-less (see [`ensure_p`]). Outside a goroutine: `p` is
/// `None` and nothing is pinned. Never inlined (one TLS access).
#[inline(never)]
pub fn pin_p() -> PinnedP {
    let (p, pins) = pin_p_raw();
    PinnedP {
        p: (p != usize::MAX).then_some(p),
        pins: pins as *const AtomicU32,
    }
}

/// The safepoint word (one `u32`, accessed only atomically, for the life of
/// the process): non-zero while a stop of the world, a ragged barrier or a
/// preemption request is pending. The allocator polls it on its fast path.
pub fn poll_word() -> *const u32 {
    &sched::POLL as *const AtomicU32 as *const u32
}

/// [`pin_p`] as two words returned in registers (the allocator's hot
/// path): the P's id (`usize::MAX` outside a goroutine) and the pin count
/// to decrement when the section ends (null: none); see
/// [`PinnedP::into_raw`].
#[inline(never)]
pub fn pin_p_raw() -> (usize, *const u32) {
    // No switch point below (exitsyscall blocks the thread, the goroutine
    // stays on it), so the thread-local read may be inlined here.
    let m = crate::sched::current_m_in_place();
    if m.is_null() {
        return (usize::MAX, core::ptr::null());
    }
    // SAFETY: Ms are leaked; `curg`, `p` and `pins` are written by this
    // very thread.
    let mr = unsafe { &*m };
    let g = mr.curg.load(Relaxed);
    if g.is_null() {
        return (usize::MAX, core::ptr::null());
    }
    loop {
        mr.pins.store(mr.pins.load(Relaxed) + 1, Relaxed);
        core::sync::atomic::compiler_fence(SeqCst);
        let p = mr.p.load(Relaxed);
        if !p.is_null() {
            // SAFETY: Ps are leaked.
            let id = unsafe { &*p }.id;
            return (id, &mr.pins as *const AtomicU32 as *const u32);
        }
        core::sync::atomic::compiler_fence(SeqCst);
        mr.pins.store(mr.pins.load(Relaxed) - 1, Relaxed);
        // SAFETY: Gs are never freed; `g` is us.
        exitsyscall(mr, unsafe { &*g });
    }
}

/// Takes a P back if the calling goroutine runs without one (Go's
/// `exitsyscall`); nothing otherwise (one TLS access and two loads). Every
/// runtime entry that needs P-local state calls it first.
#[inline(never)]
pub fn ensure_p() {
    let m = current_m();
    if m.is_null() {
        return;
    }
    // SAFETY: Ms are leaked; fields written by this very thread.
    let mr = unsafe { &*m };
    if !mr.p.load(Relaxed).is_null() {
        return;
    }
    let g = mr.curg.load(Relaxed);
    if g.is_null() {
        return;
    }
    // SAFETY: Gs are never freed; `g` is us.
    let gr = unsafe { &*g };
    if gr.status() == GStatus::Syscall {
        exitsyscall(mr, gr);
    }
}

/// Go's `exitsyscall`: `gr` (running on `m`, P-less) takes a P: its old one
/// if nobody retook it, else an idle one, else it waits as a locked
/// goroutine on the global queue until an M hands it a P.
pub(crate) fn exitsyscall(m: &M, gr: &G) {
    let s = sched();
    let pm = pin();
    // 1. The old P, if it is still in the Syscall state we left it in.
    let p = m.oldp.swap(null_mut(), Relaxed);
    if !p.is_null() {
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        // AcqRel: pairs with the Release of `leave_p` and with the CAS of a
        // retaker or stopper: exactly one of us takes the P.
        if pr.cas_status(PStatus::Syscall, PStatus::Running) {
            // The P may have been retaken and handed to another M since we
            // left it, and that M may have left it in turn: the P is ours
            // now, so it must name us. Stoppers and sysmon signal the M a
            // Running P names, and `gcstopm` takes a P that names another M
            // for one destroyed by a resize; a stale name would leave this
            // M unsignalled and the P lost at the next stop.
            pr.m.store(m as *const M as *mut M, Relaxed);
            m.p.store(p, Relaxed);
            gr.set_status(GStatus::Running);
            unpin(pm);
            return;
        }
    }
    // 2. An idle P, unless a stop of the world is pending.
    {
        let mut l = sched::lock_sched(s);
        if !s.world.requested() {
            if let Some(p) = s.pidleget_locked(&mut l) {
                drop(l);
                sched::acquirep(m, p);
                gr.set_status(GStatus::Running);
                sysexit_event(gr, p);
                unpin(pm);
                return;
            }
        }
    }
    // 3. Wait for a P as a locked goroutine. Registers are spilled below the
    // saved sp, so while we wait the collector (or a stopper) sees a
    // runnable G with a valid stack like any other.
    let mut wait = |sp: usize| {
        wait_as_locked(m, gr, sp, |g| sched::globrunq_put(g as *const G as *mut G));
    };
    crate::switch::with_spilled_registers(&mut wait);
    // The M that picked us made us the owner of its P and set our status
    // (and reported our GoStart there).
    unpin(pm);
}

/// The tracer's `GoSysExit` for `gr`, now running on `p` (not the P it left).
fn sysexit_event(gr: &G, p: *mut P) {
    if !p.is_null() {
        // SAFETY: Ps are leaked.
        let p = unsafe { &*p }.id;
        crate::hooks::emit(|| crate::hooks::SchedEvent::GoSysExit { goid: gr.goid(), p });
    }
}

/// Runs `f`, which is known to block its OS thread (a system call, a
/// foreign library's wait), without holding a P meanwhile (Go's
/// `entersyscallblock` / `exitsyscall` around a cgo call): the P goes to
/// another M at once, and afterwards the goroutine takes a P back before
/// it continues. Outside a goroutine `f` simply runs.
///
/// Code that blocks without saying so is handled too, only later: sysmon
/// notices a P that has not reached a safepoint for a sysmon tick while
/// others wait, and signals its thread (see the crate docs).
///
/// ```
/// let n = gort_scheduler::run(|| {
///     gort_scheduler::blocking(|| std::thread::sleep(std::time::Duration::from_millis(5)));
///     7
/// });
/// assert_eq!(n, 7);
/// ```
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    ensure_p();
    let m = current_m();
    if m.is_null() {
        return f();
    }
    // SAFETY: Ms are leaked; fields written by this very thread.
    let mr = unsafe { &*m };
    let g = mr.curg.load(Relaxed);
    if g.is_null() {
        return f();
    }
    // SAFETY: Gs are never freed; `g` is us.
    let goid = unsafe { &*g }.goid();
    crate::hooks::emit(|| crate::hooks::SchedEvent::GoSysCall { goid });
    let pm = pin();
    let marker = 0u8;
    let sp = core::hint::black_box(&marker) as *const u8 as usize & !7;
    // SAFETY: Gs are never freed; `g` is us.
    leave_p(mr, unsafe { &*g }, sp);
    let p = mr.oldp.load(Relaxed);
    // SAFETY: Ps are leaked.
    if !p.is_null() && unsafe { &*p }.cas_status(PStatus::Syscall, PStatus::Idle) {
        mr.oldp.store(null_mut(), Relaxed);
        sched::handoffp(sched(), p);
    }
    unpin(pm);
    let r = f();
    ensure_p();
    r
}

/// sysmon's view of one P between rounds (Go's `sysmontick`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PTick {
    schedtick: u32,
    schedwhen: u64,
    syscalltick: u32,
    syscallwhen: u64,
    /// When to signal the P's M again while its G does not reach a
    /// safepoint (doubling back-off), 0: not yet.
    next_signal: u64,
    backoff: u64,
}

/// How long a P may go without a safepoint while others wait before its M
/// is asked whether it sits in a system call (Go retakes a P in a system
/// call after one sysmon tick, 20 µs at least).
const RETAKE_SYSCALL_NS: u64 = 20_000;

/// sysmon's retake round (Go's `retake`). Returns (whether it retook a P
/// or signalled an M, whether some goroutine has an outstanding cooperative
/// preemption request).
pub(crate) fn retake(now: u64, ticks: &mut Vec<PTick>) -> (bool, bool) {
    let s = sched();
    let n = s.nprocs();
    if ticks.len() < n {
        ticks.resize(n, PTick::default());
    }
    let mut acted = false;
    let mut outstanding = false;
    for (i, t) in ticks.iter_mut().enumerate().take(n) {
        let p = s.p(i);
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        match pr.status() {
            PStatus::Syscall => {
                let tick = pr.syscalltick.load(Relaxed);
                if t.syscalltick != tick {
                    t.syscalltick = tick;
                    t.syscallwhen = now;
                }
                // Go's condition: keep the P for its M a little longer only
                // when it has no work of its own, someone else can take new
                // work (an idle P or a spinning M), and it has not been 10 ms.
                let others_can = s.idle.nmspinning.load(Relaxed) + s.idle.npidle.load(Relaxed) > 0;
                if pr.runq.is_empty()
                    && s.global_runq_len() == 0
                    && others_can
                    && now.saturating_sub(t.syscallwhen)
                        < crate::sysmon::FORCE_PREEMPT.as_nanos() as u64
                {
                    continue;
                }
                if pr.cas_status(PStatus::Syscall, PStatus::Idle) {
                    sched::handoffp(s, p);
                    acted = true;
                }
            }
            PStatus::Running => {
                let tick = pr.schedtick.load(Relaxed);
                if t.schedtick != tick {
                    t.schedtick = tick;
                    t.schedwhen = now;
                    t.next_signal = 0;
                    t.backoff = RETAKE_SYSCALL_NS;
                    continue;
                }
                let m = pr.m.load(Relaxed);
                if m.is_null() {
                    continue;
                }
                // SAFETY: Ms are leaked.
                let mr = unsafe { &*m };
                let g = mr.curg.load(Relaxed);
                if g.is_null() {
                    continue;
                }
                let ran = now.saturating_sub(t.schedwhen);
                let others_wait = !pr.runq.is_empty() || s.global_runq_len() > 0;
                // SAFETY: Gs are never freed (a stale G is harmless: the
                // flag is cleared when a G is scheduled).
                let gr = unsafe { &*g };
                if ran >= crate::sysmon::FORCE_PREEMPT.as_nanos() as u64 {
                    // Its time slice is over: yield at the next safepoint.
                    gr.preempt.store(true, Relaxed);
                    outstanding = true;
                } else if gr.preempt.load(Relaxed) {
                    outstanding = true;
                }
                if ran >= crate::sysmon::FORCE_PREEMPT.as_nanos() as u64 && others_wait {
                    // Others wait: if no safepoint comes, leave the P at the
                    // next async-safe instruction.
                    if now >= t.next_signal {
                        signal_m(mr, REQ_YIELD);
                        t.next_signal = now + 1_000_000;
                        acted = true;
                    }
                    continue;
                }
                let idle_can = s.idle.nmspinning.load(Relaxed) + s.idle.npidle.load(Relaxed) > 0;
                if ran >= RETAKE_SYSCALL_NS && (others_wait || !idle_can) {
                    // Perhaps blocked in the kernel: ask (the handler leaves
                    // the P only if it is), with a doubling back-off so a
                    // compute loop is not signalled every tick.
                    if t.next_signal == 0 || now >= t.next_signal {
                        signal_m(mr, REQ_LEAVE_P);
                        // Doubling from one tick (the first observation of
                        // a P may find `backoff` still 0).
                        t.backoff = (t.backoff.max(RETAKE_SYSCALL_NS) * 2)
                            .min(crate::sysmon::FORCE_PREEMPT.as_nanos() as u64);
                        t.next_signal = now + t.backoff;
                        acted = true;
                    }
                }
            }
            _ => {}
        }
    }
    (acted, outstanding)
}

/// The stopper's part for P-less goroutines: after every P is stopped,
/// suspend every thread that runs a P-less goroutine (it may be executing
/// user code), and wait until each is. `me` is the stopper's own M (skipped).
pub(crate) fn suspend_pless(me: *mut M) {
    let s = sched();
    let mut rounds = 0u32;
    loop {
        let mut pending = false;
        for m in s.all_ms() {
            if m == me {
                continue;
            }
            // SAFETY: Ms are leaked.
            let mr = unsafe { &*m };
            let g = mr.curg.load(Acquire);
            if g.is_null() {
                continue;
            }
            // SAFETY: Gs are never freed.
            if unsafe { &*g }.status() != GStatus::Syscall {
                continue;
            }
            if mr.susp.is_suspended() {
                continue;
            }
            pending = true;
            if rounds.is_multiple_of(8) || mr.susp.requests() & REQ_SUSPEND == 0 {
                signal_m(mr, REQ_SUSPEND);
            }
        }
        if !pending {
            return;
        }
        rounds += 1;
        if rounds < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    }
}

/// Signals the M of every running P but the stopper's to leave its P and
/// stay suspended (Go's `preemptall` at a stop of the world).
pub(crate) fn preempt_running(me: *mut M) {
    let s = sched();
    for i in 0..s.nprocs() {
        let p = s.p(i);
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        if pr.status() != PStatus::Running {
            continue;
        }
        let m = pr.m.load(Relaxed);
        if m.is_null() || m == me {
            continue;
        }
        // SAFETY: Ms are leaked.
        signal_m(unsafe { &*m }, REQ_SUSPEND);
    }
}

/// Resumes every M suspended (or asked to be) for the stop of the world.
pub(crate) fn resume_all() {
    for m in sched().all_ms() {
        // SAFETY: Ms are leaked.
        resume_m(unsafe { &*m });
    }
}

/// Stops every P in the `Syscall` state on the stopper's behalf (Go's
/// `stopTheWorldWithSema` loop over `_Psyscall` Ps).
pub(crate) fn stop_syscall_ps() {
    let s = sched();
    for i in 0..s.nprocs() {
        let p = s.p(i);
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are leaked.
        let pr = unsafe { &*p };
        if pr.status() == PStatus::Syscall && pr.cas_status(PStatus::Syscall, PStatus::GcStop) {
            let mut l = sched::lock_sched(s);
            l.stopped.push(p);
            // Stopped Ps count as idle (`pidleput_locked` does the same):
            // `start_the_world` puts them on the idle list.
            s.idle.npidle.fetch_add(1, SeqCst);
            drop(l);
            s.world.stop_one(pr.id, crate::world::StopSite::Syscall);
        }
    }
}

/// The P a goroutine left, for tests and dumps: whether `p` is in the
/// `Syscall` state.
#[allow(dead_code)]
pub(crate) fn is_syscall(p: &P) -> bool {
    p.status() == PStatus::Syscall
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// The program's own code is found, and libc's is outside it.
    #[test]
    fn own_code_is_the_programs() {
        super::find_own_text();
        assert!(super::in_own_code(super::in_own_code as *const () as usize));
        assert!(super::in_own_code(
            own_code_is_the_programs as *const () as usize
        ));
        assert!(!super::in_own_code(libc::write as *const () as usize));
        assert!(!super::in_own_code(0));
    }
}
