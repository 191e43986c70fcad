//! Write one file of every format gort-profiler produces, from synthetic
//! data (several goroutines, nested stacks, a GC cycle, blocking):
//!
//! ```sh
//! cargo run --release -p gort-profiler --example synthetic -- DIR
//! go tool pprof -raw DIR/cpu.pb.gz        # any of the seven *.pb.gz
//! go tool pprof -top DIR/heap.pb.gz
//! go tool trace -d DIR/trace.out          # parse + validate the execution trace
//! go tool trace -pprof=sync DIR/trace.out > sync.pb
//! # DIR/trace.json: open in ui.perfetto.dev or chrome://tracing
//! ```

fn main() {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            eprintln!("usage: synthetic DIR");
            std::process::exit(2);
        }
    };
    match gort_profiler::synthetic::write_all(&dir) {
        Ok(paths) => {
            for p in paths {
                let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                println!("{:>8} bytes  {}", len, p.display());
            }
        }
        Err(e) => {
            eprintln!("synthetic: {e}");
            std::process::exit(1);
        }
    }
}
