//! `bigbytes` — the base program of the "profiling Go memory" walk-through.
//!
//! Ten times in a loop, allocate a 100,000,000-byte slice (Go:
//! `make([]byte, 100000000)`) and drop it. Each slice is a large object with
//! its own span, taken from fresh (already zero) pages, so nothing is
//! cleared by hand; the collector frees the previous slices as the heap
//! goal is crossed. Go twin: `samples/go/bigbytes/main.go`.
//!
//! Watch it:
//!
//! ```text
//! GODEBUG=gctrace=1 cargo run --release --bin bigbytes   # one line per GC cycle
//! samples/compare.sh bigbytes                            # side by side with Go
//! ```

use gort::{make_slice, GcSlice};

fn big_bytes() -> GcSlice<u8> {
    make_slice::<u8>(100_000_000)
}

fn main() {
    gort::run(|| {
        for _ in 0..10 {
            let s = big_bytes();
            // Go's `if s == nil { log.Println("oh noes") }`: the slice must
            // exist, so the allocation cannot be optimised away.
            if std::hint::black_box(s).len() != 100_000_000 {
                gort_samples::log_println!("oh noes");
            }
        }
    })
}
