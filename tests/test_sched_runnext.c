/* test_sched_runnext.c — runnext filled by a plain release store while
 * stealers CAS it away (issue 13): four processors, ping-pong pairs and
 * spawners that keep running after readying; a displaced runnext queued
 * without a wakeup (a readier that keeps running, select chains); and the
 * global run queue's chunks; exact counts. */
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
/* A displaced runnext left queued without a wakeup                    */

/* A goroutine that readies a second one while runnext is taken leaves the
 * first queued behind it and wakes no M for it (runqready_slow): the P
 * runs both once the readier blocks. A readier that keeps running instead
 * must not strand them: sysmon wakes a P for work queued on a busy one (or
 * preempts the readier at one processor). Each round the readier hands a
 * value to two parked receivers, then spins without a goc call until both
 * have run. */
enum { DR_ROUNDS = TEST_SCALE(8, 4) };
static goc_chan *dr_chan[2];
static atomic_int dr_ran[2];
static goc_waitgroup dr_wg;

static void dr_receiver(void *arg) {
    int i = (int)(intptr_t)arg;
    for (int r = 0; r < DR_ROUNDS; r++) {
        int v;
        CHECK(goc_chan_recv(dr_chan[i], &v));
        CHECK_EQ_INT(v, r);
        atomic_store(&dr_ran[i], r + 1);
    }
    goc_wg_done(&dr_wg);
}

GTEST(readied_pair_runs_while_readier_keeps_running) {
    for (int i = 0; i < 2; i++) {
        dr_chan[i] = goc_chan_make(sizeof(int), 0);
        atomic_store(&dr_ran[i], 0);
    }
    goc_wg_add(&dr_wg, 2);
    TEST_GO(dr_receiver, (void *)(intptr_t)0);
    TEST_GO(dr_receiver, (void *)(intptr_t)1);
    int64_t worst = 0;
    for (int r = 0; r < DR_ROUNDS; r++) {
        WAIT_PARKED("chan receive", 2);
        int64_t t0 = test_now_ns(), deadline = t0 + (int64_t)(TEST_PATIENCE_S * 1e9);
        goc_chan_send(dr_chan[0], &r); /* into runnext */
        goc_chan_send(dr_chan[1], &r); /* displaces the first to the queue */
        while ((atomic_load(&dr_ran[0]) <= r || atomic_load(&dr_ran[1]) <= r) &&
               test_now_ns() < deadline) {
        }
        CHECK_MSG(atomic_load(&dr_ran[0]) > r && atomic_load(&dr_ran[1]) > r,
                  "round %d: readied goroutines stranded behind a running readier (ran %d/%d)", r,
                  atomic_load(&dr_ran[0]), atomic_load(&dr_ran[1]));
        if (test_now_ns() - t0 > worst)
            worst = test_now_ns() - t0;
    }
    test_wg_wait_bounded(&dr_wg, TEST_PATIENCE_S, "receivers");
    test_note("both ran within %.3f ms of being readied (worst round)", (double)worst / 1e6);
    for (int i = 0; i < 2; i++)
        goc_chan_release(dr_chan[i]);
}

/* Select chains at four processors: each consumer's select readies both of
 * its producers in turn (the second displacing the first, no wakeup), while
 * idle processors steal from the same queues. Every message arrives once. */
enum { SC_GROUPS = 4, SC_MSGS = TEST_SCALE(100000, 5000) };

struct selgroup {
    goc_chan *c[2];
    int64_t sum;
    long got[2];
    goc_waitgroup *wg;
};

static void sc_producer(void *arg) {
    goc_chan *c = arg;
    for (int64_t i = 0; i < SC_MSGS; i++)
        goc_chan_send(c, &i);
}

static void sc_consumer(void *arg) {
    struct selgroup *g = arg;
    for (long n = 0; n < 2L * SC_MSGS; n++) {
        int64_t v[2] = {0, 0};
        bool ok[2] = {false, false};
        goc_case cases[2] = {GOC_RECV(g->c[0], &v[0], &ok[0]), GOC_RECV(g->c[1], &v[1], &ok[1])};
        int i = goc_select(cases, 2);
        CHECK(i == 0 || i == 1);
        CHECK(ok[i]);
        g->got[i]++;
        g->sum += v[i];
    }
    goc_wg_done(g->wg);
}

GTEST(select_chains_lose_no_message_at_four_processors) {
    int old = goc_maxprocs(4);
    static struct selgroup grp[SC_GROUPS];
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, SC_GROUPS);
    for (int k = 0; k < SC_GROUPS; k++) {
        grp[k] = (struct selgroup){.wg = &wg};
        for (int i = 0; i < 2; i++) {
            grp[k].c[i] = goc_chan_make(sizeof(int64_t), 0);
            TEST_GO(sc_producer, grp[k].c[i]);
        }
        TEST_GO(sc_consumer, &grp[k]);
    }
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "select consumers");
    for (int k = 0; k < SC_GROUPS; k++) {
        CHECK_EQ_INT(grp[k].got[0], (long)SC_MSGS);
        CHECK_EQ_INT(grp[k].got[1], (long)SC_MSGS);
        CHECK_EQ_INT(grp[k].sum, (int64_t)SC_MSGS * (SC_MSGS - 1));
        for (int i = 0; i < 2; i++)
            goc_chan_release(grp[k].c[i]);
    }
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
