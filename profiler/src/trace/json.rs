//! Chrome Trace Event JSON in the layout of `go tool trace`'s own viewer,
//! for Perfetto (ui.perfetto.dev) and chrome://tracing.
//!
//! See [crate::trace] for the model. The layout copies Go 1.19's
//! `cmd/trace/trace.go` (`generateTrace`) with every pid shifted up by one,
//! because pid 0 is mishandled by Perfetto and by strict trace models
//! (`reference/profiler.md` §4.3–4.4):
//!
//! | pid | process | threads (tid) | what is drawn |
//! |---|---|---|---|
//! | 1 | `PROCS` | one per P (`Proc N`, tid N), plus `GC` (tid 1000004, sort −6), `Network`, `Timers`, `Syscalls` | `X` slices: one per goroutine run, named `G<id> <start function>`; `GC`; `STW (<kind>)`; `SWEEP`; `I` instants `proc start` (args `ThreadID`)/`proc stop`; `s`/`t` flow arrows `go` (create → first start) and `unblock` (unblock → next start) |
//! | 2 | `STATS` | — | `C` counters `Goroutines` {Running, Runnable, GCWaiting}, `Heap` {Allocated, NextGC}, `Threads` {Running, InSyscall} |
//!
//! `Heap.NextGC` is goal − allocated (so the stacked area tops out at the
//! goal), as Go sends it. Times are microseconds (floats) from the first
//! event. Stacks go in `stackFrames` (`{"id": {"name": "fn:line",
//! "parent": id}}`), referenced by `sf` (start) and `esf` (end). Every event
//! carries a `cat`, which Go omits but strict parsers require.
//!
//! The test `trace_json_matches_go_tool_trace_viewer` (in
//! `profiler/tests/go_tools.rs`) starts Go 1.19's `go tool trace -http` on
//! the v1 file written from the same [`Trace`], fetches its `/jsontrace`,
//! and requires the same events, event for event (pids shifted, `cat`
//! aside). To look at a file, open it in ui.perfetto.dev.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::{EventKind, GoId, StackId, Trace};

/// pid of the PROCS process (Go's 0, shifted).
pub const PID_PROCS: u64 = 1;
/// pid of the STATS process (Go's 1, shifted).
pub const PID_STATS: u64 = 2;
/// Go's fake-P base (`trace.FakeP`); pseudo-threads are above it.
const FAKE_P: u64 = 1_000_000;
/// tid of the `GC` row (Go's `trace.GCP`).
pub const TID_GC: u64 = FAKE_P + 4;
/// tid of the `Network` row (Go's `trace.NetpollP`).
pub const TID_NETWORK: u64 = FAKE_P + 2;

struct Gen<'a> {
    trace: &'a Trace,
    events: Vec<Value>,
    frames: Map<String, Value>,
    frame_ids: HashMap<(u64, String), u64>,
    min_ts: u64,
    arrow_seq: u64,
    /// Last value of each counter: like Go, a counter is emitted only when it changes.
    last_counter: HashMap<String, Value>,
}

impl Gen<'_> {
    fn time(&self, ts: u64) -> f64 {
        (ts - self.min_ts) as f64 / 1e3
    }

    /// Go's `buildBranch`: the id of the leaf node of `stack` in the frame tree.
    fn stack_frame(&mut self, stack: StackId) -> u64 {
        let frames = self.trace.stacks.get(stack);
        let mut parent = 0;
        for f in frames.iter().rev() {
            let name = format!("{}:{}", f.function, f.line);
            let key = (parent, name.clone());
            parent = match self.frame_ids.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.frame_ids.len() as u64 + 1;
                    let mut fr = Map::new();
                    fr.insert("name".into(), json!(name));
                    if parent != 0 {
                        fr.insert("parent".into(), json!(parent));
                    }
                    self.frames.insert(id.to_string(), Value::Object(fr));
                    self.frame_ids.insert(key, id);
                    id
                }
            };
        }
        parent
    }

    fn push(&mut self, v: Value) {
        self.events.push(v);
    }

    #[allow(clippy::too_many_arguments)]
    fn slice(
        &mut self,
        name: &str,
        cat: &str,
        tid: u64,
        start: u64,
        end: u64,
        sf: StackId,
        esf: StackId,
        args: Option<Value>,
    ) {
        let dur = if end > start {
            (end - start) as f64 / 1e3
        } else {
            0.0001
        };
        let mut e = json!({"name": name, "cat": cat, "ph": "X", "ts": self.time(start), "dur": dur, "pid": PID_PROCS, "tid": tid});
        if sf != 0 {
            e["sf"] = json!(self.stack_frame(sf));
        }
        if esf != 0 {
            e["esf"] = json!(self.stack_frame(esf));
        }
        if let Some(a) = args {
            e["args"] = a;
        }
        self.push(e);
    }

    fn instant(&mut self, name: &str, tid: u64, ts: u64, args: Option<Value>) {
        let mut e = json!({"name": name, "cat": "proc", "ph": "I", "s": "t", "ts": self.time(ts), "pid": PID_PROCS, "tid": tid});
        if let Some(a) = args {
            e["args"] = a;
        }
        self.push(e);
    }

    fn counter(&mut self, name: &str, ts: u64, args: Value) {
        if self.last_counter.get(name) == Some(&args) {
            return;
        }
        self.last_counter.insert(name.to_string(), args.clone());
        let e = json!({"name": name, "cat": "stats", "ph": "C", "ts": self.time(ts), "pid": PID_STATS, "tid": 0, "args": args});
        self.push(e);
    }

    fn arrow(&mut self, name: &str, from: (u64, u64, StackId), to: (u64, u64)) {
        self.arrow_seq += 1;
        let id = self.arrow_seq;
        let mut s = json!({"name": name, "cat": "flow", "ph": "s", "id": id, "ts": self.time(from.0), "pid": PID_PROCS, "tid": from.1});
        if from.2 != 0 {
            s["sf"] = json!(self.stack_frame(from.2));
        }
        self.push(s);
        let t = json!({"name": name, "cat": "flow", "ph": "t", "id": id, "ts": self.time(to.0), "pid": PID_PROCS, "tid": to.1});
        self.push(t);
    }

    fn meta(&mut self, name: &str, pid: u64, tid: u64, args: Value) {
        let e = json!({"name": name, "cat": "__metadata", "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args});
        self.push(e);
    }
}

/// Render the trace as a Chrome Trace Event JSON value
/// (`{"traceEvents": […], "stackFrames": {…}, "displayTimeUnit": "ns"}`).
/// Fails if the trace breaks the model's rules ([`Trace::check`]).
pub fn to_value(trace: &Trace) -> Result<Value, String> {
    trace.check()?;
    let ordered = trace.ordered();
    let mut g = Gen {
        trace,
        events: Vec::new(),
        frames: Map::new(),
        frame_ids: HashMap::new(),
        min_ts: ordered.first().map(|e| e.ts).unwrap_or(0),
        arrow_seq: 0,
        last_counter: HashMap::new(),
    };
    let max_p = trace.events.iter().map(|e| e.p).max().unwrap_or(0);
    g.meta("process_name", PID_PROCS, 0, json!({"name": "PROCS"}));
    g.meta("process_sort_index", PID_PROCS, 0, json!({"sort_index": 2}));
    g.meta("process_name", PID_STATS, 0, json!({"name": "STATS"}));
    g.meta("process_sort_index", PID_STATS, 0, json!({"sort_index": 0}));
    for (tid, name, sort) in [
        (TID_GC, "GC", -6),
        (TID_NETWORK, "Network", -5),
        (FAKE_P + 1, "Timers", -4),
        (FAKE_P + 3, "Syscalls", -3),
    ] {
        g.meta("thread_name", PID_PROCS, tid, json!({"name": name}));
        g.meta(
            "thread_sort_index",
            PID_PROCS,
            tid,
            json!({"sort_index": sort}),
        );
    }
    for p in 0..=max_p {
        g.meta(
            "thread_name",
            PID_PROCS,
            p as u64,
            json!({"name": format!("Proc {p}")}),
        );
        g.meta(
            "thread_sort_index",
            PID_PROCS,
            p as u64,
            json!({"sort_index": p}),
        );
    }

    // Replay state.
    let mut names: HashMap<GoId, String> = HashMap::new();
    let mut start_stack: HashMap<GoId, StackId> = HashMap::new();
    // P -> (G, start ts, start stack: only a goroutine's first run has one, as in Go)
    let mut current: HashMap<u32, (GoId, u64, StackId)> = HashMap::new();
    let mut pending_arrow: HashMap<GoId, (&'static str, u64, u64, StackId)> = HashMap::new();
    let (mut running, mut runnable, mut gc_waiting) = (0i64, 0i64, 0i64);
    let mut gwait_gc: HashMap<GoId, bool> = HashMap::new();
    let mut net_blocked: std::collections::HashSet<GoId> = Default::default();
    let (mut heap_alloc, mut heap_goal) = (0u64, 0u64);
    let mut procs_running = 0i64;
    let mut gc_start: Option<(u64, StackId)> = None;
    let mut stw_start: Option<(u64, u32, &'static str)> = None;
    let mut sweep_start: HashMap<u32, (u64, StackId)> = HashMap::new();

    for e in ordered {
        let p = e.p;
        match &e.kind {
            EventKind::ProcStart { thread } => {
                procs_running += 1;
                g.instant(
                    "proc start",
                    p as u64,
                    e.ts,
                    Some(json!({"ThreadID": thread})),
                );
                g.counter(
                    "Threads",
                    e.ts,
                    json!({"Running": procs_running, "InSyscall": 0}),
                );
            }
            EventKind::ProcStop => {
                procs_running -= 1;
                g.instant("proc stop", p as u64, e.ts, None);
                g.counter(
                    "Threads",
                    e.ts,
                    json!({"Running": procs_running, "InSyscall": 0}),
                );
            }
            EventKind::GoCreate {
                g: id,
                start,
                stack,
            } => {
                let fname = trace
                    .stacks
                    .get(*start)
                    .first()
                    .map(|f| f.function.clone())
                    .unwrap_or_default();
                names.insert(*id, format!("G{id} {fname}"));
                start_stack.insert(*id, *start);
                pending_arrow.insert(*id, ("go", e.ts, p as u64, *stack));
                runnable += 1;
                g.counter(
                    "Goroutines",
                    e.ts,
                    json!({"Running": running, "Runnable": runnable, "GCWaiting": gc_waiting}),
                );
            }
            EventKind::GoStart { g: id } => {
                current.insert(p, (*id, e.ts, start_stack.remove(id).unwrap_or(0)));
                runnable -= 1;
                running += 1;
                if let Some((name, ts, from_p, stk)) = pending_arrow.remove(id) {
                    g.arrow(name, (ts, from_p, stk), (e.ts, p as u64));
                }
                g.counter(
                    "Goroutines",
                    e.ts,
                    json!({"Running": running, "Runnable": runnable, "GCWaiting": gc_waiting}),
                );
            }
            EventKind::GoEnd
            | EventKind::GoStop { .. }
            | EventKind::GoSched { .. }
            | EventKind::GoPreempt { .. }
            | EventKind::GoSleep { .. }
            | EventKind::GoBlock { .. } => {
                let (id, start, sf) = current
                    .remove(&p)
                    .expect("checked: a goroutine runs on this P");
                let end_stack = match &e.kind {
                    EventKind::GoStop { stack }
                    | EventKind::GoSched { stack }
                    | EventKind::GoPreempt { stack }
                    | EventKind::GoSleep { stack }
                    | EventKind::GoBlock { stack, .. } => *stack,
                    _ => 0,
                };
                let name = names.get(&id).cloned().unwrap_or_else(|| format!("G{id}"));
                g.slice(
                    &name,
                    "goroutine",
                    p as u64,
                    start,
                    e.ts,
                    sf,
                    end_stack,
                    None,
                );
                running -= 1;
                match &e.kind {
                    EventKind::GoSched { .. } | EventKind::GoPreempt { .. } => runnable += 1,
                    EventKind::GoBlock {
                        reason: super::BlockReason::Gc,
                        ..
                    } => {
                        gc_waiting += 1;
                        gwait_gc.insert(id, true);
                    }
                    EventKind::GoBlock {
                        reason: super::BlockReason::Net,
                        ..
                    } => {
                        net_blocked.insert(id);
                    }
                    _ => {}
                }
                g.counter(
                    "Goroutines",
                    e.ts,
                    json!({"Running": running, "Runnable": runnable, "GCWaiting": gc_waiting}),
                );
            }
            EventKind::GoUnblock { g: id, stack } => {
                if gwait_gc.remove(id).is_some() {
                    gc_waiting -= 1;
                }
                runnable += 1;
                // Go attributes the wake-up of a goroutine blocked on the
                // network to the Network row, marked by an instant there.
                let from = if net_blocked.remove(id) {
                    g.instant("unblock", TID_NETWORK, e.ts, None);
                    TID_NETWORK
                } else {
                    p as u64
                };
                pending_arrow.insert(*id, ("unblock", e.ts, from, *stack));
                g.counter(
                    "Goroutines",
                    e.ts,
                    json!({"Running": running, "Runnable": runnable, "GCWaiting": gc_waiting}),
                );
            }
            EventKind::GoWaiting { .. } => {
                runnable -= 1;
                g.counter(
                    "Goroutines",
                    e.ts,
                    json!({"Running": running, "Runnable": runnable, "GCWaiting": gc_waiting}),
                );
            }
            EventKind::GcStart { stack } => gc_start = Some((e.ts, *stack)),
            EventKind::GcDone => {
                if let Some((ts, stk)) = gc_start.take() {
                    g.slice("GC", "gc", TID_GC, ts, e.ts, stk, 0, None);
                }
            }
            EventKind::StwStart { kind } => stw_start = Some((e.ts, p, kind.name())),
            EventKind::StwDone => {
                if let Some((ts, sp, kind)) = stw_start.take() {
                    g.slice(
                        &format!("STW ({kind})"),
                        "gc",
                        sp as u64,
                        ts,
                        e.ts,
                        0,
                        0,
                        None,
                    );
                }
            }
            EventKind::SweepStart { stack } => {
                sweep_start.insert(p, (e.ts, *stack));
            }
            EventKind::SweepDone { swept, reclaimed } => {
                if let Some((ts, stk)) = sweep_start.remove(&p) {
                    let args = json!({"Swept bytes": swept, "Reclaimed bytes": reclaimed});
                    g.slice("SWEEP", "gc", p as u64, ts, e.ts, stk, 0, Some(args));
                }
            }
            EventKind::HeapAlloc { bytes } | EventKind::HeapGoal { bytes } => {
                if matches!(e.kind, EventKind::HeapAlloc { .. }) {
                    heap_alloc = *bytes;
                } else {
                    heap_goal = *bytes;
                }
                let next = heap_goal.saturating_sub(heap_alloc);
                g.counter(
                    "Heap",
                    e.ts,
                    json!({"Allocated": heap_alloc, "NextGC": next}),
                );
            }
            EventKind::Gomaxprocs { .. } => {}
        }
    }
    // Goroutines still running at the end: close their slices at the last event.
    let end = trace.events.iter().map(|e| e.ts).max().unwrap_or(0);
    let mut open: Vec<(u32, (GoId, u64, StackId))> = current.into_iter().collect();
    open.sort();
    for (p, (id, start, sf)) in open {
        let name = names.get(&id).cloned().unwrap_or_else(|| format!("G{id}"));
        g.slice(&name, "goroutine", p as u64, start, end, sf, 0, None);
    }
    let Gen { events, frames, .. } = g;
    Ok(json!({"traceEvents": events, "stackFrames": frames, "displayTimeUnit": "ns"}))
}

/// Write the trace as JSON (see [`to_value`]).
pub fn write(trace: &Trace, mut w: impl Write) -> io::Result<()> {
    let v = to_value(trace).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    serde_json::to_writer(&mut w, &v).map_err(io::Error::other)?;
    w.write_all(b"\n")
}
