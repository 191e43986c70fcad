//! Support code for gort's integration tests (under `tests/tests/`):
//! behaviour visible through the public `gort` API only.
