/* base/lockrank.c — names and nesting of the ranks in lockrank.h. */
#include "base/lockrank.h"

static const char *const glockrank_names[LR_NRANKS] = {
    [LR_NONE] = "unranked",
    [LR_ERRGROUP] = "errgroup.mu",
    [LR_WSEMA] = "wsema.mu",
    [LR_CTX] = "context.mu",
    [LR_TIMER] = "timer.mu",
    [LR_TIMERHEAP] = "timerheap.lock",
    [LR_MAP] = "map.list_lock",
    [LR_POOL] = "pool.lock",
    [LR_POOL_OVERFLOW] = "pool.overflow_lock",
    [LR_COND] = "cond.lock",
    [LR_SEMROOT] = "semroot.lock",
    [LR_POLLDESC] = "polldesc.lock",
    [LR_URING] = "uring.lock",
    [LR_HCHAN] = "hchan.lock",
    [LR_SYNCTEST] = "synctest.lock",
    [LR_SCHED] = "sched.lock",
    [LR_ALLG] = "allglock",
    [LR_STACKPOOL] = "stackpool.lock",
    [LR_NETPOLLTAB] = "netpoll.tablelock",
    [LR_SIGTAB] = "signal.tablock",
    [LR_LEAF] = "leaf",
};

const char *glockrank_name(int rank) {
    return rank >= 0 && rank < LR_NRANKS && glockrank_names[rank] ? glockrank_names[rank] : "?";
}

int glockrank_nests(int rank) { return rank == LR_CTX || rank == LR_HCHAN; }
