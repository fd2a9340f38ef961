/* parked: resident memory per parked goroutine. VmRSS is read before
 * spawning N goroutines and again once all N are blocked receiving from one
 * channel; then the channel is closed and they are waited for.
 * Reported: (after - before) / N bytes per goroutine.
 *
 * "All blocked": each goroutine bumps a counter just before it calls
 * goc_chan_recv; the main goroutine yields until the counter reaches N (every
 * goroutine has run up to the receive), then keeps yielding for a settle
 * period of 50 ms so the last ones get from the counter into the park.
 * goc_num_goroutine() must then be at least N + 1 (checked; a count other
 * than N + 1 is noted on stderr). No receive can succeed
 * before the close (nothing is sent), so a goroutine that counted is either
 * parked or a few instructions from it. */
#include <stdatomic.h>

#include "bench.h"

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
    goc_chan *c = goc_chan_make(0, 0); /* chan struct{} */
    if (!c) {
        bench_fail("parked", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    long before = bench_vmrss_kb();
    goc_wg_add(&wg, (int)N);
    for (int64_t i = 0; i < N; i++)
        bench_check_go("parked", goc_go(waiter, c));
    while (atomic_load_explicit(&arrived, memory_order_relaxed) < N)
        goc_yield();
    int64_t settle_end = bench_now_ns() + 50 * 1000000LL;
    while (bench_now_ns() < settle_end)
        goc_yield();
    int live = goc_num_goroutine();
    long after = bench_vmrss_kb();

    goc_chan_close(c);
    goc_wg_wait(&wg);
    goc_chan_release(c);

    if (before < 0 || after < 0) {
        bench_fail("parked", "cannot read VmRSS from /proc/self/status");
        return 1;
    }
    if (live < N + 1 || atomic_load(&woke_closed) != N) {
        bench_fail("parked",
                   "%d goroutines live while parked (want %" PRId64 "), "
                   "%lld woken by the close (want %" PRId64 ")",
                   live, N + 1, (long long)atomic_load(&woke_closed), N);
        return 1;
    }
    if (live != N + 1)
        fprintf(stderr,
                "parked: note: goc_num_goroutine() = %d while parked, expected %" PRId64 "\n", live,
                N + 1);
    result = (double)(after - before) * 1024.0 / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 100000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("parked", result, "B/goroutine");
    return 0;
}
