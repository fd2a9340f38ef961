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
 * Every failure prints "file:line: message" to stderr and ends the process
 * with _exit(1), so the CHECK macros work anywhere: on the test thread, on a
 * plain thread, inside any goroutine.
 *
 * Include this header first: it asks for _GNU_SOURCE.
 */
#ifndef GOC_TESTING_H
#define GOC_TESTING_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    bool child;              /* CHILD(): only run as "child:<name>" */
    struct test_case *next;
};

void test_register(struct test_case *tc);

#define TEST_REGISTER_(name, fn_, is_child)                                          \
    __attribute__((constructor)) static void test_reg_##fn_(void) {                  \
        static struct test_case tc_ = {#name, fn_, is_child, NULL};                   \
        test_register(&tc_);                                                          \
    }

#define TEST(name)                                                                    \
    static void test_case_##name(void);                                               \
    TEST_REGISTER_(name, test_case_##name, false)                                     \
    static void test_case_##name(void)

#define CHILD(name)                                                                   \
    static void test_child_##name(void);                                              \
    TEST_REGISTER_(name, test_child_##name, true)                                     \
    static void test_child_##name(void)

/* The value a GTEST's main goroutine returns when its body completes. */
#define TEST_GOC_OK 0x600d

#define GTEST(name)                                                                   \
    static void gtest_body_##name(void);                                              \
    static int gtest_main_##name(void *arg_) {                                        \
        (void)arg_;                                                                   \
        gtest_body_##name();                                                          \
        return TEST_GOC_OK;                                                           \
    }                                                                                 \
    TEST(name) {                                                                      \
        int rc_ = run_in_goc(gtest_main_##name, NULL);                                \
        CHECK_EQ_INT(rc_, TEST_GOC_OK);                                               \
    }                                                                                 \
    static void gtest_body_##name(void)

/* ---- assertions ---- */

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define FAIL(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond))                                                                  \
            test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond))                                                                  \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)

#define CHECK_CMP_INT_(a, op, b)                                                      \
    do {                                                                              \
        long long a_ = (long long)(a), b_ = (long long)(b);                           \
        if (!(a_ op b_))                                                              \
            test_fail(__FILE__, __LINE__, "CHECK(%s %s %s) failed: %lld vs %lld", #a, #op, \
                      #b, a_, b_);                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK_CMP_INT_(a, ==, b)
#define CHECK_NE_INT(a, b) CHECK_CMP_INT_(a, !=, b)
#define CHECK_LT_INT(a, b) CHECK_CMP_INT_(a, <, b)
#define CHECK_LE_INT(a, b) CHECK_CMP_INT_(a, <=, b)
#define CHECK_GT_INT(a, b) CHECK_CMP_INT_(a, >, b)
#define CHECK_GE_INT(a, b) CHECK_CMP_INT_(a, >=, b)

#define CHECK_EQ_U64(a, b)                                                            \
    do {                                                                              \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
        if (a_ != b_)                                                                 \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_U64(%s, %s) failed: %llu != %llu", #a, \
                      #b, a_, b_);                                                    \
    } while (0)

#define CHECK_EQ_PTR(a, b)                                                            \
    do {                                                                              \
        const void *a_ = (const void *)(a), *b_ = (const void *)(b);                  \
        if (a_ != b_)                                                                 \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_PTR(%s, %s) failed: %p != %p", #a, #b, \
                      a_, b_);                                                        \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                            \
    do {                                                                              \
        const char *a_ = (a), *b_ = (b);                                              \
        if (!test_str_eq_(a_, b_))                                                    \
            test_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s) failed: \"%s\" != \"%s\"", \
                      #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                \
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
    int expect;              /* as for expect_child */
    const char *regex[8];    /* every one must match stderr; NULL ends the list */
    double timeout_s;        /* 0: 120 s; the child is killed after that */
};

/* As expect_child, with options; returns the child's stderr (malloc'd,
 * NUL-terminated) for further checks; free it. */
char *expect_child_opts(const char *case_name, const struct child_opts *opts);

/* Does `text` match the extended regex `re` (REG_NEWLINE)? */
bool test_regex_match(const char *text, const char *re);

/* ---- threads, time, deadlines ---- */

long test_gettid(void);     /* OS thread id (gettid) */
int test_cpu(void);         /* CPU the caller runs on now (sched_getcpu), or -1 */
int test_ncpu(void);        /* CPUs this process may run on */
int64_t test_now_ns(void);  /* CLOCK_MONOTONIC */

typedef struct {
    int64_t end;
    unsigned spins;
} test_deadline;

test_deadline test_deadline_in(double seconds);
bool test_deadline_passed(const test_deadline *d);
/* Let others run: goc_yield() (sched_yield on a plain thread), and now and
 * then a short sleep so that a waiting loop does not burn a whole CPU. */
void test_pause(test_deadline *d);

/* Loop (yielding) until cond holds or `seconds` have passed; then CHECK it. */
#define WAIT_UNTIL(cond, seconds)                                                     \
    do {                                                                              \
        test_deadline wd_ = test_deadline_in(seconds);                                \
        while (!(cond) && !test_deadline_passed(&wd_))                                \
            test_pause(&wd_);                                                         \
        CHECK_MSG((cond), "WAIT_UNTIL(%s) still false after %g s", #cond, (double)(seconds)); \
    } while (0)

/* Generous bound for anything that should happen "soon". */
#define TEST_PATIENCE_S 60.0

#endif /* GOC_TESTING_H */
