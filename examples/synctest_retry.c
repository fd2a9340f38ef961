/* synctest_retry.c — testing a timeout-and-retry loop with a virtual clock.
 *
 * Go original (testing/synctest, Go 1.25):
 *
 *     func fetch(ctx context.Context, srv chan<- request) (string, error) {
 *         backoff := 1 * time.Second
 *         for attempt := 1; attempt <= 5; attempt++ {
 *             ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
 *             reply := make(chan string, 1)
 *             srv <- request{ctx, reply}
 *             select {
 *             case s := <-reply:
 *                 cancel()
 *                 return s, nil
 *             case <-ctx.Done():
 *                 cancel()
 *             }
 *             time.Sleep(backoff)
 *             backoff *= 2
 *         }
 *         return "", errors.New("gave up")
 *     }
 *
 *     func TestFetch(t *testing.T) {
 *         synctest.Test(t, func(t *testing.T) {
 *             start := time.Now()
 *             srv := make(chan request)
 *             go slowServer(srv) // hangs twice, then answers in 300ms
 *             s, err := fetch(context.Background(), srv)
 *             // attempt 1 times out at 2s, backoff 1s; attempt 2 at 3s times
 *             // out at 5s, backoff 2s; attempt 3 at 7s answers at 7.3s.
 *             if got, want := time.Since(start), 7300*time.Millisecond; got != want { ... }
 *         })
 *     }
 *
 * The test takes 7.3 seconds of the bubble's clock and a few microseconds
 * of real time, and the times it checks are exact to the nanosecond: the
 * clock moves only when every goroutine of the bubble is blocked, straight
 * to the next timer (here the per-attempt deadlines, the backoff sleeps
 * and the server's delay). */
#include <errno.h>
#include <goc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct request {
    goc_ctx *ctx;     /* the attempt's deadline */
    goc_chan *reply;  /* chan long, buffered 1 */
    goc_duration lag; /* how long the server takes (set by the server) */
};

/* The server: hangs on the first two requests, answers the third after
 * 300 ms. Each request is served by a goroutine of its own, which gives up
 * when the attempt's context expires. */
static void serve_one(void *arg) {
    struct request *rq = arg;
    goc_chan *after = goc_after(rq->lag);
    long answer = 42;
    goc_case wait[] = {GOC_RECV(after, NULL, NULL), GOC_RECV(goc_ctx_done(rq->ctx), NULL, NULL)};
    if (goc_select(wait, 2) == 0)
        goc_chan_send(rq->reply, &answer); /* buffered: never blocks */
    goc_chan_release(after);
    goc_ctx_release(rq->ctx);
    goc_chan_release(rq->reply);
    free(rq);
}

static void slow_server(void *arg) {
    goc_chan *srv = arg;
    struct request *rq;
    for (int n = 1; goc_chan_recv(srv, &rq); n++) {
        rq->lag = n <= 2 ? 24 * 60 * GOC_MINUTE : 300 * GOC_MILLISECOND;
        goc_go(serve_one, rq);
    }
    goc_chan_release(srv); /* its own reference */
}

/* The code under test: returns 0 and the answer, or -ETIMEDOUT. */
static int fetch(goc_ctx *parent, goc_chan *srv, long *out, int *attempts) {
    int64_t start = goc_now();
    goc_duration backoff = GOC_SECOND;
    for (int attempt = 1; attempt <= 5; attempt++) {
        *attempts = attempt;
        goc_ctx *ctx = goc_ctx_with_timeout(parent, 2 * GOC_SECOND);
        goc_chan *reply = goc_chan_make(sizeof(long), 1);
        /* The server's copy of the request and its references. */
        struct request *rq = malloc(sizeof *rq);
        if (!ctx || !reply || !rq)
            return -ENOMEM;
        *rq = (struct request){goc_ctx_retain(ctx), goc_chan_retain(reply), 0};
        goc_chan_send(srv, &rq);
        goc_case cs[] = {GOC_RECV(reply, out, NULL), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
        int got = goc_select(cs, 2);
        goc_ctx_cancel(ctx); /* defer cancel() */
        goc_ctx_release(ctx);
        goc_chan_release(reply);
        if (got == 0)
            return 0;
        printf("  attempt %d timed out at %+.3fs\n", attempt, (double)(goc_now() - start) / 1e9);
        goc_sleep(backoff);
        backoff *= 2;
    }
    return -ETIMEDOUT;
}

static int test_fetch(void *arg) {
    (void)arg;
    int64_t start = goc_now();
    goc_chan *srv = goc_chan_make(sizeof(struct request *), 0);
    goc_go(slow_server, goc_chan_retain(srv));
    long answer = 0;
    int attempts = 0;
    int err = fetch(goc_ctx_background(), srv, &answer, &attempts);
    goc_duration took = goc_now() - start;
    goc_chan_close(srv); /* the server exits; the run waits for it */
    goc_chan_release(srv);
    printf("  answer %ld after %d attempts, %lld ns of virtual time\n", answer, attempts,
           (long long)took);
    if (err != 0 || answer != 42 || attempts != 3 || took != 7300 * GOC_MILLISECOND) {
        printf("FAIL: want answer 42 after 3 attempts and exactly 7.3s\n");
        return 1;
    }
    return 0;
}

static int run(void *arg) {
    (void)arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fails = goc_synctest_run(test_fetch, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double real_ms =
        (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("%s in %.3f ms of real time\n", fails ? "FAIL" : "ok", real_ms);
    return fails;
}

int main(void) { return goc_run(run, NULL); }
