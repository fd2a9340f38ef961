/* sched/proc.c — the goroutine scheduler (Go's proc.go, in C).
 *
 * The design is Go's G-M-P model:
 *   G  a goroutine: a stack, a saved stack pointer, a status (struct g).
 *   M  an OS thread that runs goroutines. Each M has a g0: its own thread
 *      stack, on which the scheduler loop (schedule) runs when the M has
 *      nothing else to do.
 *   P  a processor: the right to run goroutines. GOCMAXPROCS of them. An M
 *      must hold a P to run Go code; each P owns a local run queue (a
 *      256-slot lock-free ring, Go's runq), a runnext slot, a cache of
 *      stacks and of dead gs.
 *
 * Scheduling
 *   - A goroutine made ready by the running one goes to runnext and runs
 *     next on the same P, inheriting the time slice: an unbuffered channel
 *     handoff is two direct switches on one thread. New goroutines also go
 *     to runnext (Go's newproc does the same).
 *   - When a goroutine blocks or yields it switches DIRECTLY to the next
 *     runnable goroutine of its P (runnext, local queue, the global queue
 *     every 61st tick), without passing through g0. What must happen only
 *     once its context is saved (releasing the lock that guards its wait
 *     queue entry, putting it back on a run queue, freeing its stack) is
 *     recorded in m->post and done by the goroutine switched to, right after
 *     the switch, in gsched_after_switch. This is Go's park_m/unlockf split,
 *     minus the trip through g0. Only when the P has nothing local does the
 *     M switch to g0 and run findrunnable there.
 *   - findrunnable (on g0): local queue, global queue, then work stealing
 *     (steal half of a random victim's queue; runnext only on the last round
 *     and after letting a running victim reach its own switch), then the P
 *     is released and the M parks on a futex (stopm). Spinning Ms (looking
 *     for work without a P to run) are bounded as in Go; idle Ms burn no CPU.
 *   - Wakeups: whoever makes work available calls wakep(), which starts one
 *     spinning M when there is an idle P and no spinner. The Dekker pair that
 *     forbids lost wakeups: a producer publishes work (runq tail, seq_cst)
 *     then reads nmspinning/npidle; a spinner gives up by releasing its P and
 *     decrementing nmspinning (seq_cst), then re-reads every run queue.
 *     A goroutine readied into runnext while the rest of the queue is empty
 *     does not wake another M (it is about to run here); the monitor thread
 *     (sysmon) wakes one if it sits there too long.
 *   - There is no preemption yet: a goroutine runs until it blocks, yields
 *     or exits.
 *   - goc_lock_os_thread: the M runs only that goroutine. When it parks, the
 *     M hands its P away and sleeps; whoever later picks the goroutine from a
 *     run queue hands its own P to the locked M (startlockedm), as in Go.
 *   - Plain threads (not started by goc) that block in goc get a thread-local
 *     stand-in g (thread_g): parking one sleeps the thread on a futex, and
 *     goready wakes it. Wait queues therefore only ever hold gs.
 *   - goc_maxprocs shrinks without stopping the world: a P whose id is >=
 *     gomaxprocs is retired by its M at its next schedule (its queue goes to
 *     the global queue); idle ones are retired at once.
 *
 * Invariants
 *   - A g is in exactly one of: running on one M (G_RUNNING, g->m set); one
 *     run queue (G_RUNNABLE); a wait queue of some subsystem, or the
 *     post-switch record of an M (G_WAITING); a free list (G_DEAD).
 *   - A g's context is saved (g->sp valid) before anything can make it
 *     runnable again: every publication happens in gsched_after_switch.
 *   - An M holding a P is either running a g or in schedule(); an M without
 *     a P is parked in stopm, spinning without P in findrunnable, or running
 *     a thread handoff.
 *   - npidle == length(sched.pidle); nmspinning == number of Ms with
 *     m->spinning set.
 *   - Only the M owning P writes p->runqtail; stealers only CAS p->runqhead.
 *
 * Lock order: sched.lock > allglock > (stack pool lock). No runtime lock is
 * held across a goroutine switch, except the one handed to gopark's unlockf,
 * which is released by the next goroutine or g0.
 *
 * Per-thread state and migration: gcc and clang cache the address of a
 * __thread variable across calls, so a goroutine that parks on one thread
 * and resumes on another would read the first thread's copy. All per-M state
 * is therefore read through getm(), an out-of-line function with a compiler
 * barrier, and never cached across a switch.
 *
 * Rejected designs: a single global run queue (contention); switching
 * through g0 for every yield and park (doubles the switch cost); a thread
 * per goroutine; ucontext (a syscall per switch); waking an M for every
 * ready (futex round trips of ~50 us across cores on ping-pong).
 */
#define _GNU_SOURCE
#include "sched/sched.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <goc/runtime.h>

#include "arch/arch.h"
#include "debug.h"
#include "diag/diag.h"
#include "failpoint.h"
#include "sched/internal.h"

#if defined(GOC_RACE)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(GOC_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

enum { RUNQ_SIZE = 256, MAXPROCS_LIMIT = 256, GOID_BATCH = 16, GFREE_MAX = 64 };

enum pstatus { P_IDLE, P_RUNNING, P_RETIRED };

struct p {
    int32_t id;               /* immutable */
    _Atomic uint32_t status;  /* enum pstatus; changed under sched.lock */
    p *link;                  /* sched.pidle list; sched.lock */
    m *m;                     /* owner M; written by acquirep/releasep */
    uint32_t schedtick;       /* owner */
    /* Lock-free ring: owner writes tail, anyone CASes head. */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    _Atomic(g *) runq[RUNQ_SIZE];
    _Atomic(g *) runnext;     /* owner sets; stealers CAS it away */
    gstack_cache stackcache;  /* owner */
    g *gfree;                 /* dead gs for reuse; owner */
    int32_t ngfree;
    uint64_t goidcache, goidcacheend; /* owner */
    /* Goroutines created minus exited on this P. Written by the owner only
     * (relaxed load + store: no locked instruction), summed by readers. */
    _Atomic int64_t ngoroutine;
};

enum post_action { POST_NONE, POST_PARK, POST_YIELD, POST_YIELD_NEXT, POST_EXIT };

struct m {
    int64_t id;               /* immutable */
    g g0;                     /* the scheduler context on the thread stack */
    g *curg;                  /* owner */
    p *p;                     /* owner */
    p *nextp;                 /* P handed to a parked M; written before its note wakeup */
    m *link;                  /* sched.midle list; sched.lock */
    bool spinning;            /* owner; counted in sched.nmspinning */
    gnote park;               /* stopm sleeps here */
    g *lockedg;               /* goroutine locked to this thread; owner */
    g *handoff;               /* a locked g found by a direct switch; owner */
    /* What to do with the switched-out g once its context is saved. Owner. */
    struct {
        enum post_action act;
        g *gp;
        bool (*unlockf)(g *, void *);
        void *arg;
    } post;
    uint64_t fastrand;        /* owner */
    pid_t tid;                /* immutable after start */
    void *altstack;
#if defined(GOC_ASAN)
    const void *stack_lo;     /* thread stack bounds for fiber switches */
    size_t stack_size;
#endif
};

/* The scheduler's global state. Owner: fields say. */
static struct {
    glock lock;
    g *runqhead, *runqtail;   /* global run queue; lock */
    _Atomic int32_t runqsize; /* written under lock, read racily as a hint */
    p *pidle;                 /* lock */
    _Atomic int32_t npidle;   /* written under lock */
    m *midle;                 /* lock */
    int32_t nmidle;           /* lock */
    _Atomic int32_t mcount;   /* number of Ms created */
    _Atomic int32_t nmspinning;
    g *gfree;                 /* global dead-g list; lock */
    _Atomic int32_t ngfree;   /* written under lock; read racily as a hint */
    _Atomic uint64_t goidgen;
    _Atomic int32_t ngoroutine; /* goroutines created/exited off any P (plain threads) */
    _Atomic int64_t mnext;
    _Atomic int32_t nmain;    /* goc_run main goroutines still running */
    int32_t nmidlelocked;     /* locked Ms asleep in stoplockedm; lock */
    gnote sysmonnote;         /* sysmon sleeps here when all Ps are idle */
} sched;

static struct {
    _Atomic(int64_t (*)(int64_t)) run; /* run due timers; returns the next deadline.
                                         * Published last, with release order. */
    int64_t (*next)(void);       /* earliest pending deadline, INT64_MAX if none */
    int32_t (*pending)(void);    /* number of pending timers */
} timer_hooks;                   /* set once by the time subsystem */

/* allp: created Ps; slots filled under sched.lock and never cleared. */
static p *allp[MAXPROCS_LIMIT];
static _Atomic int32_t nallp;
static _Atomic int32_t gomaxprocs;
static int32_t ncpu;

/* allgs: every g ever allocated (gs are never freed); allglock. */
static glock allglock = GLOCK_INIT;
static g **allgs;
static size_t nallgs, capallgs;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic int init_err;

/* Per-thread state. tls_m is set once when an M starts; tls_thread_g is the
 * plain-thread stand-in. initial-exec: no allocation on first access (the
 * signal handler reads them). */
static __thread m *tls_m __attribute__((tls_model("initial-exec")));
static __thread g tls_thread_g __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------ */
/* Per-thread accessors                                                */

__attribute__((noinline)) m *getm(void) {
    m *mp = tls_m;
    __asm__ __volatile__("" : "+r"(mp)::"memory");
    return mp;
}

__attribute__((noinline)) static g *thread_g(void) {
    g *gp = &tls_thread_g;
    __asm__ __volatile__("" : "+r"(gp)::"memory");
    if (!gp->thread_g) {
        gp->thread_g = true;
        atomic_store_explicit(&gp->atomicstatus, G_RUNNING, memory_order_relaxed);
    }
    return gp;
}

g *getg(void) {
    m *mp = getm();
    if (mp && mp->curg)
        return mp->curg;
    return thread_g();
}

bool gsched_on_goroutine(void) {
    m *mp = getm();
    return mp && mp->curg;
}

int64_t gnanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gnanotime_coarse(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint32_t gfastrand(void) {
    m *mp = getm();
    uint64_t *s;
    static _Atomic uint64_t shared_seed = 0x9e3779b97f4a7c15ull;
    uint64_t local;
    if (mp) {
        s = &mp->fastrand;
    } else {
        local = atomic_fetch_add(&shared_seed, 0x9e3779b97f4a7c15ull);
        s = &local;
    }
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* ------------------------------------------------------------------ */
/* Goroutine status                                                    */

static const char *const gstatus_names[G_NSTATUS] = {"idle", "runnable", "running", "waiting",
                                                     "dead"};

const char *gstatus_string(uint32_t s) { return s < G_NSTATUS ? gstatus_names[s] : "???"; }
uint32_t gstatus_of(const g *gp) { return atomic_load((_Atomic uint32_t *)&gp->atomicstatus); }

static const char *const waitreason_names[WAIT_NREASONS] = {
    [WAIT_ZERO] = "",
    [WAIT_CHAN_RECEIVE] = "chan receive",
    [WAIT_CHAN_SEND] = "chan send",
    [WAIT_CHAN_RECEIVE_NIL] = "chan receive (nil chan)",
    [WAIT_CHAN_SEND_NIL] = "chan send (nil chan)",
    [WAIT_SELECT] = "select",
    [WAIT_SELECT_NO_CASES] = "select (no cases)",
    [WAIT_SLEEP] = "sleep",
    [WAIT_SEMACQUIRE] = "semacquire",
    [WAIT_WAITGROUP] = "sync.WaitGroup.Wait",
    [WAIT_MUTEX] = "sync.Mutex.Lock",
    [WAIT_RWMUTEX_R] = "sync.RWMutex.RLock",
    [WAIT_RWMUTEX_W] = "sync.RWMutex.Lock",
    [WAIT_COND] = "sync.Cond.Wait",
    [WAIT_IO] = "IO wait",
    [WAIT_LOCKED_THREAD] = "locked to thread",
};

const char *gwaitreason_string(int r) {
    return r >= 0 && r < WAIT_NREASONS ? waitreason_names[r] : "???";
}

/* The one place goroutine states change. Legal transitions:
 *   idle->runnable (newproc), dead->runnable (newproc reusing a g),
 *   runnable->running (execute), running->waiting (park),
 *   running->runnable (yield), waiting->runnable (ready),
 *   running->dead (exit), waiting->running (a plain thread wakes). */
static void casgstatus(g *gp, uint32_t from, uint32_t to) {
#ifdef GOC_DEBUG
    static const uint8_t legal[G_NSTATUS][G_NSTATUS] = {
        [G_IDLE][G_RUNNABLE] = 1,   [G_DEAD][G_RUNNABLE] = 1,    [G_RUNNABLE][G_RUNNING] = 1,
        [G_RUNNING][G_WAITING] = 1, [G_RUNNING][G_RUNNABLE] = 1, [G_WAITING][G_RUNNABLE] = 1,
        [G_RUNNING][G_DEAD] = 1,    [G_WAITING][G_RUNNING] = 1,
    };
    if (from >= G_NSTATUS || to >= G_NSTATUS || !legal[from][to])
        gdiag_throw("runtime: illegal goroutine status change %s -> %s (goroutine %llu)",
                    gstatus_string(from), gstatus_string(to), (unsigned long long)gp->goid);
#endif
    /* A plain load and store, not a CAS: each transition has exactly one
     * writer (the g's own M, or the one waker that dequeued it under a wait
     * queue lock), so the check below catches protocol bugs without paying
     * for a locked instruction on every switch. */
    uint32_t old = atomic_load_explicit(&gp->atomicstatus, memory_order_relaxed);
    if (GOC_UNLIKELY(old != from))
        gdiag_throw("runtime: goroutine %llu status is %s, expected %s (changing to %s)",
                    (unsigned long long)gp->goid, gstatus_string(old), gstatus_string(from),
                    gstatus_string(to));
    atomic_store_explicit(&gp->atomicstatus, to, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Run queues (Go's runqput/runqget/runqgrab)                         */

static void globrunqputbatch_locked(g *head, g *tail, int32_t n) {
    tail->schedlink = NULL;
    if (sched.runqtail)
        sched.runqtail->schedlink = head;
    else
        sched.runqhead = head;
    sched.runqtail = tail;
    atomic_store(&sched.runqsize, sched.runqsize + n);
}

static void globrunqput_locked(g *gp) { globrunqputbatch_locked(gp, gp, 1); }

static bool runqempty(p *pp) {
    for (;;) {
        uint32_t head = atomic_load(&pp->runqhead);
        uint32_t tail = atomic_load(&pp->runqtail);
        g *next = atomic_load(&pp->runnext);
        if (tail == atomic_load(&pp->runqtail))
            return head == tail && next == NULL;
    }
}

/* Overflow of the local ring: move half of it plus gp to the global queue. */
static bool runqputslow(p *pp, g *gp, uint32_t head, uint32_t tail) {
    g *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;
    GOC_ASSERT(n == RUNQ_SIZE / 2);
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&pp->runq[(head + i) % RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&pp->runqhead, &head, head + n))
        return false;
    batch[n] = gp;
    for (uint32_t i = 0; i < n; i++)
        batch[i]->schedlink = batch[i + 1];
    glock_lock(&sched.lock);
    globrunqputbatch_locked(batch[0], batch[n], (int32_t)n + 1);
    glock_unlock(&sched.lock);
    return true;
}

/* Put gp on pp's local queue (owner only). next: into runnext, kicking the
 * previous runnext to the tail. */
static inline __attribute__((always_inline)) void runqput(p *pp, g *gp, bool next) {
    if (next) {
        g *old = atomic_exchange(&pp->runnext, gp);
        if (!old)
            return;
        gp = old;
    }
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail - head < RUNQ_SIZE) {
            atomic_store_explicit(&pp->runq[tail % RUNQ_SIZE], gp, memory_order_relaxed);
            /* Release, as Go's StoreRel: a spinner that misses this store
             * (store-buffer reordering against its nmspinning decrement)
             * leaves the g on a running P, which gets to it itself; sysmon
             * spreads it if that P stays busy. */
            atomic_store_explicit(&pp->runqtail, tail + 1, memory_order_release);
            return;
        }
        if (runqputslow(pp, gp, head, tail))
            return;
    }
}

/* Get a g from pp's local queue (owner only): runnext first. */
static inline __attribute__((always_inline)) g *runqget(p *pp) {
    g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (next && atomic_compare_exchange_strong(&pp->runnext, &next, NULL))
        return next;
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail == head)
            return NULL;
        g *gp = atomic_load_explicit(&pp->runq[head % RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + 1,
                                                  memory_order_release, memory_order_relaxed))
            return gp;
    }
}

/* Grab half of pp's queue into batch (a ring indexed from batchhead).
 * Returns how many. */
static uint32_t runqgrab(p *pp, g **batch, uint32_t batchhead, bool stealnext) {
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        uint32_t n = tail - head;
        n -= n / 2;
        if (n == 0) {
            if (stealnext) {
                g *next = atomic_load(&pp->runnext);
                if (next) {
                    if (atomic_load(&pp->status) == P_RUNNING) {
                        /* The owner is likely about to switch to it; give it
                         * a few microseconds before stealing (Go does too). */
                        int64_t until = gnanotime() + 3000;
                        while (gnanotime() < until && atomic_load(&pp->runnext) == next)
                            gcpu_relax();
                    }
                    if (atomic_compare_exchange_strong(&pp->runnext, &next, NULL)) {
                        batch[batchhead % RUNQ_SIZE] = next;
                        return 1;
                    }
                }
            }
            return 0;
        }
        if (n > RUNQ_SIZE / 2)
            continue; /* inconsistent read of head and tail: retry */
        for (uint32_t i = 0; i < n; i++)
            batch[(batchhead + i) % RUNQ_SIZE] =
                atomic_load_explicit(&pp->runq[(head + i) % RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + n,
                                                  memory_order_release, memory_order_relaxed))
            return n;
    }
}

/* Steal half of p2's queue into pp's; returns one g to run. */
static g *runqsteal(p *pp, p *p2, bool stealnext) {
    g *batch[RUNQ_SIZE];
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    uint32_t n = runqgrab(p2, batch, 0, stealnext);
    if (n == 0)
        return NULL;
    n--;
    g *gp = batch[n];
    if (n == 0)
        return gp;
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    GOC_CHECK(t - h + n < RUNQ_SIZE);
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&pp->runq[(t + i) % RUNQ_SIZE], batch[i], memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, t + n, memory_order_seq_cst);
    return gp;
}

/* Take a batch from the global queue (sched.lock held); put the rest on pp. */
static g *globrunqget_locked(p *pp, int32_t max) {
    int32_t size = atomic_load(&sched.runqsize);
    if (size == 0)
        return NULL;
    int32_t procs = atomic_load(&gomaxprocs);
    int32_t n = size / procs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    atomic_store(&sched.runqsize, size - n);
    g *gp = sched.runqhead;
    sched.runqhead = gp->schedlink;
    n--;
    for (; n > 0; n--) {
        g *g1 = sched.runqhead;
        sched.runqhead = g1->schedlink;
        runqput(pp, g1, false);
    }
    if (!sched.runqhead)
        sched.runqtail = NULL;
    return gp;
}

/* ------------------------------------------------------------------ */
/* Idle Ps and Ms                                                      */

static void pidleput_locked(p *pp) {
    GOC_ASSERT(runqempty(pp));
    atomic_store(&pp->status, P_IDLE);
    pp->link = sched.pidle;
    sched.pidle = pp;
    atomic_fetch_add(&sched.npidle, 1);
}

static p *pidleget_locked(void) {
    p *pp = sched.pidle;
    if (pp) {
        sched.pidle = pp->link;
        atomic_fetch_sub(&sched.npidle, 1);
    }
    return pp;
}

static void sysmon_wake(void);

static void acquirep(m *mp, p *pp) {
    GOC_ASSERT(!mp->p && !pp->m);
    mp->p = pp;
    pp->m = mp;
    atomic_store(&pp->status, P_RUNNING);
    sysmon_wake();
}

static p *releasep(m *mp) {
    p *pp = mp->p;
    GOC_ASSERT(pp && pp->m == mp);
    mp->p = NULL;
    pp->m = NULL;
    return pp;
}

static int newm(p *pp, bool spinning);

/* Start an M to run pp (or an idle P when pp is NULL). A spinning start has
 * already incremented nmspinning. */
static void startm(p *pp, bool spinning) {
    glock_lock(&sched.lock);
    if (!pp) {
        pp = pidleget_locked();
        if (!pp) {
            glock_unlock(&sched.lock);
            if (spinning)
                atomic_fetch_sub(&sched.nmspinning, 1);
            return;
        }
    }
    m *nmp = sched.midle;
    if (nmp) {
        sched.midle = nmp->link;
        sched.nmidle--;
    }
    glock_unlock(&sched.lock);
    if (!nmp) {
        if (newm(pp, spinning) != 0) {
            /* No thread: give the P back; existing Ms will get to the work. */
            glock_lock(&sched.lock);
            pidleput_locked(pp);
            glock_unlock(&sched.lock);
            if (spinning)
                atomic_fetch_sub(&sched.nmspinning, 1);
        }
        return;
    }
    GOC_ASSERT(!nmp->spinning && !nmp->nextp);
    nmp->spinning = spinning;
    nmp->nextp = pp;
    note_wakeup(&nmp->park);
}

/* Make sure someone will look at newly available work. */
static void wakep(void) {
    if (atomic_load(&sched.npidle) == 0)
        return;
    int32_t z = 0;
    if (atomic_load(&sched.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&sched.nmspinning, &z, 1))
        return;
    startm(NULL, true);
}

/* Hand off P from an M that is about to block (or stop) without running. */
static void handoffp(p *pp) {
    if (!runqempty(pp) || atomic_load(&sched.runqsize) != 0) {
        startm(pp, false);
        return;
    }
    int32_t z = 0;
    if (atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) == 0 &&
        atomic_compare_exchange_strong(&sched.nmspinning, &z, 1)) {
        startm(pp, true);
        return;
    }
    glock_lock(&sched.lock);
    if (atomic_load(&sched.runqsize) != 0) {
        glock_unlock(&sched.lock);
        startm(pp, false);
        return;
    }
    pidleput_locked(pp);
    glock_unlock(&sched.lock);
}

/* Park the M until someone hands it a P (m->nextp). */
static void checkdead_locked(void);

static void stopm(m *mp) {
    GOC_ASSERT(!mp->p && !mp->spinning);
    glock_lock(&sched.lock);
    mp->link = sched.midle;
    sched.midle = mp;
    sched.nmidle++;
    checkdead_locked();
    glock_unlock(&sched.lock);
    note_sleep(&mp->park);
    note_clear(&mp->park);
    p *pp = mp->nextp;
    mp->nextp = NULL;
    GOC_CHECK(pp != NULL);
    acquirep(mp, pp);
}

/* The deadlock detector (Go's checkdead), run by the last M to go idle,
 * under sched.lock. A deadlock is reported only when nothing could ever wake
 * anyone: a goc_run main goroutine exists, no M runs, no g is runnable, no
 * timer is pending, and every thread of the process is either a goc thread
 * or a plain thread blocked inside goc. */

static int read_num_threads(void) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* Field 20 is num_threads; the command name (field 2) may contain spaces,
     * so count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    int field = 2;
    for (; *p && field < 20; p++)
        if (*p == ' ')
            field++;
    return atoi(p);
}

static int64_t (*timers_hook(void))(int64_t);
static void checkdead_locked(void);

void gsched_checkdead(void) {
    glock_lock(&sched.lock);
    checkdead_locked();
    glock_unlock(&sched.lock);
}

static void checkdead_locked(void) {
    /* <= 0: a main goroutine may finish on another M before its creator
     * counts it (a transient -1). */
    if (atomic_load(&sched.nmain) <= 0)
        return;
    int32_t run = atomic_load(&sched.mcount) - sched.nmidle - sched.nmidlelocked;
    if (run > 0)
        return;
    if (atomic_load(&sched.runqsize) > 0)
        return;
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++)
        if (!runqempty(allp[i]))
            return;
    if (timers_hook() && timer_hooks.pending() > 0)
        return;
    uint64_t gen = gdiag_threads_gen();
    int expected = atomic_load(&sched.mcount) + 1 /* sysmon */ + gdiag_threads_blocked();
#if defined(GOC_RACE)
    expected += 1; /* ThreadSanitizer's background thread */
#endif
    int threads = read_num_threads();
    /* Plain threads block and wake without sched.lock: if one did while we
     * counted, the counts do not describe one moment. Whoever blocks next
     * checks again. */
    if (gdiag_threads_gen() != gen)
        return;
    /* Unknown (qemu-user reports 0), or a plain thread doing its own work,
     * which may still wake someone: no deadlock. */
    if (threads <= 0 || threads > expected)
        return;
    gdiag_deadlock();
}

/* ------------------------------------------------------------------ */
/* g allocation                                                        */

static void gfput(p *pp, g *gp) {
    if (gp->stack && (gp->stack->flags & GSTACK_CUSTOM)) {
        /* Unmapped now: not while a dump may be reading it. */
        glock_lock(&allglock);
        gstack *st = gp->stack;
        G_STORE(gp->stack, NULL);
        glock_unlock(&allglock);
        gstack_put(NULL, st);
    } else if (gp->stack) {
        gstack_put(pp ? &pp->stackcache : NULL, gp->stack);
        G_STORE(gp->stack, NULL);
    }
    if (gp->argheap) {
        free(gp->argheap);
        gp->argheap = NULL;
    }
    G_STORE(gp->started, false);
    if (pp && pp->ngfree < GFREE_MAX) {
        gp->schedlink = pp->gfree;
        pp->gfree = gp;
        pp->ngfree++;
        return;
    }
    glock_lock(&sched.lock);
    gp->schedlink = sched.gfree;
    sched.gfree = gp;
    sched.ngfree++;
    /* Also move half of the local list, so that Ms that only spawn find gs. */
    if (pp) {
        while (pp->ngfree > GFREE_MAX / 2) {
            g *x = pp->gfree;
            pp->gfree = x->schedlink;
            pp->ngfree--;
            x->schedlink = sched.gfree;
            sched.gfree = x;
            sched.ngfree++;
        }
    }
    glock_unlock(&sched.lock);
}

static g *gfget(p *pp) {
    if (pp && !pp->gfree && sched.ngfree > 0) {
        glock_lock(&sched.lock);
        while (pp->ngfree < GFREE_MAX / 2 && sched.gfree) {
            g *x = sched.gfree;
            sched.gfree = x->schedlink;
            sched.ngfree--;
            x->schedlink = pp->gfree;
            pp->gfree = x;
            pp->ngfree++;
        }
        glock_unlock(&sched.lock);
    }
    if (pp && pp->gfree) {
        g *gp = pp->gfree;
        pp->gfree = gp->schedlink;
        pp->ngfree--;
        return gp;
    }
    if (!pp && sched.ngfree > 0) {
        glock_lock(&sched.lock);
        g *gp = sched.gfree;
        if (gp) {
            sched.gfree = gp->schedlink;
            sched.ngfree--;
        }
        glock_unlock(&sched.lock);
        return gp;
    }
    return NULL;
}

static g *malg(void) {
    if (gfail_hit(GFAIL_G_ALLOC))
        return NULL;
    g *gp = calloc(1, sizeof *gp);
    if (!gp)
        return NULL;
    glock_lock(&allglock);
    if (nallgs == capallgs) {
        size_t ncap = capallgs ? capallgs * 2 : 1024;
        g **n = realloc(allgs, ncap * sizeof *n);
        if (!n) {
            glock_unlock(&allglock);
            free(gp);
            return NULL;
        }
        allgs = n;
        capallgs = ncap;
    }
    allgs[nallgs++] = gp;
    /* Published dead: dumps skip it until newproc makes it runnable. */
    atomic_store(&gp->atomicstatus, G_DEAD);
    glock_unlock(&allglock);
    return gp;
}

void gsched_for_each_g(void (*fn)(g *gp, void *arg), void *arg) {
    glock_lock(&allglock);
    for (size_t i = 0; i < nallgs; i++)
        if (gstatus_of(allgs[i]) != G_DEAD)
            fn(allgs[i], arg);
    glock_unlock(&allglock);
}

void gsched_for_each_g_in_signal(void (*fn)(g *gp, void *arg), void *arg) {
    /* A signal handler must not block on a lock its own thread may hold:
     * try for a while, then read the list unlocked (the process exits after
     * the dump anyway). allgs only grows, and entries are never freed. */
    bool locked = false;
    for (int i = 0; i < 200 && !(locked = glock_trylock(&allglock)); i++) {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    size_t n = __atomic_load_n(&nallgs, __ATOMIC_ACQUIRE);
    g **all = __atomic_load_n(&allgs, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++)
        if (gstatus_of(all[i]) != G_DEAD)
            fn(all[i], arg);
    if (locked)
        glock_unlock(&allglock);
}

static uint64_t newgoid(p *pp) {
    if (!pp) {
        return atomic_fetch_add(&sched.goidgen, 1) + 1;
    }
    if (pp->goidcache == pp->goidcacheend) {
        pp->goidcache = atomic_fetch_add(&sched.goidgen, GOID_BATCH) + 1;
        pp->goidcacheend = pp->goidcache + GOID_BATCH;
    }
    return pp->goidcache++;
}

/* ------------------------------------------------------------------ */
/* Switching                                                           */

static void goentry(void *unused);
static void schedule(m *mp);

#if defined(GOC_ASAN)
static void stack_bounds(g *gp, m *mp, const void **lo, size_t *size) {
    if (gp == &mp->g0) {
        *lo = mp->stack_lo;
        *size = mp->stack_size;
    } else {
        *lo = gp->stack->lo;
        *size = (size_t)(gp->stack->hi - gp->stack->lo);
    }
}
#endif

static void stack_overflow_check(g *gp) {
    if (gp->stack && (gp->stack->flags & GSTACK_CANARY) && !gstack_canary_ok(gp->stack))
        gdiag_stack_overflow(gp, NULL);
}

/* Switch this M from `from` (running, its status already changed) to `to`. */
static void gogo(m *mp, g *from, g *to) {
    if (to != &mp->g0) {
        GOC_ASSERT(gstatus_of(to) == G_RUNNABLE);
        if (!to->started) {
            if (!to->stack) {
                G_STORE(to->stack, gstack_get(mp->p ? &mp->p->stackcache : NULL, 0));
                if (!to->stack)
                    gdiag_throw("runtime: out of memory: cannot allocate a goroutine stack");
            }
            to->sp = garch_init_stack(to->stack->hi, goentry, NULL);
            G_STORE(to->started, true);
        }
        casgstatus(to, G_RUNNABLE, G_RUNNING);
        to->m = mp;
    }
    mp->curg = to == &mp->g0 ? NULL : to;
    stack_overflow_check(from);
#if defined(GOC_RACE)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#if defined(GOC_ASAN)
    const void *lo;
    size_t size;
    stack_bounds(to, mp, &lo, &size);
    bool dying = mp->post.act == POST_EXIT && mp->post.gp == from;
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake, lo, size);
#endif
    garch_switch(&from->sp, to->sp);
#if defined(GOC_ASAN)
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

/* Finish the switch that just landed on this stack. */
void gsched_after_switch(void) {
    m *mp = getm();
    enum post_action act = mp->post.act;
    g *gp = mp->post.gp;
    mp->post.act = POST_NONE;
    mp->post.gp = NULL;
    switch (act) {
    case POST_NONE:
        break;
    case POST_PARK:
        if (mp->post.unlockf && !mp->post.unlockf(gp, mp->post.arg)) {
            /* The wait was abandoned: resume it as soon as possible. */
            casgstatus(gp, G_WAITING, G_RUNNABLE);
            runqput(mp->p, gp, true);
        }
        break;
    case POST_YIELD:
        runqput(mp->p, gp, false);
        break;
    case POST_YIELD_NEXT:
        runqput(mp->p, gp, true);
        break;
    case POST_EXIT:
#if defined(GOC_RACE)
        __tsan_destroy_fiber(gp->tsan_fiber);
        gp->tsan_fiber = NULL;
#endif
        gfput(mp->p, gp);
        break;
    }
}

/* Quick pick from the local queue for a direct switch (on a g stack). */
static g *runq_quickget(m *mp) {
    p *pp = mp->p;
    if (mp->lockedg || pp->id >= atomic_load_explicit(&gomaxprocs, memory_order_relaxed))
        return NULL;
    pp->schedtick++;
    g *gp = NULL;
    if (pp->schedtick % 61 == 0 && atomic_load_explicit(&sched.runqsize, memory_order_relaxed)) {
        glock_lock(&sched.lock);
        gp = globrunqget_locked(pp, 1);
        glock_unlock(&sched.lock);
    }
    if (!gp)
        gp = runqget(pp);
    if (gp && gp->lockedm && gp->lockedm != mp) {
        mp->handoff = gp; /* g0 hands our P to its thread */
        return NULL;
    }
    return gp;
}

/* The current goroutine stops running (status already set): do `act` to it
 * once its context is saved, and run something else. */
static void switch_out(m *mp, g *gp, enum post_action act) {
    mp->post.act = act;
    mp->post.gp = gp;
    g *next = runq_quickget(mp);
    gogo(mp, gp, next ? next : &mp->g0);
    gsched_after_switch();
}

void gopark(bool (*unlockf)(g *, void *), void *arg, enum waitreason reason) {
    m *mp = getm();
    g *gp = mp ? mp->curg : NULL;
    if (!gp) {
        /* A plain thread: block it on its note. */
        gp = thread_g();
        G_STORE(gp->waitreason, (uint8_t)reason);
        G_STORE(gp->waitsince, gnanotime_coarse());
        note_clear(&gp->tnote);
        casgstatus(gp, G_RUNNING, G_WAITING);
        gdiag_thread_blocked(+1);
        if (unlockf && !unlockf(gp, arg)) {
            gdiag_thread_blocked(-1);
            casgstatus(gp, G_WAITING, G_RUNNING);
            return;
        }
        /* This thread blocking may be what completes a deadlock: every M may
         * already be idle, and none would look again. */
        gsched_checkdead();
        note_sleep(&gp->tnote); /* goready took us off the blocked count */
        casgstatus(gp, G_RUNNABLE, G_RUNNING);
        G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
        return;
    }
    G_STORE(gp->waitreason, (uint8_t)reason);
    G_STORE(gp->waitsince, gnanotime_coarse());
    mp->post.unlockf = unlockf;
    mp->post.arg = arg;
    casgstatus(gp, G_RUNNING, G_WAITING);
    switch_out(mp, gp, POST_PARK);
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
}

/* Queue a g that just became runnable: into runnext of the caller's P (it
 * runs next here), or on the global queue when the caller is a plain thread
 * or g0 without a P. */
static void runqready(m *mp, g *gp) {
    if (mp && mp->p) {
        p *pp = mp->p;
        bool alone = atomic_load_explicit(&pp->runnext, memory_order_relaxed) == NULL &&
                     atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
                         atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        runqput(pp, gp, true);
        /* Alone in runnext: it runs here as soon as the caller blocks, which in
         * a handoff is right away. Waking another thread to steal it would cost
         * a futex round trip per message; sysmon catches the case where the
         * caller keeps running instead. A locked M runs nothing else. */
        if (!alone || mp->lockedg)
            wakep();
        return;
    }
    glock_lock(&sched.lock);
    globrunqput_locked(gp);
    glock_unlock(&sched.lock);
    wakep();
}

void goready(g *gp) {
    if (gp->thread_g) {
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        /* Counted as running before it wakes, so the deadlock detector never
         * sees a woken thread as still blocked. */
        gdiag_thread_blocked(-1);
        note_wakeup(&gp->tnote);
        return;
    }
    casgstatus(gp, G_WAITING, G_RUNNABLE);
    runqready(getm(), gp);
}

/* ------------------------------------------------------------------ */
/* The scheduler loop (on g0)                                          */

static g *stealwork(m *mp) {
    p *pp = mp->p;
    int32_t n = atomic_load(&nallp);
    for (int round = 0; round < 4; round++) {
        bool last = round == 3;
        uint32_t start = gfastrandn((uint32_t)n);
        for (int32_t i = 0; i < n; i++) {
            p *p2 = allp[(start + (uint32_t)i) % (uint32_t)n];
            if (p2 == pp || atomic_load(&p2->status) == P_IDLE)
                continue;
            g *gp = runqsteal(pp, p2, last);
            if (gp)
                return gp;
        }
    }
    return NULL;
}

/* Give up a P whose id is beyond gomaxprocs: its work goes to the global queue. */
static void retirep(m *mp) {
    p *pp = releasep(mp);
    g *gp;
    /* Empty the owner-only caches while we still own the P: once it is
     * published as retired, goc_maxprocs may revive it for another M. */
    gstack_cache_flush(&pp->stackcache);
    glock_lock(&sched.lock);
    while ((gp = runqget(pp)))
        globrunqput_locked(gp);
    atomic_store(&pp->status, P_RETIRED);
    glock_unlock(&sched.lock);
    wakep();
}

static bool p_retiring(p *pp) {
    return pp->id >= atomic_load(&gomaxprocs);
}

static void resetspinning(m *mp) {
    mp->spinning = false;
    int32_t n = atomic_fetch_sub(&sched.nmspinning, 1) - 1;
    GOC_CHECK(n >= 0);
    if (n == 0 && atomic_load(&sched.npidle) > 0)
        wakep();
}

/* Find a runnable g; blocks (parks the M) until there is one. */
static g *findrunnable(m *mp) {
top:
    if (!mp->p) {
        stopm(mp);
        goto top;
    }
    p *pp = mp->p;
    if (p_retiring(pp)) {
        if (mp->spinning) {
            mp->spinning = false;
            atomic_fetch_sub(&sched.nmspinning, 1);
        }
        retirep(mp);
        stopm(mp);
        goto top;
    }
    pp->schedtick++;
    g *gp;
    if (pp->schedtick % 61 == 0 && atomic_load(&sched.runqsize) > 0) {
        glock_lock(&sched.lock);
        gp = globrunqget_locked(pp, 1);
        glock_unlock(&sched.lock);
        if (gp)
            return gp;
    }
    if ((gp = runqget(pp)))
        return gp;
    if (atomic_load(&sched.runqsize) > 0) {
        glock_lock(&sched.lock);
        gp = globrunqget_locked(pp, 0);
        glock_unlock(&sched.lock);
        if (gp)
            return gp;
    }
    if (timers_hook()) {
        int64_t now = gnanotime();
        if (timer_hooks.next() <= now) {
            timers_hook()(now);
            if (!runqempty(pp))
                goto top;
        }
    }
    int32_t procs = atomic_load(&gomaxprocs);
    if (mp->spinning || 2 * atomic_load(&sched.nmspinning) < procs - atomic_load(&sched.npidle)) {
        if (!mp->spinning) {
            mp->spinning = true;
            atomic_fetch_add(&sched.nmspinning, 1);
        }
        if ((gp = stealwork(mp)))
            return gp;
    }
    /* Nothing: give up the P. */
    glock_lock(&sched.lock);
    if (atomic_load(&sched.runqsize) > 0) {
        gp = globrunqget_locked(pp, 0);
        glock_unlock(&sched.lock);
        return gp;
    }
    releasep(mp);
    pidleput_locked(pp);
    glock_unlock(&sched.lock);
    bool wasspinning = mp->spinning;
    if (mp->spinning) {
        mp->spinning = false;
        atomic_fetch_sub(&sched.nmspinning, 1);
    }
    /* Re-check every queue after publishing that we are idle (see the
     * wakeup protocol in the design comment). */
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++) {
        p *p2 = allp[i];
        if (!runqempty(p2) || atomic_load(&sched.runqsize) > 0) {
            glock_lock(&sched.lock);
            p *np = pidleget_locked();
            glock_unlock(&sched.lock);
            if (np) {
                acquirep(mp, np);
                if (wasspinning) {
                    mp->spinning = true;
                    atomic_fetch_add(&sched.nmspinning, 1);
                }
                goto top;
            }
            break;
        }
    }
    stopm(mp);
    goto top;
}

/* Hand our P to the M that gp is locked to, and stop. */
static void startlockedm(m *mp, g *gp) {
    m *lm = gp->lockedm;
    p *pp = releasep(mp);
    GOC_ASSERT(lm->nextp == NULL);
    lm->nextp = pp;
    /* Count lm as running before it wakes, so that the deadlock detector
     * never sees the handed-off goroutine in flight with every M idle. */
    glock_lock(&sched.lock);
    sched.nmidlelocked--;
    glock_unlock(&sched.lock);
    note_wakeup(&lm->park);
    stopm(mp);
}

/* A locked M whose goroutine is not runnable: give the P away and sleep
 * until the goroutine is handed back to us. */
static void stoplockedm(m *mp) {
    if (mp->p)
        handoffp(releasep(mp));
    glock_lock(&sched.lock);
    sched.nmidlelocked++;
    checkdead_locked();
    glock_unlock(&sched.lock);
    note_sleep(&mp->park); /* startlockedm took us off nmidlelocked */
    note_clear(&mp->park);
    p *pp = mp->nextp;
    mp->nextp = NULL;
    GOC_CHECK(pp != NULL);
    acquirep(mp, pp);
}

static void execute(m *mp, g *gp) {
    gogo(mp, &mp->g0, gp);
    gsched_after_switch();
}

static void schedule(m *mp) {
    for (;;) {
        if (mp->handoff) {
            g *gp = mp->handoff;
            mp->handoff = NULL;
            startlockedm(mp, gp);
            continue;
        }
        if (mp->lockedg) {
            /* Only the goroutine locked to us may run here, and only once
             * whoever took it off a run queue hands it to us (startlockedm):
             * even when it is runnable now it sits on some run queue. */
            stoplockedm(mp);
            g *lg = mp->lockedg;
            GOC_CHECK(lg && gstatus_of(lg) == G_RUNNABLE);
            execute(mp, lg);
            continue;
        }
        g *gp = findrunnable(mp);
        if (mp->spinning)
            resetspinning(mp);
        if (gp->lockedm && gp->lockedm != mp) {
            startlockedm(mp, gp);
            continue;
        }
        execute(mp, gp);
    }
}

/* ------------------------------------------------------------------ */
/* Ms                                                                  */

static void *mstart(void *arg) {
    m *mp = arg;
    tls_m = mp;
    mp->tid = (pid_t)syscall(SYS_gettid);
    mp->g0.thread_g = true;
    atomic_store(&mp->g0.atomicstatus, G_RUNNING);
#if defined(GOC_RACE)
    mp->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
#if defined(GOC_ASAN)
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t sz;
        pthread_attr_getstack(&attr, &lo, &sz);
        mp->stack_lo = lo;
        mp->stack_size = sz;
        pthread_attr_destroy(&attr);
    }
#endif
    /* newm started us with every signal blocked; synchronous faults must
     * reach the stack-overflow handler. */
    sigset_t sync_sigs;
    sigemptyset(&sync_sigs);
    sigaddset(&sync_sigs, SIGSEGV);
    sigaddset(&sync_sigs, SIGBUS);
    sigaddset(&sync_sigs, SIGFPE);
    sigaddset(&sync_sigs, SIGILL);
    sigaddset(&sync_sigs, SIGTRAP);
    pthread_sigmask(SIG_UNBLOCK, &sync_sigs, NULL);
    gdiag_minit(mp);
    p *pp = mp->nextp;
    mp->nextp = NULL;
    acquirep(mp, pp);
    schedule(mp);
    return NULL;
}

/* A detached runtime thread. It starts with every signal blocked, so that it
 * never takes signals meant for the program's own threads (mstart unblocks
 * the synchronous ones). */
static void *sysmon(void *unused);

static int start_thread(void *(*fn)(void *), void *arg, size_t stack) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, stack);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

static int newm(p *pp, bool spinning) {
    if (gfail_hit(GFAIL_THREAD_CREATE))
        return -EAGAIN;
    m *mp = calloc(1, sizeof *mp);
    if (!mp)
        return -ENOMEM;
    mp->id = atomic_fetch_add(&sched.mnext, 1);
    mp->fastrand = (uint64_t)gnanotime() ^ ((uint64_t)mp->id * 0x9e3779b97f4a7c15ull) ^ 1;
    mp->spinning = spinning;
    mp->nextp = pp;
    /* Counted before it exists: it is "running" until it parks, so the
     * deadlock detector never sees every M idle while this one starts. */
    atomic_fetch_add(&sched.mcount, 1);
    int rc = start_thread(mstart, mp, 512 * 1024);
    if (rc != 0) {
        atomic_fetch_sub(&sched.mcount, 1);
        free(mp);
        return -EAGAIN;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sysmon                                                              */

/* sysmon sleeps on sched.sysmonnote until sysmon_deadline. Whoever needs it
 * sooner pokes it: a timer due earlier than that, or a P that starts running
 * while sysmon idles. The poke and the sleep form a Dekker pair: sysmon
 * publishes its deadline and sleeping flag, then re-reads the timers; a
 * poker publishes its timer, then reads the deadline. */
static _Atomic int64_t sysmon_deadline = INT64_MIN; /* INT64_MIN: awake */
static _Atomic uint32_t sysmon_sleeping;
static _Atomic uint32_t sysmon_idle; /* sleeping because every P is idle */


void gsched_set_timer_hooks(int64_t (*run)(int64_t), int64_t (*next)(void),
                            int32_t (*pending)(void)) {
    timer_hooks.next = next;
    timer_hooks.pending = pending;
    atomic_store_explicit(&timer_hooks.run, run, memory_order_release);
}

void gsched_sysmon_poke(int64_t when) {
    if (when >= atomic_load(&sysmon_deadline))
        return;
    uint32_t one = 1;
    if (atomic_compare_exchange_strong(&sysmon_sleeping, &one, 0))
        note_wakeup(&sched.sysmonnote);
}

static void sysmon_wake(void) {
    if (atomic_load_explicit(&sysmon_idle, memory_order_relaxed))
        gsched_sysmon_poke(INT64_MIN + 1);
}

/* The timer hook, or NULL before the time subsystem started (acquire: its
 * other hooks and state are visible once this is). */
static int64_t (*timers_hook(void))(int64_t) {
    return atomic_load_explicit(&timer_hooks.run, memory_order_acquire);
}

static int64_t timers_next(void) {
    return timers_hook() ? timer_hooks.next() : INT64_MAX;
}

static void sysmon_sleep_until(int64_t deadline, bool idle) {
    atomic_store(&sysmon_deadline, deadline);
    atomic_store(&sysmon_idle, idle);
    atomic_store(&sysmon_sleeping, 1);
    bool cancel = timers_next() < deadline ||
                  (idle && atomic_load(&sched.npidle) < atomic_load(&gomaxprocs));
    int64_t now = gnanotime();
    if (!cancel && deadline > now)
        note_tsleep(&sched.sysmonnote, deadline - now);
    uint32_t one = 1;
    if (!atomic_compare_exchange_strong(&sysmon_sleeping, &one, 0))
        note_sleep(&sched.sysmonnote); /* a poker claimed the wakeup: consume it */
    note_clear(&sched.sysmonnote);
    atomic_store(&sysmon_idle, 0);
    atomic_store(&sysmon_deadline, INT64_MIN);
}

static void *sysmon(void *unused) {
    (void)unused;
    int64_t delay = 20000; /* ns */
    int64_t last_scavenge = gnanotime();
    int quiet = 0;
    for (;;) {
        int64_t now = gnanotime();
        int64_t next = INT64_MAX;
        int64_t (*run)(int64_t) = timers_hook();
        if (run)
            next = run(now); /* timers due while every P is busy or idle */
        if (now - last_scavenge > 1000000000) {
            last_scavenge = now;
            gstack_scavenge();
        }
        int32_t procs = atomic_load(&gomaxprocs);
        if (atomic_load(&sched.npidle) >= procs && atomic_load(&sched.runqsize) == 0) {
            /* Everything idle: sleep until a timer is due, a P starts
             * running again, or the scavenger's second is up. */
            int64_t until = now + 1000000000;
            sysmon_sleep_until(next < until ? next : until, true);
            delay = 20000;
            quiet = 0;
            continue;
        }
        /* Work queued on a P while Ps sit idle and nobody spins: a readied
         * goroutine waits in runnext behind a goroutine that kept running. */
        bool stuck = false;
        if (atomic_load(&sched.npidle) > 0 && atomic_load(&sched.nmspinning) == 0) {
            int32_t n = atomic_load(&nallp);
            for (int32_t i = 0; i < n && !stuck; i++)
                stuck = atomic_load(&allp[i]->status) == P_RUNNING && !runqempty(allp[i]);
            stuck = stuck || atomic_load(&sched.runqsize) > 0;
        }
        if (stuck) {
            wakep();
            quiet = 0;
            delay = 20000;
        } else if (++quiet > 50 && delay < 10 * 1000000) {
            delay *= 2; /* back off, as Go's sysmon does, up to 10 ms */
        }
        sysmon_sleep_until(next < now + delay ? next : now + delay, false);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Initialisation                                                      */

static int32_t getncpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int32_t)n : 1;
}

static p *newp(int32_t id) {
    p *pp = calloc(1, sizeof *pp);
    if (!pp)
        return NULL;
    pp->id = id;
    return pp;
}

static void schedinit(void) {
    ncpu = getncpu();
    int32_t procs = ncpu;
    const char *env = getenv("GOCMAXPROCS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v > 0)
            procs = v > MAXPROCS_LIMIT ? MAXPROCS_LIMIT : (int32_t)v;
    }
    gstack_init();
    gdiag_init();
    glock_lock(&sched.lock);
    for (int32_t i = procs - 1; i >= 0; i--) {
        p *pp = newp(i);
        if (!pp) {
            glock_unlock(&sched.lock);
            atomic_store(&init_err, -ENOMEM);
            return;
        }
        allp[i] = pp;
        pidleput_locked(pp);
    }
    atomic_store(&nallp, procs);
    atomic_store(&gomaxprocs, procs);
    glock_unlock(&sched.lock);
    int rc = gfail_hit(GFAIL_THREAD_CREATE) ? EAGAIN : start_thread(sysmon, NULL, 256 * 1024);
    if (rc != 0)
        atomic_store(&init_err, -EAGAIN);
}

int gsched_init(void) {
    pthread_once(&init_once, schedinit);
    return atomic_load(&init_err);
}

/* ------------------------------------------------------------------ */
/* Goroutine creation and exit                                          */

static void goexit1(void) __attribute__((noreturn));

static void ngoroutine_add(p *pp, int64_t d) {
    if (pp)
        atomic_store_explicit(&pp->ngoroutine,
                              atomic_load_explicit(&pp->ngoroutine, memory_order_relaxed) + d,
                              memory_order_relaxed);
    else
        atomic_fetch_add(&sched.ngoroutine, (int32_t)d);
}

static void goentry(void *unused) {
    (void)unused;
#if defined(GOC_ASAN)
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    gsched_after_switch();
    g *gp = getm()->curg;
    gp->fn(gp->arg);
    goexit1();
}

static void goexit1(void) {
    m *mp = getm();
    g *gp = mp->curg;
    if (gp->lockedm) {
        mp->lockedg = NULL;
        gp->lockedm = NULL;
        gp->lockcount = 0;
    }
    G_STORE(gp->name[0], '\0');
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
    gp->is_main = false;
    ngoroutine_add(mp->p, -1);
    casgstatus(gp, G_RUNNING, G_DEAD);
    mp->post.act = POST_EXIT;
    mp->post.gp = gp;
    g *next = runq_quickget(mp);
    gogo(mp, gp, next ? next : &mp->g0);
    gdiag_throw("runtime: a dead goroutine was resumed");
}

int gsched_newproc(void (*fn)(void *), const void *args, size_t args_size, size_t stack_size,
                   bool is_main) {
    int err = gsched_init();
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    m *mp = getm();
    p *pp = mp ? mp->p : NULL;
    g *gp = gfget(pp);
    if (!gp && !(gp = malg()))
        return -ENOMEM;
    if (stack_size && stack_size != gstack_default_size()) {
        G_STORE(gp->stack, gstack_get(NULL, stack_size));
        if (!gp->stack) {
            gfput(pp, gp);
            return -ENOMEM;
        }
    }
    gp->stack_size = stack_size;
    if (args_size == 0) {
        gp->arg = (void *)args;
    } else if (args_size <= G_ARG_INLINE) {
        memcpy(gp->argbuf, args, args_size);
        gp->arg = gp->argbuf;
    } else {
        void *h = gfail_hit(GFAIL_ALLOC) ? NULL : malloc(args_size);
        if (!h) {
            gfput(pp, gp);
            return -ENOMEM;
        }
        memcpy(h, args, args_size);
        gp->argheap = h;
        gp->arg = h;
    }
    G_STORE(gp->fn, fn);
    G_STORE(gp->started, false);
    gp->lockedm = NULL;
    gp->lockcount = 0;
    gp->waiting = NULL;
    gp->param = NULL;
    G_STORE(gp->name[0], '\0');
    gp->is_main = is_main;
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
    G_STORE(gp->goid, newgoid(pp));
#if defined(GOC_RACE)
    gp->tsan_fiber = __tsan_create_fiber(0);
#endif
    /* The first thread: make sure one M exists, or report -EAGAIN. */
    if (atomic_load(&sched.mcount) == 0) {
        glock_lock(&sched.lock);
        if (atomic_load(&sched.mcount) == 0) {
            p *ip = pidleget_locked();
            glock_unlock(&sched.lock);
            if (ip && newm(ip, false) != 0) {
                glock_lock(&sched.lock);
                pidleput_locked(ip);
                glock_unlock(&sched.lock);
#if defined(GOC_RACE)
                __tsan_destroy_fiber(gp->tsan_fiber);
                gp->tsan_fiber = NULL;
#endif
                gfput(pp, gp);
                return -EAGAIN;
            }
        } else {
            glock_unlock(&sched.lock);
        }
    }
    ngoroutine_add(pp, 1);
    casgstatus(gp, G_DEAD, G_RUNNABLE);
    if (is_main) {
        /* goc_run, from a plain thread: count the main goroutine and queue
         * it in one sched.lock section, so that the deadlock detector (which
         * runs under that lock) never sees a main goroutine that is counted
         * but not yet on a run queue. */
        GOC_ASSERT(!mp || !mp->curg);
        glock_lock(&sched.lock);
        atomic_fetch_add(&sched.nmain, 1);
        globrunqput_locked(gp);
        glock_unlock(&sched.lock);
        wakep();
        return 0;
    }
    if (pp) {
        uint32_t queued = atomic_load_explicit(&pp->runqtail, memory_order_relaxed) -
                          atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
        if (queued >= RUNQ_SIZE - 2 && mp->curg && !mp->lockedg) {
            /* Spawn backpressure: the queue is full, so rather than spill it
             * to the global queue and pile up goroutines (and their memory)
             * without bound, run the new goroutine right now, with its
             * creator next in line (runnext). Depth first, like a call.
             * Go code cannot tell: a goroutine may be descheduled anywhere. */
            g *self = mp->curg;
            casgstatus(self, G_RUNNING, G_RUNNABLE);
            mp->post.act = POST_YIELD_NEXT;
            mp->post.gp = self;
            gogo(mp, self, gp);
            gsched_after_switch();
            return 0;
        }
    }
    runqready(mp, gp);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

int goc_go(void (*fn)(void *), void *arg) { return gsched_newproc(fn, arg, 0, 0, false); }

int goc_go_args(void (*fn)(void *), const void *args, size_t size) {
    if (size == 0)
        return gsched_newproc(fn, NULL, 0, 0, false);
    return gsched_newproc(fn, args, size, 0, false);
}

int goc_go_sized(void (*fn)(void *), const void *args, size_t args_size, size_t stack_size) {
    return gsched_newproc(fn, args, args_size, stack_size, false);
}

struct run_main {
    int (*fn)(void *);
    void *arg;
    int ret;
    gnote done;
};

static void run_main_entry(void *a) {
    struct run_main *rm = a;
    rm->ret = rm->fn(rm->arg);
    atomic_fetch_sub(&sched.nmain, 1);
    note_wakeup(&rm->done);
}

int goc_run(int (*fn)(void *), void *arg) {
    struct run_main rm = {fn, arg, 0, {0}};
    if (!fn)
        return -EINVAL;
    if (gsched_on_goroutine()) /* already inside goc: just call it */
        return fn(arg);
    /* Counted as blocked before main can run: otherwise main could block
     * and the last M go idle while this thread still looks busy, and the
     * deadlock would go unreported. */
    gdiag_thread_blocked(+1);
    int err = gsched_newproc(run_main_entry, &rm, 0, 0, true);
    if (err) {
        gdiag_thread_blocked(-1);
        return err;
    }
    note_sleep(&rm.done);
    gdiag_thread_blocked(-1);
    return rm.ret;
}

void goc_yield(void) {
    m *mp = getm();
    if (!mp || !mp->curg) {
        sched_yield();
        return;
    }
    g *gp = mp->curg;
    /* Nothing else to run here: keep going (cheap yields in a lone loop). */
    p *pp = mp->p;
    if (atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
            atomic_load_explicit(&pp->runqtail, memory_order_relaxed) &&
        !atomic_load_explicit(&pp->runnext, memory_order_relaxed) &&
        !atomic_load_explicit(&sched.runqsize, memory_order_relaxed))
        return;
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    switch_out(mp, gp, POST_YIELD);
}

void goc_exit(void) {
    if (!gsched_on_goroutine())
        gdiag_throw("goc_exit: called from a thread that is not a goroutine");
    goexit1();
}

uint64_t goc_id(void) {
    m *mp = getm();
    return mp && mp->curg ? mp->curg->goid : 0;
}

int goc_num_goroutine(void) {
    int64_t n = atomic_load(&sched.ngoroutine);
    int32_t np = atomic_load(&nallp);
    for (int32_t i = 0; i < np; i++)
        n += atomic_load_explicit(&allp[i]->ngoroutine, memory_order_relaxed);
    return (int)n;
}

int goc_maxprocs(int n) {
    if (gsched_init() != 0)
        return 1;
    int32_t old = atomic_load(&gomaxprocs);
    if (n <= 0 || n == old)
        return old;
    if (n > MAXPROCS_LIMIT)
        n = MAXPROCS_LIMIT;
    glock_lock(&sched.lock);
    old = atomic_load(&gomaxprocs);
    if (n > old) {
        for (int32_t i = old; i < n; i++) {
            if (!allp[i]) {
                p *pp = newp(i);
                if (!pp) {
                    n = i;
                    break;
                }
                allp[i] = pp;
                atomic_store(&nallp, i + 1);
                pidleput_locked(pp);
            } else if (atomic_load(&allp[i]->status) == P_RETIRED) {
                pidleput_locked(allp[i]);
            }
        }
        atomic_store(&gomaxprocs, n);
        glock_unlock(&sched.lock);
        wakep();
        return old;
    }
    atomic_store(&gomaxprocs, n);
    /* Retire idle Ps beyond n now; running ones retire at their next schedule. */
    p **pl = &sched.pidle;
    while (*pl) {
        p *pp = *pl;
        if (pp->id >= n) {
            *pl = pp->link;
            atomic_fetch_sub(&sched.npidle, 1);
            atomic_store(&pp->status, P_RETIRED);
            gstack_cache_flush(&pp->stackcache);
        } else {
            pl = &pp->link;
        }
    }
    glock_unlock(&sched.lock);
    /* A P retired while it held queued work is drained by its M; make sure
     * that remaining Ps notice global work. */
    wakep();
    return old;
}

void goc_lock_os_thread(void) {
    m *mp = getm();
    if (!mp || !mp->curg)
        return; /* a plain thread is its own thread already */
    g *gp = mp->curg;
    gp->lockcount++;
    gp->lockedm = mp;
    mp->lockedg = gp;
}

void goc_unlock_os_thread(void) {
    m *mp = getm();
    if (!mp || !mp->curg)
        return;
    g *gp = mp->curg;
    if (gp->lockcount == 0)
        return;
    if (--gp->lockcount == 0) {
        gp->lockedm = NULL;
        mp->lockedg = NULL;
    }
}

void goc_set_name(const char *name) {
    m *mp = getm();
    if (!mp || !mp->curg)
        return;
    g *gp = mp->curg;
    if (!name)
        name = "";
    size_t n = strlen(name);
    if (n >= G_NAME_MAX)
        n = G_NAME_MAX - 1;
    for (size_t i = 0; i < n; i++)
        G_STORE(gp->name[i], name[i]);
    G_STORE(gp->name[n], '\0');
}

int gsched_procid(void) {
    m *mp = getm();
    return mp && mp->curg && mp->p ? mp->p->id : -1;
}

int gsched_nprocs_max(void) { return MAXPROCS_LIMIT; }

bool gsched_can_spin(int iter) {
    /* As Go: only a few times, only with several processors and another one
     * running, and only if our own queue is empty (else run that instead). */
    if (iter >= 4)
        return false;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    if (procs <= 1 || ncpu <= 1)
        return false;
    if (atomic_load_explicit(&sched.npidle, memory_order_relaxed) +
            atomic_load_explicit(&sched.nmspinning, memory_order_relaxed) + 1 >=
        procs)
        return false;
    m *mp = getm();
    return mp && mp->p && runqempty(mp->p);
}

void gsched_procyield(int cycles) {
    for (int i = 0; i < cycles; i++)
        gcpu_relax();
}

uint64_t gsched_current_goid(void) { return goc_id(); }

const char *gsched_current_name(void) {
    m *mp = getm();
    return mp && mp->curg ? mp->curg->name : "";
}

const gstack *gsched_current_stack(void) {
    m *mp = getm();
    return mp && mp->curg ? mp->curg->stack : NULL;
}

g *gsched_current_g_or_null(void) {
    m *mp = getm();
    return mp ? mp->curg : NULL;
}

pid_t gsched_m_tid(const m *mp) { return mp ? mp->tid : 0; }
bool gsched_g_is_current(const g *gp) {
    m *mp = getm();
    return mp && mp->curg == gp;
}
void **gsched_m_altstack(m *mp) { return &mp->altstack; }
