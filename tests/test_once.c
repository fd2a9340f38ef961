/* test_once.c — sync.Once: fn runs once while concurrent callers (goroutines
 * and plain threads) wait for it, later calls do nothing, fn's effects are
 * visible to every caller. Each case is one behaviour; `test_once --list`
 * names them. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS GOC_MILLISECOND

struct once_state {
    goc_once once;
    atomic_int calls, finished, early_returns;
};

static void once_fn(void *arg) {
    struct once_state *o = arg;
    atomic_fetch_add(&o->calls, 1);
    goc_sleep(30 * MS); /* the others pile up meanwhile */
    for (int i = 0; i < 20; i++)
        goc_yield();
    atomic_store(&o->finished, 1);
}

static void once_caller(void *arg) {
    struct once_state *o = arg;
    goc_once_do(&o->once, once_fn, o);
    if (!atomic_load(&o->finished))
        atomic_fetch_add(&o->early_returns, 1); /* returned before fn did */
}

GTEST(once_runs_once_concurrent_callers_wait_for_it) {
    static struct once_state o;
    static test_group grp;
    enum { G = 50, T = 3 };
    test_group_go(&grp, G, once_caller, &o);
    test_group_thread(&grp, T, once_caller, &o);
    test_group_wait_started(&grp);
    once_caller(&o);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&o.calls), 1);
    CHECK_EQ_INT(atomic_load(&o.early_returns), 0);
}

TEST(once_later_calls_do_nothing) {
    static goc_once once; /* zero value */
    static atomic_long a, b;
    goc_once_do(&once, test_count, &a);
    goc_once_do(&once, test_count, &a);
    goc_once_do(&once, test_count, &b); /* another arg: still nothing */
    CHECK_EQ_INT(atomic_load(&a), 1);
    CHECK_EQ_INT(atomic_load(&b), 0);
    goc_once o2 = GOC_ONCE_INIT;
    goc_once_do(&o2, test_count, &b);
    CHECK_EQ_INT(atomic_load(&b), 1);
}

/* fn's effects are visible to every caller once Do returns. */
struct once_pub {
    goc_once once;
    long value[64]; /* written by fn, plain */
    atomic_int bad;
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
}

GTEST(once_effects_visible_to_all_callers) {
    static test_group grp;
    enum { ROUNDS = 50, G = 8 };
    for (int r = 0; r < ROUNDS; r++) {
        struct once_pub *p = calloc(1, sizeof *p);
        CHECK(p != NULL);
        test_group_go(&grp, G, once_pub_reader, p);
        test_group_wait(&grp);
        CHECK_EQ_INT(atomic_load(&p->bad), 0);
        free(p);
    }
}
