/* rate_limit.c — rate limiting with a ticker.
 *
 * Go original:
 *
 *     ticker := time.NewTicker(time.Second / time.Duration(ratePerSecond))
 *     defer ticker.Stop()
 *     for _, item := range items {
 *         <-ticker.C // wait for the next tick
 *         go processItem(item)
 *     }
 *
 * Ten items at 200 per second take at least 45 ms (nine gaps of 5 ms after
 * the first tick), and every item is processed exactly once. */
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>

enum { ITEMS = 10, RATE = 200 };

static _Atomic long processed_sum;
static goc_waitgroup wg;

static void process_item(void *arg) {
    atomic_fetch_add(&processed_sum, (long)(intptr_t)arg);
    goc_wg_done(&wg);
}

static int run(void *arg) {
    (void)arg;
    goc_ticker *ticker = goc_ticker_new(GOC_SECOND / RATE);
    int64_t t0 = goc_now(), first = 0;
    for (long item = 1; item <= ITEMS; item++) {
        int64_t tick;
        goc_chan_recv(goc_ticker_chan(ticker), &tick); /* <-ticker.C */
        if (item == 1)
            first = tick;
        goc_wg_add(&wg, 1);
        goc_go(process_item, (void *)(intptr_t)item);
    }
    goc_ticker_free(ticker);
    goc_wg_wait(&wg);
    double ms = (double)(goc_now() - t0) / 1e6;
    double spread = (double)(goc_now() - first) / 1e6;
    long want = ITEMS * (ITEMS + 1) / 2;
    printf("processed %d items (sum %ld) in %.1f ms at %d per second\n", ITEMS,
           atomic_load(&processed_sum), ms, RATE);
    if (atomic_load(&processed_sum) != want || spread < (ITEMS - 1) * 1000.0 / RATE) {
        fprintf(stderr, "rate_limit: sum %ld (want %ld), spread %.1f ms\n",
                atomic_load(&processed_sum), want, spread);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
