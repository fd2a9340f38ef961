/* test_context.c — Go's package context: the roots, cancellation and its
 * propagation through a tree, deadlines and timeouts (capped by the
 * parent's), causes, values (lookup, shadowing, the nil key), without_cancel,
 * AfterFunc, reference counting (the last release cancels and detaches),
 * concurrent cancel storms. The blocking calls that take a context are in
 * test_context_wait.c. Each case is one behaviour; run `test_context --list`
 * for the names. */
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ================================================================== */
/* helpers                                                             */

/* Value keys: compared by address. */
static int key_a, key_b, key_c, key_tree;

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, res = 0;
    int n = fscanf(f, "%ld %ld", &size, &res);
    fclose(f);
    return n == 2 ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

/* ================================================================== */
/* background and todo                                                 */

static void check_root(goc_ctx *c) {
    CHECK_CTX_NEVER_CANCELED(c);
    int64_t dl = 12345;
    CHECK(!goc_ctx_deadline(c, &dl));
    CHECK(!goc_ctx_deadline(c, NULL));
    CHECK(goc_ctx_value(c, &key_a) == NULL);
    CHECK(goc_ctx_value(c, NULL) == NULL);
}

TEST(background_and_todo_never_canceled) {
    goc_ctx *bg = goc_ctx_background(), *todo = goc_ctx_todo();
    CHECK(bg != NULL && todo != NULL);
    CHECK(bg != todo);
    CHECK_EQ_PTR(goc_ctx_background(), bg);
    CHECK_EQ_PTR(goc_ctx_todo(), todo);
    check_root(bg);
    check_root(todo);
    /* NULL stands for background. */
    check_root(NULL);

    /* cancel on a root does nothing; retain/release on a root do nothing. */
    goc_ctx_cancel(bg);
    goc_ctx_cancel_cause(todo, -EIO);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_PTR(goc_ctx_retain(bg), bg);
        goc_ctx_release(bg);
        goc_ctx_release(bg);
        CHECK_EQ_PTR(goc_ctx_retain(todo), todo);
        goc_ctx_release(todo);
        goc_ctx_release(todo);
    }
    check_root(bg);
    check_root(todo);
}

/* ================================================================== */
/* with_cancel                                                         */

struct done_waiter {
    goc_chan *done;
    goc_chan *woke; /* chan int, cap 1 */
};

static void done_waiter_fn(void *arg) {
    struct done_waiter *w = arg;
    int closed = goc_chan_recv(w->done, NULL) ? 0 : 1;
    goc_chan_send(w->woke, &closed);
}

GTEST(with_cancel_cancel_closes_done) {
    int base = goc_num_goroutine();
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    CHECK(c != NULL);
    CHECK_CTX_LIVE(c);
    CHECK(!goc_ctx_deadline(c, NULL));
    goc_chan *d = goc_ctx_done(c);
    CHECK_EQ_PTR(goc_ctx_done(c), d); /* the same channel every time */

    goc_chan *woke = test_chan_make(sizeof(int), 1);
    TEST_GO_ARGS(done_waiter_fn, struct done_waiter, d, woke);
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(goc_chan_len(woke), 0); /* still waiting */

    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(c), -ECANCELED);
    CHECK_STR_EQ(goc_strerror(goc_ctx_err(c)), "context canceled");
    CHECK_EQ_PTR(goc_ctx_done(c), d);

    int closed = 0;
    CHECK(goc_chan_recv(woke, &closed));
    CHECK_EQ_INT(closed, 1); /* woken by the close, not by a value */

    /* A NULL parent means background. */
    goc_ctx *n = goc_ctx_with_cancel(NULL);
    CHECK(n != NULL);
    CHECK_CTX_LIVE(n);
    goc_ctx_cancel(n);
    CHECK_CTX_DEAD(n, -ECANCELED);

    goc_ctx_release(n);
    goc_ctx_release(c);
    goc_chan_release(woke);
    test_settle_goroutines(base);
}

static void cancel_it(void *arg) { goc_ctx_cancel(arg); }

static atomic_long idem_runs;

GTEST(cancel_is_idempotent) {
    int base = goc_num_goroutine();
    atomic_store(&idem_runs, 0);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *s = goc_ctx_after_func(c, test_count, &idem_runs);
    CHECK(s != NULL);
    goc_ctx_cancel(c);
    goc_ctx_cancel(c);
    goc_ctx_cancel_cause(c, -EIO); /* too late: neither err nor cause change */
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(c), -ECANCELED);

    /* Many goroutines canceling one context at once. */
    goc_ctx *m = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *sm = goc_ctx_after_func(m, test_count, &idem_runs);
    goc_waitgroup wg = {0};
    for (int i = 0; i < 32; i++)
        CHECK_EQ_INT(goc_wg_go(&wg, cancel_it, m), 0);
    goc_ctx_cancel(m);
    CHECK_CTX_DEAD(m, -ECANCELED);
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "32 cancelers");
    CHECK_CTX_DEAD(m, -ECANCELED);

    /* Each AfterFunc ran exactly once. */
    WAIT_UNTIL(atomic_load(&idem_runs) == 2, TEST_PATIENCE_S);
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&idem_runs), 2);
    CHECK(!goc_ctx_stop_after_func(s));
    CHECK(!goc_ctx_stop_after_func(sm));
    goc_ctx_release(c);
    goc_ctx_release(m);
    test_settle_goroutines(base);
}

/* ---- a tree: depth 5 below the root, fanout 4, kinds mixed ---- */

enum { K_CANCEL, K_VALUE, K_TIMEOUT, K_DEADLINE, K_NKINDS };

#define TREE_DEPTH 5
#define TREE_FANOUT 4
#define TREE_NODES (1 + 4 + 16 + 64 + 256 + 1024)

struct tree {
    int n;
    goc_ctx *node[TREE_NODES];
    int parent[TREE_NODES];
    int kind[TREE_NODES];
    int level[TREE_NODES];
};

static goc_ctx *make_child(goc_ctx *p, int kind, int idx) {
    switch (kind) {
    case K_CANCEL:
        return goc_ctx_with_cancel(p);
    case K_VALUE:
        return goc_ctx_with_value(p, &key_tree, (void *)(intptr_t)(idx + 1));
    case K_TIMEOUT:
        return goc_ctx_with_timeout(p, 60 * GOC_MINUTE);
    default:
        return goc_ctx_with_deadline(p, goc_now() + 120 * GOC_MINUTE);
    }
}

static struct tree *tree_build(void) {
    struct tree *t = calloc(1, sizeof *t);
    CHECK(t != NULL);
    t->node[0] = goc_ctx_with_cancel(goc_ctx_background());
    CHECK(t->node[0] != NULL);
    t->parent[0] = -1;
    t->kind[0] = K_CANCEL;
    t->n = 1;
    for (int i = 0; i < t->n; i++) {
        if (t->level[i] == TREE_DEPTH)
            continue;
        for (int f = 0; f < TREE_FANOUT; f++) {
            int j = t->n++;
            CHECK(j < TREE_NODES);
            t->kind[j] = (i + f) % K_NKINDS;
            t->parent[j] = i;
            t->level[j] = t->level[i] + 1;
            t->node[j] = make_child(t->node[i], t->kind[j], j);
            CHECK(t->node[j] != NULL);
        }
    }
    CHECK_EQ_INT(t->n, TREE_NODES);
    return t;
}

static bool tree_is_desc(const struct tree *t, int i, int anc) {
    for (; i >= 0; i = t->parent[i])
        if (i == anc)
            return true;
    return false;
}

static void tree_free(struct tree *t) {
    /* Parents first: children keep their parents alive. */
    for (int i = 0; i < t->n; i++)
        goc_ctx_release(t->node[i]);
    free(t);
}

GTEST(cancel_propagates_to_every_descendant) {
    struct tree *t = tree_build();
    for (int i = 0; i < t->n; i++)
        CHECK_CTX_LIVE(t->node[i]);
    goc_ctx_cancel(t->node[0]);
    /* Right after cancel returns, without waiting: every descendant. */
    for (int i = 0; i < t->n; i++) {
        CHECK_MSG(goc_ctx_err(t->node[i]) == -ECANCELED, "node %d (level %d, kind %d): err %d", i,
                  t->level[i], t->kind[i], goc_ctx_err(t->node[i]));
        CHECK_MSG(test_ctx_done_closed(t->node[i]), "node %d: Done not closed", i);
        CHECK_EQ_INT(goc_ctx_cause(t->node[i]), -ECANCELED);
    }
    /* Values are still there after cancel. */
    for (int i = 0; i < t->n; i++) {
        int j = i;
        while (j >= 0 && t->kind[j] != K_VALUE)
            j = t->parent[j];
        CHECK_EQ_PTR(goc_ctx_value(t->node[i], &key_tree),
                     j < 0 ? NULL : (void *)(intptr_t)(j + 1));
    }
    tree_free(t);
}

GTEST(cancel_child_leaves_parent_and_siblings) {
    struct tree *t = tree_build();
    /* A cancel node at level 2 and a cancel leaf outside its subtree. */
    int x = -1, leaf = -1;
    for (int i = 0; i < t->n && x < 0; i++)
        if (t->level[i] == 2 && t->kind[i] == K_CANCEL)
            x = i;
    CHECK(x > 0);
    for (int i = t->n - 1; i >= 0 && leaf < 0; i--)
        if (t->level[i] == TREE_DEPTH && t->kind[i] == K_CANCEL && !tree_is_desc(t, i, x))
            leaf = i;
    CHECK(leaf > 0);

    goc_ctx_cancel_cause(t->node[x], -EPIPE);
    int dead = 0;
    for (int i = 0; i < t->n; i++) {
        if (tree_is_desc(t, i, x)) {
            CHECK_MSG(goc_ctx_err(t->node[i]) == -ECANCELED, "node %d below %d not canceled", i, x);
            CHECK(test_ctx_done_closed(t->node[i]));
            CHECK_EQ_INT(goc_ctx_cause(t->node[i]), -EPIPE);
            dead++;
        } else {
            CHECK_MSG(goc_ctx_err(t->node[i]) == 0, "node %d outside %d canceled", i, x);
            CHECK(test_ctx_done_open(t->node[i]));
        }
    }
    CHECK_EQ_INT(dead, 1 + 4 + 16 + 64);

    goc_ctx_cancel(t->node[leaf]);
    CHECK_CTX_DEAD(t->node[leaf], -ECANCELED);
    CHECK_CTX_LIVE(t->node[t->parent[leaf]]);
    CHECK_CTX_LIVE(t->node[0]);

    goc_ctx_cancel(t->node[0]);
    for (int i = 0; i < t->n; i++)
        CHECK(test_ctx_done_closed(t->node[i]));
    /* The subtree canceled first keeps its own cause. */
    CHECK_EQ_INT(goc_ctx_cause(t->node[x]), -EPIPE);
    CHECK_EQ_INT(goc_ctx_cause(t->node[0]), -ECANCELED);
    tree_free(t);
}

/* When cancel(x) returns, x's subtree is canceled, even when another
 * goroutine is canceling x's ancestor at that same moment (Go's cancel
 * holds each context's lock while it cancels its children, so a
 * concurrent cancel of x waits for that to finish). */
struct race_cancel {
    goc_chan *start;
    goc_ctx *ctx;
    goc_ctx **kids;
    int nkids;
    atomic_int *missed;
    goc_waitgroup *wg;
};

static void race_cancel_fn(void *arg) {
    struct race_cancel *r = arg;
    goc_chan_recv(r->start, NULL);
    goc_ctx_cancel(r->ctx);
    if (r->kids) {
        int missed = 0;
        for (int i = 0; i < r->nkids; i++)
            if (goc_ctx_err(r->kids[i]) == 0)
                missed++;
        atomic_fetch_add(r->missed, missed);
    }
    goc_wg_done(r->wg);
}

GTEST(cancel_returns_after_subtree_canceled_under_concurrent_cancel) {
    int rounds = TEST_SCALE(200, 30);
    int nkids = 2000;
    goc_ctx **kids = calloc((size_t)nkids, sizeof *kids);
    CHECK(kids != NULL);
    atomic_int missed = 0;
    int bad_rounds = 0;
    for (int r = 0; r < rounds; r++) {
        goc_ctx *root = goc_ctx_with_cancel(NULL);
        goc_ctx *mid = goc_ctx_with_cancel(root);
        for (int i = 0; i < nkids; i++)
            kids[i] = goc_ctx_with_cancel(mid);
        goc_chan *start = test_chan_make(0, 0);
        goc_waitgroup wg = {0};
        goc_wg_add(&wg, 2);
        atomic_store(&missed, 0);
        TEST_GO_ARGS(race_cancel_fn, struct race_cancel, start, root, NULL, 0, &missed, &wg);
        TEST_GO_ARGS(race_cancel_fn, struct race_cancel, start, mid, kids, nkids, &missed, &wg);
        goc_chan_close(start);
        test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "two cancelers");
        if (atomic_load(&missed) > 0)
            bad_rounds++;
        for (int i = 0; i < nkids; i++) {
            CHECK_CTX_DEAD(kids[i], -ECANCELED);
            goc_ctx_release(kids[i]);
        }
        goc_ctx_release(mid);
        goc_ctx_release(root);
        goc_chan_release(start);
        if (bad_rounds)
            FAIL("round %d: cancel(mid) returned with %d of mid's %d children not yet canceled "
                 "(a cancel of the root was propagating at the same time)",
                 r, atomic_load(&missed), nkids);
    }
    free(kids);
}

/* A long chain (Go programs that re-wrap ctx in a loop build these):
 * cancel at the top reaches the bottom, and releasing the bottom last
 * frees the whole chain. Go's goroutine stacks grow; here the chain must
 * not need stack in proportion to its length. */
static int deep_chain_main(void *arg) {
    (void)arg;
    int depth = 10000;
    goc_ctx **c = calloc((size_t)depth, sizeof *c);
    CHECK(c != NULL);
    goc_ctx *p = NULL;
    for (int i = 0; i < depth; i++) {
        p = c[i] = i % 2 ? goc_ctx_with_value(p, &key_a, (void *)(intptr_t)(i + 1))
                         : goc_ctx_with_cancel(p);
        CHECK(p != NULL);
    }
    CHECK_EQ_PTR(goc_ctx_value(c[depth - 1], &key_a), (void *)(intptr_t)depth);
    CHECK_CTX_LIVE(c[depth - 1]);
    goc_ctx_cancel(c[0]);
    CHECK_CTX_DEAD(c[depth - 1], -ECANCELED);
    CHECK_CTX_DEAD(c[depth / 2], -ECANCELED);
    /* Everyone but the bottom lets go first; the bottom's release then
     * frees the chain. */
    for (int i = 0; i < depth - 1; i++)
        goc_ctx_release(c[i]);
    goc_ctx_release(c[depth - 1]);

    /* Not canceled first: the bottom's release cancels and frees it all. */
    p = NULL;
    for (int i = 0; i < depth; i++)
        p = c[i] = i % 2 ? goc_ctx_with_cancel(p) : goc_ctx_with_value(p, &key_b, NULL);
    for (int i = 0; i < depth - 1; i++)
        goc_ctx_release(c[i]);
    goc_ctx_release(c[depth - 1]);
    free(c);
    fprintf(stderr, "deep chain ok\n");
    return 0;
}

/* In a child process: a stack overflow is a fatal error (and under TSan
 * it can hang), so bound it and report it as such. */
CHILD(deep_chain) { CHECK_EQ_INT(goc_run(deep_chain_main, NULL), 0); }

TEST(deep_chain_cancel_and_release) {
    struct child_opts o = {.expect = 0, .regex = {"^deep chain ok$"}, .timeout_s = 60};
    free(expect_child_opts("deep_chain", &o));
}

/* ================================================================== */
/* deadlines and timeouts                                              */

GTEST(deadline_in_past_starts_timed_out) {
    int64_t past = goc_now() - GOC_SECOND;
    goc_ctx *c = goc_ctx_with_deadline(goc_ctx_background(), past);
    CHECK(c != NULL);
    CHECK_CTX_DEAD(c, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(c), -ETIMEDOUT);
    CHECK_STR_EQ(goc_strerror(goc_ctx_err(c)), "context deadline exceeded");
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(c, &dl));
    CHECK_EQ_INT(dl, past);
    /* cancel afterwards changes nothing. */
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ETIMEDOUT);

    goc_ctx *n = goc_ctx_with_timeout(NULL, -5 * GOC_SECOND);
    CHECK(n != NULL);
    CHECK_CTX_DEAD(n, -ETIMEDOUT);
    goc_ctx_release(n);
    goc_ctx_release(c);
}

GTEST(deadline_now_starts_timed_out) {
    goc_ctx *c = goc_ctx_with_deadline(NULL, goc_now());
    CHECK(c != NULL);
    CHECK_CTX_DEAD(c, -ETIMEDOUT);
    goc_ctx *z = goc_ctx_with_timeout(NULL, 0);
    CHECK(z != NULL);
    CHECK_CTX_DEAD(z, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(z), -ETIMEDOUT);
    goc_ctx_release(z);
    goc_ctx_release(c);
}

/* Go 1.21's WithTimeoutCause / WithDeadlineCause: Err is the deadline's,
 * Cause the caller's. */
GTEST(timeout_cause_and_deadline_cause) {
    goc_ctx *t = goc_ctx_with_timeout_cause(NULL, 5 * GOC_MILLISECOND, -EHOSTUNREACH);
    CHECK(t != NULL);
    CHECK(!goc_chan_recv(goc_ctx_done(t), NULL));
    CHECK_EQ_INT(goc_ctx_err(t), -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(t), -EHOSTUNREACH);

    goc_ctx *d = goc_ctx_with_deadline_cause(NULL, goc_now() - GOC_SECOND, -ENOLINK);
    CHECK_CTX_DEAD(d, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(d), -ENOLINK);

    /* Cancelled before the deadline: the cancel's cause, not the deadline's. */
    goc_ctx *c = goc_ctx_with_timeout_cause(NULL, GOC_MINUTE, -EHOSTUNREACH);
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(c), -ECANCELED);

    /* Cause 0: the cause is the error. */
    goc_ctx *z = goc_ctx_with_timeout_cause(NULL, 0, 0);
    CHECK_EQ_INT(goc_ctx_cause(z), -ETIMEDOUT);
    goc_ctx_release(z);
    goc_ctx_release(c);
    goc_ctx_release(d);
    goc_ctx_release(t);
}

/* A deadline computed from extreme values never overflows: INT64_MIN and
 * timeouts far in the past have passed, INT64_MAX is "never". */
GTEST(extreme_deadlines_do_not_overflow) {
    goc_ctx *a = goc_ctx_with_deadline(NULL, INT64_MIN);
    CHECK_CTX_DEAD(a, -ETIMEDOUT);
    goc_ctx *b = goc_ctx_with_timeout(NULL, INT64_MIN);
    CHECK_CTX_DEAD(b, -ETIMEDOUT);
    goc_ctx *c = goc_ctx_with_timeout(NULL, INT64_MAX);
    CHECK_EQ_INT(goc_ctx_err(c), 0);
    int64_t dl = 0;
    if (goc_ctx_deadline(c, &dl))
        CHECK(dl > goc_now() + 100LL * 365 * 24 * 3600 * GOC_SECOND);
    goc_ctx *e = goc_ctx_with_timeout_cause(NULL, INT64_MIN, -EIO);
    CHECK_CTX_DEAD(e, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(e), -EIO);
    goc_ctx_release(e);
    goc_ctx_release(c);
    goc_ctx_release(b);
    goc_ctx_release(a);
}

struct deadline_waiter {
    goc_ctx *ctx;
    atomic_int *early;
    goc_waitgroup *wg;
};

static void deadline_waiter_fn(void *arg) {
    struct deadline_waiter *w = arg;
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(w->ctx, &dl));
    CHECK(!goc_chan_recv(goc_ctx_done(w->ctx), NULL));
    if (goc_now() < dl)
        atomic_fetch_add(w->early, 1);
    CHECK_EQ_INT(goc_ctx_err(w->ctx), -ETIMEDOUT);
    goc_wg_done(w->wg);
}

GTEST(timeout_fires_never_early) {
    int base = goc_num_goroutine();
    int64_t t0 = goc_now();
    goc_ctx *c = goc_ctx_with_timeout(NULL, 50 * GOC_MILLISECOND);
    int64_t t1 = goc_now();
    CHECK(c != NULL);
    CHECK_EQ_INT(goc_ctx_err(c), 0);
    CHECK(test_ctx_done_open(c));
    int64_t dl = 0;
    CHECK(goc_ctx_deadline(c, &dl));
    CHECK_GE_INT(dl, t0 + 50 * GOC_MILLISECOND);
    CHECK_LE_INT(dl, t1 + 50 * GOC_MILLISECOND);
    CHECK(!goc_chan_recv(goc_ctx_done(c), NULL));
    CHECK_GE_INT(goc_now(), dl);
    CHECK_CTX_DEAD(c, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(c), -ETIMEDOUT);
    CHECK_STR_EQ(goc_strerror(goc_ctx_err(c)), "context deadline exceeded");
    goc_ctx_release(c);

    /* Many deadlines, each waited for by its own goroutine. */
    enum { N = 40 };
    goc_ctx *cs[N];
    atomic_int early = 0;
    goc_waitgroup wg = {0};
    int64_t now = goc_now();
    for (int i = 0; i < N; i++) {
        cs[i] = goc_ctx_with_deadline(NULL, now + (5 + (i * 7) % 40) * GOC_MILLISECOND);
        CHECK(cs[i] != NULL);
        goc_wg_add(&wg, 1);
        TEST_GO_ARGS(deadline_waiter_fn, struct deadline_waiter, cs[i], &early, &wg);
    }
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "deadline waiters");
    CHECK_EQ_INT(atomic_load(&early), 0);
    for (int i = 0; i < N; i++) {
        CHECK_CTX_DEAD(cs[i], -ETIMEDOUT);
        goc_ctx_release(cs[i]);
    }
    test_settle_goroutines(base);
}

GTEST(child_deadline_capped_by_parent) {
    goc_ctx *p = goc_ctx_with_timeout(NULL, 80 * GOC_MILLISECOND);
    int64_t pd = 0, cd = 0, d2 = 0, ed = 0, vd = 0;
    CHECK(goc_ctx_deadline(p, &pd));

    goc_ctx *c = goc_ctx_with_timeout(p, 10 * GOC_SECOND); /* later: capped */
    CHECK(goc_ctx_deadline(c, &cd));
    CHECK_EQ_INT(cd, pd);
    goc_ctx *c2 = goc_ctx_with_deadline(p, pd + 1);
    CHECK(goc_ctx_deadline(c2, &d2));
    CHECK_EQ_INT(d2, pd);
    goc_ctx *v = goc_ctx_with_value(c, &key_a, &key_a);
    CHECK(goc_ctx_deadline(v, &vd));
    CHECK_EQ_INT(vd, pd);
    goc_ctx *w = goc_ctx_without_cancel(c);
    CHECK(!goc_ctx_deadline(w, NULL));

    goc_ctx *e = goc_ctx_with_timeout(p, 10 * GOC_MILLISECOND); /* earlier: its own */
    CHECK(goc_ctx_deadline(e, &ed));
    CHECK_LT_INT(ed, pd);

    CHECK(!goc_chan_recv(goc_ctx_done(e), NULL));
    CHECK_CTX_DEAD(e, -ETIMEDOUT);
    CHECK_GE_INT(goc_now(), ed);
    if (goc_now() < pd - 40 * GOC_MILLISECOND) {
        CHECK_CTX_LIVE(p);
        CHECK_CTX_LIVE(c);
    }

    CHECK(!goc_chan_recv(goc_ctx_done(c), NULL));
    CHECK_GE_INT(goc_now(), pd);
    CHECK_CTX_DEAD(c, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(c), -ETIMEDOUT);
    CHECK_CTX_DEAD(p, -ETIMEDOUT);
    CHECK_CTX_DEAD(c2, -ETIMEDOUT);
    CHECK_CTX_DEAD(v, -ETIMEDOUT);
    CHECK_CTX_NEVER_CANCELED(w);

    goc_ctx_release(w);
    goc_ctx_release(v);
    goc_ctx_release(e);
    goc_ctx_release(c2);
    goc_ctx_release(c);
    goc_ctx_release(p);
}

GTEST(child_of_canceled_parent_starts_canceled) {
    int base = goc_num_goroutine();
    goc_ctx *p = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel_cause(p, -EPIPE);

    goc_ctx *c = goc_ctx_with_cancel(p);
    CHECK_CTX_DEAD(c, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(c), -EPIPE);
    goc_ctx *t = goc_ctx_with_timeout(p, 60 * GOC_MINUTE);
    CHECK_CTX_DEAD(t, -ECANCELED); /* the parent's error, not a timeout */
    CHECK_EQ_INT(goc_ctx_cause(t), -EPIPE);
    CHECK(goc_ctx_deadline(t, NULL));
    goc_ctx *v = goc_ctx_with_value(p, &key_a, NULL);
    CHECK_CTX_DEAD(v, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(v), -EPIPE);
    goc_ctx *gc = goc_ctx_with_cancel(v);
    CHECK_CTX_DEAD(gc, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(gc), -EPIPE);

    /* A child of a timed-out parent starts timed out. */
    goc_ctx *tp = goc_ctx_with_deadline(NULL, goc_now() - 1);
    goc_ctx *tc = goc_ctx_with_cancel(tp);
    CHECK_CTX_DEAD(tc, -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(tc), -ETIMEDOUT);
    goc_ctx *tt = goc_ctx_with_timeout(tp, GOC_SECOND);
    CHECK_CTX_DEAD(tt, -ETIMEDOUT);

    goc_ctx *all[] = {tt, tc, tp, gc, v, t, c, p};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
    test_settle_goroutines(base);
}

/* ================================================================== */
/* causes                                                              */

GTEST(cancel_cause_first_cause_wins) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *kid = goc_ctx_with_cancel(c);
    goc_ctx *v = goc_ctx_with_value(kid, &key_a, &key_a);
    goc_ctx *t = goc_ctx_with_timeout(v, 60 * GOC_MINUTE);
    goc_ctx *own = goc_ctx_with_cancel(c); /* canceled first, with its own cause */
    goc_ctx_cancel_cause(own, -EIO);
    CHECK_EQ_INT(goc_ctx_cause(c), 0);
    CHECK_EQ_INT(goc_ctx_cause(kid), 0);

    goc_ctx_cancel_cause(c, -EPIPE);
    goc_ctx_cancel_cause(c, -EIO);
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ECANCELED); /* Err stays Go's Canceled */
    CHECK_EQ_INT(goc_ctx_cause(c), -EPIPE);
    CHECK_EQ_INT(goc_ctx_cause(kid), -EPIPE);
    CHECK_EQ_INT(goc_ctx_cause(v), -EPIPE);
    CHECK_EQ_INT(goc_ctx_cause(t), -EPIPE);
    CHECK_CTX_DEAD(t, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(own), -EIO);

    /* A context derived later inherits the cause too. */
    goc_ctx *late = goc_ctx_with_cancel(kid);
    CHECK_EQ_INT(goc_ctx_cause(late), -EPIPE);

    goc_ctx *all[] = {late, own, t, v, kid, c};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
}

GTEST(cause_equals_err_without_cause) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *v = goc_ctx_with_value(c, &key_a, &key_a);
    CHECK_EQ_INT(goc_ctx_cause(c), 0); /* not canceled */
    CHECK_EQ_INT(goc_ctx_cause(v), 0);
    goc_ctx_cancel(c);
    CHECK_EQ_INT(goc_ctx_cause(c), -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(v), -ECANCELED);

    goc_ctx *z = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel_cause(z, 0); /* cause 0 means -ECANCELED */
    CHECK_CTX_DEAD(z, -ECANCELED);
    CHECK_EQ_INT(goc_ctx_cause(z), -ECANCELED);

    goc_ctx *t = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    goc_ctx *tk = goc_ctx_with_cancel(t);
    CHECK_EQ_INT(goc_ctx_cause(tk), 0);
    CHECK(!goc_chan_recv(goc_ctx_done(tk), NULL));
    CHECK_EQ_INT(goc_ctx_cause(t), -ETIMEDOUT);
    CHECK_EQ_INT(goc_ctx_cause(tk), -ETIMEDOUT);
    CHECK_CTX_DEAD(tk, -ETIMEDOUT);

    goc_ctx *all[] = {tk, t, z, v, c};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
}

/* ================================================================== */
/* values                                                              */

static int val_1, val_2, val_3;

TEST(value_lookup_walks_to_root) {
    goc_ctx *v1 = goc_ctx_with_value(NULL, &key_a, &val_1);
    goc_ctx *c1 = goc_ctx_with_cancel(v1);
    goc_ctx *v2 = goc_ctx_with_value(c1, &key_b, &val_2);
    goc_ctx *t1 = goc_ctx_with_timeout(v2, 60 * GOC_MINUTE);
    goc_ctx *w1 = goc_ctx_without_cancel(t1);
    goc_ctx *v3 = goc_ctx_with_value(w1, &key_c, &val_3);
    goc_ctx *c2 = goc_ctx_with_cancel(v3);
    CHECK_EQ_PTR(goc_ctx_value(c2, &key_a), &val_1);
    CHECK_EQ_PTR(goc_ctx_value(c2, &key_b), &val_2);
    CHECK_EQ_PTR(goc_ctx_value(c2, &key_c), &val_3);
    CHECK_EQ_PTR(goc_ctx_value(v3, &key_a), &val_1);
    CHECK_EQ_PTR(goc_ctx_value(t1, &key_b), &val_2);
    CHECK_EQ_PTR(goc_ctx_value(t1, &key_c), NULL); /* below, not above */
    CHECK_EQ_PTR(goc_ctx_value(v1, &key_a), &val_1);
    CHECK_EQ_PTR(goc_ctx_value(v1, &key_b), NULL);
    /* Values survive cancellation. */
    goc_ctx_cancel(c1);
    CHECK_EQ_PTR(goc_ctx_value(c2, &key_a), &val_1);
    CHECK_EQ_PTR(goc_ctx_value(t1, &key_b), &val_2);
    goc_ctx *all[] = {c2, v3, w1, t1, v2, c1, v1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
}

TEST(value_nearest_binding_wins) {
    goc_ctx *v1 = goc_ctx_with_value(NULL, &key_a, &val_1);
    goc_ctx *v2 = goc_ctx_with_value(v1, &key_a, &val_2);
    goc_ctx *v3 = goc_ctx_with_value(v2, &key_b, &val_3);
    goc_ctx *c = goc_ctx_with_cancel(v3);
    goc_ctx *vn = goc_ctx_with_value(c, &key_a, NULL); /* shadows with NULL */
    CHECK_EQ_PTR(goc_ctx_value(v3, &key_a), &val_2);
    CHECK_EQ_PTR(goc_ctx_value(c, &key_a), &val_2);
    CHECK_EQ_PTR(goc_ctx_value(v2, &key_a), &val_2);
    CHECK_EQ_PTR(goc_ctx_value(v1, &key_a), &val_1);
    CHECK_EQ_PTR(goc_ctx_value(vn, &key_a), NULL);
    CHECK_EQ_PTR(goc_ctx_value(vn, &key_b), &val_3);
    goc_ctx *all[] = {vn, c, v3, v2, v1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
}

TEST(value_missing_key_is_null) {
    goc_ctx *v = goc_ctx_with_value(NULL, &key_a, &val_1);
    goc_ctx *c = goc_ctx_with_cancel(v);
    CHECK(goc_ctx_value(c, &key_b) == NULL);
    CHECK(goc_ctx_value(c, &val_1) == NULL); /* a value is no key */
    CHECK(goc_ctx_value(c, NULL) == NULL);
    CHECK(goc_ctx_value(goc_ctx_background(), &key_a) == NULL);
    CHECK(goc_ctx_value(NULL, &key_a) == NULL);
    /* Keys are compared by address, not by what they point to. */
    static int same1 = 7, same2 = 7;
    goc_ctx *k = goc_ctx_with_value(c, &same1, &val_2);
    CHECK_EQ_PTR(goc_ctx_value(k, &same1), &val_2);
    CHECK(goc_ctx_value(k, &same2) == NULL);
    goc_ctx_release(k);
    goc_ctx_release(c);
    goc_ctx_release(v);
}

/* A value context follows its parent's cancellation and shares its Done. */
TEST(value_ctx_follows_parent_cancellation) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *v = goc_ctx_with_value(c, &key_a, &val_1);
    CHECK_EQ_PTR(goc_ctx_done(v), goc_ctx_done(c));
    CHECK_CTX_LIVE(v);
    goc_ctx_cancel(v); /* a value context cannot be canceled itself */
    CHECK_CTX_LIVE(v);
    CHECK_CTX_LIVE(c);
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(v, -ECANCELED);
    goc_ctx *bv = goc_ctx_with_value(NULL, &key_a, &val_1);
    CHECK_CTX_NEVER_CANCELED(bv);
    CHECK(!goc_ctx_deadline(bv, NULL));
    goc_ctx_release(bv);
    goc_ctx_release(v);
    goc_ctx_release(c);
}

static int nil_key_main(void *arg) {
    (void)arg;
    goc_ctx_with_value(goc_ctx_background(), NULL, &val_1);
    return 0;
}

CHILD(nil_key_in_goroutine) {
    test_run_main(nil_key_main);
    exit(3);
}

CHILD(nil_key_on_plain_thread) {
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_with_value(c, NULL, NULL);
    fprintf(stderr, "not reached\n");
    exit(3);
}

TEST(value_nil_key_panics) {
    struct child_opts o = {
        .expect = -SIGABRT,
        .regex = {"^panic: nil key$", "^goroutine [0-9]+ \\[running\\]:"},
    };
    free(expect_child_opts("nil_key_in_goroutine", &o));
    expect_child("nil_key_on_plain_thread", -SIGABRT, "^panic: nil key$");
}

/* ================================================================== */
/* without_cancel                                                      */

GTEST(without_cancel_keeps_values_drops_cancellation) {
    goc_ctx *base = goc_ctx_with_timeout(NULL, 60 * GOC_MINUTE);
    goc_ctx *p = goc_ctx_with_value(base, &key_a, &val_1);
    goc_ctx *w_live = goc_ctx_without_cancel(p); /* made before the cancel */
    goc_ctx_cancel_cause(base, -EPIPE);
    CHECK_CTX_DEAD(p, -ECANCELED);

    goc_ctx *w = goc_ctx_without_cancel(p); /* made after it */
    goc_ctx *ws[] = {w, w_live};
    for (int i = 0; i < 2; i++) {
        CHECK_CTX_NEVER_CANCELED(ws[i]);
        CHECK(!goc_ctx_deadline(ws[i], NULL));
        CHECK_EQ_PTR(goc_ctx_value(ws[i], &key_a), &val_1);
        goc_ctx_cancel(ws[i]); /* does nothing */
        CHECK_CTX_NEVER_CANCELED(ws[i]);
    }

    /* Children of w are cancelable on their own, not by p. */
    goc_ctx *c = goc_ctx_with_cancel(w);
    CHECK_CTX_LIVE(c);
    CHECK(!goc_ctx_deadline(c, NULL));
    CHECK_EQ_PTR(goc_ctx_value(c, &key_a), &val_1);
    goc_ctx *t = goc_ctx_with_timeout(w_live, 20 * GOC_MILLISECOND);
    CHECK_CTX_LIVE(t);
    CHECK(!goc_chan_recv(goc_ctx_done(t), NULL));
    CHECK_CTX_DEAD(t, -ETIMEDOUT);
    CHECK_CTX_LIVE(c);
    goc_ctx_cancel(c);
    CHECK_CTX_DEAD(c, -ECANCELED);
    CHECK_CTX_NEVER_CANCELED(w);

    goc_ctx *all[] = {t, c, w, w_live, p, base};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
}

/* ================================================================== */
/* AfterFunc                                                           */

struct af_rec {
    atomic_int runs;
    _Atomic uint64_t id;
    goc_chan *ran;  /* chan struct{}, large buffer */
    goc_chan *gate; /* if set: fn waits for it to close */
};

static void af_fn(void *arg) {
    struct af_rec *r = arg;
    atomic_store(&r->id, goc_id());
    atomic_fetch_add(&r->runs, 1);
    if (r->ran)
        goc_chan_send(r->ran, NULL);
    if (r->gate)
        goc_chan_recv(r->gate, NULL);
}

GTEST(after_func_runs_once_in_own_goroutine_after_cancel) {
    int base = goc_num_goroutine();
    struct af_rec r = {.ran = test_chan_make(0, 16)};
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    CHECK(s != NULL);
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&r.runs), 0);
    CHECK_EQ_INT(goc_num_goroutine(), base);

    goc_ctx_cancel(c);
    CHECK(goc_chan_recv(r.ran, NULL));
    CHECK_EQ_INT(atomic_load(&r.runs), 1);
    uint64_t id = atomic_load(&r.id);
    CHECK(id != 0);
    CHECK(id != goc_id());

    goc_ctx_cancel(c);
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&r.runs), 1);
    CHECK(!goc_ctx_stop_after_func(s));
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(r.ran);
}

/* Several registrations, through value and cancel children: each runs
 * once, each in a goroutine of its own. */
GTEST(after_func_every_registration_runs) {
    int base = goc_num_goroutine();
    enum { N = 12 };
    struct af_rec r[N];
    goc_ctx_stop *s[N];
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx *v = goc_ctx_with_value(c, &key_a, &val_1);
    goc_ctx *k = goc_ctx_with_cancel(v);
    goc_ctx *on[3] = {c, v, k};
    for (int i = 0; i < N; i++) {
        r[i] = (struct af_rec){.ran = test_chan_make(0, 1)};
        s[i] = goc_ctx_after_func(on[i % 3], af_fn, &r[i]);
        CHECK(s[i] != NULL);
    }
    goc_ctx_cancel(c);
    for (int i = 0; i < N; i++)
        CHECK(goc_chan_recv(r[i].ran, NULL));
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(atomic_load(&r[i].runs), 1);
        CHECK(atomic_load(&r[i].id) != goc_id());
        for (int j = 0; j < i; j++)
            CHECK(atomic_load(&r[i].id) != atomic_load(&r[j].id));
        CHECK(!goc_ctx_stop_after_func(s[i]));
        goc_chan_release(r[i].ran);
    }
    goc_ctx_release(k);
    goc_ctx_release(v);
    goc_ctx_release(c);
    test_settle_goroutines(base);
}

GTEST(after_func_runs_at_once_if_already_canceled) {
    int base = goc_num_goroutine();
    struct af_rec r = {.ran = test_chan_make(0, 4)};
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(c);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    CHECK(s != NULL);
    CHECK(goc_chan_recv(r.ran, NULL));
    CHECK_EQ_INT(atomic_load(&r.runs), 1);
    CHECK(atomic_load(&r.id) != goc_id());
    CHECK(!goc_ctx_stop_after_func(s));

    /* Also through a value child of a timed-out context. */
    struct af_rec r2 = {.ran = test_chan_make(0, 4)};
    goc_ctx *t = goc_ctx_with_deadline(NULL, goc_now() - 1);
    goc_ctx *v = goc_ctx_with_value(t, &key_a, NULL);
    goc_ctx_stop *s2 = goc_ctx_after_func(v, af_fn, &r2);
    CHECK(goc_chan_recv(r2.ran, NULL));
    CHECK(!goc_ctx_stop_after_func(s2));
    goc_sleep(10 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&r.runs), 1);
    CHECK_EQ_INT(atomic_load(&r2.runs), 1);

    goc_ctx_release(v);
    goc_ctx_release(t);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    goc_chan_release(r.ran);
    goc_chan_release(r2.ran);
}

GTEST(after_func_stop_before_cancel_prevents_call) {
    int base = goc_num_goroutine();
    struct af_rec r = {0};
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    CHECK(goc_ctx_stop_after_func(s)); /* true: it prevented the call */
    goc_ctx_cancel(c);
    goc_sleep(30 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&r.runs), 0);

    /* Same on a timeout that then fires. */
    goc_ctx *t = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    goc_ctx_stop *st = goc_ctx_after_func(t, af_fn, &r);
    CHECK(goc_ctx_stop_after_func(st));
    CHECK(!goc_chan_recv(goc_ctx_done(t), NULL));
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&r.runs), 0);
    CHECK_EQ_INT(goc_num_goroutine(), base);
    goc_ctx_release(t);
    goc_ctx_release(c);
}

GTEST(after_func_stop_after_run_returns_false) {
    int base = goc_num_goroutine();
    struct af_rec r = {.ran = test_chan_make(0, 4)};
    goc_ctx *c = goc_ctx_with_timeout(NULL, 5 * GOC_MILLISECOND);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    CHECK(goc_chan_recv(r.ran, NULL)); /* ran on the timeout */
    CHECK(!goc_ctx_stop_after_func(s));
    CHECK_EQ_INT(atomic_load(&r.runs), 1);

    /* Stop while fn is still running: it was started, so false. */
    struct af_rec g = {.ran = test_chan_make(0, 4), .gate = test_chan_make(0, 0)};
    goc_ctx *k = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *sk = goc_ctx_after_func(k, af_fn, &g);
    goc_ctx_cancel(k);
    CHECK(goc_chan_recv(g.ran, NULL)); /* fn is inside, waiting on the gate */
    CHECK(!goc_ctx_stop_after_func(sk));
    goc_chan_close(g.gate);
    goc_ctx_release(k);
    goc_ctx_release(c);
    test_settle_goroutines(base);
    CHECK_EQ_INT(atomic_load(&g.runs), 1);
    goc_chan_release(r.ran);
    goc_chan_release(g.ran);
    goc_chan_release(g.gate);
}

/* Stop twice (Go's stop func may be called any number of times): true at
 * most once, false after, never touching a later registration that reused
 * the handle's memory. */
GTEST(after_func_stop_twice_is_safe) {
    struct af_rec r = {0};
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    CHECK(goc_ctx_stop_after_func(s));
    CHECK(!goc_ctx_stop_after_func(s));
    /* A new registration reuses the freed slot: the old handle must not
     * stop it. */
    goc_ctx_stop *s2 = goc_ctx_after_func(c, af_fn, &r);
    CHECK(!goc_ctx_stop_after_func(s));
    CHECK(s2 != s);
    goc_ctx_cancel(c);
    WAIT_FOR(atomic_load(&r.runs) == 1, TEST_PATIENCE_S);
    CHECK(!goc_ctx_stop_after_func(s2));
    CHECK(!goc_ctx_stop_after_func(s2));
    /* Many handles, each stopped twice, on a context not canceled (on c,
     * canceled, each fn would start at once). */
    goc_ctx *d = goc_ctx_with_cancel(NULL);
    for (int i = 0; i < 10000; i++) {
        goc_ctx_stop *h = goc_ctx_after_func(d, af_fn, &r);
        CHECK(goc_ctx_stop_after_func(h));
        CHECK(!goc_ctx_stop_after_func(h));
    }
    goc_ctx_release(d);
    CHECK_EQ_INT(atomic_load(&r.runs), 1);
    goc_ctx_release(c);
}

/* Go: for a context that can never be canceled, stop() still reports that
 * it prevented the call (the function had not been started), and the
 * function never runs. */
GTEST(after_func_on_never_canceled_ctx) {
    int base = goc_num_goroutine();
    struct af_rec r = {0};
    goc_ctx *v = goc_ctx_with_value(NULL, &key_a, NULL);
    goc_ctx *w = goc_ctx_without_cancel(v);
    goc_ctx *on[] = {goc_ctx_background(), goc_ctx_todo(), w};
    for (int i = 0; i < 3; i++) {
        goc_ctx_stop *s = goc_ctx_after_func(on[i], af_fn, &r);
        CHECK(s != NULL);
        goc_sleep(5 * GOC_MILLISECOND);
        CHECK_EQ_INT(atomic_load(&r.runs), 0);
        CHECK_MSG(goc_ctx_stop_after_func(s),
                  "stop returned false for a never-canceled context (ctx %d): "
                  "Go's stop returns true, fn had not been started",
                  i);
    }
    CHECK_EQ_INT(atomic_load(&r.runs), 0);
    CHECK_EQ_INT(goc_num_goroutine(), base);
    goc_ctx_release(w);
    goc_ctx_release(v);
}

/* The last release cancels: a registered AfterFunc runs, and the handle
 * can still be stopped after the context is gone. */
GTEST(after_func_runs_on_last_release) {
    int base = goc_num_goroutine();
    struct af_rec r = {.ran = test_chan_make(0, 4)};
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_stop *s = goc_ctx_after_func(c, af_fn, &r);
    goc_ctx_release(c);
    CHECK(goc_chan_recv(r.ran, NULL));
    CHECK(!goc_ctx_stop_after_func(s));

    goc_ctx *t = goc_ctx_with_timeout(NULL, 60 * GOC_MINUTE);
    goc_ctx_stop *st = goc_ctx_after_func(t, af_fn, &r);
    goc_ctx_release(t);
    CHECK(goc_chan_recv(r.ran, NULL));
    CHECK(!goc_ctx_stop_after_func(st));
    CHECK_EQ_INT(atomic_load(&r.runs), 2);
    test_settle_goroutines(base);
    goc_chan_release(r.ran);
}

/* ================================================================== */
/* reference counts and release                                        */

GTEST(release_last_ref_cancels_and_wakes_waiter) {
    int base = goc_num_goroutine();
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_chan *d = goc_chan_retain(goc_ctx_done(c)); /* the waiter's own reference */
    goc_chan *woke = test_chan_make(sizeof(int), 1);
    TEST_GO_ARGS(done_waiter_fn, struct done_waiter, d, woke);

    CHECK_EQ_PTR(goc_ctx_retain(c), c);
    goc_ctx_release(c); /* not the last */
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_CTX_LIVE(c);
    CHECK_EQ_INT(goc_chan_len(woke), 0);

    goc_ctx_release(c); /* the last: cancels */
    int closed = 0;
    CHECK(goc_chan_recv(woke, &closed));
    CHECK_EQ_INT(closed, 1);
    goc_chan_release(woke);
    goc_chan_release(d);

    /* A timeout context released early: its timer goes, nothing fires. */
    goc_ctx *t = goc_ctx_with_timeout(NULL, 30 * GOC_MILLISECOND);
    goc_chan *td = goc_chan_retain(goc_ctx_done(t));
    goc_ctx_release(t);
    CHECK(!goc_chan_recv(td, NULL));
    goc_chan_release(td);
    goc_sleep(50 * GOC_MILLISECOND);
    test_settle_goroutines(base);
}

/* A goroutine that holds no reference cancels a context whose only holder
 * waits on Done and releases it the moment Done closes (as a server's
 * shutdown trigger does): the cancel must not touch the context after that
 * release frees it (the race and ASan builds check each access), at one
 * processor and with the two goroutines on two threads. */
enum { BORROW_ROUNDS = TEST_SCALE(3000, 600) };

static void borrowed_cancel_fn(void *arg) { goc_ctx_cancel(arg); }

GTEST(cancel_by_non_holder_while_holder_releases_on_done) {
    int base = goc_num_goroutine();
    for (int i = 0; i < BORROW_ROUNDS; i++) {
        goc_ctx *parent = i % 2 ? goc_ctx_with_cancel(NULL) : NULL;
        goc_ctx *c = goc_ctx_with_cancel(parent);
        CHECK(c != NULL);
        TEST_GO(borrowed_cancel_fn, c);
        CHECK(!goc_chan_recv(goc_ctx_done(c), NULL));
        CHECK_EQ_INT(goc_ctx_err(c), -ECANCELED);
        goc_ctx_release(c);
        CHECK_EQ_INT(goc_ctx_err(parent), 0);
        goc_ctx_release(parent);
    }
    test_settle_goroutines(base);
}

/* A child holds a reference on its parent: releasing the parent's handle
 * first keeps the parent alive (and not canceled) until the child goes. */
GTEST(release_parent_before_child) {
    goc_ctx *p = goc_ctx_with_cancel(NULL);
    goc_ctx *v = goc_ctx_with_value(p, &key_a, &val_1);
    goc_ctx *c = goc_ctx_with_cancel(v);
    goc_chan *pd = goc_chan_retain(goc_ctx_done(p));
    goc_ctx_release(p);
    goc_ctx_release(v);
    CHECK_CTX_LIVE(c);
    CHECK_EQ_PTR(goc_ctx_value(c, &key_a), &val_1);
    CHECK_EQ_INT(test_try_recv(pd, NULL), -1); /* p not canceled */

    goc_ctx_release(c); /* frees c, then v, then p (canceling p) */
    CHECK(!goc_chan_recv(pd, NULL));
    goc_chan_release(pd);

    /* Release in every order across a tree of mixed kinds. */
    struct tree *t = tree_build();
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = t->n - 1; i > 0; i--) {
        int j = (int)(test_rand(&seed) % (uint64_t)(i + 1));
        goc_ctx *x = t->node[i];
        t->node[i] = t->node[j];
        t->node[j] = x;
    }
    for (int i = 0; i < t->n; i++)
        goc_ctx_release(t->node[i]);
    free(t);
}

/* The last release detaches a child from its parent: a long-lived parent
 * with many short-lived children does not grow. AfterFuncs registered on
 * the children count their runs in *afruns. */
static void churn(goc_ctx *parent, int n, uint64_t *seed, atomic_long *afruns) {
    for (int i = 0; i < n; i++) {
        goc_ctx *c, *mid = NULL;
        switch (test_rand(seed) % 4) {
        case 0:
            c = goc_ctx_with_cancel(parent);
            break;
        case 1:
            c = goc_ctx_with_timeout(parent, 60 * GOC_MINUTE);
            break;
        case 2:
            mid = goc_ctx_with_cancel(parent);
            c = goc_ctx_with_value(mid, &key_a, NULL);
            goc_ctx_release(goc_ctx_retain(c));
            break;
        default:
            mid = goc_ctx_with_value(parent, &key_b, NULL);
            c = goc_ctx_with_cancel(mid);
            break;
        }
        CHECK(c != NULL);
        /* The child holds mid: dropping our handle now keeps it alive. */
        goc_ctx_release(mid);
        if (i % 8 == 0) {
            goc_ctx_stop *s = goc_ctx_after_func(c, test_count, afruns);
            CHECK(goc_ctx_stop_after_func(s));
        }
        if (i % 3 == 0)
            goc_ctx_cancel(c);
        goc_ctx_release(c);
    }
}

GTEST(release_detaches_from_parent_no_growth) {
    int base = goc_num_goroutine();
    goc_ctx *parent = goc_ctx_with_cancel(NULL);
    atomic_long afruns = 0;
    uint64_t seed = 42;
    int n = TEST_SCALE(100000, 10000);
    int batch = n / 10;
    churn(parent, batch, &seed, &afruns); /* warm up allocator caches */
    long rss0 = rss_kib();
    /* The fastest of the first three batches against the fastest of the
     * last three: one batch slowed by a busy machine proves nothing, while
     * growth (a list that is never trimmed) slows every later batch. */
    int64_t first = INT64_MAX, last = INT64_MAX;
    for (int b = 0; b < 10; b++) {
        int64_t t0 = goc_now();
        churn(parent, batch, &seed, &afruns);
        int64_t dt = goc_now() - t0;
        if (b < 3 && dt < first)
            first = dt;
        if (b >= 7 && dt < last)
            last = dt;
    }
    long rss1 = rss_kib();
    CHECK_EQ_INT(goc_num_goroutine(), base);
    CHECK_EQ_INT(atomic_load(&afruns), 0);
    test_note("create/release %d children: first batch %.1f ms, last batch %.1f ms, "
              "RSS %ld -> %ld KiB",
              n, first / 1e6, last / 1e6, rss0, rss1);
    /* The per-batch time stays flat (generous, for a noisy machine). */
    CHECK_LE_INT(last, 10 * first + 50 * GOC_MILLISECOND);
    if (!TEST_SANITIZED && rss0 > 0 && rss1 > 0) {
        /* 100k leaked contexts would be tens of MiB. */
        CHECK_LT_INT(rss1 - rss0, 8 * 1024);
    }
    /* The parent's child list is empty: cancel has nothing to walk, and no
     * released child is touched (ASan would see it). */
    int64_t t0 = goc_now();
    goc_ctx_cancel(parent);
    CHECK_LT_INT(goc_now() - t0, 50 * GOC_MILLISECOND);
    CHECK_CTX_DEAD(parent, -ECANCELED);
    goc_ctx_release(parent);
    test_settle_goroutines(base);
}

/* ================================================================== */
/* concurrent cancel storm                                             */

struct storm {
    goc_ctx *root;
    goc_ctx **node;
    int *kind;
    int n;
    goc_chan *start;
    goc_waitgroup wg;
    atomic_long afruns; /* AfterFuncs run */
    atomic_long afreg, afstopped, made;
    atomic_long progress; /* cancels done by the cancelers */
    long total;           /* cancels they will do */
};

struct storm_arg {
    struct storm *s;
    uint64_t seed;
    int count;
    int who;
};

static void storm_canceler(void *arg) {
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t seed = a->seed;
    goc_chan_recv(s->start, NULL);
    for (int k = 0; k < a->count; k++) {
        int i = (int)(test_rand(&seed) % (uint64_t)s->n);
        goc_ctx_cancel_cause(s->node[i], -(1000 + a->who));
        if (s->kind[i] != K_VALUE) {
            CHECK(goc_ctx_err(s->node[i]) != 0);
            CHECK(test_ctx_done_closed(s->node[i]));
        }
        atomic_fetch_add(&s->progress, 1);
        if (k % 64 == 0)
            goc_yield();
    }
    goc_wg_done(&s->wg);
}

/* Cancels the root when the cancelers are about half way. */
static void storm_root_canceler(void *arg) {
    struct storm_arg *a = arg;
    goc_chan_recv(a->s->start, NULL);
    WAIT_FOR(atomic_load(&a->s->progress) >= a->s->total / 2, 10.0);
    goc_ctx_cancel(a->s->root);
    CHECK_CTX_DEAD(a->s->root, -ECANCELED);
    goc_wg_done(&a->s->wg);
}

static void storm_creator(void *arg) {
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t seed = a->seed;
    goc_chan_recv(s->start, NULL);
    for (int k = 0; k < a->count; k++) {
        int i = (int)(test_rand(&seed) % (uint64_t)s->n);
        goc_ctx *p = s->node[i];
        bool parent_dead = goc_ctx_err(p) != 0;
        uint64_t r = test_rand(&seed);
        int kind = (int)(r % K_NKINDS);
        goc_ctx *c = make_child(p, kind, i);
        CHECK(c != NULL);
        if (parent_dead)
            CHECK(goc_ctx_err(c) != 0 && test_ctx_done_closed(c));
        goc_ctx *g = (r >> 8) % 2 ? goc_ctx_with_cancel(c) : NULL;
        goc_ctx_stop *st = NULL;
        if ((r >> 16) % 3 == 0) {
            st = goc_ctx_after_func(g ? g : c, test_count, &s->afruns);
            CHECK(st != NULL);
            atomic_fetch_add(&s->afreg, 1);
        }
        if ((r >> 24) % 4 == 0)
            goc_ctx_cancel(c);
        if (st && (r >> 32) % 2) { /* stop early: true only if fn was not started */
            if (goc_ctx_stop_after_func(st))
                atomic_fetch_add(&s->afstopped, 1);
            st = NULL;
        }
        if ((r >> 40) % 2) {
            goc_ctx_release(c); /* the parent first: g holds it */
            goc_ctx_release(g);
        } else {
            goc_ctx_release(g);
            goc_ctx_release(c);
        }
        /* Registered on a cancel context of our own, now released and thus
         * canceled: fn was started, stop says false. On a value context, fn
         * waits for the storm node's cancel. */
        if (st && (g || kind != K_VALUE))
            CHECK(!goc_ctx_stop_after_func(st));
        else if (st && goc_ctx_stop_after_func(st))
            atomic_fetch_add(&s->afstopped, 1);
        atomic_fetch_add(&s->made, 1);
        if (k % 64 == 0)
            goc_yield();
    }
    goc_wg_done(&s->wg);
}

GTEST(cancel_storm_tree) {
    int base = goc_num_goroutine();
    struct storm *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->n = TEST_SCALE(100000, 10000);
    s->node = calloc((size_t)s->n, sizeof *s->node);
    s->kind = calloc((size_t)s->n, sizeof *s->kind);
    CHECK(s->node && s->kind);
    s->root = goc_ctx_with_cancel(NULL);
    s->start = test_chan_make(0, 0);
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    int64_t t0 = goc_now();
    for (int i = 0; i < s->n; i++) {
        goc_ctx *p = i == 0 || test_rand(&seed) % 16 == 0 ? s->root
                                                          : s->node[test_rand(&seed) % (uint64_t)i];
        uint64_t r = test_rand(&seed) % 20;
        s->kind[i] = r < 11 ? K_CANCEL : r < 16 ? K_VALUE : r < 18 ? K_TIMEOUT : K_DEADLINE;
        s->node[i] = make_child(p, s->kind[i], i);
        CHECK(s->node[i] != NULL);
    }
    int64_t built = goc_now() - t0;

    /* AfterFuncs on every 50th node: all of them must run. */
    int nreg = 0;
    goc_ctx_stop **regs = calloc((size_t)s->n / 50 + 1, sizeof *regs);
    CHECK(regs != NULL);
    for (int i = 0; i < s->n; i += 50) {
        regs[nreg] = goc_ctx_after_func(s->node[i], test_count, &s->afruns);
        CHECK(regs[nreg] != NULL);
        nreg++;
    }
    atomic_store(&s->afreg, nreg);

    int cancelers = 8, creators = 4;
    s->total = (long)cancelers * (s->n / 40);
    for (int w = 0; w < cancelers; w++) {
        goc_wg_add(&s->wg, 1);
        TEST_GO_ARGS(storm_canceler, struct storm_arg, s, seed + 17 * (uint64_t)w + 1, s->n / 40,
                     w);
    }
    for (int w = 0; w < creators; w++) {
        goc_wg_add(&s->wg, 1);
        TEST_GO_ARGS(storm_creator, struct storm_arg, s, seed + 31 * (uint64_t)w + 5,
                     TEST_SCALE(20000, 2000), w);
    }
    goc_wg_add(&s->wg, 1);
    TEST_GO_ARGS(storm_root_canceler, struct storm_arg, s, 0, 100, -1);

    int64_t t1 = goc_now();
    goc_chan_close(s->start);
    test_wg_wait_bounded(&s->wg, TEST_PATIENCE_S, "cancel storm");
    int64_t stormed = goc_now() - t1;

    /* Every node ends canceled, with Go's Canceled error and a cause that
     * is one of the cancels'. */
    for (int i = 0; i < s->n; i++) {
        goc_ctx *c = s->node[i];
        CHECK_MSG(goc_ctx_err(c) == -ECANCELED, "node %d (kind %d): err %d", i, s->kind[i],
                  goc_ctx_err(c));
        CHECK_MSG(test_ctx_done_closed(c), "node %d: Done not closed", i);
        int cause = goc_ctx_cause(c);
        CHECK_MSG(cause == -ECANCELED || (cause <= -1000 && cause > -1000 - cancelers),
                  "node %d: cause %d", i, cause);
    }
    /* Registrations on the nodes all ran (or are starting): stop says so. */
    for (int i = 0; i < nreg; i++)
        CHECK(!goc_ctx_stop_after_func(regs[i]));
    free(regs);
    WAIT_UNTIL(atomic_load(&s->afruns) + atomic_load(&s->afstopped) == atomic_load(&s->afreg),
               TEST_PATIENCE_S);

    /* Release in random order (children often after their parents). */
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)(test_rand(&seed) % (uint64_t)(i + 1));
        goc_ctx *x = s->node[i];
        s->node[i] = s->node[j];
        s->node[j] = x;
    }
    for (int i = 0; i < s->n; i++)
        goc_ctx_release(s->node[i]);
    goc_ctx_release(s->root);
    test_note("storm: %d nodes built in %.1f ms; %ld children made, %ld AfterFuncs "
              "(%ld ran, %ld stopped); storm %.1f ms",
              s->n, built / 1e6, atomic_load(&s->made), atomic_load(&s->afreg),
              atomic_load(&s->afruns), atomic_load(&s->afstopped), stormed / 1e6);
    test_settle_goroutines(base);
    CHECK_EQ_INT(atomic_load(&s->afruns) + atomic_load(&s->afstopped), atomic_load(&s->afreg));
    goc_chan_release(s->start);
    free(s->node);
    free(s->kind);
    free(s);
}
