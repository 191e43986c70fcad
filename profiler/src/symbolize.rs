//! The symbolizer: return PCs in, [`Frame`]s (function, file, line, entry)
//! out.
//!
//! See [crate] for the overview. Recorders (the CPU profiler's signal
//! handler, the allocation sampler, the goroutine walker) keep raw program
//! counters only — cheap, and the only thing a signal handler may do. When a
//! profile is written, this module turns each PC into frames:
//!
//! * **Which file.** A PC inside the running executable is looked up in its
//!   own DWARF line tables (`/proc/self/exe`, read with the `addr2line`
//!   crate; release builds keep line tables, see the workspace
//!   `Cargo.toml`). The executable's load bias (ASLR) comes from
//!   `dl_iterate_phdr`. A PC in a shared library (libc, the vDSO) has no
//!   line table we load; `dladdr` names its symbol and library instead.
//! * **Return PCs.** Every PC handed in is a *return* PC ([`Frame::pc`]);
//!   the lookup uses `pc − 1`, the call instruction, so a call that is the
//!   last instruction of a function is attributed to that function and its
//!   line is the line of the call. The leaf of a CPU sample is the
//!   interrupted PC plus one, so the same rule gives the interrupted
//!   instruction itself.
//! * **Inlining.** A PC inside inlined code yields several frames, innermost
//!   first, all with the same `pc`: `symbolize(&[pc])` for a call inlined
//!   into `main` gives `[callee, main]`, with [`Frame::inlined`] set on
//!   `callee` only.
//! * **Naming rule.** A Rust function is named by its demangled path without
//!   the hash suffix — `binarytrees::bottom_up`,
//!   `gort_scheduler::sched::goroutine_entry`, `sample::main::{{closure}}`.
//!   The crate name comes first (for a binary, the binary's name), which is
//!   what Go's `package.Function` shows; `::` stays Rust's separator, which
//!   `go tool pprof` prints untouched. Angle brackets are rewritten away
//!   ([`go_style_name`]), because pprof deletes everything between `<` and
//!   `>` when it displays a name: `<Range<A> as Iterator>::next` becomes
//!   `core::ops::range::Range::next`, `Vec<T,A>::push` becomes
//!   `alloc::vec::Vec::push`. Symbols of other languages are
//!   shown as they are (`__memmove_avx_unaligned_erms`); a PC in a shared
//!   library with no exported symbol by library and offset
//!   (`libc.so.6+0x891f4`, glibc's local `start_thread`). A PC nothing
//!   knows is named by its address (`0x7f12…`) with file `?`.
//! * **Cost.** The first call loads the executable's debug sections (tens
//!   of milliseconds for a large binary); every PC is then cached, so a
//!   profile with thousands of samples over a few hundred distinct PCs looks
//!   each up once. Callers may come from any thread (one mutex); never call
//!   it inside a signal handler.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::stack::Frame;

pub use crate::cpu::walk::callers;

/// Frames of every PC already looked up (innermost first).
type Cache = HashMap<u64, Arc<[Frame]>>;

struct Symbolizer {
    /// The executable's DWARF (None: unreadable, e.g. stripped or deleted).
    exe: Option<addr2line::Loader>,
    /// `[start, end)` of the executable's mapped segments (runtime addresses).
    exe_ranges: Vec<(u64, u64)>,
    /// Runtime address − link-time address of the executable.
    bias: u64,
    cache: Cache,
}

// SAFETY: the loader is only used under the global mutex (`SYMBOLIZER`),
// one thread at a time; it holds no thread-affine state (memory maps and
// arenas owned by it).
unsafe impl Send for Symbolizer {}

static SYMBOLIZER: OnceLock<Mutex<Symbolizer>> = OnceLock::new();

fn symbolizer() -> &'static Mutex<Symbolizer> {
    SYMBOLIZER.get_or_init(|| {
        let (bias, exe_ranges) = main_program_segments();
        let exe = addr2line::Loader::new("/proc/self/exe").ok();
        Mutex::new(Symbolizer {
            exe,
            exe_ranges,
            bias,
            cache: HashMap::new(),
        })
    })
}

/// Symbolizes a stack of return PCs (leaf first) into frames (leaf first),
/// inlined calls expanded. PCs equal to 0 are skipped.
pub fn symbolize(return_pcs: &[u64]) -> Vec<Frame> {
    let mut s = symbolizer().lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(return_pcs.len());
    for &pc in return_pcs {
        if pc != 0 {
            out.extend(s.lookup(pc).iter().cloned());
        }
    }
    out
}

/// Symbolizes one return PC: its frames, innermost first (more than one if
/// the call was inlined).
pub fn symbolize_pc(return_pc: u64) -> Vec<Frame> {
    symbolize(&[return_pc])
}

impl Symbolizer {
    fn lookup(&mut self, pc: u64) -> Arc<[Frame]> {
        if let Some(f) = self.cache.get(&pc) {
            return f.clone();
        }
        let frames: Arc<[Frame]> = self.resolve(pc).into();
        self.cache.insert(pc, frames.clone());
        frames
    }

    fn resolve(&self, pc: u64) -> Vec<Frame> {
        let call = pc.saturating_sub(1);
        let in_exe = self
            .exe_ranges
            .iter()
            .any(|&(lo, hi)| lo <= call && call < hi);
        if in_exe {
            if let Some(frames) = self.resolve_exe(pc, call) {
                return frames;
            }
        }
        vec![resolve_dladdr(pc, call)]
    }

    fn resolve_exe(&self, pc: u64, call: u64) -> Option<Vec<Frame>> {
        let exe = self.exe.as_ref()?;
        let probe = call.wrapping_sub(self.bias);
        let sym = exe.find_symbol_info(probe);
        let entry = sym
            .as_ref()
            .map_or(0, |s| s.address().wrapping_add(self.bias));
        let mut frames = Vec::new();
        if let Ok(mut it) = exe.find_frames(probe) {
            while let Ok(Some(f)) = it.next() {
                let function = f
                    .function
                    .as_ref()
                    .and_then(|n| n.demangle().ok().map(|c| go_style_name(&c)));
                let (file, line) = match &f.location {
                    Some(l) => (l.file.unwrap_or("?").to_string(), l.line.unwrap_or(0)),
                    None => ("?".to_string(), 0),
                };
                frames.push(Frame {
                    function: function.unwrap_or_default(),
                    file,
                    line,
                    pc,
                    entry,
                    // every frame but the outermost is inlined into the next
                    inlined: true,
                });
            }
        }
        // The outermost frame is the symbol itself: its linkage name is the
        // full path even when the debug info names it briefly.
        let sym_name = sym.map(|s| go_style_name(&demangle(s.name())));
        match frames.last_mut() {
            Some(outer) => {
                if let Some(n) = sym_name {
                    if outer.function.is_empty() || !outer.function.contains("::") {
                        outer.function = n;
                    }
                }
            }
            None => frames.push(Frame {
                function: sym_name?,
                file: "?".to_string(),
                line: 0,
                pc,
                entry,
                inlined: false,
            }),
        }
        if let Some(outer) = frames.last_mut() {
            outer.inlined = false;
        }
        for f in &mut frames {
            if f.function.is_empty() {
                f.function = format!("{call:#x}");
            }
        }
        Some(frames)
    }
}

/// A Rust (or other) symbol name, demangled without the hash.
fn demangle(raw: &str) -> String {
    addr2line::demangle_auto(raw.into(), None).into_owned()
}

/// Presents a demangled Rust name the way `go tool pprof` can show it.
///
/// pprof simplifies every name it displays by deleting whatever is
/// between `<` and `>` (it takes them for C++ template arguments), so a
/// trait method `<core::ops::range::Range<A> as Iterator>::next` would be
/// shown as `::next`. This keeps what a reader needs — the type that owns
/// the method — and drops the angle brackets:
///
/// * `<T as Trait>::m` → `T::m` (Go's `pkg.(*T).M` names the type, not
///   the interface);
/// * `path::<impl Trait for T>::m` → `T::m`, `<impl T>::m` → `T::m`;
/// * generic arguments are dropped: `alloc::vec::Vec<T,A>::push` →
///   `alloc::vec::Vec::push` (Go shows `pkg.F[...]`).
///
/// Names without `<` (most functions, closures `f::{{closure}}`) are
/// unchanged.
pub fn go_style_name(name: &str) -> String {
    if !name.contains('<') {
        return name.to_string();
    }
    let b = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            let j = matching_angle(b, i);
            let at_segment_start = out.is_empty() || out.ends_with("::");
            if at_segment_start {
                // A qualified path: the type it names owns what follows.
                out = go_style_name(owner(&name[i + 1..j]));
            }
            // Otherwise: generic arguments, dropped.
            i = j + 1;
        } else {
            let next = name[i..].find('<').map_or(b.len(), |k| i + k);
            out.push_str(&name[i..next]);
            i = next;
        }
    }
    out
}

/// Index of the `>` closing the `<` at `open` (`->` is not a closer), or
/// the end of the string.
fn matching_angle(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'<' => depth += 1,
            b'>' if k > 0 && b[k - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    b.len()
}

/// The type of a qualified path's inside: `T as Trait` → `T`,
/// `impl Trait for T` → `T`, `impl T` → `T`.
fn owner(inner: &str) -> &str {
    let top_level = |pat: &str| -> Option<usize> {
        let b = inner.as_bytes();
        let mut depth = 0i32;
        for k in 0..b.len() {
            match b[k] {
                b'<' => depth += 1,
                b'>' if k > 0 && b[k - 1] == b'-' => {}
                b'>' => depth -= 1,
                _ if depth == 0 && inner[k..].starts_with(pat) => return Some(k),
                _ => {}
            }
        }
        None
    };
    if let Some(rest) = inner.strip_prefix("impl ") {
        return match top_level(" for ") {
            Some(k) => &inner[k + 5..],
            None => rest,
        };
    }
    match top_level(" as ") {
        Some(k) => &inner[..k],
        None => inner,
    }
}

/// Names a PC outside the executable with `dladdr`: its symbol and library.
fn resolve_dladdr(pc: u64, call: u64) -> Frame {
    // SAFETY: an all-zero Dl_info is valid (null pointers); dladdr fills it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; `info` is writable.
    let ok = unsafe { libc::dladdr(call as usize as *const libc::c_void, &mut info) } != 0;
    let cstr = |p: *const libc::c_char| {
        // SAFETY: dladdr's strings are NUL-terminated and live as long as
        // the object stays loaded (we copy them at once).
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let (function, file, entry) = if ok {
        let file = cstr(info.dli_fname);
        // A local symbol (glibc's `start_thread`) is not in the dynamic
        // symbol table: name the PC by its library and offset instead.
        let function = cstr(info.dli_sname)
            .map(|n| go_style_name(&demangle(&n)))
            .or_else(|| {
                let lib = file.as_deref()?.rsplit('/').next()?.to_string();
                Some(format!(
                    "{lib}+{:#x}",
                    call - info.dli_fbase as usize as u64
                ))
            });
        (function, file, info.dli_saddr as usize as u64)
    } else {
        (None, None, 0)
    };
    Frame {
        function: function.unwrap_or_else(|| format!("{call:#x}")),
        file: file.unwrap_or_else(|| "?".to_string()),
        line: 0,
        pc,
        entry,
        inlined: false,
    }
}

/// The main program's load bias and its `PT_LOAD` segments' runtime ranges.
fn main_program_segments() -> (u64, Vec<(u64, u64)>) {
    let mut out: (u64, Vec<(u64, u64)>, bool) = (0, Vec::new(), false);
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `out` tuple passed below; `info` is valid for
        // the callback (dl_iterate_phdr's contract).
        let (out, info) = unsafe { (&mut *(data as *mut (u64, Vec<(u64, u64)>, bool)), &*info) };
        if out.2 {
            return 1;
        }
        // The first object reported is the main program.
        out.2 = true;
        out.0 = info.dlpi_addr;
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD {
                let lo = info.dlpi_addr + ph.p_vaddr;
                out.1.push((lo, lo + ph.p_memsz));
            }
        }
        1
    }
    // SAFETY: the callback matches dl_iterate_phdr's signature and only
    // touches `out` through the pointer we pass.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut out as *mut _ as *mut libc::c_void) };
    (out.0, out.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A return PC inside this very function (callers(0) is the return
    /// into the caller of `callers`, i.e. into us).
    #[inline(never)]
    fn a_named_function() -> u64 {
        let mut buf = [0u64; 4];
        let n = callers(0, &mut buf);
        assert!(n >= 1);
        std::hint::black_box(buf[0])
    }

    #[test]
    fn names_a_function_its_file_line_and_entry() {
        let pc = a_named_function();
        let frames = symbolize_pc(pc);
        assert!(!frames.is_empty());
        let outer = frames.last().unwrap();
        assert_eq!(
            outer.function, "gort_profiler::symbolize::tests::a_named_function",
            "{frames:?}"
        );
        assert!(outer.file.ends_with("symbolize.rs"), "{frames:?}");
        assert!(outer.line > 0);
        assert_eq!(outer.entry, a_named_function as *const () as usize as u64);
        assert!(frames.iter().all(|f| f.pc == pc));
        assert!(!outer.inlined);
        // Cached: the same answer twice.
        assert_eq!(symbolize_pc(pc), frames);
    }

    /// `callers` called from a function inlined into its caller: the
    /// return PC lies in the caller's code, at the inlined call.
    #[inline(always)]
    fn an_inlined_callee() -> u64 {
        let mut buf = [0u64; 4];
        let n = callers(0, &mut buf);
        assert!(n >= 1);
        buf[0]
    }

    #[inline(never)]
    fn calls_an_inlined_callee() -> u64 {
        std::hint::black_box(an_inlined_callee())
    }

    #[test]
    fn inlined_calls_expand_into_marked_frames() {
        let pc = calls_an_inlined_callee();
        let frames = symbolize_pc(pc);
        let names: Vec<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "gort_profiler::symbolize::tests::an_inlined_callee",
                "gort_profiler::symbolize::tests::calls_an_inlined_callee"
            ],
            "{frames:?}"
        );
        assert!(frames[0].inlined && !frames[1].inlined, "{frames:?}");
        assert!(frames.iter().all(|f| f.pc == pc));
        // the entry is the physical function's, for both frames
        let entry = calls_an_inlined_callee as *const () as usize as u64;
        assert!(frames.iter().all(|f| f.entry == entry), "{frames:?}");
        // one physical frame: `ends_pc` only at the outer one
        assert!(!Frame::ends_pc(&frames, 0) && Frame::ends_pc(&frames, 1));
    }

    #[test]
    fn function_addresses_name_themselves() {
        let pc = a_named_function as *const () as usize as u64;
        // As a return PC, pc + 1 looks up the entry instruction itself.
        let frames = symbolize(&[pc + 1]);
        assert_eq!(
            frames.last().unwrap().function,
            "gort_profiler::symbolize::tests::a_named_function"
        );
        assert_eq!(frames.last().unwrap().entry, pc);
    }

    #[test]
    fn go_style_names_survive_pprof() {
        let cases = [
            ("binarytrees::bottom_up", "binarytrees::bottom_up"),
            ("a::main::{{closure}}", "a::main::{{closure}}"),
            (
                "<core::ops::range::Range<A> as core::iter::range::RangeIteratorImpl>::spec_next",
                "core::ops::range::Range::spec_next",
            ),
            (
                "core::iter::range::<impl core::iter::traits::iterator::Iterator for core::ops::range::Range<A>>::next",
                "core::ops::range::Range::next",
            ),
            ("core::cmp::impls::<impl core::cmp::PartialOrd for u64>::lt", "u64::lt"),
            ("alloc::vec::Vec<T,A>::push", "alloc::vec::Vec::push"),
            ("<alloc::vec::Vec<T,A>>::push", "alloc::vec::Vec::push"),
            (
                "<alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output = ()> + core::marker::Send> as core::ops::function::FnOnce<()>>::call_once",
                "alloc::boxed::Box::call_once",
            ),
            ("<fn() -> u8 as core::ops::function::Fn<()>>::call", "fn() -> u8::call"),
            ("core::ops::function::FnOnce::call_once{{vtable.shim}}", "core::ops::function::FnOnce::call_once{{vtable.shim}}"),
        ];
        for (raw, want) in cases {
            assert_eq!(go_style_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn libc_and_unknown_pcs() {
        let pc = libc::getpid as *const () as usize as u64;
        let f = symbolize(&[pc + 1]);
        assert_eq!(f.len(), 1);
        assert!(f[0].function.contains("getpid"), "{f:?}");
        assert!(f[0].file.contains("libc"), "{f:?}");
        let f = symbolize(&[0x10]);
        assert_eq!(f[0].function, "0xf");
        assert_eq!(f[0].file, "?");
        assert!(symbolize(&[0]).is_empty());
    }
}
