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
//! | 2 | `STATS` | — | `C` counters `Goroutines` {Running, Runnable, GCWaiting}, `Heap` {Allocated, NextGC}, `Threads` {Running, InSyscall}, each emitted only when it changes |
//!
//! `Heap.NextGC` is goal − allocated (so the stacked area tops out at the
//! goal), as Go sends it. Times are microseconds (floats) from the first
//! event. Stacks go in `stackFrames` (`{"id": {"name": "fn:line",
//! "parent": id}}`), referenced by `sf` (start) and `esf` (end). Every event
//! carries a `cat`, which Go omits but strict parsers require. A goroutine
//! still running at the end of the trace gets a slice up to the last event.
//!
//! The JSON is written as text in one pass (no intermediate `Value` tree):
//! about ten times faster than building `serde_json::Value`s, which
//! matters for traces of millions of events (`benches/encode.rs`).
//!
//! The test `trace_json_matches_go_tool_trace_viewer` (in
//! `profiler/tests/go_tools.rs`) starts Go 1.19's `go tool trace -http` on
//! the v1 file written from the same [`Trace`], fetches its `/jsontrace`,
//! and requires the same events, event for event (pids shifted, `cat`
//! aside). To look at a file, open it in ui.perfetto.dev.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value;

use super::{BlockReason, EventKind, GoId, StackId, Trace};

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
/// tid of the `Syscalls` row (Go's `trace.SyscallP`).
pub const TID_SYSCALLS: u64 = FAKE_P + 3;

/// Append `s` as a JSON string literal.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        // the common case: nothing to escape
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Microseconds as a JSON number (Rust's shortest round-trip decimal,
/// never in exponent form for these magnitudes).
fn push_us(out: &mut String, us: f64) {
    let _ = write!(out, "{us}");
}

/// One event's fields, in the order written.
struct Ev<'a> {
    name: &'a str,
    cat: &'a str,
    ph: &'a str,
    ts: f64,
    dur: Option<f64>,
    pid: u64,
    tid: u64,
    id: Option<u64>,
    scope: Option<&'a str>,
    sf: u64,
    esf: u64,
    /// Pre-rendered JSON object, or empty for none.
    args: &'a str,
}

struct Gen<'a> {
    trace: &'a Trace,
    /// `traceEvents` body so far (comma-separated objects).
    out: String,
    first: bool,
    /// `stackFrames` body so far.
    frames: String,
    frame_ids: HashMap<(u64, String), u64>,
    /// Leaf frame-node id per stack id, so each stack is walked once.
    stack_nodes: HashMap<StackId, u64>,
    min_ts: u64,
    arrow_seq: u64,
    /// Last state of each counter: like Go, a counter is emitted only when its state changes.
    last_counter: HashMap<&'static str, String>,
}

impl Gen<'_> {
    fn time(&self, ts: u64) -> f64 {
        (ts - self.min_ts) as f64 / 1e3
    }

    /// Go's `buildBranch`: the id of the leaf node of `stack` in the frame
    /// tree (root first, one node per distinct path), 0 for no stack.
    fn stack_frame(&mut self, stack: StackId) -> u64 {
        if stack == 0 {
            return 0;
        }
        if let Some(&id) = self.stack_nodes.get(&stack) {
            return id;
        }
        let mut parent = 0;
        for f in self.trace.stacks.get(stack).iter().rev() {
            let key = (parent, format!("{}:{}", f.function, f.line));
            parent = match self.frame_ids.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.frame_ids.len() as u64 + 1;
                    if !self.frames.is_empty() {
                        self.frames.push(',');
                    }
                    let _ = write!(self.frames, "\"{id}\":{{\"name\":");
                    push_str(&mut self.frames, &key.1);
                    if parent != 0 {
                        let _ = write!(self.frames, ",\"parent\":{parent}");
                    }
                    self.frames.push('}');
                    self.frame_ids.insert(key, id);
                    id
                }
            };
        }
        self.stack_nodes.insert(stack, parent);
        parent
    }

    fn emit(&mut self, e: &Ev<'_>) {
        let o = &mut self.out;
        if !self.first {
            o.push_str(",\n");
        }
        self.first = false;
        o.push_str("{\"name\":");
        push_str(o, e.name);
        o.push_str(",\"cat\":");
        push_str(o, e.cat);
        let _ = write!(o, ",\"ph\":\"{}\",\"ts\":", e.ph);
        push_us(o, e.ts);
        if let Some(d) = e.dur {
            o.push_str(",\"dur\":");
            push_us(o, d);
        }
        let _ = write!(o, ",\"pid\":{},\"tid\":{}", e.pid, e.tid);
        if let Some(id) = e.id {
            let _ = write!(o, ",\"id\":{id}");
        }
        if let Some(s) = e.scope {
            let _ = write!(o, ",\"s\":\"{s}\"");
        }
        if e.sf != 0 {
            let _ = write!(o, ",\"sf\":{}", e.sf);
        }
        if e.esf != 0 {
            let _ = write!(o, ",\"esf\":{}", e.esf);
        }
        if !e.args.is_empty() {
            o.push_str(",\"args\":");
            o.push_str(e.args);
        }
        o.push('}');
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
        args: &str,
    ) {
        // Go: a non-positive duration would be drawn as never-ending.
        let dur = if end > start {
            (end - start) as f64 / 1e3
        } else {
            0.0001
        };
        let (sf, esf) = (self.stack_frame(sf), self.stack_frame(esf));
        let ts = self.time(start);
        self.emit(&Ev {
            name,
            cat,
            ph: "X",
            ts,
            dur: Some(dur),
            pid: PID_PROCS,
            tid,
            id: None,
            scope: None,
            sf,
            esf,
            args,
        });
    }

    fn instant(&mut self, name: &str, tid: u64, ts: u64, args: &str) {
        let ts = self.time(ts);
        self.emit(&Ev {
            name,
            cat: "proc",
            ph: "I",
            ts,
            dur: None,
            pid: PID_PROCS,
            tid,
            id: None,
            scope: Some("t"),
            sf: 0,
            esf: 0,
            args,
        });
    }

    fn counter(&mut self, name: &'static str, ts: u64, args: String) {
        self.counter_keyed(name, args.clone(), ts, args)
    }

    /// Emit a counter unless its underlying state (`key`) is unchanged —
    /// Go compares the state, not the rendered values (a new heap goal below
    /// the allocated bytes renders like the old one, and is still emitted).
    fn counter_keyed(&mut self, name: &'static str, key: String, ts: u64, args: String) {
        if self.last_counter.get(name) == Some(&key) {
            return;
        }
        let ts = self.time(ts);
        self.emit(&Ev {
            name,
            cat: "stats",
            ph: "C",
            ts,
            dur: None,
            pid: PID_STATS,
            tid: 0,
            id: None,
            scope: None,
            sf: 0,
            esf: 0,
            args: &args,
        });
        self.last_counter.insert(name, key);
    }

    fn arrow(&mut self, name: &str, from: (u64, u64, StackId), to: (u64, u64)) {
        self.arrow_seq += 1;
        let id = Some(self.arrow_seq);
        let sf = self.stack_frame(from.2);
        let (ts_from, ts_to) = (self.time(from.0), self.time(to.0));
        let base = Ev {
            name,
            cat: "flow",
            ph: "s",
            ts: ts_from,
            dur: None,
            pid: PID_PROCS,
            tid: from.1,
            id,
            scope: None,
            sf,
            esf: 0,
            args: "",
        };
        self.emit(&base);
        self.emit(&Ev {
            ph: "t",
            ts: ts_to,
            tid: to.1,
            sf: 0,
            ..base
        });
    }

    fn meta(&mut self, name: &str, pid: u64, tid: u64, args: &str) {
        self.emit(&Ev {
            name,
            cat: "__metadata",
            ph: "M",
            ts: 0.0,
            dur: None,
            pid,
            tid,
            id: None,
            scope: None,
            sf: 0,
            esf: 0,
            args,
        });
    }
}

/// Render the trace as Chrome Trace Event JSON text
/// (`{"traceEvents": […], "stackFrames": {…}, "displayTimeUnit": "ns"}`).
/// Fails if the trace breaks the model's rules ([`Trace::check`]).
pub fn encode(trace: &Trace) -> Result<String, String> {
    let (order, _) = trace.checked_order()?;
    let ordered: Vec<&super::TraceEvent> = order.iter().map(|&i| &trace.events[i]).collect();
    let mut g = Gen {
        trace,
        out: String::with_capacity(trace.events.len() * 110 + 4096),
        first: true,
        frames: String::new(),
        frame_ids: HashMap::new(),
        stack_nodes: HashMap::new(),
        min_ts: ordered.first().map(|e| e.ts).unwrap_or(0),
        arrow_seq: 0,
        last_counter: HashMap::new(),
    };
    let max_p = trace.events.iter().map(|e| e.p).max().unwrap_or(0);
    g.meta("process_name", PID_PROCS, 0, r#"{"name":"PROCS"}"#);
    g.meta("process_sort_index", PID_PROCS, 0, r#"{"sort_index":2}"#);
    g.meta("process_name", PID_STATS, 0, r#"{"name":"STATS"}"#);
    g.meta("process_sort_index", PID_STATS, 0, r#"{"sort_index":0}"#);
    for (tid, name, sort) in [
        (TID_GC, "GC", -6),
        (TID_NETWORK, "Network", -5),
        (FAKE_P + 1, "Timers", -4),
        (TID_SYSCALLS, "Syscalls", -3),
    ] {
        g.meta(
            "thread_name",
            PID_PROCS,
            tid,
            &format!(r#"{{"name":"{name}"}}"#),
        );
        g.meta(
            "thread_sort_index",
            PID_PROCS,
            tid,
            &format!(r#"{{"sort_index":{sort}}}"#),
        );
    }
    for p in 0..=max_p {
        g.meta(
            "thread_name",
            PID_PROCS,
            p as u64,
            &format!(r#"{{"name":"Proc {p}"}}"#),
        );
        g.meta(
            "thread_sort_index",
            PID_PROCS,
            p as u64,
            &format!(r#"{{"sort_index":{p}}}"#),
        );
    }

    // Replay state.
    let mut names: HashMap<GoId, String> = HashMap::new();
    let mut start_stack: HashMap<GoId, StackId> = HashMap::new();
    // P -> (G, start ts, start stack: only a goroutine's first run has one, as in Go)
    let mut current: HashMap<u32, (GoId, u64, StackId)> = HashMap::new();
    let mut pending_arrow: HashMap<GoId, (&'static str, u64, u64, StackId)> = HashMap::new();
    let (mut running, mut runnable, mut gc_waiting) = (0i64, 0i64, 0i64);
    let mut gwait_gc: HashSet<GoId> = HashSet::new();
    let mut net_blocked: HashSet<GoId> = HashSet::new();
    let (mut heap_alloc, mut heap_goal) = (0u64, 0u64);
    let mut procs_running = 0i64;
    let mut gc_start: Option<(u64, StackId)> = None;
    let mut stw_start: Option<(u64, u32, &'static str)> = None;
    let mut sweep_start: HashMap<u32, (u64, StackId)> = HashMap::new();
    let mut assist_start: HashMap<u32, (u64, StackId)> = HashMap::new();
    let goroutines =
        |r: i64, q: i64, w: i64| format!(r#"{{"Running":{r},"Runnable":{q},"GCWaiting":{w}}}"#);

    for e in ordered {
        let p = e.p;
        match &e.kind {
            EventKind::ProcStart { thread } => {
                procs_running += 1;
                g.instant(
                    "proc start",
                    p as u64,
                    e.ts,
                    &format!(r#"{{"ThreadID":{thread}}}"#),
                );
                g.counter(
                    "Threads",
                    e.ts,
                    format!(r#"{{"Running":{procs_running},"InSyscall":0}}"#),
                );
            }
            EventKind::ProcStop => {
                procs_running -= 1;
                g.instant("proc stop", p as u64, e.ts, "");
                g.counter(
                    "Threads",
                    e.ts,
                    format!(r#"{{"Running":{procs_running},"InSyscall":0}}"#),
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
                    .map(|f| f.function.as_str())
                    .unwrap_or("");
                names.insert(*id, format!("G{id} {fname}"));
                start_stack.insert(*id, *start);
                pending_arrow.insert(*id, ("go", e.ts, p as u64, *stack));
                runnable += 1;
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GoStart { g: id } | EventKind::GoStartLabel { g: id, .. } => {
                current.insert(p, (*id, e.ts, start_stack.remove(id).unwrap_or(0)));
                runnable -= 1;
                running += 1;
                if let Some((name, ts, from, stk)) = pending_arrow.remove(id) {
                    g.arrow(name, (ts, from, stk), (e.ts, p as u64));
                }
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GoEnd
            | EventKind::GoStop { .. }
            | EventKind::GoSched { .. }
            | EventKind::GoPreempt { .. }
            | EventKind::GoSleep { .. }
            | EventKind::GoBlock { .. }
            | EventKind::GoSysBlock => {
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
                let name = names.get(&id).map(String::as_str).unwrap_or("");
                let name = if name.is_empty() {
                    format!("G{id}")
                } else {
                    name.to_string()
                };
                g.slice(&name, "goroutine", p as u64, start, e.ts, sf, end_stack, "");
                running -= 1;
                match &e.kind {
                    EventKind::GoSched { .. } | EventKind::GoPreempt { .. } => runnable += 1,
                    EventKind::GoBlock {
                        reason: BlockReason::Gc,
                        ..
                    } => {
                        gc_waiting += 1;
                        gwait_gc.insert(id);
                    }
                    EventKind::GoBlock {
                        reason: BlockReason::Net,
                        ..
                    } => {
                        net_blocked.insert(id);
                    }
                    _ => {}
                }
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GoSysCall { .. } => g.instant("syscall", p as u64, e.ts, ""),
            EventKind::GoSysExit { g: id } => {
                runnable += 1;
                pending_arrow.insert(*id, ("sysexit", e.ts, TID_SYSCALLS, 0));
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GcMarkAssistStart { stack } => {
                assist_start.insert(p, (e.ts, *stack));
            }
            EventKind::GcMarkAssistDone => {
                if let Some((ts, stk)) = assist_start.remove(&p) {
                    g.slice("MARK ASSIST", "gc", p as u64, ts, e.ts, stk, 0, "");
                }
            }
            EventKind::GoUnblock { g: id, stack } => {
                if gwait_gc.remove(id) {
                    gc_waiting -= 1;
                }
                runnable += 1;
                // Go attributes the wake-up of a goroutine blocked on the
                // network to the Network row, marked by an instant there.
                let from = if net_blocked.remove(id) {
                    g.instant("unblock", TID_NETWORK, e.ts, "");
                    TID_NETWORK
                } else {
                    p as u64
                };
                pending_arrow.insert(*id, ("unblock", e.ts, from, *stack));
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GoWaiting { .. } | EventKind::GoInSyscall { .. } => {
                runnable -= 1;
                g.counter(
                    "Goroutines",
                    e.ts,
                    goroutines(running, runnable, gc_waiting),
                );
            }
            EventKind::GcStart { stack } => gc_start = Some((e.ts, *stack)),
            EventKind::GcDone => {
                if let Some((ts, stk)) = gc_start.take() {
                    g.slice("GC", "gc", TID_GC, ts, e.ts, stk, 0, "");
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
                        "",
                    );
                }
            }
            EventKind::SweepStart { stack } => {
                sweep_start.insert(p, (e.ts, *stack));
            }
            EventKind::SweepDone { swept, reclaimed } => {
                if let Some((ts, stk)) = sweep_start.remove(&p) {
                    let args =
                        format!(r#"{{"Swept bytes":{swept},"Reclaimed bytes":{reclaimed}}}"#);
                    g.slice("SWEEP", "gc", p as u64, ts, e.ts, stk, 0, &args);
                }
            }
            EventKind::HeapAlloc { bytes } | EventKind::HeapGoal { bytes } => {
                if matches!(e.kind, EventKind::HeapAlloc { .. }) {
                    heap_alloc = *bytes;
                } else {
                    heap_goal = *bytes;
                }
                let next = heap_goal.saturating_sub(heap_alloc);
                g.counter_keyed(
                    "Heap",
                    format!("{heap_alloc} {heap_goal}"),
                    e.ts,
                    format!(r#"{{"Allocated":{heap_alloc},"NextGC":{next}}}"#),
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
        g.slice(&name, "goroutine", p as u64, start, end, sf, 0, "");
    }
    let mut doc = String::with_capacity(g.out.len() + g.frames.len() + 80);
    doc.push_str("{\"traceEvents\":[\n");
    doc.push_str(&g.out);
    doc.push_str("\n],\n\"stackFrames\":{");
    doc.push_str(&g.frames);
    doc.push_str("},\n\"displayTimeUnit\":\"ns\"}\n");
    Ok(doc)
}

/// The trace's JSON as a `serde_json::Value` (for tests and tools).
pub fn to_value(trace: &Trace) -> Result<Value, String> {
    serde_json::from_str(&encode(trace)?).map_err(|e| e.to_string())
}

/// Write the trace as JSON (see [`encode`]).
pub fn write(trace: &Trace, mut w: impl Write) -> io::Result<()> {
    let text = encode(trace).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    w.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_are_valid_json() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a\"b\\c\nd\u{1}é"
        );
        for us in [0.0, 0.0001, 97.0, 372.5, 1e-7, 123456789.123] {
            let mut t = String::new();
            push_us(&mut t, us);
            assert_eq!(serde_json::from_str::<f64>(&t).unwrap(), us, "{t}");
        }
    }
}
