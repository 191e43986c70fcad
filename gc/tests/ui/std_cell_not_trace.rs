// A barrier-free std Cell cannot hold managed pointers in a managed type:
// Cell does not implement Trace.
extern crate gort_gc as gort;
use gort_gc::Gc;
use std::cell::Cell;

#[derive(gort::Trace)]
struct Node {
    next: Cell<Option<Gc<Node>>>,
}

fn main() {}
