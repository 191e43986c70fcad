//! `memstats` — `bigbytes` with `runtime.ReadMemStats` before and after.
//!
//! Prints `memory baseline...`, then `Alloc`, `TotalAlloc`, `HeapAlloc` and
//! `HeapSys` one per line as Go's `log.Println` does (`YYYY/MM/DD HH:MM:SS
//! value`, on stderr), runs the ten 100,000,000-byte allocations, then
//! prints `memory comparison...` and the four values again. Expect
//! `TotalAlloc` to grow by at least 1,000,000,000 and `Alloc` to stay near
//! one slice: the collector freed the others. Go twin:
//! `samples/go/memstats/main.go`.

use gort::runtime::read_mem_stats;
use gort::{make_slice, GcSlice};
use gort_samples::log_println;

fn big_bytes() -> GcSlice<u8> {
    make_slice::<u8>(100_000_000)
}

fn main() {
    gort::run(|| {
        println!("memory baseline...");
        let mem = read_mem_stats();
        log_println!("{}", mem.alloc);
        log_println!("{}", mem.total_alloc);
        log_println!("{}", mem.heap_alloc);
        log_println!("{}", mem.heap_sys);
        for _ in 0..10 {
            let s = big_bytes();
            if std::hint::black_box(s).len() != 100_000_000 {
                log_println!("oh noes");
            }
        }
        println!("memory comparison...");
        let mem = read_mem_stats();
        log_println!("{}", mem.alloc);
        log_println!("{}", mem.total_alloc);
        log_println!("{}", mem.heap_alloc);
        log_println!("{}", mem.heap_sys);
    })
}
