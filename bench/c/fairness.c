/* fairness: on 1 processor (goc_maxprocs(1), as Go's side calls
 * runtime.GOMAXPROCS(1)), one goroutine spins without ever making a goc
 * call (for at most 3 s), while another sleeps 1 ms N times (200) and
 * measures how late each sleep ends. Only preemption lets the sleeper run
 * while the spinner spins.
 * Reported: the worst lateness in ms (value=), and the 99th percentile
 * (p99_ms=, shown as the row fairness_p99) of the sleeps that overlapped
 * the spin (those whose interval meets the spinner's [start, end]): a
 * sleep after the spinner gave up at its 3 s limit measures nothing. */
#include <stdatomic.h>

#include "bench.h"

#define SPIN_LIMIT_NS (3 * 1000000000LL)

static int64_t N;
static double worst_ms, p99_ms;
static atomic_int stop;
static atomic_llong spins, spin_start, spin_end;
static int64_t *t_begin, *t_end; /* each sleep's interval */

/* No goc call inside: a relaxed load of the stop flag, and the clock every
 * 1024 rounds. */
static void spinner(void *arg) {
    int64_t end = bench_now_ns() + SPIN_LIMIT_NS;
    long long n = 0;
    atomic_store(&spin_start, bench_now_ns());
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if ((++n & 0x3ff) == 0 && bench_now_ns() > end)
            break;
    }
    atomic_store(&spin_end, bench_now_ns());
    atomic_store(&spins, n);
    goc_wg_done((goc_waitgroup *)arg);
}

/* The sleeper starts the spinner itself, so that the spinner takes the
 * processor as soon as the first sleep begins. */
static void sleeper(void *arg) {
    goc_waitgroup *wg = arg;
    goc_wg_add(wg, 1);
    bench_check_go("fairness", goc_go(spinner, wg));
    for (int64_t i = 0; i < N; i++) {
        t_begin[i] = bench_now_ns();
        goc_sleep(GOC_MILLISECOND);
        t_end[i] = bench_now_ns();
    }
    atomic_store(&stop, 1);
    goc_wg_done(wg);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int bench(void *arg) {
    (void)arg;
    static goc_waitgroup wg;
    goc_maxprocs(1);
    bench_warmup();

    goc_wg_add(&wg, 1);
    bench_check_go("fairness", goc_go(sleeper, &wg));
    goc_wg_wait(&wg);

    if (atomic_load(&spins) <= 0) {
        bench_fail("fairness", "the spinner never ran");
        return 1;
    }
    int64_t s0 = atomic_load(&spin_start), s1 = atomic_load(&spin_end);
    int64_t *late = calloc((size_t)N, sizeof late[0]);
    if (!late)
        return 1;
    int64_t m = 0, worst = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t l = t_end[i] - t_begin[i] - GOC_MILLISECOND;
        if (l < -100000) { /* woke more than 0.1 ms early */
            bench_fail("fairness", "sleep %" PRId64 " ended %.3f ms early", i, (double)-l / 1e6);
            return 1;
        }
        if (l > worst)
            worst = l;
        if (t_end[i] >= s0 && t_begin[i] <= s1)
            late[m++] = l; /* overlapped the spin */
    }
    if (m == 0) {
        bench_fail("fairness", "no sleep overlapped the spin");
        return 1;
    }
    qsort(late, (size_t)m, sizeof late[0], cmp_i64);
    int64_t k = (m * 99 + 99) / 100 - 1; /* nearest rank: ceil(0.99 m) - 1 */
    worst_ms = (double)worst / 1e6;
    p99_ms = (double)late[k] / 1e6;
    fprintf(stderr,
            "fairness: %" PRId64 " sleeps of 1 ms, %" PRId64 " overlapped the %.0f ms spin; "
            "worst %.3f ms, p99 (overlapping) %.3f ms, median (overlapping) %.3f ms\n",
            N, m, (double)(s1 - s0) / 1e6, worst_ms, p99_ms, (double)late[m / 2] / 1e6);
    free(late);
    return 0;
}

int main(int argc, char **argv) {
    N = bench_arg_n(argc, argv, 200);
    t_begin = calloc((size_t)N, sizeof t_begin[0]);
    t_end = calloc((size_t)N, sizeof t_end[0]);
    if (!t_begin || !t_end)
        return 1;
    if (goc_run(bench, NULL) != 0)
        return 1;
    printf("name=fairness value=%.3f unit=ms rss_kb=%ld p99_ms=%.3f\n", worst_ms,
           bench_peak_rss_kb(), p99_ms);
    return 0;
}
