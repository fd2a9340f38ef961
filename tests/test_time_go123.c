/* test_time_go123.c — where goc's timers follow Go 1.23 beyond "no stale
 * value after Stop/Reset":
 *
 *   - Stop and Reset return true for a timer that fired but whose value
 *     nobody received (its channel behaves as unbuffered: the value was
 *     never delivered), and false once the value was received; the
 *     pre-1.23 idiom `if (!Stop) drain` thus never drains a dropped value.
 *   - Timer, ticker and goc_after channels report len 0 and cap 0.
 *   - A goc_after timer whose channel is released unreceived is stopped and
 *     freed at once (Go collects unreferenced timers).
 *   - Freeing a timer or ticker twice, or using it after goc_timer_free /
 *     goc_ticker_free, panics instead of hanging.
 *
 * Every check is an invariant or has a generous bound: the cases pass on a
 * loaded two-core machine, at GOCMAXPROCS=1 and 2. "Fired but not
 * received" is observed through the channel's real buffer count
 * (gchan_buffered, white-box), since goc_chan_len hides it, as Go does. */
#include "testing.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"
#include "time/timers.h"

#define MS GOC_MILLISECOND

/* ---- helpers ---- */

/* select { case v := <-c: return 0; default: return -1 } */
static int try_recv_i64(goc_chan *c, int64_t *v) {
    goc_case cs = GOC_RECV(c, v, NULL);
    return goc_select_try(&cs, 1);
}

static int64_t recv_i64(goc_chan *c) {
    int64_t v = -1;
    CHECK(goc_chan_recv(c, &v));
    return v;
}

/* Wait until the timer behind c has fired into it (value not received). */
static void wait_fired_unreceived(goc_chan *c) {
    WAIT_UNTIL(gchan_buffered(c) == 1, TEST_PATIENCE_S);
}

/* xorshift64* */
static uint64_t rnd_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_seed(uint64_t salt) {
    uint64_t s = (uint64_t)test_now_ns() ^ (salt * 0x9E3779B97F4A7C15ULL);
    return s ? s : 1;
}

/* ================================================================== */
/* 1. Stop / Reset return values                                       */

/* Fired, not received: Stop returns true (the value was never delivered,
 * so the call stopped the timer), drops the value, and later calls see a
 * stopped timer. */
GTEST(stop_returns_true_for_fired_unreceived_timer) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    wait_fired_unreceived(goc_timer_chan(t));
    CHECK(goc_timer_stop(t));
    int64_t v;
    CHECK_EQ_INT(try_recv_i64(goc_timer_chan(t), &v), -1);
    CHECK(!goc_timer_stop(t));
    goc_sleep(10 * MS);
    CHECK_EQ_INT(try_recv_i64(goc_timer_chan(t), &v), -1);
    goc_timer_free(t);
}

/* Fired, not received: Reset returns true and the first value afterwards
 * is from the new deadline. */
GTEST(reset_returns_true_for_fired_unreceived_timer) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    wait_fired_unreceived(goc_timer_chan(t));
    int64_t tr = goc_now();
    CHECK(goc_timer_reset(t, 20 * MS));
    int64_t v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, tr + 20 * MS);
    /* Received: the timer is spent. */
    CHECK(!goc_timer_reset(t, GOC_MINUTE));
    CHECK(goc_timer_stop(t));
    goc_timer_free(t);
}

/* Received: Stop and Reset return false, as in every Go version. */
GTEST(stop_and_reset_return_false_after_receive) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    (void)recv_i64(goc_timer_chan(t));
    CHECK(!goc_timer_stop(t));
    CHECK(!goc_timer_reset(t, GOC_MINUTE));
    CHECK(goc_timer_stop(t));
    goc_timer_free(t);
}

/* The pre-Go-1.23 idiom `if (!t.Stop()) <-t.C` on a timer that fired
 * unreceived: Stop returns true, so the receive is skipped and nothing
 * blocks. (Before the fix Stop dropped the value and returned false: the
 * idiom's receive then blocked forever.) Run in a goroutine, watched with
 * a generous timeout so that a hang is a failure, not a stuck test. */
static void idiom_fn(void *arg) {
    goc_chan *done = arg;
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    wait_fired_unreceived(goc_timer_chan(t));
    int64_t v;
    if (!goc_timer_stop(t))
        goc_chan_recv(goc_timer_chan(t), &v);
    goc_timer_free(t);
    int one = 1;
    goc_chan_send(done, &one);
}

GTEST(stop_drain_idiom_does_not_block) {
    goc_chan *done = goc_chan_make(sizeof(int), 1);
    CHECK(done != NULL);
    CHECK_EQ_INT(goc_go(idiom_fn, done), 0);
    goc_chan *limit = goc_after((goc_duration)(TEST_PATIENCE_S * GOC_SECOND));
    int got = 0;
    goc_case cs[2] = {GOC_RECV(done, &got, NULL), GOC_RECV(limit, NULL, NULL)};
    int k = goc_select(cs, 2);
    CHECK_MSG(k == 0, "if (!goc_timer_stop(t)) recv: blocked");
    CHECK_EQ_INT(got, 1);
    goc_chan_release(limit);
    goc_chan_release(done);
}

/* Whatever the timing, exactly one of "the value was received" and "Stop
 * returned true" holds for each arming of a one-shot timer, and nothing is
 * received after Stop. Single goroutine, a receive attempted at a random
 * point (sometimes before, sometimes after the deadline). */
GTEST(stop_true_iff_value_not_received) {
    uint64_t seed = rnd_seed(1);
    goc_timer *t = goc_timer_new(GOC_MINUTE);
    CHECK(t != NULL);
    CHECK(goc_timer_stop(t));
    int n_recv = 0, n_stop = 0;
    const int rounds = 3000;
    for (int i = 0; i < rounds; i++) {
        uint64_t r = rnd_next(&seed);
        goc_duration d = (goc_duration)(r % 50) * GOC_MICROSECOND;
        CHECK(!goc_timer_reset(t, d)); /* stopped or received before */
        if ((r >> 8) % 4 == 0)
            goc_sleep((goc_duration)((r >> 16) % 100) * GOC_MICROSECOND);
        else if ((r >> 8) % 4 == 1)
            goc_yield();
        int64_t v;
        bool received = (r >> 24) % 2 == 0 && try_recv_i64(goc_timer_chan(t), &v) == 0;
        bool stopped = goc_timer_stop(t);
        CHECK_MSG(stopped != received, "round %d: received %d, Stop returned %d", i, received,
                  stopped);
        CHECK_EQ_INT(try_recv_i64(goc_timer_chan(t), &v), -1);
        n_recv += received;
        n_stop += stopped;
    }
    test_note("%d received, %d stopped", n_recv, n_stop);
    goc_timer_free(t);
}

/* The same with a concurrent receiver goroutine, which now and then naps
 * between receives (so that some values wait in the channel): every arming
 * ends either in a received value or in a Stop that returns true, never
 * both, never neither. */
struct recvloop {
    goc_chan *c;
    goc_chan *quit;
    atomic_int received;
    goc_waitgroup wg;
};

static void receiver_fn(void *arg) {
    struct recvloop *rl = arg;
    uint64_t seed = rnd_seed(3);
    for (;;) {
        int64_t v;
        goc_case cs[2] = {GOC_RECV(rl->c, &v, NULL), GOC_RECV(rl->quit, NULL, NULL)};
        if (goc_select(cs, 2) == 1)
            break;
        atomic_fetch_add(&rl->received, 1);
        uint64_t r = rnd_next(&seed);
        if (r % 2 == 0)
            goc_sleep((goc_duration)((r >> 8) % 150) * GOC_MICROSECOND);
    }
    goc_wg_done(&rl->wg);
}

GTEST(stop_true_iff_value_not_received_concurrent) {
    static struct recvloop rl;
    uint64_t seed = rnd_seed(2);
    goc_timer *t = goc_timer_new(GOC_MINUTE);
    CHECK(t != NULL);
    CHECK(goc_timer_stop(t));
    rl.c = goc_timer_chan(t);
    rl.quit = goc_chan_make(0, 0);
    atomic_store(&rl.received, 0);
    goc_wg_add(&rl.wg, 1);
    CHECK_EQ_INT(goc_go(receiver_fn, &rl), 0);
    const int rounds = 2000;
    int stopped = 0;
    for (int i = 0; i < rounds; i++) {
        uint64_t r = rnd_next(&seed);
        (void)goc_timer_reset(t, (goc_duration)(r % 60) * GOC_MICROSECOND);
        if ((r >> 8) % 3 == 0)
            goc_sleep((goc_duration)((r >> 16) % 120) * GOC_MICROSECOND);
        else
            goc_yield();
        stopped += goc_timer_stop(t);
    }
    goc_chan_close(rl.quit);
    goc_wg_wait(&rl.wg);
    int received = atomic_load(&rl.received);
    test_note("%d received, %d stopped", received, stopped);
    CHECK_EQ_INT(received + stopped, rounds);
    goc_chan_release(rl.quit);
    goc_timer_free(t);
}

/* AfterFunc timers are unchanged: Stop is true only before fn started. */
static void count_call(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

GTEST(after_func_stop_false_once_started) {
    static atomic_int calls;
    atomic_store(&calls, 0);
    goc_timer *t = goc_after_func(1 * MS, count_call, &calls);
    CHECK(t != NULL);
    WAIT_UNTIL(atomic_load(&calls) == 1, TEST_PATIENCE_S);
    CHECK(!goc_timer_stop(t));
    CHECK(goc_timer_chan(t) == NULL);
    goc_timer_free(t);
}

/* ================================================================== */
/* 2. len and cap                                                      */

static void check_len_cap_zero(goc_chan *c) {
    CHECK(c != NULL);
    CHECK_EQ_INT(goc_chan_cap(c), 0);
    CHECK_EQ_INT(goc_chan_len(c), 0);
}

GTEST(timer_channel_len_and_cap_are_zero) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    check_len_cap_zero(goc_timer_chan(t));
    wait_fired_unreceived(goc_timer_chan(t));
    check_len_cap_zero(goc_timer_chan(t)); /* holding its value */
    (void)recv_i64(goc_timer_chan(t));
    check_len_cap_zero(goc_timer_chan(t));
    goc_timer_free(t);
}

GTEST(ticker_channel_len_and_cap_are_zero) {
    goc_ticker *k = goc_ticker_new(1 * MS);
    CHECK(k != NULL);
    check_len_cap_zero(goc_ticker_chan(k));
    wait_fired_unreceived(goc_ticker_chan(k));
    check_len_cap_zero(goc_ticker_chan(k));
    (void)recv_i64(goc_ticker_chan(k));
    check_len_cap_zero(goc_ticker_chan(k));
    goc_ticker_free(k);
}

GTEST(after_channel_len_and_cap_are_zero) {
    goc_chan *c = goc_after(1 * MS);
    check_len_cap_zero(c);
    wait_fired_unreceived(c);
    check_len_cap_zero(c);
    (void)recv_i64(c);
    check_len_cap_zero(c);
    goc_chan_release(c);
}

/* Other channels are untouched. */
GTEST(plain_channel_len_and_cap_unchanged) {
    goc_chan *c = goc_chan_make(sizeof(int64_t), 3);
    CHECK(c != NULL);
    int64_t v = 7;
    goc_chan_send(c, &v);
    CHECK_EQ_INT(goc_chan_cap(c), 3);
    CHECK_EQ_INT(goc_chan_len(c), 1);
    CHECK_EQ_INT(gchan_buffered(c), 1);
    goc_chan_release(c);
}

/* ================================================================== */
/* 3. Unreferenced goc_after timers are collected                       */

/* `select { case <-time.After(time.Minute): ... case <-ready: }` in a loop,
 * the channel released each time: no timer outlives its channel. Before
 * the fix, each iteration left a pending one-minute timer. */
GTEST(after_released_unfired_is_collected) {
    const int n = TEST_SCALE(100000, 20000);
    int64_t live0 = gtime_live_timers();
    int32_t pending0 = gtime_pending_timers();
    goc_chan *ready = goc_chan_make(sizeof(int), 1);
    CHECK(ready != NULL);
    int64_t t0 = goc_now();
    for (int i = 0; i < n; i++) {
        goc_chan *c = goc_after(GOC_MINUTE);
        CHECK(c != NULL);
        goc_chan_send(ready, &i);
        int got = -1;
        goc_case cs[2] = {GOC_RECV(c, NULL, NULL), GOC_RECV(ready, &got, NULL)};
        CHECK_EQ_INT(goc_select(cs, 2), 1);
        CHECK_EQ_INT(got, i);
        goc_chan_release(c);
        if (i % 1000 == 0)
            CHECK_LE_INT(gtime_live_timers(), live0 + 1);
    }
    int64_t el = goc_now() - t0;
    test_note("%d goc_after channels made and released in %lld ms", n, (long long)(el / MS));
    CHECK_EQ_INT(gtime_live_timers(), live0);
    CHECK_EQ_INT(gtime_pending_timers(), pending0);
    CHECK_LT_INT(el, 60 * GOC_SECOND); /* not a minute per timer, nor a minute in all */
    goc_chan_release(ready);
}

/* A goc_after that fired: its timer goes with its channel, whether the
 * value was received or is still buffered. */
GTEST(after_fired_is_freed_with_its_channel) {
    int64_t live0 = gtime_live_timers();
    goc_chan *c = goc_after(0);
    CHECK(c != NULL);
    (void)recv_i64(c);
    goc_chan_release(c);
    WAIT_UNTIL(gtime_live_timers() == live0, TEST_PATIENCE_S); /* a firing may hold it */

    c = goc_after(0);
    CHECK(c != NULL);
    wait_fired_unreceived(c);
    goc_chan_release(c);
    WAIT_UNTIL(gtime_live_timers() == live0, TEST_PATIENCE_S);
    /* A firing counts as pending until just after it dropped its reference. */
    WAIT_UNTIL(gtime_pending_timers() == 0, TEST_PATIENCE_S);
}

/* Releases racing the firings (deadlines of 0-30 µs, released at random
 * points, from two goroutines): nothing is delivered into a freed channel
 * and every timer is freed. Memory errors show under the sanitizers. */
struct racer {
    goc_waitgroup *wg;
    uint64_t salt;
};

static void after_racer(void *arg) {
    struct racer *rc = arg;
    uint64_t seed = rnd_seed(rc->salt);
    for (int i = 0; i < TEST_SCALE(20000, 4000); i++) {
        uint64_t r = rnd_next(&seed);
        goc_chan *c = goc_after((goc_duration)(r % 30) * GOC_MICROSECOND);
        CHECK(c != NULL);
        switch ((r >> 8) % 4) {
        case 0:
            goc_yield();
            break;
        case 1:
            if ((r >> 16) % 8 == 0)
                goc_sleep((goc_duration)((r >> 20) % 40) * GOC_MICROSECOND);
            break;
        case 2: {
            int64_t v;
            (void)try_recv_i64(c, &v);
            break;
        }
        default:
            break;
        }
        goc_chan_release(c);
    }
    goc_wg_done(rc->wg);
}

GTEST(after_release_races_firing) {
    static goc_waitgroup wg;
    int64_t live0 = gtime_live_timers();
    goc_wg_add(&wg, 2);
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(GOC_GO(after_racer, struct racer, &wg, (uint64_t)i + 10), 0);
    goc_wg_wait(&wg);
    WAIT_UNTIL(gtime_live_timers() == live0, TEST_PATIENCE_S);
    /* A firing counts as pending until just after it dropped its reference. */
    WAIT_UNTIL(gtime_pending_timers() == 0, TEST_PATIENCE_S);
}

/* The deadlock detector sees through released goc_after timers: a main
 * goroutine blocked forever after leaving a thousand released one-minute
 * goc_after timers is reported at once, not a minute later. */
static int main_blocks_after_released_afters(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++)
        goc_chan_release(goc_after(GOC_MINUTE));
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int x;
    goc_chan_recv(c, &x);
    return 1;
}

CHILD(blocked_after_released_afters) {
    int rc = goc_run(main_blocks_after_released_afters, NULL);
    fprintf(stderr, "goc_run returned %d\n", rc);
}

TEST(released_after_does_not_hide_deadlock) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {"^fatal error: all goroutines are asleep - deadlock!$"},
        .timeout_s = 40, /* the timers, if kept, would hold it quiet for 60 s */
    };
    free(expect_child_opts("blocked_after_released_afters", &o));
}

/* A goc_after channel still referenced keeps its timer: it fires. */
GTEST(after_retained_reference_keeps_timer) {
    goc_chan *c = goc_after(5 * MS);
    CHECK(c != NULL);
    goc_chan *c2 = goc_chan_retain(c);
    goc_chan_release(c);
    int64_t t0 = goc_now();
    (void)recv_i64(c2);
    CHECK_LT_INT(goc_now() - t0, TEST_PATIENCE_S * GOC_SECOND);
    goc_chan_release(c2);
}

/* ================================================================== */
/* 4. Misuse panics                                                    */

/* Under AddressSanitizer and ThreadSanitizer the use of freed memory is
 * reported by the sanitizer itself (or, when a firing still holds the
 * timer, by goc's check): a loud failure either way, but not one report to
 * match, so the cases are skipped there. */
static void expect_misuse(const char *child, const char *panic_re) {
#if defined(GOC_ASAN) || defined(GOC_RACE)
    (void)panic_re;
    test_note("%s: skipped under a sanitizer (it reports the use of freed memory)", child);
#else
    /* Before goc checked, these hung: fail in 30 s rather than at the
     * test's own timeout. */
    struct child_opts o = {.expect = -SIGABRT, .regex = {panic_re}, .timeout_s = 30};
    free(expect_child_opts(child, &o));
#endif
}

static goc_timer *freed_timer(void) {
    goc_timer *t = goc_timer_new(GOC_MINUTE);
    CHECK(t != NULL);
    goc_timer_free(t);
    return t;
}

static goc_ticker *freed_ticker(void) {
    goc_ticker *k = goc_ticker_new(GOC_MINUTE);
    CHECK(k != NULL);
    goc_ticker_free(k);
    return k;
}

static int timer_free_twice_main(void *arg) {
    (void)arg;
    goc_timer_free(freed_timer());
    return 0;
}

CHILD(timer_free_twice) { (void)goc_run(timer_free_twice_main, NULL); }
CHILD(timer_free_twice_plain_thread) { goc_timer_free(freed_timer()); }

CHILD(after_func_free_twice) {
    static atomic_int calls;
    goc_timer *t = goc_after_func(GOC_MINUTE, count_call, &calls);
    CHECK(t != NULL);
    goc_timer_free(t);
    goc_timer_free(t);
}

/* Freed after it fired (nothing pending, nothing in flight). */
CHILD(timer_free_twice_after_firing) {
    goc_timer *t = goc_timer_new(0);
    CHECK(t != NULL);
    (void)recv_i64(goc_timer_chan(t));
    goc_timer_free(t);
    goc_timer_free(t);
}

CHILD(timer_stop_after_free) { (void)goc_timer_stop(freed_timer()); }
CHILD(timer_reset_after_free) { (void)goc_timer_reset(freed_timer(), MS); }
CHILD(timer_chan_after_free) { (void)goc_timer_chan(freed_timer()); }

static int ticker_free_twice_main(void *arg) {
    (void)arg;
    goc_ticker_free(freed_ticker());
    return 0;
}

CHILD(ticker_free_twice) { (void)goc_run(ticker_free_twice_main, NULL); }
CHILD(ticker_stop_after_free) { goc_ticker_stop(freed_ticker()); }
CHILD(ticker_reset_after_free) { goc_ticker_reset(freed_ticker(), MS); }
CHILD(ticker_chan_after_free) { (void)goc_ticker_chan(freed_ticker()); }

/* A ticker handed to the timer functions (a cast), and the reverse. */
CHILD(timer_stop_on_ticker) {
    goc_ticker *k = goc_ticker_new(GOC_MINUTE);
    CHECK(k != NULL);
    (void)goc_timer_stop((goc_timer *)(void *)k);
}

CHILD(ticker_stop_on_timer) {
    goc_timer *t = goc_timer_new(GOC_MINUTE);
    CHECK(t != NULL);
    goc_ticker_stop((goc_ticker *)(void *)t);
}

TEST(timer_free_twice_panics) {
    expect_misuse("timer_free_twice", "^panic: goc_timer_free: timer freed twice$");
    expect_misuse("timer_free_twice_plain_thread", "^panic: goc_timer_free: timer freed twice$");
    expect_misuse("after_func_free_twice", "^panic: goc_timer_free: timer freed twice$");
    expect_misuse("timer_free_twice_after_firing", "^panic: goc_timer_free: timer freed twice$");
}

TEST(timer_use_after_free_panics) {
    expect_misuse("timer_stop_after_free", "^panic: goc_timer_stop: use of freed timer$");
    expect_misuse("timer_reset_after_free", "^panic: goc_timer_reset: use of freed timer$");
    expect_misuse("timer_chan_after_free", "^panic: goc_timer_chan: use of freed timer$");
}

TEST(ticker_free_twice_panics) {
    expect_misuse("ticker_free_twice", "^panic: goc_ticker_free: ticker freed twice$");
}

TEST(ticker_use_after_free_panics) {
    expect_misuse("ticker_stop_after_free", "^panic: goc_ticker_stop: use of freed ticker$");
    expect_misuse("ticker_reset_after_free", "^panic: goc_ticker_reset: use of freed ticker$");
    expect_misuse("ticker_chan_after_free", "^panic: goc_ticker_chan: use of freed ticker$");
}

TEST(timer_and_ticker_not_interchangeable) {
    expect_child("timer_stop_on_ticker", -SIGABRT, "^panic: goc_timer_stop: not a timer");
    expect_child("ticker_stop_on_timer", -SIGABRT, "^panic: goc_ticker_stop: not a ticker");
}
