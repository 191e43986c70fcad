//! The pacer knobs as Go's runtime/debug has them, on the real collector:
//! GOGC off stops paced cycles, a memory limit brings them back, `gc()`
//! forces one, `free_os_memory` returns pages; assists run when a fast
//! allocator races the collector.

extern crate gort_gc as gort;

use gort_gc::collector::{self, GcConfig};
use gort_gc::pacer::NO_LIMIT;
use gort_gc::tests::mock_host::MockHost;
use gort_gc::{make_slice, Gc, GcCell, Root, Trace};

#[derive(Trace)]
#[repr(C)]
struct Link {
    next: GcCell<Option<Gc<Link>>>,
    n: u64,
}

/// Allocate about `mb` MiB of garbage (40-byte slices) on a mutator,
/// keeping a short list alive throughout.
fn churn(host: &'static MockHost, mb: usize) {
    host.spawn_mutator(move || {
        let keep = Gc::new(Link {
            next: GcCell::new(None),
            n: 1,
        });
        for i in 0..(mb << 20) / 48 {
            let s = make_slice::<u8>(40);
            s.set(0, i as u8);
            if i % 1000 == 0 {
                let l = Gc::new(Link {
                    next: GcCell::new(keep.next.get()),
                    n: i as u64,
                });
                keep.next.set(Some(l));
                if i % 50_000 == 0 {
                    keep.next.set(None);
                }
            }
        }
        assert_eq!(keep.n, 1);
    })
    .join()
    .unwrap();
}

#[test]
fn gogc_off_memory_limit_forced_gc_and_free_os_memory() {
    let host = MockHost::leak(2);
    let c = collector::install(host, GcConfig::default()).unwrap();

    // GOGC=100: 32 MiB of garbage over a tiny live heap (4 MiB goal) runs cycles.
    churn(host, 32);
    let paced = c.num_gc();
    assert!(paced >= 3, "GOGC=100 ran only {paced} cycles");
    let m = c.mem_stats();
    assert_eq!(m.num_forced_gc, 0);
    assert!(
        m.next_gc >= 4 << 20,
        "goal {} below the 4 MiB minimum",
        m.next_gc
    );

    // Mark assists happened: allocation raced the single background worker.
    let assists: u64 = c.cycle_records().iter().map(|r| r.assist_cpu_ns).sum();
    assert!(assists > 0, "no assist ran in {paced} cycles");

    // GOGC=off: no paced cycle at all.
    assert_eq!(c.set_gc_percent(-1), 100);
    let before = c.num_gc();
    churn(host, 32);
    assert_eq!(c.num_gc(), before, "a cycle ran with GOGC=off");
    assert_eq!(c.mem_stats().next_gc, i64::MAX as u64);

    // A memory limit alone paces again (Go: GOGC=off + GOMEMLIMIT).
    assert_eq!(c.set_memory_limit(-1), NO_LIMIT, "negative only reads");
    assert_eq!(c.set_memory_limit(24 << 20), NO_LIMIT);
    let before = c.num_gc();
    churn(host, 48);
    assert!(
        c.num_gc() > before,
        "the memory limit did not start a cycle"
    );
    assert!(c.mem_stats().next_gc < 24 << 20);
    assert_eq!(c.set_memory_limit(NO_LIMIT), 24 << 20);
    assert_eq!(c.set_gc_percent(100), -1);

    // gc() forces exactly one more completed cycle, counted as forced.
    let (tx, rx) = std::sync::mpsc::channel();
    host.spawn_mutator(move || {
        tx.send(Root::new(Gc::new(Link {
            next: GcCell::new(None),
            n: 42,
        })))
        .unwrap();
    })
    .join()
    .unwrap();
    let r: Root<Link> = rx.recv().unwrap();
    let n = c.num_gc();
    collector::gc();
    let m = c.mem_stats();
    assert!(m.num_gc > n);
    assert_eq!(m.num_forced_gc, 1);
    assert_eq!(r.get().n, 42);
    // Everything but the rooted object and the live list is garbage now.
    assert!(
        m.heap_alloc < 1 << 20,
        "heap_alloc {} after gc()",
        m.heap_alloc
    );

    // free_os_memory: a cycle, then free pages back to the OS.
    let released = c.free_os_memory();
    let m = c.mem_stats();
    assert!(released > 0, "nothing released");
    assert!(m.heap_released >= released as u64);
    assert_eq!(m.num_forced_gc, 2);
    assert_eq!(m.check_invariants(), Ok(()));

    // A conservative object (runtime buffer of unknown layout) keeps what
    // any of its words points into alive, interior pointers included; it
    // is itself held only by a runtime-held range (a mailbox).
    host.spawn_mutator(move || {
        let heap = gort_gc::heap::global();
        let buf = heap.alloc(64, gort_gc::ObjectKind::Conservative) as *mut usize;
        let child = Gc::new(Link {
            next: GcCell::new(None),
            n: 7,
        });
        // SAFETY: `buf` is a fresh 64-byte object; word 3 is inside it.
        unsafe { buf.add(3).write(child.base() + 9) };
        host.send(9, buf as usize);
    })
    .join()
    .unwrap();
    collector::gc();
    collector::gc();
    let buf = host.try_recv(9).unwrap();
    host.send(9, buf);
    // SAFETY: the buffer is alive (held by the mailbox); word 3 was written above.
    let inner = unsafe { (buf as *const usize).add(3).read() };
    let h = gort_gc::heap::global();
    let child = h
        .find_object(inner)
        .expect("child of a conservative object was freed");
    // SAFETY: `child.value()` is a live Link (`repr(C)`: `next` at +0, `n`
    // at +8).
    let n = unsafe { *((child.value() + 8) as *const u64) };
    assert_eq!(n, 7, "child contents");
    // Drop the buffer: both go.
    assert_eq!(host.try_recv(9), Some(buf));
    collector::gc();
    assert!(
        h.find_object(buf).is_none(),
        "unreachable conservative object survived"
    );
    assert!(h.find_object(inner).is_none(), "its child survived");
}
