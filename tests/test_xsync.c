/* test_xsync.c — x/sync: errgroup (first error, cancellation, limits,
 * try_go, spawn failures) and the weighted semaphore (FIFO fairness,
 * context cancellation and timeouts, the grant/cancel race, exact
 * accounting under stress). Each case is one behaviour; run
 * `test_xsync --list` for the names. */
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/failpoint.h"

/* A gate: goroutines block on recv until it is closed. */
static goc_chan *gate_new(void) { return test_chan_make(0, 0); }

static void gate_open(goc_chan *c) { goc_chan_close(c); }

/* Track how many goroutines are inside a region at once, and the maximum. */
struct inflight {
    atomic_long now, max, total;
};

static void inflight_enter(struct inflight *f) {
    test_atomic_max(&f->max, atomic_fetch_add(&f->now, 1) + 1);
    atomic_fetch_add(&f->total, 1);
}

static void inflight_leave(struct inflight *f) { atomic_fetch_sub(&f->now, 1); }

/* ================================================================== */
/* errgroup                                                            */

static atomic_int eg_ran;

static int eg_count(goc_ctx *ctx, void *arg) {
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&eg_ran, 1);
    return 0;
}

GTEST(eg_wait_returns_zero_when_all_succeed) {
    atomic_store(&eg_ran, 0);
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    CHECK(g != NULL);
    int n = TEST_SCALE(1000, 200);
    for (int i = 0; i < n; i++)
        goc_errgroup_go(g, eg_count, NULL);
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), n);
    /* A second wait with nothing running returns at once, still 0. */
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    goc_errgroup_free(g);
}

/* Siblings block on the group context; one fails; they must all return. */
struct eg_sib {
    goc_waitgroup started;
    atomic_int returned;
};

static int eg_wait_for_cancel(goc_ctx *ctx, void *arg) {
    struct eg_sib *s = arg;
    goc_wg_done(&s->started);
    CHECK(goc_chan_recv(goc_ctx_done(ctx), NULL) == false);
    atomic_fetch_add(&s->returned, 1);
    return goc_ctx_err(ctx); /* too late to win: the first error is set */
}

static int eg_fail_eio(goc_ctx *ctx, void *arg) {
    (void)ctx;
    (void)arg;
    return -EIO;
}

GTEST(eg_first_error_cancels_siblings) {
    static struct eg_sib s;
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    goc_ctx *ctx = goc_errgroup_ctx(g);
    CHECK(ctx != NULL);
    int n = 20;
    goc_wg_add(&s.started, n);
    for (int i = 0; i < n; i++)
        goc_errgroup_go(g, eg_wait_for_cancel, &s);
    goc_wg_wait(&s.started);
    CHECK_EQ_INT(goc_ctx_err(ctx), 0);
    CHECK_EQ_INT(atomic_load(&s.returned), 0);
    goc_errgroup_go(g, eg_fail_eio, NULL);
    CHECK_EQ_INT(goc_errgroup_wait(g), -EIO);
    CHECK_EQ_INT(atomic_load(&s.returned), n);
    CHECK_EQ_INT(goc_ctx_err(ctx), -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(ctx), -EIO); /* WithCancelCause(first error) */
    goc_errgroup_free(g);
}

/* Errors in a known order: the first one is reported, later ones ignored. */
struct eg_seq {
    goc_chan *turn[3];
    int err[3];
    atomic_int finished;
};

static struct eg_seq seq;

static int eg_fail_in_turn(goc_ctx *ctx, void *arg) {
    (void)ctx;
    int i = (int)(intptr_t)arg;
    goc_chan_recv(seq.turn[i], NULL);
    atomic_fetch_add(&seq.finished, 1);
    return seq.err[i];
}

GTEST(eg_first_error_wins) {
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    int errs[3] = {0, 7, -ENOENT}; /* the first fails with 7, then -ENOENT */
    for (int i = 0; i < 3; i++) {
        seq.turn[i] = gate_new();
        seq.err[i] = errs[i];
        goc_errgroup_go(g, eg_fail_in_turn, (void *)(intptr_t)i);
    }
    for (int i = 0; i < 3; i++) {
        gate_open(seq.turn[i]);
        WAIT_UNTIL(atomic_load(&seq.finished) == i + 1, TEST_PATIENCE_S);
        /* finished counts a function before it returns: the group records
         * its error after that. Wait for the record (the group's context
         * is canceled by it) before the next one may fail. */
        if (errs[i] != 0)
            WAIT_UNTIL(goc_ctx_err(goc_errgroup_ctx(g)) != 0, TEST_PATIENCE_S);
    }
    CHECK_EQ_INT(goc_errgroup_wait(g), 7);
    CHECK_EQ_INT(goc_ctx_cause(goc_errgroup_ctx(g)), 7);
    goc_errgroup_free(g);
    for (int i = 0; i < 3; i++)
        goc_chan_release(seq.turn[i]);
}

static int eg_block_on(goc_ctx *ctx, void *arg) {
    (void)ctx;
    goc_chan_recv((goc_chan *)arg, NULL);
    return 0;
}

GTEST(eg_wait_cancels_ctx) {
    goc_ctx *parent = goc_ctx_with_cancel(NULL);
    goc_errgroup *g = goc_errgroup_new(parent);
    goc_ctx *ctx = goc_errgroup_ctx(g);
    goc_chan *gate = gate_new();
    goc_errgroup_go(g, eg_block_on, gate);
    goc_errgroup_go(g, eg_count, NULL);
    goc_sleep(2 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_ctx_err(ctx), 0); /* not canceled while they run */
    gate_open(gate);
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(goc_ctx_err(ctx), -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(ctx), -ECANCELED);
    CHECK_EQ_INT(goc_ctx_err(parent), 0); /* only the derived context */
    goc_errgroup_free(g);
    goc_ctx_release(parent);
    goc_chan_release(gate);
}

GTEST(eg_parent_cancel_reaches_group_ctx) {
    goc_ctx *parent = goc_ctx_with_cancel(NULL);
    static struct eg_sib s;
    goc_errgroup *g = goc_errgroup_new(parent);
    goc_wg_add(&s.started, 3);
    for (int i = 0; i < 3; i++)
        goc_errgroup_go(g, eg_wait_for_cancel, &s);
    goc_wg_wait(&s.started);
    goc_ctx_cancel(parent);
    /* The siblings return the ctx error: that is the group's first error. */
    CHECK_EQ_INT(goc_errgroup_wait(g), -ECANCELED);
    CHECK_EQ_INT(atomic_load(&s.returned), 3);
    goc_errgroup_free(g);
    goc_ctx_release(parent);
}

/* A NULL parent: no derived context; fn gets NULL, which means background. */
static atomic_int eg_null_ctx_seen;

static int eg_check_null_ctx(goc_ctx *ctx, void *arg) {
    (void)arg;
    if (ctx == NULL && goc_ctx_err(ctx) == 0 && goc_ctx_done(ctx) == NULL)
        atomic_fetch_add(&eg_null_ctx_seen, 1);
    /* Blocking calls accept it. */
    CHECK_EQ_INT(goc_sleep_ctx(GOC_MICROSECOND, ctx), 0);
    return 0;
}

GTEST(eg_null_parent) {
    goc_errgroup *g = goc_errgroup_new(NULL);
    CHECK(g != NULL);
    CHECK(goc_errgroup_ctx(g) == NULL);
    for (int i = 0; i < 5; i++)
        goc_errgroup_go(g, eg_check_null_ctx, NULL);
    goc_errgroup_go(g, eg_fail_eio, NULL);
    CHECK_EQ_INT(goc_errgroup_wait(g), -EIO);
    CHECK_EQ_INT(atomic_load(&eg_null_ctx_seen), 5);
    goc_errgroup_free(g);
}

static struct inflight eg_fl;

static int eg_limited_work(goc_ctx *ctx, void *arg) {
    (void)ctx;
    (void)arg;
    inflight_enter(&eg_fl);
    goc_sleep(500 * GOC_MICROSECOND);
    goc_yield();
    inflight_leave(&eg_fl);
    return 0;
}

GTEST(eg_limit_bounds_concurrency) {
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    goc_errgroup_set_limit(g, 3);
    int n = TEST_SCALE(60, 30);
    for (int i = 0; i < n; i++) {
        goc_errgroup_go(g, eg_limited_work, NULL);
        CHECK_LE_INT(atomic_load(&eg_fl.now), 3);
    }
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(atomic_load(&eg_fl.total), n);
    CHECK_LE_INT(atomic_load(&eg_fl.max), 3);
    CHECK_EQ_INT(atomic_load(&eg_fl.max), 3); /* and the limit was used */
    goc_errgroup_free(g);
}

/* go blocks while the limit is reached, and proceeds once a slot frees. */
struct eg_blocked_go {
    goc_errgroup *g;
    goc_chan *gate;
    atomic_int returned;
};

static void eg_go_second(void *arg) {
    struct eg_blocked_go *b = arg;
    goc_errgroup_go(b->g, eg_count, NULL);
    atomic_store(&b->returned, 1);
}

GTEST(eg_go_blocks_at_limit) {
    static struct eg_blocked_go b;
    atomic_store(&eg_ran, 0);
    b.g = goc_errgroup_new(goc_ctx_background());
    b.gate = gate_new();
    goc_errgroup_set_limit(b.g, 1);
    goc_errgroup_go(b.g, eg_block_on, b.gate);
    TEST_GO(eg_go_second, &b);
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&b.returned), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), 0);
    gate_open(b.gate);
    WAIT_UNTIL(atomic_load(&b.returned) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(goc_errgroup_wait(b.g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), 1);
    goc_errgroup_free(b.g);
    goc_chan_release(b.gate);
}

GTEST(eg_try_go_refuses_at_limit) {
    atomic_store(&eg_ran, 0);
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    goc_chan *gate1 = gate_new(), *gate2 = gate_new(), *gate3 = gate_new();
    goc_errgroup_set_limit(g, 2);
    CHECK(goc_errgroup_try_go(g, eg_block_on, gate1));
    CHECK(goc_errgroup_try_go(g, eg_block_on, gate2));
    CHECK(!goc_errgroup_try_go(g, eg_count, NULL));
    CHECK(!goc_errgroup_try_go(g, eg_count, NULL));
    gate_open(gate1);
    /* The slot frees once the first goroutine has returned. The one that
     * takes it waits on a gate still shut (on gate1, open by now, it could
     * return and free the slot again before the next try). */
    bool started = false;
    WAIT_FOR((started = goc_errgroup_try_go(g, eg_block_on, gate3)), TEST_PATIENCE_S);
    CHECK_MSG(started, "try_go never succeeded after a slot freed");
    CHECK(!goc_errgroup_try_go(g, eg_count, NULL)); /* full again */
    gate_open(gate2);
    gate_open(gate3);
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), 0);
    CHECK(goc_errgroup_try_go(g, eg_count, NULL));
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), 1);
    goc_errgroup_free(g);
    goc_chan_release(gate1);
    goc_chan_release(gate2);
    goc_chan_release(gate3);
}

GTEST(eg_try_go_without_limit_always_starts) {
    atomic_store(&eg_ran, 0);
    goc_errgroup *g = goc_errgroup_new(NULL);
    for (int i = 0; i < 100; i++)
        CHECK(goc_errgroup_try_go(g, eg_count, NULL));
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), 100);
    goc_errgroup_free(g);
}

GTEST(eg_limit_zero_refuses_try_go) {
    goc_errgroup *g = goc_errgroup_new(NULL);
    goc_errgroup_set_limit(g, 0);
    CHECK(!goc_errgroup_try_go(g, eg_count, NULL));
    goc_errgroup_set_limit(g, -1);
    CHECK(goc_errgroup_try_go(g, eg_count, NULL));
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    goc_errgroup_free(g);
}

CHILD(eg_set_limit_while_active) {
    static goc_chan *gate;
    gate = gate_new();
    goc_errgroup *g = goc_errgroup_new(NULL);
    goc_errgroup_set_limit(g, 2);
    goc_errgroup_go(g, eg_block_on, gate);
    goc_errgroup_set_limit(g, 4);
    fprintf(stderr, "set_limit returned\n");
}

TEST(eg_set_limit_while_active_panics) {
    expect_child(
        "eg_set_limit_while_active", -SIGABRT,
        "^panic: errgroup: modify limit while 1 goroutines in the group are still active$");
}

/* As in Go: with no limit in force, or when removing a limit, nothing is
 * counted and set_limit does not panic. A goroutine started under the old
 * limit gives its slot back to that limit. */
GTEST(eg_set_limit_allowed_without_active_limit) {
    goc_errgroup *g = goc_errgroup_new(NULL);
    goc_chan *gate = gate_new();
    goc_errgroup_go(g, eg_block_on, gate); /* no limit */
    goc_errgroup_set_limit(g, 1);          /* allowed: nothing counted */
    goc_errgroup_go(g, eg_block_on, gate); /* takes the one slot */
    CHECK(!goc_errgroup_try_go(g, eg_count, NULL));
    goc_errgroup_set_limit(g, -1); /* removing a limit never panics */
    CHECK(goc_errgroup_try_go(g, eg_block_on, gate));
    gate_open(gate);
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    goc_errgroup_set_limit(g, 5); /* idle: fine */
    goc_errgroup_free(g);
    goc_chan_release(gate);
}

/* Goroutines of the group start more goroutines in it. */
static goc_errgroup *eg_tree_g;

static int eg_tree(goc_ctx *ctx, void *arg) {
    (void)ctx;
    int depth = (int)(intptr_t)arg;
    atomic_fetch_add(&eg_ran, 1);
    if (depth > 0) {
        goc_errgroup_go(eg_tree_g, eg_tree, (void *)(intptr_t)(depth - 1));
        goc_errgroup_go(eg_tree_g, eg_tree, (void *)(intptr_t)(depth - 1));
    }
    return 0;
}

GTEST(eg_nested_go_waited_for) {
    atomic_store(&eg_ran, 0);
    eg_tree_g = goc_errgroup_new(goc_ctx_background());
    int depth = TEST_SCALE(10, 7);
    goc_errgroup_go(eg_tree_g, eg_tree, (void *)(intptr_t)depth);
    CHECK_EQ_INT(goc_errgroup_wait(eg_tree_g), 0);
    CHECK_EQ_INT(atomic_load(&eg_ran), (1 << (depth + 1)) - 1);
    goc_errgroup_free(eg_tree_g);
}

/* The whole API from a plain thread (goc did not start it). */
TEST(eg_on_plain_thread) {
    atomic_store(&eg_ran, 0);
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    goc_errgroup_set_limit(g, 2);
    for (int i = 0; i < 50; i++)
        goc_errgroup_go(g, eg_count, NULL);
    goc_errgroup_go(g, eg_fail_eio, NULL);
    CHECK_EQ_INT(goc_errgroup_wait(g), -EIO);
    CHECK_EQ_INT(atomic_load(&eg_ran), 50);
    goc_errgroup_free(g);
}

/* Failing to start a goroutine is the group's error: no crash, no hang, no
 * leaked slot. try_go reports false; go returns normally. */
static int eg_spawn_failure_main(void *p) {
    (void)p;
    test_settle_goroutines(1);
    goc_chan *gate = gate_new();
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    goc_errgroup_set_limit(g, 1000000);
    goc_failpoint_set("g_alloc", 1);
    long started = 0;
    bool refused = false;
    for (long i = 0; i < 100000; i++) {
        if (!goc_errgroup_try_go(g, eg_block_on, gate)) {
            refused = true;
            break;
        }
        started++;
    }
    goc_failpoint_set("g_alloc", 0);
    CHECK(refused);
    goc_ctx *ctx = goc_errgroup_ctx(g);
    CHECK_EQ_INT(goc_ctx_err(ctx), -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(ctx), -ENOMEM);
    gate_open(gate);
    CHECK_EQ_INT(goc_errgroup_wait(g), -ENOMEM);
    goc_errgroup_set_limit(g, 1); /* every slot was given back: no panic */

    /* The blocking form, and its group error, the same way. */
    goc_errgroup *g2 = goc_errgroup_new(goc_ctx_background());
    goc_chan *gate2 = gate_new();
    goc_failpoint_set("g_alloc", 1);
    for (long i = 0; i < 100000 && goc_ctx_err(goc_errgroup_ctx(g2)) == 0; i++)
        goc_errgroup_go(g2, eg_block_on, gate2);
    goc_failpoint_set("g_alloc", 0);
    CHECK_EQ_INT(goc_ctx_cause(goc_errgroup_ctx(g2)), -ENOMEM);
    gate_open(gate2);
    CHECK_EQ_INT(goc_errgroup_wait(g2), -ENOMEM);
    test_settle_goroutines(1);
    goc_errgroup_free(g);
    goc_errgroup_free(g2);
    goc_chan_release(gate);
    goc_chan_release(gate2);
    fprintf(stderr, "spawn failure ok after %ld goroutines\n", started);
    return 0;
}

CHILD(eg_spawn_failure) { CHECK_EQ_INT(goc_run(eg_spawn_failure_main, NULL), 0); }

TEST(eg_spawn_failure_is_group_error) {
    expect_child("eg_spawn_failure", 0, "^spawn failure ok after [0-9]+ goroutines$");
}

CHILD(eg_free_while_active) {
    goc_chan *gate = gate_new();
    goc_errgroup *g = goc_errgroup_new(NULL);
    goc_errgroup_go(g, eg_block_on, gate);
    goc_errgroup_free(g);
}

TEST(eg_free_while_active_panics) {
    expect_child("eg_free_while_active", -SIGABRT,
                 "^panic: errgroup: freed while 1 goroutines in the group are still active$");
}

/* ================================================================== */
/* semaphore                                                           */

GTEST(sema_try_acquire) {
    goc_sema *s = goc_sema_new(10);
    CHECK(s != NULL);
    CHECK(goc_sema_try_acquire(s, 4));
    CHECK(!goc_sema_try_acquire(s, 7));
    CHECK(goc_sema_try_acquire(s, 6));
    CHECK(!goc_sema_try_acquire(s, 1));
    CHECK(goc_sema_try_acquire(s, 0));
    goc_sema_release(s, 10);
    CHECK(goc_sema_try_acquire(s, 10));
    goc_sema_release(s, 3);
    CHECK(goc_sema_try_acquire(s, 3));
    goc_sema_release(s, 10);
    CHECK(!goc_sema_try_acquire(s, 11));
    goc_sema_free(s);
}

GTEST(sema_acquire_free_units_at_once) {
    goc_sema *s = goc_sema_new(5);
    CHECK_EQ_INT(goc_sema_acquire(s, 2, NULL), 0);
    CHECK_EQ_INT(goc_sema_acquire(s, 3, goc_ctx_background()), 0);
    CHECK(!goc_sema_try_acquire(s, 1));
    CHECK_EQ_INT(goc_sema_acquire(s, 0, NULL), 0);
    goc_sema_release(s, 5);
    CHECK(goc_sema_try_acquire(s, 5));
    goc_sema_release(s, 5);
    goc_sema_free(s);
}

GTEST(sema_bad_arguments) {
    CHECK(goc_sema_new(-1) == NULL);
    goc_sema *s = goc_sema_new(3);
    CHECK_EQ_INT(goc_sema_acquire(s, -1, NULL), -EINVAL);
    CHECK(!goc_sema_try_acquire(s, -1));
    CHECK(goc_sema_try_acquire(s, 3));
    goc_sema_release(s, 3);
    goc_sema_free(s);
}

/* FIFO: a big request queued first is served before later small ones, even
 * though the small ones would fit earlier. */
struct fifo {
    goc_sema *s;
    atomic_int big_got, small_got;
    int order[8];
    atomic_int seq;
};

static void fifo_big(void *arg) {
    struct fifo *f = arg;
    CHECK_EQ_INT(goc_sema_acquire(f->s, 5, NULL), 0);
    f->order[atomic_fetch_add(&f->seq, 1)] = 5;
    atomic_store(&f->big_got, 1);
}

static void fifo_small(void *arg) {
    struct fifo *f = arg;
    CHECK_EQ_INT(goc_sema_acquire(f->s, 1, NULL), 0);
    f->order[atomic_fetch_add(&f->seq, 1)] = 1;
    atomic_fetch_add(&f->small_got, 1);
}

/* Can one unit be had right now? (it is given back at once) */
static bool unit_free(goc_sema *s) {
    if (!goc_sema_try_acquire(s, 1))
        return false;
    goc_sema_release(s, 1);
    return true;
}

/* Wait until somebody is queued on s: with one unit free, try_acquire(1)
 * fails only because of a waiter. */
static void wait_until_queued(goc_sema *s) { WAIT_UNTIL(!unit_free(s), TEST_PATIENCE_S); }

GTEST(sema_fifo_big_request_first) {
    static struct fifo f;
    f.s = goc_sema_new(10);
    CHECK_EQ_INT(goc_sema_acquire(f.s, 9, NULL), 0); /* one unit free */
    TEST_GO(fifo_big, &f);
    wait_until_queued(f.s);
    for (int i = 0; i < 3; i++)
        TEST_GO(fifo_small, &f);
    goc_sleep(20 * GOC_MILLISECOND);
    /* One unit is free, but the big request is ahead: no barging. */
    CHECK_EQ_INT(atomic_load(&f.small_got), 0);
    CHECK_EQ_INT(atomic_load(&f.big_got), 0);
    CHECK(!goc_sema_try_acquire(f.s, 1));
    goc_sema_release(f.s, 4); /* five free: exactly the big request */
    WAIT_UNTIL(atomic_load(&f.big_got) == 1, TEST_PATIENCE_S);
    goc_sleep(5 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&f.small_got), 0); /* none left for them */
    goc_sema_release(f.s, 5);                   /* the big one's units */
    WAIT_UNTIL(atomic_load(&f.small_got) == 3, TEST_PATIENCE_S);
    CHECK_EQ_INT(f.order[0], 5);
    for (int i = 1; i < 4; i++)
        CHECK_EQ_INT(f.order[i], 1);
    goc_sema_release(f.s, 3 + 5);
    CHECK(goc_sema_try_acquire(f.s, 10));
    goc_sema_release(f.s, 10);
    goc_sema_free(f.s);
}

/* Acquire on a canceled context fails even when units are free (Go). */
GTEST(sema_acquire_done_ctx_fails_at_once) {
    goc_sema *s = goc_sema_new(4);
    goc_ctx *ctx = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(ctx);
    CHECK_EQ_INT(goc_sema_acquire(s, 1, ctx), -ECANCELED);
    CHECK(goc_sema_try_acquire(s, 4)); /* nothing was taken */
    goc_sema_release(s, 4);
    goc_sema_free(s);
    goc_ctx_release(ctx);
}

struct ctx_acq {
    goc_sema *s;
    goc_ctx *ctx;
    int64_t n;
    atomic_int rc;
    atomic_int finished;
};

static void ctx_acquirer(void *arg) {
    struct ctx_acq *a = arg;
    atomic_store(&a->rc, goc_sema_acquire(a->s, a->n, a->ctx));
    atomic_store(&a->finished, 1);
}

GTEST(sema_acquire_honours_cancel) {
    static struct ctx_acq a;
    a.s = goc_sema_new(3);
    a.ctx = goc_ctx_with_cancel(NULL);
    a.n = 2;
    CHECK_EQ_INT(goc_sema_acquire(a.s, 2, NULL), 0); /* one free: a waits */
    TEST_GO(ctx_acquirer, &a);
    wait_until_queued(a.s);
    goc_sleep(2 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&a.finished), 0);
    goc_ctx_cancel(a.ctx);
    WAIT_UNTIL(atomic_load(&a.finished) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&a.rc), -ECANCELED);
    goc_sema_release(a.s, 2);
    CHECK(goc_sema_try_acquire(a.s, 3)); /* no weight leaked */
    goc_sema_release(a.s, 3);
    goc_sema_free(a.s);
    goc_ctx_release(a.ctx);
}

GTEST(sema_acquire_honours_timeout) {
    goc_sema *s = goc_sema_new(3);
    CHECK_EQ_INT(goc_sema_acquire(s, 3, NULL), 0);
    int64_t t0 = goc_now(); /* before the deadline is set */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 20 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_sema_acquire(s, 2, ctx), -ETIMEDOUT);
    CHECK_GE_INT(goc_now() - t0, 19 * GOC_MILLISECOND);
    goc_sema_release(s, 3);
    CHECK(goc_sema_try_acquire(s, 3));
    goc_sema_release(s, 3);
    goc_sema_free(s);
    goc_ctx_release(ctx);
}

/* The head gives up: the waiters behind it that now fit are served. */
GTEST(sema_canceled_head_lets_followers_in) {
    static struct ctx_acq big, small;
    goc_sema *s = goc_sema_new(10);
    CHECK_EQ_INT(goc_sema_acquire(s, 8, NULL), 0); /* two free */
    big = (struct ctx_acq){.s = s, .ctx = goc_ctx_with_cancel(NULL), .n = 5};
    small = (struct ctx_acq){.s = s, .ctx = NULL, .n = 2};
    TEST_GO(ctx_acquirer, &big);
    wait_until_queued(s);
    TEST_GO(ctx_acquirer, &small);
    goc_sleep(10 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&small.finished), 0); /* behind the big one */
    goc_ctx_cancel(big.ctx);
    WAIT_UNTIL(atomic_load(&big.finished) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&big.rc), -ECANCELED);
    WAIT_UNTIL(atomic_load(&small.finished) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&small.rc), 0);
    goc_sema_release(s, 8 + 2);
    CHECK(goc_sema_try_acquire(s, 10));
    goc_sema_release(s, 10);
    goc_sema_free(s);
    goc_ctx_release(big.ctx);
}

/* More than the capacity: waits for ctx, and does not block the queue. */
GTEST(sema_oversize_request_waits_for_ctx) {
    static struct ctx_acq huge;
    goc_sema *s = goc_sema_new(3);
    int64_t t0 = goc_now(); /* before the deadline is set */
    huge =
        (struct ctx_acq){.s = s, .ctx = goc_ctx_with_timeout(NULL, 30 * GOC_MILLISECOND), .n = 4};
    TEST_GO(ctx_acquirer, &huge);
    goc_sleep(2 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_sema_acquire(s, 3, NULL), 0); /* not blocked behind it */
    goc_sema_release(s, 3);
    WAIT_UNTIL(atomic_load(&huge.finished) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&huge.rc), -ETIMEDOUT);
    CHECK_GE_INT(goc_now() - t0, 29 * GOC_MILLISECOND);
    CHECK(goc_sema_try_acquire(s, 3));
    goc_sema_release(s, 3);
    goc_sema_free(s);
    goc_ctx_release(huge.ctx);
}

CHILD(sema_release_more_than_held) {
    goc_sema *s = goc_sema_new(5);
    CHECK(goc_sema_try_acquire(s, 2));
    goc_sema_release(s, 3);
    fprintf(stderr, "release returned\n");
}

TEST(sema_release_more_than_held_panics) {
    expect_child("sema_release_more_than_held", -SIGABRT,
                 "^panic: semaphore: released more than held$");
}

/* A blocking acquire on a plain thread, satisfied by a goroutine. */
static void release_later(void *arg) {
    goc_sleep(5 * GOC_MILLISECOND);
    goc_sema_release((goc_sema *)arg, 2);
}

TEST(sema_acquire_on_plain_thread) {
    goc_sema *s = goc_sema_new(2);
    CHECK(goc_sema_try_acquire(s, 2));
    TEST_GO(release_later, s);
    CHECK_EQ_INT(goc_sema_acquire(s, 2, NULL), 0);
    goc_sema_release(s, 2);
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    CHECK(goc_sema_try_acquire(s, 1));
    CHECK_EQ_INT(goc_sema_acquire(s, 2, ctx), -ETIMEDOUT);
    goc_sema_release(s, 1);
    CHECK(goc_sema_try_acquire(s, 2));
    goc_sema_release(s, 2);
    goc_sema_free(s);
    goc_ctx_release(ctx);
}

/* The grant/cancel race: the units are released and the waiter's context
 * canceled at the same moment, many times over, in three ways: from two
 * goroutines at once; release then cancel with no switch between them (the
 * waiter wakes on `ready` with ctx done: it gives the units back); cancel
 * then release (the waiter wakes on done but was granted meanwhile: Go's
 * race, it gives the units back). Whatever each acquire returns, the
 * accounting must come out exact. */
struct race_round {
    goc_sema *s;
    goc_ctx *ctx;
    goc_waitgroup wg;
    atomic_int go;
    int rc;
};

static void race_waiter(void *arg) {
    struct race_round *r = arg;
    r->rc = goc_sema_acquire(r->s, 2, r->ctx);
    goc_wg_done(&r->wg);
}

static void race_canceler(void *arg) {
    struct race_round *r = arg;
    while (!atomic_load(&r->go))
        goc_yield();
    goc_ctx_cancel(r->ctx);
    goc_wg_done(&r->wg);
}

static void race_releaser(void *arg) {
    struct race_round *r = arg;
    while (!atomic_load(&r->go))
        goc_yield();
    goc_sema_release(r->s, 1);
    goc_wg_done(&r->wg);
}

static void race_release_then_cancel(void *arg) {
    struct race_round *r = arg;
    goc_sema_release(r->s, 1);
    goc_ctx_cancel(r->ctx);
    goc_wg_done(&r->wg);
}

static void race_cancel_then_release(void *arg) {
    struct race_round *r = arg;
    goc_ctx_cancel(r->ctx);
    goc_sema_release(r->s, 1);
    goc_wg_done(&r->wg);
}

GTEST(sema_grant_cancel_race_keeps_accounting) {
    static struct race_round r;
    r.s = goc_sema_new(2);
    int rounds = TEST_SCALE(3000, 300);
    int won[3] = {0}, canceled[3] = {0};
    for (int i = 0; i < rounds; i++) {
        int mode = i % 3;
        CHECK(goc_sema_try_acquire(r.s, 1)); /* one of two free */
        r.ctx = goc_ctx_with_cancel(NULL);
        atomic_store(&r.go, 0);
        goc_wg_add(&r.wg, mode == 0 ? 3 : 2);
        TEST_GO(race_waiter, &r);
        wait_until_queued(r.s); /* it waits for both units */
        if (mode == 0) {
            TEST_GO(race_canceler, &r);
            TEST_GO(race_releaser, &r);
            atomic_store(&r.go, 1);
        } else {
            TEST_GO(mode == 1 ? race_release_then_cancel : race_cancel_then_release, &r);
        }
        goc_wg_wait(&r.wg);
        if (r.rc == 0) {
            won[mode]++;
            goc_sema_release(r.s, 2);
        } else {
            CHECK_EQ_INT(r.rc, -ECANCELED);
            canceled[mode]++;
        }
        /* Exactly two units, and both free. */
        CHECK(goc_sema_try_acquire(r.s, 2));
        CHECK(!goc_sema_try_acquire(r.s, 1));
        goc_sema_release(r.s, 2);
        goc_ctx_release(r.ctx);
    }
    test_note("grant/cancel race (acquired/canceled): concurrent %d/%d, release-then-cancel "
              "%d/%d, cancel-then-release %d/%d",
              won[0], canceled[0], won[1], canceled[1], won[2], canceled[2]);
    goc_sema_free(r.s);
}

/* Many goroutines take random weights, hold them, give them back. The
 * units in use never exceed the capacity, and all come back. */
enum { STRESS_CAP = 64 };

struct stress {
    goc_sema *s;
    atomic_long in_use;
    atomic_long max_in_use;
    atomic_long acquired, timed_out;
    goc_waitgroup wg;
    int iters;
};

static void stress_worker(void *arg) {
    struct stress *st = arg;
    uint64_t rnd = goc_id() * 2654435761u | 1;
    for (int i = 0; i < st->iters; i++) {
        int64_t n = 1 + test_rand(&rnd) % 24;
        goc_ctx *ctx = NULL;
        if (test_rand(&rnd) % 8 == 0)
            ctx = goc_ctx_with_timeout(NULL, (test_rand(&rnd) % 200) * GOC_MICROSECOND);
        int rc = goc_sema_acquire(st->s, n, ctx);
        if (rc == 0) {
            long now = atomic_fetch_add(&st->in_use, n) + n;
            CHECK_LE_INT(now, STRESS_CAP);
            test_atomic_max(&st->max_in_use, now);
            atomic_fetch_add(&st->acquired, 1);
            if (test_rand(&rnd) % 4 == 0)
                goc_sleep(test_rand(&rnd) % 50 * GOC_MICROSECOND);
            else
                goc_yield();
            atomic_fetch_sub(&st->in_use, n);
            goc_sema_release(st->s, n);
        } else {
            CHECK_EQ_INT(rc, -ETIMEDOUT);
            atomic_fetch_add(&st->timed_out, 1);
        }
        goc_ctx_release(ctx);
    }
    goc_wg_done(&st->wg);
}

GTEST(sema_stress_exact_accounting) {
    static struct stress st;
    st.s = goc_sema_new(STRESS_CAP);
    st.iters = TEST_SCALE(400, 60);
    int workers = TEST_SCALE(64, 24);
    goc_wg_add(&st.wg, workers);
    for (int i = 0; i < workers; i++)
        TEST_GO(stress_worker, &st);
    goc_wg_wait(&st.wg);
    CHECK_EQ_INT(atomic_load(&st.in_use), 0);
    CHECK_EQ_INT(atomic_load(&st.acquired) + atomic_load(&st.timed_out), (long)workers * st.iters);
    CHECK_LE_INT(atomic_load(&st.max_in_use), STRESS_CAP);
    CHECK(goc_sema_try_acquire(st.s, STRESS_CAP)); /* every unit came back */
    goc_sema_release(st.s, STRESS_CAP);
    test_note("stress: %ld acquired, %ld timed out, max in use %ld of %d",
              atomic_load(&st.acquired), atomic_load(&st.timed_out), atomic_load(&st.max_in_use),
              STRESS_CAP);
    goc_sema_free(st.s);
}

CHILD(sema_free_while_waiting) {
    static struct ctx_acq a;
    a.s = goc_sema_new(2);
    a.n = 2;
    CHECK(goc_sema_try_acquire(a.s, 1));
    TEST_GO(ctx_acquirer, &a);
    wait_until_queued(a.s);
    goc_sema_free(a.s);
}

TEST(sema_free_while_waiting_panics) {
    expect_child("sema_free_while_waiting", -SIGABRT,
                 "^panic: semaphore: freed while goroutines are waiting on it$");
}
