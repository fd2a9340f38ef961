/* pipeline.c — a pipeline of stages, each a goroutine, joined by channels.
 *
 * Go original (the pipelines pattern):
 *
 *     func gen(nums ...int) <-chan int {
 *         out := make(chan int)
 *         go func() {
 *             defer close(out)
 *             for _, n := range nums { out <- n }
 *         }()
 *         return out
 *     }
 *
 *     func square(in <-chan int) <-chan int {
 *         out := make(chan int)
 *         go func() {
 *             defer close(out)
 *             for n := range in { out <- n * n }
 *         }()
 *         return out
 *     }
 *
 *     func even(in <-chan int) <-chan int { ... only n%2 == 0 ... }
 *
 *     for v := range even(square(gen(1, 2, ..., 10))) { fmt.Println(v) }
 *
 * Each stage ranges over its input until the stage upstream closes it, then
 * closes its own output: the close flows down the pipeline and ends the
 * final range loop. One goroutine per stage keeps the order of the values. */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>

/* Arguments of a stage goroutine: it owns one reference to each channel. */
struct stage {
    goc_chan *in;  /* NULL for the generator */
    goc_chan *out; /* chan long */
    const long *nums;
    int n;
};

static void gen_body(void *arg) {
    struct stage *s = arg;
    for (int i = 0; i < s->n; i++)
        goc_chan_send(s->out, &s->nums[i]);
    goc_chan_close(s->out); /* defer close(out) */
    goc_chan_release(s->out);
}

static void square_body(void *arg) {
    struct stage *s = arg;
    long v;
    while (goc_chan_recv(s->in, &v)) { /* for n := range in */
        long sq = v * v;
        goc_chan_send(s->out, &sq);
    }
    goc_chan_close(s->out);
    goc_chan_release(s->in);
    goc_chan_release(s->out);
}

static void even_body(void *arg) {
    struct stage *s = arg;
    long v;
    while (goc_chan_recv(s->in, &v))
        if (v % 2 == 0)
            goc_chan_send(s->out, &v);
    goc_chan_close(s->out);
    goc_chan_release(s->in);
    goc_chan_release(s->out);
}

/* Start a stage reading `in` (the caller gives up its reference to it) and
 * return its output channel (the caller's reference). */
static goc_chan *start(void (*body)(void *), goc_chan *in, const long *nums, int n) {
    goc_chan *out = goc_chan_make(sizeof(long), 0);
    GOC_GO(body, struct stage, .in = in, .out = goc_chan_retain(out), .nums = nums, .n = n);
    return out;
}

static int run(void *arg) {
    (void)arg;
    static const long nums[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    static const long want[] = {4, 16, 36, 64, 100};
    enum { NWANT = sizeof want / sizeof want[0] };

    /* even(square(gen(1..10))) */
    goc_chan *g = start(gen_body, NULL, nums, 10);
    goc_chan *sq = start(square_body, g, NULL, 0);
    goc_chan *ev = start(even_body, sq, NULL, 0);

    int count = 0;
    bool ok = true;
    long v;
    while (goc_chan_recv(ev, &v)) {
        printf("%ld\n", v);
        if (count >= NWANT || v != want[count])
            ok = false;
        count++;
    }
    goc_chan_release(ev);

    if (!ok || count != NWANT) {
        fprintf(stderr, "pipeline: wrong output (%d values, want 4 16 36 64 100)\n", count);
        return 1;
    }
    printf("pipeline gen -> square -> even: %d values, all stages closed\n", count);
    return 0;
}

int main(void) { return goc_run(run, NULL); }
