/* diag/diag.h — the diagnostics layer's own interface between its files
 * (traceback.c, dump.c). Nothing outside src/diag includes it: the layer is
 * reached only through what it registers (printers with base/throw,
 * handlers with src/signal) and the public goc_dump. */
#ifndef GOC_DIAG_H
#define GOC_DIAG_H

#include <signal.h>
#include <stdbool.h>

#include "base/print.h"
#include "sched/sched.h"

/* One frame: "name(...)\n\tobject+0xoff pc=0x..." (symbols looked up at pc-1). */
void diag_print_frame(gprintbuf *o, void *pc, const char *name, unsigned long off);
/* The calling thread's backtrace, or the one of signal context uc; skip
 * counts frames from diag_backtrace_to's own. */
void diag_backtrace_to(gprintbuf *o, void *uc, int skip);
/* A switched-out goroutine's backtrace, from its saved context (read
 * under allglock, or in a signal handler; dump.c unwinds snapshots itself
 * with diag_walk_saved). */
void diag_backtrace_saved(gprintbuf *o, g *gp, bool in_signal);
/* Frames unwound are bounded as libunwind's: after DIAG_MAX_FRAMES + 1,
 * "...additional frames elided...". */
enum { DIAG_MAX_FRAMES = 100 };
/* Walk the frame pointers of a switched-out goroutine whose saved context
 * is at sp, calling emit(pc, arg) from the innermost frame out. Every read
 * stays within [lo, hi), which must stay mapped (its contents may change
 * meanwhile: a parked goroutine may run again). True when frames were left
 * out (more than DIAG_MAX_FRAMES + 1). Async-signal-safe. */
bool diag_walk_saved(const void *sp, const void *lo, const void *hi,
                     void (*emit)(void *pc, void *arg), void *arg);
/* One frame named as libunwind names a caller's frame (its symbol table,
 * which dladdr does not see: static functions), else as diag_print_frame.
 * Slow (libunwind reads the object file): dump.c caches the text. Not from
 * a signal handler. */
void diag_print_pc(gprintbuf *o, void *pc);
/* "goroutine N [running]:" and the backtrace (the base/throw printer). */
void diag_traceback_here(int fd, void *uc, int skip);
/* Every goroutine (the base/throw printer for the deadlock report). */
void diag_dumpall(int fd);
/* The goroutines keep(gp, arg) selects, as goc_dump prints them. */
void diag_dumpsome(int fd, bool (*keep)(const void *gp, void *arg), void *arg);
/* The SIGQUIT handler: dump every goroutine to stderr, exit(2). */
void diag_sigquit(int sig, siginfo_t *si, void *uc);

#endif
