/* mutex: 4 goroutines x N times: lock; counter++; unlock, on one goroutine-aware
 * goc_mutex (zero value). Reported: ns per lock+unlock (elapsed / 4N). */
#include "bench.h"

#define WORKERS 4

static int64_t N;
static double result;
static goc_mutex mu; /* zero value: unlocked */
static int64_t counter;
static goc_waitgroup wg;

static void worker(void *arg) {
    (void)arg;
    for (int64_t i = 0; i < N; i++) {
        goc_mutex_lock(&mu);
        counter++;
        goc_mutex_unlock(&mu);
    }
    goc_wg_done(&wg);
}

static int bench(void *arg) {
    (void)arg;
    bench_warmup();

    int64_t t0 = bench_now_ns();
    goc_wg_add(&wg, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        bench_check_go("mutex", goc_go(worker, NULL));
    goc_wg_wait(&wg);
    int64_t t1 = bench_now_ns();

    goc_mutex_lock(&mu);
    int64_t got = counter;
    goc_mutex_unlock(&mu);
    if (got != WORKERS * N) {
        bench_fail("mutex", "counter %" PRId64 ", want %" PRId64, got, WORKERS * N);
        return 1;
    }
    result = (double)(t1 - t0) / (double)(WORKERS * N);
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("mutex", result, "ns/op");
    return 0;
}
