/* test_sync.c — package sync: Mutex (exclusion, TryLock, misuse, starvation
 * mode), RWMutex (shared readers, exclusive writers, writer preference,
 * misuse), Once, Cond (FIFO Signal, Broadcast, re-locking), Pool (per-P
 * caches, dropping, destroy, accounting under stress) and Map (Go's
 * semantics, keys copied, a differential test against a reference, Range
 * under concurrent writes). Goroutines and plain threads are mixed wherever
 * both may call. Each case is one behaviour; `test_sync --list` names them. */
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"

#define MS GOC_MILLISECOND

/* ================================================================== */
/* helpers                                                             */

static void go(void (*fn)(void *), void *arg) { CHECK_EQ_INT(goc_go(fn, arg), 0); }

typedef struct {
    pthread_t th;
} thread_t;

static void thread_start(thread_t *t, void *(*fn)(void *), void *arg) {
    CHECK_EQ_INT(pthread_create(&t->th, NULL, fn, arg), 0);
}

static void thread_join(thread_t *t) { CHECK_EQ_INT(pthread_join(t->th, NULL), 0); }

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Dump every goroutine and count the ones parked with wait reason `reason`
 * (Go's strings: "sync.Mutex.Lock", "sync.Cond.Wait", ...). */
static int count_parked(const char *reason) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    goc_dump(fileno(f));
    long n = lseek(fileno(f), 0, SEEK_END);
    CHECK(n >= 0);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK_EQ_INT(pread(fileno(f), buf, (size_t)n, 0), n);
    buf[n] = '\0';
    fclose(f);
    char pat[64];
    snprintf(pat, sizeof pat, "[%s,", reason);
    int count = 0;
    for (const char *p = buf; (p = strstr(p, pat)) != NULL; p++)
        count++;
    free(buf);
    return count;
}

/* Wait (yielding) until at least n goroutines are parked with `reason`. */
#define WAIT_PARKED(reason, n) WAIT_UNTIL(count_parked(reason) >= (n), TEST_PATIENCE_S)

/* ================================================================== */
/* Mutex                                                               */

GTEST(mutex_zero_value_lock_unlock) {
    static goc_mutex mu; /* zero value */
    goc_mutex mu2 = GOC_MUTEX_INIT;
    for (int i = 0; i < 3; i++) {
        goc_mutex_lock(&mu);
        goc_mutex_unlock(&mu);
        goc_mutex_lock(&mu2);
        goc_mutex_unlock(&mu2);
    }
    CHECK_EQ_INT(sizeof(goc_mutex), 8);
}

TEST(mutex_on_plain_thread_without_runtime) {
    goc_mutex mu = {0};
    goc_mutex_lock(&mu);
    CHECK(!goc_mutex_trylock(&mu));
    goc_mutex_unlock(&mu);
    CHECK(goc_mutex_trylock(&mu));
    goc_mutex_unlock(&mu);
}

/* Exclusion: a plain (non-atomic) counter incremented under the lock, with
 * an "inside" count that must be 0 on entry; exact total at the end. */
struct excl {
    goc_mutex mu;
    long counter;       /* mu */
    atomic_int inside;  /* holders right now: must never exceed 1 */
    atomic_int overlap; /* times a holder found another inside */
    long iters;
    int yield_every;    /* 0: never yield while holding */
    goc_waitgroup wg;
};

static void excl_body(struct excl *x) {
    for (long i = 0; i < x->iters; i++) {
        goc_mutex_lock(&x->mu);
        if (atomic_fetch_add(&x->inside, 1) != 0)
            atomic_fetch_add(&x->overlap, 1);
        long c = x->counter;
        if (x->yield_every && i % x->yield_every == 0)
            goc_yield();
        x->counter = c + 1;
        atomic_fetch_sub(&x->inside, 1);
        goc_mutex_unlock(&x->mu);
    }
}

static void excl_goroutine(void *arg) {
    struct excl *x = arg;
    excl_body(x);
    goc_wg_done(&x->wg);
}

static void *excl_thread(void *arg) {
    excl_body(arg);
    return NULL;
}

GTEST(mutex_exclusion_goroutines_exact) {
    static struct excl x;
    enum { G = 8 };
    x.iters = TEST_SCALE(50000, 5000);
    x.yield_every = 7;
    goc_wg_add(&x.wg, G);
    for (int i = 0; i < G; i++)
        go(excl_goroutine, &x);
    goc_wg_wait(&x.wg);
    CHECK_EQ_INT(atomic_load(&x.overlap), 0);
    CHECK_EQ_INT(x.counter, G * x.iters);
}

GTEST(mutex_exclusion_goroutines_and_threads_exact) {
    static struct excl x;
    enum { G = 6, T = 3 };
    x.iters = TEST_SCALE(30000, 3000);
    x.yield_every = 13;
    goc_wg_add(&x.wg, G);
    thread_t th[T];
    for (int i = 0; i < T; i++)
        thread_start(&th[i], excl_thread, &x);
    for (int i = 0; i < G; i++)
        go(excl_goroutine, &x);
    goc_wg_wait(&x.wg);
    for (int i = 0; i < T; i++)
        thread_join(&th[i]);
    CHECK_EQ_INT(atomic_load(&x.overlap), 0);
    CHECK_EQ_INT(x.counter, (G + T) * x.iters);
}

/* No yield in the critical section: exercises the fast path and spinning. */
GTEST(mutex_exclusion_short_sections_exact) {
    static struct excl x;
    enum { G = 4 };
    x.iters = TEST_SCALE(200000, 20000);
    x.yield_every = 0;
    goc_wg_add(&x.wg, G);
    for (int i = 0; i < G; i++)
        go(excl_goroutine, &x);
    goc_wg_wait(&x.wg);
    CHECK_EQ_INT(atomic_load(&x.overlap), 0);
    CHECK_EQ_INT(x.counter, G * x.iters);
}

struct try_state {
    goc_mutex mu;
    atomic_int result; /* -1 unset, 0 false, 1 true */
    goc_waitgroup done;
};

static void try_from_other(void *arg) {
    struct try_state *t = arg;
    bool ok = goc_mutex_trylock(&t->mu);
    if (ok)
        goc_mutex_unlock(&t->mu);
    atomic_store(&t->result, ok);
    goc_wg_done(&t->done);
}

GTEST(mutex_trylock) {
    static struct try_state t;
    CHECK(goc_mutex_trylock(&t.mu)); /* unlocked: succeeds */
    CHECK(!goc_mutex_trylock(&t.mu)); /* held (by us): fails, never waits */
    goc_wg_add(&t.done, 1);
    go(try_from_other, &t);
    goc_wg_wait(&t.done);
    CHECK_EQ_INT(atomic_load(&t.result), 0); /* held: another goroutine fails */
    goc_mutex_unlock(&t.mu);
    goc_wg_add(&t.done, 1);
    go(try_from_other, &t);
    goc_wg_wait(&t.done);
    CHECK_EQ_INT(atomic_load(&t.result), 1);
    CHECK(goc_mutex_trylock(&t.mu));
    goc_mutex_unlock(&t.mu);
}

static int unlock_unlocked_main(void *arg) {
    (void)arg;
    static goc_mutex mu;
    goc_mutex_lock(&mu);
    goc_mutex_unlock(&mu);
    goc_mutex_unlock(&mu); /* not locked */
    return 0;
}

CHILD(mutex_unlock_unlocked_in_goroutine) {
    goc_run(unlock_unlocked_main, NULL);
    fprintf(stderr, "not reached\n");
    exit(3);
}

CHILD(mutex_unlock_unlocked_on_plain_thread) {
    static goc_mutex mu;
    goc_mutex_unlock(&mu);
    fprintf(stderr, "not reached\n");
    exit(3);
}

TEST(mutex_unlock_of_unlocked_panics) {
    expect_child("mutex_unlock_unlocked_in_goroutine", -SIGABRT,
                 "^panic: sync: unlock of unlocked mutex$");
    expect_child("mutex_unlock_unlocked_in_goroutine", -SIGABRT, "^goroutine [0-9]+ \\[running\\]:");
    expect_child("mutex_unlock_unlocked_on_plain_thread", -SIGABRT,
                 "^panic: sync: unlock of unlocked mutex$");
}

/* Go lets another goroutine unlock a locked Mutex. */
struct handover {
    goc_mutex mu;
    atomic_int got;
    goc_waitgroup done;
};

static void handover_waiter(void *arg) {
    struct handover *h = arg;
    goc_mutex_lock(&h->mu);
    atomic_store(&h->got, 1);
    goc_mutex_unlock(&h->mu);
    goc_wg_done(&h->done);
}

static void handover_unlocker(void *arg) {
    struct handover *h = arg;
    goc_mutex_unlock(&h->mu);
    goc_wg_done(&h->done);
}

GTEST(mutex_unlocked_by_another_goroutine) {
    static struct handover h;
    goc_mutex_lock(&h.mu);
    goc_wg_add(&h.done, 2);
    go(handover_waiter, &h);
    WAIT_PARKED("sync.Mutex.Lock", 1);
    CHECK_EQ_INT(atomic_load(&h.got), 0);
    go(handover_unlocker, &h);
    goc_wg_wait(&h.done);
    CHECK_EQ_INT(atomic_load(&h.got), 1);
}

/* A goroutine waiting for a mutex is parked: on one processor, other
 * goroutines keep running meanwhile (the thread is not blocked). */
struct parks {
    goc_mutex mu;
    atomic_int waiter_got, other_ran;
    goc_waitgroup done;
};

static void parks_waiter(void *arg) {
    struct parks *p = arg;
    goc_mutex_lock(&p->mu);
    atomic_store(&p->waiter_got, 1);
    goc_mutex_unlock(&p->mu);
    goc_wg_done(&p->done);
}

static void parks_other(void *arg) {
    struct parks *p = arg;
    atomic_store(&p->other_ran, 1);
    goc_wg_done(&p->done);
}

GTEST(mutex_waiter_parks_goroutine_not_thread) {
    static struct parks p;
    goc_mutex_lock(&p.mu);
    goc_wg_add(&p.done, 2);
    go(parks_waiter, &p);
    WAIT_PARKED("sync.Mutex.Lock", 1);
    go(parks_other, &p);
    WAIT_UNTIL(atomic_load(&p.other_ran) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&p.waiter_got), 0);
    goc_mutex_unlock(&p.mu);
    goc_wg_wait(&p.done);
    CHECK_EQ_INT(atomic_load(&p.waiter_got), 1);
}

/* Starvation mode: a goroutine that relocks at once after each unlock
 * (yielding while it holds the lock, so the waiter runs and fails in
 * normal mode) would keep the lock from a woken waiter forever without it.
 * After 1 ms of waiting the waiter switches the mutex to starvation mode
 * and Unlock hands the lock to it. */
struct starve {
    goc_mutex mu;
    atomic_int stop, waiter_got;
    atomic_long rounds;
    int64_t waited_ns;
    goc_waitgroup done;
};

static void starve_hog(void *arg) {
    struct starve *s = arg;
    while (!atomic_load(&s->stop)) {
        goc_mutex_lock(&s->mu);
        goc_yield();
        goc_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->rounds, 1);
    }
    goc_wg_done(&s->done);
}

static void starve_waiter(void *arg) {
    struct starve *s = arg;
    int64_t t0 = goc_now();
    goc_mutex_lock(&s->mu);
    s->waited_ns = goc_now() - t0;
    atomic_store(&s->waiter_got, 1);
    goc_mutex_unlock(&s->mu);
    goc_wg_done(&s->done);
}

GTEST(mutex_starvation_mode_bounds_wait) {
    static struct starve s;
    goc_wg_add(&s.done, 2);
    go(starve_hog, &s);
    WAIT_UNTIL(atomic_load(&s.rounds) > 100, TEST_PATIENCE_S);
    go(starve_waiter, &s);
    test_deadline d = test_deadline_in(20.0);
    while (!atomic_load(&s.waiter_got) && !test_deadline_passed(&d))
        test_pause(&d);
    atomic_store(&s.stop, 1);
    goc_wg_wait(&s.done);
    CHECK_MSG(atomic_load(&s.waiter_got), "waiter starved (hog rounds %ld)",
              atomic_load(&s.rounds));
    test_note("waiter got the lock after %.3f ms", (double)s.waited_ns / 1e6);
    CHECK_LT_INT(s.waited_ns, GOC_SECOND);
}

/* Starvation mode returns to normal: after the waiter got the lock, the
 * fast path (lock with one CAS) works again and trylock succeeds. */
GTEST(mutex_starvation_mode_ends) {
    static struct starve s;
    goc_wg_add(&s.done, 2);
    go(starve_hog, &s);
    WAIT_UNTIL(atomic_load(&s.rounds) > 100, TEST_PATIENCE_S);
    go(starve_waiter, &s);
    WAIT_UNTIL(atomic_load(&s.waiter_got) == 1, TEST_PATIENCE_S);
    atomic_store(&s.stop, 1);
    goc_wg_wait(&s.done);
    CHECK(goc_mutex_trylock(&s.mu));
    CHECK(!goc_mutex_trylock(&s.mu));
    goc_mutex_unlock(&s.mu);
    for (int i = 0; i < 100; i++) {
        goc_mutex_lock(&s.mu);
        goc_mutex_unlock(&s.mu);
    }
    CHECK(goc_mutex_trylock(&s.mu));
    goc_mutex_unlock(&s.mu);
}

/* Plain threads and goroutines queued on one mutex hand it to each other
 * while the main goroutine waits on a WaitGroup: plain threads are running
 * and waking each other, so this is never a deadlock (the detector must
 * not report one while a plain thread is running). */
struct chain {
    goc_mutex mu;
    long n; /* mu */
    goc_waitgroup started, done;
};

static void chain_goroutine(void *arg) {
    struct chain *c = arg;
    goc_wg_done(&c->started);
    goc_mutex_lock(&c->mu);
    c->n++;
    goc_mutex_unlock(&c->mu);
    goc_wg_done(&c->done);
}

static void *chain_thread(void *arg) {
    struct chain *c = arg;
    goc_mutex_lock(&c->mu);
    c->n++;
    goc_mutex_unlock(&c->mu);
    return NULL;
}

GTEST(mutex_handoffs_between_plain_threads_are_no_deadlock) {
    static struct chain c;
    enum { G = 20, T = 3 };
    int rounds = TEST_SCALE(200, 30);
    for (int r = 0; r < rounds; r++) {
        goc_mutex_lock(&c.mu);
        goc_wg_add(&c.started, G);
        goc_wg_add(&c.done, G);
        for (int i = 0; i < G; i++)
            go(chain_goroutine, &c);
        thread_t th[T];
        for (int i = 0; i < T; i++)
            thread_start(&th[i], chain_thread, &c);
        goc_wg_wait(&c.started);
        goc_sleep(2 * MS); /* everyone queues; waiters go past 1 ms: starvation mode */
        goc_mutex_unlock(&c.mu);
        goc_wg_wait(&c.done);
        for (int i = 0; i < T; i++)
            thread_join(&th[i]);
    }
    CHECK_EQ_INT(c.n, (long)rounds * (G + T));
}

/* Many waiters parked at once are all let through, one at a time. */
struct many_waiters {
    goc_mutex mu;
    long n;  /* mu */
    atomic_int arrived;
    goc_waitgroup done;
};

static void many_waiters_body(void *arg) {
    struct many_waiters *w = arg;
    atomic_fetch_add(&w->arrived, 1);
    goc_mutex_lock(&w->mu);
    w->n++;
    goc_mutex_unlock(&w->mu);
    goc_wg_done(&w->done);
}

GTEST(mutex_many_parked_waiters_all_proceed) {
    static struct many_waiters w;
    enum { N = 1000 };
    goc_mutex_lock(&w.mu);
    goc_wg_add(&w.done, N);
    for (int i = 0; i < N; i++)
        go(many_waiters_body, &w);
    WAIT_UNTIL(atomic_load(&w.arrived) == N, TEST_PATIENCE_S);
    for (int i = 0; i < 100; i++)
        goc_yield(); /* let them reach the semaphore */
    CHECK_EQ_INT(w.n, 0);
    goc_mutex_unlock(&w.mu);
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(w.n, N);
}

/* ================================================================== */
/* RWMutex                                                             */

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
    atomic_int inside, max_inside;
    int n;
    goc_waitgroup done;
};

static void reader_waits_for_all(void *arg) {
    struct readers *r = arg;
    goc_rwmutex_rlock(&r->rw);
    int now = atomic_fetch_add(&r->inside, 1) + 1;
    int m = atomic_load(&r->max_inside);
    while (now > m && !atomic_compare_exchange_weak(&r->max_inside, &m, now))
        ;
    WAIT_UNTIL(atomic_load(&r->max_inside) == r->n, TEST_PATIENCE_S);
    atomic_fetch_sub(&r->inside, 1);
    goc_rwmutex_runlock(&r->rw);
    goc_wg_done(&r->done);
}

static void *reader_waits_for_all_thread(void *arg) {
    reader_waits_for_all(arg);
    return NULL;
}

GTEST(rwmutex_readers_hold_lock_together) {
    static struct readers r;
    r.n = 16;
    goc_wg_add(&r.done, 16);
    thread_t th[2];
    for (int i = 0; i < 2; i++)
        thread_start(&th[i], reader_waits_for_all_thread, &r);
    for (int i = 0; i < 14; i++)
        go(reader_waits_for_all, &r);
    goc_wg_wait(&r.done); /* before joining: a join would block our processor */
    for (int i = 0; i < 2; i++)
        thread_join(&th[i]);
    CHECK_EQ_INT(atomic_load(&r.max_inside), 16);
    CHECK(goc_rwmutex_trylock(&r.rw)); /* all gone */
    goc_rwmutex_unlock(&r.rw);
}

/* Stress: writers keep a == b (written non-atomically in two steps with a
 * yield between); readers check it and that no writer is inside; writers
 * check they are alone. Exact count of writes at the end. */
struct rwstress {
    goc_rwmutex rw;
    long a, b;            /* rw */
    atomic_int readers_in, writers_in, bad;
    atomic_long reads;
    long iters;
    goc_waitgroup done;
};

static void rw_writer_body(struct rwstress *s) {
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

static void rw_reader_body(struct rwstress *s) {
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

static void rw_writer_g(void *arg) {
    rw_writer_body(arg);
    goc_wg_done(&((struct rwstress *)arg)->done);
}
static void rw_reader_g(void *arg) {
    rw_reader_body(arg);
    goc_wg_done(&((struct rwstress *)arg)->done);
}
static void *rw_writer_t(void *arg) {
    rw_writer_body(arg);
    return NULL;
}
static void *rw_reader_t(void *arg) {
    rw_reader_body(arg);
    return NULL;
}

GTEST(rwmutex_writer_excludes_readers_and_writers) {
    static struct rwstress s;
    enum { W = 3, R = 6 };
    s.iters = TEST_SCALE(5000, 800);
    goc_wg_add(&s.done, W + R);
    thread_t tw, tr;
    thread_start(&tw, rw_writer_t, &s);
    thread_start(&tr, rw_reader_t, &s);
    for (int i = 0; i < W; i++)
        go(rw_writer_g, &s);
    for (int i = 0; i < R; i++)
        go(rw_reader_g, &s);
    goc_wg_wait(&s.done);
    thread_join(&tw);
    thread_join(&tr);
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
    atomic_int writer_started, late_reader_started;
    goc_waitgroup done;
};

static void wpref_writer(void *arg) {
    struct wpref *w = arg;
    atomic_store(&w->writer_started, 1);
    goc_rwmutex_lock(&w->rw);
    atomic_store(&w->order[atomic_fetch_add(&w->next, 1)], 1);
    goc_rwmutex_unlock(&w->rw);
    goc_wg_done(&w->done);
}

static void wpref_late_reader(void *arg) {
    struct wpref *w = arg;
    atomic_store(&w->late_reader_started, 1);
    goc_rwmutex_rlock(&w->rw);
    atomic_store(&w->order[atomic_fetch_add(&w->next, 1)], 2);
    goc_rwmutex_runlock(&w->rw);
    goc_wg_done(&w->done);
}

GTEST(rwmutex_waiting_writer_blocks_new_readers) {
    static struct wpref w;
    goc_rwmutex_rlock(&w.rw); /* the first reader: us */
    goc_wg_add(&w.done, 2);
    go(wpref_writer, &w);
    WAIT_PARKED("sync.RWMutex.Lock", 1); /* the writer waits for us */
    CHECK(!goc_rwmutex_tryrlock(&w.rw));  /* a pending writer refuses readers */
    go(wpref_late_reader, &w);
    WAIT_PARKED("sync.RWMutex.RLock", 1); /* the new reader waits too */
    for (int i = 0; i < 50; i++)
        goc_yield();
    CHECK_EQ_INT(atomic_load(&w.next), 0); /* nobody got in */
    goc_rwmutex_runlock(&w.rw);            /* the writer goes first */
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(atomic_load(&w.next), 2);
    CHECK_EQ_INT(atomic_load(&w.order[0]), 1);
    CHECK_EQ_INT(atomic_load(&w.order[1]), 2);
}

struct rwtry {
    goc_rwmutex rw;
    atomic_int r_ok, w_ok;
    goc_waitgroup done;
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
    goc_wg_done(&t->done);
}

static void rwtry_check(struct rwtry *t, int want_r, int want_w) {
    goc_wg_add(&t->done, 1);
    go(rwtry_other, t);
    goc_wg_wait(&t->done);
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
    goc_waitgroup done;
};

static void rw_queue_reader(void *arg) {
    struct rw_queue *q = arg;
    goc_rwmutex_rlock(&q->rw);
    atomic_fetch_add(&q->got, 1);
    goc_rwmutex_runlock(&q->rw);
    goc_wg_done(&q->done);
}

static void *rw_queue_reader_t(void *arg) {
    rw_queue_reader(arg);
    return NULL;
}

GTEST(rwmutex_unlock_admits_all_queued_readers) {
    static struct rw_queue q;
    enum { N = 50 };
    goc_rwmutex_lock(&q.rw);
    goc_wg_add(&q.done, N + 1);
    thread_t th;
    thread_start(&th, rw_queue_reader_t, &q);
    for (int i = 0; i < N; i++)
        go(rw_queue_reader, &q);
    WAIT_PARKED("sync.RWMutex.RLock", N);
    CHECK_EQ_INT(atomic_load(&q.got), 0);
    goc_rwmutex_unlock(&q.rw);
    goc_wg_wait(&q.done);
    thread_join(&th);
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
    goc_run(rw_unlock_unlocked_main, NULL);
    exit(3);
}

CHILD(rwmutex_unlock_read_locked) {
    static goc_rwmutex rw;
    goc_rwmutex_rlock(&rw);
    goc_rwmutex_unlock(&rw);
    exit(3);
}

TEST(rwmutex_misuse_panics) {
    expect_child("rwmutex_runlock_unlocked", -SIGABRT, "^panic: sync: RUnlock of unlocked RWMutex$");
    expect_child("rwmutex_runlock_write_locked", -SIGABRT,
                 "^panic: sync: RUnlock of unlocked RWMutex$");
    expect_child("rwmutex_unlock_unlocked", -SIGABRT, "^panic: sync: Unlock of unlocked RWMutex$");
    expect_child("rwmutex_unlock_read_locked", -SIGABRT,
                 "^panic: sync: Unlock of unlocked RWMutex$");
}

/* ================================================================== */
/* Once                                                                */

struct once_state {
    goc_once once;
    atomic_int calls, finished, early_returns;
    goc_waitgroup started, done;
};

static void once_fn(void *arg) {
    struct once_state *o = arg;
    atomic_fetch_add(&o->calls, 1);
    goc_sleep(30 * MS); /* the others pile up meanwhile */
    for (int i = 0; i < 20; i++)
        goc_yield();
    atomic_store(&o->finished, 1);
}

static void once_caller(struct once_state *o) {
    goc_once_do(&o->once, once_fn, o);
    if (!atomic_load(&o->finished))
        atomic_fetch_add(&o->early_returns, 1); /* returned before fn did */
}

static void once_caller_g(void *arg) {
    struct once_state *o = arg;
    goc_wg_done(&o->started);
    once_caller(o);
    goc_wg_done(&o->done);
}

static void *once_caller_t(void *arg) {
    once_caller(arg);
    return NULL;
}

GTEST(once_runs_once_concurrent_callers_wait_for_it) {
    static struct once_state o;
    enum { G = 50, T = 3 };
    goc_wg_add(&o.started, G);
    goc_wg_add(&o.done, G);
    for (int i = 0; i < G; i++)
        go(once_caller_g, &o);
    thread_t th[T];
    for (int i = 0; i < T; i++)
        thread_start(&th[i], once_caller_t, &o);
    goc_wg_wait(&o.started);
    once_caller(&o);
    goc_wg_wait(&o.done);
    for (int i = 0; i < T; i++)
        thread_join(&th[i]);
    CHECK_EQ_INT(atomic_load(&o.calls), 1);
    CHECK_EQ_INT(atomic_load(&o.early_returns), 0);
}

static void count_call(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

TEST(once_later_calls_do_nothing) {
    static goc_once once; /* zero value */
    static atomic_int a, b;
    goc_once_do(&once, count_call, &a);
    goc_once_do(&once, count_call, &a);
    goc_once_do(&once, count_call, &b); /* another fn: still nothing */
    CHECK_EQ_INT(atomic_load(&a), 1);
    CHECK_EQ_INT(atomic_load(&b), 0);
    goc_once o2 = GOC_ONCE_INIT;
    goc_once_do(&o2, count_call, &b);
    CHECK_EQ_INT(atomic_load(&b), 1);
}

/* fn's effects are visible to every caller once Do returns. */
struct once_pub {
    goc_once once;
    long value[64]; /* written by fn, plain */
    atomic_int bad;
    goc_waitgroup done;
};

static void once_pub_fn(void *arg) {
    struct once_pub *p = arg;
    for (int i = 0; i < 64; i++)
        p->value[i] = 1000 + i;
}

static void once_pub_reader(void *arg) {
    struct once_pub *p = arg;
    goc_once_do(&p->once, once_pub_fn, p);
    for (int i = 0; i < 64; i++)
        if (p->value[i] != 1000 + i)
            atomic_fetch_add(&p->bad, 1);
    goc_wg_done(&p->done);
}

GTEST(once_effects_visible_to_all_callers) {
    enum { ROUNDS = 50, G = 8 };
    for (int r = 0; r < ROUNDS; r++) {
        struct once_pub *p = calloc(1, sizeof *p);
        CHECK(p != NULL);
        goc_wg_add(&p->done, G);
        for (int i = 0; i < G; i++)
            go(once_pub_reader, p);
        goc_wg_wait(&p->done);
        CHECK_EQ_INT(atomic_load(&p->bad), 0);
        free(p);
    }
}

/* ================================================================== */
/* Cond                                                                */

/* Waiters enter Wait one at a time, in a known order; each Signal must
 * wake exactly one, the oldest. */
struct fifo_cond {
    goc_mutex mu;
    goc_cond cond;
    int waiting;        /* mu: waiters inside Wait */
    int woken[64];      /* mu: ids in wake order */
    int nwoken;         /* mu */
    int permits;        /* mu: Signals not yet consumed */
    goc_waitgroup done;
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
    goc_wg_done(&f->done);
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
    enum { N = 32 };
    goc_cond_init(&f.cond, &f.mu);
    goc_wg_add(&f.done, N);
    for (int i = 0; i < N; i++) {
        args[i] = (struct fifo_arg){&f, i};
        go(fifo_waiter, &args[i]);
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
    goc_wg_wait(&f.done);
}

/* Signal wakes exactly one waiter, observed without a predicate: count the
 * returns from Wait. */
struct one_wake {
    goc_mutex mu;
    goc_cond cond;
    atomic_int returned;
    goc_waitgroup done;
};

static void one_wake_waiter(void *arg) {
    struct one_wake *w = arg;
    goc_mutex_lock(&w->mu);
    goc_cond_wait(&w->cond);
    atomic_fetch_add(&w->returned, 1);
    goc_mutex_unlock(&w->mu);
    goc_wg_done(&w->done);
}

GTEST(cond_signal_wakes_exactly_one) {
    static struct one_wake w;
    enum { N = 10 };
    goc_cond_init(&w.cond, &w.mu);
    goc_wg_add(&w.done, N);
    for (int i = 0; i < N; i++)
        go(one_wake_waiter, &w);
    WAIT_PARKED("sync.Cond.Wait", N);
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
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(atomic_load(&w.returned), N);
}

GTEST(cond_broadcast_wakes_all) {
    static struct one_wake w;
    enum { N = 200 };
    goc_cond_init(&w.cond, &w.mu);
    goc_wg_add(&w.done, N);
    for (int i = 0; i < N; i++)
        go(one_wake_waiter, &w);
    WAIT_PARKED("sync.Cond.Wait", N);
    goc_mutex_lock(&w.mu);
    goc_cond_broadcast(&w.cond);
    goc_mutex_unlock(&w.mu);
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(atomic_load(&w.returned), N);
    /* The cond is reusable: a new round of waiters, woken again. */
    goc_wg_add(&w.done, 5);
    for (int i = 0; i < 5; i++)
        go(one_wake_waiter, &w);
    WAIT_PARKED("sync.Cond.Wait", 5);
    goc_cond_broadcast(&w.cond);
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(atomic_load(&w.returned), N + 5);
}

/* A Signal or Broadcast with nobody waiting is not remembered. */
GTEST(cond_notify_without_waiters_is_not_remembered) {
    static struct one_wake w;
    goc_cond_init(&w.cond, &w.mu);
    goc_cond_signal(&w.cond);
    goc_cond_broadcast(&w.cond);
    goc_cond_signal(&w.cond);
    goc_wg_add(&w.done, 1);
    go(one_wake_waiter, &w);
    WAIT_PARKED("sync.Cond.Wait", 1);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(atomic_load(&w.returned), 0);
    goc_cond_signal(&w.cond);
    goc_wg_wait(&w.done);
    CHECK_EQ_INT(atomic_load(&w.returned), 1);
}

/* Wait returns with the mutex held again: while the woken waiter holds it,
 * nobody else can take it. */
struct relock {
    goc_mutex mu;
    goc_cond cond;
    bool ready;           /* mu */
    atomic_int waiter_back, release_waiter, other_try;
    goc_waitgroup done;
};

static void relock_waiter(void *arg) {
    struct relock *r = arg;
    goc_mutex_lock(&r->mu);
    while (!r->ready)
        goc_cond_wait(&r->cond);
    atomic_store(&r->waiter_back, 1);
    WAIT_UNTIL(atomic_load(&r->release_waiter) == 1, TEST_PATIENCE_S); /* holding mu */
    goc_mutex_unlock(&r->mu);
    goc_wg_done(&r->done);
}

GTEST(cond_wait_reacquires_mutex) {
    static struct relock r;
    goc_cond_init(&r.cond, &r.mu);
    goc_wg_add(&r.done, 1);
    go(relock_waiter, &r);
    WAIT_PARKED("sync.Cond.Wait", 1);
    /* While the waiter is in Wait, the mutex is free. */
    CHECK(goc_mutex_trylock(&r.mu));
    r.ready = true;
    goc_cond_signal(&r.cond);
    goc_mutex_unlock(&r.mu);
    WAIT_UNTIL(atomic_load(&r.waiter_back) == 1, TEST_PATIENCE_S);
    CHECK(!goc_mutex_trylock(&r.mu)); /* the waiter holds it again */
    atomic_store(&r.release_waiter, 1);
    goc_wg_wait(&r.done);
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
    thread_t th;
    thread_start(&th, thread_cond_waiter, &t);
    goc_sleep(10 * MS);
    goc_mutex_lock(&t.mu);
    t.stage = 1;
    goc_cond_signal(&t.cond);
    while (t.stage != 2)
        goc_cond_wait(&t.cond); /* the goroutine waits; the thread signals */
    goc_mutex_unlock(&t.mu);
    thread_join(&th);
}

/* A bounded queue with two conds: exact transfer of every item from
 * producers to consumers (goroutines and threads). */
enum { BQ_CAP = 8 };
struct bq {
    goc_mutex mu;
    goc_cond not_empty, not_full;
    long buf[BQ_CAP];
    int head, n;       /* mu */
    long produced_sum, consumed_sum, consumed; /* consumed_*: mu */
    long per_producer;
    long total;
    goc_waitgroup done;
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
    goc_wg_done(&q->done);
}

static void bq_consumer(void *arg) {
    struct bq *q = arg;
    while (bq_get(q))
        ;
    goc_wg_done(&q->done);
}

static void *bq_consumer_t(void *arg) {
    struct bq *q = arg;
    while (bq_get(q))
        ;
    return NULL;
}

static void *bq_producer_t(void *arg) {
    struct bq *q = arg;
    for (long i = 1; i <= q->per_producer; i++)
        bq_put(q, i);
    return NULL;
}

GTEST(cond_bounded_queue_exact_transfer) {
    static struct bq q;
    enum { P = 4, C = 4 };
    goc_cond_init(&q.not_empty, &q.mu);
    goc_cond_init(&q.not_full, &q.mu);
    q.per_producer = TEST_SCALE(20000, 2000);
    q.total = (P + 1) * q.per_producer;
    goc_wg_add(&q.done, P + C);
    thread_t tp, tc;
    thread_start(&tp, bq_producer_t, &q);
    thread_start(&tc, bq_consumer_t, &q);
    for (int i = 0; i < C; i++)
        go(bq_consumer, &q);
    for (int i = 0; i < P; i++)
        go(bq_producer, &q);
    goc_wg_wait(&q.done);
    thread_join(&tp);
    thread_join(&tc);
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
    static goc_cond c; /* zero value, no goc_cond_init */
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
    thread_t th;
    goc_mutex_lock(&static_mu);
    thread_start(&th, static_cond_thread, NULL);
    while (static_stage == 0)
        goc_cond_wait(&static_cond);
    goc_mutex_unlock(&static_mu);
    thread_join(&th);
}

TEST(cond_misuse_panics) {
    expect_child("cond_copied", -SIGABRT, "^panic: sync.Cond is copied$");
    expect_child("cond_wait_without_mutex", -SIGABRT,
                 "^panic: sync: goc_cond_wait: goc_cond has no mutex \\(goc_cond_init\\)$");
}

/* ================================================================== */
/* Pool                                                                */

/* Items carry a magic and an "in use" flag: a double hand-out or a use
 * after free shows up. new/free calls are counted. */
#define ITEM_MAGIC 0x5eedf00dcafe1234ull
struct item {
    uint64_t magic;
    atomic_int in_use;
    long serial;
};

static atomic_long items_new, items_freed, items_serial;

static void *item_new(void) {
    struct item *it = malloc(sizeof *it);
    CHECK(it != NULL);
    it->magic = ITEM_MAGIC;
    atomic_init(&it->in_use, 0);
    it->serial = atomic_fetch_add(&items_serial, 1);
    atomic_fetch_add(&items_new, 1);
    return it;
}

static void item_free(void *p) {
    struct item *it = p;
    CHECK(it->magic == ITEM_MAGIC);
    CHECK_EQ_INT(atomic_load(&it->in_use), 0);
    it->magic = 0;
    atomic_fetch_add(&items_freed, 1);
    free(it);
}

static struct item *take(goc_pool *p) {
    struct item *it = goc_pool_get(p);
    CHECK(it != NULL);
    CHECK(it->magic == ITEM_MAGIC);
    CHECK_MSG(atomic_exchange(&it->in_use, 1) == 0, "item %ld handed out twice", it->serial);
    return it;
}

static void give(goc_pool *p, struct item *it) {
    CHECK_EQ_INT(atomic_exchange(&it->in_use, 0), 1);
    goc_pool_put(p, it);
}

static void reset_item_counts(void) {
    atomic_store(&items_new, 0);
    atomic_store(&items_freed, 0);
}

GTEST(pool_get_calls_new_when_empty) {
    reset_item_counts();
    goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    struct item *a = take(&p), *b = take(&p);
    CHECK(a != b);
    CHECK_EQ_INT(atomic_load(&items_new), 2);
    give(&p, a);
    give(&p, b);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 2);
}

GTEST(pool_put_then_get_returns_same_item) {
    reset_item_counts();
    goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    for (int i = 0; i < 100; i++) {
        struct item *a = take(&p);
        give(&p, a);
        struct item *b = take(&p); /* same goroutine, same P, no block between */
        CHECK_EQ_PTR(b, a);
        give(&p, b);
    }
    CHECK_EQ_INT(atomic_load(&items_new), 1);
    /* Several items: the private slot holds the first put, the shared
     * ring the others; Get takes the private one, then the newest. */
    struct item *it[5];
    for (int i = 0; i < 5; i++)
        it[i] = take(&p);
    for (int i = 0; i < 5; i++)
        give(&p, it[i]);
    CHECK_EQ_PTR(take(&p), it[0]);
    for (int i = 4; i >= 1; i--)
        CHECK_EQ_PTR(take(&p), it[i]);
    for (int i = 0; i < 5; i++)
        give(&p, it[i]);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), atomic_load(&items_new));
}

/* One processor keeps 1 + 16 items; the rest of a burst of puts is freed
 * at once with free_fn (Go's pool may drop items; goc's drops when full). */
GTEST(pool_full_cache_drops_with_free_fn) {
    reset_item_counts();
    goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    enum { N = 100 };
    struct item *it[N];
    for (int i = 0; i < N; i++)
        it[i] = take(&p);
    for (int i = 0; i < N; i++)
        give(&p, it[i]);
    CHECK_EQ_INT(atomic_load(&items_freed), N - 17);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), N);
}

GTEST(pool_destroy_frees_every_cached_item) {
    reset_item_counts();
    static goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    /* items cached by goroutines (on whichever P), and by a plain thread */
    struct item *it[40];
    for (int i = 0; i < 40; i++)
        it[i] = take(&p);
    for (int i = 0; i < 8; i++)
        give(&p, it[i]);
    goc_yield(); /* perhaps onto another processor */
    for (int i = 8; i < 16; i++)
        give(&p, it[i]);
    CHECK_EQ_INT(atomic_load(&items_freed), 0); /* 16 fit one processor's cache */
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 16);
    CHECK_EQ_INT(atomic_load(&items_new) - atomic_load(&items_freed), 24); /* ours */
    /* The pool is usable again after destroy. */
    for (int i = 16; i < 40; i++)
        give(&p, it[i]);
    struct item *x = take(&p);
    give(&p, x);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), atomic_load(&items_new));
}

static void *count_new_plain(void) {
    atomic_fetch_add(&items_new, 1);
    return malloc(16);
}

TEST(pool_zero_value_and_null_functions) {
    static goc_pool z; /* zero value: no new_fn, no free_fn */
    CHECK(goc_pool_get(&z) == NULL);
    goc_pool_put(&z, NULL); /* ignored */
    static char a;
    goc_pool_put(&z, &a);
    CHECK_EQ_PTR(goc_pool_get(&z), &a);
    CHECK(goc_pool_get(&z) == NULL);
    goc_pool_put(&z, &a);
    goc_pool_destroy(&z); /* free_fn NULL: just forgotten */
    CHECK(goc_pool_get(&z) == NULL);
    goc_pool_destroy(&z);
    /* new_fn only */
    reset_item_counts();
    goc_pool p;
    goc_pool_init(&p, count_new_plain, NULL);
    void *m = goc_pool_get(&p);
    CHECK(m != NULL);
    CHECK_EQ_INT(atomic_load(&items_new), 1);
    goc_pool_put(&p, m);
    CHECK_EQ_PTR(goc_pool_get(&p), m);
    free(m);
    goc_pool_destroy(&p);
}

/* A plain thread gets what goroutines left in their processors' shared
 * rings (it steals), then new items; its own puts go to a stash. */
struct pool_thread {
    goc_pool *p;
    struct item *got[8];
};

static void *pool_thread_body(void *arg) {
    struct pool_thread *t = arg;
    for (int i = 0; i < 8; i++)
        t->got[i] = take(t->p);
    for (int i = 0; i < 8; i++)
        give(t->p, t->got[i]);
    for (int i = 0; i < 8; i++)
        CHECK(take(t->p) == t->got[7 - i]); /* the stash is a stack */
    for (int i = 0; i < 8; i++)
        give(t->p, t->got[i]);
    return NULL;
}

GTEST(pool_plain_thread_steals_and_stashes) {
    reset_item_counts();
    static goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    struct item *it[5];
    for (int i = 0; i < 5; i++)
        it[i] = take(&p);
    for (int i = 0; i < 5; i++)
        give(&p, it[i]); /* it[0] private, it[1..4] in this P's ring */
    static struct pool_thread t;
    t.p = &p;
    thread_t th;
    thread_start(&th, pool_thread_body, &t);
    thread_join(&th);
    /* The thread stole the 4 ring items (oldest first), then made 4. */
    for (int i = 0; i < 4; i++)
        CHECK_EQ_PTR(t.got[i], it[i + 1]);
    CHECK_EQ_INT(atomic_load(&items_new), 9);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 9);
}

/* Stress: goroutines and threads get and put, sometimes holding several
 * items across yields; every item is handed to one holder at a time, and
 * at the end every item made has been freed exactly once. */
struct pool_stress {
    goc_pool pool;
    long iters;
    goc_waitgroup done;
};

static void pool_stress_body(struct pool_stress *s, uint64_t seed) {
    struct item *held[4];
    for (long i = 0; i < s->iters; i++) {
        int k = 1 + (int)(rng_next(&seed) % 4);
        for (int j = 0; j < k; j++)
            held[j] = take(&s->pool);
        for (int j = 0; j < k; j++)
            held[j]->serial += 0; /* touch */
        if (rng_next(&seed) % 4 == 0)
            goc_yield();
        for (int j = 0; j < k; j++)
            give(&s->pool, held[j]);
    }
}

static atomic_ulong stress_seed = 1;

static void pool_stress_g(void *arg) {
    struct pool_stress *s = arg;
    pool_stress_body(s, 0x9e3779b97f4a7c15ull * atomic_fetch_add(&stress_seed, 1));
    goc_wg_done(&s->done);
}

static void *pool_stress_t(void *arg) {
    pool_stress_body(arg, 0x9e3779b97f4a7c15ull * atomic_fetch_add(&stress_seed, 1));
    return NULL;
}

GTEST(pool_concurrent_get_put_accounting) {
    reset_item_counts();
    static struct pool_stress s;
    goc_pool_init(&s.pool, item_new, item_free);
    enum { G = 16, T = 2 };
    s.iters = TEST_SCALE(20000, 2000);
    goc_wg_add(&s.done, G);
    thread_t th[T];
    for (int i = 0; i < T; i++)
        thread_start(&th[i], pool_stress_t, &s);
    for (int i = 0; i < G; i++)
        go(pool_stress_g, &s);
    goc_wg_wait(&s.done);
    for (int i = 0; i < T; i++)
        thread_join(&th[i]);
    long made = atomic_load(&items_new);
    test_note("items made %ld, dropped %ld", made, atomic_load(&items_freed));
    goc_pool_destroy(&s.pool);
    CHECK_EQ_INT(atomic_load(&items_freed), made);
    /* Reuse worked: far fewer items made than handed out. */
    CHECK_LT_INT(made, (G + T) * s.iters);
}

/* Memory for the caches cannot be had: Get falls back to new_fn and Put to
 * free_fn, for that call; later calls try again. */
GTEST(pool_allocation_failure_falls_back) {
    reset_item_counts();
    goc_pool p;
    goc_pool_init(&p, item_new, item_free);
    goc_failpoint_set("alloc", 1); /* the pool's table: not made */
    struct item *a = take(&p);
    CHECK_EQ_INT(atomic_load(&items_new), 1);
    goc_failpoint_set("alloc", 1);
    give(&p, a); /* no cache: freed at once */
    CHECK_EQ_INT(atomic_load(&items_freed), 1);
    goc_failpoint_set("alloc", 2); /* the table is made, this P's cache not */
    struct item *b = take(&p);
    CHECK_EQ_INT(atomic_load(&items_new), 2);
    goc_failpoint_set("alloc", 0);
    give(&p, b); /* the cache is made now: b is kept */
    CHECK_EQ_INT(atomic_load(&items_freed), 1);
    CHECK_EQ_PTR(take(&p), b);
    give(&p, b);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 2);
}

/* ================================================================== */
/* Map                                                                 */

#define P(x) ((void *)(uintptr_t)(x))
#define K(s) (s), strlen(s)

static bool load_is(goc_map *m, const char *k, void *want) {
    void *v = P(0xdead);
    bool ok = goc_map_load(m, K(k), &v);
    return ok && v == want;
}

static bool absent(goc_map *m, const char *k) {
    void *v = P(0xdead);
    bool ok = goc_map_load(m, K(k), &v);
    return !ok && v == NULL;
}

static void map_basic_ops_body(void) {
    goc_map *m = goc_map_new();
    CHECK(m != NULL);
    CHECK_EQ_INT(goc_map_len(m), 0);
    CHECK(absent(m, "a"));
    CHECK_EQ_INT(goc_map_store(m, K("a"), P(1)), 0);
    CHECK_EQ_INT(goc_map_store(m, K("b"), P(2)), 0);
    CHECK(load_is(m, "a", P(1)));
    CHECK(load_is(m, "b", P(2)));
    CHECK(goc_map_load(m, K("a"), NULL));
    CHECK_EQ_INT(goc_map_len(m), 2);
    CHECK_EQ_INT(goc_map_store(m, K("a"), P(3)), 0); /* overwrite */
    CHECK(load_is(m, "a", P(3)));
    CHECK_EQ_INT(goc_map_len(m), 2);
    CHECK_EQ_INT(goc_map_store(m, K("n"), NULL), 0); /* NULL is a value */
    CHECK(load_is(m, "n", NULL));
    CHECK_EQ_INT(goc_map_len(m), 3);
    goc_map_delete(m, K("a"));
    goc_map_delete(m, K("a")); /* absent: nothing */
    goc_map_delete(m, K("zzz"));
    CHECK(absent(m, "a"));
    CHECK_EQ_INT(goc_map_len(m), 2);
    goc_map_clear(m);
    CHECK_EQ_INT(goc_map_len(m), 0);
    CHECK(absent(m, "b"));
    CHECK(absent(m, "n"));
    CHECK_EQ_INT(goc_map_store(m, K("b"), P(4)), 0);
    CHECK(load_is(m, "b", P(4)));
    goc_map_free(m);
    goc_map_free(NULL);
}

GTEST(map_basic_ops) { map_basic_ops_body(); }
TEST(map_basic_ops_on_plain_thread) { map_basic_ops_body(); }

GTEST(map_load_or_store_semantics) {
    goc_map *m = goc_map_new();
    void *actual = P(0xdead);
    CHECK_EQ_INT(goc_map_load_or_store(m, K("k"), P(1), &actual), 0); /* stored */
    CHECK_EQ_PTR(actual, P(1));
    CHECK_EQ_INT(goc_map_load_or_store(m, K("k"), P(2), &actual), 1); /* loaded */
    CHECK_EQ_PTR(actual, P(1));
    CHECK(load_is(m, "k", P(1))); /* unchanged */
    CHECK_EQ_INT(goc_map_load_or_store(m, K("k"), P(3), NULL), 1);
    CHECK_EQ_INT(goc_map_load_or_store(m, K("j"), NULL, &actual), 0);
    CHECK_EQ_PTR(actual, NULL);
    CHECK_EQ_INT(goc_map_load_or_store(m, K("j"), P(5), &actual), 1);
    CHECK_EQ_PTR(actual, NULL);
    CHECK_EQ_INT(goc_map_len(m), 2);
    goc_map_free(m);
}

GTEST(map_swap_semantics) {
    goc_map *m = goc_map_new();
    void *prev = P(0xdead);
    CHECK_EQ_INT(goc_map_swap(m, K("k"), P(1), &prev), 0); /* absent: stored */
    CHECK_EQ_PTR(prev, NULL);
    CHECK(load_is(m, "k", P(1)));
    CHECK_EQ_INT(goc_map_swap(m, K("k"), P(2), &prev), 1);
    CHECK_EQ_PTR(prev, P(1));
    CHECK(load_is(m, "k", P(2)));
    CHECK_EQ_INT(goc_map_swap(m, K("k"), NULL, NULL), 1);
    CHECK(load_is(m, "k", NULL));
    CHECK_EQ_INT(goc_map_swap(m, K("k"), P(7), &prev), 1);
    CHECK_EQ_PTR(prev, NULL);
    CHECK_EQ_INT(goc_map_len(m), 1);
    goc_map_free(m);
}

GTEST(map_compare_and_swap_semantics) {
    goc_map *m = goc_map_new();
    CHECK(!goc_map_compare_and_swap(m, K("k"), NULL, P(1))); /* absent: never inserts */
    CHECK(absent(m, "k"));
    CHECK_EQ_INT(goc_map_len(m), 0);
    goc_map_store(m, K("k"), P(1));
    CHECK(!goc_map_compare_and_swap(m, K("k"), P(2), P(3))); /* wrong old */
    CHECK(load_is(m, "k", P(1)));
    CHECK(goc_map_compare_and_swap(m, K("k"), P(1), P(3)));
    CHECK(load_is(m, "k", P(3)));
    CHECK(goc_map_compare_and_swap(m, K("k"), P(3), NULL));
    CHECK(load_is(m, "k", NULL));
    CHECK(goc_map_compare_and_swap(m, K("k"), NULL, P(4)));
    CHECK(load_is(m, "k", P(4)));
    /* CompareAndDelete */
    CHECK(!goc_map_compare_and_delete(m, K("k"), P(5)));
    CHECK(load_is(m, "k", P(4)));
    CHECK(!goc_map_compare_and_delete(m, K("zz"), P(4)));
    CHECK(goc_map_compare_and_delete(m, K("k"), P(4)));
    CHECK(absent(m, "k"));
    CHECK(!goc_map_compare_and_delete(m, K("k"), P(4)));
    CHECK_EQ_INT(goc_map_len(m), 0);
    goc_map_free(m);
}

GTEST(map_load_and_delete_semantics) {
    goc_map *m = goc_map_new();
    void *v = P(0xdead);
    CHECK(!goc_map_load_and_delete(m, K("k"), &v));
    CHECK_EQ_PTR(v, NULL);
    goc_map_store(m, K("k"), P(9));
    CHECK(goc_map_load_and_delete(m, K("k"), &v));
    CHECK_EQ_PTR(v, P(9));
    CHECK(absent(m, "k"));
    v = P(0xdead);
    CHECK(!goc_map_load_and_delete(m, K("k"), &v));
    CHECK_EQ_PTR(v, NULL);
    goc_map_store(m, K("k"), NULL);
    CHECK(goc_map_load_and_delete(m, K("k"), NULL));
    CHECK_EQ_INT(goc_map_len(m), 0);
    goc_map_free(m);
}

/* Keys are copied: the caller's buffer may change or go away. Keys are
 * byte strings: embedded NULs, the empty key, long keys. */
GTEST(map_keys_copied_and_binary) {
    goc_map *m = goc_map_new();
    char buf[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof buf, "key-%d", i);
        CHECK_EQ_INT(goc_map_store(m, buf, (size_t)n, P(i + 1)), 0);
    }
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof buf, "key-%d", i);
        void *v;
        CHECK(goc_map_load(m, buf, (size_t)n, &v));
        CHECK_EQ_PTR(v, P(i + 1));
    }
    CHECK_EQ_INT(goc_map_len(m), 1000);
    /* Binary keys: a NUL inside; prefixes are different keys. */
    const char bin1[] = {'a', 0, 'b'};
    const char bin2[] = {'a', 0, 'c'};
    goc_map_store(m, bin1, 3, P(11));
    goc_map_store(m, bin2, 3, P(12));
    goc_map_store(m, "a", 1, P(13));
    goc_map_store(m, bin1, 2, P(14));
    void *v;
    CHECK(goc_map_load(m, bin1, 3, &v) && v == P(11));
    CHECK(goc_map_load(m, bin2, 3, &v) && v == P(12));
    CHECK(goc_map_load(m, "a", 1, &v) && v == P(13));
    CHECK(goc_map_load(m, "a\0", 2, &v) && v == P(14));
    /* The empty key, with and without a pointer. */
    CHECK(!goc_map_load(m, NULL, 0, &v));
    CHECK_EQ_INT(goc_map_store(m, NULL, 0, P(15)), 0);
    CHECK(goc_map_load(m, "", 0, &v) && v == P(15));
    CHECK(goc_map_load(m, "zzz", 0, &v) && v == P(15));
    /* A long key, and one differing from it in the last byte. */
    size_t big = 100000;
    char *k1 = malloc(big), *k2 = malloc(big);
    CHECK(k1 && k2);
    for (size_t i = 0; i < big; i++)
        k1[i] = k2[i] = (char)(i * 7);
    k2[big - 1] ^= 1;
    goc_map_store(m, k1, big, P(16));
    CHECK(!goc_map_load(m, k2, big, &v));
    goc_map_store(m, k2, big, P(17));
    memset(k1, 0, big);
    for (size_t i = 0; i < big; i++)
        k1[i] = (char)(i * 7);
    CHECK(goc_map_load(m, k1, big, &v) && v == P(16));
    CHECK(goc_map_load(m, k2, big, &v) && v == P(17));
    free(k1);
    free(k2);
    CHECK_EQ_INT(goc_map_len(m), 1000 + 4 + 1 + 2);
    goc_map_free(m);
}

/* Range passes the map's copy of the key and the current value. */
struct collect {
    int n;
    long sum;
    bool stop_after_first;
};

static bool collect_fn(const void *key, size_t len, void *val, void *arg) {
    struct collect *c = arg;
    char buf[32];
    CHECK(len < sizeof buf);
    memcpy(buf, key, len);
    buf[len] = 0;
    int i;
    CHECK_EQ_INT(sscanf(buf, "key-%d", &i), 1);
    CHECK_EQ_PTR(val, P(i + 1));
    c->n++;
    c->sum += i;
    return !c->stop_after_first;
}

GTEST(map_range_visits_every_key_and_stops_on_false) {
    goc_map *m = goc_map_new();
    char buf[32];
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "key-%d", i);
        goc_map_store(m, buf, (size_t)n, P(i + 1));
    }
    struct collect c = {0};
    goc_map_range(m, collect_fn, &c);
    CHECK_EQ_INT(c.n, N);
    CHECK_EQ_INT(c.sum, (long)N * (N - 1) / 2);
    struct collect one = {.stop_after_first = true};
    goc_map_range(m, collect_fn, &one);
    CHECK_EQ_INT(one.n, 1);
    goc_map_clear(m);
    struct collect none = {0};
    goc_map_range(m, collect_fn, &none);
    CHECK_EQ_INT(none.n, 0);
    goc_map_free(m);
}

GTEST(map_len_counts_keys) {
    goc_map *m = goc_map_new();
    char buf[32];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(buf, sizeof buf, "%d", i);
        goc_map_store(m, buf, (size_t)n, P(1));
        goc_map_store(m, buf, (size_t)n, P(2)); /* overwrite: no change */
        CHECK_EQ_INT(goc_map_len(m), i + 1);
    }
    for (int i = 0; i < 3000; i += 2) {
        int n = snprintf(buf, sizeof buf, "%d", i);
        goc_map_delete(m, buf, (size_t)n);
    }
    CHECK_EQ_INT(goc_map_len(m), 1500);
    goc_map_free(m);
}

/* ---- differential test: each goroutine owns a key range; the reference
 * is its own array, so every result is predictable. ---- */

enum { DIFF_KEYS = 200 };

struct diff {
    goc_map *m;
    long ops;
    atomic_int next_id;
    goc_waitgroup done;
    /* final reference state per worker, for the whole-map checks */
    bool present[16][DIFF_KEYS];
    uintptr_t value[16][DIFF_KEYS];
};

static int diff_key(char *buf, int id, int k) { return sprintf(buf, "w%d/k%d", id, k); }

static void diff_worker_body(struct diff *d, int id) {
    uint64_t seed = 0x12345678ull * (uint64_t)(id + 1) + 1;
    bool *present = d->present[id];
    uintptr_t *value = d->value[id];
    char buf[32];
    for (long op = 0; op < d->ops; op++) {
        int k = (int)(rng_next(&seed) % DIFF_KEYS);
        size_t n = (size_t)diff_key(buf, id, k);
        uintptr_t nv = ((uintptr_t)id << 32) | (uintptr_t)(op + 1); /* never 0 */
        void *v = P(0xdead);
        int rc;
        switch (rng_next(&seed) % 9) {
        case 0: /* load */
            CHECK_EQ_INT(goc_map_load(d->m, buf, n, &v), present[k]);
            CHECK_EQ_PTR(v, present[k] ? P(value[k]) : NULL);
            break;
        case 1: /* store */
            CHECK_EQ_INT(goc_map_store(d->m, buf, n, P(nv)), 0);
            present[k] = true;
            value[k] = nv;
            break;
        case 2: /* load_or_store */
            rc = goc_map_load_or_store(d->m, buf, n, P(nv), &v);
            CHECK_EQ_INT(rc, present[k] ? 1 : 0);
            if (present[k]) {
                CHECK_EQ_PTR(v, P(value[k]));
            } else {
                CHECK_EQ_PTR(v, P(nv));
                present[k] = true;
                value[k] = nv;
            }
            break;
        case 3: /* load_and_delete */
            CHECK_EQ_INT(goc_map_load_and_delete(d->m, buf, n, &v), present[k]);
            CHECK_EQ_PTR(v, present[k] ? P(value[k]) : NULL);
            present[k] = false;
            break;
        case 4: /* delete */
            goc_map_delete(d->m, buf, n);
            present[k] = false;
            break;
        case 5: /* swap */
            rc = goc_map_swap(d->m, buf, n, P(nv), &v);
            CHECK_EQ_INT(rc, present[k] ? 1 : 0);
            CHECK_EQ_PTR(v, present[k] ? P(value[k]) : NULL);
            present[k] = true;
            value[k] = nv;
            break;
        case 6: { /* compare_and_swap, right or wrong old */
            bool right = rng_next(&seed) & 1;
            void *old = right ? P(value[k]) : P(nv | (1ull << 62));
            bool want = present[k] && right;
            CHECK_EQ_INT(goc_map_compare_and_swap(d->m, buf, n, old, P(nv)), want);
            if (want)
                value[k] = nv;
            break;
        }
        case 7: { /* compare_and_delete */
            bool right = rng_next(&seed) & 1;
            void *old = right ? P(value[k]) : P(nv | (1ull << 62));
            bool want = present[k] && right;
            CHECK_EQ_INT(goc_map_compare_and_delete(d->m, buf, n, old), want);
            if (want)
                present[k] = false;
            break;
        }
        case 8:
            if (op % 64 == 0)
                goc_yield();
            break;
        }
    }
}

static void diff_worker_g(void *arg) {
    struct diff *d = arg;
    diff_worker_body(d, atomic_fetch_add(&d->next_id, 1));
    goc_wg_done(&d->done);
}

static void *diff_worker_t(void *arg) {
    struct diff *d = arg;
    diff_worker_body(d, atomic_fetch_add(&d->next_id, 1));
    return NULL;
}

struct diff_range {
    struct diff *d;
    long visits;
    bool bad;
};

static bool diff_range_fn(const void *key, size_t len, void *val, void *arg) {
    struct diff_range *r = arg;
    char buf[32];
    int id, k;
    CHECK(len < sizeof buf);
    memcpy(buf, key, len);
    buf[len] = 0;
    CHECK_EQ_INT(sscanf(buf, "w%d/k%d", &id, &k), 2);
    if (!r->d->present[id][k] || val != P(r->d->value[id][k]))
        r->bad = true;
    r->visits++;
    return true;
}

/* Shared keys: every goroutine counts up each of a few keys with CAS loops
 * (load or store the initial count, then compare-and-swap +1): the final
 * counts are exact only if CAS is atomic. */
enum { SHARED_KEYS = 8 };
struct shared_phase {
    goc_map *m;
    long incs;
    goc_waitgroup done;
};

static void shared_inc_body(struct shared_phase *s, uint64_t seed) {
    char buf[16];
    for (long i = 0; i < s->incs; i++) {
        int k = (int)(rng_next(&seed) % SHARED_KEYS);
        size_t n = (size_t)sprintf(buf, "shared%d", k);
        void *cur;
        if (goc_map_load_or_store(s->m, buf, n, P(1), &cur) == 0)
            continue; /* stored the first count (1) */
        for (;;) {
            uintptr_t c = (uintptr_t)cur;
            if (goc_map_compare_and_swap(s->m, buf, n, cur, P(c + 1)))
                break;
            CHECK(goc_map_load(s->m, buf, n, &cur));
        }
        if (i % 50 == 0)
            goc_yield();
    }
}

static void shared_inc_g(void *arg) {
    shared_inc_body(arg, 0x2545f4914f6cdd1dull ^ (uint64_t)goc_id());
    goc_wg_done(&((struct shared_phase *)arg)->done);
}

static void *shared_inc_t(void *arg) {
    shared_inc_body(arg, 0x2545f4914f6cdd1dull ^ (uint64_t)(uintptr_t)&arg);
    return NULL;
}

GTEST(map_differential_against_reference) {
    static struct diff d;
    enum { G = 12, T = 2 };
    d.m = goc_map_new();
    CHECK(d.m != NULL);
    d.ops = TEST_SCALE(40000, 4000);
    goc_wg_add(&d.done, G);
    thread_t th[T];
    for (int i = 0; i < T; i++)
        thread_start(&th[i], diff_worker_t, &d);
    for (int i = 0; i < G; i++)
        go(diff_worker_g, &d);
    goc_wg_wait(&d.done);
    for (int i = 0; i < T; i++)
        thread_join(&th[i]);
    /* Whole-map check: every key, len, and a Range. */
    long want = 0;
    char buf[32];
    for (int id = 0; id < G + T; id++) {
        for (int k = 0; k < DIFF_KEYS; k++) {
            size_t n = (size_t)diff_key(buf, id, k);
            void *v;
            CHECK_EQ_INT(goc_map_load(d.m, buf, n, &v), d.present[id][k]);
            if (d.present[id][k]) {
                CHECK_EQ_PTR(v, P(d.value[id][k]));
                want++;
            }
        }
    }
    CHECK_EQ_INT(goc_map_len(d.m), want);
    struct diff_range r = {&d, 0, false};
    goc_map_range(d.m, diff_range_fn, &r);
    CHECK(!r.bad);
    CHECK_EQ_INT(r.visits, want);

    /* Shared-key phase. */
    static struct shared_phase s;
    s.m = d.m;
    s.incs = TEST_SCALE(20000, 2000);
    goc_wg_add(&s.done, G);
    for (int i = 0; i < T; i++)
        thread_start(&th[i], shared_inc_t, &s);
    for (int i = 0; i < G; i++)
        go(shared_inc_g, &s);
    goc_wg_wait(&s.done);
    for (int i = 0; i < T; i++)
        thread_join(&th[i]);
    uintptr_t total = 0;
    for (int k = 0; k < SHARED_KEYS; k++) {
        size_t n = (size_t)sprintf(buf, "shared%d", k);
        void *v;
        if (goc_map_load(d.m, buf, n, &v))
            total += (uintptr_t)v;
    }
    CHECK_EQ_U64(total, (uint64_t)(G + T) * (uint64_t)s.incs);
    CHECK_EQ_INT(goc_map_len(d.m), want + SHARED_KEYS);
    goc_map_free(d.m);
}

/* Range under concurrent writes: stable keys (present throughout, their
 * values overwritten concurrently) are visited exactly once; churn keys
 * (stored and deleted concurrently) at most once. */
enum { STABLE = 2000, CHURN = 2000 };

struct range_conc {
    goc_map *m;
    atomic_int stop;
    atomic_long churn_ops;
    goc_waitgroup done;
};

static void churn_body(struct range_conc *c, uint64_t seed) {
    char buf[32];
    while (!atomic_load(&c->stop)) {
        for (int i = 0; i < 64; i++) {
            uint64_t r = rng_next(&seed);
            int k = (int)(r % CHURN);
            size_t n = (size_t)sprintf(buf, "c%d", k);
            if (r & (1ull << 40)) {
                goc_map_store(c->m, buf, n, P(k + 1));
            } else {
                goc_map_delete(c->m, buf, n);
            }
            int s = (int)((r >> 20) % STABLE);
            n = (size_t)sprintf(buf, "s%d", s);
            goc_map_store(c->m, buf, n, P(s + 1 + ((r >> 41) & 1) * 100000)); /* overwrite */
            atomic_fetch_add(&c->churn_ops, 1);
        }
        goc_yield();
    }
}

static void churn_g(void *arg) {
    churn_body(arg, 0xabcdef12345ull ^ (uint64_t)goc_id() * 0x9e3779b97f4a7c15ull);
    goc_wg_done(&((struct range_conc *)arg)->done);
}

static void *churn_t(void *arg) {
    churn_body(arg, 0x5555aaaa1234ull);
    return NULL;
}

struct visits {
    int stable[STABLE];
    int churn[CHURN];
    bool bad_value;
};

static bool visits_fn(const void *key, size_t len, void *val, void *arg) {
    struct visits *v = arg;
    char buf[32];
    CHECK(len < sizeof buf);
    memcpy(buf, key, len);
    buf[len] = 0;
    int k;
    if (sscanf(buf, "s%d", &k) == 1) {
        v->stable[k]++;
        uintptr_t x = (uintptr_t)val;
        if (x != (uintptr_t)k + 1 && x != (uintptr_t)k + 1 + 100000)
            v->bad_value = true;
    } else if (sscanf(buf, "c%d", &k) == 1) {
        v->churn[k]++;
        if (val != P(k + 1))
            v->bad_value = true;
    } else {
        FAIL("unexpected key %s", buf);
    }
    if ((k & 31) == 0)
        goc_yield(); /* let the writers run in the middle of the Range */
    return true;
}

GTEST(map_range_under_concurrent_writes) {
    static struct range_conc c;
    c.m = goc_map_new();
    char buf[32];
    for (int s = 0; s < STABLE; s++) {
        size_t n = (size_t)sprintf(buf, "s%d", s);
        goc_map_store(c.m, buf, n, P(s + 1));
    }
    enum { G = 4 };
    goc_wg_add(&c.done, G);
    for (int i = 0; i < G; i++)
        go(churn_g, &c);
    thread_t th;
    thread_start(&th, churn_t, &c);
    static struct visits v;
    int rounds = TEST_SCALE(30, 5);
    for (int r = 0; r < rounds; r++) {
        memset(&v, 0, sizeof v);
        goc_map_range(c.m, visits_fn, &v);
        CHECK(!v.bad_value);
        for (int s = 0; s < STABLE; s++)
            CHECK_MSG(v.stable[s] == 1, "round %d: stable key s%d visited %d times", r, s,
                      v.stable[s]);
        for (int k = 0; k < CHURN; k++)
            CHECK_MSG(v.churn[k] <= 1, "round %d: churn key c%d visited %d times", r, k,
                      v.churn[k]);
    }
    atomic_store(&c.stop, 1);
    goc_wg_wait(&c.done);
    thread_join(&th);
    test_note("%ld writes during %d ranges", atomic_load(&c.churn_ops) * 2, rounds);
    CHECK_GT_INT(atomic_load(&c.churn_ops), 0);
    goc_map_free(c.m);
}

/* Range's callback may modify the map (delete the visited key, store new
 * ones, re-store the visited key, run a nested Range) without deadlock;
 * every original key is visited exactly once. */
struct modify {
    goc_map *m;
    int seen_k[1000];
    int seen_m[1000];
    long nested_visits;
};

static bool count_fn(const void *key, size_t len, void *val, void *arg) {
    (void)key, (void)len, (void)val;
    ++*(long *)arg;
    return true;
}

static bool modify_fn(const void *key, size_t len, void *val, void *arg) {
    struct modify *md = arg;
    (void)val;
    char buf[32];
    memcpy(buf, key, len);
    buf[len] = 0;
    int i;
    if (sscanf(buf, "k%d", &i) == 1) {
        md->seen_k[i]++;
        goc_map_delete(md->m, key, len); /* the visited key itself */
        char nb[32];
        size_t n = (size_t)sprintf(nb, "m%d", i);
        CHECK_EQ_INT(goc_map_store(md->m, nb, n, P(i + 1)), 0);
        if (i % 3 == 0) /* re-store the deleted key: a new entry */
            CHECK_EQ_INT(goc_map_store(md->m, buf, len, P(7)), 0);
        if (i % 100 == 0)
            goc_map_range(md->m, count_fn, &md->nested_visits);
    } else if (sscanf(buf, "m%d", &i) == 1) {
        md->seen_m[i]++;
    } else {
        FAIL("unexpected key %s", buf);
    }
    return true;
}

GTEST(map_range_callback_may_modify_map) {
    static struct modify md;
    md.m = goc_map_new();
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)sprintf(buf, "k%d", i);
        goc_map_store(md.m, buf, n, P(i + 1));
    }
    goc_map_range(md.m, modify_fn, &md);
    for (int i = 0; i < 1000; i++) {
        CHECK_MSG(md.seen_k[i] == 1, "k%d visited %d times", i, md.seen_k[i]);
        CHECK_LE_INT(md.seen_m[i], 1);
        size_t n = (size_t)sprintf(buf, "m%d", i);
        void *v;
        CHECK(goc_map_load(md.m, buf, n, &v) && v == P(i + 1));
        n = (size_t)sprintf(buf, "k%d", i);
        CHECK_EQ_INT(goc_map_load(md.m, buf, n, &v), i % 3 == 0);
    }
    CHECK_GT_INT(md.nested_visits, 0);
    CHECK_EQ_INT(goc_map_len(md.m), 1000 + 334);
    goc_map_free(md.m);
}

/* A Range callback that blocks (parks on a channel-like wait) does not hold
 * up writers of the same map. */
struct blocking_range {
    goc_map *m;
    goc_waitgroup in_fn, release, writer_done;
    atomic_int writes;
};

static bool blocking_fn(const void *key, size_t len, void *val, void *arg) {
    (void)key, (void)len, (void)val;
    struct blocking_range *b = arg;
    goc_wg_done(&b->in_fn);
    goc_wg_wait(&b->release);
    return false;
}

static void blocking_ranger(void *arg) {
    struct blocking_range *b = arg;
    goc_map_range(b->m, blocking_fn, b);
}

static void blocking_writer(void *arg) {
    struct blocking_range *b = arg;
    char buf[32];
    for (int i = 0; i < 500; i++) {
        size_t n = (size_t)sprintf(buf, "x%d", i);
        goc_map_store(b->m, buf, n, P(1));
        goc_map_delete(b->m, buf, n);
        goc_map_store(b->m, buf, n, P(2));
        atomic_fetch_add(&b->writes, 1);
    }
    goc_map_clear(b->m);
    goc_wg_done(&b->writer_done);
}

GTEST(map_range_callback_may_block) {
    static struct blocking_range b;
    b.m = goc_map_new();
    goc_map_store(b.m, K("only"), P(1));
    goc_wg_add(&b.in_fn, 1);
    goc_wg_add(&b.release, 1);
    goc_wg_add(&b.writer_done, 1);
    go(blocking_ranger, &b);
    goc_wg_wait(&b.in_fn); /* the ranger is blocked inside fn */
    go(blocking_writer, &b);
    goc_wg_wait(&b.writer_done); /* writers (even of its pinned key) proceed */
    CHECK_EQ_INT(atomic_load(&b.writes), 500);
    CHECK_EQ_INT(goc_map_len(b.m), 0);
    goc_wg_done(&b.release);
    WAIT_UNTIL(goc_num_goroutine() == 1, TEST_PATIENCE_S);
    goc_map_free(b.m);
}

/* Growing from empty to many keys, with concurrent readers. */
struct grow_state {
    goc_map *m;
    long n;
    atomic_int stop;
    atomic_long bad;
    goc_waitgroup done;
};

static void grow_reader(void *arg) {
    struct grow_state *g = arg;
    char buf[32];
    uint64_t seed = 77 + goc_id();
    while (!atomic_load(&g->stop)) {
        long i = (long)(rng_next(&seed) % (uint64_t)g->n);
        size_t n = (size_t)sprintf(buf, "g%ld", i);
        void *v;
        if (goc_map_load(g->m, buf, n, &v) && v != P(i + 1))
            atomic_fetch_add(&g->bad, 1);
        if ((i & 63) == 0)
            goc_yield();
    }
    goc_wg_done(&g->done);
}

GTEST(map_grows_under_concurrent_reads) {
    static struct grow_state g;
    g.m = goc_map_new();
    g.n = TEST_SCALE(200000, 20000);
    goc_wg_add(&g.done, 4);
    for (int i = 0; i < 4; i++)
        go(grow_reader, &g);
    char buf[32];
    for (long i = 0; i < g.n; i++) {
        size_t n = (size_t)sprintf(buf, "g%ld", i);
        CHECK_EQ_INT(goc_map_store(g.m, buf, n, P(i + 1)), 0);
        if ((i & 1023) == 0)
            goc_yield();
    }
    atomic_store(&g.stop, 1);
    goc_wg_wait(&g.done);
    CHECK_EQ_INT(atomic_load(&g.bad), 0);
    CHECK_EQ_INT(goc_map_len(g.m), g.n);
    for (long i = 0; i < g.n; i++) {
        size_t n = (size_t)sprintf(buf, "g%ld", i);
        void *v;
        CHECK(goc_map_load(g.m, buf, n, &v) && v == P(i + 1));
    }
    goc_map_free(g.m);
}

/* No memory for a new key: -ENOMEM, map unchanged; present keys need no
 * memory. */
TEST(map_allocation_failure_reports_enomem) {
    goc_failpoint_set("alloc", 1);
    CHECK(goc_map_new() == NULL);
    goc_map *m = goc_map_new();
    CHECK(m != NULL);
    CHECK_EQ_INT(goc_map_store(m, K("a"), P(1)), 0);
    goc_failpoint_set("alloc", 1);
    CHECK_EQ_INT(goc_map_store(m, K("b"), P(2)), -ENOMEM);
    CHECK(absent(m, "b"));
    goc_failpoint_set("alloc", 1);
    void *out = P(0xdead);
    CHECK_EQ_INT(goc_map_load_or_store(m, K("b"), P(2), &out), -ENOMEM);
    CHECK_EQ_PTR(out, NULL);
    goc_failpoint_set("alloc", 1);
    CHECK_EQ_INT(goc_map_swap(m, K("b"), P(2), &out), -ENOMEM);
    CHECK_EQ_PTR(out, NULL);
    goc_failpoint_set("alloc", 0);
    CHECK(absent(m, "b"));
    CHECK_EQ_INT(goc_map_len(m), 1);
    /* present keys: no allocation, so no failure */
    goc_failpoint_set("alloc", 1);
    CHECK_EQ_INT(goc_map_store(m, K("a"), P(3)), 0);
    CHECK_EQ_INT(goc_map_swap(m, K("a"), P(4), &out), 1);
    CHECK_EQ_INT(goc_map_load_or_store(m, K("a"), P(5), &out), 1);
    CHECK_EQ_PTR(out, P(4));
    goc_failpoint_set("alloc", 0);
    CHECK_EQ_INT(goc_map_store(m, K("b"), P(2)), 0);
    CHECK_EQ_INT(goc_map_len(m), 2);
    goc_map_free(m);
}
