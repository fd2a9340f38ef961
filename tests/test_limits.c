/* test_limits.c — resource limits and bad settings: out of address space
 * during a spawn storm, stack sizes that cannot be mapped, GOCMAXPROCS that
 * is not a number, the processor limit, and an inherited SIG_IGN for
 * SIGQUIT. Each runs in a child process whose stderr is matched. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- out of address space ---- */

static goc_chan *oom_block;
static void oom_parked(void *a) {
    (void)a;
    goc_chan_recv(oom_block, NULL);
}

static int oom_main(void *a) {
    (void)a;
    oom_block = goc_chan_make(0, 0);
    int n = 0, rc;
    while ((rc = goc_go(oom_parked, NULL)) == 0)
        n++;
    CHECK_EQ_INT(rc, -ENOMEM);
    CHECK_GE_INT(n, 100);
    goc_chan_close(oom_block); /* every parked goroutine exits */
    WAIT_UNTIL(goc_num_goroutine() == 1, TEST_PATIENCE_S);
    goc_chan_release(oom_block); /* not before: some had yet to start */
    /* Memory is back: the program goes on. */
    oom_block = goc_chan_make(0, 0);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(goc_go(oom_parked, NULL), 0);
    WAIT_UNTIL(goc_num_goroutine() == 1001, TEST_PATIENCE_S);
    goc_chan_close(oom_block);
    WAIT_UNTIL(goc_num_goroutine() == 1, TEST_PATIENCE_S);
    goc_chan_release(oom_block);
    fprintf(stderr, "spawned %d before -ENOMEM, then 1000 more\n", n);
    return 0;
}

CHILD(spawn_until_address_space_runs_out) {
    /* 1 GiB of address space: room for a few thousand 256 KiB stacks. */
    struct rlimit rl = {1u << 30, 1u << 30};
    CHECK_EQ_INT(setrlimit(RLIMIT_AS, &rl), 0);
    CHECK_EQ_INT(goc_run(oom_main, NULL), 0);
}

TEST(go_returns_enomem_when_address_space_runs_out_then_recovers) {
    expect_child("spawn_until_address_space_runs_out", 0,
                 "^spawned [0-9]+ before -ENOMEM, then 1000 more$");
}

/* ---- stack sizes ---- */

static void noop(void *a) { (void)a; }

GTEST(go_sized_rejects_stacks_that_cannot_be_mapped) {
    CHECK_EQ_INT(goc_go_sized(noop, NULL, 0, SIZE_MAX), -EINVAL);
    CHECK_EQ_INT(goc_go_sized(noop, NULL, 0, SIZE_MAX - 4095), -EINVAL);
    CHECK_EQ_INT(goc_go_sized(noop, NULL, 0, GOC_STACK_MAX + 1), -EINVAL);
    CHECK_EQ_INT(goc_go_sized(noop, NULL, 0, GOC_STACK_MAX), 0);
    WAIT_UNTIL(goc_num_goroutine() == 1, TEST_PATIENCE_S);
}

/* ---- GOCMAXPROCS and goc_maxprocs ---- */

CHILD(print_maxprocs) { fprintf(stderr, "maxprocs=%d\n", goc_maxprocs(0)); }

static void expect_maxprocs(const char *env, const char *regex1, const char *regex2) {
    struct child_opts o = {.env = {env}, .expect = 0, .regex = {regex1, regex2}};
    free(expect_child_opts("print_maxprocs", &o));
}

TEST(gocmaxprocs_not_a_number_is_reported_and_ignored) {
    char want[64];
    int n = test_ncpu() > GOC_MAXPROCS_MAX ? GOC_MAXPROCS_MAX : test_ncpu();
    snprintf(want, sizeof want, "^maxprocs=%d$", n);
    expect_maxprocs("GOCMAXPROCS=3x", "^goc: ignoring GOCMAXPROCS=\"3x\": not a positive integer",
                    want);
    expect_maxprocs("GOCMAXPROCS=1e3", "^goc: ignoring GOCMAXPROCS=\"1e3\"", want);
    expect_maxprocs("GOCMAXPROCS=-2", "^goc: ignoring GOCMAXPROCS=\"-2\"", want);
    expect_maxprocs("GOCMAXPROCS=0", "^goc: ignoring GOCMAXPROCS=\"0\"", want);
    expect_maxprocs("GOCMAXPROCS=3", "^maxprocs=3$", NULL);
}

TEST(gocmaxprocs_above_the_limit_is_capped_and_reported) {
    expect_maxprocs("GOCMAXPROCS=100000", "^goc: GOCMAXPROCS=100000 is above the limit of 256",
                    "^maxprocs=256$");
}

CHILD(maxprocs_above_limit) {
    int old = goc_maxprocs(GOC_MAXPROCS_MAX + 10);
    fprintf(stderr, "now=%d old=%d\n", goc_maxprocs(0), old);
    goc_maxprocs(old);
}

TEST(maxprocs_above_the_limit_is_capped_and_reported) {
    struct child_opts o = {
        .env = {"GOCMAXPROCS=2"},
        .expect = 0,
        .regex = {"^goc: goc_maxprocs\\(266\\) is above the limit of 256", "^now=256 old=2$"},
    };
    free(expect_child_opts("maxprocs_above_limit", &o));
}

/* ---- SIGQUIT inherited as ignored ---- */

static int sigquit_ignored_main(void *a) {
    (void)a;
    kill(getpid(), SIGQUIT);
    goc_sleep(30 * GOC_SECOND); /* the dump ends the process first */
    return 1;
}

CHILD(sigquit_inherited_ignored) {
    signal(SIGQUIT, SIG_IGN); /* as a shell's `nohup` or `trap '' QUIT` leaves it */
    goc_run(sigquit_ignored_main, NULL);
    fprintf(stderr, "SIGQUIT was ignored\n");
}

TEST(sigquit_dumps_even_when_inherited_as_ignored) {
    struct child_opts o = {.expect = 2, .regex = {"^SIGQUIT: quit$", "^goroutine 1 \\["}};
    free(expect_child_opts("sigquit_inherited_ignored", &o));
}
