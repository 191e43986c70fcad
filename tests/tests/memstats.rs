//! `runtime::read_mem_stats` through the public API: Go's identities between
//! the fields hold for small objects, and the goroutine and P counts are
//! right. The bigbytes walk-through has its own file (`memstats_bigbytes.rs`)
//! so that its outcome does not hide these: a failed assertion inside
//! `gort::run` ends the whole test process, as a Go panic would.

use gort::runtime::{gomaxprocs, num_goroutine, read_mem_stats};
use gort::sync::WaitGroup;
use gort::{chan, go};
use gort_tests::assert_memstats_identities;

#[test]
fn small_objects_are_counted() {
    gort::run(|| {
        #[derive(gort::Trace)]
        struct Pair {
            a: u64,
            b: Option<gort::Gc<Pair>>,
        }
        let before = read_mem_stats();
        let mut head: Option<gort::Gc<Pair>> = None;
        for i in 0..10_000u64 {
            head = Some(gort::Gc::new(Pair { a: i, b: head }));
        }
        let mid = read_mem_stats();
        assert_memstats_identities(&mid, "10,000 pairs");
        assert!(mid.mallocs - before.mallocs >= 10_000);
        assert!(mid.total_alloc - before.total_alloc >= 10_000 * 16);
        let mut n = 0;
        let mut cur = head;
        while let Some(p) = cur {
            n += p.a;
            cur = p.b;
        }
        assert_eq!(n, 10_000 * 9_999 / 2);
    });
}

/// The off-heap fields count the runtime's metadata: span structures grow
/// with the spans a heap of small objects needs, and the heap profile's
/// buckets appear once allocations were sampled.
#[test]
fn metadata_fields_follow_the_heap() {
    gort::run(|| {
        let before = read_mem_stats();
        assert_memstats_identities(&before, "before");
        #[derive(gort::Trace)]
        struct Node {
            data: gort::GcSlice<u8>,
            next: Option<gort::Gc<Node>>,
        }
        // A list the collector sees (its head is on this goroutine's
        // stack): 20,000 slices in 1 KiB slots, 160+ spans of one class,
        // then 16 MiB in 1 MiB slices: at Go's default MemProfileRate
        // (512 KiB) the profile samples ~32 of them (none: e^-32).
        let mut head: Option<gort::Gc<Node>> = None;
        for i in 0..20_016 {
            let size = if i < 20_000 { 1000 } else { 1 << 20 };
            head = Some(gort::Gc::new(Node {
                data: gort::make_slice::<u8>(size),
                next: head,
            }));
        }
        let m = read_mem_stats();
        assert_memstats_identities(&m, "20,000 small and 16 large slices");
        assert!(
            m.mspan_inuse >= before.mspan_inuse + 160 * 64,
            "160 more spans (at least 64 bytes of structure each): MSpanInuse {} -> {}",
            before.mspan_inuse,
            m.mspan_inuse
        );
        assert!(
            m.buck_hash_sys > 0,
            "sampled allocations without profile buckets"
        );
        assert!(m.gc_sys > before.gc_sys, "GCSys did not grow with the heap");
        let mut n = 0;
        let mut cur = head;
        while let Some(node) = cur {
            n += node.data.len();
            cur = node.next;
        }
        assert_eq!(n, 20_000 * 1000 + (16 << 20));
    });
}

/// NextGC is the pacer's goal: the goal the next cycle runs against, which
/// its CycleRecord (and so its gctrace line, see `knobs.rs`) reports.
#[test]
fn next_gc_is_the_goal_of_the_next_cycle() {
    gort::run(|| {
        let collector = gort::crates::gc::collector::global();
        let mut checked = 0;
        for _ in 0..20 {
            let m = read_mem_stats();
            gort::runtime::gc();
            let records = collector.cycle_records();
            let Some(next) = records.iter().find(|r| r.num == m.num_gc + 1) else {
                panic!("no record of cycle {}", m.num_gc + 1);
            };
            assert_eq!(
                next.heap_goal, m.next_gc,
                "cycle {} ran against a goal other than the NextGC read before it",
                next.num
            );
            assert!(m.next_gc >= 4 << 20, "NextGC has the 4 MiB minimum");
            checked += 1;
        }
        assert_eq!(checked, 20);
    });
}

#[test]
fn goroutines_and_procs_are_counted() {
    gort::run(|| {
        assert!(gomaxprocs(0) >= 1);
        assert_eq!(gomaxprocs(-1), gomaxprocs(0), "n < 1 only reads");
        let base = num_goroutine();
        assert!(base >= 1, "the main goroutine counts");
        let release = chan::<()>(0);
        let started = WaitGroup::new();
        let finished = WaitGroup::new();
        started.add(10);
        finished.add(10);
        for _ in 0..10 {
            let (release, started, finished) = (release.clone(), started.clone(), finished.clone());
            go(move || {
                started.done();
                release.recv();
                finished.done();
            });
        }
        started.wait();
        assert_eq!(num_goroutine(), base + 10);
        release.close();
        finished.wait();
        // A goroutine that called done() may not have exited yet; give the
        // scheduler a few turns.
        for _ in 0..1000 {
            if num_goroutine() == base {
                break;
            }
            gort::gosched();
        }
        assert_eq!(num_goroutine(), base);
    });
}

/// Allocate and touch 64 MiB in a frame of its own, so that no stale copy
/// of the pointer stays in the caller's live stack range (stacks are
/// scanned conservatively).
#[inline(never)]
fn touch_64_mib() {
    let big = gort::make_slice::<u8>(64 << 20);
    for i in (0..big.len()).step_by(4096) {
        big.set(i, 1);
    }
    std::hint::black_box(big);
}

/// Overwrite the stack below the caller with zeros: the frames `gc()`
/// pushes next would otherwise reuse `touch_64_mib`'s old slots, and a
/// stale copy of its pointer there keeps the slice alive (conservative
/// stack scanning's false retention, see the `Gc` docs).
#[inline(never)]
fn scrub_stack() {
    std::hint::black_box([0u64; 4096]);
}

#[test]
fn background_scavenger_returns_free_memory() {
    gort::run(|| {
        touch_64_mib();
        scrub_stack();
        gort::runtime::gc();
        let freed = read_mem_stats();
        assert!(
            freed.heap_idle >= 64 << 20,
            "the 64 MiB slice was not freed (HeapIdle {})",
            freed.heap_idle
        );
        // No free_os_memory call: only the background scavenger releases.
        let mut released = freed.heap_released;
        for _ in 0..40 {
            if released >= freed.heap_released + (8 << 20) {
                break;
            }
            gort::sleep(std::time::Duration::from_millis(50));
            released = read_mem_stats().heap_released;
        }
        assert!(
            released >= freed.heap_released + (8 << 20),
            "the background scavenger released {} bytes in 2 s (HeapIdle {})",
            released - freed.heap_released,
            freed.heap_idle
        );
    });
}
