//! A small, fixed, synthetic program history — goroutines, nested stacks, a
//! GC cycle, blocking — expressed in the crate's input model, so every
//! encoder can be run and checked with the real tools in one command:
//!
//! ```sh
//! cargo run --release -p gort-profiler --example synthetic -- DIR
//! go tool pprof -raw DIR/cpu.pb.gz ; go tool trace -d DIR/trace.out
//! ```
//!
//! See [crate] for the overview. The "program" is a Go-like `main` that
//! starts workers and a consumer: the workers compute (`main.fib`),
//! allocate trees (`main.buildTree`) and contend on a mutex; the consumer
//! talks to `main` over a channel and sleeps. The interop tests
//! (`profiler/tests/go_tools.rs`) assert the exact values below.

use std::io;
use std::path::{Path, PathBuf};

use crate::memstats::MemStats;
use crate::pprof::{
    self, aggregate_counts, ContentionKind, ContentionRecord, CountRecord, CpuSample, HeapKind,
    MemRecord, ProfileMeta,
};
use crate::stack::Frame;
use crate::text::{self, GoroutineDump};
use crate::trace::{json, v1, BlockReason, EventKind, StwKind, Trace};

/// Source file of the synthetic program.
pub const MAIN_GO: &str = "/src/synthetic/main.go";

/// Function entries of the synthetic program: (name, file, entry PC).
const FUNCS: &[(&str, &str, u64)] = &[
    ("main.main", MAIN_GO, 0x401000),
    ("main.worker", MAIN_GO, 0x401200),
    ("main.consumer", MAIN_GO, 0x401400),
    ("main.fib", MAIN_GO, 0x401600),
    ("main.alloc", MAIN_GO, 0x401800),
    ("main.buildTree", MAIN_GO, 0x401a00),
    ("sync.(*Mutex).Lock", "$GOROOT/src/sync/mutex.go", 0x402000),
    (
        "sync.(*Mutex).Unlock",
        "$GOROOT/src/sync/mutex.go",
        0x402100,
    ),
    (
        "sync.runtime_SemacquireMutex",
        "$GOROOT/src/runtime/sema.go",
        0x402200,
    ),
    ("runtime.chanrecv1", "$GOROOT/src/runtime/chan.go", 0x403000),
    ("runtime.chansend1", "$GOROOT/src/runtime/chan.go", 0x403100),
    (
        "runtime.selectgo",
        "$GOROOT/src/runtime/select.go",
        0x403200,
    ),
    ("runtime.gopark", "$GOROOT/src/runtime/proc.go", 0x403300),
    (
        "runtime.mallocgc",
        "$GOROOT/src/runtime/malloc.go",
        0x404000,
    ),
    ("runtime.GC", "$GOROOT/src/runtime/mgc.go", 0x404100),
    ("time.Sleep", "$GOROOT/src/runtime/time.go", 0x404200),
    ("runtime.main", "$GOROOT/src/runtime/proc.go", 0x404300),
    ("runtime.newm", "$GOROOT/src/runtime/proc.go", 0x404400),
    ("runtime.startm", "$GOROOT/src/runtime/proc.go", 0x404500),
    ("runtime.mstart", "$GOROOT/src/runtime/proc.go", 0x404600),
    (
        "runtime.goexit",
        "$GOROOT/src/runtime/asm_amd64.s",
        0x405000,
    ),
];

/// A frame of `function` at `line`, with a return PC derived from the line
/// (so each call site has its own PC).
pub fn frame(function: &str, line: u32) -> Frame {
    let &(name, file, entry) = FUNCS
        .iter()
        .find(|(n, _, _)| *n == function)
        .unwrap_or_else(|| panic!("synthetic function {function} not declared"));
    Frame::new(
        name,
        file,
        line,
        entry + 0x20 + (line as u64 % 64) * 4 + 1,
        entry,
    )
}

fn stack(frames: &[(&str, u32)]) -> Vec<Frame> {
    frames.iter().map(|&(f, l)| frame(f, l)).collect()
}

/// CPU samples: `main.fib` is the hottest leaf (42 of 67 ticks).
pub fn cpu_samples() -> Vec<CpuSample> {
    vec![
        CpuSample {
            stack: stack(&[
                ("main.fib", 60),
                ("main.fib", 62),
                ("main.worker", 33),
                ("runtime.goexit", 1594),
            ]),
            count: 42,
            labels: vec![],
        },
        CpuSample {
            stack: stack(&[
                ("main.buildTree", 70),
                ("main.worker", 34),
                ("runtime.goexit", 1594),
            ]),
            count: 17,
            labels: vec![],
        },
        CpuSample {
            stack: stack(&[
                ("runtime.mallocgc", 1192),
                ("main.alloc", 80),
                ("main.main", 22),
                ("runtime.main", 250),
            ]),
            count: 5,
            labels: vec![],
        },
        CpuSample {
            stack: stack(&[("main.consumer", 51), ("runtime.goexit", 1594)]),
            count: 3,
            labels: vec![("role".into(), "consumer".into())],
        },
    ]
}

/// Sampled allocation records (raw counts, as the sampler keeps them).
pub fn mem_records() -> Vec<MemRecord> {
    vec![
        MemRecord {
            stack: stack(&[
                ("runtime.mallocgc", 1192),
                ("main.alloc", 80),
                ("main.main", 22),
                ("runtime.main", 250),
            ]),
            alloc_objects: 14,
            alloc_bytes: 14 * 4096,
            free_objects: 0,
            free_bytes: 0,
            labels: vec![],
        },
        MemRecord {
            stack: stack(&[
                ("runtime.mallocgc", 1192),
                ("main.buildTree", 70),
                ("main.worker", 34),
                ("runtime.goexit", 1594),
            ]),
            alloc_objects: 200,
            alloc_bytes: 200 * 64,
            free_objects: 150,
            free_bytes: 150 * 64,
            labels: vec![],
        },
    ]
}

/// The five goroutines alive at the end, as the dump shows them.
pub fn goroutines() -> Vec<GoroutineDump> {
    let created = Some(frame("main.main", 20));
    let worker = |id| GoroutineDump {
        id,
        status: "semacquire".into(),
        stack: stack(&[
            ("runtime.gopark", 363),
            ("sync.runtime_SemacquireMutex", 77),
            ("sync.(*Mutex).Lock", 90),
            ("main.worker", 32),
            ("runtime.goexit", 1594),
        ]),
        created_by: created.clone(),
        ..Default::default()
    };
    vec![
        GoroutineDump {
            id: 1,
            status: "select".into(),
            stack: stack(&[
                ("runtime.gopark", 363),
                ("runtime.selectgo", 328),
                ("main.main", 28),
                ("runtime.main", 250),
            ]),
            ..Default::default()
        },
        GoroutineDump {
            id: 4,
            status: "sleep".into(),
            stack: stack(&[
                ("runtime.gopark", 363),
                ("time.Sleep", 195),
                ("main.consumer", 54),
                ("runtime.goexit", 1594),
            ]),
            created_by: Some(frame("main.main", 21)),
            ..Default::default()
        },
        worker(5),
        worker(6),
        worker(7),
    ]
}

/// The goroutine profile records (grouped: 3 workers, main, consumer).
pub fn goroutine_records() -> Vec<CountRecord> {
    let items: Vec<_> = goroutines()
        .into_iter()
        .map(|g| (g.stack, vec![]))
        .collect();
    aggregate_counts(&items)
}

/// Thread-creation records: 3 stackless threads and one from `startm`.
pub fn threadcreate_records() -> Vec<CountRecord> {
    vec![
        CountRecord {
            stack: vec![],
            count: 3,
            labels: vec![],
        },
        CountRecord {
            stack: stack(&[
                ("runtime.newm", 2109),
                ("runtime.startm", 2500),
                ("runtime.mstart", 1425),
            ]),
            count: 1,
            labels: vec![],
        },
    ]
}

/// Cycles per second used by the contention records (1e9: the records count ns).
pub const CYCLES_PER_SECOND: i64 = 1_000_000_000;

/// Mutex sampling fraction of the synthetic mutex profile.
pub const MUTEX_FRACTION: i64 = 5;

/// Blocking records: workers on the mutex (6 events, 12 ms), main on a
/// channel (2 events, 3 ms).
pub fn block_records() -> Vec<ContentionRecord> {
    vec![
        ContentionRecord {
            stack: stack(&[
                ("sync.(*Mutex).Lock", 90),
                ("main.worker", 32),
                ("runtime.goexit", 1594),
            ]),
            count: 6,
            cycles: 12_000_000,
        },
        ContentionRecord {
            stack: stack(&[
                ("runtime.chanrecv1", 442),
                ("main.main", 25),
                ("runtime.main", 250),
            ]),
            count: 2,
            cycles: 3_000_000,
        },
    ]
}

/// Mutex records: `main.main` unlocking (4 sampled events, 8 ms; ×5 in the profile).
pub fn mutex_records() -> Vec<ContentionRecord> {
    vec![ContentionRecord {
        stack: stack(&[
            ("sync.(*Mutex).Unlock", 223),
            ("main.main", 23),
            ("runtime.main", 250),
        ]),
        count: 4,
        cycles: 8_000_000,
    }]
}

/// A consistent MemStats snapshot for the heap text trailer.
pub fn mem_stats() -> MemStats {
    let mut m = MemStats {
        alloc: 2 << 20,
        total_alloc: 3 << 20,
        sys: 12 << 20,
        mallocs: 5000,
        frees: 3000,
        heap_alloc: 2 << 20,
        heap_sys: 8 << 20,
        heap_idle: 5 << 20,
        heap_inuse: 3 << 20,
        heap_released: 1 << 20,
        heap_objects: 2000,
        stack_inuse: 256 << 10,
        stack_sys: 256 << 10,
        mspan_inuse: 64 << 10,
        mspan_sys: 128 << 10,
        mcache_inuse: 8 << 10,
        mcache_sys: 16 << 10,
        buck_hash_sys: 32 << 10,
        gc_sys: 2 << 20,
        next_gc: 6 << 20,
        gc_cpu_fraction: 0.0125,
        ..MemStats::default()
    };
    m.other_sys = m.sys
        - (m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys + m.buck_hash_sys + m.gc_sys);
    m.record_pause(45_000, 1_700_000_000_000_000_000);
    m
}

/// The execution trace: 2 Ps, 4 goroutines, a mutex hand-off, a channel
/// round trip, one GC cycle with both STW phases and a sweep.
pub fn trace() -> Trace {
    let mut t = Trace::new();
    let mut ts = 1_000_000u64;
    let mut at = |d: u64| {
        ts += d;
        ts
    };
    let main_start = t.stack(&stack(&[("main.main", 9)]));
    let worker_start = t.stack(&stack(&[("main.worker", 30)]));
    let consumer_start = t.stack(&stack(&[("main.consumer", 50)]));
    let go_worker = t.stack(&stack(&[("main.main", 20), ("runtime.main", 250)]));
    let go_consumer = t.stack(&stack(&[("main.main", 21), ("runtime.main", 250)]));
    let lock = t.stack(&stack(&[("sync.(*Mutex).Lock", 90), ("main.worker", 32)]));
    let unlock = t.stack(&stack(&[
        ("sync.(*Mutex).Unlock", 223),
        ("main.main", 23),
        ("runtime.main", 250),
    ]));
    let recv = t.stack(&stack(&[
        ("runtime.chanrecv1", 442),
        ("main.main", 25),
        ("runtime.main", 250),
    ]));
    let gc = t.stack(&stack(&[("runtime.GC", 422), ("main.worker", 35)]));
    let sweep = t.stack(&stack(&[
        ("runtime.mallocgc", 1192),
        ("main.buildTree", 70),
        ("main.worker", 34),
    ]));
    let sched = t.stack(&stack(&[("main.worker", 36)]));
    let send = t.stack(&stack(&[("runtime.chansend1", 145), ("main.consumer", 52)]));
    let sleep = t.stack(&stack(&[("time.Sleep", 195), ("main.consumer", 54)]));
    let select = t.stack(&stack(&[
        ("runtime.selectgo", 328),
        ("main.main", 28),
        ("runtime.main", 250),
    ]));

    use EventKind::*;
    t.push(at(0), 0, ProcStart { thread: 1 });
    t.push(at(1_000), 0, Gomaxprocs { procs: 2, stack: 0 });
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 1,
            start: main_start,
            stack: 0,
        },
    );
    t.push(at(2_000), 0, GoStart { g: 1 });
    t.push(at(1_000), 1, ProcStart { thread: 2 });
    t.push(
        at(5_000),
        0,
        GoCreate {
            g: 2,
            start: worker_start,
            stack: go_worker,
        },
    );
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 3,
            start: worker_start,
            stack: go_worker,
        },
    );
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 4,
            start: consumer_start,
            stack: go_consumer,
        },
    );
    t.push(at(1_000), 0, HeapAlloc { bytes: 1 << 20 });
    t.push(at(1_000), 0, HeapGoal { bytes: 4 << 20 });
    t.push(at(3_000), 1, GoStart { g: 2 });
    t.push(
        at(10_000),
        1,
        GoBlock {
            reason: BlockReason::Sync,
            stack: lock,
        },
    );
    t.push(at(2_000), 1, GoStart { g: 3 });
    t.push(
        at(40_000),
        0,
        GoUnblock {
            g: 2,
            stack: unlock,
        },
    );
    t.push(
        at(5_000),
        0,
        GoBlock {
            reason: BlockReason::Recv,
            stack: recv,
        },
    );
    t.push(at(3_000), 0, GoStart { g: 2 });
    t.push(at(20_000), 1, GcStart { stack: gc });
    t.push(
        at(1_000),
        1,
        StwStart {
            kind: StwKind::SweepTermination,
        },
    );
    t.push(at(30_000), 1, StwDone);
    t.push(at(100_000), 0, HeapAlloc { bytes: 3 << 20 });
    t.push(
        at(200_000),
        1,
        StwStart {
            kind: StwKind::MarkTermination,
        },
    );
    t.push(at(40_000), 1, StwDone);
    t.push(at(1_000), 1, GcDone);
    t.push(at(1_000), 1, HeapGoal { bytes: 6 << 20 });
    t.push(at(2_000), 1, SweepStart { stack: sweep });
    t.push(
        at(15_000),
        1,
        SweepDone {
            swept: 65536,
            reclaimed: 32768,
        },
    );
    t.push(at(1_000), 0, HeapAlloc { bytes: 2 << 20 });
    t.push(at(50_000), 1, GoSched { stack: sched });
    t.push(at(2_000), 1, GoStart { g: 4 });
    t.push(at(30_000), 1, GoUnblock { g: 1, stack: send });
    t.push(at(5_000), 1, GoSleep { stack: sleep });
    t.push(at(20_000), 0, GoEnd);
    t.push(at(4_000), 0, GoStart { g: 1 });
    t.push(at(3_000), 1, GoStart { g: 3 });
    t.push(at(60_000), 1, GoEnd);
    t.push(at(1_000), 1, ProcStop);
    t.push(
        at(25_000),
        0,
        GoBlock {
            reason: BlockReason::Select,
            stack: select,
        },
    );
    t.push(at(1_000), 0, ProcStop);
    t
}

/// A second trace that uses every [`EventKind`] at least once — every
/// block reason, sleep, sched, preempt, stop, a goroutine already waiting at
/// trace start, wake-ups by the scheduler itself (G0) on an idle P, a GC
/// with both STW phases and a sweep — so the interop tests cover each
/// event's wire encoding.
pub fn trace_every_kind() -> Trace {
    let mut t = Trace::new();
    let mut ts = 5_000_000u64;
    let mut at = |d: u64| {
        ts += d;
        ts
    };
    let main_start = t.stack(&stack(&[("main.main", 9)]));
    let worker_start = t.stack(&stack(&[("main.worker", 30)]));
    let consumer_start = t.stack(&stack(&[("main.consumer", 50)]));
    let here = t.stack(&stack(&[("main.main", 24), ("runtime.main", 250)]));
    let lock = t.stack(&stack(&[("sync.(*Mutex).Lock", 90), ("main.worker", 32)]));
    let gc = t.stack(&stack(&[("runtime.GC", 422), ("main.worker", 35)]));

    use EventKind::*;
    t.push(at(0), 0, ProcStart { thread: 1 });
    t.push(at(1_000), 1, ProcStart { thread: 2 });
    t.push(
        at(1_000),
        0,
        Gomaxprocs {
            procs: 2,
            stack: here,
        },
    );
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 1,
            start: main_start,
            stack: 0,
        },
    );
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 2,
            start: worker_start,
            stack: 0,
        },
    );
    t.push(
        at(1_000),
        0,
        GoCreate {
            g: 3,
            start: consumer_start,
            stack: 0,
        },
    );
    t.push(at(1_000), 0, GoWaiting { g: 3 });
    t.push(at(1_000), 0, GoStart { g: 1 });
    t.push(at(1_000), 0, HeapAlloc { bytes: 1 << 20 });
    t.push(at(1_000), 0, HeapGoal { bytes: 4 << 20 });
    for reason in [
        BlockReason::Other,
        BlockReason::Send,
        BlockReason::Recv,
        BlockReason::Select,
        BlockReason::Sync,
        BlockReason::Cond,
        BlockReason::Net,
        BlockReason::Gc,
    ] {
        t.push(
            at(3_000),
            0,
            GoBlock {
                reason,
                stack: lock,
            },
        );
        // woken by the scheduler itself (G0) on the idle P1
        t.push(at(2_000), 1, GoUnblock { g: 1, stack: 0 });
        t.push(at(1_000), 0, GoStart { g: 1 });
    }
    t.push(at(3_000), 0, GoSleep { stack: here });
    t.push(at(2_000), 1, GoUnblock { g: 1, stack: 0 });
    t.push(at(1_000), 0, GoStart { g: 1 });
    t.push(at(3_000), 0, GoSched { stack: here });
    t.push(at(1_000), 0, GoStart { g: 1 });
    t.push(at(3_000), 0, GoPreempt { stack: here });
    t.push(at(1_000), 0, GoStart { g: 2 });
    t.push(at(1_000), 0, GoUnblock { g: 3, stack: lock });
    t.push(at(1_000), 0, GcStart { stack: gc });
    t.push(
        at(1_000),
        0,
        StwStart {
            kind: StwKind::SweepTermination,
        },
    );
    t.push(at(5_000), 0, StwDone);
    t.push(
        at(20_000),
        0,
        StwStart {
            kind: StwKind::MarkTermination,
        },
    );
    t.push(at(5_000), 0, StwDone);
    t.push(at(1_000), 0, GcDone);
    t.push(at(1_000), 0, SweepStart { stack: gc });
    t.push(
        at(4_000),
        0,
        SweepDone {
            swept: 8192,
            reclaimed: 4096,
        },
    );
    t.push(at(1_000), 0, GoStop { stack: lock });
    t.push(at(1_000), 1, GoStart { g: 3 });
    t.push(at(2_000), 1, GoEnd);
    t.push(at(1_000), 0, GoStart { g: 1 });
    t.push(at(2_000), 0, GoEnd);
    t.push(at(1_000), 0, ProcStop);
    t.push(at(1_000), 1, ProcStop);
    t
}

/// A pseudo-random but valid scheduling history, built by a tiny model
/// scheduler: `procs` Ps, up to `max_goroutines` goroutines that create,
/// block (every reason), sleep, yield, get preempted, wake each other (or
/// are woken by an idle P's scheduler), end; GC cycles spanning many other
/// events; heap samples. Timestamps advance by 1..=`tick_ns` per event;
/// with `coarse` they are rounded down to whole microseconds, so events on
/// different Ps often share a timestamp (the merge must then follow the
/// goroutine transitions). Deterministic for a given `seed`.
pub fn simulated_trace(
    seed: u64,
    procs: u32,
    max_goroutines: u64,
    steps: usize,
    tick_ns: u64,
    coarse: bool,
) -> Trace {
    use std::collections::VecDeque;
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| -> u64 {
        // xorshift64*
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n.max(1)
    };
    let mut t = Trace::new();
    let main_start = t.stack(&stack(&[("main.main", 9)]));
    let worker_start = t.stack(&stack(&[("main.worker", 30)]));
    let go_stmt = t.stack(&stack(&[("main.worker", 31)]));
    let lock = t.stack(&stack(&[("sync.(*Mutex).Lock", 90), ("main.worker", 32)]));
    let unlock = t.stack(&stack(&[
        ("sync.(*Mutex).Unlock", 223),
        ("main.worker", 33),
    ]));
    let recv = t.stack(&stack(&[("runtime.chanrecv1", 442), ("main.worker", 34)]));
    let sleep = t.stack(&stack(&[("time.Sleep", 195), ("main.worker", 36)]));
    let gc = t.stack(&stack(&[("runtime.GC", 422), ("main.worker", 35)]));
    let reasons = [
        (BlockReason::Other, lock),
        (BlockReason::Send, recv),
        (BlockReason::Recv, recv),
        (BlockReason::Select, recv),
        (BlockReason::Sync, lock),
        (BlockReason::Cond, lock),
        (BlockReason::Net, recv),
        (BlockReason::Gc, gc),
    ];

    let mut clock = 1_000_000u64;
    let stamp = |clock: &mut u64, d: u64| {
        *clock += 1 + d;
        if coarse {
            *clock / 1000 * 1000
        } else {
            *clock
        }
    };
    let mut running: Vec<Option<u64>> = vec![None; procs as usize];
    let mut runq: VecDeque<u64> = VecDeque::new();
    let mut waiting: Vec<u64> = Vec::new();
    let mut created = 1u64;
    let mut heap = 1u64 << 20;
    // GC: None = idle, Some(p) = marking, started by P p (which finishes it)
    let mut gc_on: Option<u32> = None;

    use EventKind::*;
    for p in 0..procs {
        let ts = stamp(&mut clock, next(tick_ns));
        t.push(
            ts,
            p,
            ProcStart {
                thread: p as u64 + 1,
            },
        );
    }
    let ts = stamp(&mut clock, next(tick_ns));
    t.push(
        ts,
        0,
        GoCreate {
            g: 1,
            start: main_start,
            stack: 0,
        },
    );
    runq.push_back(1);

    for _ in 0..steps {
        let p = next(procs as u64) as u32;
        let pi = p as usize;
        let ts = stamp(&mut clock, next(tick_ns));
        if gc_on == Some(p) && next(4) == 0 {
            // finish the cycle on the P that started it
            t.push(
                ts,
                p,
                StwStart {
                    kind: StwKind::MarkTermination,
                },
            );
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(ts, p, StwDone);
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(ts, p, GcDone);
            heap /= 2;
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(ts, p, HeapGoal { bytes: heap * 2 });
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(ts, p, SweepStart { stack: gc });
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(
                ts,
                p,
                SweepDone {
                    swept: heap,
                    reclaimed: heap / 2,
                },
            );
            gc_on = None;
            continue;
        }
        match running[pi] {
            None => {
                if let Some(g) = runq.pop_front() {
                    t.push(ts, p, GoStart { g });
                    running[pi] = Some(g);
                } else if !waiting.is_empty() && next(2) == 0 {
                    // the idle P's scheduler (G0) wakes a goroutine (a timer, the poller)
                    let g = waiting.swap_remove(next(waiting.len() as u64) as usize);
                    t.push(ts, p, GoUnblock { g, stack: 0 });
                    runq.push_back(g);
                }
            }
            Some(g) => match next(12) {
                0 | 1 if created < max_goroutines => {
                    created += 1;
                    t.push(
                        ts,
                        p,
                        GoCreate {
                            g: created,
                            start: worker_start,
                            stack: go_stmt,
                        },
                    );
                    runq.push_back(created);
                }
                2 | 3 => {
                    let (reason, stack) = reasons[next(reasons.len() as u64) as usize];
                    t.push(ts, p, GoBlock { reason, stack });
                    waiting.push(g);
                    running[pi] = None;
                }
                4 => {
                    t.push(ts, p, GoSleep { stack: sleep });
                    waiting.push(g);
                    running[pi] = None;
                }
                5 => {
                    t.push(ts, p, GoSched { stack: go_stmt });
                    runq.push_back(g);
                    running[pi] = None;
                }
                6 => {
                    t.push(ts, p, GoPreempt { stack: go_stmt });
                    runq.push_back(g);
                    running[pi] = None;
                }
                7 | 8 if !waiting.is_empty() => {
                    let w = waiting.swap_remove(next(waiting.len() as u64) as usize);
                    t.push(
                        ts,
                        p,
                        GoUnblock {
                            g: w,
                            stack: unlock,
                        },
                    );
                    runq.push_back(w);
                }
                9 if g != 1 => {
                    t.push(ts, p, GoEnd);
                    running[pi] = None;
                }
                10 if gc_on.is_none() => {
                    t.push(ts, p, GcStart { stack: gc });
                    let ts = stamp(&mut clock, next(tick_ns));
                    t.push(
                        ts,
                        p,
                        StwStart {
                            kind: StwKind::SweepTermination,
                        },
                    );
                    let ts = stamp(&mut clock, next(tick_ns));
                    t.push(ts, p, StwDone);
                    gc_on = Some(p);
                }
                _ => {
                    heap += 4096 * (1 + next(64));
                    t.push(ts, p, HeapAlloc { bytes: heap });
                }
            },
        }
    }
    // Wind down: finish a GC in progress, park every running goroutine, stop the Ps.
    if let Some(p) = gc_on {
        for kind in [
            StwStart {
                kind: StwKind::MarkTermination,
            },
            StwDone,
            GcDone,
        ] {
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(ts, p, kind);
        }
    }
    for p in 0..procs {
        if running[p as usize].take().is_some() {
            let ts = stamp(&mut clock, next(tick_ns));
            t.push(
                ts,
                p,
                GoBlock {
                    reason: BlockReason::Select,
                    stack: recv,
                },
            );
        }
        let ts = stamp(&mut clock, next(tick_ns));
        t.push(ts, p, ProcStop);
    }
    t
}

/// Write every format into `dir`: the nine files of the brief
/// (`cpu.pb.gz`, `heap.pb.gz`, `allocs.pb.gz`, `goroutine.pb.gz`,
/// `threadcreate.pb.gz`, `block.pb.gz`, `mutex.pb.gz`, `trace.out`,
/// `trace.json`) plus the legacy text forms (`heap.txt`, `goroutine.txt`,
/// `goroutine_debug2.txt`, `threadcreate.txt`, `block.txt`, `mutex.txt`).
/// Returns the paths written.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let meta = ProfileMeta {
        program: "synthetic".into(),
        time_nanos: 1_700_000_000_000_000_000,
        duration_nanos: 1_000_000_000,
    };
    let rate = pprof::DEFAULT_MEM_PROFILE_RATE;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>| -> io::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        written.push(p);
        Ok(())
    };
    let profiles = [
        (
            "cpu.pb.gz",
            pprof::cpu_profile(&cpu_samples(), pprof::CPU_HZ, &meta),
        ),
        (
            "heap.pb.gz",
            pprof::heap_profile(&mem_records(), rate, HeapKind::Heap, &meta),
        ),
        (
            "allocs.pb.gz",
            pprof::heap_profile(&mem_records(), rate, HeapKind::Allocs, &meta),
        ),
        (
            "goroutine.pb.gz",
            pprof::count_profile("goroutine", &goroutine_records(), &meta),
        ),
        (
            "threadcreate.pb.gz",
            pprof::count_profile("threadcreate", &threadcreate_records(), &meta),
        ),
        (
            "block.pb.gz",
            pprof::contention_profile(
                ContentionKind::Block,
                &block_records(),
                CYCLES_PER_SECOND,
                &meta,
            ),
        ),
        (
            "mutex.pb.gz",
            pprof::contention_profile(
                ContentionKind::Mutex {
                    fraction: MUTEX_FRACTION,
                },
                &mutex_records(),
                CYCLES_PER_SECOND,
                &meta,
            ),
        ),
    ];
    for (name, p) in &profiles {
        put(name, pprof::encode_gzip(p))?;
    }
    let tr = trace();
    let mut buf = Vec::new();
    v1::write(&tr, &mut buf)?;
    put("trace.out", std::mem::take(&mut buf))?;
    json::write(&tr, &mut buf)?;
    put("trace.json", std::mem::take(&mut buf))?;

    text::write_heap_text(&mut buf, &mem_records(), rate, &mem_stats(), None)?;
    put("heap.txt", std::mem::take(&mut buf))?;
    text::write_count_text(&mut buf, "goroutine", &goroutine_records())?;
    put("goroutine.txt", std::mem::take(&mut buf))?;
    text::write_goroutine_dump(&mut buf, &goroutines())?;
    put("goroutine_debug2.txt", std::mem::take(&mut buf))?;
    text::write_count_text(&mut buf, "threadcreate", &threadcreate_records())?;
    put("threadcreate.txt", std::mem::take(&mut buf))?;
    text::write_contention_text(
        &mut buf,
        ContentionKind::Block,
        &block_records(),
        CYCLES_PER_SECOND,
    )?;
    put("block.txt", std::mem::take(&mut buf))?;
    text::write_contention_text(
        &mut buf,
        ContentionKind::Mutex {
            fraction: MUTEX_FRACTION,
        },
        &mutex_records(),
        CYCLES_PER_SECOND,
    )?;
    put("mutex.txt", std::mem::take(&mut buf))?;
    Ok(written)
}
