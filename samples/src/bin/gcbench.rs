//! `gcbench` — Boehm's GCBench (Ellis, Kovac, Boehm) on gort's heap.
//!
//! A port of the Go transliteration in `samples/go/gcbench/main.go`: stretch
//! the heap with a tree of depth 18, keep a long-lived tree of depth 16 and
//! an array of 500,000 doubles, then for depths 4, 6, …, 16 build
//! `2·TreeSize(18)/TreeSize(d)` trees top-down (`populate`, which mutates
//! nodes after allocation and so exercises the write barrier) and bottom-up
//! (`make_tree`). Prints the timing of each phase, the number of
//! collections and `HeapSys`. Only the timing lines and the last two numbers
//! vary between runs (`captures/gcbench_output.txt`).
//!
//! Go keeps the last tree in a global `sink` to defeat escape analysis; here
//! the main goroutine's local `sink` (a stack root) plays that part.

use gort::runtime::read_mem_stats;
use gort::{make_slice, Gc, GcCell, Trace};
use std::time::Instant;

const STRETCH_TREE_DEPTH: i32 = 18;
const LONG_LIVED_TREE_DEPTH: i32 = 16;
const ARRAY_SIZE: usize = 500_000;
const MIN_TREE_DEPTH: i32 = 4;
const MAX_TREE_DEPTH: i32 = 16;

/// Two mutable child pointers and two ints: 24 bytes, as in C and Go.
#[derive(Trace)]
struct Node {
    left: GcCell<Option<Gc<Node>>>,
    right: GcCell<Option<Gc<Node>>>,
    i: i32,
    j: i32,
}

impl Node {
    fn leaf() -> Gc<Node> {
        Gc::new(Node {
            left: GcCell::new(None),
            right: GcCell::new(None),
            i: 0,
            j: 0,
        })
    }
}

fn tree_size(i: i32) -> i64 {
    (1 << (i + 1)) - 1
}

fn num_iters(i: i32) -> i64 {
    2 * tree_size(STRETCH_TREE_DEPTH) / tree_size(i)
}

/// Build a tree top-down: allocate the children, store them (barriered
/// stores into an existing object), recurse.
fn populate(d: i32, n: Gc<Node>) {
    if d <= 0 {
        return;
    }
    let d = d - 1;
    n.left.set(Some(Node::leaf()));
    n.right.set(Some(Node::leaf()));
    populate(d, n.left.get().expect("just set"));
    populate(d, n.right.get().expect("just set"));
}

/// Build a tree bottom-up: children first, then the parent that holds them.
fn make_tree(d: i32) -> Gc<Node> {
    if d <= 0 {
        return Node::leaf();
    }
    let left = make_tree(d - 1);
    let right = make_tree(d - 1);
    Gc::new(Node {
        left: GcCell::new(Some(left)),
        right: GcCell::new(Some(right)),
        i: 0,
        j: 0,
    })
}

fn time_construction(depth: i32, sink: &mut Option<Gc<Node>>) {
    let n = num_iters(depth);
    println!("Creating {n} trees of depth {depth}");
    let t = Instant::now();
    for _ in 0..n {
        let tmp = Node::leaf();
        populate(depth, tmp);
        *sink = std::hint::black_box(Some(tmp));
    }
    println!(
        "\tTop down construction took {} msec",
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    for _ in 0..n {
        *sink = std::hint::black_box(Some(make_tree(depth)));
    }
    println!(
        "\tBottom up construction took {} msec",
        t.elapsed().as_millis()
    );
}

fn main() {
    gort::run(|| {
        println!("Garbage Collector Test");
        println!(
            " Live storage will peak at {} bytes.\n",
            2 * std::mem::size_of::<Node>() as i64 * tree_size(LONG_LIVED_TREE_DEPTH)
                + 8 * ARRAY_SIZE as i64
        );
        println!(" Stretching memory with a binary tree of depth {STRETCH_TREE_DEPTH}");
        let start = Instant::now();
        let mut sink = Some(make_tree(STRETCH_TREE_DEPTH));
        sink = std::hint::black_box(sink).and(None);
        println!(" Creating a long-lived binary tree of depth {LONG_LIVED_TREE_DEPTH}");
        let long = Node::leaf();
        populate(LONG_LIVED_TREE_DEPTH, long);
        println!(" Creating a long-lived array of {ARRAY_SIZE} doubles");
        let arr = make_slice::<f64>(ARRAY_SIZE);
        for i in 0..ARRAY_SIZE / 2 {
            arr.set(i, 1.0 / i as f64);
        }
        let mut d = MIN_TREE_DEPTH;
        while d <= MAX_TREE_DEPTH {
            time_construction(d, &mut sink);
            d += 2;
        }
        if long.i != 0 || arr.get(1000) != 1.0 / 1000.0 {
            println!("Failed");
        }
        let ms = read_mem_stats();
        println!("Completed in {} msec", start.elapsed().as_millis());
        println!("Completed {} collections", ms.num_gc);
        println!("Heap size is {}", ms.heap_sys);
        std::hint::black_box((sink, long, arr));
    })
}
