/* test_cond.c — sync.Cond: Signal wakes one waiter in FIFO order (exactly
 * one), Broadcast wakes all, a notify with nobody waiting is not remembered,
 * Wait re-locks the mutex, plain threads as waiters and signalers, a bounded
 * queue with exact transfer, GOC_COND_INIT, misuse panics. Each case is one
 * behaviour; `test_cond --list` names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS GOC_MILLISECOND

/* Waiters enter Wait one at a time, in a known order; each Signal must
 * wake exactly one, the oldest. */
struct fifo_cond {
    goc_mutex mu;
    goc_cond cond;
    int waiting;   /* mu: waiters inside Wait */
    int woken[64]; /* mu: ids in wake order */
    int nwoken;    /* mu */
    int permits;   /* mu: Signals not yet consumed */
};

struct fifo_arg {
    struct fifo_cond *f;
    int id;
};

static void fifo_waiter(void *arg) {
    struct fifo_arg *a = arg;
    struct fifo_cond *f = a->f;
    goc_mutex_lock(&f->mu);
    f->waiting++;
    while (f->permits == 0)
        goc_cond_wait(&f->cond);
    f->permits--;
    f->woken[f->nwoken++] = a->id;
    goc_mutex_unlock(&f->mu);
}

static int locked_read(goc_mutex *mu, int *p) {
    goc_mutex_lock(mu);
    int v = *p;
    goc_mutex_unlock(mu);
    return v;
}

GTEST(cond_signal_wakes_one_waiter_in_fifo_order) {
    static struct fifo_cond f;
    static struct fifo_arg args[32];
    static test_group grp;
    enum { N = 32 };
    goc_cond_init(&f.cond, &f.mu);
    for (int i = 0; i < N; i++) {
        args[i] = (struct fifo_arg){&f, i};
        test_group_go(&grp, 1, fifo_waiter, &args[i]);
        /* i is in Wait (it took its ticket under mu) before i+1 starts. */
        WAIT_UNTIL(locked_read(&f.mu, &f.waiting) == i + 1, TEST_PATIENCE_S);
    }
    WAIT_PARKED("sync.Cond.Wait", N);
    for (int i = 0; i < N; i++) {
        goc_mutex_lock(&f.mu);
        f.permits++;
        goc_cond_signal(&f.cond);
        goc_mutex_unlock(&f.mu);
        WAIT_UNTIL(locked_read(&f.mu, &f.nwoken) == i + 1, TEST_PATIENCE_S);
        /* exactly one woke: the rest are still parked */
        for (int k = 0; k < 20; k++)
            goc_yield();
        CHECK_EQ_INT(locked_read(&f.mu, &f.nwoken), i + 1);
        CHECK_EQ_INT(f.woken[i], i);
    }
    test_group_wait(&grp);
}

/* Signal wakes exactly one waiter, observed without a predicate: count the
 * returns from Wait. */
struct one_wake {
    goc_mutex mu;
    goc_cond cond;
    atomic_int returned;
    test_group waiters;
};

static void one_wake_waiter(void *arg) {
    struct one_wake *w = arg;
    goc_mutex_lock(&w->mu);
    goc_cond_wait(&w->cond);
    atomic_fetch_add(&w->returned, 1);
    goc_mutex_unlock(&w->mu);
}

/* n more waiters, parked in Wait when this returns. */
static void add_waiters(struct one_wake *w, int n) {
    test_group_go(&w->waiters, n, one_wake_waiter, w);
    WAIT_PARKED("sync.Cond.Wait", n);
}

GTEST(cond_signal_wakes_exactly_one) {
    static struct one_wake w;
    enum { N = 10 };
    goc_cond_init(&w.cond, &w.mu);
    add_waiters(&w, N);
    goc_cond_signal(&w.cond); /* without holding the mutex: allowed */
    WAIT_UNTIL(atomic_load(&w.returned) == 1, TEST_PATIENCE_S);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(atomic_load(&w.returned), 1);
    goc_mutex_lock(&w.mu);
    goc_cond_signal(&w.cond);
    goc_cond_signal(&w.cond);
    goc_mutex_unlock(&w.mu);
    WAIT_UNTIL(atomic_load(&w.returned) == 3, TEST_PATIENCE_S);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(atomic_load(&w.returned), 3);
    goc_cond_broadcast(&w.cond);
    test_group_wait(&w.waiters);
    CHECK_EQ_INT(atomic_load(&w.returned), N);
}

GTEST(cond_broadcast_wakes_all) {
    static struct one_wake w;
    enum { N = 200 };
    goc_cond_init(&w.cond, &w.mu);
    add_waiters(&w, N);
    goc_mutex_lock(&w.mu);
    goc_cond_broadcast(&w.cond);
    goc_mutex_unlock(&w.mu);
    test_group_wait(&w.waiters);
    CHECK_EQ_INT(atomic_load(&w.returned), N);
    /* The cond is reusable: a new round of waiters, woken again. */
    add_waiters(&w, 5);
    goc_cond_broadcast(&w.cond);
    test_group_wait(&w.waiters);
    CHECK_EQ_INT(atomic_load(&w.returned), N + 5);
}

/* A Signal or Broadcast with nobody waiting is not remembered. */
GTEST(cond_notify_without_waiters_is_not_remembered) {
    static struct one_wake w;
    goc_cond_init(&w.cond, &w.mu);
    goc_cond_signal(&w.cond);
    goc_cond_broadcast(&w.cond);
    goc_cond_signal(&w.cond);
    add_waiters(&w, 1);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(atomic_load(&w.returned), 0);
    goc_cond_signal(&w.cond);
    test_group_wait(&w.waiters);
    CHECK_EQ_INT(atomic_load(&w.returned), 1);
}

/* Wait returns with the mutex held again: while the woken waiter holds it,
 * nobody else can take it. */
struct relock {
    goc_mutex mu;
    goc_cond cond;
    bool ready; /* mu */
    atomic_int waiter_back, release_waiter, other_try;
};

static void relock_waiter(void *arg) {
    struct relock *r = arg;
    goc_mutex_lock(&r->mu);
    while (!r->ready)
        goc_cond_wait(&r->cond);
    atomic_store(&r->waiter_back, 1);
    WAIT_UNTIL(atomic_load(&r->release_waiter) == 1, TEST_PATIENCE_S); /* holding mu */
    goc_mutex_unlock(&r->mu);
}

GTEST(cond_wait_reacquires_mutex) {
    static struct relock r;
    static test_group grp;
    goc_cond_init(&r.cond, &r.mu);
    test_group_go(&grp, 1, relock_waiter, &r);
    WAIT_PARKED("sync.Cond.Wait", 1);
    /* While the waiter is in Wait, the mutex is free. */
    CHECK(goc_mutex_trylock(&r.mu));
    r.ready = true;
    goc_cond_signal(&r.cond);
    goc_mutex_unlock(&r.mu);
    WAIT_UNTIL(atomic_load(&r.waiter_back) == 1, TEST_PATIENCE_S);
    CHECK(!goc_mutex_trylock(&r.mu)); /* the waiter holds it again */
    atomic_store(&r.release_waiter, 1);
    test_group_wait(&grp);
    CHECK(goc_mutex_trylock(&r.mu));
    goc_mutex_unlock(&r.mu);
}

/* A plain thread waits; a goroutine signals; and the other way round. */
struct thread_cond {
    goc_mutex mu;
    goc_cond cond;
    int stage; /* mu */
};

static void *thread_cond_waiter(void *arg) {
    struct thread_cond *t = arg;
    goc_mutex_lock(&t->mu);
    while (t->stage != 1)
        goc_cond_wait(&t->cond);
    t->stage = 2;
    goc_cond_broadcast(&t->cond);
    goc_mutex_unlock(&t->mu);
    return NULL;
}

GTEST(cond_with_plain_threads) {
    static struct thread_cond t;
    goc_cond_init(&t.cond, &t.mu);
    pthread_t th = test_thread_start(thread_cond_waiter, &t);
    goc_sleep(10 * MS);
    goc_mutex_lock(&t.mu);
    t.stage = 1;
    goc_cond_signal(&t.cond);
    while (t.stage != 2)
        goc_cond_wait(&t.cond); /* the goroutine waits; the thread signals */
    goc_mutex_unlock(&t.mu);
    test_thread_join(th);
}

/* A bounded queue with two conds: exact transfer of every item from
 * producers to consumers (goroutines and threads). */
enum { BQ_CAP = 8 };
struct bq {
    goc_mutex mu;
    goc_cond not_empty, not_full;
    long buf[BQ_CAP];
    int head, n;                               /* mu */
    long produced_sum, consumed_sum, consumed; /* consumed_*: mu */
    long per_producer;
    long total;
};

static void bq_put(struct bq *q, long v) {
    goc_mutex_lock(&q->mu);
    while (q->n == BQ_CAP)
        goc_cond_wait(&q->not_full);
    q->buf[(q->head + q->n) % BQ_CAP] = v;
    q->n++;
    goc_cond_signal(&q->not_empty);
    goc_mutex_unlock(&q->mu);
}

/* Returns false once every item has been consumed. */
static bool bq_get(struct bq *q) {
    goc_mutex_lock(&q->mu);
    while (q->n == 0 && q->consumed < q->total)
        goc_cond_wait(&q->not_empty);
    if (q->n == 0) {
        goc_mutex_unlock(&q->mu);
        return false;
    }
    long v = q->buf[q->head];
    q->head = (q->head + 1) % BQ_CAP;
    q->n--;
    q->consumed++;
    q->consumed_sum += v;
    if (q->consumed == q->total)
        goc_cond_broadcast(&q->not_empty); /* release the other consumers */
    goc_cond_signal(&q->not_full);
    goc_mutex_unlock(&q->mu);
    return true;
}

static void bq_producer(void *arg) {
    struct bq *q = arg;
    for (long i = 1; i <= q->per_producer; i++)
        bq_put(q, i);
}

static void bq_consumer(void *arg) {
    struct bq *q = arg;
    while (bq_get(q))
        ;
}

GTEST(cond_bounded_queue_exact_transfer) {
    static struct bq q;
    static test_group grp;
    enum { P = 4, C = 4 };
    goc_cond_init(&q.not_empty, &q.mu);
    goc_cond_init(&q.not_full, &q.mu);
    q.per_producer = TEST_SCALE(20000, 2000);
    q.total = (P + 1) * q.per_producer;
    test_group_thread(&grp, 1, bq_producer, &q);
    test_group_thread(&grp, 1, bq_consumer, &q);
    test_group_go(&grp, C, bq_consumer, &q);
    test_group_go(&grp, P, bq_producer, &q);
    test_group_wait(&grp);
    CHECK_EQ_INT(q.consumed, q.total);
    CHECK_EQ_INT(q.consumed_sum, (P + 1) * (q.per_producer * (q.per_producer + 1) / 2));
    CHECK_EQ_INT(q.n, 0);
}

CHILD(cond_copied) {
    static goc_mutex mu;
    static goc_cond a, b;
    goc_cond_init(&a, &mu);
    goc_cond_signal(&a);
    memcpy(&b, &a, sizeof a);
    goc_cond_signal(&b);
    exit(3);
}

CHILD(cond_wait_without_mutex) {
    static goc_cond c;   /* zero value, no goc_cond_init */
    goc_cond_signal(&c); /* fine */
    goc_cond_broadcast(&c);
    goc_cond_wait(&c);
    exit(3);
}

/* GOC_COND_INIT gives a ready cond bound to a mutex, as goc_cond_init. */
static goc_mutex static_mu;
static goc_cond static_cond = GOC_COND_INIT(&static_mu);
static int static_stage; /* static_mu */

static void *static_cond_thread(void *arg) {
    (void)arg;
    goc_mutex_lock(&static_mu);
    static_stage = 1;
    goc_cond_signal(&static_cond);
    goc_mutex_unlock(&static_mu);
    return NULL;
}

TEST(cond_static_initializer) {
    goc_mutex_lock(&static_mu);
    pthread_t th = test_thread_start(static_cond_thread, NULL);
    while (static_stage == 0)
        goc_cond_wait(&static_cond);
    goc_mutex_unlock(&static_mu);
    test_thread_join(th);
}

TEST(cond_misuse_panics) {
    expect_child("cond_copied", -SIGABRT, "^panic: sync.Cond is copied$");
    expect_child("cond_wait_without_mutex", -SIGABRT,
                 "^panic: sync: goc_cond_wait: goc_cond has no mutex \\(goc_cond_init\\)$");
}
