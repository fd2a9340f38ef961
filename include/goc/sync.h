/* goc/sync.h — Go's package sync, goroutine-aware: a waiting goroutine is
 * parked, never its OS thread; a plain thread calling in blocks itself.
 * The zero value of every type here is ready to use, as in Go. */
#ifndef GOC_SYNC_H
#define GOC_SYNC_H

#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sync.WaitGroup. Fields are private to goc. */
typedef struct goc_waitgroup {
    _Atomic uint64_t state; /* high 32 bits: counter; low 32 bits: waiters */
    uint32_t sema;          /* address key of the waiters' semaphore */
} goc_waitgroup;

/* Add delta to the counter; a negative counter panics
 * "sync: negative WaitGroup counter". */
GOC_API void goc_wg_add(goc_waitgroup *wg, int delta);
GOC_API void goc_wg_done(goc_waitgroup *wg);
/* Block until the counter is zero. The group is reusable once Wait returns. */
GOC_API void goc_wg_wait(goc_waitgroup *wg);
/* wg.Go(fn): Add(1), then go { fn(arg); Done() }. Returns 0 or -errno
 * (the counter is restored on failure). */
GOC_API int goc_wg_go(goc_waitgroup *wg, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* GOC_SYNC_H */
