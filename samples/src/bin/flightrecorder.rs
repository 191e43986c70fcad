//! `flightrecorder` — Go 1.25's flight recorder on gort: keep the last
//! seconds of the execution trace in memory, and write them out when
//! something goes wrong.
//!
//! ```text
//! cargo run --release --bin flightrecorder [DIR]        # serve, dump on a slow request or pause
//! cargo run --release --bin flightrecorder bench [N] [ROUNDS]   # overhead on binarytrees N
//! go tool trace DIR/flight-slow-request.trace
//! ```
//!
//! **serve** (the default): a small "server" — a dispatcher hands 400
//! requests to workers, each request allocates and hashes for about a
//! millisecond; every 97th request also waits on a lock held by a
//! "background job" for 80 ms. A [`gort::trace::FlightRecorder`]
//! (min age 2 s, 8 MiB) runs all along. The first request slower than
//! 50 ms, and the first collection whose stop-the-world pause exceeds
//! 5 ms, each dump the recorder into `DIR` (default `gort-out`) as
//! `flight-slow-request.trace` / `flight-long-pause.trace`: the trace of
//! the seconds before it, where the request's goroutine can be seen
//! blocked on the lock (`go tool trace`, "Synchronization blocking
//! profile", or the goroutine's timeline).
//!
//! **bench**: binarytrees of depth N (default 18) `ROUNDS` times (default
//! 5) with the recorder off and on, alternately in the same process, and
//! the overhead of the recorder from the medians of wall-clock and of
//! process CPU time (the latter is steadier on a shared machine).

use gort::sync::{Mutex, WaitGroup};
use gort::trace::{FlightRecorder, FlightRecorderConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A request: allocate, hash; one in 97 also needs the background job's
/// lock.
#[inline(never)]
fn handle(id: u64, lock: &Mutex<u64>) -> u64 {
    let buf = gort::make_slice::<u64>(4096);
    let mut h = id;
    for round in 0..64u64 {
        for i in 0..buf.len() {
            h = (h ^ (i as u64 + round)).wrapping_mul(0x100_0000_01b3);
            buf.set(i, h);
        }
    }
    if id.is_multiple_of(97) {
        *lock.lock() += 1;
    }
    h ^ buf.get(id as usize % buf.len())
}

/// Writes the recorder's window to `dir/name` and says so.
fn dump(fr: &FlightRecorder, dir: &Path, name: &str, why: &str) {
    let path = dir.join(name);
    match std::fs::File::create(&path).map(std::io::BufWriter::new) {
        Ok(mut f) => match fr.write_to(&mut f) {
            Ok(n) => println!(
                "{why}: wrote {n} bytes of trace to {} (go tool trace {})",
                path.display(),
                path.display()
            ),
            Err(e) => eprintln!("flightrecorder: writing {}: {e}", path.display()),
        },
        Err(e) => eprintln!("flightrecorder: {}: {e}", path.display()),
    }
}

fn serve(dir: PathBuf) {
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        eprintln!("flightrecorder: {}: {e}", dir.display());
        std::process::exit(1)
    });
    gort::run(move || {
        let fr = std::sync::Arc::new(FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_secs(2),
            max_bytes: 8 << 20,
        }));
        fr.start().expect("start the flight recorder");
        let lock = std::sync::Arc::new(Mutex::new(0u64));
        // The background job: holds the lock 80 ms at a time.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (lock, stop) = (lock.clone(), stop.clone());
            gort::go(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let g = lock.lock();
                    gort::sleep(Duration::from_millis(80));
                    drop(g);
                    gort::sleep(Duration::from_millis(20));
                }
            });
        }
        let requests = gort::chan::<u64>(16);
        let done = gort::chan::<(u64, Duration)>(16);
        let wg = WaitGroup::new();
        for _ in 0..4 {
            let (requests, done, lock, wg) =
                (requests.clone(), done.clone(), lock.clone(), wg.clone());
            wg.add(1);
            gort::go(move || {
                while let Some(id) = requests.recv() {
                    let t = Instant::now();
                    std::hint::black_box(handle(id, &lock));
                    done.send((id, t.elapsed()));
                }
                wg.done();
            });
        }
        {
            let requests = requests.clone();
            gort::go(move || {
                for id in 1..=400 {
                    requests.send(id);
                }
                requests.close();
            });
        }
        // The pause watcher: every 100 ms, the pauses of the collections
        // since its last look (`read_mem_stats` stops the world, so not
        // after every request).
        {
            let (fr, dir, stop) = (fr.clone(), dir.clone(), stop.clone());
            gort::go(move || {
                let mut seen = gort::runtime::read_mem_stats().num_gc;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    gort::sleep(Duration::from_millis(100));
                    let m = gort::runtime::read_mem_stats();
                    let newest = m.num_gc;
                    for gc in (seen + 1).max(newest.saturating_sub(255))..=newest {
                        let pause = Duration::from_nanos(m.pause_ns[(gc as usize + 255) % 256]);
                        if pause > Duration::from_millis(5) {
                            let why = format!("GC {gc} paused the world for {pause:?}");
                            dump(&fr, &dir, "flight-long-pause.trace", &why);
                            return;
                        }
                    }
                    seen = newest;
                }
            });
        }
        let mut slow_dumped = false;
        let mut worst = Duration::ZERO;
        for _ in 0..400 {
            let (id, took) = done.recv().expect("a result");
            worst = worst.max(took);
            if took > Duration::from_millis(50) && !slow_dumped {
                slow_dumped = true;
                let why = format!("request {id} took {took:?}");
                dump(&fr, &dir, "flight-slow-request.trace", &why);
            }
        }
        wg.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = fr.window() {
            println!(
                "400 requests, slowest {worst:?}; the recorder kept {} generations, {} KiB, {:?}",
                w.generations,
                w.bytes >> 10,
                w.span
            );
        }
        fr.stop();
    })
}

/// CPU seconds the process has used (all threads: goroutines, collector
/// workers, the recorder's thread).
fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// (wall, CPU) seconds of binarytrees `n`, output discarded.
fn binarytrees_secs(n: i32) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_secs());
    gort_samples::binarytrees::run(n, &mut |a| {
        std::hint::black_box(a);
    });
    (t.elapsed().as_secs_f64(), cpu_secs() - c)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(n: i32, rounds: usize) {
    gort::run(move || {
        let fr = FlightRecorder::new(FlightRecorderConfig::default());
        binarytrees_secs(n); // warm the heap up
        let (mut off, mut on) = (Vec::new(), Vec::new());
        let (mut off_cpu, mut on_cpu) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            // Alternate which goes first, so drift favours neither.
            for recorder in [r % 2 == 1, r % 2 == 0] {
                if recorder {
                    fr.start().expect("start the flight recorder");
                }
                let (s, cpu) = binarytrees_secs(n);
                if recorder {
                    let w = fr.window();
                    fr.stop();
                    on.push(s);
                    on_cpu.push(cpu);
                    if let Some(w) = w {
                        println!(
                            "round {r}: on  {s:.3} s, {cpu:.3} s CPU (window: {} generations, {} KiB)",
                            w.generations,
                            w.bytes >> 10
                        );
                    }
                } else {
                    off.push(s);
                    off_cpu.push(cpu);
                    println!("round {r}: off {s:.3} s, {cpu:.3} s CPU");
                }
            }
        }
        let (m_off, m_on) = (median(&mut off), median(&mut on));
        let (c_off, c_on) = (median(&mut off_cpu), median(&mut on_cpu));
        println!(
            "binarytrees {n}, {rounds} rounds: median off {m_off:.3} s, on {m_on:.3} s: overhead {:+.2} %; CPU off {c_off:.3} s, on {c_on:.3} s: {:+.2} %",
            (m_on / m_off - 1.0) * 100.0,
            (c_on / c_off - 1.0) * 100.0
        );
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(18);
        let rounds = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
        bench(n, rounds.max(1));
    } else {
        serve(PathBuf::from(
            args.first().map_or("gort-out", String::as_str),
        ));
    }
}
