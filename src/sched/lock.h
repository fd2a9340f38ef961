/* sched/lock.h — the runtime's own OS-level blocking primitives, on futexes.
 *
 * glock: a mutex for short runtime critical sections (Drepper's three-state
 *   futex mutex with a short spin). It blocks the OS thread, so it is only
 *   held for bounded, non-blocking work; never across a goroutine switch.
 * gnote: a one-shot wakeup (Go's note): one sleeper, one waker; note_clear
 *   re-arms it. Used to park idle Ms and plain threads.
 */
#ifndef GOC_SCHED_LOCK_H
#define GOC_SCHED_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct glock {
    _Atomic uint32_t state; /* 0 unlocked, 1 locked, 2 locked with waiters */
} glock;

#define GLOCK_INIT {0}

void glock_lock_slow(glock *l);
void glock_unlock_slow(glock *l);

static inline void glock_lock(glock *l) {
    uint32_t z = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, &z, 1,
                                                                  memory_order_acquire,
                                                                  memory_order_relaxed),
                         1))
        return;
    glock_lock_slow(l);
}

static inline bool glock_trylock(glock *l) {
    uint32_t z = 0;
    return atomic_compare_exchange_strong_explicit(&l->state, &z, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void glock_unlock(glock *l) {
    if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) != 1, 0))
        glock_unlock_slow(l);
}

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
