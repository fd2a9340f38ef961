/* sync/sema.c — the wait-queue primitive under package sync (Go's sema.go).
 *
 * A semaphore is any uint32 in user memory; waiters are keyed by its
 * address, so sync types need no constructor and their zero value works.
 *
 * Data structures
 *   semtable: SEMTABLE_SIZE roots, hashed by address. Each root has a lock,
 *   a count of waiters (read without the lock as a fast "nobody waits"
 *   check) and a list of per-address queues: the first waiter for an address
 *   is the queue's head (linked into the root list through next/prev), the
 *   others hang off it through waitlink in FIFO order (waittail). Sudogs live
 *   on the waiters' stacks.
 *
 * Invariants
 *   - root.nwait >= number of sudogs queued in the root (it is raised before
 *     queueing, so a releaser that sees 0 may skip the lock).
 *   - Each address appears at most once in a root's head list.
 *   - A sudog is queued iff its goroutine is parked in gsema_acquire and
 *     has not been dequeued; whoever dequeues it readies it.
 *
 * Lock order: root.lock is taken alone; it is released by gopark's unlockf
 * after the waiter's context is saved.
 *
 * Rejected: a treap per root as Go has (O(log n) per address; a list of
 * distinct addresses per root is shorter than that in practice with 251
 * roots and keeps FIFO per address exact); a futex per waiter (parks the
 * thread, not the goroutine).
 */
#include "sync/sema.h"

#include <stdatomic.h>
#include <stddef.h>

#include <goc/runtime.h>

#include "debug.h"

enum { SEMTABLE_SIZE = 251 };

struct semroot {
    glock lock;
    sudog *heads;              /* one head per distinct address; lock */
    _Atomic uint32_t nwait;    /* waiters in this root; see invariants */
    char pad[64 - sizeof(glock) - sizeof(sudog *) - sizeof(uint32_t)];
};

/* Global: the semaphore table. Owner: each root's lock. */
static struct semroot semtable[SEMTABLE_SIZE];

static struct semroot *semroot(const void *addr) {
    return &semtable[((uintptr_t)addr >> 3) % SEMTABLE_SIZE];
}

static bool cansemacquire(uint32_t *addr) {
    uint32_t v = __atomic_load_n(addr, __ATOMIC_ACQUIRE);
    while (v != 0) {
        if (__atomic_compare_exchange_n(addr, &v, v - 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

static void root_queue(struct semroot *r, void *addr, sudog *s, bool lifo) {
    s->c = addr;
    s->next = s->prev = NULL;
    s->waitlink = NULL;
    s->waittail = NULL;
    for (sudog *h = r->heads; h; h = h->next) {
        if (h->c != addr)
            continue;
        if (lifo) {
            /* s replaces h as the head; h's queue moves behind s. */
            s->next = h->next;
            s->prev = h->prev;
            if (s->next)
                s->next->prev = s;
            if (s->prev)
                s->prev->next = s;
            else
                r->heads = s;
            s->waitlink = h;
            s->waittail = h->waittail ? h->waittail : h;
            h->next = h->prev = NULL;
            h->waittail = NULL;
        } else {
            if (h->waittail)
                h->waittail->waitlink = s;
            else
                h->waitlink = s;
            h->waittail = s;
        }
        return;
    }
    s->next = r->heads;
    if (r->heads)
        r->heads->prev = s;
    r->heads = s;
}

static sudog *root_dequeue(struct semroot *r, void *addr) {
    for (sudog *h = r->heads; h; h = h->next) {
        if (h->c != addr)
            continue;
        sudog *t = h->waitlink;
        if (t) {
            /* t becomes the head. */
            t->next = h->next;
            t->prev = h->prev;
            if (t->next)
                t->next->prev = t;
            if (t->prev)
                t->prev->next = t;
            else
                r->heads = t;
            t->waittail = h->waittail == t ? NULL : h->waittail;
        } else {
            if (h->next)
                h->next->prev = h->prev;
            if (h->prev)
                h->prev->next = h->next;
            else
                r->heads = h->next;
        }
        h->next = h->prev = h->waitlink = h->waittail = NULL;
        return h;
    }
    return NULL;
}

static bool unlock_root(g *gp, void *arg) {
    (void)gp;
    glock_unlock(&((struct semroot *)arg)->lock);
    return true;
}

void gsema_acquire(uint32_t *addr, bool lifo, enum waitreason reason) {
    if (cansemacquire(addr))
        return;
    struct semroot *r = semroot(addr);
    sudog s = {0};
    s.g = getg();
    for (;;) {
        glock_lock(&r->lock);
        atomic_fetch_add(&r->nwait, 1);
        if (cansemacquire(addr)) {
            atomic_fetch_sub(&r->nwait, 1);
            glock_unlock(&r->lock);
            return;
        }
        s.ticket = 0;
        root_queue(r, addr, &s, lifo);
        gopark(unlock_root, r, reason);
        if (s.ticket != 0 || cansemacquire(addr))
            return;
        lifo = true; /* woken but beaten to it: wait at the front */
    }
}

void gsema_release(uint32_t *addr, bool handoff) {
    struct semroot *r = semroot(addr);
    __atomic_fetch_add(addr, 1, __ATOMIC_RELEASE);
    if (atomic_load(&r->nwait) == 0)
        return;
    glock_lock(&r->lock);
    if (atomic_load(&r->nwait) == 0) {
        glock_unlock(&r->lock);
        return;
    }
    sudog *s = root_dequeue(r, addr);
    if (s)
        atomic_fetch_sub(&r->nwait, 1);
    glock_unlock(&r->lock);
    if (!s)
        return;
    bool handed = handoff && cansemacquire(addr);
    if (handed)
        s->ticket = 1;
    /* s lives on the waiter's stack: not to be touched after goready. */
    goready(s->g);
    if (handed && gsched_on_goroutine())
        goc_yield(); /* the waiter is in runnext: let it run now */
}
