/* pingpong: two unbuffered channels; the main goroutine sends i on A, a
 * worker receives it and sends it back on B. Reported: ns per round trip. */
#include "bench.h"

static int64_t N;
static double result;

struct pp {
    goc_chan *a, *b;
    goc_waitgroup wg;
};

static void worker(void *arg) {
    struct pp *p = arg;
    int64_t v;
    while (goc_chan_recv(p->a, &v))
        goc_chan_send(p->b, &v);
    goc_wg_done(&p->wg);
}

static int bench(void *arg) {
    (void)arg;
    static struct pp p;
    p.a = goc_chan_make(sizeof(int64_t), 0);
    p.b = goc_chan_make(sizeof(int64_t), 0);
    if (!p.a || !p.b) {
        bench_fail("pingpong", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    goc_wg_add(&p.wg, 1);
    bench_check_go("pingpong", goc_go(worker, &p));

    int64_t sum = 0, bad = 0;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < N; i++) {
        int64_t v = -1;
        goc_chan_send(p.a, &i);
        if (!goc_chan_recv(p.b, &v) || v != i)
            bad++;
        sum += v;
    }
    int64_t t1 = bench_now_ns();

    goc_chan_close(p.a);
    goc_wg_wait(&p.wg);
    goc_chan_release(p.a);
    goc_chan_release(p.b);

    int64_t want = N * (N - 1) / 2;
    if (bad != 0 || sum != want) {
        bench_fail("pingpong", "%" PRId64 " wrong replies, sum %" PRId64 " want %" PRId64, bad, sum,
                   want);
        return 1;
    }
    result = (double)(t1 - t0) / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("pingpong", result, "ns/op");
    return 0;
}
