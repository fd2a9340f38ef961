/* base/lockrank.h — the rank of every runtime lock (Go's lockrank.go).
 *
 * A thread may acquire a lock only while every lock it already holds has a
 * lower rank (or the same rank, for the two ranks marked "nests", whose
 * locks are taken in a fixed order among themselves). In Go's notation, the
 * whole order of the runtime's locks is one chain:
 *
 *   errgroup.mu < wsema.mu < context.mu < timer.mu < timerheap.lock
 *     < map.list_lock < pool.lock < pool.overflow_lock < cond.lock
 *     < semroot.lock < polldesc.lock < uring.lock < hchan.lock
 *     < synctest.lock < sched.lock < allglock < stackpool.lock
 *     < netpoll.tablelock < signal.tablock
 *
 *   context.mu nests: cancel holds a parent's lock while it takes each
 *     child's (the tree is walked top down, so there is no cycle).
 *   hchan.lock nests: select locks all its channels in address order.
 *
 * synctest.lock (a bubble's, sched/synctest.c) is taken by goready, which
 *   runs under channel, sema and timer locks; nothing is taken under it
 *   (the goroutine it decides to wake is readied after it is released).
 *
 * signal.tablock (signal/notify.c) is taken with no other runtime lock
 *   held (goc_signal_notify / goc_signal_stop, the signal deliverer), and
 *   only the signal owner's reg_lock (a leaf) is taken under it; channel
 *   sends happen after it is released.
 *
 * The chain crosses subsystems: cancelling a context stops its timer
 * (timer.mu, then the heap), closes its done channel (hchan.lock), which
 * readies goroutines (sched.lock when a run queue overflows).
 *
 * Debug builds check every acquisition against this table (base/lock.c):
 * acquiring out of order is a fatal error naming both locks. A lock whose
 * rank was never set (a zeroed goc_cond) is checked as LR_LEAF.
 *
 * To add a lock: give it a rank here, in the chain and in glockrank_names,
 * and set it where the lock is made (GLOCK_INIT(rank) or glock_init).
 */
#ifndef GOC_BASE_LOCKRANK_H
#define GOC_BASE_LOCKRANK_H

enum glockrank {
    LR_NONE = 0, /* never initialised: treated as LR_LEAF */
    LR_ERRGROUP,
    LR_WSEMA,
    LR_CTX,
    LR_TIMER,
    LR_TIMERHEAP,
    LR_MAP,
    LR_POOL,
    LR_POOL_OVERFLOW,
    LR_COND,
    LR_SEMROOT,
    LR_POLLDESC,
    LR_URING,
    LR_HCHAN,
    LR_SYNCTEST,
    LR_SCHED,
    LR_ALLG,
    LR_STACKPOOL,
    LR_NETPOLLTAB,
    LR_SIGTAB,
    LR_LEAF, /* nothing may be acquired while holding it */
    LR_NRANKS
};

/* The lock's name, as fatal errors print it. */
const char *glockrank_name(int rank);
/* May a lock of rank r be acquired while one of the same rank is held? */
int glockrank_nests(int rank);

#endif
