/* sched/sched.h — the scheduler's internal interface: g, m, p, sudog and
 * park/ready. Every other subsystem builds on this. Design: sched/proc.c. */
#ifndef GOC_SCHED_H
#define GOC_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/lock.h"
#include "stack/stack.h"

typedef struct g g;
typedef struct m m;
typedef struct p p;

/* Goroutine states (Go's _Gidle, _Grunnable, ...). Every change goes through
 * casgstatus, which checks that the transition is legal. */
enum gstatus {
    G_IDLE = 0, /* just allocated, not yet initialised */
    G_RUNNABLE, /* on a run queue (or about to be put on one) */
    G_RUNNING,  /* executing on an M */
    G_WAITING,  /* parked: blocked in the runtime, waitreason says on what */
    G_DEAD,     /* exited; the g is on a free list for reuse */
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
    WAIT_NREASONS
};
const char *gwaitreason_string(int reason);

enum { G_ARG_INLINE = 64, G_NAME_MAX = 32 };

/* Fields that diagnostics read while the goroutine may be running on
 * another thread (goid, fn, stack, started, waitreason, waitsince, name) are
 * written and read through these: relaxed atomics, plain moves on x86_64 and
 * aarch64, so a dump is a race-free (if momentary) snapshot. */
#define G_STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define G_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct g {
    /* Switch state. Owner: the M running the g, or switching it. */
    void *sp;            /* saved stack pointer while not running */
    gstack *stack;       /* NULL until first run (default size) */
    m *m;                /* M currently running it; NULL otherwise */
    g *schedlink;        /* link in one run queue or free list; owner: that list */

    _Atomic uint32_t atomicstatus; /* enum gstatus; only through casgstatus */
    uint8_t waitreason;  /* written by the g itself before it parks */
    bool started;        /* has a frame on its stack; owner: the g / its M */
    bool thread_g;       /* stands for a plain OS thread blocked in goc; immutable */
    bool is_main;        /* goc_run's goroutine; immutable after newproc */
    int64_t waitsince;   /* gnanotime_coarse() when it parked; written before parking */
    uint64_t goid;       /* immutable from newproc to exit */

    void (*fn)(void *);  /* entry; set by newproc, read by the g itself */
    void *arg;
    size_t stack_size;   /* requested stack size (0 = default) */
    void *argheap;       /* heap copy of large goc_go_args blocks; owner: the g */

    m *lockedm;          /* goc_lock_os_thread; owner: the g itself */
    uint32_t lockcount;

    /* Wakeup protocol, used by channels/select/sema (Go's g.param and
     * selectDone): written by the waker under the wait queue's lock before
     * goready; read by the g after it resumes. */
    void *param;
    _Atomic uint32_t selectdone;
    struct sudog *waiting; /* sudogs this g is queued with (select) */

    gnote tnote;         /* thread_g: the plain thread sleeps here */

    char name[G_NAME_MAX]; /* goc_set_name; written by the g itself */

#if defined(GOC_RACE)
    void *tsan_fiber;
#endif
#if defined(GOC_ASAN)
    void *asan_fake;
#endif
    _Alignas(16) unsigned char argbuf[G_ARG_INLINE];
};

/* A goroutine (or plain thread) queued on a wait queue: Go's sudog. It lives
 * on the waiter's own stack for as long as the waiter is parked (stacks never
 * move in goc), so queueing never allocates. Fields are protected by the lock
 * of the queue that holds the sudog. */
typedef struct sudog {
    g *g;
    struct sudog *next, *prev;
    void *elem;           /* data element (may point to the waiter's stack) */
    struct sudog *waitlink; /* g.waiting list (select); same-address queue (sema) */
    struct sudog *waittail; /* sema: tail of the same-address queue (on its head) */
    void *c;              /* channel / semaphore address the sudog waits on */
    int64_t acquiretime;
    uint32_t ticket;
    int16_t casei;        /* select case index */
    bool isselect;
    bool success;         /* woken by a communication (true) or a close (false) */
} sudog;

/* ---- park / ready ---- */

/* The current goroutine, or the calling plain thread's stand-in g. Reads
 * per-thread state through a non-inlinable accessor: see proc.c on TLS. */
g *getg(void);
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
uint64_t gsched_current_goid(void);
const char *gsched_current_name(void);
const gstack *gsched_current_stack(void);
uint32_t gstatus_of(const g *gp);
const char *gstatus_string(uint32_t status);

/* The id of the P the calling goroutine runs on (0..gsched_nprocs_max()-1),
 * or -1 on a plain thread. It stays valid until the goroutine blocks or
 * yields (there is no preemption), so per-P caches (sync.Pool) may use it
 * without locks between two such points. */
int gsched_procid(void);
/* Upper bound on P ids ever handed out (for sizing per-P arrays). */
int gsched_nprocs_max(void);
/* Go's sync_runtime_canSpin: is brief spinning worthwhile for a goroutine
 * that found a lock held? (Several processors, another one running, and
 * this P has nothing else queued.) iter counts spins so far. */
bool gsched_can_spin(int iter);
/* Spin for a few dozen cycles (Go's procyield). */
void gsched_procyield(int cycles);

/* Timers are run by the scheduler: idle Ms before they steal, and the
 * monitor thread, which sleeps until the earliest deadline. The time
 * subsystem registers its hooks once (the scheduler knows nothing else of
 * timers): run(now) fires every due timer and returns the next deadline;
 * next() is the earliest pending deadline (INT64_MAX if none); pending() the
 * number of pending timers (the deadlock detector stays quiet while > 0). */
void gsched_set_timer_hooks(int64_t (*run)(int64_t now), int64_t (*next)(void),
                            int32_t (*pending)(void));
/* Run the deadlock check now: for whoever removes the last thing that could
 * still wake a goroutine (the last pending timer), since the Ms may all be
 * idle already and none would look again. Call with no runtime lock held. */
void gsched_checkdead(void);
/* A timer due at `when` was added: wake the monitor if it sleeps past it. */
void gsched_sysmon_poke(int64_t when);

/* Random number, per-M state (Go's fastrand). */
uint32_t gfastrand(void);
static inline uint32_t gfastrandn(uint32_t n) {
    return (uint32_t)(((uint64_t)gfastrand() * n) >> 32);
}

#endif
