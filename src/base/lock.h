/* base/lock.h — the runtime's own OS-level blocking primitives, on futexes
 * (Go's lock_futex.go).
 *
 * glock: a mutex for short runtime critical sections: one CAS to lock, a
 *   plain release store to unlock (then one plain load of the sleeper
 *   count), a bounded spin, a yield, then a futex sleep. Why a plain store
 *   cannot lose a wakeup is proved in lock.c (the membarrier argument). It
 *   blocks the OS thread, so it is only held for bounded, non-blocking work,
 *   and never across a goroutine switch (except the lock handed to gopark's
 *   unlockf, which the next goroutine on the same thread releases). Every
 *   glock has a rank (base/lockrank.h); in Debug builds each lock records
 *   its owner, glock_assert_held works, and acquiring out of rank order is a
 *   fatal error naming both locks.
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
    /* 0 unlocked, 1 locked; the futex word. Set to 1 only by a CAS from 0
     * (lock, trylock); set to 0 only by the holder's release store. */
    _Atomic uint32_t state;
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

/* Threads sleeping, or about to sleep, on the state of some lock whose
 * address hashes to the slot (lock.c's slow path): each adds 1 to its
 * lock's slot before its first sleep and takes it back once it holds the
 * lock. Read by every unlock: non-zero means futex_wake. A table outside
 * the lock, because the unlocker must not touch the lock after its
 * release store: whoever takes the lock next may free it at once (a
 * channel's last release, a goc_cond in freed memory). Written only on the
 * sleep path, so its lines stay shared in every cache. */
enum { GLOCK_SLEEPER_SLOTS = 256 };
extern _Atomic uint32_t glock_sleepers[GLOCK_SLEEPER_SLOTS];

static inline _Atomic uint32_t *glock_sleepers_of(const glock *l) {
    /* Fibonacci hashing of the address: locks of adjacent objects spread. */
    return &glock_sleepers[((uintptr_t)l * (uintptr_t)0x9e3779b97f4a7c15ull) >>
                           (sizeof(uintptr_t) * 8 - 8)];
}

static inline void glock_init(glock *l, enum glockrank rank) {
    atomic_init(&l->state, 0);
#ifdef GOC_DEBUG
    l->rank = (uint16_t)rank;
    l->owner = 0;
#else
    (void)rank;
#endif
}

/* Set once, by lock.c's load-time constructor, before any other thread
 * exists: false when the process is registered for private expedited
 * membarrier (unlock is then a plain store, see lock.c), true when it is
 * not (or GOCDEBUG=lockfence=1). In the fenced mode every slot of
 * glock_sleepers also carries GLOCK_SLEEPERS_FENCED, so that every unlock
 * takes the slow path, which fences and then re-reads the count: the fast
 * path never tests the mode. */
extern bool glock_fenced;
#define GLOCK_SLEEPERS_FENCED 0x80000000u

void glock_lock_slow(glock *l);

/* A full barrier on every CPU that runs a thread of this process, as in
 * lock.c's proof (membarrier, private expedited); false if it failed or
 * glock_fenced (no registration). */
bool glock_membarrier(void);

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

/* glock_lock's uncontended case alone, for a caller whose other path must
 * be a tail call (so that its common path keeps nothing in callee-saved
 * registers): true with l held, as glock_lock leaves it (ranks checked in
 * Debug builds, once held); false with nothing done (call glock_lock). */
static inline bool glock_lock_fast(glock *l) {
    uint32_t z = 0;
    if (!__builtin_expect(atomic_compare_exchange_strong_explicit(
                              &l->state, &z, 1, memory_order_acquire, memory_order_relaxed),
                          1))
        return false;
    glock_debug_acquire(l);
    glock_debug_acquired(l);
    return true;
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

/* Release store, then one load of the lock's sleeper slot, in this program
 * order (the signal fence keeps the compiler from hoisting the load above
 * the store; the CPU may, and lock.c's proof allows for it). After the
 * store l may be freed: only the slot (static) is read, and futex_wake on
 * a stale address is harmless (at worst a spurious wakeup, which every
 * futex waiter here tolerates). */
#if defined(GOC_RACE)
/* The race build keeps the three-state lock (0 free, 1 held, 2 held with
 * sleepers) and its exchange on unlock: with the plain-store protocol
 * ThreadSanitizer loses the ordering that gopark's hidden unlockf relies
 * on (the parked goroutine's announced release of its wait-queue lock) and
 * reports races that are not there. What TSan checks is the runtime's use
 * of its locks, which is the same either way. */
void glock_race_unlock_slow(glock *l);
static inline void glock_unlock(glock *l) {
    glock_debug_release(l);
    if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) != 1, 0))
        glock_race_unlock_slow(l);
}
/* glock_unlock_begin / glock_unlock_slow (below): the race build's unlock
 * is whole in its first half, which returns 0, so the second is never
 * called. */
static inline uint32_t glock_unlock_begin(glock *l) {
    glock_unlock(l);
    return 0;
}
static inline void glock_unlock_slow(glock *l, uint32_t sleepers) {
    (void)l;
    (void)sleepers;
}
#else
void glock_unlock_slow(glock *l, uint32_t sleepers);
/* glock_unlock in two halves, for a caller whose rare path must be a tail
 * call (so that its common path keeps nothing in callee-saved registers):
 * glock_unlock_begin releases l and returns what glock_unlock_slow(l, n)
 * must then be called with unless it is 0. */
static inline uint32_t glock_unlock_begin(glock *l) {
    glock_debug_release(l);
    atomic_store_explicit(&l->state, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    return atomic_load_explicit(glock_sleepers_of(l), memory_order_relaxed);
}
static inline void glock_unlock(glock *l) {
    uint32_t n = glock_unlock_begin(l);
    if (__builtin_expect(n != 0, 0))
        glock_unlock_slow(l, n);
}
#endif

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
