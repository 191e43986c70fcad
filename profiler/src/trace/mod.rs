//! Execution traces: a simple event model, checked against the rules of
//! Go's trace parser, and two writers — Go's v1 binary format
//! ([`v1`], for `go tool trace`) and Chrome Trace Event JSON ([`json`], for
//! Perfetto and chrome://tracing, in the layout of `go tool trace`'s viewer).
//!
//! See [crate] for the overview.
//!
//! # The model
//!
//! A [`Trace`] is a list of [`TraceEvent`]s — a timestamp in nanoseconds,
//! the P that recorded it, and an [`EventKind`] — plus a [`StackTable`]
//! that interns stacks to nonzero [`StackId`]s (0 means "no stack"). This
//! is what a recorder (the scheduler's and collector's hooks, later) fills,
//! P by P; the writers never need anything else.
//!
//! As in Go, the goroutine an event belongs to is **implicit**: it is the
//! goroutine most recently started on that P ([`EventKind::GoStart`]) and
//! not yet stopped (`GoEnd`, `GoStop`, `GoSched`, `GoPreempt`, `GoSleep`,
//! `GoBlock`); with none, the event belongs to "G0", the scheduler itself.
//!
//! A trace that starts while the program runs must first describe the
//! goroutines that already exist, as Go's `StartTrace` does: a `GoCreate`
//! for each (with its start function as a one-frame stack), then
//! `GoWaiting` for the blocked ones, `GoInSyscall` for those in a system
//! call and `GoStart` for the running ones.
//!
//! # The rules (Go 1.19 `internal/trace`: `order.go`, `parser.go` `postProcessTrace`)
//!
//! [`Trace::check`] replays the events in time order and enforces what Go's
//! parser enforces, so a trace that passes here parses there:
//!
//! 1. A P is started (`ProcStart`) before anything runs on it, and stopped
//!    (`ProcStop`) only when no goroutine runs on it.
//! 2. A goroutine is created once (`GoCreate`, by whatever runs on the P),
//!    is then *runnable*; `GoStart` makes it *running* on a P that runs no
//!    other goroutine; `GoSched`/`GoPreempt` make it runnable again;
//!    `GoBlock`/`GoSleep`/`GoWaiting` make it *waiting*; `GoUnblock` (by
//!    the goroutine running on the unblocking P, or G0) makes a waiting one
//!    runnable; `GoEnd`/`GoStop` end it.
//! 3. GC cycles (`GcStart`/`GcDone`) and stop-the-world phases
//!    (`StwStart`/`StwDone`) do not nest; sweeps (`SweepStart`/`SweepDone`)
//!    do not nest per P.
//! 4. The v1 writer derives the per-goroutine sequence numbers Go's merge
//!    uses (`GoStart`/`GoUnblock` carry `seq`, bumped each time) and the GC
//!    sequence (from 0), so the producer never deals with them.
//!
//! The replay order is the one Go's parser computes
//! ([`Trace::merge_order`]): per-P sequences merged by timestamp, where a
//! goroutine's transitions (create → start → block → unblock → start …)
//! may not overtake each other. Equal timestamps on different Ps are
//! therefore fine for goroutine events; events linked only by time (a GC
//! started on one P and finished on another) need distinct timestamps.

pub mod json;
pub mod v1;

use std::collections::{HashMap, HashSet};

use crate::stack::Frame;

/// Goroutine id (Go's goid; 0 is the scheduler, "G0").
pub type GoId = u64;
/// Interned stack id; 0 means no stack.
pub type StackId = u64;

/// Interns stacks (leaf first) to ids 1, 2, 3, …
#[derive(Clone, Debug, Default)]
pub struct StackTable {
    ids: HashMap<Vec<Frame>, StackId>,
    stacks: Vec<Vec<Frame>>,
}

impl StackTable {
    /// The id of `stack`, adding it if new; an empty stack is id 0.
    pub fn intern(&mut self, stack: &[Frame]) -> StackId {
        if stack.is_empty() {
            return 0;
        }
        if let Some(&id) = self.ids.get(stack) {
            return id;
        }
        self.stacks.push(stack.to_vec());
        let id = self.stacks.len() as StackId;
        self.ids.insert(stack.to_vec(), id);
        id
    }

    /// The stack with this id (empty for 0 or unknown ids).
    pub fn get(&self, id: StackId) -> &[Frame] {
        if id == 0 {
            return &[];
        }
        self.stacks
            .get(id as usize - 1)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// All stacks with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (StackId, &[Frame])> {
        self.stacks
            .iter()
            .enumerate()
            .map(|(i, s)| (i as StackId + 1, s.as_slice()))
    }
}

/// Why a goroutine blocked (Go's `GoBlock*` event family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// Unspecified (`GoBlock`).
    Other,
    /// Channel send (`GoBlockSend`).
    Send,
    /// Channel receive (`GoBlockRecv`).
    Recv,
    /// `select` (`GoBlockSelect`).
    Select,
    /// Mutex or other sync primitive (`GoBlockSync`).
    Sync,
    /// Condition variable (`GoBlockCond`).
    Cond,
    /// Network poller (`GoBlockNet`).
    Net,
    /// Waiting for a GC cycle or assist (`GoBlockGC`).
    Gc,
}

impl BlockReason {
    /// Go's event name.
    pub fn name(self) -> &'static str {
        match self {
            BlockReason::Other => "GoBlock",
            BlockReason::Send => "GoBlockSend",
            BlockReason::Recv => "GoBlockRecv",
            BlockReason::Select => "GoBlockSelect",
            BlockReason::Sync => "GoBlockSync",
            BlockReason::Cond => "GoBlockCond",
            BlockReason::Net => "GoBlockNet",
            BlockReason::Gc => "GoBlockGC",
        }
    }
}

/// Which stop-the-world phase (Go's `STWStart` kind argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StwKind {
    /// Mark termination (kind 0).
    MarkTermination,
    /// Sweep termination (kind 1).
    SweepTermination,
}

impl StwKind {
    /// Go's kind string.
    pub fn name(self) -> &'static str {
        match self {
            StwKind::MarkTermination => "mark termination",
            StwKind::SweepTermination => "sweep termination",
        }
    }
}

/// What happened. "Current G" is the goroutine running on the event's P.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// GOMAXPROCS is (now) `procs`.
    Gomaxprocs {
        /// The new GOMAXPROCS.
        procs: u64,
        /// Where it was set.
        stack: StackId,
    },
    /// The P starts running on OS thread `thread`.
    ProcStart {
        /// OS thread (M) id.
        thread: u64,
    },
    /// The P stops (no goroutine may be running on it).
    ProcStop,
    /// The current G creates goroutine `g`.
    GoCreate {
        /// The new goroutine.
        g: GoId,
        /// The new goroutine's start function (a one-frame stack; required).
        start: StackId,
        /// The creator's stack at the `go` statement.
        stack: StackId,
    },
    /// Goroutine `g` starts running on this P.
    GoStart {
        /// The goroutine.
        g: GoId,
    },
    /// Goroutine `g` starts running on this P as what label `label` names
    /// (Go's mark workers: `GC (dedicated)`, `GC (fractional)`,
    /// `GC (idle)`); a [`Trace::label`] id.
    GoStartLabel {
        /// The goroutine.
        g: GoId,
        /// The label's id.
        label: u64,
    },
    /// The current G exits.
    GoEnd,
    /// The current G stops for good (e.g. at trace end).
    GoStop {
        /// Where.
        stack: StackId,
    },
    /// The current G yields (`gosched`); it stays runnable.
    GoSched {
        /// Where.
        stack: StackId,
    },
    /// The current G is preempted; it stays runnable.
    GoPreempt {
        /// Where.
        stack: StackId,
    },
    /// The current G sleeps (`sleep`); it is waiting until unblocked.
    GoSleep {
        /// Where.
        stack: StackId,
    },
    /// The current G blocks.
    GoBlock {
        /// On what.
        reason: BlockReason,
        /// Where.
        stack: StackId,
    },
    /// The current G (or G0) makes waiting goroutine `g` runnable.
    GoUnblock {
        /// The goroutine woken.
        g: GoId,
        /// The waker's stack.
        stack: StackId,
    },
    /// The current G enters a blocking system call; it keeps running until
    /// `GoSysBlock` (its P was taken) or its next event.
    GoSysCall {
        /// Where.
        stack: StackId,
    },
    /// The current G, in a system call, loses its P: it is waiting (for
    /// the call to return) until `GoSysExit`.
    GoSysBlock,
    /// Goroutine `g`, which lost its P in a system call, is back and
    /// runnable (a `GoStart` on its new P follows).
    GoSysExit {
        /// The goroutine.
        g: GoId,
    },
    /// The current G starts a mark assist (it does the collector's work in
    /// proportion to what it allocates).
    GcMarkAssistStart {
        /// Where.
        stack: StackId,
    },
    /// The current G's mark assist ends.
    GcMarkAssistDone,
    /// At trace start, already-created goroutine `g` was waiting.
    GoWaiting {
        /// The goroutine.
        g: GoId,
    },
    /// At trace start, already-created goroutine `g` was in a system call
    /// (running without a P): waiting, as after `GoSysBlock`, until its
    /// `GoSysExit`. (gort's runtime writes such a goroutine as runnable
    /// instead: the newer Go's viewer keeps it on the P this event is
    /// written on, and panics when that P stops.)
    GoInSyscall {
        /// The goroutine.
        g: GoId,
    },
    /// A GC cycle starts (sweep termination begins).
    GcStart {
        /// The stack that triggered it.
        stack: StackId,
    },
    /// The GC cycle ends (mark termination done).
    GcDone,
    /// The world stops.
    StwStart {
        /// Which phase.
        kind: StwKind,
    },
    /// The world restarts.
    StwDone,
    /// This P starts sweeping.
    SweepStart {
        /// Where.
        stack: StackId,
    },
    /// This P stops sweeping.
    SweepDone {
        /// Bytes swept.
        swept: u64,
        /// Bytes reclaimed.
        reclaimed: u64,
    },
    /// The live heap is now `bytes`.
    HeapAlloc {
        /// Heap bytes.
        bytes: u64,
    },
    /// The heap goal is now `bytes`.
    HeapGoal {
        /// Goal bytes.
        bytes: u64,
    },
}

impl EventKind {
    /// Go's name for the event (as `go tool trace -d` prints it).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Gomaxprocs { .. } => "Gomaxprocs",
            EventKind::ProcStart { .. } => "ProcStart",
            EventKind::ProcStop => "ProcStop",
            EventKind::GoCreate { .. } => "GoCreate",
            EventKind::GoStart { .. } => "GoStart",
            EventKind::GoStartLabel { .. } => "GoStartLabel",
            EventKind::GoEnd => "GoEnd",
            EventKind::GoStop { .. } => "GoStop",
            EventKind::GoSched { .. } => "GoSched",
            EventKind::GoPreempt { .. } => "GoPreempt",
            EventKind::GoSleep { .. } => "GoSleep",
            EventKind::GoBlock { reason, .. } => reason.name(),
            EventKind::GoUnblock { .. } => "GoUnblock",
            EventKind::GoSysCall { .. } => "GoSysCall",
            EventKind::GoSysBlock => "GoSysBlock",
            EventKind::GoSysExit { .. } => "GoSysExit",
            EventKind::GcMarkAssistStart { .. } => "GCMarkAssistStart",
            EventKind::GcMarkAssistDone => "GCMarkAssistDone",
            EventKind::GoWaiting { .. } => "GoWaiting",
            EventKind::GoInSyscall { .. } => "GoInSyscall",
            EventKind::GcStart { .. } => "GCStart",
            EventKind::GcDone => "GCDone",
            EventKind::StwStart { .. } => "GCSTWStart",
            EventKind::StwDone => "GCSTWDone",
            EventKind::SweepStart { .. } => "GCSweepStart",
            EventKind::SweepDone { .. } => "GCSweepDone",
            EventKind::HeapAlloc { .. } => "HeapAlloc",
            EventKind::HeapGoal { .. } => "HeapGoal",
        }
    }
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Nanoseconds on a monotonic clock (any origin).
    pub ts: u64,
    /// The P that recorded it.
    pub p: u32,
    /// What happened.
    pub kind: EventKind,
}

/// A recorded execution trace: events and the stacks they refer to.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// All events, in any order across Ps; per P they must be in time order
    /// (the order a P's buffer records them).
    pub events: Vec<TraceEvent>,
    /// Stacks referenced by the events.
    pub stacks: StackTable,
    /// Labels of `GoStartLabel` events; label id `i + 1` is `labels[i]`.
    pub labels: Vec<String>,
}

/// Goroutine states the checker tracks (Go's `gRunnable`, `gRunning`,
/// `gWaiting`, `gDead` in `postProcessTrace`).
///
/// Allowed transitions (the event that makes each):
///
/// * (not yet created) → `Runnable`: `GoCreate`
/// * `Runnable` → `Running`: `GoStart`
/// * `Runnable` → `Waiting`: `GoWaiting`, `GoInSyscall` (only right after
///   `GoCreate`)
/// * `Running` → `Runnable`: `GoSched`, `GoPreempt`
/// * `Running` → `Waiting`: `GoBlock`, `GoSleep`
/// * `Running` → `Dead`: `GoEnd`, `GoStop`
/// * `Waiting` → `Runnable`: `GoUnblock`, or `GoSysExit` for a goroutine
///   in a system call (after `GoSysBlock` or `GoInSyscall`)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GState {
    /// Running on a P; that P's events belong to it.
    Running,
    /// Ready to run, on no P.
    Runnable,
    /// Blocked, sleeping, or waiting since trace start; only a `GoUnblock` moves it.
    Waiting,
    /// Ended; its id is never reused.
    Dead,
}

impl GState {
    /// The state's name, as traces and messages print it.
    pub fn name(self) -> &'static str {
        match self {
            GState::Running => "running",
            GState::Runnable => "runnable",
            GState::Waiting => "waiting",
            GState::Dead => "dead",
        }
    }
}

/// Where Go's parser stands after some events: what [`Trace::merge_order_from`]
/// and [`Trace::checked_order_from`] start from and leave behind, so a
/// trace written in parts ([`v1::StreamWriter`]) is merged and checked as
/// Go's parser will read it, whole. A fresh (default) state is the start
/// of a trace.
#[derive(Clone, Debug, Default)]
pub struct ParseState {
    /// The merge's view (`order.go`): per goroutine, its sequence number
    /// and state.
    merge: HashMap<GoId, (u64, GState)>,
    /// The merge's current goroutine per P (the G of block/sched events).
    merge_cur: HashMap<u32, GoId>,
    /// The last merged event's time.
    last_ts: u64,
    /// The checker's view (`postProcessTrace`): goroutine states.
    gs: HashMap<GoId, GState>,
    /// The goroutine running on each P (absent: G0).
    running_on: HashMap<u32, GoId>,
    /// The waiting goroutines that wait in a system call (`GoSysBlock`,
    /// `GoInSyscall`): only they may `GoSysExit`.
    in_syscall: HashSet<GoId>,
    /// Whether each P is started.
    p_running: HashMap<u32, bool>,
    /// Whether each P is sweeping.
    sweeping: HashMap<u32, bool>,
    in_gc: bool,
    in_stw: bool,
    /// Each P's last event time.
    last_ts_per_p: HashMap<u32, u64>,
}

impl ParseState {
    /// Every goroutine's state so far (the checker's view).
    pub fn goroutines(&self) -> &HashMap<GoId, GState> {
        &self.gs
    }
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Intern a stack (leaf first).
    pub fn stack(&mut self, frames: &[Frame]) -> StackId {
        self.stacks.intern(frames)
    }

    /// Intern a `GoStartLabel` label: its id (1, 2, …; the v1 writer
    /// gives labels the first string ids).
    pub fn label(&mut self, s: &str) -> u64 {
        let i = match self.labels.iter().position(|l| l == s) {
            Some(i) => i,
            None => {
                self.labels.push(s.to_string());
                self.labels.len() - 1
            }
        };
        i as u64 + 1
    }

    /// Record an event.
    pub fn push(&mut self, ts: u64, p: u32, kind: EventKind) {
        self.events.push(TraceEvent { ts, p, kind });
    }

    /// Indices of the events in replay order: Go's merge of the per-P
    /// sequences ([`Trace::merge_order`]), or plain timestamp order if no
    /// consistent merge exists (which [`Trace::check`] reports).
    pub fn ordered_indices(&self) -> Vec<usize> {
        self.merge_order().unwrap_or_else(|_| {
            let mut v: Vec<usize> = (0..self.events.len()).collect();
            v.sort_by_key(|&i| self.events[i].ts);
            v
        })
    }

    /// Merge the per-P event sequences the way Go's parser does
    /// (`order.go` `order1007`): repeatedly take, among the first unmerged
    /// event of every P, those whose goroutine dependencies are satisfied
    /// — `GoStart` needs its goroutine runnable, `GoUnblock` needs it
    /// waiting, block/sched events need it running, `GoWaiting` needs it
    /// freshly created — and merge the one with the lowest timestamp (ties
    /// by P). Fails if no event is ready (Go: "no consistent ordering of
    /// events possible") or if the result is not in time order (Go: "time
    /// stamps out of order").
    pub fn merge_order(&self) -> Result<Vec<usize>, String> {
        self.merge_order_from(&mut ParseState::default())
    }

    /// [`Trace::merge_order`] of events that continue a trace whose
    /// earlier events left `st` (updated to include these).
    pub fn merge_order_from(&self, st: &mut ParseState) -> Result<Vec<usize>, String> {
        use std::collections::BTreeMap;
        use std::collections::VecDeque;
        // Per-P sequences in recording order.
        let mut per_p: BTreeMap<u32, VecDeque<usize>> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            per_p.entry(e.p).or_default().push_back(i);
        }
        // Each event's goroutine dependency, computed once: (dense goroutine
        // index, the state it needs — None: not yet created —, the state it
        // leaves). The G of block/sched events is implicit: the goroutine
        // last started on that P.
        let mut dense: HashMap<GoId, u32> = HashMap::new();
        let mut index = |g: GoId| -> u32 {
            let n = dense.len() as u32;
            *dense.entry(g).or_insert(n)
        };
        type Dep = Option<(u32, Option<GState>, GState)>;
        let mut deps: Vec<Dep> = vec![None; self.events.len()];
        for (p, seq) in &per_p {
            let mut cur = st.merge_cur.get(p).copied().unwrap_or(0);
            for &i in seq {
                let dep = match &self.events[i].kind {
                    EventKind::GoCreate { g, .. } => Some((*g, None, GState::Runnable)),
                    EventKind::GoWaiting { g } | EventKind::GoInSyscall { g } => {
                        Some((*g, Some(GState::Runnable), GState::Waiting))
                    }
                    EventKind::GoStart { g } | EventKind::GoStartLabel { g, .. } => {
                        cur = *g;
                        Some((*g, Some(GState::Runnable), GState::Running))
                    }
                    EventKind::GoUnblock { g, .. } | EventKind::GoSysExit { g } => {
                        Some((*g, Some(GState::Waiting), GState::Runnable))
                    }
                    EventKind::GoSched { .. } | EventKind::GoPreempt { .. } => {
                        let g = std::mem::take(&mut cur);
                        Some((g, Some(GState::Running), GState::Runnable))
                    }
                    EventKind::GoSleep { .. }
                    | EventKind::GoBlock { .. }
                    | EventKind::GoSysBlock => {
                        let g = std::mem::take(&mut cur);
                        Some((g, Some(GState::Running), GState::Waiting))
                    }
                    EventKind::GoEnd | EventKind::GoStop { .. } => {
                        cur = 0;
                        None // unordered in Go's merge too
                    }
                    _ => None,
                };
                deps[i] = dep.map(|(g, need, next)| (index(g), need, next));
            }
            st.merge_cur.insert(*p, cur);
        }
        // Go's order state per goroutine: (sequence number, status); None = not created.
        let mut gs: Vec<Option<(u64, GState)>> = vec![None; dense.len()];
        for (g, &i) in &dense {
            gs[i as usize] = st.merge.get(g).copied();
        }
        let mut out = Vec::with_capacity(self.events.len());
        let mut last_ts = st.last_ts;
        while out.len() < self.events.len() {
            let mut best: Option<(u64, u32, usize)> = None;
            for (&p, seq) in &per_p {
                let Some(&i) = seq.front() else { continue };
                let ready = match deps[i] {
                    None => true,
                    Some((g, None, _)) => gs[g as usize].is_none(),
                    // Go: GoWaiting "is implied to have seq=1", i.e. it only
                    // follows the goroutine's creation.
                    Some((g, Some(GState::Runnable), GState::Waiting)) => {
                        gs[g as usize] == Some((1, GState::Runnable))
                    }
                    Some((g, Some(need), _)) => gs[g as usize].map(|s| s.1) == Some(need),
                };
                let ts = self.events[i].ts;
                if ready && best.is_none_or(|b| (ts, p) < (b.0, b.1)) {
                    best = Some((ts, p, i));
                }
            }
            let Some((ts, p, i)) = best else {
                let fronts: Vec<String> = per_p
                    .iter()
                    .filter_map(|(p, q)| {
                        q.front().map(|&i| {
                            format!(
                                "P{p}: {} at {}",
                                self.events[i].kind.name(),
                                self.events[i].ts
                            )
                        })
                    })
                    .collect();
                return Err(format!(
                    "no consistent ordering of events possible (waiting: {})",
                    fronts.join(", ")
                ));
            };
            if ts < last_ts {
                return Err(format!(
                    "time stamps out of order: {} on P {p} at {ts} must follow an event at {last_ts}",
                    self.events[i].kind.name()
                ));
            }
            last_ts = ts;
            if let Some((g, need, next)) = deps[i] {
                let seq = gs[g as usize].map_or(0, |s| s.0);
                // GoCreate starts at 1; GoStart, GoUnblock and GoWaiting bump it.
                let seq = match (need, next) {
                    (None, _) => 1,
                    (Some(GState::Runnable), GState::Running)
                    | (Some(GState::Waiting), GState::Runnable)
                    | (Some(GState::Runnable), GState::Waiting) => seq + 1,
                    _ => seq,
                };
                gs[g as usize] = Some((seq, next));
            }
            per_p.get_mut(&p).expect("P has events").pop_front();
            out.push(i);
        }
        st.last_ts = last_ts;
        for (g, i) in dense {
            if let Some(s) = gs[i as usize] {
                st.merge.insert(g, s);
            }
        }
        Ok(out)
    }

    /// Events in replay order (see [`Trace::ordered_indices`]).
    pub fn ordered(&self) -> Vec<&TraceEvent> {
        self.ordered_indices()
            .into_iter()
            .map(|i| &self.events[i])
            .collect()
    }

    /// Replay the trace and enforce Go's parser rules (see the module doc).
    /// On success, returns the final state of every goroutine.
    pub fn check(&self) -> Result<HashMap<GoId, GState>, String> {
        self.checked_order().map(|(_, gs)| gs)
    }

    /// [`Trace::check`], also returning the replay order (so the writers
    /// merge only once).
    pub fn checked_order(&self) -> Result<(Vec<usize>, HashMap<GoId, GState>), String> {
        let mut st = ParseState::default();
        let order = self.checked_order_from(&mut st)?;
        Ok((order, st.gs))
    }

    /// [`Trace::checked_order`] of events that continue a trace whose
    /// earlier events left `st` (updated to include these; its goroutine
    /// states are [`ParseState::goroutines`]).
    pub fn checked_order_from(&self, st: &mut ParseState) -> Result<Vec<usize>, String> {
        for e in &self.events {
            let last = st.last_ts_per_p.entry(e.p).or_insert(0);
            if e.ts < *last {
                return Err(format!(
                    "P {} records {} at {} before its previous event at {}",
                    e.p,
                    e.kind.name(),
                    e.ts,
                    last
                ));
            }
            *last = e.ts;
        }
        let order = self.merge_order_from(st)?;
        let ParseState {
            gs,
            running_on,
            in_syscall,
            p_running,
            sweeping,
            in_gc,
            in_stw,
            ..
        } = st;
        for e in order.iter().map(|&i| &self.events[i]) {
            let cur = running_on.get(&e.p).copied().unwrap_or(0);
            let err = |m: &str| {
                Err(format!(
                    "{} at ts {} on P {}: {}",
                    e.kind.name(),
                    e.ts,
                    e.p,
                    m
                ))
            };
            let p_up = p_running.get(&e.p).copied().unwrap_or(false);
            match &e.kind {
                EventKind::ProcStart { .. } => {
                    if p_up {
                        return err("P already running");
                    }
                    p_running.insert(e.p, true);
                }
                EventKind::ProcStop => {
                    if !p_up {
                        return err("P not running");
                    }
                    if cur != 0 {
                        return err(&format!("P still runs G{cur}"));
                    }
                    p_running.insert(e.p, false);
                }
                EventKind::GoCreate { g, start, .. } => {
                    if *g == 0 || gs.contains_key(g) {
                        return err(&format!("G{g} already exists"));
                    }
                    // go tool trace's viewer names goroutines after their
                    // start function and rejects a creation without one.
                    if self.stacks.get(*start).is_empty() {
                        return err(&format!("G{g} has no start stack"));
                    }
                    gs.insert(*g, GState::Runnable);
                }
                EventKind::GoStart { g } | EventKind::GoStartLabel { g, .. } => {
                    if !p_up {
                        return err("P not running");
                    }
                    if cur != 0 {
                        return err(&format!("P already runs G{cur}"));
                    }
                    if gs.get(g) != Some(&GState::Runnable) {
                        return err(&format!("G{g} is not runnable"));
                    }
                    gs.insert(*g, GState::Running);
                    running_on.insert(e.p, *g);
                }
                EventKind::GoEnd
                | EventKind::GoStop { .. }
                | EventKind::GoSched { .. }
                | EventKind::GoPreempt { .. }
                | EventKind::GoSleep { .. }
                | EventKind::GoBlock { .. }
                | EventKind::GoSysBlock => {
                    if cur == 0 {
                        return err("no goroutine running on this P");
                    }
                    let next = match e.kind {
                        EventKind::GoEnd | EventKind::GoStop { .. } => GState::Dead,
                        EventKind::GoSched { .. } | EventKind::GoPreempt { .. } => GState::Runnable,
                        _ => GState::Waiting,
                    };
                    if e.kind == EventKind::GoSysBlock {
                        in_syscall.insert(cur);
                    }
                    gs.insert(cur, next);
                    running_on.remove(&e.p);
                }
                EventKind::GoUnblock { g, .. } => {
                    if gs.get(g) != Some(&GState::Waiting) {
                        return err(&format!("G{g} is not waiting"));
                    }
                    // Go's runtime ends a system call only with GoSysExit;
                    // Go 1.19's viewer would count it in one for good.
                    if in_syscall.contains(g) {
                        return err(&format!("G{g} is in a system call"));
                    }
                    gs.insert(*g, GState::Runnable);
                }
                EventKind::GoSysExit { g } => {
                    if gs.get(g) != Some(&GState::Waiting) {
                        return err(&format!("G{g} is not waiting"));
                    }
                    // Go's parser takes any waiting goroutine here, but Go
                    // 1.19's viewer counts the goroutines in system calls
                    // (+1 at GoSysBlock and GoInSyscall, -1 at GoSysExit)
                    // and rejects a trace that takes it below zero.
                    if !in_syscall.remove(g) {
                        return err(&format!(
                            "G{g} is not in a system call (no GoSysBlock or GoInSyscall)"
                        ));
                    }
                    gs.insert(*g, GState::Runnable);
                }
                EventKind::GoSysCall { .. } | EventKind::GcMarkAssistStart { .. } => {
                    if cur == 0 {
                        return err("no goroutine running on this P");
                    }
                }
                EventKind::GcMarkAssistDone => {}
                EventKind::GoWaiting { g } | EventKind::GoInSyscall { g } => {
                    if gs.get(g) != Some(&GState::Runnable) {
                        return err(&format!("G{g} is not runnable"));
                    }
                    if matches!(e.kind, EventKind::GoInSyscall { .. }) {
                        in_syscall.insert(*g);
                    }
                    gs.insert(*g, GState::Waiting);
                }
                EventKind::GcStart { .. } => {
                    if *in_gc {
                        return err("previous GC not done");
                    }
                    *in_gc = true;
                }
                EventKind::GcDone => {
                    if !*in_gc {
                        return err("no GC in progress");
                    }
                    *in_gc = false;
                }
                EventKind::StwStart { .. } => {
                    if *in_stw {
                        return err("previous STW not done");
                    }
                    *in_stw = true;
                }
                EventKind::StwDone => {
                    if !*in_stw {
                        return err("no STW in progress");
                    }
                    *in_stw = false;
                }
                EventKind::SweepStart { .. } => {
                    if sweeping.insert(e.p, true) == Some(true) {
                        return err("previous sweep on this P not done");
                    }
                }
                EventKind::SweepDone { .. } => {
                    if sweeping.insert(e.p, false) != Some(true) {
                        return err("no sweep in progress on this P");
                    }
                }
                EventKind::Gomaxprocs { .. }
                | EventKind::HeapAlloc { .. }
                | EventKind::HeapGoal { .. } => {}
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Frame {
        Frame::new(name, "/src/t.go", 7, 0x1001, 0x1000)
    }

    fn base() -> Trace {
        let mut t = Trace::new();
        let s = t.stack(&[f("main.main")]);
        t.push(10, 0, EventKind::ProcStart { thread: 1 });
        t.push(
            20,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        t.push(30, 0, EventKind::GoStart { g: 1 });
        t
    }

    #[test]
    fn check_accepts_a_consistent_history() {
        let mut t = base();
        let s = t.stack(&[f("main.worker"), f("main.main")]);
        t.push(
            40,
            0,
            EventKind::GoCreate {
                g: 2,
                start: s,
                stack: s,
            },
        );
        t.push(
            50,
            0,
            EventKind::GoBlock {
                reason: BlockReason::Recv,
                stack: s,
            },
        );
        t.push(60, 0, EventKind::GoStart { g: 2 });
        t.push(70, 0, EventKind::GoUnblock { g: 1, stack: s });
        t.push(80, 0, EventKind::GoEnd);
        t.push(90, 0, EventKind::GoStart { g: 1 });
        let gs = t.check().unwrap();
        assert_eq!(gs[&1], GState::Running);
        assert_eq!(gs[&2], GState::Dead);
        assert_eq!(t.stacks.intern(&[f("main.main")]), 1, "interning is stable");
    }

    #[test]
    fn check_rejects_what_go_rejects() {
        let cases: Vec<(EventKind, &str)> = vec![
            // goroutine transitions that cannot happen: Go's merge finds no order
            (
                EventKind::GoStart { g: 1 },
                "no consistent ordering of events possible",
            ),
            (
                EventKind::GoUnblock { g: 1, stack: 0 },
                "no consistent ordering of events possible",
            ),
            (EventKind::ProcStop, "P still runs G1"),
            (EventKind::ProcStart { thread: 2 }, "P already running"),
            (EventKind::GcDone, "no GC in progress"),
            (
                EventKind::SweepDone {
                    swept: 0,
                    reclaimed: 0,
                },
                "no sweep in progress",
            ),
            (
                EventKind::GoCreate {
                    g: 1,
                    start: 0,
                    stack: 0,
                },
                "no consistent ordering of events possible",
            ),
        ];
        for (kind, msg) in cases {
            let mut t = base();
            t.push(40, 0, kind);
            let err = t.check().unwrap_err();
            assert!(err.contains(msg), "{err} should contain {msg}");
            assert!(
                v1::encode(&t).is_err(),
                "the v1 writer refuses invalid traces"
            );
        }
        let mut t = base();
        t.push(5, 0, EventKind::GoEnd);
        assert!(t.check().unwrap_err().contains("before its previous event"));
        // a second runnable goroutine started on a P that is busy
        let mut t = base();
        let s = t.stack(&[f("main.worker")]);
        t.push(
            40,
            0,
            EventKind::GoCreate {
                g: 2,
                start: s,
                stack: 0,
            },
        );
        t.push(50, 0, EventKind::GoStart { g: 2 });
        assert!(t.check().unwrap_err().contains("P already runs G1"));
        // a goroutine created without a start function
        let mut t = base();
        t.push(
            40,
            0,
            EventKind::GoCreate {
                g: 2,
                start: 0,
                stack: 0,
            },
        );
        assert!(t.check().unwrap_err().contains("G2 has no start stack"));
        // an unblock recorded on P1 before the block on P0 it answers: the
        // only consistent order contradicts the timestamps
        let mut t = base();
        t.push(40, 1, EventKind::ProcStart { thread: 2 });
        t.push(50, 1, EventKind::GoUnblock { g: 1, stack: 0 });
        t.push(
            60,
            0,
            EventKind::GoBlock {
                reason: BlockReason::Recv,
                stack: 0,
            },
        );
        assert!(t.check().unwrap_err().contains("time stamps out of order"));
    }

    #[test]
    fn a_trace_written_in_parts_continues_where_the_last_part_ended() {
        // Part 1: G1 created and started. Part 2: it blocks, G2 starts on
        // P1 and unblocks it: the seq of GoUnblock continues from part 1.
        let mut t = base();
        let mut w = v1::StreamWriter::new();
        let mut out = Vec::new();
        w.write_events(&mut t, &mut out).unwrap();
        assert!(t.events.is_empty(), "written events are taken out");
        let s = t.stack(&[f("main.worker")]);
        t.push(
            40,
            0,
            EventKind::GoBlock {
                reason: BlockReason::Recv,
                stack: 0,
            },
        );
        t.push(50, 1, EventKind::ProcStart { thread: 2 });
        t.push(
            60,
            1,
            EventKind::GoCreate {
                g: 2,
                start: s,
                stack: 0,
            },
        );
        t.push(70, 1, EventKind::GoStart { g: 2 });
        t.push(80, 1, EventKind::GoUnblock { g: 1, stack: 0 });
        w.finish(&mut t, &mut out).unwrap();
        assert_eq!(w.goroutines()[&1], GState::Runnable);
        assert_eq!(w.goroutines()[&2], GState::Running);
        assert_eq!(&out[..16], v1::HEADER);
        // P0's second batch: EvBatch(p=0, ticks=40), GoBlockRecv(dt 0, stack 0).
        let batch = out
            .windows(5)
            .position(|b| b == [0x41, 0, 40, 23 | 0x40, 0]);
        assert!(batch.is_some(), "{out:?}");
        // GoUnblock(dt=10, g=1, seq=2, stack 0): G1's seq went 1 (start) -> 2.
        let unblock = [21 | 0xc0, 4, 10, 1, 2, 0];
        assert!(out.windows(6).any(|b| b == unblock), "{out:?}");

        // A part that does not follow from the last one is refused.
        let mut t = base();
        let mut w = v1::StreamWriter::new();
        w.write_events(&mut t, std::io::sink()).unwrap();
        t.push(90, 0, EventKind::GoStart { g: 1 }); // G1 is running already
        let e = w.write_events(&mut t, std::io::sink()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn v1_bytes_follow_go_encoding() {
        let t = base();
        let b = v1::encode(&t).unwrap();
        assert_eq!(&b[..16], b"go 1.19 trace\0\0\0");
        // EvBatch(p=0, ticks=10): type 1 with 2 args -> 1 | 1<<6
        assert_eq!(&b[16..19], &[0x41, 0, 10]);
        // ProcStart(dt=0, thread=1): 5 | 1<<6
        assert_eq!(&b[19..22], &[0x45, 0, 1]);
        // GoCreate(dt=10, g=1, start=1, stack=0): 4 args -> 13 | 3<<6, length 4
        assert_eq!(&b[22..28], &[13 | 0xc0, 4, 10, 1, 1, 0]);
        // GoStart(dt=10, g=1, seq=1): 14 | 2<<6
        assert_eq!(&b[28..32], &[14 | 0x80, 10, 1, 1]);
        // Frequency(1e9): 2 | 0<<6, ULEB128(1_000_000_000)
        assert_eq!(&b[32..38], &[2, 0x80, 0x94, 0xeb, 0xdc, 0x03]);
        // strings: "main.main" id 1, "/src/t.go" id 2
        assert_eq!(&b[38..41], &[37, 1, 9]);
        assert_eq!(&b[41..50], b"main.main");
        assert_eq!(&b[50..53], &[37, 2, 9]);
        // stack 1: [id 1, n 1, pc 0x1000, fn 1, file 2, line 7], length-prefixed
        let tail = &b[62..];
        assert_eq!(tail, &[3 | 0xc0, 7, 1, 1, 0x80, 0x20, 1, 2, 7]);
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    /// Equal timestamps on two Ps: the merge follows the goroutine's
    /// transitions, not the recording order of the events.
    #[test]
    fn ties_are_resolved_by_goroutine_transitions() {
        let mut t = Trace::new();
        let s = t.stack(&[Frame::new("main.main", "/m.go", 1, 0x1001, 0x1000)]);
        // P1's events are recorded first, and its unblock has the same
        // timestamp as P0's block: only block-then-unblock is consistent.
        t.push(10, 1, EventKind::ProcStart { thread: 2 });
        t.push(30, 1, EventKind::GoUnblock { g: 1, stack: 0 });
        t.push(30, 1, EventKind::GoStart { g: 1 });
        t.push(5, 0, EventKind::ProcStart { thread: 1 });
        t.push(
            6,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        t.push(7, 0, EventKind::GoStart { g: 1 });
        t.push(
            30,
            0,
            EventKind::GoBlock {
                reason: BlockReason::Sync,
                stack: 0,
            },
        );
        let order: Vec<&str> = t.ordered().iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            order,
            [
                "ProcStart",
                "GoCreate",
                "GoStart",
                "ProcStart",
                "GoBlockSync",
                "GoUnblock",
                "GoStart"
            ]
        );
        assert_eq!(t.check().unwrap()[&1], GState::Running);
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;

    /// `GoWaiting` describes a goroutine blocked when tracing started: Go
    /// accepts it only right after the goroutine's creation.
    #[test]
    fn go_waiting_only_after_creation() {
        let mut t = Trace::new();
        let s = t.stack(&[Frame::new("main.main", "/m.go", 1, 0x1001, 0x1000)]);
        t.push(1, 0, EventKind::ProcStart { thread: 1 });
        t.push(
            2,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        t.push(3, 0, EventKind::GoWaiting { g: 1 });
        assert_eq!(t.check().unwrap()[&1], GState::Waiting);
        let mut t = Trace::new();
        let s = t.stack(&[Frame::new("main.main", "/m.go", 1, 0x1001, 0x1000)]);
        t.push(1, 0, EventKind::ProcStart { thread: 1 });
        t.push(
            2,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        t.push(3, 0, EventKind::GoStart { g: 1 });
        t.push(4, 0, EventKind::GoSched { stack: 0 });
        t.push(5, 0, EventKind::GoWaiting { g: 1 });
        assert!(t.check().unwrap_err().contains("no consistent ordering"));
    }
}

#[cfg(test)]
mod syscall_tests {
    use super::*;

    /// A trace with G1 created at 2 on P 0, then `then` (events on P 0 at
    /// 3, 4, …, and on P 1 where `(1, kind)`).
    fn after_create(then: &[(u32, EventKind)]) -> Result<HashMap<GoId, GState>, String> {
        let mut t = Trace::new();
        let s = t.stack(&[Frame::new("main.main", "/m.go", 1, 0x1001, 0x1000)]);
        t.push(1, 0, EventKind::ProcStart { thread: 1 });
        t.push(1, 1, EventKind::ProcStart { thread: 2 });
        t.push(
            2,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        for (i, (p, kind)) in then.iter().enumerate() {
            t.push(3 + i as u64, *p, kind.clone());
        }
        t.check()
    }

    /// Go 1.19's viewer counts the goroutines in system calls (+1 at
    /// `GoSysBlock` and `GoInSyscall`, -1 at `GoSysExit`) and rejects a
    /// trace that takes the count below zero: a `GoSysExit` after
    /// `GoWaiting` (or a plain block) passes Go's parser but not its
    /// viewer, and not this checker.
    #[test]
    fn sys_exit_needs_a_system_call() {
        use EventKind::*;
        let exit = (1, GoSysExit { g: 1 });
        let start = (1, GoStart { g: 1 });
        assert!(after_create(&[(0, GoInSyscall { g: 1 }), exit.clone(), start.clone()]).is_ok());
        let sys_block = [
            (0, GoStart { g: 1 }),
            (0, GoSysCall { stack: 0 }),
            (0, GoSysBlock),
            exit.clone(),
            start.clone(),
        ];
        assert!(after_create(&sys_block).is_ok());
        let e = after_create(&[(0, GoWaiting { g: 1 }), exit.clone()]).unwrap_err();
        assert!(e.contains("not in a system call"), "{e}");
        let sleep = [
            (0, GoStart { g: 1 }),
            (0, GoSleep { stack: 0 }),
            exit.clone(),
        ];
        let e = after_create(&sleep).unwrap_err();
        assert!(e.contains("not in a system call"), "{e}");
        // Once out of it, a second exit is stray too; a system call ends
        // only with GoSysExit.
        let twice = [
            (0, GoInSyscall { g: 1 }),
            exit.clone(),
            start,
            (1, GoSched { stack: 0 }),
            exit,
        ];
        assert!(after_create(&twice).is_err());
        let unblock = [(0, GoInSyscall { g: 1 }), (1, GoUnblock { g: 1, stack: 0 })];
        let e = after_create(&unblock).unwrap_err();
        assert!(e.contains("in a system call"), "{e}");
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    /// What the v1 writer encodes, the reader reads back: types, Ps,
    /// absolute times, arguments with the derived sequence numbers, stacks.
    #[test]
    fn v1_decode_reads_what_encode_wrote() {
        let mut t = Trace::new();
        let s = t.stack(&[Frame::new("main.main", "/m.go", 3, 0x1001, 0x1000)]);
        let sys = t.stack(&[
            Frame::new("main.read", "/m.go", 9, 0x2001, 0x2000),
            Frame::new("main.main", "/m.go", 4, 0x1011, 0x1010),
        ]);
        t.push(10, 0, EventKind::ProcStart { thread: 1 });
        t.push(
            20,
            0,
            EventKind::GoCreate {
                g: 1,
                start: s,
                stack: 0,
            },
        );
        t.push(30, 0, EventKind::GoStart { g: 1 });
        t.push(40, 0, EventKind::GoSysCall { stack: sys });
        t.push(50, 0, EventKind::GoSysBlock);
        t.push(60, 0, EventKind::ProcStop);
        t.push(70, 1, EventKind::ProcStart { thread: 2 });
        t.push(80, 1, EventKind::GoSysExit { g: 1 });
        t.push(80, 1, EventKind::GoStart { g: 1 });
        t.push(90, 1, EventKind::HeapAlloc { bytes: 1 << 30 });
        let d = v1::decode(&v1::encode(&t).unwrap()).unwrap();
        let got: Vec<(u8, u64, u64, Vec<u64>)> = d
            .events
            .iter()
            .map(|e| (e.ty, e.p, e.ts, e.args.clone()))
            .collect();
        use v1::ev::*;
        assert_eq!(
            got,
            vec![
                (PROC_START, 0, 10, vec![1]),
                (GO_CREATE, 0, 20, vec![1, s, 0]),
                (GO_START, 0, 30, vec![1, 1]),
                (GO_SYS_CALL, 0, 40, vec![sys]),
                (GO_SYS_BLOCK, 0, 50, vec![]),
                (PROC_STOP, 0, 60, vec![]),
                (PROC_START, 1, 70, vec![2]),
                (GO_SYS_EXIT, 1, 80, vec![1, 2, 0]),
                (GO_START, 1, 80, vec![1, 3]),
                (HEAP_ALLOC, 1, 90, vec![1 << 30]),
            ]
        );
        assert_eq!(d.frequency, v1::FREQUENCY);
        assert_eq!(d.functions(sys), ["main.read", "main.main"]);
        assert_eq!(
            d.stacks[&s][0],
            (0x1000, "main.main".into(), "/m.go".into(), 3)
        );
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    /// `GoStartLabel` carries its label's string id: labels take the first
    /// ids of the string table, whatever stacks come later.
    #[test]
    fn labels_take_the_first_string_ids() {
        let mut t = Trace::new();
        t.push(1, 0, EventKind::ProcStart { thread: 1 });
        let label = t.label("GC (idle)");
        assert_eq!(label, 1);
        assert_eq!(t.label("GC (idle)"), 1, "interned once");
        let s = t.stack(&[Frame::new("runtime.gcBgMarkWorker", "?", 0, 0, 0)]);
        t.push(
            2,
            0,
            EventKind::GoCreate {
                g: 9,
                start: s,
                stack: 0,
            },
        );
        t.push(3, 0, EventKind::GoStartLabel { g: 9, label });
        t.push(
            4,
            0,
            EventKind::GoBlock {
                reason: BlockReason::Other,
                stack: 0,
            },
        );
        t.push(5, 0, EventKind::GoUnblock { g: 9, stack: 0 });
        t.push(6, 0, EventKind::GoStartLabel { g: 9, label });
        assert_eq!(t.check().unwrap()[&9], GState::Running);
        let d = v1::decode(&v1::encode(&t).unwrap()).unwrap();
        let starts: Vec<&Vec<u64>> = d
            .events
            .iter()
            .filter(|e| e.ty == v1::ev::GO_START_LABEL)
            .map(|e| &e.args)
            .collect();
        // [g, seq, label]: seq 1 after creation, 3 after the unblock.
        assert_eq!(starts, [&vec![9, 1, 1], &vec![9, 3, 1]]);
        assert_eq!(d.strings[&1], "GC (idle)");
        assert_eq!(d.functions(s), ["runtime.gcBgMarkWorker"]);
    }
}
