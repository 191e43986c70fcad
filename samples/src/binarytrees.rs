//! The Benchmarks Game binary-trees program, shared by the `binarytrees`
//! sample (which writes to stdout) and the golden-output test in
//! `tests/tests/binarytrees_golden.rs` (which writes to a string), so the
//! test checks the very code the sample runs.

use std::fmt;

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

/// Runs binary-trees at depth `n` (raised to 6 when smaller, as the Go
/// program does), writing each line to `out` as soon as it is known. Must
/// run on a goroutine (inside `gort::run`): every node is a `Gc<Node>`.
pub fn run(n: i32, out: &mut dyn FnMut(fmt::Arguments<'_>)) {
    let min_depth = 4;
    let max_depth = n.max(min_depth + 2);
    let stretch = max_depth + 1;
    out(format_args!(
        "stretch tree of depth {stretch}\t check: {}\n",
        check(&bottom_up(stretch))
    ));
    let long = bottom_up(max_depth);
    let mut d = min_depth;
    while d <= max_depth {
        let iters: i64 = 1 << (max_depth - d + min_depth);
        let mut total = 0i64;
        for _ in 0..iters {
            total += check(&bottom_up(d));
        }
        out(format_args!(
            "{iters}\t trees of depth {d}\t check: {total}\n"
        ));
        d += 2;
    }
    out(format_args!(
        "long lived tree of depth {max_depth}\t check: {}\n",
        check(&long)
    ));
}

/// [`run`] collecting the output into a string.
pub fn output(n: i32) -> String {
    let mut s = String::new();
    run(n, &mut |args| {
        use fmt::Write as _;
        s.write_fmt(args).expect("writing to a String cannot fail");
    });
    s
}
