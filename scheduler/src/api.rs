//! The public entry points (re-exported at the crate root).
//!
//! See [crate] for the overview.

use crate::g::{GStatus, WaitReason, G};
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::sched::{self, getg, sched, try_sched, Config, POLL};
use std::time::Duration;

/// Runs `f` as the main goroutine on the scheduler (started on first use
/// with [`Config::default`]) and returns its value, like Go's `main`.
///
/// The calling OS thread waits; the goroutine runs on the scheduler's Ms.
/// Called from inside a goroutine, `f` simply runs inline.
///
/// A panic in any goroutine prints `panic: <message>`, a blank line and
/// `goroutine N [running]:` and exits the process with status 2, as in Go.
/// When every goroutine is blocked, no timer is pending and nothing outside
/// the scheduler holds an [`ExternalActivity`], the process ends with
/// `fatal error: all goroutines are asleep - deadlock!` (status 2).
///
/// ```
/// let v = gort_scheduler::run(|| 6 * 7);
/// assert_eq!(v, 42);
/// ```
pub fn run<R, F>(f: F) -> R
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    run_with(Config::default(), f)
}

/// [`run`] with an explicit configuration. The first call in a process
/// configures the scheduler; later calls reuse it (use [`gomaxprocs`] to
/// change the number of Ps afterwards).
pub fn run_with<R, F>(cfg: Config, f: F) -> R
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    if !getg().is_null() {
        return f();
    }
    let s = sched::init(&cfg);
    sched::ensure_sysmon();
    let done: Arc<(Mutex<Option<R>>, Condvar)> = Arc::new((Mutex::new(None), Condvar::new()));
    let d2 = done.clone();
    s.external.fetch_add(1, SeqCst);
    s.run_active.fetch_add(1, SeqCst);
    // The main goroutine has no creator (Go prints no `created by` for it).
    sched::newproc(0, move || {
        // Set here, before the body runs (the body may ask at once, before
        // `newproc` has returned on the calling thread).
        MAIN_GOID.store(current_goroutine_id().unwrap_or(0), Relaxed);
        let r = f();
        sched().run_active.fetch_sub(1, SeqCst);
        let mut slot = d2.0.lock();
        *slot = Some(r);
        d2.1.notify_one();
    });
    s.external.fetch_sub(1, SeqCst);
    sched::kick();
    let mut slot = done.0.lock();
    loop {
        if let Some(r) = slot.take() {
            return r;
        }
        slot = done.1.wait(slot);
    }
}

/// The goroutine id of the latest [`run`] body (Go's main goroutine, whose
/// start function Go's tools name `runtime.main`); 0 before the first.
static MAIN_GOID: crate::loom::sync::atomic::AtomicU64 =
    crate::loom::sync::atomic::AtomicU64::new(0);

/// The id of the main goroutine: the body of the latest [`run`] (0 before
/// any). The tracer names its start function `runtime.main`, as Go's does.
pub fn main_goroutine_id() -> u64 {
    MAIN_GOID.load(Relaxed)
}

/// Starts a goroutine running `f` (`go f()`). Returns its goroutine id.
///
/// The closure is moved onto the new goroutine's own stack before it runs,
/// so whatever it captures is visible to the collector's stack scan. Called
/// outside any goroutine (before [`run`]) it starts the scheduler with the
/// default configuration.
///
/// The call is recorded as the goroutine's creator (Go's `gopc`):
/// goroutine dumps print `created by <the calling function>` and the
/// file:line of the call. `go` is `#[inline(always)]`, so the PC it takes
/// ([`call_site_pc`]) lies in the calling function's code, even when the
/// call to `go` is the caller's last act (a non-inlined `go` called in
/// tail position could be entered by a jump, and the caller's frame would
/// be gone). Symbolizing that PC yields `go`'s own inlined frame(s) first,
/// then the caller: readers skip the frames of [`GO_FILE`] named `go`.
///
/// # Panics
///
/// If the closure is larger than a quarter of the goroutine stack size.
#[inline(always)]
pub fn go<F: FnOnce() + Send + 'static>(f: F) -> u64 {
    let creator_pc = call_site_pc();
    if try_sched().is_none() {
        sched::init(&Config::default());
        sched::ensure_sysmon();
    }
    sched::newproc(creator_pc, f)
}

/// The source file of [`go`] (`file!()`), for readers of creator PCs that
/// skip `go`'s inlined frames.
pub const GO_FILE: &str = file!();

/// The return PC of this call: the address just after the call
/// instruction, in the code of the calling function. Called from an
/// `#[inline(always)]` function (like [`go`]), that is the code the
/// function was inlined into, at its call site.
///
/// How: code is built with frame pointers (`.cargo/config.toml`), so this
/// function's frame record is `[saved frame pointer, return address]` at
/// its frame pointer: one load. The record is checked to lie between this
/// function's locals and the top of the calling goroutine's stack (or the
/// M's thread stack), so code built without frame pointers gets a wrong
/// PC, never a fault. Returns 0 on a thread that is neither a goroutine nor
/// an M (its stack top is unknown). Cost: a call, one or two TLS reads,
/// one load.
#[inline(never)]
pub fn call_site_pc() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    // The live part of the current stack: from a local of ours (our stack
    // pointer, roughly) up to the top of the goroutine's or M's stack.
    let marker = 0u8;
    let sp = core::hint::black_box(&marker) as *const u8 as usize;
    let g = getg();
    let hi = if !g.is_null() {
        // SAFETY: Gs are never freed; `hi` is immutable.
        unsafe { &*g }.hi
    } else {
        match crate::hooks::current_thread_stack_bounds() {
            Some((_, hi)) => hi,
            None => return 0,
        }
    };
    // A frame record is two words: [saved frame pointer, return address],
    // above our locals.
    if fp < sp || !fp.is_multiple_of(8) || fp.checked_add(16).is_none_or(|e| e > hi) {
        return 0;
    }
    // SAFETY: [fp, fp + 16) lies between our stack pointer and the top of
    // the current stack (checked above): live, mapped and readable; it is
    // our own frame record.
    unsafe { *((fp + 8) as *const usize) }
}

/// `runtime.Gosched`: yields the P to other goroutines; the caller goes to
/// the back of its P's run queue. Outside a goroutine it yields the thread.
pub fn gosched() {
    sched::gosched();
}

/// `time.Sleep`: parks the calling goroutine for at least `d` (a zero `d`
/// yields). Outside a goroutine it sleeps the thread.
pub fn sleep(d: Duration) {
    if getg().is_null() {
        std::thread::sleep(d);
        return;
    }
    crate::sysmon::sleep(d);
}

/// `runtime.NumGoroutine`: goroutines that exist now (not yet finished).
pub fn num_goroutine() -> usize {
    try_sched().map_or(0, |s| s.goroutines().max(0) as usize)
}

/// `runtime.GOMAXPROCS`: sets the number of Ps to `n` and returns the
/// previous value; `n < 1` only reads. Changing it stops the world.
pub fn gomaxprocs(n: i32) -> i32 {
    let s = match try_sched() {
        Some(s) => s,
        None => {
            let s = sched::init(&Config::default());
            sched::ensure_sysmon();
            s
        }
    };
    if n < 1 {
        return s.nprocs() as i32;
    }
    crate::stw::set_gomaxprocs(n as usize) as i32
}

/// A safepoint poll: one relaxed load when nothing is requested. Long
/// loops that never block should call it (channel, sync and sleep calls
/// already do); it is where a goroutine stops for a stop-the-world, runs
/// the ragged barrier's function and yields if sysmon asked it to.
#[inline]
pub fn safepoint() {
    if POLL.load(Relaxed) != 0 {
        sched::safepoint_slow();
    }
}

/// The id of the P running the calling goroutine; `None` outside
/// goroutines. Stable until the goroutine's next switch point (a safepoint,
/// a blocking call, `gosched`).
///
/// The allocator calls this on every allocation, so it reads the thread's
/// M once (one TLS access) and is never inlined: a goroutine may move to
/// another thread at its next switch point, and an inlined TLS address could
/// be kept by the compiler across that point.
#[inline(never)]
pub fn current_p() -> Option<usize> {
    let m = sched::current_m();
    if m.is_null() {
        return None;
    }
    // SAFETY: Ms are leaked; `curg` and `p` are written by this very thread.
    let m = unsafe { &*m };
    if m.curg.load(Relaxed).is_null() {
        return None;
    }
    let p = m.p.load(Relaxed);
    // SAFETY: Ps are leaked.
    (!p.is_null()).then(|| unsafe { &*p }.id)
}

/// The runtime's per-P slot of P `id` (null until set). The scheduler never
/// looks inside; the collector's host keeps its per-P state here.
pub fn p_local(id: usize) -> *mut () {
    let p = sched().p(id);
    if p.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: Ps are leaked. Acquire: pairs with the Release in `set_p_local`.
    unsafe { &*p }.local.load(Acquire)
}

/// Sets P `id`'s slot (see [`p_local`]). Ps up to [`crate::MAX_PROCS`] are
/// created on demand, so a slot can be set before `gomaxprocs` grows.
pub fn set_p_local(id: usize, v: *mut ()) {
    let s = sched();
    let p = if id < s.nprocs() {
        s.p(id)
    } else {
        core::ptr::null_mut()
    };
    if p.is_null() {
        panic!(
            "set_p_local: P {id} does not exist (GOMAXPROCS {})",
            s.nprocs()
        );
    }
    // SAFETY: Ps are leaked. Release: publishes what `v` points to.
    unsafe { &*p }.local.store(v, Release);
}

/// The P held by the calling thread's M, whether a goroutine runs on it
/// or the scheduler's own code does (which [`current_p`] does not name):
/// for hooks the scheduler calls between goroutines, such as the idle mark
/// hook.
pub fn current_m_p() -> Option<usize> {
    let m = sched::current_m();
    if m.is_null() {
        return None;
    }
    // SAFETY: Ms are leaked; `p` is written by this very thread.
    let p = unsafe { &*m }.p.load(Relaxed);
    // SAFETY: Ps are leaked.
    (!p.is_null()).then(|| unsafe { &*p }.id)
}

/// The calling goroutine's id (Go's goid; main is 1), `None` outside
/// goroutines.
pub fn current_goroutine_id() -> Option<u64> {
    let g = getg();
    // SAFETY: Gs are never freed.
    (!g.is_null()).then(|| unsafe { &*g }.goid())
}

/// The calling goroutine's label word (an interned
/// `gort_profiler::labels::LabelSet`, 0 for none; 0 outside goroutines).
/// Safe to call from a signal handler interrupting a goroutine (the CPU
/// profiler tags its ticks with it): a TLS read and two loads.
pub fn current_labels() -> usize {
    let g = getg();
    if g.is_null() {
        return 0;
    }
    // SAFETY: Gs are never freed.
    unsafe { &*g }.labels.load(Relaxed)
}

/// Sets the calling goroutine's label word (Go's `SetGoroutineLabels`);
/// goroutines it starts from now on inherit it. Returns false (and does
/// nothing) outside goroutines. `word` must be 0 or the word of an
/// interned label set.
pub fn set_current_labels(word: usize) -> bool {
    let g = getg();
    if g.is_null() {
        return false;
    }
    // SAFETY: Gs are never freed. Relaxed: the G itself is the writer;
    // other readers (profiles, the signal handler on its own thread) take
    // whichever word they see, and every word names a set that is never
    // freed.
    unsafe { &*g }.labels.store(word, Relaxed);
    true
}

/// `[lo, hi)` of the calling goroutine's stack (usable part), `None` outside
/// goroutines. Safe to call from a signal handler interrupting a goroutine
/// (the profiler's frame-pointer walk bounds itself with it).
pub fn current_goroutine_stack_bounds() -> Option<(usize, usize)> {
    let g = getg();
    if g.is_null() {
        return None;
    }
    // SAFETY: Gs are never freed; lo/hi are immutable.
    let g = unsafe { &*g };
    Some((g.lo + crate::stack::page_size(), g.hi))
}

/// A parked goroutine, handed to the `publish` closure of [`park`]. Exactly
/// one `unpark` wakes it.
#[derive(Debug)]
pub struct Parked {
    g: *mut G,
}

// SAFETY: a handle to a never-freed G; `unpark` is thread-safe.
unsafe impl Send for Parked {}
// SAFETY: as above.
unsafe impl Sync for Parked {}

impl Parked {
    /// Makes the goroutine runnable again. Callable from any thread.
    pub fn unpark(self) {
        sched::unpark(self.g);
    }

    /// The parked goroutine's id.
    pub fn goid(&self) -> u64 {
        // SAFETY: Gs are never freed.
        unsafe { &*self.g }.goid()
    }
}

/// Parks the calling goroutine until the [`Parked`] handle passed to
/// `publish` is unparked (Go's `gopark`). `publish` runs on the goroutine
/// before it switches away; it must store the handle where the waker finds
/// it and may release the lock guarding that place. A wake-up that comes
/// before the switch is not lost.
///
/// # Panics
///
/// Outside a goroutine.
pub fn park(reason: WaitReason, publish: impl FnOnce(Parked)) {
    sched::park_with(reason, |g| publish(Parked { g }));
}

/// Tells the deadlock detector that a thread outside the scheduler (a
/// collector worker, an I/O thread) may still wake a goroutine; the
/// detector stays quiet while any guard is alive.
#[derive(Debug)]
pub struct ExternalActivity(());

impl ExternalActivity {
    /// Starts a period of external activity (the scheduler must be running).
    pub fn begin() -> ExternalActivity {
        sched().external.fetch_add(1, SeqCst);
        ExternalActivity(())
    }
}

impl Drop for ExternalActivity {
    fn drop(&mut self) {
        sched().external.fetch_sub(1, SeqCst);
        // A check skipped while we were active must happen now.
        sched::checkdead_now();
    }
}

/// Marks the calling thread as one of the runtime's own (a collector
/// worker, the scavenger, a profile server): while the guard lives, the
/// deadlock check does not count the thread as a possible waker. Threads
/// outside the scheduler that are not so marked (a plain `std::thread`)
/// keep the check quiet: they may hold a channel and send on it later.
#[derive(Debug)]
pub struct RuntimeThread(bool);

impl RuntimeThread {
    /// Marks the calling thread (or one about to be spawned, whose guard
    /// moves into it). Before the scheduler starts nothing is counted: the
    /// thread then counts as one outside the scheduler, which only keeps
    /// the deadlock check quiet.
    pub fn begin() -> RuntimeThread {
        match try_sched() {
            Some(s) => {
                s.runtime_threads.fetch_add(1, SeqCst);
                RuntimeThread(true)
            }
            None => RuntimeThread(false),
        }
    }

    /// [`RuntimeThread::begin`] before the scheduler starts (tests: for a
    /// thread that only waits for the one that will call [`run`]).
    #[cfg(test)]
    pub(crate) fn begin_before_start(cfg: &Config) -> RuntimeThread {
        sched::init(cfg).runtime_threads.fetch_add(1, SeqCst);
        RuntimeThread(true)
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if self.0 {
            sched().runtime_threads.fetch_sub(1, SeqCst);
        }
    }
}

/// Resident bytes of goroutine stacks: `(in use, total)` — the pages
/// actually touched (measured with `mincore`, one system call per 32
/// stacks), not the reservations. "In use" counts stacks of goroutines that
/// exist; "total" adds the pooled stacks of dead goroutines whose pages have
/// not been returned yet. These are what Go's `StackInuse` and `StackSys`
/// mean for gort (Go's stacks are all resident).
pub fn stack_memory() -> (usize, usize) {
    let (mut inuse, mut total) = (0, 0);
    crate::stack::for_each_resident_stack(|top, bytes| {
        total += bytes;
        let g = (top - core::mem::size_of::<G>()) & !(core::mem::align_of::<G>() - 1);
        // SAFETY: a resident slot has its G written at its top (the G's page
        // is the first touched and never released); Gs are never freed.
        let st = unsafe { &*(g as *const G) }.status.load(Relaxed);
        if st != GStatus::Dead as u8 {
            inuse += bytes;
        }
    });
    (inuse, total)
}

/// Reserved address space of goroutine stacks: `(reserved for live
/// goroutines, reserved in all)`.
pub fn stack_reserved() -> (usize, usize) {
    let size = crate::stack::stack_size();
    (num_goroutine() * size, crate::stack::stack_sys_bytes())
}

impl crate::stw::GoroutineStack {
    /// Walks the frame-pointer chain of a goroutine that is not running
    /// (Runnable or Waiting), from its switch frame upwards, staying inside
    /// `[sp, hi)`; pushes return addresses into `out` (at most `max`).
    /// Needs code built with frame pointers (`-C force-frame-pointers=yes`)
    /// to go past the first frames; stops at the first pointer that leaves
    /// the stack or does not go up.
    pub fn frames(&self, out: &mut Vec<usize>, max: usize) {
        if self.status == GStatus::Running || self.sp == 0 {
            return;
        }
        walk_frames(self.sp, self.hi, out, max);
    }
}

/// The frame-pointer walk: `sp` is a saved stack pointer of a switch frame.
pub(crate) fn walk_frames(sp: usize, hi: usize, out: &mut Vec<usize>, max: usize) {
    use crate::switch::{SAVED_FP_OFFSET, SAVED_PC_OFFSET};
    if !sp.is_multiple_of(8) || sp + SAVED_PC_OFFSET + 8 > hi {
        return;
    }
    // SAFETY: [sp, hi) is the parked goroutine's live stack, readable
    // memory we mapped; every read below is bounds-checked against it.
    unsafe {
        let pc = *((sp + SAVED_PC_OFFSET) as *const usize);
        let mut fp = *((sp + SAVED_FP_OFFSET) as *const usize);
        if out.len() < max {
            out.push(pc);
        }
        while out.len() < max && fp >= sp && fp.is_multiple_of(8) && fp + 16 <= hi {
            let ret = *((fp + 8) as *const usize);
            let next = *(fp as *const usize);
            if ret == 0 {
                break;
            }
            out.push(ret);
            if next <= fp {
                break;
            }
            fp = next;
        }
    }
}

/// Goroutine `goid`'s wait reason while the world is stopped. A walk over
/// every goroutine (O(goroutines) per call): a visitor of
/// [`crate::for_each_goroutine_stack`] has it in
/// [`GoroutineStack::wait_reason`](crate::GoroutineStack::wait_reason).
pub fn goroutine_wait_reason(w: &crate::stw::WorldStopped, goid: u64) -> Option<WaitReason> {
    let mut r = None;
    let _ = w;
    let all = sched().allg.lock();
    for &g in &all.list {
        // SAFETY: Gs are never freed.
        let gr = unsafe { &*g };
        if gr.goid() == goid && gr.status() != GStatus::Dead {
            r = Some(WaitReason::from_u8(gr.wait_reason.load(Relaxed)));
        }
    }
    r
}
