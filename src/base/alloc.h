/* base/alloc.h — zeroed allocation that glibc's per-thread cache serves,
 * and dropping a reference count without a locked instruction when the
 * caller holds the only one.
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

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/failpoint.h"

enum { GMEM_TCACHE_MAX = 1024 };

/* calloc(1, size), from the thread cache when size fits it; NULL when that
 * fails, or when the tests' "alloc" failpoint (GFAIL_ALLOC) fires here. */
static inline void *gmem_zalloc(size_t size) {
    if (gfail_hit(GFAIL_ALLOC))
        return NULL;
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

/* Drop one count of *r and return its value before, as atomic_fetch_sub
 * does, without the locked instruction when it was 1. A holder that reads
 * 1 holds the only count, so nobody else can change it: every other
 * increment needs a count to start from (a reference), and every other
 * decrement a count of its own. The acquire load orders the other
 * holders' earlier decrements (release) before whatever the caller frees;
 * the store keeps a release past zero detectable. Most contexts and
 * channels are made, used and released by one goroutine. */
static inline long gref_drop(_Atomic long *r) {
    long v = atomic_load_explicit(r, memory_order_acquire);
    if (v == 1) {
        atomic_store_explicit(r, 0, memory_order_relaxed);
        return 1;
    }
    return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel);
}

#endif
