//! loom: the hand-over of a P to goroutines preempted by signal
//! (`handoff.rs`). Handlers publish their goroutine's saved sp, reset their
//! M's hand-off word, push the goroutine on the `preempted` stack and wait;
//! a scheduling M takes the stack (in pieces, as pushes race with it),
//! reads each goroutine's saved sp, gives its M a P and wakes it. No push
//! is lost, the taker sees what each handler published, and the waiter
//! sees the P it was given.

use crate::handoff::{Handoff, Linked, PreemptedStack};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering::Relaxed};
use crate::loom::sync::Arc;
use crate::loom::thread;
use std::ptr::null_mut;

/// A goroutine and its M, as far as the hand-over goes.
struct Node {
    link: AtomicPtr<Node>,
    /// The G's saved sp: written by the handler before the push.
    sp: UnsafeCell<usize>,
    /// The M's P: written by the giver before `give`.
    p: UnsafeCell<usize>,
    handoff: Handoff,
}

impl Linked for Node {
    fn link(&self) -> &AtomicPtr<Node> {
        &self.link
    }
}

// SAFETY: `sp` is written before the Release push and read after the
// Acquire take; `p` is written before the Release give and read after the
// Acquire wait (loom checks both).
unsafe impl Sync for Node {}
// SAFETY: as above.
unsafe impl Send for Node {}

/// Under loom a yield instead of a futex (the word is re-read on return,
/// as after a spurious wake-up).
fn wait(_w: &AtomicU32, _seen: u32) {
    thread::yield_now();
}

fn handler(stack: &PreemptedStack<Node>, n: &'static Node, sp: usize) {
    // SAFETY: nobody reads `sp` before the push publishes it.
    n.sp.with_mut(|x| unsafe { *x = sp });
    n.handoff.reset();
    stack.push(n as *const Node as *mut Node);
    n.handoff.wait(wait);
    // SAFETY: written by the giver before its Release `give`.
    let p = n.p.with(|x| unsafe { *x });
    assert_eq!(p, sp + 1, "the waiter sees the P it was given");
}

fn node() -> &'static Node {
    // Leaked per execution: nodes are never freed, as Gs are not.
    Box::leak(Box::new(Node {
        link: AtomicPtr::new(null_mut()),
        sp: UnsafeCell::new(0),
        p: UnsafeCell::new(0),
        handoff: Handoff::new(),
    }))
}

/// The taker's side for one node: reads what the handler published.
fn saw(n: *mut Node) -> usize {
    // SAFETY: nodes are leaked; published by the push we took (Acquire).
    unsafe { &*n }.sp.with(|x| unsafe { *x })
}

/// Two handlers push while a taker empties the stack once; a last take
/// after the joins finds the rest. Every node is taken exactly once, in
/// push order within a take, with what its pusher published.
#[test]
fn loom_preempted_stack() {
    loom::model(|| {
        let stack = Arc::new(PreemptedStack::<Node>::new());
        let (a, b) = (node(), node());
        let push = |n: &'static Node, sp: usize| {
            let stack = stack.clone();
            thread::spawn(move || {
                // SAFETY: nobody reads `sp` before the push publishes it.
                n.sp.with_mut(|x| unsafe { *x = sp });
                stack.push(n as *const Node as *mut Node);
            })
        };
        let (ha, hb) = (push(a, 10), push(b, 20));
        let mut seen = Vec::new();
        let take = |seen: &mut Vec<usize>| {
            let mut n = stack.take_all();
            while !n.is_null() {
                seen.push(saw(n));
                // SAFETY: taken off the stack: ours.
                n = unsafe { &*n }.link.load(Relaxed);
            }
        };
        take(&mut seen);
        ha.join().unwrap();
        hb.join().unwrap();
        take(&mut seen);
        seen.sort_unstable();
        assert_eq!(seen, [10, 20]);
        assert!(stack.is_empty());
    });
}

/// A handler pushes its goroutine and waits; a scheduling M takes it,
/// gives its M a P and wakes it: the waiter sees the P.
#[test]
fn loom_handoff() {
    loom::model(|| {
        let stack = Arc::new(PreemptedStack::<Node>::new());
        let a = node();
        let h = {
            let stack = stack.clone();
            thread::spawn(move || handler(&stack, a, 10))
        };
        let n = loop {
            let n = stack.take_all();
            if !n.is_null() {
                break n;
            }
            thread::yield_now();
        };
        let sp = saw(n);
        assert_eq!(sp, 10, "the taker sees the saved sp");
        // SAFETY: nodes are leaked.
        let node = unsafe { &*n };
        // SAFETY: the waiter reads `p` only after `give`.
        node.p.with_mut(|x| unsafe { *x = sp + 1 });
        node.handoff.give(|_| {});
        h.join().unwrap();
    });
}
