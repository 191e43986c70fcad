//! `#[derive(Trace)]` for gort's managed types.
//!
//! The derive is written with the heap issue; until then this crate only
//! reserves its place in the workspace (a proc-macro must be its own crate).
