/* goc/time.h — Go's package time: the monotonic clock, sleep, timers and
 * tickers, with Go 1.23 semantics: a timer's channel behaves as unbuffered
 * (goc_chan_len and goc_chan_cap report 0), once goc_timer_stop or
 * goc_timer_reset returns no value from before the call is ever received,
 * and both return true while the timer's value has not been received.
 *
 * Timer and ticker channels deliver an int64_t: the goc_now() time the
 * timer was due (as Go sends the current time minus how late it fired).
 * They are owned by their timer (do not release them); goc_after's channel
 * is the caller's to release, and releasing it stops and frees its timer.
 * Timers and tickers have no garbage collector behind them: free each with
 * goc_timer_free / goc_ticker_free. Freeing one twice, or using it after
 * its free, panics (best effort, until its memory is reused).
 *
 * Constructors return NULL and set errno on failure (ENOMEM; EINVAL for a
 * bad argument) and never block. Stop, Reset and Free take short internal
 * locks only: they never park. */
#ifndef GOC_TIME_H
#define GOC_TIME_H

#include <goc/chan.h>
#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_timer goc_timer;
typedef struct goc_ticker goc_ticker;

/* Monotonic time in nanoseconds (an arbitrary origin; CLOCK_MONOTONIC).
 * The time base of deadlines and timer values. Go: time.Now() for
 * measuring (t1 - t0 is time.Since). Never fails. */
GOC_API int64_t goc_now(void);
/* time.Sleep(d): parks the goroutine for at least d (a plain thread sleeps);
 * d <= 0 returns at once. goc_sleep_ctx (goc/context.h) also stops early
 * when a context ends. */
GOC_API void goc_sleep(goc_duration d);
/* time.After(d): a channel (int64_t elements; len and cap report 0) that
 * receives the due time once, after d. The caller releases it
 * (goc_chan_release) when done; the last release also stops the timer and
 * frees it, fired or not (Go 1.23 collects unreferenced timers), so a loop
 * of selects on fresh goc_after channels keeps no timers behind. NULL
 * (errno ENOMEM) if memory is short. */
GOC_API goc_chan *goc_after(goc_duration d);

/* time.NewTimer(d): a timer whose channel (goc_timer_chan) receives the due
 * time once, after d (d <= 0: as soon as possible). Free it with
 * goc_timer_free. NULL (errno ENOMEM) if memory is short. */
GOC_API goc_timer *goc_timer_new(goc_duration d);
/* time.AfterFunc(d, f): fn(arg) runs in its own goroutine after d. Its timer
 * has no channel (goc_timer_chan returns NULL); goc_timer_stop before it
 * fires keeps fn from running, goc_timer_reset schedules it again. Free it
 * with goc_timer_free (which also stops it). NULL with errno EINVAL (fn is
 * NULL) or ENOMEM. */
GOC_API goc_timer *goc_after_func(goc_duration d, void (*fn)(void *), void *arg);
/* timer.C: the timer's channel (int64_t elements). It holds the fired value
 * until received, yet presents as unbuffered: goc_chan_len and goc_chan_cap
 * report 0 (as in Go 1.23). It belongs to the timer: do not release it; it
 * is valid until goc_timer_free. NULL for an AfterFunc timer or a NULL t;
 * panics "goc_timer_chan: use of freed timer" after goc_timer_free. */
GOC_API goc_chan *goc_timer_chan(goc_timer *t);
/* timer.Stop(): stop the timer. True if this call stopped it before its
 * value was received: it had not fired, or it had fired and its value,
 * never received, is dropped (for an AfterFunc timer: fn will not run).
 * False if it was stopped already or its value was received (an AfterFunc
 * timer: fn was started). No stale value is received after Stop returns.
 * So the pre-1.23 idiom `if (!goc_timer_stop(t)) goc_chan_recv(C, &v);`
 * never waits for a dropped value; it blocks forever when the value was
 * already received, as in every Go version: with Go 1.23 semantics plain
 * goc_timer_stop(t) is all it takes. t NULL panics; a freed t panics
 * "goc_timer_stop: use of freed timer". */
GOC_API bool goc_timer_stop(goc_timer *t);
/* timer.Reset(d): restart the timer to fire after d, dropping any value not
 * yet received. Returns whether it was pending before, as goc_timer_stop
 * would: true also when it had fired but its value was not received. t
 * NULL panics; a freed t panics "goc_timer_reset: use of freed timer". */
GOC_API bool goc_timer_reset(goc_timer *t, goc_duration d);
/* Stop and free the timer and its channel (Go: Stop, then let the garbage
 * collector have it). NULL is ignored. No goroutine may be blocked on the
 * timer's channel (that panics, as goc_chan_release does). Freeing it
 * again panics "goc_timer_free: timer freed twice". */
GOC_API void goc_timer_free(goc_timer *t);

/* time.NewTicker(d): ticks every d; a slow receiver misses ticks (the
 * channel holds at most one, yet reports len and cap 0, as in Go 1.23).
 * Each tick is the goc_now() time it was due, on the period's grid. Free it
 * with goc_ticker_free. NULL with errno ENOMEM; d <= 0 panics "non-positive
 * interval for NewTicker", as in Go. */
GOC_API goc_ticker *goc_ticker_new(goc_duration d);
/* ticker.C: the ticker's channel (int64_t elements; len and cap report 0).
 * It belongs to the ticker: do not release it. NULL for a NULL t; panics
 * "goc_ticker_chan: use of freed ticker" after goc_ticker_free. */
GOC_API goc_chan *goc_ticker_chan(goc_ticker *t);
/* ticker.Reset(d): stop and restart with period d, the next tick d from
 * now; a tick not yet received is dropped. d <= 0 panics "non-positive
 * interval for Ticker.Reset"; t NULL panics. */
GOC_API void goc_ticker_reset(goc_ticker *t, goc_duration d);
/* ticker.Stop(): no more ticks (a tick not yet received is dropped); the
 * channel is not closed. goc_ticker_reset starts it again. NULL is
 * ignored. */
GOC_API void goc_ticker_stop(goc_ticker *t);
/* Stop and free the ticker and its channel. NULL is ignored. No goroutine
 * may be blocked on the ticker's channel (that panics). Freeing it again
 * panics "goc_ticker_free: ticker freed twice"; goc_ticker_reset,
 * goc_ticker_stop and goc_ticker_chan on a freed ticker panic "...: use of
 * freed ticker". */
GOC_API void goc_ticker_free(goc_ticker *t);

#ifdef __cplusplus
}
#endif
#endif /* GOC_TIME_H */
