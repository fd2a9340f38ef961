/* test_pool.c — sync.Pool: Get calls New when empty, Put then Get returns
 * the same item, per-P caches that drop (with free_fn) when full, destroy
 * frees every cached item, the zero value, a plain thread stealing and
 * stashing, accounting under a stress of goroutines and threads, allocation
 * failure. Each case is one behaviour; `test_pool --list` names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/failpoint.h"

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

/* A pool of these items, with the counts at zero. */
static void pool_start(goc_pool *p) {
    reset_item_counts();
    goc_pool_init(p, item_new, item_free);
}

/* take() n items into it[0..n-1]; give() it[from..to-1] back. */
static void take_n(goc_pool *p, struct item **it, int n) {
    for (int i = 0; i < n; i++)
        it[i] = take(p);
}

static void give_range(goc_pool *p, struct item **it, int from, int to) {
    for (int i = from; i < to; i++)
        give(p, it[i]);
}

GTEST(pool_get_calls_new_when_empty) {
    goc_pool p;
    pool_start(&p);
    struct item *a = take(&p), *b = take(&p);
    CHECK(a != b);
    CHECK_EQ_INT(atomic_load(&items_new), 2);
    give(&p, a);
    give(&p, b);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 2);
}

GTEST(pool_put_then_get_returns_same_item) {
    goc_pool p;
    pool_start(&p);
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
    take_n(&p, it, 5);
    give_range(&p, it, 0, 5);
    CHECK_EQ_PTR(take(&p), it[0]);
    for (int i = 4; i >= 1; i--)
        CHECK_EQ_PTR(take(&p), it[i]);
    give_range(&p, it, 0, 5);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), atomic_load(&items_new));
}

/* One processor keeps 1 + 16 items; the rest of a burst of puts is freed
 * at once with free_fn (Go's pool may drop items; goc's drops when full). */
GTEST(pool_full_cache_drops_with_free_fn) {
    goc_pool p;
    pool_start(&p);
    enum { N = 100 };
    struct item *it[N];
    take_n(&p, it, N);
    give_range(&p, it, 0, N);
    CHECK_EQ_INT(atomic_load(&items_freed), N - 17);
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), N);
}

GTEST(pool_destroy_frees_every_cached_item) {
    static goc_pool p;
    pool_start(&p);
    /* items cached by goroutines (on whichever P), and by a plain thread */
    struct item *it[40];
    take_n(&p, it, 40);
    give_range(&p, it, 0, 8);
    goc_yield(); /* perhaps onto another processor */
    give_range(&p, it, 8, 16);
    CHECK_EQ_INT(atomic_load(&items_freed), 0); /* 16 fit one processor's cache */
    goc_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&items_freed), 16);
    CHECK_EQ_INT(atomic_load(&items_new) - atomic_load(&items_freed), 24); /* ours */
    /* The pool is usable again after destroy. */
    give_range(&p, it, 16, 40);
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
    take_n(t->p, t->got, 8);
    give_range(t->p, t->got, 0, 8);
    for (int i = 0; i < 8; i++)
        CHECK(take(t->p) == t->got[7 - i]); /* the stash is a stack */
    give_range(t->p, t->got, 0, 8);
    return NULL;
}

GTEST(pool_plain_thread_steals_and_stashes) {
    static goc_pool p;
    pool_start(&p);
    struct item *it[5];
    take_n(&p, it, 5);
    give_range(&p, it, 0, 5); /* it[0] private, it[1..4] in this P's ring */
    static struct pool_thread t;
    t.p = &p;
    test_thread_join(test_thread_start(pool_thread_body, &t));
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
};

static atomic_ulong stress_seed = 1;

static void pool_stress_body(void *arg) {
    struct pool_stress *s = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ull * atomic_fetch_add(&stress_seed, 1);
    struct item *held[4];
    for (long i = 0; i < s->iters; i++) {
        int k = 1 + (int)(test_rand(&seed) % 4);
        for (int j = 0; j < k; j++)
            held[j] = take(&s->pool);
        for (int j = 0; j < k; j++)
            held[j]->serial += 0; /* touch */
        if (test_rand(&seed) % 4 == 0)
            goc_yield();
        for (int j = 0; j < k; j++)
            give(&s->pool, held[j]);
    }
}

GTEST(pool_concurrent_get_put_accounting) {
    static struct pool_stress s;
    static test_group grp;
    pool_start(&s.pool);
    enum { G = 16, T = 2 };
    s.iters = TEST_SCALE(20000, 2000);
    test_group_thread(&grp, T, pool_stress_body, &s);
    test_group_go(&grp, G, pool_stress_body, &s);
    test_group_wait(&grp);
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
    goc_pool p;
    pool_start(&p);
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
