//! The typed API on the global heap (no collector installed: nothing is
//! ever freed here, which is what lets these tests inspect objects freely).

extern crate gort_gc as gort;

use gort_gc::heap;
use gort_gc::{make_slice, root, Gc, GcCell, GcSlice, ObjectKind, Root, Trace};

#[derive(Trace)]
struct Node {
    value: i64,
    left: Option<Gc<Node>>,
    right: GcCell<Option<Gc<Node>>>,
}

#[derive(Trace)]
struct Plain {
    a: u64,
    b: (u8, f64),
    c: [u32; 4],
}

#[derive(Trace)]
struct Wrapper<T: Trace + Copy>(GcCell<T>, u32);

#[derive(Trace)]
enum Shape {
    Empty,
    Leaf(Gc<Plain>),
    Pair { a: Gc<Plain>, b: Option<Gc<Plain>> },
}

fn edges(addr: usize) -> Vec<usize> {
    let h = heap::global();
    let obj = h.find_object(addr).expect("not a heap object");
    let mut out = Vec::new();
    h.trace_object(&obj, &mut |b: usize| out.push(b));
    out
}

#[test]
fn derive_computes_needs_trace() {
    let needs = [
        <Node as Trace>::NEEDS_TRACE,
        <Plain as Trace>::NEEDS_TRACE,
        <Wrapper<u64> as Trace>::NEEDS_TRACE,
        <Wrapper<Option<Gc<Plain>>> as Trace>::NEEDS_TRACE,
        <Shape as Trace>::NEEDS_TRACE,
    ];
    assert_eq!(needs, [true, false, false, true, true]);
}

#[test]
fn objects_get_the_kind_their_type_needs() {
    let p = Gc::new(Plain {
        a: 7,
        b: (1, 2.5),
        c: [1, 2, 3, 4],
    });
    let h = heap::global();
    let o = h.find_object(p.as_ptr() as usize + 3).unwrap();
    assert_eq!((o.kind, o.base), (ObjectKind::Noscan, p.base()));
    assert_eq!(
        p.base(),
        p.as_ptr() as usize,
        "noscan objects have no header"
    );
    assert_eq!(p.c[2], 3);

    let n = Gc::new(Node {
        value: 1,
        left: None,
        right: GcCell::new(None),
    });
    let o = h.find_object(n.as_ptr() as usize).unwrap();
    assert_eq!((o.kind, o.base), (ObjectKind::Precise, n.base()));
    assert_eq!(
        n.as_ptr() as usize,
        n.base(),
        "a small precise object keeps its type in its span, not a header"
    );
    assert_eq!(o.value(), n.base());
    assert!((o.type_info().unwrap().name)().ends_with("Node"));
}

#[test]
fn tracing_reports_exactly_the_fields_pointers() {
    let a = Gc::new(Node {
        value: 1,
        left: None,
        right: GcCell::new(None),
    });
    let b = Gc::new(Node {
        value: 2,
        left: None,
        right: GcCell::new(None),
    });
    let root = Gc::new(Node {
        value: 3,
        left: Some(a),
        right: GcCell::new(None),
    });
    assert_eq!(edges(root.base()), vec![a.base()]);
    root.right.set(Some(b));
    assert_eq!(root.right.get().unwrap().value, 2);
    assert_eq!(edges(root.base() + 20), vec![a.base(), b.base()]);
    root.right.set(None);
    assert_eq!(edges(root.base()), vec![a.base()]);

    let x = Gc::new(Plain {
        a: 1,
        b: (0, 0.0),
        c: [0; 4],
    });
    let y = Gc::new(Plain {
        a: 2,
        b: (0, 0.0),
        c: [0; 4],
    });
    let s = Gc::new(Shape::Pair { a: x, b: Some(y) });
    assert_eq!(edges(s.base()), vec![x.base(), y.base()]);
    let l = Gc::new(Shape::Leaf(y));
    assert_eq!(edges(l.base()), vec![y.base()]);
    let e = Gc::new(Shape::Empty);
    assert!(edges(e.base()).is_empty());
}

#[test]
fn slices_are_zeroed_bounds_checked_and_traced() {
    let bytes: GcSlice<u8> = make_slice(100);
    assert_eq!(bytes.len(), 100);
    assert!(bytes.to_vec().iter().all(|&b| b == 0));
    bytes.set(99, 7);
    assert_eq!(bytes.get(99), 7);
    let h = heap::global();
    // The padding byte keeps the end pointer inside the object.
    let end = bytes.as_ptr() as usize + bytes.len();
    assert_eq!(h.find_object(end).unwrap().base, bytes.base().unwrap());
    assert_eq!(h.find_object(end).unwrap().kind, ObjectKind::Noscan);

    let nodes: GcSlice<Option<Gc<Node>>> = make_slice(5);
    assert!(nodes.to_vec().iter().all(Option::is_none));
    let n = Gc::new(Node {
        value: 9,
        left: None,
        right: GcCell::new(None),
    });
    nodes.set(3, Some(n));
    assert_eq!(nodes.get(3).unwrap().value, 9);
    let base = nodes.base().unwrap();
    assert_eq!(h.find_object(base).unwrap().kind, ObjectKind::Precise);
    assert_eq!(edges(base), vec![n.base()]);
    let end = nodes.as_ptr() as usize + 5 * 8;
    assert_eq!(h.find_object(end).unwrap().base, base);

    let empty: GcSlice<i64> = make_slice(0);
    assert!(empty.is_empty() && empty.base().is_none());
}

#[test]
#[should_panic(expected = "index out of range [5] with length 3")]
fn slice_index_out_of_range_panics_like_go() {
    let s: GcSlice<i32> = make_slice(3);
    s.get(5);
}

#[test]
fn roots_are_registered_until_dropped() {
    let g = Gc::new(Plain {
        a: 5,
        b: (0, 0.0),
        c: [0; 4],
    });
    let mut found = 0;
    let r = Root::new(g);
    let r2 = r.clone();
    root::for_each_root(&mut |b| {
        if b == g.base() {
            found += 1
        }
    });
    assert_eq!(found, 2);
    assert_eq!(r2.a, 5);
    assert_eq!(r.get().base(), g.base());
    drop(r);
    drop(r2);
    let mut found = 0;
    root::for_each_root(&mut |b| {
        if b == g.base() {
            found += 1
        }
    });
    assert_eq!(found, 0);
}

#[test]
fn gc_is_send_and_sync_across_threads() {
    let n = Gc::new(Node {
        value: 4,
        left: None,
        right: GcCell::new(None),
    });
    let m = Gc::new(Node {
        value: 5,
        left: None,
        right: GcCell::new(None),
    });
    std::thread::spawn(move || n.right.set(Some(m)))
        .join()
        .unwrap();
    assert_eq!(n.right.get().unwrap().value, 5);
}
