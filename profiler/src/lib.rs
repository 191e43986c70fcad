//! # gort-profiler: the formats Go programmers use to watch a running program
//!
//! gort's profilers are only worth having if the tools people already use
//! can read what they write. This crate is first the **encoding half** of
//! gort's instrumentation: given samples, stacks and events, it produces
//! exactly the bytes that `go tool pprof`, `go tool trace` and Perfetto
//! expect, plus the two plain-text outputs Go prints itself
//! (`runtime.MemStats` and the `GODEBUG=gctrace=1` line).
//!
//! It also holds the two pieces of **recording** that need no knowledge of
//! goroutines or spans, only of threads, stacks and machine code:
//!
//! * the **CPU profiler** ([`cpu`]): per-thread CPU timers raising SIGPROF
//!   100 times per CPU-second, an async-signal-safe frame-pointer walk
//!   bounded by the interrupted stack, a lock-free sample ring, and a
//!   reader thread that aggregates stacks and writes the pprof profile;
//! * the **symbolizer** ([`symbolize`]): return PCs to function, file and
//!   line from the executable's own DWARF line tables, and
//!   [`symbolize::callers`], Go's `runtime.Callers`.
//!
//! What a profiler needs from the scheduler — the current goroutine's stack
//! bounds, which OS threads run goroutines — comes in through plain
//! function pointers and calls that the runtime facade wires up
//! (`gort::pprof`), so this crate stays a leaf. The other recorders (the
//! allocation sampler, per-P trace buffers, the `/debug/pprof/` server)
//! live with the heap, the scheduler and the facade, and feed this crate's
//! input model (below).
//!
//! ## Place in the workspace
//!
//! ```text
//! samples, tests ──► runtime (gort) ──┬──► gc ─────────┐
//!                                     ├──► scheduler ──┼──► profiler
//!                                     └──► profiler ◄──┘
//! ```
//!
//! The profiler is the leaf: it knows nothing of goroutines or spans. The
//! collector and the scheduler hand it plain data; the `gort` facade
//! exposes it as `gort::pprof` and `gort::trace`.
//!
//! ## The input model
//!
//! 1. A **stack** is a `Vec<`[`Frame`]`>`, leaf first; a frame names its
//!    function (Go-style, `main.worker`), file, line and **return** PC (and,
//!    optionally, the function's entry PC for `+0x..` offsets). See
//!    [`stack`] for the PC conventions.
//! 2. A **profile** is a slice of records, one record type per kind:
//!    [`pprof::CpuSample`], [`pprof::MemRecord`] (raw sampled counts),
//!    [`pprof::CountRecord`], [`pprof::ContentionRecord`] (cycles).
//! 3. A **trace** is a [`trace::Trace`]: events (`ts` in ns, the P that
//!    recorded it, a [`trace::EventKind`]) plus interned stacks. The
//!    goroutine of an event is implicit — whatever `GoStart`ed last on that
//!    P — exactly as in Go's own tracer, so a per-P recorder needs no
//!    goroutine bookkeeping. [`trace::Trace::check`] replays it under the
//!    rules Go's parser enforces, and both writers refuse a trace that
//!    breaks them.
//!
//! ## The formats, what reads them, and the one command to check each
//!
//! | format | module | read by | check with |
//! |---|---|---|---|
//! | **profile.proto**, gzip'd — cpu, heap, allocs, goroutine, threadcreate, block, mutex | [`pprof`] | `go tool pprof`, pprof's web UI, Perfetto | `go tool pprof -raw FILE.pb.gz` |
//! | **legacy text** — `heap?debug=1` (with the `# runtime.MemStats` trailer), `goroutine`/`threadcreate?debug=1`, `block`/`mutex?debug=1`, the `goroutine?debug=2` dump | [`text`] | people; `go tool pprof` (its legacy parsers) | `go tool pprof -raw heap.txt` |
//! | **Go execution trace, v1** (`go 1.19 trace` header) | [`trace::v1`] | Go 1.19's `go tool trace`; current Go through its old-trace converter | `go tool trace -d trace.out` |
//! | **Chrome Trace Event JSON**, in `go tool trace`'s viewer layout, pids from 1 | [`trace::json`] | ui.perfetto.dev, chrome://tracing, DevTools | open it in ui.perfetto.dev; `cargo test -p gort-profiler --test trace_json` checks it structurally and with the DevTools trace engine |
//! | **`runtime.MemStats`** | [`memstats`] | programs (`gort::runtime::read_mem_stats`), the heap text trailer | its unit tests against the captured Go figures |
//! | **`gctrace` line** | [`gctrace`] | people, log scrapers written for Go | its unit tests against 118 captured Go 1.19 lines |
//!
//! One command writes a file of every kind from a synthetic program
//! (several goroutines, nested stacks, a GC cycle, blocking):
//!
//! ```sh
//! cargo run --release -p gort-profiler --example synthetic -- DIR
//! ```
//!
//! and `cargo test -p gort-profiler` runs the real tools on it
//! (`profiler/tests/go_tools.rs`; they skip with a printed reason when Go is
//! absent, and fail instead under `GORT_REQUIRE_GO=1`). The JSON trace is
//! also compared event for event with the JSON `go tool trace`'s own viewer
//! serves for the same trace, and parsed by two JavaScript trace models
//! installed from npm by the test (`profiler/tests/trace_json.rs`; skipped
//! without node/npm unless `GORT_REQUIRE_NODE=1`).
//!
//! ## Fidelity choices
//!
//! * **Self-symbolized profiles.** Every Location carries function, file and
//!   line; exactly one Mapping with `has_functions`, `has_filenames` and
//!   `has_line_numbers` set. `go tool pprof` therefore never looks for a
//!   binary and never calls `/debug/pprof/symbol` (`reference/profiler.md`
//!   §0, §2.4). One Location per frame — never a whole stack in one
//!   Location's lines, which pprof would render as inlining.
//! * **Go's numbers, not approximations.** Sample-type strings, periods,
//!   default sample types, heap un-sampling (`scaleHeapSample`), the mutex
//!   fraction, cycles→ns, the `bytes` label, the hidden leading `runtime.*`
//!   frames, Go's text tab-writer alignment, `fmtNSAsMS` — each is Go
//!   1.19's rule, and the text writers reproduce the captured Go outputs
//!   byte for byte in the tests.
//! * **pid 0 avoided in JSON.** Go's viewer puts PROCS at pid 0; Perfetto
//!   and strict trace models mishandle it, so every pid is shifted by one.
//!
//! ## The CPU profiler in one paragraph
//!
//! Each OS thread that runs goroutines gets a POSIX timer on its own CPU
//! clock (`timer_create` with `SIGEV_THREAD_ID`, as Go ≥ 1.18 does on
//! Linux), so a tick means "this thread burned another 10 ms" and lands on
//! the thread that burned it. The SIGPROF handler reads PC, SP and FP from
//! the signal context, decides whether the thread was on a goroutine stack
//! (bounds from the scheduler) or its own (recorded at thread start), and
//! follows the frame-pointer chain inside that stack only — aligned,
//! strictly rising, return PCs in executable segments, 64 frames at most
//! (gort builds with `-C force-frame-pointers=yes`). The PCs go into a
//! preallocated lock-free ring (a loom model checks it); a full ring drops
//! and counts, and the count becomes Go's `lostProfileEvent` sample. A
//! reader thread drains and aggregates; at stop, stacks are symbolized
//! once per distinct PC and encoded with [`pprof::cpu_profile`]. Function
//! names are demangled Rust paths without hash and without angle brackets
//! (pprof would delete them), e.g. `binarytrees::bottom_up`
//! ([`symbolize`] states the rule). `tests/tests/pprof_cpu.rs` in the
//! workspace checks the whole path with `go tool pprof`.
//!
//! ## Rejected approaches
//!
//! * **`setitimer(ITIMER_PROF)` for the CPU profiler.** One process-wide
//!   timer whose signal goes to whichever thread the kernel picks, with one
//!   tick per 10 ms of *process* CPU time: with several busy threads, ticks
//!   are lost or land on the wrong thread, and the rate is capped (Go moved
//!   away from it on Linux in 1.18 for these reasons; it remains Go's
//!   fallback).
//! * **Unwinding with libgcc / `std::backtrace` in the signal handler.**
//!   The unwinder takes locks and allocates (deadlocks and crashes in
//!   pprof-rs #36, #203, tikv#18474), and it does not know goroutine
//!   stacks, which the scheduler switches under it. The frame-pointer walk
//!   needs neither.
//! * **Symbolizing in the handler or per sample.** The handler keeps raw
//!   PCs; names are looked up once per distinct PC when the profile is
//!   written.
//! * **Generating the proto code with `protoc`/`prost-build`.** It needs a
//!   `protoc` binary at build time; nine small messages declared with
//!   prost's derive ([`pprof::proto`]) carry the same field numbers.
//! * **Go's v2 trace format (Go ≥ 1.22).** An internal wire format that has
//!   changed three times in two years, with no validator runnable on the
//!   Go 1.19 toolchain this project tests against; v1 is read by both.
//! * **pprof-rs's layout** (one Location per function name, no Mapping, no
//!   addresses): it loses call-site lines and makes pprof warn.
//!
//! ## Glossary
//!
//! * **sample** — one observation with a stack and values (a CPU tick, a
//!   sampled allocation, a blocking event).
//! * **record** — a sample aggregated per stack, as Go's runtime keeps them
//!   (`MemProfileRecord`, `BlockProfileRecord`).
//! * **location** — one frame of a stack in a profile: a PC with function,
//!   file, line.
//! * **return PC / call PC** — the address after a call instruction / the
//!   call itself (return PC − 1); stacks hold return PCs, profiles show
//!   call PCs.
//! * **event** — one timestamped record of the execution trace.
//! * **batch** — the events of one P in a v1 trace, written together.
//! * **G, P** — goroutine and processor, as in Go; G0 is "no goroutine"
//!   (the scheduler itself).
//! * **tick** — one SIGPROF from a thread's CPU timer: 10 ms of that
//!   thread's CPU time, one CPU-profile sample.
//! * **frame-pointer walk** — following the chain of saved frame pointers
//!   from the interrupted one, collecting return PCs ([`cpu::walk`]).
//! * **lost sample** — a tick whose stack did not fit in the full sample
//!   ring; counted, and shown as Go shows it (`lostProfileEvent`).
//! * **label set** — a goroutine's profiler labels (Go's `pprof.Labels`),
//!   interned and named by one word ([`labels`]); samples carry the label
//!   set of the goroutine that caused them.

pub mod cpu;
pub mod gctrace;
pub mod labels;
pub(crate) mod loom;
pub mod memstats;
pub mod pprof;
pub mod stack;
pub mod symbolize;
pub mod synthetic;
pub mod text;
pub mod trace;

pub use gctrace::GcTraceLine;
pub use memstats::{BySize, MemStats};
pub use stack::{Frame, Stack};
