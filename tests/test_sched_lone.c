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

#include "sched/sched.h" /* gsched_runq_lone_now, gsched_procid */

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

/* Run child n times in children with environment env; each must end
 * printing ok. */
static void expect_children_ok(const char *child, const char *env, const char *ok, int n) {
    struct child_opts o = {.env = {env}, .regex = {ok}};
    for (int i = 0; i < n; i++)
        free(expect_child_opts(child, &o));
}

CHILD(lone_grow_child) {
    CHECK_EQ_INT(goc_run(lone_grow_main, NULL), 0);
    fprintf(stderr, "lone ok\n");
}

TEST(lone_queue_maxprocs_grows_while_busy) {
    expect_children_ok("lone_grow_child", "GOCMAXPROCS=1", "lone ok", TEST_SCALE(6, 2));
}

/* goc_maxprocs(1) in a program started with more processors: the queue
 * of the one P left becomes lone again (runq_relone) once every other P
 * has retired, and shared again when gomaxprocs grows, cycle after cycle
 * while the load runs; new processors start stealing at each growth.
 * Each cycle waits until a yielder has seen its queue lone (so the case
 * cannot pass without the lone mode coming back), then grows. */
enum { RELONE_CYCLES = TEST_SCALE(20, 5) };
static atomic_int relone_want;   /* the resizer waits for a lone sighting */
static atomic_long relone_seen;  /* cycles in which the lone mode came back */
static atomic_long relone_after; /* yields counted when the last cycle ended */

static void relone_yielder(void *arg) {
    (void)arg;
    /* Two of these keep switching while the counted load may be done. */
    while (!atomic_load(&lone_resized)) {
        goc_yield();
        if (atomic_load(&relone_want) && gsched_runq_lone_now() && atomic_exchange(&relone_want, 0))
            atomic_fetch_add(&relone_seen, 1);
    }
    goc_wg_done(&lone_wg);
}

static void *relone_resizer(void *arg) {
    (void)arg;
    lone_wait_progress((long)LONE_YIELDERS * LONE_YIELDS / 10);
    for (int c = 0; c < RELONE_CYCLES; c++) {
        atomic_store(&relone_want, 1);
        goc_maxprocs(1);
        test_deadline d = test_deadline_in(TEST_PATIENCE_S);
        while (atomic_load(&relone_want) && !test_deadline_passed(&d))
            usleep(50);
        goc_maxprocs(c % 2 ? 4 : 2);
        usleep(500);
    }
    atomic_store(&relone_after, atomic_load(&lone_yields));
    atomic_store(&lone_resized, 1);
    return NULL;
}

static int relone_main(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_maxprocs(0), 2);
    atomic_store(&lone_resized, 0);
    goc_wg_add(&lone_wg, 2);
    TEST_GO(relone_yielder, NULL);
    TEST_GO(relone_yielder, NULL);
    lone_start_load();
    pthread_t th = test_thread_start(relone_resizer, NULL);
    lone_check_load();
    test_thread_join(th);
    CHECK_EQ_INT(atomic_load(&relone_seen), (long)RELONE_CYCLES);
    /* The cycles ran while the counted load did, not after it. */
    CHECK_LT_INT(atomic_load(&relone_after), (long)LONE_YIELDERS * LONE_YIELDS);
    return 0;
}

CHILD(relone_child) {
    CHECK_EQ_INT(goc_run(relone_main, NULL), 0);
    fprintf(stderr, "lone ok\n");
}

TEST(lone_queue_regained_after_maxprocs_shrinks) {
    expect_children_ok("relone_child", "GOCMAXPROCS=2", "lone ok", TEST_SCALE(4, 2));
}

/* goc_maxprocs(1) takes a processor away from a goroutine that never
 * parks (it yields with nothing else queued on its P, so it would never
 * reach the scheduler by itself): the P is asked to stop at once and
 * retires; from then on every goroutine runs on P 0. */
static atomic_int shrink_stop;
static atomic_int shrink_seen[2]; /* bit i: seen on P i */
static atomic_long shrink_yields[2];
static goc_waitgroup shrink_wg;

static void shrink_spinner(void *arg) {
    int k = (int)(intptr_t)arg;
    while (!atomic_load(&shrink_stop)) {
        goc_yield();
        int id = gsched_procid();
        if (id >= 0 && id < 2)
            atomic_fetch_or(&shrink_seen[k], 1 << id);
        atomic_fetch_add(&shrink_yields[k], 1);
    }
    goc_wg_done(&shrink_wg);
}

/* Wait (bounded) until each spinner has gone round n more times. */
static void shrink_progress(long n) {
    long y0 = atomic_load(&shrink_yields[0]), y1 = atomic_load(&shrink_yields[1]);
    WAIT_UNTIL(atomic_load(&shrink_yields[0]) >= y0 + n && atomic_load(&shrink_yields[1]) >= y1 + n,
               TEST_PATIENCE_S);
}

/* A plain thread shrinks and watches: a goroutine that sleeps would be
 * readied onto the busy P and make its spinner switch by itself. */
static void *shrink_watcher(void *arg) {
    (void)arg;
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    while ((atomic_load(&shrink_seen[0]) | atomic_load(&shrink_seen[1])) != 3 &&
           !test_deadline_passed(&d))
        usleep(100);
    /* Both processors in use: one spinner on each. */
    CHECK_EQ_INT(atomic_load(&shrink_seen[0]) | atomic_load(&shrink_seen[1]), 3);
    CHECK_EQ_INT(goc_maxprocs(1), 2);
    /* P 1 retires although its spinner never parks. */
    WAIT_UNTIL(gsched_p_retired(1), TEST_PATIENCE_S);
    /* Once each spinner has gone round twice more (a sighting of P 1 made
     * before the retirement is recorded by then), every sighting is of P
     * 0, and both spinners still run. */
    shrink_progress(2);
    atomic_store(&shrink_seen[0], 0);
    atomic_store(&shrink_seen[1], 0);
    shrink_progress(100);
    CHECK_EQ_INT(atomic_load(&shrink_seen[0]) | atomic_load(&shrink_seen[1]), 1);
    atomic_store(&shrink_stop, 1);
    return NULL;
}

/* Two spinners on `procs` processors, while a plain thread runs `watcher`
 * (which stops them). */
struct spinners_case {
    int procs;
    void *(*watcher)(void *);
};

static int spinners_main(void *arg) {
    const struct spinners_case *c = arg;
    CHECK_EQ_INT(goc_maxprocs(0), c->procs);
    goc_wg_add(&shrink_wg, 2);
    TEST_GO(shrink_spinner, (void *)0);
    TEST_GO(shrink_spinner, (void *)1);
    pthread_t th = test_thread_start(c->watcher, NULL);
    goc_wg_wait(&shrink_wg); /* parked: readied only by the last spinner */
    test_thread_join(th);
    return 0;
}

CHILD(shrink_child) {
    static const struct spinners_case c = {2, shrink_watcher};
    CHECK_EQ_INT(goc_run(spinners_main, (void *)&c), 0);
    fprintf(stderr, "shrink ok\n");
}

TEST(maxprocs_shrink_retires_busy_processor) {
    expect_children_ok("shrink_child", "GOCMAXPROCS=2", "shrink ok", 1);
}

/* goc_maxprocs grows under two goroutines that only yield on the lone
 * processor (they never park, so only a yield can notice the growth and
 * share the queue): the new processor steals one of them, and from then on
 * each runs on a processor of its own. */
static void *grow_watcher(void *arg) {
    (void)arg;
    shrink_progress(100);
    CHECK_EQ_INT(atomic_load(&shrink_seen[0]) | atomic_load(&shrink_seen[1]), 1);
    CHECK_EQ_INT(goc_maxprocs(2), 1);
    WAIT_UNTIL((atomic_load(&shrink_seen[0]) | atomic_load(&shrink_seen[1])) & 2, TEST_PATIENCE_S);
    shrink_progress(100);
    atomic_store(&shrink_stop, 1);
    return NULL;
}

CHILD(grow_child) {
    static const struct spinners_case c = {1, grow_watcher};
    CHECK_EQ_INT(goc_run(spinners_main, (void *)&c), 0);
    fprintf(stderr, "grow ok\n");
}

TEST(lone_yielders_spread_after_maxprocs_grows) {
    expect_children_ok("grow_child", "GOCMAXPROCS=1", "grow ok", TEST_SCALE(3, 1));
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
