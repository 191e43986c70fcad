//! The pieces of the `tour` sample that are not the walk-through itself:
//! flame graphs of the profiles it writes ([`flame`], drawn by `inferno`),
//! the Go twins it builds and measures beside gort where Go is installed
//! ([`twins`]), and the plain HTTP GET it fetches from its servers with
//! ([`fetch`]). The walk-through is `src/bin/tour.rs`.

pub mod fetch;
pub mod flame;
pub mod twins;

/// `bytes` as `12.3 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// A duration in seconds with three decimals, `0.123 s`, the unit of
/// `samples/compare.sh`'s tables.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
