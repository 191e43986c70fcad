//! Correctness under stress: MockHost mutator threads build, mutate, pass
//! and verify linked structures while collections run back to back
//! (GOGC=1) with clobberfree poisoning; then a leak check.
//!
//! One test per file: the collector and heap are process-wide.

extern crate gort_gc as gort;

use gort_gc::collector::{self, GcConfig};
use gort_gc::host::Host;
use gort_gc::tests::mock_host::MockHost;
use gort_gc::{heap, make_slice, Gc, GcCell, GcSlice, Root, Trace};

#[derive(Trace)]
struct Node {
    val: u64,
    payload: GcSlice<u8>,
    next: GcCell<Option<Gc<Node>>>,
}

const THREADS: usize = 3;
const ROUNDS: u64 = 300;
const SLOTS: usize = 8;
const LEN: u64 = 120;

fn payload_byte(val: u64, i: usize) -> u8 {
    (val.wrapping_mul(31).wrapping_add(i as u64 * 7) & 0xff) as u8
}

fn new_node(val: u64, next: Option<Gc<Node>>) -> Gc<Node> {
    let n = 8 + (val % 40) as usize;
    let payload = make_slice::<u8>(n);
    for i in 0..n {
        payload.set(i, payload_byte(val, i));
    }
    Gc::new(Node {
        val,
        payload,
        next: GcCell::new(next),
    })
}

/// Build a list of `LEN` nodes with values base..base+LEN (head = last).
fn build(base: u64) -> Gc<Node> {
    let mut head = None;
    for k in 0..LEN {
        head = Some(new_node(base + k, head));
    }
    head.unwrap()
}

/// Reverse the list in place through `GcCell::set` (every store runs the
/// barrier; during marking this moves pointers between fields).
fn reverse(head: Gc<Node>) -> Gc<Node> {
    let mut prev: Option<Gc<Node>> = None;
    let mut cur = Some(head);
    while let Some(c) = cur {
        let next = c.next.get();
        c.next.set(prev);
        prev = Some(c);
        cur = next;
    }
    prev.unwrap()
}

/// Check length, sum and every payload byte; returns the sum.
fn verify(head: Gc<Node>, base: u64, what: &str) -> u64 {
    let mut n = 0;
    let mut sum = 0;
    let mut cur = Some(head);
    while let Some(c) = cur {
        let v = c.val;
        assert!(
            v >= base && v < base + LEN,
            "{what}: node value {v:#x} out of range (freed and poisoned?)"
        );
        let p = c.payload;
        assert_eq!(
            p.len(),
            8 + (v % 40) as usize,
            "{what}: payload length of {v}"
        );
        for i in 0..p.len() {
            assert_eq!(
                p.get(i),
                payload_byte(v, i),
                "{what}: payload byte {i} of {v}"
            );
        }
        sum += v;
        n += 1;
        cur = c.next.get();
    }
    assert_eq!(n, LEN, "{what}: list length");
    assert_eq!(sum, LEN * base + LEN * (LEN - 1) / 2, "{what}: sum");
    sum
}

fn mutator(host: &'static MockHost, id: usize, shared: GcSlice<Option<Gc<Node>>>) {
    let mut received = 0u64;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ id as u64;
    for round in 0..ROUNDS {
        let base = ((id as u64) << 40) | (round << 16);
        let list = build(base);
        let list = reverse(list);
        verify(list, base, "own list");
        // Swap it into a shared slot (barriered store into a heap object
        // other threads read and overwrite concurrently) and check what was
        // there: lists move heap → stack → heap while marking runs.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let slot = (rng % SLOTS as u64) as usize;
        let old = shared.get(slot);
        shared.set(slot, Some(list));
        if let Some(o) = old {
            // Another thread may read it concurrently: verify only.
            verify(o, o.val & !0xffff, "list from a shared slot");
        }
        // Hand it to the next thread (the mailbox is a runtime-held root),
        // with its base so the receiver can check it.
        host.send(2 * ((id + 1) % THREADS), list.base());
        host.send(2 * ((id + 1) % THREADS) + 1, base as usize);
        while let Some(addr) = host.try_recv(2 * id) {
            let b = loop {
                if let Some(b) = host.try_recv(2 * id + 1) {
                    break b as u64;
                }
                host.safepoint();
            };
            // SAFETY: `addr` is the base of a Gc<Node> a peer sent; the
            // mailbox kept it alive until now and our stack does from here.
            let l: Gc<Node> = unsafe { Gc::from_base(addr) };
            // The sender also put it in a shared slot: verify only.
            verify(l, b, "received list");
            received += 1;
        }
        host.safepoint();
        if round % 50 == 49 {
            // A mutator forcing a cycle (stops the world from a P).
            collector::gc();
        }
    }
    assert!(received > 0, "thread {id} never received a list");
}

#[test]
fn stress_back_to_back_collections_with_clobberfree() {
    let host = MockHost::leak(4);
    let c = collector::install(
        host,
        GcConfig {
            gc_percent: 1,
            clobberfree: true,
            ..GcConfig::default()
        },
    )
    .expect("first install");
    let start = heap::global().stats().heap_alloc;

    // A list held only by a Root handed to this thread, which has no P: its
    // stack is not a root (only mutators' are), the Root's registry is.
    let (tx, rx) = std::sync::mpsc::channel();
    host.spawn_mutator(move || {
        let r = Root::new(build(7 << 50));
        tx.send(r).unwrap();
    })
    .join()
    .unwrap();
    let rooted: Root<Node> = rx.recv().unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    host.spawn_mutator(move || {
        tx.send(Root::new(Gc::new(make_slice::<Option<Gc<Node>>>(SLOTS))))
            .unwrap();
    })
    .join()
    .unwrap();
    let shared: Root<GcSlice<Option<Gc<Node>>>> = rx.recv().unwrap();
    let slots = *shared.get();

    let threads: Vec<_> = (0..THREADS)
        .map(|id| host.spawn_mutator(move || mutator(host, id, slots)))
        .collect();
    // Back to back: besides the GOGC=1 triggers, force cycles until done.
    let mut forced = 0;
    while !threads.iter().all(|t| t.is_finished()) {
        collector::gc();
        forced += 1;
    }
    for t in threads {
        t.join().expect("mutator failed");
    }
    eprintln!("stress: {forced} forced cycles from the main thread");
    let cycles = c.num_gc();
    verify(rooted.get(), 7 << 50, "rooted list");
    eprintln!(
        "stress: {cycles} cycles, {} STW stops, pauses {:?}, restarts {}",
        host.stops(),
        c.pause_summary(),
        c.mark_restarts()
    );
    // Each mutator called gc() ROUNDS/50 times, one call after another, and
    // each call returns only after a whole cycle that started after the call
    // did: so at least ROUNDS/50 cycles ran. Calls of different threads may
    // share a cycle, and a call may be satisfied by a cycle that GOGC=1
    // started meanwhile (Go's runtime.GC counts only the cycle it starts
    // itself as forced, gcTriggerCycle), so the forced count has no larger
    // lower bound than one.
    let calls_per_mutator = (ROUNDS / 50) as u32;
    assert!(cycles >= calls_per_mutator, "{cycles} cycles");
    assert!(c.mem_stats().num_forced_gc >= 1, "{cycles} cycles");

    // Leak check: drop every root, drain the mailboxes, two forced cycles.
    drop(rooted);
    drop(shared);
    for b in 0..2 * THREADS {
        while host.try_recv(b).is_some() {}
    }
    collector::gc();
    collector::gc();
    let m = c.mem_stats();
    let end = m.heap_alloc;
    eprintln!("leak check: heap_alloc start {start} end {end}");
    assert!(
        end <= start + (64 << 10),
        "heap_alloc {end} did not return near its start {start}"
    );
    assert!(m.num_forced_gc >= 2);
    assert_eq!(m.num_gc, c.num_gc());
    assert_eq!(m.check_invariants(), Ok(()));
    assert!(m.pause_total_ns > 0);
    assert_eq!(
        m.last_pause_ns(),
        m.pause_ns[(m.num_gc as usize + 255) % 256]
    );
    let _ = host.gomaxprocs();
}
