/* goc/context.h — Go's package context: cancellation trees, deadlines and
 * request-scoped values, threaded through every blocking call that takes a
 * goc_ctx (as its last argument; NULL means background).
 *
 * Lifetime: contexts are reference counted. Every goc_ctx_with_* returns one
 * reference, and a child holds one on its parent. The last release of a
 * cancelable context cancels it (with -ECANCELED) and detaches it from its
 * parent, so nothing leaks and long-lived parents do not collect dead
 * children. goc_ctx_background() and goc_ctx_todo() are never freed
 * (retain/release on them do nothing).
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

GOC_API goc_ctx *goc_ctx_background(void); /* never canceled, no values, no deadline */
GOC_API goc_ctx *goc_ctx_todo(void);
/* The derived contexts. parent NULL means background. NULL (errno ENOMEM)
 * if memory is short. */
GOC_API goc_ctx *goc_ctx_with_cancel(goc_ctx *parent);
GOC_API goc_ctx *goc_ctx_with_timeout(goc_ctx *parent, goc_duration d);
/* deadline: goc_now() time base. A child's deadline is capped by its parent's. */
GOC_API goc_ctx *goc_ctx_with_deadline(goc_ctx *parent, int64_t deadline);
/* key NULL panics "nil key". Lookup walks towards the root; the nearest
 * binding of a key wins (shadowing). */
GOC_API goc_ctx *goc_ctx_with_value(goc_ctx *parent, const void *key, void *val);
/* Values kept; cancellation and deadline dropped. */
GOC_API goc_ctx *goc_ctx_without_cancel(goc_ctx *parent);

/* cancel(): idempotent; cancels every descendant before it returns. On a
 * context that cannot be canceled (background, value or without_cancel
 * contexts) it does nothing. */
GOC_API void goc_ctx_cancel(goc_ctx *ctx);
/* WithCancelCause's cancel: the first cause wins (cause 0 means -ECANCELED). */
GOC_API void goc_ctx_cancel_cause(goc_ctx *ctx, int cause);
/* context.Cause: the cause given to cancel_cause, else the same as err. */
GOC_API int goc_ctx_cause(goc_ctx *ctx);
/* Done: NULL (the nil channel) when the context can never be canceled, so
 * it fits in any select. The channel belongs to the context. When err is
 * non-zero, Done is already closed. */
GOC_API goc_chan *goc_ctx_done(goc_ctx *ctx);
GOC_API int goc_ctx_err(goc_ctx *ctx); /* 0, -ECANCELED or -ETIMEDOUT */
GOC_API bool goc_ctx_deadline(goc_ctx *ctx, int64_t *deadline);
GOC_API void *goc_ctx_value(goc_ctx *ctx, const void *key);
GOC_API goc_ctx *goc_ctx_retain(goc_ctx *ctx);
GOC_API void goc_ctx_release(goc_ctx *ctx);

/* context.AfterFunc: fn(arg) runs once, in its own goroutine, after ctx is
 * canceled (at once if it already is). The handle must be given back with
 * goc_ctx_stop_after_func, which returns true if it prevented the call
 * (false if fn was already started), and frees the handle. */
GOC_API goc_ctx_stop *goc_ctx_after_func(goc_ctx *ctx, void (*fn)(void *), void *arg);
GOC_API bool goc_ctx_stop_after_func(goc_ctx_stop *s);

/* Blocking calls with a context: 0, or the context's error (the value was
 * then not sent / not received). */
GOC_API int goc_sleep_ctx(goc_duration d, goc_ctx *ctx);
GOC_API int goc_chan_send_ctx(goc_chan *c, const void *elem, goc_ctx *ctx);
/* *ok (may be NULL) is false when the channel was closed and drained. */
GOC_API int goc_chan_recv_ctx(goc_chan *c, void *out, bool *ok, goc_ctx *ctx);

/* The waits Go code writes as a select on ctx.Done(): 0 once the wait is
 * over (for the mutex: it is locked by the caller), or the context's error
 * (then the mutex is not held). If the context ends first, a helper
 * goroutine finishes the wait in the background (for the mutex it locks and
 * at once unlocks it); -ENOMEM/-EAGAIN if it cannot be started. */
GOC_API int goc_wg_wait_ctx(goc_waitgroup *wg, goc_ctx *ctx);
GOC_API int goc_mutex_lock_ctx(goc_mutex *mu, goc_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* GOC_CONTEXT_H */
