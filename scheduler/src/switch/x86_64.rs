//! x86_64 System V context switch. See [crate::switch].
//!
//! Switch frame, from the saved stack pointer upwards (8 words):
//!
//! ```text
//! sp+0   MXCSR (low 4 bytes) | x87 control word (bytes 4..6)
//! sp+8   r15
//! sp+16  r14
//! sp+24  r13
//! sp+32  r12
//! sp+40  rbx
//! sp+48  rbp      <- SAVED_FP_OFFSET
//! sp+56  return address (resume pc) <- SAVED_PC_OFFSET
//! ```

use core::arch::naked_asm;

/// Offset of the saved frame pointer (rbp) from a saved stack pointer.
pub(crate) const SAVED_FP_OFFSET: usize = 48;
/// Offset of the resume address from a saved stack pointer.
pub(crate) const SAVED_PC_OFFSET: usize = 56;

/// See [`crate::switch::switch`].
///
/// # Safety
///
/// As [`crate::switch::switch`].
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gort_switch(from: *mut usize, to: usize) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
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
        // entry: rsp % 16 == 8
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        // after 6 pushes rsp % 16 == 8; 8 more bytes align the call
        "sub rsp, 8",
        "mov rax, rsi",
        "mov rsi, rsp",
        "call rax",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// The first "return address" of a new goroutine: calls `r13(r12)`.
#[unsafe(naked)]
unsafe extern "C" fn gort_trampoline() -> ! {
    naked_asm!("mov rdi, r12", "call r13", "ud2")
}

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control
/// word (0x037F), as the ABI specifies at process start.
const INITIAL_FP_CONTROL: usize = 0x1F80 | (0x037F << 32);

/// Builds the first switch frame of a new goroutine below `top` and returns
/// the stack pointer to switch to.
///
/// # Safety
///
/// `[top - 128, top)` must be writable memory of a stack nobody runs on.
pub(crate) unsafe fn init_frame(top: usize, arg: usize, entry: extern "C" fn(usize) -> !) -> usize {
    let top = top & !15;
    // Two zero words above the frame: a null return address and frame
    // pointer terminate frame-pointer walks and unwinders.
    let sp = top - 16 - 64;
    let words: [usize; 8] = [
        INITIAL_FP_CONTROL,
        0,                                     // r15
        0,                                     // r14
        entry as *const () as usize,           // r13
        arg,                                   // r12
        0,                                     // rbx
        0,                                     // rbp (null: end of the frame chain)
        gort_trampoline as *const () as usize, // return address
    ];
    // SAFETY: the caller guarantees the memory is writable and unused.
    unsafe {
        core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, 8);
        core::ptr::write_bytes((top - 16) as *mut u8, 0, 16);
    }
    // After `ret` pops the trampoline address, rsp = sp + 64 = top - 16,
    // which is 16-aligned: `call r13` then enters `entry` with
    // (rsp + 8) % 16 == 0, as the ABI requires.
    sp
}
