/* test_net.c — goroutine-aware sockets (<goc/io.h>) on 127.0.0.1: echo
 * with hundreds of connections, deadlines and cancellation on read, write,
 * accept and connect (nothing consumed), goc_close waking every waiter of a
 * socket, EOF and broken connections without SIGPIPE, refused connections,
 * UDP datagrams, plain threads, and calls on the wrong kind of socket.
 *
 * Every listener binds 127.0.0.1 port 0 and learns its port from
 * getsockname. Streams carry bytes cut from one random block at offsets
 * that depend on the connection and round, so a byte lost, duplicated,
 * reordered or delivered to the wrong connection fails a memcmp. */
#include "testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS GOC_MILLISECOND

/* "Promptly": a cancelled or timed-out call returns within this (loose:
 * the suite runs under load and sanitizers). */
#define PROMPT_S TEST_SCALE(3.0, 10.0)

/* ------------------------------------------------------------------ */
/* helpers                                                             */

enum { BLOCK = 1 << 18 };
static unsigned char *block; /* BLOCK random bytes (+ slack) */

static void block_init(void) {
    if (block)
        return;
    block = malloc(BLOCK + 65536);
    CHECK(block);
    uint64_t s = test_rand_seed(7);
    for (size_t i = 0; i < BLOCK + 65536; i++)
        block[i] = (unsigned char)test_rand(&s);
}

static int port_of(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    CHECK_EQ_INT(a.sin_family, AF_INET);
    return ntohs(a.sin_port);
}

/* A listener on 127.0.0.1, any port; its port as a string in port[16]. */
static int listen_local(int backlog, char *port) {
    int fd = goc_listen_tcp("127.0.0.1", "0", backlog);
    CHECK_GE_INT(fd, 0);
    snprintf(port, 16, "%d", port_of(fd));
    return fd;
}

static struct sockaddr_in addr_local(const char *port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A connected pair: *a dialed, *b accepted. */
static void tcp_pair(int *a, int *b) {
    char port[16];
    int l = listen_local(8, port);
    *a = goc_dial_tcp("127.0.0.1", port, NULL);
    CHECK_GE_INT(*a, 0);
    *b = goc_accept(l, NULL, NULL, NULL);
    CHECK_GE_INT(*b, 0);
    CHECK_EQ_INT(goc_close(l), 0);
}

/* Read exactly n bytes (failing on EOF or an error). */
static void read_exact(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = goc_read(fd, (char *)buf + got, n - got, NULL);
        CHECK_MSG(r > 0, "read_exact: goc_read returned %zd after %zu of %zu bytes", r, got, n);
        got += (size_t)r;
    }
}

/* Read until EOF into a malloc'd buffer; *n its length. */
static unsigned char *read_all(int fd, size_t *n) {
    size_t cap = 1 << 20, len = 0;
    unsigned char *b = malloc(cap);
    CHECK(b);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            b = realloc(b, cap);
            CHECK(b);
        }
        ssize_t r = goc_read(fd, b + len, cap - len, NULL);
        CHECK_GE_INT(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *n = len;
    return b;
}

/* Fill fd's send path (and the peer's receive buffer) until a write would
 * block; returns how many bytes of block went in, cycling through it. The
 * buffers are made small and fixed first (no autotuning): a kernel that
 * later grows them, or collapses the receive queue, then opens at most a
 * few KiB, never room for a BLOCK-sized write. */
static size_t fill_socket(int fd, int peer) {
    int small = 8192;
    CHECK_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    CHECK_EQ_INT(setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && (fl & O_NONBLOCK)); /* goc made it non-blocking */
    size_t total = 0;
    for (;;) {
        size_t off = total % BLOCK;
        ssize_t r = send(fd, block + off, BLOCK - off, MSG_NOSIGNAL);
        if (r < 0) {
            CHECK_MSG(errno == EAGAIN || errno == EWOULDBLOCK, "fill: %s", strerror(errno));
            /* Loopback may move more into the peer a moment later. */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 20) == 0)
                return total;
            continue;
        }
        total += (size_t)r;
    }
}

/* Check that buf[0..n) is block cycled from offset 0 (what fill_socket
 * sent). */
static void check_cycled(const unsigned char *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        size_t k = BLOCK - off % BLOCK;
        if (k > n - off)
            k = n - off;
        CHECK_MSG(memcmp(buf + off, block + off % BLOCK, k) == 0, "bytes differ near offset %zu",
                  off);
        off += k;
    }
}

static double secs_since(int64_t t0) { return (double)(test_now_ns() - t0) / 1e9; }

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ------------------------------------------------------------------ */
/* echo: hundreds of connections, every byte checked                   */

static struct {
    int lfd, nconns, rounds;
    char port[16];
    atomic_long served, sent, conns_done;
    goc_waitgroup wg;
} echo;

static void echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    size_t cap = 1 << 15;
    char *buf = malloc(cap);
    CHECK(buf);
    for (;;) {
        ssize_t r = goc_read(fd, buf, cap, NULL);
        CHECK_GE_INT(r, 0);
        if (r == 0)
            break;
        CHECK_EQ_INT(goc_write(fd, buf, (size_t)r, NULL), r);
        atomic_fetch_add(&echo.served, r);
    }
    free(buf);
    CHECK_EQ_INT(goc_close(fd), 0);
    atomic_fetch_add(&echo.conns_done, 1);
    goc_wg_done(&echo.wg);
}

static void echo_acceptor(void *arg) {
    (void)arg;
    for (int i = 0; i < echo.nconns; i++) {
        int fd = goc_accept(echo.lfd, NULL, NULL, NULL);
        CHECK_GE_INT(fd, 0);
        goc_wg_add(&echo.wg, 1);
        TEST_GO(echo_conn, (void *)(intptr_t)fd);
    }
    CHECK_EQ_INT(goc_close(echo.lfd), 0);
    goc_wg_done(&echo.wg);
}

static size_t echo_size(uint64_t *s) {
    uint64_t x = test_rand(s) % 100;
    if (x < 60)
        return 1 + test_rand(s) % 256;
    if (x < 95)
        return 1 + test_rand(s) % 4096;
    return 1 + test_rand(s) % 32768;
}

static void echo_client(void *arg) {
    int id = (int)(intptr_t)arg;
    int fd = goc_dial_tcp("127.0.0.1", echo.port, NULL);
    CHECK_GE_INT(fd, 0);
    unsigned char *rbuf = malloc(65536);
    CHECK(rbuf);
    uint64_t s = 0x1234567ull * (uint64_t)(id + 1);
    for (int r = 0; r < echo.rounds; r++) {
        size_t n = echo_size(&s);
        size_t start = test_rand(&s) % (BLOCK - n);
        CHECK_EQ_INT(goc_write(fd, block + start, n, NULL), (long long)n);
        read_exact(fd, rbuf, n);
        CHECK_MSG(memcmp(rbuf, block + start, n) == 0, "client %d round %d: echo differs", id, r);
        atomic_fetch_add(&echo.sent, (long)n);
    }
    /* Nothing more comes back than was sent. */
    CHECK_EQ_INT(shutdown(fd, SHUT_WR), 0);
    CHECK_EQ_INT(goc_read(fd, rbuf, 65536, NULL), 0);
    CHECK_EQ_INT(goc_close(fd), 0);
    free(rbuf);
}

GTEST(echo_hundreds_of_connections_every_byte_checked) {
    raise_nofile();
    block_init();
    echo.nconns = 300;
    echo.rounds = TEST_SCALE(100, 20);
    echo.lfd = listen_local(1024, echo.port);
    goc_wg_add(&echo.wg, 1);
    TEST_GO(echo_acceptor, NULL);
    int64_t t0 = test_now_ns();
    static test_group clients;
    for (int i = 0; i < echo.nconns; i++)
        test_group_go(&clients, 1, echo_client, (void *)(intptr_t)i);
    test_group_wait(&clients);
    test_wg_wait_bounded(&echo.wg, TEST_PATIENCE_S, "echo server");
    CHECK_EQ_INT(atomic_load(&echo.conns_done), echo.nconns);
    CHECK_EQ_INT(atomic_load(&echo.served), atomic_load(&echo.sent));
    test_note("%d connections x %d rounds: %ld bytes each way in %.2f s", echo.nconns, echo.rounds,
              atomic_load(&echo.sent), secs_since(t0));
}

/* ------------------------------------------------------------------ */
/* deadlines and cancellation                                          */

struct waiter {
    int fd;
    goc_ctx *ctx;
    long long result;
    int64_t t_end;
    atomic_int done;
};

static void read_waiter(void *arg) {
    struct waiter *w = arg;
    char b[16];
    w->result = goc_read(w->fd, b, sizeof b, w->ctx);
    w->t_end = test_now_ns();
    atomic_store(&w->done, 1);
}

/* Cancel w->ctx once a goroutine is parked in I/O; check the call ends
 * with -ECANCELED soon after. */
static void cancel_when_parked(struct waiter *w) {
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(atomic_load(&w->done), 0);
    int64_t t0 = test_now_ns();
    goc_ctx_cancel(w->ctx);
    WAIT_UNTIL(atomic_load(&w->done), PROMPT_S);
    CHECK_EQ_INT(w->result, -ECANCELED);
    CHECK_LT_INT(w->t_end - t0, (int64_t)(PROMPT_S * 1e9));
}

static void check_timed_out(long long r, int64_t t0, goc_duration d) {
    double el = secs_since(t0);
    CHECK_EQ_INT(r, -ETIMEDOUT);
    CHECK_MSG(el >= (double)(d - MS) / 1e9, "timed out early: %.4f s", el);
    CHECK_MSG(el < (double)d / 1e9 + PROMPT_S, "timed out late: %.4f s", el);
}

GTEST(read_deadline_returns_etimedout_and_consumes_nothing) {
    int a, b;
    tcp_pair(&a, &b);
    char buf[64];
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 50 * MS);
    check_timed_out(goc_read(b, buf, sizeof buf, ctx), t0, 50 * MS);
    /* Expired: fails at once, even with data there, and takes none. */
    CHECK_EQ_INT(goc_write(a, "hello, world", 12, NULL), 12);
    CHECK_EQ_INT(goc_fd_wait(b, GOC_READABLE, NULL), 0);
    CHECK_EQ_INT(goc_read(b, buf, sizeof buf, ctx), -ETIMEDOUT);
    goc_ctx_release(ctx);
    CHECK_EQ_INT(goc_read(b, buf, sizeof buf, NULL), 12);
    CHECK(memcmp(buf, "hello, world", 12) == 0);
    goc_close(a);
    goc_close(b);
}

GTEST(read_cancel_returns_ecanceled_and_consumes_nothing) {
    int a, b;
    tcp_pair(&a, &b);
    static struct waiter w;
    w.fd = b;
    w.ctx = goc_ctx_with_cancel(NULL);
    TEST_GO(read_waiter, &w);
    cancel_when_parked(&w);
    goc_ctx_release(w.ctx);
    /* What arrives later is all there for the next read. */
    CHECK_EQ_INT(goc_write(a, "after cancel", 12, NULL), 12);
    char buf[64];
    read_exact(b, buf, 12);
    CHECK(memcmp(buf, "after cancel", 12) == 0);
    goc_close(a);
    goc_close(b);
}

/* Reads with tiny deadlines racing a stream: every byte of the stream is
 * received exactly once, in order, by the reads that succeed. */
static struct {
    int fd;
    size_t total;
} racer;

static void racing_writer(void *arg) {
    (void)arg;
    uint64_t s = test_rand_seed(3);
    size_t off = 0;
    while (off < racer.total) {
        size_t n = 1 + test_rand(&s) % 3000;
        if (n > racer.total - off)
            n = racer.total - off;
        if (n > BLOCK - off % BLOCK)
            n = BLOCK - off % BLOCK; /* the stream cycles through block */
        CHECK_EQ_INT(goc_write(racer.fd, block + off % BLOCK, n, NULL), (long long)n);
        off += n;
        if (test_rand(&s) % 4 == 0)
            goc_sleep((goc_duration)(test_rand(&s) % 300) * 1000); /* up to 0.3 ms */
    }
    goc_close(racer.fd);
}

GTEST(read_deadlines_racing_a_stream_lose_nothing) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    racer.fd = a;
    racer.total = TEST_SCALE(4u << 20, 1u << 20);
    TEST_GO(racing_writer, NULL);
    unsigned char *got = malloc(racer.total + 1);
    CHECK(got);
    uint64_t s = test_rand_seed(4);
    size_t len = 0;
    long timeouts = 0;
    for (;;) {
        goc_ctx *ctx = goc_ctx_with_timeout(NULL, (goc_duration)(test_rand(&s) % 200) * 1000);
        size_t want = 1 + test_rand(&s) % 5000;
        if (want > racer.total + 1 - len)
            want = racer.total + 1 - len;
        ssize_t r = goc_read(b, got + len, want, ctx);
        goc_ctx_release(ctx);
        if (r == -ETIMEDOUT) {
            timeouts++;
            continue;
        }
        CHECK_GE_INT(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
        CHECK_LE_INT(len, racer.total);
    }
    CHECK_EQ_U64(len, racer.total);
    check_cycled(got, len);
    free(got);
    goc_close(b);
    test_note("%ld reads timed out", timeouts);
}

/* Writes: fill the socket, then a write blocks. */
struct wwaiter {
    int fd;
    goc_ctx *ctx;
    size_t n;
    long long result;
    int64_t t_end;
    atomic_int done;
};

static void write_waiter(void *arg) {
    struct wwaiter *w = arg;
    w->result = goc_write(w->fd, block, w->n, w->ctx);
    w->t_end = test_now_ns();
    atomic_store(&w->done, 1);
}

/* After a write that ended early: the reader sees the filled bytes, then a
 * prefix (possibly empty, never more than n) of block, then "TAIL". */
static void drain_and_check_after_write(int reader, size_t filled, size_t n) {
    size_t len;
    unsigned char *got = read_all(reader, &len);
    CHECK_GE_INT(len, filled + 4);
    check_cycled(got, filled);
    size_t k = len - filled - 4;
    CHECK_LT_INT(k, n); /* the blocked write did not complete */
    CHECK(memcmp(got + filled, block, k) == 0);
    CHECK(memcmp(got + filled + k, "TAIL", 4) == 0);
    free(got);
}

/* Write "TAIL" and close, in a goroutine (while the caller drains). */
struct tailarg {
    int fd;
    goc_waitgroup wg;
};

static void write_tail(void *arg) {
    struct tailarg *t = arg;
    CHECK_EQ_INT(goc_write(t->fd, "TAIL", 4, NULL), 4);
    CHECK_EQ_INT(goc_close(t->fd), 0);
    goc_wg_done(&t->wg);
}

static void tail_and_check(int writer, int reader, size_t filled, size_t n) {
    static struct tailarg t;
    t.fd = writer;
    goc_wg_add(&t.wg, 1);
    TEST_GO(write_tail, &t);
    drain_and_check_after_write(reader, filled, n);
    test_wg_wait_bounded(&t.wg, TEST_PATIENCE_S, "tail writer");
    goc_close(reader);
}

GTEST(write_deadline_on_full_socket_returns_etimedout) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    size_t filled = fill_socket(a, b);
    CHECK_GT_INT(filled, 0);
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 60 * MS);
    check_timed_out(goc_write(a, block, BLOCK, ctx), t0, 60 * MS);
    goc_ctx_release(ctx);
    /* The socket still works: a later write goes after whatever went. */
    tail_and_check(a, b, filled, BLOCK);
}

GTEST(write_cancel_on_full_socket_returns_ecanceled) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    size_t filled = fill_socket(a, b);
    static struct wwaiter w;
    w.fd = a;
    w.n = BLOCK;
    w.ctx = goc_ctx_with_cancel(NULL);
    TEST_GO(write_waiter, &w);
    WAIT_UNTIL(atomic_load(&w.done) || test_count_parked("IO wait") >= 1, TEST_PATIENCE_S);
    CHECK_MSG(!atomic_load(&w.done), "the write did not block: %lld", w.result);
    int64_t t0 = test_now_ns();
    goc_ctx_cancel(w.ctx);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(w.result, -ECANCELED);
    CHECK_LT_INT(w.t_end - t0, (int64_t)(PROMPT_S * 1e9));
    goc_ctx_release(w.ctx);
    tail_and_check(a, b, filled, w.n);
}

struct accwaiter {
    int fd;
    goc_ctx *ctx;
    long long result;
    atomic_int done;
};

static void accept_waiter(void *arg) {
    struct accwaiter *w = arg;
    w->result = goc_accept(w->fd, NULL, NULL, w->ctx);
    atomic_store(&w->done, 1);
}

/* After a failed accept, a connection that comes later is accepted. */
static void check_accept_still_works(int l, const char *port) {
    int c = goc_dial_tcp("127.0.0.1", port, NULL);
    CHECK_GE_INT(c, 0);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int s = goc_accept(l, (struct sockaddr *)&peer, &pl, NULL);
    CHECK_GE_INT(s, 0);
    CHECK_EQ_INT(ntohs(peer.sin_port), port_of(c));
    CHECK_EQ_INT(goc_write(c, "x", 1, NULL), 1);
    char ch;
    CHECK_EQ_INT(goc_read(s, &ch, 1, NULL), 1);
    CHECK_EQ_INT(ch, 'x');
    goc_close(c);
    goc_close(s);
}

GTEST(accept_deadline_returns_etimedout) {
    char port[16];
    int l = listen_local(8, port);
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 50 * MS);
    check_timed_out(goc_accept(l, NULL, NULL, ctx), t0, 50 * MS);
    goc_ctx_release(ctx);
    check_accept_still_works(l, port);
    goc_close(l);
}

GTEST(accept_cancel_returns_ecanceled) {
    char port[16];
    int l = listen_local(8, port);
    static struct accwaiter w;
    w.fd = l;
    w.ctx = goc_ctx_with_cancel(NULL);
    TEST_GO(accept_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    goc_ctx_cancel(w.ctx);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(w.result, -ECANCELED);
    goc_ctx_release(w.ctx);
    check_accept_still_works(l, port);
    goc_close(l);
}

/* A listener with backlog 1 whose accept queue is full (nobody accepts):
 * Linux drops further SYNs, so a further connect stays in progress. The
 * queue is filled with plain non-blocking connects until one does not
 * complete within 300 ms. Returns the listener; fills[] the connected
 * sockets (closed by the caller). */
static int full_listener(char *port, int *fills, int *nfills) {
    int l = listen_local(1, port);
    struct sockaddr_in sa = addr_local(port);
    *nfills = 0;
    for (int i = 0; i < 16; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK_GE_INT(s, 0);
        int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
        CHECK(r == 0 || errno == EINPROGRESS);
        struct pollfd p = {.fd = s, .events = POLLOUT};
        /* Stuck for 300 ms, and again for 500 ms (a slow handshake on a
         * loaded machine is not a full queue): the queue is full. */
        if (r != 0 && poll(&p, 1, 300) == 0 && poll(&p, 1, 500) == 0) {
            close(s);
            return l;
        }
        fills[(*nfills)++] = s;
    }
    FAIL("the kernel completed 16 connects to a backlog-1 listener nobody accepts");
}

struct connwaiter {
    goc_ctx *ctx;
    char port[16];
    long long result;
    atomic_int done;
};

static void connect_waiter(void *arg) {
    struct connwaiter *w = arg;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE_INT(s, 0);
    struct sockaddr_in sa = addr_local(w->port);
    w->result = goc_connect(s, (struct sockaddr *)&sa, sizeof sa, w->ctx);
    goc_close(s);
    atomic_store(&w->done, 1);
}

static void close_fills(int l, int *fills, int n) {
    for (int i = 0; i < n; i++)
        goc_close(fills[i]);
    goc_close(l);
}

GTEST(connect_deadline_on_full_backlog_returns_etimedout) {
    char port[16];
    int fills[16], nf;
    int l = full_listener(port, fills, &nf);
    static struct connwaiter w;
    memcpy(w.port, port, sizeof port);
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    w.ctx = goc_ctx_with_timeout(NULL, 80 * MS);
    connect_waiter(&w);
    check_timed_out(w.result, t0, 80 * MS);
    goc_ctx_release(w.ctx);
    /* goc_dial_tcp too. */
    t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 80 * MS);
    check_timed_out(goc_dial_tcp("127.0.0.1", port, ctx), t0, 80 * MS);
    goc_ctx_release(ctx);
    /* Accepting makes room: a dial then works. */
    int s = goc_accept(l, NULL, NULL, NULL);
    CHECK_GE_INT(s, 0);
    goc_close(s);
    s = goc_accept(l, NULL, NULL, NULL);
    CHECK_GE_INT(s, 0);
    goc_close(s);
    ctx = goc_ctx_with_timeout(NULL, 30 * GOC_SECOND);
    int c = goc_dial_tcp("127.0.0.1", port, ctx);
    CHECK_GE_INT(c, 0);
    goc_ctx_release(ctx);
    goc_close(c);
    close_fills(l, fills, nf);
}

GTEST(connect_cancel_on_full_backlog_returns_ecanceled) {
    char port[16];
    int fills[16], nf;
    int l = full_listener(port, fills, &nf);
    static struct connwaiter w;
    memcpy(w.port, port, sizeof port);
    w.ctx = goc_ctx_with_cancel(NULL);
    TEST_GO(connect_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(atomic_load(&w.done), 0);
    goc_ctx_cancel(w.ctx);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(w.result, -ECANCELED);
    goc_ctx_release(w.ctx);
    close_fills(l, fills, nf);
}

/* ------------------------------------------------------------------ */
/* goc_close wakes every waiter                                        */

static atomic_int close_results[16];
static atomic_int close_done;

struct closearg {
    int fd, idx;
    bool write;
};

static void close_victim(void *arg) {
    struct closearg *c = arg;
    long long r;
    if (c->write)
        r = goc_write(c->fd, block, BLOCK, NULL);
    else {
        char b[64];
        r = goc_read(c->fd, b, sizeof b, NULL);
    }
    atomic_store(&close_results[c->idx], (int)r);
    atomic_fetch_add(&close_done, 1);
}

GTEST(close_wakes_blocked_readers_and_writers_with_ebadf) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    fill_socket(a, b);
    enum { NR = 4, NW = 4 };
    static struct closearg args[NR + NW];
    atomic_store(&close_done, 0);
    for (int i = 0; i < NR + NW; i++) {
        args[i] = (struct closearg){.fd = a, .idx = i, .write = i >= NR};
        atomic_store(&close_results[i], 1);
        TEST_GO(close_victim, &args[i]);
    }
    WAIT_UNTIL(atomic_load(&close_done) || test_count_parked("IO wait") >= NR + NW,
               TEST_PATIENCE_S);
    CHECK_EQ_INT(atomic_load(&close_done), 0);
    int64_t t0 = test_now_ns();
    CHECK_EQ_INT(goc_close(a), 0);
    WAIT_UNTIL(atomic_load(&close_done) == NR + NW, PROMPT_S);
    CHECK_LT_INT(test_now_ns() - t0, (int64_t)(PROMPT_S * 1e9));
    for (int i = 0; i < NR + NW; i++)
        CHECK_EQ_INT(atomic_load(&close_results[i]), -EBADF);
    /* Closed twice: -EBADF, no crash. */
    CHECK_EQ_INT(goc_close(a), -EBADF);
    goc_close(b);
}

GTEST(close_wakes_blocked_accept_with_ebadf) {
    char port[16];
    int l = listen_local(8, port);
    static struct accwaiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i].fd = l;
        w[i].ctx = NULL;
        TEST_GO(accept_waiter, &w[i]);
    }
    WAIT_PARKED("IO wait", 3);
    CHECK_EQ_INT(goc_close(l), 0);
    for (int i = 0; i < 3; i++) {
        WAIT_UNTIL(atomic_load(&w[i].done), PROMPT_S);
        CHECK_EQ_INT(w[i].result, -EBADF);
    }
}

/* ------------------------------------------------------------------ */
/* EOF, broken connections, refused connections                        */

GTEST(read_returns_zero_at_eof_after_peer_closes) {
    int a, b;
    tcp_pair(&a, &b);
    static struct waiter w;
    w.fd = b;
    w.ctx = NULL;
    TEST_GO(read_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(goc_write(a, "abc", 3, NULL), 3);
    CHECK_EQ_INT(goc_close(a), 0);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(w.result, 3);
    char buf[8];
    CHECK_EQ_INT(goc_read(b, buf, sizeof buf, NULL), 0);
    CHECK_EQ_INT(goc_read(b, buf, sizeof buf, NULL), 0);
    /* A reader parked when the peer closes wakes with 0 too. */
    int c, d;
    tcp_pair(&c, &d);
    atomic_store(&w.done, 0);
    w.fd = d;
    TEST_GO(read_waiter, &w);
    WAIT_PARKED("IO wait", 1);
    CHECK_EQ_INT(goc_close(c), 0);
    WAIT_UNTIL(atomic_load(&w.done), PROMPT_S);
    CHECK_EQ_INT(w.result, 0);
    goc_close(b);
    goc_close(d);
}

static void *broken_socket_thread(void *arg) {
    int fd = *(int *)arg;
    long long r = goc_write(fd, "x", 1, NULL);
    CHECK_MSG(r == -EPIPE || r == -ECONNRESET, "plain thread write: %lld", r);
    return NULL;
}

GTEST(write_to_closed_peer_is_epipe_or_econnreset_not_sigpipe) {
    block_init();
    /* A SIGPIPE would kill us: default action, not blocked here. */
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    sigset_t pipeset;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    CHECK_EQ_INT(pthread_sigmask(SIG_UNBLOCK, &pipeset, NULL), 0);
    for (int round = 0; round < 2; round++) {
        int a, b;
        tcp_pair(&a, &b);
        if (round == 1) {
            /* Unread data in b: its close sends a reset. */
            CHECK_EQ_INT(goc_write(a, "unread", 6, NULL), 6);
            goc_sleep(5 * MS);
        }
        CHECK_EQ_INT(goc_close(b), 0);
        long long r = 0;
        for (int i = 0; i < 1000 && r >= 0; i++) {
            r = goc_write(a, block, 4096, NULL);
            if (r >= 0)
                goc_sleep(MS);
        }
        CHECK_MSG(r == -EPIPE || r == -ECONNRESET, "write after peer close: %lld", r);
        /* Once broken, stays broken (still no signal). */
        r = goc_write(a, "x", 1, NULL);
        CHECK_MSG(r == -EPIPE || r == -ECONNRESET, "second write: %lld", r);
        /* From a plain thread too. */
        test_thread_join(test_thread_start(broken_socket_thread, &a));
        goc_close(a);
    }
}

GTEST(dial_port_nobody_listens_on_is_econnrefused) {
    char port[16];
    int l = listen_local(1, port);
    CHECK_EQ_INT(goc_close(l), 0);
    for (int i = 0; i < 3; i++) {
        int fd = goc_dial_tcp("127.0.0.1", port, NULL);
        CHECK_EQ_INT(fd, -ECONNREFUSED);
    }
    /* goc_connect says the same. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = addr_local(port);
    CHECK_EQ_INT(goc_connect(s, (struct sockaddr *)&sa, sizeof sa, NULL), -ECONNREFUSED);
    goc_close(s);
}

/* ------------------------------------------------------------------ */
/* UDP                                                                 */

static int udp_local(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK_GE_INT(fd, 0);
    struct sockaddr_in sa = addr_local("0");
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static struct {
    int fd, n;
    struct sockaddr_in to;
} udp;

static size_t dgram_size(int i) { return i == 7 ? 0 : (size_t)(1 + (i * 397) % 1400); }

static void udp_sender(void *arg) {
    (void)arg;
    for (int i = 0; i < udp.n; i++) {
        size_t n = dgram_size(i);
        CHECK_EQ_INT(
            goc_sendto(udp.fd, block + i, n, 0, (struct sockaddr *)&udp.to, sizeof udp.to, NULL),
            (long long)n);
        if (i % 8 == 0)
            goc_sleep(MS / 2);
    }
}

GTEST(udp_sendto_recvfrom_keeps_datagram_boundaries) {
    block_init();
    int r = udp_local(), s = udp_local();
    socklen_t tl = sizeof udp.to;
    CHECK_EQ_INT(getsockname(r, (struct sockaddr *)&udp.to, &tl), 0);
    udp.fd = s;
    udp.n = 64;
    TEST_GO(udp_sender, NULL);
    unsigned char buf[2048];
    for (int i = 0; i < udp.n; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t k = goc_recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl, NULL);
        CHECK_EQ_INT(k, (long long)dgram_size(i));
        CHECK(memcmp(buf, block + i, (size_t)k) == 0);
        CHECK_EQ_INT(ntohs(from.sin_port), port_of(s));
    }
    /* A buffer smaller than the datagram: the rest of that datagram is
     * dropped, never read as the start of the next. */
    CHECK_EQ_INT(
        goc_sendto(s, "0123456789", 10, 0, (struct sockaddr *)&udp.to, sizeof udp.to, NULL), 10);
    CHECK_EQ_INT(goc_sendto(s, "abc", 3, 0, (struct sockaddr *)&udp.to, sizeof udp.to, NULL), 3);
    CHECK_EQ_INT(goc_recvfrom(r, buf, 4, 0, NULL, NULL, NULL), 4);
    CHECK(memcmp(buf, "0123", 4) == 0);
    CHECK_EQ_INT(goc_recvfrom(r, buf, sizeof buf, 0, NULL, NULL, NULL), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    /* A deadline on an empty socket. */
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 30 * MS);
    check_timed_out(goc_recvfrom(r, buf, sizeof buf, 0, NULL, NULL, ctx), t0, 30 * MS);
    goc_ctx_release(ctx);
    goc_close(r);
    goc_close(s);
}

/* ------------------------------------------------------------------ */
/* plain threads                                                       */

static struct {
    int fd;
    size_t n;
    atomic_int ok;
} pt;

/* A plain thread that writes block[0..n) in pieces, then closes. */
static void *pt_writer(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_id(), 0);
    for (size_t off = 0; off < pt.n;) {
        size_t k = pt.n - off < 7777 ? pt.n - off : 7777;
        CHECK_EQ_INT(goc_write(pt.fd, block + off, k, NULL), (long long)k);
        off += k;
    }
    CHECK_EQ_INT(goc_close(pt.fd), 0);
    atomic_store(&pt.ok, 1);
    return NULL;
}

/* A plain thread that reads until EOF and checks the bytes. */
static void *pt_reader(void *arg) {
    (void)arg;
    size_t len;
    unsigned char *got = read_all(pt.fd, &len);
    CHECK_EQ_U64(len, pt.n);
    CHECK(memcmp(got, block, len) == 0);
    free(got);
    /* A deadline on a plain thread. */
    int a, b;
    tcp_pair(&a, &b);
    char c;
    int64_t t0 = test_now_ns(); /* before the deadline is set: it counts from then */
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 30 * MS);
    check_timed_out(goc_read(b, &c, 1, ctx), t0, 30 * MS);
    goc_ctx_release(ctx);
    goc_close(a);
    goc_close(b);
    CHECK_EQ_INT(goc_close(pt.fd), 0);
    atomic_store(&pt.ok, 1);
    return NULL;
}

GTEST(plain_thread_reads_what_goroutine_writes) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    pt.fd = b;
    pt.n = BLOCK;
    atomic_store(&pt.ok, 0);
    pthread_t th = test_thread_start(pt_reader, NULL);
    for (size_t off = 0; off < pt.n;) {
        size_t k = pt.n - off < 5000 ? pt.n - off : 5000;
        CHECK_EQ_INT(goc_write(a, block + off, k, NULL), (long long)k);
        off += k;
        if (off % 40000 < 5000)
            goc_sleep(MS / 4); /* let the reader park now and then */
    }
    CHECK_EQ_INT(goc_close(a), 0);
    WAIT_UNTIL(atomic_load(&pt.ok), TEST_PATIENCE_S);
    test_thread_join(th);
}

GTEST(goroutine_reads_what_plain_thread_writes) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    pt.fd = a;
    pt.n = BLOCK;
    atomic_store(&pt.ok, 0);
    pthread_t th = test_thread_start(pt_writer, NULL);
    size_t len;
    unsigned char *got = read_all(b, &len);
    CHECK_EQ_U64(len, pt.n);
    CHECK(memcmp(got, block, len) == 0);
    free(got);
    WAIT_UNTIL(atomic_load(&pt.ok), TEST_PATIENCE_S);
    test_thread_join(th);
    goc_close(b);
}

/* Without goc_run at all: two plain threads talk through goc calls. */
TEST(plain_threads_only_same_results) {
    block_init();
    int a, b;
    tcp_pair(&a, &b);
    pt.fd = b;
    pt.n = BLOCK;
    atomic_store(&pt.ok, 0);
    pthread_t th = test_thread_start(pt_reader, NULL);
    test_sleep_ns(20 * MS); /* the reader blocks first */
    for (size_t off = 0; off < pt.n;) {
        size_t k = pt.n - off < 9000 ? pt.n - off : 9000;
        CHECK_EQ_INT(goc_write(a, block + off, k, NULL), (long long)k);
        off += k;
    }
    CHECK_EQ_INT(goc_close(a), 0);
    test_thread_join(th);
    CHECK(atomic_load(&pt.ok));
}

/* ------------------------------------------------------------------ */
/* wrong kinds of sockets, bad arguments                               */

GTEST(wrong_socket_types_are_errors_not_hangs) {
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE_INT(t, 0);
    CHECK_EQ_INT(goc_accept(t, NULL, NULL, NULL), -EINVAL); /* not listening */
    int u = udp_local();
    CHECK_EQ_INT(goc_accept(u, NULL, NULL, NULL), -EOPNOTSUPP);
    char port[16];
    int l = listen_local(4, port);
    struct sockaddr_in sa = addr_local(port);
    CHECK_EQ_INT(goc_connect(l, (struct sockaddr *)&sa, sizeof sa, NULL), -EISCONN);
    /* UDP connect is legal and does not wait. */
    CHECK_EQ_INT(goc_connect(u, (struct sockaddr *)&sa, sizeof sa, NULL), 0);
    /* A pipe is no socket. */
    int p[2];
    CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ_INT(goc_accept(p[0], NULL, NULL, NULL), -ENOTSOCK);
    CHECK_EQ_INT(goc_connect(p[1], (struct sockaddr *)&sa, sizeof sa, NULL), -ENOTSOCK);
    char buf[4];
    CHECK_EQ_INT(goc_recvfrom(p[0], buf, 4, 0, NULL, NULL, NULL), -ENOTSOCK);
    CHECK_EQ_INT(goc_sendto(p[1], buf, 4, 0, NULL, 0, NULL), -ENOTSOCK);
    /* Reading a listener. */
    CHECK_EQ_INT(goc_read(l, buf, 4, NULL), -ENOTCONN);
    /* Bad address length. */
    CHECK_EQ_INT(goc_connect(t, (struct sockaddr *)&sa, 3, NULL), -EINVAL);
    goc_close(t);
    goc_close(u);
    goc_close(l);
    goc_close(p[0]);
    goc_close(p[1]);
}

GTEST(listen_and_dial_bad_arguments_are_errors) {
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1", NULL, 1), -EINVAL);
    CHECK_EQ_INT(goc_dial_tcp("127.0.0.1", NULL, NULL), -EINVAL);
    /* Out of range or malformed: never a port modulo 65536 (glibc's
     * getaddrinfo turns "99999" into 34463 and "65536" into 0). */
    static const char *const bad[] = {"99999", "65536", "-1", "+80", " 80", "80a", "0x50"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = goc_listen_tcp("127.0.0.1", bad[i], 1);
        CHECK_MSG(fd < 0, "goc_listen_tcp(\"%s\") = %d", bad[i], fd);
        fd = goc_dial_tcp("127.0.0.1", bad[i], NULL);
        CHECK_MSG(fd < 0, "goc_dial_tcp(\"%s\") = %d", bad[i], fd);
    }
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1", "99999", 1), -EINVAL);
    CHECK_LT_INT(goc_listen_tcp("127.0.0.1", "no-such-service-xyz", 1), 0);
    CHECK_LT_INT(goc_listen_tcp("256.1.2.3", "0", 1), 0);
    CHECK_EQ_INT(goc_dial_tcp("127.0.0.1", "0", NULL), -ECONNREFUSED);
    /* A port in use. */
    char port[16];
    int l = listen_local(1, port);
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1", port, 1), -EADDRINUSE);
    /* A context that has ended: nothing is tried. */
    goc_ctx *ctx = goc_ctx_with_cancel(NULL);
    goc_ctx_cancel(ctx);
    CHECK_EQ_INT(goc_dial_tcp("127.0.0.1", port, ctx), -ECANCELED);
    CHECK_EQ_INT(goc_accept(l, NULL, NULL, ctx), -ECANCELED);
    goc_ctx_release(ctx);
    goc_close(l);
}
