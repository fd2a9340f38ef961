/* goc/xsync.h — Go's golang.org/x/sync: errgroup and the weighted semaphore.
 *
 * errgroup (x/sync/errgroup.Group with WithContext)
 *
 *   goc_errgroup *g = goc_errgroup_new(parent);
 *   goc_errgroup_go(g, fn, arg);          go fn(ctx, arg), counted in the group
 *   int err = goc_errgroup_wait(g);       first non-zero fn return, else 0
 *   goc_errgroup_free(g);
 *
 *   The group derives a cancelable context from parent: goc_errgroup_ctx(g).
 *   It is canceled when the first fn returns non-zero (its cause,
 *   goc_ctx_cause, is that value) or when goc_errgroup_wait returns (cause
 *   -ECANCELED when every fn succeeded), as with Go's WithContext. Every fn
 *   receives that context.
 *   parent NULL gives a group with no derived context, like Go's zero Group:
 *   goc_errgroup_ctx returns NULL and fn receives NULL. NULL is background
 *   for every goc call that takes a context, so fn(NULL, arg) may pass it on
 *   unchanged; nothing is canceled on error. Pass goc_ctx_background() as
 *   parent to get a group context that the first error cancels.
 *   The context belongs to the group (valid until goc_errgroup_free); retain
 *   it (goc_ctx_retain) to keep it longer.
 *
 *   Failing to start a goroutine (goc_go's -ENOMEM or -EAGAIN) counts as
 *   that goroutine's error: the group records it (if it is the first) and
 *   cancels its context; goc_errgroup_go returns normally and
 *   goc_errgroup_wait reports it.
 *
 *   Limits (SetLimit): with a limit n >= 0, at most n goroutines of the group
 *   are active; goc_errgroup_go blocks until one finishes, goc_errgroup_try_go
 *   returns false instead. n < 0 removes the limit. Changing the limit while
 *   goroutines counted against a limit are active panics "errgroup: modify
 *   limit while N goroutines in the group are still active", exactly where
 *   Go panics (with no limit in force, Go does not count, and neither does
 *   goc). A goroutine started under an old limit gives its slot back to that
 *   limit, so removing a limit while goroutines run is memory-safe.
 *
 *   fn must return: a fn that ends its goroutine with goc_exit never
 *   counts as done (Go's deferred Done would run on Goexit; C has no
 *   defer), so wait never returns and its slot is never given back.
 *
 *   go, try_go and wait may be called from any goroutine or plain thread,
 *   also from inside the group's own goroutines (not wait: that would wait
 *   for itself). goc_errgroup_free requires that no goroutine of the group
 *   is active (else it panics) and that no other call on the group is in
 *   progress.
 *
 * Weighted semaphore (x/sync/semaphore.Weighted)
 *
 *   goc_sema_acquire(s, n, ctx) takes n units, blocking until they are
 *   available or ctx is done (then it returns ctx's error and takes
 *   nothing). Waiters are served strictly in FIFO order: a large request at
 *   the head blocks later small ones until it is satisfied, so large
 *   requests do not starve. A request larger than the capacity can never be
 *   satisfied: it waits for ctx to be done (forever with a NULL or
 *   background ctx), as in Go, without blocking the queue behind it.
 *   If ctx is done when acquire is called, it fails even if the units are
 *   free. If ctx is done just as the units are granted, acquire gives them
 *   back and returns the ctx error (Go's current behaviour).
 *   goc_sema_release(s, n) returns n units; releasing more than is held
 *   panics "semaphore: released more than held".
 *   Weights must be >= 0: acquire returns -EINVAL and try_acquire false for
 *   a negative n, and release of a negative n panics (Go does not check).
 *   acquire returns -ENOMEM if it must wait and cannot allocate its waiter.
 *   goc_sema_free panics if goroutines are waiting on the semaphore.
 */
#ifndef GOC_XSYNC_H
#define GOC_XSYNC_H

#include <goc/context.h>
#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_errgroup goc_errgroup;

/* errgroup.WithContext(parent) (parent NULL: a zero errgroup.Group). A new
 * group; free it with goc_errgroup_free. NULL (errno ENOMEM) if memory is
 * short. */
GOC_API goc_errgroup *goc_errgroup_new(goc_ctx *parent);
/* The ctx WithContext returns: the group's context, owned by the group
 * (valid until goc_errgroup_free; retain it to keep it longer). NULL if the
 * group was made with a NULL parent. */
GOC_API goc_ctx *goc_errgroup_ctx(goc_errgroup *g);
/* g.Go(f): go fn(ctx, arg) in a new goroutine of the group (waits for a
 * free slot when a limit is set). fn returns 0 for success or an error
 * (a negative errno by convention). fn NULL panics "errgroup: nil
 * function". */
GOC_API void goc_errgroup_go(goc_errgroup *g, int (*fn)(goc_ctx *ctx, void *arg), void *arg);
/* As goc_errgroup_go, but returns false instead of waiting when the limit
 * is reached. Also false (with the error recorded in the group, as for
 * goc_errgroup_go) if the goroutine could not be started. */
GOC_API bool goc_errgroup_try_go(goc_errgroup *g, int (*fn)(goc_ctx *ctx, void *arg), void *arg);
/* g.SetLimit(n): at most n active goroutines; n < 0: no limit. Panics
 * "errgroup: modify limit while N goroutines in the group are still
 * active" when goroutines counted against a limit are active. */
GOC_API void goc_errgroup_set_limit(goc_errgroup *g, int n);
/* g.Wait(): wait for every goroutine of the group, cancel the group's
 * context, and return the first non-zero value a fn returned (or a start
 * failure), else 0. */
GOC_API int goc_errgroup_wait(goc_errgroup *g);
/* Free the group and release its context (which cancels it). NULL is
 * ignored. Panics "errgroup: freed while N goroutines in the group are
 * still active" if any are. No Go counterpart (garbage collector). */
GOC_API void goc_errgroup_free(goc_errgroup *g);

typedef struct goc_sema goc_sema;

/* semaphore.NewWeighted(capacity): a semaphore with `capacity` units
 * (>= 0), all free; free it with goc_sema_free. NULL (errno EINVAL for a
 * negative capacity, ENOMEM) on failure. */
GOC_API goc_sema *goc_sema_new(int64_t capacity);
/* s.Acquire(ctx, n): take n units, waiting (FIFO) until they are free or
 * ctx is done (ctx NULL: background, never done). 0, the ctx error
 * (-ECANCELED, -ETIMEDOUT; nothing taken), -EINVAL (n < 0) or -ENOMEM. */
GOC_API int goc_sema_acquire(goc_sema *s, int64_t n, goc_ctx *ctx);
/* s.TryAcquire(n): take n units without waiting: false if they are not
 * free, others wait, or n < 0. */
GOC_API bool goc_sema_try_acquire(goc_sema *s, int64_t n);
/* s.Release(n): give back n units and wake the waiters they satisfy, in
 * order. Never blocks. Panics "semaphore: released more than held", and
 * for a negative n. */
GOC_API void goc_sema_release(goc_sema *s, int64_t n);
/* Free the semaphore. NULL is ignored. Panics "semaphore: freed while
 * goroutines are waiting on it" if any are. No Go counterpart. */
GOC_API void goc_sema_free(goc_sema *s);

#ifdef __cplusplus
}
#endif
#endif /* GOC_XSYNC_H */
