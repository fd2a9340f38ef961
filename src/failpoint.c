/* failpoint.c — see failpoint.h. Tests own the armed state; the countdowns
 * are atomics so that sites hit from many threads count each call once. */
#include "failpoint.h"

#include <stdatomic.h>
#include <string.h>

#include "debug.h"

_Atomic long gfail_armed;
static _Atomic long gfail_countdown[GFAIL_NSITES]; /* 0: disarmed; else calls left */

static const char *const gfail_names[GFAIL_NSITES] = {"g_alloc", "stack_alloc", "thread_create",
                                                      "alloc"};

void goc_failpoint_set(const char *site, long nth) {
    for (int i = 0; i < GFAIL_NSITES; i++) {
        if (strcmp(site, gfail_names[i]) != 0)
            continue;
        long old = atomic_exchange(&gfail_countdown[i], nth > 0 ? nth : 0);
        atomic_fetch_add(&gfail_armed, (nth > 0) - (old > 0));
        return;
    }
    gdiag_throw("goc_failpoint_set: unknown site \"%s\"", site);
}

bool gfail_hit_slow(enum gfail_site site) {
    long v = atomic_load(&gfail_countdown[site]);
    while (v > 0) {
        if (atomic_compare_exchange_weak(&gfail_countdown[site], &v, v - 1)) {
            if (v == 1) {
                atomic_fetch_sub(&gfail_armed, 1);
                return true;
            }
            return false;
        }
    }
    return false;
}
