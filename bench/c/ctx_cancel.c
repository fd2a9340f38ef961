/* ctx_cancel: create and cancel one with_cancel context of background, N
 * times (goc_ctx_with_cancel + goc_ctx_cancel + goc_ctx_release; Go:
 * context.WithCancel + cancel()). Reported: ns per create+cancel. */
#include <errno.h>

#include "bench.h"

static int64_t N;
static double result;

static int bench(void *arg) {
    (void)arg;
    bench_warmup();
    int64_t bad = 0;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < N; i++) {
        goc_ctx *c = goc_ctx_with_cancel(NULL);
        if (!c) {
            bench_fail("ctx_cancel", "goc_ctx_with_cancel returned NULL");
            return 1;
        }
        goc_ctx_cancel(c);
        bad += goc_ctx_err(c) != -ECANCELED;
        goc_ctx_release(c);
    }
    result = (double)(bench_now_ns() - t0) / (double)N;
    if (bad) {
        bench_fail("ctx_cancel", "%" PRId64 " contexts not canceled", bad);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("ctx_cancel", result, "ns/op");
    return 0;
}
