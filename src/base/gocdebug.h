/* base/gocdebug.h — the GOCDEBUG environment variable (Go's GODEBUG): a
 * comma-separated list of name=value settings, read when a subsystem
 * starts. A name given twice takes its last value, as in Go.
 *
 *   GOCDEBUG=iouring=0    regular-file I/O through the blocking-call
 *                         handoff, never io_uring (src/netpoll/uring.c)
 *   GOCDEBUG=asyncpreemptoff=1
 *                         no asynchronous preemption: a long runner yields
 *                         at its next goc call or loses its P, but is never
 *                         switched out by the signal (src/sched/preempt.c)
 */
#ifndef GOC_BASE_GOCDEBUG_H
#define GOC_BASE_GOCDEBUG_H

/* The value of setting `name` in GOCDEBUG as a decimal integer; dflt when
 * GOCDEBUG is unset, does not name it, or its value is not an integer. */
int gocdebug_int(const char *name, int dflt);

#endif
