/* generator.c — a goroutine that yields values on a channel.
 *
 * Go original ("only the sender closes"):
 *
 *     func fib(n int) <-chan int {
 *         ch := make(chan int)
 *         go func() {
 *             defer close(ch) // the sender owns closing
 *             a, b := 0, 1
 *             for i := 0; i < n; i++ {
 *                 ch <- a
 *                 a, b = b, a+b
 *             }
 *         }()
 *         return ch
 *     }
 *
 *     for v := range fib(10) { // exits when ch is closed
 *         fmt.Println(v)
 *     }
 *
 * In C there is no garbage collector: a goc channel is reference counted.
 * The generator's goroutine holds its own reference (goc_chan_retain) and
 * drops it when it is done; the consumer drops the one goc_chan_make gave. */
#include <goc.h>
#include <stdio.h>

struct fib_args {
    goc_chan *out; /* chan long; this goroutine's reference */
    int n;
};

static void fib_body(void *arg) {
    struct fib_args *a = arg; /* our own copy, made by GOC_GO */
    long x = 0, y = 1;
    for (int i = 0; i < a->n; i++) {
        goc_chan_send(a->out, &x); /* ch <- a */
        long next = x + y;
        x = y;
        y = next;
    }
    goc_chan_close(a->out);   /* defer close(ch) */
    goc_chan_release(a->out); /* our reference */
}

/* fib(n): returns a channel that yields the first n Fibonacci numbers. */
static goc_chan *fib(int n) {
    goc_chan *ch = goc_chan_make(sizeof(long), 0); /* make(chan int) */
    GOC_GO(fib_body, struct fib_args, .out = goc_chan_retain(ch), .n = n);
    return ch;
}

static int run(void *arg) {
    (void)arg;
    static const long want[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34};
    enum { N = sizeof want / sizeof want[0] };

    goc_chan *ch = fib(N);
    int count = 0, bad = 0;
    long v;
    while (goc_chan_recv(ch, &v)) { /* for v := range ch */
        printf("%ld\n", v);
        if (count >= N || v != want[count])
            bad = 1;
        count++;
    }
    goc_chan_release(ch);

    if (bad || count != N) {
        fprintf(stderr, "generator: got %d values (want %d), sequence %s\n", count, N,
                bad ? "wrong" : "right");
        return 1;
    }
    printf("received %d values, then the channel was closed\n", count);
    return 0;
}

int main(void) { return goc_run(run, NULL); }
