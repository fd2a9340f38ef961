/* dump: time of a full goroutine dump with N goroutines parked. N goroutines
 * block receiving from one channel (established as in parked: a counter
 * bumped just before the receive, then a 50 ms settle period); then
 * goc_dump writes every goroutine's header and backtrace to /dev/null
 * DUMPS times. Reported: ms per dump (the mean). The Go side does
 * pprof.Lookup("goroutine").WriteTo(io.Discard, 2), Go's full goroutine
 * profile (the same text as a SIGQUIT dump). Afterwards the channel is
 * closed and all N are waited for (each must see the close). */
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench.h"

enum { DUMPS = 10 };

static int64_t N;
static double result;
static atomic_llong arrived;
static atomic_llong woke_closed;
static goc_waitgroup wg;

static void waiter(void *arg) {
    goc_chan *c = arg;
    atomic_fetch_add_explicit(&arrived, 1, memory_order_relaxed);
    bool ok = goc_chan_recv(c, NULL);
    if (!ok)
        atomic_fetch_add_explicit(&woke_closed, 1, memory_order_relaxed);
    goc_wg_done(&wg);
}

static int bench(void *arg) {
    (void)arg;
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        bench_fail("dump", "cannot open /dev/null");
        return 1;
    }
    goc_chan *c = goc_chan_make(0, 0); /* chan struct{} */
    if (!c) {
        bench_fail("dump", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    goc_wg_add(&wg, (int)N);
    for (int64_t i = 0; i < N; i++)
        bench_check_go("dump", goc_go(waiter, c));
    while (atomic_load_explicit(&arrived, memory_order_relaxed) < N)
        goc_yield();
    int64_t settle_end = bench_now_ns() + 50 * 1000000LL;
    while (bench_now_ns() < settle_end)
        goc_yield();
    int live = goc_num_goroutine();

    int64_t t0 = bench_now_ns();
    for (int i = 0; i < DUMPS; i++)
        goc_dump(fd);
    int64_t el = bench_now_ns() - t0;

    goc_chan_close(c);
    goc_wg_wait(&wg);
    goc_chan_release(c);
    close(fd);

    if (live < N + 1 || atomic_load(&woke_closed) != N) {
        bench_fail("dump",
                   "%d goroutines live while parked (want %" PRId64 "), "
                   "%lld woken by the close (want %" PRId64 ")",
                   live, N + 1, (long long)atomic_load(&woke_closed), N);
        return 1;
    }
    result = (double)el / 1e6 / DUMPS;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 10000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("dump", result, "ms");
    return 0;
}
