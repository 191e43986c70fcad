// GcCell has no `get_mut`: the only way in is the barriered `set`.
extern crate gort_gc as gort;
use gort_gc::{Gc, GcCell};

#[derive(gort::Trace)]
struct Node {
    next: GcCell<Option<Gc<Node>>>,
}

fn main() {
    let a = Gc::new(Node { next: GcCell::new(None) });
    let b = Gc::new(Node { next: GcCell::new(None) });
    *a.next.get_mut() = Some(b);
}
