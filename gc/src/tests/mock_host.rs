//! `MockHost`: a [`Host`] made of plain OS threads, for testing the
//! collector without the scheduler (≈ MMTk's `MockVM`).
//!
//! Each mutator thread started with [`MockHost::spawn_mutator`] takes one
//! of the host's Ps for its whole life. It polls [`MockHost::safepoint`]
//! (the collector also polls it from the allocation slow path); when a stop
//! of the world is pending, the thread spills its callee-saved registers
//! onto its own stack, records its stack pointer, and parks. The stopper
//! waits until every owned P is parked. Roots are the real OS-thread stacks,
//! from each parked thread's recorded stack pointer to the top recorded
//! when the thread started — so the collector's conservative stack scanning
//! is exercised on real Rust frames — plus the host's mailboxes (a stand-in
//! for channel buffers: values the "runtime" holds on a user's behalf) and
//! start closures not yet moved onto their thread's stack.
//!
//! As in Go, where every allocation runs on a goroutine, only mutator
//! threads (threads with a P) may hold managed pointers on their stacks: a
//! thread without a P (a test's main thread) is not a root and must keep
//! what it needs in a `Root<T>`.

use crate::host::{Host, MarkWorkerMode, RangeKind, RootVisitor, StwReason, WorldStopped};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Condvar, Mutex};
use std::collections::VecDeque;

// loom runs its threads as coroutines on one OS thread, so the model needs
// loom's thread-locals; normal builds use std's.
#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// The P of the current mock mutator thread (`usize::MAX`: none).
    static MOCK_P: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// Whether the current thread holds the stopped world.
    static IS_STOPPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static MOCK_P: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
    static IS_STOPPER: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

/// State of one P of the mock host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockPStatus {
    /// No thread owns the P.
    Idle,
    /// Its thread runs mutator code (not stoppable until its next safepoint).
    Running,
    /// Its thread is parked at a safepoint, blocked in the host, or is the
    /// stopper itself; its stack from `sp` to `top` is stable.
    Parked,
}

#[derive(Debug)]
struct PSlot {
    /// Whether a thread owns the P.
    owner: bool,
    status: MockPStatus,
    /// Saved stack pointer (lowest live address) while parked.
    sp: usize,
    /// Highest stack address of the owning thread's mutator frames.
    top: usize,
}

#[derive(Debug)]
struct MockState {
    ps: Vec<PSlot>,
    /// Some thread holds (or is acquiring) the stopped world.
    stopper: bool,
    /// True between the stopper's `stop_the_world` return and its `start_the_world`.
    stopped: bool,
    /// Runtime-held ranges: start closures not yet on their thread's stack.
    pending_closures: Vec<(usize, usize, u64)>,
    next_closure: u64,
    /// Mailboxes of words (values the host holds on a user's behalf).
    mailboxes: Vec<VecDeque<usize>>,
    /// Counters for tests.
    stops: u64,
}

/// A [`Host`] whose mutators are OS threads. Create one with
/// [`MockHost::new`] and leak it (`&'static`), install it with the
/// collector, then start mutators with [`MockHost::spawn_mutator`].
#[derive(Debug)]
pub struct MockHost {
    procs: usize,
    /// Protects every field of [`MockState`]. The host's own lock: it is
    /// never held while calling into the collector.
    state: Mutex<MockState>,
    /// Signalled when a P stops running (parks, blocks, is released): the
    /// stopper waits on it. Kept apart from `resume` so that stopping the
    /// world does not wake every parked thread.
    parked_cv: Condvar,
    /// Signalled when the world restarts, a P is freed, or a cycle ends:
    /// parked and blocked threads wait on it.
    resume_cv: Condvar,
    /// A stop of the world is requested or in effect. Written under
    /// `state`; read without it by `safepoint` (Acquire, pairs with the
    /// Release store in `stop_the_world`).
    stop_pending: AtomicBool,
}

/// Run `f` with the callee-saved registers spilled into this frame; `f` gets
/// the lowest address of the spilled block, below which nothing of the
/// caller's is live. Keeps the frame alive until `f` returns.
#[inline(never)]
fn with_spilled_registers<R>(f: impl FnOnce(usize) -> R) -> R {
    let mut regs = [0usize; 12];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asm only stores the callee-saved registers into `regs`
    // (12 words, of which 6 are written) through the pointer we pass; it
    // touches no other memory and does not use the stack.
    unsafe {
        std::arch::asm!(
            "mov [{p}], rbx",
            "mov [{p} + 8], rbp",
            "mov [{p} + 16], r12",
            "mov [{p} + 24], r13",
            "mov [{p} + 32], r14",
            "mov [{p} + 40], r15",
            p = in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above: stores x19..x29 into `regs` (11 of 12 words).
    unsafe {
        std::arch::asm!(
            "stp x19, x20, [{p}]",
            "stp x21, x22, [{p}, #16]",
            "stp x23, x24, [{p}, #32]",
            "stp x25, x26, [{p}, #48]",
            "stp x27, x28, [{p}, #64]",
            "str x29, [{p}, #80]",
            p = in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags)
        );
    }
    let sp = regs.as_ptr() as usize;
    let r = f(sp);
    std::hint::black_box(&mut regs);
    r
}

impl MockHost {
    /// A host with `procs` Ps (1..=256).
    pub fn new(procs: usize) -> MockHost {
        assert!(
            (1..=256).contains(&procs),
            "MockHost: procs must be 1..=256"
        );
        MockHost {
            procs,
            state: Mutex::new(MockState {
                ps: (0..procs)
                    .map(|_| PSlot {
                        owner: false,
                        status: MockPStatus::Idle,
                        sp: 0,
                        top: 0,
                    })
                    .collect(),
                stopper: false,
                stopped: false,
                pending_closures: Vec::new(),
                next_closure: 0,
                mailboxes: Vec::new(),
                stops: 0,
            }),
            parked_cv: Condvar::new(),
            resume_cv: Condvar::new(),
            stop_pending: AtomicBool::new(false),
        }
    }

    /// A leaked host, as the collector wants (`&'static`).
    pub fn leak(procs: usize) -> &'static MockHost {
        Box::leak(Box::new(MockHost::new(procs)))
    }

    /// How many times the world was stopped.
    pub fn stops(&self) -> u64 {
        self.state.lock().stops
    }

    /// Start a mutator thread on a free P (waiting for one if all are taken).
    /// The closure's captures are roots (runtime-held) until the thread has
    /// moved them onto its own stack.
    pub fn spawn_mutator<F>(&'static self, f: F) -> std::thread::JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let boxed = Box::new(f);
        let start = &*boxed as *const F as usize;
        let id = {
            let mut st = self.state.lock();
            st.next_closure += 1;
            let id = st.next_closure;
            st.pending_closures
                .push((start, start + std::mem::size_of::<F>(), id));
            id
        };
        std::thread::spawn(move || {
            // The top of the mutator's stack: a local of this frame; the
            // closure runs in frames below it.
            let anchor = 0u8;
            let top = std::hint::black_box(&anchor) as *const u8 as usize + 1;
            self.acquire_p(top);
            Self::run_closure(self, boxed, id);
            self.release_p();
        })
    }

    // The box is the point: its bytes were a root until now.
    #[allow(clippy::boxed_local)]
    #[inline(never)]
    fn run_closure<F: FnOnce()>(&self, boxed: Box<F>, id: u64) {
        // Move the closure onto this thread's stack (below `top`), then stop
        // treating its box as a root. We hold a P and are not at a
        // safepoint, so no collection can run in between.
        let f = *boxed;
        self.state.lock().pending_closures.retain(|c| c.2 != id);
        f();
    }

    /// Make the calling thread a mutator on a free P; `top` bounds its stack.
    pub(crate) fn acquire_p(&self, top: usize) {
        let mut st = self.state.lock();
        loop {
            if !st.stopper {
                if let Some(i) = st.ps.iter().position(|p| !p.owner) {
                    let p = &mut st.ps[i];
                    p.owner = true;
                    p.status = MockPStatus::Running;
                    p.top = top;
                    MOCK_P.with(|c| c.set(i));
                    return;
                }
            }
            st = self.resume_cv.wait(st);
        }
    }

    /// The calling mutator thread gives its P back.
    pub(crate) fn release_p(&self) {
        let p = MOCK_P.with(|c| c.replace(usize::MAX));
        let mut st = self.state.lock();
        st.ps[p].owner = false;
        st.ps[p].status = MockPStatus::Idle;
        self.parked_cv.notify_all();
        self.resume_cv.notify_all();
    }

    /// Park the current P's thread (registers spilled) until `ready` says
    /// so under the lock and no stop is pending.
    fn park_until(&self, ready: &dyn Fn(&MockState) -> bool) {
        let p = MOCK_P.with(|c| c.get());
        with_spilled_registers(|sp| {
            let mut st = self.state.lock();
            if p != usize::MAX {
                st.ps[p].status = MockPStatus::Parked;
                st.ps[p].sp = sp;
                self.parked_cv.notify_all();
            }
            while !ready(&st) || st.stopper {
                st = self.resume_cv.wait(st);
            }
            if p != usize::MAX {
                st.ps[p].status = MockPStatus::Running;
            }
        })
    }

    /// Put `value` into mailbox `b` (created on first use). While in a
    /// mailbox a value is a root, as a value in a channel buffer is.
    pub fn send(&self, b: usize, value: usize) {
        let mut st = self.state.lock();
        while st.mailboxes.len() <= b {
            st.mailboxes.push(VecDeque::new());
        }
        st.mailboxes[b].push_back(value);
    }

    /// Take the oldest value of mailbox `b`, if any.
    pub fn try_recv(&self, b: usize) -> Option<usize> {
        let mut st = self.state.lock();
        st.mailboxes.get_mut(b)?.pop_front()
    }
}

impl Host for MockHost {
    fn gomaxprocs(&self) -> usize {
        self.procs
    }

    fn current_p(&self) -> Option<usize> {
        let p = MOCK_P.with(|c| c.get());
        (p != usize::MAX).then_some(p)
    }

    #[inline]
    fn safepoint(&self) {
        // Acquire: pairs with the Release store in `stop_the_world`.
        if self.stop_pending.load(Ordering::Acquire) && self.current_p().is_some() {
            self.park_until(&|_| true);
        }
    }

    fn stop_the_world(&self, reason: StwReason) -> WorldStopped {
        let p = MOCK_P.with(|c| c.get());
        // Registers spilled: while we wait for another stopper, our own P
        // counts as stopped and another stopper may scan our stack.
        with_spilled_registers(|sp| {
            let mut st = self.state.lock();
            if p != usize::MAX {
                st.ps[p].status = MockPStatus::Parked;
                st.ps[p].sp = sp;
                self.parked_cv.notify_all();
            }
            while st.stopper {
                st = self.resume_cv.wait(st);
            }
            st.stopper = true;
            IS_STOPPER.with(|c| c.set(true));
            // Release: pairs with the Acquire load in `safepoint`.
            self.stop_pending.store(true, Ordering::Release);
            while st
                .ps
                .iter()
                .any(|s| s.owner && s.status == MockPStatus::Running)
            {
                st = self.parked_cv.wait(st);
            }
            st.stopped = true;
            st.stops += 1;
        });
        // SAFETY: every owned P is Parked (at a safepoint, blocked in the
        // host, or our own), and none resumes while `stopper` is set.
        unsafe { WorldStopped::new_unchecked(reason) }
    }

    fn start_the_world(&self, token: WorldStopped) {
        let p = MOCK_P.with(|c| c.get());
        let mut st = self.state.lock();
        if !IS_STOPPER.with(|c| c.replace(false)) || !st.stopped {
            crate::rt_throw!("MockHost: start_the_world by a thread that did not stop it");
        }
        let _ = token;
        st.stopped = false;
        st.stopper = false;
        self.stop_pending.store(false, Ordering::Relaxed);
        if p != usize::MAX {
            st.ps[p].status = MockPStatus::Running;
        }
        self.resume_cv.notify_all();
    }

    fn scan_roots(&self, _w: &WorldStopped, roots: &mut dyn RootVisitor) {
        let me = MOCK_P.with(|c| c.get());
        // Our own stack (if we are a mutator) is scanned from here, with our
        // registers spilled now: the collector's frames below our caller's
        // are included, which only adds candidates.
        with_spilled_registers(|sp| {
            let st = self.state.lock();
            for (i, s) in st.ps.iter().enumerate() {
                if !s.owner {
                    continue;
                }
                let lo = if i == me { sp } else { s.sp };
                roots.visit_range(RangeKind::Stack, lo, s.top);
            }
            for &(a, b, _) in &st.pending_closures {
                roots.visit_range(RangeKind::RuntimeHeld, a, b);
            }
            for m in &st.mailboxes {
                let (x, y) = m.as_slices();
                for part in [x, y] {
                    let r = part.as_ptr_range();
                    roots.visit_range(RangeKind::RuntimeHeld, r.start as usize, r.end as usize);
                }
            }
        })
    }

    fn spawn_mark_worker(&self, mode: MarkWorkerMode, worker: crate::mark::MarkWorker) {
        std::thread::Builder::new()
            .name(format!("gc-mark-{}", mode.name()))
            .spawn(move || worker.run())
            .expect("MockHost: spawn mark worker");
    }

    fn spawn_background_sweeper(&self, sweeper: crate::sweep::BackgroundSweeper) {
        std::thread::Builder::new()
            .name("gc-sweep".into())
            .spawn(move || sweeper.run())
            .expect("MockHost: spawn sweeper");
    }

    fn block_until(&self, done: &dyn Fn() -> bool) {
        self.park_until(&|_| done());
    }

    fn cycle_done(&self) {
        let _st = self.state.lock();
        self.resume_cv.notify_all();
    }

    fn wake_blocked(&self) {
        let _st = self.state.lock();
        self.resume_cv.notify_all();
    }
}
