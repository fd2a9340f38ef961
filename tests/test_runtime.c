/* test_runtime.c — the runtime core: goroutines, goc_run, yield, Goexit,
 * ids, NumGoroutine, GOCMAXPROCS, LockOSThread, stacks, panics, fatal
 * errors, WaitGroup, failure injection. Each case is one behaviour; run
 * `test_runtime --list` for the names. */
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/failpoint.h"

/* Keep the compiler from removing stores to a buffer that looks dead. */
#define TOUCHED(p) __asm__ volatile("" : : "r"(p) : "memory")

/* Counts scaled down under TSan/ASan. ASan with use-after-return costs about
 * two VMAs per live goroutine (~30k max with vm.max_map_count 65530). */
#if defined(GOC_ASAN)
#define MANY_BLOCKED 20000L
#elif defined(GOC_RACE)
#define MANY_BLOCKED 30000L /* TSan: per-fiber trace mappings count against vm.max_map_count */
#else
#define MANY_BLOCKED 1000000L
#endif

/* A goroutine that adds 1 to a counter and signals a WaitGroup. */
struct counter {
    atomic_long n;
    goc_waitgroup wg;
};

static void count_and_done(void *arg) {
    struct counter *c = arg;
    atomic_fetch_add(&c->n, 1);
    goc_wg_done(&c->wg);
}

static void count_yield_done(void *arg) {
    struct counter *c = arg;
    goc_yield();
    atomic_fetch_add(&c->n, 1);
    goc_yield();
    goc_wg_done(&c->wg);
}

/* Goroutines held at a gate: each signals `started`, waits for `gate`
 * (counter 1), counts, signals `done`. */
struct gate {
    goc_waitgroup started, gate, done;
    atomic_long passed;
};

static void gated(void *arg) {
    struct gate *g = arg;
    goc_wg_done(&g->started);
    goc_wg_wait(&g->gate);
    atomic_fetch_add(&g->passed, 1);
    goc_wg_done(&g->done);
}

static int return_arg(void *arg) { return (int)(intptr_t)arg; }

/* ================================================================== */
/* goc_go, goc_run                                                     */

struct seen_arg {
    atomic_int ran;
    void *_Atomic got;
};

static void record_arg(void *arg) {
    struct seen_arg *s = arg;
    atomic_store(&s->got, arg);
    atomic_store(&s->ran, 1);
}

GTEST(go_runs_function_with_arg) {
    static struct seen_arg s;
    TEST_GO(record_arg, &s);
    WAIT_UNTIL(atomic_load(&s.ran) == 1, TEST_PATIENCE_S);
    CHECK_EQ_PTR(atomic_load(&s.got), &s);
}

TEST(run_returns_value) {
    CHECK_EQ_INT(goc_run(return_arg, (void *)(intptr_t)42), 42);
    CHECK_EQ_INT(goc_run(return_arg, (void *)(intptr_t)-7), -7);
    CHECK_EQ_INT(goc_run(return_arg, (void *)(intptr_t)0), 0);
}

static int spawn_100_and_count(void *arg) {
    (void)arg;
    static struct counter c;
    atomic_store(&c.n, 0);
    goc_wg_add(&c.wg, 100);
    for (int i = 0; i < 100; i++)
        TEST_GO(count_yield_done, &c);
    goc_wg_wait(&c.wg);
    return (int)atomic_load(&c.n);
}

TEST(run_called_repeatedly) {
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(goc_run(spawn_100_and_count, NULL), 100);
}

/* goc_run returns when its main goroutine does; other goroutines live on. */
static struct gate outlive;

static int spawn_gated_and_return(void *arg) {
    (void)arg;
    goc_wg_add(&outlive.gate, 1);
    goc_wg_add(&outlive.started, 10);
    goc_wg_add(&outlive.done, 10);
    for (int i = 0; i < 10; i++)
        TEST_GO(gated, &outlive);
    goc_wg_wait(&outlive.started);
    return 5;
}

TEST(run_returns_while_other_goroutines_live) {
    CHECK_EQ_INT(goc_run(spawn_gated_and_return, NULL), 5);
    CHECK_EQ_INT(atomic_load(&outlive.passed), 0);
    goc_wg_done(&outlive.gate); /* from this plain thread */
    goc_wg_wait(&outlive.done);
    CHECK_EQ_INT(atomic_load(&outlive.passed), 10);
}

/* The runtime starts itself: goc_go from a plain thread before any goc_run. */
CHILD(go_before_run) {
    static struct counter c;
    goc_wg_add(&c.wg, 100);
    for (int i = 0; i < 100; i++)
        TEST_GO(count_and_done, &c);
    goc_wg_wait(&c.wg);
    CHECK_EQ_INT(atomic_load(&c.n), 100);
    CHECK_EQ_INT(goc_run(return_arg, (void *)(intptr_t)9), 9);
    fprintf(stderr, "go before run ok\n");
}

TEST(go_before_run_starts_runtime) { expect_child("go_before_run", 0, "^go before run ok$"); }

/* ================================================================== */
/* goc_yield                                                           */

static void set_flag_after_yields(void *arg) {
    goc_yield();
    atomic_store((atomic_int *)arg, 1);
}

/* The spinning goroutine yields; the other one gets to run (even with one P). */
GTEST(yield_lets_others_run) {
    static atomic_int flag;
    atomic_store(&flag, 0);
    TEST_GO(set_flag_after_yields, &flag);
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    while (!atomic_load(&flag) && !test_deadline_passed(&d))
        goc_yield(); /* no sleeping: only yield makes room */
    CHECK_EQ_INT(atomic_load(&flag), 1);
}

struct yielder {
    int iters;
    atomic_long *total;
    goc_waitgroup *wg;
};

static void yield_loop(void *arg) {
    struct yielder *y = arg;
    for (int i = 0; i < y->iters; i++) {
        atomic_fetch_add(y->total, 1);
        goc_yield();
    }
    goc_wg_done(y->wg);
}

GTEST(yield_loops_all_complete) {
    static atomic_long total;
    static goc_waitgroup wg;
    atomic_store(&total, 0);
    const int g = 8, iters = TEST_SCALE(5000, 1000);
    goc_wg_add(&wg, g);
    for (int i = 0; i < g; i++)
        TEST_GO_ARGS(yield_loop, struct yielder, iters, &total, &wg);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&total), (long)g * iters);
}

TEST(yield_on_plain_thread_returns) {
    for (int i = 0; i < 100; i++)
        goc_yield();
}

/* ================================================================== */
/* goc_exit (runtime.Goexit)                                           */

static atomic_int exit_after_ran;
static volatile int exit_depth_sink;
static volatile int really_exit = 1; /* keeps gcc from calling the recursion infinite */

__attribute__((noinline)) void goc_test_exit_nested(goc_waitgroup *wg, int depth) {
    if (depth > 0) {
        goc_test_exit_nested(wg, depth - 1);
        atomic_fetch_add(&exit_after_ran, 1); /* never: goc_exit does not return */
        exit_depth_sink = depth;
        return;
    }
    goc_wg_done(wg);
    if (really_exit)
        goc_exit();
}

static void exiting_goroutine(void *arg) {
    goc_yield();
    goc_test_exit_nested(arg, 5);
    atomic_fetch_add(&exit_after_ran, 1);
}

/* goc_exit from a nested call ends that goroutine only: nothing after it
 * runs, other goroutines finish, the goroutine count comes back. */
GTEST(exit_stops_only_that_goroutine) {
    static goc_waitgroup wg;
    static struct counter normal;
    test_settle_goroutines(1);
    atomic_store(&exit_after_ran, 0);
    goc_wg_add(&wg, 100);
    goc_wg_add(&normal.wg, 100);
    for (int i = 0; i < 100; i++) {
        TEST_GO(exiting_goroutine, &wg);
        TEST_GO(count_yield_done, &normal);
    }
    goc_wg_wait(&wg);
    goc_wg_wait(&normal.wg);
    test_settle_goroutines(1);
    CHECK_EQ_INT(atomic_load(&exit_after_ran), 0);
    CHECK_EQ_INT(atomic_load(&normal.n), 100);
}

static void locked_then_exit(void *arg) {
    goc_lock_os_thread();
    goc_yield();
    goc_test_exit_nested(arg, 2);
}

static void locked_then_return(void *arg) {
    goc_lock_os_thread();
    goc_yield();
    goc_wg_done(arg);
}

/* A goroutine that ends while locked to its thread (by goc_exit or by
 * returning) does not take the processor or anyone's work with it. */
GTEST(exit_while_locked_to_thread) {
    static goc_waitgroup wg;
    static struct counter after;
    test_settle_goroutines(1);
    atomic_store(&exit_after_ran, 0);
    for (int round = 0; round < 5; round++) {
        goc_wg_add(&wg, 2);
        TEST_GO(locked_then_exit, &wg);
        TEST_GO(locked_then_return, &wg);
        goc_wg_wait(&wg);
    }
    goc_wg_add(&after.wg, 1000);
    for (int i = 0; i < 1000; i++)
        TEST_GO(count_yield_done, &after);
    goc_wg_wait(&after.wg);
    CHECK_EQ_INT(atomic_load(&after.n), 1000);
    test_settle_goroutines(1);
    CHECK_EQ_INT(atomic_load(&exit_after_ran), 0);
}

/* ================================================================== */
/* goc_id                                                              */

struct id_slot {
    uint64_t *slot;
    goc_waitgroup *wg;
};

static void record_id(void *arg) {
    struct id_slot *s = arg;
    uint64_t id = goc_id();
    goc_yield();
    CHECK_EQ_U64(goc_id(), id); /* stable across a reschedule */
    *s->slot = id;
    goc_wg_done(s->wg);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Ids are unique and nonzero, also across reuse of dead goroutines. */
GTEST(ids_unique_and_nonzero) {
    const int waves = 10, per = TEST_SCALE(1000, 300), n = waves * per + 1;
    uint64_t *ids = calloc((size_t)n, sizeof *ids);
    CHECK(ids != NULL);
    static goc_waitgroup wg;
    for (int w = 0; w < waves; w++) {
        goc_wg_add(&wg, per);
        for (int i = 0; i < per; i++)
            TEST_GO_ARGS(record_id, struct id_slot, &ids[w * per + i], &wg);
        goc_wg_wait(&wg); /* dead goroutines get reused by the next wave */
    }
    ids[n - 1] = goc_id(); /* the main goroutine */
    qsort(ids, (size_t)n, sizeof *ids, cmp_u64);
    CHECK_NE_INT(ids[0], 0);
    for (int i = 1; i < n; i++)
        CHECK_MSG(ids[i] != ids[i - 1], "goroutine id %llu given twice",
                  (unsigned long long)ids[i]);
    free(ids);
}

static int main_id(void *arg) {
    *(uint64_t *)arg = goc_id();
    return 0;
}

GTEST(main_goroutine_id_nonzero) {
    uint64_t id = goc_id();
    CHECK_NE_INT(id, 0);
    goc_yield();
    CHECK_EQ_U64(goc_id(), id);
}

TEST(run_main_goroutines_get_new_ids) {
    uint64_t a = 0, b = 0;
    CHECK_EQ_INT(goc_run(main_id, &a), 0);
    CHECK_EQ_INT(goc_run(main_id, &b), 0);
    CHECK_NE_INT(a, 0);
    CHECK_NE_INT(b, 0);
    CHECK_NE_INT(a, b);
}

struct plain_id {
    uint64_t before, after;
    struct counter c;
};

static void *plain_thread_ids(void *arg) {
    struct plain_id *p = arg;
    p->before = goc_id();
    goc_wg_add(&p->c.wg, 10);
    for (int i = 0; i < 10; i++)
        TEST_GO(count_yield_done, &p->c);
    goc_wg_wait(&p->c.wg); /* blocks this thread in goc */
    p->after = goc_id();
    return NULL;
}

/* goc_id is 0 on a plain thread, also after it has blocked in goc. */
TEST(id_zero_on_plain_thread) {
    CHECK_EQ_U64(goc_id(), 0);
    static struct plain_id p;
    test_thread_join(test_thread_start(plain_thread_ids, &p));
    CHECK_EQ_U64(p.before, 0);
    CHECK_EQ_U64(p.after, 0);
    CHECK_EQ_INT(atomic_load(&p.c.n), 10);
    CHECK_EQ_U64(goc_id(), 0);
}

/* ================================================================== */
/* goc_num_goroutine                                                   */

GTEST(num_goroutine_exact) {
    static struct gate g;
    const int n = 1000;
    test_settle_goroutines(1); /* just the main goroutine */
    goc_wg_add(&g.gate, 1);
    goc_wg_add(&g.started, n);
    goc_wg_add(&g.done, n);
    for (int i = 0; i < n; i++)
        TEST_GO(gated, &g);
    goc_wg_wait(&g.started);
    CHECK_EQ_INT(goc_num_goroutine(), n + 1); /* all blocked: exact */
    goc_wg_done(&g.gate);
    goc_wg_wait(&g.done);
    CHECK_EQ_INT(atomic_load(&g.passed), n);
    test_settle_goroutines(1);
}

/* Spawned goroutines count from goc_go's return, before they first run. */
GTEST(num_goroutine_counts_runnable) {
    static struct gate g;
    test_settle_goroutines(1);
    goc_wg_add(&g.gate, 1);
    goc_wg_add(&g.started, 3);
    goc_wg_add(&g.done, 3);
    for (int i = 0; i < 3; i++) {
        TEST_GO(gated, &g);
        CHECK_GE_INT(goc_num_goroutine(), i + 2);
    }
    goc_wg_wait(&g.started);
    CHECK_EQ_INT(goc_num_goroutine(), 4);
    goc_wg_done(&g.gate);
    goc_wg_wait(&g.done);
    test_settle_goroutines(1);
}

TEST(num_goroutine_zero_when_idle) {
    CHECK_EQ_INT(goc_run(spawn_100_and_count, NULL), 100);
    test_settle_goroutines(0);
}

/* ================================================================== */
/* goc_maxprocs                                                        */

TEST(maxprocs_query_matches_env) {
    const char *env = getenv("GOCMAXPROCS");
    int v = goc_maxprocs(0);
    if (env && atoi(env) > 0)
        CHECK_EQ_INT(v, atoi(env));
    else
        CHECK_EQ_INT(v, test_ncpu());
    CHECK_EQ_INT(goc_maxprocs(-1), v);
    CHECK_EQ_INT(goc_maxprocs(0), v);
}

CHILD(print_maxprocs) { fprintf(stderr, "maxprocs=%d\n", goc_maxprocs(0)); }

TEST(maxprocs_from_environment) {
    struct child_opts o = {.env = {"GOCMAXPROCS=3"}, .expect = 0, .regex = {"^maxprocs=3$"}};
    free(expect_child_opts("print_maxprocs", &o));
    struct child_opts o1 = {.env = {"GOCMAXPROCS=1"}, .expect = 0, .regex = {"^maxprocs=1$"}};
    free(expect_child_opts("print_maxprocs", &o1));
    char re[64];
    snprintf(re, sizeof re, "^maxprocs=%d$", test_ncpu());
    struct child_opts od = {.env = {"GOCMAXPROCS"}, .expect = 0, .regex = {re}};
    free(expect_child_opts("print_maxprocs", &od));
}

GTEST(maxprocs_set_returns_previous) {
    int old = goc_maxprocs(0);
    CHECK_EQ_INT(goc_maxprocs(3), old);
    CHECK_EQ_INT(goc_maxprocs(0), 3);
    CHECK_EQ_INT(goc_maxprocs(1), 3);
    CHECK_EQ_INT(goc_maxprocs(0), 1);
    CHECK_EQ_INT(goc_maxprocs(1), 1);
    CHECK_EQ_INT(goc_maxprocs(old), 1);
    CHECK_EQ_INT(goc_maxprocs(0), old);
    CHECK_EQ_INT(spawn_100_and_count(NULL), 100);
}

/* Two CPU-bound goroutines spin (no yields) until each has seen the other
 * running on a different OS thread at the same time. */
struct spin2 {
    atomic_long tid[2];
    atomic_int seen[2];
    int64_t deadline;
    goc_waitgroup wg;
};

struct spin_arg {
    struct spin2 *s;
    int me;
};

static void spin_until_both_seen(void *arg) {
    struct spin_arg *a = arg;
    struct spin2 *s = a->s;
    int me = a->me;
    while (test_now_ns() < s->deadline) {
        long t = test_gettid();
        atomic_store(&s->tid[me], t);
        long o = atomic_load(&s->tid[1 - me]);
        if (o != 0 && o != t)
            atomic_store(&s->seen[me], 1);
        if (atomic_load(&s->seen[0]) && atomic_load(&s->seen[1]))
            break;
    }
    goc_wg_done(&s->wg);
}

static void check_two_goroutines_run_in_parallel(void) {
    static struct spin2 s;
    memset(&s, 0, sizeof s);
    s.deadline = test_now_ns() + (int64_t)(TEST_PATIENCE_S * 1e9);
    goc_wg_add(&s.wg, 2);
    TEST_GO_ARGS(spin_until_both_seen, struct spin_arg, &s, 0);
    TEST_GO_ARGS(spin_until_both_seen, struct spin_arg, &s, 1);
    goc_wg_wait(&s.wg);
    CHECK_MSG(atomic_load(&s.seen[0]) && atomic_load(&s.seen[1]),
              "two CPU-bound goroutines never ran at the same time on two threads "
              "(seen %d/%d)",
              atomic_load(&s.seen[0]), atomic_load(&s.seen[1]));
}

GTEST(work_spreads_over_two_processors) {
    if (goc_maxprocs(0) < 2) {
        test_note("maxprocs is 1: parallelism not checked");
        return;
    }
    check_two_goroutines_run_in_parallel();
}

/* Raising GOCMAXPROCS at run time adds a processor that really runs. */
GTEST(maxprocs_raise_takes_effect) {
    int old = goc_maxprocs(2);
    check_two_goroutines_run_in_parallel();
    goc_maxprocs(old);
}

/* With one processor, goroutines never run at the same time. */
struct excl {
    atomic_int active;
    atomic_int violations;
    atomic_long work;
    atomic_long progress; /* bumped by whoever is inside, as it goes */
    goc_waitgroup wg;
};

/* Finding another goroutine inside is not yet parallelism: at one processor
 * the scheduler still interleaves, and sysmon preempts a goroutine that
 * runs 10 ms without a switch (a loaded machine can stretch one pass that
 * long), in the middle of its pass too. What one processor rules out is
 * the other making progress while we run: watch its progress counter for
 * a while without yielding. */
static bool another_runs_meanwhile(struct excl *e) {
    long p0 = atomic_load(&e->progress);
    /* A counted spin (~0.1-0.2 ms), not a clock loop: the preemption signal
     * landing in libc (clock_gettime) would hand our processor off and let
     * us run on beside its next goroutine until our next goc call. */
    for (volatile int k = 0; k < 200000; k++) {
    }
    return atomic_load(&e->progress) != p0;
}

static void exclusive_worker(void *arg) {
    struct excl *e = arg;
    for (int i = 0; i < 200; i++) {
        if (atomic_fetch_add(&e->active, 1) != 0 && another_runs_meanwhile(e))
            atomic_fetch_add(&e->violations, 1);
        for (volatile int k = 0; k < 2000; k++)
            if (k % 100 == 0)
                atomic_fetch_add_explicit(&e->progress, 1, memory_order_relaxed);
        atomic_fetch_add(&e->work, 1);
        atomic_fetch_sub(&e->active, 1);
        goc_yield();
    }
    goc_wg_done(&e->wg);
}

GTEST(maxprocs_lower_takes_effect) {
    static struct excl e;
    test_settle_goroutines(1);
    int old = goc_maxprocs(1);
    /* Let a processor that is being retired reach its next schedule. */
    CHECK_EQ_INT(spawn_100_and_count(NULL), 100);
    goc_yield();
    atomic_store(&e.active, 1); /* the main goroutine itself runs */
    goc_wg_add(&e.wg, 8);
    for (int i = 0; i < 8; i++)
        TEST_GO(exclusive_worker, &e);
    atomic_fetch_sub(&e.active, 1);
    goc_wg_wait(&e.wg);
    goc_maxprocs(old);
    CHECK_EQ_INT(atomic_load(&e.work), 8 * 200);
    CHECK_EQ_INT(atomic_load(&e.violations), 0);
}

struct toggler {
    atomic_int stop;
    atomic_long changes;
    goc_waitgroup wg;
};

static void toggle_maxprocs(void *arg) {
    struct toggler *t = arg;
    for (int i = 0; !atomic_load(&t->stop); i++) {
        goc_maxprocs(1 + i % 3);
        atomic_fetch_add(&t->changes, 1);
        for (int k = 0; k < 20; k++)
            goc_yield();
    }
    goc_wg_done(&t->wg);
}

/* Changing GOCMAXPROCS up and down while goroutines come and go loses none. */
GTEST(maxprocs_changes_during_stress) {
    static struct toggler t;
    static struct counter c;
    int old = goc_maxprocs(0);
    goc_wg_add(&t.wg, 1);
    TEST_GO(toggle_maxprocs, &t);
    const int rounds = TEST_SCALE(100, 30), per = 1000;
    for (int r = 0; r < rounds; r++) {
        goc_wg_add(&c.wg, per);
        for (int i = 0; i < per; i++)
            TEST_GO(i & 1 ? count_yield_done : count_and_done, &c);
        goc_wg_wait(&c.wg);
        CHECK_EQ_INT(atomic_load(&c.n), (long)(r + 1) * per);
    }
    atomic_store(&t.stop, 1);
    goc_wg_wait(&t.wg);
    CHECK_GT_INT(atomic_load(&t.changes), 0);
    goc_maxprocs(old);
    CHECK_EQ_INT(goc_maxprocs(0), old);
    CHECK_EQ_INT(spawn_100_and_count(NULL), 100);
}

/* ================================================================== */
/* Many goroutines                                                     */

/* A million goroutines blocked at once, then released. */
GTEST(million_blocked_goroutines) {
    static struct gate g;
    long n = MANY_BLOCKED;
    const char *env = getenv("GOC_TEST_MANY");
    if (env && atol(env) > 0)
        n = atol(env);
    goc_wg_add(&g.gate, 1);
    goc_wg_add(&g.started, (int)n);
    goc_wg_add(&g.done, (int)n);
    for (long i = 0; i < n; i++) {
        int rc = goc_go(gated, &g);
        CHECK_MSG(rc == 0, "goc_go #%ld failed: %d (%s)", i, rc, goc_strerror(rc));
    }
    goc_wg_wait(&g.started);
    CHECK_GE_INT(goc_num_goroutine(), n + 1);
    CHECK_EQ_INT(atomic_load(&g.passed), 0);
    goc_wg_done(&g.gate);
    goc_wg_wait(&g.done);
    CHECK_EQ_INT(atomic_load(&g.passed), n);
    test_settle_goroutines(1);
}

struct plain_spawn {
    long n;
    long failures;
    long counted;
    uint64_t id_after;
    struct counter c;
};

static void *spawn_from_thread(void *arg) {
    struct plain_spawn *ps = arg;
    goc_wg_add(&ps->c.wg, (int)ps->n);
    for (long i = 0; i < ps->n; i++) {
        if (goc_go(count_and_done, &ps->c) != 0) {
            ps->failures++;
            goc_wg_done(&ps->c.wg);
        }
    }
    goc_wg_wait(&ps->c.wg); /* blocks this thread */
    ps->counted = atomic_load(&ps->c.n);
    ps->id_after = goc_id();
    return NULL;
}

TEST(spawn_100k_from_plain_thread) {
    static struct plain_spawn ps;
    ps.n = TEST_SCALE(100000, 20000);
    test_thread_join(test_thread_start(spawn_from_thread, &ps));
    CHECK_EQ_INT(ps.failures, 0);
    CHECK_EQ_INT(ps.counted, ps.n);
    CHECK_EQ_U64(ps.id_after, 0);
}

/* Several plain threads and a goroutine spawn at once, each waiting for its
 * own goroutines. */
static int spawn_10k_in_goroutine(void *arg) {
    struct plain_spawn *ps = arg;
    spawn_from_thread(ps);
    return 0;
}

TEST(spawn_from_threads_and_goroutine_at_once) {
    enum { T = 4 };
    static struct plain_spawn ps[T + 1];
    const long n = TEST_SCALE(10000, 3000);
    pthread_t th[T];
    for (int i = 0; i <= T; i++)
        ps[i].n = n;
    for (int i = 0; i < T; i++)
        th[i] = test_thread_start(spawn_from_thread, &ps[i]);
    CHECK_EQ_INT(goc_run(spawn_10k_in_goroutine, &ps[T]), 0);
    for (int i = 0; i < T; i++)
        test_thread_join(th[i]);
    for (int i = 0; i <= T; i++) {
        CHECK_EQ_INT(ps[i].failures, 0);
        CHECK_EQ_INT(ps[i].counted, n);
    }
}

/* No lost wake-ups: many rounds of short-lived goroutines across Ps. */
GTEST(no_lost_wakeups_rounds) {
    static struct counter c;
    const int rounds = TEST_SCALE(200, 50), per = TEST_SCALE(1000, 200);
    for (int r = 0; r < rounds; r++) {
        goc_wg_add(&c.wg, per);
        for (int i = 0; i < per; i++)
            TEST_GO(i % 3 == 0 ? count_yield_done : count_and_done, &c);
        goc_wg_wait(&c.wg);
        CHECK_EQ_INT(atomic_load(&c.n), (long)(r + 1) * per);
    }
}

struct tree {
    atomic_long nodes;
    goc_waitgroup wg;
};

struct node_args {
    struct tree *t;
    int depth;
};

static void tree_node(void *arg) {
    struct node_args *a = arg;
    atomic_fetch_add(&a->t->nodes, 1);
    if (a->depth > 0) {
        goc_wg_add(&a->t->wg, 2);
        TEST_GO_ARGS(tree_node, struct node_args, a->t, a->depth - 1);
        TEST_GO_ARGS(tree_node, struct node_args, a->t, a->depth - 1);
    }
    goc_wg_done(&a->t->wg);
}

/* Each goroutine spawns two children, to depth 12: 8191 goroutines. */
GTEST(nested_spawn_tree) {
    static struct tree t;
    for (int rep = 0; rep < TEST_SCALE(5, 2); rep++) {
        atomic_store(&t.nodes, 0);
        goc_wg_add(&t.wg, 1);
        TEST_GO_ARGS(tree_node, struct node_args, &t, 12);
        goc_wg_wait(&t.wg);
        CHECK_EQ_INT(atomic_load(&t.nodes), (1L << 13) - 1);
    }
}

/* ================================================================== */
/* Arguments copied by goc_go_args / GOC_GO                            */

struct small_args {
    int a;
    long b;
    char s[16];
    const void *orig; /* the caller's buffer: the copy must be elsewhere */
    goc_waitgroup *gate, *done;
    atomic_long *sum;
};

static void check_small_args(void *p) {
    struct small_args *a = p;
    goc_wg_wait(a->gate); /* the caller has overwritten its buffer by now */
    CHECK(p != a->orig);
    CHECK_STR_EQ(a->s, "hello, goc");
    CHECK_EQ_INT(a->b, (long)a->a * 1000 + 7);
    atomic_fetch_add(a->sum, a->a);
    goc_wg_done(a->done);
}

GTEST(go_args_copied_before_return) {
    static goc_waitgroup gate, done;
    static atomic_long sum;
    const int n = 200;
    goc_wg_add(&gate, 1);
    goc_wg_add(&done, n);
    struct small_args buf;
    for (int i = 0; i < n; i++) {
        memset(&buf, 0, sizeof buf);
        buf.a = i;
        buf.b = (long)i * 1000 + 7;
        strcpy(buf.s, "hello, goc");
        buf.orig = &buf;
        buf.gate = &gate;
        buf.done = &done;
        buf.sum = &sum;
        CHECK_EQ_INT(goc_go_args(check_small_args, &buf, sizeof buf), 0);
        memset(&buf, 0xAB, sizeof buf); /* the goroutine must not see this */
        TOUCHED(&buf);
    }
    goc_wg_done(&gate);
    goc_wg_wait(&done);
    CHECK_EQ_INT(atomic_load(&sum), (long)n * (n - 1) / 2);
}

struct big_args {
    unsigned char data[1000];
    int idx;
    const void *orig;
    goc_waitgroup *gate, *done;
    atomic_long *sum;
};

static void check_big_args(void *p) {
    struct big_args *a = p;
    goc_wg_wait(a->gate);
    CHECK(p != a->orig);
    for (int i = 0; i < (int)sizeof a->data; i++)
        CHECK_EQ_INT(a->data[i], (unsigned char)(i * 7 + a->idx));
    atomic_fetch_add(a->sum, a->idx);
    goc_wg_done(a->done);
}

/* A block of arguments too big to live inside the goroutine's header. */
GTEST(go_args_large_block_copied) {
    static goc_waitgroup gate, done;
    static atomic_long sum;
    const int n = 100;
    goc_wg_add(&gate, 1);
    goc_wg_add(&done, n);
    struct big_args *buf = malloc(sizeof *buf);
    CHECK(buf != NULL);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < (int)sizeof buf->data; k++)
            buf->data[k] = (unsigned char)(k * 7 + i);
        buf->idx = i;
        buf->orig = buf;
        buf->gate = &gate;
        buf->done = &done;
        buf->sum = &sum;
        CHECK_EQ_INT(goc_go_args(check_big_args, buf, sizeof *buf), 0);
        memset(buf, 0xCD, sizeof *buf);
        TOUCHED(buf);
    }
    free(buf);
    goc_wg_done(&gate);
    goc_wg_wait(&done);
    CHECK_EQ_INT(atomic_load(&sum), (long)n * (n - 1) / 2);
}

static atomic_int side_effects;

static int next_value(void) { return atomic_fetch_add(&side_effects, 1) + 1; }

struct literal_args {
    int v;
    const char *s;
    goc_waitgroup *gate, *done;
    atomic_long *sum;
};

static void check_literal_args(void *p) {
    struct literal_args *a = p;
    goc_wg_wait(a->gate);
    CHECK_STR_EQ(a->s, "literal");
    atomic_fetch_add(a->sum, a->v);
    goc_wg_done(a->done);
}

/* GOC_GO copies a compound literal; its initialisers are evaluated once. */
GTEST(go_macro_compound_literal) {
    static goc_waitgroup gate, done;
    static atomic_long sum;
    goc_wg_add(&gate, 1);
    goc_wg_add(&done, 10);
    atomic_store(&side_effects, 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(GOC_GO(check_literal_args, struct literal_args, .v = next_value(),
                            .s = "literal", .gate = &gate, .done = &done, .sum = &sum),
                     0);
    CHECK_EQ_INT(atomic_load(&side_effects), 10);
    goc_wg_done(&gate);
    goc_wg_wait(&done);
    CHECK_EQ_INT(atomic_load(&sum), 55);
}

static atomic_int zero_size_ran;

static void zero_size_fn(void *p) {
    (void)p;
    atomic_fetch_add(&zero_size_ran, 1);
}

GTEST(go_args_zero_size) {
    atomic_store(&zero_size_ran, 0);
    CHECK_EQ_INT(goc_go_args(zero_size_fn, NULL, 0), 0);
    WAIT_UNTIL(atomic_load(&zero_size_ran) == 1, TEST_PATIENCE_S);
}

/* ================================================================== */
/* Stacks: goc_go_sized                                                */

static volatile int recursion_stop; /* never set: defeats "infinite recursion" analysis */

__attribute__((noinline)) long goc_test_deep_recursion(int depth) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)(depth >> 3);
    if (depth == 0 || recursion_stop)
        return frame[0];
    long r = goc_test_deep_recursion(depth - 1);
    return r + (unsigned char)frame[0] + (unsigned char)frame[sizeof frame - 1];
}

static long expected_recursion(int depth) {
    long r = 0;
    for (int d = 1; d <= depth; d++)
        r += (unsigned char)(char)d + (unsigned char)(char)(d >> 3);
    return r;
}

struct deep_args {
    int depth;
    long result;
    goc_waitgroup *wg;
};

static void run_deep_recursion(void *p) {
    struct deep_args *a = *(struct deep_args **)p;
    a->result = goc_test_deep_recursion(a->depth);
    goc_wg_done(a->wg);
}

/* About 1 MiB of frames in a goroutine given a 4 MiB stack. */
GTEST(go_sized_large_stack) {
    static goc_waitgroup wg;
    static struct deep_args a = {.depth = 1000, .wg = &wg};
    struct deep_args *pa = &a;
    goc_wg_add(&wg, 1);
    CHECK_EQ_INT(goc_go_sized(run_deep_recursion, &pa, sizeof pa, 4u << 20), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(a.result, expected_recursion(1000));
}

/* The smallest stack, and a request below it (rounded up), both work. */
GTEST(go_sized_small_stack) {
    static goc_waitgroup wg;
    static struct deep_args a = {.depth = 2, .wg = &wg}, b = {.depth = 2, .wg = &wg};
    struct deep_args *pa = &a, *pb = &b;
    goc_wg_add(&wg, 2);
    CHECK_EQ_INT(goc_go_sized(run_deep_recursion, &pa, sizeof pa, GOC_STACK_MIN), 0);
    CHECK_EQ_INT(goc_go_sized(run_deep_recursion, &pb, sizeof pb, 1), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(a.result, expected_recursion(2));
    CHECK_EQ_INT(b.result, expected_recursion(2));
}

/* Stack size 0 means the default. */
GTEST(go_sized_zero_is_default) {
    static goc_waitgroup wg;
    static struct deep_args a = {.depth = 100, .wg = &wg};
    struct deep_args *pa = &a;
    goc_wg_add(&wg, 1);
    CHECK_EQ_INT(goc_go_sized(run_deep_recursion, &pa, sizeof pa, 0), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(a.result, expected_recursion(100));
}

struct fill_args {
    int idx;
    size_t bytes;
    struct gate *g;
    atomic_int *bad;
};

__attribute__((noinline)) static void fill_and_verify(struct fill_args *a) {
    unsigned char *buf = __builtin_alloca(a->bytes);
    for (size_t i = 0; i < a->bytes; i += 64)
        buf[i] = (unsigned char)(a->idx * 31 + i / 64);
    TOUCHED(buf);
    goc_wg_done(&a->g->started);
    goc_wg_wait(&a->g->gate); /* everyone's stack is filled now */
    for (size_t i = 0; i < a->bytes; i += 64)
        if (buf[i] != (unsigned char)(a->idx * 31 + i / 64)) {
            atomic_fetch_add(a->bad, 1);
            break;
        }
    goc_wg_done(&a->g->done);
}

static void fill_entry(void *p) { fill_and_verify(p); }

/* Live goroutines have separate stacks: patterns written on each survive. */
GTEST(stacks_are_distinct) {
    static struct gate g;
    static atomic_int bad;
    const int n = 64;
    goc_wg_add(&g.gate, 1);
    goc_wg_add(&g.started, 2 * n);
    goc_wg_add(&g.done, 2 * n);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(goc_go_sized(fill_entry, &(struct fill_args){i, 256u << 10, &g, &bad},
                                  sizeof(struct fill_args), 1u << 20),
                     0);
        TEST_GO_ARGS(fill_entry, struct fill_args, n + i, 64u << 10, &g, &bad);
    }
    goc_wg_wait(&g.started);
    goc_wg_done(&g.gate);
    goc_wg_wait(&g.done);
    CHECK_EQ_INT(atomic_load(&bad), 0);
}

/* ================================================================== */
/* Panics and fatal errors (child processes)                           */

static goc_waitgroup never; /* blocks forever once its counter is 1 */

__attribute__((noinline)) void goc_test_panicking_function(int v) { goc_panic("boom %d", v); }

static void panicking_goroutine(void *p) {
    (void)p;
    fprintf(stderr, "panicking goroutine id=%llu\n", (unsigned long long)goc_id());
    goc_test_panicking_function(42);
}

static void (*child_goroutine)(void *);

static int spawn_and_block(void *p) {
    (void)p;
    goc_wg_add(&never, 1);
    TEST_GO(child_goroutine, NULL);
    goc_wg_wait(&never);
    return 0;
}

CHILD(panic_in_goroutine) {
    child_goroutine = panicking_goroutine;
    test_run_main(spawn_and_block);
    exit(3);
}

static unsigned long long reported_id(const char *err, const char *prefix) {
    const char *p = strstr(err, prefix);
    CHECK_MSG(p != NULL, "\"%s\" not in the child's stderr", prefix);
    return strtoull(p + strlen(prefix), NULL, 10);
}

static void check_header_names_goroutine(const char *err, unsigned long long id) {
    char re[96];
    snprintf(re, sizeof re, "^goroutine %llu( \"[^\"]*\")? \\[running\\]:", id);
    CHECK_MSG(test_regex_match(err, re), "no line /%s/ in:\n%s", re, err);
}

TEST(panic_prints_message_and_backtrace) {
    struct child_opts o = {
        .expect = -SIGABRT,
        .regex = {"^panic: boom 42", "^goroutine [0-9]+ \\[running\\]:$",
                  "goc_test_panicking_function"},
    };
    char *err = expect_child_opts("panic_in_goroutine", &o);
    /* "panic:" comes before the goroutine header, which names the panicking goroutine. */
    const char *pm = strstr(err, "panic: boom 42");
    const char *gh = strstr(err, "\ngoroutine ");
    CHECK(pm && gh && pm < gh);
    check_header_names_goroutine(err, reported_id(err, "panicking goroutine id="));
    free(err);
}

static int panic_in_main(void *p) {
    (void)p;
    fprintf(stderr, "main goroutine id=%llu\n", (unsigned long long)goc_id());
    goc_test_panicking_function(7);
    return 0;
}

CHILD(panic_in_main_goroutine) {
    test_run_main(panic_in_main);
    exit(3);
}

TEST(panic_in_main_goroutine) {
    struct child_opts o = {.expect = -SIGABRT,
                           .regex = {"^panic: boom 7", "goc_test_panicking_function"}};
    char *err = expect_child_opts("panic_in_main_goroutine", &o);
    check_header_names_goroutine(err, reported_id(err, "main goroutine id="));
    free(err);
}

static void named_panicking_goroutine(void *p) {
    (void)p;
    goc_set_name("crash-worker-7");
    goc_yield();
    goc_test_panicking_function(1);
}

CHILD(panic_named_goroutine) {
    child_goroutine = named_panicking_goroutine;
    test_run_main(spawn_and_block);
    exit(3);
}

/* goc_set_name shows in the panic's goroutine header. */
TEST(panic_shows_goroutine_name) {
    struct child_opts o = {
        .expect = -SIGABRT,
        .regex = {"^panic: boom 1", "^goroutine [0-9]+.*\\[running\\]", "crash-worker-7"},
    };
    free(expect_child_opts("panic_named_goroutine", &o));
}

TEST(set_name_on_plain_thread_is_harmless) {
    goc_set_name("plain");
    goc_set_name(NULL);
    CHECK_EQ_U64(goc_id(), 0);
}

__attribute__((noinline)) int goc_test_infinite_recursion(int n) {
    volatile char pad[512];
    pad[0] = (char)n;
    pad[sizeof pad - 1] = (char)(n >> 8);
    if (recursion_stop)
        return 0;
    int r = goc_test_infinite_recursion(n + 1);
    return r + pad[0] + pad[sizeof pad - 1];
}

static void overflowing_goroutine(void *p) {
    (void)p;
    fprintf(stderr, "overflowing goroutine id=%llu\n", (unsigned long long)goc_id());
    exit_depth_sink = goc_test_infinite_recursion(0);
}

CHILD(stack_overflow_default_stack) {
    child_goroutine = overflowing_goroutine;
    test_run_main(spawn_and_block);
    exit(3);
}

static int spawn_small_stack_and_block(void *p) {
    (void)p;
    goc_wg_add(&never, 1);
    CHECK_EQ_INT(goc_go_sized(overflowing_goroutine, NULL, 0, GOC_STACK_MIN), 0);
    goc_wg_wait(&never);
    return 0;
}

CHILD(stack_overflow_small_stack) {
    test_run_main(spawn_small_stack_and_block);
    exit(3);
}

/* Under a sanitizer, its own SIGSEGV handler is installed first and goc
 * keeps it (by design: goc never replaces a handler it finds). The child
 * then runs with handle_segv=0 so that goc's overflow report is tested. */
static const char *sanitizer_without_segv(char *buf, size_t n) {
#if defined(GOC_ASAN) || defined(GOC_RACE)
#if defined(GOC_ASAN)
    const char *name = "ASAN_OPTIONS";
#else
    const char *name = "TSAN_OPTIONS";
#endif
    const char *cur = getenv(name);
    snprintf(buf, n, "%s=%s%shandle_segv=0", name, cur ? cur : "", cur && *cur ? ":" : "");
    return buf;
#else
    (void)buf;
    (void)n;
    return NULL;
#endif
}

static void check_stack_overflow_child(const char *child) {
    char env[1024];
    struct child_opts o = {.env = {sanitizer_without_segv(env, sizeof env)},
                           .expect = TEST_FATAL_EXIT,
                           .regex = {"fatal error: stack overflow", "goroutine [0-9]+"}};
    char *err = expect_child_opts(child, &o);
    unsigned long long id = reported_id(err, "overflowing goroutine id=");
    char re[64];
    snprintf(re, sizeof re, "goroutine %llu([^0-9]|$)", id);
    CHECK_MSG(test_regex_match(err, re), "overflow report does not name goroutine %llu", id);
    free(err);
}

TEST(stack_overflow_is_fatal_error) { check_stack_overflow_child("stack_overflow_default_stack"); }

TEST(stack_overflow_small_stack_is_fatal_error) {
    check_stack_overflow_child("stack_overflow_small_stack");
}

/* ================================================================== */
/* goc_lock_os_thread                                                  */

struct locked {
    atomic_int stop;
    atomic_int moved;
    atomic_long busy_work;
    goc_waitgroup busy, done;
    int nest;
};

static void done_after_yields(void *p) {
    for (int i = 0; i < 3; i++)
        goc_yield();
    goc_wg_done(p);
}

static void busy_yielder(void *p) {
    struct locked *k = p;
    while (!atomic_load(&k->stop)) {
        atomic_fetch_add(&k->busy_work, 1);
        goc_yield();
    }
    goc_wg_done(&k->busy);
}

/* Stay on one thread across 1000 yields and blocking waits. */
static void locked_worker(void *p) {
    struct locked *k = p;
    for (int i = 0; i < k->nest; i++)
        goc_lock_os_thread();
    if (k->nest > 1)
        goc_unlock_os_thread(); /* still locked: the lock nests */
    long t0 = test_gettid();
    for (int i = 0; i < 1000; i++) {
        goc_yield();
        if (i % 50 == 0) {
            goc_waitgroup w = {0};
            goc_wg_add(&w, 1);
            TEST_GO(done_after_yields, &w);
            goc_wg_wait(&w); /* parks this goroutine */
        }
        if (test_gettid() != t0)
            atomic_fetch_add(&k->moved, 1);
    }
    for (int i = 0; i < (k->nest > 1 ? k->nest - 1 : k->nest); i++)
        goc_unlock_os_thread();
    goc_yield(); /* may move now: nothing to check */
    goc_wg_done(&k->done);
}

static void run_locked_case(int nest) {
    static struct locked k;
    memset(&k, 0, sizeof k);
    k.nest = nest;
    goc_wg_add(&k.busy, 4);
    for (int i = 0; i < 4; i++)
        TEST_GO(busy_yielder, &k);
    goc_wg_add(&k.done, 2);
    TEST_GO(locked_worker, &k);
    TEST_GO(locked_worker, &k);
    goc_wg_wait(&k.done);
    atomic_store(&k.stop, 1);
    goc_wg_wait(&k.busy);
    CHECK_EQ_INT(atomic_load(&k.moved), 0);
    CHECK_GT_INT(atomic_load(&k.busy_work), 0);
}

GTEST(lock_os_thread_keeps_thread) { run_locked_case(1); }

GTEST(lock_os_thread_nests) { run_locked_case(3); }

/* The main goroutine can lock itself, spawn, and wait. */
GTEST(lock_os_thread_main_goroutine) {
    static struct counter c;
    goc_lock_os_thread();
    long t0 = test_gettid();
    for (int r = 0; r < 20; r++) {
        goc_wg_add(&c.wg, 50);
        for (int i = 0; i < 50; i++)
            TEST_GO(count_yield_done, &c);
        goc_wg_wait(&c.wg);
        goc_yield();
        CHECK_EQ_INT(test_gettid(), t0);
    }
    goc_unlock_os_thread();
    CHECK_EQ_INT(atomic_load(&c.n), 20 * 50);
}

TEST(lock_os_thread_on_plain_thread_is_harmless) {
    goc_lock_os_thread();
    goc_unlock_os_thread();
    goc_unlock_os_thread(); /* unbalanced unlock: no effect, as in Go */
}

/* ================================================================== */
/* WaitGroup                                                           */

static int negative_wg_main(void *p) {
    (void)p;
    static goc_waitgroup wg;
    goc_wg_add(&wg, 1);
    goc_wg_done(&wg);
    goc_wg_done(&wg); /* counter -1 */
    return 0;
}

CHILD(wg_negative_in_goroutine) {
    test_run_main(negative_wg_main);
    exit(3);
}

CHILD(wg_negative_on_plain_thread) {
    static goc_waitgroup wg;
    goc_wg_add(&wg, -1);
    fprintf(stderr, "not reached\n");
    exit(3);
}

TEST(wg_negative_counter_panics) {
    expect_child("wg_negative_in_goroutine", -SIGABRT, "^panic: sync: negative WaitGroup counter");
    expect_child("wg_negative_on_plain_thread", -SIGABRT,
                 "^panic: sync: negative WaitGroup counter");
}

GTEST(wg_reuse_after_wait) {
    static struct counter c;
    long total = 0;
    for (int cycle = 0; cycle < 200; cycle++) {
        int k = 1 + cycle % 17;
        goc_wg_add(&c.wg, k);
        for (int i = 0; i < k; i++)
            TEST_GO(i & 1 ? count_yield_done : count_and_done, &c);
        goc_wg_wait(&c.wg);
        total += k;
        CHECK_EQ_INT(atomic_load(&c.n), total);
    }
}

GTEST(wg_wait_at_zero_returns) {
    goc_waitgroup wg = {0};
    goc_wg_wait(&wg);
    goc_wg_add(&wg, 3);
    goc_wg_add(&wg, -3);
    goc_wg_wait(&wg);
}

TEST(wg_wait_at_zero_returns_on_plain_thread) {
    goc_waitgroup wg = {0};
    goc_wg_wait(&wg);
}

TEST(wg_wait_from_plain_thread) {
    static struct counter c;
    const int n = 1000;
    for (int r = 0; r < 10; r++) {
        goc_wg_add(&c.wg, n);
        for (int i = 0; i < n; i++)
            TEST_GO(count_yield_done, &c);
        goc_wg_wait(&c.wg);
        CHECK_EQ_INT(atomic_load(&c.n), (long)(r + 1) * n);
    }
}

struct many_waiters {
    goc_waitgroup work;
    atomic_int released;
};

static void waiter(void *p) {
    struct many_waiters *m = p;
    goc_wg_wait(&m->work);
    atomic_fetch_add(&m->released, 1);
}

static void done_slowly(void *p) {
    for (int i = 0; i < 10; i++)
        goc_yield();
    goc_wg_done(p);
}

/* Goroutines and plain threads waiting on one WaitGroup are all released. */
TEST(wg_many_waiters_released) {
    static struct many_waiters m;
    static test_group waiters;
    enum { T = 3, G = 50 };
    goc_wg_add(&m.work, 20);
    test_group_thread(&waiters, T, waiter, &m);
    test_group_go(&waiters, G, waiter, &m);
    for (int i = 0; i < 20; i++)
        TEST_GO(done_slowly, &m.work);
    test_group_wait(&waiters);
    CHECK_EQ_INT(atomic_load(&m.released), T + G);
}

GTEST(wg_go_runs_and_signals) {
    static goc_waitgroup wg;
    static atomic_long n;
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(goc_wg_go(&wg, test_count, &n), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&n), 1000);
}

TEST(wg_go_from_plain_thread) {
    static goc_waitgroup wg;
    static atomic_long n;
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(goc_wg_go(&wg, test_count, &n), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&n), 1000);
}

/* ================================================================== */
/* Out of memory (failure injection), in fresh processes               */

static struct gate fp_gate;

/* Spawn gated goroutines until one goc_go fails: free goroutine structs are
 * reused first, so the injected allocation failure comes once they run out. */
static int fp_g_alloc_main(void *p) {
    (void)p;
    test_settle_goroutines(1);
    goc_wg_add(&fp_gate.gate, 1);
    long spawned = 0;
    int rc = 0;
    goc_failpoint_set("g_alloc", 1);
    for (long i = 0; i < 100000; i++) {
        goc_wg_add(&fp_gate.started, 1);
        goc_wg_add(&fp_gate.done, 1);
        rc = goc_go(gated, &fp_gate);
        if (rc != 0) {
            goc_wg_done(&fp_gate.started);
            goc_wg_done(&fp_gate.done);
            break;
        }
        spawned++;
    }
    goc_failpoint_set("g_alloc", 0);
    CHECK_EQ_INT(rc, -ENOMEM);
    goc_wg_wait(&fp_gate.started);
    CHECK_EQ_INT(goc_num_goroutine(), 1 + spawned); /* nothing leaked */

    /* goc_wg_go restores the counter when the spawn fails. */
    static goc_waitgroup wg;
    static atomic_long n;
    goc_failpoint_set("g_alloc", 1);
    CHECK_EQ_INT(goc_wg_go(&wg, test_count, &n), -ENOMEM);
    goc_failpoint_set("g_alloc", 0);
    goc_wg_wait(&wg); /* counter back at 0: returns at once */
    CHECK_EQ_INT(goc_num_goroutine(), 1 + spawned);

    /* Disarmed: spawning works again. */
    goc_wg_add(&fp_gate.started, 1);
    goc_wg_add(&fp_gate.done, 1);
    TEST_GO(gated, &fp_gate);
    CHECK_EQ_INT(goc_wg_go(&wg, test_count, &n), 0);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&n), 1);
    goc_wg_done(&fp_gate.gate);
    goc_wg_wait(&fp_gate.done);
    CHECK_EQ_INT(atomic_load(&fp_gate.passed), spawned + 1);
    test_settle_goroutines(1);
    fprintf(stderr, "g_alloc: -ENOMEM after %ld goroutines\n", spawned);
    return 0;
}

CHILD(failpoint_g_alloc) {
    CHECK_EQ_INT(goc_run(fp_g_alloc_main, NULL), 0);
    fprintf(stderr, "failpoint ok\n");
}

TEST(go_enomem_when_g_alloc_fails) { expect_child("failpoint_g_alloc", 0, "^failpoint ok$"); }

static atomic_int big_stack_ran;

static void use_big_stack(void *p) {
    long *out = p;
    *out = goc_test_deep_recursion(2000); /* ~2 MiB of an 8 MiB stack */
    atomic_store(&big_stack_ran, 1);
}

static int fp_stack_alloc_main(void *p) {
    (void)p;
    static long result;
    long *pr = &result;
    test_settle_goroutines(1);
    int before = goc_num_goroutine();
    /* A non-default size always maps a fresh stack (no cache to hide behind). */
    goc_failpoint_set("stack_alloc", 1);
    int rc = goc_go_sized(use_big_stack, pr, 0, 8u << 20);
    goc_failpoint_set("stack_alloc", 0);
    CHECK_EQ_INT(rc, -ENOMEM);
    CHECK_EQ_INT(goc_num_goroutine(), before);
    CHECK_EQ_INT(atomic_load(&big_stack_ran), 0);

    CHECK_EQ_INT(goc_go_sized(use_big_stack, pr, 0, 8u << 20), 0);
    WAIT_UNTIL(atomic_load(&big_stack_ran) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(result, expected_recursion(2000));
    CHECK_EQ_INT(spawn_100_and_count(NULL), 100);
    test_settle_goroutines(1);
    return 0;
}

CHILD(failpoint_stack_alloc) {
    CHECK_EQ_INT(goc_run(fp_stack_alloc_main, NULL), 0);
    fprintf(stderr, "failpoint ok\n");
}

TEST(go_enomem_when_stack_alloc_fails) {
    expect_child("failpoint_stack_alloc", 0, "^failpoint ok$");
}
