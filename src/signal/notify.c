/* signal/notify.c — signal notification to channels (Go's os/signal
 * Notify/Stop over runtime/sigqueue.go).
 *
 * Three parties, as in Go:
 *   - the handler (any thread, async-signal-safe): records the signal in a
 *     pending bitmask and wakes the deliverer with a futex. It takes no lock
 *     and never allocates;
 *   - the deliverer, one runtime thread started by the first
 *     goc_signal_notify, with every asynchronous signal blocked: it takes
 *     the pending bits and sends each signal's number (an int) to every
 *     channel registered for it, without blocking (goc_select_try with one
 *     send case): a channel with no room misses the signal, as in Go;
 *   - goc_signal_notify / goc_signal_stop: edit the registration table and
 *     tell the signal owner (signal.c) which signals some channel wants.
 *
 * Data structures
 *   pending[]: one bit per signal (1..64), set by the handler (atomic OR),
 *   taken by the deliverer (atomic exchange with 0).
 *   wake: a counter the handler bumps before its futex wake; the deliverer
 *   reads it before it takes the bits and sleeps only while it is unchanged,
 *   so a signal that arrives between the two is never slept through.
 *   regs: a list of {channel, signal mask}, one per channel, under tablock;
 *   nwant[sig]: how many channels want sig (0 -> 1 enables it in signal.c,
 *   1 -> 0 gives it back).
 *   round: odd while the deliverer holds channels taken from the table
 *   (from the copy under tablock to its last send and release), even
 *   otherwise; goc_signal_stop waits for an odd round to end.
 *
 * Invariants
 *   - A channel is in regs iff goc_signal_notify registered it and
 *     goc_signal_stop has not removed it; the table holds one reference to
 *     it (goc_chan_retain), and the deliverer one more per copy in flight.
 *   - nwant[sig] is the number of entries of regs whose mask has sig, and
 *     sig is enabled in signal.c iff nwant[sig] > 0.
 *   - Once goc_signal_stop(c) returns, nothing sends to c: it removed c
 *     under tablock, so a later round cannot find it, and it waited for
 *     the round that may have copied it.
 *   - No lock is held while sending, so a full or slow channel never holds
 *     up the table, and the deliverer never parks (it only tries).
 *
 * The deliverer is a thread outside the scheduler that sleeps in its own
 * futex: the deadlock check counts it as a thread that may still wake
 * someone, so a program waiting for a signal is never reported deadlocked
 * (in Go the signal loop's M sits in a system call, with the same effect).
 *
 * Lock order: tablock (LR_SIGTAB) is taken with no other runtime lock held;
 * under it only signal.c's reg_lock (a leaf). Channel locks and the
 * scheduler's are taken by the sends, after tablock is released.
 *
 * Rejected: sending from the handler (a channel send takes locks and may
 * ready a goroutine: not async-signal-safe); a goroutine as the deliverer
 * (it would have to park on something a signal handler can wake, and a
 * parked goroutine is what the deadlock check counts as stuck); a
 * self-pipe instead of the futex (a descriptor the program can see, and
 * one more system call per signal); a queue of signals (Go keeps one
 * pending bit per signal too: signals of one kind that arrive together are
 * delivered once).
 */
#define _GNU_SOURCE
#include <goc/io.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/lock.h"
#include "base/sigfaults.h"
#include "chan/chan.h"
#include "sched/sched.h"
#include "signal/signal.h"

enum { NSIG_NOTIFY = 65 }; /* signals 1..64 */

struct sigreg {
    struct sigreg *next;
    goc_chan *c;
    uint64_t mask[2]; /* bit sig: sig wanted */
};

static _Atomic uint32_t pending[(NSIG_NOTIFY + 31) / 32];
static _Atomic uint32_t wake;
static _Atomic uint32_t round;

static glock tablock = GLOCK_INIT(LR_SIGTAB);
static struct sigreg *regs;    /* tablock */
static int nwant[NSIG_NOTIFY]; /* tablock */
static bool deliverer_running; /* tablock */

static inline bool mask_has(const uint64_t *m, int sig) { return (m[sig >> 6] >> (sig & 63)) & 1; }
static inline void mask_set(uint64_t *m, int sig) { m[sig >> 6] |= 1ull << (sig & 63); }

/* ---- the handler ---- */

static void notify_handler(int sig, siginfo_t *si, void *uc) {
    (void)si;
    (void)uc;
    int saved_errno = errno;
    atomic_fetch_or_explicit(&pending[sig >> 5], 1u << (sig & 31), memory_order_release);
    atomic_fetch_add_explicit(&wake, 1, memory_order_release);
    gfutex_wake(&wake, 1);
    errno = saved_errno;
}

/* ---- the deliverer ---- */

struct delivery {
    goc_chan *c;
    int sig;
};

static struct delivery *dv; /* the deliverer's own */
static size_t dvcap;

/* Copy the (channel, signal) pairs of the signals in bits, taking a
 * reference to each channel; the round becomes odd. Returns how many. */
static size_t take_deliveries(const uint32_t *bits) {
    size_t n = 0;
    glock_lock(&tablock);
    atomic_fetch_add_explicit(&round, 1, memory_order_relaxed);
    for (int sig = 1; sig < NSIG_NOTIFY; sig++) {
        if (!((bits[sig >> 5] >> (sig & 31)) & 1))
            continue;
        for (struct sigreg *r = regs; r; r = r->next) {
            if (!mask_has(r->mask, sig))
                continue;
            if (n == dvcap) {
                size_t ncap = dvcap ? 2 * dvcap : 16;
                struct delivery *ndv = realloc(dv, ncap * sizeof *ndv);
                if (!ndv)
                    goto out; /* out of memory: the rest is dropped */
                dv = ndv;
                dvcap = ncap;
            }
            dv[n].c = goc_chan_retain(r->c);
            dv[n].sig = sig;
            n++;
        }
    }
out:
    glock_unlock(&tablock);
    return n;
}

static void *deliverer(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "goc-signal");
    /* Faults in this thread must reach diagnostics, as on an M. */
    sigset_t sync_sigs;
    gsigset_faults(&sync_sigs);
    pthread_sigmask(SIG_UNBLOCK, &sync_sigs, NULL);
    for (;;) {
        uint32_t w = atomic_load_explicit(&wake, memory_order_acquire);
        uint32_t bits[(NSIG_NOTIFY + 31) / 32];
        uint32_t any = 0;
        for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
            any |= bits[i] = atomic_exchange_explicit(&pending[i], 0, memory_order_acquire);
        if (!any) {
            gfutex_wait(&wake, w, -1);
            continue;
        }
        size_t n = take_deliveries(bits);
        for (size_t i = 0; i < n; i++) {
            int v = dv[i].sig;
            goc_case cs = GOC_SEND(dv[i].c, &v);
            (void)goc_select_try(&cs, 1); /* -1: no room, dropped */
            goc_chan_release(dv[i].c);
        }
        atomic_fetch_add_explicit(&round, 1, memory_order_release);
        gfutex_wake(&round, INT_MAX);
    }
    return NULL;
}

/* Start the deliverer with every signal blocked (so that it never takes a
 * signal meant for the program's threads). tablock held. */
static int start_deliverer(void) {
    if (deliverer_running)
        return 0;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, deliverer, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return rc == EAGAIN ? -EAGAIN : -ENOMEM;
    deliverer_running = true;
    return 0;
}

/* ---- registration ---- */

int goc_signal_notify(goc_chan *c, const int *signals, size_t n) {
    if (!c || (n > 0 && !signals) || gchan_elemsize(c) != sizeof(int))
        return -EINVAL;
    uint64_t want[2] = {0, 0};
    if (n == 0) {
        for (int sig = 1; sig < NSIG_NOTIFY; sig++)
            if (gsig_notifiable(sig))
                mask_set(want, sig);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!gsig_notifiable(signals[i]))
                return -EINVAL;
            mask_set(want, signals[i]);
        }
    }
    int err = gsched_init(); /* dispositions are installed by a started runtime */
    if (err)
        return err;
    gsig_set_notify(notify_handler);

    glock_lock(&tablock);
    err = start_deliverer();
    struct sigreg *r = NULL;
    if (!err) {
        for (r = regs; r && r->c != c; r = r->next)
            ;
        if (!r) {
            r = calloc(1, sizeof *r);
            if (r) {
                r->c = goc_chan_retain(c);
                r->next = regs;
                regs = r;
            } else {
                err = -ENOMEM;
            }
        }
    }
    if (!err) {
        for (int sig = 1; sig < NSIG_NOTIFY; sig++) {
            if (!mask_has(want, sig) || mask_has(r->mask, sig))
                continue;
            mask_set(r->mask, sig);
            if (nwant[sig]++ == 0)
                gsig_notify_enable(sig, true);
        }
    }
    glock_unlock(&tablock);
    return err;
}

void goc_signal_stop(goc_chan *c) {
    if (!c)
        return;
    glock_lock(&tablock);
    struct sigreg **pp = &regs;
    while (*pp && (*pp)->c != c)
        pp = &(*pp)->next;
    struct sigreg *r = *pp;
    if (!r) {
        glock_unlock(&tablock);
        return;
    }
    *pp = r->next;
    for (int sig = 1; sig < NSIG_NOTIFY; sig++)
        if (mask_has(r->mask, sig) && --nwant[sig] == 0)
            gsig_notify_enable(sig, false);
    uint32_t rd = atomic_load_explicit(&round, memory_order_relaxed);
    glock_unlock(&tablock);
    /* A round in progress may have copied c: wait for it to end (it only
     * tries sends, so it ends soon). */
    if (rd & 1)
        while (atomic_load_explicit(&round, memory_order_acquire) == rd)
            gfutex_wait(&round, rd, -1);
    goc_chan_release(r->c);
    free(r);
}
