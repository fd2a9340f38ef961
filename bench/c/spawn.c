/* spawn: spawn N goroutines that do nothing but mark a WaitGroup done; wait.
 * Reported: ns per goroutine (spawn + run + finish). */
#include "bench.h"

static int64_t N;
static double result;

static void worker(void *arg) { goc_wg_done((goc_waitgroup *)arg); }

static int bench(void *arg) {
    (void)arg;
    static goc_waitgroup wg;
    bench_warmup();

    int64_t t0 = bench_now_ns();
    goc_wg_add(&wg, (int)N);
    for (int64_t i = 0; i < N; i++)
        bench_check_go("spawn", goc_go(worker, &wg));
    goc_wg_wait(&wg);
    int64_t t1 = bench_now_ns();

    /* The wait returning is the validation: exactly N Done calls happened
     * (one more would have panicked with a negative counter). */
    result = (double)(t1 - t0) / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("spawn", result, "ns/op");
    return 0;
}
