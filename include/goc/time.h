/* goc/time.h — Go's package time: the monotonic clock, sleep, timers and
 * tickers, with Go 1.23 semantics: once goc_timer_stop or goc_timer_reset
 * returns, no value from before the call is ever received from the timer's
 * channel.
 *
 * Timer and ticker channels deliver an int64_t: the goc_now() time the
 * timer was due (as Go sends the current time minus how late it fired).
 * They are owned by their timer (do not release them); goc_after's channel
 * is the caller's to release. */
#ifndef GOC_TIME_H
#define GOC_TIME_H

#include <goc/chan.h>
#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_timer goc_timer;
typedef struct goc_ticker goc_ticker;

/* Monotonic time in nanoseconds (an arbitrary origin). */
GOC_API int64_t goc_now(void);
/* time.Sleep: parks the goroutine (a plain thread sleeps); d <= 0 returns at once. */
GOC_API void goc_sleep(goc_duration d);
/* time.After(d): a channel that receives the due time once, after d. The caller
 * releases it (goc_chan_release) when done; the timer keeps its own
 * reference until it fires. NULL (errno ENOMEM) if memory is short. */
GOC_API goc_chan *goc_after(goc_duration d);

/* time.NewTimer(d). NULL (errno ENOMEM) if memory is short. */
GOC_API goc_timer *goc_timer_new(goc_duration d);
/* time.AfterFunc(d, f): fn(arg) runs in its own goroutine after d. Its timer
 * has no channel (goc_timer_chan returns NULL). */
GOC_API goc_timer *goc_after_func(goc_duration d, void (*fn)(void *), void *arg);
GOC_API goc_chan *goc_timer_chan(goc_timer *t);
/* Stop the timer. True if this call stopped it before it fired (for an
 * AfterFunc timer: fn will not run); false if it had already fired or been
 * stopped. No stale value is received after Stop returns. */
GOC_API bool goc_timer_stop(goc_timer *t);
/* Restart the timer to fire after d. Returns whether it was pending before. */
GOC_API bool goc_timer_reset(goc_timer *t, goc_duration d);
/* Stop and free the timer (its channel too). */
GOC_API void goc_timer_free(goc_timer *t);

/* time.NewTicker(d): ticks every d; a slow receiver misses ticks (the
 * channel holds at most one). d <= 0 panics "non-positive interval for
 * NewTicker". */
GOC_API goc_ticker *goc_ticker_new(goc_duration d);
GOC_API goc_chan *goc_ticker_chan(goc_ticker *t);
/* Stop and restart with period d (d <= 0 panics "non-positive interval for
 * Ticker.Reset"). */
GOC_API void goc_ticker_reset(goc_ticker *t, goc_duration d);
GOC_API void goc_ticker_stop(goc_ticker *t);
GOC_API void goc_ticker_free(goc_ticker *t);

#ifdef __cplusplus
}
#endif
#endif /* GOC_TIME_H */
