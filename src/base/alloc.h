/* base/alloc.h — zeroed allocation that glibc's per-thread cache serves.
 *
 * glibc's calloc never takes a block from the thread's cache (tcache): it
 * always goes to the arena, and so the cache's bin of that size stays full
 * and every later free of such a block takes the arena's path too (a CAS on
 * a fastbin, or the arena lock: locked instructions each). In a process with
 * more than one thread (every goc program: sysmon), a calloc + free of a
 * small block costs ~33 ns here, malloc + memset + free ~8 ns (a loop of two
 * of each, glibc 2.36). Runtime objects made and freed per operation
 * (channels, contexts, timers, waiters) therefore come from gmem_zalloc.
 *
 * Above the cache's largest size (1,032 bytes) calloc is kept: it skips the
 * memset for fresh pages from the kernel, so a big buffered channel's ring
 * is touched only as it fills (chan/chan.c). */
#ifndef GOC_BASE_ALLOC_H
#define GOC_BASE_ALLOC_H

#include <stdlib.h>
#include <string.h>

enum { GMEM_TCACHE_MAX = 1024 };

/* calloc(1, size), from the thread cache when size fits it. */
static inline void *gmem_zalloc(size_t size) {
    if (size > GMEM_TCACHE_MAX)
        return calloc(1, size);
    void *p = malloc(size);
    if (p) {
        /* Hide that p is malloc's: GCC and clang fold malloc + memset(0)
         * back into calloc. */
        __asm__("" : "+r"(p));
        memset(p, 0, size);
    }
    return p;
}

#endif
