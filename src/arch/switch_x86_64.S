/* x86_64 (SysV ABI) context switch; see arch/arch.h for the contract.
 *
 * The saved frame's layout is in arch/frame.h (GARCH_FRAME_*), shared
 * with frame.c: the pushes below must produce exactly that layout.
 */
#include "arch/frame.h"

    .text

    .globl  garch_switch
    .hidden garch_switch
    .type   garch_switch, @function
    .p2align 4
garch_switch:                   /* rdi = void **save_sp, rsi = void *new_sp */
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $GARCH_FRAME_R15, %rsp
#ifdef GOC_SWITCH_MXCSR
    stmxcsr GARCH_FRAME_MXCSR(%rsp)
#endif
    fnstcw  GARCH_FRAME_X87CW(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
#ifdef GOC_SWITCH_MXCSR
    ldmxcsr GARCH_FRAME_MXCSR(%rsp)
#endif
    fldcw   GARCH_FRAME_X87CW(%rsp)
    addq    $GARCH_FRAME_R15, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   garch_switch, .-garch_switch

/* First code a goroutine runs: r12 = fn, r13 = arg (popped by garch_switch).
 * rsp is 16-byte aligned here, as a call requires. The CFI marks the return
 * address undefined so that unwinders (libunwind, gdb) end the chain here. */
    .globl  garch_entry
    .hidden garch_entry
    .type   garch_entry, @function
    .p2align 4
garch_entry:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    movq    %r13, %rdi
    call    *%r12
    ud2
    .cfi_endproc
    .size   garch_entry, .-garch_entry

    .section .note.GNU-stack,"",@progbits
