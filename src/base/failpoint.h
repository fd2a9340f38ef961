/* base/failpoint.h — failure injection for tests (allocation and thread creation).
 *
 * goc_failpoint_set("g_alloc", 3) makes the 3rd call at that site from now on
 * fail (as if the allocation or pthread_create had failed); nth 0 disarms it.
 * The runtime consults gfail_hit() at each site; the cost when disarmed is one
 * relaxed load. Sites: "g_alloc", "stack_alloc", "thread_create", "alloc"
 * (general runtime allocations made on behalf of a caller).
 *
 * goc_failpoint_set is a test hook, not part of libgoc: it is defined in
 * tests/failpoint_set.c and linked only into the test programs (through the
 * goc_testing library), so the installed libraries cannot be made to fail on
 * purpose. The runtime side (the countdowns and gfail_hit) lives here and in
 * failpoint.c. */
#ifndef GOC_FAILPOINT_H
#define GOC_FAILPOINT_H

#include <stdbool.h>

enum gfail_site {
    GFAIL_G_ALLOC,
    GFAIL_STACK_ALLOC,
    GFAIL_THREAD_CREATE,
    GFAIL_ALLOC,
    GFAIL_NSITES
};

/* Test hook (tests/failpoint_set.c): arm site `site` to fail its nth call. */
void goc_failpoint_set(const char *site, long nth);

/* Arms site to fail its nth call from now on (nth <= 0: disarms it). */
void gfail_set(enum gfail_site site, long nth);
bool gfail_hit_slow(enum gfail_site site);

extern _Atomic long gfail_armed; /* number of armed sites: the fast-path check */

static inline bool gfail_hit(enum gfail_site site) {
    if (__builtin_expect(__atomic_load_n((long *)&gfail_armed, __ATOMIC_RELAXED) == 0, 1))
        return false;
    return gfail_hit_slow(site);
}

#endif
