//! Marking. (Filled in by the collector issue.)
