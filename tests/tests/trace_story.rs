//! The trace tells what the program did: the walk-through's `trace`
//! program (ten 100 MB slices, then a goroutine that allocates 500 MB while
//! main waits on a WaitGroup), plus a contended Mutex, a channel receive
//! and a blocking system call, traced and read back event by event
//! (`gort_profiler::trace::v1::decode`):
//!
//! * the Heap counter (`HeapAlloc`) follows the heap as it grows, not only
//!   at collections: its maximum covers the 500 MB slice, and each 100 MB
//!   allocation shows as a step of the saw-tooth;
//! * the main goroutine is created with the start function `runtime.main`;
//! * `WaitGroup::wait` and `Mutex::lock` block as `GoBlockSync`, the
//!   receive as `GoBlockRecv`, each with the blocking function's stack;
//! * `gort::blocking` is a system call: `GoSysCall` (with its stack),
//!   `GoSysBlock` when the P is handed to another M, `GoSysExit` when the
//!   goroutine is back.
//!
//! Where Go is installed, Go 1.19's `go tool trace` parses the file and its
//! synchronization and syscall profiles name the blocking functions, and
//! the newer Go (`$HOME/go127`) parses it too; without them those parts
//! are skipped with a printed reason.

use gort::crates::profiler::trace::v1::{self, ev, Decoded, RawEvent};
use gort::sync::{Mutex, WaitGroup};
use gort::{chan, go, make_slice, sleep, Chan, GcSlice};
use gort_tests::go_tools::{go_tool, go_tool_bytes, go_tool_of, have_go, newer_go, TestDir};
use gort_tests::lists::{expected, list, sum};
use gort_tests::view_trace;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const BIG: usize = 100_000_000;
const HUGE: usize = 500_000_000;

// Each blocking function does something after its blocking call, so that
// the call is not a tail call (whose frame the stack would not show).
#[inline(never)]
fn wait_for_worker(wg: &WaitGroup) {
    wg.wait();
    std::hint::black_box(());
}

#[inline(never)]
fn lock_contended(m: &Mutex<u64>) {
    *m.lock() += 1;
}

#[inline(never)]
fn recv_from_sleeper(c: &Chan<u64>) -> u64 {
    c.recv().expect("a value")
}

#[inline(never)]
fn blocking_sleep() {
    gort::blocking(|| std::thread::sleep(Duration::from_millis(30)));
    std::hint::black_box(());
}

/// The program, on its main goroutine, under the tracer.
fn program(out: Shared) {
    gort::run(move || {
        gort::trace::start(out).unwrap();
        // Pointer-rich garbage while the other P has nothing to run: its
        // idle marking (Go's "GC (idle)" worker) has objects to scan.
        for round in 0..8u64 {
            let l = list(50_000, round, 2);
            assert_eq!(sum(l), expected(50_000, round));
        }
        for _ in 0..10 {
            let s = make_slice::<u8>(BIG);
            assert_eq!(std::hint::black_box(s).len(), BIG);
        }
        // The walk-through's goroutine, after a nap so that main is
        // certainly waiting when it finishes.
        let wg = WaitGroup::new();
        wg.add(1);
        let result = chan::<GcSlice<u8>>(1);
        {
            let (wg, result) = (wg.clone(), result.clone());
            go(move || {
                sleep(Duration::from_millis(5));
                result.send(make_slice::<u8>(HUGE));
                wg.done();
            });
        }
        wait_for_worker(&wg);
        let huge = result.recv().expect("the slice");
        // A mutex held by a goroutine while main wants it.
        let m = Arc::new(Mutex::new(0u64));
        let held = chan::<()>(0);
        {
            let (m, held) = (m.clone(), held.clone());
            go(move || {
                let mut g = m.lock();
                held.send(());
                sleep(Duration::from_millis(10));
                *g += 1;
            });
        }
        held.recv();
        lock_contended(&m);
        // A receive whose sender sleeps first.
        let c = chan::<u64>(0);
        {
            let c = c.clone();
            go(move || {
                sleep(Duration::from_millis(5));
                c.send(7);
            });
        }
        assert_eq!(recv_from_sleeper(&c), 7);
        // A blocking system call on a goroutine while main keeps its P busy.
        let done = chan::<()>(1);
        {
            let done = done.clone();
            go(move || {
                blocking_sleep();
                done.send(());
            });
        }
        done.recv();
        assert_eq!(*m.lock(), 2);
        gort::trace::stop().unwrap();
        assert_eq!(huge.len(), HUGE);
    });
}

/// Events in time order with the goroutine each belongs to (the one last
/// started on its P, 0 for none), as Go's parser attributes them.
fn with_goroutines(d: &Decoded) -> Vec<(&RawEvent, u64)> {
    let mut order: Vec<&RawEvent> = d.events.iter().collect();
    order.sort_by_key(|e| e.ts); // stable: per-P order kept at equal times
    let mut cur: HashMap<u64, u64> = HashMap::new();
    let mut out = Vec::new();
    for e in order {
        let g = match e.ty {
            ev::GO_START => {
                cur.insert(e.p, e.args[0]);
                e.args[0]
            }
            _ => cur.get(&e.p).copied().unwrap_or(0),
        };
        out.push((e, g));
        if matches!(
            e.ty,
            ev::GO_END
                | ev::GO_STOP
                | ev::GO_SCHED
                | ev::GO_PREEMPT
                | ev::GO_SLEEP
                | ev::GO_SYS_BLOCK
                | ev::GO_BLOCK..=ev::GO_BLOCK_NET | ev::GO_BLOCK_GC
        ) {
            cur.remove(&e.p);
        }
    }
    out
}

#[test]
fn the_trace_shows_heap_blocks_syscalls_and_main() {
    let out = Shared::default();
    program(out.clone());
    let bytes = out.0.lock().unwrap().clone();
    if let Ok(p) = std::env::var("GORT_TRACE_STORY_OUT") {
        std::fs::write(p, &bytes).unwrap();
    }
    let d = v1::decode(&bytes).expect("a v1 trace");
    let evs = with_goroutines(&d);
    let count = |ty: u8| evs.iter().filter(|(e, _)| e.ty == ty).count();
    // The stack of an event whose last argument is a stack id.
    let stack_of = |e: &RawEvent| d.functions(*e.args.last().unwrap_or(&0)).join(" < ");

    // Heap: the counter's maximum covers the 500 MB slice (plus at most
    // one 100 MB slice not yet swept, and small change), and the ten
    // 100 MB slices and the 500 MB one each show as a rise.
    let heap: Vec<u64> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::HEAP_ALLOC)
        .map(|(e, _)| e.args[0])
        .collect();
    let max = heap.iter().copied().max().unwrap_or(0);
    let rises = heap
        .windows(2)
        // A slice is one step of heap_live; the sample before it may lag
        // the heap by the recorder's threshold (1/32 of the heap, < 10 MB).
        .filter(|w| w[1] >= w[0] + (BIG as u64) * 9 / 10)
        .count();
    eprintln!(
        "{} HeapAlloc events, max {} MB, {rises} rises of 90 MB or more",
        heap.len(),
        max / 1_000_000
    );
    assert!(
        max >= HUGE as u64 && max <= (HUGE + BIG + 50_000_000) as u64,
        "Heap maximum {max}, the program held at most {} bytes",
        HUGE + BIG
    );
    assert!(rises >= 11, "{rises} rises in {heap:?}");

    // The main goroutine: started first (it called trace::start), created
    // with the start function runtime.main, the only one so named.
    let main_g = evs
        .iter()
        .find(|(e, _)| e.ty == ev::GO_START)
        .map(|(e, _)| e.args[0])
        .expect("a GoStart");
    let mains: Vec<u64> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::GO_CREATE && d.functions(e.args[1]) == ["runtime.main"])
        .map(|(e, _)| e.args[0])
        .collect();
    assert_eq!(mains, [main_g], "runtime.main goroutines");

    // Synchronization: WaitGroup::wait and Mutex::lock as GoBlockSync, the
    // receive as GoBlockRecv, all on main, at the functions that block.
    let blocks = |ty: u8, f: &str| {
        evs.iter()
            .filter(|(e, g)| e.ty == ty && *g == main_g && stack_of(e).contains(f))
            .count()
    };
    assert_eq!(blocks(ev::GO_BLOCK_SYNC, "wait_for_worker"), 1);
    assert_eq!(blocks(ev::GO_BLOCK_SYNC, "lock_contended"), 1);
    assert_eq!(blocks(ev::GO_BLOCK_RECV, "recv_from_sleeper"), 1);

    // The system call: one GoSysCall at blocking_sleep; its goroutine
    // loses its P (GoSysBlock) and comes back (GoSysExit).
    let calls: Vec<(&RawEvent, u64)> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::GO_SYS_CALL && stack_of(e).contains("blocking_sleep"))
        .copied()
        .collect();
    assert_eq!(calls.len(), 1, "GoSysCall events at blocking_sleep");
    let (call, sys_g) = calls[0];
    assert_ne!(sys_g, 0);
    let sys_block = evs
        .iter()
        .filter(|(e, g)| e.ty == ev::GO_SYS_BLOCK && *g == sys_g && e.ts >= call.ts)
        .count();
    let sys_exit: Vec<u64> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::GO_SYS_EXIT && e.args[0] == sys_g && e.ts >= call.ts)
        .map(|(e, _)| e.ts)
        .collect();
    assert!(sys_block >= 1, "no GoSysBlock for G{sys_g}");
    assert!(!sys_exit.is_empty(), "no GoSysExit for G{sys_g}");
    eprintln!(
        "{} events; GoSysCall/Block/Exit {}/{}/{}; GoBlockSync {}, GoBlockRecv {}",
        d.events.len(),
        count(ev::GO_SYS_CALL),
        count(ev::GO_SYS_BLOCK),
        count(ev::GO_SYS_EXIT),
        count(ev::GO_BLOCK_SYNC),
        count(ev::GO_BLOCK_RECV)
    );

    // The collector's work on the allocating goroutines: each of the ten
    // 100 MB slices after the first finds a cycle running or just over, so
    // the goroutine assists (GCMarkAssistStart/Done, on one goroutine) or
    // sweeps first (GCSweepStart/Done, on one P); every start has its end.
    let mut assist_open: HashMap<u64, u64> = HashMap::new();
    let mut sweep_open: HashMap<u64, u64> = HashMap::new();
    let (mut assists, mut sweeps) = (0, 0);
    for (e, g) in &evs {
        match e.ty {
            ev::GC_MARK_ASSIST_START => {
                assert!(*g != 0, "an assist outside a goroutine");
                assert!(
                    assist_open.insert(*g, e.ts).is_none(),
                    "nested assist on G{g}"
                );
            }
            ev::GC_MARK_ASSIST_DONE => {
                assists += assist_open.remove(g).map_or(0, |_| 1);
            }
            ev::GC_SWEEP_START => {
                assert!(
                    sweep_open.insert(e.p, e.ts).is_none(),
                    "nested sweep on P{}",
                    e.p
                );
            }
            ev::GC_SWEEP_DONE => {
                assert!(sweep_open.remove(&e.p).is_some(), "sweep end without start");
                sweeps += 1;
            }
            _ => {}
        }
    }
    eprintln!("{assists} mark assists, {sweeps} sweeps by allocating goroutines");
    let idle: Vec<&RawEvent> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::GO_START_LABEL)
        .map(|(e, _)| *e)
        .collect();
    eprintln!("{} GoStartLabel events", idle.len());
    // The idle P's marking during the list phase: its mark worker
    // goroutine, created as runtime.gcBgMarkWorker, runs as "GC (idle)";
    // the background worker (fractional with 2 Ps, dedicated with more)
    // and the stops of the world the collector's own thread makes run on
    // a P's worker where no goroutine runs (tests/trace_workers.rs counts
    // them).
    let workers: HashMap<u64, Vec<&str>> = evs
        .iter()
        .filter(|(e, _)| e.ty == ev::GO_CREATE)
        .map(|(e, _)| (e.args[0], d.functions(e.args[1])))
        .collect();
    let mut labels: HashMap<&str, usize> = HashMap::new();
    for e in &idle {
        let label = d.strings.get(&e.args[2]).map_or("", String::as_str);
        *labels.entry(label).or_default() += 1;
        assert_eq!(workers[&e.args[0]], ["runtime.gcBgMarkWorker"]);
    }
    eprintln!("worker runs by label: {labels:?}");
    assert!(
        labels.contains_key("GC (idle)"),
        "no idle mark worker: {labels:?}"
    );
    assert!(
        labels
            .keys()
            .all(|l| ["GC (idle)", "GC (dedicated)", "GC (fractional)"].contains(l)),
        "{labels:?}"
    );
    assert!(sweep_open.is_empty(), "sweeps left open: {sweep_open:?}");
    assert!(
        assists + sweeps >= 1,
        "no assist and no sweep in ten cycles"
    );

    // Go's tools.
    let test = "the_trace_shows_heap_blocks_syscalls_and_main";
    let dir = TestDir::new("trace-story");
    std::fs::write(dir.join("trace.out"), &bytes).unwrap();
    if have_go(test) {
        go_tool(&dir, &["trace", "-d", "trace.out"]);
        if let Err(e) = view_trace(None, &dir, "trace.out") {
            panic!("Go 1.19's viewer: {e}");
        }
        for (kind, f) in [("sync", "wait_for_worker"), ("syscall", "blocking_sleep")] {
            let prof = go_tool_bytes(&dir, &["trace", &format!("-pprof={kind}"), "trace.out"]);
            std::fs::write(dir.join(format!("{kind}.pprof")), prof).unwrap();
            let (top, _) = go_tool(&dir, &["pprof", "-top", &format!("{kind}.pprof")]);
            assert!(top.contains(f), "-pprof={kind} should name {f}:\n{top}");
        }
    }
    if let Some(root) = newer_go(test) {
        let (ok, out, err) = go_tool_of(&root, &dir, &["trace", "-d=parsed", "trace.out"]);
        assert!(
            ok,
            "newer go tool trace -d=parsed:\n{err}\n{}",
            &out[..out.len().min(2000)]
        );
        if let Err(e) = view_trace(Some(&root), &dir, "trace.out") {
            panic!("the newer Go's viewer: {e}");
        }
    }
}
