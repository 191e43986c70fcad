//! The frame-pointer walk: return PCs from a chain of saved frame pointers,
//! bounded so that it is safe on any register values — including a signal
//! that interrupts a function's prologue, a context switch half done, or a
//! corrupted stack.
//!
//! See [crate::cpu] for the overview. gort builds with
//! `-C force-frame-pointers=yes` (`.cargo/config.toml`), so every Rust
//! frame starts with the record `[fp] = caller's fp, [fp + 8] = return PC`
//! (x86_64 `push rbp; mov rbp, rsp`; aarch64 `stp x29, x30, [sp, #-N]!;
//! mov x29, sp`). The walk follows `fp → [fp]` and collects `[fp + 8]`.
//!
//! # Why it cannot run off into garbage
//!
//! Every frame pointer is checked **before** it is dereferenced:
//!
//! 1. it lies in the one stack the walk started on, `[max(lo, sp), hi − 16]`
//!    — the goroutine's stack (bounds from the scheduler) or the OS
//!    thread's (recorded when the thread registered, never computed in the
//!    handler); everything between the interrupted `sp` and the stack's top
//!    is mapped, so no read can fault;
//! 2. it is 8-byte aligned;
//! 3. it is strictly above the previous one (stacks grow down, callers live
//!    above callees), so the walk terminates;
//!
//! and every return PC must lie in executable code of a loaded object
//! (the `PT_LOAD` segments with `PF_X`, recorded when profiling starts).
//! The first check that fails ends the walk; a zero frame pointer (the end
//! marker the scheduler puts under every goroutine's first frame, and the
//! ABI's under a thread's) ends it too. At most [`super::ring::MAX_STACK`]
//! PCs are taken.
//!
//! # What it cannot see
//!
//! Code without frame pointers (most of libc, the vDSO) does not push a
//! record: a sample whose leaf is in such a function shows the leaf, then
//! skips to its caller's caller. A signal landing between `push rbp` and
//! `mov rbp, rsp` (or in the epilogue) skips the caller the same way. Go's
//! own frame-pointer unwinder has the same blind spots.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::OnceLock;

/// Walks the frame-pointer chain starting at `fp` and writes the return
/// PCs it finds into `out` (leaf-most first). Returns how many it wrote.
///
/// The stack is `[lo, hi)`, the interrupted stack pointer `sp`; see the
/// module doc for the checks. `is_text(pc)` says whether a return PC lies
/// in executable code.
///
/// # Safety
///
/// `[max(lo, sp), hi)` must be readable memory for the whole call.
pub unsafe fn walk_frames(
    fp: usize,
    sp: usize,
    lo: usize,
    hi: usize,
    is_text: &dyn Fn(u64) -> bool,
    out: &mut [u64],
) -> usize {
    let lo = lo.max(sp);
    let mut fp = fp;
    let mut n = 0;
    while n < out.len() {
        if fp < lo || !fp.is_multiple_of(8) || hi < 16 || fp > hi - 16 {
            break;
        }
        // SAFETY: [fp, fp + 16) is inside [lo, hi), which the caller
        // guarantees readable; fp is 8-aligned.
        let (next, ret) = unsafe {
            (
                core::ptr::read_volatile(fp as *const usize),
                core::ptr::read_volatile((fp + 8) as *const usize),
            )
        };
        if ret == 0 || !is_text(ret as u64) {
            break;
        }
        out[n] = ret as u64;
        n += 1;
        if next <= fp {
            break; // 0 (end of chain) or not moving up: stop
        }
        fp = next;
    }
    n
}

// ---------------------------------------------------------------------------
// Stack bounds

/// The registered "where is the current goroutine's stack" function (a
/// `fn() -> Option<(usize, usize)>` as usize; 0 = none).
static GOROUTINE_BOUNDS: AtomicUsize = AtomicUsize::new(0);

/// Tells the walker how to find the calling goroutine's stack `[lo, hi)`.
/// The runtime facade registers the scheduler's
/// `current_goroutine_stack_bounds` here (the profiler does not depend on
/// the scheduler). `f` must be async-signal-safe: it is called from the
/// SIGPROF handler.
pub fn set_goroutine_stack_bounds(f: fn() -> Option<(usize, usize)>) {
    // Release: pairs with the Acquire in `goroutine_bounds`.
    GOROUTINE_BOUNDS.store(f as usize, Release);
}

pub(crate) fn goroutine_bounds() -> Option<(usize, usize)> {
    // Acquire: pairs with the Release in `set_goroutine_stack_bounds`.
    let f = GOROUTINE_BOUNDS.load(Acquire);
    if f == 0 {
        return None;
    }
    // SAFETY: non-zero values are `fn() -> Option<(usize, usize)>` pointers
    // stored by `set_goroutine_stack_bounds`.
    let f: fn() -> Option<(usize, usize)> = unsafe { core::mem::transmute(f) };
    f()
}

/// The registered "where is this OS thread's stack" function (0 = none).
static THREAD_BOUNDS: AtomicUsize = AtomicUsize::new(0);

/// Tells the walker how to find the calling OS thread's own stack `[lo,
/// hi)` when it is not on a goroutine stack (the scheduler's Ms on their g0
/// stacks). The runtime facade registers the scheduler's
/// `hooks::current_thread_stack_bounds`. `f` must be async-signal-safe.
/// Threads registered with [`super::register_current_thread`] need no such
/// function: their bounds are recorded when they register.
pub fn set_thread_stack_bounds(f: fn() -> Option<(usize, usize)>) {
    // Release: pairs with the Acquire in `registered_thread_bounds`.
    THREAD_BOUNDS.store(f as usize, Release);
}

fn registered_thread_bounds() -> Option<(usize, usize)> {
    // Acquire: pairs with the Release in `set_thread_stack_bounds`.
    let f = THREAD_BOUNDS.load(Acquire);
    if f == 0 {
        return None;
    }
    // SAFETY: non-zero values are `fn() -> Option<(usize, usize)>` pointers
    // stored by `set_thread_stack_bounds`.
    let f: fn() -> Option<(usize, usize)> = unsafe { core::mem::transmute(f) };
    f()
}

thread_local! {
    /// This OS thread's stack `[lo, hi)`, recorded by `record_thread_stack`
    /// ((0, 0) = not yet). Const-initialized with no destructor: reading it
    /// is a plain TLS load, safe in a signal handler.
    static THREAD_STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Records the calling thread's stack bounds (pthread_getattr_np) for
/// later walks on this thread; returns them. Not for signal handlers.
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
pub(crate) fn record_thread_stack() -> (usize, usize) {
    let cur = THREAD_STACK.with(|c| c.get());
    if cur != (0, 0) {
        return cur;
    }
    // SAFETY: attr is initialised by pthread_getattr_np before use and
    // destroyed after; the out-pointers are valid locals.
    let b = unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            (0, 0)
        } else {
            let mut addr: *mut libc::c_void = core::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            if r != 0 {
                (0, 0)
            } else {
                (addr as usize, addr as usize + size)
            }
        }
    };
    THREAD_STACK.with(|c| c.set(b));
    b
}

/// The calling thread's recorded stack bounds ((0, 0) if never recorded).
/// Async-signal-safe.
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
pub(crate) fn thread_bounds() -> (usize, usize) {
    THREAD_STACK.with(|c| c.get())
}

/// The stack `[lo, hi)` that contains `sp` and `fp`: the current
/// goroutine's, else the thread's (registered function, else recorded at
/// registration), else none. Async-signal-safe.
pub(crate) fn stack_of(fp: usize, sp: usize) -> Option<(usize, usize)> {
    let inside = |(lo, hi): (usize, usize)| lo <= sp && sp <= fp && fp < hi;
    if let Some(b) = goroutine_bounds() {
        if inside(b) {
            return Some(b);
        }
    }
    if let Some(b) = registered_thread_bounds() {
        if inside(b) {
            return Some(b);
        }
    }
    let t = thread_bounds();
    inside(t).then_some(t)
}

// ---------------------------------------------------------------------------
// Executable code

/// `[lo, hi)` of every executable segment loaded when first asked (the
/// program, libc, the vDSO, ...). Filled once, outside signal handlers;
/// read by them through `OnceLock::get` (one atomic load).
static TEXT: OnceLock<Box<[(u64, u64)]>> = OnceLock::new();

/// Records the executable segments (idempotent). Call before the first
/// signal-handler walk.
pub(crate) fn record_text_segments() {
    TEXT.get_or_init(|| {
        let mut v: Vec<(u64, u64)> = Vec::new();
        unsafe extern "C" fn cb(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: data is the Vec passed below; info is valid during
            // the callback.
            let (v, info) = unsafe { (&mut *(data as *mut Vec<(u64, u64)>), &*info) };
            for i in 0..info.dlpi_phnum as usize {
                // SAFETY: dlpi_phdr has dlpi_phnum entries.
                let ph = unsafe { &*info.dlpi_phdr.add(i) };
                if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                    let lo = info.dlpi_addr + ph.p_vaddr;
                    v.push((lo, lo + ph.p_memsz));
                }
            }
            0
        }
        // SAFETY: the callback matches the signature and only touches `v`.
        unsafe { libc::dl_iterate_phdr(Some(cb), &mut v as *mut _ as *mut libc::c_void) };
        v.into_boxed_slice()
    });
}

/// Whether `pc` lies in a recorded executable segment. Async-signal-safe.
pub(crate) fn is_text(pc: u64) -> bool {
    match TEXT.get() {
        Some(t) => t.iter().any(|&(lo, hi)| lo <= pc && pc < hi),
        None => false,
    }
}

// ---------------------------------------------------------------------------
// callers

/// Go's `runtime.Callers`: the return PCs of the calling thread's stack,
/// leaf first, by a frame-pointer walk bounded as described in the module
/// doc. `skip = 0` starts with the return PC into the function that called
/// `callers`; each `skip` drops one more frame. Returns how many PCs were
/// written to `buf`. Turn them into frames with
/// [`crate::symbolize::symbolize`].
#[inline(never)]
pub fn callers(skip: usize, buf: &mut [u64]) -> usize {
    record_text_segments();
    let fp = frame_address();
    let sp = fp;
    // On a goroutine the scheduler knows the bounds; an OS thread's are
    // recorded on its first call (pthread_getattr_np, once per thread).
    let Some((lo, hi)) = stack_of(fp, sp).or_else(|| {
        record_thread_stack();
        stack_of(fp, sp)
    }) else {
        return 0;
    };
    let mut tmp = [0u64; super::ring::MAX_STACK];
    let want = (skip + buf.len()).min(tmp.len());
    // SAFETY: [sp, hi) is the live part of the stack we run on.
    let n = unsafe { walk_frames(fp, sp, lo, hi, &is_text, &mut tmp[..want]) };
    let got = n.saturating_sub(skip).min(buf.len());
    buf[..got].copy_from_slice(&tmp[skip..skip + got]);
    got
}

/// This function's own frame pointer (its record holds the return PC into
/// `callers`'s caller chain: the first PC walked is the return into
/// `callers`' caller).
#[inline(always)]
fn frame_address() -> usize {
    let fp: usize;
    // SAFETY: reads the frame-pointer register; no memory is touched.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake stack of `words` words at a known place: frames chained by
    /// index, return PCs from the `pcs` list.
    struct FakeStack {
        mem: Vec<usize>,
    }

    impl FakeStack {
        fn base(&self) -> usize {
            self.mem.as_ptr() as usize
        }
        fn addr(&self, i: usize) -> usize {
            self.base() + i * 8
        }
        fn bounds(&self) -> (usize, usize) {
            (self.base(), self.base() + self.mem.len() * 8)
        }
        /// Puts a frame record at word `i`: [i] = fp (address of word
        /// `next`, or a raw value), [i + 1] = return PC.
        fn frame(&mut self, i: usize, next_fp: usize, ret: usize) {
            self.mem[i] = next_fp;
            self.mem[i + 1] = ret;
        }
    }

    fn text(pc: u64) -> bool {
        (0x1000..0x2000).contains(&pc)
    }

    fn run(s: &FakeStack, start: usize, max: usize) -> Vec<u64> {
        let (lo, hi) = s.bounds();
        let mut out = vec![0u64; max];
        // SAFETY: the bounds are those of `s.mem`.
        let n = unsafe { walk_frames(s.addr(start), s.addr(start), lo, hi, &text, &mut out) };
        out.truncate(n);
        out
    }

    fn chain() -> FakeStack {
        let mut s = FakeStack { mem: vec![0; 64] };
        let (a, b, c) = (s.addr(10), s.addr(20), s.addr(30));
        s.frame(2, a, 0x1100);
        s.frame(10, b, 0x1200);
        s.frame(20, c, 0x1300);
        s.frame(30, 0, 0x1400); // end of chain
        s
    }

    #[test]
    fn walks_a_good_chain_to_its_zero_end() {
        let s = chain();
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300, 0x1400]);
        assert_eq!(run(&s, 2, 2), [0x1100, 0x1200], "bounded by out.len()");
    }

    #[test]
    fn stops_at_a_frame_pointer_outside_the_stack() {
        let mut s = chain();
        s.mem[20] = 0x10; // points far below the stack
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300]);
        let mut s = chain();
        s.mem[20] = usize::MAX - 7; // far above (8-aligned)
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300]);
        let mut s = chain();
        let top = s.bounds().1;
        s.mem[20] = top - 8; // record would straddle the top
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300]);
    }

    #[test]
    fn stops_at_misaligned_or_downward_frame_pointers() {
        let mut s = chain();
        s.mem[10] = s.addr(20) + 3; // misaligned
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200]);
        let mut s = chain();
        s.mem[20] = s.addr(10); // a loop back down
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300]);
        let mut s = chain();
        s.mem[20] = s.addr(20); // a self-loop
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200, 0x1300]);
    }

    #[test]
    fn stops_at_a_return_pc_outside_code() {
        let mut s = chain();
        s.mem[21] = 0xdead_beef;
        assert_eq!(run(&s, 2, 64), [0x1100, 0x1200]);
        let mut s = chain();
        s.mem[11] = 0;
        assert_eq!(run(&s, 2, 64), [0x1100]);
    }

    #[test]
    fn never_reads_below_sp() {
        let s = chain();
        let (lo, hi) = s.bounds();
        let mut out = [0u64; 8];
        // sp above the first frame: the first record is not trusted.
        // SAFETY: bounds of s.mem.
        let n = unsafe { walk_frames(s.addr(2), s.addr(5), lo, hi, &text, &mut out) };
        assert_eq!(n, 0);
    }

    #[inline(never)]
    fn depth(k: usize, buf: &mut [u64]) -> usize {
        if k == 0 {
            callers(0, buf)
        } else {
            let n = depth(k - 1, buf);
            std::hint::black_box(n)
        }
    }

    #[test]
    fn callers_sees_real_recursion() {
        let mut buf = [0u64; 32];
        let n = depth(5, &mut buf);
        // depth(0) returns into depth(1) .. depth(5): 5 identical return
        // sites, then the test function.
        assert!(n >= 7, "{n}");
        assert!(buf[..n].iter().all(|&pc| is_text(pc)));
        assert_eq!(buf[1], buf[2]);
        assert_eq!(buf[2], buf[4]);
        let mut one = [0u64; 1];
        assert_eq!(depth(5, &mut one), 1);
        let mut skipped = [0u64; 4];
        let m = {
            #[inline(never)]
            fn s(buf: &mut [u64]) -> usize {
                // not a tail call: `s` keeps its frame
                std::hint::black_box(callers(1, buf))
            }
            s(&mut skipped)
        };
        assert!(m >= 1);
        let frames = crate::symbolize::symbolize(&skipped[..1]);
        assert!(
            frames
                .last()
                .unwrap()
                .function
                .ends_with("callers_sees_real_recursion"),
            "{frames:?}"
        );
    }
}
