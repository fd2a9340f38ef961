/* base/sigfaults.h — the synchronous fault signals (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGTRAP). goc starts its threads with every signal
 * blocked; each then unblocks these, so that a fault on it reaches
 * diagnostics (a report, a stack overflow) instead of killing the process
 * without one. One list for the scheduler's Ms (sched/proc.c) and the
 * signal deliverer thread (signal/notify.c). */
#ifndef GOC_BASE_SIGFAULTS_H
#define GOC_BASE_SIGFAULTS_H

#include <signal.h>

static inline void gsigset_faults(sigset_t *s) {
    sigemptyset(s);
    sigaddset(s, SIGSEGV);
    sigaddset(s, SIGBUS);
    sigaddset(s, SIGFPE);
    sigaddset(s, SIGILL);
    sigaddset(s, SIGTRAP);
}

#endif
