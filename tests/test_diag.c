/* test_diag.c — diagnostics under stress: SIGQUIT dumps taken while the
 * set of goroutines changes as fast as it can (the dump reads the
 * all-goroutines table from a signal handler, possibly without its lock). */
#include "testing.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { STORM_SPAWNERS = 4, STORM_DEPTH = TEST_SCALE(3000, 500) };

static _Atomic long storm_spawned;

/* Each spawner keeps STORM_DEPTH goroutines parked on a channel, releases
 * them, and starts over: the table of all goroutines grows past several of
 * its chunks while goroutines are created and die. */
/* Each parked goroutine holds a reference: it may first run after the
 * spawner has closed and released the channel. */
static void storm_parked(void *arg) {
    goc_chan_recv(arg, NULL);
    goc_chan_release(arg);
}

static void storm_spawner(void *arg) {
    (void)arg;
    for (;;) {
        goc_chan *c = goc_chan_make(0, 0);
        for (int i = 0; i < STORM_DEPTH; i++) {
            goc_chan_retain(c);
            if (goc_go(storm_parked, c) == 0)
                atomic_fetch_add(&storm_spawned, 1);
            else
                goc_chan_release(c);
        }
        goc_chan_close(c);
        goc_chan_release(c);
    }
}

static void *quitter(void *arg) {
    long delay_us = (long)(intptr_t)arg;
    while (atomic_load(&storm_spawned) < STORM_DEPTH)
        usleep(100);
    usleep((useconds_t)delay_us);
    kill(getpid(), SIGQUIT);
    return NULL;
}

static int storm_main(void *arg) {
    for (int i = 0; i < STORM_SPAWNERS; i++)
        CHECK_EQ_INT(goc_go(storm_spawner, NULL), 0);
    pthread_t th;
    CHECK_EQ_INT(pthread_create(&th, NULL, quitter, arg), 0);
    goc_sleep(30 * GOC_SECOND); /* the SIGQUIT handler ends the process first */
    return 1;
}

CHILD(sigquit_storm) {
    const char *d = getenv("GOC_TEST_QUIT_DELAY_US");
    long delay = d ? atol(d) : 0;
    int rc = goc_run(storm_main, (void *)(intptr_t)delay);
    fprintf(stderr, "goc_run returned %d: SIGQUIT did not end the program\n", rc);
}

/* 100 dumps, each at a different moment of a spawn storm: every one must
 * print its report and exit 2, never crash. */
TEST(sigquit_during_spawn_storm_never_crashes) {
    int rounds = TEST_SCALE(100, 20);
    for (int i = 0; i < rounds; i++) {
        char delay[64];
        snprintf(delay, sizeof delay, "GOC_TEST_QUIT_DELAY_US=%d", (i * 7919) % 20000);
        struct child_opts o = {
            .env = {delay}, /* 0..20 ms into the storm */
            .expect = 2,
            .regex = {"^SIGQUIT: quit$", "^goroutine 1 \\[",
                      "^goroutine [0-9]+ \\[(runnable|running|chan receive)"},
            .timeout_s = 60,
        };
        free(expect_child_opts("sigquit_storm", &o));
    }
}
