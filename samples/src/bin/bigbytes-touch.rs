//! `bigbytes-touch` — `bigbytes`, but every slice is really used.
//!
//! Like [`bigbytes`](../bigbytes.rs), ten 100,000,000-byte slices, but each
//! gets one byte written per 4 KiB page, so the kernel must back all of it
//! with memory: this measures the allocator plus the page faults and the
//! memory the collector gives back, rather than only address-space games.
//! Prints a checksum of one byte per slice; the Go twin
//! (`samples/go/bigbytes-touch/main.go`) prints the same line.

use gort::{make_slice, GcSlice};

const LEN: usize = 100_000_000;
const PAGE: usize = 4096;

fn big_bytes() -> GcSlice<u8> {
    let s = make_slice::<u8>(LEN);
    let mut i = 0;
    while i < LEN {
        s.set(i, (i >> 12) as u8);
        i += PAGE;
    }
    s
}

fn main() {
    gort::run(|| {
        let mut sum: u64 = 0;
        for _ in 0..10 {
            let s = big_bytes();
            let last_page = (LEN - 1) - (LEN - 1) % PAGE;
            sum += u64::from(s.get(last_page));
        }
        println!("checksum {sum}");
    })
}
