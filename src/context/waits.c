/* context/waits.c — WaitGroup and Mutex waits that honour a context.
 *
 * The sync layer sits below context and knows nothing of it, so these are
 * built the way a Go programmer would write them: a helper goroutine does
 * the plain wait and reports on a channel, and the caller selects on that
 * channel and ctx's Done.
 *
 * Data structures: struct waiter, shared by the caller and the helper,
 * with two references (one each) and an atomic state that decides who owns
 * the outcome: WAITING -> DONE (the helper finished first: the caller gets
 * the result) or WAITING -> ABANDONED (the context ended first: the helper
 * cleans up, e.g. unlocks the mutex it acquired).
 *
 * Invariants: exactly one of the two CASes on state succeeds; the mutex is
 * held by the caller iff the call returns 0.
 *
 * Rejected: a cancellable semaphore wait inside package sync (it would make
 * sync depend on context, an upward call).
 */
#include <goc/context.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/alloc.h"

enum { W_WAITING, W_DONE, W_ABANDONED };

struct waiter {
    _Atomic int state;
    _Atomic int refs;
    goc_chan *done;    /* chan struct{}, closed by the helper */
    goc_waitgroup *wg; /* immutable */
    goc_mutex *mu;     /* immutable */
};

static void waiter_unref(struct waiter *w) {
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    goc_chan_release(w->done);
    free(w);
}

static void helper(void *arg) {
    struct waiter *w = arg;
    if (w->wg)
        goc_wg_wait(w->wg);
    else
        goc_mutex_lock(w->mu);
    int expect = W_WAITING;
    if (!atomic_compare_exchange_strong(&w->state, &expect, W_DONE) && w->mu)
        goc_mutex_unlock(w->mu); /* the caller gave up: nobody wants the lock */
    goc_chan_close(w->done);
    waiter_unref(w);
}

static int wait_ctx(goc_waitgroup *wg, goc_mutex *mu, goc_ctx *ctx) {
    int err = goc_ctx_err(ctx);
    if (err)
        return err;
    struct waiter *w = gmem_zalloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->done = goc_chan_make(0, 0);
    if (!w->done) {
        free(w);
        return -ENOMEM;
    }
    atomic_init(&w->state, W_WAITING);
    atomic_init(&w->refs, 2);
    w->wg = wg;
    w->mu = mu;
    int rc = goc_go(helper, w);
    if (rc) {
        goc_chan_release(w->done);
        free(w);
        return rc;
    }
    goc_case cs[2] = {GOC_RECV(w->done, NULL, NULL), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
    int i = goc_select(cs, 2);
    int result = 0;
    if (i == 1) {
        int expect = W_WAITING;
        if (atomic_compare_exchange_strong(&w->state, &expect, W_ABANDONED)) {
            result = goc_ctx_err(ctx);
        } else {
            /* The helper finished just as the context ended: Go's rule for
             * such a race is to report the context's error and give back
             * what was acquired. */
            goc_chan_recv(w->done, NULL);
            if (mu)
                goc_mutex_unlock(mu);
            result = goc_ctx_err(ctx);
        }
    }
    waiter_unref(w);
    return result;
}

int goc_wg_wait_ctx(goc_waitgroup *wg, goc_ctx *ctx) { return wait_ctx(wg, NULL, ctx); }

int goc_mutex_lock_ctx(goc_mutex *mu, goc_ctx *ctx) {
    if (goc_mutex_trylock(mu))
        return 0;
    return wait_ctx(NULL, mu, ctx);
}
