/* arch/arch.h — the machine-dependent context switch.
 *
 * A goroutine's saved context is just its stack pointer: garch_switch pushes the
 * callee-saved registers (and on aarch64 the floating-point control register
 * FPCR) onto the running stack, stores the stack
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
 * The x86_64 floating-point control words (MXCSR: SSE rounding mode and
 * exception masks; the x87 control word: x87 rounding and precision) are
 * per-thread state, as in Go, unless the library is built with
 * -DGOC_SWITCH_MXCSR: saving them costs stmxcsr (4.2 ns on this machine)
 * and ldmxcsr (3 ns), fnstcw and fldcw (~1 ns together) per switch, against
 * a yield of ~15 ns (without the x87 pair: yield 16.4 -> 15.5 ns, an
 * unbuffered round trip 128 -> 120). So a goroutine that changes the
 * rounding mode or exception masks (fesetround, fesetenv) must restore
 * them before its next blocking goc call, or run under goc_lock_os_thread
 * (then the thread runs nothing else). A new goroutine starts with the
 * default x87 control word (garch_start loads it: once per goroutine).
 * FPCR on aarch64 is saved per goroutine.
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
