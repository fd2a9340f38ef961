/* sched/sched.h — the scheduler's internal interface: g, m, p, sudog and
 * park/ready. Every other subsystem builds on this. Design: sched/proc.c. */
#ifndef GOC_SCHED_H
#define GOC_SCHED_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <goc/runtime.h>

#include "base/assert.h"
#include "base/list.h"
#include "base/lock.h"
#include "stack/stack.h"

typedef struct g g;
typedef struct m m;
typedef struct p p;
typedef struct gbubble gbubble;

/* Goroutine states (Go's _Gidle, _Grunnable, ...). Every change goes through
 * casgstatus, which checks that the transition is legal. */
enum gstatus {
    G_IDLE = 0, /* just allocated, not yet initialised */
    G_RUNNABLE, /* on a run queue (or about to be put on one) */
    G_RUNNING,  /* executing on an M */
    G_WAITING,  /* parked: blocked in the runtime, waitreason says on what */
    G_DEAD,     /* exited; the g is on a free list for reuse */
    G_SYSCALL,  /* in goc_blocking: its M runs fn, its P may be taken away */
    G_NSTATUS
};

/* Why a goroutine waits; the strings are Go's (shown in dumps). */
enum waitreason {
    WAIT_ZERO = 0,
    WAIT_CHAN_RECEIVE,
    WAIT_CHAN_SEND,
    WAIT_CHAN_RECEIVE_NIL,
    WAIT_CHAN_SEND_NIL,
    WAIT_SELECT,
    WAIT_SELECT_NO_CASES,
    WAIT_SLEEP,
    WAIT_SEMACQUIRE,
    WAIT_WAITGROUP,
    WAIT_MUTEX,
    WAIT_RWMUTEX_R,
    WAIT_RWMUTEX_W,
    WAIT_COND,
    WAIT_IO,
    WAIT_LOCKED_THREAD,
    /* synctest (sched/synctest.c): the root waiting for its bubble, a
     * goc_synctest_wait, and the channel waits that are durable because
     * every channel involved belongs to the caller's bubble. */
    WAIT_SYNCTEST_RUN,
    WAIT_SYNCTEST_WAIT,
    WAIT_SYNCTEST_CHAN_RECEIVE,
    WAIT_SYNCTEST_CHAN_SEND,
    WAIT_SYNCTEST_SELECT,
    WAIT_NREASONS
};
const char *gwaitreason_string(int reason);

enum { G_ARG_INLINE = 64, G_NAME_MAX = 32 };

/* Most processors goc_maxprocs and GOCMAXPROCS can ask for. Per-P arrays
 * elsewhere (the timer heaps) are sized by it. */
enum { GSCHED_MAXPROCS = GOC_MAXPROCS_MAX };

/* Fields that diagnostics read while the goroutine may be running on
 * another thread (goid, fn, sp, stack, started, waitreason, waitsince, name) are
 * written and read through these: relaxed atomics, plain moves on x86_64 and
 * aarch64, so a dump is a race-free (if momentary) snapshot. */
#define G_STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define G_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct g {
    /* Switch state. Owner: the M running the g, or switching it. */
    void *sp;      /* saved stack pointer while not running */
    gstack *stack; /* NULL until first run (default size) */
    m *m;          /* M currently running it; NULL otherwise */
    g *schedlink;  /* link in one run queue or free list; owner: that list */

    _Atomic uint32_t atomicstatus; /* enum gstatus; only through casgstatus */
    uint8_t waitreason;            /* written by the g itself before it parks */
    bool started;                  /* has a frame on its stack; owner: the g / its M */
    bool thread_g;                 /* stands for a plain OS thread blocked in goc; immutable */
    bool is_main;                  /* goc_run's goroutine; immutable after newproc */
    bool system;                   /* the runtime's own (Go's isSystemGoroutine): leak checks
                                      and goc_num_goroutine skip it; immutable from newproc
                                      to exit */
    int64_t waitsince; /* when it parked (sched.nanotime_tick: coarse, ~10 ms); written before
                          parking */
    /* Go's g.preempt: sysmon asks the goroutine to stop running at its next
     * goc call (gsched_preempt_check), also set while it runs without a P
     * (preempt.c). Set by sysmon (racy: the g may have moved on; a spurious
     * request costs one yield), cleared by the g itself. */
    _Atomic uint8_t preempt;
    /* Switched out by the preemption signal and wired to its thread until it
     * resumes there (preempt.c). Owner: the g's own M. */
    bool preemptlocked;
    uint64_t goid; /* immutable from newproc to exit */

    void (*fn)(void *); /* entry; set by newproc, read by the g itself */
    /* Where it was created, for dumps ("created by f in goroutine N"; Go's
     * gopc and parentGoid): the return address of the public spawn call
     * (0 for goc_run's main goroutine, which shows none) and the creator's
     * goid (0: a plain thread or the scheduler). Two stores in newproc and
     * no symbolization there; immutable from newproc to exit. */
    uintptr_t gopc;
    uint64_t parentgoid;
    void *arg;
    size_t stack_size; /* requested stack size (0 = default) */
    void *argheap;     /* heap copy of large goc_go_args blocks; owner: the g */

    m *lockedm; /* goc_lock_os_thread; owner: the g itself */
    uint32_t lockcount;

    /* Wakeup protocol, used by channels/select/sema (Go's g.param and
     * selectDone): written by the waker under the wait queue's lock before
     * goready; read by the g after it resumes. */
    void *param;
    _Atomic uint32_t selectdone;

    gnote tnote; /* thread_g: the plain thread sleeps here */

    char name[G_NAME_MAX]; /* goc_set_name; written by the g itself */

    /* The synctest bubble the g belongs to (sched/synctest.c), NULL for
     * almost every g. Set by newproc before the g first runs (inherited
     * from its creator), cleared by its exit; the bubble's root sets and
     * clears its own while it fires the bubble's timers. Read by the g
     * itself and by whoever readies it (the g is parked then, so the
     * value is stable). */
    gbubble *bubble;

#if defined(GOC_RACE)
    void *tsan_fiber;
    char tsan_name[32]; /* "goroutine N": the fiber's name in reports */
#endif
#if defined(GOC_ASAN)
    void *asan_fake;
#endif
    _Alignas(16) unsigned char argbuf[G_ARG_INLINE];
};

/* ---- synctest bubbles (sched/synctest.c; Go's synctestBubble) ----
 *
 * Only what the layers above need: a g's bubble, the bubble's virtual
 * clock and a slot the time layer owns. Accounting (who is durably
 * blocked) is private to src/sched. */
struct gbubble {
    glock mu;      /* LR_SYNCTEST: the counts below, waiter, waiting, done */
    uint64_t id;   /* immutable, from 1 */
    g *root;       /* immutable: the caller of goc_synctest_run */
    g *main;       /* mu: the goroutine running fn (first one started) */
    g *waiter;     /* mu: the goroutine parked in goc_synctest_wait */
    bool waiting;  /* mu: a goc_synctest_wait is in progress */
    bool done;     /* mu: main has exited (time stops) */
    int32_t total; /* mu: live goroutines of the bubble (the root is not one) */
    /* mu: goroutines of the bubble not durably blocked: running, runnable,
     * or parked for a reason that is not durable (I/O, ...). */
    int32_t running;
    /* mu: keeps the bubble from counting as idle while something not
     * counted in running is under way: the root firing timers, a goroutine
     * woken because the bubble was idle and not yet back. */
    int32_t active;
    /* The virtual clock, in goc_now's nanoseconds. Written by the root
     * only, under mu, while every goroutine of the bubble is durably
     * blocked; read atomically by the bubble's goroutines. */
    _Atomic int64_t now;
    /* Owned by the time layer: the bubble's timer heap, created on first
     * use (CAS from NULL) and released by its gsynctest_timers.done. */
    void *_Atomic timers;
};

/* The virtual clock's starting instant, in goc_now's nanoseconds: Go's
 * 2000-01-01 00:00:00 UTC as Unix nanoseconds (946684800 s). goc_now is
 * a monotonic clock with no defined epoch, so any fixed value would do;
 * Go's makes printed times comparable with Go's tests. */
#define GSYNCTEST_EPOCH INT64_C(946684800000000000)

/* Bubbles alive (goc_synctest_run calls in progress). The hot paths that
 * must look up the caller's bubble (goc_now) read this first: one relaxed
 * load of a line nobody writes while no bubble runs. */
extern _Atomic int32_t gsched_nbubbles;

#if defined(__x86_64__) && !defined(GOC_RACE)
/* The thread's m.curg, or gsched_g_none when no goroutine runs (g0, a
 * thread that is no M, an M in goc_blocking). gsched_g_none reads as asked
 * to stop (its preempt is 1), so the preemption check is one TLS load and
 * one byte load, where m.curg's way takes four loads and two tests for
 * NULL, and sends a caller that is no goroutine to the slow path, which
 * returns at once (gsched_preempt_slow); getg is one TLS load and a
 * compare. Written by its own thread only, wherever m.curg changes
 * (m_set_curg, runtime2.h). */
extern __thread const g *gsched_tls_curg __attribute__((tls_model("initial-exec")));
extern const g gsched_g_none; /* proc.c: no goroutine; immutable */
g *gsched_getg_slow(void);
#endif

/* The current goroutine, or the calling plain thread's stand-in g (also on
 * g0 and in goc_blocking). On x86-64 outside the race build an inline TLS
 * load and a compare (an initial-exec TLS load is %fs-relative at every
 * access, so no compiler keeps a thread's address across a call that
 * switches threads); elsewhere a non-inlinable accessor: see proc.c on
 * TLS. */
#if defined(__x86_64__) && !defined(GOC_RACE)
static inline g *getg(void) {
    const g *gp = gsched_tls_curg;
    if (__builtin_expect(gp != &gsched_g_none, 1))
        return (g *)gp;
    return gsched_getg_slow();
}
#else
g *getg(void);
#endif

/* The calling goroutine's bubble; NULL outside one, on g0 and on a plain
 * thread (unless it is a root firing its bubble's timers). While no bubble
 * exists, one relaxed load and a predictable branch. */
static inline gbubble *gsched_bubble(void) {
    if (__builtin_expect(atomic_load_explicit(&gsched_nbubbles, memory_order_relaxed) == 0, 1))
        return NULL;
    return getg()->bubble;
}

/* The id of the caller's bubble, 0 outside one. Objects that outlive
 * their bubble (channels, timers) record the id, not the address, to tell
 * whether the caller is in their bubble: a later bubble may be allocated
 * at the same address. */
static inline uint64_t gsched_bubble_id(void) {
    gbubble *b = gsched_bubble();
    return b ? b->id : 0;
}

/* What the time layer does for the root of a bubble (registered once,
 * from time's init; sched never calls time directly):
 *   next(b)       the earliest deadline of b's timers, INT64_MAX if none.
 *                 Called with b->mu held: reads atomics only.
 *   run(b, now)   fire every timer of b due at `now`. Called by the root,
 *                 no lock held, with the root's g->bubble set to b (so
 *                 what the timers send and start stays in the bubble).
 *   done(b)       the bubble is over: drop its timers (every goroutine
 *                 of it has exited; timers still referenced by the
 *                 program become inert). */
typedef struct gsynctest_timers {
    int64_t (*next)(gbubble *b);
    void (*run)(gbubble *b, int64_t now);
    void (*done)(gbubble *b);
} gsynctest_timers;
void gsched_synctest_register_timers(const gsynctest_timers *t);

/* A goroutine (or plain thread) queued on a wait queue: Go's sudog. It lives
 * on the waiter's own stack for as long as the waiter is parked (stacks never
 * move in goc), so queueing never allocates. Fields are protected by the lock
 * of the queue that holds the sudog. */
typedef struct sudog {
    g *g;
    glist_node link;        /* a channel's wait queue; a sema root's head list */
    void *elem;             /* data element (may point to the waiter's stack) */
    struct sudog *waitlink; /* a channel's wake list (chan.c); same-address queue (sema) */
    struct sudog *waittail; /* sema: tail of the same-address queue (on its head) */
    void *c;                /* channel / semaphore address the sudog waits on */
    uint32_t ticket;        /* select: the case index; sema, cond: their own use */
    bool isselect;
    bool success; /* woken by a communication (true) or a close (false) */
} sudog;

/* Start the runtime if it has not started (idempotent, thread-safe): 0, or
 * -ENOMEM / -EAGAIN when it could not start. Subsystems that need running
 * processors (timers) call it before their first use. */
int gsched_init(void);

/* ---- park / ready ---- */

/* True when the caller runs on a goroutine (not on a plain thread). */
bool gsched_on_goroutine(void);

/* Park the current goroutine (or block the plain thread) with `reason`.
 * After the switch has saved its context, unlockf(gp, arg) runs on another
 * stack; if it returns false the goroutine is resumed at once. The caller
 * must hold whatever lock makes its wait-queue entry visible and pass its
 * unlock as unlockf: only then can a waker see it. */
void gopark(bool (*unlockf)(g *gp, void *arg), void *arg, enum waitreason reason);
/* Make a parked g runnable (it runs next on this P when called from a
 * goroutine, as Go's ready does). Safe from goroutines and plain threads. */
void goready(g *gp);

/* Start fn(arg) as goc_go does, recording gopc as its creation site (the
 * layer that spawns on a user's behalf may pass the user's call site rather
 * than its own). args_size > 0: fn gets a copy of the args_size bytes at
 * arg, kept with the goroutine (goc_go_args). system: the runtime's own
 * goroutine, which neither goc_num_goroutine nor leak checks
 * (goc_leak_check) count (the timers' deferred firings, time.c). Returns
 * as goc_go. */
int gsched_go_from(void (*fn)(void *), const void *arg, size_t args_size, const void *gopc,
                   bool system);

/* Go's Gosched: when other goroutines are runnable, put the current one at
 * the back of the global run queue and run them; else return at once. A
 * fairness point for runtime operations that completed without parking
 * (goc has no preemption). goc_yield differs: it requeues on this P, where
 * the same goroutine is found again before the global queue is looked at.
 * No-op on a plain thread. */
void gsched_gosched(void);

/* ---- preemption (preempt.c) ----
 *
 * A goroutine that runs for 10 ms without a switch while others wait is
 * asked to stop (g.preempt). Public calls that may block or yield check
 * the request on entry, before they take any lock: */
g *gsched_current_g_or_null(void);
void gsched_preempt_slow(void);
/* Has the running goroutine been asked to stop (gsched_preempt_check would
 * call gsched_preempt_slow)? For callers whose slow path must be a tail
 * call. On x86-64 outside the race build also true where no goroutine runs
 * (gsched_g_none): the slow paths serve plain threads and g0 as well. */
static inline bool gsched_preempt_requested(void) {
    /* (Not under ThreadSanitizer, which would see a goroutine's fiber read
     * its thread's TLS: the out-of-line accessor is not instrumented.) */
#if defined(__x86_64__) && !defined(GOC_RACE)
    return __builtin_expect(
        atomic_load_explicit(&gsched_tls_curg->preempt, memory_order_relaxed) != 0, 0);
#else
    g *gp = gsched_current_g_or_null();
    return __builtin_expect(gp != NULL && atomic_load_explicit(&gp->preempt, memory_order_relaxed),
                            0);
#endif
}

static inline void gsched_preempt_check(void) {
    if (gsched_preempt_requested())
        gsched_preempt_slow();
}

/* The SIGURG handler (registered by the signal owner, which runs it on
 * the interrupted stack, SA_RESTART): see preempt.c. */
void gsched_sigpreempt(int sig, siginfo_t *si, void *uc);
/* For the SIGSEGV handler: is this SI_KERNEL fault the kernel failing to
 * write a preemption signal's frame on a nearly full goroutine stack? If
 * so it has been dealt with and the handler should just return. */
bool gsched_preempt_frame_lost(void *uc);
/* Does asynchronous preemption apply in this process (not off by
 * GOCDEBUG=asyncpreemptoff=1, a static program or a sanitizer build)? */
bool gsched_async_preempt_enabled(void);

/* Monotonic clock in ns. */
int64_t gnanotime(void);
/* The same clock at tick resolution (a few ms), five times cheaper here:
 * for bookkeeping such as how long a goroutine has waited. */
int64_t gnanotime_coarse(void);

/* ---- diagnostics' view of the scheduler ---- */

/* Calls fn for every goroutine that is not dead, under the allg lock. */
void gsched_for_each_g(void (*fn)(g *gp, void *arg), void *arg);
/* The same from a signal handler: never blocks for long on the lock. */
void gsched_for_each_g_in_signal(void (*fn)(g *gp, void *arg), void *arg);
/* As gsched_for_each_g, and from then on until the matching
 * gsched_unpin_stacks every stack fn could see stays mapped: a custom-size
 * stack freed meanwhile is unmapped only by the last unpin (default-size
 * stacks are never unmapped). For dumps that read stacks without the lock.
 * Not from a signal handler. */
void gsched_for_each_g_pin_stacks(void (*fn)(g *gp, void *arg), void *arg);
void gsched_unpin_stacks(void);
uint64_t gsched_current_goid(void);
/* The running goroutine, NULL on a plain thread or g0. */
g *gsched_current_g_or_null(void);
/* Is gp the goroutine running on the calling thread? */
bool gsched_g_is_current(const g *gp);
const char *gsched_current_name(void);
const gstack *gsched_current_stack(void);
uint32_t gstatus_of(const g *gp);
const char *gstatus_string(uint32_t status);

/* Go's procPin / procUnpin: the id of the P the calling goroutine runs on
 * (0..gsched_nprocs_max()-1), kept until the matching gsched_procunpin:
 * meanwhile the goroutine is neither preempted nor moved, and no other
 * goroutine runs on that P, so per-P data (sync.Pool's caches) may be used
 * without atomics. -1 on a plain thread or a goroutine that has no P at
 * the moment (preempt.c): use the shared path then. Between pin and unpin
 * the caller must not block, yield, call back into user code or take a
 * lock a goroutine may hold. Pin/unpin nest. */
int gsched_procpin(void);
void gsched_procunpin(void);
/* The P id without pinning: stale as soon as it is returned (a hint for
 * spreading work, never for owning per-P data). */
int gsched_procid(void);
/* Upper bound on P ids ever handed out (for sizing per-P arrays). */
int gsched_nprocs_max(void);
/* A pin against the preemption signal: the M's m.locks count, which the
 * signal leaves alone while it is above 0 (preempt.c). Written only by
 * its own thread and read by signal handlers on that thread, so no locked
 * instruction: on x86-64 outside the race build one add to memory, else
 * a relaxed load and store; either way a compiler barrier keeps the
 * pinned accesses inside. acquirem / releasem take and drop it too
 * (runtime2.h). */
typedef _Atomic int32_t gsched_pin;

static inline __attribute__((always_inline)) void gsched_pin_take(gsched_pin *pin) {
#if defined(__x86_64__) && !defined(GOC_RACE)
    /* One add to memory: a signal lands before or after it, never inside. */
    __asm__ __volatile__("addl $1, %0" : "+m"(*(int32_t *)pin) : : "memory");
#else
    atomic_store_explicit(pin, atomic_load_explicit(pin, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline __attribute__((always_inline)) void gsched_unpin(gsched_pin *pin) {
    GOC_ASSERT(atomic_load_explicit(pin, memory_order_relaxed) > 0);
#if defined(__x86_64__) && !defined(GOC_RACE)
    __asm__ __volatile__("subl $1, %0" : "+m"(*(int32_t *)pin) : : "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(pin, atomic_load_explicit(pin, memory_order_relaxed) - 1,
                          memory_order_relaxed);
#endif
}

/* The lone processor's owner, for chan.c's plain ring operations: the pin
 * when the calling thread's M holds a P not shared with stealers
 * (p.shared clear, proc.c's runq_lone: only P 0 ever is, so at most one
 * thread at a time gets one), pinned against the preemption signal until
 * gsched_unpin so that it keeps that P meanwhile; NULL, with nothing
 * held, otherwise. Other threads may run goroutines all the same (on Ps
 * that goc_maxprocs added, without a P in goc_blocking or after a
 * signal's handoff), and plain threads use channels too: chan.c's
 * handshake covers them.
 *
 * On x86-64 outside the race build (where chan.c has the plain rings) it
 * is inline: a call there cost each ring operation a third of its
 * instructions (the call, and the callee-saved registers its caller then
 * had to keep). It reads the M through TLS as getm does (gsched_getm; the
 * same asm, here so that it can be inlined outside the scheduler) and
 * m.p, m.locks and p.shared at fixed offsets, which runtime2.h asserts
 * against the structs. */
#if defined(__x86_64__)
/* The calling thread's M (NULL on a plain thread): runtime2.h's getm. */
static inline __attribute__((always_inline)) m *gsched_getm(void) {
    m *mp;
    __asm__ __volatile__("movq gsched_tls_m@gottpoff(%%rip), %0\n\t"
                         "movq %%fs:(%0), %0"
                         : "=r"(mp)
                         :
                         : "memory");
    return mp;
}
#endif

#if defined(__x86_64__) && !defined(GOC_RACE)
#define GSCHED_LONE_INLINE 1
enum { GSCHED_M_P_OFFSET = 8, GSCHED_M_LOCKS_OFFSET = 16, GSCHED_P_SHARED_OFFSET = 76 };

static inline __attribute__((always_inline)) gsched_pin *gsched_lone_begin(void) {
    char *mp = (char *)gsched_getm();
    if (!mp)
        return NULL;
    gsched_pin *pin = (gsched_pin *)(mp + GSCHED_M_LOCKS_OFFSET);
    gsched_pin_take(pin);
    char *pp = *(char **)(mp + GSCHED_M_P_OFFSET);
    if (GOC_LIKELY(pp != NULL) &&
        GOC_LIKELY(!atomic_load_explicit((_Atomic bool *)(pp + GSCHED_P_SHARED_OFFSET),
                                         memory_order_relaxed)))
        return pin;
    gsched_unpin(pin);
    return NULL;
}
#else
gsched_pin *gsched_lone_begin(void);
#endif

/* Is the run queue of the caller's P its owner's alone now (the lone
 * processor, runq_lone in proc.c)? False without a P. A hint, stale once
 * returned (tests; time.c, to know sysmon from the lone owner; chan.c's
 * lone_share_for, to know a sharer from it). */
static inline bool gsched_runq_lone_now(void) {
    gsched_pin *pin = gsched_lone_begin();
    if (pin)
        gsched_unpin(pin);
    return pin != NULL;
}

/* Tests: has P id retired (goc_maxprocs shrank below it and its M gave it
 * up, or it was idle)? */
bool gsched_p_retired(int id);
/* Go's sync_runtime_canSpin: is brief spinning worthwhile for a goroutine
 * that found a lock held? (Several processors, another one running, and
 * this P has nothing else queued.) iter counts spins so far. */
bool gsched_can_spin(int iter);
/* Spin for a few dozen cycles (Go's procyield). */
void gsched_procyield(int cycles);

/* ---- drivers: the subsystems that plug into the scheduler ----
 *
 * The scheduler knows nothing of timers, signals or file descriptors. A
 * subsystem that must run inside the scheduler's loops registers a driver
 * once; every member may be NULL. Where the scheduler calls each:
 *   start()      schedinit, once, before the first M runs (signals install
 *                their dispositions).
 *   minit()      every new M, on its own thread, before it runs a goroutine
 *                (signals: the alternate signal stack). Only drivers that
 *                registered before the runtime started see every M: register
 *                those from a load-time constructor.
 *   run(now)     findrunnable, when next() <= now (an M about to steal or
 *                sleep), and sysmon on each round: do what is due at `now`
 *                (fire timers; collect ready I/O without blocking). Returns
 *                the next deadline, INT64_MAX if none.
 *   next()       sysmon before it sleeps, findrunnable before run(): the
 *                earliest deadline (INT64_MAX if none). Must be cheap.
 *   pending()    the deadlock check: how many waits something other than a
 *                goroutine may still complete (armed timers; fds waited on).
 *                While any driver reports > 0 there is no deadlock.
 * The netpoller's part (at most one driver has poll; Go's netpoll):
 *   poll(until)  collect the goroutines whose wait is over. until == 0: never
 *                blocks (findrunnable before stealing; sysmon when nobody
 *                polled for 10 ms). until > 0: called by the last M to go
 *                idle, holding no P, which blocks until something is ready,
 *                until `until` (INT64_MAX: no limit) or until wake(). Returns
 *                the goroutines as a list through g->schedlink (NULL: none),
 *                still G_WAITING: the scheduler makes them runnable (plain
 *                threads' stand-in gs are woken by the driver itself).
 *   wake()       break a blocked poll(): its last waiter left, so the M
 *                blocked in it should stop polling and go idle.
 *   waiting()    how many goroutines wait for poll (cheap, racy). */
typedef struct gsched_driver {
    const char *name;
    void (*start)(void);
    void (*minit)(void);
    int64_t (*run)(int64_t now);
    int64_t (*next)(void);
    int32_t (*pending)(void);
    g *(*poll)(int64_t until);
    void (*wake)(void);
    int32_t (*waiting)(void);
} gsched_driver;
/* Register d (immutable, never unregistered; at most GSCHED_MAX_DRIVERS).
 * Safe before the runtime starts (from a constructor) and after; a driver
 * registered after start has its start() called at once. */
void gsched_register_driver(const gsched_driver *d);
enum { GSCHED_MAX_DRIVERS = 8 };
/* Run the deadlock check now: for whoever removes the last thing that could
 * still wake a goroutine (the last pending timer), since the Ms may all be
 * idle already and none would look again. Call with no runtime lock held. */
void gsched_checkdead(void);
/* Something is due at `when` (a timer was added): wake the monitor if it
 * sleeps past it. */
void gsched_sysmon_poke(int64_t when);
/* A goroutine or plain thread is about to wait for the poll driver: make
 * sure some M polls (when every M is idle, none would notice the event). */
void gsched_poller_needed(void);
/* Is an M blocked in the poll driver's poll() right now? (The driver then
 * calls its wake() when its last waiter leaves.) */
bool gsched_poller_blocked(void);

/* A goroutine ran off its stack (found by the SIGSEGV handler, with the
 * signal's ucontext, or by the canary check at a switch, with NULL): print
 * Go's report and exit(2). */
_Noreturn void gsched_stack_overflow(g *gp, void *uc);

/* Random number, per-M state (Go's fastrand). */
uint32_t gfastrand(void);
static inline uint32_t gfastrandn(uint32_t n) {
    return (uint32_t)(((uint64_t)gfastrand() * n) >> 32);
}

#endif
