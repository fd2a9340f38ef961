/* fan_in.c — fan out work to N goroutines, fan their results back in.
 *
 * Go original (fan-out / fan-in):
 *
 *     in := gen(1, 2, ..., 100)
 *
 *     // Fan out: several workers read the same channel.
 *     c1 := square(in); c2 := square(in); c3 := square(in); c4 := square(in)
 *
 *     // Fan in: one goroutine per input copies into out; a WaitGroup
 *     // closes out once every input is drained.
 *     func merge(cs ...<-chan int) <-chan int {
 *         var wg sync.WaitGroup
 *         out := make(chan int)
 *         wg.Add(len(cs))
 *         for _, c := range cs {
 *             go func(c <-chan int) {
 *                 defer wg.Done()
 *                 for n := range c { out <- n }
 *             }(c)
 *         }
 *         go func() { wg.Wait(); close(out) }()
 *         return out
 *     }
 *
 *     for v := range merge(c1, c2, c3, c4) { sum += v }
 *
 * Which worker squares which number depends on scheduling, so the merged
 * order varies; the sum does not. */
#include <goc.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 100, WORKERS = 4 };

struct gen_args {
    goc_chan *out;
    long n;
};

static void gen_body(void *arg) { /* sends 1..n, then closes */
    struct gen_args *a = arg;
    for (long i = 1; i <= a->n; i++)
        goc_chan_send(a->out, &i);
    goc_chan_close(a->out);
    goc_chan_release(a->out);
}

struct pipe_args {
    goc_chan *in, *out;
};

static void square_body(void *arg) { /* one of the fanned-out workers */
    struct pipe_args *a = arg;
    long v;
    while (goc_chan_recv(a->in, &v)) {
        long sq = v * v;
        goc_chan_send(a->out, &sq);
    }
    goc_chan_close(a->out); /* the shared input is closed: this worker is done */
    goc_chan_release(a->in);
    goc_chan_release(a->out);
}

/* The merge state shared by merge's goroutines (it lives as long as they do). */
struct merge {
    goc_waitgroup wg;
    goc_chan *out;
};

struct output_args {
    struct merge *m;
    goc_chan *in;
};

static void output_body(void *arg) { /* copy one input into the merged channel */
    struct output_args *a = arg;
    long v;
    while (goc_chan_recv(a->in, &v))
        goc_chan_send(a->m->out, &v);
    goc_chan_release(a->in);
    goc_wg_done(&a->m->wg); /* defer wg.Done() */
}

static void closer_body(void *arg) { /* go func() { wg.Wait(); close(out) }() */
    struct merge *m = arg;
    goc_wg_wait(&m->wg);
    goc_chan_close(m->out);
    goc_chan_release(m->out);
    free(m);
}

/* merge(cs...): takes over the caller's references to cs; returns out. */
static goc_chan *merge(goc_chan **cs, int n) {
    struct merge *m = calloc(1, sizeof *m); /* the zero WaitGroup is ready */
    if (!m)
        return NULL;
    goc_chan *out = goc_chan_make(sizeof(long), 0);
    m->out = goc_chan_retain(out); /* the closer's reference */
    goc_wg_add(&m->wg, n);         /* wg.Add(len(cs)) before any go */
    for (int i = 0; i < n; i++)
        GOC_GO(output_body, struct output_args, .m = m, .in = cs[i]);
    goc_go(closer_body, m);
    return out;
}

static int run(void *arg) {
    (void)arg;
    goc_chan *in = goc_chan_make(sizeof(long), 0);
    GOC_GO(gen_body, struct gen_args, .out = goc_chan_retain(in), .n = N);

    goc_chan *cs[WORKERS];
    for (int i = 0; i < WORKERS; i++) { /* fan out */
        cs[i] = goc_chan_make(sizeof(long), 0);
        GOC_GO(square_body, struct pipe_args, .in = goc_chan_retain(in),
               .out = goc_chan_retain(cs[i]));
    }
    goc_chan_release(in); /* the workers and the generator hold their own */

    goc_chan *out = merge(cs, WORKERS); /* fan in */
    if (!out) {
        fprintf(stderr, "fan_in: out of memory\n");
        return 1;
    }
    long sum = 0, v;
    int count = 0;
    while (goc_chan_recv(out, &v)) {
        sum += v;
        count++;
    }
    goc_chan_release(out);

    long want = (long)N * (N + 1) * (2 * N + 1) / 6; /* 1^2 + ... + N^2 */
    printf("%d workers squared %d numbers: sum %ld\n", WORKERS, count, sum);
    if (count != N || sum != want) {
        fprintf(stderr, "fan_in: got %d values summing to %ld, want %d summing to %ld\n", count,
                sum, N, want);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
