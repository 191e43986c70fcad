//! Size arithmetic on user numbers: how many bytes `make([]T, len)` asks
//! the heap for, and how big an arena may be.
//!
//! See [crate::heap] for the object layout these sizes follow. The
//! functions here are pure (no heap, no system call), so they are tested
//! exhaustively around every boundary, by property tests over lengths and
//! element sizes, and under Miri
//! (`cargo +nightly miri test -p gort-gc --lib size::`).
//!
//! The rules are Go's (`makeslice` in `slice.go`, `mallocgc` in
//! `malloc.go`): a length is out of range when it would be negative as a
//! Go `int` (above `isize::MAX`), when length × element size overflows, or
//! when the object would be bigger than the largest allocation —
//! [`MAX_ALLOC`], or the heap's arena if that is smaller. Out of range is
//! `panic: runtime error: makeslice: len out of range`, never a wrapped
//! size.

use crate::heap::{precise_header_bytes, PAGE_SIZE};

/// The largest single allocation: Go's `maxAlloc` on 64-bit Linux
/// (`1 << heapAddrBits`, 48 bits of address). A heap whose arena is
/// smaller allows at most its arena ([`max_alloc`]).
pub const MAX_ALLOC: usize = 1 << 48;

/// Go's panic message for an impossible `make([]T, len)`.
pub const MAKESLICE_LEN_OUT_OF_RANGE: &str = "runtime error: makeslice: len out of range";

/// The largest object a heap with an arena of `arena_bytes` can hold:
/// [`MAX_ALLOC`] or the arena, whichever is smaller.
#[inline]
pub const fn max_alloc(arena_bytes: usize) -> usize {
    if arena_bytes < MAX_ALLOC {
        arena_bytes
    } else {
        MAX_ALLOC
    }
}

/// What `make([]T, len)` asks the heap for, for elements of `elem_size`
/// bytes: `Some(0)` when nothing is allocated (`len == 0` or a zero-sized
/// element), `Some(value)` with the **value size** to request otherwise,
/// `None` when `len` is out of range.
///
/// The value is the elements plus the padding byte (see
/// [`crate::heap::Heap::find_object`]), and for a `precise` slice (one
/// whose elements may hold managed pointers) the length word before them;
/// [`crate::heap::Heap::alloc_precise`] adds the header word of a value
/// over [`crate::heap::TYPE_TABLE_MAX_SIZE`]. The whole object — header
/// included — must fit in `max_alloc` bytes.
#[inline]
pub const fn slice_value_bytes(
    elem_size: usize,
    len: usize,
    precise: bool,
    max_alloc: usize,
) -> Option<usize> {
    // Go's `len < 0`: a length that is negative as an `int`.
    if len > isize::MAX as usize {
        return None;
    }
    if len == 0 || elem_size == 0 {
        return Some(0);
    }
    let Some(elems) = elem_size.checked_mul(len) else {
        return None;
    };
    // The length word of a precise slice, and the padding byte.
    let overhead = if precise { 8 + 1 } else { 1 };
    let Some(value) = elems.checked_add(overhead) else {
        return None;
    };
    let header = if precise {
        precise_header_bytes(value)
    } else {
        0
    };
    match value.checked_add(header) {
        Some(object) if object <= max_alloc => Some(value),
        _ => None,
    }
}

/// The whole object [`crate::heap::Heap::alloc_precise`] asks for a
/// precise value of `value_size` bytes: the value plus its header word
/// ([`precise_header_bytes`]), or `None` when that is beyond [`MAX_ALLOC`]
/// (it would wrap for sizes near `usize::MAX`). The caller's `None` is
/// Go's `fatal error: out of memory` (`mcache.allocLarge`'s check).
#[inline]
pub const fn precise_object_bytes(value_size: usize) -> Option<usize> {
    match value_size.checked_add(precise_header_bytes(value_size)) {
        Some(object) if object <= MAX_ALLOC => Some(object),
        _ => None,
    }
}

/// The layout of an arena reservation of (at least) `bytes`: `(pages,
/// mapping length, page table length)` — whole heap pages, one spare page
/// so the start can be aligned to a heap page, one pointer per page. `None`
/// when the size is beyond [`MAX_ALLOC`] (no machine has that much address
/// space; the arithmetic below would wrap long before).
#[inline]
pub const fn arena_layout(bytes: usize) -> Option<(usize, usize, usize)> {
    if bytes > MAX_ALLOC {
        return None;
    }
    let npages = if bytes == 0 {
        1
    } else {
        bytes.div_ceil(PAGE_SIZE)
    };
    // Bounded by MAX_ALLOC / PAGE_SIZE + 1 pages: none of these overflow.
    let map_len = (npages + 1) * PAGE_SIZE;
    let table_len = npages * std::mem::size_of::<usize>();
    Some((npages, map_len, table_len))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::TYPE_TABLE_MAX_SIZE;
    use proptest::prelude::*;

    /// The object the heap hands out for a value, header included,
    /// computed in 128 bits (no wrap possible).
    fn object_bytes_wide(elem: usize, len: usize, precise: bool) -> u128 {
        let value = elem as u128 * len as u128 + if precise { 9 } else { 1 };
        let header = if precise && value > TYPE_TABLE_MAX_SIZE as u128 {
            8
        } else {
            0
        };
        value + header
    }

    /// The specification in 128-bit arithmetic: what `slice_value_bytes`
    /// must answer.
    fn spec(elem: usize, len: usize, precise: bool, max: usize) -> Option<usize> {
        if len as u128 > isize::MAX as u128 {
            return None;
        }
        if len == 0 || elem == 0 {
            return Some(0);
        }
        let object = object_bytes_wide(elem, len, precise);
        if object > max as u128 {
            return None;
        }
        let value = elem as u128 * len as u128 + if precise { 9 } else { 1 };
        Some(value as usize)
    }

    /// Lengths at and around every boundary for `elem` under `max`.
    fn boundary_lens(elem: usize, max: usize) -> Vec<usize> {
        let mut centres = vec![
            0,
            1,
            usize::MAX,
            isize::MAX as usize,
            usize::MAX / elem,
            max / elem,
            (max - 1) / elem,
            (max - 9) / elem,
            (max - 17) / elem,
            TYPE_TABLE_MAX_SIZE / elem,
            (TYPE_TABLE_MAX_SIZE - 9) / elem,
            MAX_ALLOC / elem,
        ];
        centres.sort_unstable();
        centres.dedup();
        let mut out = Vec::new();
        for c in centres {
            for d in -3i64..=3 {
                if let Some(l) = c.checked_add_signed(d as isize) {
                    out.push(l);
                }
            }
        }
        out
    }

    const MAXES: [usize; 4] = [MAX_ALLOC, 64 << 30, 4 << 30, PAGE_SIZE * 3 + 5];

    #[test]
    fn every_boundary_for_every_element_size() {
        // Exhaustive over element sizes 1..=4096, the two kinds and a few
        // arena sizes; every length near a boundary. (Miri: a sample of
        // element sizes, it is slow.)
        let step = if cfg!(miri) { 257 } else { 1 };
        for elem in (1..=4096usize).step_by(step) {
            for &max in &MAXES {
                for len in boundary_lens(elem, max) {
                    for precise in [false, true] {
                        assert_eq!(
                            slice_value_bytes(elem, len, precise, max),
                            spec(elem, len, precise, max),
                            "elem {elem} len {len} precise {precise} max {max}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_issue_cases_are_out_of_range() {
        // make_slice::<u8>(usize::MAX): the size used to wrap to 0 + 1.
        assert_eq!(slice_value_bytes(1, usize::MAX, false, MAX_ALLOC), None);
        // make_slice::<Option<Gc<T>>>((usize::MAX - 8) / 8): 8 + len × 8 + 1
        // used to wrap to a small block claiming 2^61 elements.
        assert_eq!(
            slice_value_bytes(8, (usize::MAX - 8) / 8, true, MAX_ALLOC),
            None
        );
        // The largest slices that fit exactly.
        let max = 64usize << 30;
        assert_eq!(slice_value_bytes(1, max - 1, false, max), Some(max));
        assert_eq!(slice_value_bytes(1, max, false, max), None);
        assert_eq!(
            slice_value_bytes(8, (max - 17) / 8, true, max),
            Some(max - 15)
        );
        assert_eq!(slice_value_bytes(8, (max - 17) / 8 + 1, true, max), None);
        // Zero-sized elements allocate nothing, up to Go's largest int.
        assert_eq!(slice_value_bytes(0, isize::MAX as usize, true, 1), Some(0));
        assert_eq!(
            slice_value_bytes(0, isize::MAX as usize + 1, false, 1),
            None
        );
    }

    #[test]
    fn precise_objects_never_wrap() {
        assert_eq!(precise_object_bytes(16), Some(16));
        assert_eq!(
            precise_object_bytes(TYPE_TABLE_MAX_SIZE),
            Some(TYPE_TABLE_MAX_SIZE)
        );
        assert_eq!(
            precise_object_bytes(TYPE_TABLE_MAX_SIZE + 1),
            Some(TYPE_TABLE_MAX_SIZE + 9)
        );
        assert_eq!(precise_object_bytes(MAX_ALLOC - 8), Some(MAX_ALLOC));
        assert_eq!(precise_object_bytes(MAX_ALLOC - 7), None);
        // Used to wrap to a 0..7-byte object.
        for v in usize::MAX - 8..=usize::MAX {
            assert_eq!(precise_object_bytes(v), None, "{v}");
        }
    }

    #[test]
    fn arena_layouts_never_wrap() {
        assert_eq!(arena_layout(0), Some((1, 2 * PAGE_SIZE, 8)));
        assert_eq!(arena_layout(1), Some((1, 2 * PAGE_SIZE, 8)));
        assert_eq!(
            arena_layout(64 << 30),
            Some((8 << 20, (64 << 30) + PAGE_SIZE, 64 << 20))
        );
        assert_eq!(
            arena_layout(MAX_ALLOC),
            Some((
                MAX_ALLOC / PAGE_SIZE,
                MAX_ALLOC + PAGE_SIZE,
                MAX_ALLOC / 1024
            ))
        );
        assert_eq!(arena_layout(MAX_ALLOC + 1), None);
        assert_eq!(arena_layout(usize::MAX), None);
    }

    #[test]
    #[cfg(not(miri))]
    fn an_impossible_arena_is_an_error_not_a_wrapped_size() {
        for bytes in [MAX_ALLOC + 1, usize::MAX] {
            let e =
                crate::heap::Heap::new(crate::heap::HeapConfig { arena_bytes: bytes }).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bytes}: {e}");
        }
    }

    #[test]
    fn max_alloc_is_the_smaller_limit() {
        assert_eq!(max_alloc(64 << 30), 64 << 30);
        assert_eq!(max_alloc(usize::MAX), MAX_ALLOC);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 16 } else { 4096 },
            // No file of past failures: Miri isolates the file system.
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Any length, any element size 1..=4096: the answer is the 128-bit
        /// specification's, and an accepted size really holds `len`
        /// elements inside `max` bytes.
        #[test]
        fn slice_sizes_match_the_wide_specification(
            elem in 1usize..=4096,
            len in prop_oneof![any::<usize>(), 0usize..1 << 20, (1usize << 30)..(1usize << 40)],
            precise in any::<bool>(),
            max in prop_oneof![Just(MAX_ALLOC), Just(64usize << 30), PAGE_SIZE..(1usize << 40)],
        ) {
            let got = slice_value_bytes(elem, len, precise, max);
            prop_assert_eq!(got, spec(elem, len, precise, max));
            if let Some(v) = got.filter(|&v| v > 0) {
                prop_assert!(v as u128 > elem as u128 * len as u128);
                prop_assert!(object_bytes_wide(elem, len, precise) <= max as u128);
            }
        }

        /// Lengths within ±3 of a boundary of a random element size.
        #[test]
        fn slice_sizes_near_boundaries(
            elem in 1usize..=4096,
            which in 0usize..12,
            delta in -3i64..=3,
            precise in any::<bool>(),
            max in prop_oneof![Just(MAX_ALLOC), Just(64usize << 30), PAGE_SIZE..(1usize << 40)],
        ) {
            let lens = boundary_lens(elem, max);
            let base = lens[which * lens.len() / 12];
            if let Some(len) = base.checked_add_signed(delta as isize) {
                prop_assert_eq!(
                    slice_value_bytes(elem, len, precise, max),
                    spec(elem, len, precise, max)
                );
            }
        }

        /// Precise objects: value + header in 128 bits, or None past
        /// MAX_ALLOC.
        #[test]
        fn precise_object_bytes_match_the_wide_sum(
            v in prop_oneof![any::<usize>(), 0usize..1 << 20, (MAX_ALLOC - 64)..(MAX_ALLOC + 64), (usize::MAX - 64)..=usize::MAX],
        ) {
            let wide = v as u128 + if v > TYPE_TABLE_MAX_SIZE { 8 } else { 0 };
            let want = (wide <= MAX_ALLOC as u128).then_some(wide as usize);
            prop_assert_eq!(precise_object_bytes(v), want);
        }

        /// Arena layouts: whole pages covering the request, one spare page,
        /// one table pointer per page, or None past MAX_ALLOC.
        #[test]
        fn arena_layout_covers_the_request(bytes in any::<usize>()) {
            match arena_layout(bytes) {
                None => prop_assert!(bytes > MAX_ALLOC),
                Some((n, map, table)) => {
                    prop_assert!(n * PAGE_SIZE >= bytes && n >= 1);
                    prop_assert!(n * PAGE_SIZE < bytes.max(1) + PAGE_SIZE);
                    prop_assert_eq!(map, (n + 1) * PAGE_SIZE);
                    prop_assert_eq!(table, n * 8);
                }
            }
        }
    }
}
