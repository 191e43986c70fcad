//! # gort-scheduler: goroutines on gort's own stacks
//!
//! This crate owns goroutines: their stacks, the context switch between
//! them, the run queues, parking, timers and the runtime-aware blocking
//! primitives (channels, `select!`, `WaitGroup`, `Mutex`), and the
//! stop-the-world handshake the collector uses. The design is Go's G/M/P
//! scheduler (`src/runtime/proc.go`); the code is ours.
//!
//! ```
//! use gort_scheduler::{chan, go, run};
//! let sum = run(|| {
//!     let c = chan::<u64>(0);
//!     for i in 1..=10 {
//!         let c = c.clone();
//!         go(move || c.send(i));
//!     }
//!     (0..10).map(|_| c.recv().unwrap()).sum::<u64>()
//! });
//! assert_eq!(sum, 55);
//! ```
//!
//! ## Place in the workspace
//!
//! ```text
//! samples, tests ──► runtime (gort) ──┬──► gc ─────────┐
//!                                     ├──► scheduler ──┼──► profiler
//!                                     └──► profiler ◄──┘
//! ```
//!
//! The scheduler never depends on the collector; `gort` joins the two in
//! `runtime/src/host.rs` through the API of `stw.rs` (stop/start the world,
//! goroutine stacks, runtime-held ranges, safepoints, per-P slots). Profiler
//! events leave through the [`SchedRecorder`] trait of `hooks.rs`, so this
//! crate needs nothing from `gort-profiler`.
//!
//! ## Glossary
//!
//! As in Go's `src/runtime/HACKING.md`; one word per concept:
//!
//! * **G** — a goroutine: a stack, a saved stack pointer, a status
//!   (`g.rs`). The G itself lives in the top bytes of its own stack.
//! * **M** — a machine: an OS thread that runs Gs (`sched.rs`). Its own
//!   thread stack is its **g0**, the scheduler stack on which every
//!   scheduling decision runs.
//! * **P** — a processor: the right to run goroutines, with a local **run
//!   queue** (a 256-slot ring, `runq.rs`) and a **runnext** slot. There are
//!   `GOMAXPROCS` Ps. Never "core" or "slot".
//! * **global queue** — the run queue shared by all Ps, under the
//!   scheduler lock.
//! * **spinning** — an M that holds a P and looks for work it has not yet
//!   found (`idle.rs`).
//! * **park** — take the running G off its M until a waker **readies** it
//!   again (puts it on a run queue); **unpark** is the waker's side
//!   (`park.rs`).
//! * **sudog** — a parked G's entry on a channel's wait queue, pointing at
//!   the value on the G's own stack (`chan.rs`).
//! * **safepoint** — a point where a G checks the **poll word** and stops
//!   for a stop-the-world, runs the ragged barrier's function, or yields
//!   because sysmon asked it to. Every allocation is one when a request is
//!   pending (the allocator polls the word on its fast path).
//! * **async-safe** — an instruction at which the preemption signal's
//!   handler may act: the G is not **pinned** and holds no runtime lock
//!   (`preempt.rs`).
//! * **pin** — a count on the M (`M::pins`, Go's `m.locks`): while it is
//!   not 0 the running G is not preempted asynchronously (a P-local
//!   section: the allocator's fast path, a run-queue push, a switch).
//! * **P-less** — a G in the `Syscall` state: it runs on its M without a P
//!   (blocked in the kernel, or in a long run whose P was retaken), and
//!   takes a P back (**exitsyscall**) before it touches P-local state.
//! * **suspend** — a P-less G's thread waiting inside the preemption
//!   handler until the world restarts, its stack frozen.
//! * **nudge** — the futex word a stopper sleeps on while it waits for the
//!   Ps to stop (`world.rs`): bumped by the last P to stop and by the
//!   handler when it leaves a P for the stop.
//! * **locked G** — a P-less G waiting on a run queue for a P that only its
//!   own M may run: the M that picks it hands over its P. A G preempted by
//!   signal waits as one inside the handler (**preempted** stack, then the
//!   global queue).
//! * **foreign G** — the stand-in of a thread outside the scheduler that
//!   blocks in a gort operation (it blocks the thread, not a goroutine).
//! * **stop the world (STW)** — every P stopped at a safepoint; **ragged
//!   barrier** — a function run once per P, each at its own safepoint,
//!   without stopping everything (`stw.rs`, `world.rs`).
//! * **sysmon** — the monitor thread without a P: timers, preemption
//!   requests, the stack scavenger (`sysmon.rs`).
//! * **stack**, **guard page**, **pool** — see `stack.rs`.
//! * **scan epoch**, **scan word**, **stack job** — the collector's
//!   concurrent stack scan as the scheduler sees it (below).
//! * **profile epoch** — the same protocol for a goroutine profile
//!   (below, "Goroutine profiles").
//!
//! ## Goroutine states and who owns the stack
//!
//! | [`GStatus`] | where the G is | who may touch its stack | saved sp |
//! |---|---|---|---|
//! | `Idle` | carved from a fresh stack, never run | the spawner | — |
//! | `Runnable` | on a run queue (ring, runnext or global) | the queue; then the M that takes it | valid |
//! | `Running` | on an M that holds a P | that M only | stale |
//! | `Waiting` | parked on a channel, timer, `WaitGroup`, `Mutex` or [`park`] | nobody; its waker readies it | valid |
//! | `Dead` | on a free list with its stack | the pool | — |
//!
//! A G's stack is only ever run on by one M: it changes hands only while
//! the G is not `Running`, through a run queue (Release/Acquire on the queue)
//! or the park hand-shake. While a collector cycle scans stacks, a mark
//! worker may also *read* a `Runnable` or `Waiting` G's stack, under the
//! claim of its scan word (see "Concurrent stack scanning"); a goroutine
//! profile reads its frame chain under the claim of its profile word (see
//! "Goroutine profiles").
//!
//! ## The life of a goroutine
//!
//! 1. **Spawn** (`newproc`): take a dead G from the P's cache, the global
//!    pool, or a fresh stack. The start closure is **moved onto the
//!    goroutine's own stack**, just below the G, and below it the first
//!    switch frame, whose return address is a trampoline into
//!    `goroutine_entry`. The G goes into the spawning P's `runnext` (Go:
//!    a new goroutine runs next); a G that `runnext` held before moves to
//!    the ring, where other Ps can steal it, so a spinning M is woken.
//! 2. **Run**: an M's g0 picks the G (`find_runnable`) and switches to it.
//!    The context switch (`switch/`) is a naked function per architecture
//!    that pushes the callee-saved registers (and MXCSR / x87 control word,
//!    or FPCR) on the current stack, stores the stack pointer, loads the
//!    other and pops. Every switch goes **G → g0 → G'** (Go's `mcall`):
//!    the G writes a request (`After` in `sched.rs` — yield, park, exit,
//!    stop for a STW) into its M and switches to g0, which carries it out
//!    once the G is off its stack. Scheduler code thus never runs on a
//!    goroutine's small stack, and no G is made runnable while still
//!    running.
//! 3. **Park** (the primitive all blocking is built on, `park.rs`): the G
//!    marks itself *parking*, publishes itself (a sudog on a channel, an
//!    entry in the timer heap, …), releases the lock that guarded the
//!    publication, and switches to g0, which then **commits** the park. A
//!    waker that comes before the commit leaves a note and g0 requeues the
//!    G itself; a waker after the commit readies it. Exactly one of them
//!    does, and no wake-up is lost (`loom_park`).
//! 4. **Exit**: the start closure returns; the G switches to g0 with an
//!    exit request and g0 puts it on the P's free cache. A panic is caught
//!    at `goroutine_entry` (unwinding never crosses the trampoline): the
//!    panic hook has printed `panic: <msg>`, a blank line and
//!    `goroutine N [running]:`, and the process exits with status 2, as in
//!    Go.
//!
//! ## Finding work (`find_runnable`, on g0)
//!
//! In order: a pending stop-the-world (stop the P); a pending ragged
//! barrier (run its function); every 61st schedule the global queue first
//! (fairness); the local run queue (`runnext` first: it inherits the time
//! slice); the global queue (a batch); stealing half of another P's ring —
//! four passes in random order, the last one also taking `runnext` after a
//! 3 µs pause — if this M may spin; then, while the collector marks, one
//! slice of **idle marking** (about 30 µs of mark work through the
//! collector's hook, [`set_idle_mark_hook`]; Go's idle mark worker) and
//! back to the top; finally release the P and park the M. An M that idles
//! by marking keeps its spinning state (it has not stopped looking for
//! goroutines, so none readied meanwhile is lost; it waits one slice at
//! most).
//!
//! ## The spinning protocol
//!
//! Waking a parked M costs a futex wake-up; waking one for every new G
//! would be a storm. Go's rule (`idle.rs`):
//!
//! 1. Whoever publishes **stealable** work (the ring or the global queue;
//!    not `runnext`, which is not stolen in the first passes) wakes an M
//!    only if there is an idle P **and** no M is spinning; the woken M
//!    starts out spinning (`nmspinning` is claimed by CAS 0 → 1).
//! 2. At most half of the busy Ps have a spinning M
//!    (`2 * nmspinning < gomaxprocs - npidle`).
//! 3. A spinning M that finds work stops spinning; if it was the last
//!    spinner it wakes another M, so a burst of work keeps one spinner
//!    looking.
//! 4. A spinning M that finds nothing releases its P, decrements
//!    `nmspinning`, and then — after a StoreLoad fence — re-checks every
//!    run queue; if work appeared it takes an idle P back and spins again.
//!    The submitter, symmetrically, publishes then fences then reads the
//!    counters. One of the two always sees the other (`loom_idle` fails if
//!    either fence is removed).
//!
//! ## Preemption: cooperative and asynchronous
//!
//! **Cooperative.** A goroutine stops at its **safepoints**: channel, sync
//! and timer operations, `gosched`, explicit [`safepoint`] calls, and every
//! allocation while the poll word is set (the allocator's fast path reads
//! it, [`poll_word`], and the slow path's hook polls). sysmon asks a
//! goroutine that has held its P for more than 10 ms ([`FORCE_PREEMPT`],
//! an unchanged `schedtick`, so a chain of `runnext` hand-offs shares one
//! time slice as in Go) to yield at its next safepoint: its `preempt` flag
//! and the poll word's `POLL_PREEMPT` bit.
//!
//! **Asynchronous** (`preempt.rs`). A goroutine that reaches no safepoint —
//! a compute loop, a recursion, a blocking system call — is interrupted by
//! `SIGURG` (Go's preemption signal), sent to its M's thread by a stopper
//! (at once, then every 100 µs) or by sysmon. The handler runs on the
//! goroutine's own stack (no `SA_ONSTACK`), so the kernel's signal frame —
//! every register of the interrupted code — lies inside the range the
//! conservative stack scan reads, from the handler's frame up.
//!
//! Go resumes a preempted goroutine anywhere, because its compiler knows
//! every frame. gort cannot: compiled Rust keeps thread-local addresses in
//! registers, and a `std::sync::Mutex` the goroutine holds belongs to its
//! OS thread. So an interrupted goroutine **never leaves its thread**: the
//! handler makes it *leave its P* instead — the G and the P enter the
//! `Syscall` state, exactly as for a system call below — and the P goes to
//! another M (sysmon hands it off, or a stopper stops it), so other
//! goroutines run: that is fairness with one P. The thread then **waits in
//! the handler for a P**, as a runnable **locked G** that only its own M may
//! run: the handler may take no lock, so it pushes the G on the lock-free
//! `preempted` stack, which `find_runnable`, sysmon and the restart of the
//! world move to the global queue; the M that picks the G makes the G's M
//! the owner of its P on its behalf, wakes it (a futex, `M::handoff`) and
//! parks (Go's `startlockedm`; `loom_handoff`). Letting the thread run on P-less instead
//! would put more threads on the CPUs than GOMAXPROCS, and a stopper would
//! then wait for the OS to schedule a thread it must suspend.
//!
//! A goroutine that left its P in a system call (below) does go on
//! P-less; when it next enters the runtime where it needs P-local state
//! (an allocation, a channel operation, a safepoint), it takes a P back
//! (**exitsyscall**, [`ensure_p`]): its old P if nobody took it, else an
//! idle one, else it waits on the global queue as a locked G, the same
//! way.
//!
//! The handler acts only at **async-safe** instructions: the thread runs a
//! goroutine (not g0), its M is not **pinned** (`M::pins`: the allocator's
//! fast path and the write barrier's buffer are pinned through
//! [`pin_p`]; run-queue pushes, spawns, parks and every switch are pinned
//! in this crate), it holds no scheduler lock (the facade's `Mutex` and the
//! channels' `SpinLock` count themselves), and the host's check
//! ([`set_async_unsafe_check`]) says it holds no collector lock and is not
//! inside `malloc`/`free` (gort's counting global allocator). Elsewhere the
//! handler returns at once; runtime code reaches a cooperative safepoint
//! within microseconds, and the requester signals again.
//!
//! sysmon's policy (`preempt::retake`, Go's `retake`): a P in `Syscall` is
//! retaken and handed off when it has work queued, when no other P is idle
//! or spinning, or after 10 ms; a goroutine that has not reached a
//! safepoint for one sysmon tick (20 µs at least) while others wait is
//! asked whether it sits in a system call — the handler looks at the
//! interrupted instruction (the kernel rewound it onto `syscall`, or the
//! call just returned `EINTR`) and leaves the P only then — with a doubling
//! back-off up to 10 ms; one that has run 10 ms while others wait is made
//! to leave its P wherever it is and wait for one (`REQ_YIELD`). A
//! goroutine that stops the world, or runs a ragged barrier, is pinned from
//! the moment it wins the world semaphore until it is done: the P it stops
//! as its own must stay its own.
//!
//! ## System calls and the P-less state
//!
//! A goroutine blocked in the kernel (a pipe or socket read,
//! `std::thread::sleep`, `std::fs`) is found by sysmon as above and leaves
//! its P; [`blocking`] does it at once for code that knows it will block
//! (Go's `entersyscallblock`). The syscall restarts by itself (`SA_RESTART`;
//! `nanosleep` returns `EINTR` and std's `sleep` resumes it) — except those
//! the kernel never restarts (signal(7)): a socket call on a socket with a
//! timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`, std's `set_read_timeout`), `poll`,
//! `epoll_wait` and the like fail with `EINTR` when the signal arrives, so
//! a goroutine's bare `read` on such a socket can return
//! `ErrorKind::Interrupted` and should retry (std's `read_exact`,
//! `read_to_end` and `write_all` do; Go's netpoller hides this). The P's
//! `Syscall` state is the hand-over point between three parties, each
//! leaving it by CAS, so exactly one wins: the M taking its P back
//! (`Syscall → Running`), sysmon or [`blocking`] (`Syscall → Idle`, then
//! `handoffp`), and a stopper (`Syscall → GcStop`) (`loom_syscall`). The
//! M that takes its P back may win a P that was retaken, handed to another
//! M and left by that M in turn since; so the winner always names itself
//! the P's M, because stoppers and sysmon signal the M a running P names.
//!
//! A P-less goroutine may be executing user code at any moment (a system
//! call returns, [`blocking`]'s function computes), so a stop of the world
//! does more than stop Ps: once every P is stopped, the stopper
//! **suspends** every thread that runs a P-less goroutine (signal, then
//! wait for `M::susp`; `suspend.rs`). A goroutine interrupted in user code
//! *with* a P leaves it and waits for a P as above, a runnable G the
//! stopper does not wait for. The handler records its stack pointer,
//! raises `suspended` (Release) and waits on a futex until
//! [`start_the_world`] clears the request (`loom_suspend`). Suspended
//! goroutines are scanned in the pause that opens a scan epoch, since they
//! run right after the restart without passing through `execute`.
//!
//! **What the world-stopped code may not do.** A suspended thread may hold
//! any lock of libc or std that is not one of the above: stdout's and
//! stderr's locks, the environment lock, the dynamic loader's lock, locks
//! of user code. Code that runs while threads are suspended — the
//! collector's sweep- and mark-termination pauses, `gomaxprocs`,
//! `read_mem_stats`'s pause, the goroutine profile's pause — therefore
//! takes only the runtime's own locks (which no suspended thread holds),
//! allocates (no suspended thread is inside the allocator), and does not
//! print (gctrace prints after the restart), read the environment, start
//! threads or touch a lazily initialized static (`OnceLock`): a lazy
//! initialization is a lock, held by whichever goroutine runs it, maybe
//! one suspended in the middle. The runtime's statics that world-stopped
//! code reads are either `const`-initialized (the heap profile's state,
//! the root registry) or initialized before the first goroutine runs (the
//! scheduler, the heap, the collector, the clock origin). The tracer's and profilers' locks are taken by goroutines only
//! while pinned ([`NoPreempt`]).
//!
//! ## The stop-the-world protocol (`stw.rs`, `world.rs`)
//!
//! 1. The stopper (a goroutine, or any OS thread — e.g. a mark worker)
//!    takes the world semaphore (a goroutine waits for it by yielding, so
//!    a concurrent stopper can still stop its P).
//! 2. It sets `stopwait = GOMAXPROCS`, raises `gcwaiting` and the poll
//!    word's STW bit.
//! 3. Its own P, if it has one, stops at once (its goroutine keeps
//!    running: it is the one that asked). Under the scheduler lock it takes
//!    every idle P; a P released later while `gcwaiting` is raised stops
//!    itself on release.
//! 4. Every running P stops at its G's next safepoint (the G is requeued at
//!    the head of its P and the M parks) or at the top of `find_runnable`;
//!    a G the preemption signal takes off its P leaves it in `Syscall`,
//!    which the stopper stops. The stopper sleeps on a futex word, the
//!    **nudge**, which the last P to stop bumps and so does the signal
//!    handler when it leaves a P for the stop; between nudges it looks
//!    every 20 µs and re-pokes running goroutines every 100 µs.
//!    Each P counts itself exactly once per stop; a P counted twice means
//!    two parties each believed they held it, and is a fatal error naming
//!    both (`World`'s stop marks).
//! 5. While stopped, [`for_each_goroutine_stack`] reports every goroutine's
//!    `[saved sp, stack top)` — registers are already spilled there by the
//!    switch; the stopper's own stack is reported from below a fresh spill
//!    of its callee-saved registers — and [`for_each_runtime_range`] the
//!    channel buffers. Values of blocked senders and closures of goroutines
//!    that have not started are on goroutine stacks, inside those ranges.
//!    The collector itself no longer scans every stack here: it opens a
//!    scan epoch ([`begin_stack_scan`], below).
//! 6. [`start_the_world`] puts the idle Ps back, bumps the epoch every
//!    stopped M waits on (so a release can never slip between an M's "I
//!    stopped" and its wait: `loom_stw`), and wakes an M if there is work.
//!
//! The **ragged barrier** ([`for_each_p_at_safepoint`]) flags every P;
//! each runs the function at its next safepoint or scheduling point, idle
//! Ps on the caller's thread. [`gomaxprocs`] stops the world, moves the
//! run queues of removed Ps to the global queue (an M whose P disappeared
//! takes another or parks) and adds new Ps to the idle list. A stopper
//! whose own P is removed moves to P 0 before the restart, as Go's
//! `procresize` does: an M must never go on with a dead P, which a later
//! increase could revive and hand to another M.
//!
//! ## Concurrent stack scanning (`scanstate.rs`, `stw.rs`)
//!
//! The collector scans goroutine stacks while the world runs, one goroutine
//! at a time (see gort-gc's essay for why that is correct). The scheduler's
//! part:
//!
//! 1. In the sweep-termination pause, [`begin_stack_scan`] opens a **scan
//!    epoch** — a counter, O(1) — and scans only the stopper's own stack.
//!    Every other goroutine is now unscanned: its G's **scan word** (epoch
//!    << 1, or epoch << 1 | claimed) does not say "scanned in this epoch".
//!    The goroutines that exist now (`allg[..n]`) are the epoch's **stack
//!    jobs**.
//! 2. Mark workers call [`scan_stack_jobs`]: hand out chunks of 32 jobs,
//!    claim each unscanned G with a CAS on its word, scan `[saved sp, top)`,
//!    publish "scanned" (Release). Dead and idle Gs need nothing. It says
//!    `true` once every job is finished, not merely claimed.
//! 3. `execute`, before switching into a G, loads the open epoch (one
//!    relaxed load; 0 = none) and, if the G is unscanned, claims and scans
//!    it itself through the collector's hook ([`set_stack_scan_hooks`]), or
//!    waits while a worker holds the claim. So **no goroutine runs with an
//!    unscanned stack**, and no stack is scanned while it runs
//!    (`loom_scan`).
//! 4. `newproc` makes a goroutine born in the epoch **scanned**, after
//!    shading its start closure with the **copy barrier** (the collector's
//!    `shade_copied` hook). Channels apply the same barrier to every value
//!    that moves between two stacks or from a stack into a buffer while an
//!    epoch is open (`chan.rs`: hand-off to a parked receiver, taking a
//!    parked sender's value, sending into the buffer) — one relaxed load
//!    otherwise. `WaitGroup` and `Mutex<T>` move no values between stacks.
//!    A spawn from a thread without a P is not stopped by the pause, so it
//!    re-checks the epoch after publishing the G (a SeqCst handshake with
//!    step 1: either the new G is a stack job, or its closure is shaded).
//! 5. At mark termination (world stopped) [`finish_stack_scan`] scans any
//!    job left (none normally; O(1) then) and, once marking is over,
//!    [`end_stack_scan`] closes the epoch. A claim never outlives its epoch.
//!
//! ## Goroutine profiles (`gprofile.rs`)
//!
//! [`goroutine_profile`] records every goroutine's stack as of one instant
//! without stopping the program for the walk (Go 1.19's concurrent
//! goroutine profile), on the claim protocol of the stack scan with a second
//! word per G (`G::profiled`) and its own **profile epoch**:
//!
//! 1. With the world stopped it opens the epoch (a counter), takes the
//!    number of goroutines (`allg[..n]`, the profile's jobs), and records
//!    the caller's own stack and those of the P-less goroutines (their
//!    threads are suspended; a suspended thread's saved sp points at a
//!    frame holding the interrupted frame pointer and PC). The pause is
//!    O(Ms).
//! 2. After the restart the profiler claims and walks each job not yet
//!    recorded; `execute` records a goroutine that is not before switching
//!    into it (or waits for the profiler's claim). No goroutine runs before
//!    its stack is recorded, so each stack is the one it had at the stop.
//! 3. `newproc` makes a goroutine born in the epoch recorded (it is not in
//!    the profile). The profiler closes the epoch when every job is done; a
//!    claim never reaches into the next epoch, which opens with the world
//!    stopped (no M inside `execute`).
//!
//! A goroutine's status and wait reason are those it has when its stack is
//! recorded: one readied after the stop but not yet run shows `runnable`.
//!
//! ## Threads outside the scheduler
//!
//! A plain `std::thread` may use every non-blocking operation (`try_send`,
//! `close`, `Mutex::try_lock`, `WaitGroup::add`, spawning). A blocking one
//! (`send`, `recv`, `select!`, `Mutex::lock`, `WaitGroup::wait`, `sleep`)
//! blocks that OS thread, as a crossbeam channel would: the thread parks a
//! **foreign G** (one per thread, never on a run queue) through the same
//! park hand-shake, and its waker wakes the thread instead of readying a
//! goroutine. While it waits, its stack from its spilled registers up is a
//! runtime-held range, so a managed value it sends stays visible to the
//! collector.
//!
//! ## Deadlock detection
//!
//! When the last M goes idle (and after a timer delivery, which may have
//! hidden the last check) the scheduler checks Go's condition: every M
//! idle, nothing runnable, no timer pending, some goroutine alive, a [`run`]
//! in progress, no [`ExternalActivity`], and no thread outside the
//! scheduler alive — the process's thread count (`/proc/self/stat`) minus
//! the Ms, the runtime's own threads ([`RuntimeThread`]) and the threads
//! waiting in [`run`]: such a thread may hold a channel and send on it
//! later (`deadcheck.rs`; `loom_deadcheck` shows that without the thread
//! count a thread readying a goroutine meets a false verdict). Then it
//! prints `fatal error: all goroutines are asleep - deadlock!` and exits 2.
//!
//! ## Stacks and memory (`stack.rs`)
//!
//! Stacks are fixed-size: each reserves its goroutine's max stack
//! ([`DEFAULT_STACK_SIZE`] = 8 MiB, configurable), carved from chunks of
//! about 4 GiB of address space, with a guard page installed by
//! `MADV_GUARD_INSTALL` (no extra VMA; `mprotect` on older kernels). Only
//! touched pages cost memory: a parked goroutine costs about one page (plus
//! a page-table page, see `stack.rs`). A guard-page hit ends in
//! `runtime: goroutine stack exceeds N-byte limit` / `fatal error: stack
//! overflow` naming the goroutine, printed by a SIGSEGV handler on each M's
//! alternate signal stack (`signal.rs`).
//!
//! ## Thread-local storage
//!
//! A goroutine may resume on another OS thread after any switch point. The
//! runtime therefore reaches its M only through `current_m()`/`getg()`,
//! which are `#[inline(never)]` and whose results are never kept across a
//! switch point; user code must not keep `thread_local!` references across
//! a blocking call either.
//!
//! ## What is not here (yet)
//!
//! * The value returned by [`run`]'s closure crosses from the main
//!   goroutine to the calling thread through a std mutex; a managed pointer
//!   in it is invisible to the collector for that instant.
//! * The stacks of threads outside the scheduler are roots only while the
//!   thread waits in a blocking gort operation; a managed pointer a plain
//!   thread keeps in a local otherwise is not seen (see gort's crate docs).
//! * The syscall test of the handler reads the interrupted instruction on
//!   x86-64 and AArch64 only; elsewhere sysmon retakes a P only from a
//!   goroutine that has run 10 ms while others wait.
//! * One global timer heap (Go has one per P); only `sleep` uses it.
//! * `gosched` puts the G at the tail of its own P's ring (Go uses the
//!   global queue); a preempted G goes to the global queue, as in Go.
//!
//! ## Rejected approaches
//!
//! * **One OS thread per goroutine.** Simple and preemptive for free, but a
//!   thread costs a kernel task, a 2–8 MiB stack reservation, and a
//!   futex-and-kernel-scheduler round trip per blocking hand-off (several µs
//!   instead of a few hundred ns); 100,000 of them exhaust thread limits and
//!   make every channel operation a system call. The collector would also
//!   have to stop threads with signals to find their stacks.
//! * **Stackless futures (async/await).** No stacks to switch, but every
//!   blocking call would have to be `async` and `.await`ed: user code would
//!   not look like Go, and values held across an await live in compiler-made
//!   state machines anywhere in the heap, which the collector could not
//!   scan as stacks. Stackful goroutines keep user code synchronous and put
//!   every live value on a stack the collector can scan conservatively.
//! * **Growable (copying or segmented) stacks.** Go copies stacks because
//!   its compiler emits stack maps for every frame; Rust frames cannot be
//!   moved, so gort reserves fixed-size stacks and relies on lazily touched
//!   pages instead.
//! * **crossbeam-deque for the run queues.** It grows, pins an epoch on
//!   every steal and is not loom-instrumented; Go's fixed ring on the
//!   facade's atomics is smaller and loom checks the real code.
//!
//! ## Conventions
//!
//! Every synchronization primitive comes from `crate::loom` (a facade over
//! std/parking_lot or loom). Broken invariants end in [`rt_throw!`], which
//! prints `fatal error: ...` and exits 2. The lock order is in
//! `docs/lock-order.md`. See `HACKING.md` at the workspace root.

#![cfg_attr(loom, allow(dead_code))]

pub mod fatal;
pub(crate) mod loom;

mod deadcheck;
mod handoff;
mod idle;
mod park;
mod runq;
mod scanstate;
mod suspend;
mod world;

#[cfg(not(all(test, loom)))]
mod api;
#[cfg(not(all(test, loom)))]
pub mod chan;
#[cfg(not(all(test, loom)))]
mod g;
#[cfg(not(all(test, loom)))]
mod gprofile;
#[cfg(not(all(test, loom)))]
pub mod hooks;
#[cfg(not(all(test, loom)))]
mod lock;
#[cfg(not(all(test, loom)))]
pub mod metrics;
#[cfg(not(all(test, loom)))]
mod panic;
#[cfg(not(all(test, loom)))]
mod preempt;
#[cfg(not(all(test, loom)))]
mod roots;
#[cfg(not(all(test, loom)))]
mod sched;
#[cfg(not(all(test, loom)))]
mod signal;
#[cfg(not(all(test, loom)))]
pub mod stack;
#[cfg(not(all(test, loom)))]
mod stw;
#[cfg(not(all(test, loom)))]
mod switch;
#[cfg(not(all(test, loom)))]
pub mod sync;
#[cfg(not(all(test, loom)))]
mod sysmon;

#[cfg(not(all(test, loom)))]
pub use api::*;
#[cfg(not(all(test, loom)))]
pub use chan::{chan, Chan};
#[cfg(not(all(test, loom)))]
pub use g::{GStatus, WaitReason};
#[cfg(not(all(test, loom)))]
pub use gprofile::{goroutine_profile, GoroutineProfile, GoroutineRecord};
#[cfg(not(all(test, loom)))]
pub use hooks::{set_recorder, SchedEvent, SchedRecorder};
#[cfg(not(all(test, loom)))]
pub use preempt::{
    blocking, ensure_p, pin_p, pin_p_raw, poll_word, set_async_unsafe_check, NoPreempt, PinnedP,
};
#[cfg(not(all(test, loom)))]
pub use sched::{sched_stats, Config, PStatus, SchedStats, MAX_PROCS};
#[cfg(not(all(test, loom)))]
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
#[cfg(not(all(test, loom)))]
pub use stw::{
    begin_stack_scan, end_stack_scan, finish_stack_scan, for_each_goroutine_stack,
    for_each_p_at_safepoint, for_each_runtime_range, scan_stack_jobs, set_idle_mark_hook,
    set_stack_scan_hooks, stack_scan_counts, start_the_world, stop_the_world, GoroutineStack,
    StackScanCounts, StackScanHooks, StwReason, WorldStopped,
};
#[cfg(not(all(test, loom)))]
pub use sysmon::FORCE_PREEMPT;

#[cfg(test)]
mod tests;
