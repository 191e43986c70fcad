//! The `goroutine` and `threadcreate` profiles.
//!
//! See [super] for the overview. A goroutine profile is the scheduler's
//! [`gort_scheduler::goroutine_profile`]: a stop of the world that only
//! opens a profile epoch (no per-goroutine work), then every goroutine's
//! frame-pointer chain walked while the program runs, each before its
//! goroutine runs again (the caller's own stack by a walk from its current
//! frame, just before). Symbolization comes after, once per distinct stack
//! and once per distinct creator PC, so the whole profile costs
//! O(goroutines) plus the lookups of the PCs that differ.

use super::symbolize_stack;
use gort_profiler::pprof::{aggregate_counts, count_profile, CountRecord};
use gort_profiler::stack::Frame;
use gort_profiler::text::{write_count_text, write_goroutine_dump, GoroutineDump};
use gort_scheduler::{GStatus, GoroutineProfile, GoroutineRecord};
use std::collections::HashMap;
use std::io::{self, Write};

/// Most frames kept per goroutine stack.
const MAX_FRAMES: usize = 64;

/// Every live goroutine at one instant, sorted by goroutine id.
pub(crate) fn snapshot() -> GoroutineProfile {
    crate::run::ensure_started();
    // The caller's own stack, walked before the world stops.
    let mut own = Vec::new();
    if gort_scheduler::current_goroutine_id().is_some() {
        super::walk_own_stack(&mut own, MAX_FRAMES);
    }
    let own: Vec<usize> = own.into_iter().map(|p| p as usize).collect();
    let mut p = gort_scheduler::goroutine_profile(&own, MAX_FRAMES);
    p.records.sort_unstable_by_key(|g| g.goid);
    p
}

/// Go's status text of a goroutine: its wait reason while it waits.
fn status_of(g: &GoroutineRecord) -> &'static str {
    match g.status {
        GStatus::Waiting => Some(g.wait_reason.name())
            .filter(|n| !n.is_empty())
            .unwrap_or("waiting"),
        st => st.name(),
    }
}

/// One group of goroutines with the same stack and labels.
struct Group {
    /// Return PCs, zeros dropped (as the symbolizer drops them).
    pcs: Vec<u64>,
    /// The label word ([`gort_profiler::labels`]).
    labels: usize,
    /// Number of goroutines.
    count: usize,
}

/// The goroutines grouped by (stack, labels): for each record, the index
/// of its group; the groups. Only records `keep` accepts are grouped
/// (their index is `usize::MAX` otherwise).
fn group_stacks(
    p: &GoroutineProfile,
    keep: impl Fn(&GoroutineRecord) -> bool,
) -> (Vec<usize>, Vec<Group>) {
    let mut index: HashMap<(Vec<u64>, usize), usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut of = Vec::with_capacity(p.records.len());
    for r in &p.records {
        if !keep(r) {
            of.push(usize::MAX);
            continue;
        }
        let key: Vec<u64> = p
            .frames(r)
            .iter()
            .filter(|&&pc| pc != 0)
            .map(|&pc| pc as u64)
            .collect();
        let i = *index.entry((key, r.labels)).or_insert_with_key(|k| {
            groups.push(Group {
                pcs: k.0.clone(),
                labels: k.1,
                count: 0,
            });
            groups.len() - 1
        });
        groups[i].count += 1;
        of.push(i);
    }
    (of, groups)
}

/// The `created by` frame of a goroutine whose `go` call returns to
/// `creator_pc` (None for the main goroutine, which has no creator).
///
/// Go prints the function holding the `go` statement, the file:line of the
/// statement and the offset of the return PC from the function's entry
/// (`printcreatedby1`). The PC lies in the code that `gort::go` /
/// `gort_scheduler::go` (both `#[inline(always)]`) were inlined into: its
/// frames are theirs first, then the function that called `go` (at the
/// line of the call). Go never inlines a function containing a `go`
/// statement; Rust may, so the first frame after the `go` frames is taken
/// (inlined or not), with the offset from the entry of the physical
/// function it lies in. If only `go` frames are found (`go` was not
/// inlined after all), no `created by` line is printed.
fn created_by(creator_pc: u64) -> Option<Frame> {
    if creator_pc == 0 {
        return None;
    }
    let is_go = |f: &Frame| {
        f.function.rsplit("::").next() == Some("go")
            && (f.file.ends_with(crate::run::GO_FILE) || f.file.ends_with(gort_scheduler::GO_FILE))
    };
    let mut f = gort_profiler::symbolize::symbolize_pc(creator_pc)
        .into_iter()
        .find(|f| !is_go(f))?;
    f.inlined = false; // the line prints the +0x offset
    Some(f)
}

/// Number of goroutines (Go: `runtime.NumGoroutine()`).
pub(crate) fn count() -> usize {
    gort_scheduler::num_goroutine()
}

/// Writes the goroutine profile: every goroutine in the panic-traceback
/// format (`debug >= 2`), grouped text (1), else proto (Go's
/// `printCountProfile` writes proto for 0 and for negative values).
pub(crate) fn write(w: impl Write, debug: i32) -> io::Result<()> {
    let p = snapshot();
    if debug >= 2 {
        return write_dump(w, &p, |_| false);
    }
    write_counts(w, &p, "goroutine", debug, |_| true)
}

/// Writes the records `keep` accepts as the count profile `name`: grouped
/// text for `debug > 0`, proto otherwise.
pub(crate) fn write_counts(
    mut w: impl Write,
    p: &GoroutineProfile,
    name: &str,
    debug: i32,
    keep: impl Fn(&GoroutineRecord) -> bool,
) -> io::Result<()> {
    let (_, groups) = group_stacks(p, keep);
    let stacks: Vec<Vec<Frame>> = groups.iter().map(|g| symbolize_stack(&g.pcs)).collect();
    let recs = count_records(&groups, stacks);
    if debug > 0 {
        return write_count_text(&mut w, name, &recs);
    }
    let prof = count_profile(name, &recs, &super::meta());
    gort_profiler::pprof::write_gzip(&prof, w)
}

/// The count profile's records: one per distinct (stack, labels) with its
/// number of goroutines, in `aggregate_counts`' order (count descending,
/// then the record's PCs and labels).
fn count_records(groups: &[Group], stacks: Vec<Vec<Frame>>) -> Vec<CountRecord> {
    // A record's PCs: one per physical frame (the symbolizer expands each PC
    // into its inlined frames, the last one physical). That is the key
    // `aggregate_counts` groups by.
    let record_pcs = |stack: &[Frame]| -> Vec<u64> {
        (0..stack.len())
            .filter(|&i| Frame::ends_pc(stack, i))
            .map(|i| stack[i].pc)
            .collect()
    };
    let mut count_of: HashMap<(Vec<u64>, gort_profiler::pprof::Labels), i64> = HashMap::new();
    let mut items = Vec::with_capacity(stacks.len());
    for (g, stack) in groups.iter().zip(stacks) {
        let labels = gort_profiler::labels::pairs_of(g.labels);
        *count_of
            .entry((record_pcs(&stack), labels.clone()))
            .or_default() += g.count as i64;
        items.push((stack, labels));
    }
    // `aggregate_counts` of the distinct (stack, labels) (one goroutine
    // each) sorts them by their key; a stable sort by the real counts then
    // gives its full order.
    let mut recs = aggregate_counts(&items);
    for r in &mut recs {
        r.count = count_of
            .get(&(record_pcs(&r.stack), r.labels.clone()))
            .copied()
            .unwrap_or(r.count);
    }
    recs.sort_by_key(|r| std::cmp::Reverse(r.count));
    recs
}

/// The `debug=2` dump, goroutine by goroutine in id order; `leaked`
/// goroutines get Go's ` (leaked)` after their status. The text of a stack
/// and `created by` lines is made once per distinct (stack, creator) and
/// reused; each goroutine adds its header line (with its labels, as Go
/// 1.27 prints them). The bytes are those of `write_goroutine_dump` over
/// all goroutines.
pub(crate) fn write_dump(
    w: impl Write,
    p: &GoroutineProfile,
    leaked: impl Fn(&GoroutineRecord) -> bool,
) -> io::Result<()> {
    let (of, groups) = group_stacks(p, |_| true);
    let stacks: Vec<Vec<Frame>> = groups.iter().map(|g| symbolize_stack(&g.pcs)).collect();
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    let mut creators: HashMap<usize, Option<Frame>> = HashMap::new();
    let mut bodies: HashMap<(usize, usize), Vec<u8>> = HashMap::new();
    let mut header = Vec::new();
    for (i, r) in p.records.iter().enumerate() {
        if i > 0 {
            w.write_all(b"\n")?;
        }
        header.clear();
        let mut status = status_of(r).to_string();
        if leaked(r) {
            status.push_str(" (leaked)");
        }
        write_goroutine_dump(
            &mut header,
            &[GoroutineDump {
                id: r.goid,
                status,
                labels: gort_profiler::labels::pairs_of(r.labels),
                ..GoroutineDump::default()
            }],
        )?;
        w.write_all(&header)?;
        let body = bodies.entry((of[i], r.creator_pc)).or_insert_with(|| {
            let created_by = creators
                .entry(r.creator_pc)
                .or_insert_with(|| created_by(r.creator_pc as u64))
                .clone();
            let mut text = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = write_goroutine_dump(
                &mut text,
                &[GoroutineDump {
                    stack: stacks[of[i]].clone(),
                    created_by,
                    ..GoroutineDump::default()
                }],
            );
            // Drop the template's header line (`goroutine 0 []:`).
            let at = text.iter().position(|&b| b == b'\n').map_or(0, |k| k + 1);
            text.drain(..at);
            text
        });
        w.write_all(body)?;
    }
    w.flush()
}

/// threadcreate: one stackless record per OS thread the scheduler started
/// (gort does not record thread-creation stacks; Go prints the same
/// stackless `N @` record for threads created before profiling could see
/// them, `captures/threadcreate_debug1.txt`).
fn thread_records() -> Vec<CountRecord> {
    let n = gort_scheduler::sched_stats().threads as i64;
    if n == 0 {
        return Vec::new();
    }
    vec![CountRecord {
        stack: Vec::new(),
        count: n,
        labels: Vec::new(),
    }]
}

/// Number of threadcreate records' threads (Go: thread-creation records).
pub(crate) fn thread_count() -> usize {
    gort_scheduler::sched_stats().threads as usize
}

/// Writes the threadcreate profile (text for `debug > 0`, proto otherwise,
/// as Go's `printCountProfile`).
pub(crate) fn write_threadcreate(mut w: impl Write, debug: i32) -> io::Result<()> {
    let recs = thread_records();
    if debug > 0 {
        return write_count_text(&mut w, "threadcreate", &recs);
    }
    let p = count_profile("threadcreate", &recs, &super::meta());
    gort_profiler::pprof::write_gzip(&p, w)
}
