//! Channels: Go's `hchan` — a ring buffer, a queue of blocked receivers and
//! a queue of blocked senders, under one lock — and `select`.
//!
//! See [crate] for the overview. The rules are Go's (`chan.go`):
//!
//! * **send**: a waiting receiver takes the value directly (copied into the
//!   receiver's own stack slot); else the buffer takes it if not full; else
//!   the sender parks with the value *on its own stack* (a [`Sudog`] points
//!   at it) until a receiver copies it out. Send on a closed channel panics.
//! * **recv**: a waiting sender hands over its value (for a buffered channel:
//!   the receiver takes the buffer's head and the sender's value goes to the
//!   tail, keeping FIFO order); else the buffer's head; else, if closed,
//!   `None`; else the receiver parks.
//! * **close** wakes every waiter: receivers get `None`, senders panic.
//!
//! Where values live, for the collector: in the channel's buffer (registered
//! in `roots.rs`, reported by [`crate::for_each_runtime_range`]) or on a
//! goroutine's stack. A value is never held anywhere else by the runtime.
//!
//! # Fields
//!
//! Everything in `ChanState` is protected by `Inner::lock` (a spin lock
//! that is never held across a switch point). A [`Sudog`] on a wait queue is
//! owned by its parked goroutine's stack; the waker that dequeues it writes
//! `success` (and the value) before unparking, and the goroutine reads them
//! after it resumes (ordered by the park hand-shake).

use crate::g::{WaitReason, G};
use crate::lock::SpinLock;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use crate::sched;
use std::collections::VecDeque;
use std::mem::MaybeUninit;

/// A waiting goroutine on a channel queue (Go's `sudog`). Lives on the
/// waiter's stack (or in its select's case list) while it waits.
#[derive(Debug)]
pub struct Sudog {
    g: *mut G,
    /// Where the value is (send) or goes (recv).
    elem: *mut u8,
    /// `Some(i)`: case `i` of a select; the waker must win the G's
    /// `select_done` CAS first.
    select_case: Option<u32>,
    /// Written by the waker: `true` for a completed transfer, `false` when
    /// woken by `close`.
    success: bool,
}

impl Sudog {
    fn new(g: *mut G, elem: *mut u8, select_case: Option<u32>) -> Sudog {
        Sudog {
            g,
            elem,
            select_case,
            success: false,
        }
    }
}

#[derive(Debug, Default)]
struct WaitQ(VecDeque<*mut Sudog>);

impl WaitQ {
    /// Takes the first waiter that can still be woken: a select waiter
    /// whose goroutine was already won by another case is dropped.
    fn dequeue(&mut self) -> Option<*mut Sudog> {
        while let Some(sg) = self.0.pop_front() {
            // SAFETY: a queued sudog stays valid until its goroutine removes
            // it or is woken through it; we hold the channel lock.
            let s = unsafe { &*sg };
            if let Some(i) = s.select_case {
                // SAFETY: Gs are never freed.
                let g = unsafe { &*s.g };
                // AcqRel: one winner per select; pairs with the selecting
                // G's reset of `select_done` (before it enqueued).
                if g.select_done
                    .compare_exchange(0, i + 1, AcqRel, Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            return Some(sg);
        }
        None
    }

    fn remove(&mut self, sg: *mut Sudog) {
        if let Some(at) = self.0.iter().position(|&x| x == sg) {
            self.0.remove(at);
        }
    }
}

struct ChanState<T> {
    buf: Box<[MaybeUninit<T>]>,
    head: usize,
    len: usize,
    closed: bool,
    recvq: WaitQ,
    sendq: WaitQ,
}

struct Inner<T> {
    lock: SpinLock,
    state: UnsafeCell<ChanState<T>>,
    cap: usize,
    /// Slot in the runtime-range registry, if the buffer has bytes.
    root: Option<usize>,
}

// SAFETY: the state is only touched under `lock`; values of T move between
// goroutines, hence T: Send.
unsafe impl<T: Send> Sync for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Inner<T> {}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        if let Some(r) = self.root {
            crate::roots::unregister(r);
        }
        self.state.with_mut(|s| {
            // SAFETY: last reference: nobody else can touch the state.
            let s = unsafe { &mut *s };
            for i in 0..s.len {
                let at = (s.head + i) % self.cap;
                // SAFETY: slots [head, head+len) hold initialised values.
                unsafe { s.buf[at].assume_init_drop() };
            }
        });
    }
}

/// A channel (`make(chan T, cap)`). Cloning gives another handle to the
/// same channel.
pub struct Chan<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Chan({:p}, cap {})",
            Arc::as_ptr(&self.inner),
            self.inner.cap
        )
    }
}

/// The largest channel buffer, with Go's numbers (`makechan` in
/// `chan.go`): `maxAlloc` on 64-bit Linux (`1 << 48`) minus `hchanSize`
/// (the 96-byte channel header Go allocates with the buffer).
pub const MAX_CHAN_BUFFER: usize = (1 << 48) - HCHAN_SIZE;

/// Go's `hchanSize` on 64-bit platforms.
const HCHAN_SIZE: usize = 96;

/// Go's panic message for an impossible `make(chan T, cap)`.
pub const MAKECHAN_SIZE_OUT_OF_RANGE: &str = "makechan: size out of range";

/// Bytes of the buffer of `make(chan T, cap)` for elements of `elem_size`
/// bytes, or `None` when `cap` is out of range: negative as a Go `int`
/// (above `isize::MAX`), or a buffer whose size overflows or exceeds
/// [`MAX_CHAN_BUFFER`]. Pure, so it is tested over every boundary.
#[inline]
pub const fn chan_buffer_bytes(elem_size: usize, cap: usize) -> Option<usize> {
    if cap > isize::MAX as usize {
        return None;
    }
    match elem_size.checked_mul(cap) {
        Some(bytes) if bytes <= MAX_CHAN_BUFFER => Some(bytes),
        _ => None,
    }
}

/// `make(chan T, cap)`: `cap == 0` is unbuffered.
///
/// A capacity out of range ([`chan_buffer_bytes`]) panics with Go's
/// `makechan: size out of range`; a buffer in range that the system cannot
/// provide is Go's `fatal error: out of memory` (exit 2), never an abort.
/// Element types of 64 KiB or more do not compile, as in Go ("channel
/// element type too large").
#[track_caller]
pub fn chan<T: Send>(cap: usize) -> Chan<T> {
    const {
        assert!(
            core::mem::size_of::<T>() < 1 << 16,
            "channel element type too large (>64kB)"
        )
    };
    let Some(bytes) = chan_buffer_bytes(core::mem::size_of::<T>(), cap) else {
        makechan_size_out_of_range()
    };
    let mut buf: Vec<MaybeUninit<T>> = Vec::new();
    if buf.try_reserve_exact(cap).is_err() {
        // Go: `runtime: out of memory: cannot allocate N-byte block`, then
        // `fatal error: runtime: out of memory`.
        eprintln!("runtime: out of memory: cannot allocate {bytes}-byte block (channel buffer)");
        crate::rt_throw!("runtime: out of memory");
    }
    // SAFETY: the capacity is at least `cap` (reserved above), and
    // `MaybeUninit` slots need no initialisation.
    unsafe { buf.set_len(cap) };
    let buf = buf.into_boxed_slice();
    let root = if bytes > 0 {
        let start = buf.as_ptr() as usize;
        Some(crate::roots::register(start, start + bytes))
    } else {
        None
    };
    Chan {
        inner: Arc::new(Inner {
            lock: SpinLock::new(),
            state: UnsafeCell::new(ChanState {
                buf,
                head: 0,
                len: 0,
                closed: false,
                recvq: WaitQ::default(),
                sendq: WaitQ::default(),
            }),
            cap,
            root,
        }),
    }
}

/// Go's `makechan` panic.
#[cold]
#[inline(never)]
#[track_caller]
fn makechan_size_out_of_range() -> ! {
    panic!("{}", MAKECHAN_SIZE_OUT_OF_RANGE)
}

/// The copy barrier for a value of `T` at `v` that is about to move from
/// one goroutine's stack to another's or to a channel buffer (see
/// `scanstate.rs` and the crate doc, "Concurrent stack scanning"). One
/// relaxed load when the collector is not scanning stacks; nothing for a
/// value smaller than a word.
#[inline]
fn copy_barrier<T>(v: *const T) {
    crate::stw::copy_barrier(v as usize, core::mem::size_of::<T>());
}

/// Outcome of a non-blocking attempt.
enum Try {
    Done,
    WouldBlock,
    Closed,
}

impl<T: Send> Chan<T> {
    /// # Safety
    ///
    /// The caller must hold `self.inner.lock`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn state(&self) -> &mut ChanState<T> {
        // SAFETY: the caller holds the lock, which protects the state.
        self.inner.state.with_mut(|s| unsafe { &mut *s })
    }

    /// Under the lock: tries to complete a send of `*val` without blocking.
    /// On `Done`, `*val` was moved out. Returns a G to ready after unlock.
    ///
    /// # Safety
    ///
    /// Lock held; `val` points to an initialised T that the caller gives up
    /// on `Done`.
    unsafe fn try_send_locked(&self, val: *mut T, wake: &mut *mut G) -> Try {
        // SAFETY: lock held (caller).
        let s = unsafe { self.state() };
        if s.closed {
            return Try::Closed;
        }
        if let Some(sg) = s.recvq.dequeue() {
            // The value moves from our stack to the parked receiver's, which
            // a mark worker may have scanned already: shade it first.
            copy_barrier(val);
            // SAFETY: a dequeued receiver's elem points at its MaybeUninit<T>
            // slot; `val` is ours to move.
            unsafe {
                let sgr = &mut *sg;
                (sgr.elem as *mut T).write(val.read());
                sgr.success = true;
                *wake = sgr.g;
            }
            return Try::Done;
        }
        if s.len < self.inner.cap {
            // Into the buffer, which was scanned when the cycle began.
            copy_barrier(val);
            let at = (s.head + s.len) % self.inner.cap;
            // SAFETY: the slot is free; `val` is ours to move.
            s.buf[at].write(unsafe { val.read() });
            s.len += 1;
            return Try::Done;
        }
        Try::WouldBlock
    }

    /// Under the lock: tries to complete a receive into `*out`.
    ///
    /// # Safety
    ///
    /// Lock held; `out` valid for a write of T.
    unsafe fn try_recv_locked(&self, out: *mut T, wake: &mut *mut G) -> Try {
        // SAFETY: lock held (caller).
        let s = unsafe { self.state() };
        if let Some(sg) = s.sendq.dequeue() {
            // SAFETY: a dequeued sender's elem points at its value, which it
            // gives up once `success` is set.
            unsafe {
                let sgr = &mut *sg;
                // Out of the parked sender's stack, perhaps not scanned yet,
                // into ours or the buffer (both scanned): shade it first.
                copy_barrier(sgr.elem as *const T);
                let v = (sgr.elem as *mut T).read();
                if self.inner.cap == 0 {
                    out.write(v);
                } else {
                    // Full buffer: take the head, the sender's value goes to
                    // the tail.
                    out.write(s.buf[s.head].assume_init_read());
                    s.buf[s.head].write(v);
                    s.head = (s.head + 1) % self.inner.cap;
                }
                sgr.success = true;
                *wake = sgr.g;
            }
            return Try::Done;
        }
        if s.len > 0 {
            // SAFETY: slot `head` holds an initialised value.
            unsafe { out.write(s.buf[s.head].assume_init_read()) };
            // Clear the slot so the collector's conservative scan of the
            // buffer does not keep the old value alive.
            // SAFETY: the slot is now logically uninitialised; zeroing it is
            // writing plain bytes into MaybeUninit.
            unsafe { core::ptr::write_bytes(s.buf[s.head].as_mut_ptr(), 0, 1) };
            s.head = (s.head + 1) % self.inner.cap;
            s.len -= 1;
            return Try::Done;
        }
        if s.closed {
            return Try::Closed;
        }
        Try::WouldBlock
    }

    /// `ch <- v`: blocks until a receiver or the buffer takes `v`.
    ///
    /// # Panics
    ///
    /// On a closed channel (`send on closed channel`), as in Go. Outside a
    /// goroutine (a plain `std::thread`) it blocks the OS thread instead of
    /// parking a goroutine.
    pub fn send(&self, v: T) {
        crate::safepoint();
        let mut v = MaybeUninit::new(v);
        let mut wake = core::ptr::null_mut();
        self.inner.lock.lock();
        // SAFETY: lock held; `v` is initialised and given up on Done.
        match unsafe { self.try_send_locked(v.as_mut_ptr(), &mut wake) } {
            Try::Done => {
                self.inner.lock.unlock();
                if !wake.is_null() {
                    sched::unpark(wake);
                }
                return;
            }
            Try::Closed => {
                self.inner.lock.unlock();
                // SAFETY: not moved out.
                drop(unsafe { v.assume_init() });
                panic!("send on closed channel");
            }
            Try::WouldBlock => {}
        }
        // Park with the value on our own stack.
        let mut sg = Sudog::new(core::ptr::null_mut(), v.as_mut_ptr() as *mut u8, None);
        let sgp: *mut Sudog = &mut sg;
        sched::park_with(WaitReason::ChanSend, |g| {
            // SAFETY: `sgp` points at our own stack frame; no waker can see
            // it before it is queued below.
            unsafe { (*sgp).g = g };
            // SAFETY: lock held.
            unsafe { self.state() }.sendq.0.push_back(sgp);
            self.inner.lock.unlock();
        });
        if !sg.success {
            // Woken by close: the value is still ours.
            // SAFETY: not moved out (success is false).
            drop(unsafe { v.assume_init() });
            panic!("send on closed channel");
        }
    }

    /// `v, ok := <-ch`: blocks until a value arrives; `None` once the
    /// channel is closed and drained.
    ///
    /// Outside a goroutine (a plain `std::thread`) it blocks the OS thread
    /// instead of parking a goroutine.
    pub fn recv(&self) -> Option<T> {
        crate::safepoint();
        let mut out = MaybeUninit::<T>::uninit();
        let mut wake = core::ptr::null_mut();
        self.inner.lock.lock();
        // SAFETY: lock held; `out` is writable.
        match unsafe { self.try_recv_locked(out.as_mut_ptr(), &mut wake) } {
            Try::Done => {
                self.inner.lock.unlock();
                if !wake.is_null() {
                    sched::unpark(wake);
                }
                // SAFETY: written by try_recv_locked.
                return Some(unsafe { out.assume_init() });
            }
            Try::Closed => {
                self.inner.lock.unlock();
                return None;
            }
            Try::WouldBlock => {}
        }
        let mut sg = Sudog::new(core::ptr::null_mut(), out.as_mut_ptr() as *mut u8, None);
        let sgp: *mut Sudog = &mut sg;
        sched::park_with(WaitReason::ChanReceive, |g| {
            // SAFETY: `sgp` points at our own stack frame; no waker can see
            // it before it is queued below.
            unsafe { (*sgp).g = g };
            // SAFETY: lock held.
            unsafe { self.state() }.recvq.0.push_back(sgp);
            self.inner.lock.unlock();
        });
        if sg.success {
            // SAFETY: the sender wrote the value before setting success.
            Some(unsafe { out.assume_init() })
        } else {
            None
        }
    }

    /// Sends without blocking: `Err(v)` hands the value back when no receiver
    /// waits and the buffer is full.
    ///
    /// # Panics
    ///
    /// On a closed channel, as Go's `select { case ch <- v: default: }` does.
    pub fn try_send(&self, v: T) -> Result<(), T> {
        let mut v = MaybeUninit::new(v);
        let mut wake = core::ptr::null_mut();
        self.inner.lock.lock();
        // SAFETY: lock held; `v` initialised.
        let r = unsafe { self.try_send_locked(v.as_mut_ptr(), &mut wake) };
        self.inner.lock.unlock();
        match r {
            Try::Done => {
                if !wake.is_null() {
                    sched::unpark(wake);
                }
                Ok(())
            }
            // SAFETY: not moved out.
            Try::WouldBlock => Err(unsafe { v.assume_init() }),
            Try::Closed => {
                // SAFETY: not moved out.
                drop(unsafe { v.assume_init() });
                panic!("send on closed channel")
            }
        }
    }

    /// Receives without blocking: `None` when nothing is ready (or the
    /// channel is closed and drained).
    pub fn try_recv(&self) -> Option<T> {
        let mut out = MaybeUninit::<T>::uninit();
        let mut wake = core::ptr::null_mut();
        self.inner.lock.lock();
        // SAFETY: lock held; `out` writable.
        let r = unsafe { self.try_recv_locked(out.as_mut_ptr(), &mut wake) };
        self.inner.lock.unlock();
        match r {
            Try::Done => {
                if !wake.is_null() {
                    sched::unpark(wake);
                }
                // SAFETY: written by try_recv_locked.
                Some(unsafe { out.assume_init() })
            }
            _ => None,
        }
    }

    /// `close(ch)`: wakes every waiter (receivers get `None`, blocked
    /// senders panic).
    ///
    /// # Panics
    ///
    /// If the channel is already closed (`close of closed channel`).
    pub fn close(&self) {
        let mut wake = Vec::new();
        self.inner.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.state() };
        if s.closed {
            self.inner.lock.unlock();
            panic!("close of closed channel");
        }
        s.closed = true;
        while let Some(sg) = s.recvq.dequeue() {
            // SAFETY: dequeued sudogs are valid until their G resumes.
            unsafe { (*sg).success = false };
            // SAFETY: as above.
            wake.push(unsafe { (*sg).g });
        }
        while let Some(sg) = s.sendq.dequeue() {
            // SAFETY: as above.
            unsafe { (*sg).success = false };
            // SAFETY: as above.
            wake.push(unsafe { (*sg).g });
        }
        self.inner.lock.unlock();
        for g in wake {
            sched::unpark(g);
        }
    }

    /// Values in the buffer.
    pub fn len(&self) -> usize {
        self.inner.lock.lock();
        // SAFETY: lock held.
        let n = unsafe { self.state() }.len;
        self.inner.lock.unlock();
        n
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buffer capacity.
    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// Whether the channel has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock.lock();
        // SAFETY: lock held.
        let c = unsafe { self.state() }.closed;
        self.inner.lock.unlock();
        c
    }

    fn addr(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }
}

// ---------------------------------------------------------------------------
// select

/// One case of a `select!` (implementation detail of the macro).
#[doc(hidden)]
pub trait SelectCase {
    /// The channel's address: the lock order.
    fn chan_addr(&self) -> usize;
    /// Locks the channel.
    fn lock(&self);
    /// Unlocks the channel.
    fn unlock(&self);
    /// Under the lock: completes now if possible; may return a G to wake.
    fn poll_locked(&mut self, wake: &mut Vec<usize>) -> bool;
    /// Under the lock: enqueues a waiter for this case.
    fn enqueue_locked(&mut self, sg: &mut Sudog);
    /// Under the lock: removes the waiter.
    fn dequeue_locked(&mut self, sg: &mut Sudog);
    /// The G resumed through this case's sudog with `success`.
    fn woken(&mut self, success: bool);
    /// Whether this case is the one that fired.
    fn fired(&self) -> bool;
}

/// A `recv(ch) -> v` case.
#[doc(hidden)]
#[derive(Debug)]
pub struct RecvCase<'a, T: Send> {
    ch: &'a Chan<T>,
    slot: MaybeUninit<T>,
    /// 0: not fired, 1: fired with a value, 2: fired, closed.
    state: u8,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A receive case on `ch`.
    pub fn new(ch: &'a Chan<T>) -> Self {
        RecvCase {
            ch,
            slot: MaybeUninit::uninit(),
            state: 0,
        }
    }

    /// The received value (`None`: closed).
    pub fn take(&mut self) -> Option<T> {
        match core::mem::replace(&mut self.state, 0) {
            // SAFETY: state 1 means the slot was written.
            1 => Some(unsafe { self.slot.assume_init_read() }),
            _ => None,
        }
    }
}

impl<T: Send> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        if self.state == 1 {
            // SAFETY: state 1 means the slot holds an unread value.
            unsafe { self.slot.assume_init_drop() };
        }
    }
}

impl<T: Send> SelectCase for RecvCase<'_, T> {
    fn chan_addr(&self) -> usize {
        self.ch.addr()
    }
    fn lock(&self) {
        self.ch.inner.lock.lock();
    }
    fn unlock(&self) {
        self.ch.inner.lock.unlock();
    }
    fn poll_locked(&mut self, wake: &mut Vec<usize>) -> bool {
        let mut w = core::ptr::null_mut();
        // SAFETY: the select holds our lock; the slot is writable.
        let r = unsafe { self.ch.try_recv_locked(self.slot.as_mut_ptr(), &mut w) };
        settle(r, w, &mut self.state, wake)
    }
    fn enqueue_locked(&mut self, sg: &mut Sudog) {
        sg.elem = self.slot.as_mut_ptr() as *mut u8;
        // SAFETY: lock held by the select.
        unsafe { self.ch.state() }.recvq.0.push_back(sg);
    }
    fn dequeue_locked(&mut self, sg: &mut Sudog) {
        // SAFETY: lock held by the select.
        unsafe { self.ch.state() }.recvq.remove(sg);
    }
    fn woken(&mut self, success: bool) {
        self.state = if success { 1 } else { 2 };
    }
    fn fired(&self) -> bool {
        self.state != 0
    }
}

/// A `send(ch, v)` case.
#[doc(hidden)]
#[derive(Debug)]
pub struct SendCase<'a, T: Send> {
    ch: &'a Chan<T>,
    val: MaybeUninit<T>,
    /// 0: not fired (value still here), 1: sent, 2: closed while waiting.
    state: u8,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A send case of `v` on `ch`.
    pub fn new(ch: &'a Chan<T>, v: T) -> Self {
        SendCase {
            ch,
            val: MaybeUninit::new(v),
            state: 0,
        }
    }

    /// Called by the macro when this case fired: panics if the channel was
    /// closed, as Go does.
    pub fn finish(&mut self) {
        if self.state == 2 {
            self.state = 0; // the value is still ours: Drop frees it
            panic!("send on closed channel");
        }
    }
}

impl<T: Send> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if self.state != 1 {
            // SAFETY: not sent: the value is still here.
            unsafe { self.val.assume_init_drop() };
        }
    }
}

impl<T: Send> SelectCase for SendCase<'_, T> {
    fn chan_addr(&self) -> usize {
        self.ch.addr()
    }
    fn lock(&self) {
        self.ch.inner.lock.lock();
    }
    fn unlock(&self) {
        self.ch.inner.lock.unlock();
    }
    fn poll_locked(&mut self, wake: &mut Vec<usize>) -> bool {
        let mut w = core::ptr::null_mut();
        // SAFETY: lock held; the value is initialised and given up on Done.
        let r = unsafe { self.ch.try_send_locked(self.val.as_mut_ptr(), &mut w) };
        settle(r, w, &mut self.state, wake)
    }
    fn enqueue_locked(&mut self, sg: &mut Sudog) {
        sg.elem = self.val.as_mut_ptr() as *mut u8;
        // SAFETY: lock held by the select.
        unsafe { self.ch.state() }.sendq.0.push_back(sg);
    }
    fn dequeue_locked(&mut self, sg: &mut Sudog) {
        // SAFETY: lock held by the select.
        unsafe { self.ch.state() }.sendq.remove(sg);
    }
    fn woken(&mut self, success: bool) {
        self.state = if success { 1 } else { 2 };
    }
    fn fired(&self) -> bool {
        self.state != 0
    }
}

/// A select case's outcome of one locked attempt: `Done` fires the case
/// (state 1) and queues the counterpart it readied, if any, to be woken once
/// the locks are released; `Closed` fires it as closed (state 2); nothing
/// happens on `WouldBlock`. Returns whether the case fired.
fn settle(r: Try, readied: *mut G, state: &mut u8, wake: &mut Vec<usize>) -> bool {
    match r {
        Try::Done => {
            *state = 1;
            if !readied.is_null() {
                wake.push(readied as usize);
            }
            true
        }
        Try::Closed => {
            *state = 2;
            true
        }
        Try::WouldBlock => false,
    }
}

fn lock_all(cases: &[&mut dyn SelectCase], order: &[usize]) {
    let mut last = usize::MAX;
    for &i in order {
        let a = cases[i].chan_addr();
        if a != last {
            cases[i].lock();
            last = a;
        }
    }
}

fn unlock_all(cases: &[&mut dyn SelectCase], order: &[usize]) {
    let mut last = usize::MAX;
    for &i in order.iter().rev() {
        let a = cases[i].chan_addr();
        if a != last {
            cases[i].unlock();
            last = a;
        }
    }
}

/// The body of `select!` (Go's `selectgo`): returns the index of the case
/// that fired, or `None` if `has_default` and nothing was ready.
#[doc(hidden)]
pub fn select_impl(cases: &mut [&mut dyn SelectCase], has_default: bool) -> Option<usize> {
    crate::safepoint();
    let n = cases.len();
    if n == 0 {
        if has_default {
            return None;
        }
        // Go: `select {}` blocks forever.
        sched::park_with(WaitReason::Select, |_| {});
        crate::rt_throw!("select {{}} woke up");
    }
    // Lock order: by channel address (duplicates locked once).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| cases[i].chan_addr());
    // Poll order: random start, for fairness.
    let start = sched::cheaprand() as usize % n;
    let mut wake = Vec::new();
    lock_all(cases, &order);
    for k in 0..n {
        let i = (start + k) % n;
        if cases[i].poll_locked(&mut wake) {
            unlock_all(cases, &order);
            for g in wake {
                sched::unpark(g as *mut G);
            }
            return Some(i);
        }
    }
    if has_default {
        unlock_all(cases, &order);
        return None;
    }
    // Park on every channel at once.
    let g = sched::getg_or_foreign();
    // SAFETY: Gs are never freed; we are g.
    let gr = unsafe { &*g };
    gr.select_done.store(0, Release);
    let mut sgs: Vec<Sudog> = (0..n)
        .map(|i| Sudog::new(g, core::ptr::null_mut(), Some(i as u32)))
        .collect();
    sched::park_with(WaitReason::Select, |_| {
        for (c, sg) in cases.iter_mut().zip(sgs.iter_mut()) {
            c.enqueue_locked(sg);
        }
        unlock_all(cases, &order);
    });
    // Acquire: pairs with the waker's AcqRel CAS.
    let won = gr.select_done.load(Acquire);
    if won == 0 {
        crate::rt_throw!("select woke without a case");
    }
    let won = (won - 1) as usize;
    lock_all(cases, &order);
    for (i, (c, sg)) in cases.iter_mut().zip(sgs.iter_mut()).enumerate() {
        if i != won {
            c.dequeue_locked(sg);
        }
    }
    unlock_all(cases, &order);
    let success = sgs[won].success;
    cases[won].woken(success);
    Some(won)
}

/// `select` over channel operations, with an optional `default`.
///
/// ```
/// use gort_scheduler::{chan, run, select};
/// let got = run(|| {
///     let a = chan::<i32>(1);
///     let b = chan::<&str>(1);
///     b.send("hi");
///     select! {
///         recv(a) -> v => format!("a: {v:?}"),
///         recv(b) -> v => format!("b: {v:?}"),
///         default => "nothing".to_string(),
///     }
/// });
/// assert_eq!(got, "b: Some(\"hi\")");
/// ```
///
/// Cases: `recv(ch) -> pat => body` (the pattern binds an `Option<T>`,
/// `None` when the channel is closed), `send(ch, value) => body` (panics if
/// the channel is closed, as in Go), and at most one `default => body`,
/// which must come last. Without `default` the goroutine parks until one
/// case can proceed; with several ready cases one is chosen at random.
#[macro_export]
macro_rules! select {
    ($($tt:tt)*) => {
        $crate::__select_parse!(@cases [] [] $($tt)*)
    };
}

/// Implementation detail of [`select!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv(ch) -> pat => body
    (@cases [$($cases:tt)*] [$($disp:tt)*] recv($ch:expr) -> $v:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases
            [$($cases)* (__gort_case, $crate::chan::RecvCase::new(&$ch))]
            [$($disp)* (__gort_case, { let $v = __gort_case.take(); $body })]
            $($($rest)*)?)
    };
    // send(ch, value) => body
    (@cases [$($cases:tt)*] [$($disp:tt)*] send($ch:expr, $val:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases
            [$($cases)* (__gort_case, $crate::chan::SendCase::new(&$ch, $val))]
            [$($disp)* (__gort_case, { __gort_case.finish(); $body })]
            $($($rest)*)?)
    };
    // default => body (last)
    (@cases [$(($c:ident, $init:expr))*] [$(($d:ident, $dbody:expr))*] default => $body:expr $(,)?) => {{
        $( let mut $c = $init; )*
        let __gort_fired = $crate::chan::select_impl(
            &mut [$( &mut $c as &mut dyn $crate::chan::SelectCase ),*], true);
        match __gort_fired {
            None => $body,
            Some(_) => $crate::__select_parse!(@dispatch $(($d, $dbody))*),
        }
    }};
    // no default
    (@cases [$(($c:ident, $init:expr))*] [$(($d:ident, $dbody:expr))*]) => {{
        $( let mut $c = $init; )*
        let _ = $crate::chan::select_impl(
            &mut [$( &mut $c as &mut dyn $crate::chan::SelectCase ),*], false);
        $crate::__select_parse!(@dispatch $(($d, $dbody))*)
    }};
    (@dispatch ($d:ident, $dbody:expr) $($rest:tt)*) => {
        if $crate::chan::SelectCase::fired(&$d) { $dbody } else { $crate::__select_parse!(@dispatch $($rest)*) }
    };
    (@dispatch) => {
        ::core::unreachable!("select: no case fired")
    };
}

#[cfg(all(test, not(loom)))]
mod size_tests {
    use super::*;
    use proptest::prelude::*;

    /// The specification in 128 bits: what `chan_buffer_bytes` must say.
    fn spec(elem: usize, cap: usize) -> Option<usize> {
        let bytes = elem as u128 * cap as u128;
        (cap as u128 <= isize::MAX as u128 && bytes <= MAX_CHAN_BUFFER as u128)
            .then_some(bytes as usize)
    }

    #[test]
    fn every_boundary_for_every_element_size() {
        for elem in 0..=4096usize {
            let mut centres = vec![0, 1, isize::MAX as usize, usize::MAX];
            centres.extend(MAX_CHAN_BUFFER.checked_div(elem));
            centres.extend(usize::MAX.checked_div(elem));
            for c in centres {
                for d in -3isize..=3 {
                    if let Some(cap) = c.checked_add_signed(d) {
                        assert_eq!(
                            chan_buffer_bytes(elem, cap),
                            spec(elem, cap),
                            "elem {elem} cap {cap}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_issue_cases_are_out_of_range() {
        // chan::<[u8; 4096]>(1 << 40): 2^52 bytes, over Go's maxAlloc.
        assert_eq!(chan_buffer_bytes(4096, 1 << 40), None);
        // chan::<u64>(usize::MAX / 4): the product overflows.
        assert_eq!(chan_buffer_bytes(8, usize::MAX / 4), None);
        // The largest buffer Go accepts, and one element more.
        assert_eq!(chan_buffer_bytes(1, MAX_CHAN_BUFFER), Some((1 << 48) - 96));
        assert_eq!(chan_buffer_bytes(1, MAX_CHAN_BUFFER + 1), None);
        // Zero-sized elements: any capacity up to Go's largest int.
        assert_eq!(chan_buffer_bytes(0, isize::MAX as usize), Some(0));
        assert_eq!(chan_buffer_bytes(0, isize::MAX as usize + 1), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn buffer_sizes_match_the_wide_specification(
            elem in 0usize..=4096,
            cap in prop_oneof![any::<usize>(), 0usize..1 << 20, (1usize << 36)..(1usize << 50)],
        ) {
            prop_assert_eq!(chan_buffer_bytes(elem, cap), spec(elem, cap));
        }
    }
}
