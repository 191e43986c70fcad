//! Benchmarks Game binary-trees on gort's heap: the output for N = 10 is the
//! reference output byte for byte (`data/bintrees_out10.txt`, a copy of
//! `captures/bintrees_out10.txt`), and for other depths it follows the
//! closed formulas of `gc.md` §5.1. The program is the sample's own
//! (`gort_samples::binarytrees`).

use gort_samples::binarytrees::output as binarytrees;

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
