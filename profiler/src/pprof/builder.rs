//! `ProfileBuilder`: interns strings, functions and locations while samples
//! are added, then produces a [`Profile`] that passes pprof's `CheckValid`.
//!
//! See [crate::pprof] for the overview. Invariants the builder maintains
//! (the rules of `reference/profiler.md` §1.2):
//!
//! * `string_table[0] == ""`; every string index is in range.
//! * Function, Location and Mapping ids are nonzero and unique (1, 2, 3, …
//!   in order of first use).
//! * One Location per distinct call PC and chain of (function, file,
//!   line): a physical frame and the calls inlined into it (frames with
//!   [`Frame::inlined`] and the same PC) share one Location whose Lines
//!   list them innermost first, the last Line being the function they were
//!   inlined into (the format's rule, and what Go's own profiles hold).
//!   Its `address` is the call PC, or a synthetic unique address when the
//!   frame's PC is unknown (such a frame is never grouped).
//! * Exactly one Mapping (id 1) covering every address, with
//!   `has_functions`, `has_filenames` and `has_line_numbers` set, so
//!   `go tool pprof` never tries to symbolize.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use super::proto::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::stack::Frame;

/// Base of the synthetic addresses given to frames whose PC is unknown.
const SYNTHETIC_BASE: u64 = 0x7f00_0000_0000;

/// A Location's Lines as (function id, line), innermost first.
type LineKey = Vec<(u64, u32)>;

/// Incrementally builds one [`Profile`].
#[derive(Debug)]
pub struct ProfileBuilder {
    profile: Profile,
    strings: HashMap<String, i64>,
    /// Function name -> [(file, id)]: looked up by `&str`, no allocation on a hit.
    functions: HashMap<String, Vec<(String, u64)>>,
    /// Call PC -> [(its Lines, location id)] for frames with a known PC.
    locations: HashMap<u64, Vec<(LineKey, u64)>>,
    /// (function id, line) -> location id, for frames without a PC.
    pcless: HashMap<(u64, u32), u64>,
    program: String,
}

impl ProfileBuilder {
    /// A builder for a profile of the program called `program` (the
    /// Mapping's file name, shown by pprof as `File:`).
    pub fn new(program: &str) -> ProfileBuilder {
        let mut b = ProfileBuilder {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
            pcless: HashMap::new(),
            program: program.to_string(),
        };
        b.string(""); // index 0, as the format requires
        b
    }

    /// Index of `s` in the string table, adding it if new.
    pub fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn value_type(&mut self, ty: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(ty),
            unit: self.string(unit),
        }
    }

    /// Append a sample type (`type/unit`), in value order.
    pub fn sample_type(&mut self, ty: &str, unit: &str) {
        let vt = self.value_type(ty, unit);
        self.profile.sample_type.push(vt);
    }

    /// Set the period type and period.
    pub fn period(&mut self, ty: &str, unit: &str, period: i64) {
        self.profile.period_type = Some(self.value_type(ty, unit));
        self.profile.period = period;
    }

    /// Set the default sample type by name (e.g. `alloc_space`).
    pub fn default_sample_type(&mut self, ty: &str) {
        self.profile.default_sample_type = self.string(ty);
    }

    /// Set collection time and duration, ns.
    pub fn times(&mut self, time_nanos: i64, duration_nanos: i64) {
        self.profile.time_nanos = time_nanos;
        self.profile.duration_nanos = duration_nanos;
    }

    fn function(&mut self, f: &Frame) -> u64 {
        if let Some(list) = self.functions.get(f.function.as_str()) {
            if let Some((_, id)) = list.iter().find(|(file, _)| *file == f.file) {
                return *id;
            }
        }
        let id = self.profile.function.len() as u64 + 1;
        let name = self.string(&f.function);
        let filename = self.string(&f.file);
        self.profile.function.push(Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.functions
            .entry(f.function.clone())
            .or_default()
            .push((f.file.clone(), id));
        id
    }

    /// The Location of `group`: frames of one PC, innermost first, each
    /// inlined into the next (a single frame if nothing was inlined).
    fn location(&mut self, group: &[Frame]) -> u64 {
        let lines: LineKey = group.iter().map(|f| (self.function(f), f.line)).collect();
        let f = group.last().expect("a location has at least one frame");
        if f.pc == 0 {
            if let Some(&id) = self.pcless.get(&lines[0]) {
                return id;
            }
        } else if let Some(list) = self.locations.get(&f.call_pc()) {
            if let Some((_, id)) = list.iter().find(|(l, _)| *l == lines) {
                return *id;
            }
        }
        let id = self.profile.location.len() as u64 + 1;
        let address = if f.pc == 0 {
            SYNTHETIC_BASE + id * 16
        } else {
            f.call_pc()
        };
        self.profile.location.push(Location {
            id,
            mapping_id: 1,
            address,
            line: lines
                .iter()
                .map(|&(function_id, line)| Line {
                    function_id,
                    line: line as i64,
                })
                .collect(),
            is_folded: false,
        });
        if f.pc == 0 {
            self.pcless.insert(lines[0], id);
        } else {
            self.locations
                .entry(f.call_pc())
                .or_default()
                .push((lines, id));
        }
        id
    }

    /// Add a sample with the given stack (leaf first), values (one per
    /// sample type) and labels. Frames inlined into the next frame (same
    /// PC) join its Location.
    pub fn sample(&mut self, stack: &[Frame], values: Vec<i64>, labels: Vec<Label>) {
        let mut location_id = Vec::with_capacity(stack.len());
        let mut i = 0;
        while i < stack.len() {
            let mut j = i;
            while j + 1 < stack.len()
                && stack[j].inlined
                && stack[j].pc != 0
                && stack[j + 1].pc == stack[j].pc
            {
                j += 1;
            }
            location_id.push(self.location(&stack[i..=j]));
            i = j + 1;
        }
        self.profile.sample.push(Sample {
            location_id,
            value: values,
            label: labels,
        });
    }

    /// A string label `key=value`.
    pub fn str_label(&mut self, key: &str, value: &str) -> Label {
        Label {
            key: self.string(key),
            str: self.string(value),
            num: 0,
            num_unit: 0,
        }
    }

    /// A numeric label `key=num` (no unit, as Go's `bytes` label).
    pub fn num_label(&mut self, key: &str, num: i64) -> Label {
        Label {
            key: self.string(key),
            str: 0,
            num,
            num_unit: 0,
        }
    }

    /// Finish: add the one Mapping covering every location address.
    pub fn build(mut self) -> Profile {
        let (lo, hi) = self
            .profile
            .location
            .iter()
            .fold((u64::MAX, 0u64), |(lo, hi), l| {
                (lo.min(l.address), hi.max(l.address))
            });
        let (start, limit) = if lo > hi {
            (0, 0)
        } else {
            // page-align the start, and leave room after the last address
            (lo & !0xfff, hi.saturating_add(0x1000) & !0xfff)
        };
        let filename = self.string(&self.program.clone());
        let inlines = self.profile.location.iter().any(|l| l.line.len() > 1);
        self.profile.mapping.push(Mapping {
            id: 1,
            memory_start: start,
            memory_limit: limit,
            file_offset: 0,
            filename,
            build_id: 0,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: inlines,
        });
        self.profile
    }
}

/// The profile serialized and gzip-compressed, as it goes on disk and over
/// HTTP (`gzip.BestSpeed`, like Go).
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    let raw = profile.encode_to_vec();
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 2 + 64), Compression::fast());
    gz.write_all(&raw).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}

/// Write the gzip'd profile to `w`.
pub fn write_gzip(profile: &Profile, mut w: impl Write) -> std::io::Result<()> {
    w.write_all(&encode_gzip(profile))
}

/// Decode a (possibly gzip'd) profile, for tests and tools.
pub fn decode(bytes: &[u8]) -> Result<Profile, String> {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut d = flate2::read::GzDecoder::new(bytes);
        std::io::Read::read_to_end(&mut d, &mut out).map_err(|e| e.to_string())?;
        out
    } else {
        bytes.to_vec()
    };
    Profile::decode(raw.as_slice()).map_err(|e| e.to_string())
}

/// Check the rules pprof's parser enforces (`CheckValid` and the string
/// table rule), returning the first violation.
pub fn check_valid(p: &Profile) -> Result<(), String> {
    if p.string_table.first().map(String::as_str) != Some("") {
        return Err("string_table[0] must be ''".into());
    }
    let n = p.string_table.len() as i64;
    let s_ok = |i: i64| (0..n).contains(&i);
    if !p.sample.is_empty() && p.sample_type.is_empty() {
        return Err("missing sample type information".into());
    }
    for vt in p.sample_type.iter().chain(p.period_type.iter()) {
        if !s_ok(vt.r#type) || !s_ok(vt.unit) {
            return Err("value type string out of range".into());
        }
    }
    let mut ids = std::collections::HashSet::new();
    for m in &p.mapping {
        if m.id == 0 || !ids.insert(m.id) {
            return Err(format!("bad or duplicate mapping id {}", m.id));
        }
    }
    let mut fids = std::collections::HashSet::new();
    for f in &p.function {
        if f.id == 0 || !fids.insert(f.id) {
            return Err(format!("bad or duplicate function id {}", f.id));
        }
        if !s_ok(f.name) || !s_ok(f.filename) || !s_ok(f.system_name) {
            return Err("function string out of range".into());
        }
    }
    let mut lids = std::collections::HashSet::new();
    for l in &p.location {
        if l.id == 0 || !lids.insert(l.id) {
            return Err(format!("bad or duplicate location id {}", l.id));
        }
        if l.mapping_id != 0 && !ids.contains(&l.mapping_id) {
            return Err(format!("location {} has unknown mapping", l.id));
        }
        for line in &l.line {
            if !fids.contains(&line.function_id) {
                return Err(format!("location {} has unknown function", l.id));
            }
        }
    }
    for s in &p.sample {
        if s.value.len() != p.sample_type.len() {
            return Err(format!(
                "mismatch: sample has {} values vs. {} types",
                s.value.len(),
                p.sample_type.len()
            ));
        }
        if let Some(id) = s.location_id.iter().find(|id| !lids.contains(id)) {
            return Err(format!("sample refers to unknown location {id}"));
        }
        for l in &s.label {
            if !s_ok(l.key) || !s_ok(l.str) {
                return Err("label string out of range".into());
            }
        }
    }
    Ok(())
}
