// A field that owns malloc'd memory (String, Vec, Box) is not Trace: it
// would need Drop, and a Gc inside it would be invisible to the collector.
extern crate gort_gc as gort;
use gort_gc::Gc;

#[derive(gort::Trace)]
struct Holder {
    names: Vec<Gc<i64>>,
}

fn main() {}
