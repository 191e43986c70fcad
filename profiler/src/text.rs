//! Go's legacy text profiles (`?debug=1`, and the `?debug=2` goroutine dump).
//!
//! See [crate] for the overview. Byte layout is Go 1.19's
//! (`runtime/pprof/pprof.go`: `writeHeapInternal`, `printCountProfile`,
//! `writeProfileInternal`, `printStackRecord`; `runtime/traceback.go` for
//! the dump), checked against `captures/*.txt` (`reference/profiler.md` §1.5):
//!
//! ```text
//! heap profile: 17: 60528 [18: 1109104] @ heap/1048576
//! 14: 57344 [14: 57344] @ 0x670a26 0x6709f6 0x43af32 0x46b1c1
//! #<TAB>0x670a25<TAB>main.alloc+0x65<TAB><TAB>/src/example/main.go:16
//! ```
//!
//! * Header and record lines carry raw (sampled) counts and **return** PCs;
//!   the `#` lines carry the **call** PC (`pc - 1`) and `function+offset`.
//! * Inlined calls: a record line prints each PC once; the `#` lines print
//!   one line per frame, the inlined ones first, all with the same call PC
//!   and the offset from the entry of the function they were inlined into
//!   (Go 1.19's `runtime.CallersFrames`). In the goroutine dump an inlined
//!   frame prints `\tfile:line` without `+0x..`, as Go's traceback does.
//! * The `#` lines go through a tab writer with Go's settings
//!   (`tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)`): each column of a block
//!   of consecutive `#` lines is padded with TABs to the next multiple of 8
//!   after its widest cell plus one. [`tabwrite`] reimplements that.
//! * `runtime.goexit` is never printed; leading `runtime.*` frames are
//!   hidden for heap and count profiles unless nothing else remains.
//! * pprof reads all of these back (`go tool pprof` falls back to the
//!   legacy parsers when proto decoding fails).

use std::fmt::Write as _;
use std::io;

use crate::memstats::MemStats;
use crate::pprof::{count_key, ContentionKind, ContentionRecord, CountRecord, MemRecord};
use crate::stack::Frame;

/// Format `text` the way Go's `text/tabwriter` does with minwidth 1,
/// tabwidth 8, padding 1, padchar TAB and no flags.
pub fn tabwrite(text: &str) -> String {
    struct Line<'a> {
        cells: Vec<&'a str>,
        newline: bool,
    }
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, newline, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, ""),
        };
        lines.push(Line {
            cells: line.split('\t').collect(),
            newline,
        });
        rest = next;
    }
    let width = |s: &str| s.chars().count();

    fn write_lines(
        out: &mut String,
        lines: &[Line<'_>],
        widths: &[usize],
        width: &dyn Fn(&str) -> usize,
    ) {
        for l in lines {
            for (j, c) in l.cells.iter().enumerate() {
                out.push_str(c);
                if j < widths.len() && j + 1 < l.cells.len() {
                    // Go's writePadding with padchar '\t'
                    let cellw = widths[j].div_ceil(8) * 8;
                    let n = cellw - width(c);
                    for _ in 0..n.div_ceil(8) {
                        out.push('\t');
                    }
                }
            }
            if l.newline {
                out.push('\n');
            }
        }
    }

    fn format(
        out: &mut String,
        lines: &[Line<'_>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        width: &dyn Fn(&str) -> usize,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].cells.len() {
                this += 1;
                continue;
            }
            write_lines(out, &lines[line0..this], widths, width);
            line0 = this;
            let mut w = 1; // minwidth
            while this < line1 && column + 1 < lines[this].cells.len() {
                w = w.max(width(lines[this].cells[column]) + 1); // + padding
                this += 1;
            }
            widths.push(w);
            format(out, lines, line0, this, widths, width);
            widths.pop();
            line0 = this;
            // Go's loop increment skips the line that ended the block; it
            // has no cell in this column, so it cannot start a block.
            this += 1;
        }
        write_lines(out, &lines[line0..line1], widths, width);
    }

    let mut out = String::with_capacity(text.len() + text.len() / 8);
    format(&mut out, &lines, 0, lines.len(), &mut Vec::new(), &width);
    out
}

/// Go's `printStackRecord`: the `#` lines of one record and a blank line.
/// With `all_frames` false, leading `runtime.*` frames are hidden (and the
/// whole stack is printed if that would hide everything).
/// `runtime.goexit` is always hidden.
fn print_stack_record(out: &mut String, stack: &[Frame], all_frames: bool) {
    let mut show = all_frames;
    let mut buf = String::new();
    if stack.is_empty() {
        // Go's CallersFrames on an empty stack yields one zero frame.
        buf.push_str("#\t0x0\n");
        show = true;
    }
    for f in stack {
        if f.function.is_empty() {
            show = true;
            let _ = writeln!(buf, "#\t{:#x}", f.call_pc());
        } else if f.function != "runtime.goexit" && (show || !f.is_runtime()) {
            show = true;
            let _ = writeln!(
                buf,
                "#\t{:#x}\t{}+{:#x}\t{}:{}",
                f.call_pc(),
                f.function,
                f.call_offset(),
                f.file,
                f.line
            );
        }
    }
    if !show {
        return print_stack_record(out, stack, true);
    }
    out.push_str(&buf);
    out.push('\n');
}

/// The PCs of a record line (` 0x… 0x…`): each return PC once per
/// physical frame, so the frames inlined at a PC share its one entry (Go's
/// stack records hold PCs, and `#` lines expand them). Also used, with the
/// labels, as the grouping key of count profiles.
pub(crate) fn pcs(out: &mut String, stack: &[Frame]) {
    for (i, f) in stack.iter().enumerate() {
        if Frame::ends_pc(stack, i) {
            let _ = write!(out, " {:#x}", f.pc);
        }
    }
}

/// Go's `labelMap.String()`: `{"k":"v", …}`, entries sorted.
pub fn labels_string(labels: &[(String, String)]) -> String {
    let mut kv: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect();
    kv.sort();
    format!("{{{}}}", kv.join(", "))
}

/// Go's `%q` for the common cases (ASCII escapes and `\u` for other controls).
pub(crate) fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`):
/// shortest round-trip digits, in `%e` form (`1.234e-05`) when the decimal
/// exponent is < -4 or ≥ 6.
pub fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let e = format!("{v:e}"); // shortest round-trip digits, e.g. 3.918e-4
    let (mant, exp) = e.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{v}")
}

/// Write the `heap?debug=1` text: the header, one record per bucket
/// (sorted by in-use bytes, descending), and the `# runtime.MemStats`
/// trailer. `rate` is the MemProfileRate (the header prints twice it, as
/// Go does); `max_rss` is printed as `# MaxRSS` when known.
pub fn write_heap_text(
    mut w: impl io::Write,
    records: &[MemRecord],
    rate: i64,
    m: &MemStats,
    max_rss: Option<u64>,
) -> io::Result<()> {
    let mut recs: Vec<&MemRecord> = records.iter().collect();
    recs.sort_by_key(|r| std::cmp::Reverse(r.inuse_bytes()));
    let (mut ao, mut ab, mut fo, mut fb) = (0i64, 0i64, 0i64, 0i64);
    for r in &recs {
        ao += r.alloc_objects;
        ab += r.alloc_bytes;
        fo += r.free_objects;
        fb += r.free_bytes;
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "heap profile: {}: {} [{}: {}] @ heap/{}",
        ao - fo,
        ab - fb,
        ao,
        ab,
        2 * rate
    );
    for r in &recs {
        let _ = write!(
            s,
            "{}: {} [{}: {}] @",
            r.inuse_objects(),
            r.inuse_bytes(),
            r.alloc_objects,
            r.alloc_bytes
        );
        pcs(&mut s, &r.stack);
        s.push('\n');
        print_stack_record(&mut s, &r.stack, false);
    }
    s.push_str("\n# runtime.MemStats\n");
    let _ = writeln!(s, "# Alloc = {}", m.alloc);
    let _ = writeln!(s, "# TotalAlloc = {}", m.total_alloc);
    let _ = writeln!(s, "# Sys = {}", m.sys);
    let _ = writeln!(s, "# Lookups = {}", m.lookups);
    let _ = writeln!(s, "# Mallocs = {}", m.mallocs);
    let _ = writeln!(s, "# Frees = {}", m.frees);
    let _ = writeln!(s, "# HeapAlloc = {}", m.heap_alloc);
    let _ = writeln!(s, "# HeapSys = {}", m.heap_sys);
    let _ = writeln!(s, "# HeapIdle = {}", m.heap_idle);
    let _ = writeln!(s, "# HeapInuse = {}", m.heap_inuse);
    let _ = writeln!(s, "# HeapReleased = {}", m.heap_released);
    let _ = writeln!(s, "# HeapObjects = {}", m.heap_objects);
    let _ = writeln!(s, "# Stack = {} / {}", m.stack_inuse, m.stack_sys);
    let _ = writeln!(s, "# MSpan = {} / {}", m.mspan_inuse, m.mspan_sys);
    let _ = writeln!(s, "# MCache = {} / {}", m.mcache_inuse, m.mcache_sys);
    let _ = writeln!(s, "# BuckHashSys = {}", m.buck_hash_sys);
    let _ = writeln!(s, "# GCSys = {}", m.gc_sys);
    let _ = writeln!(s, "# OtherSys = {}", m.other_sys);
    let _ = writeln!(s, "# NextGC = {}", m.next_gc);
    let _ = writeln!(s, "# LastGC = {}", m.last_gc);
    let join = |a: &[u64]| a.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let _ = writeln!(s, "# PauseNs = [{}]", join(&m.pause_ns));
    let _ = writeln!(s, "# PauseEnd = [{}]", join(&m.pause_end));
    let _ = writeln!(s, "# NumGC = {}", m.num_gc);
    let _ = writeln!(s, "# NumForcedGC = {}", m.num_forced_gc);
    let _ = writeln!(s, "# GCCPUFraction = {}", go_float(m.gc_cpu_fraction));
    let _ = writeln!(s, "# DebugGC = {}", m.debug_gc);
    if let Some(rss) = max_rss {
        let _ = writeln!(s, "# MaxRSS = {rss}");
    }
    w.write_all(tabwrite(&s).as_bytes())
}

/// Write a count profile (`goroutine?debug=1`, `threadcreate?debug=1`):
/// `<name> profile: total N`, then each record (already grouped and sorted,
/// see [`crate::pprof::aggregate_counts`]) with its labels and `#` lines.
pub fn write_count_text(
    mut w: impl io::Write,
    name: &str,
    records: &[CountRecord],
) -> io::Result<()> {
    let total: i64 = records.iter().map(|r| r.count).sum();
    let mut s = String::new();
    let _ = writeln!(s, "{name} profile: total {total}");
    for r in records {
        let _ = writeln!(s, "{} @{}", r.count, count_key(&r.stack, &r.labels));
        print_stack_record(&mut s, &r.stack, false);
    }
    w.write_all(tabwrite(&s).as_bytes())
}

/// Write a contention profile (`block?debug=1` as `--- contention:`,
/// `mutex?debug=1` as `--- mutex:` with its sampling period). Records are
/// printed with raw cycles and counts, sorted by cycles descending.
pub fn write_contention_text(
    mut w: impl io::Write,
    kind: ContentionKind,
    records: &[ContentionRecord],
    cycles_per_second: i64,
) -> io::Result<()> {
    let mut recs: Vec<&ContentionRecord> = records.iter().collect();
    recs.sort_by_key(|r| std::cmp::Reverse(r.cycles));
    let mut s = String::new();
    match kind {
        ContentionKind::Block => s.push_str("--- contention:\n"),
        ContentionKind::Mutex { .. } => s.push_str("--- mutex:\n"),
    }
    let _ = writeln!(s, "cycles/second={cycles_per_second}");
    if let ContentionKind::Mutex { fraction } = kind {
        let _ = writeln!(s, "sampling period={fraction}");
    }
    for r in recs {
        let _ = write!(s, "{} {} @", r.cycles, r.count);
        pcs(&mut s, &r.stack);
        s.push('\n');
        print_stack_record(&mut s, &r.stack, true);
    }
    w.write_all(tabwrite(&s).as_bytes())
}

/// One goroutine of the `goroutine?debug=2` dump.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GoroutineDump {
    /// Goroutine id.
    pub id: u64,
    /// Status or wait reason as Go prints it: `running`, `runnable`,
    /// `chan receive`, `semacquire`, `sleep`, `IO wait`, `select`, …
    pub status: String,
    /// Minutes blocked, printed as `, N minutes` when ≥ 1.
    pub wait_minutes: u64,
    /// Whether the goroutine is locked to its OS thread.
    pub locked_to_thread: bool,
    /// The stack, leaf first.
    pub stack: Vec<Frame>,
    /// The `go` statement that created it (absent for the main goroutine).
    pub created_by: Option<Frame>,
    /// Its profiler labels, printed after the `]` as Go 1.27 prints them
    /// (`{a: b, worker: 7}`, [`crate::labels::LabelSet::traceback_string`]).
    pub labels: Vec<(String, String)>,
}

/// Write the `goroutine?debug=2` dump: Go's panic-traceback format, one
/// goroutine after another separated by blank lines.
///
/// gort records no argument words, so every call prints as `name(...)`
/// (the form Go uses when it elides arguments); each frame's second line is
/// `\tfile:line +0xOFF`, the offset of the return PC from the entry. An
/// inlined frame ([`Frame::inlined`]) prints no offset, as in Go's
/// traceback, and neither does a frame whose PC is unknown (0).
pub fn write_goroutine_dump(mut w: impl io::Write, goroutines: &[GoroutineDump]) -> io::Result<()> {
    let loc = |s: &mut String, f: &Frame| {
        let _ = write!(s, "\t{}:{}", f.file, f.line);
        if f.pc != 0 && !f.inlined {
            let _ = write!(s, " +{:#x}", f.return_offset());
        }
        s.push('\n');
    };
    let mut s = String::new();
    for (i, g) in goroutines.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = write!(s, "goroutine {} [{}", g.id, g.status);
        if g.wait_minutes >= 1 {
            let _ = write!(s, ", {} minutes", g.wait_minutes);
        }
        if g.locked_to_thread {
            s.push_str(", locked to thread");
        }
        s.push(']');
        if !g.labels.is_empty() {
            s.push(' ');
            s.push_str(&crate::labels::LabelSet::new(&g.labels).traceback_string());
        }
        s.push_str(":\n");
        for f in &g.stack {
            let _ = writeln!(s, "{}(...)", f.function);
            loc(&mut s, f);
        }
        if let Some(c) = &g.created_by {
            let _ = writeln!(s, "created by {}", c.function);
            loc(&mut s, c);
        }
    }
    w.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pprof::aggregate_counts;

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    /// Parse the `#` lines of a capture back into frames (pc from the
    /// record line, function/offset/file/line from the `#` line).
    fn frames_of(record_pcs: &str, hash_lines: &[&str]) -> Vec<Frame> {
        let pcs: Vec<u64> = record_pcs
            .split_whitespace()
            .map(|p| u64::from_str_radix(p.trim_start_matches("0x"), 16).unwrap())
            .collect();
        let mut out = Vec::new();
        let mut k = 0;
        for pc in pcs {
            let l = hash_lines.get(k).copied().unwrap_or("");
            let cols: Vec<&str> = l.split('\t').filter(|c| !c.is_empty()).collect();
            if cols.len() == 4
                && u64::from_str_radix(cols[1].trim_start_matches("0x"), 16).unwrap() == pc - 1
            {
                let (func, off) = cols[2].rsplit_once("+0x").unwrap();
                let off = u64::from_str_radix(off, 16).unwrap();
                let (file, line) = cols[3].rsplit_once(':').unwrap();
                out.push(Frame::new(
                    func,
                    file,
                    line.parse().unwrap(),
                    pc,
                    pc - 1 - off,
                ));
                k += 1;
            } else {
                // a frame Go hid (runtime.goexit, leading runtime frames)
                let name = if pc == 0x46b1c1 {
                    "runtime.goexit"
                } else {
                    "runtime.hidden"
                };
                out.push(Frame::new(name, "$GOROOT/src/runtime/x.go", 1, pc, pc - 1));
            }
        }
        out
    }

    /// Split a capture into (header line, [(record line, # lines)]).
    fn records(text: &str, header_lines: usize) -> (Vec<String>, Vec<(String, Vec<String>)>) {
        let mut lines = text.lines();
        let header = (0..header_lines)
            .map(|_| lines.next().unwrap().to_string())
            .collect();
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for l in lines {
            if l.starts_with("# runtime.MemStats") {
                break;
            }
            if l.starts_with('#') && !l.starts_with("# labels") {
                out.last_mut().unwrap().1.push(l.to_string());
            } else if !l.is_empty() && !l.starts_with("# labels") {
                out.push((l.to_string(), vec![]));
            }
        }
        (header, out)
    }

    #[test]
    fn tabwriter_matches_go() {
        assert_eq!(
            tabwrite("#\ta\tbbbbbbbbbbbbbbbbbb\tx\n#\tcc\td\ty\n"),
            "#\ta\tbbbbbbbbbbbbbbbbbb\tx\n#\tcc\td\t\t\ty\n"
        );
        // a line with no tab ends the block
        assert_eq!(
            tabwrite("#\tlongername\tx\nbreak\n#\tb\ty\n"),
            "#\tlongername\tx\nbreak\n#\tb\ty\n"
        );
    }

    #[test]
    fn heap_text_reproduces_go_capture_records_and_trailer() {
        let cap = data("heap_debug1.txt");
        let (_, recs) = records(&cap, 1);
        let mut mem = Vec::new();
        for (head, hashes) in &recs {
            // "14: 57344 [14: 57344] @ 0x..."
            let (nums, pcs) = head.split_once(" @").unwrap();
            let v: Vec<i64> = nums
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let hs: Vec<&str> = hashes.iter().map(String::as_str).collect();
            mem.push(MemRecord {
                stack: frames_of(pcs, &hs),
                alloc_objects: v[2],
                alloc_bytes: v[3],
                free_objects: v[2] - v[0],
                free_bytes: v[3] - v[1],
                labels: vec![],
            });
        }
        let ms = crate::memstats::tests::captured();
        let mut out = Vec::new();
        write_heap_text(&mut out, &mem, 524288, &ms, Some(8880128)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), cap);
    }

    #[test]
    fn goroutine_text_reproduces_go_capture() {
        let cap = data("goroutine_debug1.txt");
        let (_, recs) = records(&cap, 1);
        let mut items = Vec::new();
        for (head, hashes) in &recs {
            let (n, pcs) = head.split_once(" @").unwrap();
            let hs: Vec<&str> = hashes.iter().map(String::as_str).collect();
            let st = frames_of(pcs, &hs);
            for _ in 0..n.parse::<usize>().unwrap() {
                items.push((st.clone(), vec![]));
            }
        }
        let grouped = aggregate_counts(&items);
        let mut out = Vec::new();
        write_count_text(&mut out, "goroutine", &grouped).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), cap);
    }

    #[test]
    fn threadcreate_text_reproduces_go_capture() {
        let cap = data("threadcreate_debug1.txt");
        let (_, recs) = records(&cap, 1);
        let mut grouped = Vec::new();
        for (head, hashes) in &recs {
            let (n, pcs) = head.split_once(" @").unwrap();
            let hs: Vec<&str> = hashes
                .iter()
                .map(String::as_str)
                .filter(|h| *h != "#\t0x0")
                .collect();
            grouped.push(CountRecord {
                stack: frames_of(pcs, &hs),
                count: n.parse().unwrap(),
                labels: vec![],
            });
        }
        let mut out = Vec::new();
        write_count_text(&mut out, "threadcreate", &grouped).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), cap);
    }

    #[test]
    fn contention_texts_reproduce_go_captures() {
        for (file, kind, header) in [
            ("block_debug1.txt", ContentionKind::Block, 2),
            ("mutex_debug1.txt", ContentionKind::Mutex { fraction: 1 }, 3),
        ] {
            let cap = data(file);
            let (_, recs) = records(&cap, header);
            let mut cr = Vec::new();
            for (head, hashes) in &recs {
                let (nums, pcs) = head.split_once(" @").unwrap();
                let (cycles, count) = nums.split_once(' ').unwrap();
                let hs: Vec<&str> = hashes.iter().map(String::as_str).collect();
                cr.push(ContentionRecord {
                    stack: frames_of(pcs, &hs),
                    count: count.parse().unwrap(),
                    cycles: cycles.parse().unwrap(),
                });
            }
            cr.reverse(); // the writer must sort by cycles itself
            let mut out = Vec::new();
            write_contention_text(&mut out, kind, &cr, 2000014393).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), cap, "{file}");
        }
    }

    #[test]
    fn goroutine_dump_layout() {
        let g = |id, status: &str, stack: Vec<Frame>, created| GoroutineDump {
            id,
            status: status.into(),
            stack,
            created_by: created,
            ..Default::default()
        };
        let dump = [
            g(
                1,
                "chan receive",
                vec![Frame::new(
                    "main.main",
                    "/src/main.go",
                    40,
                    0x670b9a,
                    0x670995,
                )],
                None,
            ),
            g(
                21,
                "sleep",
                vec![
                    Frame::new(
                        "time.Sleep",
                        "$GOROOT/src/runtime/time.go",
                        195,
                        0x468035,
                        0x467f00,
                    ),
                    Frame::new("main.main.func1", "/src/main.go", 29, 0x670c67, 0x670c20),
                ],
                Some(Frame::new(
                    "main.main",
                    "/src/main.go",
                    26,
                    0x670ac0,
                    0x670995,
                )),
            ),
        ];
        let mut out = Vec::new();
        write_goroutine_dump(&mut out, &dump).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "goroutine 1 [chan receive]:\nmain.main(...)\n\t/src/main.go:40 +0x205\n\n\
             goroutine 21 [sleep]:\ntime.Sleep(...)\n\t$GOROOT/src/runtime/time.go:195 +0x135\n\
             main.main.func1(...)\n\t/src/main.go:29 +0x47\ncreated by main.main\n\t/src/main.go:26 +0x12b\n"
        );
    }

    /// `goroutine?debug=2`: the capture, with Go's argument words replaced
    /// by `...` (gort records none), is reproduced byte for byte.
    #[test]
    fn goroutine_dump_reproduces_go_capture() {
        let cap = data("goroutine_debug2.txt");
        let mut normalized = String::new();
        let mut dumps: Vec<GoroutineDump> = Vec::new();
        let mut pending: Option<String> = None; // a function or "created by" waiting for its location
        for line in cap.lines() {
            if let Some(rest) = line.strip_prefix("goroutine ") {
                let (id, rest) = rest.split_once(" [").unwrap();
                let status = rest.strip_suffix("]:").unwrap();
                dumps.push(GoroutineDump {
                    id: id.parse().unwrap(),
                    status: status.into(),
                    ..Default::default()
                });
                normalized.push_str(line);
            } else if let Some(loc) = line.strip_prefix('\t') {
                let (fileline, off) = match loc.split_once(" +0x") {
                    Some((fl, off)) => (fl, Some(u64::from_str_radix(off, 16).unwrap())),
                    None => (loc, None),
                };
                let (file, l) = fileline.rsplit_once(':').unwrap();
                let entry = 0x40_0000;
                let pc = off.map_or(0, |o| entry + o);
                let name = pending.take().unwrap();
                let g = dumps.last_mut().unwrap();
                match name.strip_prefix("created by ") {
                    Some(f) => {
                        g.created_by = Some(Frame::new(f, file, l.parse().unwrap(), pc, entry))
                    }
                    None => g
                        .stack
                        .push(Frame::new(name, file, l.parse().unwrap(), pc, entry)),
                }
                normalized.push_str(line);
            } else if line.starts_with("created by ") {
                pending = Some(line.to_string());
                normalized.push_str(line);
            } else if line.is_empty() {
                normalized.push_str(line);
            } else {
                // "pkg.f(args)": the argument list is the last parenthesized group
                let open = line.rfind('(').unwrap();
                pending = Some(line[..open].to_string());
                normalized.push_str(&line[..open]);
                normalized.push_str("(...)");
            }
            normalized.push('\n');
        }
        assert_eq!(dumps.len(), 9);
        let mut out = Vec::new();
        write_goroutine_dump(&mut out, &dumps).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), normalized);
    }

    /// A stack with a call inlined at one PC and a recursive call that
    /// repeats a PC: leaf `inner` inlined into `outer` (same pc), then
    /// `rec` twice (two physical frames), then `main`.
    fn inlined_stack() -> Vec<Frame> {
        let mut inner = Frame::new("app::inner", "/src/a.rs", 10, 0x1005, 0x1000);
        inner.inlined = true;
        vec![
            inner,
            Frame::new("app::outer", "/src/a.rs", 20, 0x1005, 0x1000),
            Frame::new("app::rec", "/src/b.rs", 5, 0x2010, 0x2000),
            Frame::new("app::rec", "/src/b.rs", 5, 0x2010, 0x2000),
            Frame::new("app::main", "/src/b.rs", 30, 0x3020, 0x3000),
        ]
    }

    /// The `#` lines of a text profile, tab runs collapsed to one space.
    fn hash_lines(text: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("#\t"))
            .map(|l| {
                l.split('\t')
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn inlined_frames_print_their_pc_once_and_a_hash_line_each() {
        let stack = inlined_stack();
        let want_pcs = "@ 0x1005 0x2010 0x2010 0x3020";
        let want_hash = [
            "# 0x1004 app::inner+0x4 /src/a.rs:10",
            "# 0x1004 app::outer+0x4 /src/a.rs:20",
            "# 0x200f app::rec+0xf /src/b.rs:5",
            "# 0x200f app::rec+0xf /src/b.rs:5",
            "# 0x301f app::main+0x1f /src/b.rs:30",
        ];

        let mut out = Vec::new();
        let rec = MemRecord {
            stack: stack.clone(),
            alloc_objects: 1,
            alloc_bytes: 64,
            ..Default::default()
        };
        write_heap_text(&mut out, &[rec], 512, &MemStats::default(), None).unwrap();
        let heap = String::from_utf8(out).unwrap();
        assert_eq!(
            heap.lines().nth(1).unwrap(),
            format!("1: 64 [1: 64] {want_pcs}")
        );
        assert_eq!(hash_lines(&heap), want_hash);

        let mut out = Vec::new();
        let grouped = aggregate_counts(&[(stack.clone(), vec![]), (stack.clone(), vec![])]);
        write_count_text(&mut out, "goroutine", &grouped).unwrap();
        let count = String::from_utf8(out).unwrap();
        assert_eq!(count.lines().nth(1).unwrap(), format!("2 {want_pcs}"));
        assert_eq!(hash_lines(&count), want_hash);

        let mut out = Vec::new();
        let rec = ContentionRecord {
            stack: stack.clone(),
            count: 3,
            cycles: 99,
        };
        write_contention_text(&mut out, ContentionKind::Block, &[rec], 1).unwrap();
        let block = String::from_utf8(out).unwrap();
        assert_eq!(block.lines().nth(2).unwrap(), format!("99 3 {want_pcs}"));
        assert_eq!(hash_lines(&block), want_hash);

        // A stack cut inside an inlined group still prints its PC.
        let cut = &stack[..1];
        let mut line = String::new();
        pcs(&mut line, cut);
        assert_eq!(line, " 0x1005");
    }

    #[test]
    fn goroutine_dump_prints_inlined_frames_without_offset() {
        let g = GoroutineDump {
            id: 7,
            status: "sleep".into(),
            stack: inlined_stack(),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_goroutine_dump(&mut out, &[g]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "goroutine 7 [sleep]:\n\
             app::inner(...)\n\t/src/a.rs:10\n\
             app::outer(...)\n\t/src/a.rs:20 +0x5\n\
             app::rec(...)\n\t/src/b.rs:5 +0x10\n\
             app::rec(...)\n\t/src/b.rs:5 +0x10\n\
             app::main(...)\n\t/src/b.rs:30 +0x20\n"
        );
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float(0.00039182286789252624), "0.00039182286789252624");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(0.25), "0.25");
        assert_eq!(go_float(0.00001234), "1.234e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
    }
}
