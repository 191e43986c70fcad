//! The `profile.proto` messages (package `perftools.profiles`), declared with
//! prost's derive so no `protoc` runs at build time.
//!
//! See [crate::pprof] for the overview. Field numbers and meanings are those
//! of `google/pprof` `proto/profile.proto` (`reference/profiler.md` §1.1).
//! Every `i64` documented as a "string index" indexes
//! [`Profile::string_table`], whose entry 0 must be `""`.

/// The whole profile (`perftools.profiles.Profile`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// One entry per value in every `Sample.value`.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Memory mappings; `mapping[0]` is the main binary.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Locations (one per frame PC) referenced by samples.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by locations.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// All strings; entry 0 must be `""`.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// String index of a regex of frames to drop (0 = none).
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// String index of a regex of frames to keep (0 = none).
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// Collection time, ns since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Duration of the collection, ns.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// The kind of events between sampled occurrences.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// Number of events between sampled occurrences.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// String indices of free-text comments.
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// String index of the sample type shown by default (0 = the last one).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// A (type, unit) pair such as `alloc_space`/`bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// String index of the type.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// String index of the unit.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One sample: a stack and its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per `Profile.sample_type`.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Labels attached to the sample.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A key with either a string or a numeric value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// String index of the key.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String index of the value (0 if numeric).
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Numeric value (when `str` is 0).
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// String index of the numeric value's unit.
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// A mapped binary; gort emits exactly one, for the program itself.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Nonzero unique id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start address of the mapping.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// Limit (exclusive) of the mapping.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// File offset of the mapping.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// String index of the file name.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// String index of the build id.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Every location in this mapping has function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Every location in this mapping has file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Every location in this mapping has line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Inlined frames are represented.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// One program location (a PC) with its symbolization.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Nonzero unique id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Id of the mapping holding `address`.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The call PC.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Source lines; several would mean inlining (gort emits one).
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Identical-code-folding marker.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// A function and line within a location.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Id of the function.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Source line number.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// A function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Nonzero unique id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// String index of the human-readable name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// String index of the system (mangled) name; equal to `name` here.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// String index of the source file.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// Line of the function's start (0 = unknown).
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}
