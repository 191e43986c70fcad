//! The `goroutine` and `threadcreate` profiles.
//!
//! See [super] for the overview. A goroutine profile stops the world,
//! walks every goroutine's frame-pointer chain within its stack
//! ([`gort_scheduler::GoroutineStack::frames`]; the caller's own stack by a
//! walk from its current frame), restarts the world, and only then
//! symbolizes — the pause covers the raw walks, not the symbol lookups.

use super::symbolize_stack;
use gort_profiler::pprof::{aggregate_counts, count_profile, CountRecord};
use gort_profiler::stack::Frame;
use gort_profiler::text::{write_count_text, write_goroutine_dump, GoroutineDump};
use gort_scheduler::{GStatus, StwReason};
use std::io::{self, Write};

/// Most frames kept per goroutine stack.
const MAX_FRAMES: usize = 64;

/// One goroutine as the profile sees it, before symbolization.
struct RawG {
    goid: u64,
    status: String,
    pcs: Vec<u64>,
    /// Return PC of the `go` call that created it (0: main, unknown).
    creator_pc: u64,
}

/// Every live goroutine's id, status (or wait reason) and return PCs.
fn snapshot() -> Vec<RawG> {
    crate::run::ensure_started();
    let me = gort_scheduler::current_goroutine_id();
    // The caller's own stack, walked before the world stops.
    let mut own = Vec::new();
    if me.is_some() {
        super::walk_own_stack(&mut own, MAX_FRAMES);
    }
    let w = gort_scheduler::stop_the_world(StwReason::GoroutineProfile);
    let mut out = Vec::new();
    gort_scheduler::for_each_goroutine_stack(&w, &mut |s| {
        let mut pcs = Vec::new();
        let status = match s.status {
            GStatus::Waiting => gort_scheduler::goroutine_wait_reason(&w, s.goid)
                .map(|r| r.name())
                .filter(|n| !n.is_empty())
                .unwrap_or("waiting")
                .to_string(),
            st => st.name().to_string(),
        };
        if Some(s.goid) == me {
            pcs.clone_from(&own);
        } else {
            let mut raw = Vec::new();
            s.frames(&mut raw, MAX_FRAMES);
            pcs.extend(raw.into_iter().map(|p| p as u64));
        }
        out.push(RawG {
            goid: s.goid,
            status,
            pcs,
            creator_pc: s.creator_pc as u64,
        });
    });
    gort_scheduler::start_the_world(w);
    out.sort_by_key(|g| g.goid);
    out
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
pub(crate) fn write(mut w: impl Write, debug: i32) -> io::Result<()> {
    let gs = snapshot();
    if debug >= 2 {
        let dump: Vec<GoroutineDump> = gs
            .iter()
            .map(|g| GoroutineDump {
                id: g.goid,
                status: g.status.clone(),
                stack: symbolize_stack(&g.pcs),
                created_by: created_by(g.creator_pc),
                ..GoroutineDump::default()
            })
            .collect();
        return write_goroutine_dump(&mut w, &dump);
    }
    let items: Vec<_> = gs
        .iter()
        .map(|g| (symbolize_stack(&g.pcs), Vec::new()))
        .collect();
    let recs = aggregate_counts(&items);
    if debug > 0 {
        return write_count_text(&mut w, "goroutine", &recs);
    }
    let p = count_profile("goroutine", &recs, &super::meta());
    gort_profiler::pprof::write_gzip(&p, w)
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
