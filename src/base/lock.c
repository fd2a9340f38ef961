/* base/lock.c — futex-based glock and gnote, and (Debug builds) the lock
 * rank checker; see lock.h and lockrank.h.
 *
 * glock: a plain-store release that cannot lose a wakeup
 *
 *   Words: state (0 free, 1 held; the futex word) in the lock, and
 *   "sleepers", the lock's slot in the static table glock_sleepers (how
 *   many threads sleep or are about to sleep on a lock hashing there; a
 *   shared slot only adds spurious wakes). state goes 0 -> 1 only by CAS (so
 *   mutual exclusion is the CAS's, whatever else happens) and 1 -> 0 only by
 *   the holder's release store. The sleeper count lives outside the lock
 *   because the unlocker reads it after its release store, when the next
 *   holder may already have freed the lock (a channel's last release).
 *
 *   unlock U:  S: store state = 0 (release)
 *              L: load sleepers (relaxed; after S in program order: the
 *                 compiler is kept from hoisting it by a signal fence)
 *              if L != 0: futex_wake(state, 1)
 *   sleep path of a waiter T (after a bounded spin and a yield):
 *              W: sleepers += 1 (seq_cst RMW), once
 *              loop { M: membarrier(PRIVATE_EXPEDITED)
 *                     C: CAS state 0 -> 1; success: sleepers -= 1, done
 *                     futex_wait(state, 1) }
 *
 *   The hazard is store buffering: on x86 and arm64 U's load L may be
 *   satisfied before its store S is visible, so U can read sleepers == 0
 *   while T, having added itself, still reads state == 1 and sleeps: the
 *   unlocker sees no sleeper, the sleeper sees a held lock, nobody wakes
 *   it. A fence in U between S and L would close it (Dekker) but costs as
 *   much as the xchg it replaces. membarrier moves that fence to the
 *   sleeper: it runs a full barrier on every CPU that runs a thread of this
 *   process (a thread not running gets one from the context switch before it
 *   next runs user code), as if a barrier B_X were inserted at some point of
 *   each thread X's program order, all before membarrier returns; and it
 *   starts with a full barrier on T, so W is visible to every thread before
 *   any B_X.
 *
 *   Claim: if T sleeps in futex_wait(state, 1) then some unlock wakes a
 *   sleeper of this lock after T's sleep began, and so on while T sleeps,
 *   until T is woken (futex wakes queued waiters in FIFO order within a
 *   priority, so T is not passed over forever).
 *   Proof. The kernel's check read state == 1 after T queued itself, so
 *   some holder H owns the lock then, and H's releasing store S is not
 *   visible to that check. Take B_H, H's barrier from T's last M.
 *   (a) If S came before B_H in H's program order, S was visible to every
 *       thread before M returned, so C and the kernel's check (both after M)
 *       would read S or a later value; a later value 1 means a later holder,
 *       not H. So S comes after B_H.
 *   (b) Then L comes after B_H too (program order, and B_H orders even the
 *       CPU's early loads, being a full barrier at a precise point), and W
 *       was visible before B_H: L reads sleepers >= 1 (T's own 1 stays until
 *       T holds the lock). So U calls futex_wake after S.
 *   (c) futex's own guarantee (the waiter queues, then re-reads the word;
 *       the waker stores, then looks for queued waiters, both with full
 *       barriers in the kernel): T's check missed S, so the wake finds T
 *       (or another queued sleeper) queued and wakes one.
 *   (d) Every later holder H2 acquired by a CAS that read S or later: the
 *       chain W -> barrier -> B_H -> S -> (reads-from) CAS acquire -> L2
 *       makes its L2 read sleepers >= 1 too, so its unlock wakes one as
 *       well. A woken sleeper either takes the lock (and will unlock: (d)
 *       again) or finds it taken by someone who will; either way a wake
 *       follows every release while T's 1 stands. QED.
 *   A woken waiter re-runs M before it sleeps again, so each of its sleeps
 *   has its own barrier, as the proof needs.
 *
 *   Fallbacks: where membarrier is missing or refuses to register (old
 *   kernels, some emulators), or with GOCDEBUG=lockfence=1, glock_fenced is
 *   set and every sleeper slot carries GLOCK_SLEEPERS_FENCED: every unlock
 *   then takes the slow path, which runs a seq_cst fence and re-reads the
 *   slot (so S; fence; L), and the sleeper skips M; W and C are seq_cst, so this is the classic
 * store-buffering pair with fences on both sides, correct without M. Should M itself ever fail at
 * sleep time, the sleeper sleeps at most LOCK_SAFETY_NS per round (a bounded delay, never a lost
 * wakeup for good). The mode is chosen in a load-time constructor, before any thread can hold a
 * glock, and never changes: a switch while threads run would mix fenceless unlockers with sleepers
 * that skip M.
 *
 *   The race build (GOC_RACE) keeps the previous three-state lock instead
 *   (0 free, 1 held, 2 held with sleepers; unlock exchanges 0 and wakes if
 *   it took 2): with the plain-store protocol ThreadSanitizer reports races
 *   on data handed through gopark's hidden unlockf (the release the parked
 *   goroutine announces for its wait-queue lock is lost to TSan), although
 *   exclusion is the CAS's alone. What TSan checks is the runtime's use of
 *   its locks, the same with either protocol.
 *
 *   Cost: the uncontended lock + unlock is one locked RMW (the CAS) instead
 *   of two (CAS + xchg). The sleep path pays a membarrier (~0.35 us here)
 *   on top of the futex round trip it already pays; it is reached only
 *   after ~100 spins and a yield have failed.
 *
 *   Rejected: a sleeper count inside the glock (the unlocker's load after
 *   its release store would read freed memory: TSan caught a channel freed
 *   by its last release while the closer's unlock still read the count);
 *   the three-state word with a plain store (the unlocker's
 *   load-then-store is not atomic: a waiter's 1 -> 2 between them is
 *   overwritten, and no barrier on the waiter's side repairs that); a
 *   "sleeping" bit in the same word as the lock bit, written by byte
 *   stores (mixed-size atomics are outside C11 and TSan's model); relying
 *   on a timed futex sleep alone (every lost wakeup would cost the timeout,
 *   and it would be silent).
 */
#define _GNU_SOURCE
#include "base/lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/gocdebug.h"
#include "base/print.h"

/* Until the constructor runs there is one thread: no sleeper, no mode. */
bool glock_fenced;
_Atomic uint32_t glock_sleepers[GLOCK_SLEEPER_SLOTS];

/* Before main (and before any goc thread exists; a dlopen'ed libgoc has no
 * thread using its locks yet either). */
__attribute__((constructor)) static void glock_choose_mode(void) {
    bool fenced = true;
#ifdef SYS_membarrier
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (gocdebug_int("lockfence", 0) == 0 && cmds > 0 &&
        (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        fenced = false;
#endif
    glock_fenced = fenced;
    if (fenced)
        for (int i = 0; i < GLOCK_SLEEPER_SLOTS; i++)
            atomic_fetch_or_explicit(&glock_sleepers[i], GLOCK_SLEEPERS_FENCED,
                                     memory_order_relaxed);
}

/* The sleeper's barrier M; false if it failed (then sleep with a timeout).
 * Also the channels' lone-processor handshake (chan.c). */
bool glock_membarrier(void) {
#ifdef SYS_membarrier
    return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return false;
#endif
}

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

enum {
    LOCK_SPINS = 100, /* runtime critical sections are a few hundred cycles */
    LOCK_YIELDS = 1,  /* then let a preempted holder on this CPU finish */
};
#define LOCK_SAFETY_NS 1000000 /* per sleep, only if membarrier failed */

static inline bool lock_try(glock *l, memory_order mo) {
    uint32_t z = 0;
    return atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
           atomic_compare_exchange_strong_explicit(&l->state, &z, 1, mo, memory_order_relaxed);
}

#if defined(GOC_RACE)
/* The race build's three-state lock (see lock.h). */
void glock_lock_slow(glock *l) {
    for (int i = 0; i < LOCK_SPINS; i++) {
        if (lock_try(l, memory_order_acquire))
            return;
        gcpu_relax();
    }
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        gfutex_wait(&l->state, 2, -1);
}

void glock_race_unlock_slow(glock *l) { gfutex_wake(&l->state, 1); }
#else
void glock_lock_slow(glock *l) {
    for (int i = 0; i < LOCK_SPINS; i++) {
        if (lock_try(l, memory_order_acquire))
            return;
        gcpu_relax();
    }
    for (int i = 0; i < LOCK_YIELDS; i++) {
        sched_yield();
        if (lock_try(l, memory_order_acquire))
            return;
    }
    /* W, then the loop of M, C, sleep: see the proof above. */
    atomic_fetch_add_explicit(glock_sleepers_of(l), 1, memory_order_seq_cst);
    for (;;) {
        bool exact = glock_fenced || glock_membarrier();
        uint32_t z = 0;
        if (atomic_compare_exchange_strong_explicit(&l->state, &z, 1, memory_order_seq_cst,
                                                    memory_order_relaxed))
            break;
        gfutex_wait(&l->state, 1, exact ? -1 : LOCK_SAFETY_NS);
    }
    uint32_t old = atomic_fetch_sub_explicit(glock_sleepers_of(l), 1, memory_order_relaxed);
    GOC_ASSERT((old & ~GLOCK_SLEEPERS_FENCED) > 0);
    (void)old;
}

void glock_unlock_slow(glock *l, uint32_t sleepers) {
    if (sleepers & GLOCK_SLEEPERS_FENCED) {
        /* The fenced mode's S; fence; L (the fast path's load came too
         * early to count). */
        atomic_thread_fence(memory_order_seq_cst);
        sleepers = atomic_load_explicit(glock_sleepers_of(l), memory_order_relaxed) &
                   ~GLOCK_SLEEPERS_FENCED;
        if (sleepers == 0)
            return;
    }
    gfutex_wake(&l->state, 1);
}
#endif

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
