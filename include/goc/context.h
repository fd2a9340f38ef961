/* goc/context.h — Go's package context: cancellation trees, deadlines and
 * request-scoped values, threaded through every blocking call that takes a
 * goc_ctx (as its last argument; NULL means background).
 *
 * Lifetime: contexts are reference counted. Every goc_ctx_with_* returns one
 * reference, and a child holds one on its parent. The last release of a
 * cancelable context cancels it (with -ECANCELED) and detaches it from its
 * parent, so nothing leaks and long-lived parents do not collect dead
 * children. goc_ctx_background() and goc_ctx_todo() are never freed
 * (retain/release on them do nothing). Go's
 *     ctx, cancel := context.WithCancel(parent); defer cancel()
 * is goc_ctx_with_cancel, then goc_ctx_cancel + goc_ctx_release when done
 * (release alone does not cancel while children still hold references).
 *
 * Errors are negative errno values: -ECANCELED ("context canceled") and
 * -ETIMEDOUT ("context deadline exceeded"); goc_strerror gives Go's texts. */
#ifndef GOC_CONTEXT_H
#define GOC_CONTEXT_H

#include <goc/chan.h>
#include <goc/runtime.h>
#include <goc/sync.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_ctx goc_ctx;
typedef struct goc_ctx_stop goc_ctx_stop;

/* context.Background(): the root; never canceled, no values, no deadline.
 * Static: never freed. NULL passed as a context means the same. */
GOC_API goc_ctx *goc_ctx_background(void); /* never canceled, no values, no deadline */
/* context.TODO(): a root like background, for code not yet given a context. */
GOC_API goc_ctx *goc_ctx_todo(void);
/* The derived contexts. parent NULL means background. Each returns one
 * reference (the caller's, to release) and holds one on parent, or returns
 * NULL (errno ENOMEM) if memory is short. Never block. */
/* context.WithCancel(parent): canceled by goc_ctx_cancel, by its last
 * release, or when parent is canceled. A child of a canceled parent starts
 * canceled, with the parent's error and cause. */
GOC_API goc_ctx *goc_ctx_with_cancel(goc_ctx *parent);
/* context.WithTimeout(parent, d): goc_ctx_with_deadline(parent, goc_now() + d).
 * d <= 0: already canceled with -ETIMEDOUT. */
GOC_API goc_ctx *goc_ctx_with_timeout(goc_ctx *parent, goc_duration d);
/* context.WithDeadline(parent, deadline): also canceled with -ETIMEDOUT at
 * deadline (goc_now() time base). A child's deadline is capped by its
 * parent's. */
GOC_API goc_ctx *goc_ctx_with_deadline(goc_ctx *parent, int64_t deadline);
/* context.WithTimeoutCause / WithDeadlineCause (Go 1.21): as above, and
 * when the deadline passes goc_ctx_cause reports `cause` (a negative errno
 * value of the caller's choice) while goc_ctx_err still reports
 * -ETIMEDOUT. cause 0: the cause is the error itself. A deadline computed
 * past INT64_MAX is none at all; one before INT64_MIN (or any time not
 * after now) has passed already. */
GOC_API goc_ctx *goc_ctx_with_timeout_cause(goc_ctx *parent, goc_duration d, int cause);
GOC_API goc_ctx *goc_ctx_with_deadline_cause(goc_ctx *parent, int64_t deadline, int cause);
/* context.WithValue(parent, key, val): parent plus one key/value pair. Keys
 * are compared by address (use the address of a static object of your
 * own: Go's unexported key type); val is stored as given, never freed.
 * key NULL panics "nil key". Lookup walks towards the root; the nearest
 * binding of a key wins (shadowing). Cancellation is parent's: cancel on
 * a value context does nothing. */
GOC_API goc_ctx *goc_ctx_with_value(goc_ctx *parent, const void *key, void *val);
/* context.WithoutCancel(parent): values kept; cancellation and deadline
 * dropped (goc_ctx_done is NULL, goc_ctx_err 0). */
GOC_API goc_ctx *goc_ctx_without_cancel(goc_ctx *parent);

/* cancel(): idempotent; err becomes -ECANCELED, Done is closed, every
 * descendant is canceled and AfterFuncs are started before it returns.
 * Does not release ctx. On a context that cannot be canceled (background,
 * value or without_cancel contexts) and on NULL it does nothing. Never
 * parks. */
GOC_API void goc_ctx_cancel(goc_ctx *ctx);
/* WithCancelCause's cancel(cause): as goc_ctx_cancel (err is -ECANCELED),
 * recording cause for goc_ctx_cause. The first cancel wins (cause 0 means
 * -ECANCELED). */
GOC_API void goc_ctx_cancel_cause(goc_ctx *ctx, int cause);
/* context.Cause(ctx): 0 while ctx is not canceled; then the cause given to
 * cancel_cause, else the same as err (-ECANCELED, -ETIMEDOUT). */
GOC_API int goc_ctx_cause(goc_ctx *ctx);
/* ctx.Done(): a chan struct{} closed when ctx is canceled; NULL (the nil
 * channel) when the context can never be canceled, so it fits in any
 * select. The channel belongs to the context (do not release it; valid
 * while you hold a reference to ctx). When err is non-zero, Done is
 * already closed. */
GOC_API goc_chan *goc_ctx_done(goc_ctx *ctx);
/* ctx.Err(): 0 while not canceled, then -ECANCELED (canceled) or
 * -ETIMEDOUT (deadline exceeded); goc_strerror gives Go's texts. */
GOC_API int goc_ctx_err(goc_ctx *ctx); /* 0, -ECANCELED or -ETIMEDOUT */
/* ctx.Deadline(): true and *deadline (goc_now() time base; deadline may be
 * NULL) if ctx or an ancestor has one, else false. */
GOC_API bool goc_ctx_deadline(goc_ctx *ctx, int64_t *deadline);
/* ctx.Value(key): the value of the nearest binding of key (by address), or
 * NULL if none. */
GOC_API void *goc_ctx_value(goc_ctx *ctx, const void *key);
/* Take one more reference to ctx and return ctx (NULL stays NULL). Hand one
 * to each goroutine that keeps ctx beyond the caller's own use. No Go
 * counterpart (Go's garbage collector does this). */
GOC_API goc_ctx *goc_ctx_retain(goc_ctx *ctx);
/* Drop one reference. The last release of a cancelable context cancels it
 * (-ECANCELED) and detaches it from its parent; the memory goes when
 * nothing refers to it. NULL and the roots are ignored. Panics
 * "goc_ctx_release: context released more times than retained". */
GOC_API void goc_ctx_release(goc_ctx *ctx);

/* context.AfterFunc: fn(arg) runs once, in its own goroutine, after ctx is
 * canceled (at once if it already is; never if ctx can never be canceled).
 * The handle is freed by the first goc_ctx_stop_after_func (call it once
 * you no longer need fn, also after fn ran: until then the registration
 * holds a little memory). NULL with errno ENOMEM; a NULL fn panics, as
 * calling a nil func does in Go. */
GOC_API goc_ctx_stop *goc_ctx_after_func(goc_ctx *ctx, void (*fn)(void *), void *arg);
/* AfterFunc's stop(): returns true if it prevented the call (false if fn
 * was already started), and frees the handle. Calling it again with the
 * same handle is safe and returns false (a handle is a generation-tagged
 * slot, never a pointer to freed memory). NULL returns false. */
GOC_API bool goc_ctx_stop_after_func(goc_ctx_stop *s);

/* Blocking calls with a context: 0, or the context's error (the value was
 * then not sent / not received). A context already done fails at once,
 * even if the operation could proceed. They park like the calls they
 * extend. */
/* select { case <-time.After(d): case <-ctx.Done(): }: 0 after d, the
 * context's error if it ends first, -ENOMEM if no timer could be made. */
GOC_API int goc_sleep_ctx(goc_duration d, goc_ctx *ctx);
/* select { case c <- *elem: case <-ctx.Done(): }. Panics as goc_chan_send
 * on a closed channel. */
GOC_API int goc_chan_send_ctx(goc_chan *c, const void *elem, goc_ctx *ctx);
/* select { case v, ok := <-c: case <-ctx.Done(): }. *ok (may be NULL) is
 * false when the channel was closed and drained. */
GOC_API int goc_chan_recv_ctx(goc_chan *c, void *out, bool *ok, goc_ctx *ctx);

/* The waits Go code writes as a select on ctx.Done(): 0 once the wait is
 * over (for the mutex: it is locked by the caller), or the context's error
 * (then the mutex is not held). If the context ends first, a helper
 * goroutine finishes the wait in the background (for the mutex it locks and
 * at once unlocks it): wg / mu must stay valid until then.
 * -ENOMEM/-EAGAIN if the helper cannot be started. */
/* wg.Wait() or ctx.Done(), whichever comes first. */
GOC_API int goc_wg_wait_ctx(goc_waitgroup *wg, goc_ctx *ctx);
/* mu.Lock() or ctx.Done(), whichever comes first. A free mutex is taken at
 * once (0) even if ctx is already done. */
GOC_API int goc_mutex_lock_ctx(goc_mutex *mu, goc_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* GOC_CONTEXT_H */
