//! Flame graphs of a written profile: its samples folded into one line per
//! stack (`root;caller;…;leaf value`, Brendan Gregg's folded format) and
//! drawn as an SVG by the `inferno` crate.

use gort::crates::profiler::pprof::{decode, Profile};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The profile in `bytes` (gzip'd `profile.proto`, as gort writes it).
pub fn read(path: &Path) -> io::Result<Profile> {
    decode(&std::fs::read(path)?).map_err(io::Error::other)
}

/// The index of the sample value named `name` (e.g. `"alloc_space"`), as
/// `go tool pprof -sample_index` names it.
pub fn sample_index(p: &Profile, name: &str) -> Option<usize> {
    p.sample_type
        .iter()
        .position(|t| p.string_table.get(t.r#type as usize).map(String::as_str) == Some(name))
}

/// The names of one sample's frames, root first. A location with inlined
/// frames lists them innermost first (`profile.proto`), so both the
/// locations and their lines are walked backwards.
pub fn stack_names(p: &Profile, location_ids: &[u64]) -> Vec<String> {
    let mut names = Vec::new();
    for id in location_ids.iter().rev() {
        let Some(loc) = p.location.iter().find(|l| l.id == *id) else {
            continue;
        };
        for line in loc.line.iter().rev() {
            if let Some(f) = p.function.iter().find(|f| f.id == line.function_id) {
                names.push(p.string_table[f.name as usize].clone());
            }
        }
        if loc.line.is_empty() {
            names.push(format!("{:#x}", loc.address));
        }
    }
    names
}

/// The samples' stacks in the folded format, one line per distinct stack
/// with the sum of value `index` over its samples; stacks whose sum is 0
/// are left out. (`;` inside a Rust name, which has none, would split a
/// frame.)
pub fn folded(p: &Profile, index: usize) -> Vec<String> {
    let mut stacks: BTreeMap<String, i64> = BTreeMap::new();
    for s in &p.sample {
        let v = s.value.get(index).copied().unwrap_or(0);
        if v == 0 {
            continue;
        }
        let names = stack_names(p, &s.location_id);
        if names.is_empty() {
            continue;
        }
        *stacks.entry(names.join(";")).or_default() += v;
    }
    stacks
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(stack, v)| format!("{stack} {v}"))
        .collect()
}

/// The functions with the largest value `index` where they are the leaf
/// (pprof's "flat"), largest first: at most `n` of `(name, value)`.
pub fn top_flat(p: &Profile, index: usize, n: usize) -> Vec<(String, i64)> {
    let mut by_fn: BTreeMap<String, i64> = BTreeMap::new();
    for s in &p.sample {
        let v = s.value.get(index).copied().unwrap_or(0);
        if let Some(leaf) = stack_names(p, &s.location_id).pop() {
            *by_fn.entry(leaf).or_default() += v;
        }
    }
    let mut v: Vec<(String, i64)> = by_fn.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Draws the folded stacks of value `index` of the profile at `profile`
/// as a flame graph, written to `svg` (`title` on top, `count_name` the
/// unit shown on hover). Returns the number of distinct stacks drawn; an
/// empty profile is an error (inferno would draw an "ERROR: No valid input
/// provided" image).
pub fn write_svg(
    profile: &Path,
    index: usize,
    svg: &Path,
    title: &str,
    count_name: &str,
) -> io::Result<usize> {
    let p = read(profile)?;
    let lines = folded(&p, index);
    if lines.is_empty() {
        return Err(io::Error::other("no samples to draw"));
    }
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = count_name.to_string();
    // The same colours for the same names on every run.
    opt.hash = true;
    opt.deterministic = true;
    let file = std::io::BufWriter::new(std::fs::File::create(svg)?);
    inferno::flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), file)?;
    Ok(lines.len())
}
