//! Go's v1 execution-trace format (`go 1.19 trace`), read by Go 1.19's
//! `go tool trace` and, through its old-trace converter, by current Go.
//!
//! See [crate::trace] for the model and the ordering rules. The wire
//! format (Go 1.19 `runtime/trace.go` writer, `internal/trace/parser.go`
//! reader; `reference/profiler.md` §4.1–4.2):
//!
//! 1. A 16-byte header, `go 1.19 trace\0\0\0`.
//! 2. Per P, one **batch**: `EvBatch(p, ticks)` then that P's events in
//!    time order. Each event is a type byte `type | (n-1) << 6`, where `n`
//!    counts its ULEB128 arguments including the timestamp; when `n` would
//!    exceed 3 the top bits are 3 and a byte-length prefix precedes the
//!    arguments. The timestamp argument is the **delta** from the previous
//!    event of the batch (the batch's `ticks` for the first). Events with a
//!    stack carry its id as their last argument.
//! 3. `EvFrequency(ticks per second)` — required; gort's ticks are
//!    nanoseconds, so it is 1e9.
//! 4. The string table, `EvString(id, len, bytes)` (ids from 1), and the
//!    stack table, `EvStack(id, n, (pc, fn, file, line) × n)`.
//!
//! Sequence numbers: Go's merge of the per-P batches (`order.go`) needs
//! `GoStart(g, seq)` and `GoUnblock(g, seq)` to carry the goroutine's
//! sequence number, bumped by each of them (and by `GoWaiting` and
//! `GoInSyscall`, which carry none) starting from 0 at `GoCreate`,
//! and `GCStart(seq)` to count cycles from 0. The writer computes both
//! from the events in time order.
//!
//! A trace may also be written in parts as it is recorded
//! ([`StreamWriter`]): each part adds one batch per P, the tables come at
//! the end; Go's parser joins a P's batches in file order.
//!
//! Check a file with `go tool trace -d FILE` (it parses, orders and
//! validates every event, then lists them).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use super::{EventKind, StackId, StwKind, Trace};

/// The header Go 1.19 writes and both Go 1.19 and current Go accept.
pub const HEADER: &[u8; 16] = b"go 1.19 trace\0\0\0";

/// Ticks per second of gort's timestamps (nanoseconds).
pub const FREQUENCY: u64 = 1_000_000_000;

/// Go 1.19's event type numbers (`internal/trace/parser.go`), named after
/// Go's `Ev*` constants (`EvGoBlockSync` → `GO_BLOCK_SYNC`); the meaning
/// and arguments of each are in the table of `reference/profiler.md` §4.1.
#[allow(missing_docs)] // one name per Go constant; documenting each would repeat Go's table
pub mod ev {
    pub const BATCH: u8 = 1;
    pub const FREQUENCY: u8 = 2;
    pub const STACK: u8 = 3;
    pub const GOMAXPROCS: u8 = 4;
    pub const PROC_START: u8 = 5;
    pub const PROC_STOP: u8 = 6;
    pub const GC_START: u8 = 7;
    pub const GC_DONE: u8 = 8;
    pub const STW_START: u8 = 9;
    pub const STW_DONE: u8 = 10;
    pub const GC_SWEEP_START: u8 = 11;
    pub const GC_SWEEP_DONE: u8 = 12;
    pub const GO_CREATE: u8 = 13;
    pub const GO_START: u8 = 14;
    pub const GO_END: u8 = 15;
    pub const GO_STOP: u8 = 16;
    pub const GO_SCHED: u8 = 17;
    pub const GO_PREEMPT: u8 = 18;
    pub const GO_SLEEP: u8 = 19;
    pub const GO_BLOCK: u8 = 20;
    pub const GO_UNBLOCK: u8 = 21;
    pub const GO_BLOCK_SEND: u8 = 22;
    pub const GO_BLOCK_RECV: u8 = 23;
    pub const GO_BLOCK_SELECT: u8 = 24;
    pub const GO_BLOCK_SYNC: u8 = 25;
    pub const GO_BLOCK_COND: u8 = 26;
    pub const GO_BLOCK_NET: u8 = 27;
    pub const GO_SYS_CALL: u8 = 28;
    pub const GO_SYS_EXIT: u8 = 29;
    pub const GO_SYS_BLOCK: u8 = 30;
    pub const GO_WAITING: u8 = 31;
    pub const GO_IN_SYSCALL: u8 = 32;
    pub const HEAP_ALLOC: u8 = 33;
    pub const HEAP_GOAL: u8 = 34;
    pub const STRING: u8 = 37;
    pub const GO_START_LABEL: u8 = 41;
    pub const GO_BLOCK_GC: u8 = 42;
    pub const GC_MARK_ASSIST_START: u8 = 43;
    pub const GC_MARK_ASSIST_DONE: u8 = 44;
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Append one event: type byte, optional length, arguments.
fn event(out: &mut Vec<u8>, ty: u8, args: &[u64]) {
    debug_assert!(!args.is_empty());
    if args.len() <= 3 {
        out.push(ty | ((args.len() as u8 - 1) << 6));
        for &a in args {
            uleb(out, a);
        }
    } else {
        out.push(ty | (3 << 6));
        let mut body = Vec::with_capacity(args.len() * 3);
        for &a in args {
            uleb(&mut body, a);
        }
        uleb(out, body.len() as u64);
        out.extend_from_slice(&body);
    }
}

/// Encode the trace in Go's v1 format. Fails (without writing) if the
/// trace breaks a rule Go's parser enforces ([`Trace::check`]).
pub fn encode(trace: &Trace) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 + trace.events.len() * 6);
    out.extend_from_slice(HEADER);
    encode_events(trace, &mut Sequences::default(), &mut out)?;
    encode_tables(trace, &mut out);
    Ok(out)
}

/// The sequence numbers Go's merge expects, where earlier parts of a
/// trace left them: the parser's state, each goroutine's last `seq`, and
/// the GC count.
#[derive(Clone, Debug, Default)]
struct Sequences {
    parse: super::ParseState,
    gseq: HashMap<u64, u64>,
    gc_seq: u64,
}

/// A trace written in parts, as Go's tracer writes one: the header, then
/// each part's events ([`StreamWriter::write_events`]: one more batch per
/// P, checked and numbered as the continuation of the parts before), then
/// the frequency, string and stack tables at the end
/// ([`StreamWriter::finish`]). Go's parser reads a P's batches one after
/// the other, and the tables from anywhere in the file, so the result
/// reads as [`encode`]'s of the whole trace would. Each part's events must
/// all be later than the previous part's.
#[derive(Debug, Default)]
pub struct StreamWriter {
    seq: Sequences,
    started: bool,
}

impl StreamWriter {
    /// A writer at the start of a trace.
    pub fn new() -> StreamWriter {
        StreamWriter::default()
    }

    /// Checks, encodes and writes `trace`'s events (preceded by the header
    /// the first time), then removes them from `trace`, which keeps its
    /// stacks for later parts and [`StreamWriter::finish`]. A trace that
    /// breaks Go's rules is an `InvalidData` error, and nothing is
    /// written.
    pub fn write_events(&mut self, trace: &mut Trace, mut w: impl Write) -> io::Result<()> {
        let mut out = Vec::with_capacity(16 + trace.events.len() * 6);
        if !self.started {
            out.extend_from_slice(HEADER);
        }
        encode_events(trace, &mut self.seq, &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.started = true;
        trace.events.clear();
        w.write_all(&out)
    }

    /// Writes `trace`'s remaining events and the tables: the trace is
    /// complete.
    pub fn finish(&mut self, trace: &mut Trace, mut w: impl Write) -> io::Result<()> {
        self.write_events(trace, &mut w)?;
        let mut out = Vec::new();
        encode_tables(trace, &mut out);
        w.write_all(&out)
    }

    /// Every goroutine's state after the events written so far.
    pub fn goroutines(&self) -> &HashMap<u64, super::GState> {
        self.seq.parse.goroutines()
    }
}

/// The events of `trace`, one batch per P, continuing from `seq`.
fn encode_events(trace: &Trace, seq: &mut Sequences, out: &mut Vec<u8>) -> Result<(), String> {
    let order = trace.checked_order_from(&mut seq.parse)?;

    // Sequence numbers, assigned in the merge order Go's parser will
    // reconstruct (Trace::merge_order), so each GoStart/GoUnblock carries
    // exactly the seq the goroutine has at that point of the merge.
    let gseq = &mut seq.gseq;
    let mut seqs = vec![0u64; trace.events.len()];
    for i in order {
        match &trace.events[i].kind {
            EventKind::GoCreate { g, .. } => {
                gseq.insert(*g, 0);
            }
            EventKind::GoStart { g }
            | EventKind::GoStartLabel { g, .. }
            | EventKind::GoUnblock { g, .. }
            | EventKind::GoSysExit { g } => {
                let s = gseq.entry(*g).or_insert(0);
                *s += 1;
                seqs[i] = *s;
            }
            // "traceEvGoWaiting is implied to have seq=1" (Go's StartTrace):
            // it carries no seq but bumps the goroutine's.
            EventKind::GoWaiting { g } | EventKind::GoInSyscall { g } => {
                *gseq.entry(*g).or_insert(0) += 1;
            }
            EventKind::GcStart { .. } => {
                seqs[i] = seq.gc_seq;
                seq.gc_seq += 1;
            }
            _ => {}
        }
    }

    // One batch per P, events in recording order (time order per P).
    let mut by_p: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, e) in trace.events.iter().enumerate() {
        by_p.entry(e.p).or_default().push(i);
    }
    for (p, idx) in &by_p {
        let first = trace.events[idx[0]].ts;
        event(out, ev::BATCH, &[*p as u64, first]);
        let mut last = first;
        for &i in idx {
            let e = &trace.events[i];
            let dt = e.ts - last; // checked: per-P timestamps never decrease
            last = e.ts;
            let seq = seqs[i];
            match &e.kind {
                EventKind::Gomaxprocs { procs, stack } => {
                    event(out, ev::GOMAXPROCS, &[dt, *procs, *stack])
                }
                EventKind::ProcStart { thread } => event(out, ev::PROC_START, &[dt, *thread]),
                EventKind::ProcStop => event(out, ev::PROC_STOP, &[dt]),
                EventKind::GoCreate { g, start, stack } => {
                    event(out, ev::GO_CREATE, &[dt, *g, *start, *stack])
                }
                EventKind::GoStart { g } => event(out, ev::GO_START, &[dt, *g, seq]),
                EventKind::GoStartLabel { g, label } => {
                    event(out, ev::GO_START_LABEL, &[dt, *g, seq, *label])
                }
                EventKind::GoEnd => event(out, ev::GO_END, &[dt]),
                EventKind::GoStop { stack } => event(out, ev::GO_STOP, &[dt, *stack]),
                EventKind::GoSched { stack } => event(out, ev::GO_SCHED, &[dt, *stack]),
                EventKind::GoPreempt { stack } => event(out, ev::GO_PREEMPT, &[dt, *stack]),
                EventKind::GoSleep { stack } => event(out, ev::GO_SLEEP, &[dt, *stack]),
                EventKind::GoBlock { reason, stack } => {
                    use super::BlockReason::*;
                    let ty = match reason {
                        Other => ev::GO_BLOCK,
                        Send => ev::GO_BLOCK_SEND,
                        Recv => ev::GO_BLOCK_RECV,
                        Select => ev::GO_BLOCK_SELECT,
                        Sync => ev::GO_BLOCK_SYNC,
                        Cond => ev::GO_BLOCK_COND,
                        Net => ev::GO_BLOCK_NET,
                        Gc => ev::GO_BLOCK_GC,
                    };
                    event(out, ty, &[dt, *stack])
                }
                EventKind::GoUnblock { g, stack } => {
                    event(out, ev::GO_UNBLOCK, &[dt, *g, seq, *stack])
                }
                EventKind::GoWaiting { g } => event(out, ev::GO_WAITING, &[dt, *g]),
                EventKind::GoInSyscall { g } => event(out, ev::GO_IN_SYSCALL, &[dt, *g]),
                EventKind::GoSysCall { stack } => event(out, ev::GO_SYS_CALL, &[dt, *stack]),
                EventKind::GoSysBlock => event(out, ev::GO_SYS_BLOCK, &[dt]),
                // The real time stamp 0: the event's own.
                EventKind::GoSysExit { g } => event(out, ev::GO_SYS_EXIT, &[dt, *g, seq, 0]),
                EventKind::GcMarkAssistStart { stack } => {
                    event(out, ev::GC_MARK_ASSIST_START, &[dt, *stack])
                }
                EventKind::GcMarkAssistDone => event(out, ev::GC_MARK_ASSIST_DONE, &[dt]),
                EventKind::GcStart { stack } => event(out, ev::GC_START, &[dt, seq, *stack]),
                EventKind::GcDone => event(out, ev::GC_DONE, &[dt]),
                EventKind::StwStart { kind } => {
                    let k = match kind {
                        StwKind::MarkTermination => 0,
                        StwKind::SweepTermination => 1,
                    };
                    event(out, ev::STW_START, &[dt, k])
                }
                EventKind::StwDone => event(out, ev::STW_DONE, &[dt]),
                EventKind::SweepStart { stack } => event(out, ev::GC_SWEEP_START, &[dt, *stack]),
                EventKind::SweepDone { swept, reclaimed } => {
                    event(out, ev::GC_SWEEP_DONE, &[dt, *swept, *reclaimed])
                }
                EventKind::HeapAlloc { bytes } => event(out, ev::HEAP_ALLOC, &[dt, *bytes]),
                EventKind::HeapGoal { bytes } => event(out, ev::HEAP_GOAL, &[dt, *bytes]),
            }
        }
    }
    Ok(())
}

/// Frequency, strings, stacks (Go writes them at the end too).
fn encode_tables(trace: &Trace, out: &mut Vec<u8>) {
    event(out, ev::FREQUENCY, &[FREQUENCY]);
    // Labels first: their ids (1, 2, …) were written in the events.
    let mut table: Vec<String> = trace.labels.clone();
    let mut table_ids: HashMap<String, u64> = table
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i as u64 + 1))
        .collect();
    // Go's parser rejects empty strings; Go itself prints unknown names as "?".
    let mut str_id = |s: &str, table: &mut Vec<String>| -> u64 {
        let s = if s.is_empty() { "?" } else { s };
        if let Some(&id) = table_ids.get(s) {
            return id;
        }
        table.push(s.to_string());
        let id = table.len() as u64;
        table_ids.insert(s.to_string(), id);
        id
    };
    // Stack frames get unique PCs (go tool trace keys its pprof locations
    // by PC); a PC is synthesized when a frame's PC is unknown or clashes.
    let mut stack_bytes = Vec::new();
    let mut pc_for: HashMap<(String, String, u32), u64> = HashMap::new();
    let mut used_pcs: HashMap<u64, (String, String, u32)> = HashMap::new();
    for (id, frames) in trace.stacks.iter() {
        let mut args = vec![id as StackId, frames.len() as u64];
        for f in frames {
            let key = (f.function.clone(), f.file.clone(), f.line);
            let mut pc = f.call_pc();
            if pc == 0 || used_pcs.get(&pc).is_some_and(|k| *k != key) {
                let n = pc_for.len() as u64;
                pc = *pc_for
                    .entry(key.clone())
                    .or_insert(0x7f00_0000_0000 + (n + 1) * 16);
            }
            used_pcs.insert(pc, key);
            args.push(pc);
            args.push(str_id(&f.function, &mut table));
            args.push(str_id(&f.file, &mut table));
            args.push(f.line as u64);
        }
        event(&mut stack_bytes, ev::STACK, &args);
    }
    for (i, s) in table.iter().enumerate() {
        out.push(ev::STRING);
        uleb(out, i as u64 + 1);
        uleb(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&stack_bytes);
}

/// Encode and write the trace (see [`encode`]).
pub fn write(trace: &Trace, mut w: impl Write) -> io::Result<()> {
    let bytes = encode(trace).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    w.write_all(&bytes)
}

/// One event read back from a v1 trace ([`decode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// Go's event type number (see [`ev`]).
    pub ty: u8,
    /// The P of the batch it was read from.
    pub p: u64,
    /// Its time, in ticks (absolute: the batch's base plus the deltas).
    pub ts: u64,
    /// Its arguments after the timestamp (for `GoSysExit`, `[g, seq,
    /// realts]`; for events with a stack, the stack id last).
    pub args: Vec<u64>,
}

/// One frame of a stack read back from a v1 trace: PC, function, file, line.
pub type RawFrame = (u64, String, String, u64);

/// A v1 trace read back: events in file order (batch by batch), the
/// string table and the stack table.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    /// The events, batch by batch.
    pub events: Vec<RawEvent>,
    /// Ticks per second (`EvFrequency`), 0 if absent.
    pub frequency: u64,
    /// Stack id → frames, leaf first.
    pub stacks: HashMap<u64, Vec<RawFrame>>,
    /// String id → string (function and file names, labels).
    pub strings: HashMap<u64, String>,
}

impl Decoded {
    /// The functions of stack `id`, leaf first (empty for 0 or unknown).
    pub fn functions(&self, id: u64) -> Vec<&str> {
        self.stacks
            .get(&id)
            .map(|fs| fs.iter().map(|f| f.1.as_str()).collect())
            .unwrap_or_default()
    }
}

/// Reads a v1 trace with the framing of Go 1.19's `readTrace` (header,
/// type byte with argument count, ULEB128 arguments, length-prefixed
/// events, `EvBatch`, `EvFrequency`, `EvString`, `EvStack`) for the
/// events [`encode`] writes. It does not order or validate events (that
/// is [`Trace::check`]'s job, and `go tool trace`'s): it lets a test count
/// what a trace says.
pub fn decode(b: &[u8]) -> Result<Decoded, String> {
    if b.len() < 16 || &b[..16] != HEADER {
        return Err("not a go 1.19 trace".into());
    }
    let mut pos = 16;
    let uleb = |pos: &mut usize| -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*pos).ok_or("truncated trace")?;
            *pos += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("ULEB128 overflow".into())
    };
    let mut d = Decoded::default();
    let mut strings: HashMap<u64, String> = HashMap::new();
    let mut raw_stacks: Vec<(u64, Vec<u64>)> = Vec::new();
    let (mut p, mut last) = (0u64, 0u64);
    while pos < b.len() {
        let head = b[pos];
        pos += 1;
        let (ty, narg) = (head & 0x3f, head >> 6);
        if ty == ev::STRING {
            let id = uleb(&mut pos)?;
            let len = uleb(&mut pos)? as usize;
            let s = b.get(pos..pos + len).ok_or("truncated string")?;
            strings.insert(id, String::from_utf8_lossy(s).into_owned());
            pos += len;
            continue;
        }
        let mut args = Vec::new();
        if narg == 3 {
            let len = uleb(&mut pos)? as usize;
            let end = pos + len;
            while pos < end {
                args.push(uleb(&mut pos)?);
            }
        } else {
            for _ in 0..=narg {
                args.push(uleb(&mut pos)?);
            }
        }
        match ty {
            ev::BATCH => {
                p = args[0];
                last = *args.get(1).ok_or("short batch")?;
            }
            ev::FREQUENCY => d.frequency = args[0],
            ev::STACK => {
                let id = args[0];
                raw_stacks.push((id, args[2..].to_vec()));
            }
            _ => {
                last += args[0];
                d.events.push(RawEvent {
                    ty,
                    p,
                    ts: last,
                    args: args[1..].to_vec(),
                });
            }
        }
    }
    for (id, words) in raw_stacks {
        let frames = words
            .chunks(4)
            .filter(|c| c.len() == 4)
            .map(|c| {
                let name = |i: u64| strings.get(&i).cloned().unwrap_or_default();
                (c[0], name(c[1]), name(c[2]), c[3])
            })
            .collect();
        d.stacks.insert(id, frames);
    }
    d.strings = strings;
    Ok(d)
}
