//! Heap profiling: the allocation sampler (Go's `MemProfileRate`) and the
//! profile's buckets, published once per GC cycle as Go does.
//!
//! See [crate::heap] for the overview. This module is the *recording* half
//! of the `heap` and `allocs` profiles; the `gort` facade symbolizes and
//! encodes what [`mem_profile`] returns (`gort::pprof`).
//!
//! # Sampling
//!
//! Every allocation subtracts its slot size from a per-P countdown
//! (`CacheSlot::next_sample`, owned by the P like its other counters); the
//! allocation that takes the countdown below zero is *sampled* and a new
//! countdown is drawn from an exponential distribution whose mean is the
//! rate (Go's `nextSample` → `fastexprand(MemProfileRate)`): on average one
//! sample per `rate` bytes, with no bias towards allocations that happen at
//! regular intervals. The fast path pays one load, one compare-and-branch
//! and one store; everything else is in the `#[cold]` [`sample`].
//!
//! | rate | meaning |
//! |---|---|
//! | 524288 (default) | one sample per 512 KiB allocated, on average |
//! | 1 | every allocation is recorded |
//! | 0 | profiling off |
//!
//! A sampled object gets its **allocation stack** (raw return PCs, from a
//! frame-pointer walk of the allocating thread bounded by its stack — the
//! goroutine's stack, as the facade reports it through
//! [`set_stack_bounds`], or the OS thread's), and is remembered by address
//! so that sweeping can count its free. It also gets the allocating
//! goroutine's **labels** (`gort_profiler::labels`: one word read through
//! the facade's hook), which Go's heap profile does not have: a bucket is
//! one (stack, size, labels). Symbols and labels are resolved later, when a
//! profile is written, never here.
//!
//! # Frees: one flag per span
//!
//! A span that holds sampled objects has its `profiled` flag set; sweeping
//! tests that one flag per span and calls [`swept`] only for such spans,
//! which checks the mark bit of each sampled object in the span. Spans
//! without sampled objects — nearly all of them at the default rate — pay a
//! relaxed load.
//!
//! # Publication: "as of the most recently completed GC"
//!
//! Go's heap profile does not show the heap *now* (which would count every
//! dead-but-unswept object as live) but as of the last mark termination.
//! The counts of each bucket go to one of three *future* slots, indexed by
//! the profiling cycle `C` (Go's `mProfCycle`, comment above `memRecord` in
//! `runtime/mprof.go`):
//!
//! * an allocation during cycle `C` counts into slot `(C+2) % 3`;
//! * a free found by sweeping during cycle `C` counts into `(C+1) % 3`;
//! * mark termination ([`next_cycle`], called with the world stopped)
//!   makes it cycle `C+1`, and right after the world restarts
//!   ([`flush_cycle`], Go's `mProf_Flush`) slot `(C+1) % 3` is added into
//!   the published counts: that walks every bucket, so it stays out of the
//!   pause;
//! * when `runtime.GC()` has finished sweeping, [`post_sweep`] publishes
//!   slot `(C+2) % 3` early: the frees of the cycle that just ended, with
//!   the allocations they pair with (Go's `mProf_PostSweep`).
//!
//! So an object allocated before a GC and found dead by it shows as freed
//! once that GC's sweep is published; an allocation made after the last
//! mark termination is not visible yet. If no GC has published anything,
//! a reader sees everything recorded so far (Go's rule, so that a program
//! running with GC off can still be profiled).
//!
//! # Locks
//!
//! One lock, `gc.heap.profile` (a leaf: nothing is called while it is
//! held), guards the buckets and the sampled-object table. The sampler
//! takes it on a sampled allocation, the sweeper on a `profiled` span,
//! [`next_cycle`] at mark termination.

use super::span::Span;
use crate::loom::sync::atomic::Ordering;
use std::sync::atomic::{AtomicI64, Ordering as StdOrdering};
use std::sync::OnceLock;

/// Go's default `runtime.MemProfileRate`: 512 KiB.
pub const DEFAULT_MEM_PROFILE_RATE: i64 = 512 * 1024;

/// Most frames kept per allocation stack (Go keeps 32).
#[cfg_attr(all(test, loom), allow(dead_code))] // loom builds record nothing
pub const MAX_STACK_DEPTH: usize = 64;

/// The current `MemProfileRate`. Read by the cold path only.
static RATE: AtomicI64 = AtomicI64::new(DEFAULT_MEM_PROFILE_RATE);

/// How the sampler finds the allocating goroutine's stack bounds (the
/// facade installs the scheduler's `current_goroutine_stack_bounds`).
static STACK_BOUNDS: OnceLock<BoundsFn> = OnceLock::new();

/// Returns the calling goroutine's stack `[lo, hi)`, None outside goroutines.
pub type BoundsFn = fn() -> Option<(usize, usize)>;

/// Cumulative sampled allocations (for tests and statistics).
static SAMPLES: AtomicI64 = AtomicI64::new(0);

/// Sets the `MemProfileRate` (Go's `runtime.MemProfileRate = rate`):
/// one sample per `rate` bytes allocated on average; 1 records every
/// allocation; 0 turns sampling off; negative values are treated as 0.
/// Returns the previous rate.
///
/// Every P's countdown is reset so the new rate applies from the next
/// allocation on (a P allocating at this very instant may keep its old
/// countdown until its next sample: its countdown store can overwrite the
/// reset).
pub fn set_mem_profile_rate(rate: i64) -> i64 {
    let old = RATE.swap(rate.max(0), StdOrdering::Relaxed);
    if let Some(h) = super::GLOBAL.get() {
        for c in h.caches.iter() {
            if let Some(slot) = c.get() {
                slot.next_sample.store(0, Ordering::Relaxed);
            }
        }
        h.shared.lock().next_sample.store(0, Ordering::Relaxed);
    }
    old
}

/// The current `MemProfileRate`.
pub fn mem_profile_rate() -> i64 {
    RATE.load(StdOrdering::Relaxed)
}

/// Installs the function that gives the calling goroutine's stack
/// `[lo, hi)` (None outside goroutines: the OS thread's stack is used).
/// Returns false if one is already installed.
pub fn set_stack_bounds(f: BoundsFn) -> bool {
    STACK_BOUNDS.set(f).is_ok()
}

/// Sampled allocations recorded since the process started.
pub fn samples_taken() -> u64 {
    SAMPLES.load(StdOrdering::Relaxed) as u64
}

/// One bucket of the heap profile (Go's `runtime.MemProfileRecord`): an
/// allocation stack and object size with its sampled counts, as of the
/// last published cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemProfileRecord {
    /// Return PCs of the allocation stack, leaf first (the allocator's own
    /// frames included: the writer hides them, as Go hides `runtime.*`).
    pub stack: Vec<u64>,
    /// Slot size of the objects in this bucket.
    pub size: u64,
    /// The label word of the goroutine that allocated them
    /// ([`gort_profiler::labels`]; 0 for none).
    pub labels: usize,
    /// Sampled objects allocated.
    pub allocs: u64,
    /// Sampled objects freed.
    pub frees: u64,
    /// Sampled bytes allocated.
    pub alloc_bytes: u64,
    /// Sampled bytes freed.
    pub free_bytes: u64,
}

/// The next countdown: exponential with mean `rate` (0 for rate 1, so that
/// every allocation is sampled; "never" for rate 0).
pub(crate) fn next_countdown() -> u64 {
    let rate = mem_profile_rate();
    match rate {
        0 => u64::MAX,
        1 => 0,
        r => {
            // Uniform in (0, 1]: 53 random bits, plus one ulp.
            let u = ((rand() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let x = -u.ln() * r as f64;
            x.min(1e15) as u64
        }
    }
}

/// xorshift64*: per-thread, seeded from the thread's stack address and the
/// clock (under Miri, whose isolation has no clock, from the address alone).
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
fn rand() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            let t = if cfg!(miri) {
                0x9e37_79b9_7f4a_7c15
            } else {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            };
            x = (t ^ (s as *const Cell<u64> as u64).rotate_left(32)) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(not(all(test, loom)))]
pub(crate) use real::{flush_cycle, footprint, next_cycle, sample, swept};
#[cfg(not(all(test, loom)))]
pub use real::{mem_profile, mem_profile_buckets, post_sweep, profile_cycle};

#[cfg(not(all(test, loom)))]
mod real {
    use super::*;
    use crate::loom::sync::Mutex;
    use std::collections::{BTreeMap, HashMap};
    use std::hash::{BuildHasherDefault, DefaultHasher};

    /// Counts of one bucket for one cycle (Go's `memRecordCycle`).
    #[derive(Clone, Copy, Debug, Default)]
    struct Counts {
        allocs: u64,
        frees: u64,
        alloc_bytes: u64,
        free_bytes: u64,
    }

    impl Counts {
        fn add(&mut self, o: &Counts) {
            self.allocs += o.allocs;
            self.frees += o.frees;
            self.alloc_bytes += o.alloc_bytes;
            self.free_bytes += o.free_bytes;
        }
        fn is_zero(&self) -> bool {
            self.allocs == 0 && self.frees == 0
        }
    }

    /// One (stack, size, labels) bucket (Go's `bucket` + `memRecord`;
    /// Go's buckets have no labels).
    #[derive(Debug)]
    struct Bucket {
        stack: Box<[u64]>,
        size: u64,
        labels: usize,
        /// Published counts.
        active: Counts,
        /// Counts not yet published, by `cycle % 3`.
        future: [Counts; 3],
    }

    /// Everything behind the profile lock.
    /// A bucket's identity: (stack, size, labels).
    type BucketKey = (Box<[u64]>, u64, usize);

    #[derive(Debug, Default)]
    struct State {
        buckets: Vec<Bucket>,
        /// (stack, size, labels) → index in `buckets`.
        index: HashMap<BucketKey, usize, BuildHasherDefault<DefaultHasher>>,
        /// Live sampled objects: address → (bucket, slot size).
        objects: BTreeMap<usize, (usize, u64)>,
        /// Go's `mProfCycle`: mark terminations seen.
        cycle: u32,
        /// `future[cycle % 3]` still waits for [`flush_cycle`] (Go's
        /// `mProfCycle` flushed flag, inverted).
        unflushed: bool,
    }

    impl State {
        fn flush(&mut self, index: usize) {
            for b in self.buckets.iter_mut() {
                let c = std::mem::take(&mut b.future[index]);
                b.active.add(&c);
            }
        }
    }

    /// Lock rank `gc.heap.profile` (leaf).
    ///
    /// A plain static, not a lazily initialized one: world-stopped code
    /// (`footprint`, for `ReadMemStats`) takes this lock, and a lazy
    /// initialization is itself a lock that a goroutine suspended by the
    /// preemption signal in the middle of it would hold for the whole stop.
    fn state() -> &'static Mutex<State> {
        static STATE: Mutex<State> = Mutex::new(State {
            buckets: Vec::new(),
            index: HashMap::with_hasher(BuildHasherDefault::new()),
            objects: BTreeMap::new(),
            cycle: 0,
            unflushed: false,
        });
        &STATE
    }

    /// Records a sampled allocation of `size` bytes at `addr` and returns
    /// the next countdown. Called by `CacheSlot::count` when its countdown
    /// runs out; not a safepoint, allocates only from the Rust heap.
    #[cold]
    #[inline(never)]
    pub(crate) fn sample(addr: usize, size: usize) -> u64 {
        let next = next_countdown();
        if mem_profile_rate() == 0 {
            return next;
        }
        // Only the process heap is profiled (tests' private heaps are not).
        let Some(heap) = super::super::GLOBAL.get() else {
            return next;
        };
        let Some(obj) = heap.find_object(addr) else {
            return next;
        };
        let mut pcs = [0u64; MAX_STACK_DEPTH];
        let n = walk_stack(&mut pcs);
        let stack: Box<[u64]> = pcs[..n].into();
        let size = size as u64;
        // The allocating goroutine's labels at this moment.
        let labels = gort_profiler::labels::current_word();
        let mut st = state().lock();
        let st = &mut *st;
        let key = (stack, size, labels);
        let b = match st.index.get(&key) {
            Some(&b) => b,
            None => {
                let b = st.buckets.len();
                st.buckets.push(Bucket {
                    stack: key.0.clone(),
                    size,
                    labels,
                    active: Counts::default(),
                    future: [Counts::default(); 3],
                });
                st.index.insert(key, b);
                b
            }
        };
        let slot = (st.cycle as usize + 2) % 3;
        let c = &mut st.buckets[b].future[slot];
        c.allocs += 1;
        c.alloc_bytes += size;
        st.objects.insert(obj.base, (b, size));
        // Relaxed: the sweeper reads the flag only after the next
        // stop-the-world, which orders it after this store.
        obj.span.profiled.store(true, Ordering::Relaxed);
        SAMPLES.fetch_add(1, StdOrdering::Relaxed);
        next
    }

    /// Called by the sweeper for a span whose `profiled` flag is set,
    /// before the mark bits are cleared: every sampled object of the span
    /// that is not marked is freed now. Clears the flag when no sampled
    /// object is left in the span.
    #[cold]
    pub(crate) fn swept(span: &Span, marks: &[u64]) {
        let start = span.start();
        let end = start + span.npages() * super::super::PAGE_SIZE;
        let elem = span.elem_size().max(1);
        let mut st = state().lock();
        let st = &mut *st;
        let slot = (st.cycle as usize + 1) % 3;
        let mut left = 0;
        let mut dead = Vec::new();
        for (&addr, &(b, size)) in st.objects.range(start..end) {
            let i = (addr - start) / elem;
            if marks[i / 64] & (1 << (i % 64)) != 0 {
                left += 1;
            } else {
                dead.push(addr);
                let c = &mut st.buckets[b].future[slot];
                c.frees += 1;
                c.free_bytes += size;
            }
        }
        for a in dead {
            st.objects.remove(&a);
        }
        if left == 0 {
            span.profiled.store(false, Ordering::Relaxed);
        }
    }

    /// Mark termination (world stopped): a new profiling cycle begins
    /// (Go's `mProf_NextCycle`). O(1): the counts that are now complete
    /// are published by [`flush_cycle`] once the world runs again, since
    /// that walks every bucket (130 µs of each gcpause pause when it ran
    /// here). A cycle whose counts were never published (no
    /// `flush_cycle` since the last call) is published first.
    pub(crate) fn next_cycle() {
        let mut st = state().lock();
        if st.unflushed {
            let i = st.cycle as usize % 3;
            st.flush(i);
        }
        st.cycle = st.cycle.wrapping_add(1);
        st.unflushed = true;
    }

    /// Right after mark termination restarted the world: publish the
    /// counts of the cycle [`next_cycle`] completed (Go's `mProf_Flush`).
    /// Meanwhile allocations record into `future[(cycle + 2) % 3]` and
    /// sweeps into `future[(cycle + 1) % 3]`, so nothing races with this
    /// slot. Does nothing if it was published already.
    pub(crate) fn flush_cycle() {
        let mut st = state().lock();
        if !st.unflushed {
            return;
        }
        st.unflushed = false;
        let i = st.cycle as usize % 3;
        st.flush(i);
    }

    /// The profiling cycle (mark terminations seen so far).
    pub fn profile_cycle() -> u32 {
        state().lock().cycle
    }

    /// After `runtime.GC()` has swept everything: publish the frees of the
    /// cycle that just ended (Go's `mProf_PostSweep`). `cycle_before` is
    /// [`profile_cycle`] read before the GC started; nothing is done if
    /// more than that one cycle has ended since (another mark termination
    /// already published it).
    pub fn post_sweep(cycle_before: u32) {
        let mut st = state().lock();
        if st.cycle != cycle_before.wrapping_add(1) {
            return;
        }
        let i = (st.cycle as usize + 1) % 3;
        st.flush(i);
    }

    /// The published heap profile: one record per bucket, including those
    /// whose objects are all freed (Go's `runtime.MemProfile(p, true)`).
    /// If nothing was ever published (no GC yet), everything recorded so
    /// far is published first, as Go does.
    pub fn mem_profile() -> Vec<MemProfileRecord> {
        let mut st = state().lock();
        let st = &mut *st;
        if st.buckets.iter().all(|b| b.active.is_zero()) {
            for i in 0..3 {
                st.flush(i);
            }
        }
        st.buckets
            .iter()
            .map(|b| MemProfileRecord {
                stack: b.stack.to_vec(),
                size: b.size,
                labels: b.labels,
                allocs: b.active.allocs,
                frees: b.active.frees,
                alloc_bytes: b.active.alloc_bytes,
                free_bytes: b.active.free_bytes,
            })
            .collect()
    }

    /// Number of buckets (Go's `MemProfile(nil, true)` count: what the
    /// `/debug/pprof/` index shows for heap and allocs).
    pub fn mem_profile_buckets() -> usize {
        state().lock().buckets.len()
    }

    /// Bytes the heap profile's tables occupy: (buckets — their structs,
    /// stacks and the (stack, size) index, Go's `buckhash` —, the map of
    /// live sampled objects — Go's profile specials). Hash maps and vectors
    /// count their capacity (a hash map entry plus its control byte).
    pub(crate) fn footprint() -> (u64, u64) {
        let st = state().lock();
        let word = std::mem::size_of::<u64>();
        let stacks: usize = st.buckets.iter().map(|b| b.stack.len() * word).sum();
        let buckets = st.buckets.capacity() * std::mem::size_of::<Bucket>()
            // The index keys are copies of the stacks.
            + 2 * stacks
            + st.index.capacity() * (std::mem::size_of::<((Box<[u64]>, u64, usize), usize)>() + 1);
        // A BTreeMap node holds up to 11 entries; count one node's share
        // per entry (its keys, values and child pointer).
        let objects = st.objects.len()
            * (std::mem::size_of::<(usize, (usize, u64))>() + std::mem::size_of::<usize>());
        (buckets as u64, objects as u64)
    }
}

/// Loom builds: loom's primitives cannot live in statics and the models do
/// not cover profiling, so the sampler records nothing there.
#[cfg(all(test, loom))]
mod loom_stub {
    use super::*;
    pub(crate) fn sample(_addr: usize, _size: usize) -> u64 {
        next_countdown()
    }
    pub(crate) fn swept(_span: &Span, _marks: &[u64]) {}
    pub(crate) fn next_cycle() {}
    pub(crate) fn flush_cycle() {}
    pub(crate) fn footprint() -> (u64, u64) {
        (0, 0)
    }
}
#[cfg(all(test, loom))]
pub(crate) use loom_stub::*;

/// Walks the calling thread's frame-pointer chain (outside any signal
/// handler), bounded by its stack; writes return PCs, leaf first. The walk
/// starts at this function's caller.
#[cfg_attr(all(test, loom), allow(dead_code))]
#[inline(never)]
fn walk_stack(out: &mut [u64]) -> usize {
    let (lo, hi) = match STACK_BOUNDS.get().and_then(|f| f()) {
        Some(b) => b,
        None => match thread_stack_bounds() {
            Some(b) => b,
            None => return 0,
        },
    };
    let mut fp = frame_pointer();
    let mut n = 0;
    while n < out.len() && fp >= lo && fp.is_multiple_of(8) && fp + 16 <= hi {
        // SAFETY: [fp, fp+16) lies inside the current thread's own stack
        // [lo, hi), which is mapped and readable; frames above ours are
        // not modified while we read them (they belong to our callers).
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        out[n] = ret as u64;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// The current frame pointer (the code is built with frame pointers, see
/// `.cargo/config.toml`).
#[cfg_attr(all(test, loom), allow(dead_code))]
#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// `[lo, hi)` of the calling OS thread's stack, cached per thread.
/// Never inlined, like every TLS access of the runtime: a goroutine may
/// resume on another OS thread after a switch point, and an inlined TLS
/// address may be kept across it (gort_scheduler's essay, "Thread-local
/// storage").
#[inline(never)]
#[cfg_attr(all(test, loom), allow(dead_code))]
fn thread_stack_bounds() -> Option<(usize, usize)> {
    use std::cell::Cell;
    thread_local! {
        static BOUNDS: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    }
    if let Some(b) = BOUNDS.with(|b| b.get()) {
        return Some(b);
    }
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; it is
    // destroyed after pthread_attr_getstack copied the two values out.
    let b = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            return None;
        }
        (addr as usize, addr as usize + size)
    };
    BOUNDS.with(|c| c.set(Some(b)));
    Some(b)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn countdowns_are_exponential_with_mean_rate() {
        // The mean of an exponential(rate) sample of 200k draws is within
        // 1 % of the rate (std error 0.22 %), and about 63.2 % of the draws
        // are below the mean (1 − 1/e).
        let rate = 524_288.0;
        let n = 200_000;
        let draws: Vec<f64> = (0..n)
            .map(|_| {
                let u = ((rand() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                -u.ln() * rate
            })
            .collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!((mean / rate - 1.0).abs() < 0.01, "mean {mean}");
        let below = draws.iter().filter(|&&d| d < rate).count() as f64 / n as f64;
        assert!(
            (below - 0.632).abs() < 0.01,
            "fraction below the mean {below}"
        );
    }

    #[test]
    fn the_walk_sees_its_callers() {
        #[inline(never)]
        fn leaf(out: &mut [u64]) -> usize {
            walk_stack(out)
        }
        let mut pcs = [0u64; MAX_STACK_DEPTH];
        let n = leaf(&mut pcs);
        // leaf, this test, the test harness's frames...
        assert!(n >= 3, "only {n} frames");
        let here = the_walk_sees_its_callers as *const () as u64;
        // one of the first two frames returns into this function (the call
        // to `walk_stack` may be a tail call out of `leaf`)
        assert!(
            pcs[..2].iter().any(|&p| p > here && p < here + 4096),
            "{:x?} vs {here:#x}",
            &pcs[..n]
        );
    }
}
