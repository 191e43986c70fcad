//! The goroutine descriptor (G) and its states.
//!
//! See [crate] for the overview. A G lives in the top bytes of its own stack
//! (`stack.rs`), so it is never freed: a dead G stays on a free list with its
//! stack and is reused by the next `go`.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*,
};
use crate::park::ParkState;
use crate::scanstate::ScanState;
use crate::sched::M;

/// The state of a goroutine (Go's `_G*` values, same numbers).
///
/// Allowed transitions:
/// `Idle → Runnable` (spawn), `Runnable → Running` (an M picks it),
/// `Running → Runnable` (gosched, preemption, stop for a STW),
/// `Running → Waiting` (park), `Waiting → Runnable` (unpark),
/// `Running → Dead` (exit), `Dead → Runnable` (reuse by spawn),
/// `Running → Syscall` (it leaves its P: `preempt.rs`), `Syscall → Running`
/// (it takes a P back), `Syscall → Runnable` (it waits for a P on the
/// global queue, locked to its M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GStatus {
    /// Just carved out of a fresh stack; never run.
    Idle = 0,
    /// On a run queue (or about to be). Nobody runs on its stack; its saved
    /// stack pointer is valid; the run queue owns it.
    Runnable = 1,
    /// Running on an M that holds a P. The M owns the stack; the saved stack
    /// pointer is stale.
    Running = 2,
    /// Running on its M without a P: blocked in a system call, in a long
    /// run sysmon took the P from, or suspended in the preemption handler.
    /// The M owns the stack; the saved stack pointer is valid only while
    /// the M is suspended (`M::susp`, or the world is stopped).
    Syscall = 3,
    /// Parked: off every run queue, waiting for a waker. Nobody runs on its
    /// stack; the saved stack pointer is valid; whoever readies it owns it.
    Waiting = 4,
    /// Finished; on a free list with its stack (the pool owns it).
    Dead = 6,
}

impl GStatus {
    /// Go's name of the state, as in goroutine dumps.
    pub fn name(self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::Dead => "dead",
        }
    }

    pub(crate) fn from_u8(v: u8) -> GStatus {
        match v {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            6 => GStatus::Dead,
            _ => crate::rt_throw!("bad goroutine status {v}"),
        }
    }
}

/// Why a goroutine is parked (Go's `waitReason`, shown in goroutine dumps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitReason {
    /// Not waiting.
    None = 0,
    /// `<-ch`.
    ChanReceive = 1,
    /// `ch <- v`.
    ChanSend = 2,
    /// `select` with no ready case.
    Select = 3,
    /// `time.Sleep`.
    Sleep = 4,
    /// `WaitGroup::wait`.
    WaitGroup = 5,
    /// `Mutex::lock`.
    Mutex = 6,
    /// Waiting for the garbage collector (the runtime's own parks).
    GcWait = 7,
    /// Parked through [`park`](crate::park) with no more specific reason.
    Other = 8,
}

impl WaitReason {
    /// Go's spelling, as in `goroutine 7 [chan receive]:`.
    pub fn name(self) -> &'static str {
        match self {
            WaitReason::None => "",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::WaitGroup => "semacquire",
            WaitReason::Mutex => "sync.Mutex.Lock",
            WaitReason::GcWait => "GC worker (idle)",
            WaitReason::Other => "wait",
        }
    }

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        match v {
            1 => WaitReason::ChanReceive,
            2 => WaitReason::ChanSend,
            3 => WaitReason::Select,
            4 => WaitReason::Sleep,
            5 => WaitReason::WaitGroup,
            6 => WaitReason::Mutex,
            7 => WaitReason::GcWait,
            8 => WaitReason::Other,
            _ => WaitReason::None,
        }
    }
}

/// The start closure's entry and its address on the goroutine's stack.
pub(crate) type StartFn = (Option<unsafe fn(*mut u8)>, usize);

/// A goroutine.
///
/// # Fields
///
/// | field | protection |
/// |---|---|
/// | `sp`, `start` | owned by whoever owns the G (see [`GStatus`]); handed over through run queues and [`ParkState`] (Release/Acquire) |
/// | `lo`, `hi` | immutable after creation |
/// | `goid`, `parent`, `creator_pc` | written by the spawner before the G is published; read anywhere |
/// | `status`, `preempt`, `select_done`, `wait_reason` | atomics (see each) |
/// | `schedlink` | protected by the lock of the list the G is on (global queue, free list); on the lock-free `preempted` stack, by its push/take protocol (`handoff.rs`) |
/// | `m` | written by the M that runs it; read racily by sysmon |
/// | `lockedm` | written by the G's own M before it queues the G (Release on the queue) |
/// | `pins` | written by the G's runner when it switches out and in |
/// | `scan` | atomic; the stack-scan claim protocol (`scanstate.rs`) |
/// | `profiled` | atomic; the same protocol for goroutine profiles (`gprofile.rs`) |
/// | `track_seq`, `runnable_since` | owned by whoever owns the G, like `sp` (scheduling-latency sampling, `metrics.rs`) |
/// | `labels` | atomic; written by the G itself (and by the spawner before the G is published); read by anyone, the SIGPROF handler included |
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct G {
    /// Saved stack pointer, valid while not `Running`.
    pub(crate) sp: UnsafeCell<usize>,
    /// Goroutine id (Go's goid; main is 1).
    pub(crate) goid: AtomicU64,
    /// The spawning goroutine's id.
    pub(crate) parent: AtomicU64,
    /// Return PC of the `go` call that created this goroutine (Go's
    /// `gopc`), for the `created by` line of goroutine dumps; 0 for the
    /// main goroutine and when unknown (see [`crate::go`]).
    pub(crate) creator_pc: AtomicUsize,
    /// A [`GStatus`] as u8.
    pub(crate) status: AtomicU8,
    /// The park hand-shake.
    pub(crate) park: ParkState,
    /// Set by sysmon: yield at the next safepoint.
    pub(crate) preempt: AtomicBool,
    /// 0, or 1 + the index of the `select` case that woke this G (CAS'd by
    /// the waker; reset by the G before it parks in a select).
    pub(crate) select_done: AtomicU32,
    /// A [`WaitReason`] as u8.
    pub(crate) wait_reason: AtomicU8,
    /// Whether the stack's pages were returned to the OS while pooled.
    pub(crate) released: AtomicBool,
    /// Lowest address of the stack mapping (the guard page starts here).
    pub(crate) lo: usize,
    /// Top of the stack (this G's own address: the stack ends below it).
    pub(crate) hi: usize,
    /// The entry of the start closure and its address on this stack.
    pub(crate) start: UnsafeCell<StartFn>,
    /// Intrusive link for the global run queue and the free lists.
    pub(crate) schedlink: AtomicPtr<G>,
    /// The M running this G (stale when not running).
    pub(crate) m: AtomicPtr<M>,
    /// Non-null while a P-less G waits on a run queue for a P: only this M
    /// may run it (it was interrupted at an arbitrary instruction, and
    /// resumes on its own thread); the M that picks it hands over its P.
    pub(crate) lockedm: AtomicPtr<M>,
    /// Whether the collector scanned this stack in the current scan epoch
    /// (see `scanstate.rs`).
    pub(crate) scan: ScanState,
    /// Whether this goroutine's stack is recorded in the open goroutine
    /// profile (the same claim protocol on another word, with the profile
    /// epochs of `gprofile.rs`).
    pub(crate) profiled: ScanState,
    /// Pins the G held when it last switched out (beyond the switch's own),
    /// restored on its next M when it resumes. Written by the G's runner.
    pub(crate) pins: AtomicU32,
    /// Whether this is a **foreign G**: the stand-in of a thread outside the
    /// scheduler (a plain `std::thread`) for a blocking operation; it has
    /// no stack of its own and is never on a run queue. Immutable.
    pub(crate) foreign: bool,
    /// A foreign G's wake-up word: set to 1 by its waker, futex-waited on
    /// by its thread.
    pub(crate) fwake: AtomicU32,
    /// How many times the G became runnable (mod 256): every
    /// `G_TRACKING_PERIOD`th runnable period is timed (`metrics.rs`).
    pub(crate) track_seq: AtomicU8,
    /// Monotonic ns when this runnable period began, if it is timed; else 0.
    pub(crate) runnable_since: AtomicU64,
    /// The goroutine's profiler labels: the word of an interned
    /// `gort_profiler::labels::LabelSet` (0: none). Copied from the
    /// spawner in `newproc` (Go's `newproc1` copies `gp.labels`).
    pub(crate) labels: AtomicUsize,
}

// SAFETY: every field is either atomic, immutable, or an UnsafeCell whose
// ownership is handed over with Release/Acquire as documented above.
unsafe impl Sync for G {}
// SAFETY: as above.
unsafe impl Send for G {}

impl G {
    /// Writes a fresh G at the top of the stack `[lo, hi)` and returns it.
    ///
    /// # Safety
    ///
    /// `[lo, hi)` must be a stack from `StackArena::alloc` that nobody uses.
    pub(crate) unsafe fn create(lo: usize, hi: usize) -> *mut G {
        let at = (hi - core::mem::size_of::<G>()) & !(core::mem::align_of::<G>() - 1);
        let g = at as *mut G;
        // SAFETY: `at` is aligned for G and inside our unused stack.
        unsafe {
            g.write(G {
                sp: UnsafeCell::new(0),
                goid: AtomicU64::new(0),
                parent: AtomicU64::new(0),
                creator_pc: AtomicUsize::new(0),
                status: AtomicU8::new(GStatus::Idle as u8),
                park: ParkState::new(),
                preempt: AtomicBool::new(false),
                select_done: AtomicU32::new(0),
                wait_reason: AtomicU8::new(0),
                released: AtomicBool::new(false),
                lo,
                hi: at,
                start: UnsafeCell::new((None, 0)),
                schedlink: AtomicPtr::new(core::ptr::null_mut()),
                m: AtomicPtr::new(core::ptr::null_mut()),
                lockedm: AtomicPtr::new(core::ptr::null_mut()),
                scan: ScanState::new(),
                profiled: ScanState::new(),
                pins: AtomicU32::new(0),
                foreign: false,
                fwake: AtomicU32::new(0),
                track_seq: AtomicU8::new(0),
                runnable_since: AtomicU64::new(0),
                labels: AtomicUsize::new(0),
            })
        };
        g
    }

    /// A foreign G for the calling thread (see [`G::foreign`]); leaked (one
    /// per thread that ever blocks in a gort operation).
    pub(crate) fn create_foreign() -> *mut G {
        let g = Box::new(G {
            sp: UnsafeCell::new(0),
            goid: AtomicU64::new(0),
            parent: AtomicU64::new(0),
            creator_pc: AtomicUsize::new(0),
            status: AtomicU8::new(GStatus::Running as u8),
            park: ParkState::new(),
            preempt: AtomicBool::new(false),
            select_done: AtomicU32::new(0),
            wait_reason: AtomicU8::new(0),
            released: AtomicBool::new(false),
            lo: 0,
            hi: 0,
            start: UnsafeCell::new((None, 0)),
            schedlink: AtomicPtr::new(core::ptr::null_mut()),
            m: AtomicPtr::new(core::ptr::null_mut()),
            lockedm: AtomicPtr::new(core::ptr::null_mut()),
            scan: ScanState::new(),
            profiled: ScanState::new(),
            pins: AtomicU32::new(0),
            foreign: true,
            fwake: AtomicU32::new(0),
            track_seq: AtomicU8::new(0),
            runnable_since: AtomicU64::new(0),
            labels: AtomicUsize::new(0),
        });
        Box::into_raw(g)
    }

    pub(crate) fn status(&self) -> GStatus {
        GStatus::from_u8(self.status.load(Acquire))
    }

    pub(crate) fn set_status(&self, s: GStatus) {
        // Release: pairs with Acquire loads in `status` (STW enumeration,
        // goroutine dumps): the saved sp is written before.
        self.status.store(s as u8, Release);
    }

    /// The saved stack pointer.
    ///
    /// # Safety
    ///
    /// The caller must own the G (it is not running) or the world must be
    /// stopped.
    pub(crate) unsafe fn saved_sp(&self) -> usize {
        // SAFETY: forwarded from the caller.
        self.sp.with(|p| unsafe { *p })
    }

    pub(crate) fn goid(&self) -> u64 {
        self.goid.load(Relaxed)
    }
}
