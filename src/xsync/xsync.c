/* xsync/xsync.c — Go's golang.org/x/sync: errgroup.Group (with WithContext
 * and SetLimit) and semaphore.Weighted. The contract is in <goc/xsync.h>.
 *
 * Data structures
 *
 *   goc_errgroup
 *     ctx    the derived context (goc_ctx_with_cancel(parent)), or NULL for a
 *            NULL parent. Immutable; the group owns one reference.
 *     wg     a goc_waitgroup counting started goroutines (Go's wg). Its own
 *            atomics protect it.
 *     err    the first error: 0 until one compare-and-swap from 0 sets it;
 *            never changes after that (Go's errOnce + err). Atomic.
 *     mu     a runtime lock (glock) guarding `sem`.
 *     sem    mu. The limit, as in Go: NULL for none, else a chan struct{}
 *            whose capacity is the limit, holding one buffered token per
 *            goroutine that took a slot. The group holds one reference.
 *   Each goroutine is started with an eg_start block copied onto its own
 *   stack (goc_go_args: no malloc): the group, fn, arg, and `slot`, the limit
 *   channel it took a token from (with a reference of its own), or NULL. It
 *   gives the token back to that channel, not to whatever g->sem is by then.
 *
 *   goc_sema
 *     size        capacity. Immutable.
 *     mu          a runtime lock (glock) guarding cur, head and tail.
 *     cur         mu. Units held.
 *     waiters     mu. The FIFO of waiters (a glist), oldest first.
 *   A waiter (wsema_waiter) lives on the acquiring goroutine's stack: its
 *   weight n (immutable), `ready`, a chan struct{} made for this wait
 *   (immutable; closed by whoever grants the units), `granted` (mu) and the
 *   list links (mu). `ready` has two references: the waiter's and the
 *   list's; the granter releases the list's after closing it, so neither
 *   side can free the channel while the other still touches it.
 *
 * Invariants
 *   errgroup
 *   - err is 0 or the value of the first failing fn (or start failure); once
 *     non-zero, ctx (if any) is canceled with err as its cause.
 *   - wg's counter = goroutines started and not yet past their final
 *     goc_wg_done. A goroutine's last access to the group is that done;
 *     before it, it has recorded its error and given its slot token back.
 *   - len(sem) = goroutines holding a token of the current sem.
 *   semaphore
 *   - 0 <= cur <= size.
 *   - A waiter is in the list iff it is neither granted nor withdrawn;
 *     granted is set, the waiter unlinked, cur raised by its n and its
 *     `ready` closed, all in one critical section.
 *   - Units are handed out in list order only: notify stops at the first
 *     waiter that does not fit (no barging past a large request), and a new
 *     acquire takes units directly only when the list is empty.
 *   - A request with n > size never enters the list: it could never be
 *     served and would block everyone behind it.
 *   - After a granting notify, the waiter may return and its stack record
 *     die at any moment: the granter touches nothing of it after the close.
 *
 * Lock order
 *   errgroup mu -> channel lock (goc_chan_len of sem under mu). A group
 *   goroutine never holds mu while it blocks: go/try_go take a reference to
 *   sem under mu and send on it after unlocking.
 *   semaphore mu -> channel lock (ready is closed and released under mu);
 *   goc_ctx_err under mu is a lock-free load. Nothing blocks under either
 *   lock: they are glocks (thread-blocking, short critical sections), never
 *   held across a goroutine switch.
 *
 * The race Go handles in Acquire: the waiter's select may return with ctx
 *   done while the semaphore had already granted it the units (both ready
 *   and done became ready; select picks at random). The waiter re-takes mu
 *   and looks at `granted`: if set, it gives the units back (cur -= n and
 *   notify the next waiters); if not, it unlinks itself, and if it was at
 *   the head it notifies, since the waiters behind it may fit now. When the
 *   select returns `ready`, the waiter checks ctx once more and, if it is
 *   done, releases the units and reports the ctx error, as Go does now.
 *
 * Rejected designs
 *   - goc_mutex (the goroutine-aware sync.Mutex, Go's choice) for mu: the
 *     critical sections are a few loads and stores plus channel closes,
 *     never a wait, so a glock is cheaper and keeps xsync independent of
 *     package sync's progress.
 *   - Parking waiters directly (a sudog per waiter, as sema.c does): the
 *     wait must be a select on ctx's done channel too, and select works on
 *     channels. A channel per waiter costs one allocation on the slow path
 *     only.
 *   - Serving later small requests past a blocked large one (more
 *     throughput, but the large one could starve): Go's semaphore refuses.
 *   - An errgroup limit built on goc_sema: Go's buffered-channel token
 *     bucket gives try_go (a select with default) and the count of active
 *     goroutines (len) that set_limit's panic needs.
 *   - Reading g->sem without the lock (Go does, and calls set_limit
 *     concurrent with go a data race): in C the old channel could be freed
 *     under a sender; the lock makes that misuse memory-safe.
 */
#define _GNU_SOURCE
#include <goc/xsync.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <goc/chan.h>
#include <goc/context.h>
#include <goc/sync.h>

#include "base/alloc.h"
#include "base/assert.h"
#include "base/list.h"
#include "base/lock.h"

/* ================================================================== */
/* errgroup                                                            */

struct goc_errgroup {
    goc_ctx *ctx;     /* immutable; the group's reference; NULL: none */
    goc_waitgroup wg; /* its own atomics */
    _Atomic int err;  /* first error; set once by CAS from 0 */
    glock mu;
    goc_chan *sem; /* mu; NULL: no limit */
};

struct eg_start {
    goc_errgroup *g;
    int (*fn)(goc_ctx *, void *);
    void *arg;
    goc_chan *slot; /* limit channel holding our token (our reference), or NULL */
};

static char eg_token; /* address sent as the (zero-size) token */

goc_errgroup *goc_errgroup_new(goc_ctx *parent) {
    goc_errgroup *g = gmem_zalloc(sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    glock_init(&g->mu, LR_ERRGROUP);
    if (parent) {
        g->ctx = goc_ctx_with_cancel(parent);
        if (!g->ctx) {
            free(g);
            errno = ENOMEM;
            return NULL;
        }
    }
    return g;
}

goc_ctx *goc_errgroup_ctx(goc_errgroup *g) { return g->ctx; }

static void eg_record(goc_errgroup *g, int err) {
    int zero = 0;
    if (atomic_compare_exchange_strong(&g->err, &zero, err) && g->ctx)
        goc_ctx_cancel_cause(g->ctx, err);
}

/* The end of a group goroutine (or of one that failed to start). */
static void eg_done(goc_errgroup *g, goc_chan *slot) {
    if (slot) {
        bool ok = goc_chan_recv(slot, NULL); /* our own token: never blocks */
        GOC_ASSERT(ok);
        (void)ok;
        goc_chan_release(slot);
    }
    goc_wg_done(&g->wg); /* last access to g */
}

static void eg_entry(void *p) {
    struct eg_start *s = p;
    goc_errgroup *g = s->g;
    int err = s->fn(g->ctx, s->arg);
    if (err)
        eg_record(g, err);
    eg_done(g, s->slot);
}

/* Take a slot of the current limit. *slot: the channel the token went to
 * (a reference), NULL when there is no limit. false: no slot and !wait. */
static bool eg_take_slot(goc_errgroup *g, bool wait, goc_chan **slot) {
    glock_lock(&g->mu);
    goc_chan *sem = goc_chan_retain(g->sem);
    glock_unlock(&g->mu);
    *slot = sem;
    if (!sem)
        return true;
    if (wait) {
        goc_chan_send(sem, &eg_token);
        return true;
    }
    goc_case c = GOC_SEND(sem, &eg_token);
    if (goc_select_try(&c, 1) == 0)
        return true;
    goc_chan_release(sem);
    *slot = NULL;
    return false;
}

static bool eg_start(goc_errgroup *g, int (*fn)(goc_ctx *, void *), void *arg, goc_chan *slot) {
    goc_wg_add(&g->wg, 1);
    struct eg_start s = {g, fn, arg, slot};
    int err = goc_go_args(eg_entry, &s, sizeof s);
    if (err == 0)
        return true;
    /* Could not start it: that is this goroutine's error. Record it before
     * the count drops, so that a concurrent wait sees it. */
    eg_record(g, err);
    eg_done(g, slot);
    return false;
}

void goc_errgroup_go(goc_errgroup *g, int (*fn)(goc_ctx *ctx, void *arg), void *arg) {
    if (!fn)
        goc_panic("errgroup: nil function");
    goc_chan *slot;
    eg_take_slot(g, true, &slot);
    eg_start(g, fn, arg, slot);
}

bool goc_errgroup_try_go(goc_errgroup *g, int (*fn)(goc_ctx *ctx, void *arg), void *arg) {
    if (!fn)
        goc_panic("errgroup: nil function");
    goc_chan *slot;
    if (!eg_take_slot(g, false, &slot))
        return false;
    return eg_start(g, fn, arg, slot);
}

void goc_errgroup_set_limit(goc_errgroup *g, int n) {
    goc_chan *old;
    glock_lock(&g->mu);
    if (n < 0) {
        old = g->sem;
        g->sem = NULL;
        glock_unlock(&g->mu);
        goc_chan_release(old);
        return;
    }
    size_t active = goc_chan_len(g->sem);
    if (active != 0) {
        glock_unlock(&g->mu);
        goc_panic("errgroup: modify limit while %zu goroutines in the group are still active",
                  active);
    }
    goc_chan *sem = goc_chan_make(0, (size_t)n);
    if (!sem) {
        glock_unlock(&g->mu);
        gthrow("runtime: out of memory (errgroup limit)");
    }
    old = g->sem;
    g->sem = sem;
    glock_unlock(&g->mu);
    goc_chan_release(old); /* goroutines blocked on it hold their own references */
}

int goc_errgroup_wait(goc_errgroup *g) {
    goc_wg_wait(&g->wg);
    int err = atomic_load(&g->err);
    if (g->ctx)
        goc_ctx_cancel_cause(g->ctx, err);
    return err;
}

void goc_errgroup_free(goc_errgroup *g) {
    if (!g)
        return;
    uint32_t active = (uint32_t)(atomic_load(&g->wg.state) >> 32);
    if (active != 0)
        goc_panic("errgroup: freed while %u goroutines in the group are still active", active);
    goc_ctx_release(g->ctx); /* the last reference cancels it */
    goc_chan_release(g->sem);
    free(g);
}

/* ================================================================== */
/* semaphore                                                           */

typedef struct wsema_waiter {
    glist_node link; /* s->waiters; s->mu */
    int64_t n;       /* immutable */
    goc_chan *ready; /* immutable; closed under s->mu when granted */
    bool granted;    /* s->mu */
} wsema_waiter;

struct goc_sema {
    int64_t size; /* immutable */
    glock mu;
    int64_t cur;   /* mu */
    glist waiters; /* mu; of wsema_waiter.link, FIFO */
};

static inline wsema_waiter *sw_first(goc_sema *s) {
    return s->waiters.first ? glist_entry(s->waiters.first, wsema_waiter, link) : NULL;
}

/* The invariants (s->mu held). */
static inline void wsema_assert(goc_sema *s) {
    glock_assert_held(&s->mu);
    GOC_ASSERT(0 <= s->cur && s->cur <= s->size);
#ifdef GOC_DEBUG
    /* A waiter in the list is neither granted nor oversized. */
    wsema_waiter *w = sw_first(s);
    GOC_ASSERT(!w || (!w->granted && w->n <= s->size));
    GOC_ASSERT(!s->waiters.first || !s->waiters.first->prev);
    GOC_ASSERT(!s->waiters.last || !s->waiters.last->next);
#endif
}

goc_sema *goc_sema_new(int64_t capacity) {
    if (capacity < 0) {
        errno = EINVAL;
        return NULL;
    }
    goc_sema *s = gmem_zalloc(sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    glock_init(&s->mu, LR_WSEMA);
    s->size = capacity;
    return s;
}

void goc_sema_free(goc_sema *s) {
    if (!s)
        return;
    glock_lock(&s->mu);
    bool busy = !glist_empty(&s->waiters);
    glock_unlock(&s->mu);
    if (busy)
        goc_panic("semaphore: freed while goroutines are waiting on it");
    free(s);
}

static void sw_unlink(goc_sema *s, wsema_waiter *w) {
    glock_assert_held(&s->mu);
    GOC_ASSERT(!w->granted);
    glist_remove(&s->waiters, &w->link);
}

/* Grant units to waiters in FIFO order while the head fits (s->mu held). */
static void wsema_notify(goc_sema *s) {
    wsema_waiter *w;
    while ((w = sw_first(s)) != NULL) {
        if (s->size - s->cur < w->n)
            break; /* the head waits; so does everyone behind it */
        s->cur += w->n;
        sw_unlink(s, w);
        w->granted = true;
        goc_chan *ready = w->ready;
        goc_chan_close(ready);   /* from here on w may be gone */
        goc_chan_release(ready); /* the list's reference */
    }
    /* Units go in list order only: the head, if any, does not fit. */
    GOC_ASSERT(!w || s->size - s->cur < w->n);
    wsema_assert(s);
}

int goc_sema_acquire(goc_sema *s, int64_t n, goc_ctx *ctx) {
    if (n < 0)
        return -EINVAL;
    goc_chan *done = goc_ctx_done(ctx);
    goc_chan *ready = NULL;
    for (;;) {
        glock_lock(&s->mu);
        /* ctx done before we got here: fail even if the units are free. */
        int err = goc_ctx_err(ctx);
        if (err) {
            glock_unlock(&s->mu);
            goc_chan_release(ready);
            return err;
        }
        if (s->size - s->cur >= n && glist_empty(&s->waiters)) {
            s->cur += n;
            glock_unlock(&s->mu);
            goc_chan_release(ready);
            return 0;
        }
        if (n > s->size) {
            /* Never satisfiable: do not block the queue; wait for ctx. */
            glock_unlock(&s->mu);
            goc_chan_release(ready);
            goc_chan_recv(done, NULL); /* nil channel: forever */
            return goc_ctx_err(ctx);
        }
        if (ready)
            break;
        glock_unlock(&s->mu); /* allocate outside the lock, then look again */
        ready = goc_chan_make(0, 0);
        if (!ready)
            return -ENOMEM;
    }
    wsema_waiter w = {.n = n, .ready = goc_chan_retain(ready)};
    glist_push_back(&s->waiters, &w.link);
    wsema_assert(s);
    glock_unlock(&s->mu);

    int which = 0;
    if (done) {
        goc_case cs[2] = {GOC_RECV(ready, NULL, NULL), GOC_RECV(done, NULL, NULL)};
        which = goc_select(cs, 2);
    } else {
        goc_chan_recv(ready, NULL);
    }

    if (which == 1) {
        /* ctx done; we may have been granted the units meanwhile. */
        glock_lock(&s->mu);
        if (w.granted) {
            s->cur -= n; /* pretend we never got them */
            wsema_notify(s);
        } else {
            bool front = s->waiters.first == &w.link;
            sw_unlink(s, &w);
            goc_chan_release(w.ready); /* the list's reference */
            if (front && s->size > s->cur)
                wsema_notify(s); /* those behind us may fit now */
        }
        glock_unlock(&s->mu);
        goc_chan_release(ready);
        return goc_ctx_err(ctx);
    }
    goc_chan_release(ready);
    /* Granted. If ctx was done meanwhile, Go gives the units back. */
    int err = goc_ctx_err(ctx);
    if (err) {
        goc_sema_release(s, n);
        return err;
    }
    return 0;
}

bool goc_sema_try_acquire(goc_sema *s, int64_t n) {
    if (n < 0)
        return false;
    glock_lock(&s->mu);
    bool ok = s->size - s->cur >= n && glist_empty(&s->waiters);
    if (ok)
        s->cur += n;
    wsema_assert(s);
    glock_unlock(&s->mu);
    return ok;
}

void goc_sema_release(goc_sema *s, int64_t n) {
    if (n < 0)
        goc_panic("semaphore: release of a negative weight (%lld)", (long long)n);
    glock_lock(&s->mu);
    wsema_assert(s);
    if (n > s->cur) {
        glock_unlock(&s->mu);
        goc_panic("semaphore: released more than held");
    }
    s->cur -= n;
    wsema_notify(s);
    glock_unlock(&s->mu);
}
