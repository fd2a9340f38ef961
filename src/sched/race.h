/* sched/race.h — the scheduler's sanitizer annotations (fiber switches under
 * ThreadSanitizer and AddressSanitizer), as inline functions that are empty
 * in ordinary builds: proc.c calls them unconditionally and has no #if
 * blocks of its own. The primitives are in base/race.h; the fields they use
 * (g.tsan_fiber, g.asan_fake, m.stack_lo/stack_size) exist only in the
 * sanitizer builds. */
#ifndef GOC_SCHED_RACE_H
#define GOC_SCHED_RACE_H

#if defined(GOC_ASAN)
#include <pthread.h>
#endif
#if defined(GOC_RACE)
#include <errno.h>
#include <stdio.h>
#endif

#include "base/race.h"
#include "sched/runtime2.h"

/* ThreadSanitizer's own background thread, counted by the deadlock
 * detector among the process's threads. */
#if defined(GOC_RACE)
enum { RACE_EXTRA_THREADS = 1 };
#else
enum { RACE_EXTRA_THREADS = 0 };
#endif

/* A new goroutine (goid set): its fiber, named as `go test -race` names
 * it. The fiber starts with its creator's clock: everything before goc_go
 * happens before the goroutine runs. */
static inline void race_g_create(g *gp) {
#if defined(GOC_RACE)
    gp->tsan_fiber = grace_fiber_create();
    grace_ignore_begin(); /* the name buffer is the runtime's, not the creator's */
    snprintf(gp->tsan_name, sizeof gp->tsan_name, "goroutine %llu", (unsigned long long)gp->goid);
    grace_ignore_end();
    grace_fiber_name(gp->tsan_fiber, gp->tsan_name);
#else
    (void)gp;
#endif
}

/* Around the making of a goroutine's first frame on its stack (stacks are
 * reused): forget what earlier goroutines did on that memory, and hide the
 * frame's making (by whichever goroutine switches to it) from TSan. */
static inline void race_stack_init_begin(g *gp) {
#if defined(GOC_RACE)
    gstack_race_reset(gp->stack);
#else
    (void)gp;
#endif
    grace_ignore_begin();
}

static inline void race_stack_init_end(void) { grace_ignore_end(); }

/* goready: what the waker did happens before the woken g resumes. */
static inline void race_g_ready(g *gp) { grace_release(gp); }

/* gopark returned (the g was readied, or its wait abandoned). */
static inline void race_g_resumed(g *gp) { grace_acquire(gp); }

/* A goroutine's argument block: in race builds always a fresh heap copy
 * (never g.argbuf), so that TSan's allocator gives it a clean history
 * instead of the one a g's earlier occupant left in argbuf. */
#if defined(GOC_RACE)
enum { RACE_ARGS_ON_HEAP = 1 };
#else
enum { RACE_ARGS_ON_HEAP = 0 };
#endif

/* A dead g's remains (its argument block) are freed by the goroutine that
 * ran next, which is not ordered after it: hidden from TSan. */
static inline void race_exit_begin(void) { grace_ignore_begin(); }
static inline void race_exit_end(void) { grace_ignore_end(); }

/* gopark's unlockf runs on the next goroutine's fiber, on behalf of the one
 * that parked: hidden from TSan. Each caller of gopark releases, on its own
 * fiber, the locks its unlockf will unlock (glock_race_release), so the next
 * holder of those locks is ordered after the parked goroutine, not after
 * whichever goroutine ran next. */
static inline void race_unlockf_begin(void) { grace_ignore_begin(); }
static inline void race_unlockf_end(void) { grace_ignore_end(); }

static inline void race_g_destroy(g *gp) {
#if defined(GOC_RACE)
    grace_fiber_destroy(gp->tsan_fiber);
    gp->tsan_fiber = NULL;
#else
    (void)gp;
#endif
}

/* On a new M's thread: its g0 is the thread's own fiber and stack. */
static inline void race_m_init(m *mp) {
#if defined(GOC_RACE)
    mp->g0.tsan_fiber = grace_fiber_current();
    /* errno is the thread's, shared by every goroutine the M runs, which
     * TSan does not order: their uses of it are not races between them. */
    grace_benign_race(&errno, sizeof errno, "errno: one per M, shared by its goroutines");
#endif
#if defined(GOC_ASAN)
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t sz;
        pthread_attr_getstack(&attr, &lo, &sz);
        mp->stack_lo = lo;
        mp->stack_size = sz;
        pthread_attr_destroy(&attr);
    }
#endif
    (void)mp;
}

/* Right before mp switches from `from` to `to`. */
static inline void race_switch_begin(m *mp, g *from, g *to) {
#if defined(GOC_RACE)
    grace_fiber_switch(to->tsan_fiber);
#endif
#if defined(GOC_ASAN)
    const void *lo;
    size_t size;
    if (to == &mp->g0) {
        lo = mp->stack_lo;
        size = mp->stack_size;
    } else {
        lo = to->stack->lo;
        size = (size_t)(to->stack->hi - to->stack->lo);
    }
    bool dying = mp->post.act == POST_EXIT && mp->post.gp == from;
    gasan_switch_begin(dying ? NULL : &from->asan_fake, lo, size);
#endif
    (void)mp;
    (void)from;
    (void)to;
}

/* Right after the switch back to `self` landed. */
static inline void race_switch_end(g *self) {
#if defined(GOC_ASAN)
    gasan_switch_end(self->asan_fake);
#endif
    (void)self;
}

/* goc_blocking's fn runs as code on the M's own thread would (its goc calls
 * use the thread's stand-in g and thread-local state): for TSan it runs as
 * the thread's fiber, with edges both ways so that what gp did before is
 * seen by fn and what fn did is seen by gp after. */
static inline void race_blocking_enter(m *mp, g *gp) {
#if defined(GOC_RACE)
    grace_release(gp);
    grace_fiber_switch(mp->g0.tsan_fiber);
    grace_acquire(gp);
#else
    (void)mp;
    (void)gp;
#endif
}

static inline void race_blocking_exit(g *gp) {
#if defined(GOC_RACE)
    grace_release(gp);
    grace_fiber_switch(gp->tsan_fiber);
    grace_acquire(gp);
#else
    (void)gp;
#endif
}

#endif
