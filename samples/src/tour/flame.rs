//! Flame graphs of a written profile: its samples folded into one line per
//! stack (`root;caller;…;leaf value`, Brendan Gregg's folded format) and
//! drawn as an SVG by the `inferno` crate.

use gort::crates::profiler::pprof::{decode, Profile};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The profile written at `path` (gzip'd `profile.proto`, as gort writes it).
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

#[cfg(test)]
mod tests {
    use super::*;
    use gort::crates::profiler::pprof::proto::{Function, Line, Location, Sample, ValueType};

    /// Three functions: `main` calls `outer`, into which `inner` is
    /// inlined (one location, two lines, innermost first); one sample
    /// stops in `main` itself.
    fn profile() -> Profile {
        let strings = ["", "samples", "count", "main", "outer", "inner"];
        let func = |id: u64, name: i64| Function {
            id,
            name,
            ..Default::default()
        };
        let line = |function_id| Line {
            function_id,
            line: 1,
        };
        Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            function: vec![func(1, 3), func(2, 4), func(3, 5)],
            location: vec![
                Location {
                    id: 10,
                    line: vec![line(1)],
                    ..Default::default()
                },
                Location {
                    id: 20,
                    line: vec![line(3), line(2)],
                    ..Default::default()
                },
            ],
            sample: vec![
                Sample {
                    location_id: vec![20, 10],
                    value: vec![5],
                    ..Default::default()
                },
                Sample {
                    location_id: vec![20, 10],
                    value: vec![2],
                    ..Default::default()
                },
                Sample {
                    location_id: vec![10],
                    value: vec![1],
                    ..Default::default()
                },
                Sample {
                    location_id: vec![10],
                    value: vec![0],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn stacks_fold_root_first_with_inlined_frames() {
        let p = profile();
        assert_eq!(stack_names(&p, &[20, 10]), ["main", "outer", "inner"]);
        assert_eq!(folded(&p, 0), ["main 1", "main;outer;inner 7"]);
        assert_eq!(
            top_flat(&p, 0, 5),
            [("inner".to_string(), 7), ("main".to_string(), 1)]
        );
        assert_eq!(sample_index(&p, "samples"), Some(0));
        assert_eq!(sample_index(&p, "alloc_space"), None);
    }

    #[test]
    fn the_svg_names_the_frames() {
        let dir = std::env::temp_dir().join(format!("gort-flame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pprof = dir.join("p.pprof");
        let bytes = gort::crates::profiler::pprof::encode_gzip(&profile());
        std::fs::write(&pprof, bytes).unwrap();
        let svg = dir.join("p.svg");
        let drawn = write_svg(&pprof, 0, &svg, "a title", "samples");
        let text = std::fs::read_to_string(&svg).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(drawn.unwrap(), 2);
        assert!(text.starts_with("<?xml"), "{text}");
        for name in ["a title", "main", "outer", "inner"] {
            assert!(text.contains(name), "{name} missing");
        }
    }
}
