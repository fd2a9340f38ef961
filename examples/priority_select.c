/* priority_select.c — prefer a high-priority channel over a low one.
 *
 * Go's select picks uniformly at random among ready cases, so it has no
 * priorities. The usual idiom tries the high-priority channel alone first
 * (a select with a default), and only then waits on both:
 *
 *     for high != nil || low != nil {
 *         select {
 *         case v, ok := <-high: // non-blocking: high first
 *             if !ok { high = nil; continue }
 *             handle(v); continue
 *         default:
 *         }
 *         select { // nothing urgent: wait for either
 *         case v, ok := <-high:
 *             if !ok { high = nil; continue }
 *             handle(v)
 *         case v, ok := <-low:
 *             if !ok { low = nil; continue }
 *             handle(v)
 *         }
 *     }
 *
 * goc_select_try is the select with a default. Here two producers fill both
 * channels before the consumer starts, so both are ready all along: every
 * high-priority item must be handled before any low-priority one. (A plain
 * select on both would interleave them at random.) */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>

enum { PER_CHANNEL = 5 };

struct producer_args {
    goc_waitgroup *wg;
    goc_chan *out;
    int first;
};

static void producer(void *arg) {
    struct producer_args *a = arg;
    for (int i = 0; i < PER_CHANNEL; i++) {
        int v = a->first + i;
        goc_chan_send(a->out, &v); /* buffered: does not block */
    }
    goc_chan_close(a->out);
    goc_chan_release(a->out);
    goc_wg_done(a->wg);
}

static int run(void *arg) {
    (void)arg;
    goc_chan *chan_high = goc_chan_make(sizeof(int), PER_CHANNEL);
    goc_chan *chan_low = goc_chan_make(sizeof(int), PER_CHANNEL);
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 2);
    GOC_GO(producer, struct producer_args, .wg = &wg, .out = goc_chan_retain(chan_high),
           .first = 1);
    GOC_GO(producer, struct producer_args, .wg = &wg, .out = goc_chan_retain(chan_low),
           .first = 101);
    goc_wg_wait(&wg); /* both channels are now full and closed: all ready at once */

    int order[2 * PER_CHANNEL];
    int n = 0;
    goc_chan *high = chan_high, *low = chan_low;
    while (high != NULL || low != NULL) {
        int v;
        bool ok;
        goc_case try_high[] = {GOC_RECV(high, &v, &ok)};
        int i = goc_select_try(try_high, 1); /* -1: nothing urgent right now */
        if (i < 0) {
            goc_case both[] = {GOC_RECV(high, &v, &ok), GOC_RECV(low, &v, &ok)};
            i = goc_select(both, 2);
        }
        if (!ok) { /* closed and drained: disable that case */
            if (i == 0)
                high = NULL;
            else
                low = NULL;
            continue;
        }
        printf("%s %d\n", i == 0 ? "high" : "low ", v);
        if (n < 2 * PER_CHANNEL)
            order[n] = v;
        n++;
    }
    goc_chan_release(chan_high);
    goc_chan_release(chan_low);

    /* Expect 1..5 (high), then 101..105 (low). */
    bool ok = n == 2 * PER_CHANNEL;
    for (int i = 0; ok && i < n; i++)
        ok = order[i] == (i < PER_CHANNEL ? 1 + i : 101 + i - PER_CHANNEL);
    if (!ok) {
        fprintf(stderr, "priority_select: a low-priority item came before a high-priority one\n");
        return 1;
    }
    printf("all %d high-priority items were handled before the %d low-priority ones\n", PER_CHANNEL,
           PER_CHANNEL);
    return 0;
}

int main(void) { return goc_run(run, NULL); }
