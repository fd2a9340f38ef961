/* arch/arch.h — the machine-dependent context switch.
 *
 * A goroutine's saved context is just its stack pointer: garch_switch pushes the
 * callee-saved registers and the floating-point control words (x86_64: MXCSR and
 * the x87 control word; aarch64: FPCR) onto the running stack, stores the stack
 * pointer into *save_sp, loads new_sp and pops the same frame from there. Every
 * other register is caller-saved under the SysV / AAPCS64 ABIs, so the C
 * compiler has already spilled whatever it needs across the call.
 *
 * A fresh stack gets no synthetic frame but a start block (garch_init_stack),
 * and its context pointer is tagged (bit 0 set). garch_switch to such a
 * context saves the current one as usual, then garch_start calls fn(arg) on
 * the new stack with a terminated call-frame chain (so unwinders stop
 * there). fn's return value is the context to resume next: fn's return is
 * the goroutine's last switch, made without saving anything. So a
 * goroutine is entered by a call and left by a return, and every other
 * switch resumes a context at the return address its own call to
 * garch_switch saved: calls and returns stay balanced, and the CPU's
 * return-stack predictor keeps predicting returns after a goroutine starts
 * or exits (a ret into a trampoline, or calls that never return, cost a
 * misprediction, ~9.5 ns here, for each of the next 3-4 returns of
 * whoever ran next).
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
 * first garch_switch to the returned context calls fn(arg) on it. When fn
 * returns a context, that context is resumed (a saved one, or another fresh
 * stack's, which is then started the same way); the stack of fn is no longer
 * used from then on. */
void *garch_init_stack(void *top, void *(*fn)(void *), void *arg);

/* Saved program counter / frame pointer of a switched-out context (for
 * tracebacks of parked goroutines); NULL for a fresh stack's context. */
void *garch_saved_pc(void *sp);
void *garch_saved_fp(void *sp);

#endif
