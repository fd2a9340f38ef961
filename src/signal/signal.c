/* signal/signal.c — the only code in goc that calls sigaction (Go's
 * signal_unix.go, the part that owns dispositions).
 *
 * Every subsystem that needs a signal registers a handler here: diagnostics
 * (SIGSEGV/SIGBUS stack overflows and faults, SIGQUIT dumps) and this file
 * itself (SIGPIPE, ignored) and the scheduler's preemption signal (SIGURG,
 * registered here for it: the scheduler is below this layer). One
 * dispatcher is installed for each registered signal and calls the
 * registered handler: so a new user of a signal never touches another's
 * code, and no two subsystems fight over one disposition. Signal
 * notification (notify.c) sits on top: a signal a channel wants goes to its
 * handler instead, whatever was registered.
 *
 * Data structures
 *   handlers[sig]: the registered handler and flags of each signal.
 *   Written by gsig_register (load-time constructors, or later under
 *   reg_lock); read by the dispatcher with an acquire load of fn, so a
 *   signal sees either no handler or a complete one.
 *   base_on[sig]: the registered handler is in effect (false before the
 *   runtime starts, and when GSIG_KEEP_PROGRAMS kept the program's own).
 *   wanted[sig]: a channel wants sig (gsig_notify_enable); notify_fn takes it.
 *   saved[sig]: the disposition sig had before the dispatcher replaced it,
 *   put back when neither a handler nor a channel wants sig any more.
 *   base_on, wanted, installed and saved change only under reg_lock; the
 *   dispatcher reads the first two with atomic loads.
 *
 * The signal subsystem plugs into the scheduler as a driver
 * (gsched_register_driver): start() installs the dispositions when the
 * runtime starts, and minit() gives each new M a 64 KiB alternate signal
 * stack, on which a stack overflow can still be reported.
 *
 * SIGPIPE: ignored (a handler that does nothing) from the time the runtime
 * starts, unless the program set its own handler or SIG_IGN: a write to a
 * closed socket or pipe returns EPIPE and never kills a goc program (Go
 * does the same for every descriptor but 1 and 2; goc for all).
 *
 * Invariants
 *   - A signal's disposition is the dispatcher iff installed[sig], and then
 *     base_on[sig] || wanted[sig] (apply() keeps the two in step).
 *   - handlers[sig].fn is never cleared once set (a handler may only be
 *     replaced), so the dispatcher never calls NULL for a signal in base_on.
 *   - saved[sig] is valid while installed[sig]; it is re-read each time the
 *     dispatcher goes in, so a disposition the program set meanwhile is the
 *     one put back.
 *
 * Lock order: reg_lock is a leaf (LR_LEAF), never taken in a handler;
 * notify.c takes it under its table lock.
 *
 * Rejected: installing at load time (before main), which would change the
 * dispositions of programs that link goc but never use it; each subsystem
 * calling sigaction itself (the state of one disposition would be split
 * over several files, which is what this file replaces); SA_RESTART for
 * notified signals, as Go sets it (see install's comment: goc's own sleeps
 * must see EINTR); SIG_IGN for SIGPIPE (then a channel could not be notified
 * of it without a second kind of disposition, and a handler is reset to the
 * default across exec, which SIG_IGN is not).
 */
#define _GNU_SOURCE
#include "signal/signal.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "base/lock.h"
#include "sched/sched.h"

enum { NSIG_MAX = 65 };

static struct {
    _Atomic(gsig_handler) fn;
    unsigned flags;
} handlers[NSIG_MAX];
static _Atomic bool base_on[NSIG_MAX];
static _Atomic bool wanted[NSIG_MAX];
static _Atomic bool installed[NSIG_MAX];
static struct sigaction saved[NSIG_MAX]; /* reg_lock; valid while installed */
static _Atomic(gsig_handler) notify_fn;
static _Atomic bool started;                 /* the runtime has started */
static glock reg_lock = GLOCK_INIT(LR_LEAF); /* registration after start */

static void dispatch(int sig, siginfo_t *si, void *uc) {
    bool base = atomic_load_explicit(&base_on[sig], memory_order_acquire);
    gsig_handler fn = base ? atomic_load_explicit(&handlers[sig].fn, memory_order_acquire) : NULL;
    if (atomic_load_explicit(&wanted[sig], memory_order_acquire)) {
        gsig_handler nf = atomic_load_explicit(&notify_fn, memory_order_acquire);
        if (nf) {
            nf(sig, si, uc);
            /* flags are written before fn is published (release). */
            if (!fn || !(handlers[sig].flags & GSIG_ALSO_NOTIFY))
                return;
        }
    }
    if (fn)
        fn(sig, si, uc);
    /* Neither: the signal raced with goc_signal_stop giving it back. It is
     * dropped, as one that came a moment earlier would have been. */
}

/* Has the program a handler function of its own in sa? */
static bool programs_own(const struct sigaction *sa, unsigned flags) {
    if (sa->sa_flags & SA_SIGINFO)
        return sa->sa_sigaction != NULL;
    if (sa->sa_handler == SIG_IGN)
        return (flags & GSIG_KEEP_IGNORED) != 0;
    return sa->sa_handler != SIG_DFL;
}

/* Decide whether sig's registered handler takes effect: yes, unless it
 * asks to keep what the program set and the program set something (looked
 * up in the disposition goc found, if goc's is in place). reg_lock held. */
static void decide_base(int sig) {
    unsigned flags = handlers[sig].flags;
    bool on = atomic_load_explicit(&handlers[sig].fn, memory_order_relaxed) != NULL;
    if (on && (flags & GSIG_KEEP_PROGRAMS)) {
        struct sigaction cur;
        const struct sigaction *was = &saved[sig];
        if (!atomic_load(&installed[sig])) {
            if (sigaction(sig, NULL, &cur) != 0)
                return;
            was = &cur;
        }
        if (programs_own(was, flags))
            on = false;
    }
    atomic_store_explicit(&base_on[sig], on, memory_order_release);
}

/* Make sig's disposition match base_on and wanted: the dispatcher if
 * either, else what it was before goc. reg_lock held, runtime started. */
static void apply(int sig) {
    bool base = atomic_load(&base_on[sig]), want = atomic_load(&wanted[sig]);
    if (!base && !want) {
        if (atomic_load(&installed[sig]) && sigaction(sig, &saved[sig], NULL) == 0)
            atomic_store(&installed[sig], false);
        return;
    }
    if (!atomic_load(&installed[sig]) && sigaction(sig, NULL, &saved[sig]) != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = dispatch;
    /* No SA_RESTART: a thread asleep in a futex wait returns with EINTR and
     * looks again, which is also what lets ThreadSanitizer deliver a signal
     * it deferred (with SA_RESTART a SIGQUIT waited for the sleep to end). */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    if (base && (handlers[sig].flags & GSIG_SYNC))
        sa.sa_flags |= SA_NODEFER;
    if (base && (handlers[sig].flags & GSIG_NO_ALTSTACK))
        sa.sa_flags &= ~SA_ONSTACK;
    if (base && (handlers[sig].flags & GSIG_RESTART))
        sa.sa_flags |= SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) == 0)
        atomic_store(&installed[sig], true);
}

int gsig_register(int sig, gsig_handler fn, unsigned flags) {
    if (sig <= 0 || sig >= NSIG_MAX || sig == SIGKILL || sig == SIGSTOP || !fn)
        return -EINVAL;
    glock_lock(&reg_lock);
    handlers[sig].flags = flags;
    atomic_store_explicit(&handlers[sig].fn, fn, memory_order_release);
    if (atomic_load(&started)) {
        decide_base(sig);
        apply(sig);
    }
    glock_unlock(&reg_lock);
    return 0;
}

bool gsig_installed(int sig) { return sig > 0 && sig < NSIG_MAX && atomic_load(&installed[sig]); }

bool gsig_notifiable(int sig) {
    if (sig <= 0 || sig >= NSIG_MAX || sig > SIGRTMAX)
        return false;
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
        return false;
    }
    /* Between the classic signals and SIGRTMIN: the C library's own (glibc
     * keeps 32 and 33 for thread cancellation and setxid). */
    return sig < 32 || sig >= SIGRTMIN;
}

void gsig_set_notify(gsig_handler fn) {
    atomic_store_explicit(&notify_fn, fn, memory_order_release);
}

void gsig_notify_enable(int sig, bool on) {
    if (!gsig_notifiable(sig))
        return;
    glock_lock(&reg_lock);
    atomic_store_explicit(&wanted[sig], on, memory_order_release);
    if (atomic_load(&started))
        apply(sig);
    glock_unlock(&reg_lock);
}

static void sig_start(void) {
    glock_lock(&reg_lock);
    atomic_store(&started, true);
    for (int sig = 1; sig < NSIG_MAX; sig++) {
        decide_base(sig);
        apply(sig);
    }
    glock_unlock(&reg_lock);
}

/* Each M's alternate signal stack: 64 KiB, room for the report of a stack
 * overflow. Ms never exit, so the stack is never freed. */
static void sig_minit(void) {
    size_t sz = 64 * 1024;
    /* Every goroutine that runs on this M takes its signals here: to TSan
     * the stack starts with no history, not as written by this M's g0. */
    grace_ignore_begin();
    void *st = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    grace_ignore_end();
    if (st == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = st, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        munmap(st, sz);
}

static const gsched_driver sig_driver = {
    .name = "signal",
    .start = sig_start,
    .minit = sig_minit,
};

/* SIGPIPE's handler: nothing (the write that raised it returns EPIPE). */
static void sigpipe_ignore(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
}

__attribute__((constructor)) static void sig_register_driver(void) {
    gsched_register_driver(&sig_driver);
    gsig_register(SIGPIPE, sigpipe_ignore, GSIG_KEEP_PROGRAMS | GSIG_KEEP_IGNORED);
    /* Preemption requests from sysmon (sched/preempt.c), as Go uses SIGURG:
     * ignored by default, so a program loses nothing; a channel that asks
     * for SIGURG gets these too, as in Go. */
    gsig_register(SIGURG, gsched_sigpreempt, GSIG_NO_ALTSTACK | GSIG_RESTART | GSIG_ALSO_NOTIFY);
}
