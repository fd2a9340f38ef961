/* test_lock.c — the runtime lock (glock, src/base/lock.c): mutual exclusion
 * with exact counts and no lost wakeup, with holders that sleep inside the
 * lock so that waiters exhaust their spin and yield and sleep on the futex;
 * in both unlock modes (plain store with membarrier, and the fenced
 * fallback chosen by GOCDEBUG=lockfence=1); from plain threads and from
 * goroutines on 4 processors. A lost wakeup shows as a hang (the CTest
 * timeout). Each case is one behaviour; run `test_lock --list`. */
#include "testing.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/lock.h"

static glock lk = GLOCK_INIT(LR_LEAF);
static long counter; /* lk */
static long iters;

/* Every 256th section the holder sleeps 100 us with the lock held: the
 * others spin (~100 pauses), yield, and go to sleep on the futex; every
 * unlock after that must wake one. */
static void hammer(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++) {
        glock_lock(&lk);
        long c = counter;
        if (i % 256 == 255)
            usleep(100);
        counter = c + 1;
        glock_unlock(&lk);
    }
}

static void *hammer_thread(void *arg) {
    hammer(arg);
    return NULL;
}

static void threads_exact(int nthreads) {
    pthread_t th[8];
    iters = TEST_SCALE(20000, 4000);
    counter = 0;
    for (int i = 0; i < nthreads; i++)
        th[i] = test_thread_start(hammer_thread, NULL);
    for (int i = 0; i < nthreads; i++)
        test_thread_join(th[i]);
    glock_lock(&lk);
    CHECK_EQ_INT(counter, iters * nthreads);
    glock_unlock(&lk);
    CHECK_EQ_INT(atomic_load(&lk.state), 0);
    CHECK_EQ_INT(atomic_load(glock_sleepers_of(&lk)) & ~GLOCK_SLEEPERS_FENCED,
                 0); /* every sleeper took its 1 back */
}

/* Four plain threads on two CPUs: holders are also preempted mid-section. */
TEST(threads_exclusion_exact_no_lost_wakeup) { threads_exact(4); }

CHILD(fenced_threads) {
    CHECK(glock_fenced); /* GOCDEBUG=lockfence=1 */
    threads_exact(4);
    printf("fenced ok\n");
}

/* The same in the fallback mode (a fence in every unlock, no membarrier). */
TEST(fenced_mode_exclusion_exact_no_lost_wakeup) {
    struct child_opts o = {.env = {"GOCDEBUG=lockfence=1"}, .expect = 0};
    free(expect_child_opts("fenced_threads", &o));
}

/* Without GOCDEBUG the plain-store mode is on wherever membarrier
 * registers (this kernel: yes; an emulator may refuse it). */
TEST(default_mode_is_plain_store_when_membarrier_works) {
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool works = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                 syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    printf("membarrier %s, glock_fenced=%d\n", works ? "works" : "refused", (int)glock_fenced);
    if (getenv("GOCDEBUG") == NULL)
        CHECK_EQ_INT(glock_fenced, !works);
}

/* Goroutines on 4 processors and plain threads on one lock. */
static test_group grp;
GTEST(goroutines_and_threads_exact_four_procs) {
    int old = goc_maxprocs(4);
    iters = TEST_SCALE(20000, 3000);
    counter = 0;
    test_group_go(&grp, 6, hammer, NULL);
    test_group_thread(&grp, 2, hammer, NULL);
    test_group_wait(&grp);
    glock_lock(&lk);
    CHECK_EQ_INT(counter, iters * 8);
    glock_unlock(&lk);
    CHECK_EQ_INT(atomic_load(glock_sleepers_of(&lk)) & ~GLOCK_SLEEPERS_FENCED, 0);
    goc_maxprocs(old);
}
