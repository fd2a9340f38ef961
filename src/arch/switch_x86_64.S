/* x86_64 (SysV ABI) context switch; see arch/arch.h for the contract.
 *
 * Saved frame, from the saved stack pointer upwards:
 *   0: MXCSR (4 bytes, only with GOC_SWITCH_MXCSR)  4: x87 control word
 *   (8 bytes in all)
 *   8: r15  16: r14  24: r13  32: r12  40: rbx  48: rbp  56: return address
 */
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
    subq    $8, %rsp
#ifdef GOC_SWITCH_MXCSR
    stmxcsr (%rsp)
#endif
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
#ifdef GOC_SWITCH_MXCSR
    ldmxcsr (%rsp)
#endif
    fldcw   4(%rsp)
    addq    $8, %rsp
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
