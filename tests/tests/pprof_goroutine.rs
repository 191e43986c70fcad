//! The goroutine, threadcreate, block and mutex profiles through the public
//! API, in proto and in Go's text formats; `go tool pprof` reads them.

use gort::crates::profiler::pprof::{decode, Profile};
use gort_tests::go_tools::{go_tool, have_go, TestDir};
use std::time::Duration;

/// Names of the functions of a sample's stack, leaf first.
fn stack_names(p: &Profile, s: &gort::crates::profiler::pprof::proto::Sample) -> Vec<String> {
    s.location_id
        .iter()
        .flat_map(|id| {
            let l = p.location.iter().find(|l| l.id == *id).unwrap();
            l.line.iter().map(|line| {
                let f = p
                    .function
                    .iter()
                    .find(|f| f.id == line.function_id)
                    .unwrap();
                p.string_table[f.name as usize].clone()
            })
        })
        .collect()
}

fn proto(name: &str) -> (Vec<u8>, Profile) {
    let mut b = Vec::new();
    gort::pprof::lookup(name)
        .unwrap()
        .write_to(&mut b, 0)
        .unwrap();
    let p = decode(&b).unwrap();
    (b, p)
}

fn text(name: &str, debug: i32) -> String {
    let mut b = Vec::new();
    gort::pprof::lookup(name)
        .unwrap()
        .write_to(&mut b, debug)
        .unwrap();
    String::from_utf8(b).unwrap()
}

/// Where the profile must find the parked goroutines.
#[inline(never)]
fn parked_here(ch: gort::Chan<u32>) -> u32 {
    ch.recv().unwrap_or(0)
}

const PARKED: usize = 5;

/// Starts the parked goroutines.
#[inline(never)]
fn spawn_parked(ch: &gort::Chan<u32>, wg: &gort::sync::WaitGroup) {
    for _ in 0..PARKED {
        wg.add(1);
        spawn_one(ch.clone(), wg.clone());
    }
}

/// The line of the `go` call in [`spawn_one`].
const SPAWN_ONE_GO_LINE: u32 = line!() + 7;

/// Starts one parked goroutine: the dump must say it was created here, at
/// the `go` call, although that call is this function's last act (a tail
/// position).
#[inline(never)]
fn spawn_one(ch: gort::Chan<u32>, wg: gort::sync::WaitGroup) {
    gort::go(move || park_then_done(ch, wg))
}

#[inline(never)]
fn park_then_done(ch: gort::Chan<u32>, wg: gort::sync::WaitGroup) {
    parked_here(ch);
    wg.done();
}

#[test]
fn goroutine_profile_counts_and_names_parked_goroutines() {
    let (n, p, bytes, t1, t2, counted, go_line) = gort::run(|| {
        let ch = gort::chan::<u32>(0);
        let wg = gort::sync::WaitGroup::new();
        spawn_parked(&ch, &wg);
        let go_line = SPAWN_ONE_GO_LINE;
        // let every goroutine reach its receive
        while gort::runtime::num_goroutine() < PARKED + 1 {
            gort::gosched();
        }
        gort::sleep(Duration::from_millis(20));
        let n = gort::runtime::num_goroutine();
        let counted = gort::pprof::lookup("goroutine").unwrap().count();
        let (bytes, p) = proto("goroutine");
        let t1 = text("goroutine", 1);
        let t2 = text("goroutine", 2);
        for i in 0..PARKED {
            ch.send(i as u32);
        }
        wg.wait();
        (n, p, bytes, t1, t2, counted, go_line)
    });
    assert_eq!(counted, n);
    let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
    assert_eq!(total as usize, n, "profile total vs num_goroutine");
    let parked = p
        .sample
        .iter()
        .find(|s| {
            stack_names(&p, s)
                .iter()
                .any(|f| f.ends_with("parked_here"))
        })
        .unwrap_or_else(|| panic!("no parked_here stack in {p:?}"));
    assert_eq!(parked.value[0], PARKED as i64);
    assert!(
        t1.starts_with(&format!("goroutine profile: total {n}\n")),
        "{t1}"
    );
    assert!(
        t1.contains(&format!("\n{PARKED} @ 0x")),
        "grouped record of the parked goroutines:\n{t1}"
    );
    assert!(t1.contains("pprof_goroutine::parked_here+0x"), "{t1}");
    assert_eq!(
        t2.matches("[chan receive]:\n").count(),
        PARKED,
        "debug=2 dump:\n{t2}"
    );
    // the caller itself, walked from its own frame: the profile writer on top
    assert_eq!(t2.matches(" [running]:\n").count(), 1, "{t2}");
    assert!(t2.contains(" [running]:\ngort::pprof::"), "{t2}");
    // `created by`: the function that called `go`, the file:line of the
    // call and the return PC's offset; the main goroutine has none.
    let blocks: Vec<&str> = t2.split("\n\n").collect();
    let parked: Vec<&str> = blocks
        .iter()
        .copied()
        .filter(|b| b.contains("pprof_goroutine::parked_here(...)"))
        .collect();
    assert_eq!(parked.len(), PARKED, "{t2}");
    for b in parked {
        let mut tail = b.trim_end().lines().rev();
        let (loc, by) = (tail.next().unwrap(), tail.next().unwrap());
        assert_eq!(by, "created by pprof_goroutine::spawn_one", "{b}");
        let (fileline, off) = loc.split_once(" +0x").unwrap_or_else(|| panic!("{b}"));
        assert!(
            fileline.starts_with('\t')
                && fileline.ends_with(&format!("tests/pprof_goroutine.rs:{go_line}")),
            "{b}"
        );
        assert!(u64::from_str_radix(off, 16).unwrap() > 0, "{b}");
    }
    let main = blocks.iter().find(|b| b.contains(" [running]:")).unwrap();
    assert!(!main.contains("created by"), "{main}");

    if !have_go("goroutine_profile_counts_and_names_parked_goroutines") {
        return;
    }
    let dir = TestDir::new("goroutine");
    std::fs::write(dir.join("goroutine.pprof"), &bytes).unwrap();
    let (top, _) = go_tool(&dir, &["pprof", "-top", "goroutine.pprof"]);
    assert!(top.contains("Type: goroutine"), "{top}");
    let line = top
        .lines()
        .find(|l| l.contains("parked_here"))
        .unwrap_or_else(|| panic!("{top}"));
    // cumulative count of the parked function: PARKED goroutines
    assert_eq!(
        line.split_whitespace().nth(3),
        Some(&*PARKED.to_string()),
        "{line}"
    );
}

/// Blocks on a channel receive until the main goroutine sends.
#[inline(never)]
fn block_on_chan(ch: gort::Chan<u32>) -> u32 {
    ch.recv().unwrap_or(0)
}

/// Waits for a mutex another goroutine holds.
#[inline(never)]
fn wait_for_lock(m: &gort::sync::Mutex<u64>) {
    *m.lock() += 1;
}

/// Unlocks (the mutex profile charges the waiter's delay here, as Go does).
#[inline(never)]
fn release(g: gort::sync::MutexGuard<'_, u64>) {
    drop(std::hint::black_box(g));
}

#[test]
fn block_and_mutex_profiles_show_the_waits() {
    let (block, mutex, block_text, mutex_text, bytes) = gort::run(|| {
        gort::runtime::set_block_profile_rate(1);
        gort::runtime::set_mutex_profile_fraction(1);
        let ch = gort::chan::<u32>(0);
        let done = gort::chan::<u32>(1);
        {
            let (ch, done) = (ch.clone(), done.clone());
            gort::go(move || {
                let v = block_on_chan(ch);
                done.send(v);
            });
        }
        gort::sleep(Duration::from_millis(30));
        ch.send(7);
        assert_eq!(done.recv(), Some(7));

        let m = std::sync::Arc::new(gort::sync::Mutex::new(0u64));
        let guard = m.lock();
        {
            let (m, done) = (m.clone(), done.clone());
            gort::go(move || {
                wait_for_lock(&m);
                done.send(1);
            });
        }
        gort::sleep(Duration::from_millis(30));
        release(guard);
        assert_eq!(done.recv(), Some(1));
        gort::runtime::set_block_profile_rate(0);
        gort::runtime::set_mutex_profile_fraction(0);
        let (bytes, block) = proto("block");
        let (_, mutex) = proto("mutex");
        (block, mutex, text("block", 1), text("mutex", 1), bytes)
    });
    let find = |p: &Profile, f: &str| {
        p.sample
            .iter()
            .filter(|s| stack_names(p, s).iter().any(|n| n.ends_with(f)))
            .map(|s| (s.value[0], s.value[1]))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let (count, delay) = find(&block, "block_on_chan");
    assert_eq!(count, 1, "one blocking receive");
    assert!(
        (25_000_000..5_000_000_000).contains(&delay),
        "delay {delay} ns for a ~30 ms wait"
    );
    let (count, delay) = find(&block, "wait_for_lock");
    assert_eq!(count, 1, "the Mutex wait is a blocking event too");
    assert!(delay >= 25_000_000, "{delay}");
    let (count, delay) = find(&mutex, "release");
    assert_eq!(count, 1, "the unlocker's stack: {mutex:?}");
    assert!(delay >= 25_000_000, "{delay}");
    assert_eq!(find(&mutex, "wait_for_lock"), (0, 0), "not the waiter's");
    assert_eq!(
        find(&mutex, "block_on_chan"),
        (0, 0),
        "channels are not mutexes"
    );
    assert!(
        block_text.starts_with("--- contention:\ncycles/second=1000000000\n"),
        "{block_text}"
    );
    assert!(block_text.contains("block_on_chan+0x"), "{block_text}");
    // the recorder's own frames are cut: the first frame is the channel operation
    let first = block_text.lines().find(|l| l.starts_with("#\t")).unwrap();
    assert!(first.contains("gort_scheduler::"), "{block_text}");
    assert!(!block_text.contains("Recorder::record"), "{block_text}");
    assert!(
        mutex_text.starts_with("--- mutex:\ncycles/second=1000000000\nsampling period=1\n"),
        "{mutex_text}"
    );

    if !have_go("block_and_mutex_profiles_show_the_waits") {
        return;
    }
    let dir = TestDir::new("block");
    std::fs::write(dir.join("block.pprof"), &bytes).unwrap();
    let (top, _) = go_tool(&dir, &["pprof", "-top", "block.pprof"]);
    assert!(top.contains("Type: delay"), "{top}");
    assert!(top.contains("block_on_chan"), "{top}");
}

#[test]
fn threadcreate_counts_the_schedulers_threads() {
    let (t, count) = gort::run(|| {
        let p = gort::pprof::lookup("threadcreate").unwrap();
        (text("threadcreate", 1), p.count())
    });
    assert!(count >= 1);
    assert!(
        t.starts_with(&format!("threadcreate profile: total {count}\n{count} @\n")),
        "{t}"
    );
    assert!(gort::pprof::lookup("nosuch").is_none());
    let names: Vec<&str> = gort::pprof::profiles().iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "allocs",
            "block",
            "goroutine",
            "heap",
            "mutex",
            "threadcreate"
        ]
    );
}

/// Parks on a channel receive.
#[inline(never)]
fn dump_parked_recv(ch: gort::Chan<u32>) {
    std::hint::black_box(ch.recv());
}

/// Parks on a `WaitGroup`.
#[inline(never)]
fn dump_parked_wg(wg: gort::sync::WaitGroup) {
    wg.wait();
}

/// Parks on a `Mutex` another goroutine holds.
#[inline(never)]
fn dump_parked_lock(m: std::sync::Arc<gort::sync::Mutex<u64>>) {
    *m.lock() += 1;
}

/// The `debug=2` dump's goroutines: id → status, each id once (asserted).
fn dump_statuses(t2: &str) -> std::collections::HashMap<u64, String> {
    let mut out = std::collections::HashMap::new();
    for block in t2.split("\n\n") {
        let head = block.lines().next().unwrap_or("");
        let rest = head
            .strip_prefix("goroutine ")
            .unwrap_or_else(|| panic!("not a goroutine header: {head:?}"));
        let (id, status) = rest.split_once(" [").unwrap();
        let status = status.strip_suffix("]:").unwrap();
        let id: u64 = id.parse().unwrap();
        assert!(
            out.insert(id, status.to_string()).is_none(),
            "goroutine {id} listed twice"
        );
    }
    out
}

/// While goroutines run, spawn and exit, the dump lists every goroutine that
/// existed when it was taken exactly once, each parked one with its wait
/// reason, and the running ones make progress during it. (The goroutines
/// are started with the scheduler's `go`, which returns their ids.)
#[test]
fn goroutine_dump_is_exact_while_others_run() {
    const EACH: usize = 1000;
    const BUSY: usize = 3;
    gort::run(|| {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
        use std::sync::Arc;
        let ch = gort::chan::<u32>(0);
        let gate = gort::sync::WaitGroup::new();
        gate.add(1);
        let m = Arc::new(gort::sync::Mutex::new(0u64));
        let held = m.lock();
        let done = gort::sync::WaitGroup::new();
        let mut want: Vec<(u64, &str)> = Vec::new();
        for _ in 0..EACH {
            done.add(3);
            let (c, d) = (ch.clone(), done.clone());
            want.push((
                gort::crates::scheduler::go(move || {
                    dump_parked_recv(c);
                    d.done()
                }),
                "chan receive",
            ));
            let (g, d) = (gate.clone(), done.clone());
            want.push((
                gort::crates::scheduler::go(move || {
                    dump_parked_wg(g);
                    d.done()
                }),
                "semacquire",
            ));
            let (mm, d) = (m.clone(), done.clone());
            want.push((
                gort::crates::scheduler::go(move || {
                    dump_parked_lock(mm);
                    d.done()
                }),
                "sync.Mutex.Lock",
            ));
        }
        // Busy goroutines: they yield, ping-pong and spawn short-lived
        // goroutines all through the dump.
        let stop = Arc::new(AtomicBool::new(false));
        let work = Arc::new(AtomicU64::new(0));
        let busy = gort::sync::WaitGroup::new();
        let mut busy_ids = Vec::new();
        for i in 0..BUSY {
            busy.add(1);
            let (stop, work, busy) = (stop.clone(), work.clone(), busy.clone());
            busy_ids.push(gort::crates::scheduler::go(move || {
                while !stop.load(Relaxed) {
                    if i == 0 {
                        let c = gort::chan::<u64>(1);
                        let c2 = c.clone();
                        gort::go(move || c2.send(1));
                        work.fetch_add(c.recv().unwrap(), Relaxed);
                    } else {
                        work.fetch_add(1, Relaxed);
                        gort::gosched();
                    }
                }
                busy.done();
            }));
        }
        // Let every parked goroutine park.
        while gort::runtime::num_goroutine() < 3 * EACH + BUSY + 1 {
            gort::sleep(Duration::from_millis(2));
        }
        gort::sleep(Duration::from_millis(20));
        let before = work.load(Relaxed);
        let mut progress = 0;
        for _ in 0..3 {
            let w0 = work.load(Relaxed);
            let t2 = text("goroutine", 2);
            progress = progress.max(work.load(Relaxed) - w0);
            let got = dump_statuses(&t2);
            for (id, reason) in &want {
                assert_eq!(
                    got.get(id).map(String::as_str),
                    Some(*reason),
                    "goroutine {id} in the dump"
                );
            }
            for id in &busy_ids {
                assert!(got.contains_key(id), "busy goroutine {id} missing");
            }
            let me = gort::crates::scheduler::current_goroutine_id().unwrap();
            assert_eq!(got.get(&me).map(String::as_str), Some("running"));
            assert!(got.len() > want.len() + BUSY, "{} goroutines", got.len());
        }
        assert!(work.load(Relaxed) > before, "the busy goroutines ran");
        assert!(progress > 0, "no busy goroutine ran during a dump");
        stop.store(true, Relaxed);
        busy.wait();
        for _ in 0..EACH {
            ch.send(0);
        }
        gate.done();
        drop(held);
        done.wait();
    });
}
