/* sync/mutex.c — sync.Mutex (Go's algorithm, mutex.go).
 *
 * Data structures
 *   state (int32, atomic):
 *     bit 0  MUTEX_LOCKED    someone holds the lock
 *     bit 1  MUTEX_WOKEN     a waiter has been woken (or a spinner announced
 *                            itself): Unlock need not wake another one
 *     bit 2  MUTEX_STARVING  starvation mode: ownership is handed off
 *     >> 3                   number of goroutines/threads parked on sema
 *   sema (uint32): the runtime semaphore (sync/sema.c) waiters park on.
 *   Both are plain fields of the user's goc_mutex: the zero value is an
 *   unlocked mutex with nobody waiting.
 *
 * Normal mode: waiters queue FIFO on sema, but a woken waiter does not own
 *   the lock: it competes with new arrivals, which are running and usually
 *   win. A waiter that loses goes back to the head of the queue (lifo).
 *   A locker that finds the lock held may spin a few rounds
 *   (gsched_can_spin) before parking; while it spins it sets WOKEN so that
 *   Unlock does not wake a parked waiter that would only compete with it.
 * Starvation mode: entered by a waiter that has waited more than 1 ms.
 *   Unlock hands the lock straight to the waiter at the head of the queue
 *   (gsema_release with handoff: the waiter is given the semaphore count and
 *   runs next); new arrivals neither take the lock nor spin, they queue at
 *   the tail. The waiter that receives the lock leaves starvation mode if it
 *   is the last waiter or it waited less than 1 ms.
 *
 * Invariants
 *   - LOCKED set iff a holder exists, except in starvation mode between an
 *     Unlock and the handed-off waiter's resumption: then LOCKED is clear
 *     but the lock belongs to that waiter (nobody else may take it, hence
 *     lockers and trylock test LOCKED|STARVING).
 *   - The waiter count >= the number of sudogs on sema's queue for this
 *     address; Unlock decrements it for the waiter it wakes.
 *   - STARVING implies WOKEN clear and at least one waiter.
 *   - Memory ordering: the successful locking CAS is acquire, Unlock's
 *     decrement is release; a handed-off waiter synchronizes through its
 *     acq_rel add on state, which reads the unlocker's release.
 *
 * Lock order: none. The semaphore root lock (sema.c) is taken and released
 *   inside gsema_acquire/gsema_release; nothing is held across them.
 *
 * Rejected designs
 *   - A futex word per mutex (blocks the OS thread, not the goroutine).
 *   - Always-FIFO handoff (a convoy: every unlock would cost a goroutine
 *     switch; Go's normal mode lets a running locker take it at once).
 *   - Spinning without gsched_can_spin (burns the only processor when
 *     GOCMAXPROCS=1, or when the holder is not running).
 */
#include <stdatomic.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "sync/sema.h"

enum {
    MUTEX_LOCKED = 1,
    MUTEX_WOKEN = 2,
    MUTEX_STARVING = 4,
    MUTEX_WAITER_SHIFT = 3,
};

#define STARVATION_THRESHOLD_NS 1000000 /* 1 ms, as in Go */
#define ACTIVE_SPIN_CYCLES 30           /* Go's active_spin_cnt */

static inline int32_t load_state(goc_mutex *m) {
    return atomic_load_explicit(&m->state, memory_order_relaxed);
}

static inline bool cas_state(goc_mutex *m, int32_t *old, int32_t new_) {
    return atomic_compare_exchange_strong_explicit(&m->state, old, new_, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

__attribute__((noinline)) static void mutex_lock_slow(goc_mutex *m) {
    int64_t wait_start = 0;
    bool starving = false; /* this locker has waited > 1 ms */
    bool awoke = false;    /* this locker owns the WOKEN bit */
    int iter = 0;
    int32_t old = load_state(m);
    for (;;) {
        /* Spin while the lock is held in normal mode, if worthwhile. In
         * starvation mode the lock goes to a waiter: spinning is futile. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && gsched_can_spin(iter)) {
            /* Announce ourselves so that Unlock does not wake a waiter. */
            if (!awoke && (old & MUTEX_WOKEN) == 0 && (old >> MUTEX_WAITER_SHIFT) != 0 &&
                cas_state(m, &old, old | MUTEX_WOKEN))
                awoke = true;
            gsched_procyield(ACTIVE_SPIN_CYCLES);
            iter++;
            old = load_state(m);
            continue;
        }
        int32_t new_ = old;
        /* Never take a starving mutex: it belongs to the queue. */
        if ((old & MUTEX_STARVING) == 0)
            new_ |= MUTEX_LOCKED;
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
            new_ += 1 << MUTEX_WAITER_SHIFT;
        /* Switch to starvation mode, but only if the lock is still held:
         * an unlocked mutex must not be starving (Unlock would expect a
         * waiter to hand it to). */
        if (starving && (old & MUTEX_LOCKED) != 0)
            new_ |= MUTEX_STARVING;
        if (awoke) {
            /* We are about to take the lock or sleep: give WOKEN back. */
            if ((new_ & MUTEX_WOKEN) == 0)
                gthrow("sync: inconsistent mutex state");
            new_ &= ~MUTEX_WOKEN;
        }
        if (!cas_state(m, &old, new_))
            continue; /* old was reloaded by the failed CAS */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == 0) {
            GOC_ASSERT((new_ & MUTEX_LOCKED) != 0);
            return; /* locked it */
        }
        /* Wait. A waiter that has waited before queues at the front. */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gnanotime();
        gsema_acquire(&m->sema, lifo, WAIT_MUTEX);
        starving = starving || gnanotime() - wait_start > STARVATION_THRESHOLD_NS;
        old = load_state(m);
        if ((old & MUTEX_STARVING) != 0) {
            /* Handed off to us: the lock is ours, though LOCKED is clear
             * and we are still counted as a waiter. Fix both at once. */
            if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) != 0 || (old >> MUTEX_WAITER_SHIFT) == 0)
                gthrow("sync: inconsistent mutex state");
            int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
            if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
                delta -= MUTEX_STARVING; /* leave starvation mode */
            int32_t now = atomic_fetch_add_explicit(&m->state, delta, memory_order_acq_rel) + delta;
            /* We hold it now; a waiter count cannot go negative. */
            GOC_ASSERT((now & MUTEX_LOCKED) != 0 && now >= 0);
            (void)now;
            return;
        }
        /* Normal mode: woken (Unlock set WOKEN for us) but not owner. */
        awoke = true;
        iter = 0;
    }
}

void goc_mutex_lock(goc_mutex *m) {
    int32_t z = 0;
    if (GOC_LIKELY(atomic_compare_exchange_strong_explicit(
            &m->state, &z, MUTEX_LOCKED, memory_order_acquire, memory_order_relaxed)))
        return;
    /* Contended: a preemption point (the uncontended path stays two RMWs). */
    gsched_preempt_check();
    mutex_lock_slow(m);
}

bool goc_mutex_trylock(goc_mutex *m) {
    int32_t old = load_state(m);
    if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
        return false;
    /* One attempt, as Go: a failed CAS means contention. */
    return atomic_compare_exchange_strong_explicit(&m->state, &old, old | MUTEX_LOCKED,
                                                   memory_order_acquire, memory_order_relaxed);
}

__attribute__((noinline)) static void mutex_unlock_slow(goc_mutex *m, int32_t new_) {
    if (((new_ + MUTEX_LOCKED) & MUTEX_LOCKED) == 0)
        goc_panic("sync: unlock of unlocked mutex");
    if ((new_ & MUTEX_STARVING) != 0) {
        /* STARVING implies at least one waiter to hand the lock to. */
        GOC_ASSERT((new_ >> MUTEX_WAITER_SHIFT) > 0);
        /* Hand the lock to the head waiter and let it run now. It sets
         * LOCKED itself; until then STARVING keeps newcomers out. */
        gsema_release(&m->sema, true);
        return;
    }
    int32_t old = new_;
    for (;;) {
        /* Nobody to wake, or somebody else already took the lock, is awake
         * (woken or spinning) or switched to starvation mode: done. */
        if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
            (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) != 0)
            return;
        /* Take one waiter off the count and mark it woken. */
        new_ = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
        if (cas_state(m, &old, new_)) {
            gsema_release(&m->sema, false);
            return;
        }
    }
}

void goc_mutex_unlock(goc_mutex *m) {
    int32_t new_ =
        atomic_fetch_sub_explicit(&m->state, MUTEX_LOCKED, memory_order_release) - MUTEX_LOCKED;
    if (GOC_UNLIKELY(new_ != 0))
        mutex_unlock_slow(m, new_);
}
