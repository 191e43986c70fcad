//! Concurrent stack scanning under stress: goroutine stacks are scanned one
//! at a time while the world runs (by mark workers' stack jobs, or by the
//! scheduler just before it runs a goroutine), so values keep moving between
//! scanned and unscanned stacks while a cycle marks. Here lists travel
//! around a ring of goroutines — through unbuffered hand-offs to parked
//! receivers, through buffered channels, through `select!`, and inside the
//! start closures of goroutines spawned mid-mark — under `GOGC=1` (cycles
//! back to back) with `clobberfree` (a freed cell reads 0xdeadbeef), and
//! every hop verifies the list's checksum.
//!
//! A list freed while still reachable shows as a checksum mismatch (or a
//! crash on the poisoned pointer); the test also checks that the stacks
//! were in fact scanned concurrently (the scheduler's counters).

use gort::crates::gc::collector;
use gort::crates::scheduler::stack_scan_counts;
use gort::sync::WaitGroup;
use gort::{chan, go, select, Builder, Chan, Gc};
use gort_tests::lists::{expected, list, sum, Cell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Cells per list.
const LEN: u64 = 40;

/// A list on its way, with the salt that determines its checksum and the
/// hops it still has to make.
type Token = (u64, u64, Gc<Cell>);

#[test]
fn lists_survive_a_ring_of_goroutines_while_stacks_are_scanned_concurrently() {
    // Several rounds: a lost object shows up in some interleavings only.
    for round in 0..4 {
        ring(round);
    }
}

fn ring(round: u64) {
    Builder::new().gc_percent(1).clobberfree(true).run(move || {
        const RELAYS: usize = 64;
        const TOKENS: u64 = 96;
        const HOPS: u64 = 60;
        // Parked goroutines that each hold a list on their stack for the
        // whole test: their stacks are stack jobs of every cycle.
        const IDLE: u64 = 1000;
        // Cycles the round must span; a token's generation (below 1000)
        // bounds the round if cycles stop completing. At least ten of them
        // run wholly while the idle goroutines are parked (the first may
        // have begun before they were spawned, the last may end after they
        // were released).
        const MIN_CYCLES: u32 = 12;
        let num_gc = || collector::global().num_gc();
        let before = num_gc();
        let scans_before = stack_scan_counts();
        let bad = Arc::new(AtomicU64::new(0));

        let release = chan::<()>(0);
        let idle = WaitGroup::new();
        for i in 0..IDLE {
            let (release, idle, bad) = (release.clone(), idle.clone(), bad.clone());
            idle.add(1);
            go(move || {
                let mine = list(3, i, 8);
                release.recv();
                if sum(mine) != expected(3, i) {
                    bad.fetch_add(1, Relaxed);
                }
                idle.done();
            });
        }

        // Every other inbox is unbuffered (a send hands the list straight to
        // the parked receiver's stack, or parks the sender with it).
        let inboxes: Vec<Chan<Token>> = (0..RELAYS)
            .map(|i| chan::<Token>(if i % 2 == 0 { 0 } else { 2 }))
            .collect();
        let finished = chan::<u64>(TOKENS as usize);
        let relays = WaitGroup::new();
        for r in 0..RELAYS {
            let inbox = inboxes[r].clone();
            let next = inboxes[(r + 1) % RELAYS].clone();
            let (finished, relays, bad) = (finished.clone(), relays.clone(), bad.clone());
            relays.add(1);
            go(move || {
                let mut hop = 0u64;
                while let Some((salt, left, l)) = inbox.recv() {
                    if sum(l) != expected(LEN, salt) {
                        bad.fetch_add(1, Relaxed);
                    }
                    // Allocate while the list is only on this stack.
                    std::hint::black_box(list(5, 0, 8));
                    hop += 1;
                    if left == 0 {
                        finished.send(salt);
                        continue;
                    }
                    let token = (salt, left - 1, l);
                    match hop % 3 {
                        // The list rides in the start closure of a goroutine
                        // born now (while a cycle marks, more often than not).
                        0 => {
                            let next = next.clone();
                            go(move || next.send(token));
                        }
                        // A select with a send case: the value waits in the
                        // case on this stack.
                        1 => select! {
                            send(next, token) => {},
                        },
                        _ => next.send(token),
                    }
                }
                relays.done();
            });
        }

        // Inject the tokens from spawned goroutines, so the main goroutine
        // never blocks on a full ring. A token that comes back is sent round
        // again (as a new generation, with a new list) until enough cycles
        // have completed: the round lasts as many cycles as it needs, however
        // fast or slow the machine is.
        let injectors = WaitGroup::new();
        let inject = |t: u64, generation: u64| {
            let inbox = inboxes[t as usize % RELAYS].clone();
            let injectors = injectors.clone();
            injectors.add(1);
            let salt = t * 1000 + generation;
            go(move || {
                inbox.send((salt, HOPS, list(LEN, salt, 8)));
                injectors.done();
            });
            salt
        };
        let mut sent: Vec<u64> = (0..TOKENS).map(|t| inject(t, 0)).collect();
        let mut got = Vec::with_capacity(sent.len());
        let mut outstanding = TOKENS;
        while outstanding > 0 {
            let salt = finished.recv().expect("a finished token");
            got.push(salt);
            outstanding -= 1;
            let generation = salt % 1000;
            if num_gc() - before < MIN_CYCLES && generation + 1 < 1000 {
                sent.push(inject(salt / 1000, generation + 1));
                outstanding += 1;
            }
        }
        injectors.wait();
        for c in &inboxes {
            c.close();
        }
        relays.wait();
        release.close();
        idle.wait();

        got.sort_unstable();
        sent.sort_unstable();
        assert_eq!(got, sent, "every token came back once");
        assert_eq!(bad.load(Relaxed), 0, "no list was corrupted");
        let cycles = num_gc() - before;
        assert!(
            cycles >= MIN_CYCLES,
            "GOGC=1 should collect often, got {cycles} cycles in {} token trips",
            got.len()
        );
        let scans = stack_scan_counts();
        let by_jobs = scans.by_jobs - scans_before.by_jobs;
        let before_run = scans.before_run - scans_before.before_run;
        eprintln!(
            "round {round}: {cycles} cycles; stacks scanned by stack jobs {by_jobs}, by the scheduler before running {before_run}, at mark termination {}",
            scans.at_termination - scans_before.at_termination
        );
        // The idle goroutines alone are IDLE stack jobs per cycle.
        assert!(
            by_jobs >= IDLE * 10,
            "stacks were not scanned by stack jobs: {scans:?}"
        );
    });
}
