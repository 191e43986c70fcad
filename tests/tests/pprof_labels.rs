//! Profiler labels (`gort::pprof::do_with_labels`, `set_goroutine_labels`)
//! in every profile that has samples of goroutines: CPU, goroutine (proto,
//! `debug=1`, and the `debug=2` headers as Go 1.27 prints them), heap and
//! allocs. `go tool pprof -tagfocus` selects samples by them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gort::crates::profiler::pprof::{decode, proto::Sample, Profile};
use gort::sync::WaitGroup;
use gort_tests::go_tools::{go_tool, have_go, TestDir};

/// Names of the functions of a sample's stack, leaf first.
fn stack_names(p: &Profile, s: &Sample) -> Vec<String> {
    s.location_id
        .iter()
        .flat_map(|id| {
            let l = p.location.iter().find(|l| l.id == *id).unwrap();
            l.line.iter().map(|line| {
                let f = p
                    .function
                    .iter()
                    .find(|f| f.id == line.function_id)
                    .unwrap();
                p.string_table[f.name as usize].clone()
            })
        })
        .collect()
}

/// A sample's string labels.
fn str_labels(p: &Profile, s: &Sample) -> Vec<(String, String)> {
    s.label
        .iter()
        .filter(|l| l.str != 0)
        .map(|l| {
            (
                p.string_table[l.key as usize].clone(),
                p.string_table[l.str as usize].clone(),
            )
        })
        .collect()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A `Write` the test reads back after `stop_cpu_profile`.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

macro_rules! spin {
    ($iters:expr) => {{
        let (mut x, mut i) = (0x9e37_79b9_7f4a_7c15u64, 0u64);
        while i < $iters {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i += 1;
        }
        x
    }};
}

#[inline(never)]
fn burn_as_red(iters: u64) -> u64 {
    spin!(iters)
}

#[inline(never)]
fn burn_as_blue(iters: u64) -> u64 {
    spin!(iters)
}

#[inline(never)]
fn burn_unlabelled(iters: u64) -> u64 {
    spin!(iters)
}

#[test]
fn labels_are_inherited_set_and_restored() {
    let got = gort::run(|| {
        assert!(gort::pprof::goroutine_labels().is_empty());
        let ch = gort::chan::<(Option<String>, Option<String>)>(4);
        gort::pprof::do_with_labels(&[("outer", "1"), ("k", "a")], || {
            gort::pprof::do_with_labels(&[("k", "b")], || {
                let tx = ch.clone();
                gort::go(move || {
                    // The child keeps the labels after its parent's `do`
                    // returned.
                    gort::sleep(std::time::Duration::from_millis(20));
                    tx.send((gort::pprof::label("outer"), gort::pprof::label("k")));
                });
            });
            assert_eq!(gort::pprof::label("k").as_deref(), Some("a"));
        });
        assert!(gort::pprof::goroutine_labels().is_empty());
        let child = ch.recv().unwrap();
        // A panic inside restores the labels too.
        let r = std::panic::catch_unwind(|| {
            gort::pprof::do_with_labels(&[("p", "q")], || panic!("inside"))
        });
        assert!(r.is_err());
        let after_panic = gort::pprof::goroutine_labels();
        gort::pprof::set_goroutine_labels(&gort::pprof::labels(&[("set", "x")]));
        let tx = ch.clone();
        gort::go(move || tx.send((gort::pprof::label("set"), None)));
        let set_child = ch.recv().unwrap();
        gort::pprof::set_goroutine_labels(&gort::pprof::LabelSet::default());
        (child, after_panic, set_child)
    });
    assert_eq!(got.0, (Some("1".into()), Some("b".into())));
    assert!(got.1.is_empty());
    assert_eq!(got.2 .0.as_deref(), Some("x"));
}

#[test]
fn cpu_samples_carry_the_labels_of_the_goroutine_they_interrupted() {
    let out = Shared::default();
    let iters = 150_000_000u64;
    let w = out.clone();
    gort::run(move || {
        gort::pprof::start_cpu_profile(w).unwrap();
        let wg = WaitGroup::new();
        for (color, f) in [
            ("red", burn_as_red as fn(u64) -> u64),
            ("blue", burn_as_blue),
        ] {
            wg.add(1);
            let wg = wg.clone();
            // Started inside `do`: the goroutine inherits the label.
            gort::pprof::do_with_labels(&[("color", color)], || {
                gort::go(move || {
                    std::hint::black_box(f(std::hint::black_box(iters)));
                    wg.done();
                })
            });
        }
        std::hint::black_box(burn_unlabelled(std::hint::black_box(iters / 2)));
        wg.wait();
        gort::pprof::stop_cpu_profile();
    });
    let bytes = out.0.lock().unwrap().clone();
    let p = decode(&bytes).unwrap();
    // Every sample whose stack goes through a burner carries exactly that
    // burner's label; the unlabelled one's carry none.
    let mut seen = [0i64; 3];
    for s in &p.sample {
        let names = stack_names(&p, s);
        let labels = str_labels(&p, s);
        let has = |f: &str| names.iter().any(|n| n.ends_with(f));
        if has("burn_as_red") {
            assert_eq!(labels, [kv("color", "red")], "{names:?}");
            seen[0] += s.value[0];
        } else if has("burn_as_blue") {
            assert_eq!(labels, [kv("color", "blue")], "{names:?}");
            seen[1] += s.value[0];
        } else if has("burn_unlabelled") {
            assert!(labels.is_empty(), "{names:?}: {labels:?}");
            seen[2] += s.value[0];
        }
    }
    assert!(seen.iter().all(|&n| n >= 5), "samples per burner: {seen:?}");

    if !have_go("cpu_samples_carry_the_labels") {
        return;
    }
    let dir = TestDir::new("labels-cpu");
    std::fs::write(dir.join("cpu.pprof"), &bytes).unwrap();
    let (top, _) = go_tool(&dir, &["pprof", "-top", "-tagfocus=color=red", "cpu.pprof"]);
    assert!(top.contains("burn_as_red"), "{top}");
    assert!(!top.contains("burn_as_blue"), "{top}");
    assert!(!top.contains("burn_unlabelled"), "{top}");
    let (tags, _) = go_tool(&dir, &["pprof", "-tags", "cpu.pprof"]);
    assert!(tags.contains("color: Total"), "{tags}");
    assert!(tags.contains("red") && tags.contains("blue"), "{tags}");
}

/// Where the labelled goroutines wait.
#[inline(never)]
fn wait_labelled(ch: gort::Chan<u32>) -> u32 {
    ch.recv().unwrap_or(0)
}

#[test]
fn goroutine_profile_groups_by_labels_and_prints_them() {
    let (proto, text1, text2) = gort::run(|| {
        let ch = gort::chan::<u32>(0);
        let wg = WaitGroup::new();
        for worker in ["w7", "w7", "w8"] {
            wg.add(1);
            let (ch, wg) = (ch.clone(), wg.clone());
            gort::pprof::do_with_labels(&[("worker", worker), ("role", "w k")], || {
                gort::go(move || {
                    wait_labelled(ch);
                    wg.done();
                })
            });
        }
        // Let them park.
        while gort::runtime::num_goroutine() < 4 {
            gort::gosched();
        }
        gort::sleep(std::time::Duration::from_millis(50));
        let p = gort::pprof::lookup("goroutine").unwrap();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        p.write_to(&mut a, 0).unwrap();
        p.write_to(&mut b, 1).unwrap();
        p.write_to(&mut c, 2).unwrap();
        ch.close();
        wg.wait();
        (
            a,
            String::from_utf8(b).unwrap(),
            String::from_utf8(c).unwrap(),
        )
    });
    let p = decode(&proto).unwrap();
    let mut by_worker = std::collections::BTreeMap::new();
    for s in &p.sample {
        if stack_names(&p, s)
            .iter()
            .any(|n| n.ends_with("wait_labelled"))
        {
            let l = str_labels(&p, s);
            assert_eq!(l.len(), 2, "{l:?}");
            assert_eq!(l[0], kv("role", "w k"));
            *by_worker.entry(l[1].1.clone()).or_insert(0) += s.value[0];
        }
    }
    assert_eq!(by_worker.get("w7"), Some(&2), "{by_worker:?}");
    assert_eq!(by_worker.get("w8"), Some(&1), "{by_worker:?}");
    // debug=1: Go's `# labels:` line under each record's header.
    assert!(
        text1.contains("\n# labels: {\"role\":\"w k\", \"worker\":\"w7\"}\n"),
        "{text1}"
    );
    assert!(text1.contains("\n2 @ "), "{text1}");
    // debug=2: Go 1.27's header `goroutine N [chan receive] {k: v}:`,
    // quoting only what needs it.
    let headers: Vec<&str> = text2
        .lines()
        .filter(|l| l.starts_with("goroutine ") && l.contains('{'))
        .collect();
    assert_eq!(headers.len(), 3, "{text2}");
    for h in &headers {
        assert!(
            h.ends_with(" [chan receive] {role: \"w k\", worker: w7}:")
                || h.ends_with(" [chan receive] {role: \"w k\", worker: w8}:"),
            "{h}"
        );
    }
    if !have_go("goroutine_profile_groups_by_labels") {
        return;
    }
    let dir = TestDir::new("labels-goroutine");
    std::fs::write(dir.join("g.pprof"), &proto).unwrap();
    let (raw, _) = go_tool(&dir, &["pprof", "-raw", "-tagfocus=worker=w8", "g.pprof"]);
    assert!(raw.contains("wait_labelled"), "{raw}");
    let (top, _) = go_tool(&dir, &["pprof", "-top", "-tagfocus=worker=w8", "g.pprof"]);
    // One goroutine selected of four.
    assert!(top.contains("Showing nodes accounting for 1, "), "{top}");
}

/// The labelled allocation site.
#[inline(never)]
fn alloc_labelled(n: usize) -> gort::GcSlice<u64> {
    let s = gort::make_slice::<u64>(n);
    s.set(0, n as u64); // not a tail call: this frame stays on the stack
    s
}

#[test]
fn heap_samples_carry_the_allocating_goroutines_labels() {
    let (heap, allocs) = gort::run(|| {
        let old = gort::runtime::set_mem_profile_rate(1);
        let keep = gort::chan::<gort::GcSlice<u64>>(64);
        for tenant in ["alpha", "beta"] {
            let keep = keep.clone();
            gort::pprof::do_with_labels(&[("tenant", tenant)], || {
                let n = if tenant == "alpha" { 3 } else { 5 };
                for _ in 0..n {
                    keep.send(alloc_labelled(512));
                }
            });
        }
        // An unlabelled one at the same site.
        keep.send(alloc_labelled(512));
        gort::runtime::gc();
        let (mut h, mut a) = (Vec::new(), Vec::new());
        gort::pprof::lookup("heap")
            .unwrap()
            .write_to(&mut h, 0)
            .unwrap();
        gort::pprof::lookup("allocs")
            .unwrap()
            .write_to(&mut a, 0)
            .unwrap();
        gort::runtime::set_mem_profile_rate(old);
        std::hint::black_box(keep.len());
        (h, a)
    });
    for bytes in [&heap, &allocs] {
        let p = decode(bytes).unwrap();
        let mut objects = std::collections::BTreeMap::new();
        for s in &p.sample {
            if stack_names(&p, s)
                .first()
                .is_some_and(|n| n.ends_with("alloc_labelled"))
            {
                let t = str_labels(&p, s)
                    .into_iter()
                    .find(|(k, _)| k == "tenant")
                    .map_or("-".to_string(), |(_, v)| v);
                // inuse_objects (rate 1: not scaled).
                *objects.entry(t).or_insert(0) += s.value[2];
            }
        }
        assert_eq!(objects.get("alpha"), Some(&3), "{objects:?}");
        assert_eq!(objects.get("beta"), Some(&5), "{objects:?}");
        assert_eq!(objects.get("-"), Some(&1), "{objects:?}");
    }
    if !have_go("heap_samples_carry_labels") {
        return;
    }
    let dir = TestDir::new("labels-heap");
    std::fs::write(dir.join("heap.pprof"), &heap).unwrap();
    let (top, _) = go_tool(
        &dir,
        &[
            "pprof",
            "-top",
            "-sample_index=inuse_objects",
            "-tagfocus=tenant=beta",
            "-focus=alloc_labelled",
            "heap.pprof",
        ],
    );
    assert!(top.contains("alloc_labelled"), "{top}");
    let line = top
        .lines()
        .find(|l| l.ends_with("pprof_labels::alloc_labelled"))
        .unwrap();
    assert_eq!(line.split_whitespace().next(), Some("5"), "{top}");
}
