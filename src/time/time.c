/* time/time.c — timers, tickers and sleep (Go's time.go and package time).
 *
 * Data structures
 *   - One binary min-heap of timers per processor (heaps[], indexed by P
 *     id; plain threads use heap 0), each with its own lock and an atomic
 *     copy of its earliest deadline (when0) that can be read without the
 *     lock. A timer lives in the heap of the P that created it (its home)
 *     for its whole life, so its state is always guarded by one lock.
 *   - Timers are run by the scheduler, never by a thread of their own: an
 *     M about to look for work elsewhere first fires every due timer, and
 *     the monitor thread (sysmon) sleeps until the earliest deadline of all
 *     heaps and fires what is due while every P is busy or idle. Adding a
 *     timer that is due sooner than sysmon's sleep pokes it. While the lone
 *     processor's rings run plain (chan.c), sysmon hands a channel timer's
 *     send to a goroutine of its own on the P instead (deliver_later): a
 *     send from its thread would end that mode for good.
 *   - Kinds: a sleeping goroutine's timer lives on its own stack and readies
 *     it; channel timers (goc_timer, goc_ticker, goc_after) do a
 *     non-blocking send of goc_now() on a channel with a one-value buffer
 *     (a ticker thus drops ticks for a slow receiver); AfterFunc timers
 *     start a goroutine. A channel timer sends the time it was due (Go's
 *     Now().Add(-delay)), so tick values sit on the period's grid.
 *
 * Go 1.23 semantics: a timer channel behaves as an unbuffered one.
 *   - No stale values. Each timer has a sequence number, bumped by every
 *     Stop and Reset. Firing pops the timer under the heap lock, remembering
 *     the sequence, then takes the timer's own mutex (mu) and delivers only
 *     if the sequence is unchanged. Stop and Reset hold mu while they bump
 *     the sequence and drain the channel, so once they return no value from
 *     before the call can be received.
 *   - Return values. A value that sits in the buffer was never received:
 *     to the program the timer is still pending (go.dev/issue/69312). So
 *     Stop and Reset return true when the timer was queued, being fired, or
 *     had its value drained by this call, and false only when the timer was
 *     stopped already or its value was received. The pre-1.23 idiom
 *     `if (!Stop) <-C` therefore never waits for a value Stop dropped; it
 *     still blocks forever after the value was received, as in every Go.
 *   - len and cap. The buffer is a private detail: timer channels are made
 *     with gchan_hide_buffer (chan/chan.h), so goc_chan_len and
 *     goc_chan_cap report 0, as Go 1.23's chanlen/chancap do.
 *
 * Collection of goc_after timers. Go 1.23 collects a timer nobody
 * references; goc has no collector, but knows when the last reference to a
 * goc_after channel goes, since the program releases it. So the timer
 * holds no reference to that channel (a weak pointer: t->c), and the channel
 * holds the timer's owner reference: goc_after registers after_released
 * with gchan_on_last_release, and the last goc_chan_release calls it just
 * before freeing the channel. after_released stops the timer (timer_modify,
 * under mu: bumps the sequence, unqueues it, drains) and drops the owner
 * reference; a firing under way holds its own reference and, once it gets
 * mu, sees the new sequence and sends nothing, so nothing is sent into the
 * freed channel. A fired goc_after timer stays allocated (idle, a few dozen
 * bytes) until its channel goes. The hook is generic (chan knows nothing of
 * timers: time -> chan, never the reverse); the alternatives were worse:
 * the timer keeping a counted reference (then "last release" is the count
 * dropping to 1, racing every retain), or channels calling into time.
 *
 * Misuse. Each heap-allocated timer has a magic word (timer, ticker, or
 * goc_after's) checked on entry to every public call, and goc_timer_free /
 * goc_ticker_free swap it for MAGIC_FREED before anything else: a second
 * free panics "<fn>: timer freed twice", a later use "<fn>: use of freed
 * timer", a ticker passed as a timer (or the reverse) "not a timer". Best
 * effort, as Go's checks are: it reads memory that may have been freed, and
 * catches the misuse only until malloc hands that memory out again (the
 * word sits past the 16 bytes malloc writes into a free chunk).
 *
 * Invariants
 *   - t->state is T_QUEUED iff t is in its home heap (t->idx >= 0);
 *     T_FIRING from its pop until its firing section ran; else T_IDLE.
 *   - heap->when0 == heap->a[0]->when, or INT64_MAX when empty.
 *   - npending == number of queued timers; nfiring == number popped and not
 *     yet delivered (the deadlock detector reads their sum).
 *   - A heap-allocated timer is freed when its last reference goes: its
 *     owner's (the user's handle, or for goc_after the channel's, dropped
 *     by after_released), plus one per in-flight firing.
 *   - A goc_after timer never touches its channel outside mu, and after
 *     after_released has held mu, never again.
 *
 * Lock order (base/lockrank.h): timer.mu < timerheap.lock < hchan.lock (the
 * drain and the send take the channel's lock with t->mu held, never with a
 * heap lock held).
 *
 * synctest bubbles (sched/synctest.c has the model). A timer made in a
 * bubble (created, or slept, by a goroutine of the bubble) lives in the
 * bubble's own heap instead of a P's: one theap per bubble, made on first
 * use and hung on gbubble.timers. It uses the bubble's clock (gbubble.now,
 * what goc_now returns inside), is fired only by the bubble's root, which
 * advances the clock to its deadline once every goroutine of the bubble is
 * durably blocked (the gsynctest_timers hooks below), and never counts in
 * npending/nfiring (the deadlock detector's: the bubble detects its own)
 * nor pokes sysmon. A bubble timer due at once (a zero duration) fires
 * right away in the goroutine that set it, as Go's do, rather than when
 * the bubble next idles. Its channel is a bubble channel, so the root
 * sends with its g->bubble set. Stop and Reset from outside the bubble
 * panic (Go's texts); free does not (cleanup after the run), nor does the
 * last release of a goc_after channel: neither drains the channel, which
 * goes anyway. A bubble heap outlives its bubble while timers made in it
 * are still allocated (theap.refs: one per such timer plus the bubble's);
 * when the bubble ends its queued timers are dropped, inert.
 *
 * Rejected: a thread per timer, or one timer thread running everything
 * (cross-thread wakeups for every sleep); a single global heap (contention);
 * Go's pre-1.23 buffered channel semantics (stale values after Reset);
 * firing channel timers lazily, only once someone receives, as Go 1.23
 * does (the channel would have to call into time on every receive).
 */
#define _GNU_SOURCE
#include <goc/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/assert.h"
#include "chan/chan.h"
#include "sched/sched.h"
#include "time/timers.h"

enum { NHEAPS = GSCHED_MAXPROCS }; /* one heap per possible P id */
enum tstate { T_IDLE, T_QUEUED, T_FIRING };
enum tkind { T_SLEEP, T_CHAN, T_AFTER, T_FUNC };
/* What a heap-allocated timer is, for the misuse checks. */
enum tmagic {
    MAGIC_TIMER = 0x676f5469u,  /* goc_timer_new, goc_after_func */
    MAGIC_TICKER = 0x676f546bu, /* goc_ticker_new */
    MAGIC_AFTER = 0x676f5461u,  /* goc_after: no handle reaches the user */
    MAGIC_FREED = 0xdeadf7eeu,  /* the user freed it */
};

typedef struct theap theap;

typedef struct gtimer {
    /* Guarded by home->lock. */
    int64_t when;
    int64_t period; /* > 0 for tickers */
    /* enum tmagic; poisoned by the user's free. Past the first 16 bytes,
     * where malloc keeps its bookkeeping of a free chunk. */
    _Atomic uint32_t magic;
    int32_t idx;   /* heap index; -1 when not queued */
    uint8_t state; /* enum tstate */
    uint64_t seq;  /* written with both mu and home->lock held */
    /* Immutable after creation. */
    uint8_t kind; /* enum tkind */
    theap *home;
    goc_chan *c; /* channel timers; T_AFTER: no reference (see above) */
    void (*fn)(void *);
    void *arg;
    const void *gopc; /* T_FUNC: goc_after_func's call site, the goroutine's creation site */
    g *gp;            /* T_SLEEP */
    gbubble *bubble;  /* the synctest bubble it belongs to (home is its heap), or NULL */
    glock mu;         /* serializes delivery against stop/reset */
    _Atomic int refs; /* heap-allocated timers: the owner's + in-flight firings */
} gtimer;

struct goc_timer {
    gtimer t;
};
struct goc_ticker {
    gtimer t;
};

struct theap {
    glock lock;
    gtimer **a;            /* lock */
    int32_t n, cap;        /* lock */
    _Atomic int64_t when0; /* earliest deadline; written under lock */
    gbubble *bubble;       /* immutable: a synctest bubble's heap; NULL for a P's. Valid
                            * only while the bubble runs: after, only tested for NULL */
    uint64_t bubble_id;    /* immutable: its id (0 for a P's heap) */
    /* Bubble heaps only: the bubble's reference plus one per heap-allocated
     * timer living in it; the last one frees the heap. */
    _Atomic int32_t refs;
    char pad[12];
};

/* Global: one heap per P id. Owner: each heap's lock. */
static theap heaps[NHEAPS] = {[0 ... NHEAPS - 1] = {.lock = GLOCK_INIT(LR_TIMERHEAP)}};
static _Atomic int32_t nheaps = 1; /* heaps [0, nheaps) may hold timers */
static _Atomic int32_t npending;
/* Timers popped for firing whose delivery has not finished: still pending
 * for the deadlock detector, which must not see the world idle between the
 * pop and the goready the delivery makes. */
static _Atomic int32_t nfiring;
static _Atomic int64_t nlive; /* heap-allocated timers not yet freed */
static pthread_once_t time_once = PTHREAD_ONCE_INIT;

/* ---- heap ---- */

static void heap_set(theap *h, int32_t i, gtimer *t) {
    h->a[i] = t;
    t->idx = i;
}

static void siftup(theap *h, int32_t i) {
    gtimer *t = h->a[i];
    while (i > 0) {
        int32_t pi = (i - 1) / 2;
        if (h->a[pi]->when <= t->when)
            break;
        heap_set(h, i, h->a[pi]);
        i = pi;
    }
    heap_set(h, i, t);
}

static void siftdown(theap *h, int32_t i) {
    gtimer *t = h->a[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1]->when < h->a[c]->when)
            c++;
        if (t->when <= h->a[c]->when)
            break;
        heap_set(h, i, h->a[c]);
        i = c;
    }
    heap_set(h, i, t);
}

static void update_when0(theap *h) { atomic_store(&h->when0, h->n ? h->a[0]->when : INT64_MAX); }

/* Queue t in its home heap (home->lock held). */
static void heap_push(gtimer *t) {
    theap *h = t->home;
    if (h->n == h->cap) {
        int32_t ncap = h->cap ? h->cap * 2 : 64;
        gtimer **na = realloc(h->a, (size_t)ncap * sizeof *na);
        if (!na)
            gthrow("runtime: out of memory: cannot grow a timer heap");
        h->a = na;
        h->cap = ncap;
    }
    h->a[h->n] = t;
    t->idx = h->n++;
    siftup(h, t->idx);
    t->state = T_QUEUED;
    if (!h->bubble)
        atomic_fetch_add(&npending, 1);
    update_when0(h);
}

/* Remove t from its home heap (home->lock held, t queued). */
static void heap_remove(gtimer *t) {
    theap *h = t->home;
    int32_t i = t->idx;
    GOC_ASSERT(i >= 0 && i < h->n && h->a[i] == t);
    h->n--;
    if (i != h->n) {
        heap_set(h, i, h->a[h->n]);
        siftdown(h, i);
        siftup(h, h->a[i]->idx);
    }
    t->idx = -1;
    if (!h->bubble)
        atomic_fetch_sub(&npending, 1);
    update_when0(h);
}

/* ---- firing ---- */

static void bubble_heap_unref(theap *h) {
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    free(h->a);
    free(h);
}

static void timer_unref(gtimer *t) {
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    if (t->c && t->kind != T_AFTER)
        goc_chan_release(t->c);
    theap *bh = t->bubble ? t->home : NULL;
    free(t);
    atomic_fetch_sub(&nlive, 1);
    if (bh)
        bubble_heap_unref(bh);
}

static bool try_send_now(goc_chan *c, int64_t now) {
    goc_case cs = GOC_SEND(c, &now);
    return goc_select_try(&cs, 1) == 0;
}

/* Drop what c holds; returns whether there was a value. */
static bool drain(goc_chan *c) {
    if (!c)
        return false;
    goc_case cs = GOC_RECV(c, NULL, NULL);
    bool any = false;
    while (goc_select_try(&cs, 1) == 0)
        any = true;
    return any;
}

/* Deliver a popped timer (no lock held). */
static void fire(gtimer *t, uint64_t seq, int64_t now) {
    if (t->kind == T_SLEEP) {
        goready(t->gp); /* t lives on the sleeper's stack: gone after this */
        return;
    }
    glock_lock(&t->mu);
    theap *h = t->home;
    glock_lock(&h->lock);
    bool ok = t->seq == seq && t->state == T_FIRING;
    int64_t due = t->when; /* sent as the value, as Go's Now().Add(-delay) */
    int64_t requeued = -1; /* the next tick's deadline, read under the lock */
    if (ok) {
        if (t->period > 0) {
            /* Next tick on the period's grid, skipping the missed ones. */
            int64_t next = t->when + t->period;
            if (next <= now)
                next += t->period * (1 + (now - next) / t->period);
            t->when = next;
            heap_push(t);
            requeued = next;
        } else {
            t->state = T_IDLE;
        }
    }
    glock_unlock(&h->lock);
    if (ok && t->kind != T_FUNC)
        try_send_now(t->c, due);
    glock_unlock(&t->mu);
    if (requeued >= 0 && !h->bubble)
        gsched_sysmon_poke(requeued);
    if (ok && t->kind == T_FUNC) {
        int err = gsched_go_from(t->fn, t->arg, 0, t->gopc, false);
        if (err)
            gthrow("runtime: cannot start an AfterFunc goroutine (%s)", goc_strerror(err));
    }
    timer_unref(t); /* the in-flight reference taken at pop */
}

/* Deliver a popped timer, then drop it from the deadlock detector's count
 * (real: not a bubble's). */
static void deliver(gtimer *t, uint64_t seq, int64_t now, bool real) {
    fire(t, seq, now);
    if (real && atomic_fetch_sub(&nfiring, 1) == 1 && atomic_load(&npending) == 0)
        gsched_checkdead(); /* that was the last thing that could wake anyone */
}

/* A firing handed to a goroutine (deliver_later): its arguments, copied
 * into the goroutine. */
struct later {
    gtimer *t;
    uint64_t seq;
    int64_t now;
};

static void deliver_later_g(void *arg) {
    const struct later *l = arg;
    deliver(l->t, l->seq, l->now, true);
}

/* Should the caller, not the lone processor's owner, leave this firing to
 * a goroutine? While one processor exists, its owner moves ring positions
 * with plain stores (chan.c's lone mode), and the first ring operation of
 * any other thread ends that mode for good; a channel timer's send is one,
 * and sysmon fires what falls due while the P is busy or idle. So sysmon
 * starts a goroutine (the runtime's own: not counted, as Go's are not)
 * that delivers on the P instead: the global queue, which the P looks at
 * within 61 switches, a wakeup if it is idle, and sysmon's preemption of
 * a goroutine that runs 10 ms without a switch while this one waits. Go
 * runs timers only on Ps, so a timer is no later than there. Sleeps and
 * AfterFunc timers touch no ring (they ready or start goroutines through
 * the global queue). Returns false when the caller must deliver itself:
 * no such timer, the mode is over (gchan_lone_mode), the caller owns the
 * lone P (findrunnable on its M, or a stop's drain), or the goroutine
 * could not be had (the firing then ends the mode, as it did before). */
static bool deliver_later(gtimer *t, uint64_t seq, int64_t now) {
    if ((t->kind != T_CHAN && t->kind != T_AFTER) || !gchan_lone_mode() || gsched_runq_lone_now())
        return false;
    struct later l = {t, seq, now};
    return gsched_go_from(deliver_later_g, &l, sizeof l, NULL, true) == 0;
}

/* Fire every due timer of heap h; returns its next deadline. */
static int64_t run_heap(theap *h, int64_t now) {
    for (;;) {
        if (atomic_load_explicit(&h->when0, memory_order_acquire) > now)
            return atomic_load(&h->when0);
        glock_lock(&h->lock);
        if (h->n == 0 || h->a[0]->when > now) {
            int64_t w = h->n ? h->a[0]->when : INT64_MAX;
            glock_unlock(&h->lock);
            return w;
        }
        gtimer *t = h->a[0];
        bool real = !h->bubble; /* bubble timers are the bubble's business */
        if (real)
            atomic_fetch_add(&nfiring, 1); /* before heap_remove lowers npending */
        heap_remove(t);
        t->state = T_FIRING;
        uint64_t seq = t->seq;
        if (t->kind != T_SLEEP)
            atomic_fetch_add(&t->refs, 1);
        glock_unlock(&h->lock);
        if (!real || !deliver_later(t, seq, now))
            deliver(t, seq, now, real);
    }
}

static int64_t timers_run(int64_t now) {
    int64_t next = INT64_MAX;
    int32_t n = atomic_load(&nheaps);
    /* Our own heap first: what it readies goes to our run queue. */
    int self = gsched_procid();
    if (self >= 0 && self < n) {
        int64_t w = run_heap(&heaps[self], now);
        if (w < next)
            next = w;
    }
    for (int32_t i = 0; i < n; i++) {
        if (i == self)
            continue;
        int64_t w = run_heap(&heaps[i], now);
        if (w < next)
            next = w;
    }
    return next;
}

static int64_t timers_next(void) {
    int64_t next = INT64_MAX;
    int32_t n = atomic_load(&nheaps);
    for (int32_t i = 0; i < n; i++) {
        int64_t w = atomic_load_explicit(&heaps[i].when0, memory_order_relaxed);
        if (w < next)
            next = w;
    }
    return next;
}

static int32_t timers_pending(void) { return atomic_load(&npending) + atomic_load(&nfiring); }

int64_t gtime_live_timers(void) { return atomic_load(&nlive); }

int32_t gtime_pending_timers(void) { return timers_pending(); }

/* The timer driver: the scheduler fires due timers from findrunnable and
 * sysmon, and the deadlock detector stays quiet while any is pending. */
static const gsched_driver timer_driver = {
    .name = "timers",
    .run = timers_run,
    .next = timers_next,
    .pending = timers_pending,
};

/* ---- synctest bubbles' heaps ---- */

static theap *bubble_heap_of(gbubble *b) {
    return atomic_load_explicit(&b->timers, memory_order_acquire);
}

/* b's heap, made on first use (any goroutine of b may race to make it). */
static theap *bubble_heap(gbubble *b) {
    theap *h = bubble_heap_of(b);
    if (h)
        return h;
    theap *nh = calloc(1, sizeof *nh);
    if (!nh)
        gthrow("runtime: out of memory: cannot make a synctest bubble's timer heap");
    glock_init(&nh->lock, LR_TIMERHEAP);
    atomic_init(&nh->when0, INT64_MAX);
    atomic_init(&nh->refs, 1); /* the bubble's */
    nh->bubble = b;
    nh->bubble_id = b->id;
    void *expect = NULL;
    if (atomic_compare_exchange_strong(&b->timers, &expect, nh))
        return nh;
    free(nh);
    return expect;
}

static int64_t bubble_next(gbubble *b) {
    theap *h = bubble_heap_of(b);
    return h ? atomic_load(&h->when0) : INT64_MAX;
}

static void bubble_run(gbubble *b, int64_t now) {
    theap *h = bubble_heap_of(b);
    if (h)
        run_heap(h, now);
}

/* The bubble is over (every goroutine of it has exited): drop its queued
 * timers. Timers the program still holds stay allocated, idle. */
static void bubble_done(gbubble *b) {
    theap *h = bubble_heap_of(b);
    if (!h)
        return;
    glock_lock(&h->lock);
    while (h->n > 0) {
        gtimer *t = h->a[0];
        heap_remove(t);
        t->state = T_IDLE;
        t->seq++;
    }
    glock_unlock(&h->lock);
    bubble_heap_unref(h);
}

static const gsynctest_timers bubble_timers = {
    .next = bubble_next,
    .run = bubble_run,
    .done = bubble_done,
};

static void time_init(void) {
    for (int i = 0; i < NHEAPS; i++)
        atomic_init(&heaps[i].when0, INT64_MAX);
    gsched_register_driver(&timer_driver);
    gsched_synctest_register_timers(&bubble_timers);
}

/* The clock timers are set by: the caller's bubble's, or the real one. */
static int64_t clock_now(void) {
    gbubble *b = gsched_bubble();
    return b ? atomic_load_explicit(&b->now, memory_order_relaxed) : gnanotime();
}

static theap *home_heap(void) {
    pthread_once(&time_once, time_init);
    gbubble *b = gsched_bubble();
    if (GOC_UNLIKELY(b != NULL))
        return bubble_heap(b);
    int id = gsched_procid();
    if (id < 0 || id >= NHEAPS)
        id = 0;
    int32_t n = atomic_load(&nheaps);
    while (id >= n && !atomic_compare_exchange_weak(&nheaps, &n, id + 1)) {
    }
    return &heaps[id];
}

static int64_t deadline_after(goc_duration d) {
    int64_t now = clock_now();
    if (d <= 0)
        return now;
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

/* ---- public API ---- */

int64_t goc_now(void) { return clock_now(); }

static bool sleep_commit(g *gp, void *arg) {
    (void)gp;
    gtimer *t = arg;
    int64_t when = t->when; /* t lives on the sleeper's stack: once it is
                             * queued it may fire and be gone */
    theap *h = t->home;
    glock_lock(&h->lock);
    heap_push(t);
    glock_unlock(&h->lock);
    /* Not timer_queued: this runs as gopark's unlockf, after the switch,
     * where firing timers is out of place; and a sleep in a bubble is never
     * due at once (d > 0, and the bubble's clock stands still while its
     * goroutine runs), so only real timers need sysmon told. */
    if (!h->bubble)
        gsched_sysmon_poke(when);
    return true;
}

void goc_sleep(goc_duration d) {
    gsched_preempt_check();
    if (d <= 0)
        return;
    if (!gsched_on_goroutine()) {
        /* A plain thread just sleeps (through EINTR). */
        int64_t until = deadline_after(d);
        for (;;) {
            int64_t left = until - gnanotime();
            if (left <= 0)
                return;
            struct timespec ts = {left / 1000000000, left % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    if (gsched_init() != 0)
        return;
    gtimer t;
    memset(&t, 0, sizeof t);
    t.kind = T_SLEEP;
    t.idx = -1;
    t.home = home_heap();
    t.bubble = t.home->bubble;
    t.gp = getg();
    t.when = deadline_after(d);
    glock_race_release(&t.home->lock); /* sleep_commit queues t under it */
    gopark(sleep_commit, &t, WAIT_SLEEP);
}

static void after_released(void *arg);

static gtimer *timer_alloc(enum tkind kind, enum tmagic magic, size_t size) {
    int err = gsched_init();
    if (err != 0) {
        errno = -err; /* ENOMEM or EAGAIN: the runtime could not start */
        return NULL;
    }
    gtimer *t = gmem_zalloc(size);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->kind = (uint8_t)kind;
    atomic_init(&t->magic, (uint32_t)magic);
    glock_init(&t->mu, LR_TIMER);
    t->idx = -1;
    t->home = home_heap();
    t->bubble = t->home->bubble;
    if (t->bubble)
        atomic_fetch_add(&t->home->refs, 1); /* the heap outlives the bubble for t */
    atomic_init(&t->refs, 1);
    if (kind != T_FUNC) {
        t->c = goc_chan_make(sizeof(int64_t), 1);
        if (!t->c) {
            if (t->bubble)
                bubble_heap_unref(t->home);
            free(t);
            errno = ENOMEM;
            return NULL;
        }
        gchan_hide_buffer(t->c); /* presents as unbuffered, as in Go 1.23 */
        if (kind == T_AFTER)
            gchan_on_last_release(t->c, after_released, t);
    }
    atomic_fetch_add(&nlive, 1);
    return t;
}

/* A timer was queued in h for `when`: tell whoever fires h's timers. */
static void timer_queued(theap *h, int64_t when) {
    if (!h->bubble) {
        gsched_sysmon_poke(when);
        return;
    }
    /* A bubble timer due now fires now, in the bubble (as Go's do),
     * instead of when the bubble next idles. */
    int64_t now = atomic_load_explicit(&h->bubble->now, memory_order_relaxed);
    if (when <= now)
        run_heap(h, now);
}

static void timer_start(gtimer *t, int64_t when) {
    glock_lock(&t->home->lock);
    t->when = when;
    heap_push(t);
    glock_unlock(&t->home->lock);
    timer_queued(t->home, when);
}

goc_chan *goc_after(goc_duration d) {
    gtimer *t = timer_alloc(T_AFTER, MAGIC_AFTER, sizeof *t);
    if (!t)
        return NULL;
    goc_chan *c = t->c; /* its one reference is the caller's */
    timer_start(t, deadline_after(d));
    return c;
}

goc_timer *goc_timer_new(goc_duration d) {
    gtimer *t = timer_alloc(T_CHAN, MAGIC_TIMER, sizeof(goc_timer));
    if (!t)
        return NULL;
    timer_start(t, deadline_after(d));
    return (goc_timer *)t;
}

/* noinline: the return address is the user's call site, which the
 * goroutine fn runs on shows as its creation site in dumps. */
__attribute__((noinline)) goc_timer *goc_after_func(goc_duration d, void (*fn)(void *), void *arg) {
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    gtimer *t = timer_alloc(T_FUNC, MAGIC_TIMER, sizeof(goc_timer));
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->gopc = __builtin_return_address(0);
    timer_start(t, deadline_after(d));
    return (goc_timer *)t;
}

/* ---- stop, reset, collection ---- */

/* Stop (and with when >= 0, restart) t. Returns whether it was pending:
 * queued, being fired, or fired with its value still in the channel (Go
 * 1.23: the value was never received, so this call stopped it). Without
 * `drain` the channel keeps its value: it is about to go (free). */
static bool timer_modify(gtimer *t, int64_t when, int64_t period, bool drain_chan) {
    glock_lock(&t->mu);
    theap *h = t->home;
    glock_lock(&h->lock);
    bool pending = t->state != T_IDLE;
    if (t->state == T_QUEUED)
        heap_remove(t);
    t->state = T_IDLE;
    t->seq++;
    if (when >= 0) {
        t->period = period;
        t->when = when;
        heap_push(t);
    }
    glock_unlock(&h->lock);
    if (drain_chan && drain(t->c))
        pending = true;
    glock_unlock(&t->mu);
    if (when >= 0)
        timer_queued(h, when);
    else if (pending && !h->bubble && timers_pending() == 0)
        gsched_checkdead();
    return pending;
}

/* goc_after's channel lost its last reference (called by that release,
 * before the channel is freed): nobody can receive the value any more, so
 * stop the timer and drop the reference the channel held on it. */
static void after_released(void *arg) {
    gtimer *t = arg;
    timer_modify(t, -1, 0, false);
    timer_unref(t);
}

/* ---- misuse checks ---- */

static _Noreturn void bad_magic(uint32_t m, uint32_t want, const char *fn) {
    const char *what = want == MAGIC_TICKER ? "ticker" : "timer";
    if (m == MAGIC_FREED)
        goc_panic("%s: use of freed %s", fn, what);
    if (m == MAGIC_TIMER || m == MAGIC_TICKER)
        goc_panic("%s: not a %s (a %s)", fn, what, m == MAGIC_TICKER ? "ticker" : "timer");
    goc_panic("%s: not a %s (freed or corrupt memory)", fn, what);
}

/* Best effort, as Go's own checks: p's magic word must say `want`. A freed
 * timer keeps its poison until malloc hands the memory out again. */
static gtimer *live(void *p, uint32_t want, const char *fn) {
    gtimer *t = p;
    uint32_t m = atomic_load_explicit(&t->magic, memory_order_relaxed);
    if (__builtin_expect(m != want, 0))
        bad_magic(m, want, fn);
    return t;
}

/* Stop and Reset of a bubble's timer only from inside it (Go's fatal
 * errors; panics here). */
static gtimer *in_bubble(gtimer *t, const char *op) {
    if (GOC_UNLIKELY(t->bubble != NULL) && gsched_bubble_id() != t->home->bubble_id)
        goc_panic("%s of synctest timer from outside bubble", op);
    return t;
}

/* The user's free: poison, stop, drop the owner's reference. */
static void user_free(gtimer *t, uint32_t want, const char *fn) {
    uint32_t m = want;
    if (!atomic_compare_exchange_strong(&t->magic, &m, MAGIC_FREED)) {
        if (m == MAGIC_FREED)
            goc_panic("%s: %s freed twice", fn, want == MAGIC_TICKER ? "ticker" : "timer");
        bad_magic(m, want, fn);
    }
    timer_modify(t, -1, 0, false);
    timer_unref(t);
}

/* ---- public timers and tickers ---- */

goc_chan *goc_timer_chan(goc_timer *t) {
    return t ? live(t, MAGIC_TIMER, "goc_timer_chan")->c : NULL;
}

bool goc_timer_stop(goc_timer *t) {
    if (!t)
        goc_panic("goc_timer_stop: nil timer");
    return timer_modify(in_bubble(live(t, MAGIC_TIMER, "goc_timer_stop"), "stop"), -1, 0, true);
}

bool goc_timer_reset(goc_timer *t, goc_duration d) {
    if (!t)
        goc_panic("goc_timer_reset: nil timer");
    gtimer *tt = in_bubble(live(t, MAGIC_TIMER, "goc_timer_reset"), "reset");
    return timer_modify(tt, deadline_after(d), 0, true);
}

void goc_timer_free(goc_timer *t) {
    if (t)
        user_free(&t->t, MAGIC_TIMER, "goc_timer_free");
}

goc_ticker *goc_ticker_new(goc_duration d) {
    if (d <= 0)
        goc_panic("non-positive interval for NewTicker");
    gtimer *t = timer_alloc(T_CHAN, MAGIC_TICKER, sizeof(goc_ticker));
    if (!t)
        return NULL;
    t->period = d;
    timer_start(t, deadline_after(d));
    return (goc_ticker *)t;
}

goc_chan *goc_ticker_chan(goc_ticker *t) {
    return t ? live(t, MAGIC_TICKER, "goc_ticker_chan")->c : NULL;
}

void goc_ticker_reset(goc_ticker *t, goc_duration d) {
    if (d <= 0)
        goc_panic("non-positive interval for Ticker.Reset");
    if (!t)
        goc_panic("goc_ticker_reset: nil ticker");
    gtimer *tt = in_bubble(live(t, MAGIC_TICKER, "goc_ticker_reset"), "reset");
    timer_modify(tt, deadline_after(d), d, true);
}

void goc_ticker_stop(goc_ticker *t) {
    if (t)
        timer_modify(in_bubble(live(t, MAGIC_TICKER, "goc_ticker_stop"), "stop"), -1, 0, true);
}

void goc_ticker_free(goc_ticker *t) {
    if (t)
        user_free(&t->t, MAGIC_TICKER, "goc_ticker_free");
}
