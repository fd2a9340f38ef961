/* test_time.c — package time: the monotonic clock, sleep, time.After,
 * timers (Stop/Reset with Go 1.23 semantics: no stale value after either),
 * AfterFunc, tickers (dropped ticks, Reset, Stop), select with timeouts,
 * idle sleeping in the kernel, and a stress of concurrent Stop/Reset.
 *
 * Timing checks are one-sided where it matters: a timer or a sleep must
 * never end early (lower bounds are exact), while upper bounds are loose
 * (SLOW_NS) so that the cases pass on a loaded two-core machine under the
 * sanitizers. Each case is one behaviour; `test_time --list` names them. */
#include "testing.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "chan/chan.h"

#define MS GOC_MILLISECOND
/* A generous upper bound for anything that should take a few milliseconds. */
#define SLOW_NS (2 * GOC_SECOND)

/* ---- helpers ---- */

static int64_t recv_i64(goc_chan *c) {
    int64_t v = -1;
    bool ok = goc_chan_recv(c, &v);
    CHECK(ok);
    return v;
}

static int64_t cpu_time_ns(void) {
    struct rusage ru;
    CHECK_EQ_INT(getrusage(RUSAGE_SELF, &ru), 0);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * GOC_SECOND +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * GOC_MICROSECOND;
}

/* ================================================================== */
/* goc_now, goc_sleep                                                  */

TEST(now_is_monotonic) {
    int64_t prev = goc_now();
    for (int i = 0; i < 100000; i++) {
        int64_t t = goc_now();
        CHECK_MSG(t >= prev, "goc_now went backwards: %lld after %lld", (long long)t,
                  (long long)prev);
        prev = t;
    }
    /* It advances with real time, in nanoseconds. */
    int64_t a = goc_now();
    test_sleep_ns(20 * MS);
    int64_t b = goc_now();
    CHECK_GE_INT(b - a, 20 * MS);
    CHECK_LT_INT(b - a, SLOW_NS);
}

GTEST(now_is_monotonic_across_goroutine_switches) {
    int64_t prev = goc_now();
    for (int i = 0; i < 2000; i++) {
        goc_yield();
        int64_t t = goc_now();
        CHECK_GE_INT(t, prev);
        prev = t;
    }
}

static void check_sleeps_at_least(goc_duration d) {
    int64_t t0 = goc_now();
    goc_sleep(d);
    int64_t el = goc_now() - t0;
    CHECK_MSG(el >= d, "goc_sleep(%lld ns) returned after %lld ns", (long long)d, (long long)el);
    CHECK_MSG(el < d + SLOW_NS, "goc_sleep(%lld ns) took %lld ns", (long long)d, (long long)el);
}

GTEST(sleep_in_goroutine_at_least_d) {
    check_sleeps_at_least(1 * MS);
    check_sleeps_at_least(10 * MS);
    check_sleeps_at_least(50 * MS);
    check_sleeps_at_least(1); /* one nanosecond */
}

TEST(sleep_on_plain_thread_at_least_d) {
    CHECK_EQ_INT(goc_id(), 0);
    check_sleeps_at_least(1 * MS);
    check_sleeps_at_least(10 * MS);
    check_sleeps_at_least(50 * MS);
}

static void *plain_thread_sleeps(void *arg) {
    (void)arg;
    check_sleeps_at_least(15 * MS);
    return NULL;
}

/* A plain thread started with pthread_create (not the test's main thread)
 * sleeping while the runtime is busy with goroutines. */
GTEST(sleep_on_other_plain_thread_while_runtime_runs) {
    pthread_t th = test_thread_start(plain_thread_sleeps, NULL);
    check_sleeps_at_least(5 * MS);
    test_thread_join(th);
}

static void check_returns_at_once(void) {
    const goc_duration ds[] = {0, -1, -GOC_SECOND, INT64_MIN};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        int64_t t0 = goc_now();
        goc_sleep(ds[i]);
        CHECK_LT_INT(goc_now() - t0, SLOW_NS);
    }
}

GTEST(sleep_nonpositive_returns_in_goroutine) { check_returns_at_once(); }

TEST(sleep_nonpositive_returns_on_plain_thread) { check_returns_at_once(); }

/* Many goroutines sleeping at once, random 1-20 ms each: all wake, none early. */
struct sleeper {
    goc_duration d;
    goc_waitgroup *wg;
    atomic_int *woke;
};

static void sleeper_fn(void *arg) {
    struct sleeper *s = arg;
    int64_t t0 = goc_now();
    goc_sleep(s->d);
    int64_t el = goc_now() - t0;
    CHECK_MSG(el >= s->d, "slept %lld ns, asked for %lld", (long long)el, (long long)s->d);
    atomic_fetch_add(s->woke, 1);
    goc_wg_done(s->wg);
}

GTEST(many_sleepers_all_wake_never_early) {
    static goc_waitgroup wg;
    static atomic_int woke;
    const int n = 1000;
    uint64_t seed = test_rand_seed(1);
    atomic_store(&woke, 0);
    int64_t t0 = goc_now();
    goc_wg_add(&wg, n);
    for (int i = 0; i < n; i++) {
        goc_duration d = (goc_duration)(1 + test_rand(&seed) % 20) * MS;
        TEST_GO_ARGS(sleeper_fn, struct sleeper, d, &wg, &woke);
    }
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&woke), n);
    CHECK_LT_INT(goc_now() - t0, 5 * SLOW_NS);
}

/* ================================================================== */
/* Deadline order                                                      */

enum { ORDER_N = 20 };

struct order_rec {
    int order[ORDER_N];
    int64_t ran_at[ORDER_N]; /* goc_now() when timer k's function ran */
    atomic_int next;
    goc_waitgroup wg;
};

struct order_arg {
    struct order_rec *rec;
    int k;
};

static void order_fn(void *arg) {
    struct order_arg *a = arg;
    int pos = atomic_fetch_add(&a->rec->next, 1);
    CHECK_LT_INT(pos, ORDER_N);
    a->rec->order[pos] = a->k;
    a->rec->ran_at[a->k] = goc_now();
    goc_wg_done(&a->rec->wg);
}

static void shuffle(int *a, int n, uint64_t *seed) {
    for (int i = 0; i < n; i++)
        a[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(test_rand(seed) % (uint64_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The first timer a process makes can be slow under the sanitizers (lazy
 * initialization): make one before laying out deadlines. */
static void warm_up_timers(void) { goc_timer_free(goc_timer_new(GOC_SECOND)); }

/* AfterFunc timers with distinct absolute deadlines base + k*step, created
 * in shuffled order, run in deadline order. Deadlines are 15 ms apart (more
 * in later rounds) so that the order of their goroutines is not left to
 * the scheduler. A round proves nothing, and is retried with more room,
 * when creating the timers took so long that a deadline had already
 * passed, or when a function ran a whole step late: the machine stalled
 * the runtime, several timers came due at once, and the goroutines they
 * start go in at the front of the run queue (runnext, as in Go), newest
 * first. */
GTEST(timers_fire_in_deadline_order) {
    static struct order_rec rec[4];
    static struct order_arg args[4][ORDER_N];
    warm_up_timers();
    uint64_t seed = test_rand_seed(2);
    for (int round = 0; round < 4; round++) {
        struct order_rec *r = &rec[round];
        goc_timer *t[ORDER_N];
        int perm[ORDER_N];
        shuffle(perm, ORDER_N, &seed);
        atomic_store(&r->next, 0);
        goc_wg_add(&r->wg, ORDER_N);
        const int64_t base = goc_now() + (30 * MS << round), step = 15 * MS << round;
        for (int i = 0; i < ORDER_N; i++) {
            int k = perm[i];
            args[round][k] = (struct order_arg){r, k};
            t[k] = goc_after_func(base + k * step - goc_now(), order_fn, &args[round][k]);
            CHECK(t[k] != NULL);
        }
        if (goc_now() >= base) {
            test_note("round %d: making %d timers took too long; again", round, ORDER_N);
            for (int k = 0; k < ORDER_N; k++)
                goc_timer_free(t[k]); /* those that ran already count down r->wg */
            continue;
        }
        goc_wg_wait(&r->wg);
        int64_t worst = 0;
        for (int k = 0; k < ORDER_N; k++)
            if (r->ran_at[k] - (base + k * step) > worst)
                worst = r->ran_at[k] - (base + k * step);
        bool inorder = true;
        for (int i = 0; i < ORDER_N; i++)
            inorder = inorder && r->order[i] == i;
        if (!inorder && worst >= step) {
            test_note("round %d: a timer function ran %.1f ms late (step %lld ms); again", round,
                      (double)worst / 1e6, (long long)(step / MS));
            for (int k = 0; k < ORDER_N; k++)
                goc_timer_free(t[k]);
            continue;
        }
        for (int i = 0; i < ORDER_N; i++)
            CHECK_MSG(r->order[i] == i, "position %d ran timer %d", i, r->order[i]);
        CHECK_GE_INT(goc_now(), base + (ORDER_N - 1) * step);
        for (int k = 0; k < ORDER_N; k++)
            goc_timer_free(t[k]);
        return;
    }
    FAIL("no round of %d timers ran without the machine stalling the runtime", ORDER_N);
}

/* Channel timers, shuffled: each delivers its own due time, is received no
 * earlier than that, and the delivered times follow the deadlines. */
GTEST(timer_values_follow_deadline_order) {
    enum { N = 32 };
    warm_up_timers();
    uint64_t seed = test_rand_seed(3);
    for (int round = 0; round < 4; round++) {
        goc_timer *t[N];
        int64_t slack[N]; /* how long making timer k took */
        int perm[N];
        shuffle(perm, N, &seed);
        const int64_t base = goc_now() + (10 * MS << round), step = 2 * MS;
        for (int i = 0; i < N; i++) {
            int k = perm[i];
            int64_t before = goc_now();
            t[k] = goc_timer_new(base + k * step - before);
            slack[k] = goc_now() - before;
            CHECK(t[k] != NULL);
        }
        /* Timer k's deadline lies in [base + k * step, base + k * step +
         * slack[k]]: the deadlines follow k only if making each took less
         * than a step (a busy machine, or qemu, can stall one call longer). */
        int64_t maxslack = 0;
        for (int k = 0; k < N; k++)
            maxslack = slack[k] > maxslack ? slack[k] : maxslack;
        if (goc_now() >= base || maxslack >= step) {
            test_note("round %d: making %d timers took too long; again", round, N);
            for (int k = 0; k < N; k++)
                goc_timer_free(t[k]);
            continue;
        }
        int64_t prev = 0;
        for (int k = 0; k < N; k++) {
            int64_t v = recv_i64(goc_timer_chan(t[k]));
            int64_t got = goc_now();
            CHECK_MSG(v >= base + k * step && v <= base + k * step + slack[k],
                      "timer %d sent %lld ns after its deadline (making it took %lld ns)", k,
                      (long long)(v - base - k * step), (long long)slack[k]);
            CHECK_MSG(got >= v, "timer %d received %lld ns before it was due", k,
                      (long long)(v - got));
            CHECK_MSG(v > prev, "timer %d due at %lld, not after timer %d (%lld)", k, (long long)v,
                      k - 1, (long long)prev);
            prev = v;
        }
        for (int k = 0; k < N; k++)
            goc_timer_free(t[k]);
        return;
    }
    FAIL("could not make %d timers in time in any round", N);
}

/* ================================================================== */
/* goc_after                                                           */

/* The value is the time the timer was due: goc_after's call time plus d. */
static void check_after(goc_duration d) {
    int64_t t0 = goc_now();
    goc_chan *c = goc_after(d);
    int64_t tc = goc_now();
    CHECK(c != NULL);
    int64_t v = recv_i64(c);
    int64_t t1 = goc_now();
    CHECK_MSG(v >= t0 + d && v <= tc + d, "goc_after(%lld) sent %lld, due in [%lld, %lld]",
              (long long)d, (long long)v, (long long)(t0 + d), (long long)(tc + d));
    CHECK_LE_INT(v, t1); /* received no earlier than it was due */
    CHECK_GE_INT(t1 - t0, d);
    CHECK_LT_INT(t1 - t0, d + SLOW_NS);
    /* Exactly one value. */
    goc_sleep(2 * MS);
    CHECK_EQ_INT(test_try_recv(c, &v), -1);
    goc_chan_release(c);
}

GTEST(after_delivers_time_not_before_deadline) {
    check_after(1 * MS);
    check_after(25 * MS);
}

TEST(after_on_plain_thread) { check_after(20 * MS); }

GTEST(after_nonpositive_fires_at_once) {
    const goc_duration ds[] = {0, -5 * MS};
    for (size_t i = 0; i < 2; i++) {
        int64_t t0 = goc_now();
        goc_chan *c = goc_after(ds[i]);
        CHECK(c != NULL);
        int64_t v = recv_i64(c);
        CHECK_GE_INT(v, t0);
        CHECK_LT_INT(goc_now() - t0, SLOW_NS);
        goc_chan_release(c);
    }
}

/* Releasing goc_after's channel before it fires is fine: the timer holds
 * its own reference until then. */
GTEST(after_released_before_firing) {
    for (int i = 0; i < 100; i++)
        goc_chan_release(goc_after((i % 5) * MS));
    goc_sleep(20 * MS);
}

/* ================================================================== */
/* goc_timer: Stop                                                     */

GTEST(timer_fires_once) {
    int64_t t0 = goc_now();
    goc_timer *t = goc_timer_new(10 * MS);
    CHECK(t != NULL);
    goc_chan *c = goc_timer_chan(t);
    CHECK(c != NULL);
    int64_t v = recv_i64(c);
    CHECK_GE_INT(v, t0 + 10 * MS);
    goc_sleep(30 * MS);
    CHECK_EQ_INT(test_try_recv(c, &v), -1);
    goc_timer_free(t);
}

GTEST(timer_stop_before_firing) {
    goc_timer *t = goc_timer_new(40 * MS);
    CHECK(t != NULL);
    CHECK(goc_timer_stop(t));
    goc_sleep(100 * MS); /* well past the deadline */
    int64_t v;
    CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
    CHECK(!goc_timer_stop(t)); /* already stopped */
    goc_timer_free(t);
}

GTEST(timer_stop_after_firing_returns_false) {
    goc_timer *t = goc_timer_new(5 * MS);
    CHECK(t != NULL);
    (void)recv_i64(goc_timer_chan(t));
    CHECK(!goc_timer_stop(t));
    CHECK(!goc_timer_stop(t));
    goc_timer_free(t);
}

/* Wait until the timer has fired into its channel (the value not received).
 * goc_chan_len reports 0 for timer channels (as in Go 1.23): ask the
 * channel's real buffer count. */
static void wait_fired_unreceived(goc_timer *t) {
    WAIT_UNTIL(gchan_buffered(goc_timer_chan(t)) == 1, TEST_PATIENCE_S);
}

/* Go 1.23: Stop on a timer that fired but whose value nobody received
 * drops that value. */
GTEST(timer_stop_drops_unreceived_value) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    wait_fired_unreceived(t);
    (void)goc_timer_stop(t);
    int64_t v;
    CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
    CHECK(!goc_timer_stop(t));
    goc_timer_free(t);
}

/* Go 1.23: Reset on a fired, unreceived timer drops the stale value: the
 * first value received afterwards is from the new deadline. */
GTEST(timer_reset_drops_unreceived_value) {
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(t != NULL);
    wait_fired_unreceived(t);
    int64_t tr = goc_now();
    (void)goc_timer_reset(t, 50 * MS);
    int64_t v = 0;
    CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
    v = recv_i64(goc_timer_chan(t));
    CHECK_MSG(v >= tr + 50 * MS, "received a value from %lld ns before the reset deadline",
              (long long)(tr + 50 * MS - v));
    CHECK_LT_INT(goc_now() - tr, 50 * MS + SLOW_NS);
    goc_timer_free(t);
}

GTEST(timer_reset_returns_whether_pending) {
    goc_timer *t = goc_timer_new(GOC_SECOND);
    CHECK(t != NULL);
    CHECK(goc_timer_reset(t, GOC_SECOND)); /* pending */
    CHECK(goc_timer_stop(t));
    int64_t tr = goc_now();
    CHECK(!goc_timer_reset(t, 5 * MS)); /* stopped */
    int64_t v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, tr + 5 * MS);
    CHECK(!goc_timer_reset(t, GOC_SECOND)); /* fired and received */
    CHECK(goc_timer_stop(t));
    goc_timer_free(t);
}

/* Reset moves a pending deadline both ways. */
GTEST(timer_reset_moves_deadline) {
    goc_timer *t = goc_timer_new(GOC_SECOND);
    CHECK(t != NULL);
    int64_t t0 = goc_now();
    CHECK(goc_timer_reset(t, 10 * MS)); /* earlier */
    int64_t v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, t0 + 10 * MS);
    CHECK_LT_INT(v - t0, SLOW_NS);

    t0 = goc_now();
    CHECK(!goc_timer_reset(t, 1 * MS));
    CHECK(goc_timer_reset(t, 60 * MS)); /* later, before the first deadline */
    goc_sleep(20 * MS);
    CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
    v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, t0 + 60 * MS);
    goc_timer_free(t);
}

GTEST(timer_zero_duration_fires_at_once) {
    int64_t t0 = goc_now();
    goc_timer *t = goc_timer_new(0);
    CHECK(t != NULL);
    int64_t v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, t0);
    CHECK_LT_INT(goc_now() - t0, SLOW_NS);
    goc_timer_free(t);
}

/* A pending timer can be freed; nothing fires into freed memory. */
GTEST(timer_free_while_pending) {
    for (int i = 0; i < 200; i++) {
        goc_timer *t = goc_timer_new((i % 4) * MS);
        CHECK(t != NULL);
        if (i % 3 == 0)
            goc_yield();
        goc_timer_free(t);
    }
    goc_sleep(20 * MS);
}

TEST(timer_on_plain_thread) {
    int64_t t0 = goc_now();
    goc_timer *t = goc_timer_new(15 * MS);
    CHECK(t != NULL);
    int64_t v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, t0 + 15 * MS);
    CHECK(!goc_timer_stop(t));
    t0 = goc_now();
    CHECK(!goc_timer_reset(t, 10 * MS));
    v = recv_i64(goc_timer_chan(t));
    CHECK_GE_INT(v, t0 + 10 * MS);
    goc_timer_free(t);
}

/* ================================================================== */
/* Stop from elsewhere                                                 */

struct creator {
    goc_chan *out;  /* receives the goc_timer * */
    goc_chan *hold; /* closed when the creator may return */
    int func;       /* make an AfterFunc timer */
    atomic_long *ran;
};

static void creator_fn(void *arg) {
    struct creator *c = arg;
    goc_timer *t = c->func ? goc_after_func(60 * MS, test_count, c->ran) : goc_timer_new(60 * MS);
    CHECK(t != NULL);
    goc_chan_send(c->out, &t);
    goc_chan_recv(c->hold, NULL);
}

/* A timer made on one goroutine, stopped by another. */
GTEST(timer_stopped_from_other_goroutine) {
    for (int func = 0; func <= 1; func++) {
        static atomic_long ran;
        atomic_store(&ran, 0);
        goc_chan *out = goc_chan_make(sizeof(goc_timer *), 0);
        goc_chan *hold = goc_chan_make(0, 0);
        TEST_GO_ARGS(creator_fn, struct creator, out, hold, func, &ran);
        goc_timer *t = NULL;
        CHECK(goc_chan_recv(out, &t));
        CHECK(goc_timer_stop(t));
        goc_chan_close(hold);
        goc_sleep(120 * MS);
        if (func) {
            CHECK_EQ_INT(atomic_load(&ran), 0);
        } else {
            int64_t v;
            CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
        }
        goc_timer_free(t);
        goc_chan_release(out);
        goc_chan_release(hold);
    }
}

struct plain_stop {
    goc_timer *t;
    goc_chan *result; /* receives an int: goc_timer_stop's result */
};

static void *plain_stopper(void *arg) {
    struct plain_stop *ps = arg;
    int r = goc_timer_stop(ps->t) ? 1 : 0;
    goc_chan_send(ps->result, &r);
    return NULL;
}

/* A timer made on a goroutine, stopped from a plain thread. */
GTEST(timer_stopped_from_plain_thread) {
    for (int func = 0; func <= 1; func++) {
        static atomic_long ran;
        atomic_store(&ran, 0);
        goc_timer *t = func ? goc_after_func(60 * MS, test_count, &ran) : goc_timer_new(60 * MS);
        CHECK(t != NULL);
        struct plain_stop ps = {t, goc_chan_make(sizeof(int), 0)};
        pthread_t th = test_thread_start(plain_stopper, &ps);
        int r = -1;
        CHECK(goc_chan_recv(ps.result, &r));
        CHECK_EQ_INT(r, 1);
        test_thread_join(th);
        goc_sleep(120 * MS);
        if (func) {
            CHECK_EQ_INT(atomic_load(&ran), 0);
        } else {
            int64_t v;
            CHECK_EQ_INT(test_try_recv(goc_timer_chan(t), &v), -1);
        }
        goc_timer_free(t);
        goc_chan_release(ps.result);
    }
}

/* ================================================================== */
/* AfterFunc                                                           */

struct func_rec {
    atomic_int calls;
    _Atomic uint64_t id;
    atomic_llong at;
};

static void func_record(void *arg) {
    struct func_rec *r = arg;
    atomic_store(&r->id, goc_id());
    atomic_store(&r->at, goc_now());
    atomic_fetch_add(&r->calls, 1);
}

static void check_after_func_own_goroutine(void) {
    static struct func_rec r;
    atomic_store(&r.calls, 0);
    atomic_store(&r.id, 0);
    int64_t t0 = goc_now();
    goc_timer *t = goc_after_func(10 * MS, func_record, &r);
    CHECK(t != NULL);
    CHECK(goc_timer_chan(t) == NULL);
    WAIT_UNTIL(atomic_load(&r.calls) == 1, TEST_PATIENCE_S);
    CHECK_GE_INT(atomic_load(&r.at), t0 + 10 * MS);
    uint64_t id = atomic_load(&r.id);
    CHECK_NE_INT(id, 0);
    CHECK_NE_INT(id, goc_id());
    goc_timer_free(t);
}

GTEST(after_func_runs_in_own_goroutine) { check_after_func_own_goroutine(); }

TEST(after_func_from_plain_thread) { check_after_func_own_goroutine(); }

GTEST(after_func_stop_prevents_call) {
    static struct func_rec r;
    atomic_store(&r.calls, 0);
    goc_timer *t = goc_after_func(40 * MS, func_record, &r);
    CHECK(t != NULL);
    CHECK(goc_timer_stop(t));
    goc_sleep(120 * MS);
    CHECK_EQ_INT(atomic_load(&r.calls), 0);
    CHECK(!goc_timer_stop(t));
    goc_timer_free(t);
}

GTEST(after_func_reset_rearms) {
    static struct func_rec r;
    atomic_store(&r.calls, 0);
    /* Reset while pending: runs once, at the new deadline. */
    goc_timer *t = goc_after_func(GOC_SECOND, func_record, &r);
    CHECK(t != NULL);
    int64_t t0 = goc_now();
    CHECK(goc_timer_reset(t, 10 * MS));
    WAIT_UNTIL(atomic_load(&r.calls) == 1, TEST_PATIENCE_S);
    CHECK_GE_INT(atomic_load(&r.at), t0 + 10 * MS);
    CHECK_LT_INT(atomic_load(&r.at) - t0, SLOW_NS);
    /* Reset after it ran: runs again. */
    t0 = goc_now();
    CHECK(!goc_timer_reset(t, 10 * MS));
    WAIT_UNTIL(atomic_load(&r.calls) == 2, TEST_PATIENCE_S);
    CHECK_GE_INT(atomic_load(&r.at), t0 + 10 * MS);
    /* Reset after Stop: runs again. */
    CHECK(!goc_timer_stop(t));
    CHECK(!goc_timer_reset(t, 5 * MS));
    WAIT_UNTIL(atomic_load(&r.calls) == 3, TEST_PATIENCE_S);
    goc_sleep(30 * MS);
    CHECK_EQ_INT(atomic_load(&r.calls), 3);
    goc_timer_free(t);
}

/* ================================================================== */
/* Tickers                                                             */

GTEST(ticker_ticks_at_period) {
    const goc_duration d = 10 * MS;
    int64_t t0 = goc_now();
    goc_ticker *tk = goc_ticker_new(d);
    CHECK(tk != NULL);
    goc_chan *c = goc_ticker_chan(tk);
    CHECK(c != NULL);
    int64_t prev = t0, first = 0;
    for (int k = 1; k <= 6; k++) {
        int64_t v = recv_i64(c);
        int64_t now = goc_now();
        /* The k-th value received is tick k or later: never early. */
        CHECK_MSG(v >= t0 + k * d, "tick %d at %lld ns, before %lld", k, (long long)(v - t0),
                  (long long)(k * d));
        CHECK_GE_INT(now, t0 + k * d);
        CHECK_GE_INT(now, v);
        CHECK_GT_INT(v, prev);
        /* Tick values are due times, on the period's grid. */
        if (k == 1)
            first = v;
        CHECK_MSG((v - first) % d == 0, "tick %d is %lld ns off the grid", k,
                  (long long)((v - first) % d));
        prev = v;
    }
    CHECK_LT_INT(goc_now() - t0, 6 * d + SLOW_NS);
    goc_ticker_free(tk);
}

/* A slow receiver misses ticks: after ten periods only one is buffered. */
GTEST(ticker_drops_ticks_for_slow_receiver) {
    const goc_duration d = 20 * MS;
    int64_t t0 = goc_now();
    goc_ticker *tk = goc_ticker_new(d);
    CHECK(tk != NULL);
    goc_chan *c = goc_ticker_chan(tk);
    goc_sleep(10 * d + d / 2);
    CHECK_LE_INT(goc_chan_len(c), 1);
    int64_t a = goc_now(), v = 0;
    int n = 0;
    while (test_try_recv(c, &v) == 0)
        n++;
    int64_t b = goc_now();
    if (b - a < d / 2)
        CHECK_EQ_INT(n, 1);
    else
        CHECK_LE_INT(n, 2); /* the drain itself took a period: one more tick is fair */
    CHECK_GE_INT(v, t0 + d);
    /* Ticking goes on after the drop, on the period's grid. */
    int64_t w = recv_i64(c);
    CHECK_GT_INT(w, v);
    CHECK_GE_INT(w, t0 + 11 * d);
    goc_ticker_free(tk);
}

GTEST(ticker_reset_changes_period) {
    goc_ticker *tk = goc_ticker_new(GOC_SECOND);
    CHECK(tk != NULL);
    goc_chan *c = goc_ticker_chan(tk);
    /* Shorter. */
    int64_t tr = goc_now();
    goc_ticker_reset(tk, 10 * MS);
    for (int k = 1; k <= 3; k++) {
        int64_t v = recv_i64(c);
        CHECK_GE_INT(v, tr + k * 10 * MS);
    }
    CHECK_LT_INT(goc_now() - tr, SLOW_NS);
    /* Longer: no stale tick from the old period after the reset. */
    tr = goc_now();
    goc_ticker_reset(tk, 150 * MS);
    int64_t v;
    CHECK_EQ_INT(test_try_recv(c, &v), -1);
    v = recv_i64(c);
    CHECK_MSG(v >= tr + 150 * MS, "tick %lld ns after the reset to 150 ms", (long long)(v - tr));
    v = recv_i64(c);
    CHECK_GE_INT(v, tr + 300 * MS);
    goc_ticker_free(tk);
}

GTEST(ticker_stop_stops_ticking) {
    goc_ticker *tk = goc_ticker_new(5 * MS);
    CHECK(tk != NULL);
    goc_chan *c = goc_ticker_chan(tk);
    (void)recv_i64(c);
    (void)recv_i64(c);
    goc_sleep(12 * MS); /* very likely a tick buffered now */
    goc_ticker_stop(tk);
    int64_t v;
    CHECK_EQ_INT(test_try_recv(c, &v), -1); /* no stale tick after Stop */
    goc_sleep(50 * MS);
    CHECK_EQ_INT(test_try_recv(c, &v), -1);
    /* Reset restarts a stopped ticker. */
    int64_t tr = goc_now();
    goc_ticker_reset(tk, 5 * MS);
    CHECK_GE_INT(recv_i64(c), tr + 5 * MS);
    goc_ticker_stop(tk);
    goc_ticker_free(tk);
}

TEST(ticker_on_plain_thread) {
    int64_t t0 = goc_now();
    goc_ticker *tk = goc_ticker_new(5 * MS);
    CHECK(tk != NULL);
    for (int k = 1; k <= 3; k++)
        CHECK_GE_INT(recv_i64(goc_ticker_chan(tk)), t0 + k * 5 * MS);
    goc_ticker_stop(tk);
    goc_ticker_free(tk);
}

CHILD(ticker_new_zero) {
    goc_ticker *tk = goc_ticker_new(0);
    (void)tk;
    fprintf(stderr, "goc_ticker_new(0) returned\n");
}

CHILD(ticker_new_negative) {
    goc_ticker *tk = goc_ticker_new(-GOC_SECOND);
    (void)tk;
    fprintf(stderr, "goc_ticker_new(-1s) returned\n");
}

static int ticker_new_zero_in_goroutine(void *arg) {
    (void)arg;
    goc_ticker *tk = goc_ticker_new(0);
    (void)tk;
    return 0;
}

CHILD(ticker_new_zero_goroutine) { test_run_main(ticker_new_zero_in_goroutine); }

CHILD(ticker_reset_zero) {
    goc_ticker *tk = goc_ticker_new(GOC_SECOND);
    CHECK(tk != NULL);
    goc_ticker_reset(tk, 0);
    fprintf(stderr, "goc_ticker_reset(0) returned\n");
}

TEST(ticker_nonpositive_interval_panics) {
    expect_child("ticker_new_zero", -SIGABRT, "^panic: non-positive interval for NewTicker$");
    expect_child("ticker_new_negative", -SIGABRT, "^panic: non-positive interval for NewTicker$");
    expect_child("ticker_new_zero_goroutine", -SIGABRT,
                 "^panic: non-positive interval for NewTicker$");
    expect_child("ticker_reset_zero", -SIGABRT, "^panic: non-positive interval for Ticker.Reset$");
}

/* ================================================================== */
/* select with timeouts                                                */

GTEST(select_timeout_case_fires) {
    goc_chan *never = goc_chan_make(sizeof(int), 0);
    int64_t t0 = goc_now();
    goc_chan *to = goc_after(30 * MS);
    int x = 0;
    int64_t when = 0;
    goc_case cs[] = {GOC_RECV(never, &x, NULL), GOC_RECV(to, &when, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 1);
    int64_t el = goc_now() - t0;
    CHECK_GE_INT(el, 30 * MS);
    CHECK_LT_INT(el, 30 * MS + SLOW_NS);
    CHECK_GE_INT(when, t0 + 30 * MS);
    goc_chan_release(to);
    goc_chan_release(never);
}

/* A ready channel wins over a timeout that has not expired. */
GTEST(select_ready_value_beats_timeout) {
    goc_chan *c = goc_chan_make(sizeof(int), 1);
    int one = 1;
    goc_chan_send(c, &one);
    goc_chan *to = goc_after(GOC_SECOND);
    int x = 0;
    goc_case cs[] = {GOC_RECV(c, &x, NULL), GOC_RECV(to, NULL, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 0);
    CHECK_EQ_INT(x, 1);
    goc_chan_release(to);
    goc_chan_release(c);
}

/* The worker does periodic work on a timeout until told to quit:
 *   for { select { case <-quit: return; case <-time.After(d): n++ } } */
struct quitter {
    goc_chan *quit;
    goc_waitgroup *wg;
    atomic_int *timeouts;
};

static void quitter_fn(void *arg) {
    struct quitter *q = arg;
    int64_t t0 = goc_now();
    int n = 0;
    for (;;) {
        goc_chan *to = goc_after(5 * MS);
        goc_case cs[] = {GOC_RECV(q->quit, NULL, NULL), GOC_RECV(to, NULL, NULL)};
        int i = goc_select(cs, 2);
        goc_chan_release(to);
        if (i == 0)
            break;
        n++;
        /* Never early: n timeouts took at least n * 5 ms. */
        CHECK_GE_INT(goc_now() - t0, (int64_t)n * 5 * MS);
    }
    atomic_fetch_add(q->timeouts, n);
    goc_wg_done(q->wg);
}

GTEST(timeout_with_quit_pattern) {
    static goc_waitgroup wg;
    static atomic_int timeouts;
    atomic_store(&timeouts, 0);
    goc_chan *quit = goc_chan_make(0, 0);
    goc_wg_add(&wg, 3);
    for (int i = 0; i < 3; i++)
        TEST_GO_ARGS(quitter_fn, struct quitter, quit, &wg, &timeouts);
    goc_sleep(60 * MS);
    int64_t tq = goc_now();
    goc_chan_close(quit);
    goc_wg_wait(&wg);
    CHECK_LT_INT(goc_now() - tq, SLOW_NS);   /* quit is seen at once, not after a timeout */
    CHECK_GE_INT(atomic_load(&timeouts), 3); /* 60 ms: each worker timed out at least once */
    goc_chan_release(quit);
}

/* A request with a deadline: the reply is too slow, so the timeout wins;
 * a quit channel then stops the slow producer. */
struct producer {
    goc_chan *reply, *quit;
    goc_waitgroup *wg;
};

static void slow_producer(void *arg) {
    struct producer *p = arg;
    goc_chan *slow = goc_after(GOC_SECOND);
    int v = 42;
    goc_case cs[] = {GOC_RECV(p->quit, NULL, NULL), GOC_RECV(slow, NULL, NULL)};
    if (goc_select(cs, 2) == 1)
        goc_chan_send(p->reply, &v);
    goc_chan_release(slow);
    goc_wg_done(p->wg);
}

GTEST(timeout_then_quit_stops_producer) {
    static goc_waitgroup wg;
    goc_chan *reply = goc_chan_make(sizeof(int), 1);
    goc_chan *quit = goc_chan_make(0, 0);
    goc_wg_add(&wg, 1);
    TEST_GO_ARGS(slow_producer, struct producer, reply, quit, &wg);
    int64_t t0 = goc_now();
    goc_chan *to = goc_after(20 * MS);
    int v = 0;
    goc_case cs[] = {GOC_RECV(reply, &v, NULL), GOC_RECV(to, NULL, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 1);
    CHECK_GE_INT(goc_now() - t0, 20 * MS);
    goc_chan_close(quit);
    goc_wg_wait(&wg);
    CHECK_LT_INT(goc_now() - t0, GOC_SECOND); /* the producer quit before its 1 s */
    CHECK_EQ_INT(goc_chan_len(reply), 0);
    goc_chan_release(to);
    goc_chan_release(quit);
    goc_chan_release(reply);
}

/* ================================================================== */
/* Idle                                                                */

/* With nothing to do but wait for a timer, the process sleeps in the
 * kernel: no spinning thread burns CPU. */
GTEST(idle_sleep_uses_no_cpu) {
    goc_sleep(20 * MS); /* let startup settle */
    goc_timer *pending = goc_timer_new(60 * GOC_SECOND);
    CHECK(pending != NULL);
    int64_t c0 = cpu_time_ns(), t0 = goc_now();
    goc_sleep(300 * MS);
    int64_t c1 = cpu_time_ns(), t1 = goc_now();
    CHECK_GE_INT(t1 - t0, 300 * MS);
    CHECK_MSG(c1 - c0 < 30 * MS, "idle for %lld ms, used %lld ms of CPU",
              (long long)((t1 - t0) / MS), (long long)((c1 - c0) / MS));
    goc_timer_free(pending);
}

/* Timers leave no goroutine behind once they have fired. */
struct done_arg {
    goc_waitgroup *wg;
};

static void done_fn(void *arg) { goc_wg_done(((struct done_arg *)arg)->wg); }

GTEST(no_goroutine_left_after_timers) {
    static goc_waitgroup wg;
    static struct done_arg da = {&wg};
    int base = goc_num_goroutine();
    enum { NF = 100, NA = 50, NT = 20, NK = 5 };
    goc_timer *f[NF], *t[NT];
    goc_chan *a[NA];
    goc_ticker *k[NK];
    goc_wg_add(&wg, NF);
    for (int i = 0; i < NF; i++)
        CHECK((f[i] = goc_after_func((1 + i % 10) * MS, done_fn, &da)) != NULL);
    for (int i = 0; i < NA; i++)
        CHECK((a[i] = goc_after((1 + i % 10) * MS)) != NULL);
    for (int i = 0; i < NT; i++)
        CHECK((t[i] = goc_timer_new((1 + i % 10) * MS)) != NULL);
    for (int i = 0; i < NK; i++)
        CHECK((k[i] = goc_ticker_new((1 + i) * MS)) != NULL);
    goc_wg_wait(&wg);
    for (int i = 0; i < NA; i++) {
        (void)recv_i64(a[i]);
        goc_chan_release(a[i]);
    }
    for (int i = 0; i < NT; i++)
        (void)recv_i64(goc_timer_chan(t[i]));
    for (int i = 0; i < NK; i++) {
        (void)recv_i64(goc_ticker_chan(k[i]));
        (void)recv_i64(goc_ticker_chan(k[i]));
        goc_ticker_stop(k[i]);
    }
    test_settle_goroutines(base);
    for (int i = 0; i < NF; i++)
        goc_timer_free(f[i]);
    for (int i = 0; i < NT; i++)
        goc_timer_free(t[i]);
    for (int i = 0; i < NK; i++)
        goc_ticker_free(k[i]);
    CHECK_EQ_INT(goc_num_goroutine(), base);
}

/* ---- channel timers and the lone processor's plain rings (chan.c) ---- */

#if defined(__x86_64__) && !defined(GOC_RACE)
#define LONE_BUILD 1 /* chan.c's CHAN_LONE */
#else
#define LONE_BUILD 0
#endif

/* Does this run start in the lone mode (one processor, a build with it)? */
static bool lone_expected(void) {
    bool lone = LONE_BUILD && goc_maxprocs(0) == 1;
    if (lone)
        CHECK(gchan_lone_mode()); /* no ring touched off the P yet */
    return lone;
}

/* Channel timers that fall due while the only goroutine waits for them
 * (sysmon's to fire: the P is idle) deliver, and at one processor their
 * sends leave the lone mode on: the P makes them, not sysmon's thread. */
GTEST(channel_timers_fired_while_idle_keep_lone_rings) {
    bool lone = lone_expected();
    for (int i = 0; i < 10; i++) {
        int64_t t0 = goc_now();
        goc_chan *a = goc_after(MS);
        CHECK(a != NULL);
        CHECK_GE_INT(recv_i64(a), t0 + MS);
        goc_chan_release(a);
    }
    goc_timer *t = goc_timer_new(2 * MS);
    CHECK(t != NULL);
    (void)recv_i64(goc_timer_chan(t));
    CHECK(!goc_timer_stop(t)); /* its value was received */
    goc_timer_free(t);
    goc_ticker *k = goc_ticker_new(MS);
    CHECK(k != NULL);
    int64_t prev = 0;
    for (int i = 0; i < 5; i++) {
        int64_t v = recv_i64(goc_ticker_chan(k));
        CHECK_GT_INT(v, prev);
        prev = v;
    }
    goc_ticker_stop(k);
    goc_ticker_free(k);
    if (lone)
        CHECK(gchan_lone_mode());
}

/* A goroutine that polls a timer channel and never parks gets the value
 * (at one processor the firing waits on the P for the poller to be asked
 * to yield), and the goroutine that fires it there is the runtime's own:
 * goc_num_goroutine does not count it. (The lone mode may end here: the
 * preemption signal may leave the poller running without its P.) */
GTEST(timer_value_reaches_goroutine_that_never_parks) {
    int base = goc_num_goroutine();
    for (int i = 0; i < 3; i++) {
        int64_t t0 = goc_now(), v = 0;
        goc_chan *a = goc_after(MS);
        CHECK(a != NULL);
        goc_case cs = GOC_RECV(a, &v, NULL);
        while (goc_select_try(&cs, 1) != 0) {
            CHECK_EQ_INT(goc_num_goroutine(), base);
            CHECK_MSG(goc_now() - t0 < SLOW_NS, "no value %lld ms after a 1 ms goc_after",
                      (long long)((goc_now() - t0) / MS));
        }
        CHECK_GE_INT(v, t0 + MS);
        goc_chan_release(a);
    }
    CHECK_EQ_INT(goc_num_goroutine(), base);
}

/* ================================================================== */
/* Stress                                                              */

enum { STRESS_TIMERS = 4, STRESS_FUNCS = 2, STRESS_G = 8 };

struct stress {
    goc_timer *t[STRESS_TIMERS];
    goc_timer *f[STRESS_FUNCS];
    atomic_long fcalls;
    atomic_long received;
    goc_waitgroup wg;
    int iters;
};

struct stress_arg {
    struct stress *s;
    uint64_t salt;
};

static void stress_worker(void *arg) {
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t seed = test_rand_seed(a->salt);
    for (int i = 0; i < s->iters; i++) {
        uint64_t r = test_rand(&seed);
        int which = (int)(r % (STRESS_TIMERS + STRESS_FUNCS));
        goc_timer *t = which < STRESS_TIMERS ? s->t[which] : s->f[which - STRESS_TIMERS];
        goc_duration d = (goc_duration)((r >> 8) % 2000) * GOC_MICROSECOND;
        switch ((r >> 32) % 4) {
        case 0:
            (void)goc_timer_reset(t, d);
            break;
        case 1:
            (void)goc_timer_stop(t);
            break;
        default:
            if (which < STRESS_TIMERS) {
                int64_t v;
                if (test_try_recv(goc_timer_chan(t), &v) == 0)
                    atomic_fetch_add(&s->received, 1);
            } else if ((r >> 40) % 8 == 0) {
                goc_yield();
            }
            break;
        }
        if ((r >> 48) % 16 == 0)
            goc_yield();
    }
    goc_wg_done(&s->wg);
}

GTEST(stress_concurrent_reset_stop_receive) {
    static struct stress s;
    s.iters = 2000;
    atomic_store(&s.fcalls, 0);
    atomic_store(&s.received, 0);
    for (int i = 0; i < STRESS_TIMERS; i++)
        CHECK((s.t[i] = goc_timer_new((goc_duration)(i + 1) * 100 * GOC_MICROSECOND)) != NULL);
    for (int i = 0; i < STRESS_FUNCS; i++)
        CHECK((s.f[i] = goc_after_func((goc_duration)(i + 1) * 100 * GOC_MICROSECOND, test_count,
                                       &s.fcalls)) != NULL);
    goc_wg_add(&s.wg, STRESS_G);
    for (int i = 0; i < STRESS_G; i++)
        TEST_GO_ARGS(stress_worker, struct stress_arg, &s, (uint64_t)i + 100);
    goc_wg_wait(&s.wg);
    for (int i = 0; i < STRESS_TIMERS; i++)
        (void)goc_timer_stop(s.t[i]);
    for (int i = 0; i < STRESS_FUNCS; i++)
        (void)goc_timer_stop(s.f[i]);
    /* After the final Stop nothing arrives and no AfterFunc starts. */
    int64_t v;
    for (int i = 0; i < STRESS_TIMERS; i++)
        CHECK_EQ_INT(test_try_recv(goc_timer_chan(s.t[i]), &v), -1);
    goc_sleep(20 * MS); /* AfterFunc goroutines started before the Stop finish */
    long calls = atomic_load(&s.fcalls);
    goc_sleep(30 * MS); /* > every deadline the workers set */
    for (int i = 0; i < STRESS_TIMERS; i++) {
        CHECK_EQ_INT(test_try_recv(goc_timer_chan(s.t[i]), &v), -1);
        CHECK(!goc_timer_stop(s.t[i]));
    }
    CHECK_EQ_INT(atomic_load(&s.fcalls), calls);
    test_note("stress: %ld values received, %ld AfterFunc calls", atomic_load(&s.received), calls);
    /* The timers still work. */
    for (int i = 0; i < STRESS_TIMERS; i++) {
        int64_t t0 = goc_now();
        CHECK(!goc_timer_reset(s.t[i], 1 * MS));
        CHECK_GE_INT(recv_i64(goc_timer_chan(s.t[i])), t0 + 1 * MS);
        goc_timer_free(s.t[i]);
    }
    for (int i = 0; i < STRESS_FUNCS; i++)
        goc_timer_free(s.f[i]);
}
