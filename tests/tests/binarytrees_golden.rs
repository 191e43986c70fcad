//! Benchmarks Game binary-trees on gort's heap: the output for N = 10 is the
//! reference output byte for byte (`data/bintrees_out10.txt`, a copy of
//! `captures/bintrees_out10.txt`), and for other depths it follows the
//! closed formulas of `gc.md` §5.1.

use gort::{Gc, Trace};
use std::fmt::Write;

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
    let l = bottom_up(depth - 1);
    let r = bottom_up(depth - 1);
    Gc::new(Node {
        left: Some(l),
        right: Some(r),
    })
}

fn check(n: &Node) -> i64 {
    match (n.left, n.right) {
        (Some(l), Some(r)) => 1 + check(&l) + check(&r),
        _ => 1,
    }
}

/// The program of `samples/src/bin/binarytrees.rs`, writing to a string.
fn binarytrees(n: i32) -> String {
    let mut out = String::new();
    let min_depth = 4;
    let max_depth = n.max(min_depth + 2);
    let stretch = max_depth + 1;
    writeln!(
        out,
        "stretch tree of depth {stretch}\t check: {}",
        check(&bottom_up(stretch))
    )
    .unwrap();
    let long = bottom_up(max_depth);
    let mut d = min_depth;
    while d <= max_depth {
        let iters: i64 = 1 << (max_depth - d + min_depth);
        let mut total = 0;
        for _ in 0..iters {
            total += check(&bottom_up(d));
        }
        writeln!(out, "{iters}\t trees of depth {d}\t check: {total}").unwrap();
        d += 2;
    }
    writeln!(
        out,
        "long lived tree of depth {max_depth}\t check: {}",
        check(&long)
    )
    .unwrap();
    out
}

/// The expected output at depth `n >= 6` from `gc.md` §5.1's formulas.
fn expected(n: i32) -> String {
    let mut out = format!(
        "stretch tree of depth {}\t check: {}\n",
        n + 1,
        (1i64 << (n + 2)) - 1
    );
    let mut d = 4;
    while d <= n {
        let count = 1i64 << (n - d + 4);
        let c = count * ((1i64 << (d + 1)) - 1);
        out += &format!("{count}\t trees of depth {d}\t check: {c}\n");
        d += 2;
    }
    out + &format!(
        "long lived tree of depth {n}\t check: {}\n",
        (1i64 << (n + 1)) - 1
    )
}

#[test]
fn depth_10_is_the_reference_output() {
    let got = gort::run(|| binarytrees(10));
    assert_eq!(got, include_str!("../data/bintrees_out10.txt"));
}

#[test]
fn other_depths_follow_the_formulas() {
    gort::run(|| {
        for n in [6, 7, 11, 12] {
            assert_eq!(binarytrees(n), expected(n), "depth {n}");
        }
        // Depths below 6 are raised to 6, as in the Go program.
        assert_eq!(binarytrees(2), expected(6));
    });
}
