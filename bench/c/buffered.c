/* buffered: one channel of capacity 128; a producer goroutine sends
 * 0..N-1 and closes it, the main goroutine receives and sums.
 * Reported: ns per item. */
#include "bench.h"

static int64_t N;
static double result;

static void producer(void *arg) {
    goc_chan *c = arg;
    for (int64_t i = 0; i < N; i++)
        goc_chan_send(c, &i);
    goc_chan_close(c);
}

static int bench(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int64_t), 128);
    if (!c) {
        bench_fail("buffered", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    int64_t sum = 0, count = 0, v;
    int64_t t0 = bench_now_ns();
    bench_check_go("buffered", goc_go(producer, c));
    while (goc_chan_recv(c, &v)) {
        sum += v;
        count++;
    }
    int64_t t1 = bench_now_ns();
    goc_chan_release(c);

    int64_t want = N * (N - 1) / 2;
    if (count != N || sum != want) {
        bench_fail("buffered",
                   "received %" PRId64 " items summing to %" PRId64 ", want %" PRId64
                   " summing to %" PRId64,
                   count, sum, N, want);
        return 1;
    }
    result = (double)(t1 - t0) / (double)N;
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 10000000);
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("buffered", result, "ns/op");
    return 0;
}
