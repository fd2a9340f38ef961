/* test_sched_switch.c — goroutines entered by a call and left by a return
 * (issue 13): the start switch (garch_start) and the exit switch, straight
 * from one fresh stack to the next, goc_exit from deep calls, and the
 * floating-point control state a new goroutine starts with. */
#include "testing.h"

#include <stdatomic.h>
#include <stdint.h>

/* ================================================================== */
/* Goroutines entered by a call and left by a return                    */

enum { CHAIN_LEN = TEST_SCALE(100000, 5000), CHAIN_WIDTH = 4 };
static atomic_long chain_ran;
static goc_waitgroup chain_wg;

/* Each link spawns the next and returns at once: its exit switch finds a
 * goroutine that never ran in runnext, and starts it from the dying
 * goroutine's start code (one fresh stack straight to the next). Every
 * CHAIN_WIDTH-th link also spawns one that leaves through goc_exit from a
 * few calls deep (the switch that never returns). */
static void (*volatile chain_exit_fn)(void) = goc_exit;

static __attribute__((noinline)) void chain_exit_deep(int depth) {
    if (depth > 0) {
        chain_exit_deep(depth - 1);
        __asm__ volatile("" ::: "memory"); /* a real frame, not a tail call */
        return;
    }
    atomic_fetch_add(&chain_ran, 1);
    goc_wg_done(&chain_wg);
    chain_exit_fn();
}

static void chain_exiter(void *arg) {
    (void)arg;
    chain_exit_deep(3);
    FAIL("goc_exit returned");
}

static void chain_link(void *arg) {
    long left = (long)(intptr_t)arg;
    atomic_fetch_add(&chain_ran, 1);
    if (left % CHAIN_WIDTH == 0)
        TEST_GO(chain_exiter, NULL);
    if (left > 1)
        TEST_GO(chain_link, (void *)(intptr_t)(left - 1));
    goc_wg_done(&chain_wg);
}

GTEST(start_and_exit_switches_chain) {
    goc_wg_add(&chain_wg, CHAIN_LEN + CHAIN_LEN / CHAIN_WIDTH);
    TEST_GO(chain_link, (void *)(intptr_t)CHAIN_LEN);
    test_wg_wait_bounded(&chain_wg, TEST_PATIENCE_S, "spawn chain");
    CHECK_EQ_INT(atomic_load(&chain_ran), (long)CHAIN_LEN + CHAIN_LEN / CHAIN_WIDTH);
    test_settle_goroutines(1);
}

/* Floating-point control state starts at its defaults in every goroutine,
 * whatever the goroutine that ran before left in it (the x87 control word,
 * which garch_start loads for each new goroutine; on aarch64 FPCR, which is
 * per goroutine). */
static atomic_int fp_ok;
static goc_waitgroup fp_wg;

static unsigned fp_ctl(void) {
#if defined(__x86_64__)
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
#elif defined(__aarch64__)
    unsigned long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return (unsigned)v;
#else
    return 0;
#endif
}

static void fp_set(unsigned v) {
#if defined(__x86_64__)
    unsigned short cw = (unsigned short)v;
    __asm__ volatile("fldcw %0" : : "m"(cw));
#elif defined(__aarch64__)
    unsigned long x = v;
    __asm__ volatile("msr fpcr, %0" : : "r"(x));
#else
    (void)v;
#endif
}

#if defined(__x86_64__)
enum { FP_DEFAULT = 0x037f, FP_OTHER = 0x0f7f /* round toward zero */ };
#else
enum { FP_DEFAULT = 0, FP_OTHER = 3u << 22 /* round toward zero */ };
#endif

static void fp_child(void *arg) {
    (void)arg;
    if (fp_ctl() == FP_DEFAULT)
        atomic_fetch_add(&fp_ok, 1);
    fp_set(FP_OTHER); /* left behind at exit: must not leak */
    goc_wg_done(&fp_wg);
}

GTEST(fresh_goroutine_fp_control_defaults) {
    enum { N = 1000 };
    goc_wg_add(&fp_wg, N);
    for (int i = 0; i < N; i++)
        TEST_GO(fp_child, NULL);
    test_wg_wait_bounded(&fp_wg, TEST_PATIENCE_S, "fp children");
    CHECK_EQ_INT(atomic_load(&fp_ok), N);
}
