//! Idle marking: with two Ps and a single goroutine, the second P has no
//! goroutine to run, so while a cycle marks, its M marks in slices instead
//! of parking (Go's idle mark worker). The cycles' records must show idle
//! marking CPU, gctrace's idle column must be non-zero, and a long-lived
//! list must survive with its checksum (clobberfree poisons freed cells).

use gort::crates::gc::collector;
use gort::{Builder, Gc};
use gort_tests::lists::{expected, list, sum, Cell};

/// Cells of the long-lived list: enough that marking it takes a while.
const LIVE: u64 = 200_000;

#[test]
fn an_idle_p_marks_while_a_cycle_runs() {
    Builder::new()
        .ignore_env()
        .gomaxprocs(2)
        .gc_percent(50)
        .clobberfree(true)
        .run(|| {
            let c = collector::global();
            let live: Gc<Cell> = list(LIVE, 7, 0);
            let before = c.num_gc();
            // Allocate garbage until five cycles have completed (bounded).
            let mut rounds = 0;
            while c.num_gc() - before < 5 && rounds < 10_000 {
                std::hint::black_box(list(1000, 0, 4));
                rounds += 1;
            }
            assert_eq!(sum(live), expected(LIVE, 7), "the live list survived");
            let records: Vec<_> = c
                .cycle_records()
                .into_iter()
                .filter(|r| r.num > before)
                .collect();
            assert!(
                records.len() >= 5,
                "five cycles in {rounds} rounds: {records:?}"
            );
            let idle: u64 = records.iter().map(|r| r.idle_cpu_ns).sum();
            let with_idle = records.iter().filter(|r| r.idle_cpu_ns > 0).count();
            assert!(
                idle > 0 && with_idle * 2 >= records.len(),
                "idle marking in {with_idle} of {} cycles ({idle} ns): {records:?}",
                records.len()
            );
        });
}
