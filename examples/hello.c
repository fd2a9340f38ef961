#include <goc.h>
#include <stdio.h>
static goc_chan *squares; /* chan long: every goroutine sends one square */
static void square(void *n) { goc_chan_send(squares, &(long){(long)n * (long)n}); }
static int run(void *arg) { /* the main goroutine; arg: how many numbers */
    long n = (long)arg, sum = 0, v;
    goc_waitgroup wg = {0};
    squares = goc_chan_make(sizeof(long), n); /* make(chan long, n) */
    for (long i = 1; i <= n; i++)
        goc_wg_go(&wg, square, (void *)i); /* wg.Go(func() { square(i) }) */
    goc_wg_wait(&wg);                      /* wg.Wait() */
    goc_chan_close(squares);               /* close(squares) */
    while (goc_chan_recv(squares, &v))     /* for v := range squares */
        sum += v;
    printf("sum of squares 1..%ld = %ld\n", n, sum);
    return sum != n * (n + 1) * (2 * n + 1) / 6;
}
int main(void) { return goc_run(run, (void *)10L); }
