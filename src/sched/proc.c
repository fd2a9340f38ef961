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
 *      stacks and of dead gs. The global run queue (sched.lock) holds the
 *      rest, in chunks of 128 that a P takes whole (globrunqputbatch_locked).
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
 *     does not wake another M (it is about to run here), nor does one that
 *     leaves a single goroutine queued behind runnext (runqready_slow); the
 *     monitor thread (sysmon) wakes one if they sit there too long.
 *   - Preemption: sched/preempt.c.
 *   - Calls and returns stay balanced across goroutine start and exit
 *     (arch/arch.h): a goroutine is entered by a call (garch_start calls
 *     goentry on its fresh stack) and leaves by goentry's return, which
 *     hands garch_start the context to resume (goexit0 picks it); every
 *     other switch resumes at the return address the resumed side's own
 *     call to garch_switch saved. Entering through a ret into a trampoline
 *     and leaving through calls that never return desynchronised the
 *     CPU's return-stack predictor: each of the next 3-4 returns of the
 *     goroutine that ran next mispredicted (~9.5 ns each here). goc_exit,
 *     from any depth, still leaves by a switch that never returns.
 *   - goc_lock_os_thread: the M runs only that goroutine. When it parks, the
 *     M hands its P away and sleeps; whoever later picks the goroutine from a
 *     run queue hands its own P to the locked M (startlockedm), as in Go.
 *   - Plain threads (not started by goc) that block in goc get a thread-local
 *     stand-in g (thread_g): parking one sleeps the thread on a futex, and
 *     goready wakes it. Wait queues therefore only ever hold gs.
 *   - gopark reads no clock: g.waitsince (shown only in dumps) is sysmon's
 *     coarse tick (sched.nanotime_tick), at most ~10 ms behind; a vDSO
 *     call per park was ~5% of an unbuffered round trip.
 *   - goc_maxprocs shrinks without stopping the world: a P whose id is >=
 *     gomaxprocs is retired by its M at its next schedule (its queue goes to
 *     the global queue); idle ones are retired at once. The goroutine
 *     running on a retiring P is asked to stop at once (preempt_retiring,
 *     repeated by sysmon), and a yield there switches even with nothing
 *     else queued, so a goroutine that never parks cannot keep the P.
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
 *   - Only the M owning P writes p->runqtail; stealers only CAS p->runqhead,
 *     and only once p->shared is set (runq_lone).
 *   - The lone processor (gomaxprocs 1): nobody can steal, so its owner
 *     takes from runnext and the ring with plain loads and stores, no
 *     locked instruction; when goc_maxprocs grows, the owner opens the
 *     queue to stealers (p->shared) at its next queue operation, and
 *     stealers leave it alone until then (runq_lone has the proof). A
 *     runtime started with more processors, or grown, gets there when
 *     gomaxprocs is 1 again and every other P has retired (runq_relone).
 *     The owner's store into an EMPTY runnext is a plain release store at
 *     any gomaxprocs: stealers only CAS a non-NULL value away (runqput).
 *
 * Lock order (the whole chain is in base/lockrank.h): hchan.lock <
 * sched.lock < allglock < stackpool.lock; a goroutine readied under a channel
 * or sema root lock may overflow its P's queue into the global queue under
 * sched.lock. No runtime lock is held across a goroutine switch, except the
 * one handed to gopark's unlockf, which is released by the next goroutine or
 * g0 (Debug builds check both).
 *
 * Per-thread state and migration: gcc and clang cache the address of a
 * __thread variable across calls, so a goroutine that parks on one thread
 * and resumes on another would read the first thread's copy. All per-M state
 * is therefore read through getm(), never cached across a switch: on x86-64
 * an inline %fs-relative load in volatile asm (no call; the compiler can
 * neither keep the address nor reuse the value), elsewhere an out-of-line
 * function with a compiler barrier (runtime2.h says why). On x86-64 outside
 * the race build the thread's m.curg also has a thread-local copy
 * (gsched_tls_curg, kept by m_set_curg, the one way m.curg changes), which
 * the inline getg and preemption check read: a plain initial-exec TLS
 * variable, %fs-relative at every access and reloaded after any call.
 *
 * Race build (GOC_RACE): this file is compiled without ThreadSanitizer, as
 * Go's runtime is under -race, and goroutines are fibers switched without
 * implied synchronization (sched/race.h, base/race.h). The happens-before
 * edges it owes the program are announced explicitly: goroutine creation
 * (the fiber starts with its creator's clock), goready -> the woken g's
 * return from gopark (keyed by the g), and the lock gopark's unlockf
 * releases on the parked g's behalf (released by the parking g itself
 * before the switch; the unlockf runs hidden). Stacks are reset to no
 * history before a goroutine first runs on them.
 *
 * The two hottest switch-outs, gopark and goc_yield on a lone processor,
 * are written so that nothing stays live in a callee-saved register across
 * their switch: every rare case is a tail call (park_general,
 * yield_general), and the landing re-reads its M through TLS after each
 * call it makes. GCC saves callee-saved registers in the prologue for any
 * path that needs one, and six pushes and pops around a switch cost ~3 ns
 * of a ~15 ns yield here (measured).
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
#include "base/assert.h"
#include "base/failpoint.h"
#include "base/print.h"
#include "base/sigfaults.h"
#include "sched/race.h"
#include "sched/runtime2.h"

#include "base/race.h"

struct schedt sched = {.lock = GLOCK_INIT(LR_SCHED)};

/* Registered drivers (see sched.h). drivers[i] is written once, before
 * ndrivers is raised past i with release order; readers load ndrivers with
 * acquire and then read drivers[0, n) without a lock. */
static const gsched_driver *drivers[GSCHED_MAX_DRIVERS];
static _Atomic int32_t ndrivers;
static glock driverlock = GLOCK_INIT(LR_LEAF); /* serializes registrations */
static _Atomic bool sched_started;             /* schedinit ran the start hooks */
/* The driver that polls (the netpoller), if registered; set once. */
static const gsched_driver *_Atomic poller;
/* When the poller was last polled; 0 while an M is blocked in it (Go's
 * sched.lastpoll). Whoever swaps it to 0 becomes the blocked poller. */
static _Atomic int64_t lastpoll = 1;

/* Plain threads blocked inside goc (for the deadlock detector), and a
 * generation bumped with every change: the detector reads it before and
 * after counting threads, and trusts the count only if no plain thread
 * blocked or was woken in between. */
static _Atomic int threads_blocked;
static _Atomic uint64_t threads_gen;

p *allp[MAXPROCS_LIMIT];
_Atomic int32_t nallp;
_Atomic int32_t gomaxprocs;
static int32_t ncpu;

/* allgs: every g ever allocated (gs are never freed); allglock. */
static glock allglock = GLOCK_INIT(LR_ALLG);
/* allgs is an array of fixed-size chunks that are never moved or freed, so
 * a reader that does not hold allglock (the SIGQUIT dump, in a signal
 * handler that cannot wait for the lock) never reads freed memory: entries
 * and chunk pointers are written before nallgs is raised past them, with
 * release order. A realloc'd array would be freed under such a reader. */
enum { ALLG_CHUNK = 4096, ALLG_MAXCHUNKS = 4096 }; /* up to 16M goroutines */
static g **allgs[ALLG_MAXCHUNKS];                  /* chunk pointers; written under allglock */
static size_t nallgs; /* written under allglock (release), read acquire */

static g *allg_at(size_t i) { return allgs[i / ALLG_CHUNK][i % ALLG_CHUNK]; }

/* Dumps that unwind goroutines after releasing allglock (diag/dump.c) pin
 * every goroutine stack meanwhile: while stack_pins > 0, gfput does not
 * unmap a custom-size stack but parks it on pinned_free, and the last
 * gsched_unpin_stacks unmaps them. Default-size stacks live in slabs that
 * are never unmapped and need no pin. Both under allglock. */
static int stack_pins;
static gstack *pinned_free;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic int init_err;
static _Atomic bool init_done; /* schedinit has run (gsched_init) */

/* Per-thread state. gsched_tls_m is set once when an M starts; tls_thread_g is the
 * plain-thread stand-in. initial-exec: no allocation on first access (the
 * signal handler reads them). */
/* Not static: getm's x86-64 asm (runtime2.h) names it. */
__thread m *gsched_tls_m __attribute__((tls_model("initial-exec")));
static __thread g tls_thread_g __attribute__((tls_model("initial-exec")));
#if defined(__x86_64__) && !defined(GOC_RACE)
/* What gsched_tls_curg points at while no goroutine runs: no goroutine,
 * only its preempt byte is ever read, and it says "asked to stop" so that
 * the inline checks need no test for NULL (sched.h). Immutable. */
const g gsched_g_none = {.preempt = 1};
__thread const g *gsched_tls_curg __attribute__((tls_model("initial-exec"))) = &gsched_g_none;
#endif

/* ------------------------------------------------------------------ */
/* Per-thread accessors                                                */

#if !defined(__x86_64__)
__attribute__((noinline)) m *getm(void) {
    m *mp = gsched_tls_m;
    __asm__ __volatile__("" : "+r"(mp)::"memory");
    return mp;
}
#endif

__attribute__((noinline)) static g *thread_g(void) {
    g *gp = &tls_thread_g;
    __asm__ __volatile__("" : "+r"(gp)::"memory");
    if (!gp->thread_g) {
        gp->thread_g = true;
        atomic_store_explicit(&gp->atomicstatus, G_RUNNING, memory_order_relaxed);
    }
    return gp;
}

#if defined(__x86_64__) && !defined(GOC_RACE)
/* getg's way when no goroutine runs (sched.h has the inline test). */
g *gsched_getg_slow(void) {
#else
g *getg(void) {
#endif
    m *mp = getm();
    if (mp && mp->curg)
        return mp->curg;
    return thread_g();
}

bool gsched_on_goroutine(void) {
    m *mp = getm();
    return mp && mp->curg;
}

/* m.locks is written only by its own thread, and read by signal handlers on
 * that thread: relaxed loads and stores (no locked instruction) and a
 * signal fence, so the compiler keeps the P accesses inside the count. */
m *acquirem(void) {
    m *mp = getm();
    if (mp)
        m_locks_inc(mp);
    return mp;
}

void releasem(m *mp) {
    if (!mp)
        return;
    GOC_ASSERT(atomic_load_explicit(&mp->locks, memory_order_relaxed) > 0);
    m_locks_dec(mp);
}

static inline uint32_t schedtick_next(p *pp) {
    uint32_t t = atomic_load_explicit(&pp->schedtick, memory_order_relaxed) + 1;
    atomic_store_explicit(&pp->schedtick, t, memory_order_relaxed);
    return t;
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

static const char *const gstatus_names[G_NSTATUS] = {"idle",    "runnable", "running",
                                                     "waiting", "dead",     "syscall"};

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
    [WAIT_SYNCTEST_RUN] = "synctest.Run",
    [WAIT_SYNCTEST_WAIT] = "synctest.Wait",
    [WAIT_SYNCTEST_CHAN_RECEIVE] = "chan receive (durable)",
    [WAIT_SYNCTEST_CHAN_SEND] = "chan send (durable)",
    [WAIT_SYNCTEST_SELECT] = "select (durable)",
};

const char *gwaitreason_string(int r) {
    return r >= 0 && r < WAIT_NREASONS ? waitreason_names[r] : "???";
}

/* casgstatus (runtime2.h) is the one place goroutine states change; this is
 * its cold half. Legal transitions:
 *   idle->runnable (newproc), dead->runnable (newproc reusing a g),
 *   runnable->running (execute), running->waiting (park),
 *   running->runnable (yield), waiting->runnable (ready),
 *   running->dead (exit), waiting->running (a plain thread wakes),
 *   running->syscall, syscall->running, syscall->runnable (goc_blocking). */
#ifdef GOC_DEBUG
void casgstatus_check(g *gp, uint32_t from, uint32_t to) {
    static const uint8_t legal[G_NSTATUS][G_NSTATUS] = {
        [G_IDLE][G_RUNNABLE] = 1,   [G_DEAD][G_RUNNABLE] = 1,    [G_RUNNABLE][G_RUNNING] = 1,
        [G_RUNNING][G_WAITING] = 1, [G_RUNNING][G_RUNNABLE] = 1, [G_WAITING][G_RUNNABLE] = 1,
        [G_RUNNING][G_DEAD] = 1,    [G_WAITING][G_RUNNING] = 1,  [G_RUNNING][G_SYSCALL] = 1,
        [G_SYSCALL][G_RUNNING] = 1, [G_SYSCALL][G_RUNNABLE] = 1,
    };
    if (from >= G_NSTATUS || to >= G_NSTATUS || !legal[from][to])
        gthrow("runtime: illegal goroutine status change %s -> %s (goroutine %llu)",
               gstatus_string(from), gstatus_string(to), (unsigned long long)gp->goid);
}
#endif

void casgstatus_mismatch(g *gp, uint32_t old, uint32_t from, uint32_t to) {
    gthrow("runtime: goroutine %llu status is %s, expected %s (changing to %s)",
           (unsigned long long)gp->goid, gstatus_string(old), gstatus_string(from),
           gstatus_string(to));
}

/* ------------------------------------------------------------------ */
/* Run queues (Go's runqput/runqget/runqgrab)                         */

/* The global run queue is a FIFO of segments (sched.runqseg, a ring of
 * GLOBRUNQ_SEGS), each a chain of gs through schedlink with its last g
 * and length: fixed-size chunks of the queue, GLOBRUNQ_SEG_MAX gs each but
 * the last. A put fills the last chunk and starts new ones (splitting the
 * new chain, which its putter just built: its gs are in that cache); with
 * the ring full, the last chunk grows. A get takes one g or whole chunks
 * (globrunqget_locked), in O(1) under sched.lock, and the taker walks the
 * chain into its own queue after unlocking. Go's single list made every
 * taker walk up to 128 gs under the lock, each a cache miss on a g last
 * touched by another CPU: at two processors skynet held sched.lock long
 * enough for ~6,500 lock sleeps a run, each paying a membarrier (12% of
 * samples in the walk). The order is the list's (FIFO), and so is the
 * batch a get takes but for chunk boundaries: skynet's peak RSS, which
 * depends on that order, is unchanged. The ring lives in sched: a field per g would cost
 * a million goroutines 16 MB. */
enum { GLOBRUNQ_SEG_MAX = RUNQ_SIZE / 2 };

static struct globrunqseg *globrunqseg_at(uint32_t i) {
    return &sched.runqseg[(sched.runqsegfirst + i) % GLOBRUNQ_SEGS];
}

static void globrunqseg_pop_locked(void) {
    sched.runqsegfirst = (sched.runqsegfirst + 1) % GLOBRUNQ_SEGS;
    sched.nrunqseg--;
}

/* The g k links after gp along schedlink (a chain of at least k + 1). */
static g *schedlink_skip(g *gp, int32_t k) {
    for (; k > 0; k--)
        gp = gp->schedlink;
    return gp;
}

/* Debug builds: the ring's chains, lengths and tails agree with runqsize
 * (walked only while the queue is short). */
static void globrunq_check_locked(void) {
#ifdef GOC_DEBUG
    int32_t total = 0;
    GOC_ASSERT(sched.nrunqseg <= GLOBRUNQ_SEGS);
    for (uint32_t i = 0; i < sched.nrunqseg; i++) {
        struct globrunqseg *s = globrunqseg_at(i);
        GOC_ASSERT(s->n > 0 && s->head && s->tail && !s->tail->schedlink);
        if (sched.runqsize <= 4096) {
            int32_t k = 1;
            g *x = s->head;
            for (; x->schedlink; x = x->schedlink)
                k++;
            GOC_ASSERT(x == s->tail && k == s->n);
        }
        total += s->n;
    }
    GOC_ASSERT(total == sched.runqsize);
#endif
}

static void globrunqputbatch_locked(g *head, g *tail, int32_t n) {
    tail->schedlink = NULL;
    atomic_store(&sched.runqsize, sched.runqsize + n);
    while (n > 0) {
        struct globrunqseg *last = sched.nrunqseg ? globrunqseg_at(sched.nrunqseg - 1) : NULL;
        int32_t room = last ? GLOBRUNQ_SEG_MAX - last->n : 0;
        if (!last || (room <= 0 && sched.nrunqseg < GLOBRUNQ_SEGS)) {
            last = globrunqseg_at(sched.nrunqseg++);
            last->head = last->tail = NULL;
            last->n = 0;
            room = GLOBRUNQ_SEG_MAX;
        }
        if (room <= 0)
            room = n; /* the ring is full: the last chunk grows */
        else if (room > n)
            room = n;
        /* A walk only to split the new chain, which the caller just built. */
        g *cut = room < n ? schedlink_skip(head, room - 1) : tail;
        g *next = cut->schedlink;
        cut->schedlink = NULL;
        if (last->tail)
            last->tail->schedlink = head;
        else
            last->head = head;
        last->tail = cut;
        last->n += room;
        head = next;
        n -= room;
    }
    globrunq_check_locked();
}

void globrunqput_locked(g *gp) { globrunqputbatch_locked(gp, gp, 1); }

bool runqempty(p *pp) {
    for (;;) {
        uint32_t head = atomic_load(&pp->runqhead);
        uint32_t tail = atomic_load(&pp->runqtail);
        g *next = atomic_load(&pp->runnext);
        if (tail == atomic_load(&pp->runqtail))
            return head == tail && next == NULL;
    }
}

/* Is pp's queue its owner's alone, so that the owner may take from it
 * with plain loads and stores? Owner only (m.locks held or on g0).
 *
 * The lone processor: while gomaxprocs has been 1 since the start, no
 * stealer exists (stealwork runs only on an M holding another P), so the
 * owner's runqget / runnext take / overflow need no CAS. When goc_maxprocs
 * grows, new Ps (and their Ms) may start stealing at once, before this
 * owner notices; so stealers never rely on gomaxprocs but on pp->shared,
 * which only the owner sets, between two of its own queue operations:
 *   - while shared is false, no stealer touches runqhead, runq[] or
 *     runnext (runqgrab loads shared with acquire first and returns 0), so
 *     the owner's plain read-modify-writes cannot race;
 *   - the owner sets it (release) at the start of an operation, after all
 *     its plain writes; a stealer that reads true (acquire) sees them, and
 *     its CAS on runqhead / runnext comes after them in modification
 *     order; from then on the owner uses the CAS protocol too.
 * Owner changes keep this: a P moves between Ms only through sched.lock
 * (pidle, startm), the note that wakes a parked M, or the CAS on p.status
 * that retake (sysmon, for a P left in P_SYSCALL by goc_blocking or by the
 * preemption signal) and exitsyscall / preempt_reclaimp race for; each
 * orders the old owner's last plain write before the new owner's first
 * read, and the old owner touches the queue no more (m.p is NULL: what it
 * readies goes to the global queue). Plain threads, sysmon and timers fired
 * off a P ready goroutines through the global queue, never a P's.
 * gomaxprocs is read relaxed: a stale 1 only delays the switch to shared
 * (stealers skip the queue meanwhile, and the owner, which is running,
 * gets to its work itself as for any g a spinner misses). Shrinking back
 * to 1 makes the queue lone again, but only once no stealer can be left
 * in it: runq_relone has the handshake. */
static inline __attribute__((always_inline)) bool runq_lone(p *pp) {
    if (GOC_LIKELY(atomic_load_explicit(&pp->shared, memory_order_relaxed)))
        return false;
    if (GOC_LIKELY(atomic_load_explicit(&gomaxprocs, memory_order_relaxed) <= 1))
        return true;
    atomic_store_explicit(&pp->shared, true, memory_order_release);
    return false;
}

/* After goc_maxprocs shrank to 1: make pp's queue its owner's alone again
 * (runq_lone), so the lone fast paths (yield_lone, plain runnext takes)
 * serve a program that calls goc_maxprocs(1) as they serve one started
 * with GOCMAXPROCS=1. Owner only, from the every-61st tick (rare: a few
 * loads). A stealer reads shared only while it holds a P of its own in
 * P_RUNNING (acquirep's seq_cst store comes first), and a P becomes
 * P_RETIRED only by its M's seq_cst store after its last steal (retirep)
 * or while idle, held by no M (goc_maxprocs). So, a Dekker pair: we clear
 * shared (seq_cst), then read gomaxprocs and every other P's status
 * (seq_cst). A stealer whose load of shared (seq_cst, runqgrab) came
 * before our store in the single total order had stored P_RUNNING before
 * it, and has not retired since, or its retire store (after its steal)
 * is what we read: either our re-check sees a P not retired and sets
 * shared back before any plain operation of ours, or its steal happened
 * before our read. A stealer whose load comes after our store reads
 * false (or the true we store back) and leaves the queue alone. Checking
 * after the store, not before it, also covers a grow and shrink between
 * two looks (a P revived, stealing, retiring again). */
static bool runq_only_p_left(p *pp) {
    if (atomic_load(&gomaxprocs) != 1)
        return false;
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++)
        if (allp[i] != pp && atomic_load(&allp[i]->status) != P_RETIRED)
            return false;
    return true;
}

static __attribute__((noinline)) void runq_relone(p *pp) {
    if (!runq_only_p_left(pp)) /* not yet: no store at all */
        return;
    atomic_store(&pp->shared, false);
    if (!runq_only_p_left(pp)) /* the handshake's re-check */
        atomic_store_explicit(&pp->shared, true, memory_order_release);
}

static inline void runq_maybe_relone(p *pp) {
    if (GOC_UNLIKELY(atomic_load_explicit(&pp->shared, memory_order_relaxed) &&
                     atomic_load_explicit(&gomaxprocs, memory_order_relaxed) == 1))
        runq_relone(pp);
}

/* The ring slot of queue position i. Spelled as an offset from the array's
 * first element, GCC folds the array's place in p into the address
 * (indexing the member itself costs an instruction more per access). */
static inline __attribute__((always_inline)) _Atomic(g *) *runq_slot(p *pp, uint32_t i) {
    return pp->runq + i % RUNQ_SIZE;
}

/* Goroutines in pp's ring (runnext not counted), as its owner sees it:
 * stealers only take, so the count may be high by what they are taking,
 * never low. Owner only: a hint for whether to wake an M or to run a new
 * goroutine at once (spawn backpressure), not for indexing. */
static inline uint32_t runq_len(p *pp) {
    return atomic_load_explicit(&pp->runqtail, memory_order_relaxed) -
           atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
}

/* Overflow of the local ring: move half of it plus gp to the global queue. */
static bool runqputslow(p *pp, g *gp, uint32_t head, uint32_t tail) {
    g *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;
    GOC_ASSERT(n == RUNQ_SIZE / 2);
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(runq_slot(pp, head + i), memory_order_relaxed);
    if (runq_lone(pp))
        atomic_store_explicit(&pp->runqhead, head + n, memory_order_relaxed);
    else if (!atomic_compare_exchange_strong(&pp->runqhead, &head, head + n))
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
        /* An empty runnext is filled with a plain release store, not an
         * exchange. Only the owner (us) ever writes a non-NULL value there;
         * a stealer only CASes a non-NULL value it read to NULL (runqgrab).
         * So once we read NULL, no other thread can change the slot until
         * we store: a stealer's CAS expects a non-NULL value and fails
         * against NULL. Our store therefore cannot overwrite anything, and
         * release makes gp's fields visible to the stealer that later CASes
         * it away (its CAS reads our store). A spinner that misses the
         * store leaves gp on this running P, which runs it itself (as for
         * the tail store below). An occupied slot may be stolen between our
         * load and store, so it is swapped atomically: the exchange returns
         * what was really there (NULL if a stealer took it meanwhile). */
        g *old = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
        if (!old) {
            atomic_store_explicit(&pp->runnext, gp, memory_order_release);
            return;
        }
        if (runq_lone(pp))
            atomic_store_explicit(&pp->runnext, gp, memory_order_relaxed);
        else
            old = atomic_exchange(&pp->runnext, gp);
        if (!old)
            return;
        gp = old;
    }
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail - head < RUNQ_SIZE) {
            atomic_store_explicit(runq_slot(pp, tail), gp, memory_order_relaxed);
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

/* Get a g from pp's local queue (owner only): runnext first. Taking a
 * non-NULL runnext needs the CAS: a stealer may CAS the same value away
 * between our load and a plain store, and both would run it. An empty
 * slot costs only the load. */
static inline __attribute__((always_inline)) g *runqget(p *pp) {
    if (runq_lone(pp)) {
        /* No stealer (runq_lone): plain loads and stores. */
        g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
        if (next) {
            atomic_store_explicit(&pp->runnext, NULL, memory_order_relaxed);
            return next;
        }
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
        if (head == atomic_load_explicit(&pp->runqtail, memory_order_relaxed))
            return NULL;
        g *gp = atomic_load_explicit(runq_slot(pp, head), memory_order_relaxed);
        atomic_store_explicit(&pp->runqhead, head + 1, memory_order_relaxed);
        return gp;
    }
    g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (next && atomic_compare_exchange_strong(&pp->runnext, &next, NULL))
        return next;
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail == head)
            return NULL;
        g *gp = atomic_load_explicit(runq_slot(pp, head), memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + 1,
                                                  memory_order_release, memory_order_relaxed))
            return gp;
    }
}

/* Grab half of pp's queue into batch (a ring indexed from batchhead).
 * Returns how many. */
static uint32_t runqgrab(p *pp, g **batch, uint32_t batchhead, bool stealnext) {
    /* A lone processor's queue is its owner's until it says otherwise
     * (runq_lone); acquire: its plain writes before that are seen;
     * seq_cst for runq_relone's handshake (a plain load on x86, ldar on
     * aarch64, as acquire is). */
    if (!atomic_load_explicit(&pp->shared, memory_order_seq_cst))
        return 0;
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
                atomic_load_explicit(runq_slot(pp, head + i), memory_order_relaxed);
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
        atomic_store_explicit(runq_slot(pp, t + i), batch[i], memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, t + n, memory_order_seq_cst);
    return gp;
}

/* A batch from the global queue (sched.lock held): one g (one: true), or
 * the first chunk whole and more whole chunks while the batch stays within
 * Go's share (size / gomaxprocs + 1, at most GLOBRUNQ_SEG_MAX; a short
 * queue's only chunk may exceed the share: the rest of the batch stays
 * stealable on the taker's queue). Only the one g, or a chunk grown past
 * the maximum while the ring was full, is cut by a walk. Returns the g to
 * run; *rest, a chain of the others, goes onto the caller's queue after
 * unlocking (globrunq_spread). */
static g *globrunqget_locked(bool one, g **rest) {
    *rest = NULL;
    if (sched.nrunqseg == 0)
        return NULL;
    int32_t want = one ? 1 : sched.runqsize / atomic_load(&gomaxprocs) + 1;
    if (want > GLOBRUNQ_SEG_MAX)
        want = GLOBRUNQ_SEG_MAX;
    struct globrunqseg *s = globrunqseg_at(0);
    g *gp = s->head, *last;
    int32_t took;
    if (s->n > (one ? 1 : GLOBRUNQ_SEG_MAX)) {
        took = one ? 1 : GLOBRUNQ_SEG_MAX;
        last = schedlink_skip(gp, took - 1);
        s->head = last->schedlink;
        s->n -= took;
    } else {
        took = s->n;
        last = s->tail;
        globrunqseg_pop_locked();
        while (sched.nrunqseg > 0 && took + (s = globrunqseg_at(0))->n <= want) {
            last->schedlink = s->head;
            last = s->tail;
            took += s->n;
            globrunqseg_pop_locked();
        }
    }
    last->schedlink = NULL;
    atomic_store(&sched.runqsize, sched.runqsize - took);
    GOC_ASSERT(sched.runqsize >= 0 && (sched.runqsize == 0) == (sched.nrunqseg == 0));
    globrunq_check_locked();
    *rest = gp->schedlink;
    gp->schedlink = NULL;
    return gp;
}

/* The rest of a global batch onto pp's queue (owner, sched.lock not held:
 * the gs are ours alone meanwhile, and we are running, so none is lost
 * to a spinner that misses them). */
static void globrunq_spread(p *pp, g *rest) {
    while (rest) {
        g *next = rest->schedlink;
        runqput(pp, rest, false);
        rest = next;
    }
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

p *pidleget_locked(void) {
    p *pp = sched.pidle;
    if (pp) {
        sched.pidle = pp->link;
        atomic_fetch_sub(&sched.npidle, 1);
    }
    return pp;
}

void acquirep(m *mp, p *pp) {
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
void wakep(void) {
    if (atomic_load(&sched.npidle) == 0)
        return;
    int32_t z = 0;
    if (atomic_load(&sched.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&sched.nmspinning, &z, 1))
        return;
    startm(NULL, true);
}

/* Hand off P from an M that is about to block (or stop) without running. */
void handoffp(p *pp) {
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

static void checkdead_locked(void);

static void thread_blocked(int delta) {
    atomic_fetch_add(&threads_blocked, delta);
    atomic_fetch_add(&threads_gen, 1);
}

/* ------------------------------------------------------------------ */
/* Drivers                                                             */

void gsched_register_driver(const gsched_driver *d) {
    glock_lock(&driverlock);
    int32_t n = atomic_load_explicit(&ndrivers, memory_order_relaxed);
    if (n == GSCHED_MAX_DRIVERS)
        gthrow("runtime: more than %d scheduler drivers", GSCHED_MAX_DRIVERS);
    drivers[n] = d;
    grace_release(&ndrivers); /* this file is not instrumented: say it */
    atomic_store_explicit(&ndrivers, n + 1, memory_order_release);
    if (d->poll) {
        if (atomic_load(&poller))
            gthrow("runtime: a second poll driver (%s)", d->name);
        atomic_store(&poller, d);
    }
    bool late = atomic_load(&sched_started);
    glock_unlock(&driverlock);
    if (late && d->start)
        d->start();
}

/* The poll driver, if registered (and for TSan, like drivers_count: what
 * it set up before registering happens before it is used). */
static const gsched_driver *poll_driver(void) {
    const gsched_driver *d = atomic_load_explicit(&poller, memory_order_acquire);
    if (d)
        grace_acquire(&ndrivers);
    return d;
}

/* The registrations (and what the driver set up before them) happen before
 * the drivers are used, on any thread: also for TSan (base/race.h). */
static int32_t drivers_count(void) {
    int32_t n = atomic_load_explicit(&ndrivers, memory_order_acquire);
    grace_acquire(&ndrivers);
    return n;
}

/* The earliest deadline any driver has (INT64_MAX: none). */
int64_t drivers_next(void) {
    int64_t next = INT64_MAX;
    for (int32_t i = 0, n = drivers_count(); i < n; i++)
        if (drivers[i]->next) {
            int64_t w = drivers[i]->next();
            if (w < next)
                next = w;
        }
    return next;
}

/* Run every driver that has something due at `now` (all of them if
 * `always`); return the earliest next deadline. */
int64_t drivers_run(int64_t now, bool always) {
    int64_t next = INT64_MAX;
    for (int32_t i = 0, n = drivers_count(); i < n; i++) {
        const gsched_driver *d = drivers[i];
        if (!d->run)
            continue;
        int64_t w = d->next ? d->next() : now;
        if (always || w <= now)
            w = d->run(now);
        if (w < next)
            next = w;
    }
    return next;
}

static int32_t drivers_pending(void) {
    int32_t sum = 0;
    for (int32_t i = 0, n = drivers_count(); i < n; i++)
        if (drivers[i]->pending)
            sum += drivers[i]->pending();
    return sum;
}

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
    if (atomic_load(&sched.runqsize) > 0 || atomic_load(&sched.nstackwait) > 0)
        return;
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++)
        if (!runqempty(allp[i]))
            return;
    if (drivers_pending() > 0)
        return;
    uint64_t gen = atomic_load(&threads_gen);
    int expected = atomic_load(&sched.mcount) + 1 /* sysmon */ + atomic_load(&threads_blocked) +
                   RACE_EXTRA_THREADS;
    int threads = read_num_threads();
    /* Plain threads block and wake without sched.lock: if one did while we
     * counted, the counts do not describe one moment. Whoever blocks next
     * checks again. */
    if (atomic_load(&threads_gen) != gen)
        return;
    /* Unknown (qemu-user reports 0), or a plain thread doing its own work,
     * which may still wake someone: no deadlock. */
    if (threads <= 0 || threads > expected)
        return;
    gthrow_all("all goroutines are asleep - deadlock!");
}

/* ------------------------------------------------------------------ */
/* g allocation                                                        */

/* The global dead-g list is a stack of chunks (sched.gfreechunk), each a
 * chain through schedlink with its length, so that a P moves
 * half a local list to it, or takes a chunk as its new local list, in
 * O(1) under sched.lock: Go's single list made the taker walk 32 gs under
 * the lock, each a cache miss on a g freed by another CPU (spawn at two
 * processors: one P creates, the other runs and frees). With the stack
 * full, the top chunk grows; a taker then cuts its share by a walk. */
static void gfchunk_push_locked(g *head, g *tail, int32_t n) {
    struct gfreechunk *top = sched.ngfreechunk ? &sched.gfreechunk[sched.ngfreechunk - 1] : NULL;
    if (top && (top->n + n <= GFREE_MAX / 2 + 1 || sched.ngfreechunk == GFREE_CHUNKS)) {
        tail->schedlink = top->head; /* in front: the chunk's end stays NULL */
        top->head = head;
        top->n += n;
    } else {
        top = &sched.gfreechunk[sched.ngfreechunk++];
        top->head = head;
        top->n = n;
    }
    atomic_store(&sched.ngfree, sched.ngfree + n);
}

/* Take up to max gs (the top chunk, cut if longer): a chain, its length
 * in *n. */
static g *gfchunk_pop_locked(int32_t max, int32_t *n) {
    *n = 0;
    if (sched.ngfreechunk == 0)
        return NULL;
    struct gfreechunk *top = &sched.gfreechunk[sched.ngfreechunk - 1];
    g *head = top->head;
    if (top->n <= max) {
        *n = top->n;
        sched.ngfreechunk--;
    } else {
        g *cut = schedlink_skip(head, max - 1);
        top->head = cut->schedlink;
        top->n -= max;
        cut->schedlink = NULL;
        *n = max;
    }
    atomic_store(&sched.ngfree, sched.ngfree - *n);
    GOC_ASSERT(sched.ngfree >= 0 && (sched.ngfree == 0) == (sched.ngfreechunk == 0));
    return head;
}

static void gfput(p *pp, g *gp) {
    if (gp->stack && (gp->stack->flags & GSTACK_CUSTOM)) {
        /* gp->stack is cleared under allglock: a dump's snapshot either
         * sees it cleared or has pinned the stacks (stack_pins) before we
         * look. While a dump unwinds, the last unpin unmaps the stack. */
        glock_lock(&allglock);
        gstack *st = gp->stack;
        G_STORE(gp->stack, NULL);
        if (stack_pins > 0) {
            st->next = pinned_free;
            pinned_free = st;
            st = NULL;
        }
        glock_unlock(&allglock);
        if (st)
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
    /* A full local list: gp and half of the list go to the global one as a
     * chunk, cut here (our own gs, in our cache), so that Ms that only
     * spawn find gs. */
    g *tail = gp;
    int32_t n = 1;
    gp->schedlink = NULL;
    if (pp) {
        gp->schedlink = pp->gfree;
        tail = schedlink_skip(gp, GFREE_MAX / 2);
        n += GFREE_MAX / 2;
        pp->gfree = tail->schedlink;
        pp->ngfree -= GFREE_MAX / 2;
        tail->schedlink = NULL;
    }
    glock_lock(&sched.lock);
    gfchunk_push_locked(gp, tail, n);
    glock_unlock(&sched.lock);
}

static g *gfget(p *pp) {
    if (pp && !pp->gfree && atomic_load_explicit(&sched.ngfree, memory_order_relaxed) > 0) {
        glock_lock(&sched.lock);
        int32_t n;
        pp->gfree = gfchunk_pop_locked(GFREE_MAX / 2 + 1, &n);
        pp->ngfree = n;
        glock_unlock(&sched.lock);
    }
    if (pp && pp->gfree) {
        g *gp = pp->gfree;
        pp->gfree = gp->schedlink;
        pp->ngfree--;
        return gp;
    }
    if (!pp && atomic_load_explicit(&sched.ngfree, memory_order_relaxed) > 0) {
        glock_lock(&sched.lock);
        int32_t n;
        g *gp = gfchunk_pop_locked(1, &n);
        glock_unlock(&sched.lock);
        return gp;
    }
    return NULL;
}

static g *malg(void) {
    if (gfail_hit(GFAIL_G_ALLOC))
        return NULL;
    g *gp = grace_rt_calloc(1, sizeof *gp);
    if (!gp)
        return NULL;
    /* Published dead: dumps skip it until newproc makes it runnable. */
    atomic_store(&gp->atomicstatus, G_DEAD);
    glock_lock(&allglock);
    size_t i = nallgs;
    if (i % ALLG_CHUNK == 0) {
        g **chunk =
            i / ALLG_CHUNK < ALLG_MAXCHUNKS ? grace_rt_malloc(ALLG_CHUNK * sizeof *chunk) : NULL;
        if (!chunk) {
            glock_unlock(&allglock);
            grace_rt_free(gp);
            return NULL;
        }
        __atomic_store_n(&allgs[i / ALLG_CHUNK], chunk, __ATOMIC_RELEASE);
    }
    allgs[i / ALLG_CHUNK][i % ALLG_CHUNK] = gp;
    __atomic_store_n(&nallgs, i + 1, __ATOMIC_RELEASE);
    glock_unlock(&allglock);
    return gp;
}

void gsched_for_each_g(void (*fn)(g *gp, void *arg), void *arg) {
    glock_lock(&allglock);
    for (size_t i = 0; i < nallgs; i++)
        if (gstatus_of(allg_at(i)) != G_DEAD)
            fn(allg_at(i), arg);
    glock_unlock(&allglock);
}

void gsched_for_each_g_pin_stacks(void (*fn)(g *gp, void *arg), void *arg) {
    glock_lock(&allglock);
    stack_pins++;
    for (size_t i = 0; i < nallgs; i++)
        if (gstatus_of(allg_at(i)) != G_DEAD)
            fn(allg_at(i), arg);
    glock_unlock(&allglock);
}

void gsched_unpin_stacks(void) {
    gstack *list = NULL;
    glock_lock(&allglock);
    GOC_ASSERT(stack_pins > 0);
    if (--stack_pins == 0) {
        list = pinned_free;
        pinned_free = NULL;
    }
    glock_unlock(&allglock);
    while (list) {
        gstack *st = list;
        list = st->next;
        gstack_put(NULL, st);
    }
}

void gsched_for_each_g_in_signal(void (*fn)(g *gp, void *arg), void *arg) {
    /* A signal handler must not block on a lock its own thread may hold:
     * try for a while, then read the list unlocked (the process exits after
     * the dump anyway). Safe unlocked: chunks never move and gs are never
     * freed (see allgs); a g added meanwhile is simply not listed. */
    bool locked = false;
    for (int i = 0; i < 200 && !(locked = glock_trylock(&allglock)); i++) {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    size_t n = __atomic_load_n(&nallgs, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++) {
        g *gp = __atomic_load_n(&allgs[i / ALLG_CHUNK], __ATOMIC_ACQUIRE)[i % ALLG_CHUNK];
        if (gstatus_of(gp) != G_DEAD)
            fn(gp, arg);
    }
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

static void *goentry(void *unused);
static void schedule(m *mp);

void gsched_stack_overflow(g *gp, void *uc) {
    gfatal_begin();
    gprintbuf o = GPRINTBUF_INIT(2);
    const gstack *st = G_LOAD(gp->stack);
    size_t size = st ? (size_t)(st->hi - st->lo) : 0;
    gprintf(&o, "runtime: goroutine stack exceeds %zu-byte limit\n", size);
    if (st)
        gprintf(&o, "runtime: stack=[%p, %p]%s\n", (void *)st->lo, (void *)st->hi,
                (st->flags & GSTACK_CANARY) ? " (found by canary)" : "");
    gprintf(&o, "fatal error: stack overflow\n\n");
    if (uc) {
        gprint_flush(&o);
        gthrow_traceback(2, uc, 0);
    } else {
        /* Found at a switch: the stack below the canary is not to be trusted. */
        if (gp->name[0])
            gprintf(&o, "goroutine %llu \"%s\" [running]:\n", (unsigned long long)gp->goid,
                    gp->name);
        else
            gprintf(&o, "goroutine %llu [running]:\n", (unsigned long long)gp->goid);
        gprint_flush(&o);
    }
    _exit(2);
}

static void stackwait_put(g *gp) {
    glock_lock(&sched.lock);
    gp->schedlink = sched.stackwait;
    sched.stackwait = gp;
    atomic_fetch_add(&sched.nstackwait, 1);
    glock_unlock(&sched.lock);
}

void stackwait_retry(void) {
    /* Stacks freed since (they sit in the Ps' caches, which only their
     * owners may read), or a slab that can be mapped again: try them. */
    if (atomic_load_explicit(&sched.nstackwait, memory_order_relaxed) == 0 ||
        (gstack_exhausted() && gstack_ensure(NULL) != 0))
        return;
    glock_lock(&sched.lock);
    int32_t n = 0;
    g *head = sched.stackwait, *tail = NULL;
    for (g *gp = head; gp; gp = gp->schedlink) {
        tail = gp;
        n++;
    }
    if (head)
        globrunqputbatch_locked(head, tail, n);
    sched.stackwait = NULL;
    atomic_store(&sched.nstackwait, 0);
    glock_unlock(&sched.lock);
    if (n)
        wakep();
}

/* First run of `to`: give it a stack (taken lazily: most goroutines of a
 * spawn burst wait in a queue stack-less) and its start frame. Returns `to`,
 * or, when no stack could be had, NULL if `from` is g0 (execute: schedule
 * looks again) and g0 otherwise. Out of line, so that gogo's common path
 * makes no call and needs no frame of its own. */
static __attribute__((noinline)) g *gogo_first(m *mp, g *from, g *to) {
    if (!to->stack) {
        G_STORE(to->stack, gstack_get(mp->p ? &mp->p->stackcache : NULL, 0));
        if (!to->stack) {
            /* Memory ran out between its creation and now: it waits,
             * runnable, until a stack is free (sysmon retries). */
            stackwait_put(to);
            return from == &mp->g0 ? NULL : &mp->g0;
        }
    }
    race_stack_init_begin(to);
    G_STORE(to->sp, garch_init_stack(to->stack->hi, goentry, NULL));
    race_stack_init_end();
    G_STORE(to->started, true);
    return to;
}

static __attribute__((noinline, cold)) void stack_overflow_check_slow(g *gp) {
    if (!gstack_canary_ok(gp->stack))
        gsched_stack_overflow(gp, NULL);
}

/* Get `to` ready to run on this M in place of `from` (running, its status
 * already changed) and return the context to resume: to's saved frame, or
 * the start block of a fresh stack (arch.h). NULL when `to` could not get
 * its first stack and `from` is g0 (execute: schedule looks again); a
 * goroutine switches to g0 instead then. */
/* gogo_prepare's part that makes no call: `to` is g0 or has run before, and
 * from's stack canary (if any) was checked. */
static inline __attribute__((always_inline)) void *gogo_resume(m *mp, g *from, g *to) {
    if (to != &mp->g0) {
        GOC_ASSERT(gstatus_of(to) == G_RUNNABLE && to->started);
        casgstatus(to, G_RUNNABLE, G_RUNNING);
        to->m = mp;
        /* A request meant for an earlier run of `to` is void (Go's execute
         * clears g.preempt too). */
        atomic_store_explicit(&to->preempt, 0, memory_order_relaxed);
    }
    /* The caller holds one m.locks count for the switch (acquirem); the
     * side that lands releases it in gsched_after_switch. */
    GOC_ASSERT(atomic_load_explicit(&mp->locks, memory_order_relaxed) == 1);
    m_set_curg(mp, to == &mp->g0 ? NULL : to);
    race_switch_begin(mp, from, to);
    (void)from;
    return to->sp;
}

/* gogo_resume for a `to` known not to be g0 (the lone yield's and gopark's
 * fast paths: it came from the run queue), without the test. */
static inline __attribute__((always_inline)) void *gogo_resume_g(m *mp, g *from, g *to) {
    GOC_ASSERT(to != &mp->g0);
    if (to == &mp->g0)
        __builtin_unreachable();
    return gogo_resume(mp, from, to);
}

static inline __attribute__((always_inline)) bool stack_canary_mode(const g *gp) {
    return gp->stack && (gp->stack->flags & GSTACK_CANARY);
}

/* stack_canary_mode for the goroutine that is running (m.curg), which has
 * its stack (gogo_first gives it one before its first run, gfput takes it
 * once it is dead), without the test. */
static inline __attribute__((always_inline)) bool stack_canary_mode_curg(const g *gp) {
    GOC_ASSERT(gp->stack != NULL && gp == getm()->curg);
    return gp->stack->flags & GSTACK_CANARY;
}

static inline __attribute__((always_inline)) void *gogo_prepare(m *mp, g *from, g *to) {
    if (to != &mp->g0 && GOC_UNLIKELY(!to->started)) {
        GOC_ASSERT(gstatus_of(to) == G_RUNNABLE);
        to = gogo_first(mp, from, to);
        if (!to)
            return NULL;
    }
    if (GOC_UNLIKELY(stack_canary_mode(from)))
        stack_overflow_check_slow(from);
    return gogo_resume(mp, from, to);
}

/* Switch this M from `from` (running, its status already changed) to `to`. */
void gogo(m *mp, g *from, g *to) {
    void *sp = gogo_prepare(mp, from, to);
    if (!sp)
        return;
    garch_switch(&from->sp, sp);
    race_switch_end(from);
}

/* Queue gp on pp, or globally when this M has no P (its goroutine lost
 * it to the preemption signal: preempt.c). */
static inline __attribute__((always_inline)) void runqput_or_global(p *pp, g *gp, bool next) {
    if (GOC_LIKELY(pp != NULL)) {
        runqput(pp, gp, next);
        return;
    }
    glock_lock(&sched.lock);
    globrunqput_locked(gp);
    glock_unlock(&sched.lock);
    wakep();
}

static inline __attribute__((always_inline)) void after_switch_done(m *mp) {
#ifdef GOC_DEBUG
    /* No runtime lock survives a switch: the one handed to gopark's
     * unlockf has been released by now. */
    if (glock_nheld() != 0)
        gthrow("runtime: %d runtime lock(s) held across a goroutine switch", glock_nheld());
#endif
    m_locks_drop_switch(mp); /* the count the switching side took (see gogo) */
}

/* Finish the switch that just landed on this stack (mp: this thread's M,
 * read after the switch: the goroutine may have moved). Inlined where a
 * goroutine switches out (switch_out_held), called everywhere else. */
/* A park's post action: its unlockf runs now that its context is saved. */
static inline __attribute__((always_inline)) void after_switch_park(m *mp, g *gp) {
    bool parked = true;
    /* Read before unlockf: once it has run, a waker may resume gp. */
    gbubble *bubble = gp->bubble;
    unsigned reason = gp->waitreason;
    if (mp->post.unlockf) {
        race_unlockf_begin();
        parked = mp->post.unlockf(gp, mp->post.arg);
        race_unlockf_end();
    }
    if (!parked) {
        /* The wait was abandoned: resume it as soon as possible. */
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        runqput_or_global(mp->p, gp, true);
    } else if (GOC_UNLIKELY(bubble != NULL)) {
        synctest_parked(bubble, reason); /* may ready the bubble's root */
    }
}

static inline __attribute__((always_inline)) void after_switch(m *mp) {
    enum post_action act = mp->post.act;
    if (act == POST_NONE) {
        /* A lone yield's switch (yield_lone), or g0 scheduling us: tested
         * before the dispatch, which costs an indirect jump. */
        GOC_ASSERT(mp->post.gp == NULL);
        after_switch_done(mp);
        return;
    }
    g *gp = mp->post.gp;
    mp->post.act = POST_NONE;
    mp->post.gp = NULL;
    if (GOC_LIKELY(act == POST_PARK)) {
        /* The common one where a goroutine lands (whoever ran before it
         * parked): tested before the dispatch too. */
        after_switch_park(mp, gp);
        after_switch_done(mp);
        return;
    }
    switch (act) {
    case POST_NONE:
    case POST_PARK:
        break;
    case POST_YIELD:
        runqput_or_global(mp->p, gp, false);
        break;
    case POST_YIELD_NEXT:
        runqput_or_global(mp->p, gp, true);
        break;
    case POST_YIELD_GLOBAL:
        glock_lock(&sched.lock);
        globrunqput_locked(gp);
        glock_unlock(&sched.lock);
        wakep(); /* an idle P may run it at once (preempted goroutines) */
        break;
    case POST_GLOBAL:
        /* Back from goc_blocking with no P to run on: another M takes it. */
        casgstatus(gp, G_SYSCALL, G_RUNNABLE);
        glock_lock(&sched.lock);
        globrunqput_locked(gp);
        glock_unlock(&sched.lock);
        wakep();
        break;
    case POST_EXIT:
        race_g_destroy(gp);
        race_exit_begin();
        gfput(mp->p, gp);
        race_exit_end();
        break;
    }
    after_switch_done(mp);
}

static __attribute__((noinline)) void after_switch_general(m *mp) { after_switch(mp); }

void gsched_after_switch(void) { after_switch(getm()); }

/* Every 61st pick looks at the global queue first (Go's schedule does the
 * same), so that a P busy with its own queue starves no one. Out of line:
 * the lock would give runq_quickget a frame on every switch. */
static __attribute__((noinline)) g *runq_quickget_global(p *pp) {
    runq_maybe_relone(pp);
    if (!atomic_load_explicit(&sched.runqsize, memory_order_relaxed))
        return NULL;
    g *rest;
    glock_lock(&sched.lock);
    g *gp = globrunqget_locked(true, &rest);
    glock_unlock(&sched.lock);
    GOC_ASSERT(!rest);
    return gp;
}

/* A goroutine picked for a direct switch from mp, or NULL when it is locked
 * to another thread: it is handed there (g0 hands our P to it). */
static inline __attribute__((always_inline)) g *pick_unless_locked(m *mp, g *gp) {
    if (GOC_UNLIKELY(gp && gp->lockedm && gp->lockedm != mp)) {
        mp->handoff = gp;
        return NULL;
    }
    return gp;
}

/* Quick pick from the local queue for a direct switch (on a g stack). */
static inline __attribute__((always_inline)) g *runq_quickget(m *mp) {
    p *pp = mp->p;
    if (GOC_UNLIKELY(!pp || mp->lockedg ||
                     pp->id >= atomic_load_explicit(&gomaxprocs, memory_order_relaxed)))
        return NULL;
    uint32_t tick = schedtick_next(pp);
    g *gp = NULL;
    if (GOC_UNLIKELY(tick % 61 == 0))
        gp = runq_quickget_global(pp);
    if (GOC_LIKELY(!gp))
        gp = runqget(pp);
    return pick_unless_locked(mp, gp);
}

/* Switch from the running goroutine gp (its status and mp->post already
 * set) to `to`, and finish the switch once gp runs again: gogo, inline,
 * where a goroutine switches out (from a goroutine, gogo_prepare always
 * has a context to return). */
static inline __attribute__((always_inline)) void switch_to(m *mp, g *gp, g *to) {
    garch_switch(&gp->sp, gogo_prepare(mp, gp, to));
    race_switch_end(gp);
    after_switch(getm());
}

/* The current goroutine stops running (status already set): do `act` to it
 * once its context is saved, and run something else. The caller holds the
 * m.locks count the switch consumes (switch_out takes it). */
static inline __attribute__((always_inline)) void switch_out_held(m *mp, g *gp,
                                                                  enum post_action act) {
    mp->post.act = act;
    mp->post.gp = gp;
    g *next = runq_quickget(mp);
    switch_to(mp, gp, next ? next : &mp->g0);
}

void preempt_park_global(m *mp, g *gp) {
    /* No P to run on: queue it once its context is saved; this M then
     * finds no P in schedule and stops. */
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    m_locks_inc(mp);
    mp->post.act = POST_YIELD_GLOBAL;
    mp->post.gp = gp;
    gogo(mp, gp, &mp->g0);
    gsched_after_switch();
}

/* gopark on a plain thread: block it on its note. */
static __attribute__((noinline)) void gopark_thread(bool (*unlockf)(g *, void *), void *arg,
                                                    enum waitreason reason) {
    g *gp = thread_g();
    G_STORE(gp->waitreason, (uint8_t)reason);
    G_STORE(gp->waitsince, gnanotime_coarse());
    note_clear(&gp->tnote);
    casgstatus(gp, G_RUNNING, G_WAITING);
    thread_blocked(+1);
    if (unlockf && !unlockf(gp, arg)) {
        thread_blocked(-1);
        casgstatus(gp, G_WAITING, G_RUNNING);
        return;
    }
    /* This thread blocking may be what completes a deadlock: every M may
     * already be idle, and none would look again. */
    gsched_checkdead();
    note_sleep(&gp->tnote); /* goready took us off the blocked count */
    race_g_resumed(gp);
    casgstatus(gp, G_RUNNABLE, G_RUNNING);
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
}

/* A parked goroutine runs again (on whichever M). */
static inline __attribute__((always_inline)) void park_resumed(g *gp) {
    race_g_resumed(gp);
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
}

/* gopark's switch-out the general way (out of line; see gopark): to `next`
 * when the caller picked it already (NULL: g0; handed off if locked to
 * another thread), else after a pick of its own. */
static __attribute__((noinline)) void park_general(m *mp, g *gp, g *next, bool picked) {
    next = picked ? pick_unless_locked(mp, next) : runq_quickget(mp);
    switch_to(mp, gp, next ? next : &mp->g0);
    park_resumed(gp);
}

/* park_landed's rare case: the unlockf abandoned the wait (out of line:
 * the queue put may call). */
static __attribute__((noinline)) void park_abandoned(m *mp) {
    g *pg = mp->post.gp;
    mp->post.act = POST_NONE;
    mp->post.gp = NULL;
    casgstatus(pg, G_WAITING, G_RUNNABLE);
    runqput_or_global(mp->p, pg, true); /* resume it as soon as possible */
}

/* The landing of gopark's own switch: whoever switched to us left its post
 * action, most often a park (its unlockf runs here). The common park is
 * done inline, re-reading everything through this thread's M after the
 * call (unlockf never switches goroutines, so the M is the same), so that
 * nothing stays live across it; the rest is after_switch out of line. */
static inline __attribute__((always_inline)) void park_landed(void) {
    m *mp = getm();
    if (GOC_LIKELY(mp->post.act == POST_PARK && mp->post.unlockf != NULL &&
                   mp->post.gp->bubble == NULL)) {
        race_unlockf_begin();
        bool parked = mp->post.unlockf(mp->post.gp, mp->post.arg);
        race_unlockf_end();
        mp = getm();
        if (GOC_UNLIKELY(!parked)) {
            park_abandoned(mp);
            mp = getm();
        } else {
            mp->post.act = POST_NONE;
            mp->post.gp = NULL;
        }
        after_switch_done(mp);
    } else {
        after_switch_general(mp);
        /* The same M (after_switch's post actions never switch), read
         * again all the same: mp kept across the call would make the
         * common path save and restore a callee-saved register. */
        mp = getm();
    }
    park_resumed(mp->curg);
}

void gopark(bool (*unlockf)(g *, void *), void *arg, enum waitreason reason) {
    m *mp = getm();
    g *gp;
    if (GOC_UNLIKELY(!mp || !(gp = mp->curg))) {
        gopark_thread(unlockf, arg, reason);
        return;
    }
    G_STORE(gp->waitreason, (uint8_t)reason);
    /* sysmon's tick, not a clock read: waitsince is only shown in dumps,
     * where ~10 ms does not matter (Go's own is coarser: set by the GC). */
    G_STORE(gp->waitsince, atomic_load_explicit(&sched.nanotime_tick, memory_order_relaxed));
    if (GOC_UNLIKELY(gp->bubble != NULL))
        grace_release(gp->bubble); /* its work happens before a synctest wait returns */
    mp->post.unlockf = unlockf;
    mp->post.arg = arg;
    casgstatus(gp, G_RUNNING, G_WAITING);
    m_locks_take_switch(mp);
    mp->post.act = POST_PARK;
    mp->post.gp = gp;
    /* runq_quickget and gogo_prepare inline, without their calls: every
     * rare case is a tail call to park_general, so that this path keeps
     * nothing in a callee-saved register (no pushes and pops per park). */
    p *pp = mp->p;
    if (GOC_UNLIKELY(!pp || mp->lockedg ||
                     pp->id >= atomic_load_explicit(&gomaxprocs, memory_order_relaxed) ||
                     stack_canary_mode_curg(gp))) {
        park_general(mp, gp, NULL, false);
        return;
    }
    /* schedtick_next's increment, with the tick read once for the test */
    uint32_t tick = atomic_load_explicit(&pp->schedtick, memory_order_relaxed) + 1;
    if (GOC_UNLIKELY(tick % 61 == 0)) {
        park_general(mp, gp, NULL, false);
        return;
    }
    atomic_store_explicit(&pp->schedtick, tick, memory_order_relaxed);
    g *next = runqget(pp);
    if (GOC_UNLIKELY(!next || !next->started || next->lockedm)) {
        park_general(mp, gp, next, true);
        return;
    }
    garch_switch(&gp->sp, gogo_resume_g(mp, gp, next));
    race_switch_end(gp);
    park_landed();
}

/* runqready's other cases: runnext or the queue already taken, a locked
 * M, or no P at all (the global queue).
 *
 * With runnext taken, gp displaces its occupant to the queue. When that
 * leaves one goroutine queued (the displaced one, or one that was there
 * already), no M is woken for it either: this P runs both as soon as the
 * caller and then runnext block, which in a handoff chain is at once (a
 * select readying both its senders, then parking), and a woken M would
 * only steal one of them and pull the chain across cores: a futex wake on
 * the caller's path plus cache lines moving on every message (select at
 * two processors: 79 -> 61 ns a message). So a running P holds at most two
 * runnable goroutines, runnext and one queued, that no M was woken for; a
 * second queued one wakes a P, and sysmon wakes one for work left on a P
 * whose goroutine keeps running (as for runnext alone). A locked M runs
 * nothing else, so it always wakes a P. */
static __attribute__((noinline)) void runqready_slow(m *mp, g *gp) {
    p *pp;
    if (mp && (pp = mp->p)) {
        runqput(pp, gp, true);
        if (runq_len(pp) > 1 || mp->lockedg)
            wakep(); /* an idle P may take some of the queue */
        return;
    }
    glock_lock(&sched.lock);
    globrunqput_locked(gp);
    glock_unlock(&sched.lock);
    wakep();
}

/* runqready_slow for goready, which took an m.locks count for it: a tail
 * call, so that goready's common path keeps nothing in a callee-saved
 * register across a call. */
static __attribute__((noinline)) void runqready_slow_held(m *mp, g *gp) {
    runqready_slow(mp, gp);
    m_locks_dec(mp);
}

/* runqready's common case: gp alone in runnext of the caller's P. Returns
 * false (nothing done) for every other case. */
static inline __attribute__((always_inline)) bool runqready_fast(m *mp, g *gp) {
    p *pp;
    if (GOC_LIKELY(mp && (pp = mp->p) && !mp->lockedg) &&
        atomic_load_explicit(&pp->runnext, memory_order_relaxed) == NULL &&
        atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
            atomic_load_explicit(&pp->runqtail, memory_order_relaxed)) {
        /* Alone in runnext: it runs here as soon as the caller blocks, which
         * in a handoff is right away. Waking another thread to steal it
         * would cost a futex round trip per message; sysmon catches the
         * case where the caller keeps running instead. The slot is empty:
         * runqput's plain release store (see there). A locked M runs
         * nothing else, so it always wakes a P. */
        atomic_store_explicit(&pp->runnext, gp, memory_order_release);
        return true;
    }
    return false;
}

/* Queue a g that just became runnable: into runnext of the caller's P (it
 * runs next here), or on the global queue when the caller is a plain thread
 * or g0 without a P. */
static inline __attribute__((always_inline)) void runqready(m *mp, g *gp) {
    if (!runqready_fast(mp, gp))
        runqready_slow(mp, gp);
}

/* goready once gp is a goroutine outside a bubble: runnable, then queued
 * (into runnext, most often: no call and no callee-saved register). */
static inline __attribute__((always_inline)) void goready_queue(g *gp) {
    casgstatus(gp, G_WAITING, G_RUNNABLE);
    m *mp = getm();
    if (!mp) {
        runqready_slow(NULL, gp);
        return;
    }
    m_locks_inc(mp); /* runqready uses our P */
    if (GOC_UNLIKELY(!runqready_fast(mp, gp))) {
        runqready_slow_held(mp, gp);
        return;
    }
    m_locks_dec(mp);
}

/* goready's rarer ways, out of line: a plain thread's g, a bubble's. */
static __attribute__((noinline)) void goready_special(g *gp) {
    if (gp->thread_g) {
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        /* Counted as running before it wakes, so the deadlock detector never
         * sees a woken thread as still blocked. */
        thread_blocked(-1);
        note_wakeup(&gp->tnote);
        return;
    }
    synctest_ready(gp); /* counted as running before it can run */
    goready_queue(gp);
}

void goready(g *gp) {
    race_g_ready(gp);
    if (GOC_UNLIKELY(gp->thread_g || gp->bubble != NULL)) {
        goready_special(gp);
        return;
    }
    goready_queue(gp);
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

static bool p_retiring(p *pp) { return pp->id >= atomic_load(&gomaxprocs); }

static void resetspinning(m *mp) {
    mp->spinning = false;
    int32_t n = atomic_fetch_sub(&sched.nmspinning, 1) - 1;
    GOC_CHECK(n >= 0);
    if (n == 0 && atomic_load(&sched.npidle) > 0)
        wakep();
}

/* Make the goroutines of a list from the poll driver runnable: onto this
 * M's P when it has one, else the global queue; wake Ms for them. */
static void injectglist(m *mp, g *list) {
    if (!list)
        return;
    int32_t n = 0;
    g *tail = NULL;
    for (g *gp = list; gp; gp = gp->schedlink) {
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        tail = gp;
        n++;
    }
    if (mp && mp->p) {
        for (g *gp = list, *next; gp; gp = next) {
            next = gp->schedlink;
            runqput(mp->p, gp, false);
        }
    } else {
        glock_lock(&sched.lock);
        globrunqputbatch_locked(list, tail, n);
        glock_unlock(&sched.lock);
    }
    for (int32_t i = 0; i < n && atomic_load(&sched.npidle) > 0; i++)
        wakep();
}

/* The M found nothing to run and gave up its P. If goroutines wait for the
 * poll driver and no M is blocked in it, this one blocks there (Go's
 * findrunnable, last step). When the poll readies goroutines, this M runs
 * them if a P is idle; if none is, they go to the global queue for the
 * busy Ps and this M stops polling (lastpoll set again), as Go's does:
 * while every P is busy, their own non-blocking polls (findrunnable, once
 * their queues run dry) and sysmon's (10 ms) collect the events in
 * batches. Rejected: polling on while no P is free. The blocked poller
 * then woke for every event as it came, one or two per epoll_wait, and
 * each wake cost a thread switch on a CPU the busy Ps needed: 1.4
 * epoll_wait calls per round trip in bench_echo at one processor (Go's
 * way: 0.03) and 25% more CPU per round trip than Go. Returns true if this
 * M got a P (look for work again), false if it should stop. */
static bool poll_until_work(m *mp) {
    const gsched_driver *pd = poll_driver();
    if (!pd || pd->waiting() == 0 || atomic_exchange(&lastpoll, 0) == 0)
        return false;
    g *list;
    do {
        /* NULL: broken by wake() (the last waiter left), or EINTR. */
        list = pd->poll(INT64_MAX);
    } while (!list && pd->waiting() > 0);
    atomic_store(&lastpoll, gnanotime());
    if (!list)
        return false;
    glock_lock(&sched.lock);
    p *np = pidleget_locked();
    glock_unlock(&sched.lock);
    if (!np) {
        injectglist(NULL, list);
        return false;
    }
    acquirep(mp, np);
    injectglist(mp, list);
    return true;
}

bool gsched_poller_blocked(void) { return atomic_load(&lastpoll) == 0; }

void gsched_poller_needed(void) {
    /* An M blocked in poll will see the event; otherwise make sure one
     * looks: a spinning M that finds nothing becomes the poller. */
    if (atomic_load(&lastpoll) != 0)
        wakep();
}

/* sysmon: poll when nobody did for 10 ms (every M busy running goroutines
 * that never block, or asleep). */
void sysmon_netpoll(int64_t now) {
    const gsched_driver *pd = poll_driver();
    int64_t last = atomic_load(&lastpoll);
    if (!pd || last == 0 || now - last < 10 * 1000000 || pd->waiting() == 0)
        return;
    if (!atomic_compare_exchange_strong(&lastpoll, &last, now))
        return;
    /* The poll takes the goroutines it readies off the driver's waiting
     * count before injectglist queues them; sysmon is no M, so meanwhile
     * every M may be idle and an M going to sleep would find no runnable
     * goroutine, no waiter and no running M: a false "all goroutines are
     * asleep" (seen with a main goroutine woken from its first connect).
     * Count sysmon as a running M until they are queued (Go's
     * incidlelocked(-1) around sysmon's injectglist). */
    glock_lock(&sched.lock);
    sched.nmidlelocked--;
    glock_unlock(&sched.lock);
    injectglist(NULL, pd->poll(0));
    glock_lock(&sched.lock);
    sched.nmidlelocked++;
    glock_unlock(&sched.lock);
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
    uint32_t tick = schedtick_next(pp);
    g *gp;
    if (tick % 61 == 0)
        runq_maybe_relone(pp);
    g *rest;
    if (tick % 61 == 0 && atomic_load(&sched.runqsize) > 0) {
        glock_lock(&sched.lock);
        gp = globrunqget_locked(true, &rest);
        glock_unlock(&sched.lock);
        if (gp)
            return gp;
    }
    if ((gp = runqget(pp)))
        return gp;
    if (atomic_load(&sched.runqsize) > 0) {
        glock_lock(&sched.lock);
        gp = globrunqget_locked(false, &rest);
        glock_unlock(&sched.lock);
        if (gp) {
            globrunq_spread(pp, rest);
            return gp;
        }
    }
    /* Ready I/O before stealing, unless an M is blocked polling already
     * (Go's netpoll(0) in findrunnable). */
    const gsched_driver *pd = poll_driver();
    if (pd && pd->waiting() > 0 && atomic_load(&lastpoll) != 0) {
        g *list = pd->poll(0);
        if (list) {
            gp = list;
            injectglist(mp, list->schedlink);
            casgstatus(gp, G_WAITING, G_RUNNABLE);
            return gp;
        }
    }
    int64_t due = drivers_next();
    if (due != INT64_MAX) {
        int64_t now = gnanotime();
        if (due <= now) {
            drivers_run(now, false); /* fire due timers before stealing */
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
        gp = globrunqget_locked(false, &rest);
        glock_unlock(&sched.lock);
        globrunq_spread(pp, rest);
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
        /* A queue not yet shared cannot be stolen from (runq_lone): its
         * owner, running, gets to it itself. */
        if ((atomic_load_explicit(&p2->shared, memory_order_acquire) && !runqempty(p2)) ||
            atomic_load(&sched.runqsize) > 0) {
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
    if (poll_until_work(mp))
        goto top;
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
    m_locks_take_switch(mp);
    gogo(mp, &mp->g0, gp);
    gsched_after_switch();
}

static void schedule(m *mp) {
    for (;;) {
        if (mp->preemptp)
            preempt_reclaimp(mp);
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
    gsched_tls_m = mp;
    mp->tid = (pid_t)syscall(SYS_gettid);
    mp->g0.thread_g = true;
    atomic_store(&mp->g0.atomicstatus, G_RUNNING);
    race_m_init(mp);
    /* newm started us with every signal blocked; synchronous faults must
     * reach the stack-overflow handler. SIGPIPE too: raised by a write on
     * this thread, it must reach its handler here (ignored, or sent to the
     * channels goc_signal_notify registered), not stay pending for good. */
    sigset_t sync_sigs;
    gsigset_faults(&sync_sigs);
    sigaddset(&sync_sigs, SIGPIPE);
    sigaddset(&sync_sigs, SIGURG); /* preemption requests (preempt.c) */
    pthread_sigmask(SIG_UNBLOCK, &sync_sigs, NULL);
    for (int32_t i = 0, n = drivers_count(); i < n; i++)
        if (drivers[i]->minit)
            drivers[i]->minit();
    p *pp = mp->nextp;
    mp->nextp = NULL;
    acquirep(mp, pp);
    schedule(mp);
    return NULL;
}

/* A detached runtime thread. It starts with every signal blocked, so that it
 * never takes signals meant for the program's own threads (mstart unblocks
 * the synchronous ones). */

int start_thread(void *(*fn)(void *), void *arg, size_t stack) {
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
    if (atomic_load(&sched.mcount) >= MAXTHREADS) {
        /* Go's limit and words: blocking calls that never return, each
         * holding a thread, are a bug this must not hide. */
        gprint_str(2, "runtime: program exceeds 10000-thread limit\n");
        gthrow("thread exhaustion");
    }
    m *mp = grace_rt_calloc(1, sizeof *mp);
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
        grace_rt_free(mp);
        return -EAGAIN;
    }
    return 0;
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

/* shared: false only for the one P of a runtime that starts with
 * gomaxprocs 1 (runq_lone). */
static p *newp(int32_t id, bool shared) {
    p *pp = grace_rt_calloc_aligned(_Alignof(p), sizeof *pp);
    if (!pp)
        return NULL;
    /* Its groups start cache lines only if it does (struct p's comment). */
    GOC_ASSERT((uintptr_t)pp % GSCHED_CACHE_LINE == 0);
    pp->id = id;
    atomic_store_explicit(&pp->shared, shared, memory_order_relaxed);
    return pp;
}

/* GOCMAXPROCS: a positive decimal integer, capped at the limit. Anything
 * else ("3x", "1e3", "-2", "") is reported and the default kept: a typo
 * must not silently turn into another number. */
static int32_t parse_maxprocs(const char *env, int32_t dflt) {
    gprintbuf o = GPRINTBUF_INIT(2);
    long v = 0;
    const char *s = env;
    while (*s >= '0' && *s <= '9' && v <= 1000000)
        v = v * 10 + (*s++ - '0');
    if (s == env || *s != '\0' || v <= 0) {
        gprintf(&o, "goc: ignoring GOCMAXPROCS=\"%.40s\": not a positive integer; using %d\n", env,
                dflt);
        gprint_flush(&o);
        return dflt;
    }
    if (v > MAXPROCS_LIMIT) {
        gprintf(&o, "goc: GOCMAXPROCS=%.40s is above the limit of %d processors; using %d\n", env,
                MAXPROCS_LIMIT, MAXPROCS_LIMIT);
        gprint_flush(&o);
        return MAXPROCS_LIMIT;
    }
    return (int32_t)v;
}

static void schedinit(void) {
    ncpu = getncpu();
    int32_t procs = ncpu > MAXPROCS_LIMIT ? MAXPROCS_LIMIT : ncpu;
    const char *env = getenv("GOCMAXPROCS");
    if (env && *env)
        procs = parse_maxprocs(env, procs);
    atomic_store_explicit(&sched.nanotime_tick, gnanotime_coarse(), memory_order_relaxed);
    gstack_init();
    preempt_init();
    glock_lock(&driverlock);
    atomic_store(&sched_started, true);
    int32_t nd = drivers_count();
    glock_unlock(&driverlock);
    for (int32_t i = 0; i < nd; i++)
        if (drivers[i]->start)
            drivers[i]->start();
    glock_lock(&sched.lock);
    for (int32_t i = procs - 1; i >= 0; i--) {
        p *pp = newp(i, procs > 1);
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

static __attribute__((noinline)) int gsched_init_once(void) {
    pthread_once(&init_once, schedinit);
    /* After pthread_once returned, which orders schedinit's writes first. */
    atomic_store_explicit(&init_done, true, memory_order_release);
    return atomic_load_explicit(&init_err, memory_order_relaxed);
}

int gsched_init(void) {
    /* Every spawn asks: once done, one load instead of pthread_once's call. */
    if (GOC_UNLIKELY(!atomic_load_explicit(&init_done, memory_order_acquire)))
        return gsched_init_once();
    return atomic_load_explicit(&init_err, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Goroutine creation and exit                                          */

static void goexit1(void) __attribute__((noreturn));
static void *goexit0(m *mp);

static void ngoroutine_add(p *pp, int64_t d) {
    if (pp)
        atomic_store_explicit(&pp->ngoroutine,
                              atomic_load_explicit(&pp->ngoroutine, memory_order_relaxed) + d,
                              memory_order_relaxed);
    else
        atomic_fetch_add(&sched.ngoroutine, (int32_t)d);
}

/* A goroutine's first frame: garch_start calls it on the fresh stack, and
 * its return is the goroutine's last switch (it returns the context to
 * resume; arch.h). Entered by a call and left by a return, it keeps the
 * return-stack predictor in step for whoever runs next. */
static void *goentry(void *unused) {
    (void)unused;
    gasan_switch_end(NULL); /* a goroutine's first run */
    gsched_after_switch();
    g *gp = getm()->curg;
    gp->fn(gp->arg);
#if defined(GOC_ASAN)
    /* ASan destroys a dying fiber's fake stack when the switch away from it
     * begins (race_switch_begin): no instrumented frame may return after
     * that, so here the goroutine leaves by a switch. */
    goexit1();
#else
    return goexit0(acquirem()); /* the count is consumed by the switch */
#endif
}

/* The current goroutine is done: make it dead, and return the context of
 * what this M runs next (the switch to it frees the g's stack once it has
 * left it: POST_EXIT). The caller holds the m.locks count the switch
 * consumes. */
static void *goexit0(m *mp) {
    g *gp = mp->curg;
    if (gp->lockedm) {
        mp->lockedg = NULL;
        gp->lockedm = NULL;
        gp->lockcount = 0;
    }
    G_STORE(gp->name[0], '\0');
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
    gp->is_main = false;
    if (GOC_UNLIKELY(gp->bubble != NULL)) {
        gbubble *bubble = gp->bubble;
        gp->bubble = NULL;
        synctest_goexit(bubble, gp); /* may ready the bubble's root */
        mp = getm();
    }
    if (GOC_LIKELY(!G_LOAD(gp->system)))
        ngoroutine_add(mp->p, -1);
    casgstatus(gp, G_RUNNING, G_DEAD);
    mp->post.act = POST_EXIT;
    mp->post.gp = gp;
    g *next = runq_quickget(mp);
    return gogo_prepare(mp, gp, next ? next : &mp->g0);
}

/* goc_exit, from any depth of a goroutine's calls: the same, by a switch
 * that never returns (the one unbalanced exit). */
static void goexit1(void) {
    m *mp = acquirem(); /* consumed by the switch below */
    g *gp = mp->curg;
    void *sp = goexit0(mp);
    garch_switch(&gp->sp, sp);
    gthrow("runtime: a dead goroutine was resumed");
}

/* newproc's result when it switched to the new goroutine (spawn
 * backpressure): the switch consumed its m.locks count. */
enum { NEWPROC_SWITCHED = 1 };

static int newproc1(m *mp, void (*fn)(void *), const void *args, size_t args_size,
                    size_t stack_size, unsigned flags, const void *gopc);

int gsched_newproc(void (*fn)(void *), const void *args, size_t args_size, size_t stack_size,
                   unsigned flags, const void *gopc) {
    int err = gsched_init();
    if (err)
        return err;
    if (!fn || stack_size > GOC_STACK_MAX)
        return -EINVAL;
    /* The P's caches, goid batch and run queue are ours until releasem. */
    m *mp = acquirem();
    int r = newproc1(mp, fn, args, args_size, stack_size, flags, gopc);
    if (r == NEWPROC_SWITCHED)
        return 0;
    releasem(mp);
    return r;
}

static int newproc1(m *mp, void (*fn)(void *), const void *args, size_t args_size,
                    size_t stack_size, unsigned flags, const void *gopc) {
    bool is_main = flags & NEWPROC_MAIN;
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
    } else if (gstack_ensure(pp ? &pp->stackcache : NULL) != 0) {
        /* Default stacks are taken at the first switch (a goroutine that
         * never ran costs none: skynet's tree stays small), but one must
         * be there to take: out of address space is -ENOMEM here. */
        gfput(pp, gp);
        return -ENOMEM;
    }
    gp->stack_size = stack_size;
    if (args_size == 0) {
        gp->arg = (void *)args;
    } else if (args_size <= G_ARG_INLINE && !RACE_ARGS_ON_HEAP) {
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
    gp->param = NULL;
    G_STORE(gp->name[0], '\0');
    gp->is_main = is_main;
    G_STORE(gp->system, (bool)(flags & NEWPROC_SYSTEM));
    G_STORE(gp->waitreason, (uint8_t)WAIT_ZERO);
    G_STORE(gp->goid, newgoid(pp));
    /* The creation site: a pc and an id, symbolized only by dumps. */
    G_STORE(gp->gopc, (uintptr_t)gopc);
    G_STORE(gp->parentgoid, mp && mp->curg ? mp->curg->goid : (uint64_t)0);
    race_g_create(gp);
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
                race_g_destroy(gp);
                gfput(pp, gp);
                return -EAGAIN;
            }
        } else {
            glock_unlock(&sched.lock);
        }
    }
    /* A goroutine started in a synctest bubble belongs to it (a plain
     * thread is in one only as a bubble's root firing its timers). */
    gbubble *bubble = mp ? (mp->curg ? mp->curg->bubble : NULL) : thread_g()->bubble;
    gp->bubble = bubble;
    if (GOC_UNLIKELY(bubble != NULL))
        synctest_gostart(bubble, gp);
    if (GOC_LIKELY(!(flags & NEWPROC_SYSTEM))) /* not goc_num_goroutine's, as in Go */
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
        if (runq_len(pp) >= RUNQ_SIZE - 2 && mp->curg && !mp->lockedg) {
            /* Spawn backpressure: the queue is full, so rather than spill it
             * to the global queue and pile up goroutines (and their memory)
             * without bound, run the new goroutine right now, with its
             * creator next in line (runnext). Depth first, like a call.
             * Go code cannot tell: a goroutine may be descheduled anywhere. */
            g *self = mp->curg;
            casgstatus(self, G_RUNNING, G_RUNNABLE);
            mp->post.act = POST_YIELD_NEXT;
            mp->post.gp = self;
            gogo(mp, self, gp); /* consumes gsched_newproc's count */
            gsched_after_switch();
            return NEWPROC_SWITCHED;
        }
    }
    runqready(mp, gp);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

/* Creation sites (Go's gopc and parentGoid): each public spawn passes its
 * own return address, which newproc stores in g with the creator's goid.
 * Spawn is a hot path, so that is all (two stores); diag names the pc only
 * when it dumps. Layers that spawn on a user's behalf and can see the
 * user's call site pass that instead (gsched_go_from: AfterFunc timers);
 * the others show their own function. */

/* Each public spawn records its own return address: the user's call site
 * (GOC_GO expands to goc_go_args at that site). noinline: inlined, the
 * builtin would name the caller's caller. */
__attribute__((noinline)) int goc_go(void (*fn)(void *), void *arg) {
    gsched_preempt_check();
    return gsched_newproc(fn, arg, 0, 0, 0, __builtin_return_address(0));
}

__attribute__((noinline)) int goc_go_args(void (*fn)(void *), const void *args, size_t size) {
    gsched_preempt_check();
    return gsched_newproc(fn, size ? args : NULL, size, 0, 0, __builtin_return_address(0));
}

__attribute__((noinline)) int goc_go_sized(void (*fn)(void *), const void *args, size_t args_size,
                                           size_t stack_size) {
    gsched_preempt_check();
    return gsched_newproc(fn, args, args_size, stack_size, 0, __builtin_return_address(0));
}

int gsched_go_from(void (*fn)(void *), const void *arg, size_t args_size, const void *gopc,
                   bool system) {
    return gsched_newproc(fn, arg, args_size, 0, system ? NEWPROC_SYSTEM : 0, gopc);
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
    thread_blocked(+1);
    int err = gsched_newproc(run_main_entry, &rm, 0, 0, NEWPROC_MAIN, NULL);
    if (err) {
        thread_blocked(-1);
        return err;
    }
    note_sleep(&rm.done);
    thread_blocked(-1);
    return rm.ret;
}

/* Does a goroutine run here, not asked to stop? If so *gpp is it. On
 * x86-64 outside the race build one TLS load and a byte test
 * (gsched_g_none, "no goroutine", reads as asked to stop); elsewhere the
 * M's current g and its request. */
static inline __attribute__((always_inline)) bool curg_unpreempted(g **gpp) {
#if defined(__x86_64__) && !defined(GOC_RACE)
    *gpp = (g *)gsched_tls_curg;
    return !gsched_preempt_requested();
#else
    m *mp = getm();
    g *gp = mp ? mp->curg : NULL;
    if (!gp)
        return false;
    *gpp = gp;
    return !atomic_load_explicit(&gp->preempt, memory_order_relaxed);
#endif
}

/* Is anything queued for pp (or globally) that a yield would let run?
 * Racy hints: a yield is never required for correctness. */
static inline __attribute__((always_inline)) bool work_waiting(p *pp) {
    return atomic_load_explicit(&pp->runqhead, memory_order_relaxed) !=
               atomic_load_explicit(&pp->runqtail, memory_order_relaxed) ||
           atomic_load_explicit(&pp->runnext, memory_order_relaxed) ||
           atomic_load_explicit(&sched.runqsize, memory_order_relaxed);
}

/* goc_yield on a lone processor (p.shared clear: no thread but this one
 * reads or writes its queue; see runq_lone): the yielding goroutine goes to
 * the tail before the switch rather than after it (nothing can run it
 * meanwhile: a thief would need the queue to be shared, and the preemption
 * signal leaves alone a goroutine holding m.locks), and the next comes from
 * the head with plain loads and stores. Returns the goroutine to switch to,
 * gp made runnable and the queue updated, or NULL for the general path
 * (nothing changed): a locked thread, the every-61st look at the global
 * queue, a goroutine in runnext, an empty local queue, a next goroutine
 * locked to a thread (to another one: this M is not locked, and a locked g
 * runs on its own M only) or never started, a stack in canary mode. A
 * one-processor fast path: at more processors queues are shared. It needs no
 * look at p_retiring: a lone P is never retiring (only P 0 is ever lone:
 * newp shares every other, and runq_relone unshares only the last P left,
 * which is P 0, the one a shrink never retires), and what work_waiting would
 * add it finds itself or leaves to the general path (the global queue,
 * runnext). It tests p.shared alone, not gomaxprocs as runq_lone does:
 * stealers go by shared only, so the plain operations stay safe after
 * goc_maxprocs grows, and the every-61st yield's general path notices the
 * growth (its queue operations make the runq_lone test): goroutines yielding
 * here stay out of the new processors' reach for at most 60 yields. */
static inline __attribute__((always_inline)) g *yield_lone(m *mp, p *pp, g *gp) {
    if (atomic_load_explicit(&pp->shared, memory_order_relaxed) || mp->lockedg)
        return NULL;
    GOC_ASSERT(pp->id == 0 && !p_retiring(pp));
    uint32_t tick = atomic_load_explicit(&pp->schedtick, memory_order_relaxed) + 1;
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (GOC_UNLIKELY(tick % 61 == 0) || head == tail ||
        atomic_load_explicit(&pp->runnext, memory_order_relaxed))
        return NULL;
    g *next = atomic_load_explicit(runq_slot(pp, head), memory_order_relaxed);
    if (GOC_UNLIKELY(next->lockedm || !next->started || stack_canary_mode_curg(gp)))
        return NULL;
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    /* Read next before the store: with a full ring, gp's slot is next's. */
    atomic_store_explicit(runq_slot(pp, tail), gp, memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, tail + 1, memory_order_relaxed);
    atomic_store_explicit(&pp->runqhead, head + 1, memory_order_relaxed);
    atomic_store_explicit(&pp->schedtick, tick, memory_order_relaxed);
    GOC_ASSERT(mp->post.act == POST_NONE && mp->post.gp == NULL);
    return next;
}

/* Would a yield on mp switch? Not when nothing else is queued for its P
 * (cheap yields in a lone loop), unless the P is to retire (its M must
 * reach the scheduler); never without a P. */
static inline bool yield_would_switch(m *mp) {
    return mp->p && (work_waiting(mp->p) || p_retiring(mp->p));
}

/* goc_yield's rarer ways, out of line so that its lone-processor path
 * needs no callee-saved register (every call on that path is a tail call
 * or the switch itself, across which nothing stays live). yield_general
 * runs with the m.locks count goc_yield took. */
static __attribute__((noinline)) void yield_general(m *mp, g *gp) {
    if (!yield_would_switch(mp)) {
        m_locks_drop_switch(mp);
        return;
    }
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    switch_out_held(mp, gp, POST_YIELD);
}

static __attribute__((noinline)) void yield_slow(void) {
    m *mp = getm();
    if (!mp || !mp->curg) {
        sched_yield();
        return;
    }
    /* Clears the request (without a P: takes one, or queues, first); the
     * yield itself is then goc_yield's usual one. */
    gsched_preempt_slow();
    goc_yield();
}

void goc_yield(void) {
    g *gp;
    if (GOC_UNLIKELY(!curg_unpreempted(&gp))) {
        yield_slow();
        return;
    }
    m *mp = gp->m; /* the running goroutine's M is this thread's */
    GOC_ASSERT(mp == getm());
    m_locks_take_switch(mp);
    /* The lone processor's switch first: its checks subsume "is anything
     * queued" (yield_lone); everything else is yield_general's. */
    p *pp = mp->p;
    g *next;
    if (GOC_UNLIKELY(!pp || !(next = yield_lone(mp, pp, gp)))) {
        yield_general(mp, gp);
        return;
    }
    garch_switch(&gp->sp, gogo_resume_g(mp, gp, next));
    race_switch_end(gp);
    /* Whoever switched to us may have left a post action (a park's unlockf,
     * say): only a lone yield's leaves none. */
    mp = getm();
    if (GOC_UNLIKELY(mp->post.act != POST_NONE)) {
        after_switch_general(mp);
        return;
    }
    after_switch_done(mp);
}

void gsched_gosched(void) {
    m *mp = acquirem();
    if (!mp || !mp->curg || !yield_would_switch(mp)) {
        releasem(mp);
        return;
    }
    g *gp = mp->curg;
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    switch_out_held(mp, gp, POST_YIELD_GLOBAL);
}

void goc_exit(void) {
    if (!gsched_on_goroutine())
        gthrow("goc_exit: called from a thread that is not a goroutine");
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
    if (n > MAXPROCS_LIMIT) {
        static _Atomic bool said;
        if (!atomic_exchange(&said, true)) {
            gprintbuf o = GPRINTBUF_INIT(2);
            gprintf(&o, "goc: goc_maxprocs(%d) is above the limit of %d processors; using %d\n", n,
                    MAXPROCS_LIMIT, MAXPROCS_LIMIT);
            gprint_flush(&o);
        }
        n = MAXPROCS_LIMIT;
    }
    glock_lock(&sched.lock);
    old = atomic_load(&gomaxprocs);
    if (n > old) {
        for (int32_t i = old; i < n; i++) {
            if (!allp[i]) {
                p *pp = newp(i, true);
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
    preempt_retiring(n);
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
    m *mp = acquirem();
    int id = mp && mp->curg && mp->p ? mp->p->id : -1;
    releasem(mp);
    return id;
}

#ifndef GSCHED_LONE_INLINE /* else inline (sched.h) */
gsched_pin *gsched_lone_begin(void) {
    m *mp = acquirem();
    if (mp && mp->p && !atomic_load_explicit(&mp->p->shared, memory_order_relaxed))
        return &mp->locks;
    releasem(mp);
    return NULL;
}
#endif

bool gsched_p_retired(int id) {
    return id >= 0 && id < atomic_load(&nallp) && atomic_load(&allp[id]->status) == P_RETIRED;
}

int gsched_procpin(void) {
    m *mp = acquirem();
    return mp && mp->curg && mp->p ? mp->p->id : -1;
}

void gsched_procunpin(void) { releasem(getm()); }

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
    m *mp = acquirem();
    bool r = mp && mp->p && runqempty(mp->p);
    releasem(mp);
    return r;
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

bool gsched_g_is_current(const g *gp) {
    m *mp = getm();
    return mp && mp->curg == gp;
}
