/* bench.h — helpers shared by the goc benchmark programs in bench/c/.
 *
 * Include this first in every benchmark (it sets _GNU_SOURCE before any
 * system header). Each program prints exactly one line on stdout:
 *
 *   name=<name> value=<number> unit=<ns/op|ms|B/goroutine> rss_kb=<peak RSS>
 *
 * and exits 0, or prints a diagnostic on stderr and exits 1 when the result
 * fails validation. */
#ifndef GOC_BENCH_H
#define GOC_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <goc.h>
/* The channel and mutex workloads need these; include them directly in case
 * the umbrella header does not (yet). */
#if defined(__has_include)
#if __has_include(<goc/chan.h>)
#include <goc/chan.h>
#endif
#endif

/* Monotonic clock in nanoseconds. */
static inline int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Peak resident set size of the process so far, in KiB. */
static inline long bench_peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

/* CPU time (user + system, every thread) the process has used, in ns. */
static inline int64_t bench_cpu_ns(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Current resident set size (VmRSS from /proc/self/status), in KiB. */
static inline long bench_vmrss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* N from argv[1] if given (for quick smoke runs), else def. */
static inline int64_t bench_arg_n(int argc, char **argv, int64_t def) {
    if (argc < 2)
        return def;
    char *end = NULL;
    long long n = strtoll(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n <= 0) {
        fprintf(stderr, "usage: %s [N>0]\n", argv[0]);
        exit(2);
    }
    return (int64_t)n;
}

/* Print the one machine-readable result line. */
static inline void bench_report(const char *name, double value, const char *unit) {
    printf("name=%s value=%.3f unit=%s rss_kb=%ld\n", name, value, unit, bench_peak_rss_kb());
    fflush(stdout);
}

/* Report a failed validation on stderr; the caller then exits 1. */
static inline void bench_fail(const char *name, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "bench %s: FAILED: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

/* Abort on an error from goc_go & co. (out of memory/threads: no result). */
static inline void bench_check_go(const char *name, int rc) {
    if (rc != 0) {
        bench_fail(name, "goc_go failed: %s (%d)", goc_strerror(rc), rc);
        exit(1);
    }
}

static inline void bench_warmup_fn_(void *arg) { goc_wg_done((goc_waitgroup *)arg); }

/* Start the runtime's machinery (a goroutine spawned, run, finished and
 * waited for) before the clock starts, so start-up is not timed. */
static inline void bench_warmup(void) {
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 1);
    bench_check_go("warmup", goc_go(bench_warmup_fn_, &wg));
    goc_wg_wait(&wg);
}

#endif /* GOC_BENCH_H */
