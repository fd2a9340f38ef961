/* test_race.c — the race detector sees goroutines as Go's does.
 *
 * In the race build (make test-race: GOC_RACE, ThreadSanitizer) goroutines
 * are fibers switched without implied synchronization, so two goroutines
 * that ran on one thread are unordered unless the program ordered them.
 *   - racy_*: a child process runs a program with a data race on a plain int
 *     (two goroutines; a goroutine and a plain thread; a write before a
 *     park, the switch the old annotation turned into an edge) and must be
 *     reported: "WARNING: ThreadSanitizer: data race", the fibers named
 *     "goroutine N", TSan's exit status 66. CTest runs each case at
 *     GOCMAXPROCS=1 and 2; the child inherits it.
 *   - publish_*: each synchronization primitive publishes a plain int from
 *     one goroutine to another, in this process: a report (a missing
 *     happens-before edge in goc) fails the case (exit 66).
 * In ordinary builds the racy children just run (exit 0: nothing checks
 * for races there, and the program's outcome does not depend on the race),
 * and the publish_* cases check the values published.
 */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(GOC_RACE)
#define RACE_BUILD 1
#else
#define RACE_BUILD 0
#endif

/* TSan's exit status when it reported something. */
#define TSAN_EXIT 66
#define TSAN_CHILD_OPTIONS "TSAN_OPTIONS=halt_on_error=1:exitcode=66:atexit_sleep_ms=0"
#define RACE_RE "WARNING: ThreadSanitizer: data race"
#define GOROUTINE_RE "'goroutine [0-9]+'"

static void expect_race_report(const char *child) {
    struct child_opts o = {
        .env = {TSAN_CHILD_OPTIONS},
        .expect = RACE_BUILD ? TSAN_EXIT : 0,
    };
    if (RACE_BUILD) {
        o.regex[0] = RACE_RE;
        o.regex[1] = GOROUTINE_RE;
    }
    char *err = expect_child_opts(child, &o);
    if (!RACE_BUILD) {
        CHECK(!test_regex_match(err, RACE_RE));
        test_note("not a race build: the racy child ran to completion (make test-race reports it)");
    }
    free(err);
}

/* ---- racy programs (children) ---- */

static int shared; /* plain: every access below races with another */
static goc_waitgroup racy_wg;

static void racy_writer(void *arg) {
    shared += (int)(intptr_t)arg; /* read and write, unsynchronized */
    goc_wg_done(&racy_wg);
}

/* Go:
 *     go func() { shared += 1; wg.Done() }()
 *     go func() { shared += 2; wg.Done() }()
 *     wg.Wait() */
static int racy_two_goroutines_main(void *arg) {
    (void)arg;
    goc_wg_add(&racy_wg, 2);
    TEST_GO(racy_writer, (void *)(intptr_t)1);
    TEST_GO(racy_writer, (void *)(intptr_t)2);
    goc_wg_wait(&racy_wg);
    return 0;
}

CHILD(racy_two_goroutines) { test_run_main(racy_two_goroutines_main); }

TEST(racy_two_goroutines_reported) { expect_race_report("racy_two_goroutines"); }

static void *racy_thread(void *arg) {
    (void)arg;
    shared += 3;
    return NULL;
}

/* A goroutine and a plain thread (a cgo thread, in Go terms) write one int;
 * the thread is joined only after both wrote. */
static int racy_goroutine_and_thread_main(void *arg) {
    (void)arg;
    goc_wg_add(&racy_wg, 1);
    TEST_GO(racy_writer, (void *)(intptr_t)1);
    pthread_t th = test_thread_start(racy_thread, NULL);
    goc_wg_wait(&racy_wg);
    test_thread_join(th); /* it does not use goc: a plain join is fine */
    return 0;
}

CHILD(racy_goroutine_and_thread) { test_run_main(racy_goroutine_and_thread_main); }

TEST(racy_goroutine_and_thread_reported) { expect_race_report("racy_goroutine_and_thread"); }

/* One goroutine writes, then parks on a channel (a switch to the other);
 * the other writes before it receives. The channel orders neither write. */
static goc_chan *racy_c;

static void racy_then_send(void *arg) {
    (void)arg;
    shared = 1;
    int v = 1;
    goc_chan_send(racy_c, &v);
    goc_wg_done(&racy_wg);
}

static void racy_then_recv(void *arg) {
    (void)arg;
    shared = 2;
    int v;
    goc_chan_recv(racy_c, &v);
    goc_wg_done(&racy_wg);
}

static int racy_write_then_park_main(void *arg) {
    (void)arg;
    racy_c = goc_chan_make(sizeof(int), 0);
    goc_wg_add(&racy_wg, 2);
    TEST_GO(racy_then_send, NULL);
    TEST_GO(racy_then_recv, NULL);
    goc_wg_wait(&racy_wg);
    goc_chan_release(racy_c);
    return 0;
}

CHILD(racy_write_then_park) { test_run_main(racy_write_then_park_main); }

TEST(racy_write_then_park_reported) { expect_race_report("racy_write_then_park"); }

/* ---- race-free programs: each primitive publishes a plain int ---- */

static int data; /* plain: published by the primitive under test */

static void spawn_wait(void (*fn)(void *), void *arg) {
    goc_waitgroup wg = {0};
    goc_wg_go(&wg, fn, arg);
    goc_wg_wait(&wg);
}

/* go statement: what the creator did before goc_go. */
static void read_data_into(void *out) { *(int *)out = data; }

GTEST(publish_go_statement) {
    data = 41;
    int got = 0;
    spawn_wait(read_data_into, &got);
    CHECK_EQ_INT(got, 41);
    data = 0; /* the goroutine is done: WaitGroup */
}

/* Channels: a send (unbuffered, buffered) or a close publishes. */
struct chan_pub {
    goc_chan *c;
    bool close;
};

static void chan_publisher(void *arg) {
    struct chan_pub *cp = arg;
    data = 42;
    if (cp->close) {
        goc_chan_close(cp->c);
    } else {
        int v = 1;
        goc_chan_send(cp->c, &v);
    }
}

static void chan_case(size_t cap, bool close, bool publisher_first) {
    struct chan_pub cp = {goc_chan_make(sizeof(int), cap), close};
    goc_waitgroup wg = {0};
    if (!publisher_first)
        goc_yield();
    goc_wg_go(&wg, chan_publisher, &cp);
    if (publisher_first)
        test_let_others_run();
    int v = 0;
    bool ok = goc_chan_recv(cp.c, &v);
    CHECK(ok == !close);
    CHECK_EQ_INT(data, 42);
    data = 0;
    goc_wg_wait(&wg);
    goc_chan_release(cp.c);
}

GTEST(publish_unbuffered_channel) {
    chan_case(0, false, false);
    chan_case(0, false, true);
}

GTEST(publish_buffered_channel) {
    chan_case(4, false, false);
    chan_case(4, false, true);
}

GTEST(publish_channel_close) {
    chan_case(0, true, false);
    chan_case(0, true, true);
}

/* The k-th receive from a channel of capacity C happens before the
 * (k+C)-th send completes: a buffered channel as a semaphore. */
static goc_chan *slots;
static int slot_data;

static void slot_user(void *arg) {
    (void)arg;
    int v = 1;
    goc_chan_send(slots, &v); /* acquire a slot */
    slot_data++;
    goc_chan_recv(slots, &v); /* release it */
}

GTEST(publish_buffered_channel_as_semaphore) {
    slots = goc_chan_make(sizeof(int), 1);
    slot_data = 0;
    goc_waitgroup wg = {0};
    for (int i = 0; i < 8; i++)
        goc_wg_go(&wg, slot_user, NULL);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(slot_data, 8);
    goc_chan_release(slots);
}

/* select: on the sending and on the receiving side. */
static void select_publisher(void *arg) {
    goc_chan *c = arg;
    data = 43;
    int v = 1;
    goc_case cs[2] = {GOC_SEND(c, &v), GOC_RECV(NULL, NULL, NULL)};
    CHECK_EQ_INT(goc_select(cs, 2), 0);
}

GTEST(publish_select) {
    for (int round = 0; round < 2; round++) {
        goc_chan *c = goc_chan_make(sizeof(int), (size_t)round);
        goc_waitgroup wg = {0};
        goc_wg_go(&wg, select_publisher, c);
        int v = 0;
        goc_case cs[2] = {GOC_RECV(NULL, NULL, NULL), GOC_RECV(c, &v, NULL)};
        CHECK_EQ_INT(goc_select(cs, 2), 1);
        CHECK_EQ_INT(data, 43);
        data = 0;
        goc_wg_wait(&wg);
        goc_chan_release(c);
    }
}

/* Mutex: unlock happens before the next lock. */
static goc_mutex mu = GOC_MUTEX_INIT;
static int counter;

static void mutex_incr(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        goc_mutex_lock(&mu);
        counter++;
        if (i % 10 == 0)
            goc_yield(); /* let the others queue on mu */
        goc_mutex_unlock(&mu);
    }
}

GTEST(publish_mutex) {
    counter = 0;
    goc_waitgroup wg = {0};
    for (int i = 0; i < 4; i++)
        goc_wg_go(&wg, mutex_incr, NULL);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(counter, 400);
}

/* RWMutex: writers' unlock happens before readers' rlock and the reverse. */
static goc_rwmutex rw = GOC_RWMUTEX_INIT;

static void rw_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < 50; i++) {
        goc_rwmutex_lock(&rw);
        counter++;
        goc_rwmutex_unlock(&rw);
        goc_yield();
    }
}

static void rw_reader(void *arg) {
    long *seen = arg;
    for (int i = 0; i < 50; i++) {
        goc_rwmutex_rlock(&rw);
        if (counter > *seen)
            *seen = counter;
        goc_yield(); /* other readers join, the writer queues */
        goc_rwmutex_runlock(&rw);
    }
}

GTEST(publish_rwmutex) {
    counter = 0;
    long seen[3] = {0};
    goc_waitgroup wg = {0};
    goc_wg_go(&wg, rw_writer, NULL);
    goc_wg_go(&wg, rw_writer, NULL);
    for (int i = 0; i < 3; i++)
        goc_wg_go(&wg, rw_reader, &seen[i]);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(counter, 100);
    for (int i = 0; i < 3; i++)
        CHECK_LE_INT(seen[i], 100);
}

/* WaitGroup: every Done happens before Wait returns. */
static int slots_written[8];

static void write_slot(void *arg) { slots_written[(intptr_t)arg] = (int)(intptr_t)arg + 1; }

GTEST(publish_waitgroup) {
    goc_waitgroup wg = {0};
    for (intptr_t i = 0; i < 8; i++)
        goc_wg_go(&wg, write_slot, (void *)i);
    goc_wg_wait(&wg);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(slots_written[i], i + 1);
        slots_written[i] = 0;
    }
}

/* Once: fn happens before every Do returns. */
static goc_once once = GOC_ONCE_INIT;
static int once_value;

static void once_init(void *arg) {
    (void)arg;
    once_value = 44;
}

static void once_user(void *arg) {
    int *got = arg;
    goc_once_do(&once, once_init, NULL);
    *got = once_value;
}

GTEST(publish_once) {
    int got[4] = {0};
    goc_waitgroup wg = {0};
    for (int i = 0; i < 4; i++)
        goc_wg_go(&wg, once_user, &got[i]);
    goc_wg_wait(&wg);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(got[i], 44);
}

/* Cond: Signal after the write (under L) happens before Wait returns. */
static goc_mutex cmu = GOC_MUTEX_INIT;
static goc_cond cond = GOC_COND_INIT(&cmu);
static bool cond_ready;

static void cond_signaller(void *arg) {
    (void)arg;
    goc_mutex_lock(&cmu);
    data = 45;
    cond_ready = true;
    goc_cond_signal(&cond);
    goc_mutex_unlock(&cmu);
}

GTEST(publish_cond) {
    goc_waitgroup wg = {0};
    goc_wg_go(&wg, cond_signaller, NULL);
    goc_mutex_lock(&cmu);
    while (!cond_ready)
        goc_cond_wait(&cond);
    CHECK_EQ_INT(data, 45);
    data = 0;
    cond_ready = false;
    goc_mutex_unlock(&cmu);
    goc_wg_wait(&wg);
}

/* Context: cancel happens before Done is seen closed and Err is non-zero. */
static void ctx_canceller(void *arg) {
    data = 46;
    goc_ctx_cancel(arg);
}

GTEST(publish_context_cancel) {
    for (int how = 0; how < 2; how++) {
        goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
        CHECK(ctx != NULL);
        goc_waitgroup wg = {0};
        goc_wg_go(&wg, ctx_canceller, ctx);
        if (how == 0) {
            CHECK(!goc_chan_recv(goc_ctx_done(ctx), NULL));
        } else {
            while (goc_ctx_err(ctx) == 0)
                goc_yield();
        }
        CHECK_EQ_INT(data, 46);
        data = 0;
        goc_wg_wait(&wg);
        goc_ctx_release(ctx);
    }
}

/* Timers: what precedes AfterFunc happens before fn; what fn does, before
 * a receive of what fn sends. What precedes a timer's creation happens
 * before the receive of its value. */
static goc_chan *timer_done;

static void after_fn(void *arg) {
    (void)arg;
    CHECK_EQ_INT(data, 47);
    data = 48;
    int v = 1;
    goc_chan_send(timer_done, &v);
}

static void timer_receiver(void *arg) {
    goc_timer *t = arg;
    int64_t when;
    CHECK(goc_chan_recv(goc_timer_chan(t), &when));
    CHECK_EQ_INT(data, 49);
}

GTEST(publish_timer_after_func) {
    timer_done = goc_chan_make(sizeof(int), 0);
    data = 47;
    goc_timer *t = goc_after_func(GOC_MILLISECOND, after_fn, NULL);
    CHECK(t != NULL);
    int v;
    CHECK(goc_chan_recv(timer_done, &v));
    CHECK_EQ_INT(data, 48);
    goc_timer_free(t);
    goc_chan_release(timer_done);

    data = 49;
    t = goc_timer_new(GOC_MILLISECOND);
    CHECK(t != NULL);
    spawn_wait(timer_receiver, t);
    goc_timer_free(t);
    data = 0;
}

/* errgroup: what precedes Go happens before fn; fn, before Wait returns. */
static int eg_slots[4];

static int eg_fn(goc_ctx *ctx, void *arg) {
    (void)ctx;
    intptr_t i = (intptr_t)arg;
    CHECK_EQ_INT(data, 50);
    eg_slots[i] = (int)i + 10;
    return 0;
}

GTEST(publish_errgroup) {
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    CHECK(g != NULL);
    data = 50;
    for (intptr_t i = 0; i < 4; i++)
        goc_errgroup_go(g, eg_fn, (void *)i);
    CHECK_EQ_INT(goc_errgroup_wait(g), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(eg_slots[i], i + 10);
    data = 0;
    goc_errgroup_free(g);
}

/* Weighted semaphore: a release happens before the acquire it enables. */
struct sem_pub {
    goc_sema *s;
};

static void sema_publisher(void *arg) {
    struct sem_pub *sp = arg;
    data = 51;
    goc_sema_release(sp->s, 1);
}

GTEST(publish_semaphore) {
    struct sem_pub sp = {goc_sema_new(1)};
    CHECK(sp.s != NULL);
    CHECK_EQ_INT(goc_sema_acquire(sp.s, 1, NULL), 0);
    goc_waitgroup wg = {0};
    goc_wg_go(&wg, sema_publisher, &sp);
    CHECK_EQ_INT(goc_sema_acquire(sp.s, 1, NULL), 0); /* waits for the release */
    CHECK_EQ_INT(data, 51);
    data = 0;
    goc_sema_release(sp.s, 1);
    goc_wg_wait(&wg);
    goc_sema_free(sp.s);
}
