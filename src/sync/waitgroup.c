/* sync/waitgroup.c — sync.WaitGroup (Go's algorithm).
 *
 * state: high 32 bits the counter, low 32 bits the number of waiters; one
 * atomic word, so Add and Wait agree on both at once. Waiters sleep on the
 * semaphore at &wg->sema. When the counter drops to zero with waiters, the
 * last Add resets state to 0 and releases the semaphore once per waiter.
 *
 * Invariants: counter >= 0 (else panic); waiters are only added while the
 * counter is > 0; state is 0 whenever a woken waiter returns (else the
 * group was reused too early: panic, as Go does).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "base/failpoint.h"
#include "sync/sema.h"

void goc_wg_add(goc_waitgroup *wg, int delta) {
    uint64_t state = atomic_fetch_add(&wg->state, (uint64_t)(int64_t)delta << 32) +
                     ((uint64_t)(int64_t)delta << 32);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (v < 0)
        goc_panic("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == delta)
        goc_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter is 0 and there are waiters: nobody may change state now. */
    if (atomic_load(&wg->state) != state)
        goc_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store(&wg->state, 0);
    for (; w != 0; w--)
        gsema_release(&wg->sema, false);
}

void goc_wg_done(goc_waitgroup *wg) { goc_wg_add(wg, -1); }

void goc_wg_wait(goc_waitgroup *wg) {
    gsched_preempt_check();
    for (;;) {
        uint64_t state = atomic_load(&wg->state);
        if ((uint32_t)(state >> 32) == 0)
            return;
        if (atomic_compare_exchange_weak(&wg->state, &state, state + 1)) {
            /* waiters are only added while the counter is non-zero */
            GOC_ASSERT((uint32_t)(state >> 32) != 0 && (uint32_t)state != UINT32_MAX);
            gsema_acquire(&wg->sema, false, WAIT_WAITGROUP);
            if (atomic_load(&wg->state) != 0)
                goc_panic("sync: WaitGroup is reused before previous Wait has returned");
            return;
        }
    }
}

struct wg_go {
    goc_waitgroup *wg;
    void (*fn)(void *);
    void *arg;
};

static void wg_go_entry(void *a) {
    struct wg_go *w = a;
    w->fn(w->arg);
    goc_wg_done(w->wg);
}

int goc_wg_go(goc_waitgroup *wg, void (*fn)(void *), void *arg) {
    if (!fn)
        return -EINVAL;
    goc_wg_add(wg, 1);
    struct wg_go w = {wg, fn, arg};
    int err = goc_go_args(wg_go_entry, &w, sizeof w);
    if (err)
        goc_wg_add(wg, -1);
    return err;
}
