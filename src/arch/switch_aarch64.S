/* aarch64 (AAPCS64) context switch; see arch/arch.h for the contract.
 *
 * The saved frame's layout is in arch/frame.h (GARCH_FRAME_*), shared
 * with frame.c.
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
    mov     sp, x1
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

/* First code a goroutine runs: x19 = fn, x20 = arg. */
    .globl  garch_entry
    .hidden garch_entry
    .type   garch_entry, %function
    .p2align 4
garch_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x30, #0
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   garch_entry, .-garch_entry

    .section .note.GNU-stack,"",@progbits
