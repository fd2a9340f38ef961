/* chan/chan.c — channels and select (Go's chan.go and select.go).
 *
 * Data structures
 *   struct goc_chan (Go's hchan): one lock, a ring buffer of cap elements
 *   stored right after the header, and two wait queues (recvq, sendq) of
 *   sudogs. A sudog lives on its waiter's stack (goc stacks never move), so
 *   blocking never allocates. A select queues one sudog per case.
 *
 * Handoffs
 *   - A sender that finds a parked receiver copies the value straight into
 *     the receiver's destination and readies it (into runnext: it runs next
 *     on this P); a receiver that finds a parked sender does the reverse. On
 *     a full buffered channel the receiver takes the head of the buffer and
 *     moves the parked sender's value into the freed tail slot, so FIFO
 *     order holds.
 *   - close wakes every receiver (destination zeroed, success false) and
 *     every sender (which then panics, as in Go).
 *
 * Select (selectgo)
 *   Cases are polled in a uniformly random order (Fisher-Yates), channels
 *   are locked in address order (each distinct channel once, so a channel may
 *   appear in several cases), one sudog per case is queued, and the first
 *   waker to win the CAS on g.selectdone claims the select; it records the
 *   winning sudog in g.param. The select then relocks the channels of its
 *   other sudogs (not the winner's, unless another case uses it too: its
 *   waker dequeued the sudog there) and removes them.
 *   Before all that, pass 0 looks at the cases racily, in poll order, and
 *   tries the first one that looks ready under its own channel's lock
 *   alone (one locked instruction, not one per channel); only if it is not
 *   ready after all are all channels locked (not in the race build).
 *
 * Creators' hooks (chan/chan.h)
 *   The layer that makes a channel may hide its buffer (len and cap then
 *   report 0) and register a callback that the last goc_chan_release calls,
 *   with no lock held, just before the free. Both are generic: time uses
 *   them for its timer channels, and chan knows nothing of time.
 *
 * Invariants
 *   - At most one of recvq, sendq is non-empty (unless its waiters are
 *     selects already claimed, which dequeue() skips, or one select has
 *     both a send and a receive case on the channel).
 *   - qcount <= dataqsiz; buffered elements occupy [recvx, recvx+qcount).
 *   - closed never goes back to false.
 *   - A sudog is in a queue only while its goroutine is parked on it; it is
 *     dequeued before its goroutine is readied, and after goready the waker
 *     no longer touches it.
 *
 * Lock order: channel locks in increasing address order (select); a channel
 *   lock may be held while calling goready (which takes scheduler locks); no
 *   channel lock is held across a switch except through gopark's unlockf.
 *
 * Rejected: lock-free rings (fast single-core, but a correct blocking and
 * select path needs the lock anyway; measured peers were 5-17x slower on two
 * processors). Since the glock releases by a plain store (base/lock.c), a
 * buffered item costs two locked RMWs (the sender's lock CAS and the
 * receiver's), what a ring's one CAS per side would cost too: a ring would
 * save only plain instructions (~129 per item at one processor, callgrind),
 * for a second protocol that close, select and blocked senders' FIFO would
 * have to agree with. Polling in select (busy CPU); first-ready select
 * (unfair).
 */
#define _GNU_SOURCE
#include <goc/chan.h>

#include "chan/chan.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

#include "base/assert.h"
#include "base/failpoint.h"
#include "sched/sched.h"

#include "base/race.h"

typedef glist waitq; /* of sudog.link, FIFO */

struct goc_chan {
    glock lock;
    bool closed;            /* lock */
    bool hidebuf;           /* immutable once shared: len and cap report 0 */
    size_t qcount;          /* lock (len takes it too) */
    size_t dataqsiz;        /* immutable */
    size_t elemsize;        /* immutable */
    size_t sendx, recvx;    /* lock */
    uint64_t bubble;        /* immutable: id of the synctest bubble that made it, 0: none */
    waitq recvq, sendq;     /* lock */
    _Atomic long refs;      /* references; the last release frees */
    void (*onlast)(void *); /* immutable once shared: called by the last release */
    void *onlast_arg;
    _Alignas(16) unsigned char buf[];
};

enum { MAX_CHAN_BYTES = 1L << 40 };

/* ---- invariants (Debug builds) ---- */

#ifdef GOC_DEBUG
/* The goroutine of q's first live waiter, or NULL when every sudog in q is
 * a select's that some other waker already claimed (such a sudog stays
 * queued until its owner relocks and removes it; dequeue() skips it).
 * Stops at the first live waiter, so it is O(1) when there is one and
 * short otherwise (claimed sudogs are removed promptly). */
static const g *waitq_first_live(const waitq *q) {
    glist_for_each(n, q) {
        const sudog *s = glist_entry(n, sudog, link);
        if (!s->isselect || atomic_load(&s->g->selectdone) == 0)
            return s->g;
    }
    return NULL;
}
#define waitq_only_claimed(q) (waitq_first_live(q) == NULL)
#endif

/* The design comment's invariants; c locked. A select's claim only ever
 * goes from 0 to 1 while its sudog is queued here, which can only make
 * waitq_only_claimed truer, so the checks hold without the other locks. */
static inline void chan_assert(goc_chan *c) {
#ifdef GOC_DEBUG
    glock_assert_held(&c->lock);
    GOC_ASSERT(c->qcount <= c->dataqsiz);
    if (c->dataqsiz == 0) {
        GOC_ASSERT(c->sendx == 0 && c->recvx == 0);
    } else {
        GOC_ASSERT(c->sendx < c->dataqsiz && c->recvx < c->dataqsiz);
        /* buffered elements occupy [recvx, recvx+qcount) */
        GOC_ASSERT((c->recvx + c->qcount) % c->dataqsiz == c->sendx);
    }
    GOC_ASSERT((c->recvq.first == NULL) == (c->recvq.last == NULL));
    GOC_ASSERT((c->sendq.first == NULL) == (c->sendq.last == NULL));
    GOC_ASSERT(!c->recvq.first || (!c->recvq.first->prev && !c->recvq.last->next));
    GOC_ASSERT(!c->sendq.first || (!c->sendq.first->prev && !c->sendq.last->next));
    /* At most one queue holds live waiters, except for one select that
     * both sends and receives on c (it never pairs with itself); any other
     * arrival would have paired with it. */
    if (!waitq_only_claimed(&c->recvq)) {
        const g *sg = waitq_first_live(&c->sendq);
        GOC_ASSERT(sg == NULL || sg == waitq_first_live(&c->recvq));
    }
    /* Live receivers wait only on an empty buffer, live senders only on a
     * full one; a closed channel has no live waiter at all. */
    if (c->qcount > 0 || c->closed)
        GOC_ASSERT(waitq_only_claimed(&c->recvq));
    if (c->qcount < c->dataqsiz || c->closed)
        GOC_ASSERT(waitq_only_claimed(&c->sendq));
    GOC_ASSERT(atomic_load_explicit(&c->refs, memory_order_relaxed) >= 0);
#else
    (void)c;
#endif
}

/* ---- wait queues (c locked) ---- */

static inline void enqueue(goc_chan *c, waitq *q, sudog *s) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(q == &c->recvq || q == &c->sendq);
    GOC_ASSERT(s->c == c && s->g != NULL);
    GOC_ASSERT(!s->link.next && !s->link.prev && q->first != &s->link);
    glist_push_back(q, &s->link);
}

static void remove_sudog(goc_chan *c, waitq *q, sudog *s) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(s->c == c);
    if (!glist_contains_node(q, &s->link))
        return; /* not queued (already taken by a waker) */
    glist_remove(q, &s->link);
}

/* Pop the first waiter that can still be woken: a select's sudog counts
 * only if this waker wins the select. */
static inline __attribute__((always_inline)) sudog *dequeue(goc_chan *c, waitq *q) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(q == &c->recvq || q == &c->sendq);
    for (;;) {
        glist_node *n = glist_pop_front(q);
        if (!n)
            return NULL;
        sudog *s = glist_entry(n, sudog, link);
        GOC_ASSERT(s->c == c && s->g != NULL);
        if (s->isselect) {
            uint32_t z = 0;
            if (!atomic_compare_exchange_strong(&s->g->selectdone, &z, 1))
                continue;
        }
        return s;
    }
}

static inline void *chanbuf(goc_chan *c, size_t i) { return c->buf + i * c->elemsize; }

/* Element copies are inline for the common small sizes: a memcpy call
 * with a variable length costs a call and a size dispatch (~12
 * instructions) where an 8-byte element is one load and one store. A
 * constant-size memcpy compiles to plain moves and is alignment-safe
 * (elements may point anywhere the user likes). */
static inline __attribute__((always_inline)) void elem_copy(void *dst, const void *src, size_t n) {
    if (!dst)
        return;
    if (n == 8) { /* the common case first, before any jump table */
        memcpy(dst, src, 8);
        return;
    }
    switch (n) {
    case 0:
        return;
    case 1:
        memcpy(dst, src, 1);
        return;
    case 2:
        memcpy(dst, src, 2);
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, n);
    }
}

static inline void elem_zero(void *dst, size_t n) {
    if (!dst)
        return;
    switch (n) {
    case 0:
        return;
    case 8:
        memset(dst, 0, 8);
        return;
    default:
        memset(dst, 0, n);
    }
}

/* Append the value at ep to c's buffer, which has room (c locked). */
static inline __attribute__((always_inline)) void buf_put(goc_chan *c, const void *ep) {
    elem_copy(chanbuf(c, c->sendx), ep, c->elemsize);
    grace_release(chanbuf(c, c->sendx));
    if (++c->sendx == c->dataqsiz)
        c->sendx = 0;
    c->qcount++;
    chan_assert(c);
}

/* Take the buffer's oldest value into ep; the buffer is not empty (c
 * locked). */
static inline __attribute__((always_inline)) void buf_take(goc_chan *c, void *ep) {
    void *qp = chanbuf(c, c->recvx);
    grace_acquire(qp);
    elem_copy(ep, qp, c->elemsize);
    if (++c->recvx == c->dataqsiz)
        c->recvx = 0;
    c->qcount--;
    chan_assert(c);
}

/* ---- make / refcount ---- */

goc_chan *goc_chan_make(size_t elem_size, size_t cap) {
    if (elem_size > MAX_CHAN_BYTES || cap > MAX_CHAN_BYTES ||
        (elem_size && cap > MAX_CHAN_BYTES / elem_size)) {
        errno = EINVAL;
        return NULL;
    }
    size_t bytes = sizeof(goc_chan) + elem_size * cap;
    goc_chan *c = gfail_hit(GFAIL_ALLOC) ? NULL : calloc(1, bytes);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    glock_init(&c->lock, LR_HCHAN);
    c->bubble = gsched_bubble_id(); /* a channel made in a bubble belongs to it */
    c->dataqsiz = cap;
    c->elemsize = elem_size;
    atomic_init(&c->refs, 1);
    return c;
}

goc_chan *goc_chan_retain(goc_chan *c) {
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void goc_chan_release(goc_chan *c) {
    if (!c)
        return;
    long r = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    if (r > 1)
        return;
    if (r < 1)
        goc_panic("goc_chan_release: channel released more times than retained");
    glock_lock(&c->lock);
    chan_assert(c);
    bool busy = c->recvq.first || c->sendq.first;
    glock_unlock(&c->lock);
    if (busy)
        goc_panic("goc_chan_release: channel freed while goroutines are blocked on it");
    if (c->onlast)
        c->onlast(c->onlast_arg);
    free(c);
}

void gchan_hide_buffer(goc_chan *c) { c->hidebuf = true; }

void gchan_on_last_release(goc_chan *c, void (*fn)(void *arg), void *arg) {
    c->onlast = fn;
    c->onlast_arg = arg;
}

size_t gchan_buffered(goc_chan *c) {
    if (!c)
        return 0;
    glock_lock(&c->lock);
    chan_assert(c);
    size_t n = c->qcount;
    glock_unlock(&c->lock);
    return n;
}

size_t goc_chan_len(goc_chan *c) {
    if (!c || c->hidebuf)
        return 0;
    glock_lock(&c->lock);
    size_t n = c->qcount;
    glock_unlock(&c->lock);
    return n;
}

size_t goc_chan_cap(goc_chan *c) { return c && !c->hidebuf ? c->dataqsiz : 0; }

size_t gchan_elemsize(const goc_chan *c) { return c->elemsize; }

/* ---- send / recv ---- */

static bool unlock_chan(g *gp, void *arg) {
    (void)gp;
    glock_unlock(&((goc_chan *)arg)->lock);
    return true;
}

/* The value has moved: mark sg's wait a success, unlock c and ready its
 * goroutine (c locked; unlocks it). */
static inline __attribute__((always_inline)) void wake_direct(goc_chan *c, sudog *sg) {
    g *gp = sg->g;
    G_STORE(gp->param, sg);
    sg->success = true;
    GOC_ASSERT(!sg->link.next && !sg->link.prev); /* dequeued before readied */
    chan_assert(c);
    glock_unlock(&c->lock);
    goready(gp);
}

/* Hand ep to the parked receiver sg (c locked; unlocks it). */
static void send_direct(goc_chan *c, sudog *sg, const void *ep) {
    if (c->dataqsiz > 0) {
        /* Buffered channel with a waiting receiver: the buffer is empty. */
        c->recvx = (c->recvx + 1) % c->dataqsiz;
        c->sendx = c->recvx;
    }
    elem_copy(sg->elem, ep, c->elemsize);
    grace_release(sg);
    wake_direct(c, sg);
}

/* Take a value from the parked sender sg into ep (c locked; unlocks it). */
static void recv_direct(goc_chan *c, sudog *sg, void *ep) {
    if (c->dataqsiz == 0) {
        elem_copy(ep, sg->elem, c->elemsize);
    } else {
        /* Full buffer: take the head, put the sender's value at the tail. */
        void *qp = chanbuf(c, c->recvx);
        elem_copy(ep, qp, c->elemsize);
        elem_copy(qp, sg->elem, c->elemsize);
        c->recvx = (c->recvx + 1) % c->dataqsiz;
        c->sendx = c->recvx;
    }
    grace_acquire(sg);
    wake_direct(c, sg);
}

/* synctest: a channel of a bubble is usable only from inside it (Go's
 * fatal errors, panics here), and a wait on it is durable. The fast path
 * outside bubbles is the test of c->bubble, on the line of c->lock. */
static _Noreturn __attribute__((cold, noinline)) void bubble_misuse(const char *op) {
    goc_panic("%s synctest channel from outside bubble", op);
}

static inline void bubble_check(goc_chan *c, const char *op) {
    if (GOC_UNLIKELY(c->bubble != 0) && gsched_bubble_id() != c->bubble)
        bubble_misuse(op);
}

static _Noreturn void block_forever(enum waitreason r) {
    for (;;)
        gopark(NULL, NULL, r);
}

/* The rest of a send, c locked (the fast path of goc_chan_send did not
 * apply). */
static inline __attribute__((always_inline)) void chansend_locked(goc_chan *c, const void *ep) {
    if (c->closed) {
        glock_unlock(&c->lock);
        goc_panic("send on closed channel");
    }
    sudog *sg = dequeue(c, &c->recvq);
    if (sg) {
        send_direct(c, sg, ep);
        return;
    }
    if (c->qcount < c->dataqsiz) {
        buf_put(c, ep);
        glock_unlock(&c->lock);
        return;
    }
    /* Read before the park: once queued, c may go as soon as we are woken. */
    enum waitreason reason = c->bubble ? WAIT_SYNCTEST_CHAN_SEND : WAIT_CHAN_SEND;
    g *gp = getg();
    sudog my = {0};
    my.g = gp;
    my.elem = (void *)ep;
    my.c = c;
    G_STORE(gp->param, NULL);
    enqueue(c, &c->sendq, &my);
    chan_assert(c);
    glock_race_release(&c->lock);
    gopark(unlock_chan, c, reason);
    GOC_ASSERT(!my.link.next && !my.link.prev); /* the waker dequeued us */
    if (!my.success)
        goc_panic("send on closed channel");
}

/* goc_chan_send is a dispatcher without a frame of its own: an unbuffered
 * channel (and nil) takes the whole send below, where a send always meets a
 * receiver or parks; a buffered one first tries the fast path, a value into
 * a buffer with room, which then costs no more than the lock. */
static __attribute__((noinline)) void chansend(goc_chan *c, const void *ep) {
    gsched_preempt_check();
    if (!c)
        block_forever(WAIT_CHAN_SEND_NIL);
    bubble_check(c, "send on");
    glock_lock(&c->lock);
    chan_assert(c);
    chansend_locked(c, ep);
}

static __attribute__((noinline)) void chansend_buffered_slow(goc_chan *c, const void *ep) {
    chansend_locked(c, ep);
}

static __attribute__((noinline)) void chansend_buffered(goc_chan *c, const void *ep) {
    gsched_preempt_check();
    bubble_check(c, "send on");
    glock_lock(&c->lock);
    chan_assert(c);
    /* Room in the buffer and no receiver waiting (with one, the buffer is
     * empty and the value goes to it directly). */
    if (GOC_LIKELY(c->qcount < c->dataqsiz) && !c->closed && !c->recvq.first) {
        buf_put(c, ep);
        glock_unlock(&c->lock);
        return;
    }
    chansend_buffered_slow(c, ep);
}

void goc_chan_send(goc_chan *c, const void *ep) {
    if (c && c->dataqsiz != 0) /* immutable */
        chansend_buffered(c, ep);
    else
        chansend(c, ep);
}

/* The rest of a receive, c locked (the fast path of goc_chan_recv did not
 * apply). */
static inline __attribute__((always_inline)) bool chanrecv_locked(goc_chan *c, void *ep) {
    if (c->closed && c->qcount == 0) {
        /* Zero ep before unlocking: once the lock is released another
         * goroutine that synchronised with us may free c. */
        elem_zero(ep, c->elemsize);
        glock_unlock(&c->lock);
        return false;
    }
    sudog *sg = dequeue(c, &c->sendq);
    if (sg) {
        recv_direct(c, sg, ep);
        return true;
    }
    if (c->qcount > 0) {
        buf_take(c, ep);
        glock_unlock(&c->lock);
        return true;
    }
    /* Read before the park: once queued, c may go as soon as we are woken. */
    enum waitreason reason = c->bubble ? WAIT_SYNCTEST_CHAN_RECEIVE : WAIT_CHAN_RECEIVE;
    g *gp = getg();
    sudog my = {0};
    my.g = gp;
    my.elem = ep;
    my.c = c;
    G_STORE(gp->param, NULL);
    enqueue(c, &c->recvq, &my);
    chan_assert(c);
    glock_race_release(&c->lock);
    gopark(unlock_chan, c, reason);
    GOC_ASSERT(!my.link.next && !my.link.prev); /* the waker dequeued us */
    if (my.success)
        grace_acquire(&my);
    return my.success;
}

/* As for sends: a frameless dispatcher, the whole receive, and the
 * buffered fast path, a value from a buffer with no sender waiting. */
static __attribute__((noinline)) bool chanrecv(goc_chan *c, void *ep) {
    gsched_preempt_check();
    if (!c)
        block_forever(WAIT_CHAN_RECEIVE_NIL);
    bubble_check(c, "receive on");
    glock_lock(&c->lock);
    chan_assert(c);
    return chanrecv_locked(c, ep);
}

static __attribute__((noinline)) bool chanrecv_buffered_slow(goc_chan *c, void *ep) {
    return chanrecv_locked(c, ep);
}

static __attribute__((noinline)) bool chanrecv_buffered(goc_chan *c, void *ep) {
    gsched_preempt_check();
    bubble_check(c, "receive on");
    glock_lock(&c->lock);
    chan_assert(c);
    /* With a sender waiting, the buffer is full and the sender's value must
     * move into it. Closed or not: buffered values are received before a
     * close shows. */
    if (GOC_LIKELY(c->qcount > 0) && !c->sendq.first) {
        buf_take(c, ep);
        glock_unlock(&c->lock);
        return true;
    }
    return chanrecv_buffered_slow(c, ep);
}

bool goc_chan_recv(goc_chan *c, void *ep) {
    if (c && c->dataqsiz != 0) /* immutable */
        return chanrecv_buffered(c, ep);
    return chanrecv(c, ep);
}

void goc_chan_close(goc_chan *c) {
    if (!c)
        goc_panic("close of nil channel");
    bubble_check(c, "close of");
    glock_lock(&c->lock);
    chan_assert(c);
    if (c->closed) {
        glock_unlock(&c->lock);
        goc_panic("close of closed channel");
    }
    c->closed = true;
    grace_release(c);
    sudog *wake = NULL, *s;
    while ((s = dequeue(c, &c->recvq))) {
        elem_zero(s->elem, c->elemsize);
        s->success = false;
        G_STORE(s->g->param, s);
        s->waitlink = wake;
        wake = s;
    }
    while ((s = dequeue(c, &c->sendq))) {
        s->success = false;
        G_STORE(s->g->param, s);
        s->waitlink = wake;
        wake = s;
    }
    chan_assert(c); /* closed: no live waiter left */
    glock_unlock(&c->lock);
    while (wake) {
        s = wake;
        wake = s->waitlink; /* read before goready: s dies with its waiter */
        goready(s->g);
    }
}

/* ---- select ---- */

/* Lock every distinct channel of order (sorted) but skip (NULL: none).
 * Returns whether some channel appears more than once. */
static bool sellock_except(goc_chan **order, size_t n, goc_chan *skip) {
    goc_chan *last = NULL;
    bool dup = false;
    for (size_t i = 0; i < n; i++) {
        if (order[i] != last) {
            last = order[i];
            if (last != skip)
                glock_lock(&last->lock);
        } else {
            dup = true;
        }
    }
    return dup;
}

static bool sellock(goc_chan **order, size_t n) { return sellock_except(order, n, NULL); }

/* Unlock in reverse each distinct channel once, but skip (NULL: none; a
 * direct handoff releases its channel's lock itself). */
static void selunlock_except(goc_chan **order, size_t n, goc_chan *skip) {
    for (size_t i = n; i-- > 0;) {
        if (i > 0 && order[i] == order[i - 1])
            continue;
        if (order[i] != skip)
            glock_unlock(&order[i]->lock);
    }
}

static void selunlock(goc_chan **order, size_t n) { selunlock_except(order, n, NULL); }

struct selpark {
    goc_chan **order;
    size_t n;
};

static bool selparkcommit(g *gp, void *arg) {
    (void)gp;
    struct selpark *sp = arg;
    selunlock(sp->order, sp->n);
    return true;
}

enum { SELECT_STACK_CASES = 16 };

static int cmp_chan(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (goc_chan *const *)a, y = (uintptr_t) * (goc_chan *const *)b;
    return x < y ? -1 : x > y;
}

#ifndef GOC_RACE
/* Does cs look ready now? Racy reads of fields written under c's lock (see
 * pass 0 in selectgo): a hint, decided again under the lock. */
static inline bool selcase_looks_ready(const goc_case *cs) {
    const goc_chan *c = cs->ch;
    if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED))
        return true;
    if (cs->dir == GOC_CASE_SEND)
        return __atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED) != NULL ||
               __atomic_load_n(&c->qcount, __ATOMIC_RELAXED) < c->dataqsiz;
    return __atomic_load_n(&c->sendq.first, __ATOMIC_RELAXED) != NULL ||
           __atomic_load_n(&c->qcount, __ATOMIC_RELAXED) > 0;
}
#endif

/* Sort the lock order by address. A select has a handful of cases: an
 * insertion sort is a few compares (qsort costs ~170 instructions for two
 * pointers, through its indirect comparator); large selects keep qsort. */
static void sort_lockorder(goc_chan **a, size_t n) {
    if (n > SELECT_STACK_CASES) {
        qsort(a, n, sizeof *a, cmp_chan);
    } else {
        for (size_t i = 1; i < n; i++) {
            goc_chan *c = a[i];
            size_t j = i;
            for (; j > 0 && (uintptr_t)a[j - 1] > (uintptr_t)c; j--)
                a[j] = a[j - 1];
            a[j] = c;
        }
    }
#ifdef GOC_DEBUG
    for (size_t i = 1; i < n; i++)
        GOC_ASSERT((uintptr_t)a[i - 1] <= (uintptr_t)a[i]);
#endif
}

/* The scratch of a select over more than SELECT_STACK_CASES cases; a call
 * to free(NULL) is not free on the hot path. */
static inline void selfree(void *heap) {
    if (__builtin_expect(heap != NULL, 0))
        free(heap);
}

static int selectgo(goc_case *cases, size_t ncases, bool block) {
    if (ncases > (size_t)INT32_MAX)
        goc_panic("goc_select: too many cases");
    /* Scratch space: the poll order, the lock order, one sudog per case. */
    uint32_t pollbuf[SELECT_STACK_CASES];
    goc_chan *lockbuf[SELECT_STACK_CASES];
    sudog sgbuf[SELECT_STACK_CASES];
    uint32_t *pollorder = pollbuf;
    goc_chan **lockorder = lockbuf;
    sudog *sgs = sgbuf;
    void *heap = NULL;
    if (ncases > SELECT_STACK_CASES) {
        heap = malloc(ncases * (sizeof(uint32_t) + sizeof(goc_chan *) + sizeof(sudog)) + 16);
        if (!heap)
            return -ENOMEM; /* out of memory is an error, never a panic */
        sgs = heap;
        lockorder = (goc_chan **)(sgs + ncases);
        pollorder = (uint32_t *)(lockorder + ncases);
    }

    /* Random poll order over usable cases (an inside-out Fisher-Yates);
     * nil channels never fire. One 32-bit random number serves several
     * draws: j = (r * n) >> 32 is Lemire's multiply-shift reduction, and
     * the low half r * n mod 2^32 is again (nearly) uniform, good for
     * further draws while the product of the ranges stays <= 2^16, so the
     * bias stays below 2^-16 per draw (Go's cheaprandn is biased by
     * n / 2^32). The first case needs no draw at all; a two-case select
     * costs one gfastrand call instead of two. */
    size_t npoll = 0;
    bool allbubbled = true;       /* every channel is of the caller's bubble */
    uint64_t rnd = 0, budget = 0; /* rnd: 32 random bits; budget: ranges used */
    for (size_t i = 0; i < ncases; i++) {
        if (!cases[i].ch)
            continue;
        if (cases[i].dir != GOC_CASE_SEND && cases[i].dir != GOC_CASE_RECV)
            goc_panic("goc_select: case %zu has no direction (use GOC_SEND or GOC_RECV)", i);
        if (GOC_UNLIKELY(cases[i].ch->bubble != 0)) {
            if (gsched_bubble_id() != cases[i].ch->bubble) {
                free(heap);
                bubble_misuse("select on");
            }
        } else {
            allbubbled = false;
        }
        uint32_t j = 0;
        if (npoll > 0) {
            uint64_t range = (uint64_t)npoll + 1;
            if (budget == 0 || budget * range > (1u << 16)) {
                rnd = gfastrand();
                budget = 1;
            }
            rnd *= range;
            j = (uint32_t)(rnd >> 32);
            rnd &= 0xffffffffu;
            budget *= range;
            GOC_ASSERT(j <= npoll);
        }
        pollorder[npoll] = pollorder[j];
        pollorder[j] = (uint32_t)i;
        npoll++;
    }
    if (npoll == 0) {
        selfree(heap);
        if (!block)
            return -1;
        block_forever(WAIT_SELECT_NO_CASES);
    }
    /* Pass 0: a case that looks ready, in poll order, is tried under its
     * own channel's lock alone (one locked instruction instead of one per
     * channel); if it is not ready after all, pass 1 runs over every case
     * as usual. The look is racy on purpose, as Go's non-blocking fast
     * paths are (chan.go's empty() and full()): its answer only chooses
     * which lock to take first, and the case is decided under that lock.
     * Not in the race build: ThreadSanitizer would report the racy reads
     * against the locked writes. */
    uint32_t *po = pollorder;
    goc_chan **lo = lockorder;
    size_t np = npoll;
#ifndef GOC_RACE
    uint32_t candi;
    goc_chan *candc;
    if (npoll > 1) {
        for (size_t k = 0; k < npoll; k++) {
            if (selcase_looks_ready(&cases[pollorder[k]])) {
                candi = pollorder[k];
                candc = cases[candi].ch;
                po = &candi;
                lo = &candc;
                np = 1;
                break;
            }
        }
    }
#endif
    int casi;
    bool recvok, dupchans;
retry:
    if (lo == lockorder) {
        for (size_t i = 0; i < npoll; i++)
            lockorder[i] = cases[pollorder[i]].ch;
        sort_lockorder(lockorder, npoll);
    }
    dupchans = sellock(lo, np);

    /* Pass 1: anything ready? */
    casi = -1;
    recvok = false;
    for (size_t k = 0; k < np; k++) {
        uint32_t i = po[k];
        goc_case *cs = &cases[i];
        goc_chan *c = cs->ch;
        sudog *sg;
        chan_assert(c);
        if (cs->dir == GOC_CASE_SEND) {
            if (c->closed) {
                selunlock(lo, np);
                selfree(heap);
                goc_panic("send on closed channel");
            }
            if ((sg = dequeue(c, &c->recvq))) {
                /* send_direct unlocks c: unlock the others first. */
                casi = (int)i;
                selunlock_except(lo, np, c);
                send_direct(c, sg, cs->elem);
                selfree(heap);
                return casi;
            }
            if (c->qcount < c->dataqsiz) {
                buf_put(c, cs->elem);
                casi = (int)i;
                break;
            }
        } else {
            if ((sg = dequeue(c, &c->sendq))) {
                casi = (int)i;
                selunlock_except(lo, np, c);
                recv_direct(c, sg, cs->elem);
                if (cs->ok)
                    *cs->ok = true;
                selfree(heap);
                return casi;
            }
            if (c->qcount > 0) {
                buf_take(c, cs->elem);
                casi = (int)i;
                recvok = true;
                break;
            }
            if (c->closed) {
                elem_zero(cs->elem, c->elemsize);
                casi = (int)i;
                recvok = false;
                break;
            }
        }
    }
    if (casi >= 0) {
        selunlock(lo, np);
        if (cases[casi].dir == GOC_CASE_RECV && cases[casi].ok)
            *cases[casi].ok = recvok;
        selfree(heap);
        return casi;
    }
    if (po != pollorder) {
        /* The case that looked ready is not: look at them all. */
        selunlock(lo, np);
        po = pollorder;
        lo = lockorder;
        np = npoll;
        goto retry;
    }
    if (!block) {
        selunlock(lo, np);
        selfree(heap);
        return -1;
    }

    /* Pass 2: queue a sudog on every channel and park. */
    g *gp = getg();
    /* Relaxed: every channel of the select is locked, and a waker reads
     * selectdone only under one of those locks, after our unlock; no waker
     * of an earlier select is left (its sudogs were all removed). A
     * seq_cst store would be a locked exchange per parked select. */
    atomic_store_explicit(&gp->selectdone, 0, memory_order_relaxed);
    G_STORE(gp->param, NULL);
    sudog *waiting = NULL, **link = &waiting;
    for (size_t k = 0; k < npoll; k++) {
        uint32_t i = pollorder[k];
        goc_case *cs = &cases[i];
        sudog *sg = &sgs[k];
        memset(sg, 0, sizeof *sg);
        sg->g = gp;
        sg->isselect = true;
        sg->elem = cs->elem;
        sg->c = cs->ch;
        sg->casei = (int16_t)(i < INT16_MAX ? i : INT16_MAX);
        sg->ticket = i; /* the full case index */
        *link = sg;
        link = &sg->waitlink;
        enqueue(cs->ch, cs->dir == GOC_CASE_SEND ? &cs->ch->sendq : &cs->ch->recvq, sg);
    }
    G_STORE(gp->waiting, waiting);
    struct selpark sp = {lockorder, npoll};
    for (size_t k = 0; k < npoll; k++)
        glock_race_release(&lockorder[k]->lock);
    gopark(selparkcommit, &sp, allbubbled ? WAIT_SYNCTEST_SELECT : WAIT_SELECT);

    /* Woken: the winner is in gp->param. Remove the other sudogs, under
     * their channels' locks. The winner's channel is not relocked when no
     * other case uses it (Go's pass 3 relocks all): its waker dequeued our
     * sudog there and goready orders its writes before our run, as for a
     * plain parked receive; a locked CAS less per woken select. */
    sudog *won = G_LOAD(gp->param);
    GOC_CHECK(won != NULL);
    goc_chan *skip = won->c;
    if (GOC_UNLIKELY(dupchans)) {
        size_t uses = 0;
        for (size_t k = 0; k < npoll; k++)
            uses += lockorder[k] == skip;
        if (uses > 1)
            skip = NULL;
    }
    sellock_except(lockorder, npoll, skip);
    G_STORE(gp->param, NULL);
    G_STORE(gp->waiting, NULL);
    GOC_ASSERT(won >= sgs && won < sgs + npoll && won->g == gp);
    GOC_ASSERT(!won->link.next && !won->link.prev); /* the waker dequeued it */
    GOC_ASSERT(atomic_load(&gp->selectdone) == 1);
    for (size_t k = 0; k < npoll; k++) {
        sudog *sg = &sgs[k];
        if (sg == won)
            continue;
        goc_case *cs = &cases[sg->ticket];
        remove_sudog(cs->ch, cs->dir == GOC_CASE_SEND ? &cs->ch->sendq : &cs->ch->recvq, sg);
        GOC_ASSERT(!sg->link.next && !sg->link.prev);
    }
#ifdef GOC_DEBUG
    for (size_t k = 0; k < npoll; k++)
        if (lockorder[k] != skip)
            chan_assert(lockorder[k]);
#endif
    selunlock_except(lockorder, npoll, skip);
    casi = (int)won->ticket;
    bool success = won->success;
    selfree(heap);
    if (cases[casi].dir == GOC_CASE_SEND) {
        if (!success)
            goc_panic("send on closed channel");
    } else {
        if (success)
            grace_acquire(won);
        if (cases[casi].ok)
            *cases[casi].ok = success;
    }
    return casi;
}

int goc_select(goc_case *cases, size_t n) {
    gsched_preempt_check();
    return selectgo(cases, n, true);
}

/* Not a preemption point: it never blocks, and the runtime itself calls it
 * holding locks of its own (timers deliver and drain under theirs). */
int goc_select_try(goc_case *cases, size_t n) { return selectgo(cases, n, false); }
