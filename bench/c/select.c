/* select: two unbuffered channels, two producers sending N/2 values each,
 * one consumer (the main goroutine) selecting over both receives.
 * Reported: ns per message. */
#include "bench.h"

static int64_t N, HALF;
static double result;

static void producer(void *arg) {
    goc_chan *c = arg;
    for (int64_t i = 0; i < HALF; i++)
        goc_chan_send(c, &i);
}

static int bench(void *arg) {
    (void)arg;
    goc_chan *a = goc_chan_make(sizeof(int64_t), 0);
    goc_chan *b = goc_chan_make(sizeof(int64_t), 0);
    if (!a || !b) {
        bench_fail("select", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    int64_t total = 2 * HALF, sum = 0, from[2] = {0, 0}, other = 0;
    int64_t t0 = bench_now_ns();
    bench_check_go("select", goc_go(producer, a));
    bench_check_go("select", goc_go(producer, b));
    for (int64_t i = 0; i < total; i++) {
        int64_t va = 0, vb = 0;
        bool oka = false, okb = false;
        goc_case cases[2] = {GOC_RECV(a, &va, &oka), GOC_RECV(b, &vb, &okb)};
        switch (goc_select(cases, 2)) {
        case 0:
            from[0] += oka;
            sum += va;
            break;
        case 1:
            from[1] += okb;
            sum += vb;
            break;
        default:
            other++;
        }
    }
    int64_t t1 = bench_now_ns();
    goc_chan_release(a);
    goc_chan_release(b);

    int64_t want = HALF * (HALF - 1); /* 2 x (0 + ... + HALF-1) */
    if (from[0] != HALF || from[1] != HALF || other != 0 || sum != want) {
        bench_fail("select",
                   "%" PRId64 "+%" PRId64 " messages (%" PRId64 " bad indices)"
                   " summing to %" PRId64 ", want %" PRId64 "+%" PRId64 " summing to %" PRId64,
                   from[0], from[1], other, sum, HALF, HALF, want);
        return 1;
    }
    result = (double)(t1 - t0) / (double)total;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 1000000);
    HALF = N / 2 > 0 ? N / 2 : 1;
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("select", result, "ns/op");
    return 0;
}
