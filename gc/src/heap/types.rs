//! Where a precise object's type lives: in its span structure while the
//! span is **uniform**, in the span's **type table** once it is mixed, in
//! a **header word** for big objects (see "Object layout" in
//! [crate::heap]).
//!
//! A type table entry is a `u32` *type word*: the distance from a private
//! anchor [`TypeInfo`] to the object's `&'static TypeInfo`, in units of 8
//! bytes (every `TypeInfo` is 8-byte aligned: it holds two function
//! pointers). Every `TypeInfo` of a program is a constant of its binary
//! (`.data.rel.ro`), a few megabytes from the anchor, so the distance fits
//! in 32 bits with room to spare (±16 GiB); the encoder checks it anyway
//! and stops the program with a message if a type lives farther away (a
//! type from a dynamically loaded library could). No registry, no lock and
//! no lookup: encoding is a subtraction and a shift, decoding an addition.
//! Word 0 means "no type": the anchor itself is never an object's type.
//!
//! A type table lives outside the arena (the span's slots keep every byte
//! of its pages): a header word holding its capacity, then one type word
//! per slot. Tables are made by [`new_table`] when a span first turns
//! mixed, go back to the page heap's pool when their span dies, and are
//! freed only with the heap; so a table address read from a span structure
//! always points at a live table, and [`entry`] checks the slot index
//! against the table's own capacity — a stale reader (one racing a span's
//! death) reads some type word, never memory outside a table.

use crate::trace::{Tracer, TypeInfo};

/// Precise objects whose slot is at most this many bytes keep their type
/// outside the object: in the span structure while the span is uniform,
/// in its type table (4 bytes per slot) once it is mixed; bigger ones
/// carry an 8-byte header word (under 1.4 % of their slot). Go 1.22 draws
/// its line between "heap bits in the span" and "malloc header" at the
/// same size (`minSizeForMallocHeader`).
pub const TYPE_TABLE_MAX_SIZE: usize = 512;

/// Bytes per type table entry.
pub(crate) const TYPE_WORD_BYTES: usize = 4;

/// Bytes before the value of a precise object of `value_size` bytes: 0
/// when its type goes in the span's type table, one word (its
/// `&'static TypeInfo`) when the object is bigger than
/// [`TYPE_TABLE_MAX_SIZE`]. What `Gc`/`GcSlice` use to find the value.
#[inline]
pub const fn precise_header_bytes(value_size: usize) -> usize {
    if value_size <= TYPE_TABLE_MAX_SIZE {
        0
    } else {
        8
    }
}

fn anchor_name() -> &'static str {
    "<gort: no type>"
}

/// # Safety
///
/// Never called: the anchor is no object's type.
unsafe fn anchor_trace(_: usize, _: &mut Tracer<'_>) {
    crate::rt_throw!("runtime: traced an object with the anchor type");
}

/// The point type words are measured from. Its function pointers are
/// private, so no other `TypeInfo` can share its address (constants with
/// equal contents may be merged; none has these contents).
static ANCHOR: TypeInfo = TypeInfo {
    name: anchor_name,
    trace: anchor_trace,
};

#[inline]
fn anchor_addr() -> usize {
    &ANCHOR as *const TypeInfo as usize
}

/// The type word of `info` (never 0).
#[inline]
pub(crate) fn encode(info: &'static TypeInfo) -> u32 {
    let d = (info as *const TypeInfo as usize).wrapping_sub(anchor_addr()) as isize;
    match i32::try_from(d >> 3) {
        Ok(w) if w != 0 && d & 7 == 0 => w as u32,
        _ => encode_failed(info),
    }
}

#[cold]
#[inline(never)]
fn encode_failed(info: &'static TypeInfo) -> ! {
    crate::rt_throw!(
        "runtime: type info of {} at {:p} is not within 16 GiB of the runtime's (types from dynamically loaded libraries are not supported)",
        (info.name)(),
        info
    )
}

/// The `TypeInfo` of type word `w` (None for 0).
#[inline]
pub(crate) fn decode(w: u32) -> Option<&'static TypeInfo> {
    if w == 0 {
        return None;
    }
    let addr = anchor_addr().wrapping_add(((w as i32 as isize) << 3) as usize);
    // SAFETY: non-zero words are only ever written by `encode` of a
    // `&'static TypeInfo` (allocation path), so `addr` is that reference.
    Some(unsafe { &*(addr as *const TypeInfo) })
}

/// Bytes before a table's first type word: its capacity (a `u32`),
/// padded to 8.
const TABLE_HEADER_BYTES: usize = 8;

fn table_layout(cap: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(TABLE_HEADER_BYTES + cap * TYPE_WORD_BYTES, 8)
        .unwrap_or_else(|_| crate::rt_throw!("runtime: type table of {cap} slots"))
}

/// Bytes a table of `cap` slots occupies (for the heap's metadata).
#[inline]
pub(crate) const fn table_bytes(cap: usize) -> usize {
    TABLE_HEADER_BYTES + cap * TYPE_WORD_BYTES
}

/// Makes a type table for `cap` slots (outside the arena; freed only by
/// [`free_table`]) and returns its address. Its entries are left to the
/// caller, which fills every one before it publishes the table.
pub(crate) fn new_table(cap: usize) -> usize {
    let layout = table_layout(cap);
    // SAFETY: the layout has a non-zero size (the header).
    let t = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
    if t == 0 {
        std::alloc::handle_alloc_error(layout);
    }
    store_type_word(t, cap as u32);
    t
}

/// Frees a table made by [`new_table`].
///
/// # Safety
///
/// `t` came from `new_table`, is not freed yet, and nothing reads it any
/// more (the heap is being dropped).
pub(crate) unsafe fn free_table(t: usize) {
    let layout = table_layout(table_cap(t));
    // SAFETY: the caller's contract; `new_table` allocated `t` with this
    // layout (the capacity stored in it never changes).
    unsafe { std::alloc::dealloc(t as *mut u8, layout) };
}

/// Slots a table has room for.
#[inline]
pub(crate) fn table_cap(t: usize) -> usize {
    load_type_word(t) as usize
}

/// Address of the entry of slot `idx` in table `t` (no bounds check: for
/// the allocating P, whose index is below its span's slot count, which is
/// the table's capacity).
#[inline]
pub(crate) fn entry_addr(t: usize, idx: usize) -> usize {
    t + TABLE_HEADER_BYTES + idx * TYPE_WORD_BYTES
}

/// The type word of slot `idx` in table `t`, or 0 (no type) when `idx` is
/// past the table's capacity (only a stale reader can ask that).
#[inline]
pub(crate) fn entry(t: usize, idx: usize) -> u32 {
    if idx < table_cap(t) {
        load_type_word(entry_addr(t, idx))
    } else {
        0
    }
}

/// Reads the type word at `addr` (Relaxed: the allocation that wrote it
/// published the slot, or the table, with a Release store that the
/// reader's lookup acquired).
#[inline]
#[allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics): see cell.rs
pub(crate) fn load_type_word(addr: usize) -> u32 {
    // SAFETY: `addr` is a 4-aligned word of a table made by `new_table`,
    // which lives as long as the heap; AtomicU32 has the layout of u32.
    unsafe {
        (*(addr as *const core::sync::atomic::AtomicU32))
            .load(core::sync::atomic::Ordering::Relaxed)
    }
}

/// Writes the type word at `addr` (the allocating P, before it publishes
/// the slot or the table).
#[inline]
#[allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics): see cell.rs
pub(crate) fn store_type_word(addr: usize, w: u32) {
    // SAFETY: as in `load_type_word`; the slot is owned by the allocating
    // P and not yet published, but stale lookups may read the entry, hence
    // atomic.
    unsafe {
        (*(addr as *const core::sync::atomic::AtomicU32))
            .store(w, core::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::trace::InfoOf;

    #[test]
    fn type_words_round_trip_and_are_never_zero() {
        let infos: [&'static TypeInfo; 4] = [
            InfoOf::<(u8, crate::Gc<u64>)>::INFO,
            InfoOf::<Option<crate::Gc<u32>>>::INFO,
            InfoOf::<[Option<crate::Gc<u8>>; 3]>::INFO,
            InfoOf::<crate::GcCell<Option<crate::Gc<i64>>>>::INFO,
        ];
        for info in infos {
            let w = encode(info);
            assert_ne!(w, 0);
            let back = decode(w).unwrap();
            assert!(std::ptr::eq(back, info));
            assert_eq!((back.name)(), (info.name)());
        }
        assert!(decode(0).is_none());
    }

    #[test]
    fn header_rule_and_tables() {
        assert_eq!(precise_header_bytes(16), 0);
        assert_eq!(precise_header_bytes(512), 0);
        assert_eq!(precise_header_bytes(513), 8);
        let t = new_table(512);
        assert_eq!((table_cap(t), table_bytes(512)), (512, 8 + 2048));
        store_type_word(entry_addr(t, 511), 7);
        assert_eq!((entry(t, 0), entry(t, 511), entry(t, 512)), (0, 7, 0));
        // SAFETY: made above, read by nothing else.
        unsafe { free_table(t) };
    }
}
