/* test_sched_runnext.c — runnext filled by a plain release store while
 * stealers CAS it away (issue 13): four processors, ping-pong pairs and
 * spawners that keep running after readying; and the global run queue's
 * chunks; exact counts. */
#include "testing.h"

#include <pthread.h>
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

/* ================================================================== */
/* The global run queue: chunks, a full ring, batches taken whole      */

/* A plain thread's close readies thousands of parked goroutines, one by
 * one, onto the global queue (a thread has no P): far more than a chunk,
 * and, in Debug builds (a ring of 8 chunks), more than the ring holds,
 * so the last chunk grows and takers cut it. Meanwhile goroutines spawned
 * without blocking overflow their P's queue into it in batches. Every one
 * runs exactly once. */
enum { GQ_PARKED = TEST_SCALE(6000, 1500), GQ_SPAWNED = TEST_SCALE(6000, 1500) };
static goc_chan *gq_start;
static atomic_long gq_ran, gq_ready;
static goc_waitgroup gq_wg;

static void gq_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&gq_ready, 1);
    CHECK(!goc_chan_recv(gq_start, NULL));
    atomic_fetch_add(&gq_ran, 1);
    goc_wg_done(&gq_wg);
}

static void gq_child(void *arg) {
    (void)arg;
    atomic_fetch_add(&gq_ran, 1);
    goc_wg_done(&gq_wg);
}

static void gq_spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < GQ_SPAWNED; i++)
        TEST_GO(gq_child, NULL);
    goc_wg_done(&gq_wg);
}

static void *gq_closer(void *arg) {
    (void)arg;
    goc_chan_close(gq_start);
    return NULL;
}

GTEST(global_queue_chunks_run_every_goroutine_once) {
    gq_start = test_chan_make(1, 0);
    goc_wg_add(&gq_wg, GQ_PARKED + GQ_SPAWNED + 1);
    for (int i = 0; i < GQ_PARKED; i++)
        TEST_GO(gq_waiter, NULL);
    WAIT_UNTIL(atomic_load(&gq_ready) == GQ_PARKED, TEST_PATIENCE_S);
    pthread_t th = test_thread_start(gq_closer, NULL);
    TEST_GO(gq_spawner, NULL);
    test_wg_wait_bounded(&gq_wg, TEST_PATIENCE_S, "global queue load");
    test_thread_join(th);
    CHECK_EQ_INT(atomic_load(&gq_ran), (long)GQ_PARKED + GQ_SPAWNED);
    goc_chan_release(gq_start);
}
