// GcSlice has no IndexMut (nor Index): elements are stored with the
// barriered `set`.
use gort_gc::{make_slice, Gc, GcSlice};

fn main() {
    let s: GcSlice<Option<Gc<i64>>> = make_slice(4);
    s[0] = Some(Gc::new(1));
}
