//! Goroutine stacks: mapped by gort, guard page below, pooled.
//!
//! See [crate] for the overview. A **stack** is a fixed-size, page-aligned
//! region of a **stack chunk**, one anonymous mapping (memmap2, `MAP_STACK`,
//! `MAP_NORESERVE`, no transparent huge pages) of about [`CHUNK_BYTES`]
//! holding `stacks_per_chunk` stacks. Rust frames cannot be moved, so a
//! stack never grows by copying as Go's do: its size is reserved up front
//! and is the most the goroutine's frames may ever use — gort's **max
//! stack** (Go's `debug.SetMaxStack`; default [`DEFAULT_STACK_SIZE`] =
//! 8 MiB, set with [`Config::stack_size`](crate::Config::stack_size), the
//! `gort` builder's `max_stack` or `GORT_MAXSTACK`). Only touched pages
//! cost memory, so a parked goroutine costs the one or two pages it touched
//! however large its reservation.
//!
//! ```text
//! one stack (stack size bytes):
//! lo                                                                    hi
//! | guard page | ........ frames grow downwards ........ | start closure | G |
//! ```
//!
//! * The lowest page is the **guard page**, installed when the stack is
//!   first carved from its chunk. It is installed with
//!   `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13), which creates *no* VMA:
//!   a chunk is one VMA however many stacks it holds, so a million 8 MiB
//!   stacks take about 2,000 VMAs, far below the default
//!   `vm.max_map_count` of 65530. On older kernels — or where the advice is
//!   accepted but ignored, as under qemu-user, which a one-time check
//!   detects — the fallback is `mprotect(PROT_NONE)`, which splits the chunk
//!   into two VMAs per stack; then about 32,000 goroutines fit under the
//!   default limit (the fallback is reported by [`guard_kind`]).
//! * The G (goroutine descriptor) lives in the top bytes of its own stack,
//!   so a G and its stack are one allocation; stacks are never unmapped, so
//!   a pointer to a G stays valid for the life of the process (Go's Gs are
//!   never freed either).
//! * A guard-page hit raises SIGSEGV; `signal.rs` recognises the address
//!   with `guard_hit` and reports `fatal error: stack overflow`.
//! * The collector scans a stack from its saved stack pointer to its top,
//!   so a bigger reservation costs scanning nothing.
//!
//! **What a big reservation costs.** Address space: a million 8 MiB stacks
//! reserve 8 TiB of the 128 TiB a process has (`MAP_NORESERVE`: no commit
//! charge under the default overcommit policy; under
//! `vm.overcommit_memory=2` the reservation counts and a smaller max stack
//! is needed). Page tables: a stack of 2 MiB or more has its top pages in a
//! 2 MiB region of its own, so each parked goroutine also pays one 4 KiB
//! page-table page (kernel memory, not RSS; shared with the next stack's
//! guard page, see `PTE_SPAN`), where 256 KiB stacks shared one among
//! eight.
//!
//! Pooling (the G free lists in `sched.rs`): a dead G keeps its stack. When
//! the global pool holds more than `POOL_CAP` (1024) stacks, sysmon's scavenger
//! returns the touched pages of the coldest ones (the pool is LIFO) with
//! `MADV_DONTNEED` (`release_pages`), at most 512 every 100 ms; doing it lazily keeps a
//! spawn burst from re-faulting pages it has just given back.

use crate::loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering::*};

/// The default stack size (Go's max stack, for gort), guard page
/// included: 8 MiB, as a Linux main thread's. Reserved address space only;
/// a goroutine pays RSS for the pages it touches (typically one or two
/// 4 KiB pages). Stacks do not grow (Rust frames cannot be moved; see the
/// crate essay), so this is also the limit a goroutine's frames must fit
/// in. Configurable with [`Config::stack_size`](crate::Config::stack_size).
pub const DEFAULT_STACK_SIZE: usize = 8 << 20;

/// The smallest stack size: smaller requests are rounded up to it.
pub const MIN_STACK_SIZE: usize = 16 << 10;

/// The largest stack size: bigger requests are clamped to it. 64 GiB
/// stacks leave room for about 2,000 goroutines in a 128 TiB address space.
pub const MAX_STACK_SIZE: usize = 64 << 30;

/// A stack chunk reserves about this much address space (at least one
/// stack): 512 stacks of 8 MiB, 16,384 of 256 KiB.
pub const CHUNK_BYTES: usize = 4 << 30;

/// Stacks per chunk for stacks of `size` bytes.
pub(crate) const fn stacks_per_chunk(size: usize) -> usize {
    if size >= CHUNK_BYTES {
        1
    } else {
        CHUNK_BYTES / size
    }
}

/// The stack size used for a request of `requested` bytes: clamped to
/// [`MIN_STACK_SIZE`]`..=`[`MAX_STACK_SIZE`] and rounded up to whole pages
/// of `page` bytes (a power of two). Never overflows.
pub(crate) const fn stack_size_for(requested: usize, page: usize) -> usize {
    let s = if requested < MIN_STACK_SIZE {
        MIN_STACK_SIZE
    } else if requested > MAX_STACK_SIZE {
        MAX_STACK_SIZE
    } else {
        requested
    };
    s.div_ceil(page) * page
}

/// Pooled stacks above this number get their pages returned to the OS.
pub(crate) const POOL_CAP: usize = 1024;

/// Capacity of the chunk table the signal handler reads: enough chunks of
/// [`CHUNK_BYTES`] to cover a 48-bit address space, so the table runs out
/// only after the address space has.
const MAX_CHUNKS: usize = (1 << 48) / CHUNK_BYTES;

/// Base address of every chunk, in creation order. Append-only: written
/// under the allg lock (`Sched::allg`), read lock-free by the SIGSEGV handler
/// (Acquire on [`NCHUNKS`] pairs with the Release store that publishes a new
/// chunk). In `.bss`: entries never written cost no memory.
static CHUNK_BASES: [AtomicUsize; MAX_CHUNKS] = [const { AtomicUsize::new(0) }; MAX_CHUNKS];
/// Number of valid entries in [`CHUNK_BASES`].
static NCHUNKS: AtomicUsize = AtomicUsize::new(0);
/// Stack slots handed out so far, over all chunks in order (slots are
/// carved in address order, chunk after chunk, and reused with their G,
/// never returned): slots at or past it were never used, so no page of
/// theirs is resident.
static CARVED: AtomicUsize = AtomicUsize::new(0);
/// The stack size of this process (fixed at scheduler start).
static STACK_SIZE: AtomicUsize = AtomicUsize::new(DEFAULT_STACK_SIZE);
/// How guard pages are installed: 0 unknown, 1 MADV_GUARD_INSTALL, 2 mprotect.
static GUARD_KIND: AtomicU8 = AtomicU8::new(0);

/// `MADV_GUARD_INSTALL` (Linux 6.13, `include/uapi/asm-generic/mman-common.h`).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How this process installs guard pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`: no extra VMA per stack.
    MadviseGuard,
    /// `mprotect(PROT_NONE)`: two VMAs per stack (kernels before 6.13).
    Mprotect,
}

/// The guard-page mechanism in use (`None` before the first stack exists).
pub fn guard_kind() -> Option<GuardKind> {
    match GUARD_KIND.load(Relaxed) {
        1 => Some(GuardKind::MadviseGuard),
        2 => Some(GuardKind::Mprotect),
        _ => None,
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p <= 0 {
        4096
    } else {
        p as usize
    }
}

/// Sets the process-wide stack size (already clamped and rounded by
/// [`stack_size_for`]); called once at scheduler start.
pub(crate) fn set_stack_size(size: usize) {
    STACK_SIZE.store(size, Relaxed);
}

/// The process-wide stack size.
pub(crate) fn stack_size() -> usize {
    STACK_SIZE.load(Relaxed)
}

/// Reserved stack memory: (chunks mapped × chunk size).
pub(crate) fn stack_sys_bytes() -> usize {
    let size = stack_size();
    NCHUNKS.load(Relaxed) * stacks_per_chunk(size) * size
}

/// Pages [`resident_below`] asks `mincore` about first.
const FIRST_WINDOW_PAGES: usize = 16;

/// Resident bytes of the stack `[lo, hi)` (guard page excluded), counted
/// from the top down in windows that double in size, until a window's
/// lowest page is absent. A stack's touched pages are one run below its
/// top (stack probes touch every page a frame spans), so one `mincore`
/// call usually answers for a parked goroutine, however big its
/// reservation; a hole at a window's lowest page ends the count early.
fn resident_below(lo: usize, hi: usize, page: usize, vec: &mut Vec<u8>) -> usize {
    let floor = lo + page;
    let (mut end, mut window, mut resident) = (hi, FIRST_WINDOW_PAGES, 0);
    while end > floor {
        let start = end.saturating_sub(window * page).max(floor);
        let n = (end - start) / page;
        vec.clear();
        vec.resize(n, 0);
        // SAFETY: `start..end` lies inside one of our stack mappings (never
        // unmapped), page aligned, and `vec` has one byte per page.
        let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
        if r != 0 {
            break;
        }
        let here = vec.iter().filter(|&&b| b & 1 != 0).count();
        if here == 0 {
            break;
        }
        resident += here * page;
        if vec[0] & 1 == 0 {
            // The run of touched pages ends inside this window: nothing
            // below it is resident (one call for a parked goroutine).
            break;
        }
        end = start;
        window = (window * 2).min(4096);
    }
    resident
}

/// Calls `f(top, resident_bytes)` for every stack slot with at least one
/// resident page (`mincore`, see [`resident_below`]). `top` is the slot's
/// top, where its G lives. Slots never carved are skipped (none of their
/// pages can be resident; a chunk reserves hundreds of stacks' address
/// space, and asking `mincore` about all of it cost ~0.5 ms per call).
pub(crate) fn for_each_resident_stack(mut f: impl FnMut(usize, usize)) {
    let size = stack_size();
    let page = page_size();
    let per_chunk = stacks_per_chunk(size);
    let mut vec = Vec::new();
    // Acquire: pairs with the Release in `map_chunk`.
    let n = NCHUNKS.load(Acquire);
    // Relaxed: a stale count only leaves out slots carved just now (counted
    // next time); slots of chunks past `n` are not visited whatever it says.
    let carved = CARVED.load(Relaxed);
    for (ci, c) in CHUNK_BASES.iter().take(n).enumerate() {
        let base = c.load(Relaxed);
        for slot in 0..per_chunk.min(carved.saturating_sub(ci * per_chunk)) {
            let lo = base + slot * size;
            let resident = resident_below(lo, lo + size, page, &mut vec);
            if resident > 0 {
                f(lo + size, resident);
            }
        }
    }
}

/// Carves stacks out of chunks. Protected by the allg lock (`Sched::allg`).
#[derive(Debug, Default)]
pub(crate) struct StackArena {
    /// Base of the chunk being carved (0: none yet).
    chunk: usize,
    /// Next free index in `chunk`.
    next: usize,
}

impl StackArena {
    /// Returns `(lo, hi)` of a fresh stack, its guard page installed: `lo`
    /// is the bottom of its guard page, `hi` its top. Throws if the address
    /// space is exhausted.
    pub(crate) fn alloc(&mut self) -> (usize, usize) {
        let size = stack_size();
        if self.chunk == 0 || self.next == stacks_per_chunk(size) {
            self.chunk = map_chunk(size);
            self.next = 0;
        }
        let lo = self.chunk + self.next * size;
        self.next += 1;
        // Relaxed: a counter read by `for_each_resident_stack`, which reads
        // NCHUNKS (Acquire) first; this slot's pages are touched only after
        // it is handed out, so a reader that misses it misses no page.
        CARVED.fetch_add(1, Relaxed);
        install_guard(lo, page_size());
        (lo, lo + size)
    }
}

/// The memory one page-table page maps (512 entries of 4 KiB on x86_64
/// and 4 KiB-page aarch64). A page-table page exists for every such span
/// holding a touched page or a guard marker; a parked goroutine touches
/// the top of its stack and its guard page is the bottom. Stacks begin half
/// a span past a span boundary, so with stack sizes that are multiples of
/// the span every boundary between two stacks lies mid-span: a stack's top
/// pages share their page-table page with the next stack's guard page, one
/// page-table page per goroutine instead of two.
const PTE_SPAN: usize = 2 << 20;

/// Maps a new chunk and publishes it to the signal handler's table. Guard
/// pages are installed as stacks are carved (a chunk may hold thousands).
fn map_chunk(size: usize) -> usize {
    let n = NCHUNKS.load(Relaxed);
    if n == MAX_CHUNKS {
        crate::rt_throw!("out of goroutine stack chunks ({MAX_CHUNKS} × {CHUNK_BYTES} bytes)");
    }
    let len = size * stacks_per_chunk(size);
    // The stacks start half a page-table span past a span boundary (see
    // `PTE_SPAN`): room for that offset is mapped too.
    let map = memmap2::MmapOptions::new()
        .len(len + PTE_SPAN)
        .stack()
        .no_reserve_swap()
        .map_anon()
        .unwrap_or_else(|e| crate::rt_throw!("cannot map goroutine stacks ({len} bytes): {e}"));
    // No transparent huge pages, even where the system turns them on for
    // everything: the first touch of a stack's top would fault in 2 MiB.
    // Advice only: a kernel without THP ignores it.
    let _ = map.advise(memmap2::Advice::NoHugePage);
    let raw = map.as_ptr() as usize;
    let base = (raw + PTE_SPAN / 2).next_multiple_of(PTE_SPAN) - PTE_SPAN / 2;
    // Stacks are never unmapped: a G lives at the top of its stack and Gs
    // are never freed, so the mapping must outlive every pointer to a G.
    std::mem::forget(map);
    CHUNK_BASES[n].store(base, Relaxed);
    // Release: pairs with the Acquire load in `guard_hit`; publishes the
    // base stored above.
    NCHUNKS.store(n + 1, Release);
    base
}

fn install_guard(addr: usize, page: usize) {
    if GUARD_KIND.load(Relaxed) != 2 {
        // SAFETY: `addr..addr+page` lies in a mapping we own and nobody
        // uses yet; madvise with an unknown advice fails with EINVAL.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) };
        if r == 0 && (GUARD_KIND.load(Relaxed) == 1 || guard_is_effective(addr)) {
            GUARD_KIND.store(1, Relaxed);
            return;
        }
        GUARD_KIND.store(2, Relaxed);
    }
    // SAFETY: as above; PROT_NONE on our own unused page.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, page, libc::PROT_NONE) };
    if r != 0 {
        crate::rt_throw!(
            "cannot install a stack guard page: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Checks once that an installed guard really faults: some environments
/// (qemu-user, for one) accept unknown `madvise` advice as a no-op. The
/// kernel copying one byte *from* the guard page into a pipe must fail with
/// `EFAULT`; if it succeeds the guard is not there.
fn guard_is_effective(addr: usize) -> bool {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return true; // cannot check; trust the kernel
    }
    // SAFETY: write(2) reads the buffer in the kernel; an inaccessible
    // buffer yields EFAULT instead of a signal. The descriptors are ours.
    let n = unsafe { libc::write(fds[1], addr as *const libc::c_void, 1) };
    // SAFETY: closing the descriptors we just created.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    n != 1
}

/// If `addr` lies in the guard page of some goroutine stack, returns that
/// stack's top (where its G lives). Async-signal-safe: atomics only.
pub(crate) fn guard_hit(addr: usize) -> Option<usize> {
    let size = STACK_SIZE.load(Relaxed);
    let page = page_size();
    // Acquire: pairs with the Release store in `map_chunk`.
    let n = NCHUNKS.load(Acquire);
    let chunk_len = size * stacks_per_chunk(size);
    for c in CHUNK_BASES.iter().take(n) {
        let base = c.load(Relaxed);
        if addr >= base && addr < base + chunk_len {
            let lo = base + (addr - base) / size * size;
            return if addr < lo + page {
                Some(lo + size)
            } else {
                None
            };
        }
    }
    None
}

/// Returns the pages of `[lo + guard, below_hi)` to the OS
/// (`MADV_DONTNEED`): the next touch reads zeros. The guard page stays.
///
/// # Safety
///
/// Nobody may be running on, or keep data in, that range.
pub(crate) unsafe fn release_pages(lo: usize, below_hi: usize) {
    let page = page_size();
    let start = lo + page;
    let end = below_hi & !(page - 1);
    if end > start {
        // SAFETY: the caller guarantees the range is unused stack memory
        // inside our own mapping.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_are_clamped_and_never_wrap() {
        let page = 4096;
        assert_eq!(stack_size_for(0, page), MIN_STACK_SIZE);
        assert_eq!(stack_size_for(DEFAULT_STACK_SIZE, page), DEFAULT_STACK_SIZE);
        assert_eq!(
            stack_size_for(DEFAULT_STACK_SIZE + 1, page),
            DEFAULT_STACK_SIZE + page
        );
        assert_eq!(stack_size_for(usize::MAX, page), MAX_STACK_SIZE);
        assert_eq!(stack_size_for(MAX_STACK_SIZE + 1, 1 << 16), MAX_STACK_SIZE);
    }

    #[test]
    fn the_chunk_table_covers_the_address_space() {
        // Whatever the stack size, MAX_CHUNKS chunks span at least 2^48
        // bytes: the table cannot run out before the address space does.
        for size in [
            MIN_STACK_SIZE,
            256 << 10,
            DEFAULT_STACK_SIZE,
            1 << 30,
            CHUNK_BYTES,
            MAX_STACK_SIZE,
        ] {
            let chunk = stacks_per_chunk(size) * size;
            assert!(chunk <= CHUNK_BYTES.max(size), "{size}");
            assert!(
                MAX_CHUNKS as u128 * chunk as u128 >= 1 << 47 || size > CHUNK_BYTES,
                "{size}"
            );
        }
        // A million default stacks: under 2,000 chunk mappings.
        assert!(1_000_000usize.div_ceil(stacks_per_chunk(DEFAULT_STACK_SIZE)) < 2_000);
    }

    #[test]
    fn chunk_guard_lookup() {
        let mut a = StackArena::default();
        let (lo, hi) = a.alloc();
        let (lo2, _) = a.alloc();
        assert_eq!(hi - lo, stack_size());
        assert_eq!(lo2, hi);
        assert_eq!(guard_hit(lo + 10), Some(hi));
        assert_eq!(guard_hit(lo + page_size() + 10), None);
        assert_eq!(guard_hit(8), None);
        // The usable part is writable.
        // SAFETY: freshly mapped stack memory nobody uses.
        unsafe { ((hi - 8) as *mut u64).write(5) };
        assert!(guard_kind().is_some());
        // The kernel here is 6.18: the no-VMA guard must be in use (when
        // running natively: qemu-user, which runs the aarch64 tests here,
        // ignores the advice, and the effectiveness check falls back to
        // mprotect).
        if cfg!(target_arch = "x86_64")
            && std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .is_ok_and(|r| r.starts_with("6.18"))
        {
            assert_eq!(guard_kind(), Some(GuardKind::MadviseGuard));
        }
    }
}
