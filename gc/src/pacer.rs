//! The pacer: when to start a cycle, how much marking each allocation owes.
//! See [crate] for the overview (its `# Pacing` section states what the
//! pacer promises); this file is the arithmetic (≈ Go's `mgcpacer.go`).
//!
//! Inputs, per cycle: the bytes marked live by the last cycle
//! (`heap_marked`), the scannable stack and global bytes, `GOGC`
//! (`gc_percent`, −1 = off) and `GOMEMLIMIT` (`memory_limit`, `i64::MAX` =
//! none). Outputs: the **heap goal**, the **trigger** (the heap size at
//! which the next cycle starts), and during a cycle the **assist ratio**
//! (scan work owed per byte allocated).
//!
//! # Fields
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `gc_percent`, `memory_limit` | `set_gc_percent` / `set_memory_limit` (under the collector's cycle lock) | `commit` |
//! | `goal`, `trigger` | `commit` (under the cycle lock) | allocation slow path (Relaxed: a stale trigger only starts a cycle a little early or late) |
//! | `cons_mark` history | `end_cycle` (under the cycle lock) | `commit` |

use crate::loom::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Go's `defaultHeapMinimum`: the goal is never below 4 MiB × GOGC/100.
pub const HEAP_MINIMUM: u64 = 4 << 20;

/// Go's `gcGoalUtilization` = `gcBackgroundUtilization`: the share of
/// GOMAXPROCS the background mark workers get while marking.
pub const BACKGROUND_UTILIZATION: f64 = 0.25;

/// Go's trigger bounds (`minTriggerRatioNum = 45`, `maxTriggerRatioNum =
/// 61`, `triggerRatioDen = 64`): the trigger lies between ≈0.7 and ≈0.95 of
/// the way from the last marked heap to the goal.
const MIN_TRIGGER: f64 = 45.0 / 64.0;
const MAX_TRIGGER: f64 = 61.0 / 64.0;

/// Go 1.21's `memoryLimitHeapGoalHeadroomPercent` and
/// `memoryLimitMinHeapGoalHeadroom`: under a memory limit the goal keeps
/// 3 % (at least 1 MiB) of headroom below it.
const LIMIT_HEADROOM_PERCENT: u64 = 3;
const LIMIT_MIN_HEADROOM: u64 = 1 << 20;

/// Go's `gcOverAssistWork`: an assist does this much extra scan work to
/// amortise its start-up cost.
pub const OVER_ASSIST_WORK: i64 = 64 << 10;

/// "No memory limit" (Go's `math.MaxInt64`).
pub const NO_LIMIT: i64 = i64::MAX;

/// Parse `GOGC`: `off` (any case) → −1, else a decimal integer; negative
/// values also mean off, as in Go. Anything else is an error naming the
/// variable (Go would silently fall back to 100; gort does not).
pub fn parse_gogc(s: &str) -> Result<i32, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(-1);
    }
    match s.parse::<i32>() {
        Ok(n) if n < 0 => Ok(-1),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "GOGC={s:?}: want \"off\" or a whole number of percent (e.g. 100)"
        )),
    }
}

/// Parse `GOMEMLIMIT` with Go's syntax (`runtime.parseByteCount`): `off`,
/// or a non-negative integer with an optional unit suffix `B`, `KiB`, `MiB`,
/// `GiB` or `TiB`. Overflow and any other form are errors.
pub fn parse_memory_limit(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "GOMEMLIMIT={s:?}: want \"off\" or a byte count such as 512MiB \
             (units B, KiB, MiB, GiB, TiB; see go doc runtime/debug.SetMemoryLimit)"
        )
    };
    if s == "off" {
        return Ok(NO_LIMIT);
    }
    let (digits, shift) = if let Some(d) = s.strip_suffix("KiB") {
        (d, 10)
    } else if let Some(d) = s.strip_suffix("MiB") {
        (d, 20)
    } else if let Some(d) = s.strip_suffix("GiB") {
        (d, 30)
    } else if let Some(d) = s.strip_suffix("TiB") {
        (d, 40)
    } else if let Some(d) = s.strip_suffix('B') {
        (d, 0)
    } else {
        (s, 0)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1i64 << shift).ok_or_else(bad)
}

/// What the pacer needs from the end of a cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct CycleEnd {
    /// Bytes marked live.
    pub heap_marked: u64,
    /// Heap size when the cycle started (the trigger that was hit).
    pub heap_live_start: u64,
    /// Heap size when marking ended.
    pub heap_live_end: u64,
    /// Scan work done (bytes scanned) during mark.
    pub scan_work: u64,
    /// Scannable stack bytes reported by the host.
    pub stack_scan: u64,
    /// Scannable global bytes.
    pub globals_scan: u64,
    /// Wall time of concurrent mark, ns.
    pub mark_wall_ns: u64,
    /// CPU time the collector spent marking (workers + assists), ns.
    pub mark_cpu_ns: u64,
    /// GOMAXPROCS during the cycle.
    pub procs: u32,
}

/// The pacer's state. One per collector.
#[derive(Debug)]
pub struct Pacer {
    /// GOGC; −1 = off.
    gc_percent: AtomicI32,
    /// GOMEMLIMIT in bytes; [`NO_LIMIT`] = none.
    memory_limit: AtomicI64,
    /// Heap goal of the current/next cycle, bytes.
    goal: AtomicU64,
    /// Heap size that starts the next cycle, bytes.
    trigger: AtomicU64,
    /// Live bytes marked by the last cycle (4 MiB-equivalent before the first).
    heap_marked: AtomicU64,
    /// Stack + globals bytes of the last cycle (part of the GOGC formula since Go 1.18).
    roots_scan: AtomicU64,
    /// Go 1.21's last four `consMark` estimates (f64 bits): allocation rate
    /// over scan rate, normalised by CPU share. The runway uses the max.
    cons_mark: [AtomicU64; 4],
    /// Next slot of `cons_mark` to overwrite.
    cons_mark_next: AtomicU64,
    /// Scan work per allocated byte the mutators owe during mark (f64 bits).
    assist_ratio: AtomicU64,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(100, NO_LIMIT)
    }
}

impl Pacer {
    /// A pacer with the given GOGC (−1 = off) and memory limit.
    pub fn new(gc_percent: i32, memory_limit: i64) -> Pacer {
        let p = Pacer {
            gc_percent: AtomicI32::new(gc_percent.max(-1)),
            memory_limit: AtomicI64::new(memory_limit),
            goal: AtomicU64::new(0),
            trigger: AtomicU64::new(0),
            heap_marked: AtomicU64::new(0),
            roots_scan: AtomicU64::new(0),
            cons_mark: [
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ],
            cons_mark_next: AtomicU64::new(0),
            assist_ratio: AtomicU64::new(0),
        };
        p.commit(0);
        p
    }

    /// GOGC (−1 = off).
    pub fn gc_percent(&self) -> i32 {
        self.gc_percent.load(Relaxed)
    }

    /// GOMEMLIMIT in bytes.
    pub fn memory_limit(&self) -> i64 {
        self.memory_limit.load(Relaxed)
    }

    /// Set GOGC; returns the old value (`debug.SetGCPercent`). Negative = off.
    /// `non_heap` is the current memory not in heap spans (for the limit goal).
    pub fn set_gc_percent(&self, pct: i32, non_heap: u64) -> i32 {
        let old = self.gc_percent.swap(pct.max(-1), Relaxed);
        self.commit(non_heap);
        old
    }

    /// Set GOMEMLIMIT; a negative value only reads (`debug.SetMemoryLimit`).
    pub fn set_memory_limit(&self, limit: i64, non_heap: u64) -> i64 {
        if limit < 0 {
            return self.memory_limit();
        }
        let old = self.memory_limit.swap(limit, Relaxed);
        self.commit(non_heap);
        old
    }

    /// The heap goal, bytes (MemStats `next_gc`). `u64::MAX` when GOGC is
    /// off and there is no memory limit.
    pub fn goal(&self) -> u64 {
        self.goal.load(Relaxed)
    }

    /// The heap size at which the next cycle starts.
    pub fn trigger(&self) -> u64 {
        self.trigger.load(Relaxed)
    }

    /// Live bytes marked by the last cycle.
    pub fn heap_marked(&self) -> u64 {
        self.heap_marked.load(Relaxed)
    }

    /// The GOGC goal: `marked + (marked + stacks + globals) × GOGC/100`, at
    /// least `4 MiB × GOGC/100` (Go 1.18+ `heapGoalInternal`).
    fn gogc_goal(&self) -> u64 {
        let pct = self.gc_percent();
        if pct < 0 {
            return u64::MAX;
        }
        let pct = pct as u64;
        let marked = self.heap_marked();
        let g = marked.saturating_add(
            marked
                .saturating_add(self.roots_scan.load(Relaxed))
                .saturating_mul(pct)
                / 100,
        );
        g.max(HEAP_MINIMUM.saturating_mul(pct) / 100)
    }

    /// The memory-limit goal: the limit minus memory outside the heap,
    /// minus 3 % (at least 1 MiB) of headroom (Go 1.21 `memoryLimitHeapGoal`).
    fn limit_goal(&self, non_heap: u64) -> u64 {
        let limit = self.memory_limit();
        if limit == NO_LIMIT {
            return u64::MAX;
        }
        let g = (limit as u64).saturating_sub(non_heap);
        let headroom = (g / 100 * LIMIT_HEADROOM_PERCENT).max(LIMIT_MIN_HEADROOM);
        g.saturating_sub(headroom)
    }

    /// Recompute goal and trigger from the current settings and the last
    /// cycle's figures (Go's `gcControllerCommit`).
    pub fn commit(&self, non_heap: u64) {
        let goal = self.gogc_goal().min(self.limit_goal(non_heap));
        self.goal.store(goal, Relaxed);
        self.trigger.store(self.trigger_for(goal), Relaxed);
    }

    /// The trigger for `goal`: start early enough that the background
    /// workers, at 25 % of the CPU, finish marking as the heap reaches the
    /// goal. The runway (bytes the mutators allocate during mark) is Go
    /// 1.18's `consMark × (1 − u)/u × scan work`, with `u` = 25 % and scan
    /// work taken as last cycle's marked + root bytes; the result is clamped
    /// to 0.7–0.95 of the distance from the marked heap to the goal.
    fn trigger_for(&self, goal: u64) -> u64 {
        if goal == u64::MAX {
            return u64::MAX;
        }
        let marked = self.heap_marked();
        if goal <= marked {
            // Under a memory limit the goal may be below the live heap:
            // start a cycle right away.
            return marked.min(goal);
        }
        let span = (goal - marked) as f64;
        let cons_mark = self
            .cons_mark
            .iter()
            .map(|c| f64::from_bits(c.load(Relaxed)))
            .fold(0.0, f64::max);
        let scan = (marked + self.roots_scan.load(Relaxed)) as f64;
        let runway = cons_mark * (1.0 - BACKGROUND_UTILIZATION) / BACKGROUND_UTILIZATION * scan;
        let lo = marked as f64 + span * MIN_TRIGGER;
        let hi = marked as f64 + span * MAX_TRIGGER;
        let t = (goal as f64 - runway).clamp(lo, hi);
        t as u64
    }

    /// Record a finished cycle: update the marked heap and the `consMark`
    /// estimate, then recommit goal and trigger.
    pub fn end_cycle(&self, c: &CycleEnd, non_heap: u64) {
        self.heap_marked.store(c.heap_marked, Relaxed);
        self.roots_scan
            .store(c.stack_scan + c.globals_scan, Relaxed);
        if c.scan_work > 0 && c.mark_cpu_ns > 0 && c.mark_wall_ns > 0 {
            // consMark = (allocation rate / scan rate) × (mutator CPU / GC CPU)
            // (Go 1.18 `endCycle`): bytes allocated per byte scanned, as if
            // the GC and the mutators had the same CPU.
            let allocated = c.heap_live_end.saturating_sub(c.heap_live_start) as f64;
            let avail = c.mark_wall_ns as f64 * c.procs.max(1) as f64;
            let gc_cpu = (c.mark_cpu_ns as f64).min(avail);
            let mut_cpu = (avail - gc_cpu).max(avail * 0.01);
            let cm = allocated / c.scan_work as f64 * (gc_cpu / mut_cpu);
            let slot = (self.cons_mark_next.fetch_add(1, Relaxed) % 4) as usize;
            self.cons_mark[slot].store(cm.to_bits(), Relaxed);
        }
        self.commit(non_heap);
    }

    /// Set the assist ratio at the start of mark (Go's `revise`): the scan
    /// work expected (last marked heap + roots, at least 4 MiB) spread over
    /// the bytes left until the goal; past the goal, over what is left to
    /// the hard goal (goal + 10 %), so assists grow steeply.
    pub fn revise(&self, heap_live: u64, scan_done: u64) {
        let expected = (self.heap_marked() + self.roots_scan.load(Relaxed)).max(HEAP_MINIMUM);
        let remaining_work = expected.saturating_sub(scan_done).max(expected / 10) as f64;
        let goal = self.goal();
        let runway = if goal == u64::MAX {
            u64::MAX
        } else if heap_live < goal {
            goal - heap_live
        } else {
            // Past the goal: spread the work over what is left to Go's hard
            // goal (goal + 10 %), at least 64 KiB.
            (goal + goal / 10).saturating_sub(heap_live).max(64 << 10)
        };
        let ratio = if runway == u64::MAX {
            0.0
        } else {
            remaining_work / runway as f64
        };
        self.assist_ratio.store(ratio.to_bits(), Relaxed);
    }

    /// Scan work owed per byte allocated during mark.
    pub fn assist_ratio(&self) -> f64 {
        f64::from_bits(self.assist_ratio.load(Relaxed))
    }

    /// Test support: pretend a cycle marked `marked` bytes with no roots.
    #[doc(hidden)]
    pub fn set_heap_marked_for_test(&self, marked: u64) {
        self.heap_marked.store(marked, Relaxed);
        self.commit(0);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn gogc_syntax() {
        assert_eq!(parse_gogc("100"), Ok(100));
        assert_eq!(parse_gogc("off"), Ok(-1));
        assert_eq!(parse_gogc("OFF"), Ok(-1));
        assert_eq!(parse_gogc("-5"), Ok(-1));
        assert_eq!(parse_gogc("1"), Ok(1));
        let e = parse_gogc("lots").unwrap_err();
        assert!(e.starts_with("GOGC=\"lots\""), "{e}");
    }

    #[test]
    fn gomemlimit_syntax_matches_go_parse_byte_count() {
        assert_eq!(parse_memory_limit("off"), Ok(NO_LIMIT));
        assert_eq!(parse_memory_limit("123"), Ok(123));
        assert_eq!(parse_memory_limit("123B"), Ok(123));
        assert_eq!(parse_memory_limit("4KiB"), Ok(4096));
        assert_eq!(parse_memory_limit("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_limit("2GiB"), Ok(2 << 30));
        assert_eq!(parse_memory_limit("1TiB"), Ok(1 << 40));
        for bad in [
            "",
            "B",
            "1.5GiB",
            "-1",
            "10MB",
            "1 GiB",
            "8388608TiB",
            "Off",
        ] {
            let e = parse_memory_limit(bad).unwrap_err();
            assert!(e.starts_with("GOMEMLIMIT="), "{bad}: {e}");
        }
    }

    #[test]
    fn goal_follows_gogc_formula_with_4mib_minimum() {
        let p = Pacer::new(100, NO_LIMIT);
        assert_eq!(p.goal(), 4 << 20);
        p.set_heap_marked_for_test(8 << 20);
        assert_eq!(p.goal(), 16 << 20);
        // Go's guide: 8 MiB live + 1 MiB stacks + 1 MiB globals → 18 MiB.
        p.end_cycle(
            &CycleEnd {
                heap_marked: 8 << 20,
                stack_scan: 1 << 20,
                globals_scan: 1 << 20,
                ..CycleEnd::default()
            },
            0,
        );
        assert_eq!(p.goal(), 18 << 20);
        // GOGC=50 halves the growth; the minimum scales too.
        assert_eq!(p.set_gc_percent(50, 0), 100);
        assert_eq!(p.goal(), (8 << 20) + (10 << 20) / 2);
        let small = Pacer::new(50, NO_LIMIT);
        assert_eq!(small.goal(), 2 << 20);
    }

    #[test]
    fn trigger_lies_between_70_and_95_percent_of_the_runway() {
        let p = Pacer::new(100, NO_LIMIT);
        p.set_heap_marked_for_test(64 << 20);
        let (goal, trig) = (p.goal(), p.trigger());
        assert_eq!(goal, 128 << 20);
        // With no consMark history the runway is 0: trigger at the upper bound.
        assert_eq!(
            trig,
            (64 << 20) + ((64u64 << 20) as f64 * MAX_TRIGGER) as u64
        );
        // A fast allocator (lots allocated per byte scanned) pulls it down to 0.7.
        p.end_cycle(
            &CycleEnd {
                heap_marked: 64 << 20,
                heap_live_start: 100 << 20,
                heap_live_end: 300 << 20,
                scan_work: 64 << 20,
                mark_wall_ns: 10_000_000,
                mark_cpu_ns: 5_000_000,
                procs: 2,
                ..CycleEnd::default()
            },
            0,
        );
        assert_eq!(
            p.trigger(),
            (64 << 20) + ((64u64 << 20) as f64 * MIN_TRIGGER) as u64
        );
    }

    #[test]
    fn gogc_off_and_memory_limit() {
        let p = Pacer::new(-1, NO_LIMIT);
        assert_eq!(p.goal(), u64::MAX);
        assert_eq!(p.trigger(), u64::MAX);
        // A limit alone gives a goal: 100 MiB − 10 MiB non-heap − 3 %.
        assert_eq!(p.set_memory_limit(100 << 20, 10 << 20), NO_LIMIT);
        let g = (90u64 << 20) - (90u64 << 20) / 100 * 3;
        assert_eq!(p.goal(), g);
        // Negative only reads.
        assert_eq!(p.set_memory_limit(-1, 0), 100 << 20);
        assert_eq!(p.memory_limit(), 100 << 20);
        // With GOGC on, the lower of the two goals wins.
        p.set_gc_percent(100, 10 << 20);
        assert_eq!(p.goal(), 4 << 20);
        p.set_heap_marked_for_test(80 << 20);
        p.commit(10 << 20);
        assert_eq!(p.goal(), g);
        // Small limit: at least 1 MiB headroom.
        p.set_memory_limit(20 << 20, 0);
        assert_eq!(p.goal(), 19 << 20);
        // Goal under the live heap: trigger now.
        assert!(p.trigger() <= 80 << 20);
    }

    #[test]
    fn assist_ratio_rises_as_the_heap_nears_the_goal() {
        let p = Pacer::new(100, NO_LIMIT);
        p.set_heap_marked_for_test(32 << 20);
        p.revise(40 << 20, 0);
        let early = p.assist_ratio();
        assert!((early - 32.0 / 24.0).abs() < 1e-9, "{early}");
        p.revise(60 << 20, 0);
        let late = p.assist_ratio();
        assert!((late - 32.0 / 4.0).abs() < 1e-9, "{late}");
        p.revise(70 << 20, 0);
        assert!(p.assist_ratio() > late);
    }
}
