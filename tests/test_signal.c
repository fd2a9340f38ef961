/* test_signal.c — signal notification (goc_signal_notify, goc_signal_stop)
 * and the dispositions goc sets for it: delivery to one or several
 * channels, every catchable signal (n == 0), drops when a channel is full,
 * stop (no more deliveries, the earlier action back), SIGQUIT delivered
 * instead of dumped, SIGPIPE never fatal, bad arguments, and the deadlock
 * check staying quiet while the program waits for a signal.
 *
 * Signals are sent with kill() to the whole process: goc's threads block
 * them, so they land on the program's main thread (asleep in goc_run, or
 * the test itself), whose handler wakes the deliverer. Cases that end with a
 * signal's default action run in a child process (CHILD + expect_child). */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS GOC_MILLISECOND

/* Receive one signal number from c, waiting at most `seconds`: the number,
 * or the context's error (-ETIMEDOUT). */
static int recv_sig(goc_chan *c, double seconds) {
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, (goc_duration)(seconds * 1e9));
    CHECK(ctx != NULL);
    int v = 0;
    int err = goc_chan_recv_ctx(c, &v, NULL, ctx);
    goc_ctx_cancel(ctx);
    goc_ctx_release(ctx);
    return err ? err : v;
}

static goc_chan *sig_chan(size_t cap) { return test_chan_make(sizeof(int), cap); }

static void notify1(goc_chan *c, int sig) { CHECK_EQ_INT(goc_signal_notify(c, &sig, 1), 0); }

/* ---- delivery ---- */

GTEST(notify_delivers_sigusr1_sent_with_kill) {
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR1);
    /* Again: the registration lasts until stop. */
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR1);
    goc_signal_stop(c);
    goc_chan_release(c);
}

TEST(notify_on_plain_thread) {
    /* Before any goc_run: notify starts the runtime; the main thread takes
     * the signal and then waits for it on the channel. */
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR2);
    CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR2);
    goc_signal_stop(c);
    goc_chan_release(c);
}

GTEST(several_channels_each_get_the_signal) {
    enum { N = 3 };
    goc_chan *c[N];
    for (int i = 0; i < N; i++) {
        c[i] = sig_chan(1);
        notify1(c[i], SIGUSR1);
    }
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(recv_sig(c[i], TEST_PATIENCE_S), SIGUSR1);
    for (int i = 0; i < N; i++) {
        goc_signal_stop(c[i]);
        goc_chan_release(c[i]);
    }
}

GTEST(notify_adds_signals_to_a_channel) {
    goc_chan *c = sig_chan(2);
    notify1(c, SIGUSR1);
    notify1(c, SIGUSR2);
    notify1(c, SIGUSR1); /* already there: no double delivery */
    CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR2);
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR1);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(goc_chan_len(c), 0);
    goc_signal_stop(c);
    goc_chan_release(c);
}

GTEST(notify_all_catches_sigusr2) {
    goc_chan *c = sig_chan(8);
    CHECK_EQ_INT(goc_signal_notify(c, NULL, 0), 0);
    CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
    /* Other signals (SIGCHLD, SIGWINCH, ...) may come too: look for ours. */
    int got;
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    do {
        got = recv_sig(c, TEST_PATIENCE_S);
        CHECK_GT_INT(got, 0);
    } while (got != SIGUSR2 && !test_deadline_passed(&d));
    CHECK_EQ_INT(got, SIGUSR2);
    /* A real-time signal is catchable too. */
    CHECK_EQ_INT(kill(getpid(), SIGRTMIN + 1), 0);
    do {
        got = recv_sig(c, TEST_PATIENCE_S);
        CHECK_GT_INT(got, 0);
    } while (got != SIGRTMIN + 1 && !test_deadline_passed(&d));
    CHECK_EQ_INT(got, SIGRTMIN + 1);
    goc_signal_stop(c);
    goc_chan_release(c);
}

GTEST(full_channel_drops_signals_and_delivery_goes_on) {
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    WAIT_UNTIL(goc_chan_len(c) == 1, TEST_PATIENCE_S);
    goc_sleep(50 * MS); /* anything still on its way */
    int n = 0, v;
    while (test_try_recv(c, &v) == 0) {
        CHECK_EQ_INT(v, SIGUSR1);
        n++;
        goc_sleep(10 * MS);
    }
    CHECK_GE_INT(n, 1);
    CHECK_LE_INT(n, 3);
    /* The deliverer did not hang on the full channel. */
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR1);
    goc_signal_stop(c);
    goc_chan_release(c);
}

GTEST(unbuffered_channel_without_a_receiver_drops_the_signal) {
    goc_chan *c = sig_chan(0);
    notify1(c, SIGUSR1);
    /* No receiver yet: dropped. */
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    goc_sleep(50 * MS);
    CHECK_EQ_INT(test_try_recv(c, NULL), -1);
    goc_signal_stop(c);
    goc_chan_release(c);
}

/* ---- stop ---- */

GTEST(stop_stops_delivery_to_that_channel_only) {
    goc_chan *a = sig_chan(1), *b = sig_chan(1);
    notify1(a, SIGUSR1);
    notify1(b, SIGUSR1);
    goc_signal_stop(a);
    goc_signal_stop(a); /* twice: nothing */
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(b, TEST_PATIENCE_S), SIGUSR1);
    goc_sleep(20 * MS);
    CHECK_EQ_INT(goc_chan_len(a), 0);
    goc_signal_stop(b);
    goc_signal_stop(NULL);
    goc_chan_release(a);
    goc_chan_release(b);
}

GTEST(notify_keeps_a_reference_until_stop) {
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    goc_chan *mine = goc_chan_retain(c);
    goc_chan_release(c); /* the table's reference keeps it alive */
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(recv_sig(mine, TEST_PATIENCE_S), SIGUSR1);
    goc_signal_stop(mine); /* drops the table's reference */
    goc_chan_release(mine);
}

static int stop_default_main(void *arg) {
    (void)arg;
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    kill(getpid(), SIGUSR1);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR1);
    goc_signal_stop(c);
    fprintf(stderr, "stopped\n");
    kill(getpid(), SIGUSR1); /* the default action: the end */
    goc_sleep(30 * GOC_SECOND);
    fprintf(stderr, "SIGUSR1 did not end the program\n");
    return 3;
}

CHILD(stop_then_sigusr1) { exit(test_run_main(stop_default_main)); }

TEST(stop_restores_the_default_action) { expect_child("stop_then_sigusr1", -SIGUSR1, "^stopped$"); }

static atomic_int own_handler_calls;
static void own_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&own_handler_calls, 1);
}

TEST(stop_gives_back_the_programs_own_handler) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ_INT(sigaction(SIGUSR2, &sa, &old), 0);
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR2);
    CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGUSR2);
    CHECK_EQ_INT(atomic_load(&own_handler_calls), 0);
    goc_signal_stop(c);
    CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
    WAIT_UNTIL(atomic_load(&own_handler_calls) == 1, TEST_PATIENCE_S);
    CHECK_EQ_INT(goc_chan_len(c), 0);
    struct sigaction now;
    CHECK_EQ_INT(sigaction(SIGUSR2, &old, &now), 0);
    CHECK(now.sa_handler == own_handler);
    goc_chan_release(c);
}

/* ---- SIGQUIT ---- */

static int sigquit_main(void *arg) {
    (void)arg;
    goc_chan *c = sig_chan(1);
    notify1(c, SIGQUIT);
    kill(getpid(), SIGQUIT);
    int got = recv_sig(c, TEST_PATIENCE_S);
    fprintf(stderr, "got %s\n", got == SIGQUIT ? "SIGQUIT" : "something else");
    goc_signal_stop(c);
    kill(getpid(), SIGQUIT); /* dumps and exits 2 */
    goc_sleep(30 * GOC_SECOND);
    fprintf(stderr, "SIGQUIT did not end the program\n");
    return 3;
}

CHILD(sigquit_to_channel_then_dump) { exit(test_run_main(sigquit_main)); }

TEST(sigquit_goes_to_the_channel_and_dumps_again_after_stop) {
    struct child_opts o = {
        .expect = 2,
        .regex = {"^got SIGQUIT$", "^SIGQUIT: quit$", "^goroutine 1 \\["},
    };
    char *err = expect_child_opts("sigquit_to_channel_then_dump", &o);
    /* One dump only: the first SIGQUIT went to the channel. */
    const char *q = strstr(err, "SIGQUIT: quit");
    CHECK(q && !strstr(q + 1, "SIGQUIT: quit"));
    CHECK(strstr(err, "got SIGQUIT") < q);
    free(err);
}

/* ---- SIGPIPE ---- */

/* write(2) to a pipe whose reader is gone: -1 with EPIPE, the process goes
 * on. */
static int write_to_broken_pipe(void) {
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    close(fds[0]);
    ssize_t n = write(fds[1], "x", 1);
    int e = errno;
    close(fds[1]);
    CHECK_EQ_INT(n, -1);
    return e;
}

static void *broken_pipe_thread(void *arg) {
    (void)arg;
    /* A program thread that takes SIGPIPE (created from a goroutine, it
     * starts with the runtime's mask: every signal blocked). */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    CHECK_EQ_INT(write_to_broken_pipe(), EPIPE);
    return NULL;
}

GTEST(sigpipe_never_kills_writes_get_epipe) {
    CHECK_EQ_INT(write_to_broken_pipe(), EPIPE);                   /* on a goroutine */
    test_thread_join(test_thread_start(broken_pipe_thread, NULL)); /* a plain thread */
}

TEST(sigpipe_never_kills_main_thread) {
    goc_chan *c = sig_chan(1); /* any use of goc starts the runtime */
    notify1(c, SIGUSR1);
    goc_signal_stop(c);
    goc_chan_release(c);
    CHECK_EQ_INT(write_to_broken_pipe(), EPIPE);
}

GTEST(sigpipe_is_delivered_when_notified) {
    goc_chan *c = sig_chan(4);
    notify1(c, SIGPIPE);
    CHECK_EQ_INT(write_to_broken_pipe(), EPIPE); /* raised on this goroutine's thread */
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGPIPE);
    test_thread_join(test_thread_start(broken_pipe_thread, NULL));
    CHECK_EQ_INT(recv_sig(c, TEST_PATIENCE_S), SIGPIPE);
    goc_signal_stop(c);
    /* Ignored again, not the default action. */
    CHECK_EQ_INT(write_to_broken_pipe(), EPIPE);
    goc_chan_release(c);
}

/* ---- bad arguments ---- */

GTEST(bad_signals_and_channels_are_einval) {
    goc_chan *c = sig_chan(1);
    const int bad[] = {0,      -1,     65,     1000,    SIGKILL, SIGSTOP, SIGSEGV,
                       SIGBUS, SIGFPE, SIGILL, SIGTRAP, 32,      33};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(goc_signal_notify(c, &bad[i], 1) == -EINVAL, "signal %d accepted", bad[i]);
    /* One bad signal among good ones: nothing registered. */
    const int mixed[] = {SIGUSR1, SIGKILL};
    CHECK_EQ_INT(goc_signal_notify(c, mixed, 2), -EINVAL);
    CHECK_EQ_INT(goc_signal_notify(c, NULL, 1), -EINVAL);
    int usr1 = SIGUSR1;
    CHECK_EQ_INT(goc_signal_notify(NULL, &usr1, 1), -EINVAL);
    goc_chan *wide = test_chan_make(sizeof(long), 1);
    goc_chan *none = test_chan_make(0, 1);
    CHECK_EQ_INT(goc_signal_notify(wide, &usr1, 1), -EINVAL);
    CHECK_EQ_INT(goc_signal_notify(none, NULL, 0), -EINVAL);
    goc_signal_stop(c); /* not registered: nothing */
    goc_chan_release(c);
    goc_chan_release(wide);
    goc_chan_release(none);
}

/* ---- the deadlock check ---- */

/* Main waits only for a signal, which another process sends 200 ms later:
 * the goroutine can be woken from outside, so no deadlock is reported. */
static int wait_for_signal_main(void *arg) {
    (void)arg;
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    pid_t self = getpid();
    pid_t kid = fork();
    CHECK(kid >= 0);
    if (kid == 0) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        kill(self, SIGUSR1);
        _exit(0);
    }
    int v = 0;
    CHECK(goc_chan_recv(c, &v)); /* every M idles: the check runs */
    fprintf(stderr, "got signal %s\n", v == SIGUSR1 ? "SIGUSR1" : "?");
    int st;
    CHECK_EQ_INT(waitpid(kid, &st, 0), kid);
    goc_signal_stop(c);
    goc_chan_release(c);
    return 0;
}

CHILD(main_waits_for_a_signal) { exit(test_run_main(wait_for_signal_main)); }

TEST(no_deadlock_report_while_waiting_for_a_signal) {
    struct child_opts o = {.expect = 0, .regex = {"^got signal SIGUSR1$", "^goc_run returned 0$"}};
    char *err = expect_child_opts("main_waits_for_a_signal", &o);
    CHECK(!strstr(err, "deadlock"));
    free(err);
}

/* The same wait, with the signal from a thread of the process itself. */
static void *kill_later(void *arg) {
    (void)arg;
    test_sleep_ns(200 * MS);
    kill(getpid(), SIGUSR1);
    return NULL;
}

GTEST(signal_from_another_thread_wakes_main) {
    goc_chan *c = sig_chan(1);
    notify1(c, SIGUSR1);
    pthread_t th = test_thread_start(kill_later, NULL);
    int v = 0;
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, SIGUSR1);
    test_thread_join(th);
    goc_signal_stop(c);
    goc_chan_release(c);
}
