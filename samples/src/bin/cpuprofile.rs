//! `cpuprofile` — the walk-through's CPU-profile variant: `bigbytes` under
//! `gort::pprof::start_cpu_profile`, the gzip'd profile written to stdout
//! (as the Go twin `samples/go/cpuprofile/main.go` writes `pprof.StartCPUProfile(os.Stdout)`).
//!
//! ```text
//! cargo run --release --bin cpuprofile > cpu.pprof
//! go tool pprof -top cpu.pprof
//! ```
//!
//! As in Go, ten 100 MB allocations take a few milliseconds, so the profile
//! holds few samples or none: allocating is not where the time goes.

use gort::{make_slice, GcSlice};

/// Go's `bigBytes`: one 100,000,000-byte slice (`black_box` keeps a frame
/// of `big_bytes` for the profile to name).
#[inline(never)]
fn big_bytes() -> GcSlice<u8> {
    std::hint::black_box(make_slice::<u8>(100_000_000))
}

fn main() {
    gort::run(|| {
        if let Err(e) = gort::pprof::start_cpu_profile(std::io::stdout()) {
            eprintln!("cpuprofile: could not start the CPU profile: {e}");
            std::process::exit(1);
        }
        for _ in 0..10 {
            let s = big_bytes();
            if s.len() != 100_000_000 {
                gort_samples::log_println!("oh noes");
            }
        }
        gort::pprof::stop_cpu_profile();
    })
}
