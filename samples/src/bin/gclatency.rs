//! `gclatency` — per-allocation latency under a large live heap.
//!
//! A port of `samples/go/gclatency/main.go` (a simplified re-statement of
//! `golang/benchmarks` `gc_latency`, heap variant): a ring of 200,000
//! slots, each holding a 1 KiB byte buffer (≈ 200 MiB live), 1,000,000
//! warm-up stores, then 5,000,000 timed stores. Each timed store allocates a
//! fresh, filled 1 KiB buffer and overwrites the oldest slot (a barriered
//! store), so the collector runs continuously against a big live heap while
//! the mutator measures how long each allocation+fill took. Prints the
//! total, the latency percentiles (Go's `time.Duration` format) and the
//! collector's count, pause total and CPU fraction.

use gort::runtime::{gc, read_mem_stats};
use gort::{make_slice, Gc, GcSlice};
use gort_samples::{go_duration, go_float};
use std::time::{Duration, Instant};

const BUFFER_LEN: usize = 200_000;
const WARMUP: usize = 1_000_000;
const RUNS: usize = 5_000_000;

/// One 1 KiB buffer: a noscan object (no pointers inside), like the
/// backing array of Go's `make([]byte, 1024)`.
type Buf = [u8; 1024];

/// The ring of buffers. A `GcSlice` element is one word, so the ring holds
/// pointers to the buffers (Go's ring holds the slice headers).
type Ring = GcSlice<Option<Gc<Buf>>>;

fn work(c: Ring, n: usize, mut d: Option<&mut Vec<Duration>>) {
    for i in 0..n {
        let t = Instant::now();
        // Allocate the buffer already filled (Go allocates it zeroed,
        // then fills it: the same bytes are written either way).
        let m: Gc<Buf> = Gc::new([i as u8; 1024]);
        c.set(i % BUFFER_LEN, Some(m));
        if let Some(d) = d.as_deref_mut() {
            d.push(t.elapsed());
        }
    }
}

/// The warm-up on a ring of its own, in a frame of its own: Go's twin
/// drops its warm-up ring by overwriting `c`, and its stack maps know the
/// old value is dead. gort scans stacks conservatively, so a copy of the
/// old ring left in a stack slot of `main`'s closure (a shadowed binding,
/// a `black_box` temporary) would keep the whole ring and its 200 MB of
/// buffers alive for the rest of the run — false retention that doubled
/// the live heap and the peak RSS. Once this frame is popped nothing above
/// the stack pointer holds the ring.
#[inline(never)]
fn warm_up() {
    let c: Ring = make_slice(BUFFER_LEN);
    work(c, WARMUP, None);
    std::hint::black_box(c);
}

fn main() {
    gort::run(|| {
        warm_up();
        gc();
        let c: Ring = make_slice(BUFFER_LEN);
        // A std Vec of plain durations: no managed pointers inside, so it
        // may live outside the managed heap.
        let mut d: Vec<Duration> = Vec::with_capacity(RUNS);
        let t0 = Instant::now();
        work(c, RUNS, Some(&mut d));
        let el = t0.elapsed();
        std::hint::black_box(c);
        d.sort_unstable();
        let n = d.len() as f64;
        let at = |q: f64| go_duration(d[(q * n) as usize].as_nanos() as i64);
        let ms = read_mem_stats();
        println!(
            "total {} median {} p99 {} p99.9 {} p99.99 {} worst {}",
            go_duration(el.as_nanos() as i64),
            go_duration(d[d.len() / 2].as_nanos() as i64),
            at(0.99),
            at(0.999),
            at(0.9999),
            go_duration(d[d.len() - 1].as_nanos() as i64)
        );
        println!(
            "NumGC {} PauseTotal {} GCCPUFraction {}",
            ms.num_gc,
            go_duration(ms.pause_total_ns as i64),
            go_float(ms.gc_cpu_fraction)
        );
    })
}
