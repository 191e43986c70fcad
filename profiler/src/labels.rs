//! Profiler labels (Go's `pprof.Labels`): key/value strings attached to a
//! goroutine, copied into every goroutine it starts, and written into the
//! samples the goroutine causes — CPU ticks, goroutine-profile records
//! and, beyond Go, heap-profile samples.
//!
//! See [crate] for the overview. A goroutine's labels are one machine word
//! (the scheduler keeps it in its G, copies it in `go`, and the runtime
//! facade reads it through the function given to [`set_current_fn`]), so a
//! reader in a signal handler takes them with one load. The word is the
//! address of an **interned** [`LabelSet`]: [`intern`] gives every
//! distinct set one address, allocated once and never freed, so a word
//! taken at any time — by the SIGPROF handler, by the allocation sampler,
//! by a goroutine profile — still names its set whenever it is resolved
//! ([`LabelSet::from_word`]).
//!
//! The price is memory: each distinct label set stays for the life of the
//! process (Go's label sets are garbage-collected). Programs label by
//! kind of work (`"handler": "/api"`, `"worker": "3"`), which makes few
//! distinct sets; a label per request id would keep one set per request.
//! [`interned`] reports how many there are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A set of labels: key/value pairs sorted by key, each key once (Go's
/// `LabelSet`). Interned sets are compared by address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSet {
    list: Vec<(String, String)>,
}

impl LabelSet {
    /// The set of `pairs`; a later pair with the same key replaces an
    /// earlier one (Go's `pprof.Labels` keeps the last).
    pub fn new<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> LabelSet {
        let mut s = LabelSet::default();
        for (k, v) in pairs {
            s.insert(k.as_ref(), v.as_ref());
        }
        s
    }

    fn insert(&mut self, k: &str, v: &str) {
        match self.list.binary_search_by(|(x, _)| x.as_str().cmp(k)) {
            Ok(i) => self.list[i].1 = v.to_string(),
            Err(i) => self.list.insert(i, (k.to_string(), v.to_string())),
        }
    }

    /// This set with `other`'s pairs added, `other` winning on equal keys
    /// (what Go's `WithLabels` does to a context's labels).
    pub fn merged(&self, other: &LabelSet) -> LabelSet {
        let mut s = self.clone();
        for (k, v) in &other.list {
            s.insert(k, v);
        }
        s
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.list
    }

    /// The value of `key`, if the set has it (Go's `pprof.Label`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.list
            .binary_search_by(|(x, _)| x.as_str().cmp(key))
            .ok()
            .map(|i| self.list[i].1.as_str())
    }

    /// Whether the set has no label.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The pairs as owned strings (the shape the profile records take).
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.list.clone()
    }

    /// The word that stands for this interned set (see the module doc).
    pub fn word(&'static self) -> usize {
        self as *const LabelSet as usize
    }

    /// The interned set a word stands for: None for 0 (no labels).
    pub fn from_word(word: usize) -> Option<&'static LabelSet> {
        if word == 0 {
            return None;
        }
        // SAFETY: every non-zero word in circulation comes from `word()` of
        // an interned set, and interned sets are leaked, never freed.
        Some(unsafe { &*(word as *const LabelSet) })
    }

    /// Go 1.27's traceback form, printed after a goroutine header's `]`
    /// in `goroutine?debug=2` dumps: `{k: v, k2: v2}`, keys sorted, a key
    /// or value quoted (Go's `%q`) only if it has a character other than
    /// ASCII letters, digits, `.`, `/` and `_`. Empty for an empty set.
    pub fn traceback_string(&self) -> String {
        if self.list.is_empty() {
            return String::new();
        }
        let q = |s: &str| {
            let plain = s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_'));
            if plain {
                s.to_string()
            } else {
                crate::text::go_quote(s)
            }
        };
        let kv: Vec<String> = self
            .list
            .iter()
            .map(|(k, v)| format!("{}: {}", q(k), q(v)))
            .collect();
        format!("{{{}}}", kv.join(", "))
    }
}

/// The interned sets, by content.
fn table() -> &'static Mutex<HashMap<LabelSet, &'static LabelSet>> {
    static T: OnceLock<Mutex<HashMap<LabelSet, &'static LabelSet>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The one interned copy of `set` (None for an empty set: a goroutine
/// without labels has the word 0).
pub fn intern(set: &LabelSet) -> Option<&'static LabelSet> {
    if set.is_empty() {
        return None;
    }
    let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&s) = t.get(set) {
        return Some(s);
    }
    let s: &'static LabelSet = Box::leak(Box::new(set.clone()));
    t.insert(set.clone(), s);
    Some(s)
}

/// Number of distinct label sets interned so far (each is kept for the
/// life of the process).
pub fn interned() -> usize {
    table().lock().unwrap_or_else(PoisonError::into_inner).len()
}

/// The function that reads the calling goroutine's label word (0 outside
/// goroutines); 0 until the runtime facade installs the scheduler's.
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// Installs `f`, which returns the calling goroutine's label word. It must
/// be async-signal-safe: the SIGPROF handler calls it.
pub fn set_current_fn(f: fn() -> usize) {
    // Release: pairs with the Acquire in `current_word`.
    CURRENT.store(f as usize, Release);
}

/// The calling goroutine's label word (0: none, or no function installed).
/// Async-signal-safe if the installed function is.
pub fn current_word() -> usize {
    // Acquire: pairs with the Release in `set_current_fn`.
    let f = CURRENT.load(Acquire);
    if f == 0 {
        return 0;
    }
    // SAFETY: non-zero values are `fn() -> usize` pointers stored by
    // `set_current_fn`.
    let f: fn() -> usize = unsafe { std::mem::transmute::<usize, fn() -> usize>(f) };
    f()
}

/// The calling goroutine's labels, if it has any.
pub fn current() -> Option<&'static LabelSet> {
    LabelSet::from_word(current_word())
}

/// The pairs a word stands for (empty for 0), as profile records take
/// them.
pub fn pairs_of(word: usize) -> Vec<(String, String)> {
    LabelSet::from_word(word).map_or_else(Vec::new, LabelSet::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_sorted_last_key_wins_and_interned_once() {
        let a = LabelSet::new(&[("worker", "7"), ("a", "b"), ("worker", "8")]);
        assert_eq!(
            a.pairs(),
            &[("a".into(), "b".into()), ("worker".into(), "8".into())]
        );
        assert_eq!(a.get("worker"), Some("8"));
        assert_eq!(a.get("nope"), None);
        let b = LabelSet::new(&[("a", "b"), ("worker", "8")]);
        let (ia, ib) = (intern(&a).unwrap(), intern(&b).unwrap());
        assert!(std::ptr::eq(ia, ib));
        assert_eq!(LabelSet::from_word(ia.word()), Some(ia));
        assert_eq!(LabelSet::from_word(0), None);
        assert!(intern(&LabelSet::default()).is_none());
        let m = a.merged(&LabelSet::new(&[("worker", "9"), ("z", "1")]));
        assert_eq!(m.get("worker"), Some("9"));
        assert_eq!(m.get("a"), Some("b"));
        assert_eq!(m.pairs().len(), 3);
    }

    #[test]
    fn traceback_form_is_go_1_27s() {
        // Go 1.27: `goroutine 19 [sleep] {a: b, worker: 7}:`.
        let s = LabelSet::new(&[("worker", "7"), ("a", "b")]);
        assert_eq!(s.traceback_string(), "{a: b, worker: 7}");
        let q = LabelSet::new(&[("user id", "x\"y"), ("path", "/api/v1.x")]);
        assert_eq!(
            q.traceback_string(),
            r#"{path: /api/v1.x, "user id": "x\"y"}"#
        );
        assert_eq!(LabelSet::default().traceback_string(), "");
    }
}
