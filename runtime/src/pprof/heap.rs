//! The `heap` and `allocs` profiles: the collector's sampled allocation
//! records ([`gort_gc::heap::mem_profile`]), symbolized and encoded.
//!
//! See [super] for the overview. The recording side — the sampler in the
//! allocator, the frees found by sweeping, the publication at each mark
//! termination — is `gort_gc::heap::profile`; this module turns its raw
//! records (return PCs) into [`MemRecord`]s with named frames and hands
//! them to the profiler's encoders.

use super::symbolize_stack;
use gort_profiler::pprof::{heap_profile, HeapKind, MemRecord};
use std::io::{self, Write};

/// The published records, symbolized, with the allocator's own frames
/// removed from the top of each stack (Go hides `runtime.mallocgc` and its
/// callers inside package runtime the same way).
pub(crate) fn records() -> Vec<MemRecord> {
    gort_gc::heap::mem_profile()
        .into_iter()
        .map(|r| MemRecord {
            stack: allocation_stack(&r.stack),
            alloc_objects: r.allocs as i64,
            alloc_bytes: r.alloc_bytes as i64,
            free_objects: r.frees as i64,
            free_bytes: r.free_bytes as i64,
            labels: gort_profiler::labels::pairs_of(r.labels),
        })
        .collect()
}

/// Frames of an allocation stack, from the first frame outside the
/// allocator down to the goroutine's entry.
///
/// The walk starts inside the sampler, so the first return PCs are the
/// allocator's own (`gort_gc::…`, with whatever it inlined), and the first
/// user PC may still carry the allocator's helpers inlined into it
/// (`make_slice` into the caller). Go hides `runtime.mallocgc` and its
/// callers the same way. Inlined frames are named by their bare function
/// name in the debug info, so they are recognized by their *source file*:
/// anything under the gort-gc or gort sources, or Rust's standard library.
fn allocation_stack(pcs: &[u64]) -> Vec<gort_profiler::Frame> {
    let mut out = Vec::new();
    let mut leading = true;
    for &pc in pcs {
        let frames = symbolize_stack(&[pc]);
        if leading {
            let Some(outer) = frames.last() else {
                continue;
            };
            if is_allocator_frame(outer) {
                continue;
            }
            leading = false;
            let first = frames
                .iter()
                .position(|f| !is_allocator_frame(f))
                .unwrap_or(0);
            out.extend_from_slice(&frames[first..]);
        } else {
            out.extend(frames);
        }
    }
    out
}

/// The source folders of the allocator and of this facade, found from the
/// debug info of one function of each (the part of its file name up to the
/// last `/src/`).
fn allocator_dirs() -> &'static [String] {
    static DIRS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let probes = [
            gort_gc::heap::global as *const () as u64,
            crate::runtime::gc as *const () as u64,
        ];
        probes
            .iter()
            .filter_map(|&pc| {
                let f = symbolize_stack(&[pc + 1]).pop()?;
                let at = f.file.rfind("/src/")?;
                Some(f.file[..at + 5].to_string())
            })
            .collect()
    })
}

/// Whether `f` belongs to the allocation machinery (see
/// [`allocation_stack`]).
fn is_allocator_frame(f: &gort_profiler::Frame) -> bool {
    let n = f.function.trim_start_matches('<');
    n.starts_with("gort_gc::")
        || n.starts_with("gort::")
        || n.starts_with("core::")
        || n.starts_with("alloc::")
        || f.file.starts_with("/rustc/")
        || allocator_dirs()
            .iter()
            .any(|d| f.file.starts_with(d.as_str()))
}

/// Number of records (Go's `MemProfile(nil, true)`: every bucket).
pub(crate) fn count() -> usize {
    gort_gc::heap::mem_profile_buckets()
}

/// Writes the heap (or allocs) profile: gzip'd proto for `debug == 0`,
/// Go's legacy text with the `# runtime.MemStats` trailer otherwise.
pub(crate) fn write(mut w: impl Write, kind: HeapKind, debug: i32) -> io::Result<()> {
    let rate = gort_gc::heap::mem_profile_rate();
    let recs = records();
    if debug != 0 {
        let m = crate::runtime::read_mem_stats();
        return gort_profiler::text::write_heap_text(&mut w, &recs, rate, &m, max_rss());
    }
    let p = heap_profile(&recs, rate, kind, &super::meta());
    gort_profiler::pprof::write_gzip(&p, w)
}

/// Peak resident set size in bytes (`getrusage`), as Go's `# MaxRSS`.
fn max_rss() -> Option<u64> {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (rc == 0).then_some(ru.ru_maxrss as u64 * 1024)
}
