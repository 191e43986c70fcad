//! The `memstats` walk-through step: bigbytes between two
//! `runtime::read_mem_stats()` calls, logged the way its Go twin logs them.
//! The `memstats` binary runs [`walkthrough`]; `gort-tests` runs it in
//! child processes to check [`FINAL_ALLOC_BOUND`].

use gort::runtime::{read_mem_stats, MemStats};
use gort::{make_slice, GcSlice};

/// Bytes of one slice of the walk-through.
pub const SLICE_BYTES: usize = 100_000_000;

/// Slices the walk-through allocates.
pub const SLICES: usize = 10;

/// Bytes one slice takes in the heap: its span, whole 8 KiB pages (the
/// slice has one spare byte, see `GcSlice`).
pub const SLICE_SPAN_BYTES: u64 = (SLICE_BYTES as u64 + 1).div_ceil(8192) * 8192;

/// The most `Alloc` can be after the loop: two slices. Every allocation
/// that finds two slices in the heap (the trigger lies at 0.7–0.95 of the
/// way from one slice marked live to the 2-slice goal) waits for a whole
/// cycle before it takes its pages — in its assist, which has nothing to
/// scan and parks until the cycle ends, or in `start_cycle`, which waits
/// for a cycle that is winding down — and the large allocation sweeps the
/// dead slice's pages before taking new ones. So the heap holds the slice
/// just allocated and at most one more: the previous slice, which a stale
/// word on the goroutine's stack keeps alive through one cycle
/// (conservative stack scanning; Go, with precise stacks, ends at one slice
/// or two: 100–200 MB). The bound needs each cycle to find at most one
/// slice live: a slice two allocations old, kept by a stale word in a
/// frame slot not yet written, would double that cycle's goal (3–4 slices
/// at the end, 1 run in 40 on a busy machine). The collector clears the
/// dead stack below each large allocation's frame so that no such word
/// survives (`gort_gc::collector`'s `clear_dead_stack`).
pub const FINAL_ALLOC_BOUND: u64 = 2 * SLICE_SPAN_BYTES;

fn big_bytes() -> GcSlice<u8> {
    make_slice::<u8>(SLICE_BYTES)
}

/// Prints `memory baseline...`, logs `Alloc`, `TotalAlloc`, `HeapAlloc`
/// and `HeapSys`, runs the ten allocations, prints `memory comparison...`
/// and logs the four values again; returns both snapshots. Call inside
/// `gort::run`.
pub fn walkthrough() -> (MemStats, MemStats) {
    println!("memory baseline...");
    let base = read_mem_stats();
    log(&base);
    for _ in 0..SLICES {
        let s = big_bytes();
        if std::hint::black_box(s).len() != SLICE_BYTES {
            crate::log_println!("oh noes");
        }
    }
    println!("memory comparison...");
    let cmp = read_mem_stats();
    log(&cmp);
    (base, cmp)
}

fn log(mem: &MemStats) {
    crate::log_println!("{}", mem.alloc);
    crate::log_println!("{}", mem.total_alloc);
    crate::log_println!("{}", mem.heap_alloc);
    crate::log_println!("{}", mem.heap_sys);
}
