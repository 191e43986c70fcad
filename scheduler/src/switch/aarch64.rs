//! AArch64 (AAPCS64) context switch. See [crate::switch].
//!
//! Switch frame, from the saved stack pointer upwards (0xb0 bytes):
//!
//! ```text
//! sp+0x00  d8  d9   d10 d11  d12 d13  d14 d15
//! sp+0x40  x19 x20  x21 x22  x23 x24  x25 x26  x27 x28
//! sp+0x90  x29 (fp)           <- SAVED_FP_OFFSET
//! sp+0x98  x30 (lr, resume pc) <- SAVED_PC_OFFSET
//! sp+0xa0  FPCR
//! ```

use core::arch::naked_asm;

/// Offset of the saved frame pointer (x29) from a saved stack pointer.
pub(crate) const SAVED_FP_OFFSET: usize = 0x90;
/// Offset of the resume address (x30) from a saved stack pointer.
pub(crate) const SAVED_PC_OFFSET: usize = 0x98;

/// See [`crate::switch::switch`].
///
/// # Safety
///
/// As [`crate::switch::switch`].
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gort_switch(from: *mut usize, to: usize) {
    naked_asm!(
        "sub sp, sp, #0xb0",
        "stp d8, d9, [sp, #0x00]",
        "stp d10, d11, [sp, #0x10]",
        "stp d12, d13, [sp, #0x20]",
        "stp d14, d15, [sp, #0x30]",
        "stp x19, x20, [sp, #0x40]",
        "stp x21, x22, [sp, #0x50]",
        "stp x23, x24, [sp, #0x60]",
        "stp x25, x26, [sp, #0x70]",
        "stp x27, x28, [sp, #0x80]",
        "stp x29, x30, [sp, #0x90]",
        "mrs x9, fpcr",
        "str x9, [sp, #0xa0]",
        "mov x9, sp",
        "str x9, [x0]",
        "mov sp, x1",
        "ldr x9, [sp, #0xa0]",
        "msr fpcr, x9",
        "ldp d8, d9, [sp, #0x00]",
        "ldp d10, d11, [sp, #0x10]",
        "ldp d12, d13, [sp, #0x20]",
        "ldp d14, d15, [sp, #0x30]",
        "ldp x19, x20, [sp, #0x40]",
        "ldp x21, x22, [sp, #0x50]",
        "ldp x23, x24, [sp, #0x60]",
        "ldp x25, x26, [sp, #0x70]",
        "ldp x27, x28, [sp, #0x80]",
        "ldp x29, x30, [sp, #0x90]",
        "add sp, sp, #0xb0",
        "ret",
    )
}

/// Pushes the callee-saved registers, calls `cb(ctx, sp)`, pops them.
///
/// # Safety
///
/// `cb` must be safe to call with `ctx`.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gort_with_spilled(ctx: *mut u8, cb: extern "C" fn(*mut u8, usize)) {
    naked_asm!(
        "sub sp, sp, #0xa0",
        "stp d8, d9, [sp, #0x00]",
        "stp d10, d11, [sp, #0x10]",
        "stp d12, d13, [sp, #0x20]",
        "stp d14, d15, [sp, #0x30]",
        "stp x19, x20, [sp, #0x40]",
        "stp x21, x22, [sp, #0x50]",
        "stp x23, x24, [sp, #0x60]",
        "stp x25, x26, [sp, #0x70]",
        "stp x27, x28, [sp, #0x80]",
        "stp x29, x30, [sp, #0x90]",
        "add x29, sp, #0x90",
        "mov x2, x1",
        "mov x1, sp",
        "blr x2",
        "ldp x19, x20, [sp, #0x40]",
        "ldp x21, x22, [sp, #0x50]",
        "ldp x23, x24, [sp, #0x60]",
        "ldp x25, x26, [sp, #0x70]",
        "ldp x27, x28, [sp, #0x80]",
        "ldp x29, x30, [sp, #0x90]",
        "add sp, sp, #0xa0",
        "ret",
    )
}

/// The first "return address" of a new goroutine: calls `x20(x19)`.
#[unsafe(naked)]
unsafe extern "C" fn gort_trampoline() -> ! {
    naked_asm!("mov x0, x19", "blr x20", "brk #0")
}

/// Builds the first switch frame of a new goroutine below `top` and returns
/// the stack pointer to switch to.
///
/// # Safety
///
/// `[top - 0x100, top)` must be writable memory of a stack nobody runs on.
pub(crate) unsafe fn init_frame(top: usize, arg: usize, entry: extern "C" fn(usize) -> !) -> usize {
    let top = top & !15;
    let sp = top - 16 - 0xb0;
    let mut words = [0usize; 0xb0 / 8];
    words[0x40 / 8] = arg; // x19
    words[0x48 / 8] = entry as *const () as usize; // x20
    words[0x90 / 8] = 0; // x29: end of the frame chain
    words[0x98 / 8] = gort_trampoline as *const () as usize; // x30
    words[0xa0 / 8] = 0; // FPCR: round to nearest, no traps
                         // SAFETY: the caller guarantees the memory is writable and unused.
    unsafe {
        core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, words.len());
        core::ptr::write_bytes((top - 16) as *mut u8, 0, 16);
    }
    sp
}
