//! The bigbytes walk-through through the public API: ten 100,000,000-byte
//! slices move `read_mem_stats` the way they do in Go (`gc.md` §5.4:
//! TotalAlloc grows by ≥ 10 × 10^8, about one cycle per slice, most slices
//! freed), the field identities hold before and after, and `runtime::gc`
//! is counted as a forced cycle with a recorded pause.

use gort::make_slice;
use gort::runtime::{gc, read_mem_stats};
use gort_tests::assert_memstats_identities;

#[test]
fn bigbytes_moves_the_numbers_like_go() {
    gort::run(|| {
        let before = read_mem_stats();
        assert_memstats_identities(&before, "baseline");
        for _ in 0..10 {
            let s = make_slice::<u8>(100_000_000);
            assert_eq!(std::hint::black_box(s).len(), 100_000_000);
        }
        let after = read_mem_stats();
        assert_memstats_identities(&after, "after the loop");
        assert!(
            after.total_alloc - before.total_alloc >= 1_000_000_000,
            "TotalAlloc grew by {}",
            after.total_alloc - before.total_alloc
        );
        assert!(after.mallocs - before.mallocs >= 10);
        assert!(
            after.num_gc >= before.num_gc + 5,
            "each 100 MB slice should trigger about one cycle: NumGC {} -> {}",
            before.num_gc,
            after.num_gc
        );
        // Most slices were freed: at most one (plus a stale stack word's
        // worth) can still be live.
        assert!(
            after.heap_alloc < 250_000_000,
            "HeapAlloc {}",
            after.heap_alloc
        );
        // Every cycle's CPU split is measured: the background worker runs
        // (its stack jobs, its look for work) even with nothing to scan, so
        // its time is never 0 (it was, before rounds without scan work were
        // charged); gctrace prints it in whole microseconds, as Go does.
        let records = gort::crates::gc::collector::global().cycle_records();
        let ours: Vec<_> = records
            .iter()
            .filter(|r| r.num > before.num_gc && r.num <= after.num_gc)
            .collect();
        assert!(!ours.is_empty());
        for r in &ours {
            assert!(
                r.background_cpu_ns > 0,
                "cycle {}: no background worker CPU ({r:?})",
                r.num
            );
        }

        // runtime.GC: a forced cycle, counted as such, with a recorded pause.
        gc();
        let forced = read_mem_stats();
        assert_memstats_identities(&forced, "after gc()");
        assert!(forced.num_gc > after.num_gc);
        assert!(forced.num_forced_gc > after.num_forced_gc);
        assert!(forced.pause_total_ns >= after.pause_total_ns);
        assert!(forced.last_gc > 0, "LastGC is a Unix time in ns");
        let last = forced.pause_ns[((forced.num_gc as usize) + 255) % 256];
        assert!(last > 0, "the last cycle's pause is recorded");
        assert!(forced.next_gc >= 4 << 20, "NextGC has the 4 MiB minimum");
    });
}
