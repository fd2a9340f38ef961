/* or_done.c — the or-done channel: read from a channel until it is closed OR
 * a done channel is closed, without leaving a goroutine behind.
 *
 * Go original (Concurrency in Go, "or-done channel"):
 *
 *     func orDone(done <-chan struct{}, c <-chan int) <-chan int {
 *         out := make(chan int)
 *         go func() {
 *             defer close(out)
 *             for {
 *                 select {
 *                 case <-done:
 *                     return
 *                 case v, ok := <-c:
 *                     if !ok { return }
 *                     select {
 *                     case out <- v:
 *                     case <-done:
 *                     }
 *                 }
 *             }
 *         }()
 *         return out
 *     }
 *
 *     for v := range orDone(done, c) { ... }
 *
 * The consumer can simply range over the wrapper's output. Two runs here:
 * a finite source that closes on its own, and an endless source that only
 * stops when the consumer closes done. Afterwards goc_num_goroutine must be
 * back at its starting value: every goroutine has exited. */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>

/* A counting source: sends 1, 2, 3, ... up to limit (0: forever), gives up
 * when done is closed, and closes its output either way. */
struct source_args {
    goc_chan *done, *out;
    long limit;
};

static void source_body(void *arg) {
    struct source_args *a = arg;
    for (long i = 1; a->limit == 0 || i <= a->limit; i++) {
        goc_case cases[] = {GOC_SEND(a->out, &i), GOC_RECV(a->done, NULL, NULL)};
        if (goc_select(cases, 2) == 1)
            break; /* done closed */
    }
    goc_chan_close(a->out);
    goc_chan_release(a->out);
    goc_chan_release(a->done);
}

struct or_done_args {
    goc_chan *done, *in, *out;
};

static void or_done_body(void *arg) {
    struct or_done_args *a = arg;
    for (;;) {
        long v;
        bool ok;
        goc_case outer[] = {GOC_RECV(a->done, NULL, NULL), GOC_RECV(a->in, &v, &ok)};
        if (goc_select(outer, 2) == 0 || !ok)
            break; /* done closed, or the input closed */
        goc_case inner[] = {GOC_SEND(a->out, &v), GOC_RECV(a->done, NULL, NULL)};
        goc_select(inner, 2);
    }
    goc_chan_close(a->out); /* defer close(out) */
    goc_chan_release(a->out);
    goc_chan_release(a->in);
    goc_chan_release(a->done);
}

/* or_done(done, in): borrows done, takes over the caller's reference to in,
 * returns the output channel (the caller's reference). */
static goc_chan *or_done(goc_chan *done, goc_chan *in) {
    goc_chan *out = goc_chan_make(sizeof(long), 0);
    GOC_GO(or_done_body, struct or_done_args, .done = goc_chan_retain(done), .in = in,
           .out = goc_chan_retain(out));
    return out;
}

static goc_chan *source(goc_chan *done, long limit) {
    goc_chan *out = goc_chan_make(sizeof(long), 0);
    GOC_GO(source_body, struct source_args, .done = goc_chan_retain(done),
           .out = goc_chan_retain(out), .limit = limit);
    return out;
}

/* Give the exiting goroutines a chance to finish: yield until the count is
 * back to `start`, at most a bounded number of times. They may run on
 * another OS thread, so this can take a few hundred microseconds (a yield
 * with nothing else to run is cheap, so the bound is large). A long-running
 * program would rather check now and then with goc_sleep in between. */
static int settle(int start) {
    for (long i = 0; i < 10000000 && goc_num_goroutine() > start; i++)
        goc_yield();
    return goc_num_goroutine();
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();

    /* 1. The source ends by itself: or_done passes everything through. */
    goc_chan *done = goc_chan_make(0, 0); /* chan struct{} */
    goc_chan *vals = or_done(done, source(done, 10));
    long sum = 0, v;
    while (goc_chan_recv(vals, &v)) /* for v := range orDone(done, c) */
        sum += v;
    goc_chan_release(vals);
    goc_chan_close(done); /* defer close(done): harmless once everything is drained */
    goc_chan_release(done);
    int left1 = settle(start);
    printf("finite source: sum of 1..10 = %ld, goroutines left: %d\n", sum, left1 - start);

    /* 2. An endless source: the consumer takes 5 values, then closes done. */
    done = goc_chan_make(0, 0);
    vals = or_done(done, source(done, 0));
    long taken[5];
    for (int i = 0; i < 5; i++)
        goc_chan_recv(vals, &taken[i]);
    goc_chan_close(done); /* stop both the wrapper and the source */
    goc_chan_release(vals);
    goc_chan_release(done);
    int left2 = settle(start);
    printf("endless source: took %ld %ld %ld %ld %ld, closed done, goroutines left: %d\n", taken[0],
           taken[1], taken[2], taken[3], taken[4], left2 - start);

    bool taken_ok = true;
    for (int i = 0; i < 5; i++)
        taken_ok = taken_ok && taken[i] == i + 1;
    if (sum != 55 || !taken_ok || left1 != start || left2 != start) {
        fprintf(stderr, "or_done: sum %ld (want 55), first five %s, goroutines left %d and %d\n",
                sum, taken_ok ? "right" : "wrong", left1 - start, left2 - start);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
