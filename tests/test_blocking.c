/* test_blocking.c — the blocking-call handoff (goc_blocking) and the
 * deadlock detector around I/O waits.
 *
 * goc_blocking: other goroutines keep running (a ticker on one processor
 * while a goroutine sleeps in a blocking call), many blocking calls run at
 * once (each on a thread of its own), fn's value comes back, goc calls
 * inside fn block only that thread, plain threads just call fn, NULL fn is
 * -EINVAL. Deadlocks (child processes): a goroutine waiting for I/O that
 * another process causes is no deadlock, nor is one in a long blocking
 * call; a program whose I/O waits have all ended and whose main goroutine
 * then blocks for good is reported as Go reports it. */
#include "testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS GOC_MILLISECOND
#define DEADLOCK_RE "^fatal error: all goroutines are asleep - deadlock!$"

static atomic_int in_fn, fn_done;

static int sleep_fn(void *arg) {
    atomic_store(&in_fn, 1);
    usleep((useconds_t)(intptr_t)arg);
    atomic_store(&fn_done, 1);
    return 7;
}

static goc_waitgroup wg;

static void sleeper(void *arg) {
    CHECK_EQ_INT(goc_blocking(sleep_fn, arg), 7);
    goc_wg_done(&wg);
}

/* One processor (GOCMAXPROCS=1 in the .p1 run): a goroutine sleeps 200 ms
 * in goc_blocking while this one receives 5 ms ticks: the processor was
 * handed over, so ticks arrive meanwhile. */
GTEST(blocking_call_keeps_ticker_running) {
    atomic_store(&in_fn, 0);
    atomic_store(&fn_done, 0);
    goc_ticker *t = goc_ticker_new(5 * MS);
    CHECK(t);
    goc_wg_add(&wg, 1);
    TEST_GO(sleeper, (void *)(intptr_t)200000);
    WAIT_UNTIL(atomic_load(&in_fn), TEST_PATIENCE_S);
    int ticks = 0;
    int64_t v;
    while (!atomic_load(&fn_done)) {
        goc_chan_recv(goc_ticker_chan(t), &v);
        if (!atomic_load(&fn_done))
            ticks++;
    }
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "sleeper");
    goc_ticker_free(t);
    test_note("%d ticks during the 200 ms call", ticks);
    CHECK_GE_INT(ticks, 5);
}

static atomic_int concurrent;
static atomic_long maxconc;

static int par_fn(void *arg) {
    test_atomic_max(&maxconc, atomic_fetch_add(&concurrent, 1) + 1);
    usleep(100000);
    atomic_fetch_sub(&concurrent, 1);
    return (int)(intptr_t)arg * 3;
}

static atomic_long par_sum;

static void par_caller(void *arg) {
    atomic_fetch_add(&par_sum, goc_blocking(par_fn, arg));
    goc_wg_done(&wg);
}

/* 40 calls that each sleep 100 ms: together in well under 40 x 100 ms. */
GTEST(many_blocking_calls_run_in_parallel) {
    enum { N = 40 };
    atomic_store(&maxconc, 0);
    atomic_store(&par_sum, 0);
    int64_t t0 = test_now_ns();
    goc_wg_add(&wg, N);
    for (int i = 0; i < N; i++)
        TEST_GO(par_caller, (void *)(intptr_t)i);
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "blocking callers");
    double el = (double)(test_now_ns() - t0) / 1e9;
    test_note("%d calls of 100 ms in %.3f s, at most %ld at once", N, el, atomic_load(&maxconc));
    CHECK_EQ_INT(atomic_load(&par_sum), 3 * N * (N - 1) / 2);
    CHECK_GE_INT(atomic_load(&maxconc), 8);
    CHECK_MSG(el < TEST_SCALE(2.0, 4.0), "40 blocking calls took %.3f s", el);
}

static int value_fn(void *arg) { return *(int *)arg; }

static int arg_fn(void *arg) {
    *(long *)arg += 1;
    return 0;
}

static void check_values(void) {
    static const int vals[] = {0, 1, -1, 42, -EINVAL, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int v = vals[i];
        CHECK_EQ_INT(goc_blocking(value_fn, &v), v);
    }
    long x = 41;
    CHECK_EQ_INT(goc_blocking(arg_fn, &x), 0);
    CHECK_EQ_INT(x, 42);
    CHECK_EQ_INT(goc_blocking(NULL, NULL), -EINVAL);
    CHECK_EQ_INT(goc_blocking(NULL, &x), -EINVAL);
}

GTEST(blocking_returns_fn_value) { check_values(); }

static long tid_in_fn;

static int tid_fn(void *arg) {
    (void)arg;
    tid_in_fn = test_gettid();
    return 5;
}

static void *plain_thread_body(void *arg) {
    (void)arg;
    check_values();
    tid_in_fn = 0;
    CHECK_EQ_INT(goc_blocking(tid_fn, NULL), 5);
    CHECK_EQ_INT(tid_in_fn, test_gettid()); /* just called, on this thread */
    return NULL;
}

/* No goc_run at all. */
TEST(blocking_on_plain_thread_just_calls_fn) {
    plain_thread_body(NULL);
    test_thread_join(test_thread_start(plain_thread_body, NULL));
}

/* A plain thread while goroutines run. */
GTEST(blocking_on_plain_thread_beside_goroutines) {
    test_thread_join(test_thread_start(plain_thread_body, NULL));
}

/* Inside fn a goc call blocks the thread (as on a plain thread), while the
 * processor goes on running the goroutine that unblocks it. */
static goc_chan *inner_chan;

static int recv_fn(void *arg) {
    (void)arg;
    int v = 0;
    goc_chan_recv(inner_chan, &v);
    /* Nested: fn runs as on a plain thread, so this just calls fn. */
    int w = 11;
    CHECK_EQ_INT(goc_blocking(value_fn, &w), 11);
    return v;
}

static void inner_sender(void *arg) {
    (void)arg;
    WAIT_UNTIL(atomic_load(&in_fn), TEST_PATIENCE_S);
    goc_sleep(10 * MS);
    int v = 99;
    goc_chan_send(inner_chan, &v);
    goc_wg_done(&wg);
}

static int flag_recv_fn(void *arg) {
    atomic_store(&in_fn, 1);
    return recv_fn(arg);
}

GTEST(goc_calls_inside_fn_block_only_that_thread) {
    atomic_store(&in_fn, 0);
    inner_chan = test_chan_make(sizeof(int), 0);
    goc_wg_add(&wg, 1);
    TEST_GO(inner_sender, NULL);
    CHECK_EQ_INT(goc_blocking(flag_recv_fn, NULL), 99);
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "sender");
    goc_chan_release(inner_chan);
}

/* Many short blocking calls from many goroutines: the fast path (the
 * processor still there on return) and the retake (sysmon took it) race
 * call after call; every call returns its own value. */
static atomic_long stress_sum;

static int short_fn(void *arg) {
    long i = (long)(intptr_t)arg;
    if (i % 16 == 0)
        usleep(50);
    return (int)(i & 0xffff);
}

static void stress_caller(void *arg) {
    long base = (long)(intptr_t)arg;
    long sum = 0;
    for (long i = 0; i < 500; i++) {
        long k = base * 1000 + i;
        CHECK_EQ_INT(goc_blocking(short_fn, (void *)(intptr_t)k), k & 0xffff);
        sum += k & 0xffff;
        if (i % 50 == 0)
            goc_yield();
    }
    atomic_fetch_add(&stress_sum, sum);
    goc_wg_done(&wg);
}

GTEST(many_short_blocking_calls_all_return) {
    enum { G = 16 };
    atomic_store(&stress_sum, 0);
    long want = 0;
    for (long g = 0; g < G; g++)
        for (long i = 0; i < 500; i++)
            want += (g * 1000 + i) & 0xffff;
    goc_wg_add(&wg, G);
    for (long g = 0; g < G; g++)
        TEST_GO(stress_caller, (void *)(intptr_t)g);
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "callers");
    CHECK_EQ_INT(atomic_load(&stress_sum), want);
}

/* fn readies goroutines (it sends to receivers parked on channels) while
 * sysmon retakes processors from calls: a goroutine readied inside fn
 * must never be queued on a processor the calling thread no longer owns. */
enum { PAIRS = 6, MSGS = 400 };
static goc_chan *pair_chan[PAIRS];
static atomic_long pair_sum;

struct sendarg {
    goc_chan *c;
    long v;
};

static int send_fn(void *arg) {
    struct sendarg *a = arg;
    if (a->v % 4 == 0)
        usleep(30); /* long enough for a retake now and then */
    goc_chan_send(a->c, &a->v);
    return 0;
}

static void pair_producer(void *arg) {
    int i = (int)(intptr_t)arg;
    for (long k = 0; k < MSGS; k++) {
        struct sendarg a = {pair_chan[i], k};
        CHECK_EQ_INT(goc_blocking(send_fn, &a), 0);
    }
    goc_wg_done(&wg);
}

static void pair_consumer(void *arg) {
    int i = (int)(intptr_t)arg;
    long sum = 0, v;
    for (long k = 0; k < MSGS; k++) {
        goc_chan_recv(pair_chan[i], &v);
        CHECK_EQ_INT(v, k);
        sum += v;
    }
    atomic_fetch_add(&pair_sum, sum);
    goc_wg_done(&wg);
}

static atomic_int spin_stop;

static void spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop))
        goc_yield();
    goc_wg_done(&wg);
}

GTEST(blocking_fn_readies_goroutines_while_processors_are_retaken) {
    atomic_store(&pair_sum, 0);
    atomic_store(&spin_stop, 0);
    for (int i = 0; i < PAIRS; i++)
        pair_chan[i] = test_chan_make(sizeof(long), 0);
    goc_wg_add(&wg, 2 * PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        TEST_GO(pair_consumer, (void *)(intptr_t)i);
        TEST_GO(pair_producer, (void *)(intptr_t)i);
    }
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "pairs");
    CHECK_EQ_INT(atomic_load(&pair_sum), (long)PAIRS * MSGS * (MSGS - 1) / 2);
    /* Again with goroutines that keep every processor busy. */
    atomic_store(&pair_sum, 0);
    goc_wg_add(&wg, 2 * PAIRS + 2);
    TEST_GO(spinner, NULL);
    TEST_GO(spinner, NULL);
    for (int i = 0; i < PAIRS; i++) {
        TEST_GO(pair_consumer, (void *)(intptr_t)i);
        TEST_GO(pair_producer, (void *)(intptr_t)i);
    }
    WAIT_UNTIL(atomic_load(&pair_sum) == (long)PAIRS * MSGS * (MSGS - 1) / 2, TEST_PATIENCE_S);
    atomic_store(&spin_stop, 1);
    test_wg_wait_bounded(&wg, TEST_PATIENCE_S, "pairs and spinners");
    for (int i = 0; i < PAIRS; i++)
        goc_chan_release(pair_chan[i]);
}

/* ------------------------------------------------------------------ */
/* deadlock detection around I/O waits (child processes)               */

/* A grandchild process that sleeps, then writes "ping" to fd and exits
 * (only async-signal-safe calls after fork). */
static pid_t fork_pinger(int fd, const char *port) {
    pid_t pid = fork();
    CHECK_GE_INT(pid, 0);
    if (pid == 0) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (port) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_port = htons((uint16_t)atoi(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
                _exit(3);
            fd = s;
        }
        _exit(write(fd, "ping", 4) == 4 ? 0 : 4);
    }
    return pid;
}

static void reap(pid_t pid) {
    int st;
    CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild status 0x%x", st);
}

static int main_reads_pipe(void *arg) {
    (void)arg;
    int p[2];
    CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork_pinger(p[1], NULL);
    goc_close(p[1]);
    char b[8];
    ssize_t r = goc_read(p[0], b, sizeof b, NULL); /* ~300 ms, nobody else runs */
    CHECK_EQ_INT(r, 4);
    CHECK(memcmp(b, "ping", 4) == 0);
    reap(pid);
    goc_close(p[0]);
    return 0;
}

CHILD(main_waits_on_pipe_written_by_another_process) {
    CHECK_EQ_INT(test_run_main(main_reads_pipe), 0);
}

TEST(no_deadlock_report_while_waiting_on_pipe_for_another_process) {
    struct child_opts o = {.expect = 0, .regex = {"^goc_run returned 0$"}, .timeout_s = 30};
    char *err = expect_child_opts("main_waits_on_pipe_written_by_another_process", &o);
    CHECK_MSG(!strstr(err, "deadlock"), "stderr: %s", err);
    free(err);
}

static int main_accepts(void *arg) {
    (void)arg;
    int l = goc_listen_tcp("127.0.0.1", "0", 4);
    CHECK_GE_INT(l, 0);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    CHECK_EQ_INT(getsockname(l, (struct sockaddr *)&a, &al), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    pid_t pid = fork_pinger(-1, port);
    int c = goc_accept(l, NULL, NULL, NULL);
    CHECK_GE_INT(c, 0);
    char b[8];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = goc_read(c, b + got, sizeof b - got, NULL);
        CHECK_GT_INT(r, 0);
        got += (size_t)r;
    }
    CHECK(memcmp(b, "ping", 4) == 0);
    reap(pid);
    goc_close(c);
    goc_close(l);
    return 0;
}

CHILD(main_waits_in_accept_for_another_process) { CHECK_EQ_INT(test_run_main(main_accepts), 0); }

TEST(no_deadlock_report_while_accepting_from_another_process) {
    struct child_opts o = {.expect = 0, .regex = {"^goc_run returned 0$"}, .timeout_s = 30};
    char *err = expect_child_opts("main_waits_in_accept_for_another_process", &o);
    CHECK_MSG(!strstr(err, "deadlock"), "stderr: %s", err);
    free(err);
}

/* The main goroutine in a long blocking call while the only other
 * goroutine waits for good: no deadlock either (the call may end). */
static void block_forever(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int v;
    goc_chan_recv(c, &v);
}

static int main_in_blocking_call(void *arg) {
    (void)arg;
    TEST_GO(block_forever, NULL);
    goc_yield();
    return goc_blocking(sleep_fn, (void *)(intptr_t)300000) == 7 ? 0 : 1;
}

CHILD(main_in_long_blocking_call) { CHECK_EQ_INT(test_run_main(main_in_blocking_call), 0); }

TEST(no_deadlock_report_during_long_blocking_call) {
    struct child_opts o = {.expect = 0, .regex = {"^goc_run returned 0$"}, .timeout_s = 30};
    char *err = expect_child_opts("main_in_long_blocking_call", &o);
    CHECK_MSG(!strstr(err, "deadlock"), "stderr: %s", err);
    free(err);
}

/* I/O waits of every kind, all ended (data, deadline, cancel, close),
 * every fd closed, then the main goroutine blocks on a channel nobody can
 * send to: a real deadlock, and it must still be reported. */
static int waitfd;
static goc_waitgroup iowg;

static void wait_read(void *arg) {
    long long want = (long long)(intptr_t)arg;
    char b[8];
    CHECK_EQ_INT(goc_read(waitfd, b, sizeof b, NULL), want);
    goc_wg_done(&iowg);
}

static int main_io_then_deadlock(void *arg) {
    (void)arg;
    int p[2];
    CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0);
    waitfd = p[0];
    /* Woken by data. */
    goc_wg_add(&iowg, 1);
    TEST_GO(wait_read, (void *)(intptr_t)3);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(goc_write(p[1], "abc", 3, NULL), 3);
    goc_wg_wait(&iowg);
    /* Ended by a deadline and by a cancel. */
    char b[8];
    goc_ctx *t = goc_ctx_with_timeout(NULL, 20 * MS);
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, t), -ETIMEDOUT);
    goc_ctx_release(t);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    test_cancel_later(c, 20 * MS);
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, c), -ECANCELED);
    goc_ctx_release(c);
    /* Woken by goc_close. */
    goc_wg_add(&iowg, 2);
    TEST_GO(wait_read, (void *)(intptr_t)-EBADF);
    TEST_GO(wait_read, (void *)(intptr_t)-EBADF);
    WAIT_PARKED("IO wait", 2);
    CHECK_EQ_INT(goc_close(p[0]), 0);
    goc_wg_wait(&iowg);
    CHECK_EQ_INT(goc_close(p[1]), 0);
    test_settle_goroutines(1);
    fprintf(stderr, "io done\n");
    goc_chan *never = goc_chan_make(sizeof(int), 0);
    int v;
    goc_chan_recv(never, &v);
    return 1;
}

CHILD(main_blocks_for_good_after_io) {
    test_run_main(main_io_then_deadlock);
    exit(3);
}

TEST(deadlock_still_reported_after_io_waits_end) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {"^io done$", DEADLOCK_RE, "^goroutine 1 \\[chan receive"},
        .timeout_s = 30,
    };
    char *err = expect_child_opts("main_blocks_for_good_after_io", &o);
    CHECK(!strstr(err, "goc_run returned"));
    free(err);
}
