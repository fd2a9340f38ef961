/* test_sched_runnext.c — runnext filled by a plain release store while
 * stealers CAS it away (issue 13): four processors, ping-pong pairs and
 * spawners that keep running after readying, exact counts. */
#include "testing.h"

#include <stdatomic.h>
#include <stdint.h>

#include <goc/chan.h>

static void spin_ns(int64_t ns) {
    int64_t until = test_now_ns() + ns;
    while (test_now_ns() < until) {
    }
}

/* ================================================================== */
/* runnext: stolen while its owner fills it                            */

enum { PP_PAIRS = 4, PP_ROUNDS = TEST_SCALE(20000, 2000) };

struct pingpong {
    goc_chan *ping, *pong;
    atomic_long msgs;
    goc_waitgroup wg;
};

/* The receiver is readied into runnext by each send; the sender then keeps
 * running a few microseconds, long enough for an idle processor's last
 * stealing round (which waits ~3 us for the owner) to CAS it away while
 * the owner's next send stores into the emptied slot. */
static void pp_ponger(void *arg) {
    struct pingpong *s = arg;
    long v;
    for (int i = 0; i < PP_ROUNDS; i++) {
        CHECK(goc_chan_recv(s->ping, &v));
        CHECK_EQ_INT(v, i);
        atomic_fetch_add(&s->msgs, 1);
        if (i % 4 == 0)
            spin_ns(4000);
        goc_chan_send(s->pong, &v);
    }
    goc_wg_done(&s->wg);
}

static void pp_pinger(void *arg) {
    struct pingpong *s = arg;
    long v;
    for (long i = 0; i < PP_ROUNDS; i++) {
        goc_chan_send(s->ping, &i);
        if (i % 3 == 0)
            spin_ns(4000);
        CHECK(goc_chan_recv(s->pong, &v));
        CHECK_EQ_INT(v, i);
        atomic_fetch_add(&s->msgs, 1);
    }
    goc_wg_done(&s->wg);
}

/* Spawning fills runnext and kicks the previous one to the queue. */
enum { SP_SPAWNERS = 4, SP_CHILDREN = TEST_SCALE(20000, 2000) };
static atomic_long sp_ran;
static goc_waitgroup sp_wg;

static void sp_child(void *arg) {
    (void)arg;
    atomic_fetch_add(&sp_ran, 1);
    goc_wg_done(&sp_wg);
}

static void sp_spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < SP_CHILDREN; i++) {
        TEST_GO(sp_child, NULL);
        if (i % 8 == 0)
            spin_ns(4000);
    }
    goc_wg_done(&sp_wg);
}

GTEST(runnext_stolen_while_owner_stores) {
    int old = goc_maxprocs(4);
    static struct pingpong s[PP_PAIRS];
    for (int i = 0; i < PP_PAIRS; i++) {
        s[i].ping = goc_chan_make(sizeof(long), 0);
        s[i].pong = goc_chan_make(sizeof(long), 0);
        goc_wg_add(&s[i].wg, 2);
        TEST_GO(pp_ponger, &s[i]);
        TEST_GO(pp_pinger, &s[i]);
    }
    goc_wg_add(&sp_wg, SP_SPAWNERS * (1 + SP_CHILDREN));
    for (int i = 0; i < SP_SPAWNERS; i++)
        TEST_GO(sp_spawner, NULL);
    for (int i = 0; i < PP_PAIRS; i++) {
        test_wg_wait_bounded(&s[i].wg, TEST_PATIENCE_S, "ping-pong pair");
        CHECK_EQ_INT(atomic_load(&s[i].msgs), 2L * PP_ROUNDS);
        goc_chan_release(s[i].ping);
        goc_chan_release(s[i].pong);
    }
    test_wg_wait_bounded(&sp_wg, TEST_PATIENCE_S, "spawners");
    CHECK_EQ_INT(atomic_load(&sp_ran), (long)SP_SPAWNERS * SP_CHILDREN);
    goc_maxprocs(old);
}
