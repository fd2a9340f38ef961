#include <goc.h>
#include <stdio.h>

static goc_chan *results;

static void square(void *arg) {           /* go square(n) */
    long n = (long)arg, sq = n * n;
    goc_chan_send(results, &sq);          /* results <- n*n */
}

static int run(void *arg) {
    (void)arg;
    results = goc_chan_make(sizeof(long), 0);  /* make(chan long) */
    for (long i = 1; i <= 10; i++)
        goc_go(square, (void *)i);
    long sum = 0, v;
    for (int i = 0; i < 10; i++) {
        goc_chan_recv(results, &v);
        sum += v;
    }
    printf("sum of squares 1..10 = %ld\n", sum);
    goc_chan_release(results);
    return sum == 385 ? 0 : 1;
}

int main(void) { return goc_run(run, NULL); }
