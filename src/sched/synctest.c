/* sched/synctest.c — synctest bubbles (Go 1.25's testing/synctest; Go's
 * runtime/synctest.go): goc_synctest_run, goc_synctest_wait, and the
 * accounting that tells when every goroutine of a bubble is durably
 * blocked.
 *
 * The model
 *   A bubble is a set of goroutines with a virtual clock of its own. The
 *   caller of goc_synctest_run (the root) starts fn as the bubble's main
 *   goroutine; every goroutine a member starts is a member. Time inside
 *   moves only when every member is durably blocked: blocked on something
 *   only another member can end (a channel of the bubble, a select whose
 *   channels all belong to it, a nil channel, a sleep or timer of the
 *   bubble, a WaitGroup, cond or mutex wait). It then jumps straight to
 *   the earliest timer of the bubble. A member blocked on I/O, on a
 *   channel from outside, or running, is not durably blocked, and time
 *   waits for it.
 *
 * Where things live
 *   - The bubble pointer lives in the g (g->bubble, sched.h). newproc
 *     copies the creator's; exit clears it. Channels record the creator's
 *     bubble's id when made (chan.c) and check it on every operation; timers
 *     live in a heap of their bubble (time.c). Contexts are made of
 *     channels and timers and so belong to the bubble that made them.
 *   - The clock (gbubble.now) and the timer heap's slot are in struct
 *     gbubble (sched.h), because layers above read them. The timers
 *     themselves are time's: sched calls them only through the
 *     gsynctest_timers hooks time registers (lower layers never call up).
 *
 * Counting "durably blocked" (Go's running/total/active)
 *   total counts members, running those not durably blocked, under the
 *   bubble's lock (mu). Four transitions change them, each hooked in
 *   proc.c behind a test of g->bubble (the fast path outside bubbles is
 *   that one predictable branch on a field of a g already in cache):
 *     newproc          total++, running++ (before the g can run)
 *     goexit           total--, running--
 *     park             running-- if the wait reason is durable, once the
 *                      park is committed: in gsched_after_switch, after
 *                      gopark's unlockf returned true (its wait queue
 *                      entry, or its sleep's timer, is visible). Before
 *                      that the g still counts as running, so the bubble
 *                      can never look idle while a wait is half made.
 *     goready          running++ if the reason it parked with is durable,
 *                      before it is queued (so it cannot run, park again
 *                      and decrement first).
 *   Durability is a table over wait reasons (durable[] below). Channel
 *   waits are durable only on channels of the bubble, so chan.c picks the
 *   WAIT_SYNCTEST_* reasons (Go's "chan receive (durable)") for those.
 *   The park decrement reads the g's bubble and reason before unlockf
 *   runs: once it has run, a waker may resume the g anywhere.
 *
 * Who moves the clock: the root, as in Go. It parks (WAIT_SYNCTEST_RUN,
 *   not a member) until the bubble is idle, running == 0 and active == 0.
 *   Whoever makes it idle (the last member to park durably or exit) picks
 *   one goroutine to wake under mu (maybe_wake): the root if a timer is
 *   due now or nobody waits in goc_synctest_wait, else the waiter. It
 *   raises active first, so a second idle transition cannot wake a second
 *   goroutine before the first has looked (at two processors several
 *   members park at once; exactly one wakeup results). The woken root,
 *   under mu, reads the earliest timer: none and no member left, the run
 *   is over; none but members left, or main gone with members left, the
 *   bubble is deadlocked (Go's two messages, then a list of the members);
 *   else it sets now to that deadline, fires every due timer with its own
 *   g->bubble set to the bubble (sends on bubble channels are legal;
 *   AfterFunc goroutines join the bubble; woken sleepers count as running
 *   again), and parks again. Its unlockf (idle_commit) refuses to park
 *   if the firing woke nobody (still idle, only the root active): the
 *   loop then moves to the next timer at once. The root does all this on
 *   a goroutine (or the calling plain thread), never on g0, so timer
 *   callbacks that start goroutines or send behave as they would on a
 *   member.
 *
 * goc_synctest_wait: the caller marks the bubble as waited on (one at a
 *   time: Go panics "wait already in progress"), parks durably
 *   (WAIT_SYNCTEST_WAIT) and its unlockf records it as the waiter; the
 *   idle transition wakes it rather than the root, so the waiter returns
 *   before the clock moves.
 *
 * Lock order: synctest.lock (base/lockrank.h) ranks above hchan, sema,
 *   cond and timer locks, since goready runs under them, and below
 *   sched.lock; nothing is taken under it. The goroutine maybe_wake
 *   picks is readied after mu is released.
 *
 * Lifetime: the bubble is the root's (heap memory, freed when the run
 *   returns, once every member has exited). The only thing a member does
 *   after its last count change is release mu, and the root cannot free
 *   the bubble before it is woken, which happens after that release.
 *   Channels and timers that outlive the bubble record its id (b->id,
 *   never reused), not its address, to refuse use from outside: a later
 *   bubble may be allocated at the same address. Its timer heap is kept
 *   alive by the timers themselves (time.c).
 *
 * Not like Go
 *   - Mutex and RWMutex waits are durable (goc's contract: a goroutine
 *     blocked on a lock held by a sleeping member must let time move).
 *     Go counts them as not durable because the holder may be outside the
 *     bubble; here a lock held outside the bubble may make time jump or
 *     report a deadlock too early. WaitGroup waits are durable whoever
 *     called Add (Go: only if Add was called in the bubble).
 *   - The deadlock report lists the bubble's goroutines (id, wait reason)
 *     without their stacks; goc_dump shows the stacks.
 *   - Same-instant timers fire in heap order, not randomized.
 *
 * Rejected: advancing the clock from g0 or sysmon (timer callbacks start
 * goroutines and send on bubble channels, which must look like the bubble
 * doing it); a global "all idle" check (bubbles are independent and the
 * rest of the program keeps real time); atomics instead of mu (the idle
 * decision reads three counters and the waiter together).
 */
#define _GNU_SOURCE
#include <goc/testing.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/throw.h"
#include "sched/runtime2.h"
#include "sched/sched.h"

#include "base/race.h"

_Atomic int32_t gsched_nbubbles;
static _Atomic uint64_t bubblegen;
static const gsynctest_timers *_Atomic timer_hooks;

/* Wait reasons that count as durably blocked inside a bubble (Go's
 * isIdleInSynctest, plus the sync locks: see "Not like Go"). */
static const bool durable[WAIT_NREASONS] = {
    [WAIT_CHAN_RECEIVE_NIL] = true,
    [WAIT_CHAN_SEND_NIL] = true,
    [WAIT_SELECT_NO_CASES] = true,
    [WAIT_SLEEP] = true,
    [WAIT_WAITGROUP] = true,
    [WAIT_MUTEX] = true,
    [WAIT_RWMUTEX_R] = true,
    [WAIT_RWMUTEX_W] = true,
    [WAIT_COND] = true,
    [WAIT_SYNCTEST_RUN] = true,
    [WAIT_SYNCTEST_WAIT] = true,
    [WAIT_SYNCTEST_CHAN_RECEIVE] = true,
    [WAIT_SYNCTEST_CHAN_SEND] = true,
    [WAIT_SYNCTEST_SELECT] = true,
};

static bool is_durable(unsigned reason) { return reason < WAIT_NREASONS && durable[reason]; }

void gsched_synctest_register_timers(const gsynctest_timers *t) {
    atomic_store_explicit(&timer_hooks, t, memory_order_release);
}

static int64_t timers_next(gbubble *b) {
    const gsynctest_timers *t = atomic_load_explicit(&timer_hooks, memory_order_acquire);
    return t ? t->next(b) : INT64_MAX;
}

/* ---- accounting (mu held) ---- */

static void check_counts(gbubble *b) {
    if (b->total < 0 || b->running < 0 || b->active < 0)
        gthrow("runtime: synctest bubble counts went negative (total %d, running %d, active %d)",
               b->total, b->running, b->active);
}

/* The bubble is idle: pick the one goroutine to wake (Go's
 * maybeWakeLocked), or NULL while anything is still active. */
static g *maybe_wake(gbubble *b) {
    check_counts(b);
    if (b->running > 0 || b->active > 0)
        return NULL;
    b->active++; /* the woken goroutine gives it back */
    int64_t next = timers_next(b);
    if (next <= atomic_load_explicit(&b->now, memory_order_relaxed))
        return b->root; /* a timer is due: the root fires it */
    if (b->waiter)
        return b->waiter;
    return b->root;
}

void synctest_gostart(gbubble *b, g *gp) {
    glock_lock(&b->mu);
    if (!b->main)
        b->main = gp;
    b->total++;
    b->running++;
    glock_unlock(&b->mu);
}

void synctest_goexit(gbubble *b, g *gp) {
    grace_release(b); /* what the member did happens before the run returns */
    glock_lock(&b->mu);
    b->total--;
    b->running--;
    if (gp == b->main)
        b->done = true;
    g *wake = maybe_wake(b);
    glock_unlock(&b->mu);
    if (wake)
        goready(wake);
}

void synctest_parked(gbubble *b, unsigned reason) {
    if (!is_durable(reason))
        return;
    glock_lock(&b->mu);
    b->running--;
    g *wake = maybe_wake(b);
    glock_unlock(&b->mu);
    if (wake)
        goready(wake);
}

void synctest_ready(g *gp) {
    if (!is_durable(G_LOAD(gp->waitreason)))
        return;
    gbubble *b = gp->bubble;
    glock_lock(&b->mu);
    b->running++;
    glock_unlock(&b->mu);
}

/* ---- goc_synctest_run ---- */

struct bubble_main {
    int (*fn)(void *);
    void *arg;
    int ret;
};

static void bubble_main_entry(void *a) {
    struct bubble_main *bm = a;
    bm->ret = bm->fn(bm->arg);
}

/* The root's unlockf: park, giving up its activity, unless the bubble
 * went idle while the root was the only thing active (the members it woke
 * have blocked again, or it woke none). Then the root's activity passes to
 * a goroutine in goc_synctest_wait, if there is one and no timer is due
 * (Wait returns before the clock moves), or the root does not park and
 * moves the clock itself. */
static bool idle_commit(g *gp, void *arg) {
    (void)gp;
    gbubble *b = arg;
    g *wake = NULL;
    glock_lock(&b->mu);
    bool park = true;
    if (b->running == 0 && b->active == 1) {
        if (b->waiter && timers_next(b) > atomic_load_explicit(&b->now, memory_order_relaxed))
            wake = b->waiter; /* active stays 1: now the waiter's */
        else
            park = false;
    } else {
        b->active--;
    }
    glock_unlock(&b->mu);
    if (wake)
        goready(wake);
    return park;
}

/* The goroutines of bubble b (the panic's dump). Under allglock. */
static bool in_bubble(const void *gp, void *b) { return ((const g *)gp)->bubble == b; }

static _Noreturn void bubble_deadlock(gbubble *b, bool done) {
    goc_panic_dump(in_bubble, b, "%s",
                   done ? "deadlock: main bubble goroutine has exited but blocked goroutines remain"
                        : "deadlock: all goroutines in bubble are blocked");
}

int goc_synctest_run(int (*fn)(void *arg), void *arg) {
    g *gp = getg();
    if (gp->bubble)
        goc_panic("synctest.Run called from within a synctest bubble");
    if (!fn)
        return -EINVAL;
    int err = gsched_init();
    if (err)
        return err;
    gbubble *b = grace_rt_calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    glock_init(&b->mu, LR_SYNCTEST);
    b->id = atomic_fetch_add(&bubblegen, 1) + 1;
    b->root = gp;
    b->active = 1; /* the root, until it parks */
    atomic_init(&b->now, GSYNCTEST_EPOCH);
    atomic_fetch_add(&gsched_nbubbles, 1);

    struct bubble_main bm = {fn, arg, 0};
    gp->bubble = b; /* newproc: the new goroutine is the bubble's main */
    err = gsched_newproc(bubble_main_entry, &bm, 0, 0, 0,
                         NULL); /* no creation site, as goc_run's main */
    gp->bubble = NULL;
    if (err) {
        atomic_fetch_sub(&gsched_nbubbles, 1);
        grace_rt_free(b);
        return err;
    }

    const gsynctest_timers *th;
    glock_lock(&b->mu);
    for (;;) {
        glock_unlock(&b->mu);
        th = atomic_load_explicit(&timer_hooks, memory_order_acquire);
        if (th) {
            gp->bubble = b; /* what the timers do, they do in the bubble */
            th->run(b, atomic_load_explicit(&b->now, memory_order_relaxed));
            gp->bubble = NULL;
        }
        gopark(idle_commit, b, WAIT_SYNCTEST_RUN);
        glock_lock(&b->mu);
        /* Woken (or not parked) because the bubble is idle: active == 1
         * is ours. */
        int64_t next = timers_next(b);
        if (next == INT64_MAX || b->done)
            break; /* time stops once main has exited */
        int64_t now = atomic_load_explicit(&b->now, memory_order_relaxed);
        if (next < now)
            next = now; /* a timer set in the past: fire it now */
        atomic_store_explicit(&b->now, next, memory_order_relaxed);
    }
    int32_t total = b->total;
    bool done = b->done;
    glock_unlock(&b->mu);
    if (total != 0)
        bubble_deadlock(b, done);
    th = atomic_load_explicit(&timer_hooks, memory_order_acquire);
    if (th)
        th->done(b);
    atomic_fetch_sub(&gsched_nbubbles, 1);
    grace_acquire(b); /* members' exits happen before the return */
    grace_rt_free(b);
    return bm.ret;
}

/* ---- goc_synctest_wait ---- */

static bool wait_commit(g *gp, void *arg) {
    gbubble *b = arg;
    glock_lock(&b->mu);
    b->waiter = gp;
    glock_unlock(&b->mu);
    return true;
}

void goc_synctest_wait(void) {
    gbubble *b = gsched_bubble();
    if (!b || !gsched_on_goroutine())
        goc_panic("goroutine is not in a bubble");
    glock_lock(&b->mu);
    if (b->waiting) {
        glock_unlock(&b->mu);
        goc_panic("wait already in progress");
    }
    b->waiting = true;
    glock_unlock(&b->mu);
    gopark(wait_commit, b, WAIT_SYNCTEST_WAIT);
    glock_lock(&b->mu);
    b->active--; /* given by maybe_wake */
    b->waiter = NULL;
    b->waiting = false;
    check_counts(b);
    glock_unlock(&b->mu);
    grace_acquire(b);
}
