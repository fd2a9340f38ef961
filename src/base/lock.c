/* base/lock.c — futex-based glock and gnote, and (Debug builds) the lock
 * rank checker; see lock.h and lockrank.h. */
#include "base/lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/print.h"

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

#ifdef GOC_DEBUG
/* The locks a thread holds, in acquisition order. Per OS thread, which is
 * right for runtime locks: they are never held across a goroutine switch
 * except into gopark's unlockf, which runs on the same thread. Read through
 * a non-inlinable accessor (see sched/proc.c on TLS and thread migration). */
/* Per OS thread, so shared by every goroutine that runs on the thread: TSan
 * (which sees goroutines as unordered fibers) is not shown these accesses. */
enum { HELD_MAX = 64 };
struct heldlocks {
    int n;
    glock *l[HELD_MAX];
    /* Locks past HELD_MAX (select over many channels, cancelling a deep
     * context chain) are counted per rank, not listed. */
    int nextra;
    int extra[LR_NRANKS];
};
static __thread struct heldlocks tls_held __attribute__((tls_model("initial-exec")));

GRACE_NO_INSTRUMENT __attribute__((noinline)) static struct heldlocks *held(void) {
    struct heldlocks *h = &tls_held;
    __asm__ __volatile__("" : "+r"(h)::"memory");
    return h;
}

GRACE_NO_INSTRUMENT static int rank_of(const glock *l) {
    return l->rank == LR_NONE ? LR_LEAF : l->rank;
}

GRACE_NO_INSTRUMENT void glock_debug_acquire(glock *l) {
    struct heldlocks *h = held();
    int r = rank_of(l);
    for (int er = LR_NRANKS - 1; h->nextra > 0 && er >= r; er--)
        if (h->extra[er] > 0 && (er > r || !glockrank_nests(r)))
            gthrow("runtime: lock ordering problem: acquiring %s (rank %d) while holding %s "
                   "(rank %d)",
                   glockrank_name(r), r, glockrank_name(er), er);
    for (int i = 0; i < h->n; i++) {
        if (h->l[i] == l)
            gthrow("runtime: lock ordering problem: %s (%p) acquired twice by one thread",
                   glockrank_name(r), (void *)l);
        int hr = rank_of(h->l[i]);
        if (hr > r || (hr == r && !glockrank_nests(r)))
            gthrow("runtime: lock ordering problem: acquiring %s (rank %d) while holding %s "
                   "(rank %d)",
                   glockrank_name(r), r, glockrank_name(hr), hr);
    }
}

GRACE_NO_INSTRUMENT void glock_debug_acquired(glock *l) {
    struct heldlocks *h = held();
    l->owner = h;
    if (h->n == HELD_MAX) {
        h->nextra++;
        h->extra[rank_of(l)]++;
        return;
    }
    h->l[h->n++] = l;
}

GRACE_NO_INSTRUMENT void glock_debug_release(glock *l) {
    struct heldlocks *h = held();
    if (l->owner != h)
        gthrow("runtime: unlock of %s (%p) not held by this thread", glockrank_name(rank_of(l)),
               (void *)l);
    l->owner = NULL;
    for (int i = h->n - 1; i >= 0; i--) {
        if (h->l[i] == l) {
            for (int j = i; j + 1 < h->n; j++)
                h->l[j] = h->l[j + 1];
            h->n--;
            return;
        }
    }
    if (h->extra[rank_of(l)] > 0) {
        h->nextra--;
        h->extra[rank_of(l)]--;
        return;
    }
    gthrow("runtime: unlock of a lock missing from the held list");
}

GRACE_NO_INSTRUMENT void glock_assert_held(const glock *l) {
    if (l->owner != held())
        gthrow("runtime: %s (%p) is not held by this thread", glockrank_name(rank_of(l)),
               (const void *)l);
}

GRACE_NO_INSTRUMENT int glock_nheld(void) { return held()->n + held()->nextra; }
#endif
