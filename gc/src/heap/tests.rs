//! Unit tests of the allocator on private heaps.

use super::*;

fn small_heap() -> Heap {
    Heap::new(HeapConfig {
        arena_bytes: 256 << 20,
    })
    .unwrap()
}

#[test]
fn alloc_returns_distinct_zeroed_slots() {
    let h = small_heap();
    let a = h.alloc_on(Some(0), 16, ObjectKind::Noscan);
    let b = h.alloc_on(Some(0), 16, ObjectKind::Noscan);
    assert_eq!(b as usize - a as usize, 16);
    let o = h.find_object(a as usize + 5).unwrap();
    assert_eq!(o.base, a as usize);
    assert_eq!(o.size, 16);
    let s = h.stats();
    assert_eq!(s.mallocs, 2);
    assert_eq!(s.total_alloc, 32);
    h.pages.inner.lock().check_invariants();
}
