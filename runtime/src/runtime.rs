//! Go's package `runtime`: memory statistics, forced collection, goroutine
//! and processor counts.
//!
//! See [crate] for the overview.

pub use gort_profiler::memstats::{BySize, MemStats, BY_SIZE_CLASSES, PAUSE_HISTORY};

/// `runtime.ReadMemStats`: a snapshot of the memory allocator's and the
/// collector's statistics, taken with the world stopped so the fields agree
/// with each other (Alloc = HeapAlloc, HeapIdle + HeapInuse = HeapSys,
/// Mallocs − Frees = HeapObjects, Sys = the sum of the `*_sys` fields).
///
/// The stack figures come from the scheduler: `stack_inuse` counts the
/// stacks of live goroutines, `stack_sys` the stack memory mapped (both as
/// reserved address space, of which only the touched pages take memory).
/// The off-heap fields count the runtime's metadata as Go's categories
/// name it (`gort_gc::heap::HeapMetadata` says which structure goes
/// where): span structures in `mspan_*`, per-P allocation caches in
/// `mcache_*`, span bitmaps, the page table and the collector's work
/// queues and barrier buffers in `gc_sys`, the heap, block and mutex
/// profiles' buckets in `buck_hash_sys`, the rest of the heap's and the
/// collector's bookkeeping in `other_sys`; `sys` is their sum.
///
/// ```
/// let m = gort::run(gort::runtime::read_mem_stats);
/// assert_eq!(m.alloc, m.heap_alloc);
/// assert_eq!(m.heap_idle + m.heap_inuse, m.heap_sys);
/// ```
pub fn read_mem_stats() -> MemStats {
    crate::run::ensure_started();
    complete(gort_gc::collector::global().read_mem_stats())
}

/// [`read_mem_stats`] without stopping the world (for `gort::metrics`): the
/// heap's figures are read while goroutines run, so they agree with each
/// other only when nothing allocates or sweeps meanwhile.
pub(crate) fn mem_stats_unstopped() -> MemStats {
    complete(gort_gc::collector::global().mem_stats())
}

/// Adds what the scheduler and the profilers know to the collector's half.
fn complete(mut m: MemStats) -> MemStats {
    let (inuse, sys) = gort_scheduler::stack_memory();
    m.stack_inuse = inuse as u64;
    m.stack_sys = sys as u64;
    m.buck_hash_sys += crate::pprof::contention_bucket_bytes();
    m.sys = m.heap_sys
        + m.stack_sys
        + m.mspan_sys
        + m.mcache_sys
        + m.buck_hash_sys
        + m.gc_sys
        + m.other_sys;
    m
}

/// `runtime.GC`: run a complete collection and return when it (and the
/// sweep of what it freed) has finished. Blocks the calling goroutine, not
/// its OS thread. Counted in `MemStats::num_forced_gc`.
pub fn gc() {
    crate::run::ensure_started();
    let cycle = gort_gc::heap::profile_cycle();
    gort_gc::collector::global().gc();
    // Everything is swept: the heap profile can show this cycle's frees
    // now (Go's mProf_PostSweep).
    gort_gc::heap::profile_post_sweep(cycle);
}

/// `runtime.MemProfileRate = rate`: the heap profile samples one
/// allocation per `rate` bytes allocated, on average (Go's default 512 KiB,
/// [`gort_gc::heap::DEFAULT_MEM_PROFILE_RATE`]); 1 records every
/// allocation, 0 turns the sampler off. As in Go, set it as early as
/// possible: the profile mixes the rates of the samples it already holds.
/// Returns the previous rate.
pub fn set_mem_profile_rate(rate: i64) -> i64 {
    gort_gc::heap::set_mem_profile_rate(rate)
}

/// The current `runtime.MemProfileRate`.
pub fn mem_profile_rate() -> i64 {
    gort_gc::heap::mem_profile_rate()
}

/// `runtime.SetBlockProfileRate`: sample one blocking event (channel
/// operation, `select`, `WaitGroup::wait`, contended `Mutex::lock`) per
/// `rate` nanoseconds blocked on average; 1 records every event, 0 turns
/// the `block` profile off (the default).
pub fn set_block_profile_rate(rate: i64) {
    crate::pprof::set_block_profile_rate(rate)
}

/// `runtime.SetMutexProfileFraction`: record one in `rate` contended
/// [`crate::sync::Mutex`] waits in the `mutex` profile; 0 turns it off
/// (the default), a negative value only reads. Returns the previous value.
pub fn set_mutex_profile_fraction(rate: i32) -> i32 {
    crate::pprof::set_mutex_profile_fraction(rate)
}

/// `runtime.NumGoroutine`: the number of goroutines that exist now,
/// including the main one.
pub fn num_goroutine() -> usize {
    gort_scheduler::num_goroutine()
}

/// `runtime.GOMAXPROCS`: set the number of Ps (goroutines running at once)
/// to `n` and return the previous setting; `n < 1` only reads. Values
/// above 256 are lowered to 256 (the collector's per-P tables hold 256
/// entries), as Go lowers values above its own maximum. Changing it stops
/// the world briefly.
pub fn gomaxprocs(n: i32) -> i32 {
    crate::run::ensure_started();
    gort_scheduler::gomaxprocs(n.min(crate::env::MAX_GOMAXPROCS as i32))
}
