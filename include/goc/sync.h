/* goc/sync.h — Go's package sync, goroutine-aware: a waiting goroutine is
 * parked, never its OS thread; a plain thread calling in blocks itself.
 *
 * The zero value of goc_mutex, goc_rwmutex, goc_waitgroup, goc_once and
 * goc_pool is ready to use, as in Go (a static or `= {0}` variable works).
 * goc_cond needs goc_cond_init (Go's NewCond) to name its mutex; goc_map is
 * made by goc_map_new.
 *
 * As in Go, a value of these types must not be copied after first use: the
 * waiters' queues are keyed by the object's address. goc_cond checks this
 * and panics "sync.Cond is copied", as Go's does.
 *
 * Struct fields are private to goc; they are in this header only so that the
 * types can be embedded and statically allocated without a constructor.
 *
 * Blocking calls may resume a goroutine on another OS thread (see
 * <goc/runtime.h>). Misuse panics with Go's texts (goc_panic: message,
 * goroutine traceback, abort).
 */
#ifndef GOC_SYNC_H
#define GOC_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* sync.Mutex                                                          */

/* A mutual-exclusion lock. Zero value: unlocked. 8 bytes. */
typedef struct goc_mutex {
    GOC_ATOMIC(int32_t) state; /* locked, woken, starving bits; waiter count above */
    uint32_t sema;             /* address key of the waiters' semaphore */
} goc_mutex;

/* Static initializer (the same as zeroing it). */
#define GOC_MUTEX_INIT                                                                             \
    { 0, 0 }

/* m.Lock(): lock m, waiting until it is available. A goroutine that waits is
 * parked; a plain thread blocks. The lock is not tied to a goroutine: it may
 * be unlocked by another goroutine or thread, as in Go. Not reentrant:
 * locking it again from the holder deadlocks.
 *
 * Fairness is Go's: in normal mode waiters queue FIFO but a woken waiter
 * competes with newly arriving lockers (who usually win: they are already
 * running); a waiter that has waited more than 1 ms switches the mutex to
 * starvation mode, where Unlock hands the lock directly to the oldest waiter
 * and new arrivals queue behind it. It returns to normal mode when the
 * waiter that gets the lock is the last one or waited less than 1 ms. */
GOC_API void goc_mutex_lock(goc_mutex *m);

/* m.TryLock(): lock m if it is unlocked (and not handed to a waiter in
 * starvation mode); never waits. True if m is now held by the caller. */
GOC_API bool goc_mutex_trylock(goc_mutex *m);

/* m.Unlock(). Unlocking a mutex that is not locked panics
 * "sync: unlock of unlocked mutex" (a fatal error in Go). */
GOC_API void goc_mutex_unlock(goc_mutex *m);

/* ------------------------------------------------------------------ */
/* sync.RWMutex                                                        */

/* A reader/writer lock: any number of readers or one writer. Zero value:
 * unlocked. Go's design: once a writer waits for the lock, new readers
 * block until that writer has had it (so writers do not starve), which also
 * means a reader must not take a read lock it already holds recursively. */
typedef struct goc_rwmutex {
    goc_mutex w;                      /* held by the active or pending writer */
    uint32_t writer_sem;              /* the writer waits here for departing readers */
    uint32_t reader_sem;              /* readers wait here for the writer to finish */
    GOC_ATOMIC(int32_t) reader_count; /* readers; minus 2^30 while a writer is pending */
    GOC_ATOMIC(int32_t) reader_wait;  /* departing readers the writer still waits for */
} goc_rwmutex;

/* Static initializer (the same as zeroing it). */
#define GOC_RWMUTEX_INIT                                                                           \
    { GOC_MUTEX_INIT, 0, 0, 0, 0 }

/* rw.RLock(): lock for reading; waits while a writer holds or waits for the
 * lock. At most 2^30 - 1 simultaneous readers. */
GOC_API void goc_rwmutex_rlock(goc_rwmutex *rw);
/* rw.TryRLock(): take a read lock without waiting; false if a writer holds
 * or waits for the lock. */
GOC_API bool goc_rwmutex_tryrlock(goc_rwmutex *rw);
/* rw.RUnlock(): undo one rlock. Panics "sync: RUnlock of unlocked RWMutex"
 * if no read lock is held. */
GOC_API void goc_rwmutex_runlock(goc_rwmutex *rw);
/* rw.Lock(): lock for writing; waits for other writers and for the readers
 * that hold the lock to leave. New readers wait from the moment it starts. */
GOC_API void goc_rwmutex_lock(goc_rwmutex *rw);
/* rw.TryLock(): take the write lock without waiting; false if any reader or
 * writer holds it. */
GOC_API bool goc_rwmutex_trylock(goc_rwmutex *rw);
/* rw.Unlock(): release the write lock and let the readers that queued
 * behind it in. Panics "sync: Unlock of unlocked RWMutex" if it is not
 * write-locked. As with goc_mutex, another goroutine may unlock it. */
GOC_API void goc_rwmutex_unlock(goc_rwmutex *rw);

/* ------------------------------------------------------------------ */
/* sync.WaitGroup                                                      */

/* sync.WaitGroup. Zero value: counter 0. */
typedef struct goc_waitgroup {
    GOC_ATOMIC(uint64_t) state; /* high 32 bits: counter; low 32 bits: waiters */
    uint32_t sema;              /* address key of the waiters' semaphore */
} goc_waitgroup;

/* wg.Add(delta): add delta (may be negative) to the counter; when it
 * reaches zero every waiter is released. Call it before starting the
 * goroutine it counts. A negative counter panics "sync: negative WaitGroup
 * counter"; an Add from zero racing with Wait panics "sync: WaitGroup
 * misuse: Add called concurrently with Wait". Never blocks. */
GOC_API void goc_wg_add(goc_waitgroup *wg, int delta);
/* wg.Done(): goc_wg_add(wg, -1). */
GOC_API void goc_wg_done(goc_waitgroup *wg);
/* wg.Wait(): block until the counter is zero (at once if it is). The group
 * is reusable once Wait returns; reusing it earlier panics "sync: WaitGroup
 * is reused before previous Wait has returned". goc_wg_wait_ctx
 * (goc/context.h) also stops when a context ends. */
GOC_API void goc_wg_wait(goc_waitgroup *wg);
/* wg.Go(fn): Add(1), then go { fn(arg); Done() }. Returns 0, -EINVAL (fn
 * is NULL), -ENOMEM or -EAGAIN (as goc_go; the counter is restored on
 * failure). Done does not run if fn ends its goroutine with goc_exit. */
GOC_API int goc_wg_go(goc_waitgroup *wg, void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* sync.Once                                                           */

/* Zero value: not yet done. */
typedef struct goc_once {
    GOC_ATOMIC(uint32_t) done; /* 1 once fn has returned */
    goc_mutex m;               /* serializes the first callers */
} goc_once;

/* Static initializer (the same as zeroing it). */
#define GOC_ONCE_INIT                                                                              \
    { 0, GOC_MUTEX_INIT }

/* once.Do(f): call fn(arg) if and only if this is the first call of
 * goc_once_do for `once`. Every concurrent caller waits until that first
 * fn(arg) has returned, so when goc_once_do returns, fn's effects are
 * visible. Later calls (with any fn) do nothing; the fast path is one atomic
 * load. fn calling goc_once_do on the same `once` deadlocks, as in Go. If
 * fn never returns (goc_exit, or it blocks forever), the once is never done
 * and every other caller waits forever (Go's defer would mark it done on
 * Goexit; C has no defer). */
GOC_API void goc_once_do(goc_once *once, void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* sync.Cond                                                           */

/* A condition variable tied to a goc_mutex. Initialize with goc_cond_init
 * (a zeroed goc_cond plus goc_cond_init is the usual way; Signal and
 * Broadcast also work on a zeroed one, but Wait needs the mutex). Waiters
 * are woken in the order they started to wait (Go's notify list: each Wait
 * takes a ticket; Signal wakes the oldest ticket). */
typedef struct goc_cond {
    goc_mutex *L;                  /* the mutex Wait releases; set by goc_cond_init */
    GOC_ATOMIC(uintptr_t) checker; /* the cond's own address: detects copies */
    GOC_ATOMIC(uint32_t) wait;     /* ticket of the next waiter */
    GOC_ATOMIC(uint32_t) notify;   /* ticket of the next waiter to wake */
    uint64_t lock[2];              /* runtime lock over notify, head and tail */
    void *head, *tail;             /* parked waiters in ticket order */
} goc_cond;

/* Static initializer: goc_cond c = GOC_COND_INIT(&mu); (as goc_cond_init). */
#define GOC_COND_INIT(mutex)                                                                       \
    { (mutex), 0, 0, 0, {0, 0}, NULL, NULL }

/* sync.NewCond(mutex) in place: make c an empty condition variable bound to
 * mutex. Call before any use, not while goroutines wait on c. */
GOC_API void goc_cond_init(goc_cond *c, goc_mutex *mutex);
/* c.Wait(): atomically unlock c's mutex and suspend until woken by Signal or
 * Broadcast; lock the mutex again before returning. The caller must hold
 * the mutex (else goc_mutex_unlock panics). As in Go, wake-ups are not a
 * promise that the condition holds: wait in a loop. Panics
 * "sync: goc_cond_wait: goc_cond has no mutex (goc_cond_init)" when c was
 * never given a mutex, "sync.Cond is copied" when c was copied after use. */
GOC_API void goc_cond_wait(goc_cond *c);
/* c.Signal(): wake the goroutine (or thread) that has waited longest, if any.
 * The caller may but need not hold the mutex. */
GOC_API void goc_cond_signal(goc_cond *c);
/* c.Broadcast(): wake every waiter. */
GOC_API void goc_cond_broadcast(goc_cond *c);

/* ------------------------------------------------------------------ */
/* sync.Pool                                                           */

/* A cache of reusable items with per-processor caches: the common Get/Put
 * pair on one processor takes no lock and no atomic read-modify-write.
 * Like sync.Pool it may drop items: an item put into a full cache is freed
 * with free_fn. The zero value is a pool without new_fn and free_fn.
 * Capacity: per processor one private item and a ring of 16; plus 32 for
 * plain threads. */
typedef struct goc_pool {
    void *(*new_fn)(void);   /* immutable after init */
    void (*free_fn)(void *); /* immutable after init */
    GOC_ATOMIC(void *) impl; /* per-processor caches, made on first use */
} goc_pool;

/* Set the constructor and destructor. new_fn makes an item when the pool is
 * empty (NULL: goc_pool_get returns NULL then, as Go's Get with no New);
 * free_fn disposes of the items the pool drops or destroy frees (NULL: they
 * are just forgotten). Call before any use. */
GOC_API void goc_pool_init(goc_pool *p, void *(*new_fn)(void), void (*free_fn)(void *item));
/* pool.Get(): an item from the pool (the one this processor put last when
 * there is one, else one stolen from another processor), or new_fn() when
 * the pool is empty. The caller owns it. Items put earlier may have been
 * dropped: Get never promises to return a given one. */
GOC_API void *goc_pool_get(goc_pool *p);
/* pool.Put(item): give an item back for reuse. NULL is ignored. When this
 * processor's cache is full the item is freed with free_fn. If memory for
 * the caches cannot be had, the pool degrades to new_fn/free_fn per call. */
GOC_API void goc_pool_put(goc_pool *p, void *item);
/* Free every cached item with free_fn and the caches themselves (Go leaves
 * this to the garbage collector). A pool that was used holds memory until
 * destroyed. No other call on p may be in progress. Afterwards p is an
 * empty pool with the same functions and may be used again. */
GOC_API void goc_pool_destroy(goc_pool *p);

/* ------------------------------------------------------------------ */
/* sync.Map                                                            */

/* A concurrent map from byte-string keys to void * values (Go's sync.Map
 * with string keys). Keys are copied; values are stored as given and never
 * dereferenced or freed by goc. Every call may be made from any goroutine
 * or plain thread concurrently with any other, except goc_map_free. A NULL
 * value is a value like any other. Key bytes are compared with memcmp;
 * len 0 is a valid (empty) key, and key may then be NULL.
 *
 * The map is split into 64 shards, each guarded by a goc_rwmutex: loads and
 * updates of present keys share a shard; inserts and deletes take it
 * alone, briefly. A call may therefore wait (a goroutine parks, a thread
 * blocks) behind another call on the same shard, never behind a Range
 * callback. An empty map costs about 8 KiB. */
typedef struct goc_map goc_map;

/* A new, empty map (Go: var m sync.Map). Free it with goc_map_free. NULL
 * with errno ENOMEM if memory could not be had. */
GOC_API goc_map *goc_map_new(void);
/* Free the map and its copies of the keys (not the values: free those
 * first, e.g. in a goc_map_range, if the map owns them). No other call on
 * m may be in progress. NULL is ignored. */
GOC_API void goc_map_free(goc_map *m);

/* m.Load(key): true and *val = the value if key is present; false (and
 * *val = NULL) if not. val may be NULL. */
GOC_API bool goc_map_load(goc_map *m, const void *key, size_t len, void **val);

/* m.Store(key, val). Returns 0, or -ENOMEM if key was absent and no memory
 * could be had for it (the map is then unchanged). */
GOC_API int goc_map_store(goc_map *m, const void *key, size_t len, void *val);

/* m.LoadOrStore(key, val): if key is present, *actual = its value and 1 is
 * returned (loaded); otherwise val is stored, *actual = val and 0 is
 * returned; -ENOMEM if it had to store and could not (*actual = NULL).
 * actual may be NULL. */
GOC_API int goc_map_load_or_store(goc_map *m, const void *key, size_t len, void *val,
                                  void **actual);

/* m.LoadAndDelete(key): delete key; true and *val = its value if it was
 * present, false (*val = NULL) if not. val may be NULL. */
GOC_API bool goc_map_load_and_delete(goc_map *m, const void *key, size_t len, void **val);

/* m.Delete(key): remove key if present. Never allocates. */
GOC_API void goc_map_delete(goc_map *m, const void *key, size_t len);

/* m.Swap(key, val): store val; if key was present, *previous = its old value
 * and 1 is returned, else *previous = NULL and 0 is returned; -ENOMEM if key
 * was absent and could not be stored (map unchanged). previous may be NULL. */
GOC_API int goc_map_swap(goc_map *m, const void *key, size_t len, void *val, void **previous);

/* m.CompareAndSwap(key, old, new): if key is present with value old (pointer
 * equality), store new_val and return true. Never inserts (and so never
 * allocates). */
GOC_API bool goc_map_compare_and_swap(goc_map *m, const void *key, size_t len, void *old,
                                      void *new_val);

/* m.CompareAndDelete(key, old): delete key if its value is old; true if it
 * did. */
GOC_API bool goc_map_compare_and_delete(goc_map *m, const void *key, size_t len, void *old);

/* m.Range(f): call fn(key, len, val, arg) for the entries of m until fn
 * returns false. Go's guarantees: every key present for the whole call is
 * visited exactly once; no key is visited more than once; a key stored or
 * deleted during the call may or may not be visited, and the value passed
 * is the key's value at some moment during the call. Range is not a
 * snapshot. No lock is held while fn runs, so fn may call anything on m
 * (store, delete, another range) and may block. `key` points to the map's
 * own copy, valid until fn returns. Never allocates. */
GOC_API void
goc_map_range(goc_map *m, bool (*fn)(const void *key, size_t len, void *val, void *arg), void *arg);

/* The number of keys (Go's sync.Map has none; this is what counting in
 * Range gives, without walking). Exact when no call is modifying m; with
 * concurrent inserts and deletes, an estimate (the count of each of the 64
 * shards is read at a slightly different moment). Never blocks. */
GOC_API size_t goc_map_len(goc_map *m);

/* m.Clear(): delete every key present when the call began (shard by
 * shard: a key stored concurrently may survive). */
GOC_API void goc_map_clear(goc_map *m);

#ifdef __cplusplus
}
#endif
#endif /* GOC_SYNC_H */
