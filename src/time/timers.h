/* time/timers.h — the timer layer's counters, for white-box tests (the
 * goc_testing library exposes them; they are not part of libgoc's API). */
#ifndef GOC_TIME_TIMERS_H
#define GOC_TIME_TIMERS_H

#include <stdint.h>

/* Heap-allocated timers not yet freed: goc_timer_new, goc_after_func,
 * goc_ticker_new and goc_after timers (sleeps live on their goroutine's
 * stack and are not counted). */
int64_t gtime_live_timers(void);
/* Timers queued to fire or being fired (what the deadlock detector waits
 * for). */
int32_t gtime_pending_timers(void);

#endif
