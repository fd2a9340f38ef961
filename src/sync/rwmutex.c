/* sync/rwmutex.c — sync.RWMutex (Go's algorithm, rwmutex.go).
 *
 * Data structures (all in the user's goc_rwmutex; zero value = unlocked)
 *   w            a goc_mutex held by the writer from the start of its Lock
 *                to its Unlock: writers exclude each other through it.
 *   reader_count atomic: the number of readers that hold or wait for the
 *                lock; while a writer is pending or active it is lowered by
 *                RWMUTEX_MAX_READERS (2^30), so it is negative, and RLock's
 *                single atomic add tells a reader whether it must wait.
 *   reader_wait  atomic: the readers the pending writer still waits for
 *                (those that held the lock when the writer arrived).
 *   writer_sem   the pending writer sleeps here until reader_wait hits 0.
 *   reader_sem   readers that arrived after a writer sleep here.
 *
 * Protocol
 *   RLock: reader_count += 1; if the result is negative a writer is pending
 *     or active: sleep on reader_sem (the writer's Unlock releases one count
 *     per such reader).
 *   RUnlock: reader_count -= 1; if negative, a writer is pending: if this
 *     was the last reader it waits for (reader_wait -= 1 reaches 0), wake it.
 *   Lock: lock w; reader_count -= 2^30, which announces the writer and gives
 *     r, the readers active at that instant; reader_wait += r; if readers
 *     remain, sleep on writer_sem.
 *   Unlock: reader_count += 2^30 gives r, the readers that arrived (and
 *     sleep, or are about to) meanwhile; release reader_sem r times; unlock w.
 *
 * Invariants
 *   - reader_count in [-2^30, 2^30): >= 0 with no writer, < 0 with one.
 *   - A writer announced in reader_count holds w.
 *   - reader_wait counts down exactly the readers that held the lock when the
 *     writer announced itself; the semaphore count absorbs the race where
 *     RUnlock releases writer_sem before the writer sleeps on it (likewise
 *     reader_sem for readers that have not gone to sleep yet).
 *   - Ordering: every update of reader_count/reader_wait is an acq_rel
 *     read-modify-write, and the semaphores' counts are released/acquired,
 *     so a reader's critical section happens before the writer's and the
 *     writer's before the readers it lets in.
 *
 * Lock order: w, then the semaphore roots (inside sema.c, never held here).
 *
 * Rejected designs
 *   - Reader preference (a steady stream of readers starves writers).
 *   - A single state word with a waiter list under a lock (every RLock
 *     would take a lock; Go's counter makes the uncontended RLock and
 *     RUnlock one atomic add each).
 */
#include <stdatomic.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "sync/sema.h"

#define RWMUTEX_MAX_READERS (1 << 30)

void goc_rwmutex_rlock(goc_rwmutex *rw) {
    if (atomic_fetch_add_explicit(&rw->reader_count, 1, memory_order_acq_rel) + 1 < 0) {
        gsched_preempt_check();
        gsema_acquire(&rw->reader_sem, false, WAIT_RWMUTEX_R); /* a writer is pending */
    }
}

bool goc_rwmutex_tryrlock(goc_rwmutex *rw) {
    int32_t c = atomic_load_explicit(&rw->reader_count, memory_order_relaxed);
    for (;;) {
        if (c < 0)
            return false; /* a writer is pending or active */
        if (atomic_compare_exchange_weak_explicit(&rw->reader_count, &c, c + 1,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return true;
    }
}

__attribute__((noinline)) static void rwmutex_runlock_slow(goc_rwmutex *rw, int32_t r) {
    if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
        goc_panic("sync: RUnlock of unlocked RWMutex");
    /* A writer is pending: the last departing reader wakes it. */
    if (atomic_fetch_sub_explicit(&rw->reader_wait, 1, memory_order_acq_rel) - 1 == 0)
        gsema_release(&rw->writer_sem, false);
}

void goc_rwmutex_runlock(goc_rwmutex *rw) {
    int32_t r = atomic_fetch_sub_explicit(&rw->reader_count, 1, memory_order_acq_rel) - 1;
    if (GOC_UNLIKELY(r < 0))
        rwmutex_runlock_slow(rw, r);
}

void goc_rwmutex_lock(goc_rwmutex *rw) {
    goc_mutex_lock(&rw->w); /* first, exclude other writers */
    /* Announce the writer; r = readers holding the lock right now. */
    int32_t r =
        atomic_fetch_sub_explicit(&rw->reader_count, RWMUTEX_MAX_READERS, memory_order_acq_rel);
    /* Wait for them (unless they have all left already). */
    if (r != 0 && atomic_fetch_add_explicit(&rw->reader_wait, r, memory_order_acq_rel) + r != 0)
        gsema_acquire(&rw->writer_sem, false, WAIT_RWMUTEX_W);
}

bool goc_rwmutex_trylock(goc_rwmutex *rw) {
    if (!goc_mutex_trylock(&rw->w))
        return false;
    int32_t z = 0;
    if (!atomic_compare_exchange_strong_explicit(&rw->reader_count, &z, -RWMUTEX_MAX_READERS,
                                                 memory_order_acq_rel, memory_order_relaxed)) {
        goc_mutex_unlock(&rw->w);
        return false;
    }
    return true;
}

void goc_rwmutex_unlock(goc_rwmutex *rw) {
    /* Announce to readers that there is no active writer. */
    int32_t r =
        atomic_fetch_add_explicit(&rw->reader_count, RWMUTEX_MAX_READERS, memory_order_acq_rel) +
        RWMUTEX_MAX_READERS;
    if (GOC_UNLIKELY(r >= RWMUTEX_MAX_READERS))
        goc_panic("sync: Unlock of unlocked RWMutex");
    /* Let in the readers that queued behind this writer. */
    for (int32_t i = 0; i < r; i++)
        gsema_release(&rw->reader_sem, false);
    goc_mutex_unlock(&rw->w); /* let other writers proceed */
}
