//! `heapprofile` — the walk-through's heap-profile variant: `bigbytes`, then
//! `gort::pprof::write_heap_profile` to stdout (as the Go twin
//! `samples/go/heapprofile/main.go` calls `pprof.WriteHeapProfile(os.Stdout)`).
//!
//! ```text
//! cargo run --release --bin heapprofile > heap.pprof
//! go tool pprof -sample_index=alloc_space -top heap.pprof
//! ```
//!
//! The heap profile shows figures as of the last completed collection, as
//! Go's does: `alloc_space` holds the allocations of `big_bytes` that the
//! loop's collections have published (about 700–800 MB of the 1 GB; the
//! ones after the last cycle are not in it yet).

use gort::{make_slice, GcSlice};

/// Go's `bigBytes`: one 100,000,000-byte slice (`black_box` keeps a frame
/// of `big_bytes` for the profile to name).
#[inline(never)]
fn big_bytes() -> GcSlice<u8> {
    std::hint::black_box(make_slice::<u8>(100_000_000))
}

fn main() {
    gort::run(|| {
        for _ in 0..10 {
            let s = big_bytes();
            if s.len() != 100_000_000 {
                gort_samples::log_println!("oh noes");
            }
        }
        if let Err(e) = gort::pprof::write_heap_profile(std::io::stdout()) {
            eprintln!("heapprofile: could not write the heap profile: {e}");
            std::process::exit(1);
        }
    })
}
