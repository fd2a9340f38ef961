/* test_select.c — select: uniform choice among ready cases, the default
 * case (goc_select_try), send and receive cases together, a channel named
 * twice, nil channels, never matching a goroutine with itself, stress with
 * exact counts, closed channels, many cases, racing senders, plain threads.
 * Each case is one behaviour; run `test_select --list` for the names. */
#include "testing.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================== */
/* helpers                                                             */

/* |count - expected| within 10% of expected. */
static void check_near(long count, long expected, int which) {
    long slack = expected / 10;
    CHECK_MSG(count >= expected - slack && count <= expected + slack,
              "case %d chosen %ld times, expected %ld +- %ld", which, count, expected, slack);
}

/* ================================================================== */
/* uniform choice among ready cases                                    */

/* k buffered channels each hold one value; every select receives from one
 * and puts the value back, so all k are ready at every select. */
static void check_uniform_recv(int k) {
    const long rounds = TEST_SCALE(40000, 20000);
    goc_chan *ch[4];
    int vals[4];
    goc_case cases[4];
    long counts[4] = {0};
    for (int i = 0; i < k; i++) {
        ch[i] = test_chan_make(sizeof(int), 1);
        int v = 100 + i;
        goc_chan_send(ch[i], &v);
        cases[i] = GOC_RECV(ch[i], &vals[i], NULL);
    }
    for (long r = 0; r < rounds; r++) {
        int i = goc_select(cases, (size_t)k);
        CHECK(i >= 0 && i < k);
        CHECK_EQ_INT(vals[i], 100 + i);
        counts[i]++;
        goc_chan_send(ch[i], &vals[i]);
    }
    for (int i = 0; i < k; i++) {
        check_near(counts[i], rounds / k, i);
        goc_chan_release(ch[i]);
    }
}

GTEST(uniform_among_two_ready) { check_uniform_recv(2); }
GTEST(uniform_among_four_ready) { check_uniform_recv(4); }

/* n receive cases, of which only those in `ready` hold a value: each ready
 * case must win equally often. Covers pass 0's draw among the cases that
 * look ready, with n > 16 the heap scratch and the large-select lock sort,
 * and with n > 64 the selects that skip pass 0, whose pass 1 draws among
 * ready cases spread over two words of its set (the race build, which has
 * no pass 0, draws in pass 1 for every n). */
static void check_uniform_subset(int n, const int *ready, int nready) {
    const long rounds = TEST_SCALE(40000, 20000);
    goc_chan *ch[72];
    int vals[72];
    goc_case cases[72];
    long counts[72] = {0};
    CHECK(n <= 72);
    for (int i = 0; i < n; i++) {
        ch[i] = test_chan_make(sizeof(int), 1);
        cases[i] = GOC_RECV(ch[i], &vals[i], NULL);
    }
    for (int k = 0; k < nready; k++) {
        int v = 100 + ready[k];
        goc_chan_send(ch[ready[k]], &v);
    }
    for (long r = 0; r < rounds; r++) {
        int i = goc_select(cases, (size_t)n);
        CHECK(i >= 0 && i < n);
        CHECK_EQ_INT(vals[i], 100 + i);
        counts[i]++;
        goc_chan_send(ch[i], &vals[i]);
    }
    for (int i = 0; i < n; i++) {
        bool isready = false;
        for (int k = 0; k < nready; k++)
            isready |= ready[k] == i;
        if (isready)
            check_near(counts[i], rounds / nready, i);
        else
            CHECK_EQ_INT(counts[i], 0);
        goc_chan_release(ch[i]);
    }
}

GTEST(uniform_among_ready_subsets) {
    static const int last_two[] = {6, 7}, ends[] = {0, 7}, three[] = {1, 4, 6};
    check_uniform_subset(8, last_two, 2);
    check_uniform_subset(8, ends, 2);
    check_uniform_subset(8, three, 3);
    static const int big[] = {0, 9, 17, 23};
    check_uniform_subset(24, big, 4);
    static const int huge[] = {3, 63, 64, 71};
    check_uniform_subset(72, huge, 4);
}

/* The same with send cases: k buffered channels with room; the chosen one
 * is drained again. */
GTEST(uniform_among_four_ready_sends) {
    const long rounds = TEST_SCALE(40000, 20000);
    goc_chan *ch[4];
    int vals[4];
    goc_case cases[4];
    long counts[4] = {0};
    for (int i = 0; i < 4; i++) {
        ch[i] = test_chan_make(sizeof(int), 1);
        vals[i] = 200 + i;
        cases[i] = GOC_SEND(ch[i], &vals[i]);
    }
    for (long r = 0; r < rounds; r++) {
        int i = goc_select(cases, 4);
        CHECK(i >= 0 && i < 4);
        counts[i]++;
        int v = -1;
        CHECK(goc_chan_recv(ch[i], &v));
        CHECK_EQ_INT(v, 200 + i);
    }
    for (int i = 0; i < 4; i++) {
        check_near(counts[i], rounds / 4, i);
        CHECK_EQ_INT(goc_chan_len(ch[i]), 0);
        goc_chan_release(ch[i]);
    }
}

/* ================================================================== */
/* select with a default (goc_select_try)                              */

GTEST(try_returns_minus_one_when_nothing_ready) {
    goc_chan *empty = test_chan_make(sizeof(int), 3);
    goc_chan *unbuf = test_chan_make(sizeof(int), 0);
    goc_chan *full = test_chan_make(sizeof(int), 1);
    int v = 5, out = 0;
    goc_chan_send(full, &v);
    goc_case cases[] = {
        GOC_RECV(empty, &out, NULL),
        GOC_RECV(unbuf, &out, NULL),
        GOC_SEND(unbuf, &v),
        GOC_SEND(full, &v),
    };
    for (int r = 0; r < 1000; r++)
        CHECK_EQ_INT(goc_select_try(cases, 4), -1);
    CHECK_EQ_INT(goc_select_try(NULL, 0), -1);
    CHECK_EQ_INT(goc_chan_len(empty), 0);
    CHECK_EQ_INT(goc_chan_len(full), 1);
    CHECK_EQ_INT(out, 0);
    goc_chan_release(empty);
    goc_chan_release(unbuf);
    goc_chan_release(full);
}

/* When some case is ready at the moment of the check, the default is
 * never taken: random subsets of ready buffered receives, sends with room,
 * and a closed channel. */
GTEST(try_never_defaults_when_a_case_is_ready) {
    enum { K = 4 };
    goc_chan *rx[K], *tx[K];
    int in[K], outv[K];
    for (int i = 0; i < K; i++) {
        rx[i] = test_chan_make(sizeof(int), 1);
        tx[i] = test_chan_make(sizeof(int), 1);
        outv[i] = 300 + i;
    }
    goc_case cases[2 * K];
    for (int i = 0; i < K; i++) {
        cases[i] = GOC_RECV(rx[i], &in[i], NULL);
        cases[K + i] = GOC_SEND(tx[i], &outv[i]);
    }
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    const int rounds = TEST_SCALE(20000, 5000);
    for (int r = 0; r < rounds; r++) {
        unsigned mask = (unsigned)(test_rand(&seed) & 0xff);
        /* bit i < K: rx[i] holds a value; bit K+i: tx[i] is full (not ready). */
        for (int i = 0; i < K; i++) {
            if (mask & (1u << i)) {
                int v = 400 + i;
                goc_chan_send(rx[i], &v);
            }
            if (mask & (1u << (K + i)))
                goc_chan_send(tx[i], &outv[i]);
        }
        unsigned ready = mask & ((1u << K) - 1);
        for (int i = 0; i < K; i++)
            if (!(mask & (1u << (K + i))))
                ready |= 1u << (K + i);
        int got = goc_select_try(cases, 2 * K);
        if (ready == 0) {
            CHECK_EQ_INT(got, -1);
        } else {
            CHECK_MSG(got >= 0 && (ready & (1u << got)),
                      "round %d: select_try returned %d, ready set 0x%x", r, got, ready);
            if (got < K)
                CHECK_EQ_INT(in[got], 400 + got);
        }
        /* Empty everything for the next round. */
        for (int i = 0; i < K; i++) {
            while (goc_chan_len(rx[i]) > 0)
                CHECK(goc_chan_recv(rx[i], NULL));
            while (goc_chan_len(tx[i]) > 0)
                CHECK(goc_chan_recv(tx[i], NULL));
        }
    }
    /* A closed channel is always ready to receive from. */
    goc_chan *closed = test_chan_make(sizeof(int), 0);
    goc_chan_close(closed);
    goc_case with_closed[] = {GOC_RECV(rx[0], &in[0], NULL), GOC_RECV(closed, &in[1], NULL)};
    for (int r = 0; r < 1000; r++)
        CHECK_EQ_INT(goc_select_try(with_closed, 2), 1);
    goc_chan_release(closed);
    for (int i = 0; i < K; i++) {
        goc_chan_release(rx[i]);
        goc_chan_release(tx[i]);
    }
}

/* A sender parked on an unbuffered channel makes a receive ready:
 * select_try takes each value, in order, without blocking. */
GTEST(try_receives_from_parked_sender) {
    static goc_waitgroup wg;
    const long n = TEST_SCALE(2000, 500);
    goc_chan *c = test_chan_make(sizeof(long), 0);
    goc_wg_add(&wg, 1);
    test_go_send_seq(c, 0, n, false, &wg);
    long v = -1;
    goc_case cases[] = {GOC_RECV(c, &v, NULL)};
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    for (long i = 0; i < n; i++) {
        int got;
        while ((got = goc_select_try(cases, 1)) == -1 && !test_deadline_passed(&d))
            goc_yield();
        CHECK_EQ_INT(got, 0);
        CHECK_EQ_INT(v, i);
    }
    goc_wg_wait(&wg);
    goc_chan_release(c);
}

/* ================================================================== */
/* send and receive cases in one select                                */

struct duplex {
    goc_chan *a, *b;
    atomic_int started;
    int result;
    long received;
    goc_waitgroup done;
};

static void select_send_a_or_recv_b(void *arg) {
    struct duplex *d = arg;
    long out = 11, in = -1;
    goc_case cases[] = {GOC_SEND(d->a, &out), GOC_RECV(d->b, &in, NULL)};
    atomic_store(&d->started, 1);
    d->result = goc_select(cases, 2);
    d->received = in;
    goc_wg_done(&d->done);
}

GTEST(send_and_recv_cases_together) {
    static struct duplex d;
    d.a = test_chan_make(sizeof(long), 0);
    d.b = test_chan_make(sizeof(long), 0);
    for (int round = 0; round < TEST_SCALE(200, 50); round++) {
        atomic_store(&d.started, 0);
        goc_wg_add(&d.done, 1);
        TEST_GO(select_send_a_or_recv_b, &d);
        if (round % 4 < 2)
            WAIT_UNTIL(atomic_load(&d.started) == 1, TEST_PATIENCE_S);
        if (round % 2 == 0) {
            long v = -1;
            CHECK(goc_chan_recv(d.a, &v)); /* takes the send case */
            goc_wg_wait(&d.done);
            CHECK_EQ_INT(d.result, 0);
            CHECK_EQ_INT(v, 11);
            CHECK_EQ_INT(d.received, -1);
        } else {
            long v = 22 + round;
            goc_chan_send(d.b, &v); /* takes the receive case */
            goc_wg_wait(&d.done);
            CHECK_EQ_INT(d.result, 1);
            CHECK_EQ_INT(d.received, 22 + round);
        }
    }
    /* Both ready (buffered): each is taken sometimes. */
    goc_chan *a = test_chan_make(sizeof(long), 1), *b = test_chan_make(sizeof(long), 1);
    long out = 1, in = 0;
    goc_case cases[] = {GOC_SEND(a, &out), GOC_RECV(b, &in, NULL)};
    long counts[2] = {0};
    const long both_rounds = TEST_SCALE(20000, 10000);
    for (long r = 0; r < both_rounds; r++) {
        long v = 2;
        goc_chan_send(b, &v);
        int i = goc_select(cases, 2);
        counts[i]++;
        if (i == 0) {
            CHECK(goc_chan_recv(a, &v));
            CHECK_EQ_INT(v, 1);
            CHECK(goc_chan_recv(b, NULL));
        } else {
            CHECK_EQ_INT(in, 2);
        }
    }
    check_near(counts[0], both_rounds / 2, 0);
    check_near(counts[1], both_rounds / 2, 1);
    goc_chan_release(a);
    goc_chan_release(b);
    goc_chan_release(d.a);
    goc_chan_release(d.b);
}

/* ================================================================== */
/* the same channel twice in one select                                */

GTEST(same_channel_twice_recv_buffered) {
    const long rounds = TEST_SCALE(20000, 10000);
    goc_chan *c = test_chan_make(sizeof(long), 2);
    long x = -1, y = -1, next_in = 0, next_out = 0;
    goc_case cases[] = {GOC_RECV(c, &x, NULL), GOC_RECV(c, &y, NULL)};
    long counts[2] = {0};
    goc_chan_send(c, &next_in);
    next_in++;
    for (long r = 0; r < rounds; r++) {
        goc_chan_send(c, &next_in);
        next_in++;
        int i = goc_select(cases, 2);
        counts[i]++;
        CHECK_EQ_INT(i == 0 ? x : y, next_out); /* FIFO whichever case fires */
        next_out++;
        CHECK_EQ_INT(goc_chan_len(c), 1);
    }
    check_near(counts[0], rounds / 2, 0);
    check_near(counts[1], rounds / 2, 1);
    goc_chan_release(c);
}

/* Blocking path: a select parked twice on one unbuffered channel takes one
 * value, and leaves no stale waiter behind (a later send finds no
 * receiver). Which of the two cases a sender finds first is drawn, so both
 * win over the rounds. The select has n cases, a and b the two on the
 * channel, the others nil. */
enum { TWICE_MAX_CASES = 70 };
struct twice {
    goc_chan *c;
    atomic_int started;
    int result;
    size_t n, a, b;
    long x, y;
    goc_waitgroup done;
};

static void select_recv_twice(void *arg) {
    struct twice *t = arg;
    t->x = t->y = -1;
    goc_case cases[TWICE_MAX_CASES] = {{0}};
    cases[t->a] = GOC_RECV(t->c, &t->x, NULL);
    cases[t->b] = GOC_RECV(t->c, &t->y, NULL);
    atomic_store(&t->started, 1);
    t->result = goc_select(cases, t->n);
    goc_wg_done(&t->done);
}

static void check_twice_blocking(size_t n, size_t a, size_t b) {
    static struct twice t;
    CHECK(n <= TWICE_MAX_CASES && a < n && b < n && a != b);
    t.c = test_chan_make(sizeof(long), 0);
    t.n = n;
    t.a = a;
    t.b = b;
    long counts[2] = {0};
    for (long round = 0; round < TEST_SCALE(400, 100); round++) {
        atomic_store(&t.started, 0);
        goc_wg_add(&t.done, 1);
        TEST_GO(select_recv_twice, &t);
        WAIT_UNTIL(atomic_load(&t.started) == 1, TEST_PATIENCE_S);
        goc_chan_send(t.c, &round);
        goc_wg_wait(&t.done);
        CHECK(t.result == (int)a || t.result == (int)b);
        bool first = t.result == (int)a;
        counts[first ? 0 : 1]++;
        CHECK_EQ_INT(first ? t.x : t.y, round);
        CHECK_EQ_INT(first ? t.y : t.x, -1);
        long v = 0;
        CHECK_EQ_INT(test_try_send(t.c, &v), -1); /* nobody left receiving */
    }
    CHECK_GT_INT(counts[0], 0);
    CHECK_GT_INT(counts[1], 0);
    goc_chan_release(t.c);
}

GTEST(same_channel_twice_recv_blocking) { check_twice_blocking(2, 0, 1); }

/* The same in a select of 70 cases (scratch on the heap), the two in
 * different words of the set pass 2 draws the queueing order from. */
GTEST(same_channel_twice_recv_blocking_large_select) { check_twice_blocking(70, 3, 68); }

/* Send and receive on one buffered channel: only the send is ready when it
 * is empty, only the receive when it is full, either when in between. */
GTEST(same_channel_send_and_recv_buffered) {
    goc_chan *c = test_chan_make(sizeof(long), 2);
    long out = 7, in = -1;
    goc_case cases[] = {GOC_SEND(c, &out), GOC_RECV(c, &in, NULL)};
    for (int r = 0; r < 200; r++) {
        CHECK_EQ_INT(goc_chan_len(c), 0);
        CHECK_EQ_INT(goc_select(cases, 2), 0); /* empty: only the send */
        CHECK_EQ_INT(goc_chan_len(c), 1);
        long fill = 8;
        goc_chan_send(c, &fill);
        CHECK_EQ_INT(goc_select(cases, 2), 1); /* full: only the receive */
        CHECK_EQ_INT(in, 7);
        CHECK(goc_chan_recv(c, &in));
        CHECK_EQ_INT(in, 8);
    }
    /* One element in a two-slot buffer: both ready. */
    const long rounds = TEST_SCALE(20000, 10000);
    long counts[2] = {0};
    long one = 1;
    goc_chan_send(c, &one);
    for (long r = 0; r < rounds; r++) {
        int i = goc_select(cases, 2);
        counts[i]++;
        if (i == 0) {
            CHECK(goc_chan_recv(c, &in));
        } else {
            goc_chan_send(c, &in);
        }
        CHECK_EQ_INT(goc_chan_len(c), 1);
    }
    check_near(counts[0], rounds / 2, 0);
    check_near(counts[1], rounds / 2, 1);
    goc_chan_release(c);
}

/* ================================================================== */
/* nil channels                                                        */

GTEST(nil_cases_never_fire_ready_path) {
    goc_chan *c = test_chan_make(sizeof(int), 1);
    int v = 0, out = 1;
    goc_case cases[] = {
        GOC_RECV(NULL, &v, NULL), GOC_SEND(NULL, &out),     GOC_RECV(c, &v, NULL),
        GOC_SEND(NULL, &out),     GOC_RECV(NULL, &v, NULL),
    };
    for (int r = 0; r < 2000; r++) {
        int x = r;
        goc_chan_send(c, &x);
        CHECK_EQ_INT(goc_select(cases, 5), 2);
        CHECK_EQ_INT(v, r);
        CHECK_EQ_INT(goc_select_try(cases, 5), -1);
    }
    goc_chan_release(c);
}

struct nil_mix {
    goc_chan *c;
    atomic_int started;
    int result;
    int v;
    goc_waitgroup done;
};

static void select_nil_mix(void *arg) {
    struct nil_mix *m = arg;
    int out = 1;
    goc_case cases[] = {GOC_SEND(NULL, &out), GOC_RECV(NULL, &m->v, NULL),
                        GOC_RECV(m->c, &m->v, NULL)};
    atomic_store(&m->started, 1);
    m->result = goc_select(cases, 3);
    goc_wg_done(&m->done);
}

GTEST(nil_cases_never_fire_blocking_path) {
    static struct nil_mix m;
    m.c = test_chan_make(sizeof(int), 0);
    for (int round = 0; round < 100; round++) {
        atomic_store(&m.started, 0);
        goc_wg_add(&m.done, 1);
        TEST_GO(select_nil_mix, &m);
        WAIT_UNTIL(atomic_load(&m.started) == 1, TEST_PATIENCE_S);
        int x = 1000 + round;
        goc_chan_send(m.c, &x);
        goc_wg_wait(&m.done);
        CHECK_EQ_INT(m.result, 2);
        CHECK_EQ_INT(m.v, 1000 + round);
    }
    goc_chan_release(m.c);
}

TEST(try_all_nil_returns_minus_one) {
    int v = 0;
    goc_case cases[] = {GOC_RECV(NULL, &v, NULL), GOC_SEND(NULL, &v), GOC_RECV(NULL, NULL, NULL)};
    for (int r = 0; r < 100; r++)
        CHECK_EQ_INT(goc_select_try(cases, 3), -1);
}

static atomic_int all_nil_started, all_nil_finished;

static void select_all_nil(void *arg) {
    (void)arg;
    int v = 0;
    goc_case cases[] = {GOC_RECV(NULL, &v, NULL), GOC_SEND(NULL, &v)};
    atomic_store(&all_nil_started, 1);
    goc_select(cases, 2);
    atomic_store(&all_nil_finished, 1);
}

GTEST(all_nil_blocks_forever) {
    /* The goroutine blocks forever by design (nothing can wake it) and
     * cannot be made to exit: it outlives the case. */
    test_skip_leak_check();
    TEST_GO(select_all_nil, NULL);
    test_check_stays_blocked(&all_nil_started, &all_nil_finished);
}

static atomic_int no_cases_started, no_cases_finished;

static void select_no_cases(void *arg) {
    (void)arg;
    atomic_store(&no_cases_started, 1);
    goc_select(NULL, 0);
    atomic_store(&no_cases_finished, 1);
}

GTEST(zero_cases_blocks_forever) {
    /* The goroutine blocks forever by design (nothing can wake it) and
     * cannot be made to exit: it outlives the case. */
    test_skip_leak_check();
    TEST_GO(select_no_cases, NULL);
    test_check_stays_blocked(&no_cases_started, &no_cases_finished);
}

/* ================================================================== */
/* a select never matches its own goroutine                            */

struct self {
    goc_chan *c;
    atomic_int started, finished;
    int result;
    long in;
};

static void select_send_recv_same(void *arg) {
    struct self *s = arg;
    long out = 77;
    s->in = -1;
    goc_case cases[] = {GOC_SEND(s->c, &out), GOC_RECV(s->c, &s->in, NULL)};
    atomic_store(&s->started, 1);
    s->result = goc_select(cases, 2);
    atomic_store(&s->finished, 1);
}

GTEST(never_matches_itself) {
    static struct self s;
    s.c = test_chan_make(sizeof(long), 0);
    TEST_GO(select_send_recv_same, &s);
    test_check_stays_blocked(&s.started, &s.finished);
    long v = -1;
    CHECK(goc_chan_recv(s.c, &v));
    CHECK_EQ_INT(v, 77);
    WAIT_UNTIL(atomic_load(&s.finished) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(s.result, 0);
    CHECK_EQ_INT(s.in, -1);
    goc_chan_release(s.c);
}

/* Go's self-select: two goroutines each select {c <- me, v := <-c} on one
 * unbuffered channel; they must pair with each other, never with
 * themselves. */
struct selfpair {
    goc_chan *c;
    long me;
    long iters;
    goc_waitgroup *wg;
    atomic_long *sends, *recvs;
};

static void self_pair(void *arg) {
    struct selfpair *p = arg;
    for (long i = 0; i < p->iters; i++) {
        long in = -1;
        goc_case cases[] = {GOC_SEND(p->c, &p->me), GOC_RECV(p->c, &in, NULL)};
        if (goc_select(cases, 2) == 0) {
            atomic_fetch_add(p->sends, 1);
        } else {
            CHECK_MSG(in != p->me, "goroutine %ld received its own value", p->me);
            atomic_fetch_add(p->recvs, 1);
        }
    }
    goc_wg_done(p->wg);
}

GTEST(two_selects_pair_never_self) {
    static goc_waitgroup wg;
    static atomic_long sends, recvs;
    const long iters = TEST_SCALE(20000, 3000);
    goc_chan *c = test_chan_make(sizeof(long), 0);
    goc_wg_add(&wg, 2);
    for (long me = 0; me < 2; me++)
        TEST_GO_ARGS(self_pair, struct selfpair, c, me, iters, &wg, &sends, &recvs);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&sends), iters);
    CHECK_EQ_INT(atomic_load(&recvs), iters);
    goc_chan_release(c);
}

/* ================================================================== */
/* stress with exact counts                                            */

enum { ST_CHANS = 4, ST_PRODUCERS = 8, ST_CONSUMERS = 4 };
#define ST_PER TEST_SCALE(10000L, 1500L)

/* Producer p sends p*ST_PER .. (p+1)*ST_PER-1; every value is received
 * exactly once (st_tally). */
static test_tally st_tally;
static goc_chan *st_chans[ST_CHANS];

static size_t st_cap(int i) { return i % 2 ? 8 : 0; } /* half unbuffered */

static void st_setup(void) {
    test_tally_init(&st_tally, ST_PRODUCERS * ST_PER);
    for (int i = 0; i < ST_CHANS; i++)
        st_chans[i] = test_chan_make(sizeof(long), st_cap(i));
}

static void st_finish(void) {
    test_tally_check(&st_tally);
    for (int i = 0; i < ST_CHANS; i++)
        goc_chan_release(st_chans[i]);
}

/* Receive from every channel through one select until all are closed; a
 * closed channel's case becomes nil, as in Go. */
static void st_select_consume(void *arg) {
    (void)arg;
    long vals[ST_CHANS];
    bool oks[ST_CHANS];
    goc_case cases[ST_CHANS];
    for (int i = 0; i < ST_CHANS; i++)
        cases[i] = GOC_RECV(st_chans[i], &vals[i], &oks[i]);
    int open = ST_CHANS;
    while (open > 0) {
        int i = goc_select(cases, ST_CHANS);
        CHECK(i >= 0 && i < ST_CHANS);
        if (oks[i]) {
            test_tally_take(&st_tally, vals[i]);
        } else {
            CHECK_EQ_INT(vals[i], 0);
            cases[i].ch = NULL;
            open--;
        }
    }
}

static void st_receivers_exact(void) {
    static goc_waitgroup per_chan[ST_CHANS];
    static test_group consumers;
    st_setup();
    test_group_go(&consumers, ST_CONSUMERS, st_select_consume, NULL);
    for (long p = 0; p < ST_PRODUCERS; p++) {
        int ci = (int)(p % ST_CHANS);
        goc_wg_add(&per_chan[ci], 1);
        test_go_send_seq(st_chans[ci], p * ST_PER, ST_PER, false, &per_chan[ci]);
    }
    for (int i = 0; i < ST_CHANS; i++)
        test_go_close_after_wait(&per_chan[i], &st_chans[i], 1);
    test_group_wait(&consumers);
    st_finish();
}

GTEST(stress_select_receivers_exact) { st_receivers_exact(); }

/* The same on four processors: consumers on other processors take the
 * value a select's pass 0 saw (it then locks every channel), and woken
 * selects race to remove their other sudogs while more values arrive. */
GTEST(stress_select_receivers_exact_four_procs) {
    int old = goc_maxprocs(4);
    st_receivers_exact();
    goc_maxprocs(old);
}

struct st_sel_producer {
    long id;
    goc_waitgroup *wg;
};

/* Send every value through a select over all channels. */
static void st_send_select(void *arg) {
    struct st_sel_producer *p = arg;
    long v;
    goc_case cases[ST_CHANS];
    for (int i = 0; i < ST_CHANS; i++)
        cases[i] = GOC_SEND(st_chans[i], &v);
    for (long i = 0; i < ST_PER; i++) {
        v = p->id * ST_PER + i;
        int k = goc_select(cases, ST_CHANS);
        CHECK(k >= 0 && k < ST_CHANS);
    }
    goc_wg_done(p->wg);
}

static void st_recv_plain(void *arg) { test_recv_tally(arg, &st_tally); }

/* The select producers, then a goroutine that closes every channel once
 * they are done. */
static void st_start_select_producers(void) {
    static goc_waitgroup producers;
    goc_wg_add(&producers, ST_PRODUCERS);
    for (long p = 0; p < ST_PRODUCERS; p++)
        TEST_GO_ARGS(st_send_select, struct st_sel_producer, p, &producers);
    test_go_close_after_wait(&producers, st_chans, ST_CHANS);
}

GTEST(stress_select_senders_exact) {
    static test_group consumers;
    st_setup();
    for (int i = 0; i < 2 * ST_CHANS; i++)
        test_group_go(&consumers, 1, st_recv_plain, st_chans[i % ST_CHANS]);
    st_start_select_producers();
    test_group_wait(&consumers);
    st_finish();
}

/* Selects on both sides: select senders meet select receivers. */
GTEST(stress_select_both_sides_exact) {
    static test_group consumers;
    st_setup();
    test_group_go(&consumers, ST_CONSUMERS, st_select_consume, NULL);
    st_start_select_producers();
    test_group_wait(&consumers);
    st_finish();
}

/* ================================================================== */
/* closed channels                                                     */

GTEST(recv_on_closed_reports_not_ok_and_zeroes) {
    struct pair {
        long a, b;
    };
    goc_chan *c = test_chan_make(sizeof(struct pair), 2);
    goc_chan *never = test_chan_make(sizeof(struct pair), 0);
    struct pair p = {5, 6}, out;
    goc_chan_send(c, &p);
    goc_chan_close(c);
    bool ok = false;
    goc_case cases[] = {GOC_RECV(never, &out, NULL), GOC_RECV(c, &out, &ok)};
    memset(&out, 0xff, sizeof out);
    CHECK_EQ_INT(goc_select(cases, 2), 1); /* the buffered value first */
    CHECK(ok);
    CHECK_EQ_INT(out.a, 5);
    CHECK_EQ_INT(out.b, 6);
    for (int r = 0; r < 10; r++) {
        memset(&out, 0xff, sizeof out);
        ok = true;
        CHECK_EQ_INT(goc_select(cases, 2), 1);
        CHECK(!ok);
        CHECK_EQ_INT(out.a, 0);
        CHECK_EQ_INT(out.b, 0);
        ok = true;
        memset(&out, 0xff, sizeof out);
        CHECK_EQ_INT(goc_select_try(cases, 2), 1);
        CHECK(!ok);
        CHECK_EQ_INT(out.a, 0);
    }
    /* out and ok may be NULL. */
    goc_case bare[] = {GOC_RECV(c, NULL, NULL)};
    CHECK_EQ_INT(goc_select(bare, 1), 0);
    goc_chan_release(c);
    goc_chan_release(never);
}

struct closewait {
    goc_chan *a, *b;
    atomic_int started;
    int result;
    bool ok;
    long v;
    goc_waitgroup done;
};

static void select_until_closed(void *arg) {
    struct closewait *w = arg;
    memset(&w->v, 0xff, sizeof w->v);
    w->ok = true;
    long other;
    goc_case cases[] = {GOC_RECV(w->a, &other, NULL), GOC_RECV(w->b, &w->v, &w->ok)};
    atomic_store(&w->started, 1);
    w->result = goc_select(cases, 2);
    goc_wg_done(&w->done);
}

GTEST(close_wakes_blocked_select) {
    static struct closewait w;
    w.a = test_chan_make(sizeof(long), 0);
    w.b = test_chan_make(sizeof(long), 0);
    goc_wg_add(&w.done, 1);
    TEST_GO(select_until_closed, &w);
    WAIT_UNTIL(atomic_load(&w.started) == 1, TEST_PATIENCE_S);
    test_let_others_run();
    goc_chan_close(w.b);
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(w.result, 1);
    CHECK(!w.ok);
    CHECK_EQ_INT(w.v, 0);
    long v = 1;
    CHECK_EQ_INT(test_try_send(w.a, &v), -1); /* its case on a is gone */
    goc_chan_release(w.a);
    goc_chan_release(w.b);
}

static int select_send_closed_main(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 4);
    goc_chan_close(c);
    long v = 1;
    goc_case cases[] = {GOC_SEND(c, &v)};
    goc_select(cases, 1);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(select_send_closed) { run_in_goc(select_send_closed_main, NULL); }

TEST(send_case_on_closed_panics) {
    expect_child("select_send_closed", -SIGABRT, "^panic: send on closed channel$");
}

static atomic_int blocked_select_started;

static void select_send_blocked(void *arg) {
    goc_chan *c = arg;
    long v = 1, in;
    goc_case cases[] = {GOC_SEND(c, &v), GOC_RECV(NULL, &in, NULL)};
    atomic_store(&blocked_select_started, 1);
    goc_select(cases, 2);
    fprintf(stderr, "select returned after close\n");
}

static int close_under_select_sender(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 0);
    TEST_GO(select_send_blocked, c);
    WAIT_UNTIL(atomic_load(&blocked_select_started) == 1, TEST_PATIENCE_S);
    test_let_others_run();
    goc_chan_close(c);
    goc_sleep(5 * GOC_SECOND); /* the panic ends the process first */
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(close_with_blocked_select_sender) { run_in_goc(close_under_select_sender, NULL); }

TEST(close_makes_blocked_select_send_panic) {
    expect_child("close_with_blocked_select_sender", -SIGABRT, "^panic: send on closed channel$");
}

/* ================================================================== */
/* many cases                                                          */

enum { MANY = 100 };

struct many {
    goc_chan *chans[MANY];
    int vals[MANY];
    goc_case cases[MANY];
    atomic_int started;
    int result;
    goc_waitgroup done;
};

static void select_many(void *arg) {
    struct many *m = arg;
    for (int i = 0; i < MANY; i++) {
        m->vals[i] = -1;
        m->cases[i] = GOC_RECV(m->chans[i], &m->vals[i], NULL);
    }
    atomic_store(&m->started, 1);
    m->result = goc_select(m->cases, MANY);
    goc_wg_done(&m->done);
}

GTEST(many_cases) {
    static struct many m;
    for (int i = 0; i < MANY; i++) {
        m.chans[i] = test_chan_make(sizeof(int), 1);
        m.cases[i] = GOC_RECV(m.chans[i], &m.vals[i], NULL);
    }
    /* Ready path: one channel ready at a time. */
    for (int k = 0; k < MANY; k++) {
        int v = 1000 + k;
        goc_chan_send(m.chans[(k * 37) % MANY], &v);
        CHECK_EQ_INT(goc_select(m.cases, MANY), (k * 37) % MANY);
        CHECK_EQ_INT(m.vals[(k * 37) % MANY], v);
        CHECK_EQ_INT(goc_select_try(m.cases, MANY), -1);
    }
    /* All ready: MANY selects take each exactly once. */
    for (int i = 0; i < MANY; i++)
        goc_chan_send(m.chans[i], &i);
    bool seen[MANY] = {false};
    for (int k = 0; k < MANY; k++) {
        int i = goc_select(m.cases, MANY);
        CHECK(i >= 0 && i < MANY && !seen[i]);
        CHECK_EQ_INT(m.vals[i], i);
        seen[i] = true;
    }
    CHECK_EQ_INT(goc_select_try(m.cases, MANY), -1);
    /* Blocking path: parked on MANY channels, woken by one. */
    for (int k = 0; k < 20; k++) {
        int target = (k * 53 + 7) % MANY;
        atomic_store(&m.started, 0);
        goc_wg_add(&m.done, 1);
        TEST_GO(select_many, &m);
        WAIT_UNTIL(atomic_load(&m.started) == 1, TEST_PATIENCE_S);
        if (k % 2)
            test_let_others_run();
        int v = 5000 + k;
        goc_chan_send(m.chans[target], &v);
        goc_wg_wait(&m.done);
        CHECK_EQ_INT(m.result, target);
        CHECK_EQ_INT(m.vals[target], v);
        for (int i = 0; i < MANY; i++)
            CHECK_EQ_INT(goc_chan_len(m.chans[i]), 0);
    }
    for (int i = 0; i < MANY; i++)
        goc_chan_release(m.chans[i]);
}

/* ================================================================== */
/* racing senders                                                      */

struct racer {
    goc_chan *c;
    long v;
    atomic_int *done;
    goc_waitgroup *wg;
};

static void race_send(void *arg) {
    struct racer *r = arg;
    goc_chan_send(r->c, &r->v);
    atomic_store(r->done, 1);
    goc_wg_done(r->wg);
}

/* A select parked on two unbuffered channels, two senders racing: the
 * select takes exactly one value; the other sender stays blocked until its
 * value is received normally. */
GTEST(two_racing_senders_one_wins) {
    static goc_waitgroup wg;
    static atomic_int done[2];
    goc_chan *ch[2] = {test_chan_make(sizeof(long), 0), test_chan_make(sizeof(long), 0)};
    long wins[2] = {0};
    const int rounds = TEST_SCALE(1000, 200);
    for (int round = 0; round < rounds; round++) {
        atomic_store(&done[0], 0);
        atomic_store(&done[1], 0);
        long va = 2L * round, vb = 2L * round + 1;
        long got[2] = {-1, -1};
        goc_case cases[] = {GOC_RECV(ch[0], &got[0], NULL), GOC_RECV(ch[1], &got[1], NULL)};
        goc_wg_add(&wg, 2);
        TEST_GO_ARGS(race_send, struct racer, ch[0], va, &done[0], &wg);
        TEST_GO_ARGS(race_send, struct racer, ch[1], vb, &done[1], &wg);
        for (int y = 0; y < round % 4; y++)
            goc_yield(); /* sometimes select first, sometimes the senders */
        int w = goc_select(cases, 2);
        CHECK(w == 0 || w == 1);
        wins[w]++;
        CHECK_EQ_INT(got[w], w == 0 ? va : vb);
        CHECK_EQ_INT(got[1 - w], -1);
        for (int y = 0; y < 10; y++)
            goc_yield();
        CHECK_MSG(atomic_load(&done[1 - w]) == 0, "round %d: the losing sender completed", round);
        long late = -1;
        CHECK(goc_chan_recv(ch[1 - w], &late));
        CHECK_EQ_INT(late, w == 0 ? vb : va);
        goc_wg_wait(&wg);
        CHECK_EQ_INT(atomic_load(&done[0]) + atomic_load(&done[1]), 2);
    }
    test_note("wins: %ld on the first channel, %ld on the second", wins[0], wins[1]);
    goc_chan_release(ch[0]);
    goc_chan_release(ch[1]);
}

/* ================================================================== */
/* plain OS threads in select                                          */

struct thread_sel {
    goc_chan *a, *b, *c;
    long n;
};

/* The thread: receive n values through a select on {a, b}, then send n
 * values through a select on {c, nil}. Every select blocks the thread. */
static void *thread_select(void *arg) {
    struct thread_sel *t = arg;
    CHECK_EQ_INT(goc_id(), 0);
    long x = -1, y = -1;
    goc_case rc[] = {GOC_RECV(t->a, &x, NULL), GOC_RECV(t->b, &y, NULL)};
    for (long i = 0; i < t->n; i++) {
        int k = goc_select(rc, 2);
        CHECK_EQ_INT(k, (int)(i % 2));
        CHECK_EQ_INT(k == 0 ? x : y, i);
    }
    long v;
    goc_case sc[] = {GOC_RECV(NULL, NULL, NULL), GOC_SEND(t->c, &v)};
    for (long i = 0; i < t->n; i++) {
        v = i * 3;
        CHECK_EQ_INT(goc_select(sc, 2), 1);
    }
    return NULL;
}

static int feed_thread_select(void *arg) {
    struct thread_sel *t = arg;
    for (long i = 0; i < t->n; i++)
        goc_chan_send(i % 2 ? t->b : t->a, &i);
    for (long i = 0; i < t->n; i++) {
        long v = -1;
        CHECK(goc_chan_recv(t->c, &v));
        CHECK_EQ_INT(v, i * 3);
    }
    return TEST_GOC_OK;
}

TEST(select_on_plain_thread) {
    static struct thread_sel t;
    t.a = test_chan_make(sizeof(long), 0);
    t.b = test_chan_make(sizeof(long), 0);
    t.c = test_chan_make(sizeof(long), 0);
    t.n = TEST_SCALE(5000, 1000);
    pthread_t th = test_thread_start(thread_select, &t);
    CHECK_EQ_INT(run_in_goc(feed_thread_select, &t), TEST_GOC_OK);
    test_thread_join(th);
    goc_chan_release(t.a);
    goc_chan_release(t.b);
    goc_chan_release(t.c);
}

/* ================================================================== */
/* large elements through select                                       */

struct big_xfer {
    goc_chan *c;
    int n;
    goc_waitgroup *wg;
};

static void select_send_bigs(void *arg) {
    struct big_xfer *x = arg;
    struct test_big b;
    goc_case cases[] = {GOC_SEND(x->c, &b), GOC_SEND(NULL, &b)};
    for (int i = 0; i < x->n; i++) {
        test_big_fill(&b, (uint64_t)i);
        CHECK_EQ_INT(goc_select(cases, 2), 0);
    }
    goc_wg_done(x->wg);
}

GTEST(large_elements_through_select) {
    static goc_waitgroup wg;
    const int n = TEST_SCALE(2000, 300);
    goc_chan *c = test_chan_make(sizeof(struct test_big), 0);
    goc_wg_add(&wg, 1);
    TEST_GO_ARGS(select_send_bigs, struct big_xfer, c, n, &wg);
    struct test_big b;
    bool ok;
    goc_case cases[] = {GOC_RECV(NULL, &b, NULL), GOC_RECV(c, &b, &ok)};
    for (int i = 0; i < n; i++) {
        memset(&b, 0x5a, sizeof b);
        ok = false;
        if (i % 3 == 0)
            goc_yield();
        CHECK_EQ_INT(goc_select(cases, 2), 1);
        CHECK(ok);
        test_big_check(&b, (uint64_t)i);
    }
    goc_wg_wait(&wg);
    goc_chan_release(c);
}

/* ================================================================== */
/* select on buffered rings mixed with plain fast senders/receivers     */

/* Two selectors each receive exactly MIX_PER values from `in` and send
 * exactly MIX_PER values to `out`, in one select per step (a case whose
 * quota is met becomes a nil channel). Plain goroutines feed `in` and
 * drain `out` through the rings' fast paths. A select parking as a fast
 * operation completes (its pass 2 re-check), a fast sender or receiver
 * serving a parked select (its selectdone claim), and select's locked ring
 * operations racing the lock-free ones all happen; every value must arrive
 * exactly once. */
enum { MIX_SELECTORS = 2, MIX_FEEDERS = 2, MIX_DRAINERS = 2 };
#define MIX_PER TEST_SCALE(20000L, 2000L)

struct mix {
    goc_chan *in, *out;
    atomic_long feeder_id, selector_id;
    test_tally in_tally, out_tally;
};

static void mix_feeder(void *arg) {
    struct mix *m = arg;
    long id = atomic_fetch_add(&m->feeder_id, 1);
    long per = MIX_SELECTORS * MIX_PER / MIX_FEEDERS;
    for (long i = 0; i < per; i++) {
        long v = id * per + i;
        goc_chan_send(m->in, &v);
        if (i % 5 == 0)
            goc_yield();
    }
}

static void mix_drainer(void *arg) {
    struct mix *m = arg;
    long v;
    for (long i = 0; i < MIX_SELECTORS * MIX_PER / MIX_DRAINERS; i++) {
        CHECK(goc_chan_recv(m->out, &v));
        test_tally_take(&m->out_tally, v);
        if (i % 7 == 0)
            goc_yield();
    }
}

static void mix_selector(void *arg) {
    struct mix *m = arg;
    long id = atomic_fetch_add(&m->selector_id, 1);
    long got = 0, sent = 0, rv = -1, sv = id * MIX_PER;
    bool ok = false;
    while (got < MIX_PER || sent < MIX_PER) {
        goc_case cs[2] = {GOC_RECV(got < MIX_PER ? m->in : NULL, &rv, &ok),
                          GOC_SEND(sent < MIX_PER ? m->out : NULL, &sv)};
        int i = goc_select(cs, 2);
        if (i == 0) {
            CHECK(ok);
            test_tally_take(&m->in_tally, rv);
            got++;
        } else {
            CHECK_EQ_INT(i, 1);
            sent++;
            sv++;
        }
    }
}

static void check_select_mixed(size_t in_cap, size_t out_cap) {
    static struct mix m;
    static test_group grp;
    m.in = test_chan_make(sizeof(long), in_cap);
    m.out = test_chan_make(sizeof(long), out_cap);
    atomic_store(&m.feeder_id, 0);
    atomic_store(&m.selector_id, 0);
    test_tally_init(&m.in_tally, MIX_SELECTORS * MIX_PER);
    test_tally_init(&m.out_tally, MIX_SELECTORS * MIX_PER);
    test_group_go(&grp, MIX_SELECTORS, mix_selector, &m);
    test_group_go(&grp, MIX_FEEDERS, mix_feeder, &m);
    test_group_go(&grp, MIX_DRAINERS, mix_drainer, &m);
    test_group_wait(&grp);
    test_tally_check(&m.in_tally);
    test_tally_check(&m.out_tally);
    CHECK_EQ_INT(goc_chan_len(m.in), 0);
    CHECK_EQ_INT(goc_chan_len(m.out), 0);
    goc_chan_release(m.in);
    goc_chan_release(m.out);
}

GTEST(stress_select_buffered_with_fast_ops_cap1) { check_select_mixed(1, 1); }
GTEST(stress_select_buffered_with_fast_ops_cap3) { check_select_mixed(3, 2); }
GTEST(stress_select_buffered_with_fast_ops_four_procs) {
    int old = goc_maxprocs(4);
    check_select_mixed(1, 1);
    goc_maxprocs(old);
}
