/* skynet: a 10-ary tree of goroutines with 1,000,000 leaves (1,111,111
 * goroutines). Each node makes an unbuffered channel and spawns its 10
 * children; each leaf sends its number to its parent's channel, each parent
 * sums its children's values and sends the sum up. The total must be
 * 499999500000. Reported: ms for the whole tree; peak RSS.
 * argv[1] overrides the number of leaves (a power of 10). */
#include "bench.h"

static int64_t LEAVES;
static double result;

struct sky {
    goc_chan *parent;
    int64_t num;
    int64_t size;
};

static void skynet(void *arg) {
    const struct sky *s = arg;
    if (s->size == 1) {
        goc_chan_send(s->parent, &s->num);
        return;
    }
    goc_chan *rc = goc_chan_make(sizeof(int64_t), 0);
    if (!rc) {
        bench_fail("skynet", "goc_chan_make returned NULL");
        exit(1);
    }
    int64_t sub = s->size / 10;
    for (int64_t i = 0; i < 10; i++)
        bench_check_go("skynet", GOC_GO(skynet, struct sky, rc, s->num + i * sub, sub));
    int64_t sum = 0;
    for (int i = 0; i < 10; i++) {
        int64_t v = 0;
        goc_chan_recv(rc, &v);
        sum += v;
    }
    goc_chan_release(rc);
    goc_chan_send(s->parent, &sum);
}

static int bench(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    if (!c) {
        bench_fail("skynet", "goc_chan_make returned NULL");
        return 1;
    }
    bench_warmup();

    int64_t sum = -1;
    int64_t t0 = bench_now_ns();
    bench_check_go("skynet", GOC_GO(skynet, struct sky, c, 0, LEAVES));
    goc_chan_recv(c, &sum);
    int64_t t1 = bench_now_ns();
    goc_chan_release(c);

    int64_t want = LEAVES * (LEAVES - 1) / 2;
    if (sum != want) {
        bench_fail("skynet", "sum %" PRId64 ", want %" PRId64, sum, want);
        return 1;
    }
    result = (double)(t1 - t0) / 1e6;
    return 0;
}

int main(int argc, char **argv) {
    LEAVES = bench_arg_n(argc, argv, 1000000);
    int64_t p = 1;
    while (p < LEAVES)
        p *= 10;
    if (p != LEAVES) {
        fprintf(stderr, "skynet: the number of leaves must be a power of 10\n");
        return 2;
    }
    if (goc_run(bench, NULL) != 0)
        return 1;
    bench_report("skynet", result, "ms");
    return 0;
}
