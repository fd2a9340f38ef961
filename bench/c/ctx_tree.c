/* ctx_tree: a with_cancel root with 1,000 with_cancel children, then cancel
 * the root; N rounds. Checks every child reports -ECANCELED; releases every
 * context after each round. Reported: ns per tree (create 1,000 + cancel). */
#include <errno.h>

#include "bench.h"

enum { KIDS = 1000 };

static int64_t N;
static double result;

static int bench(void *arg) {
    (void)arg;
    static goc_ctx *kids[KIDS];
    bench_warmup();
    int64_t t0 = bench_now_ns();
    for (int64_t r = 0; r < N; r++) {
        goc_ctx *root = goc_ctx_with_cancel(NULL);
        if (!root) {
            bench_fail("ctx_tree", "goc_ctx_with_cancel returned NULL");
            return 1;
        }
        for (int i = 0; i < KIDS; i++)
            if (!(kids[i] = goc_ctx_with_cancel(root))) {
                bench_fail("ctx_tree", "goc_ctx_with_cancel returned NULL");
                return 1;
            }
        goc_ctx_cancel(root);
        for (int i = 0; i < KIDS; i++) {
            if (goc_ctx_err(kids[i]) != -ECANCELED) {
                bench_fail("ctx_tree", "child %d not canceled", i);
                return 1;
            }
            goc_ctx_release(kids[i]);
        }
        goc_ctx_release(root);
    }
    result = (double)(bench_now_ns() - t0) / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("ctx_tree", result, "ns/op");
    return 0;
}
