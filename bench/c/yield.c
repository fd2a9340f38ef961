/* yield: two goroutines each call goc_yield N/2 times, on 1 processor
 * (goc_maxprocs(1), as Go's side calls runtime.GOMAXPROCS(1)).
 * Reported: ns per switch (elapsed / N). */
#include <stdatomic.h>

#include "bench.h"

static int64_t N;
static double result;
static atomic_llong yields;

static void worker(void *arg) {
    int64_t half = N / 2;
    for (int64_t i = 0; i < half; i++)
        goc_yield();
    atomic_fetch_add_explicit(&yields, half, memory_order_relaxed);
    goc_wg_done((goc_waitgroup *)arg);
}

static int bench(void *arg) {
    (void)arg;
    static goc_waitgroup wg;
    goc_maxprocs(1);
    bench_warmup();

    int64_t t0 = bench_now_ns();
    goc_wg_add(&wg, 2);
    bench_check_go("yield", goc_go(worker, &wg));
    bench_check_go("yield", goc_go(worker, &wg));
    goc_wg_wait(&wg);
    int64_t t1 = bench_now_ns();

    int64_t got = atomic_load(&yields);
    if (got != 2 * (N / 2)) {
        bench_fail("yield", "%" PRId64 " yields, want %" PRId64, got, 2 * (N / 2));
        return 1;
    }
    result = (double)(t1 - t0) / (double)(2 * (N / 2));
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 10000000);
    if (N < 2)
        N = 2;
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("yield", result, "ns/op");
    return 0;
}
