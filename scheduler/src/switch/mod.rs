//! The context switch: gort's own, one naked function per architecture.
//!
//! See [crate] for the overview. A switch is a function call as far as the
//! compiler is concerned, so only the *callee-saved* registers of the C ABI
//! need saving; the compiler has already spilled every caller-saved value
//! that is live across the call. [`switch`] pushes the callee-saved registers
//! (and the floating-point control words, which the ABI also makes
//! callee-saved) onto the **current** stack, stores the resulting stack
//! pointer through `from`, loads `to` as the new stack pointer, pops the same
//! set and returns — into whatever code last switched away from that stack.
//!
//! Because the registers end up *on the stack*, a parked goroutine's whole
//! state lies in `[saved sp, stack top)`: that is what makes conservative
//! stack scanning complete (the collector needs no register set).
//!
//! Every switch in gort goes G → g0 (the M's scheduler stack, which is the
//! M's OS-thread stack) → G'; see `sched.rs`.
//!
//! Per-architecture files define, with identical signatures:
//!
//! * `gort_switch(from: *mut usize, to: usize)` — the switch;
//! * `gort_with_spilled(ctx, cb)` — spills the callee-saved registers and
//!   calls `cb(ctx, sp)` with the stack pointer below them (used when the
//!   goroutine that stopped the world reports its own stack);
//! * `init_frame(top, arg, entry) -> sp` — builds the first frame of a new
//!   goroutine so that the first switch to it "returns" into a trampoline
//!   that calls `entry(arg)` with an ABI-aligned stack and a null frame
//!   pointer (frame-pointer walks stop there);
//! * `SAVED_FP_OFFSET` / `SAVED_PC_OFFSET` — where, relative to a saved
//!   stack pointer, the switch frame keeps the frame pointer and the return
//!   address (for the profiler's frame-pointer walk).

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use self::aarch64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("gort-scheduler has a context switch for x86_64 and aarch64 only");

/// Switches from the current stack to `to`, saving the current stack
/// pointer in `*from`. Returns when some other code switches back to the
/// saved stack pointer.
///
/// # Safety
///
/// `from` must be valid for a write; `to` must be a stack pointer produced
/// by a previous [`switch`] (saved through its `from`) or by [`init_frame`],
/// whose stack is not in use by any other thread, and which is switched to at
/// most once.
#[inline(always)]
pub(crate) unsafe fn switch(from: *mut usize, to: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { gort_switch(from, to) }
}

/// Calls `f(sp)` where every callee-saved register of the caller has been
/// pushed on the current stack above `sp`: `[sp, stack top)` then holds
/// every value the caller's frames keep in registers.
pub(crate) fn with_spilled_registers(f: &mut dyn FnMut(usize)) {
    extern "C" fn tramp(ctx: *mut u8, sp: usize) {
        // SAFETY: `ctx` is the `&mut &mut dyn FnMut` passed below, alive for
        // the duration of the call.
        let f = unsafe { &mut *(ctx as *mut &mut dyn FnMut(usize)) };
        f(sp)
    }
    let mut f = f;
    // SAFETY: `tramp` matches the callback signature, and `ctx` points to a
    // live `&mut dyn FnMut` for the duration of the call.
    unsafe { gort_with_spilled((&mut f) as *mut &mut dyn FnMut(usize) as *mut u8, tramp) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // A bare switch test: no scheduler, one coroutine on a Vec-backed stack.
    static mut MAIN_SP: usize = 0;
    static mut CO_SP: usize = 0;
    static mut COUNTER: u64 = 0;

    extern "C" fn co_entry(arg: usize) -> ! {
        for i in 0..3 {
            // SAFETY: single-threaded test; the statics are only touched
            // between switches.
            unsafe {
                COUNTER += arg as u64 + i;
                switch(&raw mut CO_SP, MAIN_SP);
            }
        }
        // SAFETY: as above.
        unsafe { switch(&raw mut CO_SP, MAIN_SP) };
        unreachable!()
    }

    #[test]
    fn switch_round_trips_and_preserves_callee_saved_state() {
        let mut stack = vec![0u8; 64 * 1024];
        let top = stack.as_mut_ptr() as usize + stack.len();
        let mut floats = 1.5f64;
        // SAFETY: the stack is alive for the test; the frame is switched to
        // once from main and afterwards only through saved pointers.
        unsafe {
            CO_SP = init_frame(top, 10, co_entry);
            for round in 0..3 {
                switch(&raw mut MAIN_SP, CO_SP);
                floats *= 2.0;
                assert_eq!(
                    (&raw const COUNTER).read(),
                    (0..=round).map(|i| 10 + i).sum::<u64>()
                );
            }
        }
        assert_eq!(floats, 12.0);
    }

    #[test]
    fn spilled_sp_is_below_caller_frame() {
        let local = 7u64;
        let here = &local as *const u64 as usize;
        let mut seen = 0;
        with_spilled_registers(&mut |sp| seen = sp);
        assert!(seen != 0 && seen < here, "sp {seen:#x} not below {here:#x}");
        assert_eq!(seen % 8, 0);
    }
}
