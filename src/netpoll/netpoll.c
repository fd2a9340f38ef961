/* netpoll/netpoll.c — goroutines waiting for file descriptors (Go's
 * netpoll.go, on the backend contract of backend.h).
 *
 * A goroutine that gets EAGAIN from a non-blocking system call waits on the
 * fd's poll descriptor; the poller readies it when the kernel reports the
 * fd ready, and it tries the call again. The poller is not a thread of its
 * own: it is a scheduler driver (gsched_driver.poll). An M about to steal
 * polls without blocking first; the last M to go idle blocks in the poll;
 * sysmon polls when nobody has for 10 ms. So a goroutine per connection
 * costs one parked goroutine, and an idle server no thread at all beyond
 * the one M asleep in epoll_wait.
 *
 * Data structures
 *   table: a two-level array of gpolldesc indexed by fd number; chunks are
 *   allocated on first use and never freed, so a descriptor's address is
 *   stable and lookups take no lock. A descriptor serves one fd number for
 *   the life of the process: goc_close bumps its seq, and events or waits
 *   that carry an older seq are for a file that no longer exists.
 *   gpolldesc: per direction, a list of waiters (gpollwaiter, on the
 *   waiters' stacks) and a `ready` bit for an edge that arrived while
 *   nobody waited. Waking wakes every waiter of that direction: each retries
 *   its system call, and those that get EAGAIN wait again (several readers
 *   of one fd are rare, and this is always correct with edge triggering).
 *   nwaiters: goroutines waiting on any descriptor (the driver's waiting()
 *   and pending(): while > 0 the deadlock detector stays quiet, since the
 *   outside world may still wake them). Operations in flight on the
 *   io_uring ring (uring.c) count as waiters too: the ring's completion
 *   eventfd is one more fd in the same epoll set (key GURING_KEY), and a
 *   poll that sees it reaps the ring into the same list of readied gs.
 *
 * Invariants
 *   - A waiter is on a descriptor's list iff w->queued, and then its g is
 *     parked (or about to park: the lock is released by gopark's unlockf).
 *   - nwaiters == the number of queued waiters over all descriptors.
 *   - pd->ready has a bit only while no waiter of that direction is queued.
 *   - An fd of kind GPOLL_POLLED is registered with the backend under key
 *     (fd << 32 | seq) for the current seq.
 *   - A system call on fd by the I/O calls runs between gnetpoll_ref and
 *     gnetpoll_unref (pd->inflight), for the seq its call opened; close(2)
 *     of fd happens only after the seq is bumped and inflight is 0.
 *
 * Lock order (base/lockrank.h): polldesc.lock < uring.lock < hchan.lock
 * < sched.lock
 * (waking a waiter may queue it under sched.lock); netpoll.tablelock is a
 * leaf taken only to allocate a chunk.
 *
 * Rejected: a poller thread of its own (a futex round trip between it and
 * the Ms for every event; Go dropped that design in 1.1); one-shot
 * registration re-armed per wait (an epoll_ctl per wait); a reader per fd
 * as Go serializes with fdMutex (goc's callers may share fds between
 * goroutines; waking all waiters keeps that correct without a second lock).
 */
#define _GNU_SOURCE
#include "netpoll/netpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/failpoint.h"
#include "netpoll/backend.h"
#include "netpoll/uring.h"

enum { CHUNK = 1024, NCHUNKS = 4096 }; /* fds below 4M */

static gpolldesc *_Atomic table[NCHUNKS]; /* chunks: written once under tablelock */
static glock tablelock = GLOCK_INIT(LR_NETPOLLTAB);
static _Atomic int32_t nwaiters;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err; /* written once in np_init */

static g *np_poll(int64_t until);
static void np_wake(void) { gpoll_backend_break(); }
static int32_t np_waiting(void) {
    return atomic_load_explicit(&nwaiters, memory_order_relaxed) + guring_inflight();
}
static int32_t np_pending(void) { return atomic_load(&nwaiters) + guring_inflight(); }

static const gsched_driver np_driver = {
    .name = "netpoll",
    .pending = np_pending,
    .poll = np_poll,
    .wake = np_wake,
    .waiting = np_waiting,
};

static void np_init(void) {
    init_err = gsched_init();
    if (init_err == 0)
        init_err = gpoll_backend_init();
    if (init_err == 0)
        gsched_register_driver(&np_driver);
}

static gpolldesc *lookup(int fd, bool create) {
    if (fd < 0 || fd >= CHUNK * NCHUNKS)
        return NULL;
    gpolldesc *chunk = atomic_load_explicit(&table[fd / CHUNK], memory_order_acquire);
    if (!chunk && create) {
        glock_lock(&tablelock);
        chunk = atomic_load_explicit(&table[fd / CHUNK], memory_order_relaxed);
        if (!chunk && !gfail_hit(GFAIL_ALLOC)) {
            chunk = calloc(CHUNK, sizeof *chunk);
            if (chunk) {
                for (int i = 0; i < CHUNK; i++) {
                    glock_init(&chunk[i].lock, LR_POLLDESC);
                    chunk[i].fd = fd / CHUNK * CHUNK + i;
                }
                atomic_store_explicit(&table[fd / CHUNK], chunk, memory_order_release);
            }
        }
        glock_unlock(&tablelock);
    }
    return chunk ? &chunk[fd % CHUNK] : NULL;
}

static uint64_t key_of(const gpolldesc *pd) { return (uint64_t)(uint32_t)pd->fd << 32 | pd->seq; }

int gnetpoll_init(void) {
    pthread_once(&init_once, np_init);
    return init_err;
}

gpolldesc *gnetpoll_open(int fd, uint32_t *seq, int *err) {
    int ierr = gnetpoll_init();
    if (ierr) {
        *err = ierr;
        return NULL;
    }
    if (fd < 0) {
        *err = -EBADF;
        return NULL;
    }
    gpolldesc *pd = lookup(fd, true);
    if (!pd) {
        *err = fd >= CHUNK * NCHUNKS ? -EBADF : -ENOMEM;
        return NULL;
    }
    glock_lock(&pd->lock);
    if (pd->kind == GPOLL_UNKNOWN) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0) {
            glock_unlock(&pd->lock);
            *err = -errno;
            return NULL;
        }
        int rc = gpoll_backend_open(fd, key_of(pd));
        if (rc == -EPERM) {
            pd->kind = GPOLL_FILE; /* regular files are always "ready" */
        } else if (rc != 0) {
            glock_unlock(&pd->lock);
            *err = rc;
            return NULL;
        } else {
            if (!(fl & O_NONBLOCK))
                fcntl(fd, F_SETFL, fl | O_NONBLOCK);
            pd->kind = GPOLL_POLLED;
            pd->ready = 0;
        }
    }
    *seq = pd->seq;
    glock_unlock(&pd->lock);
    return pd;
}

void gnetpoll_waiter_init(gpollwaiter *w, int mode) {
    w->node.next = w->node.prev = NULL;
    w->g = NULL;
    w->mode = mode;
    w->result = 0;
    w->queued = false;
    w->cancel = 0;
    w->partner = NULL;
}

static bool unlock_pd(g *gp, void *arg) {
    (void)gp;
    glock_unlock(arg);
    return true;
}

static int dir(int mode) { return mode == GNETPOLL_WRITE; }

static void enqueue_locked(gpolldesc *pd, gpollwaiter *w) {
    w->g = getg();
    w->queued = true;
    glist_push_back(&pd->waiters[dir(w->mode)], &w->node);
    atomic_fetch_add(&nwaiters, 1);
}

/* Wait with ws[0..n) (n is 1, or 2 for both directions). */
static int wait_waiters(gpolldesc *pd, uint32_t seq, gpollwaiter **ws, int n) {
    glock_lock(&pd->lock);
    for (int i = 0; i < n; i++) {
        GOC_ASSERT(ws[i]->mode == GNETPOLL_READ || ws[i]->mode == GNETPOLL_WRITE);
        if (ws[i]->cancel) {
            int err = ws[i]->cancel;
            glock_unlock(&pd->lock);
            return err;
        }
    }
    if (pd->seq != seq) {
        glock_unlock(&pd->lock);
        return -EBADF;
    }
    for (int i = 0; i < n; i++) {
        if (pd->ready & ws[i]->mode) {
            pd->ready &= (uint8_t)~ws[i]->mode;
            glock_unlock(&pd->lock);
            return 0;
        }
    }
    for (int i = 0; i < n; i++)
        enqueue_locked(pd, ws[i]);
    gsched_poller_needed();
    glock_race_release(&pd->lock);
    gopark(unlock_pd, &pd->lock, WAIT_IO);
    for (int i = 0; i < n; i++)
        GOC_ASSERT(!ws[i]->queued);
    int r = ws[0]->result;
    return r ? r : n > 1 ? ws[1]->result : 0;
}

int gnetpoll_wait(gpolldesc *pd, uint32_t seq, gpollwaiter *w) {
    return wait_waiters(pd, seq, &w, 1);
}

int gnetpoll_wait_either(gpolldesc *pd, uint32_t seq, gpollwaiter *r, gpollwaiter *w) {
    r->partner = w;
    w->partner = r;
    gpollwaiter *ws[2] = {r, w};
    return wait_waiters(pd, seq, ws, 2);
}

/* Take w off its list and wake it with result r (pd->lock held). The g
 * goes to *list when the caller collects them (the poll driver), else it
 * is readied at once. */
static void wake_locked(gpolldesc *pd, gpollwaiter *w, int r, g **list) {
    glock_assert_held(&pd->lock);
    glist_remove(&pd->waiters[dir(w->mode)], &w->node);
    w->queued = false;
    w->result = r;
    int32_t left = 1;
    gpollwaiter *o = w->partner;
    if (o && o->queued) { /* one goroutine, two waiters: wake it once */
        glist_remove(&pd->waiters[dir(o->mode)], &o->node);
        o->queued = false;
        o->result = r;
        left = 2;
    }
    g *gp = w->g;
    if (atomic_fetch_sub(&nwaiters, left) == left && gsched_poller_blocked())
        gpoll_backend_break(); /* the blocked poller has nothing left to wait for */
    if (list && !gp->thread_g) {
        grace_release(gp); /* goready's edge (sched/race.h): the list is readied in bulk */
        G_STORE(gp->schedlink, *list);
        *list = gp;
    } else {
        goready(gp);
    }
}

void gnetpoll_cancel(gpolldesc *pd, gpollwaiter *w, int err) {
    glock_lock(&pd->lock);
    if (w->queued)
        wake_locked(pd, w, err, NULL);
    else if (!w->cancel)
        w->cancel = err;
    if (w->partner && !w->partner->cancel)
        w->partner->cancel = err;
    glock_unlock(&pd->lock);
}

/* An edge for `mode` arrived on pd (lock held). */
static void ready_locked(gpolldesc *pd, int mode, g **list) {
    for (int d = 0; d < 2; d++) {
        int m = d ? GNETPOLL_WRITE : GNETPOLL_READ;
        if (!(mode & m))
            continue;
        glist *l = &pd->waiters[d];
        if (glist_empty(l)) {
            pd->ready |= (uint8_t)m;
            continue;
        }
        while (!glist_empty(l))
            wake_locked(pd, glist_entry(l->first, gpollwaiter, node), 0, list);
    }
}

static g *np_poll(int64_t until) {
    int64_t delay = 0;
    if (until == INT64_MAX)
        delay = -1;
    else if (until > 0)
        delay = until - gnanotime() > 0 ? until - gnanotime() : 0;
    gpoll_event ev[128];
    int n = gpoll_backend_poll(delay, ev, 128);
    g *list = NULL;
    for (int i = 0; i < n; i++) {
        if (ev[i].key == GURING_KEY) { /* file operations completed */
            list = guring_reap(list);
            continue;
        }
        int fd = (int)(ev[i].key >> 32);
        uint32_t seq = (uint32_t)ev[i].key;
        gpolldesc *pd = lookup(fd, false);
        if (!pd)
            continue;
        glock_lock(&pd->lock);
        if (pd->seq == seq && pd->kind == GPOLL_POLLED)
            ready_locked(pd, ev[i].mode, &list);
        glock_unlock(&pd->lock);
    }
    return list;
}

bool gnetpoll_ref(gpolldesc *pd, uint32_t seq) {
    /* A Dekker pair with gnetpoll_close (both sequentially consistent):
     * either this sees the new seq, or the closer sees inflight > 0. */
    atomic_fetch_add(&pd->inflight, 1);
    if (__atomic_load_n(&pd->seq, __ATOMIC_SEQ_CST) == seq)
        return true;
    atomic_fetch_sub(&pd->inflight, 1);
    return false;
}

void gnetpoll_unref(gpolldesc *pd) {
    atomic_fetch_sub_explicit(&pd->inflight, 1, memory_order_release);
}

int gnetpoll_close(int fd) {
    if (fd < 0)
        return -EBADF;
    gpolldesc *pd = lookup(fd, false);
    if (!pd)
        return close(fd) == 0 ? 0 : -errno;
    /* Under the lock for the whole close: a gnetpoll_open of this number
     * waits, then finds either a bad fd or the new file the kernel gave the
     * number to, never the file being closed. */
    glock_lock(&pd->lock);
    __atomic_store_n(&pd->seq, pd->seq + 1, __ATOMIC_SEQ_CST);
    bool polled = pd->kind == GPOLL_POLLED;
    pd->kind = GPOLL_UNKNOWN;
    pd->ready = 0;
    for (int d = 0; d < 2; d++)
        while (!glist_empty(&pd->waiters[d]))
            wake_locked(pd, glist_entry(pd->waiters[d].first, gpollwaiter, node), -EBADF, NULL);
    /* A goroutine woken (or just past gnetpoll_open) before the seq
     * changed may be inside a system call on fd: let it finish on this
     * file before the number can go to another. Such calls do not block
     * (the fd is non-blocking; regular files: one read or write), and
     * nothing they do after gnetpoll_unref needs this lock first. */
    for (int spins = 0; atomic_load(&pd->inflight) != 0; spins++) {
        if (spins < 100)
            sched_yield();
        else
            usleep(50);
    }
    if (polled)
        gpoll_backend_close(fd);
    int rc = close(fd) == 0 ? 0 : -errno;
    glock_unlock(&pd->lock);
    return rc;
}
