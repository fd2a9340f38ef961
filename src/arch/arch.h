/* arch/arch.h — the machine-dependent context switch.
 *
 * A goroutine's saved context is just its stack pointer: garch_switch pushes the
 * callee-saved registers and the floating-point control words (x86_64: MXCSR and
 * the x87 control word; aarch64: FPCR) onto the running stack, stores the stack
 * pointer into *save_sp, loads new_sp and pops the same frame from there. Every
 * other register is caller-saved under the SysV / AAPCS64 ABIs, so the C
 * compiler has already spilled whatever it needs across the call.
 *
 * A fresh stack is given a synthetic frame (garch_init_stack) whose return
 * address is garch_entry, a trampoline that calls fn(arg) with a terminated
 * call-frame chain (so unwinders stop there), and traps if fn returns.
 *
 * The SSE control register (MXCSR: SSE rounding mode and exception masks)
 * is per-thread state, as in Go, unless the library is built with
 * -DGOC_SWITCH_MXCSR: saving it costs stmxcsr (4.2 ns on this machine) and
 * ldmxcsr (3 ns) per switch, half the cost of a yield. So a goroutine that
 * changes the SSE rounding mode or exception masks must restore them before
 * its next blocking goc call, or run under goc_lock_os_thread (then the
 * thread runs nothing else). The x87 control word (1 ns) and FPCR on
 * aarch64 are saved per goroutine.
 *
 * Rejected: ucontext (swapcontext makes a sigprocmask syscall per switch:
 * 219 ns here versus ~5 ns), setjmp/longjmp (undefined when jumping to a
 * stack that is not an ancestor frame; glibc mangles the saved SP).
 */
#ifndef GOC_ARCH_H
#define GOC_ARCH_H

#include <stddef.h>

/* Save the current context into *save_sp and resume the one saved at new_sp. */
void garch_switch(void **save_sp, void *new_sp);

/* Prepare a stack whose top (highest address, exclusive) is `top` so that the
 * first garch_switch to the returned sp calls fn(arg). fn must never return. */
void *garch_init_stack(void *top, void (*fn)(void *), void *arg);

/* Saved program counter / frame pointer of a switched-out context (for
 * tracebacks of parked goroutines). */
void *garch_saved_pc(void *sp);
void *garch_saved_fp(void *sp);

#endif
