/* sync/cond.c — sync.Cond on Go's notify list (sync/cond.go, runtime/sema.go's
 * notifyList*).
 *
 * Data structures (in the user's goc_cond)
 *   wait    atomic: the ticket the next waiter takes (fetch-add).
 *   notify  the ticket of the next waiter to wake; written under lock,
 *           read without it for the "nobody to wake" fast path.
 *   lock    a runtime lock (glock): guards notify, head, tail.
 *   head/tail  the parked waiters, a singly linked list of sudogs (through
 *           sudog.waitlink) in queueing order, which may differ from ticket
 *           order (a ticket is taken before the lock); each sudog on its
 *           waiter's stack; sudog.ticket holds the ticket.
 *   L       the goc_mutex Wait releases and retakes; immutable after init.
 *   checker the cond's own address, set on first use: a copy fails the
 *           check (Go's copyChecker).
 *
 * Wait: t = wait++ (while the caller holds L), unlock L, then under lock:
 *   if t < notify, a Signal/Broadcast already covered t: return at once;
 *   else append the sudog and park (gopark's unlockf releases lock after
 *   the context is saved). Relock L.
 * Signal: under lock, if notify != wait, take ticket notify, notify++, and
 *   wake the sudog with that ticket if it is queued (if its waiter has not
 *   queued yet, it will see t < notify and not sleep). So exactly the
 *   oldest outstanding ticket is woken: FIFO.
 * Broadcast: under lock, notify = wait, detach the whole list, then wake
 *   every sudog outside the lock.
 *
 * Invariants
 *   - notify <= wait in ticket arithmetic (wrapping: compared as int32
 *     differences, so up to 2^31 outstanding waiters).
 *   - Every queued sudog has a ticket in [notify, wait); a waiter with
 *     ticket t < notify never sleeps, and one with t >= notify sleeps until
 *     Signal reaches t or a Broadcast.
 *   - A sudog is only touched under lock, or by the waker that unlinked it
 *     before it calls goready (never after: it lives on the waiter's stack).
 *
 * Lock order: L is never held by the cond code while it takes lock; lock is
 *   a leaf (no other lock is taken under it; goready runs after unlock).
 *
 * Rejected designs
 *   - Parking on a runtime semaphore per cond (sema.c): FIFO per address,
 *     but a Signal that finds nobody queued would leave a count that lets a
 *     later Wait through spuriously, and Broadcast would need the number of
 *     waiters; tickets solve both exactly.
 *   - A goc_mutex for the list: parking needs a lock that gopark's unlockf
 *     can release after the switch, which is what a glock is for.
 */
#include <stdatomic.h>
#include <stdint.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "base/lock.h"
#include "sched/sched.h"

_Static_assert(sizeof(glock) <= sizeof(((goc_cond *)0)->lock) &&
                   _Alignof(glock) <= _Alignof(uint64_t),
               "goc_cond.lock must be able to hold a glock");

static inline glock *cond_lock(goc_cond *c) { return (glock *)(void *)&c->lock; }

/* a < b in wrapping ticket arithmetic. */
static inline bool ticket_less(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

static void cond_check(goc_cond *c) {
    uintptr_t self = (uintptr_t)c;
    uintptr_t v = atomic_load_explicit(&c->checker, memory_order_relaxed);
    if (GOC_LIKELY(v == self))
        return;
    uintptr_t z = 0;
    if (v == 0 && atomic_compare_exchange_strong(&c->checker, &z, self))
        return;
    if (atomic_load(&c->checker) != self)
        goc_panic("sync.Cond is copied");
}

void goc_cond_init(goc_cond *c, goc_mutex *mutex) {
    c->L = mutex;
    atomic_store_explicit(&c->wait, 0, memory_order_relaxed);
    atomic_store_explicit(&c->notify, 0, memory_order_relaxed);
    glock_init(cond_lock(c), LR_COND);
    c->head = c->tail = NULL;
    atomic_store_explicit(&c->checker, (uintptr_t)c, memory_order_release);
}

/* The invariants above; c's lock held. The list walk is Debug-only. */
static inline void cond_assert(goc_cond *c) {
#ifdef GOC_DEBUG
    glock_assert_held(cond_lock(c));
    uint32_t notify = atomic_load_explicit(&c->notify, memory_order_relaxed);
    /* wait only grows, and is read after notify: notify <= wait. */
    uint32_t wait = atomic_load_explicit(&c->wait, memory_order_relaxed);
    GOC_ASSERT(!ticket_less(wait, notify));
    GOC_ASSERT((c->head == NULL) == (c->tail == NULL));
    GOC_ASSERT(!c->tail || ((sudog *)c->tail)->waitlink == NULL);
    sudog *last = NULL;
    for (sudog *s = c->head; s; last = s, s = s->waitlink) {
        GOC_ASSERT(!ticket_less(s->ticket, notify) && ticket_less(s->ticket, wait));
    }
    GOC_ASSERT(last == c->tail);
#else
    (void)c;
#endif
}

static bool unlock_cond(g *gp, void *arg) {
    (void)gp;
    glock_unlock(arg);
    return true;
}

static void notify_list_wait(goc_cond *c, uint32_t t) {
    glock *l = cond_lock(c);
    glock_lock(l);
    cond_assert(c);
    if (ticket_less(t, atomic_load_explicit(&c->notify, memory_order_relaxed))) {
        glock_unlock(l); /* already notified */
        return;
    }
    sudog s = {0};
    s.g = getg();
    s.ticket = t;
    s.waitlink = NULL;
    if (c->tail)
        ((sudog *)c->tail)->waitlink = &s;
    else
        c->head = &s;
    c->tail = &s;
    cond_assert(c);
    glock_race_release(l);
    gopark(unlock_cond, l, WAIT_COND);
    /* Woken: the waker unlinked s before readying us. */
}

void goc_cond_wait(goc_cond *c) {
    gsched_preempt_check();
    cond_check(c);
    goc_mutex *L = c->L;
    if (!L)
        goc_panic("sync: goc_cond_wait: goc_cond has no mutex (goc_cond_init)");
    uint32_t t = atomic_fetch_add_explicit(&c->wait, 1, memory_order_relaxed);
    goc_mutex_unlock(L);
    notify_list_wait(c, t);
    goc_mutex_lock(L);
}

void goc_cond_signal(goc_cond *c) {
    cond_check(c);
    /* Fast path: no waiter since the last notification. Racing with a new
     * Wait is fine: that waiter took its ticket after this Signal began. */
    if (atomic_load_explicit(&c->wait, memory_order_relaxed) ==
        atomic_load_explicit(&c->notify, memory_order_relaxed))
        return;
    glock *l = cond_lock(c);
    glock_lock(l);
    cond_assert(c);
    uint32_t t = atomic_load_explicit(&c->notify, memory_order_relaxed);
    if (t == atomic_load_explicit(&c->wait, memory_order_relaxed)) {
        glock_unlock(l);
        return;
    }
    atomic_store_explicit(&c->notify, t + 1, memory_order_relaxed);
    sudog *prev = NULL;
    for (sudog *s = c->head; s; prev = s, s = s->waitlink) {
        if (s->ticket != t)
            continue;
        sudog *n = s->waitlink;
        if (prev)
            prev->waitlink = n;
        else
            c->head = n;
        if (!n)
            c->tail = prev;
        cond_assert(c);
        glock_unlock(l);
        s->waitlink = NULL;
        goready(s->g); /* s is the waiter's: not touched after this */
        return;
    }
    /* Ticket t's waiter has not queued yet; it will see t < notify. */
    glock_unlock(l);
}

void goc_cond_broadcast(goc_cond *c) {
    cond_check(c);
    if (atomic_load_explicit(&c->wait, memory_order_relaxed) ==
        atomic_load_explicit(&c->notify, memory_order_relaxed))
        return;
    glock *l = cond_lock(c);
    glock_lock(l);
    cond_assert(c);
    sudog *s = c->head;
    c->head = c->tail = NULL;
    atomic_store_explicit(&c->notify, atomic_load_explicit(&c->wait, memory_order_relaxed),
                          memory_order_relaxed);
    glock_unlock(l);
    while (s) {
        sudog *next = s->waitlink;
        s->waitlink = NULL;
        goready(s->g);
        s = next;
    }
}
