/* failpoint_set.c — the test hook goc_failpoint_set (see src/failpoint.h).
 *
 * Part of the goc_testing library only: the test programs arm failure sites
 * by name; the installed libgoc.a and libgoc.so do not have this function. */
#include <string.h>

#include "base/failpoint.h"
#include "base/throw.h"

static const char *const site_names[GFAIL_NSITES] = {
    [GFAIL_G_ALLOC] = "g_alloc",
    [GFAIL_STACK_ALLOC] = "stack_alloc",
    [GFAIL_THREAD_CREATE] = "thread_create",
    [GFAIL_ALLOC] = "alloc",
};

void goc_failpoint_set(const char *site, long nth) {
    for (int i = 0; i < GFAIL_NSITES; i++) {
        if (strcmp(site, site_names[i]) == 0) {
            gfail_set((enum gfail_site)i, nth);
            return;
        }
    }
    gthrow("goc_failpoint_set: unknown site \"%s\"", site);
}
