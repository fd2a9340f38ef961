/* sched/syscall.c — the blocking-call handoff (Go's entersyscall /
 * exitsyscall and sysmon's retake), behind goc_blocking.
 *
 * A goroutine about to run code that may block its OS thread (a C library,
 * a system call: fn) keeps its P only loosely:
 *   entersyscall  the g goes G_RUNNING -> G_SYSCALL, the P P_RUNNING ->
 *                 P_SYSCALL; the M forgets its current g, so fn runs as
 *                 code on a plain thread would (a goc call inside fn blocks
 *                 the thread, as it would there).
 *   retake        sysmon takes a P that has been in P_SYSCALL for more than
 *                 20 us when work is queued (or for 10 ms regardless), by
 *                 CAS P_SYSCALL -> P_IDLE, and hands it off (handoffp): the
 *                 other goroutines run on another M meanwhile.
 *   exitsyscall   fast path: CAS P_SYSCALL -> P_RUNNING, and the g goes on
 *                 as if nothing happened (one CAS each way when fn was
 *                 quick). The CAS may succeed on a P that sysmon retook
 *                 and that another M took into a blocking call of its own
 *                 (ABA): it is then taken from that M as a retake would,
 *                 so the fast path sets p->m. Slow path, when the P was taken: an idle P if there
 *                 is one; else the g is queued on the global run queue
 *                 (after its context is saved: POST_GLOBAL) and the M stops.
 * Threads are created as handoffs need them (startm) and parked when idle;
 * at 10,000 the runtime dies with Go's "thread exhaustion".
 *
 * Invariants
 *   - A P in P_SYSCALL is owned by whoever moves it out of P_SYSCALL by
 *     CAS: the M in the call (fast path) or the retaker. Nothing touches
 *     its owner-only fields before that. The P an M's syscallp names may
 *     be in P_SYSCALL for another M's call (retaken, handed off, and that
 *     M entered goc_blocking too): the fast-path CAS then takes it from
 *     that M, which finds the CAS fail on its own return (as in Go, where
 *     a P in _Psyscall belongs to the first to CAS it).
 *   - An M in a blocking call has curg == NULL, p == NULL (fn runs as on a
 *     plain thread: a goroutine it readies goes to the global queue, never
 *     to a P that may be another M's by then) and the g is G_SYSCALL.
 *
 * Lock order: entersyscall/exitsyscall take sched.lock only on the slow
 * path; retake takes nothing but what handoffp takes.
 *
 * Rejected: always handing the P off on entry (a futex wake and a thread
 * switch per call, even for calls that return in microseconds); a thread
 * pool that runs fn for the goroutine (fn's thread-local state, errno and
 * locks taken in C libraries would be on the wrong thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>

#include <goc/io.h>

#include "base/assert.h"
#include "sched/race.h"
#include "sched/runtime2.h"

enum {
    RETAKE_BUSY_NS = 20 * 1000,        /* a P whose work waits: taken after 20 us */
    RETAKE_IDLE_NS = 10 * 1000 * 1000, /* any P: after 10 ms (Go's forcegc-free rule) */
};

static void entersyscall(m *mp, g *gp) {
    p *pp = mp->p;
    GOC_ASSERT(pp && pp->m == mp && !mp->syscallp);
    casgstatus(gp, G_RUNNING, G_SYSCALL);
    m_set_curg(mp, NULL);
    mp->syscallp = pp;
    mp->p = NULL;
    int64_t now = gnanotime();
    atomic_store_explicit(&pp->syscallwhen, now, memory_order_relaxed);
    atomic_store(&pp->status, P_SYSCALL);
    /* Work is waiting for this P: have sysmon look soon rather than after
     * its back-off (up to 10 ms). */
    if (!runqempty(pp) || atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0)
        gsched_sysmon_poke(now + RETAKE_BUSY_NS);
}

static void exitsyscall(m *mp, g *gp) {
    p *pp = mp->syscallp;
    mp->syscallp = NULL;
    uint32_t s = P_SYSCALL;
    if (atomic_compare_exchange_strong(&pp->status, &s, P_RUNNING)) {
        /* Ours again; wire it (pp->m may name another M that had it in
         * between: see the invariants). */
        mp->p = pp;
        pp->m = mp;
        m_set_curg(mp, gp);
        casgstatus(gp, G_SYSCALL, G_RUNNING);
        return;
    }
    /* sysmon took the P (and gave it to another M): find another. */
    m_set_curg(mp, gp);
    glock_lock(&sched.lock);
    p *np = pidleget_locked();
    glock_unlock(&sched.lock);
    if (np) {
        acquirep(mp, np);
        casgstatus(gp, G_SYSCALL, G_RUNNING);
        return;
    }
    /* None: queue the goroutine once its context is saved, and let this M
     * stop (schedule finds no P). It resumes here on whichever M runs it. */
    acquirem(); /* consumed by the switch */
    mp->post.act = POST_GLOBAL;
    mp->post.gp = gp;
    gogo(mp, gp, &mp->g0);
    gsched_after_switch();
}

int goc_blocking(int (*fn)(void *), void *arg) {
    if (!fn)
        return -EINVAL;
    gsched_preempt_check(); /* a goroutine without a P takes one first */
    m *mp = acquirem();     /* until entersyscall has let go of the P */
    g *gp = mp ? mp->curg : NULL;
    if (!gp || !mp->p) {
        releasem(mp);
        return fn(arg); /* a plain thread: blocking it is what it asked for */
    }
    entersyscall(mp, gp);
    releasem(mp);
    race_blocking_enter(mp, gp);
    int r = fn(arg);
    race_blocking_exit(gp);
    exitsyscall(getm(), gp);
    return r;
}

int64_t sysmon_retake(int64_t now) {
    int64_t due = INT64_MAX;
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++) {
        p *pp = allp[i];
        if (atomic_load_explicit(&pp->status, memory_order_relaxed) != P_SYSCALL)
            continue;
        int64_t since = atomic_load_explicit(&pp->syscallwhen, memory_order_relaxed);
        int64_t t = now - since;
        bool work = !runqempty(pp) || atomic_load(&sched.runqsize) > 0 ||
                    atomic_load(&sched.npidle) + atomic_load(&sched.nmspinning) == 0;
        int64_t limit = work ? RETAKE_BUSY_NS : RETAKE_IDLE_NS;
        if (t < limit) {
            if (since + limit < due)
                due = since + limit;
            continue;
        }
        uint32_t s = P_SYSCALL;
        if (!atomic_compare_exchange_strong(&pp->status, &s, P_IDLE))
            continue; /* the call returned meanwhile */
        pp->m = NULL; /* the M in the call sees the CAS fail and lets go of it */
        handoffp(pp);
    }
    return due;
}
