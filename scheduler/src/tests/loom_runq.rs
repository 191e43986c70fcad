//! loom: the local run queue — owner pushes (overflowing into the global
//! batch), pops, and a thief steals half (and `runnext`); nothing is lost or
//! duplicated.

use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::runq::{RunQueue, RUNQ_LEN};

fn g(i: usize) -> *mut u8 {
    i as *mut u8
}

#[test]
fn loom_runq_push_pop_steal_no_loss() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let q2 = q.clone();
        let thief = thread::spawn(move || {
            let mine = RunQueue::<u8>::new();
            let mut got = Vec::new();
            if let Some(x) = mine.steal_from(&q2, true) {
                got.push(x as usize);
                while let Some((x, _)) = mine.get() {
                    got.push(x as usize);
                }
            }
            got
        });
        let mut overflow = Vec::new();
        let mut got = Vec::new();
        // RUNQ_LEN + 1 pushes: the last one overflows half the ring.
        for i in 1..=RUNQ_LEN + 1 {
            q.put(g(i), false, &mut overflow);
        }
        q.put(g(100), true, &mut overflow);
        if let Some((x, _)) = q.get() {
            got.push(x as usize);
        }
        let stolen = thief.join().unwrap();
        while let Some((x, _)) = q.get() {
            got.push(x as usize);
        }
        let mut all: Vec<usize> = got.into_iter().chain(stolen).collect();
        all.extend(overflow.iter().map(|&x| x as usize));
        all.sort_unstable();
        let mut want: Vec<usize> = (1..=RUNQ_LEN + 1).collect();
        want.push(100);
        assert_eq!(all, want);
    });
}

#[test]
fn loom_runq_two_thieves() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let mut overflow = Vec::new();
        for i in 1..=3 {
            q.put(g(i), false, &mut overflow);
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mine = RunQueue::<u8>::new();
                    let mut got = Vec::new();
                    if let Some(x) = mine.steal_from(&q, false) {
                        got.push(x as usize);
                        while let Some((x, _)) = mine.get() {
                            got.push(x as usize);
                        }
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<usize> = Vec::new();
        if let Some((x, _)) = q.get() {
            all.push(x as usize);
        }
        for t in thieves {
            all.extend(t.join().unwrap());
        }
        while let Some((x, _)) = q.get() {
            all.push(x as usize);
        }
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 3]);
        assert!(overflow.is_empty());
    });
}
