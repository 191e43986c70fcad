//! The CPU profiler on plain OS threads (no scheduler): two threads burn
//! CPU in two differently named functions, 3:1, and a third thread that
//! registers only after the profile started burns as much as the second;
//! the profile written at `stop` must name all three, in about those
//! ratios, with about one sample per 10 ms of the threads' CPU time, and
//! every stack must end at the thread's start (the walk never runs off
//! into garbage).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gort_profiler::cpu;
use gort_profiler::pprof::{decode, Profile};

/// The work: a xorshift loop, written out in each burner so that the CPU
/// time is the burner's own.
macro_rules! spin {
    ($iters:expr) => {{
        let (mut x, mut i) = (0x9e37_79b9_7f4a_7c15u64, 0u64);
        while i < $iters {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i += 1;
        }
        x
    }};
}

/// The same work, under three names.
#[inline(never)]
fn burn_three_parts(iters: u64) -> u64 {
    spin!(iters)
}

#[inline(never)]
fn burn_one_part(iters: u64) -> u64 {
    spin!(iters)
}

#[inline(never)]
fn burn_on_a_late_thread(iters: u64) -> u64 {
    spin!(iters)
}

/// Iterations per millisecond, best of five (the machine is shared).
fn iterations_per_ms() -> u64 {
    let n = 1_000_000u64;
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(burn_one_part(std::hint::black_box(n)));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    (n as f64 / best / 1000.0) as u64
}

/// A `Write` the test can read back after `stop`.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn function_names(p: &Profile, loc_id: u64) -> Vec<String> {
    let loc = &p.location[(loc_id - 1) as usize];
    loc.line
        .iter()
        .map(|l| {
            let f = &p.function[(l.function_id - 1) as usize];
            p.string_table[f.name as usize].clone()
        })
        .collect()
}

#[test]
fn three_to_one_and_a_thread_registered_late() {
    let unit = iterations_per_ms() * 100; // ~100 ms of CPU per unit

    let out = Shared::default();
    let go = Arc::new(std::sync::Barrier::new(3));
    let mk = |parts: u64, three: bool| {
        let go = go.clone();
        std::thread::spawn(move || {
            cpu::register_current_thread();
            go.wait();
            go.wait();
            let mut x = 0;
            for _ in 0..parts {
                x ^= if three {
                    burn_three_parts(unit)
                } else {
                    burn_one_part(unit)
                };
            }
            cpu::unregister_current_thread();
            x
        })
    };
    let a = mk(9, true);
    let b = mk(3, false);
    go.wait(); // both registered
    cpu::start(Box::new(out.clone()), "cpu_profile_test").unwrap();
    let err = cpu::start(Box::new(Vec::new()), "x").unwrap_err();
    assert_eq!(err.to_string(), "cpu profiling already in use");
    assert!(cpu::is_profiling());
    go.wait();
    // A thread that registers while the profile runs gets its timer at once.
    let late = std::thread::spawn(move || {
        cpu::register_current_thread();
        let x = (0..3).fold(0, |x, _| x ^ burn_on_a_late_thread(unit));
        cpu::unregister_current_thread();
        x
    });
    a.join().unwrap();
    b.join().unwrap();
    late.join().unwrap();
    let stats = cpu::stop().unwrap().expect("a profile ran");
    assert!(
        cpu::stop().unwrap().is_none(),
        "stop without start is a no-op"
    );
    assert_eq!(cpu::last_stats(), Some(stats.clone()));

    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip'd");
    let p = decode(&bytes).unwrap();
    gort_profiler::pprof::check_valid(&p).unwrap();
    assert_eq!(p.period, 10_000_000);
    let st = |i: i64| p.string_table[i as usize].as_str();
    let pt = p.period_type.as_ref().unwrap();
    assert_eq!((st(pt.r#type), st(pt.unit)), ("cpu", "nanoseconds"));
    let types: Vec<_> = p
        .sample_type
        .iter()
        .map(|t| format!("{}/{}", st(t.r#type), st(t.unit)))
        .collect();
    assert_eq!(types, ["samples/count", "cpu/nanoseconds"]);

    let (mut three, mut one, mut late, mut total) = (0i64, 0i64, 0i64, 0i64);
    for s in &p.sample {
        assert_eq!(s.value[1], s.value[0] * 10_000_000);
        total += s.value[0];
        let names: Vec<String> = s
            .location_id
            .iter()
            .flat_map(|&id| function_names(&p, id))
            .collect();
        if names.iter().any(|n| n.ends_with("burn_three_parts")) {
            three += s.value[0];
        } else if names.iter().any(|n| n.ends_with("burn_one_part")) {
            one += s.value[0];
        } else if names.iter().any(|n| n.ends_with("burn_on_a_late_thread")) {
            late += s.value[0];
        }
        if names.iter().any(|n| n.contains("burn_")) {
            // The walk reached the thread's start: std's thread entry, then
            // at most glibc's own frames (start_thread and, where glibc keeps
            // frame records as on aarch64, clone; they have no exported
            // symbol: `libc.so.6+0x…`), and nothing else.
            let start = names
                .iter()
                .position(|n| n.contains("Thread::new::thread_start"));
            let root_ok = start.is_some_and(|i| {
                names[i + 1..].len() <= 2 && names[i + 1..].iter().all(|n| n.starts_with("libc.so"))
            });
            assert!(root_ok, "root of {names:?}");
            assert!(
                names
                    .iter()
                    .any(|n| n.contains("three_to_one_and_a_thread_registered_late::{{closure}}")),
                "{names:?}"
            );
        }
    }
    eprintln!("{stats:?}: three {three}, one {one}, late {late}, total {total}");
    assert_eq!(total as u64, stats.samples + stats.lost);
    let expected = stats.thread_cpu_ns as f64 / 1e7;
    assert!(
        (total as f64) > 0.8 * expected && (total as f64) < 1.1 * expected + 2.0,
        "{total} samples for {expected:.1} expected"
    );
    assert!(
        three + one + late > total * 8 / 10,
        "{three} + {one} + {late} of {total}"
    );
    let ratio = three as f64 / one.max(1) as f64;
    assert!(
        (2.0..=4.5).contains(&ratio),
        "ratio {ratio:.2} ({three}:{one})"
    );
    // The late thread did as much work as the one-part thread.
    let late_ratio = late as f64 / one.max(1) as f64;
    assert!(
        (0.5..=2.0).contains(&late_ratio),
        "late thread {late} vs {one}"
    );
    assert_eq!(stats.threads, 3);
    assert!(stats.duration_ns >= Duration::from_millis(300).as_nanos() as u64);
}
