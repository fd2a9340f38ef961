/* test_synctest.c — goc_synctest_run / goc_synctest_wait (Go 1.25's
 * testing/synctest): the virtual clock, durable blocking, Wait, deadlocks,
 * misuse from outside a bubble. Cases named go_* are ports of Go's
 * src/internal/synctest/synctest_test.go. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc.h>

#define HOUR (60 * GOC_MINUTE)
/* goc_now's value at the start of every bubble: 2000-01-01 00:00:00 UTC
 * in Unix nanoseconds (docs/reference.md). */
#define EPOCH INT64_C(946684800000000000)

static int64_t recv_time(goc_chan *c) {
    int64_t v = 0;
    CHECK(goc_chan_recv(c, &v));
    return v;
}

/* ---- the clock ---- */

static int sleep_hour(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    CHECK_EQ_INT(t0, EPOCH);
    goc_sleep(HOUR);
    CHECK_EQ_INT(goc_now() - t0, HOUR);
    goc_sleep(1);
    CHECK_EQ_INT(goc_now() - t0, HOUR + 1);
    return 42;
}

GTEST(sleep_hour_returns_at_once_exactly_an_hour_later) {
    int64_t r0 = test_now_ns();
    CHECK_EQ_INT(goc_synctest_run(sleep_hour, NULL), 42);
    CHECK_LT_INT(test_now_ns() - r0, 10 * GOC_SECOND);
}

TEST(run_from_plain_thread) { CHECK_EQ_INT(goc_synctest_run(sleep_hour, NULL), 42); }

static int timers_order(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    goc_timer *t3 = goc_timer_new(3 * GOC_SECOND);
    goc_timer *t1 = goc_timer_new(1 * GOC_SECOND);
    goc_timer *t2 = goc_timer_new(2 * GOC_SECOND + 7);
    goc_case cs[3];
    int64_t v[3];
    cs[0] = GOC_RECV(goc_timer_chan(t1), &v[0], NULL);
    cs[1] = GOC_RECV(goc_timer_chan(t2), &v[1], NULL);
    cs[2] = GOC_RECV(goc_timer_chan(t3), &v[2], NULL);
    int64_t want[3] = {t0 + GOC_SECOND, t0 + 2 * GOC_SECOND + 7, t0 + 3 * GOC_SECOND};
    for (int k = 0; k < 3; k++) {
        int i = goc_select(cs, 3);
        CHECK_EQ_INT(i, k); /* deadline order */
        CHECK_EQ_INT(v[i], want[k]);
        CHECK_EQ_INT(goc_now(), want[k]);
        cs[i].ch = NULL;
    }
    goc_timer_free(t1);
    goc_timer_free(t2);
    goc_timer_free(t3);
    return 0;
}

GTEST(timers_fire_in_deadline_order_at_exact_times) {
    CHECK_EQ_INT(goc_synctest_run(timers_order, NULL), 0);
}

static int ctx_deadline(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 5 * GOC_SECOND);
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(ctx, &dl));
    CHECK_EQ_INT(dl, t0 + 5 * GOC_SECOND);
    goc_sleep(5 * GOC_SECOND - 1);
    goc_synctest_wait();
    CHECK_EQ_INT(goc_ctx_err(ctx), 0);
    goc_sleep(1);
    goc_synctest_wait();
    CHECK_EQ_INT(goc_ctx_err(ctx), -ETIMEDOUT);
    CHECK_EQ_INT(goc_now(), t0 + 5 * GOC_SECOND);
    goc_ctx_release(ctx);
    /* A receive on Done wakes exactly at the deadline. */
    ctx = goc_ctx_with_timeout(goc_ctx_background(), HOUR);
    CHECK(!goc_chan_recv(goc_ctx_done(ctx), NULL));
    CHECK_EQ_INT(goc_now(), t0 + 5 * GOC_SECOND + HOUR);
    goc_ctx_release(ctx);
    /* goc_sleep_ctx: the earlier of the two. */
    ctx = goc_ctx_with_timeout(goc_ctx_background(), 2 * GOC_SECOND);
    int64_t t1 = goc_now();
    CHECK_EQ_INT(goc_sleep_ctx(HOUR, ctx), -ETIMEDOUT);
    CHECK_EQ_INT(goc_now(), t1 + 2 * GOC_SECOND);
    goc_ctx_release(ctx);
    return 0;
}

GTEST(context_deadline_expires_exactly_at_5s) {
    CHECK_EQ_INT(goc_synctest_run(ctx_deadline, NULL), 0);
}

struct ticks {
    int n;
};

static int ticker_exact(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    goc_ticker *tk = goc_ticker_new(GOC_SECOND + 3);
    for (int k = 1; k <= 5; k++) {
        int64_t v = recv_time(goc_ticker_chan(tk));
        CHECK_EQ_INT(v, t0 + k * (GOC_SECOND + 3));
        CHECK_EQ_INT(goc_now(), v);
    }
    /* A slow receiver: ticks in between are dropped, values stay on grid. */
    goc_sleep(10 * GOC_SECOND);
    int64_t v = recv_time(goc_ticker_chan(tk));
    CHECK_EQ_INT((v - t0) % (GOC_SECOND + 3), 0);
    goc_ticker_reset(tk, HOUR);
    int64_t t1 = goc_now();
    CHECK_EQ_INT(recv_time(goc_ticker_chan(tk)), t1 + HOUR);
    goc_ticker_free(tk);
    return 0;
}

GTEST(tickers_are_exact) { CHECK_EQ_INT(goc_synctest_run(ticker_exact, NULL), 0); }

/* ---- goc_synctest_wait ---- */

static _Atomic int stage;

static void blocked_on_bubble_chan(void *arg) {
    goc_chan *c = arg;
    atomic_store(&stage, 1);
    int v = 0;
    CHECK(goc_chan_recv(c, &v));
    atomic_store(&stage, v);
}

static int wait_durable(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    atomic_store(&stage, 0);
    TEST_GO(blocked_on_bubble_chan, c);
    goc_synctest_wait();
    CHECK_EQ_INT(atomic_load(&stage), 1); /* it ran up to its receive */
    int v = 7;
    goc_chan_send(c, &v);
    goc_synctest_wait();
    CHECK_EQ_INT(atomic_load(&stage), 7);
    CHECK_EQ_INT(goc_now(), t0); /* no timer: time did not move */
    goc_chan_release(c);
    return 0;
}

GTEST(wait_returns_once_others_durably_blocked_and_time_stays) {
    CHECK_EQ_INT(goc_synctest_run(wait_durable, NULL), 0);
}

/* A goroutine blocked on a channel from outside the bubble is not durably
 * blocked: Wait waits for it, and the clock does not move meanwhile. */
static goc_chan *outside;

static void outside_sender(void *arg) {
    (void)arg;
    goc_sleep(30 * GOC_MILLISECOND); /* real time */
    int v = 5;
    goc_chan_send(outside, &v);
}

static void blocked_outside(void *arg) {
    (void)arg;
    int v = 0;
    CHECK(goc_chan_recv(outside, &v));
    atomic_store(&stage, v);
}

static int wait_nondurable(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    atomic_store(&stage, 0);
    TEST_GO(blocked_outside, NULL);
    goc_synctest_wait();
    CHECK_EQ_INT(atomic_load(&stage), 5);
    CHECK_EQ_INT(goc_now(), t0);
    return 0;
}

GTEST(wait_waits_for_goroutines_blocked_outside_the_bubble) {
    outside = goc_chan_make(sizeof(int), 0);
    TEST_GO(outside_sender, NULL);
    int64_t r0 = test_now_ns();
    CHECK_EQ_INT(goc_synctest_run(wait_nondurable, NULL), 0);
    CHECK_GE_INT(test_now_ns() - r0, 25 * GOC_MILLISECOND);
    goc_chan_release(outside);
}

/* ---- the real clock outside ---- */

static _Atomic bool bubble_running, outside_ok;

static void real_clock_watcher(void *arg) {
    (void)arg;
    while (!atomic_load(&bubble_running))
        goc_yield();
    int64_t r0 = test_now_ns(), g0 = goc_now();
    goc_sleep(20 * GOC_MILLISECOND);
    int64_t r1 = test_now_ns(), g1 = goc_now();
    bool ok = g1 - g0 >= 20 * GOC_MILLISECOND && g1 - g0 < 10 * GOC_SECOND &&
              r1 - r0 >= 20 * GOC_MILLISECOND && g0 < EPOCH / 2;
    atomic_store(&outside_ok, ok);
}

static void bubble_sleeper(void *arg) {
    (void)arg;
    goc_sleep(HOUR);
}

static int long_bubble(void *arg) {
    goc_chan *done = arg;
    (void)done;
    TEST_GO(bubble_sleeper, NULL);
    atomic_store(&bubble_running, true);
    /* Block non-durably until the outside watcher is done, so the bubble
     * is alive while real time passes outside. */
    CHECK(!goc_chan_recv(done, NULL));
    goc_sleep(24 * HOUR);
    CHECK_EQ_INT(goc_now(), EPOCH + 24 * HOUR);
    return 0;
}

static void closer(void *arg) {
    while (!atomic_load(&outside_ok))
        goc_sleep(GOC_MILLISECOND);
    goc_chan_close(arg);
}

GTEST(real_clock_outside_a_bubble_is_untouched) {
    goc_chan *done = goc_chan_make(0, 0);
    atomic_store(&bubble_running, false);
    atomic_store(&outside_ok, false);
    int64_t g0 = goc_now(), r0 = test_now_ns();
    TEST_GO(real_clock_watcher, NULL);
    TEST_GO(closer, done);
    CHECK_EQ_INT(goc_synctest_run(long_bubble, done), 0);
    CHECK(atomic_load(&outside_ok));
    int64_t g1 = goc_now(), r1 = test_now_ns();
    /* goc_now outside moved with the real clock, not by 24 hours. */
    CHECK_LT_INT(g1 - g0, (r1 - r0) + GOC_SECOND);
    CHECK_LT_INT(g0, EPOCH / 2);
    goc_chan_release(done);
}

/* ---- run waits for every goroutine ---- */

static _Atomic int exited;
static goc_waitgroup exit_wg;

/* Sleeps (durably blocked), then keeps running (not blocked) for a while
 * after main has returned, then exits. */
static void sleeper_exits(void *arg) {
    goc_sleep((goc_duration)(intptr_t)arg);
    goc_wg_done(&exit_wg);
    for (int i = 0; i < 1000; i++)
        goc_yield();
    atomic_fetch_add(&exited, 1);
}

static int spawn_and_return(void *arg) {
    (void)arg;
    goc_wg_add(&exit_wg, 10);
    for (int i = 1; i <= 10; i++)
        TEST_GO(sleeper_exits, (void *)(intptr_t)(i * GOC_SECOND));
    goc_wg_wait(&exit_wg);
    CHECK_EQ_INT(goc_now(), EPOCH + 10 * GOC_SECOND);
    return 9; /* main returns while ten goroutines still run */
}

GTEST(run_returns_only_after_every_goroutine_exits) {
    atomic_store(&exited, 0);
    CHECK_EQ_INT(goc_synctest_run(spawn_and_return, NULL), 9);
    CHECK_EQ_INT(atomic_load(&exited), 10);
}

static int chain_spin(void *arg) {
    (void)arg;
    /* Busy members (not blocked) keep the run going after main returns. */
    goc_wg_add(&exit_wg, 20);
    for (int i = 0; i < 20; i++)
        TEST_GO(sleeper_exits, (void *)(intptr_t)0);
    return 1;
}

GTEST(run_waits_for_running_goroutines) {
    atomic_store(&exited, 0);
    CHECK_EQ_INT(goc_synctest_run(chain_spin, NULL), 1);
    CHECK_EQ_INT(atomic_load(&exited), 20);
}

/* Several bubbles at once, each with its own clock. */
static void one_bubble_thread(void *arg) {
    goc_chan *done = arg;
    CHECK_EQ_INT(goc_synctest_run(sleep_hour, NULL), 42);
    goc_chan_send(done, NULL);
}

GTEST(concurrent_bubbles_have_their_own_clocks) {
    goc_chan *done = goc_chan_make(0, 0);
    for (int i = 0; i < 4; i++)
        TEST_GO(one_bubble_thread, done);
    for (int i = 0; i < 4; i++)
        goc_chan_recv(done, NULL);
    goc_chan_release(done);
}

/* Durable sync waits: mutex held across a sleep, WaitGroup, cond. */
static goc_mutex mu = GOC_MUTEX_INIT;

static void hold_mutex_sleeping(void *arg) {
    (void)arg;
    goc_mutex_lock(&mu);
    goc_sleep(GOC_MINUTE);
    goc_mutex_unlock(&mu);
}

static int mutex_durable(void *arg) {
    (void)arg;
    int64_t t0 = goc_now();
    TEST_GO(hold_mutex_sleeping, NULL);
    goc_synctest_wait(); /* it holds the lock and sleeps */
    goc_mutex_lock(&mu); /* durable: time moves to the holder's wakeup */
    CHECK_EQ_INT(goc_now(), t0 + GOC_MINUTE);
    goc_mutex_unlock(&mu);
    return 0;
}

GTEST(mutex_wait_is_durable) { CHECK_EQ_INT(goc_synctest_run(mutex_durable, NULL), 0); }

/* ---- Go's tests (internal/synctest/synctest_test.go) ---- */

static _Atomic int64_t child_now;

static void record_now(void *arg) {
    (void)arg;
    atomic_store(&child_now, goc_now());
}

static int go_now(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_now(), EPOCH);
    TEST_GO(record_now, NULL);
    goc_sleep(GOC_SECOND);
    CHECK_EQ_INT(atomic_load(&child_now), EPOCH); /* new goroutines see the clock */
    CHECK_EQ_INT(goc_now(), EPOCH + GOC_SECOND);
    return 0;
}

GTEST(go_now) { CHECK_EQ_INT(goc_synctest_run(go_now, NULL), 0); }

static int empty(void *arg) {
    (void)arg;
    return 3;
}

GTEST(go_run_empty) { CHECK_EQ_INT(goc_synctest_run(empty, NULL), 3); }

static int simple_wait(void *arg) {
    (void)arg;
    goc_synctest_wait();
    return 0;
}

GTEST(go_simple_wait) { CHECK_EQ_INT(goc_synctest_run(simple_wait, NULL), 0); }

static void nothing(void *arg) { (void)arg; }

static int goroutine_wait(void *arg) {
    (void)arg;
    TEST_GO(nothing, NULL);
    goc_synctest_wait();
    return 0;
}

GTEST(go_goroutine_wait) { CHECK_EQ_INT(goc_synctest_run(goroutine_wait, NULL), 0); }

static _Atomic bool wait_done;

static void wait_chain(void *arg) {
    goc_chan *ch = arg;
    int count = 0;
    goc_chan_recv(ch, &count);
    if (count == 0) {
        atomic_store(&wait_done, true);
    } else {
        TEST_GO(wait_chain, ch);
        count--;
        goc_chan_send(ch, &count);
    }
}

static int go_wait_body(void *arg) {
    (void)arg;
    goc_chan *ch = goc_chan_make(sizeof(int), 0);
    atomic_store(&wait_done, false);
    TEST_GO(wait_chain, ch);
    int n = 100;
    goc_chan_send(ch, &n);
    goc_synctest_wait();
    CHECK(atomic_load(&wait_done));
    goc_chan_release(ch);
    return 0;
}

GTEST(go_wait) { CHECK_EQ_INT(goc_synctest_run(go_wait_body, NULL), 0); }

static int timer_read_before(void *arg) {
    (void)arg;
    int64_t start = goc_now();
    goc_timer *tm = goc_timer_new(5 * GOC_SECOND);
    recv_time(goc_timer_chan(tm));
    CHECK_EQ_INT(goc_now() - start, 5 * GOC_SECOND);
    goc_timer_free(tm);
    return 0;
}

GTEST(go_timer_read_before_deadline) { CHECK_EQ_INT(goc_synctest_run(timer_read_before, NULL), 0); }

static int timer_read_after(void *arg) {
    (void)arg;
    int64_t want = goc_now() + GOC_SECOND;
    goc_timer *tm = goc_timer_new(GOC_SECOND);
    goc_sleep(2 * GOC_SECOND);
    CHECK_EQ_INT(recv_time(goc_timer_chan(tm)), want);
    goc_timer_free(tm);
    return 0;
}

GTEST(go_timer_read_after_deadline) { CHECK_EQ_INT(goc_synctest_run(timer_read_after, NULL), 0); }

static int timer_reset(void *arg) {
    (void)arg;
    int64_t start = goc_now();
    goc_timer *tm = goc_timer_new(GOC_SECOND);
    CHECK_EQ_INT(recv_time(goc_timer_chan(tm)), start + GOC_SECOND);
    goc_timer_reset(tm, 2 * GOC_SECOND);
    CHECK_EQ_INT(recv_time(goc_timer_chan(tm)), start + 3 * GOC_SECOND);
    goc_timer_reset(tm, 3 * GOC_SECOND);
    goc_sleep(GOC_SECOND);
    goc_timer_reset(tm, 3 * GOC_SECOND);
    CHECK_EQ_INT(recv_time(goc_timer_chan(tm)), start + 7 * GOC_SECOND);
    goc_timer_free(tm);
    return 0;
}

GTEST(go_timer_reset) { CHECK_EQ_INT(goc_synctest_run(timer_reset, NULL), 0); }

static _Atomic int after_i;

static void after_inner(void *arg) {
    (void)arg;
    goc_sleep(GOC_SECOND);
    atomic_fetch_add(&after_i, 1); /* 2 */
}

static void after_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&after_i, 1); /* 1: membership propagates through AfterFunc */
    TEST_GO(after_inner, NULL);
}

static int time_after(void *arg) {
    (void)arg;
    atomic_store(&after_i, 0);
    goc_timer *t = goc_after_func(GOC_SECOND, after_fn, NULL);
    goc_sleep(3 * GOC_SECOND);
    goc_synctest_wait();
    CHECK_EQ_INT(atomic_load(&after_i), 2);
    goc_timer_free(t);
    return 0;
}

GTEST(go_time_after) { CHECK_EQ_INT(goc_synctest_run(time_after, NULL), 0); }

static _Atomic bool after_exit_ran;

static void set_after_exit(void *arg) {
    (void)arg;
    atomic_store(&after_exit_ran, true);
}

static goc_timer *leaked_timer;

static int timer_after_exit(void *arg) {
    (void)arg;
    leaked_timer = goc_after_func(GOC_SECOND, set_after_exit, NULL);
    return 0;
}

GTEST(go_timer_after_bubble_exit) {
    atomic_store(&after_exit_ran, false);
    CHECK_EQ_INT(goc_synctest_run(timer_after_exit, NULL), 0);
    CHECK(!atomic_load(&after_exit_ran));
    goc_timer_free(leaked_timer); /* inert; freeing it from outside is fine */
}

static goc_timer *outside_timer;

static int read_outside_timer(void *arg) {
    (void)arg;
    recv_time(goc_timer_chan(outside_timer)); /* real time, not durable */
    return 0;
}

GTEST(go_timer_from_outside_bubble) {
    outside_timer = goc_timer_new(10 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_synctest_run(read_outside_timer, NULL), 0);
    CHECK(!goc_timer_stop(outside_timer));
    goc_timer_free(outside_timer);
}

static int timer_runs_immediately(void *arg) {
    (void)arg;
    int64_t start = goc_now();
    goc_timer *tm = goc_timer_new(0);
    int64_t v = 0;
    goc_case cs = GOC_RECV(goc_timer_chan(tm), &v, NULL);
    CHECK_EQ_INT(goc_select_try(&cs, 1), 0);
    CHECK_EQ_INT(v, start);
    goc_timer_free(tm);
    return 0;
}

GTEST(go_timer_runs_immediately) {
    CHECK_EQ_INT(goc_synctest_run(timer_runs_immediately, NULL), 0);
}

static int timer_ran_in_past(void *arg) {
    (void)arg;
    int64_t want = goc_now() + GOC_SECOND;
    goc_timer *tm = goc_timer_new(GOC_SECOND);
    goc_sleep(2 * GOC_SECOND);
    int64_t v = 0;
    goc_case cs = GOC_RECV(goc_timer_chan(tm), &v, NULL);
    CHECK_EQ_INT(goc_select_try(&cs, 1), 0);
    CHECK_EQ_INT(v, want);
    goc_timer_free(tm);
    return 0;
}

GTEST(go_timer_ran_in_past) { CHECK_EQ_INT(goc_synctest_run(timer_ran_in_past, NULL), 0); }

static _Atomic bool afterfunc_flag;

static void set_flag(void *arg) {
    (void)arg;
    atomic_store(&afterfunc_flag, true);
}

static int afterfunc_immediately(void *arg) {
    (void)arg;
    atomic_store(&afterfunc_flag, false);
    goc_timer *t = goc_after_func(0, set_flag, NULL);
    while (!atomic_load(&afterfunc_flag))
        goc_yield();
    goc_timer_free(t);
    return 0;
}

GTEST(go_after_func_runs_immediately) {
    CHECK_EQ_INT(goc_synctest_run(afterfunc_immediately, NULL), 0);
}

struct reset_zero {
    goc_timer *timer;
    goc_ctx *ctx;
};

static void reset_zero_loop(void *arg) {
    struct reset_zero *rz = arg;
    for (;;) {
        goc_case cs[2] = {GOC_RECV(goc_ctx_done(rz->ctx), NULL, NULL),
                          GOC_RECV(goc_timer_chan(rz->timer), NULL, NULL)};
        if (goc_select(cs, 2) == 0)
            return;
    }
}

static int reset_zero(void *arg) {
    (void)arg;
    struct reset_zero rz = {goc_timer_new(0), goc_ctx_with_cancel(goc_ctx_background())};
    TEST_GO(reset_zero_loop, &rz);
    goc_synctest_wait();
    goc_timer_reset(rz.timer, 0);
    goc_synctest_wait();
    goc_ctx_cancel(rz.ctx);
    goc_synctest_wait();
    goc_timer_free(rz.timer);
    goc_ctx_release(rz.ctx);
    return 0;
}

GTEST(go_timer_reset_zero_do_not_hang) { CHECK_EQ_INT(goc_synctest_run(reset_zero, NULL), 0); }

/* Channels from outside: usable inside, and not durable (the bubble waits
 * for the outside to act, in real time). */
static goc_chan *outside_ch, *outside_ch2;

static void close_outside_later(void *arg) {
    (void)arg;
    goc_sleep(GOC_MILLISECOND);
    goc_chan_close(outside_ch);
}

static void send_outside_later(void *arg) {
    (void)arg;
    goc_sleep(GOC_MILLISECOND);
    int v = 0;
    goc_chan_send(outside_ch, &v);
}

static void recv_outside_later(void *arg) {
    (void)arg;
    goc_sleep(GOC_MILLISECOND);
    int v = 0;
    goc_chan_recv(outside_ch, &v);
}

static int inside_recv(void *arg) {
    (void)arg;
    int v;
    goc_chan_recv(outside_ch, &v);
    return 0;
}

static int inside_send(void *arg) {
    (void)arg;
    int v = 0;
    goc_chan_send(outside_ch, &v);
    return 0;
}

static int inside_select_outside(void *arg) {
    (void)arg;
    int v;
    goc_case cs[2] = {GOC_RECV(outside_ch, &v, NULL), GOC_RECV(outside_ch2, NULL, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 0);
    return 0;
}

static int inside_select_mixed(void *arg) {
    (void)arg;
    int v;
    goc_chan *ch2 = goc_chan_make(0, 0);
    goc_case cs[2] = {GOC_RECV(outside_ch, &v, NULL), GOC_RECV(ch2, NULL, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 0);
    goc_chan_release(ch2);
    return 0;
}

GTEST(go_channel_from_outside_bubble) {
    struct {
        void (*outside)(void *);
        int (*inside)(void *);
    } t[] = {
        {close_outside_later, inside_recv},           /* read closed */
        {send_outside_later, inside_recv},            /* read value */
        {recv_outside_later, inside_send},            /* write value */
        {close_outside_later, inside_select_outside}, /* select outside only */
        {close_outside_later, inside_select_mixed},   /* select mixed */
    };
    outside_ch2 = goc_chan_make(0, 0);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        outside_ch = goc_chan_make(sizeof(int), 0);
        TEST_GO(t[i].outside, NULL);
        CHECK_EQ_INT(goc_synctest_run(t[i].inside, NULL), 0);
        goc_chan_release(outside_ch);
    }
    goc_chan_release(outside_ch2);
}

static goc_mutex cmu = GOC_MUTEX_INIT;
static goc_cond cond = GOC_COND_INIT(&cmu);
static _Atomic bool waiter_done;

static void cond_signaller(void *arg) {
    (void)arg;
    goc_sleep(GOC_MILLISECOND);
    goc_mutex_lock(&cmu);
    goc_cond_signal(&cond);
    goc_mutex_unlock(&cmu);
    goc_sleep(GOC_MILLISECOND);
    goc_mutex_lock(&cmu);
    goc_cond_broadcast(&cond);
    goc_mutex_unlock(&cmu);
}

static void cond_waiter(void *arg) {
    (void)arg;
    goc_mutex_lock(&cmu);
    goc_cond_wait(&cond);
    goc_mutex_unlock(&cmu);
    atomic_store(&waiter_done, true);
}

static int go_cond_body(void *arg) {
    (void)arg;
    int64_t start = goc_now();
    atomic_store(&waiter_done, false);
    TEST_GO(cond_signaller, NULL);
    goc_mutex_lock(&cmu);
    goc_cond_wait(&cond);
    goc_mutex_unlock(&cmu);
    CHECK_EQ_INT(goc_now() - start, GOC_MILLISECOND);
    TEST_GO(cond_waiter, NULL);
    goc_mutex_lock(&cmu);
    goc_cond_wait(&cond);
    goc_mutex_unlock(&cmu);
    goc_synctest_wait();
    CHECK(atomic_load(&waiter_done));
    CHECK_EQ_INT(goc_now() - start, 2 * GOC_MILLISECOND);
    return 0;
}

GTEST(go_cond) { CHECK_EQ_INT(goc_synctest_run(go_cond_body, NULL), 0); }

static goc_waitgroup wg;

static void wg_sleep_done(void *arg) {
    (void)arg;
    goc_sleep(GOC_SECOND);
    goc_wg_done(&wg);
}

static int wg_in_bubble(void *arg) {
    (void)arg;
    memset(&wg, 0, sizeof wg);
    goc_wg_add(&wg, 1);
    TEST_GO(wg_sleep_done, NULL);
    int64_t start = goc_now();
    goc_wg_wait(&wg);
    CHECK_EQ_INT(goc_now() - start, GOC_SECOND);
    return 0;
}

GTEST(go_wait_group_in_bubble) { CHECK_EQ_INT(goc_synctest_run(wg_in_bubble, NULL), 0); }

static int wg_racing_adds(void *arg) {
    (void)arg;
    memset(&wg, 0, sizeof wg);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(goc_wg_go(&wg, nothing, NULL), 0);
    goc_wg_wait(&wg);
    return 0;
}

GTEST(go_wait_group_racing_adds) { CHECK_EQ_INT(goc_synctest_run(wg_racing_adds, NULL), 0); }

/* ---- deaths (child processes) ---- */

static int deadlock_root(void *arg) {
    (void)arg;
    goc_select(NULL, 0); /* select {} */
    return 0;
}

static int run_deadlock_root(void *arg) {
    (void)arg;
    return goc_synctest_run(deadlock_root, NULL);
}

CHILD(deadlock_root) { run_in_goc(run_deadlock_root, NULL); }

TEST(go_deadlock_root) {
    expect_child("deadlock_root", -SIGABRT,
                 "^panic: deadlock: all goroutines in bubble are blocked$");
}

static int deadlock_chan(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(0, 0);
    goc_chan_recv(c, NULL);
    return 0;
}

static int run_deadlock_chan(void *arg) {
    (void)arg;
    return goc_synctest_run(deadlock_chan, NULL);
}

CHILD(deadlock_chan) { run_in_goc(run_deadlock_chan, NULL); }

TEST(bubble_deadlock_panics_with_gos_text_and_lists_goroutines) {
    struct child_opts o = {.expect = -SIGABRT,
                           .regex = {"^panic: deadlock: all goroutines in bubble are blocked$",
                                     "^goroutine [0-9]+ \\[chan receive \\(durable\\).*, "
                                     "synctest bubble [0-9]+\\]:$",
                                     "deadlock_chan"}};
    free(expect_child_opts("deadlock_chan", &o));
}

static void block_forever(void *arg) {
    (void)arg;
    goc_select(NULL, 0);
}

static int deadlock_child(void *arg) {
    (void)arg;
    TEST_GO(block_forever, NULL);
    return 0;
}

static int run_deadlock_child(void *arg) {
    (void)arg;
    return goc_synctest_run(deadlock_child, NULL);
}

CHILD(deadlock_child) { run_in_goc(run_deadlock_child, NULL); }

TEST(go_deadlock_child) {
    expect_child("deadlock_child", -SIGABRT,
                 "^panic: deadlock: main bubble goroutine has exited but blocked goroutines "
                 "remain$");
}

static void tick_forever(void *arg) {
    (void)arg;
    goc_ticker *tk = goc_ticker_new(GOC_SECOND);
    recv_time(goc_ticker_chan(tk));
    FAIL("ticker unexpectedly ran");
}

static int deadlock_ticker(void *arg) {
    (void)arg;
    TEST_GO(tick_forever, NULL);
    return 0;
}

static int run_deadlock_ticker(void *arg) {
    (void)arg;
    return goc_synctest_run(deadlock_ticker, NULL);
}

CHILD(deadlock_ticker) { run_in_goc(run_deadlock_ticker, NULL); }

TEST(go_deadlock_ticker) {
    expect_child("deadlock_ticker", -SIGABRT,
                 "^panic: deadlock: main bubble goroutine has exited but blocked goroutines "
                 "remain$");
}

/* Misuse from outside the bubble. */
static goc_chan *escaped;
static goc_timer *escaped_timer;

static int make_escapees(void *arg) {
    (void)arg;
    escaped = goc_chan_make(sizeof(int), 1);
    escaped_timer = goc_timer_new(GOC_SECOND);
    return 0;
}

static int misuse(void *arg) {
    const char *op = arg;
    CHECK_EQ_INT(goc_synctest_run(make_escapees, NULL), 0);
    int v = 1;
    if (!strcmp(op, "send"))
        goc_chan_send(escaped, &v);
    else if (!strcmp(op, "receive"))
        goc_chan_recv(escaped, &v);
    else if (!strcmp(op, "close"))
        goc_chan_close(escaped);
    else if (!strcmp(op, "select")) {
        goc_case cs = GOC_RECV(escaped, &v, NULL);
        goc_select_try(&cs, 1);
    } else if (!strcmp(op, "stop"))
        goc_timer_stop(escaped_timer);
    else if (!strcmp(op, "reset"))
        goc_timer_reset(escaped_timer, GOC_SECOND);
    else if (!strcmp(op, "timer receive"))
        goc_chan_recv(goc_timer_chan(escaped_timer), &v);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(misuse_send) { run_in_goc(misuse, "send"); }
CHILD(misuse_receive) { run_in_goc(misuse, "receive"); }
CHILD(misuse_close) { run_in_goc(misuse, "close"); }
CHILD(misuse_select) { run_in_goc(misuse, "select"); }
CHILD(misuse_stop) { run_in_goc(misuse, "stop"); }
CHILD(misuse_reset) { run_in_goc(misuse, "reset"); }
CHILD(misuse_timer_receive) { run_in_goc(misuse, "timer receive"); }

/* Another bubble is "outside" too. */
static int other_bubble_send(void *arg) {
    (void)arg;
    int v = 1;
    goc_chan_send(escaped, &v);
    return 0;
}

static int misuse_other(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_synctest_run(make_escapees, NULL), 0);
    goc_synctest_run(other_bubble_send, NULL);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(misuse_other_bubble) { run_in_goc(misuse_other, NULL); }

TEST(bubble_channels_and_timers_panic_outside_their_bubble) {
    expect_child("misuse_send", -SIGABRT, "^panic: send on synctest channel from outside bubble$");
    expect_child("misuse_receive", -SIGABRT,
                 "^panic: receive on synctest channel from outside bubble$");
    expect_child("misuse_close", -SIGABRT,
                 "^panic: close of synctest channel from outside bubble$");
    expect_child("misuse_select", -SIGABRT,
                 "^panic: select on synctest channel from outside bubble$");
    expect_child("misuse_stop", -SIGABRT, "^panic: stop of synctest timer from outside bubble$");
    expect_child("misuse_reset", -SIGABRT, "^panic: reset of synctest timer from outside bubble$");
    expect_child("misuse_timer_receive", -SIGABRT,
                 "^panic: receive on synctest channel from outside bubble$");
    expect_child("misuse_other_bubble", -SIGABRT,
                 "^panic: send on synctest channel from outside bubble$");
}

static int wait_outside(void *arg) {
    (void)arg;
    goc_synctest_wait();
    return 0;
}

CHILD(wait_outside_bubble) { run_in_goc(wait_outside, NULL); }

TEST(wait_outside_a_bubble_panics) {
    expect_child("wait_outside_bubble", -SIGABRT, "^panic: goroutine is not in a bubble$");
}

static int nested(void *arg) {
    (void)arg;
    goc_synctest_run(empty, NULL);
    return 0;
}

static int run_nested(void *arg) {
    (void)arg;
    return goc_synctest_run(nested, NULL);
}

CHILD(nested_run) { run_in_goc(run_nested, NULL); }

TEST(nested_run_panics) {
    expect_child("nested_run", -SIGABRT,
                 "^panic: synctest.Run called from within a synctest bubble$");
}

static goc_chan *hold;

static void first_waiter(void *arg) {
    (void)arg;
    goc_synctest_wait();
}

static void second_waiter(void *arg) {
    (void)arg;
    int64_t until = test_now_ns() + 100 * GOC_MILLISECOND;
    while (test_now_ns() < until)
        goc_yield();
    goc_synctest_wait();
}

static int two_waits(void *arg) {
    (void)arg;
    TEST_GO(first_waiter, NULL);
    TEST_GO(second_waiter, NULL);
    goc_chan_recv(hold, NULL); /* not durable: the first Wait stays waiting */
    return 0;
}

static int run_two_waits(void *arg) {
    (void)arg;
    hold = goc_chan_make(0, 0);
    return goc_synctest_run(two_waits, NULL);
}

CHILD(concurrent_waits) { run_in_goc(run_two_waits, NULL); }

TEST(concurrent_waits_panic) {
    expect_child("concurrent_waits", -SIGABRT, "^panic: wait already in progress$");
}
