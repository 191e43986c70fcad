//! Go's environment knobs: `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG`,
//! and gort's `GORT_MAXSTACK`.
//!
//! See [crate] for the overview. This module only *parses*: it turns the
//! strings of the environment into an [`EnvKnobs`] value, and the
//! [`Builder`](crate::Builder) applies them to the settings that code did not
//! set explicitly.
//!
//! # Syntax and meaning (as in Go 1.19)
//!
//! | variable | accepted values | meaning |
//! | --- | --- | --- |
//! | `GOGC` | an integer percent (`100`, `50`, `400`), or `off` | heap growth allowed between collections; `off` (or a negative number, as in Go) disables the collector's pacing |
//! | `GOMEMLIMIT` | a byte count matching `^[0-9]+(([KMGT]i)?B)?$` (`512MiB`, `2GiB`, `1000000`, `1000000B`), or `off` | soft limit on the memory the runtime uses |
//! | `GOMAXPROCS` | a positive integer, at most [`MAX_GOMAXPROCS`] | number of Ps: OS threads running goroutines at once |
//! | `GORT_MAXSTACK` | a byte count with `GOMEMLIMIT`'s syntax (`8MiB`, `1GiB`), from 16KiB to 64GiB | the most a goroutine's stack may use (gort's; Go sets it with `debug.SetMaxStack` and has no variable): each stack reserves this much address space, of which only touched pages cost memory; default 8MiB |
//! | `GODEBUG` | comma-separated `key=value` pairs | `gctrace=1` prints one line per GC cycle, `schedtrace=N` prints a `SCHED` line every N ms, `clobberfree=1` poisons freed objects; other keys are ignored, as Go does |
//!
//! An unset or empty variable means "not set" (the default applies).
//!
//! # Strictness (a deliberate difference from Go)
//!
//! Go silently falls back to the default for a malformed `GOGC`, `GOMAXPROCS`
//! or `GODEBUG` value (only `GOMEMLIMIT` is fatal there). gort follows its
//! house rule instead — *a bad value is a clear error naming the variable,
//! never a silent default* — so a typo such as `GOGC=10O` cannot make a
//! benchmark compare two different configurations without anyone noticing.
//! The error ([`KnobError`]) names the variable, the value and what was
//! expected; [`KnobError::exit`] prints it and exits with status 2, as Go's
//! `throw` does. Unknown `GODEBUG` keys and fields without `=` are still
//! ignored exactly as Go ignores them, because programs share `GODEBUG` with
//! tools that have their own keys.

use std::fmt;

/// The largest `GOMAXPROCS` gort accepts: the collector keeps per-P state in
/// a table of this size (P ids are `0..gomaxprocs`).
pub const MAX_GOMAXPROCS: usize = 256;

/// A malformed value of a known knob: which variable, what it held, and what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobError {
    /// The variable, e.g. `"GOGC"`, or `"GODEBUG"` for a `GODEBUG` key.
    pub variable: &'static str,
    /// The `GODEBUG` key whose value was malformed (`None` for the other
    /// variables).
    pub key: Option<&'static str>,
    /// The offending value, exactly as it was found.
    pub value: String,
    /// What would have been accepted, in words.
    pub expected: &'static str,
}

impl KnobError {
    fn new(variable: &'static str, value: &str, expected: &'static str) -> KnobError {
        KnobError {
            variable,
            key: None,
            value: value.to_string(),
            expected,
        }
    }

    /// Print the error to stderr the way gort reports fatal configuration
    /// errors and exit the process with status 2 (Go's exit status for a
    /// `throw`).
    pub fn exit(&self) -> ! {
        eprintln!("{self}");
        std::process::exit(2)
    }
}

impl fmt::Display for KnobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Some(key) => write!(
                f,
                "gort: malformed {}: {}={:?} (in {}): expected {}",
                self.variable, key, self.value, self.variable, self.expected
            ),
            None => write!(
                f,
                "gort: malformed {}={:?}: expected {}",
                self.variable, self.value, self.expected
            ),
        }
    }
}

impl std::error::Error for KnobError {}

/// The switches of `GODEBUG` that gort knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Godebug {
    /// `gctrace=N`: N > 0 prints Go's one-line summary of every GC cycle to
    /// stderr.
    pub gctrace: u32,
    /// `schedtrace=N`: N > 0 prints Go's `SCHED` line to stderr every N
    /// milliseconds.
    pub schedtrace_ms: u32,
    /// `clobberfree=1`: the sweeper fills every freed object with a poison
    /// pattern, so a use of a freed object fails loudly.
    pub clobberfree: bool,
}

/// Everything the environment said, after parsing. `None` means "not set".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnvKnobs {
    /// `GOGC`: `Some(-1)` for `off`, otherwise the percent.
    pub gogc: Option<i32>,
    /// `GOMEMLIMIT` in bytes; `Some(i64::MAX)` for `off`.
    pub gomemlimit: Option<i64>,
    /// `GOMAXPROCS`.
    pub gomaxprocs: Option<usize>,
    /// `GODEBUG`; keys that were absent keep their default (off).
    pub godebug: Godebug,
    /// `GORT_MAXSTACK` in bytes: the max stack of every goroutine.
    pub maxstack: Option<usize>,
}

impl EnvKnobs {
    /// Read and parse the variables from the process environment.
    pub fn from_env() -> Result<EnvKnobs, KnobError> {
        EnvKnobs::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parse the variables from any source (`lookup(name)` returns the
    /// value of the variable `name`, if set). The tests use this.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<EnvKnobs, KnobError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Ok(EnvKnobs {
            gogc: get("GOGC").map(|v| parse_gogc(&v)).transpose()?,
            gomemlimit: get("GOMEMLIMIT")
                .map(|v| parse_gomemlimit(&v))
                .transpose()?,
            gomaxprocs: get("GOMAXPROCS")
                .map(|v| parse_gomaxprocs(&v))
                .transpose()?,
            godebug: match get("GODEBUG") {
                Some(v) => parse_godebug(&v)?,
                None => Godebug::default(),
            },
            maxstack: get("GORT_MAXSTACK")
                .map(|v| parse_maxstack(&v))
                .transpose()?,
        })
    }
}

/// Go's `atoi64`: an optional leading `-`, then one or more ASCII digits,
/// no overflow. No `+`, no spaces, no underscores.
fn atoi64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut un: u64 = 0;
    for c in digits.bytes() {
        un = un.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if un > i64::MAX as u64 + 1 {
            return None;
        }
        Some((un as i64).wrapping_neg())
    } else {
        i64::try_from(un).ok()
    }
}

const GOGC_EXPECTED: &str = "an integer percent (e.g. 100) or \"off\"";

/// Parse `GOGC`: `off` → `-1`; an integer in `i32` range → that percent
/// (negative values disable the collector's pacing, as in Go, and are
/// normalised to `-1`).
pub fn parse_gogc(value: &str) -> Result<i32, KnobError> {
    if value == "off" {
        return Ok(-1);
    }
    match atoi64(value).and_then(|n| i32::try_from(n).ok()) {
        Some(n) if n < 0 => Ok(-1),
        Some(n) => Ok(n),
        None => Err(KnobError::new("GOGC", value, GOGC_EXPECTED)),
    }
}

const GOMEMLIMIT_EXPECTED: &str =
    "a byte count such as 512MiB, 2GiB or 1000000 (digits, optionally followed by B, KiB, MiB, GiB or TiB) or \"off\"";

/// Parse `GOMEMLIMIT` with Go's rules (`runtime.parseByteCount`): `off` →
/// `i64::MAX`; otherwise `^[0-9]+(([KMGT]i)?B)?$`, where `KiB`…`TiB` are
/// powers of 1024 and the result must fit in an `i64`.
pub fn parse_gomemlimit(value: &str) -> Result<i64, KnobError> {
    if value == "off" {
        return Ok(i64::MAX);
    }
    parse_byte_count(value)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| KnobError::new("GOMEMLIMIT", value, GOMEMLIMIT_EXPECTED))
}

/// Go's `parseByteCount`: `^[0-9]+(([KMGT]i)?B)?$`, where `KiB`…`TiB` are
/// powers of 1024; `None` when malformed or beyond `i64::MAX`.
fn parse_byte_count(value: &str) -> Option<u64> {
    let (digits, multiplier): (&str, u64) = if let Some(rest) = value.strip_suffix("iB") {
        let (num, unit) = rest.split_at(rest.len().saturating_sub(1));
        let m = match unit {
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            _ => return None,
        };
        (num, m)
    } else if let Some(rest) = value.strip_suffix('B') {
        (rest, 1)
    } else {
        (value, 1)
    };
    // Go's atoi64 accepts a leading '-' and then rejects negative results;
    // "-0" therefore parses as 0 there, and here too.
    let n = atoi64(digits).filter(|&n| n >= 0)?;
    let bytes = (n as u64).checked_mul(multiplier)?;
    i64::try_from(bytes).ok().map(|b| b as u64)
}

const MAXSTACK_EXPECTED: &str =
    "a byte count from 16KiB to 64GiB such as 8MiB or 1GiB (digits, optionally followed by B, KiB, MiB, GiB or TiB)";

/// Parse `GORT_MAXSTACK`: a byte count with `GOMEMLIMIT`'s syntax, from
/// [`gort_scheduler::MIN_STACK_SIZE`] to [`gort_scheduler::MAX_STACK_SIZE`].
pub fn parse_maxstack(value: &str) -> Result<usize, KnobError> {
    parse_byte_count(value)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (gort_scheduler::MIN_STACK_SIZE..=gort_scheduler::MAX_STACK_SIZE).contains(n))
        .ok_or_else(|| KnobError::new("GORT_MAXSTACK", value, MAXSTACK_EXPECTED))
}

const GOMAXPROCS_EXPECTED: &str = "a positive integer, at most 256";

/// Parse `GOMAXPROCS`: an integer from 1 to [`MAX_GOMAXPROCS`].
pub fn parse_gomaxprocs(value: &str) -> Result<usize, KnobError> {
    match atoi64(value) {
        Some(n) if n >= 1 && n as u64 <= MAX_GOMAXPROCS as u64 => Ok(n as usize),
        _ => Err(KnobError::new("GOMAXPROCS", value, GOMAXPROCS_EXPECTED)),
    }
}

/// Parse `GODEBUG`: comma-separated `key=value` fields. Known keys
/// (`gctrace`, `schedtrace`, `clobberfree`) need a non-negative integer value;
/// unknown keys and fields without `=` are ignored, as Go ignores them. A key
/// given twice takes its last value, as in Go.
pub fn parse_godebug(value: &str) -> Result<Godebug, KnobError> {
    let mut out = Godebug::default();
    for field in value.split(',') {
        let Some((key, v)) = field.split_once('=') else {
            continue;
        };
        let (known, expected): (&'static str, &'static str) = match key {
            "gctrace" => ("gctrace", "a non-negative integer (gctrace=1 turns it on)"),
            "schedtrace" => (
                "schedtrace",
                "a non-negative integer: the period in milliseconds",
            ),
            "clobberfree" => ("clobberfree", "0 or 1"),
            _ => continue,
        };
        let n = atoi64(v)
            .filter(|&n| n >= 0)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| known != "clobberfree" || n <= 1)
            .ok_or(KnobError {
                variable: "GODEBUG",
                key: Some(known),
                value: v.to_string(),
                expected,
            })?;
        match known {
            "gctrace" => out.gctrace = n,
            "schedtrace" => out.schedtrace_ms = n,
            _ => out.clobberfree = n == 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gogc() {
        assert_eq!(parse_gogc("100"), Ok(100));
        assert_eq!(parse_gogc("0"), Ok(0));
        assert_eq!(parse_gogc("1"), Ok(1));
        assert_eq!(parse_gogc("400"), Ok(400));
        assert_eq!(parse_gogc("off"), Ok(-1));
        assert_eq!(parse_gogc("-5"), Ok(-1));
        for bad in [
            "10O",
            "1.5",
            "+100",
            " 100",
            "100 ",
            "OFF",
            "on",
            "99999999999",
            "-",
        ] {
            let e = parse_gogc(bad).unwrap_err();
            assert_eq!(e.variable, "GOGC");
            assert_eq!(e.value, bad);
        }
        assert_eq!(
            parse_gogc("abc").unwrap_err().to_string(),
            "gort: malformed GOGC=\"abc\": expected an integer percent (e.g. 100) or \"off\""
        );
    }

    #[test]
    fn gomemlimit() {
        assert_eq!(parse_gomemlimit("off"), Ok(i64::MAX));
        assert_eq!(parse_gomemlimit("0"), Ok(0));
        assert_eq!(parse_gomemlimit("1000000"), Ok(1_000_000));
        assert_eq!(parse_gomemlimit("1000000B"), Ok(1_000_000));
        assert_eq!(parse_gomemlimit("1KiB"), Ok(1024));
        assert_eq!(parse_gomemlimit("512MiB"), Ok(512 << 20));
        assert_eq!(parse_gomemlimit("2GiB"), Ok(2 << 30));
        assert_eq!(parse_gomemlimit("3TiB"), Ok(3 << 40));
        assert_eq!(parse_gomemlimit("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_gomemlimit("-0"), Ok(0));
        for bad in [
            "1MB",
            "1GB",
            "1K",
            "1Ki",
            "MiB",
            "B",
            "iB",
            "1 MiB",
            "1.5GiB",
            "-1",
            "-1MiB",
            "1PiB",
            "1kiB",
            "8388608TiB",
            "9223372036854775808",
            "ten",
            "1miB",
        ] {
            let e = parse_gomemlimit(bad).unwrap_err();
            assert_eq!(e.variable, "GOMEMLIMIT", "{bad}");
            assert_eq!(e.value, bad);
        }
        // The largest TiB count that still fits in an i64.
        assert_eq!(parse_gomemlimit("8388607TiB"), Ok(8388607 << 40));
    }

    #[test]
    fn maxstack() {
        assert_eq!(parse_maxstack("8MiB"), Ok(8 << 20));
        assert_eq!(parse_maxstack("1GiB"), Ok(1 << 30));
        assert_eq!(parse_maxstack("16KiB"), Ok(16 << 10));
        assert_eq!(parse_maxstack("64GiB"), Ok(64 << 30));
        assert_eq!(parse_maxstack("1048576"), Ok(1 << 20));
        assert_eq!(parse_maxstack("1048576B"), Ok(1 << 20));
        for bad in [
            "",
            "0",
            "4KiB",
            "65GiB",
            "1TiB",
            "8MB",
            "8M",
            "-1",
            "8 MiB",
            "big",
            "99999999999999999999",
        ] {
            let e = parse_maxstack(bad).unwrap_err();
            assert_eq!(e.variable, "GORT_MAXSTACK", "{bad}");
            assert_eq!(e.value, bad);
        }
        assert_eq!(
            parse_maxstack("8MB").unwrap_err().to_string(),
            format!("gort: malformed GORT_MAXSTACK=\"8MB\": expected {MAXSTACK_EXPECTED}")
        );
    }

    #[test]
    fn gomaxprocs() {
        assert_eq!(parse_gomaxprocs("1"), Ok(1));
        assert_eq!(parse_gomaxprocs("2"), Ok(2));
        assert_eq!(parse_gomaxprocs("256"), Ok(256));
        for bad in ["0", "-1", "257", "two", "", "2.0", "1e3"] {
            let e = parse_gomaxprocs(bad).unwrap_err();
            assert_eq!(e.variable, "GOMAXPROCS");
            assert_eq!(e.expected, "a positive integer, at most 256");
        }
    }

    #[test]
    fn godebug() {
        assert_eq!(
            parse_godebug("gctrace=1"),
            Ok(Godebug {
                gctrace: 1,
                ..Default::default()
            })
        );
        assert_eq!(
            parse_godebug("schedtrace=1000,clobberfree=1"),
            Ok(Godebug {
                gctrace: 0,
                schedtrace_ms: 1000,
                clobberfree: true
            })
        );
        // Unknown keys and fields without '=' are ignored, as Go does.
        assert_eq!(
            parse_godebug("madvdontneed=1,gctrace=2,nonsense,http2debug=x,,"),
            Ok(Godebug {
                gctrace: 2,
                ..Default::default()
            })
        );
        // The last occurrence wins.
        assert_eq!(parse_godebug("gctrace=1,gctrace=0"), Ok(Godebug::default()));
        let e = parse_godebug("gctrace=yes").unwrap_err();
        assert_eq!(
            (e.variable, e.key, e.value.as_str()),
            ("GODEBUG", Some("gctrace"), "yes")
        );
        assert_eq!(
            e.to_string(),
            "gort: malformed GODEBUG: gctrace=\"yes\" (in GODEBUG): expected a non-negative integer (gctrace=1 turns it on)"
        );
        assert_eq!(
            parse_godebug("schedtrace=-1").unwrap_err().key,
            Some("schedtrace")
        );
        assert_eq!(
            parse_godebug("clobberfree=2").unwrap_err().key,
            Some("clobberfree")
        );
        assert_eq!(parse_godebug("gctrace=").unwrap_err().key, Some("gctrace"));
    }

    #[test]
    fn from_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(EnvKnobs::from_lookup(env(&[])), Ok(EnvKnobs::default()));
        // Empty means unset.
        assert_eq!(
            EnvKnobs::from_lookup(env(&[("GOGC", ""), ("GOMAXPROCS", "")])),
            Ok(EnvKnobs::default())
        );
        let k = EnvKnobs::from_lookup(env(&[
            ("GOGC", "50"),
            ("GOMEMLIMIT", "1GiB"),
            ("GOMAXPROCS", "2"),
            ("GODEBUG", "gctrace=1,clobberfree=1"),
        ]))
        .unwrap();
        assert_eq!(k.gogc, Some(50));
        assert_eq!(k.gomemlimit, Some(1 << 30));
        assert_eq!(k.gomaxprocs, Some(2));
        assert_eq!(
            k.godebug,
            Godebug {
                gctrace: 1,
                schedtrace_ms: 0,
                clobberfree: true
            }
        );
        let e = EnvKnobs::from_lookup(env(&[("GOGC", "50"), ("GOMAXPROCS", "zero")])).unwrap_err();
        assert_eq!(e.variable, "GOMAXPROCS");
    }
}
