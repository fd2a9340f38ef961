/* goc/testing.h — aids for testing concurrent code written with goc.
 *
 * Included by <goc.h>. Two tools a Go programmer has in tests and a C
 * programmer has not had:
 *   goc_leak_check     go.uber.org/goleak's VerifyNone: are all the
 *                      goroutines a test started gone?
 *   goc_synctest_run   testing/synctest (Go 1.25): run code that sleeps,
 *                      times out and ticks on a virtual clock that jumps
 *                      ahead whenever every goroutine involved is blocked.
 */
#ifndef GOC_TESTING_H
#define GOC_TESTING_H

#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* go.uber.org/goleak's VerifyNone: wait up to `wait` (retrying with
 * back-off: sleeps from 10 us doubling to at most 100 ms, never past the
 * deadline; wait <= 0 looks once) for every goroutine other than the
 * caller (and goc's own, of which there are none today) to exit. Returns
 * how many are still alive, having written their dump (as goc_dump: id,
 * name, wait reason and for how long, stack, and Go's "created by f in
 * goroutine N" line for the call that started each) to fd; nothing is
 * written when none are left, and fd < 0 writes nowhere. Holds no lock
 * while it sleeps. From a plain thread every goroutine counts (the caller
 * is none); it sleeps with nanosleep and does not start the runtime. */
GOC_API int goc_leak_check(goc_duration wait, int fd);

/* testing/synctest.Test (Go 1.25): run fn(arg) as the root goroutine of a
 * new "bubble" and return its value once every goroutine of the bubble has
 * exited. Goroutines started inside belong to the bubble. Inside, goc_now,
 * sleeps, timers, tickers, context deadlines and I/O deadlines use a
 * virtual clock that starts at a fixed instant and moves only when every
 * goroutine of the bubble is durably blocked (on a channel, lock,
 * WaitGroup, sleep or timer of the bubble; not on I/O or the outside
 * world), jumping straight to the next timer. Channels, timers and
 * contexts created inside belong to the bubble. If every goroutine of the
 * bubble is durably blocked and no timer is pending, goc panics as Go does
 * ("deadlock: all goroutines in bubble are blocked") with a dump of the
 * bubble. */
GOC_API int goc_synctest_run(int (*fn)(void *arg), void *arg);

/* synctest.Wait: return once every other goroutine of the caller's bubble
 * is durably blocked. Panics outside a bubble. */
GOC_API void goc_synctest_wait(void);

#ifdef __cplusplus
}
#endif

#endif
