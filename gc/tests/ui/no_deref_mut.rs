// A Gc gives `&T` only: assigning a field of a managed object is rejected,
// so a pointer can enter a managed object only through GcCell::set.
extern crate gort_gc as gort;
use gort_gc::Gc;

#[derive(gort::Trace)]
struct Node {
    next: Option<Gc<Node>>,
}

fn main() {
    let a = Gc::new(Node { next: None });
    let b = Gc::new(Node { next: None });
    a.next = Some(b);
}
