/* diag/diag.h — Go's diagnostics: panics, fatal errors, tracebacks, the
 * stack-overflow handler. Reads scheduler state; never changes it. */
#ifndef GOC_DIAG_H
#define GOC_DIAG_H

#include <stdarg.h>

#include "sched/sched.h"

void gdiag_init(void);           /* once, at runtime start: signal handlers */
void gdiag_minit(m *mp);         /* on every new M: its signal stack */
_Noreturn void gdiag_throw(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));
/* A goroutine ran off its stack: report it and exit(2). ctx: the signal's
 * ucontext, or NULL when detected by canary. */
_Noreturn void gdiag_stack_overflow(g *gp, void *ctx);
/* Plain threads blocked inside goc (for the deadlock detector). */
void gdiag_thread_blocked(int delta);
int gdiag_threads_blocked(void);
uint64_t gdiag_threads_gen(void);
/* "fatal error: all goroutines are asleep - deadlock!", every goroutine's
 * stack, exit(2). Called with the world stopped. */
_Noreturn void gdiag_deadlock(void);
/* Print "goroutine N [state]:" and the current thread's backtrace to fd. */
void gdiag_traceback_here(int fd, void *ucontext, int skip);

#endif
