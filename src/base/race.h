/* base/race.h — the sanitizer annotations, as inline wrappers that are
 * empty in ordinary builds, so that no .c file needs #if blocks for them.
 *
 *   GOC_RACE (ThreadSanitizer): goroutines are fibers (grace_fiber_*),
 *   switched WITHOUT implied synchronization: two goroutines that ran on one
 *   thread are as unordered to TSan as two threads. The happens-before edges
 *   of Go's memory model are announced where they arise, with grace_release
 *   / grace_acquire (channel handoffs, wake-ups, locks handed to gopark's
 *   unlockf), or come from the atomics of the instrumented primitives
 *   (sync, context, time). The scheduler itself is not instrumented (see
 *   CMakeLists.txt), as Go's runtime is not: its queues and locks must not
 *   order the goroutines they carry. grace_ignore_begin / _end hide a stretch
 *   of instrumented code run on behalf of another goroutine (gopark's
 *   unlockf) from TSan, accesses and synchronization alike.
 *   GOC_ASAN (AddressSanitizer): stack switches are announced
 *   (gasan_switch_begin / _end), and reused stacks are unpoisoned.
 */
#ifndef GOC_BASE_RACE_H
#define GOC_BASE_RACE_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(GOC_RACE)
#include <sanitizer/tsan_interface.h>
/* TSan's dynamic annotations (no public header declares them). */
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void __tsan_ignore_thread_begin(void);
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem, size_t size,
                             const char *desc);
void __tsan_ignore_thread_end(void);
#endif
#if defined(GOC_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* ---- ThreadSanitizer ---- */

static inline void grace_release(void *addr) {
#if defined(GOC_RACE)
    __tsan_release(addr);
#else
    (void)addr;
#endif
}

static inline void grace_acquire(void *addr) {
#if defined(GOC_RACE)
    __tsan_acquire(addr);
#else
    (void)addr;
#endif
}

static inline void *grace_fiber_create(void) {
#if defined(GOC_RACE)
    return __tsan_create_fiber(0);
#else
    return NULL;
#endif
}

/* Only a fiber that is not running may be destroyed. */
static inline void grace_fiber_destroy(void *fiber) {
#if defined(GOC_RACE)
    if (fiber)
        __tsan_destroy_fiber(fiber);
#else
    (void)fiber;
#endif
}

static inline void *grace_fiber_current(void) {
#if defined(GOC_RACE)
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}

/* Right before the switch to `fiber`. No synchronization: what the two
 * goroutines share is ordered by the runtime's explicit edges only. */
static inline void grace_fiber_switch(void *fiber) {
#if defined(GOC_RACE)
    __tsan_switch_to_fiber(fiber, __tsan_switch_to_fiber_no_sync);
#else
    (void)fiber;
#endif
}

/* The name a report gives the fiber ("goroutine 7"). TSan copies it. */
static inline void grace_fiber_name(void *fiber, const char *name) {
#if defined(GOC_RACE)
    if (fiber)
        __tsan_set_fiber_name(fiber, name);
#else
    (void)fiber;
    (void)name;
#endif
}

/* Races on [mem, mem+size) are not reported (TSan keeps a short list). */
static inline void grace_benign_race(const volatile void *mem, size_t size, const char *desc) {
#if defined(GOC_RACE)
    AnnotateBenignRaceSized(__FILE__, __LINE__, mem, size, desc);
#else
    (void)mem;
    (void)size;
    (void)desc;
#endif
}

/* Hide the calling fiber's memory accesses and synchronization from TSan
 * until grace_ignore_end (nests; counted per fiber). */
static inline void grace_ignore_begin(void) {
#if defined(GOC_RACE)
    __tsan_ignore_thread_begin();
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
#endif
}

static inline void grace_ignore_end(void) {
#if defined(GOC_RACE)
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    __tsan_ignore_thread_end();
#endif
}

/* Allocation of the runtime's own structures (gs, Ms, Ps, stack
 * descriptors) by the uninstrumented scheduler: TSan's allocator would
 * record a write by whichever goroutine allocates, which no later user of
 * the structure is ordered after; hidden, the memory starts with no history.
 * Their atomics, used from instrumented code, are then checked normally. */
static inline void *grace_rt_calloc(size_t n, size_t size) {
    grace_ignore_begin();
    void *r = calloc(n, size);
    grace_ignore_end();
    return r;
}

/* grace_rt_calloc for a structure with an alignment above malloc's. */
static inline void *grace_rt_calloc_aligned(size_t align, size_t size) {
    grace_ignore_begin();
    void *r = aligned_alloc(align, (size + align - 1) / align * align);
    if (r)
        memset(r, 0, size);
    grace_ignore_end();
    return r;
}

static inline void *grace_rt_malloc(size_t size) {
    grace_ignore_begin();
    void *r = malloc(size);
    grace_ignore_end();
    return r;
}

static inline void grace_rt_free(void *ptr) {
    grace_ignore_begin();
    free(ptr);
    grace_ignore_end();
}

/* A function whose plain memory accesses TSan must not see (its atomics
 * still count): runtime bookkeeping per OS thread, which every goroutine
 * that runs on the thread touches. */
#if defined(GOC_RACE)
#define GRACE_NO_INSTRUMENT __attribute__((no_sanitize("thread")))
#else
#define GRACE_NO_INSTRUMENT
#endif

/* ---- AddressSanitizer ---- */

/* Right before switching to the stack [lo, lo+size); *fake_save receives
 * the leaving context's fake stack, NULL if it will never run again. */
static inline void gasan_switch_begin(void **fake_save, const void *lo, size_t size) {
#if defined(GOC_ASAN)
    __sanitizer_start_switch_fiber(fake_save, lo, size);
#else
    (void)fake_save;
    (void)lo;
    (void)size;
#endif
}

/* Right after a switch lands, with the fake stack saved when this context
 * left (NULL for a context's first run). */
static inline void gasan_switch_end(void *fake) {
#if defined(GOC_ASAN)
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)fake;
#endif
}

static inline void gasan_unpoison(const void *lo, size_t size) {
#if defined(GOC_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#else
    (void)lo;
    (void)size;
#endif
}

#endif
