//! Go's size classes: the table, written once, and the size → class lookup.
//!
//! See [crate::heap] for the overview.
//!
//! The table is Go 1.19's `src/runtime/sizeclasses.go`, copied as data
//! (sizes, span lengths); the comment columns below are Go's, so the waste
//! of every class is on record here:
//!
//! * *tail waste* — bytes at the end of a span that fit no object
//!   (`span_bytes − objects × size`);
//! * *max waste* — the worst case over requests that land in this class
//!   (a request one byte larger than the previous class), counting both the
//!   rounding of each object and the tail waste.
//!
//! ```text
//! class  bytes/obj  bytes/span  objects  tail waste  max waste
//!     1          8        8192     1024           0     87.50%
//!     2         16        8192      512           0     43.75%
//!     3         24        8192      341           8     29.24%
//!     4         32        8192      256           0     21.88%
//!     5         48        8192      170          32     31.52%
//!     6         64        8192      128           0     23.44%
//!     7         80        8192      102          32     19.07%
//!     8         96        8192       85          32     15.95%
//!     9        112        8192       73          16     13.56%
//!    10        128        8192       64           0     11.72%
//!    11        144        8192       56         128     11.82%
//!    12        160        8192       51          32      9.73%
//!    13        176        8192       46          96      9.59%
//!    14        192        8192       42         128      9.25%
//!    15        208        8192       39          80      8.12%
//!    16        224        8192       36         128      8.15%
//!    17        240        8192       34          32      6.62%
//!    18        256        8192       32           0      5.86%
//!    19        288        8192       28         128     12.16%
//!    20        320        8192       25         192     11.80%
//!    21        352        8192       23          96      9.88%
//!    22        384        8192       21         128      9.51%
//!    23        416        8192       19         288     10.71%
//!    24        448        8192       18         128      8.37%
//!    25        480        8192       17          32      6.82%
//!    26        512        8192       16           0      6.05%
//!    27        576        8192       14         128     12.33%
//!    28        640        8192       12         512     15.48%
//!    29        704        8192       11         448     13.93%
//!    30        768        8192       10         512     13.94%
//!    31        896        8192        9         128     15.52%
//!    32       1024        8192        8           0     12.40%
//!    33       1152        8192        7         128     12.41%
//!    34       1280        8192        6         512     15.55%
//!    35       1408       16384       11         896     14.00%
//!    36       1536        8192        5         512     14.00%
//!    37       1792       16384        9         256     15.57%
//!    38       2048        8192        4           0     12.45%
//!    39       2304       16384        7         256     12.46%
//!    40       2688        8192        3         128     15.59%
//!    41       3072       24576        8           0     12.47%
//!    42       3200       16384        5         384      6.22%
//!    43       3456       24576        7         384      8.83%
//!    44       4096        8192        2           0     15.60%
//!    45       4864       24576        5         256     16.65%
//!    46       5376       16384        3         256     10.92%
//!    47       6144       24576        4           0     12.48%
//!    48       6528       32768        5         128      6.23%
//!    49       6784       40960        6         256      4.36%
//!    50       6912       49152        7         768      3.37%
//!    51       8192        8192        1           0     15.61%
//!    52       9472       57344        6         512     14.28%
//!    53       9728       49152        5         512      3.64%
//!    54      10240       40960        4           0      4.99%
//!    55      10880       32768        3         128      6.24%
//!    56      12288       24576        2           0     11.45%
//!    57      13568       40960        3         256      9.99%
//!    58      14336       57344        4           0      5.35%
//!    59      16384       16384        1           0     12.49%
//!    60      18432       73728        4           0     11.11%
//!    61      19072       57344        3         128      3.57%
//!    62      20480       40960        2           0      6.87%
//!    63      21760       65536        3         256      6.25%
//!    64      24576       24576        1           0     11.45%
//!    65      27264       81920        3         128     10.00%
//!    66      28672       57344        2           0      4.91%
//!    67      32768       32768        1           0     12.50%
//! ```
//!
//! Class 0 means "large": an object over [`MAX_SMALL_SIZE`] gets a span of
//! its own, rounded up to whole pages (its waste is under one page).
//!
//! gort has no tiny allocator (Go packs pointer-free objects under 16 bytes
//! into shared 16-byte blocks); an 8-byte request takes class 1.

use super::PAGE_SIZE;

/// The largest size served from a size class; larger objects are "large".
pub const MAX_SMALL_SIZE: usize = 32768;

/// Number of size classes, class 0 (large) included.
pub const NUM_SIZE_CLASSES: usize = 68;

/// The most objects a span of one class holds (class 1: 8192 / 8).
pub const MAX_OBJECTS_PER_SPAN: usize = 1024;

/// Object size of each class (index = class; class 0 is "large").
pub const CLASS_TO_SIZE: [u16; NUM_SIZE_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Span length in pages of each class.
pub const CLASS_TO_NPAGES: [u8; NUM_SIZE_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];

/// Requests up to this size use the 8-byte-step lookup table.
const SMALL_SIZE_MAX: usize = 1024;
/// Step of the second lookup table (1024 < size ≤ 32768).
const LARGE_SIZE_DIV: usize = 128;

const fn build_class8() -> [u8; SMALL_SIZE_MAX / 8 + 1] {
    let mut t = [0u8; SMALL_SIZE_MAX / 8 + 1];
    let mut i = 0;
    let mut c = 1;
    while i < t.len() {
        let size = i * 8;
        while (CLASS_TO_SIZE[c] as usize) < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

const fn build_class128() -> [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut i = 0;
    let mut c = 1;
    while i < t.len() {
        let size = SMALL_SIZE_MAX + i * LARGE_SIZE_DIV;
        while (CLASS_TO_SIZE[c] as usize) < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

/// `size_to_class8[(size + 7) / 8]` for sizes up to 1024 (Go's table of the same name).
static SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / 8 + 1] = build_class8();
/// `size_to_class128[(size − 1024 + 127) / 128]` for 1024 < size ≤ 32768.
static SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] =
    build_class128();

/// The size class of a request of `size` bytes (`0 < size ≤ MAX_SMALL_SIZE`);
/// 0 (large) for anything bigger. A request of 0 bytes takes class 1.
#[inline]
pub fn size_to_class(size: usize) -> usize {
    if size <= SMALL_SIZE_MAX {
        // `max(1)`: a zero-byte request still gets a distinct 8-byte slot.
        SIZE_TO_CLASS8[size.div_ceil(8).max(1)] as usize
    } else if size <= MAX_SMALL_SIZE {
        SIZE_TO_CLASS128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)] as usize
    } else {
        0
    }
}

/// Object size of class `class` (1..NUM_SIZE_CLASSES).
#[inline]
pub fn class_size(class: usize) -> usize {
    CLASS_TO_SIZE[class] as usize
}

/// Bytes of a span of class `class`.
#[inline]
pub fn class_span_bytes(class: usize) -> usize {
    CLASS_TO_NPAGES[class] as usize * PAGE_SIZE
}

/// Objects in one span of class `class`.
#[inline]
pub fn class_objects(class: usize) -> usize {
    class_span_bytes(class) / class_size(class)
}

/// The multiplier Go calls `divMul`: `(offset * div_mul(size)) >> 32 ==
/// offset / size` for every offset inside a span of that class, so finding
/// an object's index never divides. Checked exhaustively in the tests.
#[inline]
pub const fn div_mul(size: usize) -> u64 {
    (u32::MAX as u64) / (size as u64) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_monotone_and_spans_fit() {
        for c in 1..NUM_SIZE_CLASSES {
            assert!(CLASS_TO_SIZE[c] > CLASS_TO_SIZE[c - 1], "class {c}");
            assert_eq!(class_size(c) % 8, 0, "class {c} is not word aligned");
            let n = class_objects(c);
            assert!(
                (1..=MAX_OBJECTS_PER_SPAN).contains(&n),
                "class {c}: {n} objects"
            );
        }
        assert_eq!(class_size(NUM_SIZE_CLASSES - 1), MAX_SMALL_SIZE);
        // Go's counts for a few classes (objects column of sizeclasses.go).
        assert_eq!(class_objects(3), 341);
        assert_eq!(class_objects(35), 11);
        assert_eq!(class_objects(65), 3);
    }

    #[test]
    fn every_size_maps_to_the_smallest_class_that_fits() {
        let stride = if cfg!(miri) { 13 } else { 1 };
        for size in (0..=MAX_SMALL_SIZE).step_by(stride) {
            let c = size_to_class(size);
            assert!(c >= 1, "size {size}");
            assert!(class_size(c) >= size, "size {size} class {c}");
            if c > 1 {
                assert!(
                    class_size(c - 1) < size,
                    "size {size} could use class {}",
                    c - 1
                );
            }
        }
        assert_eq!(size_to_class(MAX_SMALL_SIZE + 1), 0);
    }

    #[test]
    fn div_mul_matches_division_over_each_span() {
        for c in 1..NUM_SIZE_CLASSES {
            let size = class_size(c);
            let m = div_mul(size);
            // Every offset natively; under Miri (slow) every 7th offset
            // plus both ends of every slot.
            let stride = if cfg!(miri) { 7 } else { 1 };
            let ends = (0..class_objects(c)).flat_map(|i| [i * size, (i + 1) * size - 1]);
            for off in (0..class_span_bytes(c)).step_by(stride).chain(ends) {
                assert_eq!(
                    ((off as u64 * m) >> 32) as usize,
                    off / size,
                    "class {c} off {off}"
                );
            }
        }
    }
}
