// GcCell exposes no pointer to its contents either.
extern crate gort_gc as gort;
use gort_gc::{Gc, GcCell};

#[derive(gort::Trace)]
struct Node {
    next: GcCell<Option<Gc<Node>>>,
}

fn main() {
    let a = Gc::new(Node { next: GcCell::new(None) });
    let _p = a.next.as_ptr();
}
