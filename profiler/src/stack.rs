//! The input data model shared by every encoder: a stack is a `Vec<Frame>`.
//!
//! See [crate] for the overview. Producers (the collector's allocation
//! sampler, the scheduler's goroutine walker, a test) describe each frame
//! with what they know — function name, file, line, program counter — and
//! every encoder takes it from there. Nothing here is shared between
//! threads.
//!
//! Conventions, the same as Go's stack records (`runtime.Callers`):
//!
//! * `stack[0]` is the **leaf** (innermost frame), the last element the root.
//! * [`Frame::pc`] is the **return PC** of the frame, i.e. the address just
//!   after its call instruction (for the leaf of a CPU sample: the
//!   interrupted PC plus one). Encoders that need the call site — the
//!   pprof `Location.address` and the `#` lines of the legacy text formats —
//!   use [`Frame::call_pc`], `pc - 1`, exactly as Go does (in
//!   `captures/heap_debug1.txt` the stack PC `0x670a26` is printed as
//!   `0x670a25`).
//! * A frame whose PC is unknown has `pc == 0`; the pprof encoder then gives
//!   its Location a synthetic, unique address.
//! * **Inlining.** One return PC can stand for several frames when calls
//!   were inlined: the symbolizer gives them innermost first, all with the
//!   same `pc`, and sets [`Frame::inlined`] on every one but the last (the
//!   physical frame the others were inlined into). Writers that print one
//!   entry per PC — the `@ 0x…` line of the legacy text formats — print a
//!   PC once per physical frame ([`Frame::ends_pc`]); a recursive call
//!   repeats its PC as separate physical frames and is printed each time,
//!   as Go does (`runtime.doInit` twice in `captures/heap_debug1.txt`).
//!   The `#` lines and the goroutine dump list every frame. The pprof
//!   encoder still gives each frame its own Location (Go folds inlined
//!   frames into one Location with several Lines).

/// One frame of a stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// Fully qualified function name in Go's style, e.g. `main.worker` or
    /// `sync.(*Mutex).Lock`. Names starting with `runtime.` are treated as
    /// runtime-internal (hidden at the top of heap stacks, as Go does).
    pub function: String,
    /// Source file path.
    pub file: String,
    /// Source line of the call (or of the sampled instruction for a leaf).
    pub line: u32,
    /// Return PC (see the module doc); 0 if unknown.
    pub pc: u64,
    /// Entry PC of the function, for the `+0x..` offsets of the text
    /// formats; 0 if unknown (offsets then print as if the PC were the entry).
    /// For an inlined frame this is the entry of the function it was
    /// inlined into (Go's `runtime.Frame.Entry` does the same).
    pub entry: u64,
    /// Whether this frame is a call inlined into the next frame of the
    /// stack (which has the same `pc`); false for a physical frame and for
    /// every frame built with [`Frame::new`].
    pub inlined: bool,
}

impl Frame {
    /// A frame with all fields given.
    pub fn new(
        function: impl Into<String>,
        file: impl Into<String>,
        line: u32,
        pc: u64,
        entry: u64,
    ) -> Frame {
        Frame {
            function: function.into(),
            file: file.into(),
            line,
            pc,
            entry,
            inlined: false,
        }
    }

    /// Whether `stack[i]` is the last frame of its return PC, i.e. a
    /// physical frame: not inlined, or (for a stack cut in the middle of an
    /// inlined group) followed by a frame of another PC or by nothing.
    /// Writers that print each PC once print it for these frames only.
    pub fn ends_pc(stack: &[Frame], i: usize) -> bool {
        let f = &stack[i];
        !f.inlined || stack.get(i + 1).is_none_or(|n| n.pc != f.pc)
    }

    /// The call-site PC, `pc - 1` (0 stays 0).
    pub fn call_pc(&self) -> u64 {
        self.pc.saturating_sub(1)
    }

    /// Offset of the call PC from the function entry (Go's `frame.PC - frame.Entry`).
    pub fn call_offset(&self) -> u64 {
        if self.entry == 0 || self.entry > self.call_pc() {
            0
        } else {
            self.call_pc() - self.entry
        }
    }

    /// Offset of the return PC from the function entry, as tracebacks print it.
    pub fn return_offset(&self) -> u64 {
        if self.entry == 0 || self.entry > self.pc {
            0
        } else {
            self.pc - self.entry
        }
    }

    /// Whether this is a runtime-internal frame (`runtime.` prefix).
    pub fn is_runtime(&self) -> bool {
        self.function.starts_with("runtime.")
    }
}

/// A stack, leaf first.
pub type Stack = Vec<Frame>;
