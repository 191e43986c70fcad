//! The Prometheus text exposition format (0.0.4) of `runtime/metrics`, and
//! a handler for any router.
//!
//! See [crate::metrics] for the overview.

use super::{read_all, time_histogram, Description, Value, ValueKind, ALL};
use std::io::{self, Write};
use std::sync::OnceLock;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus name of a metric, as the Prometheus Go client's runtime
/// metrics collector forms it: `go_`, the path's directories and last
/// element with `/` and `-` as `_`, the unit (`-` and `*` as `_`, `/` as
/// `_per_`), and `_total` for a cumulative number (not a histogram).
pub fn prometheus_name(d: &Description) -> String {
    let (path, unit) = d.name.split_once(':').unwrap_or((d.name, ""));
    let mut n = String::from("go_");
    n.push_str(&path[1..].replace(['/', '-'], "_"));
    n.push('_');
    n.push_str(&unit.replace(['-', '*'], "_").replace('/', "_per_"));
    if d.cumulative && d.kind != ValueKind::Float64Histogram {
        n.push_str("_total");
    }
    n
}

/// The boundaries Prometheus shows for a time histogram: Go's, thinned as
/// the Go client thins them for seconds — starting after `-Inf`, a boundary
/// is kept once it is at least 10× the last kept one; then the first kept
/// boundary over one second becomes `+Inf` and the rest are dropped.
fn seconds_boundaries() -> &'static [f64] {
    static B: OnceLock<Vec<f64>> = OnceLock::new();
    B.get_or_init(|| {
        let all = super::time_boundaries();
        // all[0] is -Inf; the thinning starts at the first finite bound.
        let mut kept = vec![all[1]];
        for &b in &all[2..] {
            let last = *kept.last().unwrap_or(&0.0);
            if b.is_infinite() || b >= last * 10.0 {
                kept.push(b);
            }
        }
        if *kept.last().unwrap_or(&0.0) != f64::INFINITY {
            kept.push(f64::INFINITY);
        }
        if let Some(i) = kept.iter().position(|&b| b > 1.0) {
            kept.truncate(i);
            kept.push(f64::INFINITY);
        }
        kept
    })
}

/// Formats a float as Prometheus reads it (`+Inf`, `-Inf`, `NaN`, or the
/// shortest decimal that reads back as the same `f64`).
fn fmt_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e21) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Escapes a `# HELP` text (backslash and line feed).
fn escape_help(s: &str) -> String {
    s.replace('\\', r"\\").replace('\n', r"\n")
}

/// Writes every metric of [`super::all`] in the Prometheus text exposition
/// format (0.0.4): `# HELP` with Go's description, `# TYPE` (`counter` for
/// a cumulative number, `gauge` for another, `histogram`), then the
/// samples; a histogram as cumulative `_bucket{le="..."}` lines (Go's
/// exclusive upper bounds turned into inclusive ones: the next `f64`
/// below), `_sum` (exact: every duration is recorded) and `_count`.
pub fn write_prometheus(w: &mut impl Write) -> io::Result<()> {
    let samples = read_all();
    let mut out = String::with_capacity(16 * 1024);
    for (d, s) in ALL.iter().zip(&samples) {
        let name = prometheus_name(d);
        out.push_str(&format!("# HELP {name} {}\n", escape_help(d.description)));
        match &s.value {
            Value::Uint64(v) => {
                let ty = if d.cumulative { "counter" } else { "gauge" };
                out.push_str(&format!("# TYPE {name} {ty}\n{name} {v}\n"));
            }
            Value::Float64(v) => {
                let ty = if d.cumulative { "counter" } else { "gauge" };
                out.push_str(&format!("# TYPE {name} {ty}\n{name} {}\n", fmt_float(*v)));
            }
            Value::Float64Histogram(h) => {
                out.push_str(&format!("# TYPE {name} histogram\n"));
                let thin = seconds_boundaries();
                // Fold Go's buckets into the thinned ones: bucket i of Go's
                // [b[i], b[i+1]) goes to the thinned bucket whose upper
                // bound is the first one >= b[i+1]. The -Inf (underflow)
                // bucket joins the lowest one.
                let mut counts = vec![0u64; thin.len() - 1];
                let mut j = 0;
                for (i, &c) in h.counts.iter().enumerate() {
                    let upper = h.buckets[i + 1];
                    while j + 1 < counts.len() && upper > thin[j + 1] {
                        j += 1;
                    }
                    counts[j] += c;
                }
                let mut cumulative = 0u64;
                for (k, &c) in counts.iter().enumerate() {
                    cumulative += c;
                    let upper = thin[k + 1];
                    if upper.is_infinite() {
                        break;
                    }
                    // Inclusive: the largest f64 below the exclusive bound.
                    let le = f64::from_bits(upper.to_bits() - 1);
                    out.push_str(&format!(
                        "{name}_bucket{{le=\"{}\"}} {cumulative}\n",
                        fmt_float(le)
                    ));
                }
                let total: u64 = h.counts.iter().sum();
                out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {total}\n"));
                let sum = time_histogram(d.name).map_or(0, |t| t.sum_ns());
                out.push_str(&format!(
                    "{name}_sum {}\n{name}_count {total}\n",
                    fmt_float(sum as f64 / 1e9)
                ));
            }
            Value::Bad => unreachable!("{} is listed but reads as Bad", d.name),
        }
    }
    w.write_all(out.as_bytes())
}

/// A handler for any router built on the `http` crate's types (axum, hyper,
/// tiny servers): `GET` (or `HEAD`) answers 200 with every metric in the
/// Prometheus text format ([`write_prometheus`], [`CONTENT_TYPE`]); another
/// method answers 405 with `Allow: GET, HEAD`. The request's body is not
/// read.
///
/// ```
/// let req = http::Request::get("/debug/metrics").body(()).unwrap();
/// let resp = gort::metrics::metrics_handler(req);
/// assert_eq!(resp.status(), http::StatusCode::OK);
/// assert!(String::from_utf8_lossy(resp.body()).contains("go_sched_goroutines_goroutines"));
/// ```
pub fn metrics_handler<B>(req: http::Request<B>) -> http::Response<Vec<u8>> {
    let head = req.method() == http::Method::HEAD;
    if req.method() != http::Method::GET && !head {
        return http::Response::builder()
            .status(http::StatusCode::METHOD_NOT_ALLOWED)
            .header(http::header::ALLOW, "GET, HEAD")
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(b"Method Not Allowed\n".to_vec())
            .unwrap_or_default();
    }
    let mut body = Vec::new();
    if let Err(e) = write_prometheus(&mut body) {
        return http::Response::builder()
            .status(http::StatusCode::INTERNAL_SERVER_ERROR)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(format!("writing metrics: {e}\n").into_bytes())
            .unwrap_or_default();
    }
    let len = body.len();
    if head {
        body.clear();
    }
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(http::header::CONTENT_LENGTH, len)
        .body(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_go_clients() {
        let name = |n: &str| prometheus_name(super::super::describe(n).unwrap());
        assert_eq!(
            name("/gc/heap/allocs:bytes"),
            "go_gc_heap_allocs_bytes_total"
        );
        assert_eq!(name("/gc/heap/goal:bytes"), "go_gc_heap_goal_bytes");
        assert_eq!(
            name("/sched/latencies:seconds"),
            "go_sched_latencies_seconds"
        );
        assert_eq!(
            name("/cpu/classes/gc/mark/assist:cpu-seconds"),
            "go_cpu_classes_gc_mark_assist_cpu_seconds_total"
        );
        assert_eq!(
            name("/gc/cycles/total:gc-cycles"),
            "go_gc_cycles_total_gc_cycles_total"
        );
        assert_eq!(
            name("/memory/classes/metadata/mcache/free:bytes"),
            "go_memory_classes_metadata_mcache_free_bytes"
        );
        assert_eq!(
            name("/sched/pauses/stopping/gc:seconds"),
            "go_sched_pauses_stopping_gc_seconds"
        );
    }

    #[test]
    fn seconds_buckets_are_thinned_by_tens_up_to_one_second() {
        let b = seconds_boundaries();
        // 0, 64 ns, then the first Go boundary >= 640 ns, ...
        assert_eq!(b[0], 0.0);
        assert_eq!(b[1], 64e-9);
        assert_eq!(b[2], 640e-9);
        assert_eq!(*b.last().unwrap(), f64::INFINITY);
        let finite = &b[..b.len() - 1];
        assert!(finite.windows(2).all(|w| w[1] >= 10.0 * w[0]));
        assert!(finite.iter().all(|&x| x <= 1.0));
        // Every kept bound is one of Go's.
        let go = super::super::time_boundaries();
        assert!(finite.iter().all(|x| go.contains(x)));
    }
}
