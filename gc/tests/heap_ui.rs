//! Compile-fail tests (trybuild): safe code cannot store a managed pointer
//! into a managed object without the write barrier, and managed types
//! cannot need `Drop`. Each case in `tests/ui/` has the expected compiler
//! error next to it (`.stderr`); regenerate with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
