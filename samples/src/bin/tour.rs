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
//!    command that opens each, and a short in-process summary so the tour
//!    says something even where Go is not installed:
//!    * `cpu.pprof` — a CPU profile (`gort::pprof::start_cpu_profile`) of a
//!      CPU-bound phase, binary-trees of depth 16;
//!    * `heap.pprof` — the heap profile (`gort::pprof::write_heap_profile`)
//!      after the loops above and binary-trees, as of a completed GC: the
//!      100 MB slices appear under the function that allocated them;
//!    * `trace.out` — the execution trace of the loop plus a goroutine
//!      allocating 500 MB (the walk-through's trace program; `go tool trace`);
//!    * `memstats.txt` — the two snapshots in Go's `heap?debug=1` trailer
//!      format.
//!
//!    See [`profiles`].
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

    /// Depth of the binary-trees run under the CPU profiler.
    const CPU_DEPTH: i32 = 16;

    /// The walk-through's CPU profile: a CPU-bound phase (binary-trees)
    /// under `start_cpu_profile`. Returns the top functions by samples.
    fn cpu_profile(out: &Path) -> std::io::Result<Vec<(String, i64, String)>> {
        let file = std::fs::File::create(out)?;
        gort::pprof::start_cpu_profile(std::io::BufWriter::new(file))?;
        let mut lines = 0;
        gort_samples::binarytrees::run(CPU_DEPTH, &mut |_| lines += 1);
        gort::pprof::stop_cpu_profile();
        top(out, 0, "samples", |v| format!("{v} samples"))
    }

    /// The walk-through's heap profile (`pprof.WriteHeapProfile`), after a
    /// GC so that it shows the heap as of a completed cycle. Returns the top
    /// functions by bytes allocated.
    fn heap_profile(out: &Path) -> std::io::Result<Vec<(String, i64, String)>> {
        gort::runtime::gc();
        let mut bytes = Vec::new();
        gort::pprof::write_heap_profile(&mut bytes)?;
        std::fs::write(out, &bytes)?;
        top(out, 1, "allocated", |v| {
            format!("{:.1} MB allocated", v as f64 / 1e6)
        })
    }

    /// The three leaf functions with the largest value `index`, read back
    /// from the file just written (what `go tool pprof -top` would list
    /// first, computed here so the tour shows it without Go).
    fn top(
        path: &Path,
        index: usize,
        _what: &str,
        fmt: impl Fn(i64) -> String,
    ) -> std::io::Result<Vec<(String, i64, String)>> {
        use gort::crates::profiler::pprof::decode;
        let p = decode(&std::fs::read(path)?).map_err(std::io::Error::other)?;
        let mut by_fn: std::collections::HashMap<String, i64> = Default::default();
        for s in &p.sample {
            let Some(leaf) = s
                .location_id
                .first()
                .and_then(|id| p.location.iter().find(|l| l.id == *id))
            else {
                continue;
            };
            let Some(f) = leaf
                .line
                .first()
                .and_then(|l| p.function.iter().find(|f| f.id == l.function_id))
            else {
                continue;
            };
            *by_fn
                .entry(p.string_table[f.name as usize].clone())
                .or_default() += s.value.get(index).copied().unwrap_or(0);
        }
        let mut v: Vec<(String, i64)> = by_fn.into_iter().filter(|(_, n)| *n > 0).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(v.into_iter()
            .take(3)
            .map(|(f, n)| {
                let label = fmt(n);
                (f, n, label)
            })
            .collect())
    }

    fn print_top(top: &[(String, i64, String)]) {
        for (f, _, label) in top {
            println!("        {label:>22}  {f}");
        }
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
                println!("      open: go tool trace {}", trace.display());
            }
            Err(e) => println!("   could not write {}: {e}", trace.display()),
        }
        let cpu = out.join("cpu.pprof");
        match cpu_profile(&cpu) {
            Ok(top) => {
                println!(
                    "   {}: CPU profile of binary-trees, depth {CPU_DEPTH} (100 samples per CPU-second)",
                    cpu.display()
                );
                print_top(&top);
                println!("      open: go tool pprof -top {}", cpu.display());
            }
            Err(e) => println!("   could not write {}: {e}", cpu.display()),
        }
        let heap = out.join("heap.pprof");
        match heap_profile(&heap) {
            Ok(top) => {
                println!(
                    "   {}: heap profile (allocations sampled every 512 KiB on average, as of the last GC)",
                    heap.display()
                );
                print_top(&top);
                println!(
                    "      open: go tool pprof -sample_index=alloc_space -top {}",
                    heap.display()
                );
                println!(
                    "            go tool pprof -top {}   (in use)",
                    heap.display()
                );
            }
            Err(e) => println!("   could not write {}: {e}", heap.display()),
        }
    }
}
