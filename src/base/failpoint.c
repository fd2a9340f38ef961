/* base/failpoint.c — see failpoint.h. Tests own the armed state; the countdowns
 * are atomics so that sites hit from many threads count each call once. */
#include "base/failpoint.h"

#include <stdatomic.h>

_Atomic long gfail_armed;
static _Atomic long gfail_countdown[GFAIL_NSITES]; /* 0: disarmed; else calls left */

void gfail_set(enum gfail_site site, long nth) {
    long old = atomic_exchange(&gfail_countdown[site], nth > 0 ? nth : 0);
    atomic_fetch_add(&gfail_armed, (nth > 0) - (old > 0));
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
