/* sync/sema.h — Go's runtime semaphore (sema.go): goroutines wait on the
 * address of a uint32 counter. The base of every sync type. */
#ifndef GOC_SYNC_SEMA_H
#define GOC_SYNC_SEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/sched.h"

/* Wait until *addr > 0, then decrement it. lifo: queue at the front (a
 * waiter that already waited once, as Go's mutex does). */
void gsema_acquire(uint32_t *addr, bool lifo, enum waitreason reason);
/* Increment *addr and wake one waiter. handoff: give the count directly to
 * the woken waiter and yield to it (mutex starvation mode). */
void gsema_release(uint32_t *addr, bool handoff);

#endif
