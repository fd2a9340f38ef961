/* idleconn: resident memory per idle TCP connection on the server side.
 * The server (this goc program) listens on 127.0.0.1 and runs one goroutine
 * per accepted connection, blocked in goc_read on a 64-byte buffer (the
 * echo workload's handler). The clients are in a separate process (forked
 * before the runtime starts: plain blocking sockets, no goc), so their
 * sockets and buffers are not in the server's RSS, and each process stays
 * far below the 20,000 open-file limit with N = 8,000.
 *
 * VmRSS is read after the listener is up and before the first connection,
 * and again once all N connections are accepted and every server goroutine
 * is parked in its read ("parked": the goroutine bumps a counter just
 * before goc_read; the main goroutine waits for the counter to reach N,
 * then 50 ms more, as in the parked workload; goc_num_goroutine() must be
 * at least N + 1). Reported: (after - before) / N bytes per connection.
 * Then the client process closes every connection, and each server
 * goroutine must see end of file. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t N;
static double result;
static int to_child[2], from_child[2];
static pid_t child;
static atomic_llong arrived, saw_eof, accepted;
static goc_waitgroup served;

/* ---- the client process (no goc) ---- */

static void write_byte(int fd, char c) {
    while (write(fd, &c, 1) < 0 && errno == EINTR) {
    }
}

static void client_process(void) {
    uint16_t port = 0;
    if (read(to_child[0], &port, sizeof port) != (ssize_t)sizeof port)
        _exit(1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int64_t i = 0; i < N; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fprintf(stderr, "idleconn client: connection %lld: %s\n", (long long)i,
                    strerror(errno));
            write_byte(from_child[1], 'e');
            _exit(1);
        }
    }
    write_byte(from_child[1], 'c');
    char c;
    while (read(to_child[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0); /* closes every connection */
}

/* ---- the server (goc) ---- */

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[64];
    atomic_fetch_add_explicit(&arrived, 1, memory_order_relaxed);
    for (;;) {
        ssize_t n = goc_read(fd, buf, sizeof buf, NULL);
        if (n == 0)
            atomic_fetch_add(&saw_eof, 1);
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
    for (int64_t i = 0; i < N; i++) {
        int fd = goc_accept(lfd, NULL, NULL, NULL);
        if (fd < 0) {
            bench_fail("idleconn", "accept: %s", goc_strerror(fd));
            exit(1);
        }
        atomic_fetch_add(&accepted, 1);
        bench_check_go("idleconn", goc_go(serve, (void *)(intptr_t)fd));
    }
}

static int reap(void *arg) {
    int st = 0;
    (void)arg;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int bench(void *arg) {
    (void)arg;
    bench_warmup();
    int lfd = goc_listen_tcp("127.0.0.1", "0", 4096);
    if (lfd < 0) {
        bench_fail("idleconn", "listen: %s", goc_strerror(lfd));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    uint16_t port = ntohs(sa.sin_port);

    long before = bench_vmrss_kb();
    goc_wg_add(&served, (int)N);
    bench_check_go("idleconn", goc_go(accept_loop, (void *)(intptr_t)lfd));
    if (goc_write(to_child[1], &port, sizeof port, NULL) != (ssize_t)sizeof port) {
        bench_fail("idleconn", "cannot talk to the client process");
        return 1;
    }
    char c = 0;
    if (goc_read(from_child[0], &c, 1, NULL) != 1 || c != 'c') {
        bench_fail("idleconn", "the client process failed to connect");
        return 1;
    }
    int64_t deadline = bench_now_ns() + 60 * 1000000000LL;
    while (atomic_load_explicit(&arrived, memory_order_relaxed) < N) {
        if (bench_now_ns() > deadline) {
            bench_fail("idleconn", "only %lld of %" PRId64 " connections served after 60 s",
                       (long long)atomic_load(&arrived), N);
            return 1;
        }
        goc_yield();
    }
    int64_t settle_end = bench_now_ns() + 50 * 1000000LL;
    while (bench_now_ns() < settle_end)
        goc_yield();
    int live = goc_num_goroutine();
    long after = bench_vmrss_kb();

    goc_close(to_child[1]); /* the client process exits: every connection ends */
    goc_wg_wait(&served);
    int crc = goc_blocking(reap, NULL);
    goc_close(lfd);

    if (before < 0 || after < 0) {
        bench_fail("idleconn", "cannot read VmRSS from /proc/self/status");
        return 1;
    }
    if (live < N + 1 || atomic_load(&saw_eof) != N || crc != 0) {
        bench_fail("idleconn",
                   "%d goroutines live (want >= %" PRId64 "), %lld saw end of file "
                   "(want %" PRId64 "), client exit %d",
                   live, N + 1, (long long)atomic_load(&saw_eof), N, crc);
        return 1;
    }
    result = (double)(after - before) * 1024.0 / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 8000);
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
        perror("idleconn: pipe");
        return 1;
    }
    fflush(stdout);
    child = fork();
    if (child < 0) {
        perror("idleconn: fork");
        return 1;
    }
    if (child == 0) {
        close(to_child[1]);
        close(from_child[0]);
        client_process();
    }
    close(to_child[0]);
    close(from_child[1]);
    if (goc_run(bench, NULL) != 0) {
        kill(child, SIGKILL);
        return 1;
    }
    bench_report("idleconn", result, "B/conn");
    return 0;
}
