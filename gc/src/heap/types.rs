//! Where a precise object's type lives: the span's **type table** for
//! small objects, a **header word** for big ones (see "Object layout" in
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

use crate::trace::{Tracer, TypeInfo};

/// Precise objects whose slot is at most this many bytes keep their type
/// in the span's type table (4 bytes per slot); bigger ones carry an
/// 8-byte header word (under 1.4 % of their slot). Go 1.22 draws its
/// line between "heap bits at the span's end" and "malloc header" at the
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

/// Objects per span of a precise size class that keeps a type table:
/// every slot needs its size plus one table entry.
#[inline]
pub(crate) const fn table_objects(span_bytes: usize, elem: usize) -> usize {
    span_bytes / (elem + TYPE_WORD_BYTES)
}

/// Address of the table entry of slot `idx` in a table at `table`.
#[inline]
pub(crate) fn entry_addr(table: usize, idx: usize) -> usize {
    table + idx * TYPE_WORD_BYTES
}

/// Reads the type word at `addr` (Relaxed: the allocation that wrote it
/// published the slot with a Release store that the reader's lookup
/// acquired).
#[inline]
#[allow(clippy::disallowed_types)] // HACK(fixed-layout-atomics): see cell.rs
pub(crate) fn load_type_word(addr: usize) -> u32 {
    // SAFETY: `addr` is a 4-aligned table entry inside a live precise span
    // of the mapped arena; AtomicU32 has the layout of u32.
    unsafe {
        (*(addr as *const core::sync::atomic::AtomicU32))
            .load(core::sync::atomic::Ordering::Relaxed)
    }
}

/// Writes the type word at `addr` (the allocating P, before it publishes
/// the slot).
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
    fn header_rule_and_table_capacity() {
        assert_eq!(precise_header_bytes(16), 0);
        assert_eq!(precise_header_bytes(512), 0);
        assert_eq!(precise_header_bytes(513), 8);
        // 16-byte objects: 409 per 8 KiB span (512 without a table, 341 in
        // the 24-byte class a header word would push them into).
        assert_eq!(table_objects(8192, 16), 409);
        assert_eq!(table_objects(8192, 512), 15);
    }
}
