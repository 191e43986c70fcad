//! The heap profile at Go's default `MemProfileRate` (512 KiB): sampled,
//! then un-sampled by the encoder the way Go's `scaleHeapSample` does, so
//! the profile estimates what was really allocated.
//!
//! A separate test binary: the rate is process-wide and the other heap
//! tests set it to 1.

use gort::crates::profiler::pprof::{decode, DEFAULT_MEM_PROFILE_RATE};
use gort::{make_slice, Gc, GcSlice, Trace};
use gort_tests::profiles::leaf_function;

#[derive(Trace)]
struct Blob {
    data: GcSlice<u8>,
}

/// 4096-byte objects (4095 bytes + the padding byte), one sample per
/// 128 objects on average.
#[inline(never)]
fn alloc_sampled() -> GcSlice<u8> {
    let s = make_slice::<u8>(4095);
    s.set(0, 1);
    s
}

const N: usize = 100_000; // 409.6 MB allocated, ~781 samples expected

#[test]
fn default_rate_estimates_the_allocated_bytes() {
    let (bytes, rate) = gort::run(|| {
        assert_eq!(
            gort::runtime::mem_profile_rate(),
            DEFAULT_MEM_PROFILE_RATE,
            "Go's default"
        );
        let keep = make_slice::<Option<Gc<Blob>>>(64);
        for i in 0..N {
            // keep a few alive at a time, so the collector has work to do
            keep.set(
                i % 64,
                Some(Gc::new(Blob {
                    data: alloc_sampled(),
                })),
            );
        }
        gort::runtime::gc();
        let mut b = Vec::new();
        gort::pprof::write_heap_profile(&mut b).unwrap();
        assert!(keep.get(0).is_some());
        (b, gort::runtime::mem_profile_rate())
    });
    let p = decode(&bytes).unwrap();
    assert_eq!(p.period, rate);
    let (mut objects, mut space) = (0i64, 0i64);
    let mut label = None;
    for s in &p.sample {
        if leaf_function(&p, s).ends_with("alloc_sampled") {
            objects += s.value[0];
            space += s.value[1];
            label = s.label.first().map(|l| l.num);
        }
    }
    assert_eq!(label, Some(4096), "the block-size label");
    // ~781 samples: the standard error of the estimate is ~3.6 %, so 15 %
    // is over four standard errors.
    let want = (N * 4096) as f64;
    eprintln!("estimated {space} bytes in {objects} objects (allocated {want} in {N})");
    let err = (space as f64 - want).abs() / want;
    assert!(
        err < 0.15,
        "estimated {space} bytes for {want}: {:.1} % off",
        err * 100.0
    );
    let err = (objects as f64 - N as f64).abs() / N as f64;
    assert!(err < 0.15, "estimated {objects} objects for {N}");
}
