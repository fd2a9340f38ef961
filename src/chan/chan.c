/* chan/chan.c — channels and select (Go's chan.go and select.go).
 *
 * Data structures
 *   struct goc_chan (Go's hchan): one lock, two wait queues (recvq, sendq)
 *   of sudogs and, for a buffered channel, a bounded MPMC ring of cap slots
 *   stored right after the header. A sudog lives on its waiter's stack (goc
 *   stacks never move), so blocking never allocates. A select queues one
 *   sudog per case. Unbuffered channels use only the lock and the queues.
 *
 * The ring (buffered channels; Vyukov's bounded queue, with laps)
 *   Two position words, sendpos and recvpos, 64 bytes apart (never on one
 *   cache line: senders write one, receivers the other). A position is lap + index: index < cap,
 * and lap a multiple of one_lap, the least power of two above cap, so that the next position is pos
 * + 1 inside a lap and the next lap's base at its end: no division per operation, and cap need not
 * be a power of two (a channel of cap k holds exactly k elements). Each slot is a turn word and the
 *   element (8-byte aligned; elements are only ever copied with memcpy).
 *   For a position p of lap L, its slot's turn is
 *       L       free: p's sender may fill it
 *       L + 1   holds p's element
 *       L + one_lap   emptied: free for p + one_lap
 *   so a zeroed ring (gmem_zalloc) is free for lap 0, and a big ring's pages
 *   are touched only as it fills. (Turns are stored lap-relative, not as
 *   Vyukov's positions, for that: p - index is one subtraction.)
 *   Positions are not wrapped: 2^61 of them last 73 years at one
 *   operation per nanosecond. A sender at p waits for turn L, wins p by
 *   CAS on sendpos, copies in and store-releases L + 1; a receiver at p
 *   waits for L + 1, wins p by CAS on recvpos, copies out and
 *   store-releases L + one_lap. The release/acquire pair on the turn
 *   orders the element copies (and is what ThreadSanitizer sees, with the
 *   grace annotations on the slot). An operation between its CAS and its
 *   turn store is "in flight": a few instructions on a running thread (the
 *   scheduler never switches a goroutine inside goc's code), so whoever
 *   meets one spins, then sched_yield()s (ring_spin), never parks.
 *   Flag bits in the position words, changed only under the lock:
 *     sendpos: CLOSED (set by close), SENDWAIT (sendq non-empty),
 *              RECVWAIT (recvq non-empty);
 *     recvpos: RECVWAIT, SENDWAIT (the same two again).
 *   A fast operation's CAS expects a word without flags, so while a flag
 *   is set only lock holders move that position: fast senders never pass a
 *   parked sender (FIFO), never send after close, never fill a ring a
 *   receiver waits on without serving it; fast receivers never take an
 *   element a parked receiver is owed, never free a slot a parked sender
 *   waits for without serving it.
 *
 * Fast paths (no lock)
 *   send: CAS sendpos, copy in, publish the turn.
 *   receive: CAS recvpos, copy out, publish.
 *   Neither reads the other position word. Anything else (a flag in its
 *   word, a full or empty ring, a slot still in flight) goes to the
 *   locked slow path, which decides and serves; so does every operation
 *   on a synctest bubble's channel (the slow path checks the bubble). The
 *   fast paths' preemption check comes after the operation, so that each
 *   call they make is a tail call and they need no frame.
 *
 * No lost wakeup (one word, one modification order)
 *   A receiver parks only under the lock, after queueing its sudog and
 *   raising RECVWAIT in both words by seq_cst RMWs, if its re-read then
 *   finds sendpos == recvpos: nothing sent that is not received, nothing in
 *   flight (the check must use the CAS'd positions, not the turns, or a
 *   sender between CAS and publish would go unseen). A fast sender's CAS
 *   and the receiver's RMW are both read-modify-writes of sendpos, so one
 *   comes first in its modification order: either the CAS (the receiver's
 *   re-read, after its own RMW of the same word, sees the advanced
 *   position, does not park, and waits for the publish) or the RMW (the
 *   CAS, expecting no flag, fails and the sender takes the lock, where it
 *   finds the receiver). While RECVWAIT stays set (recvq non-empty) every
 *   later sender goes through the lock. Symmetrically a sender parks on a
 *   full ring only if, after raising SENDWAIT in both words, sendpos ==
 *   recvpos + one_lap (exactly full: no receive in flight); a fast
 *   receiver's CAS and that RMW are both of recvpos. So a goroutine parks
 *   only when no fast operation is in flight on its ring, and no fast
 *   operation ever has anyone to serve.
 *
 * Who may free c
 *   A goroutine that received a value may release the last reference to c
 *   at once, even while the sender's call has not returned (the glock's
 *   unlock is built for that too, base/lock.h). So a fast operation's turn
 *   store is its last touch of c. Locked paths need no reference of their
 *   own: the last goc_chan_release takes the lock before it frees, and the
 *   glock's unlock touches nothing after its release store. They ready the
 *   goroutines they served only after unlocking (wakelist), as close did.
 *
 * The lone processor's rings (x86-64, outside the race build)
 *   While one processor exists no other thread runs goroutines on one,
 *   so the fast paths' CASes guard against nobody, yet are most of their
 *   cost (a locked instruction per side, and each drains the store buffer
 *   holding the slot's copy). So the owner of a P that is not shared
 *   (gsched_lone_begin: gomaxprocs has been 1, proc.c's runq_lone) moves
 *   the positions with plain loads and stores instead (chansend_lone,
 *   chanrecv_lone), pinned against the preemption signal, with lone_inop
 *   set around the operation. Every other thread that touches a ring
 *   (a plain thread, the signal thread, a goc_blocking function, a
 *   goroutine on a P that goc_maxprocs added or handed off by the signal;
 *   not sysmon: time.c has the P fire channel timers while the mode is on)
 *   first ends the mode for good (lone_share):
 *   it sets lone_state, runs membarrier, and waits until lone_inop reads 0.
 *   Proof, with lock.c's: membarrier puts a full barrier B at some point of
 *   the owner's program order. If B precedes the owner's store of
 *   lone_inop = 1, the owner's load of lone_state after it reads the
 *   sharer's store (made before membarrier), and the operation takes the
 *   CAS path. If B follows it, that store was visible before membarrier
 *   returned, so the sharer waits for the owner's release of lone_inop,
 *   and its acquire load orders the plain operation before everything the
 *   sharer does next. Each owner operation re-reads lone_state after its
 *   store, so from then on every operation is atomic. Other operations
 *   (select, close) never run plain, but their callers share first all the
 *   same (lone_share_for). The mode never comes back: a process that
 *   lets a plain thread send pays one membarrier and then runs as at any
 *   number of processors. Without membarrier (glock_fenced, or
 *   GOCDEBUG=lockfence=1) it never starts.
 *
 * Handoffs (under the lock)
 *   serve() hands published elements at the head to parked receivers and
 *   free slots at the tail to parked senders' values, oldest first, while
 *   both exist. (An element or room still in flight is left alone: it
 *   belongs to an operation that won its position before any flag was
 *   raised, which the parker's re-check saw, so then nobody parked.) So a
 *   receiver that finds parked senders takes the head and the oldest
 *   sender's value moves into the freed tail slot (FIFO holds); a sender
 *   that finds a parked receiver goes through the ring to it (Go copies
 *   straight into the receiver: one copy more here, on a path that parks
 *   and readies anyway). Unbuffered channels hand values over directly,
 *   as before: a sender that finds a parked receiver copies the value
 *   into the receiver's destination and readies it (into runnext); a
 *   receiver that finds a parked sender does the reverse.
 *   close sets CLOSED (new fast sends fail their CAS and panic in the slow
 *   path), lets parked receivers have the elements of sends that won a
 *   position before it (waiting out any still in flight: Go delivers a
 *   send that happened before the close; with receivers parked none can
 *   be, but close does not rely on it), then wakes every receiver
 *   (destination zeroed, success false) and every sender (which panics).
 *   A receiver of a closed channel gets the remaining elements; it sees
 *   ok=false only when recvpos == sendpos (none left, none in flight).
 *   Debug builds can stall a fast send in flight (gchan_test_inflight_hook,
 *   chan.h) so that tests put a close and receivers inside that window.
 *
 * Select (selectgo)
 *   Channels are locked in address order (each distinct channel once, so a
 *   channel may appear in several cases). Pass 1, with every channel
 *   locked, notes the cases that look ready and tries them in a uniformly
 *   random order, each draw uniform among those not yet tried: the first
 *   that proceeds is what Go's random poll order would choose. A case that
 *   does not look ready is not tried: for an unbuffered channel the look is
 *   exact under the lock (its queues and closed flag cannot change); a
 *   ring's positions move under fast operations (the locks do not exclude
 *   them: only atomics touch the ring), and one that becomes ready is caught
 *   by pass 2's re-check. Pass 2 queues one sudog per case (in case order,
 *   or in a random one when a channel is named twice, so that which of its
 *   cases a waker finds first is drawn), raises the flags, then re-checks
 *   every buffered case as a parking receiver or sender does; if one became
 *   ready (or in flight) it removes its sudogs and starts again from pass 1.
 *   The first waker to win the CAS on g.selectdone claims the select; it
 *   records the winning sudog in g.param. The select then relocks the
 *   channels of its other sudogs (not the winner's, unless another case
 *   uses it too: its waker dequeued the sudog there) and removes them.
 *   Before all that, pass 0 looks at the cases racily, in case order, and
 *   tries one of those that look ready (drawn uniformly when several do)
 *   under its own channel's lock alone (one locked instruction, not one per
 *   channel); only if it is not ready after all are all channels locked
 *   (not in the race build, nor above 64 cases). Passes 1 and 2 are out of
 *   line (selectgo_all), so a select that pass 0 completes pays for none of
 *   their scratch. A select whose cases are not ready draws no random
 *   number. The lock order is built from case order and the sudogs are
 *   indexed by case, so that the branches that depend on which case is
 *   ready go the same way when the same case is ready time after time.
 *
 * Creators' hooks (chan/chan.h)
 *   The layer that makes a channel may hide its buffer (len and cap then
 *   report 0) and register a callback that the last goc_chan_release calls,
 *   with no lock held, just before the free. Both are generic: time uses
 *   them for its timer channels, and chan knows nothing of time.
 *
 * Invariants
 *   - At most one of recvq, sendq holds live waiters (unless one select has
 *     both a send and a receive case on the channel); claimed selects'
 *     sudogs may linger until their owner removes them (dequeue() and
 *     has_live() drop them).
 *   - With the lock free: both RECVWAIT bits == (recvq non-empty), both
 *     SENDWAIT bits == (sendq non-empty), CLOSED == closed; closed never
 *     goes back.
 *   - recvpos <= sendpos <= recvpos + cap (as ordinals); each slot's turn
 *     is one of the three values above for its position.
 *   - A live receiver is parked only on a ring that was exactly empty, with
 *     no operation in flight, when it raised RECVWAIT (and every element
 *     sent since went through the lock and is being served to it); a live
 *     sender only on one that was exactly full.
 *   - A sudog is in a queue only while its goroutine is parked on it; it is
 *     dequeued before its goroutine is readied, and after goready the waker
 *     no longer touches it.
 *
 * Lock order: channel locks in increasing address order (select); a channel
 *   lock may be held while calling goready (which takes scheduler locks); no
 *   channel lock is held across a switch except through gopark's unlockf.
 *
 * Rejected: the ring under the channel lock (goc before: a glock CAS per
 * operation plus the index bookkeeping, 149 instructions and ~21.6 ns per
 * buffered item at one processor; the lock-free ring has the same two
 * locked RMWs per item, one CAS per side, and ~135 instructions, ~18 ns).
 * The WAIT flags in a word of their own: a fast receiver that read "no
 * receiver parked" could CAS later and take the element a parked receiver
 * was owed, after the server had claimed that receiver (a select cannot be
 * unclaimed); with the flag in recvpos that CAS fails. Each side's flag in
 * its own word only (goc before): a fast send then had to load recvpos
 * after its CAS to learn of parked receivers (a Dekker pair with the
 * parker's RMW and re-read), and a receive sendpos, so each operation read
 * the line the other side was writing; with both flags in both words the
 * CAS alone decides, and bench_buffered at two processors went from 44.6
 * to 39.6 ns per item (16 ABBA rounds, 0.89; one processor the same).
 * Parking on an element in flight, trusting its sender to serve: the
 * sender looks at nothing after its CAS. A lone mode that comes back once
 * the other thread is done: each return would cost every sharer's next
 * operation a membarrier (~0.35 us here), so a plain thread sending in a
 * loop would pay one per item. Vyukov's absolute
 * turns (slot i starts at i): a big ring's every page would be written at
 * make. Polling in select (busy CPU); first-ready select (unfair). A
 * random poll order drawn before pass 1 (Go's): a Fisher-Yates shuffle
 * costs ~60 instructions for two cases, drawn in every select that parks,
 * where a set of the ready cases costs nothing to draw from when it is
 * empty.
 */
#define _GNU_SOURCE
#include <goc/chan.h>

#include "chan/chan.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/assert.h"
#include "sched/sched.h"

#include "base/race.h"

typedef glist waitq; /* of sudog.link, FIFO */

/* The position words: a position in the low 61 bits, flags above. Each
 * WAIT flag is in both words, so that a fast operation's CAS on its own
 * word fails while anyone waits on either side (design comment). */
#define POS_MASK ((UINT64_C(1) << 61) - 1)
#define SP_CLOSED (UINT64_C(1) << 63)   /* sendpos: the channel is closed */
#define SP_SENDWAIT (UINT64_C(1) << 62) /* sendpos: sendq is not empty */
#define SP_RECVWAIT (UINT64_C(1) << 61) /* sendpos: recvq is not empty */
#define RP_RECVWAIT (UINT64_C(1) << 63) /* recvpos: recvq is not empty */
#define RP_SENDWAIT (UINT64_C(1) << 62) /* recvpos: sendq is not empty */

enum { SLOT_HDR = 8 }; /* a slot: the turn word, then the element */

struct goc_chan {
    /* What every operation reads first, and what unbuffered channels and
     * the slow paths use, together in the first 64 bytes (release build):
     * a select over unbuffered channels touches one line per channel. */
    size_t dataqsiz; /* immutable: cap */
    size_t elemsize; /* immutable */
    uint64_t bubble; /* immutable: id of the synctest bubble that made it, 0: none */
    glock lock;
    bool closed;        /* lock */
    bool hidebuf;       /* immutable once shared: len and cap report 0 */
    waitq recvq, sendq; /* lock */
    /* The ring's shape, for the fast paths (immutable). */
    size_t slotsize;        /* bytes per ring slot, 8-aligned */
    uint64_t idxmask;       /* one_lap - 1 (0 when unbuffered) */
    uint64_t one_lap;       /* the least power of two above cap (0: unbuffered) */
    void (*onlast)(void *); /* immutable once shared: called by the last release */
    void *onlast_arg;
    _Atomic long refs; /* references; the last release frees */
    /* The positions, 64 bytes apart so that they never share a line
     * (senders write one, receivers the other). Positions move by CAS
     * (fast paths, lock holders) or, while their word's WAIT flag is set,
     * by a lock holder's store; flags change only under the lock.
     * An unbuffered channel's allocation ends here (CHAN_UNBUFFERED_BYTES):
     * it never touches the positions or the ring, and stays as small as
     * before the ring (a context's done channel, say: programs that make
     * and free many pay for every byte in malloc). */
    char pad0[64];
    _Atomic uint64_t sendpos; /* position | SP_CLOSED | SP_SENDWAIT | SP_RECVWAIT */
    char pad1[64 - sizeof(uint64_t)];
    _Atomic uint64_t recvpos; /* position | RP_RECVWAIT | RP_SENDWAIT */
    char pad2[64 - sizeof(uint64_t)];
    _Alignas(16) unsigned char buf[]; /* the ring: dataqsiz slots of slotsize */
};

enum { MAX_CHAN_BYTES = 1L << 40 };

#define CHAN_UNBUFFERED_BYTES offsetof(goc_chan, pad0)

/* ---- the ring's arithmetic ---- */

static inline unsigned char *slot_at(const goc_chan *c, uint64_t pos) {
    return (unsigned char *)c->buf + (pos & c->idxmask) * c->slotsize;
}

static inline _Atomic uint64_t *slot_turn(unsigned char *s) {
    return (_Atomic uint64_t *)(void *)s;
}

/* The lap of a position: its index bits cleared (pos - idx). */
static inline uint64_t lap_of(const goc_chan *c, uint64_t pos) { return pos & ~c->idxmask; }

/* The position after pos, whose index is idx: the next index, or index 0
 * of the next lap. */
static inline uint64_t pos_next_idx(uint64_t pos, uint64_t idx, uint64_t cap, uint64_t one_lap) {
    return GOC_LIKELY(idx + 1 < cap) ? pos + 1 : pos - idx + one_lap;
}

static inline uint64_t pos_next(const goc_chan *c, uint64_t pos) {
    return pos_next_idx(pos, pos & c->idxmask, c->dataqsiz, c->one_lap);
}

/* A position as an ordinal (elements sent or received so far, mod 2^62
 * laps); for counts and assertions. */
static inline uint64_t pos_ord(const goc_chan *c, uint64_t pos) {
    /* ctz, not popcount of idxmask: without -mpopcnt GCC calls libgcc's
     * __popcountdi2, code outside goc's text that the preemption signal
     * took for the program's own, and switched out a goroutine holding a
     * channel lock there. */
    GOC_ASSERT(c->one_lap != 0);
    int shift = __builtin_ctzll(c->one_lap);
    return (pos >> shift) * c->dataqsiz + (pos & c->idxmask);
}

/* Elements between recvpos h and sendpos t (masked), read at different
 * times: clamped to [0, cap]. */
static size_t ring_count(const goc_chan *c, uint64_t t, uint64_t h) {
    uint64_t ot = pos_ord(c, t), oh = pos_ord(c, h);
    if (ot <= oh)
        return 0;
    return ot - oh > c->dataqsiz ? c->dataqsiz : (size_t)(ot - oh);
}

/* ---- the lone processor's rings (design comment) ---- */

#if defined(__x86_64__) && !defined(GOC_RACE)
#define CHAN_LONE 1
#else
#define CHAN_LONE 0
#endif

enum { LONE_ON, LONE_ENDING, LONE_OFF };

/* LONE_ON until a thread other than the lone processor's owner touches a
 * ring; then LONE_ENDING while that thread waits out a plain operation,
 * then LONE_OFF for the life of the process. Written by sharers
 * (lone_share) only. */
static _Atomic uint32_t lone_state = CHAN_LONE ? LONE_ON : LONE_OFF;
/* 1 while the lone owner is inside a plain ring operation. Written only by
 * the lone owner: one thread at a time (gsched_lone_begin), and a P moves
 * between threads only through orderings that put the old owner's last
 * write before the new owner's first (proc.c). */
static _Atomic uint32_t lone_inop;

/* A thread that is not the lone owner is about to touch a ring: end the
 * lone mode for good, and wait until no plain operation is in flight. The
 * barrier makes the owner see LONE_ENDING before its next operation or
 * makes its lone_inop of the one in flight visible to us (as for lock.c's
 * sleepers); the acquire load that reads its 0 orders its plain writes
 * before our first atomic one. */
static __attribute__((noinline, cold)) void lone_share(void) {
    uint32_t on = LONE_ON;
    atomic_compare_exchange_strong(&lone_state, &on, LONE_ENDING);
    if (!glock_fenced && !glock_membarrier()) {
        /* Cannot happen once registered (lock.c); should it, a plain
         * operation is a few dozen instructions on a running thread:
         * look for it for far longer than one can take. */
        for (int i = 0; i < 1000; i++)
            sched_yield();
    }
    while (atomic_load_explicit(&lone_inop, memory_order_acquire))
        sched_yield();
    atomic_store_explicit(&lone_state, LONE_OFF, memory_order_release);
}

/* For the operations that do not run plain (select, close, and a send or
 * receive that could not: chansend_ring_shared): a caller that is not the
 * lone owner ends the lone mode before it touches c's ring (the owner asks
 * as lone_begin does, and lets go at once). */
static inline void lone_share_for(const goc_chan *c) {
    if (CHAN_LONE && c->dataqsiz != 0 &&
        GOC_UNLIKELY(atomic_load_explicit(&lone_state, memory_order_acquire) != LONE_OFF) &&
        !gsched_runq_lone_now())
        lone_share();
}

/* May a plain operation run? (The fast paths' first test: while it is
 * false, which is for good, they pay one load.) */
static inline bool lone_maybe(void) {
    return CHAN_LONE &&
           GOC_UNLIKELY(atomic_load_explicit(&lone_state, memory_order_acquire) != LONE_OFF);
}

/* Start a plain operation: the owner's pin, with lone_inop set (finish
 * with lone_finish); NULL with nothing held (the caller then goes the CAS
 * way, which shares first: chansend_ring_shared). Only while lone_maybe.
 * Inline in the plain operations themselves (chansend_lone,
 * chanrecv_lone), as gsched_lone_begin is (sched.h), and those keep no
 * frame on their common way (elements of 8 bytes; the rest, and the
 * preemption, are tail calls), so that an operation is one tail call from
 * goc_chan_send or goc_chan_recv. An item through bench_buffered's ring
 * took 244 instructions when the pin and the plain operation were calls
 * of their own (callgrind); 172 with them inline and frameless (0.76 of
 * the time), 164 once the pin became one add (sched.h). */
static inline __attribute__((always_inline)) gsched_pin *lone_begin(void) {
    gsched_pin *pin = gsched_lone_begin();
    if (GOC_UNLIKELY(!pin))
        return NULL;
    if (GOC_UNLIKELY(glock_fenced)) {
        /* No membarrier, so no handshake: no plain operation ever ran
         * (glock_fenced never changes), and none will. */
        gsched_unpin(pin);
        atomic_store_explicit(&lone_state, LONE_OFF, memory_order_release);
        return NULL;
    }
    atomic_store_explicit(&lone_inop, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the store, then the load: lone_share's proof */
    if (GOC_UNLIKELY(atomic_load_explicit(&lone_state, memory_order_relaxed) != LONE_ON)) {
        atomic_store_explicit(&lone_inop, 0, memory_order_release);
        gsched_unpin(pin);
        return NULL;
    }
    return pin;
}

static inline __attribute__((always_inline)) void lone_finish(gsched_pin *pin) {
    atomic_store_explicit(&lone_inop, 0, memory_order_release);
    gsched_unpin(pin);
}

bool gchan_lone_mode(void) {
    return atomic_load_explicit(&lone_state, memory_order_acquire) == LONE_ON;
}

/* ---- invariants (Debug builds) ---- */

#ifdef GOC_DEBUG
/* The goroutine of q's first live waiter, or NULL when every sudog in q is
 * a select's that some other waker already claimed (such a sudog stays
 * queued until its owner relocks and removes it; dequeue() skips it).
 * Stops at the first live waiter, so it is O(1) when there is one and
 * short otherwise (claimed sudogs are removed promptly). */
static const g *waitq_first_live(const waitq *q) {
    glist_for_each(n, q) {
        const sudog *s = glist_entry(n, sudog, link);
        if (!s->isselect || atomic_load(&s->g->selectdone) == 0)
            return s->g;
    }
    return NULL;
}
#define waitq_only_claimed(q) (waitq_first_live(q) == NULL)
#endif

/* The design comment's invariants; c locked, its flags in step with its
 * queues. A select's claim only ever goes from 0 to 1 while its sudog is
 * queued here, which can only make waitq_only_claimed truer, so the checks
 * hold without the other locks. Fast operations run meanwhile: the
 * positions are read in an order that makes the bounds hold anyway
 * (sendpos, recvpos, sendpos again: t1 <= h + cap and h <= t2). */
static inline void chan_assert(goc_chan *c) {
#ifdef GOC_DEBUG
    glock_assert_held(&c->lock);
    GOC_ASSERT((c->recvq.first == NULL) == (c->recvq.last == NULL));
    GOC_ASSERT((c->sendq.first == NULL) == (c->sendq.last == NULL));
    GOC_ASSERT(!c->recvq.first || (!c->recvq.first->prev && !c->recvq.last->next));
    GOC_ASSERT(!c->sendq.first || (!c->sendq.first->prev && !c->sendq.last->next));
    if (c->dataqsiz == 0) {
        GOC_ASSERT(c->idxmask == 0 && c->slotsize == 0); /* no positions: see goc_chan */
    } else {
        uint64_t t1 = atomic_load(&c->sendpos), h = atomic_load(&c->recvpos);
        uint64_t t2 = atomic_load(&c->sendpos);
        GOC_ASSERT(c->idxmask >= c->dataqsiz && (c->idxmask & (c->idxmask + 1)) == 0);
        GOC_ASSERT(((t1 & SP_CLOSED) != 0) == c->closed);
        GOC_ASSERT(((t1 & SP_SENDWAIT) != 0) == (c->sendq.first != NULL));
        GOC_ASSERT(((t1 & SP_RECVWAIT) != 0) == (c->recvq.first != NULL));
        GOC_ASSERT(((h & RP_RECVWAIT) != 0) == (c->recvq.first != NULL));
        GOC_ASSERT(((h & RP_SENDWAIT) != 0) == (c->sendq.first != NULL));
        GOC_ASSERT((t1 & ~POS_MASK) == (t2 & ~POS_MASK)); /* only we change flags */
        t1 &= POS_MASK, t2 &= POS_MASK, h &= POS_MASK;
        GOC_ASSERT((t1 & c->idxmask) < c->dataqsiz && (t2 & c->idxmask) < c->dataqsiz);
        GOC_ASSERT((h & c->idxmask) < c->dataqsiz);
        GOC_ASSERT(pos_ord(c, h) <= pos_ord(c, t2));
        GOC_ASSERT(pos_ord(c, t1) <= pos_ord(c, h) + c->dataqsiz);
        GOC_ASSERT(c->one_lap == c->idxmask + 1);
        /* The head slot: free or filled for h's lap, or still being
         * emptied by the receiver of h - one_lap. */
        uint64_t turn = atomic_load(slot_turn(slot_at(c, h))), lap = lap_of(c, h);
        if ((atomic_load(&c->recvpos) & POS_MASK) == h) /* h was current meanwhile */
            GOC_ASSERT(turn == lap || turn == lap + 1 || turn + c->one_lap == lap + 1);
    }
    /* At most one queue of an unbuffered channel holds live waiters,
     * except for one select that both sends and receives on c (it never
     * pairs with itself); any other arrival would have paired with it.
     * (A ring holds both only for such a select too: a goroutine parks
     * only on a ring exactly empty or exactly full with nothing in
     * flight, and every later operation takes the lock and serves. Not
     * asserted: a ring's select sudogs may be claimed elsewhere.) */
    if (c->dataqsiz == 0 && !waitq_only_claimed(&c->recvq)) {
        const g *sg = waitq_first_live(&c->sendq);
        GOC_ASSERT(sg == NULL || sg == waitq_first_live(&c->recvq));
    }
    /* A closed channel has no live waiter at all. */
    if (c->closed) {
        GOC_ASSERT(waitq_only_claimed(&c->recvq));
        GOC_ASSERT(waitq_only_claimed(&c->sendq));
    }
    GOC_ASSERT(atomic_load_explicit(&c->refs, memory_order_relaxed) >= 0);
#else
    (void)c;
#endif
}

/* ---- wait queues (c locked) ---- */

/* Set or clear flag in a position word (c locked: only lock holders
 * change flags); no RMW when it is already right. */
static inline void set_flag(_Atomic uint64_t *word, uint64_t flag, bool on) {
    uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
    if (on && !(v & flag))
        atomic_fetch_or_explicit(word, flag, memory_order_seq_cst);
    else if (!on && (v & flag))
        atomic_fetch_and_explicit(word, ~flag, memory_order_seq_cst);
}

/* Make the WAIT flags say whether the queues are empty (c locked). */
static void sync_flags(goc_chan *c) {
    glock_assert_held(&c->lock);
    if (c->dataqsiz == 0)
        return;
    bool recvwait = c->recvq.first != NULL, sendwait = c->sendq.first != NULL;
    set_flag(&c->recvpos, RP_RECVWAIT, recvwait);
    set_flag(&c->sendpos, SP_RECVWAIT, recvwait);
    set_flag(&c->sendpos, SP_SENDWAIT, sendwait);
    set_flag(&c->recvpos, RP_SENDWAIT, sendwait);
}

static inline void enqueue(goc_chan *c, waitq *q, sudog *s) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(q == &c->recvq || q == &c->sendq);
    GOC_ASSERT(s->c == c && s->g != NULL);
    GOC_ASSERT(!s->link.next && !s->link.prev && q->first != &s->link);
    glist_push_back(q, &s->link);
}

static void remove_sudog(goc_chan *c, waitq *q, sudog *s) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(s->c == c);
    if (!glist_contains_node(q, &s->link))
        return; /* not queued (already taken by a waker) */
    glist_remove(q, &s->link);
}

/* Pop the first waiter that can still be woken: a select's sudog counts
 * only if this waker wins the select. */
static inline __attribute__((always_inline)) sudog *dequeue(goc_chan *c, waitq *q) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(q == &c->recvq || q == &c->sendq);
    for (;;) {
        glist_node *n = glist_pop_front(q);
        if (!n)
            return NULL;
        sudog *s = glist_entry(n, sudog, link);
        GOC_ASSERT(s->c == c && s->g != NULL);
        if (s->isselect) {
            /* A select already claimed elsewhere is passed over on a plain
             * load (a failed CAS costs a locked instruction all the same):
             * its selectdone stays 1 until it has removed every sudog, as
             * has_live() relies on too. */
            uint32_t z = 0;
            if (atomic_load_explicit(&s->g->selectdone, memory_order_relaxed) != 0 ||
                !atomic_compare_exchange_strong(&s->g->selectdone, &z, 1))
                continue;
        }
        return s;
    }
}

/* Whether q has a waiter that may still be woken; drops the claimed
 * selects' sudogs at its head (as dequeue() would), keeping the flags in
 * step. A live answer may turn stale (another channel's waker may claim a
 * select meanwhile): callers then only queue behind it, and dequeue()
 * drops it later. */
static bool has_live(goc_chan *c, waitq *q) {
    glock_assert_held(&c->lock);
    bool dropped = false;
    while (q->first) {
        const sudog *s = glist_entry(q->first, sudog, link);
        if (!s->isselect || atomic_load_explicit(&s->g->selectdone, memory_order_relaxed) == 0)
            break;
        glist_pop_front(q);
        dropped = true;
    }
    if (dropped)
        sync_flags(c);
    return q->first != NULL;
}

/* Sudogs a lock holder served, readied once it has unlocked: a woken
 * goroutine may release the last reference to c at once. FIFO, through
 * sudog.waitlink (as close always did; a woken select no longer walks
 * its list). */
typedef struct {
    sudog *first, *last;
} wakelist;

static void wake_push(wakelist *wl, sudog *s, bool success) {
    s->success = success;
    G_STORE(s->g->param, s);
    GOC_ASSERT(!s->link.next && !s->link.prev); /* dequeued before readied */
    s->waitlink = NULL;
    if (wl->last)
        wl->last->waitlink = s;
    else
        wl->first = s;
    wl->last = s;
}

/* No lock held. */
static __attribute__((noinline)) void wake_list(wakelist *wl) {
    sudog *s = wl->first;
    while (s) {
        g *gp = s->g;
        sudog *next = s->waitlink; /* read before goready: s dies with its waiter */
        goready(gp);
        s = next;
    }
    wl->first = wl->last = NULL;
}

/* Most lists are empty (select on unbuffered channels never fills one). */
static inline void wake_all(wakelist *wl) {
    if (wl->first)
        wake_list(wl);
}

/* Element copies are inline for the common small sizes: a memcpy call
 * with a variable length costs a call and a size dispatch (~12
 * instructions) where an 8-byte element is one load and one store. A
 * constant-size memcpy compiles to plain moves and is alignment-safe
 * (elements may point anywhere the user likes). */
static inline __attribute__((always_inline)) void elem_copy(void *dst, const void *src, size_t n) {
    if (!dst)
        return;
    if (n == 8) { /* the common case first, before any jump table */
        memcpy(dst, src, 8);
        return;
    }
    switch (n) {
    case 0:
        return;
    case 1:
        memcpy(dst, src, 1);
        return;
    case 2:
        memcpy(dst, src, 2);
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, n);
    }
}

static inline void elem_zero(void *dst, size_t n) {
    if (!dst)
        return;
    switch (n) {
    case 0:
        return;
    case 8:
        memset(dst, 0, 8);
        return;
    default:
        memset(dst, 0, n);
    }
}

/* ---- ring slots ---- */

/* Copy ep into slot s, won for a position of lap `lap`, and publish it:
 * the store is the sender's last touch of c. (The sizes are passed in:
 * after its CAS a fast path would have to load c's fields again.) */
static inline __attribute__((always_inline)) void slot_fill(unsigned char *s, uint64_t lap,
                                                            const void *ep, size_t elemsize) {
    GOC_ASSERT(atomic_load_explicit(slot_turn(s), memory_order_relaxed) == lap);
    elem_copy(s + SLOT_HDR, ep, elemsize);
    grace_release(s);
    atomic_store_explicit(slot_turn(s), lap + 1, memory_order_release);
}

/* Copy slot s's element (won for a position of lap `lap`) into ep and
 * free the slot for the next lap: the store is the receiver's last touch
 * of c. */
static inline __attribute__((always_inline)) void
slot_drain(unsigned char *s, uint64_t lap, void *ep, size_t elemsize, uint64_t one_lap) {
    GOC_ASSERT(atomic_load_explicit(slot_turn(s), memory_order_relaxed) == lap + 1);
    grace_acquire(s);
    elem_copy(ep, s + SLOT_HDR, elemsize);
    atomic_store_explicit(slot_turn(s), lap + one_lap, memory_order_release);
}

/* Wait a little for an operation in flight (between its position CAS and
 * its turn store). It runs on a thread of its own and needs no lock, so
 * this may hold locks: spin first, then give the CPU away (its thread may
 * have been preempted by the kernel). */
static void ring_spin(unsigned *spins) {
    if (++*spins < 32)
        gsched_procyield(20);
    else
        sched_yield();
}

/* Take the oldest element into ep: true, or false when the ring is
 * exactly empty (recvpos == sendpos: nothing sent, nothing in flight).
 * Waits out a send in flight at the head. c locked (the lock holder may
 * move recvpos whatever its flag). */
static bool ring_take_locked(goc_chan *c, void *ep) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(c->dataqsiz > 0);
    unsigned spins = 0;
    uint64_t v = atomic_load_explicit(&c->recvpos, memory_order_relaxed);
    for (;;) {
        uint64_t h = v & POS_MASK, lap = lap_of(c, h);
        unsigned char *s = slot_at(c, h);
        if (atomic_load_explicit(slot_turn(s), memory_order_acquire) == lap + 1) {
            if (atomic_compare_exchange_weak_explicit(&c->recvpos, &v,
                                                      pos_next(c, h) | (v & ~POS_MASK),
                                                      memory_order_seq_cst, memory_order_relaxed)) {
                slot_drain(s, lap, ep, c->elemsize, c->one_lap);
                return true;
            }
            continue;
        }
        uint64_t v2 = atomic_load_explicit(&c->recvpos, memory_order_seq_cst);
        if (v2 != v) { /* a fast receiver took h */
            v = v2;
            continue;
        }
        /* h is current: sendpos at h means nothing at or past it. */
        if ((atomic_load_explicit(&c->sendpos, memory_order_seq_cst) & POS_MASK) == h)
            return false;
        ring_spin(&spins); /* h's sender (or the slot's last receiver) in flight */
    }
}

/* Append ep: true, or false when the ring is exactly full (sendpos ==
 * recvpos + one_lap: cap elements and no receive in flight). Waits out a
 * receive in flight at the tail. c locked and not closed. */
static bool ring_put_locked(goc_chan *c, const void *ep) {
    glock_assert_held(&c->lock);
    GOC_ASSERT(c->dataqsiz > 0 && !c->closed);
    unsigned spins = 0;
    uint64_t v = atomic_load_explicit(&c->sendpos, memory_order_relaxed);
    for (;;) {
        GOC_ASSERT(!(v & SP_CLOSED));
        uint64_t p = v & POS_MASK, lap = lap_of(c, p);
        unsigned char *s = slot_at(c, p);
        if (atomic_load_explicit(slot_turn(s), memory_order_acquire) == lap) {
            if (atomic_compare_exchange_weak_explicit(&c->sendpos, &v,
                                                      pos_next(c, p) | (v & ~POS_MASK),
                                                      memory_order_seq_cst, memory_order_relaxed)) {
                slot_fill(s, lap, ep, c->elemsize);
                return true;
            }
            continue;
        }
        uint64_t v2 = atomic_load_explicit(&c->sendpos, memory_order_seq_cst);
        if (v2 != v) { /* a fast sender took p */
            v = v2;
            continue;
        }
        uint64_t h = atomic_load_explicit(&c->recvpos, memory_order_seq_cst) & POS_MASK;
        if (h + c->one_lap == p)
            return false;
        ring_spin(&spins); /* the receiver of p's previous lap in flight */
    }
}

/* The parking re-checks (c locked, the caller's WAIT flag just raised in
 * both words: ring_raise_wait). Neither position moves any more but under
 * the lock: each read sees every fast operation that won a position before
 * the flag, its word's modification order being the flag's RMW's (the
 * design comment's "No lost wakeup"). Close's wait uses the first too. */
static bool ring_exactly_empty(goc_chan *c) {
    uint64_t t = atomic_load_explicit(&c->sendpos, memory_order_seq_cst) & POS_MASK;
    uint64_t h = atomic_load_explicit(&c->recvpos, memory_order_seq_cst) & POS_MASK;
    return t == h;
}

static bool ring_exactly_full(goc_chan *c) {
    uint64_t h = atomic_load_explicit(&c->recvpos, memory_order_seq_cst) & POS_MASK;
    uint64_t t = atomic_load_explicit(&c->sendpos, memory_order_seq_cst) & POS_MASK;
    return h + c->one_lap == t;
}

/* A parking sender (send) or receiver raises its WAIT flag in both words
 * (c locked, its sudog queued), then re-checks: true if it may park (the
 * ring exactly full, or exactly empty, with nothing in flight). */
static bool ring_raise_wait(goc_chan *c, bool send) {
    if (send) {
        atomic_fetch_or_explicit(&c->sendpos, SP_SENDWAIT, memory_order_seq_cst);
        atomic_fetch_or_explicit(&c->recvpos, RP_SENDWAIT, memory_order_seq_cst);
        return ring_exactly_full(c);
    }
    atomic_fetch_or_explicit(&c->recvpos, RP_RECVWAIT, memory_order_seq_cst);
    atomic_fetch_or_explicit(&c->sendpos, SP_RECVWAIT, memory_order_seq_cst);
    return ring_exactly_empty(c);
}

/* Hand published elements at the head to parked receivers, and free
 * slots at the tail to parked senders' values, oldest first, for as long
 * as both exist; the served sudogs go on wl. While a WAIT flag is set only
 * lock holders move either position, so a plain store moves it. An
 * element or a slot still in flight is left alone: its operation won its
 * position before the flag was raised, so the parker's re-check saw it
 * and whoever waits on it is not parked (design comment). c locked. */
static void serve(goc_chan *c, wakelist *wl) {
    glock_assert_held(&c->lock);
    if (c->dataqsiz == 0)
        return;
    bool moved;
    do {
        moved = false;
        for (;;) {
            uint64_t v = atomic_load_explicit(&c->recvpos, memory_order_relaxed);
            if (!(v & RP_RECVWAIT))
                break;
            uint64_t h = v & POS_MASK, lap = lap_of(c, h);
            unsigned char *s = slot_at(c, h);
            if (atomic_load_explicit(slot_turn(s), memory_order_acquire) != lap + 1)
                break;
            sudog *sg = dequeue(c, &c->recvq);
            if (!sg)
                break;
            atomic_store_explicit(&c->recvpos, pos_next(c, h) | (v & ~POS_MASK),
                                  memory_order_seq_cst);
            slot_drain(s, lap, sg->elem, c->elemsize, c->one_lap);
            grace_release(sg);
            wake_push(wl, sg, true);
            moved = true;
        }
        for (;;) {
            uint64_t v = atomic_load_explicit(&c->sendpos, memory_order_relaxed);
            if (!(v & SP_SENDWAIT))
                break;
            uint64_t p = v & POS_MASK, lap = lap_of(c, p);
            unsigned char *s = slot_at(c, p);
            if (atomic_load_explicit(slot_turn(s), memory_order_acquire) != lap)
                break;
            sudog *sg = dequeue(c, &c->sendq);
            if (!sg)
                break;
            atomic_store_explicit(&c->sendpos, pos_next(c, p) | (v & ~POS_MASK),
                                  memory_order_seq_cst);
            slot_fill(s, lap, sg->elem, c->elemsize);
            wake_push(wl, sg, true);
            moved = true;
        }
        sync_flags(c);
    } while (moved);
}

/* ---- make / refcount ---- */

goc_chan *goc_chan_make(size_t elem_size, size_t cap) {
    if (elem_size > MAX_CHAN_BYTES || cap > MAX_CHAN_BYTES ||
        (elem_size && cap > MAX_CHAN_BYTES / elem_size)) {
        errno = EINVAL;
        return NULL;
    }
    /* Below 2^45 bytes: no overflow. */
    size_t slotsize = cap ? (SLOT_HDR + elem_size + 7) & ~(size_t)7 : 0;
    size_t bytes = cap ? sizeof(goc_chan) + slotsize * cap : CHAN_UNBUFFERED_BYTES;
    goc_chan *c = gmem_zalloc(bytes);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    glock_init(&c->lock, LR_HCHAN);
    c->bubble = gsched_bubble_id(); /* a channel made in a bubble belongs to it */
    c->dataqsiz = cap;
    c->elemsize = elem_size;
    c->slotsize = slotsize;
    /* one_lap: the least power of two above cap (cap <= 2^40). */
    c->one_lap = cap ? UINT64_C(1) << (64 - __builtin_clzll((unsigned long long)cap)) : 0;
    c->idxmask = cap ? c->one_lap - 1 : 0;
    if (cap) {
        atomic_init(&c->sendpos, 0); /* gmem_zalloc zeroed the turns: every slot free for lap 0 */
        atomic_init(&c->recvpos, 0);
    }
    atomic_init(&c->refs, 1);
    return c;
}

goc_chan *goc_chan_retain(goc_chan *c) {
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void goc_chan_release(goc_chan *c) {
    if (!c)
        return;
    long r = gref_drop(&c->refs);
    if (r > 1)
        return;
    if (r < 1)
        goc_panic("goc_chan_release: channel released more times than retained");
    glock_lock(&c->lock);
    chan_assert(c);
    bool busy = c->recvq.first || c->sendq.first;
    glock_unlock(&c->lock);
    if (busy)
        goc_panic("goc_chan_release: channel freed while goroutines are blocked on it");
    if (c->onlast)
        c->onlast(c->onlast_arg);
    free(c);
}

void gchan_hide_buffer(goc_chan *c) { c->hidebuf = true; }

void gchan_on_last_release(goc_chan *c, void (*fn)(void *arg), void *arg) {
    c->onlast = fn;
    c->onlast_arg = arg;
}

/* Elements sent and not yet received (a send or receive in flight counts
 * as done), without the lock: a snapshot, as Go's len is. */
static size_t ring_len(goc_chan *c) {
    if (c->dataqsiz == 0)
        return 0;
    uint64_t h = atomic_load_explicit(&c->recvpos, memory_order_acquire) & POS_MASK;
    uint64_t t = atomic_load_explicit(&c->sendpos, memory_order_acquire) & POS_MASK;
    return ring_count(c, t, h);
}

size_t gchan_buffered(goc_chan *c) { return c ? ring_len(c) : 0; }

size_t goc_chan_len(goc_chan *c) { return !c || c->hidebuf ? 0 : ring_len(c); }

size_t goc_chan_cap(goc_chan *c) { return c && !c->hidebuf ? c->dataqsiz : 0; }

size_t gchan_elemsize(const goc_chan *c) { return c->elemsize; }

/* ---- send / recv ---- */

static bool unlock_chan(g *gp, void *arg) {
    (void)gp;
    glock_unlock(&((goc_chan *)arg)->lock);
    return true;
}

/* wake_direct's end when c's lock has sleepers (n: glock_unlock_begin's),
 * out of line so that the common path keeps nothing in callee-saved
 * registers: its calls are tail calls. */
static __attribute__((noinline)) void wake_direct_sleepers(goc_chan *c, uint32_t n, g *gp) {
    glock_unlock_slow(&c->lock, n);
    goready(gp);
}

/* The value has moved: mark sg's wait a success, unlock c and ready its
 * goroutine (c locked; unlocks it). */
static inline __attribute__((always_inline)) void wake_direct(goc_chan *c, sudog *sg) {
    g *gp = sg->g;
    G_STORE(gp->param, sg);
    sg->success = true;
    GOC_ASSERT(!sg->link.next && !sg->link.prev); /* dequeued before readied */
    chan_assert(c);
    uint32_t n = glock_unlock_begin(&c->lock);
    if (GOC_UNLIKELY(n != 0)) {
        wake_direct_sleepers(c, n, gp);
        return;
    }
    goready(gp);
}

/* send_direct and recv_direct for any element (a size other than 8, or a
 * value dropped), out of line: the 8-byte copy is the common path's. */
static __attribute__((noinline)) void send_direct_any(goc_chan *c, sudog *sg, const void *ep) {
    elem_copy(sg->elem, ep, c->elemsize);
    grace_release(sg);
    wake_direct(c, sg);
}

static __attribute__((noinline)) void recv_direct_any(goc_chan *c, sudog *sg, void *ep) {
    elem_copy(ep, sg->elem, c->elemsize);
    grace_acquire(sg);
    wake_direct(c, sg);
}

/* Hand ep to the parked receiver sg of unbuffered c (c locked; unlocks
 * it). */
static void send_direct(goc_chan *c, sudog *sg, const void *ep) {
    GOC_ASSERT(c->dataqsiz == 0);
    if (GOC_UNLIKELY(c->elemsize != 8 || !sg->elem)) {
        send_direct_any(c, sg, ep);
        return;
    }
    memcpy(sg->elem, ep, 8);
    grace_release(sg);
    wake_direct(c, sg);
}

/* Take a value from the parked sender sg of unbuffered c into ep (c
 * locked; unlocks it). */
static void recv_direct(goc_chan *c, sudog *sg, void *ep) {
    GOC_ASSERT(c->dataqsiz == 0);
    if (GOC_UNLIKELY(c->elemsize != 8 || !ep)) {
        recv_direct_any(c, sg, ep);
        return;
    }
    memcpy(ep, sg->elem, 8);
    grace_acquire(sg);
    wake_direct(c, sg);
}

/* synctest: a channel of a bubble is usable only from inside it (Go's
 * fatal errors, panics here), and a wait on it is durable. The fast path
 * outside bubbles is the test of c->bubble, on the line of c->dataqsiz. */
static _Noreturn __attribute__((cold, noinline)) void bubble_misuse(const char *op) {
    goc_panic("%s synctest channel from outside bubble", op);
}

static inline void bubble_check(goc_chan *c, const char *op) {
    if (GOC_UNLIKELY(c->bubble != 0) && gsched_bubble_id() != c->bubble)
        bubble_misuse(op);
}

static _Noreturn void block_forever(enum waitreason r) {
    for (;;)
        gopark(NULL, NULL, r);
}

/* The first test of the unbuffered send and receive: true with c locked
 * when the plain way applies; false, nothing done, for a nil channel, a
 * preemption request, a bubble's channel or a contended lock (their
 * _general versions then do it all). */
static inline __attribute__((always_inline)) bool unbuf_lock_plain(goc_chan *c) {
    if (GOC_UNLIKELY(!c || gsched_preempt_requested() || c->bubble != 0 ||
                     !glock_lock_fast(&c->lock)))
        return false;
    chan_assert(c);
    return true;
}

/* chansend_locked's rare ways, out of line (tail calls: see chansend). */
static _Noreturn __attribute__((noinline, cold)) void chansend_closed(goc_chan *c) {
    glock_unlock(&c->lock);
    goc_panic("send on closed channel");
}

static __attribute__((noinline)) void chansend_park(goc_chan *c, const void *ep) {
    /* Read before the park: once queued, c may go as soon as we are woken. */
    enum waitreason reason = c->bubble ? WAIT_SYNCTEST_CHAN_SEND : WAIT_CHAN_SEND;
    g *gp = getg();
    sudog my = {0};
    my.g = gp;
    my.elem = (void *)ep;
    my.c = c;
    G_STORE(gp->param, NULL);
    enqueue(c, &c->sendq, &my);
    chan_assert(c);
    glock_race_release(&c->lock);
    gopark(unlock_chan, c, reason);
    GOC_ASSERT(!my.link.next && !my.link.prev); /* the waker dequeued us */
    if (!my.success)
        goc_panic("send on closed channel");
}

/* A send on an unbuffered channel, c locked (unlocks it). */
static inline __attribute__((always_inline)) void chansend_locked(goc_chan *c, const void *ep) {
    GOC_ASSERT(c->dataqsiz == 0);
    if (GOC_UNLIKELY(c->closed))
        chansend_closed(c);
    sudog *sg = dequeue(c, &c->recvq);
    if (sg) {
        send_direct(c, sg, ep);
        return;
    }
    chansend_park(c, ep);
}

/* The whole unbuffered send, for what chansend's first test leaves: a nil
 * channel, a preemption request, a bubble's channel, a contended lock. */
static __attribute__((noinline)) void chansend_general(goc_chan *c, const void *ep) {
    gsched_preempt_check();
    if (!c)
        block_forever(WAIT_CHAN_SEND_NIL);
    bubble_check(c, "send on");
    glock_lock(&c->lock);
    chan_assert(c);
    chansend_locked(c, ep);
}

/* goc_chan_send is a dispatcher without a frame of its own: an unbuffered
 * channel (and nil) takes the whole send below, where a send always meets a
 * receiver or parks; a buffered one first tries the ring's fast path. Every
 * call here is a tail call (the rest is chansend_general's), so the way to
 * a parked receiver saves no callee-saved register. */
static __attribute__((noinline)) void chansend(goc_chan *c, const void *ep) {
    if (!unbuf_lock_plain(c)) {
        chansend_general(c, ep);
        return;
    }
    chansend_locked(c, ep);
}

/* Park on c's ring (c locked) as a sender (send: on sendq, raising
 * SENDWAIT, if the ring is exactly full) or a receiver (on recvq, raising
 * RECVWAIT, if it is exactly empty), my on the caller's stack; the flag
 * first, in both words, then the re-check (ring_raise_wait). Returns true
 * once woken (my->success says by what), with c unlocked; false, with c
 * still locked and my unqueued, if an operation moved the ring meanwhile
 * (the caller looks again). */
static bool ring_park(goc_chan *c, bool send, void *ep, sudog *my) {
    enum waitreason reason = send ? (c->bubble ? WAIT_SYNCTEST_CHAN_SEND : WAIT_CHAN_SEND)
                                  : (c->bubble ? WAIT_SYNCTEST_CHAN_RECEIVE : WAIT_CHAN_RECEIVE);
    waitq *q = send ? &c->sendq : &c->recvq;
    g *gp = getg();
    memset(my, 0, sizeof *my);
    my->g = gp;
    my->elem = ep;
    my->c = c;
    G_STORE(gp->param, NULL);
    enqueue(c, q, my);
    if (!ring_raise_wait(c, send)) {
        remove_sudog(c, q, my);
        sync_flags(c);
        return false;
    }
    chan_assert(c);
    glock_race_release(&c->lock);
    gopark(unlock_chan, c, reason);
    GOC_ASSERT(!my->link.next && !my->link.prev); /* the waker dequeued us */
    return true;
}

/* One attempt at a send (send) or receive on c's ring, c locked, as the
 * slow paths and select's pass 1 make it: serve the parked side first, then
 * queue behind parked goroutines of one's own side (FIFO) or use the ring.
 * RING_DONE_OK: a value received; RING_DONE: sent, or a closed channel's
 * zero value received (ep zeroed); RING_SEND_CLOSED: the caller panics. */
enum ring_try { RING_NOT_READY, RING_DONE, RING_DONE_OK, RING_SEND_CLOSED };
static __attribute__((noinline)) enum ring_try ring_try_locked(goc_chan *c, bool send, void *ep,
                                                               wakelist *wl) {
    if (send) {
        if (c->closed)
            return RING_SEND_CLOSED;
        serve(c, wl);
        /* Parked senders go first (FIFO); serve() left them only on a ring
         * that has no free slot yet. */
        if (!has_live(c, &c->sendq) && ring_put_locked(c, ep)) {
            serve(c, wl); /* a parked receiver gets the head */
            return RING_DONE;
        }
        return RING_NOT_READY;
    }
    serve(c, wl);
    /* Parked receivers go first; serve() left them only on a ring with no
     * published head. */
    if (has_live(c, &c->recvq))
        return RING_NOT_READY;
    if (ring_take_locked(c, ep)) {
        serve(c, wl); /* the freed slot may be a parked sender's */
        return RING_DONE_OK;
    }
    if (c->closed) { /* exactly empty: no send before the close is left */
        elem_zero(ep, c->elemsize);
        return RING_DONE;
    }
    return RING_NOT_READY;
}

/* The buffered send when the fast path did not apply: closed, senders
 * parked ahead, the ring full or its tail slot in flight. */
static __attribute__((noinline)) void chansend_buffered_slow(goc_chan *c, const void *ep) {
    gsched_preempt_check();
    bubble_check(c, "send on");
    wakelist wl = {0};
    unsigned spins = 0;
    glock_lock(&c->lock);
    chan_assert(c);
    for (;;) {
        enum ring_try r = ring_try_locked(c, true, (void *)ep, &wl);
        if (r == RING_SEND_CLOSED) {
            glock_unlock(&c->lock);
            wake_all(&wl);
            goc_panic("send on closed channel");
        }
        if (r != RING_NOT_READY) {
            chan_assert(c);
            glock_unlock(&c->lock);
            wake_all(&wl);
            return;
        }
        if (wl.first) { /* ready them before parking, then look again */
            glock_unlock(&c->lock);
            wake_all(&wl);
            glock_lock(&c->lock);
            continue;
        }
        sudog my;
        if (ring_park(c, true, (void *)ep, &my)) {
            if (!my.success)
                goc_panic("send on closed channel");
            return;
        }
        /* A receive freed a slot (or is freeing one): do not park. */
        ring_spin(&spins);
    }
}

/* The fast paths' elements of other sizes than 8 (and receives that
 * discard): out of line, so that the fast paths make no call that
 * returns to them, and need no frame. */
static __attribute__((noinline)) void slot_fill_any(unsigned char *s, uint64_t lap, const void *ep,
                                                    size_t elemsize) {
    slot_fill(s, lap, ep, elemsize);
    gsched_preempt_check();
}

static __attribute__((noinline)) bool slot_drain_any(unsigned char *s, uint64_t lap, void *ep,
                                                     size_t elemsize, uint64_t one_lap) {
    slot_drain(s, lap, ep, elemsize, one_lap);
    gsched_preempt_check();
    return true;
}

void (*_Atomic gchan_test_inflight_hook)(goc_chan *c);
#ifdef GOC_DEBUG
const bool gchan_test_inflight_hook_works = true;
#else
const bool gchan_test_inflight_hook_works = false;
#endif

/* A fast send's end, once it has won slot s: publish. Its CAS found no
 * receiver parked, and none parks on a ring with a send in flight (design
 * comment), so there is nobody to serve. */
static inline __attribute__((always_inline)) void send_publish(goc_chan *c, unsigned char *s,
                                                               uint64_t lap, const void *ep) {
    size_t elemsize = c->elemsize;
    if (GOC_UNLIKELY(elemsize != 8)) {
        slot_fill_any(s, lap, ep, elemsize);
        return;
    }
    slot_fill(s, lap, ep, 8);
    gsched_preempt_check();
}

#ifdef GOC_DEBUG
/* The fast send with the test hook set: stall in flight, then go on. */
static __attribute__((noinline)) void send_publish_hooked(goc_chan *c, unsigned char *s,
                                                          uint64_t lap, const void *ep) {
    void (*hook)(goc_chan *) =
        atomic_load_explicit(&gchan_test_inflight_hook, memory_order_relaxed);
    if (hook)
        hook(c);
    send_publish(c, s, lap, ep);
}
#endif

void (*_Atomic gchan_test_lone_hook)(goc_chan *c);

/* The buffered fast path: a CAS on sendpos for a free slot, with no flag
 * set. Inline in goc_chan_send, and every call it makes is a tail call.
 * Its preemption check comes last, once c is no longer touched (the slow
 * path checks on entry, before it locks). */
static inline __attribute__((always_inline)) void chansend_ring(goc_chan *c, const void *ep) {
    uint64_t v = atomic_load_explicit(&c->sendpos, memory_order_relaxed);
    for (;;) {
        if (GOC_UNLIKELY(v & ~POS_MASK))
            break; /* closed, or senders parked ahead: the lock decides */
        uint64_t idx = v & c->idxmask, lap = v - idx;
        unsigned char *s = c->buf + idx * c->slotsize;
        if (GOC_UNLIKELY(atomic_load_explicit(slot_turn(s), memory_order_acquire) != lap)) {
            uint64_t v2 = atomic_load_explicit(&c->sendpos, memory_order_relaxed);
            if (v2 == v)
                break; /* full, or the slot's last receiver in flight */
            v = v2;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&c->sendpos, &v,
                                                  pos_next_idx(v, idx, c->dataqsiz, c->one_lap),
                                                  memory_order_seq_cst, memory_order_relaxed)) {
#ifdef GOC_DEBUG
            if (atomic_load_explicit(&gchan_test_inflight_hook, memory_order_relaxed) != NULL) {
                send_publish_hooked(c, s, lap, ep);
                return;
            }
#endif
            send_publish(c, s, lap, ep);
            return;
        }
    }
    chansend_buffered_slow(c, ep);
}

/* chansend_ring for a send that could not run plain while the lone mode
 * was on (chansend_lone): a caller that is no lone owner ends the mode
 * first (lone_share_for); else the mode is over or ending. Rare. */
static __attribute__((noinline)) void chansend_ring_shared(goc_chan *c, const void *ep) {
    lone_share_for(c);
    chansend_ring(c, ep);
}

/* chansend_lone's end for an element of another size than 8 (a tail
 * call, as slot_fill_any: the common way keeps no frame). */
static __attribute__((noinline)) void
chansend_lone_fill(goc_chan *c, unsigned char *s, uint64_t lap, const void *ep, gsched_pin *pin) {
    slot_fill(s, lap, ep, c->elemsize);
    lone_finish(pin);
    gsched_preempt_check();
}

/* The lone owner's send: plain loads and stores where the fast path has
 * its CAS; nothing can be in flight. A caller that is not the lone owner,
 * or comes as the mode ends, gets the CAS path (lone_begin). A tail call
 * from goc_chan_send, as its own calls are. */
static __attribute__((noinline)) void chansend_lone(goc_chan *c, const void *ep) {
    gsched_pin *pin = lone_begin();
    if (GOC_UNLIKELY(!pin)) {
        chansend_ring_shared(c, ep);
        return;
    }
#ifdef GOC_DEBUG
    void (*hook)(goc_chan *) = atomic_load_explicit(&gchan_test_lone_hook, memory_order_relaxed);
    if (hook)
        hook(c);
#endif
    uint64_t v = atomic_load_explicit(&c->sendpos, memory_order_relaxed);
    uint64_t idx = v & c->idxmask, lap = v - idx;
    unsigned char *s = c->buf + idx * c->slotsize;
    if (GOC_LIKELY(!(v & ~POS_MASK)) &&
        GOC_LIKELY(atomic_load_explicit(slot_turn(s), memory_order_relaxed) == lap)) {
        atomic_store_explicit(&c->sendpos, pos_next_idx(v, idx, c->dataqsiz, c->one_lap),
                              memory_order_relaxed);
        if (GOC_UNLIKELY(c->elemsize != 8)) {
            chansend_lone_fill(c, s, lap, ep, pin);
            return;
        }
        slot_fill(s, lap, ep, 8);
        lone_finish(pin);
        gsched_preempt_check();
        return;
    }
    lone_finish(pin);
    chansend_buffered_slow(c, ep); /* flags, or full */
}

/* A buffered send: the plain way while the lone mode may be on, else the
 * CAS. A synctest bubble's channel takes the slow path, which checks the
 * caller's bubble. */
static inline __attribute__((always_inline)) void chansend_buffered(goc_chan *c, const void *ep) {
    if (GOC_UNLIKELY(c->bubble != 0)) {
        chansend_buffered_slow(c, ep);
        return;
    }
    if (lone_maybe()) {
        chansend_lone(c, ep);
        return;
    }
    chansend_ring(c, ep);
}

void goc_chan_send(goc_chan *c, const void *ep) {
    if (c && c->dataqsiz != 0) /* immutable */
        chansend_buffered(c, ep);
    else
        chansend(c, ep);
}

/* chanrecv_locked's rare ways, out of line (tail calls: see chanrecv). */
static __attribute__((noinline)) bool chanrecv_closed(goc_chan *c, void *ep) {
    /* Zero ep before unlocking: once the lock is released another
     * goroutine that synchronised with us may free c. */
    elem_zero(ep, c->elemsize);
    glock_unlock(&c->lock);
    return false;
}

static __attribute__((noinline)) bool chanrecv_park(goc_chan *c, void *ep) {
    /* Read before the park: once queued, c may go as soon as we are woken. */
    enum waitreason reason = c->bubble ? WAIT_SYNCTEST_CHAN_RECEIVE : WAIT_CHAN_RECEIVE;
    g *gp = getg();
    sudog my = {0};
    my.g = gp;
    my.elem = ep;
    my.c = c;
    G_STORE(gp->param, NULL);
    enqueue(c, &c->recvq, &my);
    chan_assert(c);
    glock_race_release(&c->lock);
    gopark(unlock_chan, c, reason);
    GOC_ASSERT(!my.link.next && !my.link.prev); /* the waker dequeued us */
    if (my.success)
        grace_acquire(&my);
    return my.success;
}

/* A receive on an unbuffered channel, c locked (unlocks it). */
static inline __attribute__((always_inline)) bool chanrecv_locked(goc_chan *c, void *ep) {
    GOC_ASSERT(c->dataqsiz == 0);
    if (GOC_UNLIKELY(c->closed))
        return chanrecv_closed(c, ep);
    sudog *sg = dequeue(c, &c->sendq);
    if (sg) {
        recv_direct(c, sg, ep);
        return true;
    }
    return chanrecv_park(c, ep);
}

/* The whole unbuffered receive, for what chanrecv's first test leaves (as
 * chansend_general). */
static __attribute__((noinline)) bool chanrecv_general(goc_chan *c, void *ep) {
    gsched_preempt_check();
    if (!c)
        block_forever(WAIT_CHAN_RECEIVE_NIL);
    bubble_check(c, "receive on");
    glock_lock(&c->lock);
    chan_assert(c);
    return chanrecv_locked(c, ep);
}

/* As for sends: a frameless dispatcher, the whole unbuffered receive, and
 * the ring's fast path. The way to a parked sender makes one call
 * (recv_direct) and saves no callee-saved register. */
static __attribute__((noinline)) bool chanrecv(goc_chan *c, void *ep) {
    if (!unbuf_lock_plain(c))
        return chanrecv_general(c, ep);
    return chanrecv_locked(c, ep);
}

/* The buffered receive when the fast path did not apply: receivers parked
 * ahead, the ring empty (or closed and empty) or its head in flight. */
static __attribute__((noinline)) bool chanrecv_buffered_slow(goc_chan *c, void *ep) {
    gsched_preempt_check();
    bubble_check(c, "receive on");
    wakelist wl = {0};
    unsigned spins = 0;
    glock_lock(&c->lock);
    chan_assert(c);
    for (;;) {
        enum ring_try r = ring_try_locked(c, false, ep, &wl);
        if (r != RING_NOT_READY) {
            chan_assert(c);
            glock_unlock(&c->lock);
            wake_all(&wl);
            return r == RING_DONE_OK;
        }
        if (wl.first) { /* ready them before parking, then look again */
            glock_unlock(&c->lock);
            wake_all(&wl);
            glock_lock(&c->lock);
            continue;
        }
        sudog my;
        if (ring_park(c, false, ep, &my)) {
            if (my.success)
                grace_acquire(&my);
            return my.success;
        }
        /* A send won a position meanwhile (published or in flight). */
        ring_spin(&spins);
    }
}

/* The buffered fast path, as for sends: a CAS on recvpos for a published
 * head, with no receiver parked. */
static inline __attribute__((always_inline)) bool chanrecv_ring(goc_chan *c, void *ep) {
    uint64_t v = atomic_load_explicit(&c->recvpos, memory_order_relaxed);
    for (;;) {
        if (GOC_UNLIKELY(v & ~POS_MASK))
            break; /* receivers parked ahead, or senders parked on a full ring */
        uint64_t idx = v & c->idxmask, lap = v - idx;
        unsigned char *s = c->buf + idx * c->slotsize;
        if (GOC_UNLIKELY(atomic_load_explicit(slot_turn(s), memory_order_acquire) != lap + 1)) {
            uint64_t v2 = atomic_load_explicit(&c->recvpos, memory_order_relaxed);
            if (v2 == v)
                break; /* empty (maybe closed), or its sender in flight */
            v = v2;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&c->recvpos, &v,
                                                  pos_next_idx(v, idx, c->dataqsiz, c->one_lap),
                                                  memory_order_seq_cst, memory_order_relaxed)) {
            size_t elemsize = c->elemsize;
            uint64_t one_lap = c->one_lap;
            if (GOC_UNLIKELY(elemsize != 8 || !ep))
                return slot_drain_any(s, lap, ep, elemsize, one_lap);
            slot_drain(s, lap, ep, 8, one_lap);
            gsched_preempt_check();
            return true;
        }
    }
    return chanrecv_buffered_slow(c, ep);
}

/* As chansend_ring_shared. */
static __attribute__((noinline)) bool chanrecv_ring_shared(goc_chan *c, void *ep) {
    lone_share_for(c);
    return chanrecv_ring(c, ep);
}

/* As chansend_lone_fill (also for a receive that drops the value). */
static __attribute__((noinline)) bool chanrecv_lone_drain(goc_chan *c, unsigned char *s,
                                                          uint64_t lap, void *ep, gsched_pin *pin) {
    slot_drain(s, lap, ep, c->elemsize, c->one_lap);
    lone_finish(pin);
    gsched_preempt_check();
    return true;
}

/* A receive's preemption check as a tail call (the call and then the
 * true would need a frame). */
static __attribute__((noinline)) bool chanrecv_preempted(void) {
    gsched_preempt_slow();
    return true;
}

/* The lone owner's receive (as chansend_lone). */
static __attribute__((noinline)) bool chanrecv_lone(goc_chan *c, void *ep) {
    gsched_pin *pin = lone_begin();
    if (GOC_UNLIKELY(!pin))
        return chanrecv_ring_shared(c, ep);
    uint64_t v = atomic_load_explicit(&c->recvpos, memory_order_relaxed);
    uint64_t idx = v & c->idxmask, lap = v - idx;
    unsigned char *s = c->buf + idx * c->slotsize;
    if (GOC_LIKELY(!(v & ~POS_MASK)) &&
        GOC_LIKELY(atomic_load_explicit(slot_turn(s), memory_order_relaxed) == lap + 1)) {
        atomic_store_explicit(&c->recvpos, pos_next_idx(v, idx, c->dataqsiz, c->one_lap),
                              memory_order_relaxed);
        if (GOC_UNLIKELY(c->elemsize != 8 || !ep))
            return chanrecv_lone_drain(c, s, lap, ep, pin);
        slot_drain(s, lap, ep, 8, c->one_lap);
        lone_finish(pin);
        if (GOC_UNLIKELY(gsched_preempt_requested()))
            return chanrecv_preempted();
        return true;
    }
    lone_finish(pin);
    return chanrecv_buffered_slow(c, ep); /* flags, or empty (maybe closed) */
}

static inline __attribute__((always_inline)) bool chanrecv_buffered(goc_chan *c, void *ep) {
    if (GOC_UNLIKELY(c->bubble != 0))
        return chanrecv_buffered_slow(c, ep);
    if (lone_maybe())
        return chanrecv_lone(c, ep);
    return chanrecv_ring(c, ep);
}

bool goc_chan_recv(goc_chan *c, void *ep) {
    if (c && c->dataqsiz != 0) /* immutable */
        return chanrecv_buffered(c, ep);
    return chanrecv(c, ep);
}

void goc_chan_close(goc_chan *c) {
    if (!c)
        goc_panic("close of nil channel");
    bubble_check(c, "close of");
    lone_share_for(c);
    glock_lock(&c->lock);
    chan_assert(c);
    if (c->closed) {
        glock_unlock(&c->lock);
        goc_panic("close of closed channel");
    }
    c->closed = true;
    wakelist wl = {0};
    if (c->dataqsiz > 0) {
        /* From here on fast sends fail their CAS and panic under the lock.
         * Sends that won a position before are delivered: parked
         * receivers get them (waiting out those still in flight) before
         * anyone is told the channel is closed. */
        atomic_fetch_or_explicit(&c->sendpos, SP_CLOSED, memory_order_seq_cst);
        unsigned spins = 0;
        for (;;) {
            serve(c, &wl);
            if (!has_live(c, &c->recvq) || ring_exactly_empty(c))
                break;
            ring_spin(&spins);
        }
    }
    grace_release(c);
    sudog *s;
    while ((s = dequeue(c, &c->recvq))) {
        elem_zero(s->elem, c->elemsize);
        wake_push(&wl, s, false);
    }
    while ((s = dequeue(c, &c->sendq)))
        wake_push(&wl, s, false);
    sync_flags(c);
    chan_assert(c); /* closed: no live waiter left */
    glock_unlock(&c->lock);
    wake_all(&wl);
}

/* ---- select ---- */

/* Lock every distinct channel of order (sorted) but skip (NULL: none).
 * Returns whether some channel appears more than once. */
static __attribute__((noinline)) bool sellock_except_n(goc_chan **order, size_t n, goc_chan *skip) {
    goc_chan *last = NULL;
    bool dup = false;
    for (size_t i = 0; i < n; i++) {
        if (order[i] != last) {
            last = order[i];
            if (last != skip)
                glock_lock(&last->lock);
        } else {
            dup = true;
        }
    }
    return dup;
}

/* Unlock in reverse each distinct channel once, but skip (NULL: none; a
 * direct handoff releases its channel's lock itself). */
static __attribute__((noinline)) void selunlock_except_n(goc_chan **order, size_t n,
                                                         goc_chan *skip) {
    for (size_t i = n; i-- > 0;) {
        if (i > 0 && order[i] == order[i - 1])
            continue;
        if (order[i] != skip)
            glock_unlock(&order[i]->lock);
    }
}

/* The one- and two-channel cases inline (pass 0's lone candidate, the
 * common two-case select): the loops above cost a call and ~20
 * instructions for what is one or two lock operations. */
static inline __attribute__((always_inline)) bool sellock_except(goc_chan **order, size_t n,
                                                                 goc_chan *skip) {
    if (n > 2)
        return sellock_except_n(order, n, skip);
    if (order[0] != skip)
        glock_lock(&order[0]->lock);
    if (n == 1)
        return false;
    if (order[1] == order[0])
        return true;
    if (order[1] != skip)
        glock_lock(&order[1]->lock);
    return false;
}

static inline __attribute__((always_inline)) void selunlock_except(goc_chan **order, size_t n,
                                                                   goc_chan *skip) {
    if (n > 2) {
        selunlock_except_n(order, n, skip);
        return;
    }
    if (n == 2 && order[1] != order[0] && order[1] != skip)
        glock_unlock(&order[1]->lock);
    if (order[0] != skip)
        glock_unlock(&order[0]->lock);
}

static bool sellock(goc_chan **order, size_t n) { return sellock_except(order, n, NULL); }

static void selunlock(goc_chan **order, size_t n) { selunlock_except(order, n, NULL); }

struct selpark {
    goc_chan **order;
    size_t n;
};

static bool selparkcommit(g *gp, void *arg) {
    (void)gp;
    struct selpark *sp = arg;
    selunlock(sp->order, sp->n);
    return true;
}

/* Pass 2's re-check (all channels locked, sudogs queued): raise the WAIT
 * flags, then look at every ring as a parking receiver or sender does (the
 * design comment's "No lost wakeup"). True if a case became ready, or has
 * an operation in flight. */
static __attribute__((noinline)) bool sel_rings_ready(goc_case *cases, size_t ncases) {
    bool ready = false;
    for (size_t i = 0; i < ncases; i++) {
        goc_case *cs = &cases[i];
        goc_chan *c = cs->ch;
        if (!c || c->dataqsiz == 0)
            continue;
        ready |= !ring_raise_wait(c, cs->dir == GOC_CASE_SEND);
    }
    return ready;
}

/* Make the flags of every locked channel of order (all but skip) agree
 * with its queues again. */
static __attribute__((noinline)) void sel_sync_flags(goc_chan **order, size_t n, goc_chan *skip) {
    for (size_t k = 0; k < n; k++)
        if (order[k] != skip)
            sync_flags(order[k]);
}

enum { SELECT_STACK_CASES = 16 };

static int cmp_chan(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (goc_chan *const *)a, y = (uintptr_t) * (goc_chan *const *)b;
    return x < y ? -1 : x > y;
}

/* Does a case (dir) on c look ready now? Without c's lock (pass 0): racy reads
 * of fields written under that lock, and of the ring's positions, a hint
 * decided again under the lock (not in the race build: ThreadSanitizer
 * would report them against the locked writes). With the lock (pass 1):
 * exact for an unbuffered channel but for claimed selects' sudogs, which
 * the try then drops; still a hint for a ring, whose positions fast
 * operations move without the lock. */
static inline bool selcase_looks_ready(goc_chan *c, int dir) {
    if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED))
        return true;
    if (dir == GOC_CASE_SEND) {
        if (__atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED) != NULL)
            return true;
        return c->dataqsiz > 0 && !ring_exactly_full(c);
    }
    if (__atomic_load_n(&c->sendq.first, __ATOMIC_RELAXED) != NULL)
        return true;
    return c->dataqsiz > 0 && !ring_exactly_empty(c);
}

/* Sort the lock order by address. A select has a handful of cases: an
 * insertion sort is a few compares (qsort costs ~170 instructions for two
 * pointers, through its indirect comparator); large selects keep qsort. */
static void sort_lockorder(goc_chan **a, size_t n) {
    if (n > SELECT_STACK_CASES) {
        qsort(a, n, sizeof *a, cmp_chan);
    } else {
        for (size_t i = 1; i < n; i++) {
            goc_chan *c = a[i];
            size_t j = i;
            for (; j > 0 && (uintptr_t)a[j - 1] > (uintptr_t)c; j--)
                a[j] = a[j - 1];
            a[j] = c;
        }
    }
#ifdef GOC_DEBUG
    for (size_t i = 1; i < n; i++)
        GOC_ASSERT((uintptr_t)a[i - 1] <= (uintptr_t)a[i]);
#endif
}

/* w without its lowest *r set bits, *r less the bits cleared: the sets are
 * sparse (a few ready cases), so clearing the lowest bit at a time beats a
 * popcount call (x86-64's baseline has no popcnt instruction). */
static inline uint64_t selmask_skip(uint64_t w, uint32_t *r) {
    for (; w && *r > 0; --*r)
        w &= w - 1;
    return w;
}

/* Take one case of the set mask (nw words, bit i: case i, cnt bits set),
 * uniformly at random among them, and clear its bit. Taking the cases one
 * by one this way tries them in a uniformly random order, as Go's poll
 * order does; the cases not in the set are never drawn for, so a select
 * whose cases are not ready draws no random number at all. */
static inline uint32_t selmask_take(uint64_t *mask, size_t nw, uint32_t cnt) {
    GOC_ASSERT(cnt > 0);
    (void)nw; /* the bound, for the assertion */
    uint32_t r = cnt > 1 ? gfastrandn(cnt) : 0;
    size_t k = 0;
    uint64_t w;
    for (;; k++) {
        GOC_ASSERT(k < nw);
        if ((w = selmask_skip(mask[k], &r)))
            break;
    }
    uint32_t bit = (uint32_t)__builtin_ctzll(w);
    mask[k] &= ~((uint64_t)1 << bit);
    return (uint32_t)(k * 64) + bit;
}

/* selmask_take for a one-word set (pass 0), without the memory word. */
static inline uint32_t selmask_take1(uint64_t w, uint32_t cnt) {
    GOC_ASSERT(cnt > 0 && w != 0);
    if (cnt > 1) {
        uint32_t r = gfastrandn(cnt);
        w = selmask_skip(w, &r);
    }
    return (uint32_t)__builtin_ctzll(w);
}

/* Fill mask with the cases that name a channel (ready: only those that look
 * ready, pass 1's set, with every channel locked); returns how many. */
static inline uint32_t selmask_fill(const goc_case *cases, size_t ncases, uint64_t *mask,
                                    bool ready) {
    uint32_t cnt = 0;
    for (size_t k = 0; k * 64 < ncases; k++) {
        uint64_t w = 0;
        size_t end = ncases - k * 64 < 64 ? ncases - k * 64 : 64;
        for (size_t b = 0; b < end; b++) {
            const goc_case *cs = &cases[k * 64 + b];
            if (cs->ch && (!ready || selcase_looks_ready(cs->ch, cs->dir))) {
                w |= (uint64_t)1 << b;
                cnt++;
            }
        }
        mask[k] = w;
    }
    return cnt;
}

/* The scratch of a select over more than SELECT_STACK_CASES cases; a call
 * to free(NULL) is not free on the hot path. */
static inline void selfree(void *heap) {
    if (__builtin_expect(heap != NULL, 0))
        free(heap);
}

/* The queue a select's sudog for cs waits in. */
static inline waitq *selcase_waitq(const goc_case *cs) {
    return cs->dir == GOC_CASE_SEND ? &cs->ch->sendq : &cs->ch->recvq;
}

/* Pass 2: queue gp's sudog for case i (sgs is indexed by case: the wake
 * loop finds them in case order). */
static inline __attribute__((always_inline)) void sel_enqueue(g *gp, goc_case *cases, uint32_t i,
                                                              sudog *sgs) {
    goc_case *cs = &cases[i];
    sudog *sg = &sgs[i];
    /* The fields a select's sudog uses (success: its waker sets it;
     * waitlink: wake_push) */
    sg->g = gp;
    sg->link.next = sg->link.prev = NULL;
    sg->elem = cs->elem;
    sg->c = cs->ch;
    sg->ticket = i;
    sg->isselect = true;
    enqueue(cs->ch, selcase_waitq(cs), sg);
}

/* Try case i of a select with the channels of lo[0..np) locked (pass 0:
 * case i's alone; pass 1: all). Returns -1 if it cannot proceed, all still
 * locked; otherwise completes it: every channel unlocked, wl readied, ok
 * stored, and returns i. heap: the caller's scratch, freed before a panic. */
static inline __attribute__((always_inline)) int sel_try(goc_case *cases, uint32_t i, goc_chan **lo,
                                                         size_t np, wakelist *wl, void *heap) {
    goc_case *cs = &cases[i];
    goc_chan *c = cs->ch;
    sudog *sg;
    bool recvok;
    chan_assert(c);
    if (c->dataqsiz > 0) {
        enum ring_try r = ring_try_locked(c, cs->dir == GOC_CASE_SEND, cs->elem, wl);
        if (r == RING_NOT_READY)
            return -1;
        if (GOC_UNLIKELY(r == RING_SEND_CLOSED)) {
            selunlock(lo, np);
            wake_all(wl);
            selfree(heap);
            goc_panic("send on closed channel");
        }
        recvok = r == RING_DONE_OK;
    } else if (cs->dir == GOC_CASE_SEND) {
        if (c->closed) {
            selunlock(lo, np);
            selfree(heap);
            goc_panic("send on closed channel");
        }
        if (!(sg = dequeue(c, &c->recvq)))
            return -1;
        /* send_direct unlocks c: unlock the others first. */
        selunlock_except(lo, np, c);
        wake_all(wl);
        send_direct(c, sg, cs->elem);
        return (int)i;
    } else {
        if ((sg = dequeue(c, &c->sendq))) {
            selunlock_except(lo, np, c);
            wake_all(wl);
            recv_direct(c, sg, cs->elem);
            if (cs->ok)
                *cs->ok = true;
            return (int)i;
        }
        if (!c->closed)
            return -1;
        elem_zero(cs->elem, c->elemsize);
        recvok = false;
    }
    selunlock(lo, np);
    wake_all(wl);
    if (cs->dir == GOC_CASE_RECV && cs->ok)
        *cs->ok = recvok;
    return (int)i;
}

static int selectgo_all(goc_case *cases, size_t ncases, bool block, size_t npoll);

static int selectgo(goc_case *cases, size_t ncases, bool block) {
    if (ncases > (size_t)INT32_MAX)
        goc_panic("goc_select: too many cases");

    /* Check every case (nil channels never fire) and, for pass 0, note
     * which look ready now (racy reads, as Go's empty() and full(); not in
     * the race build: ThreadSanitizer would report them against the locked
     * writes). Nothing random yet: a select that pass 0 completes draws at
     * most one random number, and one whose cases are not ready none. */
    size_t npoll = 0;
    uint64_t looks = 0; /* bit i: case i looks ready (pass 0: 2 to 64 cases) */
    uint32_t nlooks = 0;
    for (size_t i = 0; i < ncases; i++) {
        goc_chan *c = cases[i].ch;
        if (!c)
            continue;
        int dir = cases[i].dir;
        if (dir != GOC_CASE_SEND && dir != GOC_CASE_RECV)
            goc_panic("goc_select: case %zu has no direction (use GOC_SEND or GOC_RECV)", i);
        if (GOC_UNLIKELY(c->bubble != 0) && gsched_bubble_id() != c->bubble)
            bubble_misuse("select on");
        lone_share_for(c);
#ifndef GOC_RACE
        if (ncases > 1 && ncases <= 64 && selcase_looks_ready(c, dir)) {
            looks |= (uint64_t)1 << i;
            nlooks++;
        }
#endif
        npoll++;
    }
    if (npoll == 0) {
        if (!block)
            return -1;
        block_forever(WAIT_SELECT_NO_CASES);
    }

    /* Pass 0: of the cases that look ready, one chosen uniformly at random
     * (as the first of them in a random poll order would be) is tried under
     * its own channel's lock alone: one locked instruction instead of one
     * per channel. If it is not ready after all, pass 1 runs over every
     * case as usual. The look only chooses which lock to take first; the
     * case is decided under that lock. Looking in case order keeps the
     * branches predictable when the same case is the ready one time after
     * time. Selects of more than 64 cases (and the race build) go straight
     * to pass 1, as do those of one channel. */
    if (npoll > 1 && nlooks > 0) {
        uint32_t i = selmask_take1(looks, nlooks);
        goc_chan *c = cases[i].ch;
        wakelist wl = {0};
        glock_lock(&c->lock);
        int casi = sel_try(cases, i, &c, 1, &wl, NULL);
        if (casi >= 0)
            return casi;
        glock_unlock(&c->lock);
        wake_all(&wl);
    }
    return selectgo_all(cases, ncases, block, npoll);
}

/* Passes 1 and 2 and the wake-up: with every channel locked, the cases
 * that look ready are tried in a uniformly random order (selmask_take);
 * those that do not look ready cannot proceed now (unbuffered) or are
 * caught by pass 2's re-check if a fast operation makes them ready
 * (rings). Out of line: pass 0 completes most selects that do not block,
 * without the scratch and the registers this part needs. */
static __attribute__((noinline)) int selectgo_all(goc_case *cases, size_t ncases, bool block,
                                                  size_t npoll) {
    /* Scratch space: the lock order, one sudog per case, the set of cases
     * to try (a bit per case). */
    goc_chan *lockbuf[SELECT_STACK_CASES];
    sudog sgbuf[SELECT_STACK_CASES];
    uint64_t maskbuf[1];
    _Static_assert(SELECT_STACK_CASES <= 64, "maskbuf holds a bit per case");
    goc_chan **lockorder = lockbuf;
    sudog *sgs = sgbuf;
    uint64_t *mask = maskbuf;
    size_t nw = (ncases + 63) / 64; /* words of mask */
    void *heap = NULL;
    if (ncases > SELECT_STACK_CASES) {
        heap = malloc(ncases * (sizeof(sudog) + sizeof(goc_chan *)) + nw * sizeof(uint64_t));
        if (!heap)
            return -ENOMEM; /* out of memory is an error, never a panic */
        sgs = heap;
        mask = (uint64_t *)(sgs + ncases);
        lockorder = (goc_chan **)(mask + nw);
    }
    /* The lock order from case order: the sort's compares then go the
     * same way every time. */
    size_t nlock = 0;
    bool allbubbled = true; /* every channel is of the caller's bubble */
    bool anybuf = false;    /* a buffered channel among the cases: pass 2 re-checks */
    for (size_t i = 0; i < ncases; i++) {
        goc_chan *c = cases[i].ch;
        if (!c)
            continue;
        lockorder[nlock++] = c;
        allbubbled &= c->bubble != 0;
        anybuf |= c->dataqsiz > 0;
    }
    GOC_ASSERT(nlock == npoll);
    sort_lockorder(lockorder, npoll);

    wakelist wl = {0}; /* served by pass 1 on buffered channels: readied after unlocking */
    unsigned spins = 0;
    bool dupchans;
    int casi;
again:
    dupchans = sellock(lockorder, npoll);
    for (uint32_t cnt = selmask_fill(cases, ncases, mask, true); cnt > 0; cnt--) {
        casi = sel_try(cases, selmask_take(mask, nw, cnt), lockorder, npoll, &wl, heap);
        if (casi >= 0) {
            selfree(heap);
            return casi;
        }
    }
    if (!block) {
        selunlock(lockorder, npoll);
        wake_all(&wl);
        selfree(heap);
        return -1;
    }
    if (wl.first) { /* ready them before parking, then look again */
        selunlock(lockorder, npoll);
        wake_all(&wl);
        goto again;
    }

    /* Pass 2: queue a sudog on every channel and park. */
    g *gp = getg();
    /* Relaxed: every channel of the select is locked, and a waker reads
     * selectdone only under one of those locks, after our unlock; no waker
     * of an earlier select is left (its sudogs were all removed). A
     * seq_cst store would be a locked exchange per parked select. */
    atomic_store_explicit(&gp->selectdone, 0, memory_order_relaxed);
    G_STORE(gp->param, NULL);
    /* In case order, but for a channel named in several cases: which of
     * those a waker finds first is drawn (Go's lock order starts from its
     * poll order for that), so the cases are queued in a random order. */
    if (GOC_UNLIKELY(dupchans)) {
        selmask_fill(cases, ncases, mask, false);
        for (uint32_t k = (uint32_t)npoll; k > 0; k--)
            sel_enqueue(gp, cases, selmask_take(mask, nw, k), sgs);
    } else {
        for (size_t i = 0; i < ncases; i++)
            if (cases[i].ch)
                sel_enqueue(gp, cases, (uint32_t)i, sgs);
    }
    /* Raise the WAIT flags, then re-check every ring as a parking
     * receiver or sender does (the design comment's "No lost wakeup"): a
     * case that became ready, or has an operation in flight, sends us
     * back to pass 1. No waker can have claimed us: every channel is
     * locked. */
    if (anybuf && sel_rings_ready(cases, ncases)) {
        for (size_t i = 0; i < ncases; i++) {
            goc_case *cs = &cases[i];
            if (cs->ch)
                remove_sudog(cs->ch, selcase_waitq(cs), &sgs[i]);
        }
        sel_sync_flags(lockorder, npoll, NULL);
        GOC_ASSERT(atomic_load(&gp->selectdone) == 0);
        selunlock(lockorder, npoll);
        ring_spin(&spins);
        goto again;
    }
#ifdef GOC_DEBUG
    for (size_t k = 0; k < npoll; k++)
        chan_assert(lockorder[k]);
#endif
    struct selpark sp = {lockorder, npoll};
    for (size_t k = 0; k < npoll; k++)
        glock_race_release(&lockorder[k]->lock);
    gopark(selparkcommit, &sp, allbubbled ? WAIT_SYNCTEST_SELECT : WAIT_SELECT);

    /* Woken: the winner is in gp->param. Remove the other sudogs, under
     * their channels' locks. The winner's channel is not relocked when no
     * other case uses it (Go's pass 3 relocks all): its waker dequeued our
     * sudog there (and made its flags agree) and goready orders its writes
     * before our run, as for a plain parked receive; a locked CAS less per
     * woken select. */
    sudog *won = G_LOAD(gp->param);
    GOC_CHECK(won != NULL);
    goc_chan *skip = won->c;
    if (GOC_UNLIKELY(dupchans)) {
        size_t uses = 0;
        for (size_t k = 0; k < npoll; k++)
            uses += lockorder[k] == skip;
        if (uses > 1)
            skip = NULL;
    }
    sellock_except(lockorder, npoll, skip);
    G_STORE(gp->param, NULL);
    GOC_ASSERT(won >= sgs && won < sgs + ncases && won->g == gp);
    GOC_ASSERT(!won->link.next && !won->link.prev); /* the waker dequeued it */
    GOC_ASSERT(atomic_load(&gp->selectdone) == 1);
    /* In case order: when the same case wins time after time, the test
     * for it goes the same way each time. */
    for (size_t i = 0; i < ncases; i++) {
        goc_case *cs = &cases[i];
        sudog *sg = &sgs[i];
        if (!cs->ch || sg == won)
            continue;
        GOC_ASSERT(sg->ticket == i);
        remove_sudog(cs->ch, selcase_waitq(cs), sg);
        GOC_ASSERT(!sg->link.next && !sg->link.prev);
    }
    if (anybuf)
        sel_sync_flags(lockorder, npoll, skip);
#ifdef GOC_DEBUG
    for (size_t k = 0; k < npoll; k++)
        if (lockorder[k] != skip)
            chan_assert(lockorder[k]);
#endif
    selunlock_except(lockorder, npoll, skip);
    casi = (int)won->ticket;
    bool success = won->success;
    selfree(heap);
    if (cases[casi].dir == GOC_CASE_SEND) {
        if (!success)
            goc_panic("send on closed channel");
    } else {
        if (success)
            grace_acquire(won);
        if (cases[casi].ok)
            *cases[casi].ok = success;
    }
    return casi;
}

int goc_select(goc_case *cases, size_t n) {
    gsched_preempt_check();
    return selectgo(cases, n, true);
}

/* Not a preemption point: it never blocks, and the runtime itself calls it
 * holding locks of its own (timers deliver and drain under theirs). */
int goc_select_try(goc_case *cases, size_t n) { return selectgo(cases, n, false); }
