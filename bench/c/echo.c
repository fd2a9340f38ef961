/* echo: TCP echo over loopback. A server and its clients in one goc
 * program: the server accepts on 127.0.0.1 (any free port) and runs one
 * goroutine per connection that reads up to 64 bytes and writes them back;
 * 100 client goroutines each dial one connection and make N / 100 round
 * trips (write 64 bytes, read until all 64 came back, check them).
 * Reported: wall time from the moment every client is connected until the
 * last round trip is done, divided by N: ns per round trip. The result line
 * also carries cpu_ns: the process's CPU time (user + system, all threads)
 * over the same interval per round trip, which a loaded machine distorts
 * less than wall time. */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>

enum { CONNS = 100, MSG = 64 };

static int64_t N, per_conn;
static double result, cpu_result;
static char port[16];
static goc_waitgroup connected, done, served;
static atomic_llong bad, roundtrips;
static goc_chan *start; /* closed when every client is connected */

/* The server side of one connection: echo until the client closes. */
static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    int one = 1; /* as Go does for every TCP connection (goc_dial_tcp too) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = goc_read(fd, buf, sizeof buf, NULL);
        if (n <= 0)
            break;
        if (goc_write(fd, buf, (size_t)n, NULL) != n)
            break;
    }
    goc_close(fd);
    goc_wg_done(&served);
}

static void accept_loop(void *arg) {
    int lfd = (int)(intptr_t)arg;
    for (int i = 0; i < CONNS; i++) {
        int fd = goc_accept(lfd, NULL, NULL, NULL);
        if (fd < 0) {
            bench_fail("echo", "accept: %s", goc_strerror(fd));
            exit(1);
        }
        bench_check_go("echo", goc_go(serve, (void *)(intptr_t)fd));
    }
}

static void client(void *arg) {
    int id = (int)(intptr_t)arg;
    int fd = goc_dial_tcp("127.0.0.1", port, NULL);
    if (fd < 0) {
        bench_fail("echo", "dial: %s", goc_strerror(fd));
        exit(1);
    }
    char out[MSG], in[MSG];
    memset(out, 'a' + id % 26, sizeof out);
    goc_wg_done(&connected);
    goc_chan_recv(start, NULL);
    for (int64_t i = 0; i < per_conn; i++) {
        out[0] = (char)i;
        if (goc_write(fd, out, MSG, NULL) != MSG) {
            atomic_fetch_add(&bad, 1);
            break;
        }
        size_t got = 0;
        while (got < MSG) {
            ssize_t n = goc_read(fd, in + got, MSG - got, NULL);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != MSG || memcmp(in, out, MSG) != 0) {
            atomic_fetch_add(&bad, 1);
            break;
        }
        atomic_fetch_add_explicit(&roundtrips, 1, memory_order_relaxed);
    }
    goc_close(fd);
    goc_wg_done(&done);
}

static int bench(void *arg) {
    (void)arg;
    bench_warmup();
    int lfd = goc_listen_tcp("127.0.0.1", "0", 1024);
    if (lfd < 0) {
        bench_fail("echo", "listen: %s", goc_strerror(lfd));
        return 1;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in *)&sa)->sin_port));
    start = goc_chan_make(0, 0);

    goc_wg_add(&served, CONNS);
    goc_wg_add(&connected, CONNS);
    goc_wg_add(&done, CONNS);
    bench_check_go("echo", goc_go(accept_loop, (void *)(intptr_t)lfd));
    for (int i = 0; i < CONNS; i++)
        bench_check_go("echo", goc_go(client, (void *)(intptr_t)i));
    goc_wg_wait(&connected);

    int64_t c0 = bench_cpu_ns();
    int64_t t0 = bench_now_ns();
    goc_chan_close(start);
    goc_wg_wait(&done);
    int64_t t1 = bench_now_ns();
    int64_t c1 = bench_cpu_ns();
    goc_wg_wait(&served);
    goc_close(lfd);
    goc_chan_release(start);

    int64_t total = CONNS * per_conn;
    if (atomic_load(&bad) != 0 || atomic_load(&roundtrips) != total) {
        bench_fail("echo", "%lld round trips failed, %lld done (want %" PRId64 ")",
                   (long long)atomic_load(&bad), (long long)atomic_load(&roundtrips), total);
        return 1;
    }
    result = (double)(t1 - t0) / (double)total;
    cpu_result = (double)(c1 - c0) / (double)total;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 100000);
    per_conn = (N + CONNS - 1) / CONNS;
    if (goc_run(bench, NULL) != 0)
        return 1;
    printf("name=echo value=%.3f unit=ns/op rss_kb=%ld cpu_ns=%.1f\n", result, bench_peak_rss_kb(),
           cpu_result);
    return 0;
}
