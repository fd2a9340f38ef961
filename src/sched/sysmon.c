/* sched/sysmon.c — the monitor thread (Go's sysmon).
 *
 * One thread without a P that watches the scheduler from outside:
 *   - runs the drivers' due work (timers) when every P is busy or idle;
 *   - wakes an M when work sits queued on a running P while other Ps are
 *     idle and nobody spins (goroutines readied into runnext, and one
 *     displaced from it, behind one that keeps running: proc.c wakes no M
 *     for those);
 *   - returns unused stack memory (the scavenger) once a second;
 *   - sleeps until the earliest driver deadline when everything is idle,
 *     backing off from 20 us to 10 ms between rounds when nothing happens.
 *   - retakes the P of an M stuck in goc_blocking (syscall.c);
 *   - asks goroutines that ran 10 ms without a switch to stop (preempt.c);
 *   - keeps sched.nanotime_tick, the coarse time gopark records as
 *     g.waitsince (a clock read per park saved).
 *
 * Invariants: sysmon holds no P and runs no goroutine; it takes no lock but
 * sched.lock (through wakep) and the drivers' own.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "base/lock.h"
#include "sched/runtime2.h"
#include "stack/stack.h"

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

void gsched_sysmon_poke(int64_t when) {
    if (when >= atomic_load(&sysmon_deadline))
        return;
    uint32_t one = 1;
    if (atomic_compare_exchange_strong(&sysmon_sleeping, &one, 0))
        note_wakeup(&sched.sysmonnote);
}

void sysmon_wake(void) {
    if (atomic_load_explicit(&sysmon_idle, memory_order_relaxed)) {
        /* sysmon's tick is as old as its idle sleep (up to a second):
         * goroutines about to park on this P need a fresh one now. */
        atomic_store_explicit(&sched.nanotime_tick, gnanotime_coarse(), memory_order_relaxed);
        gsched_sysmon_poke(INT64_MIN + 1);
    }
}

static void sysmon_sleep_until(int64_t deadline, bool idle) {
    atomic_store(&sysmon_deadline, deadline);
    atomic_store(&sysmon_idle, idle);
    atomic_store(&sysmon_sleeping, 1);
    bool cancel = drivers_next() < deadline ||
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

void *sysmon(void *unused) {
    (void)unused;
    int64_t delay = 20000; /* ns */
    int64_t last_scavenge = gnanotime();
    int quiet = 0;
    for (;;) {
        int64_t now = gnanotime();
        /* gopark's waitsince (sched.nanotime_tick). */
        atomic_store_explicit(&sched.nanotime_tick, gnanotime_coarse(), memory_order_relaxed);
        /* Timers due while every P is busy or idle. */
        int64_t next = drivers_run(now, true);
        stackwait_retry(); /* goroutines whose first stack could not be had */
        sysmon_netpoll(now);
        /* Ps of Ms stuck in goc_blocking; the next time one is due. */
        int64_t retake_at = sysmon_retake(now);
        /* Goroutines that ran 10 ms without a switch while others wait. */
        int64_t preempt_at = sysmon_preempt(now);
        if (preempt_at < retake_at)
            retake_at = preempt_at;
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
        /* Work queued on a P while Ps sit idle and nobody spins: readied
         * goroutines (in runnext, and one displaced from it) wait behind a
         * goroutine that kept running. */
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
        if (retake_at < next)
            next = retake_at;
        sysmon_sleep_until(next < now + delay ? next : now + delay, false);
    }
    return NULL;
}
