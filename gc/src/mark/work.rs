//! The work queues and the termination count (≈ Go's `mgcwork.go`).
//! See [crate] for the overview and [crate::mark] for how marking uses them.
//!
//! A work item is a grey object's base (an object scanned on its own) or a
//! **span entry** (bit 0 set; page-local marking, `span`): a span whose
//! marked, unscanned objects the taker scans. Below, "grey object" means
//! either kind of item; the grey objects of a span that is owned are
//! covered by its one entry. Items live in:
//!
//! * the **injector**, a global FIFO (crossbeam-deque `Injector`) that roots,
//!   barrier-buffer flushes and assists push into;
//! * one **deque per mark-worker slot** (crossbeam-deque `Worker`, LIFO for
//!   locality), whose `Stealer`s every other thread may steal from;
//! * the private stack of an assisting mutator, flushed to the injector
//!   before the assist returns.
//!
//! # Termination: the token count
//!
//! "No grey object anywhere" must be decided while other threads push and
//! steal, and a scan of the queues one after another can miss an object
//! that moves between them. So the queues are not scanned at all: a single
//! atomic count, `pending`, is kept **≥ the number of grey objects** at all
//! times, and marking is over when it reads 0.
//!
//! It counts *tokens*. A thread takes tokens from `pending` in batches
//! (`fetch_add(TOKEN_BATCH)`) into a private reserve; each object it shades
//! grey takes one token from the reserve (the token travels with the object
//! through queues and steals); scanning an object turns it black and
//! returns its token to the scanning thread's reserve; a thread gives its
//! reserve back (`fetch_sub`) when it goes idle. So `pending` = tokens in
//! reserves + grey objects, and the count is never below the number of grey
//! objects — it cannot reach 0 while one exists, whatever the interleaving.
//! Batching keeps the count's cache line quiet: one RMW per 64 objects.
//! A span entry carries one token like an object; the objects a span's
//! scan finds in the same span are marked and scanned before the entry's
//! token comes back, and the rest of the span's grey objects are another
//! entry's, or covered as `span` explains. The loom models
//! `loom_mark::loom_work_stealing_termination` and
//! `loom_mark::loom_span_marking_vs_release` check it.

use crate::loom::deque::{Injector, Steal, Stealer, Worker};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

use super::span::{SpanBits, SPAN_WORDS};
use super::{Marked, ObjectGraph, Work};

/// Tokens a thread takes from `pending` at once (1 under loom, so every
/// step of the protocol is a visible atomic operation in the model).
#[cfg(not(all(test, loom)))]
const TOKEN_BATCH: usize = 64;
#[cfg(all(test, loom))]
const TOKEN_BATCH: usize = 1;

/// The grey-object queues of one collector. Long-lived: cycles reuse them.
#[derive(Debug)]
pub(crate) struct WorkQueues {
    /// The global queue. Lock-free; any thread pushes and steals.
    injector: Injector<usize>,
    /// One deque per mark-worker slot; a worker takes its deque out of the
    /// slot for the length of its run. Each mutex is taken only when a
    /// worker starts or ends.
    workers: Vec<Mutex<Option<Worker<usize>>>>,
    /// The thieves' handles on `workers`. Read-only after construction.
    stealers: Vec<Stealer<usize>>,
    /// Tokens: ≥ the number of grey objects (see the module doc).
    /// Atomic; SeqCst everywhere, because the termination read must be
    /// ordered with every thread's adds and subs (a single total order).
    pending: AtomicUsize,
}

impl WorkQueues {
    /// Queues with `slots` worker deques.
    pub(crate) fn new(slots: usize) -> WorkQueues {
        crate::loom::deque::make_epoch_collector();
        let workers: Vec<Worker<usize>> = (0..slots).map(|_| Worker::new_lifo()).collect();
        let stealers = workers.iter().map(|w| w.stealer()).collect();
        WorkQueues {
            injector: Injector::new(),
            workers: workers.into_iter().map(|w| Mutex::new(Some(w))).collect(),
            stealers,
            pending: AtomicUsize::new(0),
        }
    }

    /// Number of worker slots.
    pub(crate) fn slots(&self) -> usize {
        self.workers.len()
    }

    /// True when no grey object exists anywhere (nor any token in a reserve).
    pub(crate) fn is_done(&self) -> bool {
        // SeqCst: pairs with the SeqCst fetch_add/fetch_sub of every GcWork,
        // so a 0 read here means every grey object ever counted was scanned.
        self.pending.load(SeqCst) == 0
    }

    /// Tokens outstanding (for tests and debugging).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(SeqCst)
    }

    /// Take the deque of worker slot `i` (a mark worker starting). The
    /// worker of the previous cycle may still be on its way out (the world
    /// restarts before the terminating worker returns its deque): wait.
    pub(crate) fn take_worker(&self, i: usize) -> Worker<usize> {
        loop {
            if let Some(w) = self.workers[i].lock().take() {
                return w;
            }
            crate::loom::thread::yield_now();
        }
    }

    /// Bytes the queues hold (MemStats `GCSys`: Go's work buffers). The
    /// deques are crossbeam-deque's, whose buffers are not visible: each is
    /// counted at the size its growth policy gives for its current length
    /// (a power of two, at least 64 entries; it doubles when full and halves
    /// when a quarter full), the global queue as its 63-entry blocks (a
    /// value and a state word per entry, plus a link). An estimate from
    /// the lengths, exact only for queues that have not shrunk yet.
    pub(crate) fn footprint(&self) -> u64 {
        const WORD: usize = std::mem::size_of::<usize>();
        const BLOCK_ENTRIES: usize = 63;
        let deques: usize = self
            .stealers
            .iter()
            .map(|s| s.len().next_power_of_two().max(64) * WORD)
            .sum();
        let blocks = self.injector.len() / BLOCK_ENTRIES + 1;
        let injector = blocks * (BLOCK_ENTRIES * 2 * WORD + WORD);
        let handles = self.workers.len()
            * (std::mem::size_of::<Mutex<Option<Worker<usize>>>>()
                + std::mem::size_of::<Stealer<usize>>());
        (deques + injector + handles) as u64
    }

    /// Give the deque of slot `i` back (a mark worker ending; the deque is empty).
    pub(crate) fn return_worker(&self, i: usize, w: Worker<usize>) {
        *self.workers[i].lock() = Some(w);
    }
}

/// One thread's handle for shading and scanning (Go's `gcWork`): a token
/// reserve, an optional worker deque, a private stack, and counters.
///
/// Must be [`dispose`](GcWork::dispose)d before the thread blocks, reaches a
/// safepoint, or ends; dropping one with tokens or private work left is a
/// fatal error (it would stall or break termination).
pub(crate) struct GcWork<'a, G: ObjectGraph + ?Sized> {
    q: &'a WorkQueues,
    g: &'a G,
    /// The deque of a mark worker; `None` for assists and barrier flushes.
    local: Option<Worker<usize>>,
    /// Slot the deque came from (to skip stealing from ourselves).
    slot: usize,
    /// Private grey stack of a thread without a deque.
    stack: Vec<usize>,
    /// Tokens taken from `pending` and not yet attached to a grey object.
    reserve: usize,
    /// Bytes of objects scanned (Go's scan work).
    pub(crate) scan_work: u64,
    /// Bytes of objects this handle marked.
    pub(crate) marked_bytes: u64,
    /// Key of the span being scanned (0: none); objects found in it go to
    /// `mine`, to be marked and scanned in the next round (see `span`).
    scanning: usize,
    /// Objects of `scanning` found in this round.
    mine: SpanBits,
    /// Whether `mine` has a bit set.
    mine_any: bool,
    /// `ObjectGraph::local_range` of `scanning` (bytes 0: none): an edge
    /// in it is one of `mine` without a lookup.
    local_first: usize,
    local_bytes: usize,
    local_div_mul: u64,
}

impl<G: ObjectGraph + ?Sized> std::fmt::Debug for GcWork<'_, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcWork")
            .field("reserve", &self.reserve)
            .field("stack", &self.stack.len())
            .field("scan_work", &self.scan_work)
            .finish()
    }
}

impl<'a, G: ObjectGraph + ?Sized> GcWork<'a, G> {
    /// A handle for a thread without a deque (assists, barrier flushes, root scanning).
    pub(crate) fn new(q: &'a WorkQueues, g: &'a G) -> Self {
        GcWork {
            q,
            g,
            local: None,
            slot: usize::MAX,
            stack: Vec::new(),
            reserve: 0,
            scan_work: 0,
            marked_bytes: 0,
            scanning: 0,
            mine: [0; SPAN_WORDS],
            mine_any: false,
            local_first: 0,
            local_bytes: 0,
            local_div_mul: 0,
        }
    }

    /// A handle for the mark worker in `slot`.
    pub(crate) fn for_worker(q: &'a WorkQueues, g: &'a G, slot: usize) -> Self {
        let mut w = GcWork::new(q, g);
        w.local = Some(q.take_worker(slot));
        w.slot = slot;
        w
    }

    /// Shade the object containing `addr`, if any (white → grey; noscan
    /// objects go straight to black). Returns true if this call marked it;
    /// an object of the span being scanned is only noted (false), and
    /// marked when the round ends (`scan_span`).
    #[inline]
    pub(crate) fn shade(&mut self, addr: usize) -> bool {
        let off = addr.wrapping_sub(self.local_first);
        if off < self.local_bytes {
            // A precise edge into the span being scanned: its slot, by
            // multiply and shift (`local_range`).
            let idx = ((off as u64 * self.local_div_mul) >> 32) as usize;
            debug_assert_eq!(self.g.mark(addr, self.scanning), Marked::Mine(idx));
            prefetch(addr);
            self.mine[idx / 64] |= 1 << (idx % 64);
            self.mine_any = true;
            return false;
        }
        match self.g.mark(addr, self.scanning) {
            Marked::No => false,
            Marked::New { size, work } => {
                self.marked_bytes += size as u64;
                match work {
                    Work::None => {}
                    Work::Object(item) | Work::Span(item) => self.push_grey(item),
                }
                true
            }
            Marked::Mine(idx) => {
                // Marked when the round ends (`scan_span`).
                self.mine[idx / 64] |= 1 << (idx % 64);
                self.mine_any = true;
                false
            }
        }
    }

    fn push_grey(&mut self, base: usize) {
        if self.reserve == 0 {
            // SeqCst: see `WorkQueues::pending`. The token is counted before
            // the object is visible to anyone as grey.
            self.q.pending.fetch_add(TOKEN_BATCH, SeqCst);
            self.reserve = TOKEN_BATCH;
        }
        self.reserve -= 1;
        match &self.local {
            Some(w) => w.push(base),
            None => self.stack.push(base),
        }
    }

    /// Push privately held grey objects to the injector so others can take them.
    pub(crate) fn publish(&mut self) {
        for b in self.stack.drain(..) {
            self.q.injector.push(b);
        }
    }

    /// Take one grey object: own deque/stack, then the injector, then steal.
    fn pop(&mut self) -> Option<usize> {
        if let Some(w) = &self.local {
            if let Some(b) = w.pop() {
                return Some(b);
            }
            loop {
                match self.q.injector.steal_batch_and_pop(w) {
                    Steal::Success(b) => return Some(b),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        } else {
            if let Some(b) = self.stack.pop() {
                return Some(b);
            }
            loop {
                match self.q.injector.steal() {
                    Steal::Success(b) => return Some(b),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        let n = self.q.stealers.len();
        for k in 0..n {
            let i = (self.slot.wrapping_add(1).wrapping_add(k)) % n;
            if i == self.slot {
                continue;
            }
            loop {
                let r = match &self.local {
                    Some(w) => self.q.stealers[i].steal_batch_and_pop(w),
                    None => self.q.stealers[i].steal(),
                };
                match r {
                    Steal::Success(b) => return Some(b),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        None
    }

    /// Scan one work item (a grey object, or a span entry: the span's
    /// claimed objects), shading what it points to; the token it carried
    /// comes back to our reserve.
    fn scan(&mut self, item: usize) {
        let g = self.g;
        if item & 1 != 0 {
            self.scan_span(item);
        } else {
            let size = g.trace(item, &mut |child| {
                self.shade(child);
            });
            self.scan_work += size as u64;
        }
        // The object is black: its token comes back to our reserve.
        self.reserve += 1;
        if self.reserve > 2 * TOKEN_BATCH {
            let give = self.reserve - TOKEN_BATCH;
            // SeqCst: see `WorkQueues::pending`.
            self.q.pending.fetch_sub(give, SeqCst);
            self.reserve = TOKEN_BATCH;
        }
    }

    /// Scan a span entry: the objects it claims, then, round after round,
    /// the objects those point to in the same span (`mine`, marked and
    /// claimed when the round ends), until a round finds none there. The
    /// entry's token covers them all until we return.
    fn scan_span(&mut self, entry: usize) {
        let g = self.g;
        let mut bits = [0; SPAN_WORDS];
        if g.take_span(entry, &mut bits) == 0 {
            return;
        }
        let key = g.span_key(entry);
        self.scanning = key;
        (self.local_first, self.local_bytes, self.local_div_mul) =
            g.local_range(key).unwrap_or((0, 0, 0));
        loop {
            let n = g.scan_span(key, &bits, &mut |child| {
                self.shade(child);
            });
            self.scan_work += n as u64;
            if !self.mine_any {
                break;
            }
            bits = std::mem::replace(&mut self.mine, [0; SPAN_WORDS]);
            self.mine_any = false;
            self.marked_bytes += g.mark_span(key, &mut bits) as u64;
        }
        self.scanning = 0;
        self.local_bytes = 0;
    }

    /// Scan grey objects until there are none left to find, or until
    /// `budget` bytes have been scanned. Returns the bytes scanned.
    pub(crate) fn drain(&mut self, budget: Option<u64>) -> u64 {
        let start = self.scan_work;
        while let Some(b) = self.pop() {
            self.scan(b);
            if let Some(limit) = budget {
                if self.scan_work - start >= limit {
                    break;
                }
            }
        }
        self.scan_work - start
    }

    /// Give back the token reserve and publish private work. After this the
    /// thread holds no grey object and no token.
    pub(crate) fn dispose(&mut self) {
        self.publish();
        if self.reserve > 0 {
            // SeqCst: see `WorkQueues::pending`. Every grey object this thread
            // pushed is already in a queue, so the count stays ≥ grey objects.
            self.q.pending.fetch_sub(self.reserve, SeqCst);
            self.reserve = 0;
        }
    }
}

impl<G: ObjectGraph + ?Sized> Drop for GcWork<'_, G> {
    fn drop(&mut self) {
        self.dispose();
        if let Some(w) = self.local.take() {
            if !w.is_empty() {
                // A worker leaves only when it found no work; anything still
                // in its deque moves to the injector so it is not stranded.
                while let Some(b) = w.pop() {
                    self.q.injector.push(b);
                }
            }
            self.q.return_worker(self.slot, w);
        }
    }
}

/// Asks the CPU to start loading the line at `addr` (an object about to be
/// scanned). A hint only: nothing on other architectures or under Miri.
#[inline]
fn prefetch(addr: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetching is a hint and never faults, whatever the address.
        unsafe { _mm_prefetch(addr as *const i8, _MM_HINT_T0) };
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = addr;
}
