/* ctx_timeout.c — a timeout around a slow call.
 *
 * Go original:
 *
 *     func call(ctx context.Context, work time.Duration) (int, error) {
 *         result := make(chan int, 1) // buffered: the sender never blocks
 *         go func() { result <- slowCall(work) }()
 *         select {
 *         case r := <-result:
 *             return r, nil
 *         case <-ctx.Done():
 *             return 0, ctx.Err()
 *         }
 *     }
 *
 *     ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
 *     defer cancel()
 *     r, err := call(ctx, work)
 *
 * A fast call answers in time. A slow one times out with "context deadline
 * exceeded"; its goroutine finishes later, puts its answer in the
 * capacity-1 channel nobody reads, and exits: nothing leaks. */
#include <errno.h>
#include <goc.h>
#include <stdio.h>

struct slow_call {
    goc_chan *result; /* chan long, cap 1: the goroutine's own reference */
    goc_duration work;
    long answer;
};

static void slow_call(void *arg) {
    struct slow_call *c = arg;
    goc_sleep(c->work);                   /* the slow part */
    goc_chan_send(c->result, &c->answer); /* never blocks: cap 1, one send */
    goc_chan_release(c->result);
}

/* 0 with *out set, or the context's error. */
static int call(goc_ctx *ctx, goc_duration work, long answer, long *out) {
    goc_chan *result = goc_chan_make(sizeof(long), 1);
    GOC_GO(slow_call, struct slow_call, goc_chan_retain(result), work, answer);
    long r = 0;
    goc_case cs[] = {GOC_RECV(result, &r, NULL), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
    int i = goc_select(cs, 2);
    goc_chan_release(result);
    if (i == 1)
        return goc_ctx_err(ctx);
    *out = r;
    return 0;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    const goc_duration timeout = 50 * GOC_MILLISECOND;

    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), timeout);
    long r = 0;
    int64_t t0 = goc_now();
    int err1 = call(ctx, 5 * GOC_MILLISECOND, 42, &r);
    double ms1 = (goc_now() - t0) / 1e6;
    printf("fast call: %s, result %ld, after %.0f ms\n", err1 ? goc_strerror(err1) : "ok", r, ms1);
    goc_ctx_release(ctx); /* defer cancel() */

    ctx = goc_ctx_with_timeout(goc_ctx_background(), timeout);
    long r2 = -1;
    t0 = goc_now();
    int err2 = call(ctx, 300 * GOC_MILLISECOND, 7, &r2);
    double ms2 = (goc_now() - t0) / 1e6;
    printf("slow call: %s, after %.0f ms\n", err2 ? goc_strerror(err2) : "ok", ms2);
    goc_ctx_release(ctx);

    /* The slow goroutine finishes its work, sends into the buffer, exits. */
    for (int i = 0; i < 60 && goc_num_goroutine() > start; i++)
        goc_sleep(10 * GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", left);

    if (err1 != 0 || r != 42 || err2 != -ETIMEDOUT || r2 != -1 || ms2 < 50 || ms2 > 290 ||
        left != 0) {
        fprintf(stderr, "ctx_timeout: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
