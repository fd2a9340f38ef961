/* test_map.c — sync.Map: Go's semantics for every operation, keys copied
 * and binary, Range (every key once, stop on false), Len, a differential
 * test against a per-goroutine reference, Range under concurrent writes and
 * with a callback that modifies the map or blocks, growth under concurrent
 * reads, ENOMEM. Each case is one behaviour; `test_map --list` names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/failpoint.h"

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

/* Store the keys fmt % i (fmt has one %d), i in [0, n), each with value
 * P(i + 1). */
static void store_keys(goc_map *m, const char *fmt, int n) {
    char buf[32];
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, fmt, i);
        CHECK_EQ_INT(goc_map_store(m, buf, (size_t)len, P(i + 1)), 0);
    }
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
    enum { N = 5000 };
    store_keys(m, "key-%d", N);
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
    atomic_int next_id; /* each worker takes the next id */
    /* final reference state per worker, for the whole-map checks */
    bool present[16][DIFF_KEYS];
    uintptr_t value[16][DIFF_KEYS];
};

static int diff_key(char *buf, int id, int k) { return sprintf(buf, "w%d/k%d", id, k); }

static void diff_worker(void *arg) {
    struct diff *d = arg;
    int id = atomic_fetch_add(&d->next_id, 1);
    uint64_t seed = 0x12345678ull * (uint64_t)(id + 1) + 1;
    bool *present = d->present[id];
    uintptr_t *value = d->value[id];
    char buf[32];
    for (long op = 0; op < d->ops; op++) {
        int k = (int)(test_rand(&seed) % DIFF_KEYS);
        size_t n = (size_t)diff_key(buf, id, k);
        uintptr_t nv = ((uintptr_t)id << 32) | (uintptr_t)(op + 1); /* never 0 */
        void *v = P(0xdead);
        int rc;
        switch (test_rand(&seed) % 9) {
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
            bool right = test_rand(&seed) & 1;
            void *old = right ? P(value[k]) : P(nv | (1ull << 62));
            bool want = present[k] && right;
            CHECK_EQ_INT(goc_map_compare_and_swap(d->m, buf, n, old, P(nv)), want);
            if (want)
                value[k] = nv;
            break;
        }
        case 7: { /* compare_and_delete */
            bool right = test_rand(&seed) & 1;
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
};

static void shared_inc(void *arg) {
    struct shared_phase *s = arg;
    uint64_t id = goc_id(); /* 0 on a plain thread: then an address on its stack */
    uint64_t seed = 0x2545f4914f6cdd1dull ^ (id ? id : (uint64_t)(uintptr_t)&arg);
    char buf[16];
    for (long i = 0; i < s->incs; i++) {
        int k = (int)(test_rand(&seed) % SHARED_KEYS);
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

GTEST(map_differential_against_reference) {
    static struct diff d;
    static test_group grp;
    enum { G = 12, T = 2 };
    d.m = goc_map_new();
    CHECK(d.m != NULL);
    d.ops = TEST_SCALE(40000, 4000);
    test_group_thread(&grp, T, diff_worker, &d);
    test_group_go(&grp, G, diff_worker, &d);
    test_group_wait(&grp);
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
    test_group_thread(&grp, T, shared_inc, &s);
    test_group_go(&grp, G, shared_inc, &s);
    test_group_wait(&grp);
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
};

static void churn(void *arg) {
    struct range_conc *c = arg;
    uint64_t id = goc_id(); /* 0 on a plain thread */
    uint64_t seed = id ? 0xabcdef12345ull ^ id * 0x9e3779b97f4a7c15ull : 0x5555aaaa1234ull;
    char buf[32];
    while (!atomic_load(&c->stop)) {
        for (int i = 0; i < 64; i++) {
            uint64_t r = test_rand(&seed);
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
    static test_group grp;
    c.m = goc_map_new();
    store_keys(c.m, "s%d", STABLE);
    enum { G = 4 };
    test_group_go(&grp, G, churn, &c);
    test_group_thread(&grp, 1, churn, &c);
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
    test_group_wait(&grp);
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
    store_keys(md.m, "k%d", 1000);
    goc_map_range(md.m, modify_fn, &md);
    char buf[32];
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
    goc_waitgroup in_fn, release, writer_done, ranger_done;
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
    goc_wg_done(&b->ranger_done);
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
    goc_wg_add(&b.ranger_done, 1);
    TEST_GO(blocking_ranger, &b);
    goc_wg_wait(&b.in_fn); /* the ranger is blocked inside fn */
    TEST_GO(blocking_writer, &b);
    goc_wg_wait(&b.writer_done); /* writers (even of its pinned key) proceed */
    CHECK_EQ_INT(atomic_load(&b.writes), 500);
    CHECK_EQ_INT(goc_map_len(b.m), 0);
    goc_wg_done(&b.release);
    /* The ranger's last touch of the map happens before the free: a
     * goroutine count settling is not synchronization (the race build
     * reports the free otherwise, as go test -race would). */
    goc_wg_wait(&b.ranger_done);
    test_settle_goroutines(1);
    goc_map_free(b.m);
}

/* Growing from empty to many keys, with concurrent readers. */
struct grow_state {
    goc_map *m;
    long n;
    atomic_int stop;
    atomic_long bad;
};

static void grow_reader(void *arg) {
    struct grow_state *g = arg;
    char buf[32];
    uint64_t seed = 77 + goc_id();
    while (!atomic_load(&g->stop)) {
        long i = (long)(test_rand(&seed) % (uint64_t)g->n);
        size_t n = (size_t)sprintf(buf, "g%ld", i);
        void *v;
        if (goc_map_load(g->m, buf, n, &v) && v != P(i + 1))
            atomic_fetch_add(&g->bad, 1);
        if ((i & 63) == 0)
            goc_yield();
    }
}

GTEST(map_grows_under_concurrent_reads) {
    static struct grow_state g;
    static test_group grp;
    g.m = goc_map_new();
    g.n = TEST_SCALE(200000, 20000);
    test_group_go(&grp, 4, grow_reader, &g);
    char buf[32];
    for (long i = 0; i < g.n; i++) {
        size_t n = (size_t)sprintf(buf, "g%ld", i);
        CHECK_EQ_INT(goc_map_store(g.m, buf, n, P(i + 1)), 0);
        if ((i & 1023) == 0)
            goc_yield();
    }
    atomic_store(&g.stop, 1);
    test_group_wait(&grp);
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
