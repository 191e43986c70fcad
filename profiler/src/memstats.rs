//! `runtime.MemStats`: Go's memory statistics, field for field.
//!
//! See [crate] for the overview. The field set, meanings and derivations are
//! Go 1.19's (`runtime/mstats.go`, `type MemStats` and `readmemstats_m`;
//! summarised in `reference/profiler.md` §5.1). Names are Go's in snake_case
//! (`HeapAlloc` → `heap_alloc`, `MSpanInuse` → `mspan_inuse`,
//! `GCCPUFraction` → `gc_cpu_fraction`).
//!
//! This is a plain snapshot: the collector fills one in while the world is
//! stopped (as Go's `ReadMemStats` does) and hands it out by value. Nothing
//! here is shared between threads, so nothing here needs a lock.
//!
//! The invariants Go checks in `readmemstats_m`, which a producer should
//! check too, are available as [`MemStats::check_invariants`].

/// Number of entries in [`MemStats::pause_ns`] and [`MemStats::pause_end`]
/// (Go's circular buffers of recent pauses).
pub const PAUSE_HISTORY: usize = 256;

/// Number of entries in [`MemStats::by_size`] (Go reports 61 size classes,
/// including class 0, and nothing above 32 KiB).
pub const BY_SIZE_CLASSES: usize = 61;

/// Per-size-class allocation counts, one entry of [`MemStats::by_size`]
/// (Go's anonymous `BySize` element struct).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BySize {
    /// Largest object size in bytes of this class; entry N covers sizes in
    /// `(by_size[N-1].size, by_size[N].size]`.
    pub size: u32,
    /// Cumulative count of heap objects allocated in this class.
    pub mallocs: u64,
    /// Cumulative count of heap objects freed in this class.
    pub frees: u64,
}

/// Go's `runtime.MemStats`: statistics about the memory allocator and the
/// collector, as of the moment the snapshot was taken.
///
/// All byte counts are bytes; all times are nanoseconds. Unlike the heap
/// profile (which reflects the last completed GC), a snapshot is current.
#[derive(Clone, Debug, PartialEq)]
pub struct MemStats {
    // ---- general statistics ----
    /// Bytes of allocated heap objects (same as `heap_alloc`).
    pub alloc: u64,
    /// Cumulative bytes allocated for heap objects; never decreases.
    pub total_alloc: u64,
    /// Total bytes of memory obtained from the OS: the sum of the `*_sys` fields.
    pub sys: u64,
    /// Number of pointer lookups performed by the runtime; Go never sets it (always 0).
    pub lookups: u64,
    /// Cumulative count of heap objects allocated (live objects = mallocs − frees).
    pub mallocs: u64,
    /// Cumulative count of heap objects freed.
    pub frees: u64,

    // ---- heap memory statistics ----
    /// Bytes of allocated heap objects: reachable plus unswept unreachable ones.
    pub heap_alloc: u64,
    /// Bytes of heap memory obtained from the OS (`heap_inuse + heap_idle`).
    pub heap_sys: u64,
    /// Bytes in idle spans (spans with no objects), including released ones.
    pub heap_idle: u64,
    /// Bytes in in-use spans (spans with at least one object).
    pub heap_inuse: u64,
    /// Bytes of physical memory returned to the OS and not yet reacquired.
    pub heap_released: u64,
    /// Number of allocated heap objects, including unswept ones (`mallocs − frees`).
    pub heap_objects: u64,

    // ---- stack memory statistics ----
    /// Bytes in goroutine stack spans.
    pub stack_inuse: u64,
    /// Bytes of stack memory obtained from the OS: `stack_inuse` plus OS thread stacks.
    pub stack_sys: u64,

    // ---- off-heap memory statistics ----
    /// Bytes of allocated span metadata structures (Go's mspan).
    pub mspan_inuse: u64,
    /// Bytes of memory obtained from the OS for span metadata.
    pub mspan_sys: u64,
    /// Bytes of allocated per-P allocation cache structures (Go's mcache).
    pub mcache_inuse: u64,
    /// Bytes of memory obtained from the OS for per-P allocation caches.
    pub mcache_sys: u64,
    /// Bytes of memory in profiling bucket hash tables.
    pub buck_hash_sys: u64,
    /// Bytes of memory in garbage-collection metadata (mark bitmaps, work buffers).
    pub gc_sys: u64,
    /// Bytes of memory in miscellaneous off-heap runtime allocations.
    pub other_sys: u64,

    // ---- garbage collector statistics ----
    /// Target heap size of the next GC cycle (the heap goal).
    pub next_gc: u64,
    /// Time the last GC finished, in nanoseconds since the Unix epoch (0 if none).
    pub last_gc: u64,
    /// Cumulative nanoseconds of stop-the-world pauses since the program started.
    pub pause_total_ns: u64,
    /// Circular buffer of recent per-cycle pause times; the latest is `pause_ns[(num_gc+255)%256]`.
    pub pause_ns: [u64; PAUSE_HISTORY],
    /// Circular buffer of recent pause end times (ns since the epoch), indexed like `pause_ns`.
    pub pause_end: [u64; PAUSE_HISTORY],
    /// Number of completed GC cycles.
    pub num_gc: u32,
    /// Number of GC cycles forced by the application calling `gc()` (Go's `runtime.GC`).
    pub num_forced_gc: u32,
    /// Fraction of available CPU time used by the GC since the program started (0..=1).
    pub gc_cpu_fraction: f64,
    /// Whether GC is enabled; always true, even with `GOGC=off`.
    pub enable_gc: bool,
    /// Currently unused (Go keeps it for compatibility); always false.
    pub debug_gc: bool,

    // ---- per-size-class statistics ----
    /// Per-size-class allocation statistics, indexed by size class (Go's `BySize`).
    pub by_size: [BySize; BY_SIZE_CLASSES],
}

impl Default for MemStats {
    /// An all-zero snapshot, except `enable_gc`, which Go always reports as true.
    fn default() -> MemStats {
        MemStats {
            alloc: 0,
            total_alloc: 0,
            sys: 0,
            lookups: 0,
            mallocs: 0,
            frees: 0,
            heap_alloc: 0,
            heap_sys: 0,
            heap_idle: 0,
            heap_inuse: 0,
            heap_released: 0,
            heap_objects: 0,
            stack_inuse: 0,
            stack_sys: 0,
            mspan_inuse: 0,
            mspan_sys: 0,
            mcache_inuse: 0,
            mcache_sys: 0,
            buck_hash_sys: 0,
            gc_sys: 0,
            other_sys: 0,
            next_gc: 0,
            last_gc: 0,
            pause_total_ns: 0,
            pause_ns: [0; PAUSE_HISTORY],
            pause_end: [0; PAUSE_HISTORY],
            num_gc: 0,
            num_forced_gc: 0,
            gc_cpu_fraction: 0.0,
            enable_gc: true,
            debug_gc: false,
            by_size: [BySize::default(); BY_SIZE_CLASSES],
        }
    }
}

impl MemStats {
    /// The pause of the most recent completed cycle, in ns (0 before the first GC):
    /// Go's `PauseNs[(NumGC+255)%256]`.
    pub fn last_pause_ns(&self) -> u64 {
        if self.num_gc == 0 {
            return 0;
        }
        self.pause_ns[(self.num_gc as usize + PAUSE_HISTORY - 1) % PAUSE_HISTORY]
    }

    /// Record one completed cycle's pause into the circular buffers, as Go's
    /// `gcMarkTermination` does: bumps `num_gc`, adds to `pause_total_ns`, and
    /// stores `pause_ns`/`pause_end` at the new cycle's slot.
    pub fn record_pause(&mut self, pause_ns: u64, pause_end_unix_ns: u64) {
        let slot = self.num_gc as usize % PAUSE_HISTORY;
        self.pause_ns[slot] = pause_ns;
        self.pause_end[slot] = pause_end_unix_ns;
        self.pause_total_ns += pause_ns;
        self.num_gc += 1;
        self.last_gc = pause_end_unix_ns;
    }

    /// Check the relations between fields that Go's `readmemstats_m` (and
    /// its doc comments) guarantee. Returns the first violated relation as
    /// text, so a test can print it.
    ///
    /// * `alloc == heap_alloc`
    /// * `heap_objects == mallocs − frees`
    /// * `heap_idle + heap_inuse == heap_sys`, `heap_released <= heap_idle`
    /// * `sys` is the sum of every `*_sys` field
    /// * `heap_alloc <= heap_inuse`, `total_alloc >= heap_alloc`
    /// * `mspan_inuse <= mspan_sys`, `mcache_inuse <= mcache_sys`,
    ///   `stack_inuse <= stack_sys` (an in-use part of what was obtained)
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.alloc != self.heap_alloc {
            return Err(format!(
                "alloc {} != heap_alloc {}",
                self.alloc, self.heap_alloc
            ));
        }
        if self.mallocs < self.frees || self.heap_objects != self.mallocs - self.frees {
            return Err(format!(
                "heap_objects {} != mallocs {} - frees {}",
                self.heap_objects, self.mallocs, self.frees
            ));
        }
        if self.heap_idle + self.heap_inuse != self.heap_sys {
            return Err(format!(
                "heap_idle {} + heap_inuse {} != heap_sys {}",
                self.heap_idle, self.heap_inuse, self.heap_sys
            ));
        }
        if self.heap_released > self.heap_idle {
            return Err(format!(
                "heap_released {} > heap_idle {}",
                self.heap_released, self.heap_idle
            ));
        }
        let sum = self.heap_sys
            + self.stack_sys
            + self.mspan_sys
            + self.mcache_sys
            + self.buck_hash_sys
            + self.gc_sys
            + self.other_sys;
        if self.sys != sum {
            return Err(format!("sys {} != sum of *_sys fields {}", self.sys, sum));
        }
        if self.heap_alloc > self.heap_inuse {
            return Err(format!(
                "heap_alloc {} > heap_inuse {}",
                self.heap_alloc, self.heap_inuse
            ));
        }
        for (name, inuse, sys) in [
            ("mspan", self.mspan_inuse, self.mspan_sys),
            ("mcache", self.mcache_inuse, self.mcache_sys),
            ("stack", self.stack_inuse, self.stack_sys),
        ] {
            if inuse > sys {
                return Err(format!("{name}_inuse {inuse} > {name}_sys {sys}"));
            }
        }
        if self.total_alloc < self.heap_alloc {
            return Err(format!(
                "total_alloc {} < heap_alloc {}",
                self.total_alloc, self.heap_alloc
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The figures of `captures/heap_debug1.txt`'s trailer, which a real Go
    /// 1.19 process produced, satisfy every relation.
    pub(crate) fn captured() -> MemStats {
        let mut m = MemStats {
            alloc: 8422248,
            total_alloc: 9726592,
            sys: 23442696,
            lookups: 0,
            mallocs: 4074,
            frees: 1215,
            heap_alloc: 8422248,
            heap_sys: 12222464,
            heap_idle: 3088384,
            heap_inuse: 9134080,
            heap_released: 1777664,
            heap_objects: 2859,
            stack_inuse: 327680,
            stack_sys: 327680,
            mspan_inuse: 168336,
            mspan_sys: 178992,
            mcache_inuse: 2400,
            mcache_sys: 15600,
            buck_hash_sys: 1445428,
            gc_sys: 8499016,
            other_sys: 753516,
            next_gc: 17108440,
            num_forced_gc: 1,
            gc_cpu_fraction: 0.00039182286789252624,
            ..MemStats::default()
        };
        m.record_pause(74858, 1795691550699798427);
        m.record_pause(67397, 1795691550705557226);
        m.record_pause(91032, 1795691557341957019);
        m
    }

    #[test]
    fn captured_go_figures_satisfy_invariants() {
        let m = captured();
        assert_eq!(m.check_invariants(), Ok(()));
        assert_eq!(m.num_gc, 3);
        assert_eq!(m.last_gc, 1795691557341957019);
        assert_eq!(m.last_pause_ns(), 91032);
        assert_eq!(m.pause_total_ns, 74858 + 67397 + 91032);
    }

    #[test]
    fn broken_sys_sum_is_reported() {
        let mut m = captured();
        m.sys += 1;
        let err = m.check_invariants().unwrap_err();
        assert!(err.starts_with("sys 23442697 != sum"), "{err}");
    }

    #[test]
    fn inuse_above_sys_is_reported() {
        let mut m = captured();
        m.mspan_inuse = m.mspan_sys + 1;
        let err = m.check_invariants().unwrap_err();
        assert!(err.starts_with("mspan_inuse 178993 > mspan_sys"), "{err}");
    }

    #[test]
    fn default_is_zero_with_gc_enabled() {
        let m = MemStats::default();
        assert!(m.enable_gc);
        assert_eq!(m.last_pause_ns(), 0);
        assert_eq!(m.check_invariants(), Ok(()));
    }

    #[test]
    fn pause_buffer_wraps_after_256_cycles() {
        let mut m = MemStats::default();
        for i in 0..300u64 {
            m.record_pause(i + 1, 1000 + i);
        }
        assert_eq!(m.num_gc, 300);
        assert_eq!(m.last_pause_ns(), 300);
        // cycle 300 (1-based) went to slot 299 % 256 = 43
        assert_eq!(m.pause_ns[43], 300);
        // slot 0 held cycle 1 and was overwritten by cycle 257
        assert_eq!(m.pause_ns[0], 257);
        // slot 44 still holds cycle 45 (cycle 301 has not happened)
        assert_eq!(m.pause_ns[44], 45);
    }
}
