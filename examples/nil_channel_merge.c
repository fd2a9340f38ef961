/* nil_channel_merge.c — merge two channels with select, disabling each case
 * with a nil channel once its channel is closed.
 *
 * Go original ("nil channel is useful to disable a case in select"):
 *
 *     for a != nil || b != nil {
 *         select {
 *         case v, ok := <-a:
 *             if !ok { a = nil; continue } // never selected again
 *             out(v)
 *         case v, ok := <-b:
 *             if !ok { b = nil; continue }
 *             out(v)
 *         }
 *     }
 *
 * A closed channel is always ready (it yields the zero value and ok ==
 * false), so without `a = nil` the loop would spin on the closed case. In
 * goc, NULL is the nil channel: a select case on NULL never fires.
 *
 * The interleaving of a and b depends on scheduling; the values are
 * printed sorted, and each closed case must fire exactly once. */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

enum { PER_SOURCE = 5 };

struct source_args {
    goc_chan *out;
    long first, step;
};

static void source_body(void *arg) { /* sends PER_SOURCE values, then closes */
    struct source_args *a = arg;
    for (int i = 0; i < PER_SOURCE; i++) {
        long v = a->first + i * a->step;
        goc_chan_send(a->out, &v);
        goc_yield(); /* let the other source interleave */
    }
    goc_chan_close(a->out);
    goc_chan_release(a->out);
}

static int cmp_long(const void *x, const void *y) {
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

static int run(void *arg) {
    (void)arg;
    goc_chan *chan_a = goc_chan_make(sizeof(long), 0);
    goc_chan *chan_b = goc_chan_make(sizeof(long), 0);
    GOC_GO(source_body, struct source_args, .out = goc_chan_retain(chan_a), .first = 1, .step = 1);
    GOC_GO(source_body, struct source_args, .out = goc_chan_retain(chan_b), .first = 100,
           .step = 100);

    goc_chan *a = chan_a, *b = chan_b; /* the select's view: set to NULL when closed */
    long got[2 * PER_SOURCE + 1];
    int n = 0, closed_a = 0, closed_b = 0;
    while (a != NULL || b != NULL) {
        long v;
        bool ok;
        goc_case cases[] = {GOC_RECV(a, &v, &ok), GOC_RECV(b, &v, &ok)};
        switch (goc_select(cases, 2)) {
        case 0:
            if (!ok) {
                a = NULL; /* a = nil: this case never fires again */
                closed_a++;
                continue;
            }
            break;
        case 1:
            if (!ok) {
                b = NULL;
                closed_b++;
                continue;
            }
            break;
        }
        if (n < 2 * PER_SOURCE + 1)
            got[n] = v;
        n++;
    }
    goc_chan_release(chan_a);
    goc_chan_release(chan_b);

    if (n != 2 * PER_SOURCE || closed_a != 1 || closed_b != 1) {
        fprintf(stderr,
                "nil_channel_merge: %d values (want %d), closed cases fired %d and %d times\n", n,
                2 * PER_SOURCE, closed_a, closed_b);
        return 1;
    }
    qsort(got, (size_t)n, sizeof got[0], cmp_long);
    static const long want[] = {1, 2, 3, 4, 5, 100, 200, 300, 400, 500};
    printf("merged (sorted):");
    bool same = true;
    for (int i = 0; i < n; i++) {
        printf(" %ld", got[i]);
        same = same && got[i] == want[i];
    }
    printf("\nboth channels closed; each closed case fired once, then was disabled\n");
    if (!same) {
        fprintf(stderr, "nil_channel_merge: wrong values\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
