//! Go's package `runtime/metrics`: the runtime's counters, gauges and
//! histograms under Go's names, and the Prometheus text exposition of them.
//!
//! See [crate] for the overview.
//!
//! ```
//! use gort::metrics::{self, Sample, Value};
//!
//! let (allocs, pauses) = gort::run(|| {
//!     for i in 0..1000u64 {
//!         std::hint::black_box(gort::Gc::new(i));
//!     }
//!     gort::runtime::gc();
//!     let mut s = [
//!         Sample::new("/gc/heap/allocs:objects"),
//!         Sample::new("/sched/pauses/total/gc:seconds"),
//!     ];
//!     metrics::read(&mut s);
//!     let allocs = s[0].value.uint64();
//!     let pauses: u64 = s[1].value.float64_histogram().counts.iter().sum();
//!     (allocs, pauses)
//! });
//! assert!(allocs >= 1000);
//! assert!(pauses >= 2); // sweep termination and mark termination
//!
//! // Every metric, in the Prometheus text format (what `/debug/metrics` serves):
//! let mut text = Vec::new();
//! metrics::write_prometheus(&mut text).unwrap();
//! let text = String::from_utf8(text).unwrap();
//! assert!(text.contains("# TYPE go_gc_heap_allocs_objects_total counter"));
//! assert!(text.contains("go_sched_latencies_seconds_bucket{le=\"+Inf\"}"));
//! ```
//!
//! # The interface
//!
//! As in Go: [`all`] describes every supported metric (its name, an English
//! description, the [`ValueKind`] of its value and whether it is
//! cumulative); [`read`] fills a slice of [`Sample`]s, each naming one
//! metric, with [`Value`]s: a `u64`, an `f64` or a [`Float64Histogram`]
//! (counts and bucket boundaries; a bucket's lower boundary is inclusive,
//! its upper one exclusive; the first may be `-Inf`, the last `+Inf`). A
//! name [`all`] does not list reads as [`Value::Bad`]. Names are
//! `/path:unit`, Go's, so a dashboard built for a Go service reads a gort
//! program unchanged. Reading does not stop the world: each figure is read
//! once, and figures read at slightly different moments need not agree
//! exactly while the program runs (Go's do, from consistent snapshots; the
//! memory classes below always add up, their total being their sum).
//!
//! [`write_prometheus`] writes every metric in the Prometheus text
//! exposition format (0.0.4), and [`metrics_handler`] serves it from any
//! router that speaks the `http` crate's types. Names are mapped as the
//! Prometheus Go client's runtime metrics collector maps them
//! (`/gc/heap/allocs:bytes` → `go_gc_heap_allocs_bytes_total`: `go_`, the
//! path with `/` and `-` as `_`, the unit, `_total` for a cumulative
//! number); histograms are re-bucketed as that collector does (a boundary
//! kept only once it is 10× the last one, for seconds, and everything over
//! one second in `+Inf`), with Go's exclusive upper bounds turned into
//! inclusive `le` bounds (the next `f64` below). Unlike that collector,
//! which estimates `_sum` from the buckets' lower bounds, gort reports the
//! exact sum: it records every duration.
//!
//! # What gort measures, and how
//!
//! * **Heap**: `/gc/heap/*` from the allocator's counters (the same as
//!   [`crate::runtime::read_mem_stats`]: `allocs:bytes` is `TotalAlloc`,
//!   `allocs:objects` is `Mallocs`, `frees:*` are what sweeping freed,
//!   `objects` is `HeapObjects`), `goal` is `NextGC`, `live` the bytes the
//!   last cycle marked. gort has no tiny allocator, so
//!   `/gc/heap/tiny/allocs:objects` is 0: every allocation is an object of
//!   its own, counted in `allocs:objects`.
//! * **Memory classes**: `/memory/classes/...` split `MemStats::sys` as
//!   Go's do: `heap/objects` (`HeapAlloc`), `heap/unused` (`HeapInuse` −
//!   `HeapAlloc`), `heap/free` (`HeapIdle` − `HeapReleased`),
//!   `heap/released`, `heap/stacks` (every goroutine stack mapped,
//!   `StackSys`: Go's class is memory reserved for stacks "whether or not it
//!   is currently in-use"), the `mspan` and `mcache` metadata (in use and
//!   free), `metadata/other` (`GCSys`: bitmaps, the page table, work queues
//!   and barrier buffers), `profiling/buckets` (`BuckHashSys`) and `other`
//!   (`OtherSys`). `total` is their sum, which is `MemStats::sys`.
//! * **Cycles and knobs**: `/gc/cycles/*` (`NumGC`, `NumForcedGC`),
//!   `/gc/gogc:percent` (as Go, `GOGC=off` reads as `u64::MAX`, Go's
//!   `uint64(-1)`), `/gc/gomemlimit:bytes`, `/gc/stack/starting-size:bytes`
//!   (gort's fixed stack reservation).
//! * **GC CPU**: `/cpu/classes/gc/*` from the collector's per-cycle CPU
//!   accounting (completed cycles): mark assists, background workers
//!   (dedicated and fractional, Go's `dedicated` class), idle marking, and
//!   the pauses as the collector charges them (sweep termination and the
//!   final mark termination, each × GOMAXPROCS, timed by the collector); so
//!   unlike Go's, `pause` is close to but not exactly the sum of
//!   `/sched/pauses/total/gc:seconds` × GOMAXPROCS (a mark termination that
//!   restarts marking is not charged, and the two clocks start a few
//!   instructions apart). `total` is the sum of the four.
//! * **Pauses**: every stop of the world is timed by the scheduler, from the
//!   moment the stopper holds the world semaphore to the restart
//!   (`/sched/pauses/total/*`) and to every P stopped
//!   (`/sched/pauses/stopping/*`); `gc` are the sweep-
//!   and mark-termination pauses (so the `gc` count is the collector's
//!   number of pauses), `other` the rest (`gomaxprocs`, `read_mem_stats`,
//!   the goroutine profile, starting and stopping the tracer).
//!   `/gc/pauses:seconds` is Go's deprecated twin of `total/gc`.
//! * **Scheduling latency**: `/sched/latencies:seconds`, the time a
//!   goroutine spends runnable before it runs, **sampled** as Go samples it:
//!   one in 8 runnable periods of each goroutine (Go's `gTrackingPeriod`),
//!   so the common scheduling path reads no clock (see
//!   `gort_scheduler::metrics`). Counts grow about 8× slower than the number
//!   of schedulings.
//! * **Goroutines and threads**: `/sched/goroutines:goroutines`
//!   ([`crate::runtime::num_goroutine`]); `running`, `runnable`, `waiting`
//!   and `not-in-go` (running without a P: a system call, or a long run
//!   whose P was retaken) counted over every goroutine's state without
//!   stopping the world (approximate, as Go's); `/sched/gomaxprocs:threads`;
//!   `/sched/threads/total:threads` counts the Ms (threads that run
//!   goroutines; gort's helper threads — sysmon, collector workers, the
//!   scavenger — are not Ms and are not counted).
//!
//! # What gort does not report, and why
//!
//! [`all`] lists only what gort measures. Go 1.27's other metrics:
//!
//! * `/cgo/go-to-c-calls:calls` — Rust calls C directly; no boundary
//!   counts the calls.
//! * `/cpu/classes/idle`, `/cpu/classes/user`, `/cpu/classes/total`,
//!   `/cpu/classes/scavenge/*` — the scheduler does not account the time Ps
//!   sit idle, nor GOMAXPROCS integrated over time, and the scavenger's CPU
//!   time is not measured; user time would be the remainder of these.
//! * `/gc/cleanups/*`, `/gc/finalizers/*` — gort has no finalizers or
//!   cleanups.
//! * `/gc/heap/allocs-by-size:bytes`, `/gc/heap/frees-by-size:bytes` — the
//!   heap keeps no per-size-class counters (`MemStats::by_size` is not
//!   filled either).
//! * `/gc/limiter/last-enabled:gc-cycle` — gort has no GC CPU limiter.
//! * `/gc/scan/*` — the collector counts the bytes it scanned, not the
//!   scannable size of the heap, the globals and the stacks.
//! * `/godebug/non-default-behavior/*` — these count GODEBUG settings of
//!   Go's standard library packages, which gort does not have.
//! * `/memory/classes/os-stacks:bytes` — the Ms' own thread stacks come
//!   from the OS (pthreads) and gort counts them nowhere (not in
//!   `MemStats::sys` either), so the class is left out rather than shown as
//!   a false 0.
//! * `/sched/goroutines-created:goroutines` — goroutine ids are handed out
//!   to Ps in batches, so no exact count of creations is kept.
//! * `/sync/mutex/wait/total:seconds` — [`crate::sync::Mutex`] times its
//!   waits only when the mutex profile samples them.

mod prometheus;

pub use prometheus::{metrics_handler, prometheus_name, write_prometheus, CONTENT_TYPE};

use gort_scheduler::metrics::{self as sm, TimeHistogram};
use std::sync::OnceLock;

/// The kind of a metric's value (Go's `metrics.ValueKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// No value: the name is unknown (Go's `KindBad`).
    Bad,
    /// A `u64`.
    Uint64,
    /// An `f64`.
    Float64,
    /// A [`Float64Histogram`].
    Float64Histogram,
}

/// One metric's description (Go's `metrics.Description`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Description {
    /// The full name, `/path:unit` (e.g. `/gc/heap/allocs:bytes`).
    pub name: &'static str,
    /// An English sentence describing the metric (Go's text).
    pub description: &'static str,
    /// The kind of its value; never changes for a name.
    pub kind: ValueKind,
    /// Whether it only grows (a number) or each bucket count only grows (a
    /// histogram): whether a rate of it makes sense.
    pub cumulative: bool,
}

/// A distribution of `f64` values (Go's `metrics.Float64Histogram`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Float64Histogram {
    /// `counts[n]` is the weight of `[buckets[n], buckets[n+1])`.
    pub counts: Vec<u64>,
    /// The bucket boundaries, increasing; `buckets.len() == counts.len() +
    /// 1`. The first may be `-Inf`, the last `+Inf`. Fixed for a name for
    /// the life of the process.
    pub buckets: Vec<f64>,
}

/// A metric's value (Go's `metrics.Value`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// The name is not one [`all`] lists (Go's `KindBad`).
    #[default]
    Bad,
    /// A count or a size.
    Uint64(u64),
    /// A time or a fraction.
    Float64(f64),
    /// A distribution.
    Float64Histogram(Float64Histogram),
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Bad => ValueKind::Bad,
            Value::Uint64(_) => ValueKind::Uint64,
            Value::Float64(_) => ValueKind::Float64,
            Value::Float64Histogram(_) => ValueKind::Float64Histogram,
        }
    }

    /// The `u64`. Panics if the kind is not [`ValueKind::Uint64`], as Go's
    /// `Value.Uint64` does.
    pub fn uint64(&self) -> u64 {
        match self {
            Value::Uint64(v) => *v,
            _ => panic!("called Uint64 on non-uint64 metric value"),
        }
    }

    /// The `f64`. Panics if the kind is not [`ValueKind::Float64`].
    pub fn float64(&self) -> f64 {
        match self {
            Value::Float64(v) => *v,
            _ => panic!("called Float64 on non-float64 metric value"),
        }
    }

    /// The histogram. Panics if the kind is not
    /// [`ValueKind::Float64Histogram`].
    pub fn float64_histogram(&self) -> &Float64Histogram {
        match self {
            Value::Float64Histogram(h) => h,
            _ => panic!("called Float64Histogram on non-Float64Histogram metric value"),
        }
    }
}

/// One metric to read: its name, and after [`read`] its value (Go's
/// `metrics.Sample`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// The metric's full name, as [`all`] lists it.
    pub name: String,
    /// Filled by [`read`].
    pub value: Value,
}

impl Sample {
    /// A sample of the metric `name`, not read yet.
    pub fn new(name: impl Into<String>) -> Sample {
        Sample {
            name: name.into(),
            value: Value::Bad,
        }
    }
}

const fn desc(
    name: &'static str,
    description: &'static str,
    kind: ValueKind,
    cumulative: bool,
) -> Description {
    Description {
        name,
        description,
        kind,
        cumulative,
    }
}

/// Every metric gort reports, ordered by name (Go's order), with Go 1.27's
/// descriptions.
static ALL: &[Description] = &[
    desc(
        "/cpu/classes/gc/mark/assist:cpu-seconds",
        "Estimated total CPU time goroutines spent performing GC tasks to assist the GC and prevent it from falling behind the application. This metric is an overestimate, and not directly comparable to system CPU time measurements. Compare only with other /cpu/classes metrics.",
        ValueKind::Float64,
        true,
    ),
    desc(
        "/cpu/classes/gc/mark/dedicated:cpu-seconds",
        "Estimated total CPU time spent performing GC tasks on processors (as defined by GOMAXPROCS) dedicated to those tasks. This metric is an overestimate, and not directly comparable to system CPU time measurements. Compare only with other /cpu/classes metrics.",
        ValueKind::Float64,
        true,
    ),
    desc(
        "/cpu/classes/gc/mark/idle:cpu-seconds",
        "Estimated total CPU time spent performing GC tasks on spare CPU resources that the Go scheduler could not otherwise find a use for. This should be subtracted from the total GC CPU time to obtain a measure of compulsory GC CPU time. This metric is an overestimate, and not directly comparable to system CPU time measurements. Compare only with other /cpu/classes metrics.",
        ValueKind::Float64,
        true,
    ),
    desc(
        "/cpu/classes/gc/pause:cpu-seconds",
        "Estimated total CPU time spent with the application paused by the GC. Even if only one thread is running during the pause, this is computed as GOMAXPROCS times the pause latency because nothing else can be executing. This is the exact sum of samples in /sched/pauses/total/gc:seconds if each sample is multiplied by GOMAXPROCS at the time it is taken. This metric is an overestimate, and not directly comparable to system CPU time measurements. Compare only with other /cpu/classes metrics.",
        ValueKind::Float64,
        true,
    ),
    desc(
        "/cpu/classes/gc/total:cpu-seconds",
        "Estimated total CPU time spent performing GC tasks. This metric is an overestimate, and not directly comparable to system CPU time measurements. Compare only with other /cpu/classes metrics. Sum of all metrics in /cpu/classes/gc.",
        ValueKind::Float64,
        true,
    ),
    desc(
        "/gc/cycles/automatic:gc-cycles",
        "Count of completed GC cycles generated by the Go runtime.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/cycles/forced:gc-cycles",
        "Count of completed GC cycles forced by the application.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/cycles/total:gc-cycles",
        "Count of all completed GC cycles.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/gogc:percent",
        "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/gc/gomemlimit:bytes",
        "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/gc/heap/allocs:bytes",
        "Cumulative sum of memory allocated to the heap by the application.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/heap/allocs:objects",
        "Cumulative count of heap allocations triggered by the application. Note that this does not include tiny objects as defined by /gc/heap/tiny/allocs:objects, only tiny blocks.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/heap/frees:bytes",
        "Cumulative sum of heap memory freed by the garbage collector.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/heap/frees:objects",
        "Cumulative count of heap allocations whose storage was freed by the garbage collector. Note that this does not include tiny objects as defined by /gc/heap/tiny/allocs:objects, only tiny blocks.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/heap/goal:bytes",
        "Heap size target for the end of the GC cycle.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/gc/heap/live:bytes",
        "Heap memory occupied by live objects that were marked by the previous GC.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/gc/heap/objects:objects",
        "Number of objects, live or unswept, occupying heap memory.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/gc/heap/tiny/allocs:objects",
        "Count of small allocations that are packed together into blocks. These allocations are counted separately from other allocations because each individual allocation is not tracked by the runtime, only their block. Each block is already accounted for in allocs-by-size and frees-by-size.",
        ValueKind::Uint64,
        true,
    ),
    desc(
        "/gc/pauses:seconds",
        "Deprecated. Prefer the identical /sched/pauses/total/gc:seconds.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/gc/stack/starting-size:bytes",
        "The stack size of new goroutines.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/heap/free:bytes",
        "Memory that is completely free and eligible to be returned to the underlying system, but has not been. This metric is the runtime's estimate of free address space that is backed by physical memory.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/heap/objects:bytes",
        "Memory occupied by live objects and dead objects that have not yet been marked free by the garbage collector.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/heap/released:bytes",
        "Memory that is completely free and has been returned to the underlying system. This metric is the runtime's estimate of free address space that is still mapped into the process, but is not backed by physical memory.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/heap/stacks:bytes",
        "Memory allocated from the heap that is reserved for stack space, whether or not it is currently in-use. Currently, this represents all stack memory for goroutines. It also includes all OS thread stacks in non-cgo programs. Note that stacks may be allocated differently in the future, and this may change.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/heap/unused:bytes",
        "Memory that is reserved for heap objects but is not currently used to hold heap objects.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/metadata/mcache/free:bytes",
        "Memory that is reserved for runtime mcache structures, but not in-use.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/metadata/mcache/inuse:bytes",
        "Memory that is occupied by runtime mcache structures that are currently being used.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/metadata/mspan/free:bytes",
        "Memory that is reserved for runtime mspan structures, but not in-use.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/metadata/mspan/inuse:bytes",
        "Memory that is occupied by runtime mspan structures that are currently being used.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/metadata/other:bytes",
        "Memory that is reserved for or used to hold runtime metadata.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/other:bytes",
        "Memory used by execution trace buffers, structures for debugging the runtime, finalizer and profiler specials, and more.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/profiling/buckets:bytes",
        "Memory that is used by the stack trace hash map used for profiling.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/memory/classes/total:bytes",
        "All memory mapped by the Go runtime into the current process as read-write. Note that this does not include memory mapped by code called via cgo or via the syscall package. Sum of all metrics in /memory/classes.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/gomaxprocs:threads",
        "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/goroutines/not-in-go:goroutines",
        "Approximate count of goroutines running or blocked in a system call or cgo call. Not guaranteed to add up to /sched/goroutines:goroutines with other goroutine metrics.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/goroutines/runnable:goroutines",
        "Approximate count of goroutines ready to execute, but not executing. Not guaranteed to add up to /sched/goroutines:goroutines with other goroutine metrics.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/goroutines/running:goroutines",
        "Approximate count of goroutines executing. Always less than or equal to /sched/gomaxprocs:threads. Not guaranteed to add up to /sched/goroutines:goroutines with other goroutine metrics.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/goroutines/waiting:goroutines",
        "Approximate count of goroutines waiting on a resource (I/O or sync primitives). Not guaranteed to add up to /sched/goroutines:goroutines with other goroutine metrics.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/goroutines:goroutines",
        "Count of live goroutines.",
        ValueKind::Uint64,
        false,
    ),
    desc(
        "/sched/latencies:seconds",
        "Distribution of the time goroutines have spent in the scheduler in a runnable state before actually running. Bucket counts increase monotonically.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/sched/pauses/stopping/gc:seconds",
        "Distribution of individual GC-related stop-the-world stopping latencies. This is the time it takes from deciding to stop the world until all Ps are stopped. This is a subset of the total GC-related stop-the-world time (/sched/pauses/total/gc:seconds). During this time, some threads may be executing. Bucket counts increase monotonically.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/sched/pauses/stopping/other:seconds",
        "Distribution of individual non-GC-related stop-the-world stopping latencies. This is the time it takes from deciding to stop the world until all Ps are stopped. This is a subset of the total non-GC-related stop-the-world time (/sched/pauses/total/other:seconds). During this time, some threads may be executing. Bucket counts increase monotonically.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/sched/pauses/total/gc:seconds",
        "Distribution of individual GC-related stop-the-world pause latencies. This is the time from deciding to stop the world until the world is started again. Some of this time is spent getting all threads to stop (this is measured directly in /sched/pauses/stopping/gc:seconds), during which some threads may still be running. Bucket counts increase monotonically.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/sched/pauses/total/other:seconds",
        "Distribution of individual non-GC-related stop-the-world pause latencies. This is the time from deciding to stop the world until the world is started again. Some of this time is spent getting all threads to stop (measured directly in /sched/pauses/stopping/other:seconds). Bucket counts increase monotonically.",
        ValueKind::Float64Histogram,
        true,
    ),
    desc(
        "/sched/threads/total:threads",
        "The current count of live threads that are owned by the Go runtime.",
        ValueKind::Uint64,
        false,
    ),
];

/// Descriptions of every metric gort reports (Go's `metrics.All`), ordered
/// by name.
pub fn all() -> &'static [Description] {
    ALL
}

/// The description of `name`, if gort reports it.
pub fn describe(name: &str) -> Option<&'static Description> {
    ALL.binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &ALL[i])
}

/// Fills each sample's value (Go's `metrics.Read`); a name [`all`] does
/// not list reads as [`Value::Bad`]. A histogram value already in a sample
/// is reused (its vectors keep their storage), as Go reuses it.
pub fn read(samples: &mut [Sample]) {
    crate::run::ensure_started();
    let mut figures = Figures::default();
    for s in samples.iter_mut() {
        let Some(d) = describe(&s.name) else {
            s.value = Value::Bad;
            continue;
        };
        figures.fill(d.name, &mut s.value);
    }
}

/// Reads every metric: one sample per [`all`] entry, in its order.
pub(crate) fn read_all() -> Vec<Sample> {
    let mut s: Vec<Sample> = ALL.iter().map(|d| Sample::new(d.name)).collect();
    read(&mut s);
    s
}

/// The boundaries of every time histogram, in seconds (computed once).
fn time_boundaries() -> &'static [f64] {
    static B: OnceLock<Vec<f64>> = OnceLock::new();
    B.get_or_init(sm::time_histogram_boundaries)
}

/// The time histogram behind a histogram metric name.
pub(crate) fn time_histogram(name: &str) -> Option<&'static TimeHistogram> {
    Some(match name {
        "/sched/latencies:seconds" => sm::sched_latencies(),
        "/gc/pauses:seconds" | "/sched/pauses/total/gc:seconds" => sm::stw_pauses(true).0,
        "/sched/pauses/stopping/gc:seconds" => sm::stw_pauses(true).1,
        "/sched/pauses/total/other:seconds" => sm::stw_pauses(false).0,
        "/sched/pauses/stopping/other:seconds" => sm::stw_pauses(false).1,
        _ => return None,
    })
}

/// The runtime's figures, each source read at most once per [`read`].
#[derive(Default)]
struct Figures {
    mem: Option<crate::MemStats>,
    gc: Option<gort_gc::stats::GcMetrics>,
    states: Option<sm::GoroutineStates>,
}

impl Figures {
    fn mem(&mut self) -> &crate::MemStats {
        self.mem
            .get_or_insert_with(crate::runtime::mem_stats_unstopped)
    }

    fn gc(&mut self) -> &gort_gc::stats::GcMetrics {
        self.gc
            .get_or_insert_with(|| gort_gc::collector::global().metrics())
    }

    fn states(&mut self) -> sm::GoroutineStates {
        *self.states.get_or_insert_with(sm::goroutine_states)
    }

    /// The memory classes, in the order of their names; the total is their
    /// sum.
    fn memory_class(&mut self, name: &str) -> u64 {
        let m = self.mem();
        let classes = [
            m.heap_idle.saturating_sub(m.heap_released), // heap/free
            m.heap_alloc,                                // heap/objects
            m.heap_released,                             // heap/released
            m.stack_sys,                                 // heap/stacks
            m.heap_inuse.saturating_sub(m.heap_alloc),   // heap/unused
            m.mcache_sys.saturating_sub(m.mcache_inuse), // metadata/mcache/free
            m.mcache_inuse,                              // metadata/mcache/inuse
            m.mspan_sys.saturating_sub(m.mspan_inuse),   // metadata/mspan/free
            m.mspan_inuse,                               // metadata/mspan/inuse
            m.gc_sys,                                    // metadata/other
            m.other_sys,                                 // other
            m.buck_hash_sys,                             // profiling/buckets
        ];
        let i = match name {
            "/memory/classes/heap/free:bytes" => 0,
            "/memory/classes/heap/objects:bytes" => 1,
            "/memory/classes/heap/released:bytes" => 2,
            "/memory/classes/heap/stacks:bytes" => 3,
            "/memory/classes/heap/unused:bytes" => 4,
            "/memory/classes/metadata/mcache/free:bytes" => 5,
            "/memory/classes/metadata/mcache/inuse:bytes" => 6,
            "/memory/classes/metadata/mspan/free:bytes" => 7,
            "/memory/classes/metadata/mspan/inuse:bytes" => 8,
            "/memory/classes/metadata/other:bytes" => 9,
            "/memory/classes/other:bytes" => 10,
            "/memory/classes/profiling/buckets:bytes" => 11,
            "/memory/classes/total:bytes" => return classes.iter().sum(),
            _ => unreachable!("not a memory class: {name}"),
        };
        classes[i]
    }

    /// Sets `out` to the value of the metric `name` (one [`ALL`] lists).
    fn fill(&mut self, name: &'static str, out: &mut Value) {
        if let Some(h) = time_histogram(name) {
            if !matches!(out, Value::Float64Histogram(_)) {
                *out = Value::Float64Histogram(Float64Histogram::default());
            }
            let Value::Float64Histogram(v) = out else {
                unreachable!()
            };
            h.counts_into(&mut v.counts);
            if v.buckets.as_slice() != time_boundaries() {
                v.buckets.clear();
                v.buckets.extend_from_slice(time_boundaries());
            }
            return;
        }
        let secs = |ns: u64| Value::Float64(ns as f64 / 1e9);
        *out = match name {
            "/cpu/classes/gc/mark/assist:cpu-seconds" => secs(self.gc().assist_cpu_ns),
            "/cpu/classes/gc/mark/dedicated:cpu-seconds" => secs(self.gc().background_cpu_ns),
            "/cpu/classes/gc/mark/idle:cpu-seconds" => secs(self.gc().idle_cpu_ns),
            "/cpu/classes/gc/pause:cpu-seconds" => secs(self.gc().pause_cpu_ns),
            "/cpu/classes/gc/total:cpu-seconds" => {
                let g = self.gc();
                secs(g.assist_cpu_ns + g.background_cpu_ns + g.idle_cpu_ns + g.pause_cpu_ns)
            }
            "/gc/cycles/automatic:gc-cycles" => {
                let m = self.mem();
                Value::Uint64(u64::from(m.num_gc - m.num_forced_gc))
            }
            "/gc/cycles/forced:gc-cycles" => Value::Uint64(u64::from(self.mem().num_forced_gc)),
            "/gc/cycles/total:gc-cycles" => Value::Uint64(u64::from(self.mem().num_gc)),
            // Go: uint64(gcPercent), so GOGC=off (-1) reads as u64::MAX.
            "/gc/gogc:percent" => Value::Uint64(i64::from(self.gc().gc_percent) as u64),
            "/gc/gomemlimit:bytes" => Value::Uint64(self.gc().memory_limit as u64),
            "/gc/heap/allocs:bytes" => Value::Uint64(self.mem().total_alloc),
            "/gc/heap/allocs:objects" => Value::Uint64(self.mem().mallocs),
            "/gc/heap/frees:bytes" => {
                let m = self.mem();
                Value::Uint64(m.total_alloc.saturating_sub(m.heap_alloc))
            }
            "/gc/heap/frees:objects" => Value::Uint64(self.mem().frees),
            "/gc/heap/goal:bytes" => Value::Uint64(self.mem().next_gc),
            "/gc/heap/live:bytes" => Value::Uint64(self.gc().heap_live),
            "/gc/heap/objects:objects" => Value::Uint64(self.mem().heap_objects),
            // No tiny allocator: no allocation is packed into a shared block.
            "/gc/heap/tiny/allocs:objects" => Value::Uint64(0),
            "/gc/stack/starting-size:bytes" => Value::Uint64(sm::starting_stack_size() as u64),
            n if n.starts_with("/memory/classes/") => Value::Uint64(self.memory_class(n)),
            "/sched/gomaxprocs:threads" => {
                Value::Uint64(gort_scheduler::gomaxprocs(0).max(0) as u64)
            }
            "/sched/goroutines/not-in-go:goroutines" => Value::Uint64(self.states().not_in_go),
            "/sched/goroutines/runnable:goroutines" => Value::Uint64(self.states().runnable),
            "/sched/goroutines/running:goroutines" => Value::Uint64(self.states().running),
            "/sched/goroutines/waiting:goroutines" => Value::Uint64(self.states().waiting),
            "/sched/goroutines:goroutines" => Value::Uint64(crate::runtime::num_goroutine() as u64),
            "/sched/threads/total:threads" => Value::Uint64(sm::thread_count()),
            _ => unreachable!("metric {name} is listed but not read"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_sorted_and_every_metric_reads_as_its_kind() {
        assert!(ALL.windows(2).all(|w| w[0].name < w[1].name));
        let samples = crate::run(read_all);
        for (d, s) in ALL.iter().zip(&samples) {
            assert_eq!(s.value.kind(), d.kind, "{}", d.name);
        }
        let mut bad = [Sample::new("/no/such:metric")];
        read(&mut bad);
        assert_eq!(bad[0].value, Value::Bad);
    }
}
