/* netpoll/uring.h — the io_uring ring's side of the poll driver, used only
 * by netpoll.c (the I/O calls use netpoll.h's guring_rw). Design: uring.c. */
#ifndef GOC_NETPOLL_URING_H
#define GOC_NETPOLL_URING_H

#include <stdint.h>

#include "sched/sched.h"

/* The backend key of the ring's completion eventfd (never an fd's key:
 * those have the fd number, below 2^22, in their high half). */
#define GURING_KEY (UINT64_MAX - 1)

/* Reap every completion: goroutines whose operation is over are pushed on
 * list (through g->schedlink, still G_WAITING); plain threads are readied
 * at once. Returns the new list head. Called by the poll driver when the
 * eventfd fires. */
g *guring_reap(g *list);
/* Operations submitted and not yet reaped (the driver's waiting()). */
int32_t guring_inflight(void);

#endif
