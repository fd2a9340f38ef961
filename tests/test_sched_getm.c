/* test_sched_getm.c — getm, an inline thread-local load on x86-64, is
 * read afresh after every goc call that may move the goroutine to another
 * thread (issue 13). */
#include "testing.h"

#include <stdatomic.h>
#include <stdint.h>

#include <goc/io.h>
#include <goc/time.h>

/* ================================================================== */
/* getm: an inline thread-local load, never reused after a switch      */

enum { MIG_GOROUTINES = 16, MIG_ROUNDS = TEST_SCALE(5000, 500) };
static atomic_long mig_checks;
static goc_waitgroup mig_wg;

static int mig_nothing(void *arg) {
    (void)arg;
    return 0;
}

/* Every goc call that may switch can resume on another thread: what the
 * runtime reads about "the current goroutine" afterwards must be about this
 * one (goc_id reads the M's current g through getm). */
static void mig_worker(void *arg) {
    (void)arg;
    uint64_t id = goc_id();
    CHECK(id != 0);
    for (int i = 0; i < MIG_ROUNDS; i++) {
        goc_yield();
        CHECK_EQ_U64(goc_id(), id);
        if (i % 16 == 0) {
            CHECK_EQ_INT(goc_blocking(mig_nothing, NULL), 0);
            CHECK_EQ_U64(goc_id(), id);
        }
        if (i % 64 == 0) {
            goc_sleep(1000);
            CHECK_EQ_U64(goc_id(), id);
        }
        atomic_fetch_add(&mig_checks, 1);
    }
    goc_wg_done(&mig_wg);
}

GTEST(getm_fresh_after_migration) {
    int old = goc_maxprocs(4);
    goc_wg_add(&mig_wg, MIG_GOROUTINES);
    for (int i = 0; i < MIG_GOROUTINES; i++)
        TEST_GO(mig_worker, NULL);
    test_wg_wait_bounded(&mig_wg, TEST_PATIENCE_S, "migrating goroutines");
    CHECK_EQ_INT(atomic_load(&mig_checks), (long)MIG_GOROUTINES * MIG_ROUNDS);
    goc_maxprocs(old);
}
