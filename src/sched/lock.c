/* sched/lock.c — futex-based glock and gnote; see lock.h. */
#include "sched/lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "debug.h"

void gfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns) {
    struct timespec ts, *tsp = NULL;
    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void gfutex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void glock_lock_slow(glock *l) {
    /* Spin briefly: runtime critical sections are a few hundred cycles. */
    for (int i = 0; i < 100; i++) {
        uint32_t z = 0;
        if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->state, &z, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        gcpu_relax();
    }
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        gfutex_wait(&l->state, 2, -1);
}

void glock_unlock_slow(glock *l) { gfutex_wake(&l->state, 1); }

void note_wakeup(gnote *n) {
    uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_release);
    GOC_ASSERT(old == 0);
    (void)old;
    gfutex_wake(&n->key, 1);
}

void note_sleep(gnote *n) {
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        gfutex_wait(&n->key, 0, -1);
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool note_tsleep(gnote *n, int64_t ns) {
    if (ns < 0) {
        note_sleep(n);
        return true;
    }
    int64_t deadline = mono_ns() + ns;
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            return atomic_load_explicit(&n->key, memory_order_acquire) != 0;
        gfutex_wait(&n->key, 0, left);
    }
    return true;
}
