/* test_context_wait.c — the blocking calls that take a context: sleep,
 * channel send and receive, WaitGroup wait and Mutex lock. Each returns 0
 * when it completes and the context's error when that comes first (leaving
 * the channel, WaitGroup or Mutex as it was), on goroutines and plain
 * threads; nothing is left behind. Each case is one behaviour; run
 * `test_context_wait --list` for the names. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* A value key: compared by address. */
static int key_a;

/* ================================================================== */
/* goc_sleep_ctx                                                       */

GTEST(sleep_ctx_full_sleep_returns_zero) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *t = goc_ctx_with_timeout(NULL, 10 * GOC_SECOND);
    goc_ctx *w = goc_ctx_without_cancel(c);
    goc_ctx *on[] = {c, t, w, goc_ctx_background(), NULL};
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        int64_t t0 = goc_now();
        CHECK_EQ_INT(goc_sleep_ctx(20 * GOC_MILLISECOND, on[i]), 0);
        CHECK_GE_INT(goc_now() - t0, 20 * GOC_MILLISECOND);
    }
    CHECK_EQ_INT(goc_sleep_ctx(0, c), 0);
    CHECK_EQ_INT(goc_sleep_ctx(-GOC_SECOND, c), 0);
    CHECK_CTX_LIVE(c);
    goc_ctx_release(w);
    goc_ctx_release(t);
    goc_ctx_release(c);
}

GTEST(sleep_ctx_returns_early_on_cancel) {
    int base = goc_num_goroutine();
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *v = goc_ctx_with_value(c, &key_a, NULL);
    int64_t t0 = goc_now();
    test_cancel_later(c, 20 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_sleep_ctx(60 * GOC_SECOND, v), -ECANCELED);
    int64_t dt = goc_now() - t0;
    CHECK_GE_INT(dt, 15 * GOC_MILLISECOND);
    CHECK_LT_INT(dt, 10 * GOC_SECOND);
    /* Already canceled: at once. */
    t0 = goc_now();
    CHECK_EQ_INT(goc_sleep_ctx(60 * GOC_SECOND, c), -ECANCELED);
    CHECK_EQ_INT(goc_sleep_ctx(0, c), -ECANCELED);
    CHECK_LT_INT(goc_now() - t0, GOC_SECOND);
    goc_ctx_release(v);
    goc_ctx_release(c);
    test_settle_goroutines(base);
}

GTEST(sleep_ctx_returns_early_on_timeout) {
    goc_ctx *t = goc_ctx_with_timeout(NULL, 30 * GOC_MILLISECOND);
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(t, &dl));
    int64_t t0 = goc_now();
    CHECK_EQ_INT(goc_sleep_ctx(60 * GOC_SECOND, t), -ETIMEDOUT);
    CHECK_GE_INT(goc_now(), dl);
    CHECK_LT_INT(goc_now() - t0, 10 * GOC_SECOND);
    /* A sleep shorter than the deadline completes. */
    goc_ctx *l = goc_ctx_with_timeout(NULL, 10 * GOC_SECOND);
    CHECK_EQ_INT(goc_sleep_ctx(5 * GOC_MILLISECOND, l), 0);
    goc_ctx_release(l);
    goc_ctx_release(t);
}

TEST(sleep_ctx_on_plain_thread) {
    goc_ctx *t = goc_ctx_with_timeout(NULL, 30 * GOC_MILLISECOND);
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(t, &dl));
    CHECK_EQ_INT(goc_sleep_ctx(60 * GOC_SECOND, t), -ETIMEDOUT);
    CHECK_GE_INT(goc_now(), dl);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    int64_t t0 = goc_now();
    CHECK_EQ_INT(goc_sleep_ctx(10 * GOC_MILLISECOND, c), 0);
    CHECK_GE_INT(goc_now() - t0, 10 * GOC_MILLISECOND);
    test_cancel_later(c, 10 * GOC_MILLISECOND); /* from a goroutine */
    CHECK_EQ_INT(goc_sleep_ctx(60 * GOC_SECOND, c), -ECANCELED);
    goc_ctx_release(c);
    goc_ctx_release(t);
}

/* ================================================================== */
/* goc_chan_send_ctx / goc_chan_recv_ctx                               */

struct receiver {
    goc_chan *ch;
    goc_chan *got; /* chan long, cap 1 */
};

static void receiver_fn(void *arg) {
    struct receiver *r = arg;
    long v = 0;
    CHECK(goc_chan_recv(r->ch, &v));
    goc_chan_send(r->got, &v);
}

struct sender {
    goc_chan *ch;
    long v;
};

static void sender_fn(void *arg) {
    struct sender *s = arg;
    goc_chan_send(s->ch, &s->v);
}

GTEST(send_ctx_success) {
    int base = goc_num_goroutine();
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_chan *b = test_chan_make(sizeof(long), 1);
    long v = 11, out = 0;
    CHECK_EQ_INT(goc_chan_send_ctx(b, &v, c), 0);
    CHECK_EQ_INT(goc_chan_len(b), 1);
    CHECK(goc_chan_recv(b, &out));
    CHECK_EQ_INT(out, 11);
    CHECK_EQ_INT(goc_chan_send_ctx(b, &v, NULL), 0); /* NULL: background */
    CHECK(goc_chan_recv(b, &out));

    /* Unbuffered: blocks until a receiver takes it. */
    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_chan *got = test_chan_make(sizeof(long), 1);
    TEST_GO_ARGS(receiver_fn, struct receiver, u, got);
    v = 22;
    CHECK_EQ_INT(goc_chan_send_ctx(u, &v, c), 0);
    CHECK(goc_chan_recv(got, &out));
    CHECK_EQ_INT(out, 22);
    CHECK_CTX_LIVE(c);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(got);
    goc_chan_release(u);
    goc_chan_release(b);
}

GTEST(send_ctx_cancel_leaves_value_unsent) {
    int base = goc_num_goroutine();
    /* Unbuffered, nobody receiving: canceled while blocked. */
    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    test_cancel_later(c, 20 * GOC_MILLISECOND);
    long v = 5, out = 0;
    CHECK_EQ_INT(goc_chan_send_ctx(u, &v, c), -ECANCELED);
    /* The sender is gone from the channel: no receiver ever gets 5. */
    CHECK_EQ_INT(test_try_recv(u, &out), -1);
    goc_chan *t = goc_after(30 * GOC_MILLISECOND);
    goc_case rt[] = {GOC_RECV(u, &out, NULL), GOC_RECV(t, NULL, NULL)};
    CHECK_EQ_INT(goc_select(rt, 2), 1);
    goc_chan_release(t);
    CHECK_EQ_INT(out, 0);

    /* A full buffer timing out stays exactly as it was. */
    goc_chan *b = test_chan_make(sizeof(long), 2);
    long one = 1, two = 2, three = 3;
    goc_chan_send(b, &one);
    goc_chan_send(b, &two);
    goc_ctx *to = goc_ctx_with_timeout(NULL, 20 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_chan_send_ctx(b, &three, to), -ETIMEDOUT);
    CHECK_EQ_INT(goc_chan_len(b), 2);
    CHECK(goc_chan_recv(b, &out));
    CHECK_EQ_INT(out, 1);
    CHECK(goc_chan_recv(b, &out));
    CHECK_EQ_INT(out, 2);
    CHECK_EQ_INT(test_try_recv(b, &out), -1);

    /* Already canceled, channel not ready: at once. */
    goc_chan_send(b, &one);
    goc_chan_send(b, &two);
    CHECK_EQ_INT(goc_chan_send_ctx(b, &three, c), -ECANCELED);
    CHECK_EQ_INT(goc_chan_send_ctx(u, &three, to), -ETIMEDOUT);
    CHECK_EQ_INT(goc_chan_len(b), 2);

    /* Already canceled, channel ready: whatever it returns tells the truth. */
    goc_chan *e = test_chan_make(sizeof(long), 1);
    for (int i = 0; i < 100; i++) {
        int r = goc_chan_send_ctx(e, &three, c);
        if (r == 0) {
            CHECK_EQ_INT(goc_chan_len(e), 1);
            CHECK(goc_chan_recv(e, &out));
        } else {
            CHECK_EQ_INT(r, -ECANCELED);
            CHECK_EQ_INT(goc_chan_len(e), 0);
        }
    }
    goc_ctx_release(to);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(e);
    goc_chan_release(b);
    goc_chan_release(u);
}

static int send_closed_main(void *arg) {
    (void)arg;
    goc_chan *ch = goc_chan_make(sizeof(long), 1);
    goc_chan_close(ch);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    long v = 1;
    goc_chan_send_ctx(ch, &v, c);
    return 0;
}

CHILD(send_ctx_closed) {
    test_run_main(send_closed_main);
    exit(3);
}

TEST(send_ctx_on_closed_channel_panics) {
    expect_child("send_ctx_closed", -SIGABRT, "^panic: send on closed channel");
}

GTEST(recv_ctx_success) {
    int base = goc_num_goroutine();
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_chan *b = test_chan_make(sizeof(long), 1);
    long v = 9, out = 0;
    bool ok = false;
    goc_chan_send(b, &v);
    CHECK_EQ_INT(goc_chan_recv_ctx(b, &out, &ok, c), 0);
    CHECK(ok);
    CHECK_EQ_INT(out, 9);
    goc_chan_send(b, &v);
    CHECK_EQ_INT(goc_chan_recv_ctx(b, NULL, NULL, NULL), 0); /* out, ok NULL; ctx background */
    CHECK_EQ_INT(goc_chan_len(b), 0);

    goc_chan *u = test_chan_make(sizeof(long), 0);
    TEST_GO_ARGS(sender_fn, struct sender, u, 33);
    ok = false;
    CHECK_EQ_INT(goc_chan_recv_ctx(u, &out, &ok, c), 0);
    CHECK(ok);
    CHECK_EQ_INT(out, 33);
    CHECK_CTX_LIVE(c);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(u);
    goc_chan_release(b);
}

GTEST(recv_ctx_closed_channel_ok_false) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_chan *b = test_chan_make(sizeof(long), 2);
    long v = 4, out = -1;
    bool ok = true;
    goc_chan_send(b, &v);
    goc_chan_close(b);
    CHECK_EQ_INT(goc_chan_recv_ctx(b, &out, &ok, c), 0); /* drains first */
    CHECK(ok);
    CHECK_EQ_INT(out, 4);
    out = -1;
    CHECK_EQ_INT(goc_chan_recv_ctx(b, &out, &ok, c), 0);
    CHECK(!ok);
    CHECK_EQ_INT(out, 0); /* zeroed */
    CHECK_EQ_INT(goc_chan_recv_ctx(b, NULL, NULL, c), 0);

    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_chan_close(u);
    ok = true;
    out = -1;
    CHECK_EQ_INT(goc_chan_recv_ctx(u, &out, &ok, NULL), 0);
    CHECK(!ok);
    CHECK_EQ_INT(out, 0);
    goc_ctx_release(c);
    goc_chan_release(u);
    goc_chan_release(b);
}

GTEST(recv_ctx_cancel_leaves_value_unreceived) {
    int base = goc_num_goroutine();
    goc_chan *b = test_chan_make(sizeof(long), 1);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    test_cancel_later(c, 20 * GOC_MILLISECOND);
    long out = -7;
    bool ok = true;
    CHECK_EQ_INT(goc_chan_recv_ctx(b, &out, &ok, c), -ECANCELED);
    CHECK_EQ_INT(out, -7); /* not written */
    /* The canceled receiver does not take what comes next. */
    long v = 8;
    CHECK_EQ_INT(test_try_send(b, &v), 0);
    goc_sleep(10 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_chan_len(b), 1);
    CHECK(goc_chan_recv(b, &out));
    CHECK_EQ_INT(out, 8);

    /* Unbuffered, timing out: no receiver is left registered. */
    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_ctx *to = goc_ctx_with_timeout(NULL, 20 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_chan_recv_ctx(u, &out, &ok, to), -ETIMEDOUT);
    CHECK_EQ_INT(test_try_send(u, &v), -1);

    /* Already canceled, a value ready: whatever it returns tells the truth. */
    for (int i = 0; i < 100; i++) {
        goc_chan_send(b, &v);
        out = 0;
        int r = goc_chan_recv_ctx(b, &out, &ok, c);
        if (r == 0) {
            CHECK_EQ_INT(out, 8);
            CHECK_EQ_INT(goc_chan_len(b), 0);
        } else {
            CHECK_EQ_INT(r, -ECANCELED);
            CHECK_EQ_INT(goc_chan_len(b), 1);
            CHECK(goc_chan_recv(b, NULL));
        }
    }
    goc_ctx_release(to);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(u);
    goc_chan_release(b);
}

TEST(recv_ctx_on_plain_thread) {
    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_ctx *to = goc_ctx_with_timeout(NULL, 20 * GOC_MILLISECOND);
    long out = 0;
    CHECK_EQ_INT(goc_chan_recv_ctx(u, &out, NULL, to), -ETIMEDOUT);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    TEST_GO_ARGS(sender_fn, struct sender, u, 77);
    bool ok = false;
    CHECK_EQ_INT(goc_chan_recv_ctx(u, &out, &ok, c), 0);
    CHECK(ok);
    CHECK_EQ_INT(out, 77);
    long v = 1;
    test_cancel_later(c, 10 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_chan_send_ctx(u, &v, c), -ECANCELED);
    goc_ctx_release(c);
    goc_ctx_release(to);
    test_settle_goroutines(0);
    goc_chan_release(u);
}

/* ================================================================== */
/* nothing left behind                                                 */

struct blocked_op {
    goc_ctx *ctx; /* own reference */
    goc_chan *ch;
    int op; /* 0 sleep, 1 send, 2 recv */
    atomic_int *errs;
};

static void blocked_op_fn(void *arg) {
    struct blocked_op *b = arg;
    long v = 1;
    int r = b->op == 0   ? goc_sleep_ctx(60 * GOC_SECOND, b->ctx)
            : b->op == 1 ? goc_chan_send_ctx(b->ch, &v, b->ctx)
                         : goc_chan_recv_ctx(b->ch, &v, NULL, b->ctx);
    if (r == -ECANCELED || r == -ETIMEDOUT)
        atomic_fetch_add(b->errs, 1);
    goc_ctx_release(b->ctx);
}

GTEST(no_goroutine_left_behind) {
    int base = goc_num_goroutine();
    atomic_int errs = 0;
    atomic_long afruns = 0;
    goc_chan *nobody_recvs = test_chan_make(sizeof(long), 0);
    goc_chan *nobody_sends = test_chan_make(sizeof(long), 0);
    goc_ctx *root = goc_ctx_with_cancel(NULL);
    goc_ctx *tmo = goc_ctx_with_timeout(root, 30 * GOC_MILLISECOND);
    enum { N = 60 };
    goc_ctx_stop *stops[N];
    int prevented = 0;
    for (int i = 0; i < N; i++) {
        goc_ctx *on = i % 2 ? tmo : goc_ctx_with_cancel(root);
        int op = i % 3;
        TEST_GO_ARGS(blocked_op_fn, struct blocked_op, goc_ctx_retain(on),
                     op == 1 ? nobody_recvs : nobody_sends, op, &errs);
        stops[i] = goc_ctx_after_func(on, test_count, &afruns);
        CHECK(stops[i] != NULL);
        if (i % 4 == 0) {
            CHECK(goc_ctx_stop_after_func(stops[i]));
            stops[i] = NULL;
            prevented++;
        }
        if (on != tmo)
            goc_ctx_release(on); /* the goroutine keeps its own reference */
    }
    /* Many timeouts that fire, and many released before they fire. */
    for (int i = 0; i < 50; i++) {
        goc_ctx *a = goc_ctx_with_timeout(root, (i % 5) * GOC_MILLISECOND);
        goc_ctx *b = goc_ctx_with_timeout(root, 60 * GOC_MINUTE);
        goc_ctx_release(b);
        CHECK(!goc_chan_recv(goc_ctx_done(a), NULL));
        goc_ctx_release(a);
    }
    goc_sleep(40 * GOC_MILLISECOND);
    goc_ctx_cancel(root);
    WAIT_UNTIL(atomic_load(&errs) == N, TEST_PATIENCE_S);
    for (int i = 0; i < N; i++)
        if (stops[i])
            CHECK(!goc_ctx_stop_after_func(stops[i])); /* ran after the cancel */
    goc_ctx_release(tmo);
    goc_ctx_release(root);
    test_settle_goroutines(base);
    CHECK_EQ_INT(atomic_load(&afruns), N - prevented);
    goc_chan_release(nobody_sends);
    goc_chan_release(nobody_recvs);
}

/* ---- WaitGroup and Mutex waits with a context ---- */

static void wg_done_later(void *arg) {
    goc_sleep(5 * GOC_MILLISECOND);
    goc_wg_done(arg);
}

GTEST(wg_wait_ctx_returns_zero_when_group_finishes) {
    static goc_waitgroup wg;
    goc_wg_add(&wg, 2);
    TEST_GO(wg_done_later, &wg);
    TEST_GO(wg_done_later, &wg);
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 10 * GOC_SECOND);
    CHECK_EQ_INT(goc_wg_wait_ctx(&wg, ctx), 0);
    goc_ctx_release(ctx);
}

GTEST(wg_wait_ctx_returns_ctx_error_first) {
    static goc_waitgroup wg;
    goc_wg_add(&wg, 1);
    int64_t t0 = goc_now(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_wg_wait_ctx(&wg, ctx), -ETIMEDOUT);
    CHECK(goc_now() - t0 >= 5 * GOC_MILLISECOND);
    goc_ctx_release(ctx);
    goc_wg_done(&wg); /* the helper still waiting finishes now */
    goc_wg_wait(&wg);
    /* An already-canceled context returns at once. On a group of its own:
     * wg is not reusable until the helper's Wait has returned too, and
     * nothing here tells when that is (reusing it earlier panics "sync:
     * WaitGroup is reused before previous Wait has returned" in the
     * helper, as Go's Wait would, whenever the helper runs late). */
    static goc_waitgroup wg2;
    goc_ctx *c2 = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(c2);
    goc_wg_add(&wg2, 1);
    CHECK_EQ_INT(goc_wg_wait_ctx(&wg2, c2), -ECANCELED);
    goc_wg_done(&wg2);
    goc_ctx_release(c2);
}

static void unlock_later(void *mu) { goc_mutex_unlock(mu); }

GTEST(mutex_lock_ctx_acquires_free_and_contended_mutex) {
    static goc_mutex mu;
    CHECK_EQ_INT(goc_mutex_lock_ctx(&mu, NULL), 0);
    goc_mutex_unlock(&mu);
    goc_mutex_lock(&mu);
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 10 * GOC_SECOND);
    /* Unlock from another goroutine shortly (Go mutexes are not owned). */
    goc_timer *t = goc_after_func(3 * GOC_MILLISECOND, unlock_later, &mu);
    CHECK(t != NULL);
    CHECK_EQ_INT(goc_mutex_lock_ctx(&mu, ctx), 0);
    CHECK(!goc_mutex_trylock(&mu)); /* held by us */
    goc_mutex_unlock(&mu);
    goc_ctx_release(ctx);
    goc_timer_free(t);
}

GTEST(mutex_lock_ctx_timeout_leaves_mutex_usable) {
    static goc_mutex mu;
    goc_mutex_lock(&mu);
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_mutex_lock_ctx(&mu, ctx), -ETIMEDOUT);
    goc_ctx_release(ctx);
    goc_mutex_unlock(&mu);
    /* The abandoned helper takes the lock and gives it back. */
    int got = 0;
    for (int i = 0; i < 2000 && !got; i++) {
        if (goc_mutex_trylock(&mu))
            got = 1;
        else
            goc_sleep(GOC_MILLISECOND);
    }
    CHECK(got);
    goc_mutex_unlock(&mu);
}
