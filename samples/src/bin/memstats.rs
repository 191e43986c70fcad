//! `memstats` — `bigbytes` with `runtime.ReadMemStats` before and after.
//!
//! Prints `memory baseline...`, then `Alloc`, `TotalAlloc`, `HeapAlloc` and
//! `HeapSys` one per line as Go's `log.Println` does (`YYYY/MM/DD HH:MM:SS
//! value`, on stderr), runs the ten 100,000,000-byte allocations, then
//! prints `memory comparison...` and the four values again. Expect
//! `TotalAlloc` to grow by at least 1,000,000,000 and `Alloc` to end at one
//! or two slices, at most [`gort_samples::memstats::FINAL_ALLOC_BOUND`]
//! (200,015,872 bytes; the reason is there): the collector freed the
//! others. Go twin: `samples/go/memstats/main.go`.

fn main() {
    gort::run(|| {
        gort_samples::memstats::walkthrough();
    })
}
