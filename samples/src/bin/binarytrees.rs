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

use gort::{Gc, Trace};

/// A tree node: both children or neither.
#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn bottom_up(depth: i32) -> Gc<Node> {
    if depth <= 0 {
        return Gc::new(Node {
            left: None,
            right: None,
        });
    }
    let left = bottom_up(depth - 1);
    let right = bottom_up(depth - 1);
    Gc::new(Node {
        left: Some(left),
        right: Some(right),
    })
}

fn check(n: &Node) -> i64 {
    match (n.left, n.right) {
        (Some(l), Some(r)) => 1 + check(&l) + check(&r),
        _ => 1,
    }
}

fn main() {
    let n: i32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap_or(0))
        .unwrap_or(10);
    gort::run(move || {
        let min_depth = 4;
        let max_depth = if min_depth + 2 > n { min_depth + 2 } else { n };
        let stretch = max_depth + 1;
        println!(
            "stretch tree of depth {stretch}\t check: {}",
            check(&bottom_up(stretch))
        );
        let long = bottom_up(max_depth);
        let mut d = min_depth;
        while d <= max_depth {
            let iters: i64 = 1 << (max_depth - d + min_depth);
            let mut total = 0i64;
            for _ in 0..iters {
                total += check(&bottom_up(d));
            }
            println!("{iters}\t trees of depth {d}\t check: {total}");
            d += 2;
        }
        println!(
            "long lived tree of depth {max_depth}\t check: {}",
            check(&long)
        );
    })
}
