/* aarch64 (AAPCS64) context switch; see arch/arch.h for the contract.
 *
 * The saved frame's layout is in arch/frame.h (GARCH_FRAME_*), shared
 * with frame.c.
 *
 * Calls and returns stay balanced (see switch_x86_64.S): a context is saved
 * by the call to garch_switch, a fresh goroutine is entered by a blr from
 * garch_start on its own stack and left by its entry's return.
 */
#include "arch/frame.h"

    .text

    .globl  garch_switch
    .hidden garch_switch
    .type   garch_switch, %function
    .p2align 4
garch_switch:                   /* x0 = void **save_sp, x1 = void *new_sp */
    .cfi_startproc
    sub     sp, sp, #GARCH_FRAME_SIZE
    stp     x19, x20, [sp, #GARCH_FRAME_X19]
    stp     x21, x22, [sp, #GARCH_FRAME_X21]
    stp     x23, x24, [sp, #GARCH_FRAME_X23]
    stp     x25, x26, [sp, #GARCH_FRAME_X25]
    stp     x27, x28, [sp, #GARCH_FRAME_X27]
    stp     x29, x30, [sp, #GARCH_FRAME_X29]
    stp     d8, d9, [sp, #GARCH_FRAME_D8]
    stp     d10, d11, [sp, #GARCH_FRAME_D10]
    stp     d12, d13, [sp, #GARCH_FRAME_D12]
    stp     d14, d15, [sp, #GARCH_FRAME_D14]
    mrs     x9, fpcr
    str     x9, [sp, #GARCH_FRAME_FPCR]
    mov     x9, sp
    str     x9, [x0]
    tbnz    x1, #0, garch_start /* a fresh stack (GARCH_START_TAG): call its entry there */
    mov     sp, x1
.Lresume:                       /* sp = a frame garch_switch saved */
    ldr     x9, [sp, #GARCH_FRAME_FPCR]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #GARCH_FRAME_X19]
    ldp     x21, x22, [sp, #GARCH_FRAME_X21]
    ldp     x23, x24, [sp, #GARCH_FRAME_X23]
    ldp     x25, x26, [sp, #GARCH_FRAME_X25]
    ldp     x27, x28, [sp, #GARCH_FRAME_X27]
    ldp     x29, x30, [sp, #GARCH_FRAME_X29]
    ldp     d8, d9, [sp, #GARCH_FRAME_D8]
    ldp     d10, d11, [sp, #GARCH_FRAME_D10]
    ldp     d12, d13, [sp, #GARCH_FRAME_D12]
    ldp     d14, d15, [sp, #GARCH_FRAME_D14]
    add     sp, sp, #GARCH_FRAME_SIZE
    ret
    .cfi_endproc
    .size   garch_switch, .-garch_switch

/* A fresh goroutine's first and last code, on its own stack: x1 = the start
 * block's address + GARCH_START_TAG (entry function and argument, 16-byte
 * aligned). The entry runs with FPCR 0 (round to nearest, no traps) and a
 * terminated frame chain (x29 = 0; the CFI marks the return address
 * undefined). Its return value (x0) is the context to resume: a saved
 * frame, or another start block. */
    .globl  garch_start
    .hidden garch_start
    .type   garch_start, %function
    .p2align 4
garch_start:
    .cfi_startproc
    .cfi_undefined x30
    sub     x9, x1, #GARCH_START_TAG
    mov     sp, x9
    msr     fpcr, xzr
    mov     x29, #0
    ldr     x0, [sp, #GARCH_START_ARG]
    ldr     x9, [sp, #GARCH_START_FN]
    blr     x9
    mov     x1, x0
    tbnz    x1, #0, garch_start
    mov     sp, x1
    b       .Lresume
    .cfi_endproc
    .size   garch_start, .-garch_start

    .section .note.GNU-stack,"",@progbits
