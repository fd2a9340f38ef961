/* base/lock.h — the runtime's own OS-level blocking primitives, on futexes
 * (Go's lock_futex.go).
 *
 * glock: a mutex for short runtime critical sections (Drepper's three-state
 *   futex mutex with a short spin). It blocks the OS thread, so it is only
 *   held for bounded, non-blocking work, and never across a goroutine switch
 *   (except the lock handed to gopark's unlockf, which the next goroutine on
 *   the same thread releases). Every glock has a rank (base/lockrank.h); in
 *   Debug builds each lock records its owner, glock_assert_held works, and
 *   acquiring out of rank order is a fatal error naming both locks.
 * gnote: a one-shot wakeup (Go's note): one sleeper, one waker; note_clear
 *   re-arms it. Used to park idle Ms and plain threads.
 */
#ifndef GOC_BASE_LOCK_H
#define GOC_BASE_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/lockrank.h"
#include "base/race.h"

typedef struct glock {
    _Atomic uint32_t state; /* 0 unlocked, 1 locked, 2 locked with waiters */
#ifdef GOC_DEBUG
    uint16_t rank; /* enum glockrank; immutable after init */
    void *owner;   /* the holding thread's lock record (lock.c); NULL when free */
#endif
} glock;

#ifdef GOC_DEBUG
#define GLOCK_INIT(rank)                                                                           \
    { 0, (rank), 0 }
#else
#define GLOCK_INIT(rank)                                                                           \
    { 0 }
#endif

static inline void glock_init(glock *l, enum glockrank rank) {
    atomic_init(&l->state, 0);
#ifdef GOC_DEBUG
    l->rank = (uint16_t)rank;
    l->owner = 0;
#else
    (void)rank;
#endif
}

void glock_lock_slow(glock *l);
void glock_unlock_slow(glock *l);

#ifdef GOC_DEBUG
void glock_debug_acquire(glock *l);  /* rank check, before blocking */
void glock_debug_acquired(glock *l); /* record the owner */
void glock_debug_release(glock *l);
void glock_assert_held(const glock *l);
/* Runtime locks held by the calling thread (0 outside critical sections). */
int glock_nheld(void);
#else
static inline void glock_debug_acquire(glock *l) { (void)l; }
static inline void glock_debug_acquired(glock *l) { (void)l; }
static inline void glock_debug_release(glock *l) { (void)l; }
static inline void glock_assert_held(const glock *l) { (void)l; }
#endif

static inline void glock_lock(glock *l) {
    glock_debug_acquire(l);
    uint32_t z = 0;
    if (!__builtin_expect(atomic_compare_exchange_strong_explicit(
                              &l->state, &z, 1, memory_order_acquire, memory_order_relaxed),
                          1))
        glock_lock_slow(l);
    glock_debug_acquired(l);
}

/* No rank check: a trylock cannot deadlock (a signal handler may use it
 * whatever its thread holds). */
static inline bool glock_trylock(glock *l) {
    uint32_t z = 0;
    bool ok = atomic_compare_exchange_strong_explicit(&l->state, &z, 1, memory_order_acquire,
                                                      memory_order_relaxed);
    if (ok)
        glock_debug_acquired(l);
    return ok;
}

static inline void glock_unlock(glock *l) {
    glock_debug_release(l);
    if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) != 1, 0))
        glock_unlock_slow(l);
}

/* ThreadSanitizer: announce, on the calling goroutine's fiber, the release
 * of l that gopark's unlockf will do on another fiber (sched/race.h). */
static inline void glock_race_release(glock *l) { grace_release((void *)&l->state); }

typedef struct gnote {
    _Atomic uint32_t key; /* 0 clear, 1 woken */
} gnote;

static inline void note_clear(gnote *n) { atomic_store_explicit(&n->key, 0, memory_order_relaxed); }
void note_wakeup(gnote *n);
void note_sleep(gnote *n);
/* Sleep until woken or until `ns` nanoseconds passed (ns < 0: forever).
 * Returns true if woken. */
bool note_tsleep(gnote *n, int64_t ns);

/* Raw futex helpers on a 32-bit word (private futexes). */
void gfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
void gfutex_wake(_Atomic uint32_t *addr, int n);

static inline void gcpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
