/* sched/runtime2.h — the scheduler's own data structures (Go's
 * runtime2.go): struct p, struct m and the global scheduler state, shared by
 * the files of src/sched and by nothing outside it. Other subsystems see
 * only sched.h. The design and invariants are in proc.c's opening comment;
 * the owner of every field is written beside it. */
#ifndef GOC_SCHED_RUNTIME2_H
#define GOC_SCHED_RUNTIME2_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sched/sched.h"

enum { RUNQ_SIZE = 256, MAXPROCS_LIMIT = GSCHED_MAXPROCS, GOID_BATCH = 16, GFREE_MAX = 64 };
/* What struct p's groups are aligned to: a cache line on x86-64 and on
 * common aarch64 cores. */
enum { GSCHED_CACHE_LINE = 64 };
/* Most Ms (OS threads) the runtime starts: Go's limit. */
enum { MAXTHREADS = 10000 };

/* P_SYSCALL: its M runs a goc_blocking call; sysmon may take it (retake). */
enum pstatus { P_IDLE, P_RUNNING, P_RETIRED, P_SYSCALL };

/* Grouped by who touches each line, so that a thief's looks and the
 * owner's private writes never share a cache line (false sharing was most
 * of a spawn's time at two processors: the owner's ngfree decrement missed
 * on the line a stealer kept reading for runnext and shared). Line 0: the
 * owner's per-switch tick with what sysmon reads and rarely-written links;
 * the thieves' line: what stealwork and runqgrab read on every look (status,
 * head, tail, shared) with the ring after it; runnext alone (the owner
 * writes it on every ready and park); the owner's caches last. */
struct p {
    int32_t id; /* immutable */
    p *link;    /* sched.pidle list; sched.lock */
    m *m;       /* owner M; written by acquirep/releasep */
    /* Goroutine switches on this P: owner increments (relaxed load and
     * store, no locked instruction); sysmon reads it to find a goroutine
     * that has run too long (preempt.c). */
    _Atomic uint32_t schedtick;
    /* sysmon's last look at schedtick: when it last saw it move, and when
     * it last asked the running goroutine to stop. Owner: sysmon. */
    struct {
        uint32_t schedtick;
        int64_t schedwhen;
        int64_t preemptwhen;
    } sysmontick;
    /* enum pstatus; changed under sched.lock */
    _Alignas(GSCHED_CACHE_LINE) _Atomic uint32_t status;
    /* Lock-free ring: owner writes tail, anyone CASes head (only the owner
     * while !shared). */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    /* May other Ms steal from runq/runnext? false while it is the only
     * processor there has ever been (GOCMAXPROCS=1 at start): its owner
     * then takes from its own queue with plain loads and stores, no locked
     * instruction. Written only by the owner, once, false -> true with
     * release, at its first queue operation after gomaxprocs grew past 1
     * (runq_lone); stealers load it with acquire and leave the queue
     * alone while it is false. Never cleared (proc.c says why). */
    _Atomic bool shared;
    _Atomic(g *) runq[RUNQ_SIZE];
    /* Owner sets; stealers CAS it away (only while shared). */
    _Alignas(GSCHED_CACHE_LINE) _Atomic(g *) runnext;
    _Alignas(GSCHED_CACHE_LINE) gstack_cache stackcache; /* owner */
    g *gfree;                                            /* dead gs for reuse; owner */
    int32_t ngfree;
    uint64_t goidcache, goidcacheend; /* owner */
    _Atomic int64_t syscallwhen; /* when its M entered goc_blocking; owner writes, sysmon reads */
    /* Goroutines created minus exited on this P. Written by the owner only
     * (relaxed load + store: no locked instruction), summed by readers. */
    _Atomic int64_t ngoroutine;
};

enum post_action {
    POST_NONE,
    POST_PARK,
    POST_YIELD,
    POST_YIELD_NEXT,
    POST_YIELD_GLOBAL,
    POST_EXIT,
    POST_GLOBAL
};

struct m {
    /* First, where gsched_preempt_check reads it (sched.h). Owner. */
    g *curg;
    p *p; /* owner; at GSCHED_M_P_OFFSET for sched.h's inline gsched_lone_begin */
    /* Go's m.locks: > 0 while code on a goroutine stack uses this M's P
     * (its run queue, caches, counters) or is between deciding to switch
     * and switching; the preemption signal then leaves the M alone. Written
     * only by the M's own thread, read by signal handlers on that thread
     * (a gsched_pin, sched.h). At GSCHED_M_LOCKS_OFFSET (as m.p). */
    gsched_pin locks;
    int64_t id;  /* immutable */
    g g0;        /* the scheduler context on the thread stack */
    p *nextp;    /* P handed to a parked M; written before its note wakeup */
    p *syscallp; /* the P it held when it entered goc_blocking; owner */
    /* The P the preemption signal took from this M while its goroutine
     * kept running (preempt.c): P_SYSCALL until sysmon retakes it or the
     * goroutine takes it back at its next goc call. Owner. */
    p *preemptp;
    m *link;       /* sched.midle list; sched.lock */
    bool spinning; /* owner; counted in sched.nmspinning */
    gnote park;    /* stopm sleeps here */
    g *lockedg;    /* goroutine locked to this thread; owner */
    g *handoff;    /* a locked g found by a direct switch; owner */
    /* What to do with the switched-out g once its context is saved. Owner.
     * act is POST_NONE but from a switch-out's setting it to the landing
     * that does it (after_switch, park_landed reset it), so a switch that
     * leaves nothing to do need not store it (yield_lone). */
    struct {
        enum post_action act;
        g *gp;
        bool (*unlockf)(g *, void *);
        void *arg;
    } post;
    uint64_t fastrand; /* owner */
    pid_t tid;         /* immutable after start */
#if defined(GOC_ASAN)
    const void *stack_lo; /* thread stack bounds for fiber switches */
    size_t stack_size;
#endif
};

/* Segments of the global run queue and chunks of the global dead-g list
 * (proc.c). Debug builds keep few, so that ordinary tests fill them and
 * exercise their full case. */
#ifdef GOC_DEBUG
enum { GLOBRUNQ_SEGS = 8, GFREE_CHUNKS = 8 };
#else
enum { GLOBRUNQ_SEGS = 4096, GFREE_CHUNKS = 4096 };
#endif

/* The scheduler's global state. Owner: fields say. */
struct schedt {
    glock lock;
    /* The global run queue (proc.c, globrunqputbatch_locked): a ring of
     * segments, each a chain of gs through schedlink; lock. */
    struct globrunqseg {
        g *head, *tail;
        int32_t n;
    } runqseg[GLOBRUNQ_SEGS];
    uint32_t runqsegfirst, nrunqseg;
    _Atomic int32_t runqsize; /* written under lock, read racily as a hint */
    p *pidle;                 /* lock */
    _Atomic int32_t npidle;   /* written under lock */
    m *midle;                 /* lock */
    int32_t nmidle;           /* lock */
    _Atomic int32_t mcount;   /* number of Ms created */
    _Atomic int32_t nmspinning;
    /* Dead gs for reuse (proc.c, gfput): a stack of chunks, each a chain
     * through schedlink; lock. */
    struct gfreechunk {
        g *head; /* a chain of n gs, NULL-terminated */
        int32_t n;
    } gfreechunk[GFREE_CHUNKS];
    uint32_t ngfreechunk;
    _Atomic int32_t ngfree; /* gs in them; written under lock; read racily as a hint */
    _Atomic uint64_t goidgen;
    _Atomic int32_t ngoroutine; /* goroutines created/exited off any P (plain threads) */
    _Atomic int64_t mnext;
    _Atomic int32_t nmain; /* goc_run main goroutines still running */
    int32_t nmidlelocked;  /* locked Ms asleep in stoplockedm; lock */
    /* Runnable goroutines that could not get their first stack (memory ran
     * out after they were created): retried by sysmon once stacks are
     * free again. stackwait: lock; nstackwait written under lock. */
    g *stackwait;
    _Atomic int32_t nstackwait;
    gnote sysmonnote; /* sysmon sleeps here when all Ps are idle */
    /* gnanotime_coarse() as of sysmon's latest round, or of a P starting
     * while sysmon slept idle (sysmon_wake): what gopark records as
     * g.waitsince, without a clock read per park. Never ahead of the
     * coarse clock; behind it by at most sysmon's period (<= 10 ms while
     * any P runs) plus a wakeup. Written by sysmon and sysmon_wake
     * (relaxed stores), read relaxed. */
    _Atomic int64_t nanotime_tick;
};
extern struct schedt sched;

/* allp: created Ps; slots filled under sched.lock and never cleared. */
extern p *allp[MAXPROCS_LIMIT];
extern _Atomic int32_t nallp;
extern _Atomic int32_t gomaxprocs;

_Static_assert(offsetof(struct m, curg) == 0, "gsched_preempt_check reads m.curg at offset 0");
#ifdef GSCHED_LONE_INLINE
_Static_assert(offsetof(struct m, p) == GSCHED_M_P_OFFSET &&
                   offsetof(struct m, locks) == GSCHED_M_LOCKS_OFFSET &&
                   offsetof(struct p, shared) == GSCHED_P_SHARED_OFFSET,
               "sched.h's inline gsched_lone_begin reads m.p, m.locks and p.shared there");
#endif

/* m.locks is a gsched_pin (sched.h says how it is written). */
static inline void m_locks_inc(m *mp) { gsched_pin_take(&mp->locks); }
static inline void m_locks_dec(m *mp) { gsched_unpin(&mp->locks); }
/* The count taken when a switch is decided (goc_yield, gopark, g0's
 * execute), and the one the landing side drops (gsched_after_switch):
 * m.locks is 0 before that decision (the preemption signal acts only then,
 * and nothing pins the M across a goc call) and exactly 1 across the switch
 * (gogo_resume asserts it), so these are stores of 1 and 0, not
 * read-modify-writes: one instruction each and no chain through memory
 * from one switch to the next. Asserted in Debug builds. */
static inline void m_locks_take_switch(m *mp) {
    GOC_ASSERT(atomic_load_explicit(&mp->locks, memory_order_relaxed) == 0);
    atomic_store_explicit(&mp->locks, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
}
static inline void m_locks_drop_switch(m *mp) {
    atomic_signal_fence(memory_order_seq_cst);
    GOC_ASSERT(atomic_load_explicit(&mp->locks, memory_order_relaxed) == 1);
    atomic_store_explicit(&mp->locks, 0, memory_order_relaxed);
}

/* proc.c */
/* Go's acquirem/releasem: pin the calling thread's M and its P against the
 * preemption signal (see m.locks). Nest freely; never across a switch
 * except as gogo / gsched_after_switch pair them. */
m *acquirem(void);
void releasem(m *mp);
/* The one place goroutine states change (legal transitions: proc.c). A
 * plain load and store, not a CAS: each transition has exactly one writer
 * (the g's own M, or the one waker that dequeued it under a wait-queue
 * lock), so the check catches protocol bugs without a locked instruction
 * on every switch. Inline: it is on every switch, park and ready. */
#ifdef GOC_DEBUG
void casgstatus_check(g *gp, uint32_t from, uint32_t to);
#endif
GOC_NORETURN __attribute__((cold)) void casgstatus_mismatch(g *gp, uint32_t old, uint32_t from,
                                                            uint32_t to);
static inline __attribute__((always_inline)) void casgstatus(g *gp, uint32_t from, uint32_t to) {
#ifdef GOC_DEBUG
    casgstatus_check(gp, from, to);
#endif
    uint32_t old = atomic_load_explicit(&gp->atomicstatus, memory_order_relaxed);
    if (GOC_UNLIKELY(old != from))
        casgstatus_mismatch(gp, old, from, to);
    atomic_store_explicit(&gp->atomicstatus, to, memory_order_release);
}
void globrunqput_locked(g *gp);
p *pidleget_locked(void);
void acquirep(m *mp, p *pp);
void handoffp(p *pp);
void gogo(m *mp, g *from, g *to);
/* flags for gsched_newproc */
enum { NEWPROC_MAIN = 1, NEWPROC_SYSTEM = 2 };
int gsched_newproc(void (*fn)(void *), const void *args, size_t args_size, size_t stack_size,
                   unsigned flags, const void *gopc);
void gsched_after_switch(void);
/* The calling thread's M (NULL on a plain thread). Never cached across a
 * call that may switch goroutines: a goroutine may resume on another
 * thread (proc.c, per-thread state). On x86-64 it is one inline load
 * through %fs (the initial-exec sequence, written in asm so that no
 * compiler can keep the thread's address or the value: the asm is
 * volatile, so each call executes it, and its memory clobber keeps it
 * where it is written, as the call it replaces did). Elsewhere it is an
 * out-of-line call with a compiler barrier: aarch64 reads the thread
 * pointer with an mrs that compilers treat as a constant within a
 * function and may hoist across calls. */
#if defined(__x86_64__)
static inline __attribute__((always_inline)) m *getm(void) { return gsched_getm(); }
#else
m *getm(void);
#endif

/* Set m.curg (NULL: no goroutine), on mp's own thread: the one way m.curg
 * changes, which keeps the thread's gsched_tls_curg (sched.h) in step. The
 * TLS store is asm that forms the variable's offset itself (as getm does):
 * a plain C store lets the compiler keep the offset it formed for the
 * function's first TLS load in a register all the way to the switch, one
 * register too many for goc_yield's lone path, which then saves and
 * restores a callee-saved one on every yield (2-3% of a yield here). */
static inline __attribute__((always_inline)) void m_set_curg(m *mp, g *gp) {
    GOC_ASSERT(mp == getm());
    mp->curg = gp;
#if defined(__x86_64__) && !defined(GOC_RACE)
    const g *v = gp ? gp : &gsched_g_none;
    __asm__ __volatile__("movq gsched_tls_curg@gottpoff(%%rip), %%rax\n\t"
                         "movq %0, %%fs:(%%rax)"
                         :
                         : "r"(v)
                         : "rax", "memory");
#endif
}

bool runqempty(p *pp);
void wakep(void);
int64_t drivers_next(void);
int64_t drivers_run(int64_t now, bool always);
int start_thread(void *(*fn)(void *), void *arg, size_t stack);

/* Put the goroutines waiting for a stack back on the global queue if a
 * stack can be had now (sysmon). */
void stackwait_retry(void);

/* sysmon: poll the poll driver when nobody did for 10 ms. */
void sysmon_netpoll(int64_t now);

/* syscall.c: take the Ps of Ms stuck in goc_blocking (sysmon); returns
 * when a P in a blocking call will next be due (INT64_MAX: none). */
int64_t sysmon_retake(int64_t now);

/* preempt.c */
/* sysmon: ask goroutines that ran 10 ms without a switch to stop, when
 * others wait; returns when it should look again (INT64_MAX: nothing
 * running). */
int64_t sysmon_preempt(int64_t now);
void preempt_retiring(int32_t n);
/* schedinit: find the program's code, read GOCDEBUG=asyncpreemptoff. */
void preempt_init(void);
/* schedule(), on g0 of an M whose goroutine lost its P to the preemption
 * signal: take that P back if sysmon has not retaken it. */
void preempt_reclaimp(m *mp);
/* The goroutine in gsched_preempt_slow must stop running for now: queue it
 * globally and run something else (or stop the M). */
void preempt_park_global(m *mp, g *gp);

/* synctest.c: a bubble's accounting, called by proc.c for gs whose
 * g->bubble is set (see the design comment there). */
void synctest_gostart(gbubble *b, g *gp);          /* newproc, before gp can run */
void synctest_goexit(gbubble *b, g *gp);           /* exit, on gp itself */
void synctest_parked(gbubble *b, unsigned reason); /* park committed */
void synctest_ready(g *gp);                        /* goready, before queueing */

/* sysmon.c */
void *sysmon(void *unused);
/* Wake sysmon if it sleeps because every P was idle (a P starts running). */
void sysmon_wake(void);

#endif
