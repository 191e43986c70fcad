//! The `GODEBUG=gctrace=1` line: one per completed GC cycle, on stderr.
//!
//! See [crate] for the overview. The format is Go 1.19's, printed by
//! `gcMarkTermination` in `runtime/mgc.go` (`reference/gc.md` §2.9,
//! `reference/profiler.md` §5.2):
//!
//! ```text
//! gc 3 @0.113s 13%: 0.025+102+2.5 ms clock, 0.050+4.6/42/62+5.1 ms cpu, 16->22->22 MB, 19 MB goal, 0 MB stacks, 0 MB globals, 2 P
//! ```
//!
//! Number formatting follows Go exactly:
//!
//! * `@T s` is the cycle's start (sweep termination) in whole milliseconds
//!   since runtime init, printed with three decimals (`itoaDiv(ms, 3)`).
//! * `P%` is `int(gc_cpu_fraction * 100)`, truncated.
//! * each duration goes through `fmtNSAsMS`: ≥ 10 ms prints whole
//!   milliseconds; otherwise the microseconds are cut to two significant
//!   digits with at most three decimals (`0.020`, `0.12`, `2.5`), and below
//!   1 µs the field is `0`.
//! * the heap sizes are bytes shifted right by 20 (truncated MiB).
//! * ` (forced)` is appended when the application forced the cycle.

use std::fmt::Write as _;

/// The figures of one GC cycle that the gctrace line reports. The collector
/// fills it in at mark termination; [`GcTraceLine::format`] renders it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GcTraceLine {
    /// Cycle number, 1-based (MemStats `num_gc` after this cycle).
    pub num: u32,
    /// Nanoseconds from runtime init to this cycle's sweep termination start.
    pub start_ns: u64,
    /// GC share of available CPU since program start (MemStats `gc_cpu_fraction`).
    pub gc_cpu_fraction: f64,
    /// Wall time of the sweep-termination stop-the-world phase, ns.
    pub sweep_term_clock_ns: u64,
    /// Wall time of the concurrent mark phase, ns.
    pub mark_clock_ns: u64,
    /// Wall time of the mark-termination stop-the-world phase, ns.
    pub mark_term_clock_ns: u64,
    /// CPU time of sweep termination (Ps stopped × wall time), ns.
    pub sweep_term_cpu_ns: u64,
    /// CPU time spent in mark assists by allocating goroutines, ns.
    pub assist_cpu_ns: u64,
    /// CPU time of background mark workers (dedicated + fractional), ns.
    pub background_cpu_ns: u64,
    /// CPU time of idle-priority mark workers, ns.
    pub idle_cpu_ns: u64,
    /// CPU time of mark termination (Ps stopped × wall time), ns.
    pub mark_term_cpu_ns: u64,
    /// Heap size (live heap bytes) when the cycle started.
    pub heap_start_bytes: u64,
    /// Heap size when marking ended.
    pub heap_end_bytes: u64,
    /// Bytes marked live by this cycle.
    pub heap_marked_bytes: u64,
    /// The heap goal this cycle was paced against.
    pub heap_goal_bytes: u64,
    /// Scannable stack bytes (Go's `maxStackScan`).
    pub stacks_bytes: u64,
    /// Scannable globals bytes (Go's `globalsScan`).
    pub globals_bytes: u64,
    /// Number of Ps (GOMAXPROCS) during the cycle.
    pub procs: u32,
    /// Whether the application forced this cycle (`gort::runtime::gc()`).
    pub forced: bool,
}

/// Go's `itoaDiv(val, dec)`: `val / 10^dec` with exactly `dec` decimals.
fn itoa_div(out: &mut String, val: u64, dec: u32) {
    let digits = val.to_string();
    let dec = dec as usize;
    if dec == 0 {
        out.push_str(&digits);
        return;
    }
    // Left-pad with zeros so there is at least one digit before the point.
    let padded = if digits.len() <= dec {
        format!("{}{}", "0".repeat(dec + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - dec);
    out.push_str(int);
    out.push('.');
    out.push_str(frac);
}

/// Go's `fmtNSAsMS`: nanoseconds as milliseconds, whole above 10 ms, else
/// two significant digits with at most three decimals.
pub fn fmt_ns_as_ms(out: &mut String, ns: u64) {
    if ns >= 10_000_000 {
        itoa_div(out, ns / 1_000_000, 0);
        return;
    }
    let mut x = ns / 1000;
    if x == 0 {
        out.push('0');
        return;
    }
    let mut dec = 3;
    while x >= 100 {
        x /= 10;
        dec -= 1;
    }
    itoa_div(out, x, dec);
}

impl GcTraceLine {
    /// The line exactly as Go 1.19 prints it, without the trailing newline.
    pub fn format(&self) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(s, "gc {} @", self.num);
        itoa_div(&mut s, self.start_ns / 1_000_000, 3);
        // Go: util := int(memstats.gc_cpu_fraction * 100) — truncation.
        let util = (self.gc_cpu_fraction * 100.0) as i64;
        let _ = write!(s, "s {util}%: ");
        for (i, ns) in [
            self.sweep_term_clock_ns,
            self.mark_clock_ns,
            self.mark_term_clock_ns,
        ]
        .into_iter()
        .enumerate()
        {
            if i != 0 {
                s.push('+');
            }
            fmt_ns_as_ms(&mut s, ns);
        }
        s.push_str(" ms clock, ");
        for (i, ns) in [
            self.sweep_term_cpu_ns,
            self.assist_cpu_ns,
            self.background_cpu_ns,
            self.idle_cpu_ns,
            self.mark_term_cpu_ns,
        ]
        .into_iter()
        .enumerate()
        {
            match i {
                0 => {}
                2 | 3 => s.push('/'),
                _ => s.push('+'),
            }
            fmt_ns_as_ms(&mut s, ns);
        }
        let _ = write!(
            s,
            " ms cpu, {}->{}->{} MB, {} MB goal, {} MB stacks, {} MB globals, {} P",
            self.heap_start_bytes >> 20,
            self.heap_end_bytes >> 20,
            self.heap_marked_bytes >> 20,
            self.heap_goal_bytes >> 20,
            self.stacks_bytes >> 20,
            self.globals_bytes >> 20,
            self.procs
        );
        if self.forced {
            s.push_str(" (forced)");
        }
        s
    }
}

impl std::fmt::Display for GcTraceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> String {
        let mut s = String::new();
        fmt_ns_as_ms(&mut s, v);
        s
    }

    #[test]
    fn fmt_ns_as_ms_matches_go_rules() {
        assert_eq!(ms(0), "0");
        assert_eq!(ms(999), "0");
        assert_eq!(ms(1_000), "0.001");
        assert_eq!(ms(20_000), "0.020");
        assert_eq!(ms(20_999), "0.020"); // truncates to µs, never rounds
        assert_eq!(ms(99_999), "0.099");
        assert_eq!(ms(123_456), "0.12");
        assert_eq!(ms(970_000), "0.97");
        assert_eq!(ms(2_567_000), "2.5");
        assert_eq!(ms(9_999_999), "9.9");
        assert_eq!(ms(10_000_000), "10");
        assert_eq!(ms(14_999_999), "14");
        assert_eq!(ms(625_400_000), "625");
    }

    #[test]
    fn formats_a_hand_built_cycle() {
        let line = GcTraceLine {
            num: 3,
            start_ns: 113_999_999, // 113 whole ms
            gc_cpu_fraction: 0.1399,
            sweep_term_clock_ns: 25_300,
            mark_clock_ns: 102_700_000,
            mark_term_clock_ns: 2_512_345,
            sweep_term_cpu_ns: 50_600,
            assist_cpu_ns: 4_690_000,
            background_cpu_ns: 42_100_000,
            idle_cpu_ns: 62_000_000,
            mark_term_cpu_ns: 5_100_000,
            heap_start_bytes: 16 << 20 | 12345,
            heap_end_bytes: (22 << 20) + (1 << 19),
            heap_marked_bytes: 22 << 20,
            heap_goal_bytes: 19 << 20,
            stacks_bytes: 4096,
            globals_bytes: 0,
            procs: 2,
            forced: false,
        };
        assert_eq!(
            line.format(),
            "gc 3 @0.113s 13%: 0.025+102+2.5 ms clock, 0.050+4.6/42/62+5.1 ms cpu, \
             16->22->22 MB, 19 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        );
        let forced = GcTraceLine {
            num: 12,
            start_ns: 2_413_000_000,
            forced: true,
            procs: 4,
            ..GcTraceLine::default()
        };
        assert_eq!(
            forced.to_string(),
            "gc 12 @2.413s 0%: 0+0+0 ms clock, 0+0/0/0+0 ms cpu, 0->0->0 MB, 0 MB goal, \
             0 MB stacks, 0 MB globals, 4 P (forced)"
        );
    }

    /// A millisecond field of a captured line ("0.020", "14") as the
    /// nanoseconds that Go would have formatted that way.
    fn ms_field_to_ns(f: &str) -> u64 {
        match f.split_once('.') {
            None => f.parse::<u64>().unwrap() * 1_000_000,
            Some((int, frac)) => {
                let int: u64 = int.parse().unwrap();
                let mut frac_ns: u64 = frac.parse().unwrap();
                for _ in frac.len()..6 {
                    frac_ns *= 10;
                }
                int * 1_000_000 + frac_ns
            }
        }
    }

    fn mb(f: &str) -> u64 {
        // a non-round byte count with the same >>20, to exercise truncation
        (f.parse::<u64>().unwrap() << 20) + 777
    }

    /// Parse a captured Go line into figures, re-format, and require the
    /// identical line. Every captured field shape (whole ms, 2 significant
    /// digits at 1–3 decimals, bare `0`) goes through the formatter.
    fn round_trip(line: &str) {
        let rest = line.strip_prefix("gc ").unwrap();
        let (num, rest) = rest.split_once(" @").unwrap();
        let (secs, rest) = rest.split_once("s ").unwrap();
        let (pct, rest) = rest.split_once("%: ").unwrap();
        let (clock, rest) = rest.split_once(" ms clock, ").unwrap();
        let (cpu, rest) = rest.split_once(" ms cpu, ").unwrap();
        let (heaps, rest) = rest.split_once(" MB, ").unwrap();
        let (goal, rest) = rest.split_once(" MB goal, ").unwrap();
        let (stacks, rest) = rest.split_once(" MB stacks, ").unwrap();
        let (globals, rest) = rest.split_once(" MB globals, ").unwrap();
        let (procs, forced) = match rest.strip_suffix(" P (forced)") {
            Some(p) => (p, true),
            None => (rest.strip_suffix(" P").unwrap(), false),
        };
        let clock: Vec<u64> = clock.split('+').map(ms_field_to_ns).collect();
        let cpu: Vec<u64> = cpu.split(['+', '/']).map(ms_field_to_ns).collect();
        let heaps: Vec<u64> = heaps.split("->").map(mb).collect();
        let (s_int, s_frac) = secs.split_once('.').unwrap();
        let start_ms: u64 = s_int.parse::<u64>().unwrap() * 1000 + s_frac.parse::<u64>().unwrap();
        let g = GcTraceLine {
            num: num.parse().unwrap(),
            start_ns: start_ms * 1_000_000 + 456_789,
            gc_cpu_fraction: (pct.parse::<f64>().unwrap() + 0.5) / 100.0,
            sweep_term_clock_ns: clock[0],
            mark_clock_ns: clock[1],
            mark_term_clock_ns: clock[2],
            sweep_term_cpu_ns: cpu[0],
            assist_cpu_ns: cpu[1],
            background_cpu_ns: cpu[2],
            idle_cpu_ns: cpu[3],
            mark_term_cpu_ns: cpu[4],
            heap_start_bytes: heaps[0],
            heap_end_bytes: heaps[1],
            heap_marked_bytes: heaps[2],
            heap_goal_bytes: mb(goal),
            stacks_bytes: mb(stacks),
            globals_bytes: mb(globals),
            procs: procs.parse().unwrap(),
            forced,
        };
        assert_eq!(g.format(), line);
    }

    #[test]
    fn reproduces_every_captured_go_line() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let mut n = 0;
        for file in ["gctrace_bintrees21.txt", "gctrace_bigbytes.txt"] {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            for line in text.lines().filter(|l| l.starts_with("gc ")) {
                round_trip(line);
                n += 1;
            }
        }
        assert_eq!(n, 108 + 10);
    }
}
