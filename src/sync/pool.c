/* sync/pool.c — sync.Pool: per-processor caches of reusable items (Go's
 * pool.go, without the garbage collector's part).
 *
 * Data structures
 *   goc_pool (user memory): new_fn, free_fn (immutable after init) and impl,
 *   an atomic pointer to a struct pool_impl made on first use (CAS install;
 *   the loser frees its copy).
 *   pool_impl: local[nlocal], one atomic pointer per possible P id
 *     (nlocal = gsched_nprocs_max()), each to a struct pool_local made the
 *     first time a goroutine on that P touches the pool (CAS install again);
 *     nseen, one more than the highest P id that has a local (bounds the
 *     steal loop); and the overflow stash for plain threads (a small array
 *     under a glock).
 *   pool_local (64-byte aligned, one cache line for the owner's fields):
 *     priv   one item, touched only by goroutines running on the owning P;
 *            no lock: the goroutine pins its P (gsched_procpin, Go's
 *            procPin) around the access, so it is neither preempted nor
 *            moved, and no other goroutine runs on that P meanwhile.
 *     lock   a glock guarding the ring (head, ring[]) and writes of n.
 *     n      items in the ring; atomic so that stealers skip empty rings
 *            without taking their lock.
 *     ring   POOL_RING items: the owner pushes and pops at the newest end
 *            (cache-warm, as Go's popHead), stealers take the oldest.
 *
 * Get (goroutine on P i): priv of local i; else the newest of ring i; else
 *   the oldest of every other local's ring, starting after i; else the
 *   overflow stash; else new_fn(). Put: priv if empty; else ring i; else
 *   (ring full) free_fn(item). A plain thread (P id -1) uses the overflow
 *   stash for Put and the stash, then the rings, for Get.
 *
 * Invariants
 *   - Every item handed to Put is, from then on, in exactly one place: a
 *     priv slot, a ring, the stash, or freed with free_fn, or returned by
 *     exactly one Get. destroy frees what is cached.
 *   - priv of local i is only accessed by a goroutine that has P i pinned,
 *     or by destroy (no concurrent use).
 *   - new_fn and free_fn never run with the P pinned (they may block).
 *   - A local, once installed, stays until destroy; nseen only grows.
 *   - new_fn and free_fn never run under a pool lock (they may block).
 *
 * Lock order: each glock is taken alone and held for a few loads and
 *   stores; never two at once, never across a goroutine switch.
 *
 * Allocation failure (impl or a local): Get falls back to new_fn, Put to
 *   free_fn, for that call; a later call tries again.
 *
 * Rejected designs
 *   - Go's lock-free poolDequeue chain: unbounded growth (Go relies on the
 *     GC's pool cleanup to bound it; there is none here), and the owner's
 *     shared push/pop is already off the fast path (priv is first).
 *   - A global locked free list: every Get/Put would contend on one line.
 *   - One eager array of nprocs_max locals: 256 cache lines per pool even
 *     when two processors ever touch it.
 *   - Atomic exchange on priv (would let stealers take priv too, but costs
 *     a locked instruction on the fast path).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "base/failpoint.h"
#include "base/lock.h"
#include "sched/sched.h"

enum { POOL_RING = 16, POOL_OVERFLOW = 32 };

struct pool_local {
    void *_Atomic priv;    /* owner P only (see above) */
    glock lock;            /* guards head, ring, and writes of n */
    _Atomic uint32_t n;    /* items in ring; read without lock as a hint */
    uint32_t head;         /* ring index of the oldest item; lock */
    void *ring[POOL_RING]; /* lock */
} __attribute__((aligned(64)));

struct pool_impl {
    int nlocal;                         /* immutable: gsched_nprocs_max() */
    _Atomic int nseen;                  /* 1 + highest P id with a local; only grows */
    glock lock;                         /* guards noverflow and overflow */
    _Atomic uint32_t noverflow;         /* written under lock; read without as a hint */
    void *overflow[POOL_OVERFLOW];      /* lock; a stack */
    struct pool_local *_Atomic local[]; /* nlocal entries; CAS-installed */
};

void goc_pool_init(goc_pool *p, void *(*new_fn)(void), void (*free_fn)(void *)) {
    p->new_fn = new_fn;
    p->free_fn = free_fn;
    atomic_store_explicit(&p->impl, NULL, memory_order_relaxed);
}

static void *pool_new(goc_pool *p) { return p->new_fn ? p->new_fn() : NULL; }

static void pool_drop(goc_pool *p, void *item) {
    if (p->free_fn)
        p->free_fn(item);
}

static struct pool_impl *pool_impl(goc_pool *p) {
    struct pool_impl *im = atomic_load_explicit(&p->impl, memory_order_acquire);
    if (GOC_LIKELY(im != NULL))
        return im;
    if (gfail_hit(GFAIL_ALLOC))
        return NULL;
    int n = gsched_nprocs_max();
    im = calloc(1, sizeof *im + (size_t)n * sizeof im->local[0]);
    if (!im)
        return NULL;
    im->nlocal = n;
    glock_init(&im->lock, LR_POOL_OVERFLOW);
    void *want = NULL;
    if (atomic_compare_exchange_strong_explicit(&p->impl, &want, im, memory_order_acq_rel,
                                                memory_order_acquire))
        return im;
    free(im); /* lost the race: use the winner's */
    return want;
}

static struct pool_local *pool_local_of(struct pool_impl *im, int pid) {
    struct pool_local *l = atomic_load_explicit(&im->local[pid], memory_order_acquire);
    if (GOC_LIKELY(l != NULL))
        return l;
    if (gfail_hit(GFAIL_ALLOC))
        return NULL;
    l = aligned_alloc(_Alignof(struct pool_local), sizeof *l);
    if (!l)
        return NULL;
    memset(l, 0, sizeof *l);
    glock_init(&l->lock, LR_POOL);
    struct pool_local *want = NULL;
    if (!atomic_compare_exchange_strong_explicit(&im->local[pid], &want, l, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(l);
        return want;
    }
    int seen = atomic_load_explicit(&im->nseen, memory_order_relaxed);
    while (seen < pid + 1 &&
           !atomic_compare_exchange_weak_explicit(&im->nseen, &seen, pid + 1, memory_order_release,
                                                  memory_order_relaxed))
        ;
    return l;
}

/* Ring operations; l->lock held. */
static bool ring_push_newest(struct pool_local *l, void *item) {
    uint32_t n = atomic_load_explicit(&l->n, memory_order_relaxed);
    if (n == POOL_RING)
        return false;
    l->ring[(l->head + n) % POOL_RING] = item;
    atomic_store_explicit(&l->n, n + 1, memory_order_relaxed);
    return true;
}

static void *ring_pop_newest(struct pool_local *l) {
    uint32_t n = atomic_load_explicit(&l->n, memory_order_relaxed);
    if (n == 0)
        return NULL;
    void *item = l->ring[(l->head + n - 1) % POOL_RING];
    atomic_store_explicit(&l->n, n - 1, memory_order_relaxed);
    return item;
}

static void *ring_pop_oldest(struct pool_local *l) {
    uint32_t n = atomic_load_explicit(&l->n, memory_order_relaxed);
    if (n == 0)
        return NULL;
    void *item = l->ring[l->head];
    l->head = (l->head + 1) % POOL_RING;
    atomic_store_explicit(&l->n, n - 1, memory_order_relaxed);
    return item;
}

/* Take the oldest item of some other P's ring (skip = own id, or -1). */
static void *pool_steal(struct pool_impl *im, int skip) {
    int n = atomic_load_explicit(&im->nseen, memory_order_acquire);
    for (int k = 1; k <= n; k++) {
        int i = (skip + k) % n;
        if (i < 0)
            i += n;
        if (i == skip)
            continue;
        struct pool_local *l = atomic_load_explicit(&im->local[i], memory_order_acquire);
        if (!l || atomic_load_explicit(&l->n, memory_order_relaxed) == 0)
            continue;
        glock_lock(&l->lock);
        void *item = ring_pop_oldest(l);
        glock_unlock(&l->lock);
        if (item)
            return item;
    }
    return NULL;
}

static void *overflow_pop(struct pool_impl *im) {
    if (atomic_load_explicit(&im->noverflow, memory_order_relaxed) == 0)
        return NULL; /* hint only; rechecked under the lock */
    void *item = NULL;
    glock_lock(&im->lock);
    uint32_t n = atomic_load_explicit(&im->noverflow, memory_order_relaxed);
    if (n > 0) {
        item = im->overflow[n - 1];
        atomic_store_explicit(&im->noverflow, n - 1, memory_order_relaxed);
    }
    glock_unlock(&im->lock);
    return item;
}

static bool overflow_push(struct pool_impl *im, void *item) {
    bool ok = false;
    glock_lock(&im->lock);
    uint32_t n = atomic_load_explicit(&im->noverflow, memory_order_relaxed);
    if (n < POOL_OVERFLOW) {
        im->overflow[n] = item;
        atomic_store_explicit(&im->noverflow, n + 1, memory_order_relaxed);
        ok = true;
    }
    glock_unlock(&im->lock);
    return ok;
}

void *goc_pool_get(goc_pool *p) {
    struct pool_impl *im = pool_impl(p);
    if (GOC_UNLIKELY(!im))
        return pool_new(p);
    int pid = gsched_procpin();
    if (pid >= 0 && pid < im->nlocal) {
        struct pool_local *l = pool_local_of(im, pid);
        if (l) {
            void *item = atomic_load_explicit(&l->priv, memory_order_acquire);
            if (GOC_LIKELY(item != NULL)) {
                atomic_store_explicit(&l->priv, NULL, memory_order_relaxed);
                gsched_procunpin();
                return item;
            }
            if (atomic_load_explicit(&l->n, memory_order_relaxed) != 0) {
                glock_lock(&l->lock);
                item = ring_pop_newest(l);
                glock_unlock(&l->lock);
                if (item) {
                    gsched_procunpin();
                    return item;
                }
            }
        }
    } else {
        pid = -1;
    }
    gsched_procunpin();
    /* Unpinned from here: pid only says where to start stealing. */
    void *item = pool_steal(im, pid);
    if (!item)
        item = overflow_pop(im);
    return item ? item : pool_new(p);
}

void goc_pool_put(goc_pool *p, void *item) {
    if (!item)
        return;
    struct pool_impl *im = pool_impl(p);
    if (GOC_UNLIKELY(!im)) {
        pool_drop(p, item);
        return;
    }
    int pid = gsched_procpin();
    if (pid >= 0 && pid < im->nlocal) {
        struct pool_local *l = pool_local_of(im, pid);
        if (GOC_UNLIKELY(!l)) {
            gsched_procunpin();
            pool_drop(p, item);
            return;
        }
        if (GOC_LIKELY(atomic_load_explicit(&l->priv, memory_order_relaxed) == NULL)) {
            atomic_store_explicit(&l->priv, item, memory_order_release);
            gsched_procunpin();
            return;
        }
        glock_lock(&l->lock);
        bool kept = ring_push_newest(l, item);
        glock_unlock(&l->lock);
        gsched_procunpin();
        if (!kept)
            pool_drop(p, item);
        return;
    }
    gsched_procunpin();
    if (!overflow_push(im, item))
        pool_drop(p, item);
}

void goc_pool_destroy(goc_pool *p) {
    struct pool_impl *im = atomic_exchange_explicit(&p->impl, NULL, memory_order_acq_rel);
    if (!im)
        return;
    for (int i = 0; i < im->nlocal; i++) {
        struct pool_local *l = atomic_load_explicit(&im->local[i], memory_order_acquire);
        if (!l)
            continue;
        void *item = atomic_load_explicit(&l->priv, memory_order_acquire);
        if (item)
            pool_drop(p, item);
        while ((item = ring_pop_oldest(l)) != NULL)
            pool_drop(p, item);
        free(l);
    }
    uint32_t nov = atomic_load_explicit(&im->noverflow, memory_order_relaxed);
    for (uint32_t i = 0; i < nov; i++)
        pool_drop(p, im->overflow[i]);
    free(im);
}
