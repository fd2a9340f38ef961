/* ctx_generator.c — a generator stopped by cancel (the example in Go's
 * context package documentation).
 *
 * Go original:
 *
 *     gen := func(ctx context.Context) <-chan int {
 *         dst := make(chan int)
 *         n := 1
 *         go func() {
 *             for {
 *                 select {
 *                 case <-ctx.Done():
 *                     return // returning not to leak the goroutine
 *                 case dst <- n:
 *                     n++
 *                 }
 *             }
 *         }()
 *         return dst
 *     }
 *
 *     ctx, cancel := context.WithCancel(context.Background())
 *     defer cancel() // cancel when we are finished consuming integers
 *     for n := range gen(ctx) {
 *         fmt.Println(n)
 *         if n == 5 { break }
 *     }
 *
 * The consumer stops at 5; cancel makes the generator return instead of
 * blocking forever on its next send. */
#include <goc.h>
#include <stdio.h>

struct gen {
    goc_ctx *ctx;  /* the generator's own references */
    goc_chan *dst; /* chan long, unbuffered */
};

static void generate(void *arg) {
    struct gen *g = arg;
    for (long n = 1;; n++)
        if (goc_chan_send_ctx(g->dst, &n, g->ctx) != 0)
            break; /* canceled: n was not sent */
    goc_chan_release(g->dst);
    goc_ctx_release(g->ctx);
}

static goc_chan *gen(goc_ctx *ctx) {
    goc_chan *dst = goc_chan_make(sizeof(long), 0);
    GOC_GO(generate, struct gen, goc_ctx_retain(ctx), goc_chan_retain(dst));
    return dst;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_chan *ch = gen(ctx);
    long n = 0, sum = 0;
    while (goc_chan_recv(ch, &n)) {
        printf("%ld\n", n);
        sum += n;
        if (n == 5)
            break;
    }
    goc_ctx_cancel(ctx);
    goc_ctx_release(ctx);
    goc_chan_release(ch);

    for (int i = 0; i < 100 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("generator stopped; goroutines left behind: %d\n", left);
    if (n != 5 || sum != 15 || left != 0) {
        fprintf(stderr, "ctx_generator: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
