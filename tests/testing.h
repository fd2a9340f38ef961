/* testing.h — the goc test harness.
 *
 * A test program is one tests/test_<x>.c linked with testing.c. It defines
 * cases with
 *
 *     TEST(name)  { ... }     a case run on the program's main (plain) thread
 *     GTEST(name) { ... }     a case whose body runs as goc_run's main goroutine
 *     CHILD(name) { ... }     a helper case run only in a child process, by
 *                             expect_child(); never run by "all"
 *
 * and main() (in testing.c) runs the case named by argv[1]:
 *
 *     test_x <case>           run one case, print "ok <case>"
 *     test_x                  run every TEST/GTEST case in this process
 *     test_x --list           print the case names, one per line
 *     test_x child:<name>     run a CHILD case (what expect_child does)
 *
 * After every case the harness calls goc_leak_check (TEST_LEAK_WAIT_NS):
 * a goroutine still alive then fails the case, with its dump on stderr. A
 * case whose goroutines must outlive it calls test_skip_leak_check(), with
 * a comment saying why.
 *
 * Every failure prints "file:line: message" to stderr and ends the process
 * with _exit(1), so the CHECK macros work anywhere: on the test thread, on a
 * plain thread, inside any goroutine.
 *
 * Besides the harness, this header declares the helpers the test programs
 * share (goroutine and thread groups, bounded waits, goroutine dumps,
 * channel producers and consumers with exactly-once tallies, a PRNG,
 * context checks): use them rather than writing them again in a test file.
 *
 * Include this header first: it asks for _GNU_SOURCE.
 */
#ifndef GOC_TESTS_TESTING_H
#define GOC_TESTS_TESTING_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <goc.h>

/* ---- sanitizer builds: scale heavy counts down ---- */

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(GOC_RACE)
#define GOC_RACE 1
#endif
#if __has_feature(address_sanitizer) && !defined(GOC_ASAN)
#define GOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GOC_RACE)
#define GOC_RACE 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GOC_ASAN)
#define GOC_ASAN 1
#endif

#if defined(GOC_RACE) || defined(GOC_ASAN)
#define TEST_SANITIZED 1
#define TEST_SCALE(normal, sanitized) (sanitized)
#else
#define TEST_SANITIZED 0
#define TEST_SCALE(normal, sanitized) (normal)
#endif

/* Exit status and message goc uses for fatal runtime errors (as Go does). */
#define TEST_FATAL_EXIT 2

/* ---- case registration ---- */

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
    bool child; /* CHILD(): only run as "child:<name>" */
    struct test_case *next;
};

void test_register(struct test_case *tc);

#define TEST_REGISTER_(name, fn_, is_child)                                                        \
    __attribute__((constructor)) static void test_reg_##fn_(void) {                                \
        static struct test_case tc_ = {#name, fn_, is_child, NULL};                                \
        test_register(&tc_);                                                                       \
    }

#define TEST(name)                                                                                 \
    static void test_case_##name(void);                                                            \
    TEST_REGISTER_(name, test_case_##name, false)                                                  \
    static void test_case_##name(void)

#define CHILD(name)                                                                                \
    static void test_child_##name(void);                                                           \
    TEST_REGISTER_(name, test_child_##name, true)                                                  \
    static void test_child_##name(void)

/* The value a GTEST's main goroutine returns when its body completes. */
#define TEST_GOC_OK 0x600d

#define GTEST(name)                                                                                \
    static void gtest_body_##name(void);                                                           \
    static int gtest_main_##name(void *arg_) {                                                     \
        (void)arg_;                                                                                \
        gtest_body_##name();                                                                       \
        return TEST_GOC_OK;                                                                        \
    }                                                                                              \
    TEST(name) {                                                                                   \
        int rc_ = run_in_goc(gtest_main_##name, NULL);                                             \
        CHECK_EQ_INT(rc_, TEST_GOC_OK);                                                            \
    }                                                                                              \
    static void gtest_body_##name(void)

/* ---- the leak check after every case ---- */

/* How long the harness waits for a case's goroutines to exit. */
#define TEST_LEAK_WAIT_NS (2 * GOC_SECOND)

/* This case leaves goroutines alive on purpose: skip the leak check after
 * it (and, when every case runs in one process, after every later case,
 * which would see them). Sparingly, and with a comment at the call saying
 * why the goroutines cannot be made to exit. */
void test_skip_leak_check(void);

/* ---- assertions ---- */

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define FAIL(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)

#define CHECK_CMP_INT_(a, op, b)                                                                   \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_))                                                                           \
            test_fail(__FILE__, __LINE__, "CHECK(%s %s %s) failed: %lld vs %lld", #a, #op, #b, a_, \
                      b_);                                                                         \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK_CMP_INT_(a, ==, b)
#define CHECK_NE_INT(a, b) CHECK_CMP_INT_(a, !=, b)
#define CHECK_LT_INT(a, b) CHECK_CMP_INT_(a, <, b)
#define CHECK_LE_INT(a, b) CHECK_CMP_INT_(a, <=, b)
#define CHECK_GT_INT(a, b) CHECK_CMP_INT_(a, >, b)
#define CHECK_GE_INT(a, b) CHECK_CMP_INT_(a, >=, b)

#define CHECK_EQ_U64(a, b)                                                                         \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);             \
        if (a_ != b_)                                                                              \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_U64(%s, %s) failed: %llu != %llu", #a, #b, a_, \
                      b_);                                                                         \
    } while (0)

#define CHECK_EQ_PTR(a, b)                                                                         \
    do {                                                                                           \
        const void *a_ = (const void *)(a), *b_ = (const void *)(b);                               \
        if (a_ != b_)                                                                              \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_PTR(%s, %s) failed: %p != %p", #a, #b, a_,     \
                      b_);                                                                         \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!test_str_eq_(a_, b_))                                                                 \
            test_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s) failed: \"%s\" != \"%s\"", #a, #b, \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                     \
    } while (0)

bool test_str_eq_(const char *a, const char *b);

/* A line on stdout: "note: ..." (e.g. why an assertion was skipped). */
void test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- running things ---- */

/* goc_run(fn, arg). */
int run_in_goc(int (*fn)(void *), void *arg);

/* Death tests. Re-execute this program as "child:<case_name>", capture its
 * stderr, and check how it ended and what it printed. `expect` is an exit
 * status (>= 0) or minus a signal number (-SIGABRT for a panic);
 * TEST_FATAL_EXIT for goc's fatal errors. Regexes are POSIX extended with
 * REG_NEWLINE (so ^ and $ match at line boundaries, '.' stops at newlines).
 * On a mismatch the child's stderr is printed and the test fails. */
void expect_child(const char *case_name, int expect, const char *stderr_regex);

struct child_opts {
    /* Environment changes: "NAME=value" sets, "NAME" (no '=') unsets. */
    const char *env[8];
    int expect;           /* as for expect_child */
    const char *regex[8]; /* every one must match stderr; NULL ends the list */
    double timeout_s;     /* 0: 120 s; the child is killed after that */
};

/* As expect_child, with options; returns the child's stderr (malloc'd,
 * NUL-terminated) for further checks; free it. */
char *expect_child_opts(const char *case_name, const struct child_opts *opts);

/* Does `text` match the extended regex `re` (REG_NEWLINE)? */
bool test_regex_match(const char *text, const char *re);

/* ---- threads, time, deadlines ---- */

long test_gettid(void);    /* OS thread id (gettid) */
int test_cpu(void);        /* CPU the caller runs on now (sched_getcpu), or -1 */
int test_ncpu(void);       /* CPUs this process may run on */
int64_t test_now_ns(void); /* CLOCK_MONOTONIC */

typedef struct {
    int64_t end;
    unsigned spins;
} test_deadline;

test_deadline test_deadline_in(double seconds);
bool test_deadline_passed(const test_deadline *d);
/* Let others run: goc_yield() (sched_yield on a plain thread), and now and
 * then a short sleep so that a waiting loop does not burn a whole CPU. */
void test_pause(test_deadline *d);

/* Loop (test_pause) until cond holds or `seconds` have passed, whichever
 * comes first; the caller looks at cond afterwards (cond is evaluated once
 * per round, so it may have effects: WAIT_FOR((ok = try()), s)). */
#define WAIT_FOR(cond, seconds)                                                                    \
    do {                                                                                           \
        test_deadline wd_ = test_deadline_in(seconds);                                             \
        while (!(cond) && !test_deadline_passed(&wd_))                                             \
            test_pause(&wd_);                                                                      \
    } while (0)

/* WAIT_FOR, then CHECK cond. */
#define WAIT_UNTIL(cond, seconds)                                                                  \
    do {                                                                                           \
        WAIT_FOR(cond, seconds);                                                                   \
        CHECK_MSG((cond), "WAIT_UNTIL(%s) still false after %g s", #cond, (double)(seconds));      \
    } while (0)

/* Generous bound for anything that should happen "soon". */
#define TEST_PATIENCE_S 60.0

/* Sleep the calling OS thread for ns nanoseconds (nanosleep, resumed after
 * signals): a plain sleep that never goes through goc. */
void test_sleep_ns(int64_t ns);

/* ---- goroutines and plain threads ---- */

/* goc_go / GOC_GO, failing the test if the spawn fails. */
#define TEST_GO(fn, arg) CHECK_EQ_INT(goc_go((fn), (arg)), 0)
#define TEST_GO_ARGS(fn, type, ...) CHECK_EQ_INT(GOC_GO(fn, type, __VA_ARGS__), 0)

/* pthread_create / pthread_join, failing the test if they fail. */
pthread_t test_thread_start(void *(*fn)(void *), void *arg);
void test_thread_join(pthread_t th);

/* A group of goroutines and plain threads that run fn(arg) to the end:
 *
 *     static test_group grp;                 zero value: empty
 *     test_group_thread(&grp, 2, body, &s);  two plain threads run body(&s)
 *     test_group_go(&grp, 8, body, &s);      eight goroutines run body(&s)
 *     test_group_wait_started(&grp);         (if need be) until the eight run
 *     test_group_wait(&grp);                 until all ten have returned
 *
 * test_group_wait waits for the goroutines first (goc_wg_wait) and only
 * then joins the threads (a pthread_join would hold the caller's processor
 * while goroutines still need it); the group is empty and reusable after
 * it. Keep the group where the goroutines can reach it until then (static,
 * like every object goroutines share in these tests). */
#define TEST_GROUP_MAX_THREADS 16

struct test_group_call {
    void (*fn)(void *);
    void *arg;
    goc_waitgroup *started, *wg;
};

typedef struct test_group {
    goc_waitgroup started; /* one count per goroutine not yet in fn */
    goc_waitgroup wg;      /* one count per goroutine still running */
    int nthreads;
    pthread_t th[TEST_GROUP_MAX_THREADS];
    struct test_group_call call[TEST_GROUP_MAX_THREADS];
} test_group;

void test_group_go(test_group *g, int n, void (*fn)(void *), void *arg);
void test_group_thread(test_group *g, int n, void (*fn)(void *), void *arg);
void test_group_wait(test_group *g);
/* Wait until every goroutine started by test_group_go has called its fn
 * (plain threads are not counted). */
void test_group_wait_started(test_group *g);

/* A callback for goc_once_do, goc_wg_go, goc_after_func, ...: adds 1 to the
 * atomic_long that arg points to. */
void test_count(void *counter);

/* Run fn as goc_run's main goroutine (in a CHILD), then print
 * "goc_run returned <rc>" on stderr; returns rc. A child whose main
 * goroutine must never return (it panics, or is reported deadlocked) goes
 * on with exit(3) to make that return a clear failure. */
int test_run_main(int (*fn)(void *));

/* Raise *max to v if v is larger (an atomic maximum). */
void test_atomic_max(atomic_long *max, long v);

/* ---- waiting for goroutines ---- */

/* Wait (bounded) until goc_num_goroutine() == want: goroutines that have
 * signalled a WaitGroup may still be on their way out. */
void test_settle_goroutines(int want);

/* The calling goroutine lets others run for a while: many yields and a
 * short sleep, so that anything runnable has had every chance to run. */
void test_let_others_run(void);

/* A goroutine flags *started before a call that must block for good and
 * *finished after it: check that it got there and never came back. */
void test_check_stays_blocked(atomic_int *started, atomic_int *finished);

/* goc_wg_wait, but fail (with a goroutine dump on stderr) if it takes more
 * than `seconds`: a deadlock must not just hang until CTest's timeout. */
void test_wg_wait_bounded(goc_waitgroup *wg, double seconds, const char *what);

/* goc_dump into a string (malloc'd; free it). */
char *test_dump(void);
/* How many goroutine headers ("goroutine N ..." lines) a dump's text has. */
int test_count_dump_headers(const char *text);
/* Everything written to the temporary file f, as a malloc'd string; closes f. */
char *test_read_and_close(FILE *f);

/* How many goroutines goc_dump shows parked with wait reason `reason`
 * (Go's strings: "sync.Mutex.Lock", "sync.Cond.Wait", ...). */
int test_count_parked(const char *reason);

/* Wait (bounded) until at least n goroutines are parked with `reason`. */
#define WAIT_PARKED(reason, n) WAIT_UNTIL(test_count_parked(reason) >= (n), TEST_PATIENCE_S)

/* ---- channels, producers and consumers ---- */

/* goc_chan_make, failing the test if it returns NULL. */
goc_chan *test_chan_make(size_t elem_size, size_t cap);

/* select { case <-c (into out, may be NULL): 0; default: -1 } */
int test_try_recv(goc_chan *c, void *out);
/* select { case c <- *v: 0; default: -1 } */
int test_try_send(goc_chan *c, const void *v);

/* Send the longs from, from+1, ..., from+n-1 on c. */
void test_send_seq(goc_chan *c, long from, long n);

/* Start a goroutine that does test_send_seq(c, from, n), then closes c if
 * close_after, then goc_wg_done(wg) if wg is not NULL. */
void test_go_send_seq(goc_chan *c, long from, long n, bool close_after, goc_waitgroup *wg);

/* Start a goroutine that waits for wg, then closes chans[0..n-1] (n <= 8;
 * the pointers are copied). */
void test_go_close_after_wait(goc_waitgroup *wg, goc_chan *const *chans, int n);

/* Exactly-once delivery of the values 0..n-1, from any number of
 * receivers at once: take() each value received; check() at the end that
 * every value came exactly once (count, sum, and each value), and free. */
typedef struct test_tally {
    long n;
    atomic_uchar *seen;
    atomic_long count, sum;
} test_tally;

void test_tally_init(test_tally *t, long n);
void test_tally_take(test_tally *t, long v);
void test_tally_check(test_tally *t);

/* Receive longs from c until it is closed, test_tally_take each; returns
 * how many were received. */
long test_recv_tally(goc_chan *c, test_tally *t);

/* A large channel element with a pattern that depends on seq: a copy that
 * is torn, stale or mixed up with another element shows. */
struct test_big {
    uint64_t seq;
    unsigned char bytes[1024 - sizeof(uint64_t)];
};

void test_big_fill(struct test_big *b, uint64_t seq);
void test_big_check(const struct test_big *b, uint64_t seq);

/* ---- random numbers ---- */

/* xorshift64: the next number from *state (never 0 if *state is not). */
uint64_t test_rand(uint64_t *state);

/* A nonzero seed that differs from run to run (the clock, mixed with salt). */
uint64_t test_rand_seed(uint64_t salt);

/* ---- contexts ---- */

/* Is ctx's Done channel closed right now? (never blocks) */
bool test_ctx_done_closed(goc_ctx *c);
/* Does ctx have a Done channel that is still open? (never blocks) */
bool test_ctx_done_open(goc_ctx *c);

/* A cancelable context that has not been canceled. */
#define CHECK_CTX_LIVE(c)                                                                          \
    do {                                                                                           \
        CHECK_EQ_INT(goc_ctx_err(c), 0);                                                           \
        CHECK_EQ_INT(goc_ctx_cause(c), 0);                                                         \
        CHECK_MSG(test_ctx_done_open(c), "Done of %s is not an open channel", #c);                 \
    } while (0)

/* A canceled context: Err is e and Done is closed. */
#define CHECK_CTX_DEAD(c, e)                                                                       \
    do {                                                                                           \
        CHECK_EQ_INT(goc_ctx_err(c), (e));                                                         \
        CHECK_MSG(test_ctx_done_closed(c), "Done of %s is not closed", #c);                        \
    } while (0)

/* A context that can never be canceled. */
#define CHECK_CTX_NEVER_CANCELED(c)                                                                \
    do {                                                                                           \
        CHECK(goc_ctx_done(c) == NULL);                                                            \
        CHECK_EQ_INT(goc_ctx_err(c), 0);                                                           \
        CHECK_EQ_INT(goc_ctx_cause(c), 0);                                                         \
    } while (0)

/* Start a goroutine that sleeps `after`, cancels c (with a reference of its
 * own, dropped then). */
void test_cancel_later(goc_ctx *c, goc_duration after);

#endif /* GOC_TESTS_TESTING_H */
