//! Go's package `runtime/debug`: the collector's knobs at run time.
//!
//! See [crate] for the overview. These change what `GOGC` and `GOMEMLIMIT`
//! set at start-up; see [`crate::env`].

/// `debug.SetGCPercent`: set GOGC to `percent` and return the previous
/// value. A negative percent turns the collector's pacing off (`GOGC=off`)
/// and waits for a cycle in progress to end; collections then happen only
/// through [`crate::runtime::gc`] or the memory limit.
pub fn set_gc_percent(percent: i32) -> i32 {
    crate::run::ensure_started();
    gort_gc::collector::global().set_gc_percent(percent)
}

/// `debug.SetMemoryLimit`: set the soft memory limit (GOMEMLIMIT) to
/// `bytes` and return the previous limit; a negative value only reads it.
/// `i64::MAX` means no limit (the default).
pub fn set_memory_limit(bytes: i64) -> i64 {
    crate::run::ensure_started();
    gort_gc::collector::global().set_memory_limit(bytes)
}

/// `debug.FreeOSMemory`: run a complete collection, then return as much
/// free memory to the operating system as possible (`MADV_DONTNEED` on
/// every free page; `MemStats::heap_released` grows by what was returned).
pub fn free_os_memory() {
    crate::run::ensure_started();
    gort_gc::collector::global().free_os_memory();
}
