/* test_io.c — goroutine-aware I/O on pipes and regular files
 * (<goc/io.h>): 8 MiB through a pipe in order, EOF and broken pipes
 * without SIGPIPE (from goroutines and plain threads), regular files
 * against read(2), goc_close waking every reader, the fd-reuse race (old
 * waiters never see the file that gets their number next), goc_fd_wait,
 * contexts that ended before the call, and bad descriptors. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS GOC_MILLISECOND
#define PROMPT_S TEST_SCALE(3.0, 10.0)

/* The byte at offset off of a test stream: a position-dependent pattern
 * (a byte moved, dropped or repeated shows). */
static unsigned char pat(uint64_t off) {
    uint64_t x = off * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    return (unsigned char)(x >> 56);
}

static void fill_pat(unsigned char *b, size_t n, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        b[i] = pat(off + i);
}

static void check_pat(const unsigned char *b, size_t n, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(off + i))
            FAIL("byte %llu: got 0x%02x, want 0x%02x", (unsigned long long)(off + i), b[i],
                 pat(off + i));
}

static void make_pipe(int p[2]) { CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0); }

/* ------------------------------------------------------------------ */
/* 8 MiB through a pipe                                                */

static struct {
    int fd;
    size_t total;
    goc_waitgroup wg;
} pw;

static void pipe_writer(void *arg) {
    (void)arg;
    unsigned char *buf = malloc(1 << 18);
    CHECK(buf);
    uint64_t s = test_rand_seed(11);
    size_t off = 0;
    while (off < pw.total) {
        size_t n = 1 + test_rand(&s) % (1 << 18);
        if (n > pw.total - off)
            n = pw.total - off;
        fill_pat(buf, n, off);
        CHECK_EQ_INT(goc_write(pw.fd, buf, n, NULL), (long long)n);
        off += n;
    }
    free(buf);
    CHECK_EQ_INT(goc_close(pw.fd), 0);
    goc_wg_done(&pw.wg);
}

GTEST(pipe_8mib_arrives_in_order) {
    int p[2];
    make_pipe(p);
    pw.fd = p[1];
    pw.total = 8u << 20;
    goc_wg_add(&pw.wg, 1);
    TEST_GO(pipe_writer, NULL);
    unsigned char *buf = malloc(1 << 17);
    CHECK(buf);
    uint64_t s = test_rand_seed(12);
    size_t off = 0;
    long reads = 0;
    for (;;) {
        size_t want = 1 + test_rand(&s) % (1 << 17);
        ssize_t r = goc_read(p[0], buf, want, NULL);
        CHECK_GE_INT(r, 0);
        if (r == 0)
            break;
        CHECK_LE_INT(r, (long long)want);
        check_pat(buf, (size_t)r, off);
        off += (size_t)r;
        reads++;
    }
    CHECK_EQ_U64(off, pw.total);
    CHECK_EQ_INT(goc_read(p[0], buf, 16, NULL), 0); /* EOF stays EOF */
    test_wg_wait_bounded(&pw.wg, TEST_PATIENCE_S, "pipe writer");
    free(buf);
    CHECK_EQ_INT(goc_close(p[0]), 0);
    test_note("%ld reads", reads);
}

/* ------------------------------------------------------------------ */
/* EOF and broken pipes                                                */

GTEST(pipe_read_returns_zero_after_writer_closes) {
    int p[2];
    make_pipe(p);
    CHECK_EQ_INT(goc_write(p[1], "xyz", 3, NULL), 3);
    CHECK_EQ_INT(goc_close(p[1]), 0);
    char b[8];
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, NULL), 3);
    CHECK(memcmp(b, "xyz", 3) == 0);
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, NULL), 0);
    CHECK_EQ_INT(goc_close(p[0]), 0);
}

static void *broken_pipe_thread(void *arg) {
    int fd = *(int *)arg;
    CHECK_EQ_INT(goc_write(fd, "data", 4, NULL), -EPIPE);
    return NULL;
}

static void broken_pipe_goroutine(void *arg) {
    int fd = *(int *)arg;
    CHECK_EQ_INT(goc_write(fd, "data", 4, NULL), -EPIPE);
    goc_wg_done(&pw.wg);
}

/* SIGPIPE left at its default (death): goc_write must say -EPIPE instead,
 * on a goroutine and on a plain thread whose signal mask lets SIGPIPE in. */
GTEST(pipe_write_with_reader_gone_is_epipe_not_sigpipe) {
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    sigset_t pipeset;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    CHECK_EQ_INT(pthread_sigmask(SIG_UNBLOCK, &pipeset, NULL), 0);
    int p[2];
    make_pipe(p);
    CHECK_EQ_INT(goc_close(p[0]), 0);
    CHECK_EQ_INT(goc_write(p[1], "data", 4, NULL), -EPIPE);
    goc_wg_add(&pw.wg, 4);
    for (int i = 0; i < 4; i++)
        TEST_GO(broken_pipe_goroutine, &p[1]);
    test_wg_wait_bounded(&pw.wg, TEST_PATIENCE_S, "writers");
    pthread_t th = test_thread_start(broken_pipe_thread, &p[1]);
    test_thread_join(th);
    /* No SIGPIPE left pending on this thread either. */
    sigset_t pend;
    CHECK_EQ_INT(sigpending(&pend), 0);
    CHECK(!sigismember(&pend, SIGPIPE));
    CHECK_EQ_INT(goc_close(p[1]), 0);
}

/* Without goc_run: the same from the program's main thread. */
TEST(pipe_write_with_reader_gone_on_plain_thread_is_epipe) {
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    int p[2];
    make_pipe(p);
    CHECK_EQ_INT(goc_close(p[0]), 0);
    CHECK_EQ_INT(goc_write(p[1], "data", 4, NULL), -EPIPE);
    pthread_t th = test_thread_start(broken_pipe_thread, &p[1]);
    test_thread_join(th);
    CHECK_EQ_INT(goc_close(p[1]), 0);
}

/* ------------------------------------------------------------------ */
/* regular files                                                       */

static int temp_file(char *path) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, 4096, "%s/goc_io_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    CHECK_GE_INT(fd, 0);
    return fd;
}

static void file_roundtrip(void) {
    char path[4096];
    int fd = temp_file(path);
    enum { N = 300000 };
    unsigned char *w = malloc(N), *r = malloc(N), *r2 = malloc(N);
    CHECK(w && r && r2);
    fill_pat(w, N, 0);
    /* goc_write appends at the file offset. */
    CHECK_EQ_INT(goc_write(fd, w, 100000, NULL), 100000);
    CHECK_EQ_INT(goc_write(fd, w + 100000, N - 100000, NULL), N - 100000);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), N);
    /* read(2) sees what goc_write wrote. */
    CHECK_EQ_INT(pread(fd, r, N, 0), N);
    CHECK(memcmp(r, w, N) == 0);
    /* goc_pwrite in the middle, without moving the offset. */
    unsigned char patch[5000];
    for (int i = 0; i < 5000; i++)
        patch[i] = (unsigned char)(i * 7 + 1);
    CHECK_EQ_INT(goc_pwrite(fd, patch, sizeof patch, 12345, NULL), (long long)sizeof patch);
    memcpy(w + 12345, patch, sizeof patch);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), N);
    /* goc_pread and read(2) agree, at several offsets. */
    for (off_t off = 0; off < N; off += 77777) {
        size_t n = N - (size_t)off < 40000 ? N - (size_t)off : 40000;
        CHECK_EQ_INT(goc_pread(fd, r, n, off, NULL), (long long)n);
        CHECK_EQ_INT(pread(fd, r2, n, off), (long long)n);
        CHECK(memcmp(r, r2, n) == 0);
        CHECK(memcmp(r, w + off, n) == 0);
    }
    /* goc_read from the start, in pieces, to EOF. */
    CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
    size_t got = 0;
    for (;;) {
        ssize_t k = goc_read(fd, r + got, N - got < 65536 ? (N - got ? N - got : 1) : 65536, NULL);
        CHECK_GE_INT(k, 0);
        if (k == 0)
            break;
        got += (size_t)k;
        CHECK_LE_INT(got, N);
    }
    CHECK_EQ_INT(got, N);
    CHECK(memcmp(r, w, N) == 0);
    /* pread past the end: 0. */
    CHECK_EQ_INT(goc_pread(fd, r, 10, N + 10, NULL), 0);
    /* A hole after pwrite past the end reads as zeros. */
    CHECK_EQ_INT(goc_pwrite(fd, "end", 3, N + 1000, NULL), 3);
    CHECK_EQ_INT(goc_pread(fd, r, 1003, N, NULL), 1003);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(r[i], 0);
    CHECK(memcmp(r + 1000, "end", 3) == 0);
    /* A read-only descriptor: writing it is -EBADF. */
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    CHECK_GE_INT(ro, 0);
    CHECK_EQ_INT(goc_write(ro, "x", 1, NULL), -EBADF);
    CHECK_EQ_INT(goc_read(ro, r, 3, NULL), 3);
    CHECK(memcmp(r, w, 3) == 0);
    /* goc_fd_wait on a file: always ready. */
    CHECK_EQ_INT(goc_fd_wait(ro, GOC_READABLE | GOC_WRITABLE, NULL), 0);
    CHECK_EQ_INT(goc_close(ro), 0);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(goc_close(fd), 0);
    free(w);
    free(r);
    free(r2);
}

GTEST(regular_file_calls_match_read2) { file_roundtrip(); }

TEST(regular_file_calls_match_read2_on_plain_thread) { file_roundtrip(); }

/* Goroutines writing disjoint regions of one file with goc_pwrite at once. */
static struct {
    int fd;
    goc_waitgroup wg;
} pf;

static void pwrite_region(void *arg) {
    int i = (int)(intptr_t)arg;
    unsigned char buf[8192];
    fill_pat(buf, sizeof buf, (uint64_t)i * sizeof buf);
    CHECK_EQ_INT(goc_pwrite(pf.fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf, NULL),
                 (long long)sizeof buf);
    goc_wg_done(&pf.wg);
}

GTEST(concurrent_pwrites_to_one_file) {
    char path[4096];
    pf.fd = temp_file(path);
    enum { K = 64 };
    goc_wg_add(&pf.wg, K);
    for (int i = 0; i < K; i++)
        TEST_GO(pwrite_region, (void *)(intptr_t)i);
    test_wg_wait_bounded(&pf.wg, TEST_PATIENCE_S, "pwriters");
    unsigned char *r = malloc(K * 8192);
    CHECK(r);
    CHECK_EQ_INT(pread(pf.fd, r, K * 8192, 0), K * 8192);
    check_pat(r, K * 8192, 0);
    free(r);
    unlink(path);
    goc_close(pf.fd);
}

/* ------------------------------------------------------------------ */
/* goc_close wakes readers; the fd-reuse race                          */

enum { NREADERS = 6 };

static struct {
    int fd;
    atomic_int results[NREADERS];
    atomic_int done;
    char seen[NREADERS][32];
} rd;

static void pipe_reader(void *arg) {
    int i = (int)(intptr_t)arg;
    char b[32];
    ssize_t r = goc_read(rd.fd, b, sizeof b, NULL);
    if (r > 0)
        memcpy(rd.seen[i], b, (size_t)r < sizeof b ? (size_t)r : sizeof b);
    atomic_store(&rd.results[i], (int)r);
    atomic_fetch_add(&rd.done, 1);
}

static void start_readers(int fd, int n) {
    rd.fd = fd;
    atomic_store(&rd.done, 0);
    for (int i = 0; i < n; i++) {
        atomic_store(&rd.results[i], 12345);
        TEST_GO(pipe_reader, (void *)(intptr_t)i);
    }
}

GTEST(close_wakes_every_blocked_pipe_reader_with_ebadf) {
    int p[2];
    make_pipe(p);
    start_readers(p[0], NREADERS);
    WAIT_PARKED("IO wait", NREADERS);
    CHECK_EQ_INT(atomic_load(&rd.done), 0);
    int64_t t0 = test_now_ns();
    CHECK_EQ_INT(goc_close(p[0]), 0);
    WAIT_UNTIL(atomic_load(&rd.done) == NREADERS, PROMPT_S);
    CHECK_LT_INT(test_now_ns() - t0, (int64_t)(PROMPT_S * 1e9));
    for (int i = 0; i < NREADERS; i++)
        CHECK_EQ_INT(atomic_load(&rd.results[i]), -EBADF);
    /* The write end sees the reader gone. */
    CHECK_EQ_INT(goc_write(p[1], "x", 1, NULL), -EPIPE);
    CHECK_EQ_INT(goc_close(p[1]), 0);
}

/* Readers blocked on fd N; goc_close(N); a new pipe gets number N and
 * data at once, before the woken readers run: they must all return
 * -EBADF, never the new pipe's bytes, and the new pipe works. */
GTEST(fd_reuse_after_close_old_readers_never_see_new_file) {
    int rounds = TEST_SCALE(100, 40), reused = 0;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        make_pipe(p);
        int n = 1 + round % NREADERS;
        start_readers(p[0], n);
        WAIT_PARKED("IO wait", n);
        CHECK_EQ_INT(goc_close(p[0]), 0);
        int q[2];
        make_pipe(q); /* the lowest free number: p[0]'s */
        if (q[0] == p[0])
            reused++;
        CHECK_EQ_INT(goc_write(q[1], "new file data", 13, NULL), 13);
        WAIT_UNTIL(atomic_load(&rd.done) == n, PROMPT_S);
        for (int i = 0; i < n; i++)
            CHECK_MSG(atomic_load(&rd.results[i]) == -EBADF,
                      "round %d reader %d: %d (read \"%.13s\" from the new file)", round, i,
                      atomic_load(&rd.results[i]), rd.seen[i]);
        char b[32];
        CHECK_EQ_INT(goc_read(q[0], b, sizeof b, NULL), 13);
        CHECK(memcmp(b, "new file data", 13) == 0);
        /* And readers of the new fd block, then get its data. */
        start_readers(q[0], 1);
        WAIT_PARKED("IO wait", 1);
        CHECK_EQ_INT(goc_write(q[1], "second", 6, NULL), 6);
        WAIT_UNTIL(atomic_load(&rd.done) == 1, PROMPT_S);
        CHECK_EQ_INT(atomic_load(&rd.results[0]), 6);
        CHECK(memcmp(rd.seen[0], "second", 6) == 0);
        goc_close(p[1]);
        goc_close(q[0]);
        goc_close(q[1]);
    }
    CHECK_GE_INT(reused, rounds / 2);
}

/* The same race with readers that were woken by data of the old file
 * (runnable, about to retry their read) when it is closed and its number
 * reused: a read that started on the old file returns the old file's data
 * or -EBADF, never bytes of the new one. */
static struct {
    int fd;
    atomic_int stop, bad, done;
    atomic_long oldbytes;
} rr;

/* One read, started (parked) on the old file. Not a loop: a reader that
 * got the old data and read again would start a new call, which may
 * rightly find the new file under the number if the close and the reuse
 * came in between (a thread of the reader's descheduled there, on a busy
 * machine). */
static void racing_reader(void *arg) {
    (void)arg;
    char b[64];
    ssize_t r = goc_read(rr.fd, b, sizeof b, NULL);
    if (r > 0) {
        bool bad = false;
        for (ssize_t i = 0; i < r; i++)
            bad |= b[i] != 'o';
        if (bad)
            atomic_fetch_add(&rr.bad, 1);
        else
            atomic_fetch_add(&rr.oldbytes, r);
    }
    atomic_fetch_add(&rr.done, 1);
}

GTEST(fd_reuse_racing_wakeups_never_read_new_file) {
    int rounds = TEST_SCALE(150, 50);
    for (int round = 0; round < rounds; round++) {
        int p[2];
        make_pipe(p);
        rr.fd = p[0];
        atomic_store(&rr.done, 0);
        enum { K = 4 };
        for (int i = 0; i < K; i++)
            TEST_GO(racing_reader, NULL);
        WAIT_PARKED("IO wait", K);
        /* Wake them with old data, then close at once. Every other
         * round, hold the processor (a plain sleep) long enough for sysmon
         * to poll (after 10 ms without a poll) and make the readers
         * runnable first: they are then ready to retry their read when
         * the number is reused. */
        CHECK_EQ_INT(goc_write(p[1], "oooo", 4, NULL), 4);
        if (round % 2)
            test_sleep_ns(15 * MS);
        CHECK_EQ_INT(goc_close(p[0]), 0);
        int q[2];
        make_pipe(q);
        CHECK_EQ_INT(goc_write(q[1], "NNNNNNNN", 8, NULL), 8);
        WAIT_UNTIL(atomic_load(&rr.done) == K, PROMPT_S);
        goc_close(p[1]);
        goc_close(q[0]);
        goc_close(q[1]);
    }
    CHECK_MSG(!atomic_load(&rr.bad), "%d reads of the closed fd returned the new file's data",
              atomic_load(&rr.bad));
}

/* ------------------------------------------------------------------ */
/* goc_fd_wait                                                         */

struct fdw {
    int fd, events;
    goc_ctx *ctx;
    atomic_int result, done;
};

static void fd_waiter(void *arg) {
    struct fdw *w = arg;
    atomic_store(&w->result, goc_fd_wait(w->fd, w->events, w->ctx));
    atomic_store(&w->done, 1);
}

GTEST(fd_wait_readable_writable_and_deadline) {
    int p[2];
    make_pipe(p);
    /* Ready already: returns at once (edge-triggered or not). */
    CHECK_EQ_INT(goc_fd_wait(p[1], GOC_WRITABLE, NULL), 0);
    CHECK_EQ_INT(goc_write(p[1], "a", 1, NULL), 1);
    CHECK_EQ_INT(goc_fd_wait(p[0], GOC_READABLE, NULL), 0);
    CHECK_EQ_INT(goc_fd_wait(p[0], GOC_READABLE, NULL), 0); /* still: nothing consumed */
    char c;
    CHECK_EQ_INT(goc_read(p[0], &c, 1, NULL), 1);
    /* Not ready: blocks until data comes. */
    static struct fdw w;
    w.fd = p[0];
    w.events = GOC_READABLE;
    w.ctx = NULL;
    atomic_store(&w.done, 0);
    TEST_GO(fd_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(atomic_load(&w.done), 0);
    CHECK_EQ_INT(goc_write(p[1], "b", 1, NULL), 1);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(atomic_load(&w.result), 0);
    CHECK_EQ_INT(goc_read(p[0], &c, 1, NULL), 1);
    CHECK_EQ_INT(c, 'b');
    /* Either direction on an empty pipe's read end: a deadline. */
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 40 * MS);
    CHECK_EQ_INT(goc_fd_wait(p[0], GOC_READABLE, ctx), -ETIMEDOUT);
    CHECK_GE_INT(test_now_ns() - t0, 39 * MS);
    goc_ctx_release(ctx);
    /* Readable or writable: both ends, one ready. */
    CHECK_EQ_INT(goc_fd_wait(p[1], GOC_READABLE | GOC_WRITABLE, NULL), 0);
    /* Cancelled while waiting for both directions. */
    w.fd = p[0];
    w.events = GOC_READABLE | GOC_WRITABLE;
    w.ctx = goc_ctx_with_cancel(NULL);
    atomic_store(&w.done, 0);
    TEST_GO(fd_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    goc_ctx_cancel(w.ctx);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(atomic_load(&w.result), -ECANCELED);
    goc_ctx_release(w.ctx);
    /* Closed while waiting: -EBADF. */
    w.ctx = NULL;
    w.events = GOC_READABLE;
    atomic_store(&w.done, 0);
    TEST_GO(fd_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(goc_close(p[0]), 0);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(atomic_load(&w.result), -EBADF);
    goc_close(p[1]);
}

GTEST(fd_wait_bad_events_is_einval) {
    int p[2];
    make_pipe(p);
    CHECK_EQ_INT(goc_fd_wait(p[0], 0, NULL), -EINVAL);
    CHECK_EQ_INT(goc_fd_wait(p[0], 4, NULL), -EINVAL);
    CHECK_EQ_INT(goc_fd_wait(p[0], GOC_READABLE | 8, NULL), -EINVAL);
    CHECK_EQ_INT(goc_fd_wait(p[0], -1, NULL), -EINVAL);
    goc_close(p[0]);
    goc_close(p[1]);
}

/* ------------------------------------------------------------------ */
/* contexts that ended before the call                                 */

GTEST(ended_context_fails_before_doing_anything) {
    int p[2];
    make_pipe(p);
    CHECK_EQ_INT(goc_write(p[1], "keep", 4, NULL), 4);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(c);
    goc_ctx *t = goc_ctx_with_timeout(NULL, -1);
    char b[8];
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, c), -ECANCELED);
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, t), -ETIMEDOUT);
    CHECK_EQ_INT(goc_write(p[1], "lost", 4, c), -ECANCELED);
    CHECK_EQ_INT(goc_fd_wait(p[0], GOC_READABLE, c), -ECANCELED);
    CHECK_EQ_INT(goc_read(p[0], b, sizeof b, NULL), 4);
    CHECK(memcmp(b, "keep", 4) == 0);
    goc_ctx_release(c);
    goc_ctx_release(t);
    goc_close(p[0]);
    goc_close(p[1]);
}

/* ------------------------------------------------------------------ */
/* bad descriptors                                                     */

static void check_bad_fd(int fd) {
    char b[8] = {0};
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    long long r;
#define BAD(call)                                                                                  \
    do {                                                                                           \
        r = (call);                                                                                \
        CHECK_MSG(r == -EBADF || r == -EINVAL, "fd %d: %s = %lld", fd, #call, r);                  \
    } while (0)
    BAD(goc_read(fd, b, sizeof b, NULL));
    BAD(goc_write(fd, b, sizeof b, NULL));
    BAD(goc_pread(fd, b, sizeof b, 0, NULL));
    BAD(goc_pwrite(fd, b, sizeof b, 0, NULL));
    BAD(goc_recvfrom(fd, b, sizeof b, 0, NULL, NULL, NULL));
    BAD(goc_sendto(fd, b, sizeof b, 0, NULL, 0, NULL));
    BAD(goc_accept(fd, (struct sockaddr *)&sa, &sl, NULL));
    memset(&sa, 0, sizeof sa);
    sa.ss_family = AF_INET;
    BAD(goc_connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in), NULL));
    BAD(goc_fd_wait(fd, GOC_READABLE, NULL));
    BAD(goc_fd_wait(fd, GOC_WRITABLE, NULL));
    BAD(goc_close(fd));
#undef BAD
}

static void bad_fds(void) {
    int p[2];
    /* The netpoller first: its own descriptors, made on first use, would
     * otherwise take the number closed below. */
    make_pipe(p);
    CHECK_EQ_INT(goc_fd_wait(p[1], GOC_WRITABLE, NULL), 0);
    goc_close(p[0]);
    goc_close(p[1]);
    make_pipe(p);
    int closed = p[0];
    CHECK_EQ_INT(goc_close(p[0]), 0);
    CHECK_EQ_INT(goc_close(p[1]), 0);
    int fds[] = {-1, -100, closed, 100000, 4 << 20, (4 << 20) + 5, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        check_bad_fd(fds[i]);
    /* A number closed behind goc's back (close(2), not goc_close). */
    make_pipe(p);
    CHECK_EQ_INT(goc_write(p[1], "z", 1, NULL), 1);
    char c;
    CHECK_EQ_INT(goc_read(p[0], &c, 1, NULL), 1);
    CHECK_EQ_INT(close(p[0]), 0);
    CHECK_EQ_INT(close(p[1]), 0);
    check_bad_fd(p[0]);
}

GTEST(bad_fds_are_ebadf_never_a_crash_or_hang) { bad_fds(); }

TEST(bad_fds_are_ebadf_on_plain_thread) { bad_fds(); }

/* ------------------------------------------------------------------ */
/* I/O readiness while every processor is busy                         */

/* Every processor runs a goroutine that only yields; a goroutine echoes
 * bytes from one pipe to another for a plain thread, which writes one byte
 * and waits for it to come back, round after round. With no P ever idle,
 * no M is left blocked in the poller: the readied echo goroutine must come
 * from a busy P's own poll or sysmon's, then get its turn among the
 * yielders (through the global queue). Each byte comes back, in order. */
enum { BUSY_ROUNDS = 20 };

static struct {
    int in[2], out[2];
    atomic_bool stop;
    atomic_int echoed;
} busy;

static void busy_yielder(void *arg) {
    (void)arg;
    while (!atomic_load(&busy.stop))
        goc_yield();
}

static void busy_echo(void *arg) {
    goc_waitgroup *wg = arg;
    for (int i = 0; i < BUSY_ROUNDS; i++) {
        char b;
        CHECK_EQ_INT(goc_read(busy.in[0], &b, 1, NULL), 1);
        CHECK_EQ_INT(goc_write(busy.out[1], &b, 1, NULL), 1);
        atomic_fetch_add(&busy.echoed, 1);
    }
    goc_wg_done(wg);
}

static void *busy_plain_peer(void *arg) {
    (void)arg;
    for (int i = 0; i < BUSY_ROUNDS; i++) {
        char b = (char)('a' + i), got = 0;
        CHECK_EQ_INT(write(busy.in[1], &b, 1), 1);
        CHECK_EQ_INT(read(busy.out[0], &got, 1), 1); /* a blocking read: goc never saw this fd */
        CHECK_EQ_INT(got, b);
    }
    return NULL;
}

GTEST(pipe_echo_served_while_every_processor_spins) {
    make_pipe(busy.in);
    make_pipe(busy.out);
    atomic_store(&busy.stop, false);
    atomic_store(&busy.echoed, 0);
    int procs = goc_maxprocs(0);
    goc_waitgroup yielders = {0}, echo = {0};
    goc_wg_add(&echo, 1);
    TEST_GO(busy_echo, &echo);
    WAIT_PARKED("IO wait", 1);
    for (int i = 0; i < procs; i++)
        CHECK_EQ_INT(goc_wg_go(&yielders, busy_yielder, NULL), 0);
    pthread_t th = test_thread_start(busy_plain_peer, NULL);
    test_wg_wait_bounded(&echo, TEST_PATIENCE_S, "the echo goroutine");
    test_thread_join(th);
    CHECK_EQ_INT(atomic_load(&busy.echoed), BUSY_ROUNDS);
    atomic_store(&busy.stop, true);
    test_wg_wait_bounded(&yielders, TEST_PATIENCE_S, "the yielders");
    CHECK_EQ_INT(goc_close(busy.in[0]), 0);
    CHECK_EQ_INT(goc_close(busy.out[1]), 0);
    CHECK_EQ_INT(close(busy.in[1]), 0);
    CHECK_EQ_INT(close(busy.out[0]), 0);
}
