// Managed objects are freed without destructors, so a managed type must
// not implement Drop.
extern crate gort_gc as gort;

#[derive(gort::Trace)]
struct Handle {
    fd: i32,
}

impl Drop for Handle {
    fn drop(&mut self) {}
}

fn main() {}
