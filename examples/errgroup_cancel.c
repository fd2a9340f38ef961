/* errgroup_cancel.c — the first error in an errgroup cancels its siblings.
 *
 * Go original (errgroup.WithContext):
 *
 *     g, ctx := errgroup.WithContext(ctx)
 *     for i := range tasks {
 *         g.Go(func() error {
 *             if i == failing {
 *                 return errBroken // cancels ctx
 *             }
 *             select {
 *             case <-ctx.Done():
 *                 return ctx.Err() // a sibling failed
 *             case <-time.After(10 * time.Second):
 *                 return nil
 *             }
 *         })
 *     }
 *     err := g.Wait() // errBroken: the first error, not context.Canceled
 *
 * The failing task waits until every sibling is blocked in its select
 * (a WaitGroup counts them in), so the outcome is deterministic: every
 * sibling sees the cancellation and returns "context canceled", Wait
 * returns the failing task's error, and the context's cause is that error.
 * The siblings' 10 s timers never fire; the run takes milliseconds. */
#include <errno.h>
#include <goc.h>
#include <stdio.h>

enum { TASKS = 5, FAILING = 2 };
#define ERR_BROKEN (-EIO) /* errBroken */

struct task {
    int i;
    int err;              /* what the task returned */
    goc_waitgroup *ready; /* siblings count down once they are about to wait */
};

static int task(goc_ctx *ctx, void *arg) {
    struct task *t = arg;
    if (t->i == FAILING) {
        goc_wg_wait(t->ready); /* let every sibling get to its select */
        goc_sleep(GOC_MILLISECOND);
        return t->err = ERR_BROKEN;
    }
    goc_chan *timeout = goc_after(10 * GOC_SECOND); /* time.After(10 * time.Second) */
    goc_wg_done(t->ready);
    goc_case cs[] = {GOC_RECV(goc_ctx_done(ctx), NULL, NULL), GOC_RECV(timeout, NULL, NULL)};
    int which = goc_select(cs, 2);
    goc_chan_release(timeout);
    t->err = which == 0 ? goc_ctx_err(ctx) : 0; /* case <-ctx.Done(): return ctx.Err() */
    return t->err;
}

static int run(void *arg) {
    (void)arg;
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background());
    if (!g) {
        fprintf(stderr, "errgroup_cancel: out of memory\n");
        return 1;
    }
    goc_waitgroup ready = {0};
    goc_wg_add(&ready, TASKS - 1);
    struct task ts[TASKS];
    for (int i = 0; i < TASKS; i++) {
        ts[i] = (struct task){.i = i, .ready = &ready};
        goc_errgroup_go(g, task, &ts[i]);
    }
    int64_t start = goc_now();
    int err = goc_errgroup_wait(g);
    int64_t took = goc_now() - start;
    int cause = goc_ctx_cause(goc_errgroup_ctx(g));
    int ctx_err = goc_ctx_err(goc_errgroup_ctx(g));
    goc_errgroup_free(g);

    bool bad =
        err != ERR_BROKEN || cause != ERR_BROKEN || ctx_err != -ECANCELED || took > 5 * GOC_SECOND;
    for (int i = 0; i < TASKS; i++) {
        printf("task %d returned: %s\n", i, ts[i].err ? goc_strerror(ts[i].err) : "nil");
        bad |= ts[i].err != (i == FAILING ? ERR_BROKEN : -ECANCELED);
    }
    printf("Wait: %s; ctx err: %s; cause: %s; took %lld ms\n", goc_strerror(err),
           goc_strerror(ctx_err), goc_strerror(cause), (long long)(took / GOC_MILLISECOND));
    if (bad) {
        fprintf(stderr, "errgroup_cancel: want Wait = the failing task's error and every sibling "
                        "canceled\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
