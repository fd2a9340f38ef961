/* sync/sema.c — the wait-queue primitive under package sync (Go's sema.go).
 *
 * Names: "sema" here (gsema_*) is Go's runtime semaphore, the queue that
 * Mutex, RWMutex and WaitGroup park on. It is not goc_sema, the public
 * weighted semaphore of x/sync (src/xsync, whose internals say "wsema"),
 * and not a POSIX semaphore.
 *
 * A semaphore is any uint32 in user memory; waiters are keyed by its
 * address, so sync types need no constructor and their zero value works.
 *
 * Data structures
 *   semtable: SEMTABLE_SIZE roots, hashed by address. Each root has a lock,
 *   a count of waiters (read without the lock as a fast "nobody waits"
 *   check) and a list of per-address queues: the first waiter for an address
 *   is the queue's head (linked into the root's glist through sudog.link), the
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

#include "base/assert.h"

enum { SEMTABLE_SIZE = 251 };

struct semroot {
    glock lock;
    glist heads;            /* of sudog.link: one head per distinct address; lock */
    _Atomic uint32_t nwait; /* waiters in this root; see invariants */
#ifdef GOC_DEBUG
    uint32_t nqueued; /* sudogs queued in this root; lock */
#endif
    char pad[64 - sizeof(glock) - sizeof(glist) - 2 * sizeof(uint32_t)];
};

/* Global: the semaphore table. Owner: each root's lock. */
static struct semroot semtable[SEMTABLE_SIZE] = {
    [0 ... SEMTABLE_SIZE - 1] = {.lock = GLOCK_INIT(LR_SEMROOT)}};

static struct semroot *semroot(const void *addr) {
    return &semtable[((uintptr_t)addr >> 3) % SEMTABLE_SIZE];
}

static bool cansemacquire(uint32_t *addr) {
    uint32_t v = __atomic_load_n(addr, __ATOMIC_ACQUIRE);
    while (v != 0) {
        if (__atomic_compare_exchange_n(addr, &v, v - 1, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

/* The invariants above for one root (lock held). Walks the head list,
 * whose length is the number of distinct addresses waited on in this root
 * (short). */
static void root_assert(struct semroot *r) {
#ifdef GOC_DEBUG
    glock_assert_held(&r->lock);
    glist_check(&r->heads);
    GOC_ASSERT(atomic_load(&r->nwait) >= r->nqueued);
    uint32_t nheads = 0;
    glist_for_each(n, &r->heads) {
        const sudog *h = glist_entry(n, sudog, link);
        nheads++;
        GOC_ASSERT(semroot(h->c) == r);
        /* each address at most once in the head list */
        for (const glist_node *m = n->next; m; m = m->next)
            GOC_ASSERT(glist_entry(m, sudog, link)->c != h->c);
        /* The same-address queue: O(1) checks only (it may hold a million
         * waiters): waittail is set iff the queue has a second sudog. */
        GOC_ASSERT((h->waitlink == NULL) == (h->waittail == NULL));
        GOC_ASSERT(!h->waittail || (h->waittail->waitlink == NULL && h->waittail->c == h->c &&
                                    !h->waittail->link.next));
        GOC_ASSERT(!h->waitlink || h->waitlink->c == h->c);
    }
    GOC_ASSERT(nheads <= r->nqueued);
#else
    (void)r;
#endif
}

static void root_queue(struct semroot *r, void *addr, sudog *s, bool lifo) {
    glock_assert_held(&r->lock);
    s->c = addr;
    s->link.next = s->link.prev = NULL;
    s->waitlink = NULL;
    s->waittail = NULL;
#ifdef GOC_DEBUG
    r->nqueued++;
#endif
    glist_for_each(n, &r->heads) {
        sudog *h = glist_entry(n, sudog, link);
        if (h->c != addr)
            continue;
        if (lifo) {
            /* s replaces h as the head; h's queue moves behind s. */
            glist_insert_after(&r->heads, &h->link, &s->link);
            glist_remove(&r->heads, &h->link);
            s->waitlink = h;
            s->waittail = h->waittail ? h->waittail : h;
            h->waittail = NULL;
        } else {
            if (h->waittail)
                h->waittail->waitlink = s;
            else
                h->waitlink = s;
            h->waittail = s;
        }
        root_assert(r);
        return;
    }
    glist_push_front(&r->heads, &s->link);
    root_assert(r);
}

static sudog *root_dequeue(struct semroot *r, void *addr) {
    root_assert(r);
    glist_for_each(n, &r->heads) {
        sudog *h = glist_entry(n, sudog, link);
        if (h->c != addr)
            continue;
        sudog *t = h->waitlink;
        if (t) {
            /* t becomes the head. */
            glist_insert_after(&r->heads, &h->link, &t->link);
            t->waittail = h->waittail == t ? NULL : h->waittail;
        }
        glist_remove(&r->heads, &h->link);
        h->waitlink = h->waittail = NULL;
#ifdef GOC_DEBUG
        GOC_ASSERT(r->nqueued > 0);
        r->nqueued--;
#endif
        root_assert(r);
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
        glock_race_release(&r->lock);
        gopark(unlock_root, r, reason);
        /* Whoever dequeued s readied us: s is off every list. */
        GOC_ASSERT(!s.link.next && !s.link.prev && !s.waitlink && !s.waittail);
        GOC_ASSERT(s.ticket == 0 || s.ticket == 1);
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
    if (s) {
        GOC_ASSERT(s->c == addr && s->ticket == 0);
        atomic_fetch_sub(&r->nwait, 1);
    }
    root_assert(r);
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
