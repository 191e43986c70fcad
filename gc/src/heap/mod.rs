//! The allocator. (Filled in by the heap issue; the allocator essay goes here.)
