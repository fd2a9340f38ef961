/* sync/once.c — sync.Once (Go's once.go).
 *
 * Data structures: done (atomic uint32, 0 until fn has returned) and a
 *   goc_mutex m, both in the user's goc_once (zero value = not done).
 *
 * Do: fast path one acquire load of done. Slow path: lock m, check done
 *   again, call fn, store done = 1 (release), unlock m. Concurrent first
 *   callers wait on m — parked, not spinning — until fn has returned, so
 *   when any goc_once_do returns, fn's effects are visible to the caller
 *   (the release store / acquire load pair, or m itself).
 *
 * Invariants: done goes 0 -> 1 once, only while m is held and only after
 *   fn returned; never back.
 *
 * Lock order: m alone (fn runs under it: fn must not call Do on the same
 *   once).
 *
 * Rejected designs
 *   - A CAS on done to elect the caller of fn (Go's own comment explains:
 *     the losers would return before fn finished, so its effects might not
 *     be visible yet).
 *   - Spinning losers on done (they might wait behind a long fn, on the
 *     processor fn needs).
 */
#include <stdatomic.h>

#include <goc/sync.h>

#include "base/assert.h"

__attribute__((noinline)) static void once_do_slow(goc_once *o, void (*fn)(void *), void *arg) {
    goc_mutex_lock(&o->m);
    if (atomic_load_explicit(&o->done, memory_order_relaxed) == 0) {
        fn(arg);
        atomic_store_explicit(&o->done, 1, memory_order_release);
    }
    goc_mutex_unlock(&o->m);
}

void goc_once_do(goc_once *once, void (*fn)(void *), void *arg) {
    if (GOC_LIKELY(atomic_load_explicit(&once->done, memory_order_acquire) != 0))
        return;
    once_do_slow(once, fn, arg);
}
