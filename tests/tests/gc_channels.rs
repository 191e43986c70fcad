//! Goroutines, channels and managed graphs under constant collection
//! (`gc_percent(1)`, i.e. `GOGC=1`) with freed objects poisoned
//! (`clobberfree`): a `Gc<T>` that is only reachable from a channel buffer,
//! a blocked sender, a goroutine's start closure, a `GcSlice` or a `Root`
//! survives any number of cycles, and every graph's checksum is intact.

use gort::crates::gc::collector;
use gort::runtime::gc;
use gort::sync::{Mutex, WaitGroup};
use gort::{chan, go, make_slice, Builder, Gc, GcSlice, Root};
use gort_tests::lists::{expected, list, sum, Cell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

fn stressed() -> Builder {
    Builder::new().gc_percent(1).clobberfree(true)
}

#[test]
fn values_in_channel_buffers_survive() {
    stressed().run(|| {
        let c = chan::<Gc<Cell>>(16);
        for i in 0..16 {
            c.send(list(100, i, 16));
        }
        // Only the channel buffer refers to the lists now.
        for _ in 0..3 {
            gc();
            std::hint::black_box(list(500, 99, 16));
        }
        for i in 0..16 {
            let l = c.try_recv().expect("16 buffered values");
            assert_eq!(sum(l), expected(100, i));
        }
        assert!(c.try_recv().is_none());
    });
}

#[test]
fn values_held_by_blocked_senders_and_start_closures_survive() {
    stressed().run(|| {
        let c = chan::<Gc<Cell>>(0);
        let wg = WaitGroup::new();
        for i in 0..8 {
            // The list is reachable only from this goroutine's start
            // closure until it runs, then from its stack while it is
            // blocked in send.
            let l = list(200, i, 16);
            let (c, wg) = (c.clone(), wg.clone());
            wg.add(1);
            go(move || {
                c.send(l);
                wg.done();
            });
        }
        for _ in 0..3 {
            gc();
        }
        let mut got: Vec<u64> = (0..8).map(|_| sum(c.recv().expect("a list"))).collect();
        got.sort_unstable();
        let mut want: Vec<u64> = (0..8).map(|i| expected(200, i)).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        wg.wait();
    });
}

#[test]
fn producers_and_consumers_exchange_graphs_under_gogc_1() {
    stressed().run(|| {
        const PRODUCERS: u64 = 4;
        // Lists each producer sends at least, and at most (a producer goes
        // on past the minimum until MIN_CYCLES cycles have completed, so the
        // test spans them however fast cycles are).
        const LISTS: u64 = 50;
        const MAX_LISTS: u64 = 1000;
        const MIN_CYCLES: u32 = 10;
        const LEN: u64 = 300;
        let num_gc = || collector::global().num_gc();
        let before = num_gc();
        let c = chan::<(u64, Gc<Cell>)>(4);
        let sent = std::sync::Arc::new(AtomicU64::new(0));
        let producers = WaitGroup::new();
        for p in 0..PRODUCERS {
            let (c, producers, sent) = (c.clone(), producers.clone(), sent.clone());
            producers.add(1);
            go(move || {
                let mut k = 0;
                while k < LISTS || (num_gc() - before < MIN_CYCLES && k < MAX_LISTS) {
                    let salt = p * 1000 + k;
                    c.send((salt, list(LEN, salt, 16)));
                    sent.fetch_add(1, Relaxed);
                    k += 1;
                }
                producers.done();
            });
        }
        let results = chan::<u64>((PRODUCERS * MAX_LISTS) as usize);
        let consumers = WaitGroup::new();
        let bad = std::sync::Arc::new(Mutex::new(0u64));
        for _ in 0..3 {
            let (c, results, consumers) = (c.clone(), results.clone(), consumers.clone());
            let bad = bad.clone();
            consumers.add(1);
            go(move || {
                while let Some((salt, l)) = c.recv() {
                    // Allocate while holding the list only on this stack.
                    std::hint::black_box(list(50, 0, 16));
                    if sum(l) != expected(LEN, salt) {
                        *bad.lock() += 1;
                    }
                    results.send(salt);
                }
                consumers.done();
            });
        }
        producers.wait();
        c.close();
        consumers.wait();
        results.close();
        let mut n = 0;
        while results.recv().is_some() {
            n += 1;
        }
        assert_eq!(n, sent.load(Relaxed), "every list arrived");
        assert_eq!(*bad.lock(), 0, "no list was corrupted");
        let cycles = num_gc() - before;
        assert!(
            cycles >= MIN_CYCLES,
            "GOGC=1 should collect often, got {cycles} cycles for {n} lists"
        );
    });
}

#[test]
fn slices_of_pointers_and_roots_survive() {
    stressed().run(|| {
        let table: GcSlice<Option<Gc<Cell>>> = make_slice(64);
        for i in 0..64 {
            table.set(i, Some(list(20, i as u64, 16)));
        }
        // A Root keeps a list alive from non-managed memory (a std Vec).
        let roots: Vec<Root<Cell>> = (0..8).map(|i| Root::new(list(30, 100 + i, 16))).collect();
        for round in 0..4u64 {
            gc();
            // Overwrite half the table: the old lists become garbage.
            for i in (0..64).step_by(2) {
                table.set(i, Some(list(20, 1000 * (round + 1) + i as u64, 16)));
            }
        }
        for i in 0..64 {
            let salt = if i % 2 == 0 {
                4000 + i as u64
            } else {
                i as u64
            };
            assert_eq!(
                sum(table.get(i).expect("set")),
                expected(20, salt),
                "slot {i}"
            );
        }
        for (i, r) in roots.iter().enumerate() {
            assert_eq!(sum(r.get()), expected(30, 100 + i as u64));
        }
    });
}
