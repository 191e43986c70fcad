//! Every name of DESIGN §3 used through `gort` alone, each with an
//! assertion on what it did: the facade's re-exports and wrappers are the
//! contract samples and users build on.

use gort::debug::{free_os_memory, set_gc_percent, set_memory_limit};
use gort::runtime::{gc, gomaxprocs, num_goroutine, read_mem_stats};
use gort::sync::{Mutex, WaitGroup};
use gort::{chan, go, gosched, make_slice, select, sleep, Chan, Gc, GcCell, GcSlice, Root, Trace};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Trace)]
struct Pair {
    a: u64,
    b: GcCell<Option<Gc<Pair>>>,
}

#[test]
fn managed_heap_names() {
    gort::run(|| {
        let p = Gc::new(Pair {
            a: 1,
            b: GcCell::new(None),
        });
        let q = Gc::new(Pair {
            a: 2,
            b: GcCell::new(Some(p)),
        });
        p.b.set(Some(q)); // a cycle
        let s: GcSlice<Option<Gc<Pair>>> = make_slice(3);
        assert_eq!(s.len(), 3);
        assert!(s.get(0).is_none(), "make_slice is zeroed");
        s.set(2, Some(q));
        let root = Root::new(p);
        gc();
        assert_eq!(root.get().a, 1);
        assert_eq!(root.get().b.get().expect("q").a, 2);
        assert_eq!(s.get(2).expect("q").b.get().expect("p").a, 1);
        let bytes: GcSlice<u8> = make_slice(10);
        bytes.set(9, 7);
        assert_eq!(bytes.get(9), 7);
    });
}

#[test]
fn goroutines_channels_select() {
    gort::run(|| {
        let c: Chan<u32> = chan(2);
        assert_eq!(c.cap(), 2);
        assert!(c.try_send(1).is_ok());
        assert!(c.try_send(2).is_ok());
        assert_eq!(c.try_send(3), Err(3), "full: the value comes back");
        assert_eq!(c.len(), 2);
        assert_eq!(c.recv(), Some(1));
        assert_eq!(c.try_recv(), Some(2));
        assert_eq!(c.try_recv(), None);

        let empty = chan::<u32>(0);
        let got = select! {
            recv(empty) -> v => v,
            default => Some(99),
        };
        assert_eq!(got, Some(99), "default when nothing is ready");

        let ready = chan::<u32>(1);
        let tx = ready.clone();
        go(move || {
            gosched();
            tx.send(5);
        });
        let got = select! {
            recv(empty) -> v => v.map(|x| x + 1000),
            recv(ready) -> v => v,
        };
        assert_eq!(got, Some(5));

        c.close();
        assert_eq!(c.recv(), None, "closed and drained");
    });
}

#[test]
fn sync_and_time() {
    gort::run(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let wg = WaitGroup::new();
        for _ in 0..8 {
            let (counter, wg) = (counter.clone(), wg.clone());
            wg.add(1);
            go(move || {
                for i in 0..1000 {
                    *counter.lock() += 1;
                    if i % 100 == 0 {
                        gosched();
                    }
                }
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(*counter.lock(), 8000);

        let t = Instant::now();
        sleep(Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(num_goroutine() >= 1);
        assert!(gomaxprocs(0) >= 1);
    });
}

#[test]
fn debug_knobs() {
    gort::run(|| {
        let old = set_gc_percent(50);
        assert_eq!(set_gc_percent(old), 50, "returns the previous value");
        let old_limit = set_memory_limit(1 << 40);
        assert_eq!(set_memory_limit(-1), 1 << 40, "negative only reads");
        set_memory_limit(old_limit);

        // free_os_memory: collect, then give free pages back to the OS.
        {
            let big: GcSlice<u8> = make_slice(64 << 20);
            big.set(0, 1);
            std::hint::black_box(big);
        }
        let before = read_mem_stats();
        free_os_memory();
        let after = read_mem_stats();
        assert!(
            after.num_gc > before.num_gc,
            "free_os_memory runs a collection"
        );
        assert!(after.heap_released >= before.heap_released);
        assert_eq!(after.heap_idle + after.heap_inuse, after.heap_sys);
    });
}

#[test]
fn gomaxprocs_changes_while_collecting() {
    gort::run(|| {
        let start = gomaxprocs(0);
        assert_eq!(gomaxprocs(1), start, "returns the previous setting");
        assert_eq!(gomaxprocs(0), 1);
        // The collector works with the new P count: a graph built before
        // the change survives collections made after it.
        let keep = Gc::new(Pair {
            a: 42,
            b: GcCell::new(None),
        });
        let done = chan::<u64>(4);
        for i in 0..4 {
            let done = done.clone();
            go(move || {
                let mut sum = 0;
                for j in 0..2000u64 {
                    sum += Gc::new(Pair {
                        a: j,
                        b: GcCell::new(None),
                    })
                    .a;
                }
                done.send(sum + i);
            });
        }
        gc();
        assert_eq!(gomaxprocs(start.max(2)), 1);
        gc();
        let total: u64 = (0..4).map(|_| done.recv().expect("sum")).sum();
        assert_eq!(total, 4 * (1999 * 2000 / 2) + 6);
        assert_eq!(keep.a, 42);
        gomaxprocs(start);
    });
}
