//! The arena: one address-space reservation for the whole heap, and the
//! page → span table that makes address lookups O(1).
//!
//! See [crate::heap] for the overview.
#![allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics), below

use super::span::Span;
use super::{PAGE_SHIFT, PAGE_SIZE};

/// A transparent huge page (x86_64 and aarch64 with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Large spans of at least this size get transparent huge pages
/// ([`Arena::advise_huge`]); it holds at least one whole huge page wherever
/// it starts.
pub(crate) const HUGE_SPAN_BYTES: usize = 2 * HUGE_PAGE;
// HACK(fixed-layout-atomics): the page table lives in an anonymous mapping
// whose zero bytes must be valid null entries, so it uses core's AtomicPtr
// (loom's needs construction); see cell.rs. The publication protocol is the
// same Release/Acquire pair that `loom_heap` models on span fields.
#[allow(clippy::disallowed_types)]
use core::sync::atomic::{AtomicPtr, Ordering};
use memmap2::{MmapMut, MmapOptions};

/// One reservation of address space (`mmap(PROT_READ|PROT_WRITE,
/// MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)` through memmap2), aligned to a
/// page. Untouched pages cost no memory: the kernel backs a page with a
/// zeroed physical frame on first touch, which is the first half of the
/// zeroing rule (fresh memory is never cleared by hand).
///
/// The page table (`spans`) is a second anonymous mapping of one pointer per
/// arena page, so it too costs memory only where the heap has grown.
pub(crate) struct Arena {
    /// Keeps the reservation alive; never accessed through the `MmapMut`
    /// after construction (all access is by address).
    _map: MmapMut,
    /// Keeps the page table mapping alive; accessed only through `spans`.
    _table_map: MmapMut,
    /// First page-aligned address of the reservation. Read-only.
    pub(crate) base: usize,
    /// One past the last usable address. Read-only.
    pub(crate) end: usize,
    /// `spans[i]` is the span owning page `i`, or null when the page is free
    /// or not yet grown. Written under the page-heap lock when a span is
    /// created or freed (Release: publishes the span's fields); read
    /// lock-free by [`Arena::span_of`] (Acquire).
    spans: *const AtomicPtr<Span>,
    /// Number of pages in the arena. Read-only.
    pub(crate) npages: usize,
}

// SAFETY: the raw table pointer refers to the mapping owned by this struct;
// every access to it goes through atomics.
unsafe impl Send for Arena {}
// SAFETY: as above; shared access is through `AtomicPtr` only.
unsafe impl Sync for Arena {}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("base", &format_args!("{:#x}", self.base))
            .field("npages", &self.npages)
            .finish()
    }
}

/// An anonymous private mapping with `MAP_NORESERVE` (no swap is reserved
/// for it, so a 64 GiB arena is fine with the default overcommit policy).
/// Miri models only plain `MAP_PRIVATE|MAP_ANONYMOUS`, so it gets that.
fn anon(len: usize) -> std::io::Result<MmapMut> {
    let mut o = MmapOptions::new();
    o.len(len);
    if !cfg!(miri) {
        o.no_reserve_swap();
    }
    o.map_anon()
}

impl Arena {
    /// Reserves `bytes` (rounded up to whole pages) of address space.
    /// Sizes beyond [`crate::size::MAX_ALLOC`] are an `InvalidInput`
    /// error (the layout arithmetic is checked there).
    pub(crate) fn reserve(bytes: usize) -> std::io::Result<Arena> {
        // One extra page so the start can be aligned to PAGE_SIZE (mmap
        // aligns only to the 4 KiB OS page).
        let Some((npages, len, table_len)) = crate::size::arena_layout(bytes) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "heap arena of {bytes} bytes: at most {} bytes can be reserved",
                    crate::size::MAX_ALLOC
                ),
            ));
        };
        let mut map = anon(len)?;
        // No transparent huge pages by default, even where the system turns
        // them on for everything: the first touch of a fresh huge page
        // zeroes 2 MiB inside the page fault, 0.2 to over 1 ms, and a
        // goroutine in a page fault cannot stop for a stop of the world (the
        // mark-termination pause waited that long for one allocating into a
        // fresh span). Large objects of at least [`HUGE_SPAN_BYTES`] ask
        // for huge pages for their own range ([`Arena::advise_huge`]).
        // Advice only: a kernel without THP ignores it.
        #[cfg(all(target_os = "linux", not(miri)))]
        let _ = map.advise(memmap2::Advice::NoHugePage);
        // Exposes a read-write provenance for the whole mapping: the heap
        // reaches objects by address from here on.
        let raw = map.as_mut_ptr() as usize;
        let base = (raw + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        const { assert!(std::mem::size_of::<AtomicPtr<Span>>() == std::mem::size_of::<usize>()) };
        let mut table_map = anon(table_len)?;
        // A zeroed AtomicPtr is a null pointer, so the fresh mapping is a
        // table of nulls without writing a byte.
        let spans = table_map.as_mut_ptr() as *const AtomicPtr<Span>;
        Ok(Arena {
            _map: map,
            _table_map: table_map,
            base,
            end: base + npages * PAGE_SIZE,
            spans,
            npages,
        })
    }

    /// Whether `addr` lies inside the reservation.
    #[inline]
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.end - self.base
    }

    /// Page index of `addr` (which must be inside the arena).
    #[inline]
    pub(crate) fn page_of(&self, addr: usize) -> usize {
        (addr - self.base) >> PAGE_SHIFT
    }

    /// Address of page `page`.
    #[inline]
    pub(crate) fn page_addr(&self, page: usize) -> usize {
        self.base + (page << PAGE_SHIFT)
    }

    #[inline]
    fn slot(&self, page: usize) -> &AtomicPtr<Span> {
        debug_assert!(page < self.npages);
        // SAFETY: `page < npages` (callers compute it from an address inside
        // the arena or from a span inside it) and the table mapping holds
        // `npages` zero-initialised `AtomicPtr`s that live as long as `self`.
        unsafe { &*self.spans.add(page) }
    }

    /// The span owning the page of `addr`, or null (free page, or outside
    /// the arena).
    #[inline]
    pub(crate) fn span_of(&self, addr: usize) -> *const Span {
        if !self.contains(addr) {
            return std::ptr::null();
        }
        // Acquire: pairs with the Release store in `set_span`; makes the
        // span's fields written before publication visible here.
        self.slot(self.page_of(addr)).load(Ordering::Acquire)
    }

    /// Points pages `[page, page + npages)` at `span` (null to clear).
    /// Caller holds the page-heap lock.
    pub(crate) fn set_span(&self, page: usize, npages: usize, span: *const Span) {
        for p in page..page + npages {
            // Release: pairs with the Acquire in `span_of`; publishes the
            // span's fields (start, class, bitmaps) to lock-free readers.
            self.slot(p).store(span as *mut Span, Ordering::Release);
        }
    }

    /// Splits pages `[page, page + npages)` into maximal runs of resident
    /// and non-resident heap pages (a heap page is resident if any of its
    /// OS pages is, as `mincore` reports) and calls `f(first page, pages,
    /// resident)` for each run, in address order. One `mincore` call per
    /// 16 MiB. Under Miri (no `mincore`) every page counts as resident.
    pub(crate) fn residency_runs(
        &self,
        page: usize,
        npages: usize,
        mut f: impl FnMut(usize, usize, bool),
    ) {
        const OS_PAGE: usize = 4096;
        const OS_PER_HEAP: usize = PAGE_SIZE / OS_PAGE;
        const CHUNK_PAGES: usize = 2048; // heap pages per mincore call: 16 MiB
        let mut run: Option<(usize, usize, bool)> = None;
        let mut vec = [0u8; CHUNK_PAGES * OS_PER_HEAP];
        let mut p = page;
        while p < page + npages {
            let n = (page + npages - p).min(CHUNK_PAGES);
            let resident_chunk = cfg!(miri) || {
                let addr = self.page_addr(p);
                // SAFETY: the range lies inside our mapping (page-aligned, as
                // mincore needs) and `vec` has one byte per OS page of it.
                let r = unsafe {
                    libc::mincore(
                        addr as *mut libc::c_void,
                        n * PAGE_SIZE,
                        vec.as_mut_ptr() as *mut _,
                    )
                };
                if r != 0 {
                    crate::rt_throw!(
                        "runtime: mincore of {n} pages at {addr:#x} failed: {}",
                        std::io::Error::last_os_error()
                    );
                }
                false
            };
            for i in 0..n {
                let resident = resident_chunk
                    || vec[i * OS_PER_HEAP..(i + 1) * OS_PER_HEAP]
                        .iter()
                        .any(|b| b & 1 != 0);
                run = match run {
                    Some((start, len, r)) if r == resident => Some((start, len + 1, r)),
                    Some((start, len, r)) => {
                        f(start, len, r);
                        Some((p + i, 1, resident))
                    }
                    None => Some((p + i, 1, resident)),
                };
            }
            p += n;
        }
        if let Some((start, len, r)) = run {
            f(start, len, r);
        }
    }

    /// Transparent huge pages for the large span at `[page, page + npages)`
    /// (`on`: `MADV_HUGEPAGE` over the whole 2 MiB pages inside it), or
    /// back to the arena's default, none (`MADV_NOHUGEPAGE`, so the range
    /// merges back into its neighbours' mapping). A program that walks a
    /// big new slice then takes 512 times fewer page faults; small-object
    /// spans never get huge pages (see [`Arena::reserve`]). Advice only:
    /// errors (a kernel without THP) are ignored.
    pub(crate) fn advise_huge(&self, page: usize, npages: usize, on: bool) {
        let start = self.page_addr(page).next_multiple_of(HUGE_PAGE);
        let end = (self.page_addr(page) + npages * PAGE_SIZE) & !(HUGE_PAGE - 1);
        if end <= start || cfg!(miri) || !cfg!(target_os = "linux") {
            return;
        }
        #[cfg(all(target_os = "linux", not(miri)))]
        {
            let advice = if on {
                libc::MADV_HUGEPAGE
            } else {
                libc::MADV_NOHUGEPAGE
            };
            // SAFETY: the range lies inside our private anonymous mapping;
            // this advice changes how future faults are served, never the
            // contents.
            let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
        }
    }

    /// Returns pages `[page, page + npages)` to the OS with
    /// `MADV_DONTNEED`: the next touch sees zero-filled pages.
    pub(crate) fn release(&self, page: usize, npages: usize) {
        let addr = self.page_addr(page);
        // SAFETY: the range lies inside our private anonymous mapping and
        // holds no live objects (the caller releases only free pages), so
        // discarding its contents is exactly what is wanted.
        let r = unsafe {
            libc::madvise(
                addr as *mut libc::c_void,
                npages * PAGE_SIZE,
                libc::MADV_DONTNEED,
            )
        };
        if r != 0 {
            crate::rt_throw!(
                "runtime: madvise(MADV_DONTNEED) of {} pages at {addr:#x} failed: {}",
                npages,
                std::io::Error::last_os_error()
            );
        }
    }
}
