//! `binarytrees` — the Benchmarks Game binary-trees program on gort's heap.
//!
//! `binarytrees [DEPTH]` (default 10): build a stretch tree of depth N+1 and
//! count its nodes, keep a long-lived tree of depth N, then for d = 4, 6, …,
//! N build 2^(N−d+4) trees of depth d and sum their node counts. Every node
//! is a managed object (`Gc<Node>`); nothing is pooled or freed by hand, as
//! the benchmark's rules require ("use default GC").
//!
//! The output is byte-for-byte the Go twin's (`samples/go/binarytrees`) for
//! any depth; for N = 10 it is the Benchmarks Game reference output
//! (`tests` checks it against `captures/bintrees_out10.txt`). A malformed
//! depth counts as 0, as Go's `n, _ = strconv.Atoi(...)` does, and depths
//! below 6 are raised to 6.
//!
//! ```text
//! cargo run --release --bin binarytrees 21
//! GODEBUG=gctrace=1 cargo run --release --bin binarytrees 18
//! ```

fn main() {
    let n: i32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap_or(0))
        .unwrap_or(10);
    gort::run(move || {
        use std::io::Write as _;
        let stdout = std::io::stdout();
        gort_samples::binarytrees::run(n, &mut |args| {
            stdout
                .lock()
                .write_fmt(args)
                .expect("binarytrees: write to stdout");
        });
    })
}
