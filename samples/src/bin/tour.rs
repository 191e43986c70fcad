//! `tour` — the main job: the "profiling Go memory" walk-through, run on
//! gort from start to finish in the walk-through's order, with what each
//! step shows and the command that opens each file it writes.
//!
//! ```text
//! cargo run --release --bin tour                 # writes ./gort-out/
//! cargo run --release --bin tour -- --serve      # then keeps its two HTTP servers up
//! cargo run --release --bin tour -- --out DIR --cpu-depth 17
//! ```
//!
//! Steps:
//!
//! 1. **bigbytes, timed** — ten `make_slice::<u8>(100_000_000)` in a loop.
//! 2. **memstats** — `runtime::read_mem_stats()` before the tour's first
//!    allocation (the true baseline) and after the loop, and both snapshots
//!    in `memstats.txt` (Go's `heap?debug=1` trailer format).
//! 3. **CPU profile** — `cpu.pprof` of binary-trees, a program that does
//!    nothing but allocate small objects and walk them, so the profile
//!    shows where an allocation-heavy program's CPU goes (the tree code, the
//!    allocator, the collector's marking); `cpu.svg`, its flame graph.
//! 4. **heap profile** — `heap.pprof` as of a completed GC, while the tour
//!    holds one slice; `heap.svg`, the flame graph of the bytes allocated.
//! 5. **the pprof server** — `gort::pprof::serve("127.0.0.1:0")`, fetched
//!    once.
//! 6. **the custom router** — "Hello World" and the `gort::pprof::http`
//!    handlers (and `/debug/metrics`) on one server of the program's own
//!    (`gort_samples::customrouter`), on a free port, fetched once.
//! 7. **the trace** — `trace.out`: the loop and a goroutine allocating
//!    500 MB under the execution tracer, with a guide to `go tool trace`.
//! 8. **runtime metrics** — Go's `runtime/metrics` names read with
//!    `gort::metrics::read`, and `/debug/metrics` from the custom router.
//!
//! Where Go is installed (`go` on `PATH`, and `$HOME/go127/go/bin/go`), the
//! tour builds the Go twins of steps 1–3 from `samples/go/` and measures
//! them beside gort, each side a process of its own (gort's by running
//! this binary again with `--run NAME`); without Go it says that this was
//! skipped. Every number comes from the runtime or from `wait4`; nothing is
//! quoted.

use gort::runtime::{gomaxprocs, read_mem_stats, MemStats};
use gort::{make_slice, GcSlice};
use gort_samples::go_duration;
use gort_samples::tour::twins::{self, median, Run, Toolchain};
use gort_samples::tour::{fetch, flame, mib, secs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The walk-through's slice: 100,000,000 bytes.
const SLICE: usize = 100_000_000;

/// Slices in the walk-through's loop.
const SLICES: usize = 10;

/// Runs of each side when a twin is timed (bigbytes; binary-trees runs
/// once).
const TWIN_RUNS: usize = 3;

/// What the tour runs; all optional.
struct Options {
    out: PathBuf,
    cpu_depth: i32,
    serve: bool,
    /// `--run NAME [ARG]`: be that program instead of the tour (the tour
    /// measures gort's side of a twin this way).
    run: Option<(String, Option<String>)>,
}

fn usage() -> ! {
    eprintln!("usage: tour [--out DIR] [--cpu-depth N] [--serve]");
    eprintln!("       tour --run bigbytes | --run binarytrees N   (what the tour measures)");
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        out: PathBuf::from("gort-out"),
        cpu_depth: 17,
        serve: false,
        run: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => o.out = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            "--cpu-depth" => {
                o.cpu_depth = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--serve" => o.serve = true,
            "--run" => {
                let name = args.next().unwrap_or_else(|| usage());
                o.run = Some((name, args.next()));
            }
            _ => usage(),
        }
    }
    o
}

/// Go's `bigBytes`: one slice. Not inlined, so that profiles name it.
#[inline(never)]
fn big_bytes() -> GcSlice<u8> {
    std::hint::black_box(make_slice::<u8>(SLICE))
}

/// The base program: ten slices, each dropped before the next.
fn big_bytes_loop() {
    for _ in 0..SLICES {
        let s = big_bytes();
        if std::hint::black_box(s).len() != SLICE {
            gort_samples::log_println!("oh noes");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        // The tour's measuring helper (see `twins::measure_main`).
        twins::measure_main(&args[1..]);
    }
    let mut o = parse_args();
    if let Some((name, arg)) = o.run.take() {
        return run_program(&name, arg.as_deref());
    }
    gort::run(move || {
        // The memstats step's baseline, before the tour allocates anything.
        let base = read_mem_stats();
        let start = Instant::now();
        let mut tour = Tour::new(o);
        tour.header();
        tour.bigbytes();
        tour.memstats(&base);
        tour.cpu_profile();
        tour.heap_profile();
        let pprof = tour.pprof_server();
        let router = tour.custom_router();
        tour.trace();
        tour.metrics(router.as_ref().map(|r| r.addr()));
        tour.summary(start.elapsed());
        if tour.o.serve {
            println!();
            println!(
                "Serving until interrupted (Ctrl-C); the commands of steps 5, 6 and 8 work now."
            );
            loop {
                gort::sleep(Duration::from_secs(3600));
            }
        }
        drop((pprof, router));
    })
}

/// `tour --run NAME`: gort's side of a twin, as a process of its own.
fn run_program(name: &str, arg: Option<&str>) {
    match name {
        "bigbytes" => gort::run(big_bytes_loop),
        "binarytrees" => {
            let n = arg.and_then(|a| a.parse().ok()).unwrap_or(10);
            gort::run(move || {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                gort_samples::binarytrees::run(n, &mut |line| {
                    let _ = out.write_fmt(line);
                });
            })
        }
        _ => usage(),
    }
}

/// The tour's state between steps.
struct Tour {
    o: Options,
    /// Where the Go twins' sources are (`samples/go`), if present.
    twin_src: Option<PathBuf>,
    /// The Go toolchains found.
    go: Vec<Toolchain>,
    /// Where the twins are built (under the output folder).
    twin_bin: PathBuf,
    /// Files written, for the summary.
    written: Vec<(PathBuf, &'static str)>,
}

impl Tour {
    fn new(o: Options) -> Tour {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go");
        let twin_bin = o.out.join("go-twins");
        Tour {
            twin_src: src.join("bigbytes/main.go").is_file().then_some(src),
            go: Toolchain::installed(),
            twin_bin,
            written: Vec::new(),
            o,
        }
    }

    fn header(&mut self) {
        println!("gort tour: the \"profiling Go memory\" walk-through on gort");
        println!(
            "  GOMAXPROCS={} GOGC={} GOMEMLIMIT={}; files go to {}/",
            gomaxprocs(0),
            std::env::var("GOGC").unwrap_or_else(|_| "100".into()),
            std::env::var("GOMEMLIMIT").unwrap_or_else(|_| "off".into()),
            self.o.out.display()
        );
        if let Err(e) = std::fs::create_dir_all(&self.o.out) {
            println!("  cannot create {}: {e}", self.o.out.display());
            std::process::exit(1);
        }
        match (&self.twin_src, self.go.is_empty()) {
            (_, true) => println!(
                "  Go twins: skipped (no Go toolchain: neither `go` on PATH nor \
                 $HOME/go127/go/bin/go); gort's figures alone"
            ),
            (None, false) => {
                println!("  Go twins: skipped (samples/go/ is not where this binary was built)");
                self.go.clear();
            }
            (Some(src), false) => {
                let names: Vec<String> = self
                    .go
                    .iter()
                    .map(|t| format!("{} ({})", t.version, t.go.display()))
                    .collect();
                println!(
                    "  Go twins: {}, built from {}/ and measured now, beside gort",
                    names.join(", "),
                    src.display()
                );
            }
        }
        println!();
    }

    /// Builds the twin `name` with every toolchain; those that failed are
    /// reported and left out.
    fn twins(&self, name: &str) -> Vec<(&Toolchain, PathBuf)> {
        let Some(src) = &self.twin_src else {
            return Vec::new();
        };
        if self.go.is_empty() || std::fs::create_dir_all(&self.twin_bin).is_err() {
            return Vec::new();
        }
        let mut v = Vec::new();
        for tc in &self.go {
            match tc.build_twin(src, name, &self.twin_bin) {
                Ok(exe) => v.push((tc, exe)),
                Err(e) => println!("   (Go twin left out: {e})"),
            }
        }
        v
    }

    /// Runs `program ARGS` as a process of its own under the measuring
    /// helper (this binary as `tour --measure`).
    fn measure(&self, program: &Path, args: &[&str]) -> std::io::Result<Run> {
        let mut via = Command::new(self_exe());
        via.arg("--measure");
        twins::measure(via, &self.twin_bin.join("measured"), program, args)
    }

    /// gort's side of a twin: this binary again, as `tour --run ARGS`.
    fn measure_gort(&self, args: &[&str]) -> std::io::Result<Run> {
        let mut all = vec!["--run"];
        all.extend_from_slice(args);
        self.measure(&self_exe(), &all)
    }

    fn bigbytes(&mut self) {
        println!("1. bigbytes: ten make_slice::<u8>(100_000_000), each dropped before the next");
        let before = read_mem_stats();
        let t = Instant::now();
        big_bytes_loop();
        let took = t.elapsed();
        let after = read_mem_stats();
        println!(
            "   in this process: {}; {} allocated in {} objects, {} GC cycles, {} of stop-the-world pauses",
            go_duration(took.as_nanos() as i64),
            mib(after.total_alloc - before.total_alloc),
            after.mallocs - before.mallocs,
            after.num_gc - before.num_gc,
            go_duration((after.pause_total_ns - before.pause_total_ns) as i64)
        );
        let twins = self.twins("bigbytes");
        if twins.is_empty() {
            println!("   Go twin: skipped (no Go toolchain)");
            println!();
            return;
        }
        // Alternate the sides, as samples/compare.sh does, so that all see
        // the same machine weather.
        let mut gort_runs = Vec::new();
        let mut go_runs: Vec<Vec<Run>> = vec![Vec::new(); twins.len()];
        for _ in 0..TWIN_RUNS {
            if let Ok(r) = self.measure_gort(&["bigbytes"]) {
                gort_runs.push(r);
            }
            for (i, (_, exe)) in twins.iter().enumerate() {
                if let Ok(r) = self.measure(exe, &[]) {
                    go_runs[i].push(r);
                }
            }
        }
        println!(
            "   as a program of its own (median of {TWIN_RUNS}, alternating): wall, CPU, peak RSS"
        );
        let gort = median(gort_runs);
        print_run("gort", gort.as_ref(), None);
        for ((tc, _), runs) in twins.iter().zip(go_runs) {
            print_run(&tc.version, median(runs).as_ref(), gort.as_ref());
        }
        if let Some(g) = &gort {
            if g.max_rss < SLICE as u64 / 4 {
                println!(
                    "   gort's peak RSS is below a quarter of one slice: nobody writes these \
                     slices, and gort clears only the"
                );
                println!(
                    "   resident pages of reused memory (Go clears it all); \
                     samples/compare.sh bigbytes-touch writes every page"
                );
            }
        }
        println!();
    }

    fn memstats(&mut self, base: &MemStats) {
        println!(
            "2. memstats: runtime::read_mem_stats() before the tour's first allocation \
             (baseline) and after step 1's loop"
        );
        let cmp = read_mem_stats();
        // The Go twin's four figures before and after its loop.
        let mut go_cols: Vec<(String, Vec<u64>)> = Vec::new();
        for (tc, exe) in self.twins("memstats") {
            match self.measure(&exe, &[]) {
                Ok(r) if r.code == 0 => {
                    let v = logged_values(&r.stderr);
                    if v.len() == 8 {
                        go_cols.push((tc.version.clone(), v));
                    } else {
                        println!("   ({} twin printed {} values, not 8)", tc.version, v.len());
                    }
                }
                Ok(r) => println!("   ({} twin exited with {})", tc.version, r.code),
                Err(e) => println!("   ({} twin did not run: {e})", tc.version),
            }
        }
        let mut head = format!("   {:<12} {:>14} {:>14}", "", "baseline", "comparison");
        for (v, _) in &go_cols {
            head += &format!(" {:>14} {:>14}", format!("{v} base"), "comparison");
        }
        println!("{head}");
        let rows: [(&str, u64, u64); 4] = [
            ("Alloc", base.alloc, cmp.alloc),
            ("TotalAlloc", base.total_alloc, cmp.total_alloc),
            ("HeapAlloc", base.heap_alloc, cmp.heap_alloc),
            ("HeapSys", base.heap_sys, cmp.heap_sys),
        ];
        for (i, (name, a, b)) in rows.into_iter().enumerate() {
            let mut line = format!("   {name:<12} {a:>14} {b:>14}");
            for (_, v) in &go_cols {
                line += &format!(" {:>14} {:>14}", v[i], v[i + 4]);
            }
            println!("{line}");
        }
        println!("   {:<12} {:>14} {:>14}", "NumGC", base.num_gc, cmp.num_gc);
        if go_cols.is_empty() {
            println!("   Go twin: skipped (no Go toolchain)");
        }
        let allocated = cmp.total_alloc - base.total_alloc;
        let freed = (allocated as i128 - (cmp.alloc as i128 - base.alloc as i128)).max(0);
        println!(
            "   TotalAlloc grew by {allocated}; the collector freed {freed} of it meanwhile, \
             so Alloc ends at {} ({:.1} slices)",
            cmp.alloc,
            cmp.alloc as f64 / SLICE as f64
        );
        let file = self.o.out.join("memstats.txt");
        let body = memstats_block(base).and_then(|b| {
            Ok(format!(
                "# baseline (before the tour's first allocation)\n{b}\n\
                 # comparison (after ten 100,000,000-byte slices)\n{}",
                memstats_block(&cmp)?
            ))
        });
        match body.and_then(|b| std::fs::write(&file, b)) {
            Ok(()) => {
                println!(
                    "   {}: both snapshots in Go's heap?debug=1 trailer format",
                    file.display()
                );
                println!("   $ cat {}", file.display());
                self.written.push((file, "MemStats before and after"));
            }
            Err(e) => println!("   could not write {}: {e}", file.display()),
        }
        println!();
    }

    fn cpu_profile(&mut self) {
        let depth = self.o.cpu_depth;
        println!(
            "3. CPU profile: binary-trees, depth {depth}, under gort::pprof::start_cpu_profile"
        );
        println!(
            "   binary-trees builds, checks and drops millions of two-word tree nodes: its CPU \
             goes to the tree code,"
        );
        println!("   to allocating and to collecting, and the profile shows how much to each");
        let file = self.o.out.join("cpu.pprof");
        let t = Instant::now();
        let written = std::fs::File::create(&file).and_then(|f| {
            gort::pprof::start_cpu_profile(std::io::BufWriter::new(f))?;
            let mut lines = 0;
            gort_samples::binarytrees::run(depth, &mut |_| lines += 1);
            gort::pprof::stop_cpu_profile();
            Ok(())
        });
        let took = t.elapsed();
        if let Err(e) = written {
            println!("   could not write {}: {e}", file.display());
            println!();
            return;
        }
        println!(
            "   in this process, profiled: {}",
            go_duration(took.as_nanos() as i64)
        );
        match flame::read(&file) {
            Ok(p) => {
                let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
                println!(
                    "   {}: {total} samples (100 per CPU-second, on every thread running \
                     goroutines or collector work);",
                    file.display()
                );
                println!("   by part, as the innermost frame of the program or of gort says:");
                for (part, n) in cpu_split(&p) {
                    println!(
                        "      {:>5.1} %  {part}",
                        100.0 * n as f64 / total.max(1) as f64
                    );
                }
                println!("   the functions most samples stopped in (pprof's \"flat\"):");
                for (f, n) in flame::top_flat(&p, 0, 5) {
                    println!(
                        "      {:>5.1} %  {f}",
                        100.0 * n as f64 / total.max(1) as f64
                    );
                }
            }
            Err(e) => println!("   cannot read {} back: {e}", file.display()),
        }
        self.written.push((file.clone(), "CPU profile"));
        let svg = self.o.out.join("cpu.svg");
        match flame::write_svg(&file, 0, &svg, "gort: binary-trees, CPU", "samples") {
            Ok(n) => {
                println!(
                    "   {}: its flame graph ({n} stacks; open it in a browser, click to zoom)",
                    svg.display()
                );
                self.written.push((svg, "CPU flame graph"));
            }
            Err(e) => println!("   could not draw {}: {e}", svg.display()),
        }
        println!("   $ go tool pprof -top {}", file.display());
        println!(
            "   $ go tool pprof -http=127.0.0.1:0 {}   (pprof's web UI)",
            file.display()
        );
        self.binarytrees_twin(depth);
        println!();
    }

    /// gort's binary-trees and Go's, each a process of its own.
    fn binarytrees_twin(&self, depth: i32) {
        let twins = self.twins("binarytrees");
        if twins.is_empty() {
            println!("   Go twin: skipped (no Go toolchain)");
            return;
        }
        let arg = depth.to_string();
        println!(
            "   binary-trees {depth} as a program of its own, unprofiled: wall, CPU, peak RSS"
        );
        let gort = self.measure_gort(&["binarytrees", &arg]).ok();
        print_run("gort", gort.as_ref(), None);
        for (tc, exe) in twins {
            let run = self.measure(&exe, &[&arg]).ok();
            print_run(&tc.version, run.as_ref(), gort.as_ref());
            if let (Some(g), Some(r)) = (&gort, &run) {
                if g.stdout == r.stdout {
                    println!("      (output byte-identical to gort's)");
                } else {
                    println!("      (its output DIFFERS from gort's)");
                }
            }
        }
    }

    fn heap_profile(&mut self) {
        println!("4. heap profile: gort::pprof::write_heap_profile after a GC, holding one slice");
        // A slice held across the collection shows in the in-use figures.
        let held = big_bytes();
        gort::runtime::gc();
        let file = self.o.out.join("heap.pprof");
        let mut bytes = Vec::new();
        let written = gort::pprof::write_heap_profile(&mut bytes)
            .and_then(|()| std::fs::write(&file, &bytes));
        std::hint::black_box(&held);
        if let Err(e) = written {
            println!("   could not write {}: {e}", file.display());
            println!();
            return;
        }
        println!(
            "   {}: one allocation sampled per 512 KiB on average, figures as of the last \
             completed GC",
            file.display()
        );
        self.written.push((file.clone(), "heap profile"));
        let mut alloc_space = None;
        match flame::read(&file) {
            Ok(p) => {
                for (index, what) in [("alloc_space", "allocated"), ("inuse_space", "in use")] {
                    let Some(i) = flame::sample_index(&p, index) else {
                        continue;
                    };
                    if index == "alloc_space" {
                        alloc_space = Some(i);
                    }
                    println!("   {index} ({what}), by the function that allocated:");
                    for (f, n) in flame::top_flat(&p, i, 3) {
                        println!("      {:>10.1} MB  {f}", n as f64 / 1e6);
                    }
                }
            }
            Err(e) => println!("   cannot read {} back: {e}", file.display()),
        }
        let svg = self.o.out.join("heap.svg");
        match alloc_space.map(|i| {
            flame::write_svg(
                &file,
                i,
                &svg,
                "gort: the tour's allocations (alloc_space)",
                "bytes",
            )
        }) {
            Some(Ok(n)) => {
                println!(
                    "   {}: flame graph of the bytes allocated ({n} stacks)",
                    svg.display()
                );
                self.written.push((svg, "heap flame graph"));
            }
            Some(Err(e)) => println!("   could not draw {}: {e}", svg.display()),
            None => println!("   no alloc_space in {}", file.display()),
        }
        println!(
            "   $ go tool pprof -sample_index=alloc_space -top {}",
            file.display()
        );
        println!(
            "   $ go tool pprof -top {}   (in use: the slice held)",
            file.display()
        );
        println!();
    }

    fn pprof_server(&mut self) -> Option<gort::pprof::PprofServer> {
        println!("5. the pprof server: gort::pprof::serve(\"127.0.0.1:0\"), a free port");
        let server = match gort::pprof::serve("127.0.0.1:0") {
            Ok(s) => s,
            Err(e) => {
                println!("   could not listen: {e}");
                println!();
                return None;
            }
        };
        let addr = server.addr();
        println!("   serving http://{addr}/debug/pprof/ on threads of its own");
        match fetch::get(addr, "/debug/pprof/", Duration::from_secs(10)) {
            Ok(a) => {
                let text = String::from_utf8_lossy(&a.body);
                let names: Vec<&str> = text
                    .split("<a href='")
                    .skip(1)
                    .filter_map(|s| s.split('?').next())
                    .collect();
                println!(
                    "   GET /debug/pprof/ -> {} ({} bytes): the index lists {}",
                    a.status,
                    a.body.len(),
                    names.join(", ")
                );
            }
            Err(e) => println!("   GET /debug/pprof/ failed: {e}"),
        }
        serving_note();
        println!("   $ go tool pprof -top http://{addr}/debug/pprof/heap");
        println!("   $ go tool pprof -top -seconds 2 http://{addr}/debug/pprof/profile");
        println!("   $ go tool pprof -raw http://{addr}/debug/pprof/goroutine");
        println!();
        Some(server)
    }

    fn custom_router(&mut self) -> Option<gort_samples::customrouter::Router> {
        println!(
            "6. the custom router: \"Hello World\" and the gort::pprof::http handlers on one \
             server of the program's own"
        );
        println!(
            "   (gort_samples::customrouter: tiny_http, routing http::Request to \
             pprof::http::{{index, cmdline, profile, symbol, trace}})"
        );
        let router = match gort_samples::customrouter::listen("127.0.0.1:0") {
            Ok(r) => r,
            Err(e) => {
                println!("   could not listen: {e}");
                println!();
                return None;
            }
        };
        let addr = router.addr();
        println!("   serving http://{addr}/");
        match fetch::get(addr, "/", Duration::from_secs(10)) {
            Ok(a) => println!(
                "   GET / -> {} {:?}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ),
            Err(e) => println!("   GET / failed: {e}"),
        }
        serving_note();
        println!(
            "   $ go tool pprof -sample_index=alloc_space -top http://{addr}/debug/pprof/allocs"
        );
        println!("   $ go tool pprof -top -seconds 2 http://{addr}/debug/pprof/profile");
        println!();
        Some(router)
    }

    fn trace(&mut self) {
        println!(
            "7. the trace: step 1's loop and a goroutine allocating 500 MB, under \
             gort::trace::start"
        );
        let file = self.o.out.join("trace.out");
        let t = Instant::now();
        match traced(&file) {
            Ok(()) => {
                let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                println!(
                    "   {}: {} bytes of Go's execution trace, {} of program",
                    file.display(),
                    size,
                    go_duration(t.elapsed().as_nanos() as i64)
                );
                self.written.push((file.clone(), "execution trace"));
            }
            Err(e) => {
                println!("   could not write {}: {e}", file.display());
                println!();
                return;
            }
        }
        println!("   $ go tool trace -http=127.0.0.1:0 {}", file.display());
        for line in wrap(TRACE_GUIDE, 88) {
            println!("   {line}");
        }
        println!();
    }

    fn metrics(&mut self, router: Option<std::net::SocketAddr>) {
        use gort::metrics::{read, Sample, Value};
        println!(
            "8. runtime metrics (Go's runtime/metrics, beyond the walk-through): \
             gort::metrics::read over the whole tour"
        );
        let names = [
            "/gc/cycles/total:gc-cycles",
            "/gc/heap/allocs:bytes",
            "/gc/heap/goal:bytes",
            "/cpu/classes/gc/total:cpu-seconds",
            "/sched/pauses/total/gc:seconds",
            "/sched/latencies:seconds",
        ];
        let mut samples: Vec<Sample> = names.iter().map(|n| Sample::new(*n)).collect();
        read(&mut samples);
        for s in &samples {
            let value = match &s.value {
                Value::Uint64(v) => v.to_string(),
                Value::Float64(v) => format!("{v:.6}"),
                Value::Float64Histogram(h) => {
                    let n: u64 = h.counts.iter().sum();
                    format!(
                        "{n} recorded; median {}, 99th percentile {}",
                        quantile(&h.buckets, &h.counts, 0.5),
                        quantile(&h.buckets, &h.counts, 0.99)
                    )
                }
                Value::Bad => "not supported".to_string(),
            };
            println!("   {:<36} {value}", s.name);
        }
        println!(
            "   (the pauses are the collector's stops of the world; the latencies how long \
             goroutines waited runnable)"
        );
        if let Some(addr) = router {
            match fetch::get(addr, "/debug/metrics", Duration::from_secs(10)) {
                Ok(a) => {
                    let text = String::from_utf8_lossy(&a.body);
                    let families = text.lines().filter(|l| l.starts_with("# TYPE")).count();
                    println!(
                        "   the custom router serves them in the Prometheus text format: \
                         GET /debug/metrics -> {} ({families} metrics), e.g.",
                        a.status
                    );
                    for l in text.lines().filter(|l| {
                        l.starts_with("go_gc_cycles_total_gc_cycles_total ")
                            || l.starts_with("go_sched_pauses_total_gc_seconds_count ")
                            || l.starts_with("go_gc_heap_allocs_bytes_total ")
                    }) {
                        println!("      {l}");
                    }
                    serving_note();
                    println!("   $ curl -s http://{addr}/debug/metrics");
                }
                Err(e) => println!("   GET /debug/metrics failed: {e}"),
            }
        }
        println!();
    }

    fn summary(&self, took: Duration) {
        println!("Written under {}/:", self.o.out.display());
        let width = self
            .written
            .iter()
            .map(|(f, _)| f.display().to_string().len())
            .max()
            .unwrap_or(0);
        for (f, what) in &self.written {
            let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            println!(
                "   {:<width$} {:>10} bytes  {what}",
                f.display().to_string(),
                size
            );
        }
        if let Ok(dir) = std::fs::read_dir(&self.twin_bin) {
            let n = dir.filter(|e| e.is_ok()).count();
            if n > 0 {
                println!(
                    "   {}/: the {n} Go twins built (one per toolchain and program)",
                    self.twin_bin.display()
                );
            }
        }
        println!("The tour took {} in all.", secs(took));
    }
}

/// This program's own executable.
fn self_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tour"))
}

/// Printed before the commands that need a server still up.
fn serving_note() {
    println!(
        "   while it serves (the tour stops its servers at the end; \
         `cargo run --release --bin tour -- --serve` keeps them up):"
    );
}

/// What to look at in `go tool trace`: what Go's own views show for this
/// program.
const TRACE_GUIDE: &str =
    "What to look at: `go tool trace` serves a page of views. \"View trace\" \
(\"View trace by proc\" in Go 1.22+) is the timeline: a Goroutines counter (running and \
runnable), a Heap counter (the bytes allocated, with NextGC, the goal of the next collection: \
watch it climb with each slice and fall when a collection ends), a Threads counter, a GC row \
with one bar per collection, and a row per P (Proc 0, Proc 1, ...) showing which goroutine ran \
there and when: the main goroutine allocating, the goroutine that allocates 500 MB, and the \
collector's work as the trace records it. Click a bar for its goroutine, duration and stack. \
\"Goroutine analysis\" lists the goroutines by start function with their time running, waiting \
to run, blocked and in GC; the blocking profiles (network, synchronization, system calls) and \
\"Scheduler latency\" show where goroutines waited, and \"Minimum mutator utilization\" how \
much of the CPU the collector left to the program.";

/// `text` broken into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One row of a timing table; with `gort`, the ratios of gort's figures to
/// this row's (below 1.00x: gort is faster or smaller).
fn print_run(label: &str, r: Option<&Run>, gort: Option<&Run>) {
    let Some(r) = r else {
        println!("      {label:<10} did not run");
        return;
    };
    let mut line = format!(
        "      {label:<10} {:>9} {:>9} {:>11}",
        secs(r.wall),
        secs(r.cpu),
        mib(r.max_rss)
    );
    if r.code != 0 {
        line += &format!("  (exit status {})", r.code);
    }
    if let Some(g) = gort {
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}x", a / b)
            } else {
                "-".into()
            }
        };
        line += &format!(
            "   gort/Go: wall {}, CPU {}, RSS {}",
            ratio(g.wall.as_secs_f64(), r.wall.as_secs_f64()),
            ratio(g.cpu.as_secs_f64(), r.cpu.as_secs_f64()),
            ratio(g.max_rss as f64, r.max_rss as f64)
        );
    }
    println!("{line}");
}

/// The values of `log.Println(v)` lines (`YYYY/MM/DD HH:MM:SS v`).
fn logged_values(stderr: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

/// The `# runtime.MemStats` block Go prints at the end of
/// `/debug/pprof/heap?debug=1`, for one snapshot.
fn memstats_block(m: &MemStats) -> std::io::Result<String> {
    use gort::crates::profiler::text::write_heap_text;
    let mut text = Vec::new();
    write_heap_text(&mut text, &[], 512 * 1024, m, None)?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let at = text.find("# runtime.MemStats").unwrap_or(0);
    Ok(text[at..].to_string())
}

/// The CPU samples by the part of the program they were in: the innermost
/// frame that belongs to gort or to the program decides.
fn cpu_split(p: &gort::crates::profiler::pprof::Profile) -> Vec<(&'static str, i64)> {
    let parts: [(&str, &'static str); 4] = [
        ("gort_samples::", "the program (binary-trees' tree code)"),
        ("gort_gc::", "gort_gc: the allocator and the collector"),
        ("gort_scheduler::", "gort_scheduler: the scheduler"),
        ("gort::", "gort: the runtime's facade"),
    ];
    let mut sums = vec![0i64; parts.len() + 1];
    for s in &p.sample {
        let frames = flame::stack_names(p, &s.location_id);
        let part = frames
            .iter()
            .rev()
            .find_map(|f| parts.iter().position(|(prefix, _)| f.starts_with(prefix)))
            .unwrap_or(parts.len());
        sums[part] += s.value[0];
    }
    let mut v: Vec<(&'static str, i64)> = parts
        .iter()
        .map(|(_, name)| *name)
        .chain(std::iter::once(
            "elsewhere (the C library, the kernel's entry points)",
        ))
        .zip(sums)
        .filter(|(_, n)| *n > 0)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.1));
    v
}

/// The `q` quantile of a histogram, as the upper bound of the bucket it
/// falls in (Go's buckets are narrow: within a few percent).
fn quantile(buckets: &[f64], counts: &[u64], q: f64) -> String {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return "-".into();
    }
    let want = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= want {
            let upper = buckets[i + 1];
            return if upper.is_finite() {
                format!("< {}", go_duration((upper * 1e9) as i64))
            } else {
                format!(">= {}", go_duration((buckets[i] * 1e9) as i64))
            };
        }
    }
    "-".into()
}

/// The walk-through's trace program: the loop under the tracer, then a
/// goroutine that allocates 500 MB while main waits for it.
fn traced(out: &Path) -> std::io::Result<()> {
    use gort::sync::WaitGroup;
    let file = std::fs::File::create(out)?;
    gort::trace::start(std::io::BufWriter::new(file))?;
    big_bytes_loop();
    let wg = WaitGroup::new();
    wg.add(1);
    let done = wg.clone();
    gort::go(move || {
        let result: GcSlice<u8> = make_slice(500_000_000);
        std::hint::black_box(result);
        done.done();
    });
    wg.wait();
    gort::trace::stop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let buckets = [0.0, 1e-6, 1e-3, 1.0, f64::INFINITY];
        let counts = [1, 8, 1, 0];
        assert_eq!(quantile(&buckets, &counts, 0.1), "< 1µs");
        assert_eq!(quantile(&buckets, &counts, 0.5), "< 1ms");
        assert_eq!(quantile(&buckets, &counts, 0.99), "< 1s");
        assert_eq!(quantile(&buckets, &[0, 0, 0, 2], 0.5), ">= 1s");
        assert_eq!(quantile(&buckets, &[0; 4], 0.5), "-");
    }

    #[test]
    fn go_log_lines_give_their_values() {
        let stderr =
            b"2026/12/07 21:00:00 45776\n2026/12/07 21:00:00 oh noes\n2026/12/07 21:00:01 7\n";
        assert_eq!(logged_values(stderr), [45776, 7]);
    }

    #[test]
    fn the_guide_wraps_at_words() {
        let lines = wrap(TRACE_GUIDE, 88);
        assert!(lines.iter().all(|l| l.len() <= 88));
        assert_eq!(lines.join(" "), TRACE_GUIDE);
    }
}
