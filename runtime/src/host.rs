//! The one place where the collector meets the scheduler.
//!
//! See [crate] for the overview. `gort-gc` never imports `gort-scheduler`
//! and the scheduler never imports the collector: the collector asks for
//! everything it needs from the world through its [`Host`] trait, and this
//! module implements that trait with scheduler calls, the way an MMTk
//! binding implements MMTk's `Collection`, `ActivePlan` and `Scanning`
//! traits (`reference/style.md` §9.2).
//!
//! | the collector asks for | the scheduler provides |
//! | --- | --- |
//! | GOMAXPROCS, the current P | [`gort_scheduler::gomaxprocs`], [`gort_scheduler::current_p`] |
//! | a safepoint poll | [`gort_scheduler::safepoint`] |
//! | stop / start the world | [`gort_scheduler::stop_the_world`] / [`gort_scheduler::start_the_world`]; the scheduler's token is kept in [`GortHost::stopped`] while the collector holds its own [`WorldStopped`] |
//! | the roots | in the pause: the stopper's stack and a new scan epoch ([`gort_scheduler::begin_stack_scan`]) and every runtime-held range, i.e. channel buffers ([`gort_scheduler::for_each_runtime_range`]); concurrently: every other goroutine stack `[saved sp, top)` ([`gort_scheduler::scan_stack_jobs`], and the scheduler itself before it runs an unscanned goroutine, through [`gort_scheduler::StackScanHooks`]); at mark termination the leftovers and the end of the epoch ([`gort_scheduler::finish_stack_scan`], [`gort_scheduler::end_stack_scan`]) |
//! | the copy barrier | [`gort_gc::barrier::copy_barrier`], the scheduler's `shade_copied` hook (channel hand-offs, start closures) |
//! | threads for mark workers and the background sweeper | OS threads of a small pool ([`WorkerPool`]), each holding an [`ExternalActivity`] guard while it works |
//! | (for `gort::trace`) the GC phases | recorded here as they pass: the stops for sweep and mark termination, the restarts, and `cycle_done` |
//! | "park me until cycle N is over" | a goroutine parks ([`gort_scheduler::park`], `WaitReason::GcWait`) and frees its P; a plain thread waits on a condition variable |
//!
//! # Why the workers hold an `ExternalActivity`
//!
//! The scheduler declares a deadlock when every goroutine is blocked and
//! nothing outside it can wake one. A goroutine parked in `runtime::gc()`
//! waits for a mark worker — an OS thread the scheduler does not know — to
//! finish the cycle and call [`Host::cycle_done`]. The guard tells the
//! deadlock detector that such a thread exists. It is taken on the thread
//! that *asks* for the worker, before that thread can park, and moved into
//! the worker, so there is no moment at which the waiter is parked and the
//! worker is not yet counted.
//!
//! # Lost wake-ups
//!
//! [`Host::block_until`] checks `done()` and registers the waiter under
//! [`GortHost::waiters`]'s lock; [`Host::cycle_done`] takes the same lock
//! before waking. The collector makes a cycle's completion visible to
//! `done()` before calling `cycle_done`, so a waiter either sees `done()`
//! true or is registered before the wake-up runs.

use crate::trace::GcPhase;
use gort_gc::host::{Host, MarkWorkerMode, RangeKind, RootVisitor, StwReason, WorldStopped};
use gort_gc::mark::MarkWorker;
use gort_gc::sweep::BackgroundSweeper;
use gort_scheduler as sched;
use gort_scheduler::{ExternalActivity, Parked, WaitReason};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Condvar, Mutex, PoisonError};

/// The collector's host: the scheduler seen through [`Host`]. One per
/// process ([`HOST`]), handed to `gort_gc::collector::install`.
#[derive(Debug)]
pub(crate) struct GortHost {
    /// The scheduler's stop-the-world token while the collector holds the
    /// matching [`WorldStopped`]. Protected by its mutex; written only by
    /// the thread that stopped the world and by the one that restarts it
    /// (the scheduler's world semaphore admits one stop at a time).
    stopped: Mutex<Option<sched::WorldStopped>>,
    /// Goroutines parked in [`Host::block_until`]. Protected by its mutex,
    /// which is also the lock `cycle_done` takes (see "Lost wake-ups").
    waiters: Mutex<Vec<Parked>>,
    /// Wakes plain threads waiting in [`Host::block_until`]; used with
    /// `waiters`' mutex.
    thread_waiters: Condvar,
    /// Threads for mark workers and sweepers.
    pool: WorkerPool,
}

/// The process's host.
pub(crate) static HOST: GortHost = GortHost {
    stopped: Mutex::new(None),
    waiters: Mutex::new(Vec::new()),
    thread_waiters: Condvar::new(),
    pool: WorkerPool::new(),
};

use crate::lock::lock;

/// The collector's reason, in the scheduler's words.
fn sched_reason(r: StwReason) -> sched::StwReason {
    match r {
        StwReason::SweepTermination => sched::StwReason::GcSweepTermination,
        StwReason::MarkTermination => sched::StwReason::GcMarkTermination,
        StwReason::ReadMemStats => sched::StwReason::ReadMemStats,
        StwReason::Other => sched::StwReason::Other,
    }
}

impl Host for GortHost {
    fn gomaxprocs(&self) -> usize {
        sched::gomaxprocs(0).max(1) as usize
    }

    #[inline]
    fn current_p(&self) -> Option<usize> {
        sched::current_p()
    }

    fn current_stack_bounds(&self) -> Option<(usize, usize)> {
        sched::current_goroutine_stack_bounds()
    }

    #[inline]
    fn pin_p(&self) -> gort_gc::heap::Pin {
        let (p, count) = sched::pin_p().into_raw();
        // SAFETY: the scheduler's pin count of the calling thread's M,
        // incremented for this pin (`PinnedP::into_raw`'s contract); the
        // collector releases it on this thread before any switch point.
        unsafe { gort_gc::heap::Pin::new(p, count) }
    }

    fn poll_word(&self) -> Option<*const u32> {
        Some(sched::poll_word())
    }

    #[inline]
    fn safepoint(&self) {
        sched::safepoint();
    }

    fn stop_the_world(&self, reason: StwReason) -> WorldStopped {
        if crate::trace::tracing() {
            match reason {
                StwReason::SweepTermination => {
                    crate::trace::gc_phase(GcPhase::SweepTerminationStop)
                }
                StwReason::MarkTermination => crate::trace::gc_phase(GcPhase::MarkTerminationStop),
                StwReason::ReadMemStats | StwReason::Other => {}
            }
        }
        let token = sched::stop_the_world(sched_reason(reason));
        let prev = lock(&self.stopped).replace(token);
        if prev.is_some() {
            gort_scheduler::rt_throw!("gort host: the world was stopped twice");
        }
        // SAFETY: `sched::stop_the_world` returned, so every P is stopped at
        // a safepoint (goroutines switch out through the context switch,
        // which spills their callee-saved registers on their stacks), and
        // they stay stopped until `start_the_world` hands the scheduler's
        // token back, which only happens when the collector returns this
        // token.
        unsafe { WorldStopped::new_unchecked(reason) }
    }

    fn start_the_world(&self, token: WorldStopped) {
        let gc_stop = matches!(
            token.reason(),
            StwReason::SweepTermination | StwReason::MarkTermination
        );
        let _consumed: WorldStopped = token;
        let Some(t) = lock(&self.stopped).take() else {
            gort_scheduler::rt_throw!("gort host: start_the_world without a stopped world");
        };
        sched::start_the_world(t);
        if gc_stop && crate::trace::tracing() {
            crate::trace::gc_phase(GcPhase::WorldRestart);
        }
    }

    fn scan_roots(&self, _w: &WorldStopped, roots: &mut dyn RootVisitor) {
        // Take the scheduler's token out for the scan so that no host lock
        // is held while the collector's visitor runs; nobody else touches
        // the slot meanwhile, because the collector restarts the world
        // only after `scan_roots` returns.
        let Some(t) = lock(&self.stopped).take() else {
            gort_scheduler::rt_throw!("gort host: scan_roots without a stopped world");
        };
        // Stacks are scanned concurrently: here only the stopper's own
        // (it runs on after the restart), and a new scan epoch opens. The
        // scheduler scans any other goroutine before running it, through
        // these hooks; mark workers scan the rest (`scan_stack_jobs`).
        sched::set_stack_scan_hooks(sched::StackScanHooks {
            scan_stack: scan_stack_hook,
            shade_copied: gort_gc::barrier::copy_barrier,
        });
        sched::set_idle_mark_hook(idle_mark_hook);
        sched::begin_stack_scan(&t, &mut |start, end| {
            roots.visit_range(RangeKind::Stack, start, end);
        });
        sched::for_each_runtime_range(&t, &mut |start, end| {
            roots.visit_range(RangeKind::RuntimeHeld, start, end);
        });
        *lock(&self.stopped) = Some(t);
    }

    fn scan_stack_jobs(&self, roots: &mut dyn RootVisitor, max_chunks: usize) -> bool {
        sched::scan_stack_jobs(max_chunks, &mut |start, end| {
            roots.visit_range(RangeKind::Stack, start, end);
        })
    }

    fn finish_stack_scan(&self, _w: &WorldStopped, roots: &mut dyn RootVisitor) -> usize {
        let Some(t) = lock(&self.stopped).take() else {
            gort_scheduler::rt_throw!("gort host: finish_stack_scan without a stopped world");
        };
        let n = sched::finish_stack_scan(&t, &mut |start, end| {
            roots.visit_range(RangeKind::Stack, start, end);
        });
        *lock(&self.stopped) = Some(t);
        n
    }

    fn end_stack_scan(&self, _w: &WorldStopped) {
        let guard = lock(&self.stopped);
        let Some(t) = guard.as_ref() else {
            gort_scheduler::rt_throw!("gort host: end_stack_scan without a stopped world");
        };
        sched::end_stack_scan(t);
    }

    fn spawn_mark_worker(&self, mode: MarkWorkerMode, worker: MarkWorker) {
        let activity = ExternalActivity::begin();
        let _ = mode; // both modes mark until there is no work (see MarkWorkerMode)
        HOST.pool.submit(Box::new(move || {
            worker.run();
            drop(activity);
        }));
    }

    fn spawn_background_sweeper(&self, sweeper: BackgroundSweeper) {
        let activity = ExternalActivity::begin();
        HOST.pool.submit(Box::new(move || {
            sweeper.run();
            drop(activity);
        }));
    }

    fn block_until(&self, done: &dyn Fn() -> bool) {
        if sched::current_goroutine_id().is_some() {
            loop {
                let waiters = lock(&self.waiters);
                if done() {
                    return;
                }
                // The guard moves into `publish`, which runs on this thread
                // before the goroutine switches away: registering and
                // unlocking happen together, so `cycle_done` cannot run
                // between our check and our registration.
                sched::park(WaitReason::GcWait, move |parked| {
                    let mut waiters = waiters;
                    waiters.push(parked);
                    drop(waiters);
                });
            }
        } else {
            // A thread without a goroutine (nothing to pin) waits on the
            // condition variable with the plain guard.
            let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            while !done() {
                waiters = self
                    .thread_waiters
                    .wait(waiters)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn cycle_done(&self) {
        if crate::trace::tracing() {
            if let Some(c) = gort_gc::collector::try_global() {
                let m = c.mem_stats();
                crate::trace::gc_phase(GcPhase::CycleDone {
                    heap_alloc: m.heap_alloc,
                    heap_goal: m.next_gc,
                });
            }
        }
        self.wake_blocked();
    }

    fn wake_blocked(&self) {
        let parked: Vec<Parked> = std::mem::take(&mut *lock(&self.waiters));
        self.thread_waiters.notify_all();
        for p in parked {
            p.unpark();
        }
    }
}

/// The scheduler's hook for a stack it scans itself, just before it runs
/// the goroutine.
fn scan_stack_hook(start: usize, end: usize) {
    if let Some(c) = gort_gc::collector::try_global() {
        c.scan_stack(start, end);
    }
}

/// The scheduler's hook for a P with nothing to run: mark one slice.
fn idle_mark_hook() -> bool {
    gort_gc::collector::try_global().is_some_and(|c| c.idle_mark())
}

/// A job for the pool.
type Job = Box<dyn FnOnce() + Send>;

/// The receiving end of the job queue, shared by the pool's threads.
type SharedReceiver = std::sync::Arc<Mutex<Receiver<Job>>>;

/// OS threads for the collector's workers. A job goes to an idle thread if
/// there is one, else to a new thread; threads never exit, so a program
/// that collects often pays for thread creation only once per concurrent
/// worker, not once per cycle.
#[derive(Debug)]
struct WorkerPool {
    /// The queue idle threads wait on; `None` until the first job.
    /// Protected by its mutex.
    queue: Mutex<Option<(Sender<Job>, SharedReceiver)>>,
    /// Threads waiting for a job. Incremented by a thread before it waits,
    /// decremented by `submit` when it hands a job to a waiting thread;
    /// changed only under `queue`'s mutex.
    idle: AtomicUsize,
    /// Threads created so far (for the thread names).
    created: AtomicUsize,
}

impl WorkerPool {
    const fn new() -> WorkerPool {
        WorkerPool {
            queue: Mutex::new(None),
            idle: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
        }
    }

    fn submit(&'static self, job: Job) {
        let mut q = lock(&self.queue);
        let (tx, rx) = q.get_or_insert_with(|| {
            let (tx, rx) = channel();
            (tx, std::sync::Arc::new(Mutex::new(rx)))
        });
        // Relaxed: `idle` is only read and written under `queue`'s mutex.
        let need_thread = self.idle.load(Ordering::Relaxed) == 0;
        if need_thread {
            let rx = rx.clone();
            let n = self.created.fetch_add(1, Ordering::Relaxed);
            // Counted before it exists, so the deadlock check never takes it
            // for a thread that could wake a goroutine.
            let mark = sched::RuntimeThread::begin();
            std::thread::Builder::new()
                .name(format!("gort-gc-worker-{n}"))
                .spawn(move || {
                    let _mark = mark;
                    self.worker_loop(rx)
                })
                .unwrap_or_else(|e| {
                    gort_scheduler::rt_throw!("gort: cannot start a collector thread: {e}")
                });
        } else {
            self.idle.fetch_sub(1, Ordering::Relaxed);
        }
        if tx.send(job).is_err() {
            gort_scheduler::rt_throw!("gort: collector thread pool is gone");
        }
    }

    fn worker_loop(&'static self, rx: SharedReceiver) {
        // Mark workers and sweepers are sampled by the CPU profiler like the
        // scheduler's threads (GC CPU shows up in profiles, as in Go). The
        // guard unregisters on every way out, unwinding included: a thread
        // must not exit registered.
        struct Profiled;
        impl Drop for Profiled {
            fn drop(&mut self) {
                gort_profiler::cpu::unregister_current_thread();
            }
        }
        gort_profiler::cpu::register_current_thread();
        let _profiled = Profiled;
        loop {
            let job = lock(&rx).recv();
            match job {
                Ok(job) => job(),
                Err(_) => return,
            }
            // Count ourselves idle before waiting again, under the queue
            // lock so `submit` sees a consistent count.
            let _q = lock(&self.queue);
            self.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    fn wait_idle(pool: &WorkerPool, n: usize) {
        let t = Instant::now();
        while {
            let _q = lock(&pool.queue);
            pool.idle.load(Ordering::Relaxed) != n
        } {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "pool threads never went idle"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn pool_runs_blocked_jobs_at_once_and_reuses_threads() {
        let pool: &'static WorkerPool = Box::leak(Box::new(WorkerPool::new()));
        for round in 0..3 {
            // Three jobs that can only finish together: each needs a thread
            // of its own (mark workers of one cycle wait for each other).
            let all = Arc::new(Barrier::new(4));
            for _ in 0..3 {
                let all = all.clone();
                pool.submit(Box::new(move || {
                    all.wait();
                }));
            }
            all.wait();
            wait_idle(pool, 3);
            // Round 0 created the threads; later rounds reuse them.
            assert_eq!(pool.created.load(Ordering::Relaxed), 3, "round {round}");
        }
    }

    #[test]
    fn stw_reasons_map_one_to_one() {
        let all = [
            StwReason::SweepTermination,
            StwReason::MarkTermination,
            StwReason::ReadMemStats,
            StwReason::Other,
        ];
        let mapped: Vec<sched::StwReason> = all.iter().map(|&r| sched_reason(r)).collect();
        assert_eq!(
            mapped,
            [
                sched::StwReason::GcSweepTermination,
                sched::StwReason::GcMarkTermination,
                sched::StwReason::ReadMemStats,
                sched::StwReason::Other,
            ]
        );
    }
}
