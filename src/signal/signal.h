/* signal/signal.h — the runtime's one owner of signal dispositions
 * (signal.c), and signal notification to channels (notify.c). */
#ifndef GOC_SIGNAL_H
#define GOC_SIGNAL_H

#include <signal.h>
#include <stdbool.h>

typedef void (*gsig_handler)(int sig, siginfo_t *si, void *uc);

enum gsig_flags {
    /* A synchronous fault (SIGSEGV, SIGBUS, ...): the handler may be
     * re-entered by a fault inside it (SA_NODEFER) and runs on the thread's
     * alternate signal stack, so that a stack overflow can be reported. */
    GSIG_SYNC = 1 << 0,
    /* Leave the signal alone if the program installed a handler function
     * of its own before the runtime started (a program that catches SIGSEGV
     * or SIGQUIT itself keeps it). An inherited SIG_IGN is replaced all the
     * same, as Go does for SIGQUIT. */
    GSIG_KEEP_PROGRAMS = 1 << 1,
    /* With GSIG_KEEP_PROGRAMS: an inherited SIG_IGN is kept too (SIGPIPE:
     * a program that ignores it keeps ignoring it, and so do its children
     * after exec, which a handler would not give them). */
    GSIG_KEEP_IGNORED = 1 << 2,
    /* Run the handler on the interrupted stack, not the alternate one (the
     * preemption signal: its frame must stay with the goroutine it may
     * switch out). */
    GSIG_NO_ALTSTACK = 1 << 3,
    /* SA_RESTART: a system call the signal interrupts is restarted where
     * the kernel can (a signal the program did not ask for must not turn
     * its read into EINTR). */
    GSIG_RESTART = 1 << 4,
    /* A channel that wants the signal (goc_signal_notify) gets it first,
     * and the handler runs as well, instead of being replaced. */
    GSIG_ALSO_NOTIFY = 1 << 5,
};

/* Route `sig` to fn. Callable any time, from a load-time constructor on:
 * the disposition is installed when the runtime starts (or at once if it
 * has started). One handler per signal; a second registration of the same
 * signal replaces the first. Returns 0, or -EINVAL for a signal that
 * cannot be caught (SIGKILL, SIGSTOP) or is out of range. */
int gsig_register(int sig, gsig_handler fn, unsigned flags);

/* Is the runtime's handler for sig in place (false when the program's own
 * was kept, or the runtime has not started)? */
bool gsig_installed(int sig);

/* ---- notification (notify.c is the one user) ----
 *
 * A signal some channel wants goes to the notify handler instead of its
 * registered handler (SIGQUIT: delivered, not dumped). When no channel
 * wants it any more it goes back to its registered handler, or, if it has
 * none (or the program's own was kept), to the disposition it had before
 * goc took it. */

/* Can goc_signal_notify take sig? False for 0, out of range, SIGKILL,
 * SIGSTOP, the signals the C library keeps for itself (32 and 33 with
 * glibc), and the synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP), which diagnostics own. */
bool gsig_notifiable(int sig);
/* Set the notify handler (once; async-signal-safe, as every handler). */
void gsig_set_notify(gsig_handler fn);
/* Route a notifiable sig to the notify handler (on), or give it back (off).
 * Installs the disposition at once: the caller has started the runtime.
 * Takes reg_lock (a leaf). */
void gsig_notify_enable(int sig, bool on);

#endif
