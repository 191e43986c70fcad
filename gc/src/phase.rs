//! See [crate] for the overview. (Filled in by the heap or collector issue.)
