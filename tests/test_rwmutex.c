/* test_rwmutex.c — sync.RWMutex: the zero value, readers holding the lock
 * together, writers excluding readers and writers (a stress with exact
 * counts), writer preference, TryLock/TryRLock, a writer's Unlock admitting
 * every queued reader, misuse panics. Goroutines and plain threads are mixed
 * wherever both may call. Each case is one behaviour; `test_rwmutex --list`
 * names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(rwmutex_zero_value_on_plain_thread) {
    goc_rwmutex rw = {0};
    goc_rwmutex_rlock(&rw);
    goc_rwmutex_rlock(&rw);
    CHECK(!goc_rwmutex_trylock(&rw));
    goc_rwmutex_runlock(&rw);
    goc_rwmutex_runlock(&rw);
    goc_rwmutex_lock(&rw);
    CHECK(!goc_rwmutex_tryrlock(&rw));
    goc_rwmutex_unlock(&rw);
    goc_rwmutex rw2 = GOC_RWMUTEX_INIT;
    CHECK(goc_rwmutex_trylock(&rw2));
    goc_rwmutex_unlock(&rw2);
}

/* Readers share the lock: all N hold it at the same moment (each waits,
 * holding it, until it sees all the others inside). */
struct readers {
    goc_rwmutex rw;
    atomic_long inside, max_inside;
    int n;
};

static void reader_waits_for_all(void *arg) {
    struct readers *r = arg;
    goc_rwmutex_rlock(&r->rw);
    test_atomic_max(&r->max_inside, atomic_fetch_add(&r->inside, 1) + 1);
    WAIT_UNTIL(atomic_load(&r->max_inside) == r->n, TEST_PATIENCE_S);
    atomic_fetch_sub(&r->inside, 1);
    goc_rwmutex_runlock(&r->rw);
}

GTEST(rwmutex_readers_hold_lock_together) {
    static struct readers r;
    static test_group grp;
    r.n = 16;
    test_group_thread(&grp, 2, reader_waits_for_all, &r);
    test_group_go(&grp, 14, reader_waits_for_all, &r);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&r.max_inside), 16);
    CHECK(goc_rwmutex_trylock(&r.rw)); /* all gone */
    goc_rwmutex_unlock(&r.rw);
}

/* Stress: writers keep a == b (written non-atomically in two steps with a
 * yield between); readers check it and that no writer is inside; writers
 * check they are alone. Exact count of writes at the end. */
struct rwstress {
    goc_rwmutex rw;
    long a, b; /* rw */
    atomic_int readers_in, writers_in, bad;
    atomic_long reads;
    long iters;
};

static void rw_writer(void *arg) {
    struct rwstress *s = arg;
    for (long i = 0; i < s->iters; i++) {
        goc_rwmutex_lock(&s->rw);
        if (atomic_fetch_add(&s->writers_in, 1) != 0 || atomic_load(&s->readers_in) != 0)
            atomic_fetch_add(&s->bad, 1);
        s->a++;
        if (i % 5 == 0)
            goc_yield();
        s->b++;
        atomic_fetch_sub(&s->writers_in, 1);
        goc_rwmutex_unlock(&s->rw);
    }
}

static void rw_reader(void *arg) {
    struct rwstress *s = arg;
    for (long i = 0; i < s->iters * 4; i++) {
        goc_rwmutex_rlock(&s->rw);
        atomic_fetch_add(&s->readers_in, 1);
        if (atomic_load(&s->writers_in) != 0)
            atomic_fetch_add(&s->bad, 1);
        long a = s->a;
        if (i % 7 == 0)
            goc_yield();
        if (s->b != a)
            atomic_fetch_add(&s->bad, 1);
        atomic_fetch_sub(&s->readers_in, 1);
        atomic_fetch_add(&s->reads, 1);
        goc_rwmutex_runlock(&s->rw);
    }
}

GTEST(rwmutex_writer_excludes_readers_and_writers) {
    static struct rwstress s;
    static test_group grp;
    enum { W = 3, R = 6 };
    s.iters = TEST_SCALE(5000, 800);
    test_group_thread(&grp, 1, rw_writer, &s);
    test_group_thread(&grp, 1, rw_reader, &s);
    test_group_go(&grp, W, rw_writer, &s);
    test_group_go(&grp, R, rw_reader, &s);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&s.bad), 0);
    CHECK_EQ_INT(s.a, (W + 1) * s.iters);
    CHECK_EQ_INT(s.b, (W + 1) * s.iters);
    CHECK_EQ_INT(atomic_load(&s.reads), (R + 1) * 4 * s.iters);
}

/* Writer preference: once a writer waits, a new RLock blocks until that
 * writer has had the lock, even though a reader still holds it. */
struct wpref {
    goc_rwmutex rw;
    atomic_int order[3], next; /* who got in, in order: 1 writer, 2 late reader */
};

static void wpref_writer(void *arg) {
    struct wpref *w = arg;
    goc_rwmutex_lock(&w->rw);
    atomic_store(&w->order[atomic_fetch_add(&w->next, 1)], 1);
    goc_rwmutex_unlock(&w->rw);
}

static void wpref_late_reader(void *arg) {
    struct wpref *w = arg;
    goc_rwmutex_rlock(&w->rw);
    atomic_store(&w->order[atomic_fetch_add(&w->next, 1)], 2);
    goc_rwmutex_runlock(&w->rw);
}

GTEST(rwmutex_waiting_writer_blocks_new_readers) {
    static struct wpref w;
    static test_group grp;
    goc_rwmutex_rlock(&w.rw); /* the first reader: us */
    test_group_go(&grp, 1, wpref_writer, &w);
    WAIT_PARKED("sync.RWMutex.Lock", 1); /* the writer waits for us */
    CHECK(!goc_rwmutex_tryrlock(&w.rw)); /* a pending writer refuses readers */
    test_group_go(&grp, 1, wpref_late_reader, &w);
    WAIT_PARKED("sync.RWMutex.RLock", 1); /* the new reader waits too */
    for (int i = 0; i < 50; i++)
        goc_yield();
    CHECK_EQ_INT(atomic_load(&w.next), 0); /* nobody got in */
    goc_rwmutex_runlock(&w.rw);            /* the writer goes first */
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&w.next), 2);
    CHECK_EQ_INT(atomic_load(&w.order[0]), 1);
    CHECK_EQ_INT(atomic_load(&w.order[1]), 2);
}

struct rwtry {
    goc_rwmutex rw;
    atomic_int r_ok, w_ok;
};

static void rwtry_other(void *arg) {
    struct rwtry *t = arg;
    bool r = goc_rwmutex_tryrlock(&t->rw);
    if (r)
        goc_rwmutex_runlock(&t->rw);
    bool w = goc_rwmutex_trylock(&t->rw);
    if (w)
        goc_rwmutex_unlock(&t->rw);
    atomic_store(&t->r_ok, r);
    atomic_store(&t->w_ok, w);
}

static void rwtry_check(struct rwtry *t, int want_r, int want_w) {
    static test_group grp;
    test_group_go(&grp, 1, rwtry_other, t);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&t->r_ok), want_r);
    CHECK_EQ_INT(atomic_load(&t->w_ok), want_w);
}

GTEST(rwmutex_trylock_and_tryrlock) {
    static struct rwtry t;
    rwtry_check(&t, 1, 1); /* free */
    CHECK(goc_rwmutex_tryrlock(&t.rw));
    rwtry_check(&t, 1, 0); /* read-locked: readers yes, writers no */
    goc_rwmutex_runlock(&t.rw);
    CHECK(goc_rwmutex_trylock(&t.rw));
    rwtry_check(&t, 0, 0); /* write-locked: nobody */
    goc_rwmutex_unlock(&t.rw);
    rwtry_check(&t, 1, 1);
}

/* Readers blocked behind a writer are all let in by its Unlock. */
struct rw_queue {
    goc_rwmutex rw;
    atomic_int got;
};

static void rw_queue_reader(void *arg) {
    struct rw_queue *q = arg;
    goc_rwmutex_rlock(&q->rw);
    atomic_fetch_add(&q->got, 1);
    goc_rwmutex_runlock(&q->rw);
}

GTEST(rwmutex_unlock_admits_all_queued_readers) {
    static struct rw_queue q;
    static test_group grp;
    enum { N = 50 };
    goc_rwmutex_lock(&q.rw);
    test_group_thread(&grp, 1, rw_queue_reader, &q);
    test_group_go(&grp, N, rw_queue_reader, &q);
    WAIT_PARKED("sync.RWMutex.RLock", N);
    CHECK_EQ_INT(atomic_load(&q.got), 0);
    goc_rwmutex_unlock(&q.rw);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&q.got), N + 1);
}

CHILD(rwmutex_runlock_unlocked) {
    static goc_rwmutex rw;
    goc_rwmutex_runlock(&rw);
    exit(3);
}

CHILD(rwmutex_runlock_write_locked) {
    static goc_rwmutex rw;
    goc_rwmutex_lock(&rw);
    goc_rwmutex_runlock(&rw); /* a writer holds it, no reader */
    exit(3);
}

static int rw_unlock_unlocked_main(void *arg) {
    (void)arg;
    static goc_rwmutex rw;
    goc_rwmutex_unlock(&rw);
    return 0;
}

CHILD(rwmutex_unlock_unlocked) {
    test_run_main(rw_unlock_unlocked_main);
    exit(3);
}

CHILD(rwmutex_unlock_read_locked) {
    static goc_rwmutex rw;
    goc_rwmutex_rlock(&rw);
    goc_rwmutex_unlock(&rw);
    exit(3);
}

TEST(rwmutex_misuse_panics) {
    expect_child("rwmutex_runlock_unlocked", -SIGABRT,
                 "^panic: sync: RUnlock of unlocked RWMutex$");
    expect_child("rwmutex_runlock_write_locked", -SIGABRT,
                 "^panic: sync: RUnlock of unlocked RWMutex$");
    expect_child("rwmutex_unlock_unlocked", -SIGABRT, "^panic: sync: Unlock of unlocked RWMutex$");
    expect_child("rwmutex_unlock_read_locked", -SIGABRT,
                 "^panic: sync: Unlock of unlocked RWMutex$");
}
