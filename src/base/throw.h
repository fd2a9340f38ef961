/* base/throw.h — how the runtime dies: fatal errors and panics.
 *
 *   fatal error: <message>      gthrow: a runtime invariant broke, or a
 *                               resource the runtime cannot do without ran
 *                               out; the calling goroutine's traceback, then
 *                               exit status 2 (Go's throw).
 *   panic: <message>            goc_panic: a programming error Go panics on;
 *                               the traceback, then abort() (SIGABRT).
 *
 * Printing needs no malloc (base/print.h), so both work from a signal
 * handler and with runtime locks held. The tracebacks themselves come from
 * the diagnostics layer (src/diag), which sits above every other subsystem:
 * it registers its printers here once at load time, and base calls them
 * through these pointers, so that nothing below diag depends on it. Until
 * they are registered, only the message is printed.
 */
#ifndef GOC_BASE_THROW_H
#define GOC_BASE_THROW_H

#include <stdbool.h>

typedef struct gthrow_printers {
    /* "goroutine N [running]:" and the calling thread's backtrace to fd.
     * uc: a signal's ucontext to unwind from (then skip is ignored), or NULL
     * to unwind from here, skipping `skip` frames above the printer's caller
     * (1: the caller itself). */
    void (*traceback)(int fd, void *uc, int skip);
    /* Every goroutine, as goc_dump prints them. */
    void (*dumpall)(int fd);
    /* The goroutines gp (a g *) for which keep(gp, arg) is true, the same
     * way. keep runs under the scheduler's allg lock: it only reads. */
    void (*dumpsome)(int fd, bool (*keep)(const void *gp, void *arg), void *arg);
} gthrow_printers;

/* Called once by diag (its load-time constructor); p must stay valid. */
void gthrow_set_printers(const gthrow_printers *p);

/* The registered traceback printer, if any (for reports that print their
 * own first lines, such as the stack-overflow report). */
void gthrow_traceback(int fd, void *uc, int skip);

/* Fatal error: "fatal error: <msg>", the current goroutine's traceback,
 * _exit(2). */
_Noreturn void gthrow(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));
/* As gthrow, followed by every goroutine instead of the current one's trace
 * (the deadlock report). */
_Noreturn void gthrow_all(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));

/* As goc_panic, followed by the goroutines keep() selects (see dumpsome)
 * instead of the current one's trace: a synctest bubble's deadlock. */
_Noreturn void goc_panic_dump(bool (*keep)(const void *gp, void *arg), void *arg, const char *fmt,
                              ...) __attribute__((format(printf, 3, 4), cold));

/* The process starts dying: the first caller goes on to report; a second
 * report (a failure while reporting the first) prints "fatal error: panic
 * during panic" and exits at once. gfatal_try_begin instead returns false to
 * every caller but the first. */
void gfatal_begin(void);
bool gfatal_try_begin(void);

#endif
