//! `marktree` — the collector's mark cost per live byte on a tree heap.
//!
//! `marktree [LIVE_MIB]` (default 128): build a complete binary tree of
//! two-pointer nodes (`Gc<Node>`, 16 bytes each, as Go's `struct{ left,
//! right *Node }`) of about LIVE_MIB MiB, force three collections with
//! `gc()`, printing each one's wall time and the process's CPU time
//! (`getrusage`: user + system) across it, then the node count. With
//! `GODEBUG=gctrace=1` the forced cycles' gctrace lines also give the
//! collector's own mark CPU figures (assist + background + idle).
//! `samples/marktree.sh` runs this and the Go twin (`samples/go/marktree`)
//! side by side and prints both per live MB. The rusage figure is the one
//! to compare on a busy machine: Go charges its mark workers by wall time
//! while they run, gort by thread CPU time.

use gort::runtime::gc;
use gort::{Gc, Trace};

#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn build(depth: u32) -> Gc<Node> {
    if depth == 0 {
        return Gc::new(Node {
            left: None,
            right: None,
        });
    }
    let left = build(depth - 1);
    let right = build(depth - 1);
    Gc::new(Node {
        left: Some(left),
        right: Some(right),
    })
}

fn count(n: &Node) -> u64 {
    match (n.left, n.right) {
        (Some(l), Some(r)) => 1 + count(&l) + count(&r),
        _ => 1,
    }
}

fn main() {
    // A malformed size counts as 0, as Go's `n, _ = strconv.Atoi(...)`.
    let mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap_or(0))
        .unwrap_or(128);
    gort::run(move || {
        // A tree of depth d has 2^(d+1) − 1 nodes of 16 bytes.
        let mut depth = 0u32;
        while (1u64 << (depth + 2)) * 16 <= mib << 20 {
            depth += 1;
        }
        let t = build(depth);
        for i in 1..=3 {
            let (c0, w0) = (cpu_ns(), std::time::Instant::now());
            gc();
            let (w, c) = (w0.elapsed().as_nanos() as f64, (cpu_ns() - c0) as f64);
            println!(
                "forced gc {i}: wall {:.1} ms, cpu {:.1} ms",
                w / 1e6,
                c / 1e6
            );
        }
        println!("tree of depth {depth}: {} nodes", count(&t));
    })
}

/// The process's user + system CPU time so far, in nanoseconds.
fn cpu_ns() -> u64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
}
