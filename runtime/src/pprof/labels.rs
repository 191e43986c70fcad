//! Profiler labels: Go's `pprof.Do`, `pprof.SetGoroutineLabels`,
//! `pprof.Label`.
//!
//! See [super] for the overview. Labels are key/value strings attached to
//! the running goroutine; goroutines it starts inherit them (the scheduler
//! copies the word in `go`). The samples the goroutine causes carry them.
//! See [super] for which profile records whose labels.

pub use gort_profiler::labels::LabelSet;

/// Go's `pprof.Labels(k1, v1, k2, v2, ...)`: the label set of `pairs`; a
/// later pair with the same key replaces an earlier one.
pub fn labels<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> LabelSet {
    LabelSet::new(pairs)
}

/// The calling goroutine's labels (empty outside goroutines and for a
/// goroutine that has none).
pub fn goroutine_labels() -> LabelSet {
    gort_profiler::labels::LabelSet::from_word(gort_scheduler::current_labels())
        .cloned()
        .unwrap_or_default()
}

/// Go's `pprof.Label(ctx, key)`: the value of the calling goroutine's
/// label `key`.
pub fn label(key: &str) -> Option<String> {
    LabelSet::from_word(gort_scheduler::current_labels())
        .and_then(|s| s.get(key))
        .map(str::to_string)
}

/// Go's `pprof.SetGoroutineLabels`: replaces the calling goroutine's
/// labels with `set`; goroutines it starts from now on inherit them.
/// Outside goroutines (a plain OS thread) it does nothing: such a thread
/// has no labels.
pub fn set_goroutine_labels(set: &LabelSet) {
    let word = gort_profiler::labels::intern(set).map_or(0, LabelSet::word);
    gort_scheduler::set_current_labels(word);
}

/// Go's `pprof.Do`: runs `f` with the calling goroutine's labels plus
/// `pairs` (a pair replaces a label of the same key), then restores the
/// labels it had — also when `f` panics. Goroutines started inside `f`
/// keep the labels for their whole life.
///
/// ```
/// let (inside, after) = gort::run(|| {
///     gort::pprof::do_with_labels(&[("worker", "7")], || {
///         let ch = gort::chan::<Option<String>>(1);
///         let tx = ch.clone();
///         gort::go(move || tx.send(gort::pprof::label("worker")));
///         let inherited = ch.recv().unwrap();
///         assert_eq!(inherited.as_deref(), Some("7"));
///     });
///     let inside = gort::pprof::do_with_labels(&[("a", "b")], || gort::pprof::goroutine_labels());
///     (inside, gort::pprof::goroutine_labels())
/// });
/// assert_eq!(inside.pairs(), &[("a".to_string(), "b".to_string())]);
/// assert!(after.is_empty());
/// ```
pub fn do_with_labels<K: AsRef<str>, V: AsRef<str>, R>(
    pairs: &[(K, V)],
    f: impl FnOnce() -> R,
) -> R {
    let before = gort_scheduler::current_labels();
    let current = LabelSet::from_word(before).cloned().unwrap_or_default();
    set_goroutine_labels(&current.merged(&LabelSet::new(pairs)));
    /// Puts the labels back when `f` returns or unwinds (Go's `defer`).
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            gort_scheduler::set_current_labels(self.0);
        }
    }
    let _restore = Restore(before);
    f()
}
