//! The zeroing rule and the scavenger, measured by the process's resident
//! set (`/proc/self/statm`). One test function so nothing else in this
//! process allocates while RSS is compared.

use gort_gc::heap::{Heap, HeapConfig};
use gort_gc::ObjectKind;
use std::time::{Duration, Instant};

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no memory-safety preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn cycle(h: &Heap) {
    h.flush_caches();
    h.start_sweep_cycle();
    h.finish_sweep();
}

const MIB: usize = 1 << 20;

#[test]
fn zeroing_rule_and_scavenger_measured_by_rss() {
    let h: &'static Heap = Box::leak(Box::new(
        Heap::new(HeapConfig {
            arena_bytes: 1 << 30,
        })
        .unwrap(),
    ));

    // 1. 100 MB on fresh pages: never cleared by hand, so it costs no RSS.
    let before = rss_bytes();
    let big = h.alloc_on(None, 100_000_000, ObjectKind::Noscan);
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 2 * MIB,
        "100 MB allocation on fresh pages touched {grown} bytes"
    );
    // SAFETY: `big` is a 100 MB object; its pages read as zero.
    unsafe {
        assert_eq!(*big, 0);
        assert_eq!(*big.add(99_999_999), 0);
    }
    cycle(h); // frees it (unmarked); its pages were barely touched

    // 2. Touch 64 MiB, free it: RSS stays until the background scavenger
    //    (goal 0) returns the pages.
    let touch = |h: &Heap| {
        let p = h.alloc_on(None, 64 * MIB, ObjectKind::Noscan);
        // SAFETY: p is a fresh 64 MiB object.
        unsafe { std::ptr::write_bytes(p, 1, 64 * MIB) };
    };
    let base = rss_bytes();
    touch(h);
    let touched = rss_bytes();
    assert!(
        touched >= base + 60 * MIB,
        "touching did not raise RSS: {base} -> {touched}"
    );
    cycle(h);
    assert!(
        rss_bytes() >= base + 60 * MIB,
        "freeing alone must not release memory"
    );
    let s = h.stats();
    assert!(s.heap_idle - s.heap_released >= 64 * MIB as u64, "{s:?}");

    h.set_scavenge_goal(Some(0));
    let scav = h.start_scavenger();
    let t0 = Instant::now();
    let done = |h: &Heap| {
        let s = h.stats();
        s.heap_released == s.heap_idle
    };
    while (rss_bytes() > base + 8 * MIB || !done(h)) && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after_bg = rss_bytes();
    scav.stop();
    assert!(
        after_bg <= base + 8 * MIB,
        "background scavenger left RSS at {after_bg} (base {base}, touched {touched})"
    );
    let s = h.stats();
    assert_eq!(s.heap_released, s.heap_idle, "{s:?}");

    // 3. free_os_memory releases at once.
    let base = rss_bytes();
    touch(h);
    cycle(h);
    assert!(rss_bytes() >= base + 60 * MIB);
    let released = h.free_os_memory();
    assert!(released >= 64 * MIB, "released {released}");
    let after = rss_bytes();
    assert!(
        after <= base + 4 * MIB,
        "free_os_memory left RSS at {after} (base {base})"
    );

    // 4. Reusing released pages for 100 MB again clears nothing by hand.
    let before = rss_bytes();
    let again = h.alloc_on(None, 100_000_000, ObjectKind::Noscan);
    assert!(rss_bytes().saturating_sub(before) < 2 * MIB);
    // SAFETY: as in 1.
    unsafe { assert_eq!(*again.add(50_000_000), 0) };
}
