/* x86_64 (SysV ABI) context switch; see arch/arch.h for the contract.
 *
 * The saved frame's layout is in arch/frame.h (GARCH_FRAME_*), shared
 * with frame.c: the pushes below must produce exactly that layout.
 *
 * Calls and returns stay balanced, so the return-stack predictor keeps
 * predicting the switching code's returns: every context is saved by the
 * call to garch_switch (its return address is where it resumes), a fresh
 * goroutine is entered by a call (garch_start calls its entry on the new
 * stack) and left by that entry's return (into garch_start, which then
 * resumes the context the entry returned without saving anything).
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
#ifdef GOC_SWITCH_MXCSR
    subq    $GARCH_FRAME_R15, %rsp
    stmxcsr GARCH_FRAME_MXCSR(%rsp)
    fnstcw  GARCH_FRAME_X87CW(%rsp)
#endif
    movq    %rsp, (%rdi)
    testb   $GARCH_START_TAG, %sil
    jnz     garch_start         /* a fresh stack: call its entry there */
    movq    %rsi, %rsp
.Lresume:                       /* rsp = a frame garch_switch saved */
#ifdef GOC_SWITCH_MXCSR
    ldmxcsr GARCH_FRAME_MXCSR(%rsp)
    fldcw   GARCH_FRAME_X87CW(%rsp)
    addq    $GARCH_FRAME_R15, %rsp
#endif
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   garch_switch, .-garch_switch

/* A fresh goroutine's first and last code, on its own stack. Reached by a
 * jump from garch_switch with rsi = the start block's address + GARCH_START_TAG
 * (arch/frame.h: entry function and argument, 16-byte aligned). The entry
 * is called with the default x87 control word (and, with
 * GOC_SWITCH_MXCSR, the default MXCSR: otherwise MXCSR is the thread's) and a
 * terminated frame chain (rbp = 0; the CFI marks the return address
 * undefined, so unwinders such as libunwind and gdb end the chain here).
 * When it returns, rax is the context to resume: a saved frame, or another
 * start block (its stack is another one: started the same way). */
    .globl  garch_start
    .hidden garch_start
    .type   garch_start, @function
    .p2align 4
garch_start:
    .cfi_startproc
    .cfi_undefined rip
    leaq    -GARCH_START_TAG(%rsi), %rsp
#ifdef GOC_SWITCH_MXCSR
    ldmxcsr .Lmxcsr_default(%rip)
#endif
    fldcw   .Lx87cw_default(%rip)
    xorl    %ebp, %ebp
    movq    GARCH_START_ARG(%rsp), %rdi
    call    *GARCH_START_FN(%rsp)
    movq    %rax, %rsi
    testb   $GARCH_START_TAG, %sil
    jnz     garch_start
    movq    %rsi, %rsp
    jmp     .Lresume
    .cfi_endproc
    .size   garch_start, .-garch_start

    .section .rodata
    .p2align 2
.Lmxcsr_default:
    .long   0x1f80              /* round to nearest, every exception masked */
.Lx87cw_default:
    .short  0x037f              /* the same for x87, double extended precision */

    .section .note.GNU-stack,"",@progbits
