//! The scavenger (Go's `mgcscavenge.go`): returns free pages to the OS with
//! `MADV_DONTNEED`, in the background down to a retention goal, and all at
//! once on [`Heap::free_os_memory`].
//!
//! See [crate::heap] for the overview.
//!
//! Policy. *Retained* memory is `heap_sys − heap_released`. The goal is
//! either set by the collector ([`Heap::set_scavenge_goal`], which Go
//! derives from the heap goal: 110 % of it, or 95 % of a memory limit) or,
//! when unset, 110 % of `heap_inuse` (Go's `retainExtraPercent = 10`).
//! The background scavenger wakes every [`SCAVENGE_PERIOD`] and releases at
//! most [`SCAVENGE_BUDGET_BYTES`] per wake-up, highest addresses first (the
//! page heap allocates lowest first, so high pages are the coldest). That
//! bounds its cost: one 8 MiB `madvise` sweep per 100 ms is well under Go's
//! 1 % CPU cap on any machine that can fault in 8 MiB in a millisecond.
//!
//! Releasing also clears the pages' need-to-zero bits: private anonymous
//! memory reads as zero after `MADV_DONTNEED`, which is what lets a large
//! allocation on released pages skip clearing.

use super::{Heap, PAGE_SIZE};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::Arc;
use std::time::Duration;

/// How often the background scavenger wakes up.
pub const SCAVENGE_PERIOD: Duration = Duration::from_millis(100);
/// Most bytes the background scavenger releases per wake-up.
pub const SCAVENGE_BUDGET_BYTES: usize = 8 << 20;
/// Extra retained memory over `heap_inuse` when no goal is set (percent).
pub const RETAIN_EXTRA_PERCENT: u64 = 10;

const NO_GOAL: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct ScavengerState {
    /// Retention goal in bytes, or NO_GOAL for "110 % of heap_inuse".
    goal: AtomicU64,
    /// Bytes released by the scavenger since the heap was made (cumulative).
    released_total: AtomicU64,
}

impl ScavengerState {
    pub(crate) fn new() -> ScavengerState {
        ScavengerState {
            goal: AtomicU64::new(NO_GOAL),
            released_total: AtomicU64::new(0),
        }
    }
}

/// Keeps the background scavenger running; [`ScavengerHandle::stop`] (or
/// dropping the handle) stops it and joins its thread.
#[derive(Debug)]
pub struct ScavengerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<crate::loom::thread::JoinHandle<()>>,
}

impl ScavengerHandle {
    /// Stops the scavenger and waits for its thread.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        // Relaxed: the flag carries no data; join() below synchronizes.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ScavengerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

impl Heap {
    /// Releases free pages (highest first) until retained memory
    /// (`heap_sys − heap_released`) is at most `retain_bytes` or
    /// `budget_bytes` were released. Returns the bytes released.
    pub fn scavenge(&self, retain_bytes: usize, budget_bytes: usize) -> usize {
        let pages = {
            let mut h = self.pages.inner.lock();
            h.scavenge(
                &self.arena,
                retain_bytes / PAGE_SIZE,
                budget_bytes / PAGE_SIZE,
            )
        };
        let bytes = pages * PAGE_SIZE;
        self.scav
            .released_total
            .fetch_add(bytes as u64, Ordering::Relaxed);
        bytes
    }

    /// Returns every free page to the OS (Go's `debug.FreeOSMemory`
    /// without the collection, which the caller runs first). Returns the
    /// bytes released.
    pub fn free_os_memory(&self) -> usize {
        self.scavenge(0, usize::MAX)
    }

    /// Sets the retention goal of the background scavenger (None: 110 % of
    /// heap_inuse). The collector's pacer calls this after each cycle.
    pub fn set_scavenge_goal(&self, bytes: Option<u64>) {
        self.scav
            .goal
            .store(bytes.unwrap_or(NO_GOAL), Ordering::Relaxed);
    }

    /// The current retention goal in bytes.
    pub fn scavenge_goal(&self) -> u64 {
        match self.scav.goal.load(Ordering::Relaxed) {
            NO_GOAL => {
                let inuse = self.pages.inner.lock().inuse_pages as u64 * PAGE_SIZE as u64;
                inuse * (100 + RETAIN_EXTRA_PERCENT) / 100
            }
            g => g,
        }
    }

    /// Bytes released by scavenging since the heap was made.
    pub fn scavenged_total(&self) -> u64 {
        self.scav.released_total.load(Ordering::Relaxed)
    }

    /// One background step: release up to the budget towards the goal.
    pub fn scavenge_step(&self) -> usize {
        let goal = self.scavenge_goal();
        self.scavenge(goal as usize, SCAVENGE_BUDGET_BYTES)
    }

    /// Starts the background scavenger on its own OS thread.
    pub fn start_scavenger(&'static self) -> ScavengerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = crate::loom::thread::spawn(move || {
            let tick = Duration::from_millis(10);
            let mut slept = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                slept += tick;
                if slept >= SCAVENGE_PERIOD {
                    slept = Duration::ZERO;
                    self.scavenge_step();
                }
            }
        });
        ScavengerHandle {
            stop,
            thread: Some(thread),
        }
    }
}
