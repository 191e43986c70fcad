//! `tour` — the main job: the "profiling Go memory" walk-through, run on
//! gort from start to finish, with a short report.
//!
//! ```text
//! cargo run --release --bin tour                 # embedded defaults, writes ./gort-out/
//! cargo run --release --bin tour -- --out DIR --slices 10 --size 100000000
//! ```
//!
//! Steps, in the order of the walk-through:
//!
//! 1. **bigbytes, timed** — ten `make_slice::<u8>(100_000_000)` in a loop
//!    (the base program), with its wall time and the collector's work.
//! 2. **memstats before/after** — `runtime::read_mem_stats()` around the
//!    same loop, printing Alloc, TotalAlloc, HeapAlloc, HeapSys (and NumGC)
//!    the way the walk-through's `memstats` program logs them.
//! 3. **profiles and trace** — written under the output folder with the
//!    command that opens each: `memstats.txt` (the two snapshots in Go's
//!    `heap?debug=1` trailer format) and `trace.out` (the execution trace of
//!    the loop plus a goroutine allocating 500 MB, the walk-through's trace
//!    program; `go tool trace`). The CPU and heap profiles are named as not
//!    written yet, with the reason; see [`profiles`].
//!
//! Every number comes from the runtime itself; nothing is estimated.

use gort::runtime::{gomaxprocs, read_mem_stats, MemStats};
use gort::{make_slice, GcSlice};
use gort_samples::go_duration;
use std::path::PathBuf;
use std::time::Instant;

/// What the tour runs; `--out`, `--slices` and `--size` override the
/// embedded defaults.
struct Options {
    out: PathBuf,
    slices: usize,
    size: usize,
}

fn parse_args() -> Options {
    let mut o = Options {
        out: PathBuf::from("gort-out"),
        slices: 10,
        size: 100_000_000,
    };
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: tour [--out DIR] [--slices N] [--size BYTES]");
        std::process::exit(2)
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--out" => o.out = PathBuf::from(value()),
            "--slices" => o.slices = value().parse().unwrap_or_else(|_| usage()),
            "--size" => o.size = value().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    o
}

/// The base program: `slices` allocations of `size` bytes, each dropped
/// before the next.
fn big_bytes_loop(slices: usize, size: usize) {
    for _ in 0..slices {
        let s: GcSlice<u8> = make_slice(size);
        if std::hint::black_box(s).len() != size {
            gort_samples::log_println!("oh noes");
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

fn main() {
    let o = parse_args();
    gort::run(move || {
        println!("gort tour: the \"profiling Go memory\" walk-through on gort");
        println!(
            "  GOMAXPROCS={} GOGC={} GOMEMLIMIT={}",
            gomaxprocs(0),
            std::env::var("GOGC").unwrap_or_else(|_| "100 (default)".into()),
            std::env::var("GOMEMLIMIT").unwrap_or_else(|_| "off (default)".into())
        );
        println!();

        // 1. bigbytes, timed.
        println!("1. bigbytes: {} x make_slice::<u8>({})", o.slices, o.size);
        let before = read_mem_stats();
        let t = Instant::now();
        big_bytes_loop(o.slices, o.size);
        let took = t.elapsed();
        let after = read_mem_stats();
        println!("   took {}", go_duration(took.as_nanos() as i64));
        println!(
            "   allocated {} in {} objects; {} GC cycles, {} of stop-the-world pauses",
            mib(after.total_alloc - before.total_alloc),
            after.mallocs - before.mallocs,
            after.num_gc - before.num_gc,
            go_duration((after.pause_total_ns - before.pause_total_ns) as i64)
        );
        println!(
            "   (Go 1.19 on a 2-core VM: ~0.12 s; compare here with samples/compare.sh bigbytes)"
        );
        println!();

        // 2. memstats before/after.
        println!("2. memstats: runtime::read_mem_stats() before and after the loop");
        let base = read_mem_stats();
        big_bytes_loop(o.slices, o.size);
        let cmp = read_mem_stats();
        print_memstats(&base, &cmp);
        println!();

        // 3. profiles and trace.
        println!("3. profiles and trace, under {}/", o.out.display());
        profiles::run(&o.out, &base, &cmp, || big_bytes_loop(o.slices, o.size));
    })
}

fn print_memstats(base: &MemStats, cmp: &MemStats) {
    println!("   {:<12} {:>16} {:>16}", "", "baseline", "comparison");
    let rows: [(&str, u64, u64); 6] = [
        ("Alloc", base.alloc, cmp.alloc),
        ("TotalAlloc", base.total_alloc, cmp.total_alloc),
        ("HeapAlloc", base.heap_alloc, cmp.heap_alloc),
        ("HeapSys", base.heap_sys, cmp.heap_sys),
        ("HeapReleased", base.heap_released, cmp.heap_released),
        ("NumGC", u64::from(base.num_gc), u64::from(cmp.num_gc)),
    ];
    for (name, a, b) in rows {
        println!("   {name:<12} {a:>16} {b:>16}");
    }
    let allocated = cmp.total_alloc - base.total_alloc;
    let freed = freed_between(base, cmp);
    if freed == 0 {
        println!("   TotalAlloc grew by {allocated} and nothing was freed in between.");
    } else {
        println!(
            "   TotalAlloc grew by {allocated}; meanwhile the collector freed {freed} (this loop's \
             garbage and older), so Alloc is {}.",
            cmp.alloc
        );
    }
}

/// Bytes freed between two snapshots: what was allocated minus how much
/// the live heap grew.
fn freed_between(base: &MemStats, cmp: &MemStats) -> u64 {
    let allocated = cmp.total_alloc - base.total_alloc;
    let grew = cmp.alloc as i128 - base.alloc as i128;
    (allocated as i128 - grew).max(0) as u64
}

/// Step 3: what the runtime can write for the tools today, and a plain
/// statement of what it cannot write yet.
mod profiles {
    use gort::crates::profiler::text::write_heap_text;
    use gort::runtime::MemStats;
    use gort::sync::WaitGroup;
    use gort::{go, make_slice, GcSlice};
    use std::path::Path;

    /// The `# runtime.MemStats` block Go prints at the end of
    /// `/debug/pprof/heap?debug=1`, for one snapshot.
    fn memstats_block(m: &MemStats) -> std::io::Result<String> {
        let mut text = Vec::new();
        write_heap_text(&mut text, &[], 512 * 1024, m, None)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let at = text.find("# runtime.MemStats").unwrap_or(0);
        Ok(text[at..].to_string())
    }

    /// The walk-through's trace program: the loop under the tracer, then a
    /// goroutine that allocates 500 MB while main waits for it.
    fn traced(out: &Path, big_bytes_loop: impl Fn()) -> std::io::Result<()> {
        let file = std::fs::File::create(out)?;
        gort::trace::start(std::io::BufWriter::new(file))?;
        big_bytes_loop();
        let wg = WaitGroup::new();
        wg.add(1);
        let done = wg.clone();
        go(move || {
            let result: GcSlice<u8> = make_slice(500_000_000);
            std::hint::black_box(result);
            done.done();
        });
        wg.wait();
        gort::trace::stop()
    }

    pub fn run(out: &Path, base: &MemStats, cmp: &MemStats, big_bytes_loop: impl Fn()) {
        if let Err(e) = std::fs::create_dir_all(out) {
            println!("   cannot create {}: {e}", out.display());
            return;
        }
        let file = out.join("memstats.txt");
        let written = memstats_block(base).and_then(|b| {
            let body = format!(
                "# baseline (before the loop)\n{b}\n# comparison (after the loop)\n{}",
                memstats_block(cmp)?
            );
            std::fs::write(&file, body)
        });
        match written {
            Ok(()) => {
                println!(
                    "   {}: both MemStats snapshots in Go's heap?debug=1 trailer format",
                    file.display()
                );
                println!("      open: less {}", file.display());
            }
            Err(e) => println!("   could not write {}: {e}", file.display()),
        }
        let trace = out.join("trace.out");
        match traced(&trace, big_bytes_loop) {
            Ok(()) => {
                println!(
                    "   {}: execution trace of the loop and a goroutine allocating 500 MB",
                    trace.display()
                );
                println!(
                    "      (goroutines and Ps only: no GC events, start functions unsymbolized)"
                );
                println!("      open: go tool trace {}", trace.display());
            }
            Err(e) => println!("   could not write {}: {e}", trace.display()),
        }
        println!("   not written yet: cpu.pprof, heap.pprof. gort-profiler has the encoders");
        println!("   (go tool pprof reads them), but the samplers that feed them are not built:");
        println!("   no SIGPROF sampler, no allocation sampler in the heap.");
    }
}
