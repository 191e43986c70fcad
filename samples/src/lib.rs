//! Helpers shared by gort's sample programs.
//!
//! Each sample is one binary under `src/bin/` and has a Go twin under
//! `samples/go/<name>/main.go`; `samples/compare.sh` builds both and runs
//! them side by side. The samples print what their Go twins print, so this
//! crate carries the few pieces of Go's formatting they need:
//!
//! * [`log_println!`] — Go's `log.Println`: `YYYY/MM/DD HH:MM:SS ` + the
//!   values, local time, to **stderr** (Go's standard logger writes there);
//! * [`go_duration`] — Go's `time.Duration.String()` (`1.5µs`, `6.1234s`);
//! * [`go_float`] — Go's `%v` for a `float64` (shortest representation,
//!   exponent form when the decimal exponent is below -4 or at least 6,
//!   two-digit exponent).

pub mod binarytrees;
pub mod customrouter;
pub mod memstats;
pub mod tour;

use std::fmt;
use std::io::Write;

/// The local wall-clock time formatted as Go's standard logger prefix,
/// `YYYY/MM/DD HH:MM:SS` (no trailing space).
pub fn log_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `tm` is plain data (all-zero is a valid value) that
    // `localtime_r` fills in; both pointers are valid for the call and
    // `localtime_r` keeps neither.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            libc::gmtime_r(&now, &mut tm);
        }
        tm
    };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Write one `log.Println`-style line to stderr: the timestamp, a space,
/// then `args`, then a newline. Use through [`log_println!`].
pub fn log_line(args: fmt::Arguments<'_>) {
    let line = format!("{} {}\n", log_timestamp(), args);
    // One write call per line, as Go's logger does, so lines of concurrent
    // goroutines do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Go's `log.Println(v)`: `2026/11/26 12:34:56 v` on stderr.
#[macro_export]
macro_rules! log_println {
    ($($arg:tt)*) => {
        $crate::log_line(format_args!($($arg)*))
    };
}

/// Go's `time.Duration.String()` for a duration of `ns` nanoseconds:
/// `0s`, `999ns`, `1.5µs`, `2.25ms`, `6.123456789s`, `1m2.5s`, `1h0m0s`
/// (trailing zeros of the fraction dropped, negative values with `-`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    // Below one second: a single unit with a decimal fraction.
    if u < 1_000_000_000 {
        let (unit, scale): (&str, u64) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fixed_frac(u, scale));
    }
    // One second and more: [h][m]s, seconds with up to 9 fraction digits.
    let secs_total = u / 1_000_000_000;
    let frac_ns = u % 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total / 60) % 60;
    let s = secs_total % 60;
    let secs = fixed_frac(s * 1_000_000_000 + frac_ns, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// `v / scale` with the exact decimal fraction, trailing zeros (and a bare
/// point) removed: `fixed_frac(1500, 1000) == "1.5"`.
fn fixed_frac(v: u64, scale: u64) -> String {
    let whole = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`) for a `float64`: the
/// shortest decimal that reads back as `f`, in exponent form when the
/// decimal exponent is below -4 or at least 6 (Go uses precision 6 for this
/// decision when printing the shortest form), with at least two exponent
/// digits (`1.5e-05`, `1e+06`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` is also the shortest round-trip representation.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_go() {
        // Expected strings from Go 1.19's time.Duration.String().
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (921, "921ns"),
            (3_210, "3.21µs"),
            (22_000_000, "22ms"),
            (4_512_345, "4.512345ms"),
            (1_000_000_000, "1s"),
            (6_123_456_789, "6.123456789s"),
            (62_500_000_000, "1m2.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-1_500, "-1.5µs"),
        ];
        for &(ns, want) in cases {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    #[test]
    fn floats_match_go() {
        // Expected strings from Go 1.19's fmt.Println(float64).
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000012345, "1.2345e-05"),
            (0.005123, "0.005123"),
            (1e20, "1e+20"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.5, "1.2345675e+06"),
            (1e21, "1e+21"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
        ];
        for &(f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn timestamp_shape() {
        let t = log_timestamp();
        let b = t.as_bytes();
        assert_eq!(b.len(), 19, "{t}");
        for (i, c) in b.iter().enumerate() {
            match i {
                4 | 7 => assert_eq!(*c, b'/'),
                10 => assert_eq!(*c, b' '),
                13 | 16 => assert_eq!(*c, b':'),
                _ => assert!(c.is_ascii_digit(), "{t}"),
            }
        }
    }
}
