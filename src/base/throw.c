/* base/throw.c — fatal errors, panics and error texts; see throw.h.
 *
 * This file and the rest of src/base are the floor every subsystem stands
 * on: assertions (assert.h), fatal errors (here), output without malloc
 * (print.c), runtime locks with ranks (lock.c, lockrank.c), failure
 * injection (failpoint.c) and the intrusive list (list.h). base calls
 * nothing above it; the printers diag registers are reached only through
 * the pointers below.
 *
 * Global state: `printers`, written once by diag's constructor (before
 * main, before any thread of ours exists), read by every fatal report;
 * `dying`, an atomic counter of fatal reports under way.
 */
#define _GNU_SOURCE
#include "base/throw.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <goc/runtime.h>

#include "base/print.h"

static const gthrow_printers *_Atomic printers;
static _Atomic int dying;

void gthrow_set_printers(const gthrow_printers *p) { atomic_store(&printers, p); }

void gfatal_begin(void) {
    if (atomic_fetch_add(&dying, 1) != 0) {
        gprint_str(2, "fatal error: panic during panic\n");
        _exit(2);
    }
}

bool gfatal_try_begin(void) { return atomic_fetch_add(&dying, 1) == 0; }

void gthrow_traceback(int fd, void *uc, int skip) {
    const gthrow_printers *p = atomic_load(&printers);
    if (p)
        p->traceback(fd, uc, skip + 1);
}

/* Frames: report is the printer's caller; skip 1 drops it, so the trace
 * starts at gthrow / goc_panic, as Go's starts at panic. After the message:
 * the goroutines keep() selects when keep is set, else every goroutine
 * (all) or the caller's traceback. */
__attribute__((noinline)) static void report(const char *prefix, const char *fmt, va_list ap,
                                             bool all, bool (*keep)(const void *gp, void *arg),
                                             void *keep_arg) {
    gprintbuf o = GPRINTBUF_INIT(2);
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    gprintf(&o, "%s%s\n\n", prefix, msg);
    gprint_flush(&o);
    const gthrow_printers *p = atomic_load(&printers);
    if (p && keep)
        p->dumpsome(2, keep, keep_arg);
    else if (p && all)
        p->dumpall(2);
    else if (p)
        p->traceback(2, NULL, 1);
}

void gthrow(const char *fmt, ...) {
    gfatal_begin();
    va_list ap;
    va_start(ap, fmt);
    report("fatal error: ", fmt, ap, false, NULL, NULL);
    va_end(ap);
    _exit(2);
}

void gthrow_all(const char *fmt, ...) {
    gfatal_begin();
    va_list ap;
    va_start(ap, fmt);
    report("fatal error: ", fmt, ap, true, NULL, NULL);
    va_end(ap);
    _exit(2);
}

void goc_panic_dump(bool (*keep)(const void *gp, void *arg), void *arg, const char *fmt, ...) {
    gfatal_begin();
    va_list ap;
    va_start(ap, fmt);
    report("panic: ", fmt, ap, false, keep, arg);
    va_end(ap);
    signal(SIGABRT, SIG_DFL); /* as goc_panic */
    abort();
}

void goc_panic(const char *fmt, ...) {
    gfatal_begin();
    va_list ap;
    va_start(ap, fmt);
    report("panic: ", fmt, ap, false, NULL, NULL);
    va_end(ap);
    /* Die of SIGABRT even if the program catches it. */
    signal(SIGABRT, SIG_DFL);
    abort();
}

const char *goc_strerror(int err) {
    if (err == -ECANCELED)
        return "context canceled";
    if (err == -ETIMEDOUT)
        return "context deadline exceeded";
    if (err == 0)
        return "success";
    const char *s = strerrordesc_np(err < 0 ? -err : err);
    return s ? s : "unknown error";
}
