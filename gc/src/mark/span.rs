//! Page-local marking: the per-span protocol (≈ Go 1.26's Green Tea,
//! `mgcmark_greenteagc.go`). See [crate::mark] for where it is used.
//!
//! Small scannable objects (precise objects of typed spans, small
//! conservative objects) are not queued one by one. A span holding them
//! has, besides its mark bits, **scanned bits** (one per slot) and an
//! **owned** byte. Marking such an object sets its mark bit; if the span is
//! not owned, the marker takes it (owned: none → one mark → many marks) and
//! queues the span, as a *span entry* naming the object that took it. Other
//! marks into an owned span only set their bit: whoever holds the entry
//! will see them. Taking the entry off a queue releases the span (owned →
//! none) and claims every object that is marked and not yet scanned
//! (`scanned |= marks`, the difference is the work); those objects are
//! scanned together, in address order, with the span's metadata loaded once.
//! If the release says "one mark", nobody else marked into the span while
//! it was queued and only the entry's own object is claimed, without
//! reading the bitmaps.
//!
//! Objects a scanner finds in the very span it is scanning are not marked
//! one by one: the scanner collects them in a bitmap of its own (no atomic
//! instruction, no owned byte, no queue) and, when the round ends, marks
//! them a word at a time (one `fetch_or` per 64 slots) and claims those
//! nobody has scanned; it scans them in the next round, and repeats until
//! a round finds nothing more there. A subtree that lives in one span is
//! thus marked and scanned in one visit, while the span is in the cache.
//! Until the round ends such an object is white; the scanner holds the
//! entry's termination token meanwhile, and another marker that reaches
//! the object first marks it as usual (then the scanner's `fetch_or` sees
//! the bit and leaves it to them, or claims it if they left it unscanned).
//!
//! # Why no marked object is left unscanned
//!
//! A marker M sets a mark bit (RMW, AcqRel) and then reads `owned`. A
//! scanner S swaps `owned` to none (AcqRel) and then reads every mark word
//! **with an RMW** (`fetch_or(0)`, AcqRel), not a load. Either M's read of
//! `owned` sees S's swap or later (then M takes the span, or sees it taken
//! after S: someone queued it again), or it reads an older value; then S's
//! RMW of the mark word cannot precede M's RMW in that word's order (it
//! would synchronise with M's RMW, putting S's swap before M's read), so S
//! reads M's bit. The RMW makes this hold with acquire/release alone, which
//! loom models exactly (it treats SeqCst loads as AcqRel, so a load-based
//! version could not be checked); on x86 both cost a locked instruction.
//! A marker that reads "owned" without writing it (the many-marks case) is
//! covered the same way. The claim is a `fetch_or` on the scanned word, so
//! two scanners of one span never scan the same object twice. Allocate-black
//! sets an object's scanned bit before its mark bit (Release), so a new
//! object is never claimed for scanning. The loom models
//! `loom_span_*` in `tests::loom_mark` run this code over graphs of two-
//! and three-object spans; `loom_span_many_marks_vs_release` fails if the
//! scanner reads the mark words with loads.

use crate::loom::sync::atomic::{AtomicU64, AtomicU8, Ordering::AcqRel, Ordering::Relaxed};

/// Words in a span's bitmaps (1024 slots: 8-byte objects in an 8 KiB span).
pub(crate) const SPAN_WORDS: usize = 16;

/// Objects of one span as a bitmap (bit `i` = slot `i`).
pub(crate) type SpanBits = [u64; SPAN_WORDS];

/// `owned`: no entry for the span is queued or being taken.
pub(crate) const UNOWNED: u8 = 0;
/// `owned`: taken by one marker; no other marker has seen it taken.
pub(crate) const ONE_MARK: u8 = 1;
/// `owned`: other markers may have marked into it since it was taken.
pub(crate) const MANY_MARKS: u8 = 2;

/// Sets mark bit `idx`; true if it was clear (this call marked the object).
#[inline]
pub(crate) fn set_mark(marks: &[AtomicU64], idx: usize) -> bool {
    let bit = 1u64 << (idx % 64);
    let w = &marks[idx / 64];
    // AcqRel: pairs with the scanner's `fetch_or(0)` in `take` (see the
    // module doc); the RMW alone makes one marker win.
    w.fetch_or(bit, AcqRel) & bit == 0
}

/// After marking an object of a span-scanned span: take the span if no one
/// holds it. True: the caller must queue an entry for it.
#[inline]
pub(crate) fn try_acquire(owned: &AtomicU8) -> bool {
    // Relaxed: only a hint of which RMW to try; "many" needs no write.
    match owned.load(Relaxed) {
        UNOWNED => {
            // AcqRel: pairs with the swap in `take` (module doc).
            let old = owned.fetch_or(ONE_MARK, AcqRel);
            if old == UNOWNED {
                return true;
            }
            if old >= MANY_MARKS {
                return false;
            }
            // AcqRel: as above. Another marker took it: say "many".
            owned.fetch_or(MANY_MARKS, AcqRel) == UNOWNED
        }
        // AcqRel: as above.
        ONE_MARK => owned.fetch_or(MANY_MARKS, AcqRel) == UNOWNED,
        _ => false,
    }
}

/// Takes a span entry off a queue: releases the span and claims the objects
/// to scan into `out` (cleared first). `first` is the entry's object;
/// `nwords` the span's bitmap words. Returns the number of objects claimed.
pub(crate) fn take(
    owned: &AtomicU8,
    marks: &[AtomicU64],
    scanned: &[AtomicU64],
    first: usize,
    nwords: usize,
    out: &mut SpanBits,
) -> usize {
    *out = [0; SPAN_WORDS];
    // AcqRel: pairs with the markers' RMWs of `owned` (module doc).
    if owned.swap(UNOWNED, AcqRel) == ONE_MARK {
        // Only `first` was marked under this entry; others marked before it
        // are another entry's (or already scanned).
        let bit = 1u64 << (first % 64);
        // AcqRel: the claim; one scanner wins.
        if scanned[first / 64].fetch_or(bit, AcqRel) & bit == 0 {
            out[first / 64] = bit;
            return 1;
        }
        return 0;
    }
    let mut n = 0;
    for w in 0..nwords {
        // AcqRel RMW, not a load: see the module doc.
        let m = marks[w].fetch_or(0, AcqRel);
        let todo = m & !scanned[w].load(Relaxed);
        if todo != 0 {
            // AcqRel: the claim.
            let got = todo & !scanned[w].fetch_or(todo, AcqRel);
            out[w] = got;
            n += got.count_ones() as usize;
        }
    }
    n
}

/// Marks the objects of `bits` (objects of the span the caller is
/// scanning, found in this round) and claims those no one has scanned yet;
/// `bits` keeps the claimed ones. Returns how many this call marked (the
/// others were marked by someone else, who counted them).
pub(crate) fn mark_and_claim(
    marks: &[AtomicU64],
    scanned: &[AtomicU64],
    bits: &mut SpanBits,
    nwords: usize,
) -> usize {
    let mut newly = 0;
    for w in 0..nwords {
        let b = bits[w];
        if b != 0 {
            // AcqRel: as in `set_mark`; one RMW marks the whole word's worth.
            newly += (b & !marks[w].fetch_or(b, AcqRel)).count_ones() as usize;
            // AcqRel: the claim; one scanner wins. Marked first, so the
            // scanned bits stay a subset of the marks.
            bits[w] = b & !scanned[w].fetch_or(b, AcqRel);
        }
    }
    newly
}

/// Allocate-black for a span-scanned object: scanned, then marked, so no
/// scanner claims it (a claim reads the mark before the scanned bit).
/// True if the mark bit was clear.
#[inline]
pub(crate) fn set_black(marks: &[AtomicU64], scanned: &[AtomicU64], idx: usize) -> bool {
    let bit = 1u64 << (idx % 64);
    scanned[idx / 64].fetch_or(bit, Relaxed);
    // Release: a scanner whose RMW of the mark word reads this bit sees the
    // scanned bit above.
    marks[idx / 64].fetch_or(bit, AcqRel) & bit == 0
}
