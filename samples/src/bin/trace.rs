//! `trace` — the walk-through's `runtime/trace` program on gort.
//!
//! bigbytes under the execution tracer, then a goroutine that allocates
//! 500 MB while main waits for it; the trace goes to stdout in Go's v1
//! format, as the Go twin's does (`samples/go/trace/main.go`):
//!
//! ```text
//! cargo run --release --bin trace > trace.out
//! go tool trace trace.out
//! ```
//!
//! The trace shows the main goroutine (`runtime.main`), the goroutine and
//! main's wait for it (a sync block), the Heap counter's saw-tooth and the
//! 500 MB peak, GC cycles with their stops of the world, mark assists and
//! sweeps on the allocating goroutine, and its time without a P as
//! system calls. Not shown: the dedicated mark workers, which hold no P
//! (see `gort::trace`); these big slices hold no pointers, so an idle P
//! finds nothing to mark and "GC (idle)" rarely appears here.

use gort::sync::WaitGroup;
use gort::{go, make_slice, GcSlice};
use gort_samples::log_println;

fn big_bytes() -> GcSlice<u8> {
    make_slice::<u8>(100_000_000)
}

fn main() {
    gort::run(|| {
        if let Err(e) = gort::trace::start(std::io::BufWriter::new(std::io::stdout())) {
            log_println!("trace start: {e}");
            std::process::exit(1);
        }
        for _ in 0..10 {
            let s = big_bytes();
            if std::hint::black_box(s).len() != 100_000_000 {
                log_println!("oh noes");
            }
        }
        let wg = WaitGroup::new();
        wg.add(1);
        let result = gort::chan::<GcSlice<u8>>(1);
        {
            let (wg, result) = (wg.clone(), result.clone());
            go(move || {
                result.send(make_slice::<u8>(500_000_000));
                log_println!("done here");
                wg.done();
            });
        }
        wg.wait();
        let result = result.recv().expect("the slice");
        log_println!("{}", std::any::type_name_of_val(&result));
        if let Err(e) = gort::trace::stop() {
            log_println!("trace stop: {e}");
            std::process::exit(1);
        }
    })
}
