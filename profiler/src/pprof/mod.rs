//! pprof profiles: records in, gzip'd `profile.proto` out, with Go's exact
//! conventions per profile kind.
//!
//! See [crate] for the overview. Each kind has one record type and one
//! function that turns a slice of records into a [`Profile`]:
//!
//! | kind | record | function | sample types | period |
//! |---|---|---|---|---|
//! | cpu | [`CpuSample`] | [`cpu_profile`] | `samples/count`, `cpu/nanoseconds` | `cpu/nanoseconds` 10,000,000 |
//! | heap | [`MemRecord`] | [`heap_profile`] ([`HeapKind::Heap`]) | `alloc_objects/count`, `alloc_space/bytes`, `inuse_objects/count`, `inuse_space/bytes` | `space/bytes` 524288 |
//! | allocs | [`MemRecord`] | [`heap_profile`] ([`HeapKind::Allocs`]) | same, default `alloc_space` | same |
//! | goroutine, threadcreate | [`CountRecord`] | [`count_profile`] | `<name>/count` | `<name>/count` 1 |
//! | block, mutex | [`ContentionRecord`] | [`contention_profile`] | `contentions/count`, `delay/nanoseconds` | `contentions/count` 1 |
//!
//! The values follow Go 1.19's `runtime/pprof` (`proto.go`, `protomem.go`,
//! `pprof.go`; `reference/profiler.md` §1.3): CPU values are `[n, n*period]`;
//! heap values are **un-sampled** with [`scale_heap_sample`]; contention
//! delays are converted from cycles to ns with the cycles-per-second rate
//! and, for mutex, multiplied by the sampling fraction. Every Location is
//! self-symbolized (see [`builder`]), so `go tool pprof` shows function
//! names with no binary and no `/symbol` round trip.
//!
//! Check any output with `go tool pprof -raw FILE` (structure) or
//! `go tool pprof -top FILE` (the hottest leaves).

pub mod builder;
pub mod proto;

pub use builder::{check_valid, decode, encode_gzip, write_gzip, ProfileBuilder};
pub use proto::Profile;

use crate::stack::Frame;

/// Go's default `runtime.MemProfileRate`: one sample per 512 KiB allocated
/// on average.
pub const DEFAULT_MEM_PROFILE_RATE: i64 = 512 * 1024;

/// Go's CPU sampling rate (hard-coded by `StartCPUProfile`).
pub const CPU_HZ: i64 = 100;

/// Facts about the profile as a whole.
#[derive(Clone, Debug)]
pub struct ProfileMeta {
    /// Program name, written as the Mapping's file name (pprof's `File:`).
    pub program: String,
    /// Collection time, ns since the Unix epoch (0 = unknown).
    pub time_nanos: i64,
    /// Collection duration, ns (CPU profiles; 0 otherwise).
    pub duration_nanos: i64,
}

impl Default for ProfileMeta {
    fn default() -> ProfileMeta {
        ProfileMeta {
            program: "gort".to_string(),
            time_nanos: 0,
            duration_nanos: 0,
        }
    }
}

/// One CPU-profile stack and how many ticks landed on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuSample {
    /// The goroutine's stack at the tick, leaf first.
    pub stack: Vec<Frame>,
    /// Number of ticks (each worth one sampling period of CPU time).
    pub count: i64,
    /// String labels (Go's `pprof.Do` labels), e.g. `("worker", "3")`.
    pub labels: Vec<(String, String)>,
}

/// Build a CPU profile sampled at `hz` ticks per second (Go: 100).
pub fn cpu_profile(samples: &[CpuSample], hz: i64, meta: &ProfileMeta) -> Profile {
    let period = 1_000_000_000 / hz.max(1);
    let mut b = ProfileBuilder::new(&meta.program);
    b.period("cpu", "nanoseconds", period);
    b.sample_type("samples", "count");
    b.sample_type("cpu", "nanoseconds");
    b.times(meta.time_nanos, meta.duration_nanos);
    for s in samples {
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| b.str_label(k, v))
            .collect::<Vec<_>>();
        b.sample(&s.stack, vec![s.count, s.count * period], labels);
    }
    b.build()
}

/// One heap-profile bucket: the raw (sampled) counts of Go's
/// `runtime.MemProfileRecord` for one allocation stack.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemRecord {
    /// Allocation stack, leaf first.
    pub stack: Vec<Frame>,
    /// Sampled objects allocated.
    pub alloc_objects: i64,
    /// Sampled bytes allocated.
    pub alloc_bytes: i64,
    /// Sampled objects freed.
    pub free_objects: i64,
    /// Sampled bytes freed.
    pub free_bytes: i64,
    /// The allocating goroutine's labels at sampling time (beyond Go,
    /// whose heap samples carry none: golang/go#23458).
    pub labels: Vec<(String, String)>,
}

impl MemRecord {
    /// Sampled objects still in use.
    pub fn inuse_objects(&self) -> i64 {
        self.alloc_objects - self.free_objects
    }
    /// Sampled bytes still in use.
    pub fn inuse_bytes(&self) -> i64 {
        self.alloc_bytes - self.free_bytes
    }
}

/// Go's `scaleHeapSample`: undo the sampling of (count, size) taken at
/// `rate`. A sample of average size `avg` was recorded with probability
/// `1 - exp(-avg/rate)`, so both values are divided by that.
/// `(0, 0)` if either is 0; unscaled if `rate <= 1` (every allocation kept).
pub fn scale_heap_sample(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, size);
    }
    let avg = size as f64 / count as f64;
    let scale = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * scale) as i64, (size as f64 * scale) as i64)
}

/// Which of the two views of the allocation records to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapKind {
    /// `heap`: no default sample type, so pprof shows the last (`inuse_space`).
    Heap,
    /// `allocs`: default sample type `alloc_space`.
    Allocs,
}

/// Build a heap or allocs profile from sampled records taken at `rate`
/// (Go: [`DEFAULT_MEM_PROFILE_RATE`]). As Go does, leading `runtime.*`
/// frames are hidden (unless the whole stack is runtime), values are
/// un-sampled, and each sample carries the numeric label `bytes` = the
/// block size, and — beyond Go — the record's goroutine labels as string
/// labels.
pub fn heap_profile(
    records: &[MemRecord],
    rate: i64,
    kind: HeapKind,
    meta: &ProfileMeta,
) -> Profile {
    let mut b = ProfileBuilder::new(&meta.program);
    b.period("space", "bytes", rate);
    b.sample_type("alloc_objects", "count");
    b.sample_type("alloc_space", "bytes");
    b.sample_type("inuse_objects", "count");
    b.sample_type("inuse_space", "bytes");
    if kind == HeapKind::Allocs {
        b.default_sample_type("alloc_space");
    }
    b.times(meta.time_nanos, 0);
    for r in records {
        let first_user = r.stack.iter().position(|f| !f.is_runtime());
        let stack = match first_user {
            Some(i) => &r.stack[i..],
            None => &r.stack[..],
        };
        let (ao, ab) = scale_heap_sample(r.alloc_objects, r.alloc_bytes, rate);
        let (io, ib) = scale_heap_sample(r.inuse_objects(), r.inuse_bytes(), rate);
        let block = if r.alloc_objects > 0 {
            r.alloc_bytes / r.alloc_objects
        } else {
            0
        };
        let mut labels = if block != 0 {
            vec![b.num_label("bytes", block)]
        } else {
            vec![]
        };
        labels.extend(r.labels.iter().map(|(k, v)| b.str_label(k, v)));
        b.sample(stack, vec![ao, ab, io, ib], labels);
    }
    b.build()
}

/// Key/value string labels, in the order given.
pub type Labels = Vec<(String, String)>;

/// One record of a count profile (goroutine, threadcreate): a stack and how
/// many goroutines/threads share it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountRecord {
    /// The stack, leaf first (may be empty: threadcreate's `5 @`).
    pub stack: Vec<Frame>,
    /// How many share this stack (and these labels).
    pub count: i64,
    /// Goroutine labels, in the order given.
    pub labels: Vec<(String, String)>,
}

/// Group one record per goroutine/thread into counted records with
/// identical (stack PCs, labels), sorted as Go sorts them: by count
/// descending, then by the stack key.
pub fn aggregate_counts(items: &[(Vec<Frame>, Labels)]) -> Vec<CountRecord> {
    let mut out: Vec<CountRecord> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for (stack, labels) in items {
        let key = count_key(stack, labels);
        match index.get(&key) {
            Some(&i) => out[i].count += 1,
            None => {
                index.insert(key, out.len());
                out.push(CountRecord {
                    stack: stack.clone(),
                    count: 1,
                    labels: labels.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| count_key(&a.stack, &a.labels).cmp(&count_key(&b.stack, &b.labels)))
    });
    out
}

/// Go's grouping key for count profiles: ` 0x..` per return PC, then labels.
pub(crate) fn count_key(stack: &[Frame], labels: &[(String, String)]) -> String {
    use std::fmt::Write as _;
    let mut k = String::new();
    crate::text::pcs(&mut k, stack);
    if !labels.is_empty() {
        let _ = write!(k, "\n# labels: {}", crate::text::labels_string(labels));
    }
    k
}

/// Build a count profile named `name` (`goroutine` or `threadcreate`).
pub fn count_profile(name: &str, records: &[CountRecord], meta: &ProfileMeta) -> Profile {
    let mut b = ProfileBuilder::new(&meta.program);
    b.period(name, "count", 1);
    b.sample_type(name, "count");
    b.times(meta.time_nanos, 0);
    for r in records {
        let labels = r
            .labels
            .iter()
            .map(|(k, v)| b.str_label(k, v))
            .collect::<Vec<_>>();
        b.sample(&r.stack, vec![r.count], labels);
    }
    b.build()
}

/// One record of a contention profile (Go's `runtime.BlockProfileRecord`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContentionRecord {
    /// Stack of the blocked (block) or unlocking (mutex) goroutine, leaf first.
    pub stack: Vec<Frame>,
    /// Number of (sampled) events.
    pub count: i64,
    /// Total delay in cycles (at the profile's cycles-per-second rate;
    /// a recorder counting nanoseconds uses a rate of 1e9).
    pub cycles: i64,
}

/// Which contention profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentionKind {
    /// `block`: time goroutines spent blocked on synchronization.
    Block,
    /// `mutex`: time waiters waited for a mutex holder, sampled 1 in `fraction`
    /// (Go's `SetMutexProfileFraction`); values are multiplied back by it.
    Mutex {
        /// The sampling fraction (≥ 1).
        fraction: i64,
    },
}

impl ContentionKind {
    /// The profile's name (`block` or `mutex`).
    pub fn name(self) -> &'static str {
        match self {
            ContentionKind::Block => "block",
            ContentionKind::Mutex { .. } => "mutex",
        }
    }
}

/// Build a block or mutex profile; `cycles_per_second` converts
/// [`ContentionRecord::cycles`] to nanoseconds as Go's
/// `printCountCycleProfile` does.
pub fn contention_profile(
    kind: ContentionKind,
    records: &[ContentionRecord],
    cycles_per_second: i64,
    meta: &ProfileMeta,
) -> Profile {
    let mut b = ProfileBuilder::new(&meta.program);
    b.period("contentions", "count", 1);
    b.sample_type("contentions", "count");
    b.sample_type("delay", "nanoseconds");
    b.times(meta.time_nanos, 0);
    let cpu_ghz = cycles_per_second as f64 / 1e9;
    for r in records {
        let ns = r.cycles as f64 / cpu_ghz;
        let (count, ns) = match kind {
            ContentionKind::Block => (r.count, ns),
            ContentionKind::Mutex { fraction } => (r.count * fraction, ns * fraction as f64),
        };
        b.sample(&r.stack, vec![count, ns as i64], vec![]);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(names: &[&str]) -> Vec<Frame> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Frame::new(
                    *n,
                    "/src/x.go",
                    10 + i as u32,
                    0x401000 + 0x100 * i as u64 + 5,
                    0x401000 + 0x100 * i as u64,
                )
            })
            .collect()
    }

    fn name_of(p: &Profile, i: i64) -> &str {
        &p.string_table[i as usize]
    }

    #[test]
    fn go_worked_example_of_heap_unsampling() {
        // profiler.md §1.4: 14 objects of 4096 bytes -> 1799 / 7368741 in Go's proto.
        assert_eq!(scale_heap_sample(14, 57344, 524288), (1799, 7368741));
        assert_eq!(scale_heap_sample(0, 100, 524288), (0, 0));
        assert_eq!(scale_heap_sample(3, 300, 1), (3, 300));
    }

    #[test]
    fn heap_profile_has_go_conventions() {
        let mut st = stack(&["main.alloc", "main.main"]);
        st.insert(
            0,
            Frame::new("runtime.mallocgc", "/rt/malloc.go", 1, 0x400105, 0x400100),
        );
        let recs = vec![MemRecord {
            stack: st,
            alloc_objects: 14,
            alloc_bytes: 57344,
            free_objects: 4,
            free_bytes: 16384,
            labels: vec![("worker".into(), "7".into())],
        }];
        let p = heap_profile(
            &recs,
            DEFAULT_MEM_PROFILE_RATE,
            HeapKind::Allocs,
            &ProfileMeta::default(),
        );
        check_valid(&p).unwrap();
        let types: Vec<String> = p
            .sample_type
            .iter()
            .map(|t| format!("{}/{}", name_of(&p, t.r#type), name_of(&p, t.unit)))
            .collect();
        assert_eq!(
            types,
            [
                "alloc_objects/count",
                "alloc_space/bytes",
                "inuse_objects/count",
                "inuse_space/bytes"
            ]
        );
        assert_eq!(p.period, 524288);
        assert_eq!(name_of(&p, p.default_sample_type), "alloc_space");
        let s = &p.sample[0];
        assert_eq!(s.value[..2], [1799, 7368741]);
        assert_eq!(s.value[2..], [1285, 5263386]);
        // the runtime.mallocgc frame is hidden: the leaf is main.alloc
        let leaf = &p.location[(s.location_id[0] - 1) as usize];
        assert_eq!(leaf.address, 0x401004);
        assert_eq!(
            name_of(&p, p.function[(leaf.line[0].function_id - 1) as usize].name),
            "main.alloc"
        );
        assert_eq!(s.label.len(), 2);
        assert_eq!(name_of(&p, s.label[0].key), "bytes");
        assert_eq!(s.label[0].num, 4096);
        // The goroutine labels of the allocation, as string labels.
        assert_eq!(name_of(&p, s.label[1].key), "worker");
        assert_eq!(name_of(&p, s.label[1].str), "7");
        assert_eq!(p.mapping.len(), 1);
        assert!(p.mapping[0].has_functions);
        let heap = heap_profile(
            &recs,
            DEFAULT_MEM_PROFILE_RATE,
            HeapKind::Heap,
            &ProfileMeta::default(),
        );
        assert_eq!(heap.default_sample_type, 0);
    }

    #[test]
    fn inlined_calls_share_their_physical_frames_location() {
        // main.add inlined into main.sum at one PC, called from main.main.
        let mut inlined = stack(&["main.sum", "main.main"]);
        let mut add = Frame::new("main.add", "/src/y.go", 3, inlined[0].pc, inlined[0].entry);
        add.inlined = true;
        inlined.insert(0, add);
        // The same physical frame, sampled where nothing is inlined.
        let plain = stack(&["main.sum", "main.main"]);
        let mut b = ProfileBuilder::new("prog");
        b.sample_type("samples", "count");
        b.sample(&inlined, vec![1], vec![]);
        b.sample(&inlined, vec![2], vec![]);
        b.sample(&plain, vec![4], vec![]);
        let p = b.build();
        check_valid(&p).unwrap();
        let lines = |id: u64| -> Vec<(String, i64)> {
            p.location[(id - 1) as usize]
                .line
                .iter()
                .map(|l| {
                    let f = &p.function[(l.function_id - 1) as usize];
                    (name_of(&p, f.name).to_string(), l.line)
                })
                .collect()
        };
        // One Location for the inlined pair, innermost Line first.
        assert_eq!(p.sample[0].location_id.len(), 2);
        assert_eq!(
            lines(p.sample[0].location_id[0]),
            [("main.add".to_string(), 3), ("main.sum".to_string(), 10)]
        );
        assert_eq!(
            lines(p.sample[0].location_id[1]),
            [("main.main".to_string(), 11)]
        );
        // The second sample reuses both Locations; the plain stack reuses
        // main.main's but not the inlined pair's.
        assert_eq!(p.sample[1].location_id, p.sample[0].location_id);
        assert_ne!(p.sample[2].location_id[0], p.sample[0].location_id[0]);
        assert_eq!(p.sample[2].location_id[1], p.sample[0].location_id[1]);
        assert_eq!(
            lines(p.sample[2].location_id[0]),
            [("main.sum".to_string(), 10)]
        );
        assert_eq!(p.location.len(), 3);
        assert!(p.mapping[0].has_inline_frames);
    }

    #[test]
    fn cpu_and_contention_values() {
        let p = cpu_profile(
            &[CpuSample {
                stack: stack(&["main.spin", "main.main"]),
                count: 7,
                labels: vec![("k".into(), "v".into())],
            }],
            CPU_HZ,
            &ProfileMeta::default(),
        );
        check_valid(&p).unwrap();
        assert_eq!(p.period, 10_000_000);
        assert_eq!(p.sample[0].value, [7, 70_000_000]);
        let recs = [ContentionRecord {
            stack: stack(&["sync.(*Mutex).Unlock", "main.f"]),
            count: 3,
            cycles: 4_000,
        }];
        let m = contention_profile(
            ContentionKind::Mutex { fraction: 5 },
            &recs,
            2_000_000_000,
            &ProfileMeta::default(),
        );
        assert_eq!(m.sample[0].value, [15, 10_000]);
        let bl = contention_profile(
            ContentionKind::Block,
            &recs,
            2_000_000_000,
            &ProfileMeta::default(),
        );
        assert_eq!(bl.sample[0].value, [3, 2_000]);
        // round trip through gzip + prost
        let back = decode(&encode_gzip(&bl)).unwrap();
        assert_eq!(back, bl);
    }

    #[test]
    fn aggregate_counts_groups_and_sorts_like_go() {
        let a = stack(&["main.a"]);
        let b = stack(&["main.b", "main.main"]);
        let recs = aggregate_counts(&[
            (a.clone(), vec![]),
            (b.clone(), vec![]),
            (b.clone(), vec![]),
            (a.clone(), vec![("x".into(), "1".into())]),
        ]);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].count, 2);
        assert_eq!(recs[0].stack, b);
        // ties by key: " 0x401005" < " 0x401005\n# labels..."
        assert!(recs[1].labels.is_empty());
        assert_eq!(recs[2].labels.len(), 1);
    }
}
