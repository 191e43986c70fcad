//! The heap profile through the public API: exact sampled figures with
//! `MemProfileRate = 1`, Go's publication at GC, and `go tool pprof`
//! reading what `gort::pprof::write_heap_profile` writes.
//!
//! The `go tool pprof` checks print why and return when Go is absent,
//! and fail instead under `GORT_REQUIRE_GO=1` (as CI sets it).

use gort::crates::profiler::pprof::{decode, Profile};
use gort::{make_slice, Gc, GcSlice, Trace};
use gort_tests::go_tools::{go_tool, have_go, TestDir};
use gort_tests::profiles::leaf_function;

/// Objects allocated by [`alloc_known`].
const N: usize = 1000;
/// `make_slice::<u8>(4095)` asks for 4096 bytes (one padding byte): a
/// size class of its own, so every object takes exactly this much.
const SIZE: i64 = 4096;

#[derive(Trace)]
struct Blob {
    data: GcSlice<u8>,
}

/// The function the profile must name.
#[inline(never)]
fn alloc_known() -> GcSlice<u8> {
    let s = make_slice::<u8>(4095);
    s.set(0, 1);
    s
}

/// `(alloc_objects, alloc_space, inuse_objects, inuse_space)` summed over
/// the samples whose leaf is `function`.
fn figures(p: &Profile, function: &str) -> (i64, i64, i64, i64) {
    let mut t = (0, 0, 0, 0);
    for s in &p.sample {
        if leaf_function(p, s).ends_with(function) {
            t.0 += s.value[0];
            t.1 += s.value[1];
            t.2 += s.value[2];
            t.3 += s.value[3];
        }
    }
    t
}

fn heap_profile() -> (Vec<u8>, Profile) {
    let mut b = Vec::new();
    gort::pprof::write_heap_profile(&mut b).unwrap();
    let p = decode(&b).unwrap();
    (b, p)
}

#[test]
fn heap_profile_counts_every_allocation_and_its_free() {
    let (live, dead, bytes) = gort::run(|| {
        gort::runtime::set_mem_profile_rate(1);
        let results = gort::chan::<(Vec<u8>, i64)>(1);
        let tx = results.clone();
        gort::go(move || {
            let holder = make_slice::<Option<Gc<Blob>>>(N);
            for i in 0..N {
                holder.set(
                    i,
                    Some(Gc::new(Blob {
                        data: alloc_known(),
                    })),
                );
            }
            // The profile shows the heap as of the last completed GC.
            gort::runtime::gc();
            let (b, _) = heap_profile();
            // keep `holder` (and so every blob) alive until here
            let n = (0..N).filter(|&i| holder.get(i).is_some()).count() as i64;
            tx.send((b, n));
        });
        let (live, n) = results.recv().unwrap();
        assert_eq!(n, N as i64);
        // The goroutine has ended: nothing references the blobs now.
        gort::runtime::gc();
        gort::runtime::gc();
        let (b, dead) = heap_profile();
        (decode(&live).unwrap(), dead, b)
    });
    let n = N as i64;
    assert_eq!(
        figures(&live, "alloc_known"),
        (n, n * SIZE, n, n * SIZE),
        "while the blobs live"
    );
    assert_eq!(
        figures(&dead, "alloc_known"),
        (n, n * SIZE, 0, 0),
        "after they died and two GCs"
    );
    // Go's conventions: four sample types, period = the rate, the bytes label.
    assert_eq!(dead.period, 1);
    let types: Vec<&str> = dead
        .sample_type
        .iter()
        .map(|t| dead.string_table[t.r#type as usize].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "alloc_objects",
            "alloc_space",
            "inuse_objects",
            "inuse_space"
        ]
    );

    if !have_go("heap_profile_counts_every_allocation_and_its_free") {
        return;
    }
    let dir = TestDir::new("heap");
    std::fs::write(dir.join("heap.pprof"), &bytes).unwrap();
    let (top, _) = go_tool(
        &dir,
        &[
            "pprof",
            "-sample_index=alloc_space",
            "-unit=B",
            "-top",
            "heap.pprof",
        ],
    );
    let line = top
        .lines()
        .find(|l| l.contains("alloc_known"))
        .unwrap_or_else(|| panic!("no alloc_known in:\n{top}"));
    let flat: &str = line.split_whitespace().next().unwrap();
    assert_eq!(flat, format!("{}B", n * SIZE), "{line}");
    let (raw, _) = go_tool(&dir, &["pprof", "-raw", "heap.pprof"]);
    let want = [
        n.to_string(),
        (n * SIZE).to_string(),
        "0".into(),
        "0:".into(),
    ];
    assert!(
        raw.lines().any(|l| l
            .split_whitespace()
            .take(4)
            .eq(want.iter().map(String::as_str))),
        "no sample `{want:?}` in:\n{raw}"
    );
}
