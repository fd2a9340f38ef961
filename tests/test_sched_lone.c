/* test_sched_lone.c — the lone processor's run queue without atomics
 * (issue 13): goc_maxprocs grows and shrinks while it is busy, and its
 * owner changes threads (sysmon's retake of a P left in a blocking call,
 * preemption). Each case runs in children started with GOCMAXPROCS=1;
 * exact counts. */
#include "testing.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <goc/chan.h>
#include <goc/io.h>
#include <goc/time.h>

static void spin_ns(int64_t ns) {
    int64_t until = test_now_ns() + ns;
    while (test_now_ns() < until) {
    }
}

struct pingpong {
    goc_chan *ping, *pong;
    atomic_long msgs;
    goc_waitgroup wg;
};

/* ================================================================== */
/* The lone processor's queue without atomics                          */

/* Each case runs in children started with GOCMAXPROCS=1 (the only way the
 * runtime starts with a lone processor), several times, since the queue
 * becomes shared once per process. */

enum {
    LONE_YIELDERS = 24,
    LONE_YIELDS = TEST_SCALE(4000, 400),
    LONE_PAIRS = 4,
    LONE_ROUNDS = TEST_SCALE(4000, 400),
    LONE_SPAWNS = TEST_SCALE(20000, 2000),
};

static atomic_long lone_yields, lone_msgs, lone_spawned;
static goc_waitgroup lone_wg;
static struct pingpong lone_pp[LONE_PAIRS];

/* Set once the resizing (if any) is over: the first yielder keeps the
 * queue busy at its midpoint until then, so the load cannot end first. */
static atomic_int lone_resized = 1;

static void lone_yielder(void *arg) {
    bool first = arg != NULL;
    for (int i = 0; i < LONE_YIELDS; i++) {
        if (first && i == LONE_YIELDS / 2)
            while (!atomic_load(&lone_resized))
                goc_yield(); /* not counted */
        goc_yield();
        atomic_fetch_add(&lone_yields, 1);
    }
    goc_wg_done(&lone_wg);
}

static void lone_ponger(void *arg) {
    struct pingpong *s = arg;
    long v;
    for (int i = 0; i < LONE_ROUNDS; i++) {
        CHECK(goc_chan_recv(s->ping, &v));
        CHECK_EQ_INT(v, i);
        goc_chan_send(s->pong, &v);
        atomic_fetch_add(&lone_msgs, 1);
    }
    goc_wg_done(&lone_wg);
}

static void lone_pinger(void *arg) {
    struct pingpong *s = arg;
    long v;
    for (long i = 0; i < LONE_ROUNDS; i++) {
        goc_chan_send(s->ping, &i);
        CHECK(goc_chan_recv(s->pong, &v));
        CHECK_EQ_INT(v, i);
        atomic_fetch_add(&lone_msgs, 1);
    }
    goc_wg_done(&lone_wg);
}

static void lone_child(void *arg) {
    (void)arg;
    atomic_fetch_add(&lone_spawned, 1);
    goc_wg_done(&lone_wg);
}

static void lone_spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < LONE_SPAWNS; i++)
        TEST_GO(lone_child, NULL); /* fills runnext and overflows the ring */
    goc_wg_done(&lone_wg);
}

/* Runnext, the ring and its overflow all in use on the lone processor. */
static void lone_start_load(void) {
    goc_wg_add(&lone_wg, LONE_YIELDERS + 2 * LONE_PAIRS + 1 + LONE_SPAWNS);
    for (int i = 0; i < LONE_YIELDERS; i++)
        TEST_GO(lone_yielder, i == 0 ? (void *)1 : NULL);
    for (int i = 0; i < LONE_PAIRS; i++) {
        lone_pp[i].ping = goc_chan_make(sizeof(long), 0);
        lone_pp[i].pong = goc_chan_make(sizeof(long), 0);
        TEST_GO(lone_ponger, &lone_pp[i]);
        TEST_GO(lone_pinger, &lone_pp[i]);
    }
    TEST_GO(lone_spawner, NULL);
}

static void lone_check_load(void) {
    test_wg_wait_bounded(&lone_wg, TEST_PATIENCE_S, "lone-processor load");
    CHECK_EQ_INT(atomic_load(&lone_yields), (long)LONE_YIELDERS * LONE_YIELDS);
    CHECK_EQ_INT(atomic_load(&lone_msgs), 2L * LONE_PAIRS * LONE_ROUNDS);
    CHECK_EQ_INT(atomic_load(&lone_spawned), (long)LONE_SPAWNS);
    for (int i = 0; i < LONE_PAIRS; i++) {
        goc_chan_release(lone_pp[i].ping);
        goc_chan_release(lone_pp[i].pong);
    }
}

/* A plain thread grows and shrinks gomaxprocs while the lone queue is busy
 * (at a random point of the yielders' progress): new processors start
 * stealing before its owner has noticed. */
static atomic_long lone_grown_at = -1;

static void lone_wait_progress(long want) {
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    while (atomic_load(&lone_yields) < want && !test_deadline_passed(&d))
        usleep(50);
}

static void *lone_resizer(void *arg) {
    long total = (long)LONE_YIELDERS * LONE_YIELDS;
    long at = total * (10 + (long)(intptr_t)arg % 50) / 100;
    lone_wait_progress(at);
    atomic_store(&lone_grown_at, atomic_load(&lone_yields));
    goc_maxprocs(4);
    usleep(2000);
    goc_maxprocs(1);
    usleep(1000);
    goc_maxprocs(2);
    usleep(1000);
    atomic_store(&lone_resized, 1);
    return NULL;
}

static int lone_grow_main(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_maxprocs(0), 1);
    atomic_store(&lone_resized, 0);
    lone_start_load();
    pthread_t th = test_thread_start(lone_resizer, (void *)(intptr_t)(test_now_ns() / 1000));
    lone_check_load();
    test_thread_join(th);
    /* The growth came while the queue was in use, not after. */
    CHECK_LT_INT(atomic_load(&lone_grown_at), (long)LONE_YIELDERS * LONE_YIELDS);
    CHECK_GE_INT(atomic_load(&lone_grown_at), 0L);
    return 0;
}

CHILD(lone_grow_child) {
    CHECK_EQ_INT(goc_run(lone_grow_main, NULL), 0);
    fprintf(stderr, "lone ok\n");
}

TEST(lone_queue_maxprocs_grows_while_busy) {
    struct child_opts o = {.env = {"GOCMAXPROCS=1"}, .regex = {"lone ok"}};
    for (int i = 0; i < TEST_SCALE(6, 2); i++)
        free(expect_child_opts("lone_grow_child", &o));
}

/* The lone processor changes threads: goroutines in goc_blocking leave it
 * in P_SYSCALL with work queued, so sysmon retakes it for another M (the
 * new owner uses the plain queue), and their exitsyscall finds it gone;
 * spinners in the program's own code are preempted (its P handed off by
 * the signal, or switched out asynchronously). gomaxprocs grows midway. */
enum { LH_BLOCKERS = 4, LH_BLOCKS = TEST_SCALE(200, 40), LH_SPINNERS = 2 };
static atomic_long lh_blocks;
static goc_waitgroup lh_wg;

static int lh_sleep(void *arg) {
    (void)arg;
    usleep(200);
    return 7;
}

static atomic_long lh_moved; /* goc_blocking calls that came back on another thread */

static void lh_blocker(void *arg) {
    (void)arg;
    for (int i = 0; i < LH_BLOCKS; i++) {
        long tid = test_gettid();
        CHECK_EQ_INT(goc_blocking(lh_sleep, NULL), 7);
        if (test_gettid() != tid)
            atomic_fetch_add(&lh_moved, 1);
        atomic_fetch_add(&lh_blocks, 1);
        goc_yield();
    }
    goc_wg_done(&lh_wg);
}

static void lh_spinner(void *arg) {
    (void)arg;
    spin_ns(TEST_SCALE(30, 5) * 1000000LL);
    goc_wg_done(&lh_wg);
}

static int lone_handoff_main(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_maxprocs(0), 1);
    lone_start_load();
    goc_wg_add(&lh_wg, LH_BLOCKERS + LH_SPINNERS);
    for (int i = 0; i < LH_SPINNERS; i++)
        TEST_GO(lh_spinner, NULL);
    for (int i = 0; i < LH_BLOCKERS; i++)
        TEST_GO(lh_blocker, NULL);
    if (arg != NULL) {
        goc_sleep(3 * 1000000LL);
        goc_maxprocs(2);
    }
    test_wg_wait_bounded(&lh_wg, TEST_PATIENCE_S, "blockers and spinners");
    CHECK_EQ_INT(atomic_load(&lh_blocks), (long)LH_BLOCKERS * LH_BLOCKS);
    lone_check_load();
    fprintf(stderr, "moved %ld\n", atomic_load(&lh_moved));
    return 0;
}

CHILD(lone_handoff_child) {
    CHECK_EQ_INT(goc_run(lone_handoff_main, NULL), 0);
    fprintf(stderr, "lone ok\n");
}

CHILD(lone_handoff_grow_child) {
    CHECK_EQ_INT(goc_run(lone_handoff_main, (void *)1), 0);
    fprintf(stderr, "lone ok\n");
}

TEST(lone_queue_owner_changes_threads) {
    struct child_opts o = {.env = {"GOCMAXPROCS=1"}, .regex = {"lone ok"}};
    for (int i = 0; i < TEST_SCALE(3, 1); i++) {
        char *err = expect_child_opts("lone_handoff_child", &o);
        test_note("%s", err);
        free(err);
        err = expect_child_opts("lone_handoff_grow_child", &o);
        test_note("%s", err);
        free(err);
    }
}
