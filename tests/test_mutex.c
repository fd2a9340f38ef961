/* test_mutex.c — sync.Mutex: exclusion with exact counts (goroutines and
 * plain threads), TryLock, misuse panics, unlocking from another goroutine,
 * parked waiters that leave their thread free, starvation mode (it bounds
 * the wait, and ends), hand-offs between plain threads. Each case is one
 * behaviour; `test_mutex --list` names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS GOC_MILLISECOND

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
    int yield_every; /* 0: never yield while holding */
};

static void excl_body(void *arg) {
    struct excl *x = arg;
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

/* g goroutines and t plain threads run excl_body on one mutex. */
static void check_exclusion(int g, int t, long iters, int yield_every) {
    static struct excl x;
    static test_group grp;
    x = (struct excl){.iters = iters, .yield_every = yield_every}; /* mutex: zero value */
    test_group_thread(&grp, t, excl_body, &x);
    test_group_go(&grp, g, excl_body, &x);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&x.overlap), 0);
    CHECK_EQ_INT(x.counter, (g + t) * iters);
}

GTEST(mutex_exclusion_goroutines_exact) { check_exclusion(8, 0, TEST_SCALE(50000, 5000), 7); }

GTEST(mutex_exclusion_goroutines_and_threads_exact) {
    check_exclusion(6, 3, TEST_SCALE(30000, 3000), 13);
}

/* No yield in the critical section: exercises the fast path and spinning. */
GTEST(mutex_exclusion_short_sections_exact) { check_exclusion(4, 0, TEST_SCALE(200000, 20000), 0); }

struct try_state {
    goc_mutex mu;
    atomic_int result; /* -1 unset, 0 false, 1 true */
};

static void try_from_other(void *arg) {
    struct try_state *t = arg;
    bool ok = goc_mutex_trylock(&t->mu);
    if (ok)
        goc_mutex_unlock(&t->mu);
    atomic_store(&t->result, ok);
}

GTEST(mutex_trylock) {
    static struct try_state t;
    static test_group grp;
    CHECK(goc_mutex_trylock(&t.mu));  /* unlocked: succeeds */
    CHECK(!goc_mutex_trylock(&t.mu)); /* held (by us): fails, never waits */
    test_group_go(&grp, 1, try_from_other, &t);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&t.result), 0); /* held: another goroutine fails */
    goc_mutex_unlock(&t.mu);
    test_group_go(&grp, 1, try_from_other, &t);
    test_group_wait(&grp);
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
    test_run_main(unlock_unlocked_main);
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
    expect_child("mutex_unlock_unlocked_in_goroutine", -SIGABRT,
                 "^goroutine [0-9]+ \\[running\\]:");
    expect_child("mutex_unlock_unlocked_on_plain_thread", -SIGABRT,
                 "^panic: sync: unlock of unlocked mutex$");
}

/* A goroutine that waits for a locked mutex and flags when it got it. */
struct lock_waiter {
    goc_mutex mu;
    atomic_int got;
};

static void lock_waiter(void *arg) {
    struct lock_waiter *w = arg;
    goc_mutex_lock(&w->mu);
    atomic_store(&w->got, 1);
    goc_mutex_unlock(&w->mu);
}

static void unlock_waited_for(void *arg) { goc_mutex_unlock(&((struct lock_waiter *)arg)->mu); }

/* Go lets another goroutine unlock a locked Mutex. */
GTEST(mutex_unlocked_by_another_goroutine) {
    static struct lock_waiter w;
    static test_group grp;
    goc_mutex_lock(&w.mu);
    test_group_go(&grp, 1, lock_waiter, &w);
    WAIT_PARKED("sync.Mutex.Lock", 1);
    CHECK_EQ_INT(atomic_load(&w.got), 0);
    test_group_go(&grp, 1, unlock_waited_for, &w);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&w.got), 1);
}

/* A goroutine waiting for a mutex is parked: on one processor, other
 * goroutines keep running meanwhile (the thread is not blocked). */
GTEST(mutex_waiter_parks_goroutine_not_thread) {
    static struct lock_waiter w;
    static atomic_long other_ran;
    static test_group grp;
    goc_mutex_lock(&w.mu);
    test_group_go(&grp, 1, lock_waiter, &w);
    WAIT_PARKED("sync.Mutex.Lock", 1);
    test_group_go(&grp, 1, test_count, &other_ran);
    WAIT_UNTIL(atomic_load(&other_ran) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&w.got), 0);
    goc_mutex_unlock(&w.mu);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&w.got), 1);
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
};

static void starve_hog(void *arg) {
    struct starve *s = arg;
    while (!atomic_load(&s->stop)) {
        goc_mutex_lock(&s->mu);
        goc_yield();
        goc_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->rounds, 1);
    }
}

static void starve_waiter(void *arg) {
    struct starve *s = arg;
    int64_t t0 = goc_now();
    goc_mutex_lock(&s->mu);
    s->waited_ns = goc_now() - t0;
    atomic_store(&s->waiter_got, 1);
    goc_mutex_unlock(&s->mu);
}

/* Start the hog and, once it is going, the waiter; wait until the waiter
 * got the lock or `seconds` have passed, then stop the hog and wait for
 * both. Returns whether the waiter got the lock before the hog stopped. */
static bool starve_run(struct starve *s, double seconds) {
    static test_group grp;
    test_group_go(&grp, 1, starve_hog, s);
    WAIT_UNTIL(atomic_load(&s->rounds) > 100, TEST_PATIENCE_S);
    test_group_go(&grp, 1, starve_waiter, s);
    WAIT_FOR(atomic_load(&s->waiter_got), seconds);
    bool got = atomic_load(&s->waiter_got);
    atomic_store(&s->stop, 1);
    test_group_wait(&grp);
    return got;
}

GTEST(mutex_starvation_mode_bounds_wait) {
    static struct starve s;
    (void)starve_run(&s, 20.0);
    CHECK_MSG(atomic_load(&s.waiter_got), "waiter starved (hog rounds %ld)",
              atomic_load(&s.rounds));
    test_note("waiter got the lock after %.3f ms", (double)s.waited_ns / 1e6);
    CHECK_LT_INT(s.waited_ns, GOC_SECOND);
}

/* Starvation mode returns to normal: after the waiter got the lock, the
 * fast path (lock with one CAS) works again and trylock succeeds. */
GTEST(mutex_starvation_mode_ends) {
    static struct starve s;
    CHECK_MSG(starve_run(&s, TEST_PATIENCE_S), "waiter starved (hog rounds %ld)",
              atomic_load(&s.rounds));
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

/* A counter under a mutex: goroutines and threads that add to it queue up
 * while the test holds the mutex. */
struct counted {
    goc_mutex mu;
    long n; /* mu */
};

static void locked_add(void *arg) {
    struct counted *c = arg;
    goc_mutex_lock(&c->mu);
    c->n++;
    goc_mutex_unlock(&c->mu);
}

/* Plain threads and goroutines queued on one mutex hand it to each other
 * while the main goroutine waits on a WaitGroup: plain threads are running
 * and waking each other, so this is never a deadlock (the detector must
 * not report one while a plain thread is running). */
GTEST(mutex_handoffs_between_plain_threads_are_no_deadlock) {
    static struct counted c;
    static test_group grp;
    enum { G = 20, T = 3 };
    int rounds = TEST_SCALE(200, 30);
    for (int r = 0; r < rounds; r++) {
        goc_mutex_lock(&c.mu);
        test_group_go(&grp, G, locked_add, &c);
        test_group_thread(&grp, T, locked_add, &c);
        test_group_wait_started(&grp);
        goc_sleep(2 * MS); /* everyone queues; waiters go past 1 ms: starvation mode */
        goc_mutex_unlock(&c.mu);
        test_group_wait(&grp);
    }
    CHECK_EQ_INT(c.n, (long)rounds * (G + T));
}

/* Many waiters parked at once are all let through, one at a time. */
GTEST(mutex_many_parked_waiters_all_proceed) {
    static struct counted c;
    static test_group grp;
    enum { N = 1000 };
    goc_mutex_lock(&c.mu);
    test_group_go(&grp, N, locked_add, &c);
    test_group_wait_started(&grp);
    for (int i = 0; i < 100; i++)
        goc_yield(); /* let them reach the semaphore */
    CHECK_EQ_INT(c.n, 0);
    goc_mutex_unlock(&c.mu);
    test_group_wait(&grp);
    CHECK_EQ_INT(c.n, N);
}
