/* test_file.c — goc_read / goc_write / goc_pread / goc_pwrite on regular
 * files, which go through io_uring where the kernel allows it and through
 * the blocking-call handoff otherwise. cases.cmake runs every case twice:
 * as it is (file.<case>.p1/p2: the ring, when this kernel has one) and with
 * GOCDEBUG=iouring=0 (file.<case>.blocking.p1/p2: the handoff).
 * path_follows_gocdebug_and_kernel checks that each run took the path it
 * should; the others check results that must not depend on the path: byte
 * for byte contents, the file position, EOF, errors, concurrency,
 * processors left free for other goroutines, plain-thread callers. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netpoll/netpoll.h"

/* ---- helpers ---- */

/* A new empty temporary file, already unlinked: its fd (O_RDWR). */
static int temp_file(void) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/goc-file-test.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    CHECK_MSG(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
    CHECK_EQ_INT(unlink(path), 0);
    return fd;
}

/* The byte at offset off of the test pattern (depends on every offset bit
 * that matters, so a block read from the wrong place shows). */
static unsigned char pattern_at(uint64_t off) {
    uint64_t x = off * 0x9e3779b97f4a7c15ull;
    return (unsigned char)(x >> 56 ^ off >> 12);
}

static void fill_pattern(unsigned char *buf, size_t n, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_at(off + i);
}

static void check_pattern(const unsigned char *buf, size_t n, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_at(off + i))
            FAIL("byte at offset %llu: 0x%02x, want 0x%02x", (unsigned long long)(off + i), buf[i],
                 pattern_at(off + i));
}

/* A temporary file holding n bytes of the pattern, written with write(2). */
static int pattern_file(size_t n) {
    int fd = temp_file();
    unsigned char *buf = malloc(n ? n : 1);
    CHECK(buf);
    fill_pattern(buf, n, 0);
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, buf + done, n - done);
        CHECK_GT_INT(r, 0);
        done += (size_t)r;
    }
    free(buf);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static off_t position(int fd) { return lseek(fd, 0, SEEK_CUR); }

/* Does GOCDEBUG ask for the handoff? */
static bool iouring_off_by_env(void) {
    const char *e = getenv("GOCDEBUG");
    return e && strstr(e, "iouring=0");
}

/* Can this process set up an io_uring at all? */
static bool kernel_has_iouring(void) {
#ifdef __NR_io_uring_setup
    unsigned char params[120] = {0}; /* struct io_uring_params */
    long fd = syscall(__NR_io_uring_setup, 4, params);
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
#else
    return false;
#endif
}

/* Operations the ring has completed (0 on the handoff path). */
static uint64_t ring_ops(void) { return guring_completed(); }

/* ---- which path ---- */

GTEST(path_follows_gocdebug_and_kernel) {
    int on = goc_io_uring_enabled();
    CHECK_EQ_INT(on, goc_io_uring_enabled()); /* fixed once probed */
    if (iouring_off_by_env())
        CHECK_EQ_INT(on, 0);
    else if (kernel_has_iouring())
        CHECK_EQ_INT(on, 1);
    else
        test_note("io_uring_setup fails here: the handoff path is the only one");
    test_note("regular files through %s", on ? "io_uring" : "the blocking-call handoff");
    /* And the operations really take it. */
    int fd = pattern_file(64 * 1024);
    uint64_t before = ring_ops();
    unsigned char buf[4096];
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(goc_pread(fd, buf, sizeof buf, i * 4096, NULL), (long)sizeof buf);
    CHECK_EQ_INT(goc_read(fd, buf, sizeof buf, NULL), (long)sizeof buf);
    CHECK_EQ_INT(goc_pwrite(fd, buf, sizeof buf, 0, NULL), (long)sizeof buf);
    if (on)
        CHECK_GE_INT(ring_ops() - before, 10);
    else
        CHECK_EQ_U64(ring_ops(), 0);
    close(fd);
}

TEST(gocdebug_other_settings_do_not_disable_the_ring) {
    /* Only iouring=0 turns it off; the last setting of a name wins. */
    static const char *const on[] = {"iouring=1", "x=0,iouring=1", "iouring=0,iouring=1",
                                     "iouring=0x,other=0"};
    static const char *const off[] = {"iouring=0", "a=1,iouring=0", "iouring=1,iouring=0"};
    if (!kernel_has_iouring()) {
        test_note("no io_uring here: nothing to check");
        return;
    }
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        struct child_opts o = {.env = {"GOCDEBUG"}, .expect = 0, .regex = {"path: io_uring"}};
        char env[64];
        snprintf(env, sizeof env, "GOCDEBUG=%s", on[i]);
        o.env[0] = env;
        free(expect_child_opts("report_path", &o));
    }
    for (size_t i = 0; i < sizeof off / sizeof *off; i++) {
        struct child_opts o = {.expect = 0, .regex = {"path: handoff"}};
        char env[64];
        snprintf(env, sizeof env, "GOCDEBUG=%s", off[i]);
        o.env[0] = env;
        free(expect_child_opts("report_path", &o));
    }
}

CHILD(report_path) {
    fprintf(stderr, "path: %s\n", goc_io_uring_enabled() ? "io_uring" : "handoff");
    exit(0);
}

/* ---- contents and the file position ---- */

GTEST(write_then_read_back_advances_position) {
    int fd = temp_file();
    enum { N = 1 << 20 };
    unsigned char *w = malloc(N), *r = malloc(N);
    CHECK(w && r);
    fill_pattern(w, N, 0);
    CHECK_EQ_INT(goc_write(fd, w, 1000, NULL), 1000);
    CHECK_EQ_INT(position(fd), 1000);
    CHECK_EQ_INT(goc_write(fd, w + 1000, N - 1000, NULL), N - 1000);
    CHECK_EQ_INT(position(fd), N);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
    size_t got = 0;
    while (got < N) {
        ssize_t k = goc_read(fd, r + got, 7777, NULL);
        CHECK_GT_INT(k, 0);
        got += (size_t)k;
        CHECK_EQ_INT(position(fd), (off_t)got);
    }
    CHECK_EQ_INT(got, N);
    check_pattern(r, N, 0);
    CHECK_EQ_INT(goc_read(fd, r, 10, NULL), 0); /* EOF */
    CHECK_EQ_INT(goc_read(fd, r, 10, NULL), 0);
    free(w);
    free(r);
    close(fd);
}

GTEST(read_shares_the_position_with_read_2) {
    int fd = temp_file();
    CHECK_EQ_INT(write(fd, "abcdefgh", 8), 8);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
    char b[8] = {0};
    CHECK_EQ_INT(goc_read(fd, b, 2, NULL), 2);
    CHECK(memcmp(b, "ab", 2) == 0);
    CHECK_EQ_INT(read(fd, b, 2), 2);
    CHECK(memcmp(b, "cd", 2) == 0);
    CHECK_EQ_INT(goc_read(fd, b, 3, NULL), 3);
    CHECK(memcmp(b, "efg", 3) == 0);
    CHECK_EQ_INT(lseek(fd, 1, SEEK_SET), 1);
    CHECK_EQ_INT(goc_write(fd, "XY", 2, NULL), 2);
    CHECK_EQ_INT(position(fd), 3);
    CHECK_EQ_INT(goc_read(fd, b, 8, NULL), 5);
    CHECK(memcmp(b, "defgh", 5) == 0);
    CHECK_EQ_INT(pread(fd, b, 8, 0), 8);
    CHECK(memcmp(b, "aXYdefgh", 8) == 0);
    close(fd);
}

GTEST(pread_pwrite_leave_the_position_alone) {
    int fd = temp_file();
    CHECK_EQ_INT(goc_pwrite(fd, "hello", 5, 100, NULL), 5);
    CHECK_EQ_INT(position(fd), 0);
    CHECK_EQ_INT(goc_pwrite(fd, "world", 5, 3, NULL), 5);
    char b[128];
    memset(b, 'z', sizeof b);
    CHECK_EQ_INT(goc_pread(fd, b, sizeof b, 0, NULL), 105);
    CHECK_EQ_INT(position(fd), 0);
    CHECK(b[0] == 0 && b[2] == 0);
    CHECK(memcmp(b + 3, "world", 5) == 0);
    CHECK(memcmp(b + 100, "hello", 5) == 0);
    CHECK_EQ_INT(goc_pread(fd, b, 10, 105, NULL), 0);     /* at EOF */
    CHECK_EQ_INT(goc_pread(fd, b, 10, 1 << 30, NULL), 0); /* past EOF */
    CHECK_EQ_INT(goc_pread(fd, b, 10, 102, NULL), 3);     /* short at EOF */
    CHECK(memcmp(b, "llo", 3) == 0);
    CHECK_EQ_INT(goc_pread(fd, b, 0, 0, NULL), 0);
    CHECK_EQ_INT(goc_pwrite(fd, b, 0, 0, NULL), 0);
    close(fd);
}

GTEST(empty_file_reads_eof) {
    int fd = temp_file();
    char b[16];
    CHECK_EQ_INT(goc_read(fd, b, sizeof b, NULL), 0);
    CHECK_EQ_INT(goc_pread(fd, b, sizeof b, 0, NULL), 0);
    CHECK_EQ_INT(goc_read(fd, b, 0, NULL), 0);
    close(fd);
}

GTEST(large_file_is_byte_exact) {
    enum { N = 16 << 20 };
    int fd = temp_file();
    unsigned char *w = malloc(N), *r = malloc(N);
    CHECK(w && r);
    fill_pattern(w, N, 0);
    CHECK_EQ_INT(goc_write(fd, w, N, NULL), N); /* one call */
    struct stat st;
    CHECK_EQ_INT(fstat(fd, &st), 0);
    CHECK_EQ_INT(st.st_size, N);
    memset(r, 0, N);
    size_t got = 0; /* one call may return less than asked: loop */
    while (got < N) {
        ssize_t k = goc_pread(fd, r + got, N - got, (off_t)got, NULL);
        CHECK_GT_INT(k, 0);
        got += (size_t)k;
    }
    CHECK(memcmp(r, w, N) == 0);
    /* Again by 64 KiB reads at the position. */
    memset(r, 0, N);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
    for (got = 0;;) {
        ssize_t k = goc_read(fd, r + got, got + 65536 <= N ? 65536 : N - got, NULL);
        CHECK_GE_INT(k, 0);
        if (k == 0)
            break;
        got += (size_t)k;
    }
    CHECK_EQ_INT(got, N);
    CHECK(memcmp(r, w, N) == 0);
    free(w);
    free(r);
    close(fd);
}

GTEST(special_files_epoll_refuses_work_too) {
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    CHECK_GE_INT(fd, 0);
    char b[4096];
    memset(b, 1, sizeof b);
    CHECK_EQ_INT(goc_read(fd, b, sizeof b, NULL), (long)sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        CHECK_EQ_INT(b[i], 0);
    close(fd);
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    CHECK_GE_INT(fd, 0);
    CHECK_EQ_INT(goc_write(fd, b, sizeof b, NULL), (long)sizeof b);
    CHECK_EQ_INT(goc_read(fd, b, sizeof b, NULL), 0);
    close(fd);
}

GTEST(nonblocking_regular_file_still_reads) {
    /* O_NONBLOCK on a regular file: the ring may answer -EAGAIN, which the
     * call must not pass on (read(2) never does for a regular file). */
    int fd = pattern_file(256 * 1024);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int nb = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_GE_INT(nb, 0);
    unsigned char *b = malloc(256 * 1024);
    CHECK(b);
    size_t got = 0;
    while (got < 256 * 1024) {
        ssize_t k = goc_read(nb, b + got, 256 * 1024 - got, NULL);
        CHECK_GT_INT(k, 0);
        got += (size_t)k;
    }
    check_pattern(b, got, 0);
    free(b);
    close(nb);
    close(fd);
}

/* ---- errors ---- */

GTEST(errors_are_negative_errno) {
    int fd = temp_file();
    char b[16] = "0123456789";
    CHECK_EQ_INT(goc_pread(fd, b, 4, -1, NULL), -EINVAL);
    CHECK_EQ_INT(goc_pwrite(fd, b, 4, -5, NULL), -EINVAL);
    /* A closed fd (closed through goc_close: goc forgets what it knew of the
     * number; after a plain close(2) it may still take the number for the
     * file it was, until the kernel gives the number to a new file). */
    CHECK_EQ_INT(goc_close(fd), 0);
    CHECK_EQ_INT(goc_read(fd, b, 4, NULL), -EBADF);
    CHECK_EQ_INT(goc_write(fd, b, 4, NULL), -EBADF);
    CHECK_EQ_INT(goc_pread(fd, b, 4, 0, NULL), -EBADF);
    CHECK_EQ_INT(goc_pwrite(fd, b, 4, 0, NULL), -EBADF);
    CHECK_EQ_INT(goc_read(-1, b, 4, NULL), -EBADF);
    /* A directory. */
    const char *dir = getenv("TMPDIR");
    int d = open(dir && *dir ? dir : "/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK_GE_INT(d, 0);
    CHECK_EQ_INT(goc_read(d, b, 4, NULL), -EISDIR);
    CHECK_EQ_INT(goc_pread(d, b, 4, 0, NULL), -EISDIR);
    close(d);
    /* The wrong direction. */
    fd = pattern_file(100);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC), wo = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(ro >= 0 && wo >= 0);
    CHECK_EQ_INT(goc_write(ro, b, 4, NULL), -EBADF);
    CHECK_EQ_INT(goc_pwrite(ro, b, 4, 0, NULL), -EBADF);
    CHECK_EQ_INT(goc_read(wo, b, 4, NULL), -EBADF);
    CHECK_EQ_INT(goc_pread(wo, b, 4, 0, NULL), -EBADF);
    close(ro);
    close(wo);
    close(fd);
}

GTEST(ended_context_does_nothing) {
    int fd = pattern_file(1000);
    goc_ctx *c = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(c);
    char b[16];
    CHECK_EQ_INT(goc_read(fd, b, sizeof b, c), -ECANCELED);
    CHECK_EQ_INT(position(fd), 0); /* nothing consumed */
    CHECK_EQ_INT(goc_pread(fd, b, sizeof b, 0, c), -ECANCELED);
    CHECK_EQ_INT(goc_write(fd, b, sizeof b, c), -ECANCELED);
    CHECK_EQ_INT(goc_pwrite(fd, b, sizeof b, 0, c), -ECANCELED);
    CHECK_EQ_INT(position(fd), 0);
    /* A live context: the operation happens. */
    goc_ctx *live = goc_ctx_with_cancel(NULL);
    CHECK_EQ_INT(goc_read(fd, b, sizeof b, live), (long)sizeof b);
    check_pattern((unsigned char *)b, sizeof b, 0);
    goc_ctx_cancel(live);
    goc_ctx_release(live);
    goc_ctx_release(c);
    close(fd);
}

/* ---- concurrency ---- */

enum { BIG = 16 << 20, BLOCK = 4096 };
static int shared_fd;
static atomic_long blocks_read;

static void pread_random_blocks(void *arg) {
    uint64_t seed = test_rand_seed((uint64_t)(uintptr_t)arg);
    unsigned char buf[BLOCK];
    int rounds = TEST_SCALE(300, 60);
    for (int i = 0; i < rounds; i++) {
        uint64_t blk = test_rand(&seed) % (BIG / BLOCK);
        size_t len = 1 + (size_t)(test_rand(&seed) % BLOCK);
        ssize_t k = goc_pread(shared_fd, buf, len, (off_t)(blk * BLOCK), NULL);
        CHECK_EQ_INT(k, (long)len);
        check_pattern(buf, len, blk * BLOCK);
        atomic_fetch_add(&blocks_read, 1);
    }
}

GTEST(many_goroutines_pread_one_file) {
    shared_fd = pattern_file(BIG);
    atomic_store(&blocks_read, 0);
    static test_group grp;
    int n = TEST_SCALE(64, 16);
    for (int i = 0; i < n; i++)
        test_group_go(&grp, 1, pread_random_blocks, (void *)(uintptr_t)(i + 1));
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&blocks_read), (long)n * TEST_SCALE(300, 60));
    close(shared_fd);
}

/* More operations at once than the ring has room for: those that find it
 * full take the handoff; every one completes with the right bytes. */
static goc_waitgroup flood_wg;
static void one_pread(void *arg) {
    uint64_t blk = (uint64_t)(uintptr_t)arg % (BIG / BLOCK);
    unsigned char buf[BLOCK];
    CHECK_EQ_INT(goc_pread(shared_fd, buf, BLOCK, (off_t)(blk * BLOCK), NULL), BLOCK);
    check_pattern(buf, BLOCK, blk * BLOCK);
    goc_wg_done(&flood_wg);
}

GTEST(more_operations_than_the_ring_holds) {
    shared_fd = pattern_file(BIG);
    int n = TEST_SCALE(3000, 1000);
    for (int round = 0; round < 3; round++) {
        goc_wg_add(&flood_wg, n);
        for (int i = 0; i < n; i++)
            TEST_GO(one_pread, (void *)(uintptr_t)(i * 7919 + round));
        test_wg_wait_bounded(&flood_wg, TEST_PATIENCE_S, "preads");
    }
    close(shared_fd);
}

static void pwrite_region(void *arg) {
    uint64_t idx = (uint64_t)(uintptr_t)arg;
    enum { REGION = 256 * 1024 };
    unsigned char *buf = malloc(REGION);
    CHECK(buf);
    fill_pattern(buf, REGION, idx * REGION);
    for (size_t off = 0; off < REGION; off += 32768)
        CHECK_EQ_INT(goc_pwrite(shared_fd, buf + off, 32768, (off_t)(idx * REGION + off), NULL),
                     32768);
    free(buf);
}

GTEST(concurrent_pwrites_to_disjoint_regions) {
    shared_fd = temp_file();
    static test_group grp;
    enum { NREG = 32 };
    for (int i = 0; i < NREG; i++)
        test_group_go(&grp, 1, pwrite_region, (void *)(uintptr_t)i);
    test_group_wait(&grp);
    size_t n = (size_t)NREG * 256 * 1024;
    unsigned char *r = malloc(n);
    CHECK(r);
    CHECK_EQ_INT(pread(shared_fd, r, n, 0), (long)n);
    check_pattern(r, n, 0);
    free(r);
    close(shared_fd);
}

/* ---- processors stay free ---- */

static atomic_int reader_stop;
static atomic_long reader_bytes;

static void reader_loop(void *arg) {
    (void)arg;
    unsigned char *buf = malloc(BIG);
    CHECK(buf);
    while (!atomic_load(&reader_stop)) {
        ssize_t k = goc_pread(shared_fd, buf, BIG / 4, 0, NULL);
        CHECK_GT_INT(k, 0);
        atomic_fetch_add(&reader_bytes, k);
    }
    free(buf);
}

GTEST(file_reads_do_not_stop_a_ticker) {
    /* Two goroutines read a file over and over (4 MiB per call, which the
     * page cache serves at once: the ring completes it inside the submitting
     * call, and nothing parks) while this one receives ticks. goc has no
     * preemption: only the read calls themselves can let it run (with
     * GOCMAXPROCS=1, on the same processor). Without that it would get its
     * first tick and no other. Counted in ticks, not in time: the machine
     * may be loaded. */
    shared_fd = pattern_file(BIG);
    atomic_store(&reader_stop, 0);
    atomic_store(&reader_bytes, 0);
    static test_group grp;
    test_group_go(&grp, 2, reader_loop, NULL);
    test_group_wait_started(&grp);
    goc_ticker *t = goc_ticker_new(5 * GOC_MILLISECOND);
    CHECK(t);
    enum { TICKS = 20 };
    int ticks = 0;
    long bytes_first = 0;
    int64_t t0 = goc_now();
    while (ticks < TICKS && goc_now() - t0 < 30 * GOC_SECOND) {
        int64_t v;
        CHECK(goc_chan_recv(goc_ticker_chan(t), &v));
        if (ticks++ == 0)
            bytes_first = atomic_load(&reader_bytes);
    }
    long bytes_between = atomic_load(&reader_bytes) - bytes_first;
    int64_t dt = goc_now() - t0;
    atomic_store(&reader_stop, 1);
    test_group_wait(&grp);
    goc_ticker_free(t);
    test_note("%d ticks of 5 ms in %lld ms; %ld MiB read meanwhile", ticks,
              (long long)(dt / GOC_MILLISECOND), bytes_between >> 20);
    CHECK_EQ_INT(ticks, TICKS);
    CHECK_GT_INT(bytes_between, 0); /* the readers did read meanwhile */
    close(shared_fd);
}

/* ---- plain threads ---- */

static void thread_rw(void *arg) {
    uint64_t idx = (uint64_t)(uintptr_t)arg;
    enum { REGION = 64 * 1024 };
    unsigned char *w = malloc(REGION), *r = malloc(REGION);
    CHECK(w && r);
    fill_pattern(w, REGION, idx * REGION);
    for (int round = 0; round < 20; round++) {
        CHECK_EQ_INT(goc_pwrite(shared_fd, w, REGION, (off_t)(idx * REGION), NULL), REGION);
        memset(r, 0, REGION);
        CHECK_EQ_INT(goc_pread(shared_fd, r, REGION, (off_t)(idx * REGION), NULL), REGION);
        CHECK(memcmp(r, w, REGION) == 0);
    }
    free(w);
    free(r);
}

TEST(plain_threads_read_and_write) {
    shared_fd = temp_file();
    test_group grp = {0};
    test_group_thread(&grp, 4, thread_rw, NULL); /* all write region 0 */
    test_group_wait(&grp);
    for (int i = 1; i <= 4; i++)
        test_group_thread(&grp, 1, thread_rw, (void *)(uintptr_t)i);
    test_group_wait(&grp);
    /* And the main thread itself, by position. */
    CHECK_EQ_INT(lseek(shared_fd, 0, SEEK_SET), 0);
    unsigned char b[1000];
    CHECK_EQ_INT(goc_read(shared_fd, b, sizeof b, NULL), (long)sizeof b);
    check_pattern(b, sizeof b, 0);
    CHECK_EQ_INT(position(shared_fd), (off_t)sizeof b);
    close(shared_fd);
}

static int goroutines_and_threads_main(void *arg) {
    (void)arg;
    shared_fd = pattern_file(BIG);
    atomic_store(&blocks_read, 0);
    static test_group grp;
    test_group_go(&grp, 8, pread_random_blocks, (void *)(uintptr_t)7);
    test_group_thread(&grp, 3, pread_random_blocks, (void *)(uintptr_t)11);
    test_group_wait(&grp);
    CHECK_EQ_INT(atomic_load(&blocks_read), 11L * TEST_SCALE(300, 60));
    close(shared_fd);
    return TEST_GOC_OK;
}

TEST(goroutines_and_plain_threads_share_the_ring) {
    CHECK_EQ_INT(run_in_goc(goroutines_and_threads_main, NULL), TEST_GOC_OK);
}
