/* stack/stack.c — goroutine stacks.
 *
 * Every goroutine has a stack of its own for its whole life (no stack copying:
 * C code keeps pointers into its stack, so stacks never move; no shared
 * stacks either). A stack is a range of reserved virtual memory: only the
 * pages a goroutine touches cost memory.
 *
 * Data structures
 *   - Default-size stacks (GOC_STACK_DEFAULT, 256 KiB) are carved from slabs
 *     of GSTACK_SLAB stacks, each slab one mmap(MAP_NORESERVE) so that 1M
 *     stacks (256 GiB of address space) are neither committed nor refused by
 *     heuristic overcommit. Adjacent slabs merge into one VMA.
 *   - The lowest page of every stack is its guard. Where the kernel has
 *     MADV_GUARD_INSTALL (Linux >= 6.13) guards do not split VMAs, so a
 *     million guarded stacks fit in vm.max_map_count = 65530. Elsewhere guards
 *     are mprotect(PROT_NONE) pages (two VMAs each) while they fit in a quarter
 *     of max_map_count; past that, stacks get a canary at their lowest bytes,
 *     checked at every switch away from the goroutine and when it exits: an
 *     overflow is still always reported, though only after the fact.
 *   - A gstack descriptor (malloc'd, never freed for slab stacks) describes
 *     each stack; free stacks are linked through the descriptor, never through
 *     the stack memory, so their pages can be returned to the kernel.
 *   - Each P caches up to GSTACK_CACHE_MAX free stacks, LIFO (the most
 *     recently used stack is the one whose pages are still hot). Overflow moves
 *     half to the global pool; an empty cache refills half from it.
 *   - The global pool has three lists: hot (freed recently), aging (unused
 *     for one scavenger period) and clean (pages returned with
 *     MADV_DONTNEED). gstack_scavenge, run periodically by the monitor thread,
 *     returns the pages of `aging` and demotes `hot` to `aging`: a stack's
 *     pages are given back only after it sat unused for a whole period, and
 *     never on the spawn/exit hot path.
 *   - Non-default sizes get their own mapping (GSTACK_CUSTOM), unmapped on free.
 *
 * Invariants
 *   - A stack is in exactly one place: a g, one P cache, or one pool list.
 *   - s->lo - GSTACK_GUARD_BYTES .. s->lo is the guard (or s->lo holds the
 *     canary in GSTACK_CANARY mode); lo, hi, flags never change.
 *   - pool.n == length(hot) + length(aging) + length(clean).
 *
 * Lock order (base/lockrank.h): stackpool.lock is last in the chain: nothing
 * is acquired while holding it.
 *
 * Rejected designs: one guard per stack by mprotect (dies at ~32k goroutines
 * here); one huge reservation for all stacks (a fixed cap, and heuristic
 * overcommit refuses it without MAP_NORESERVE anyway); madvise on every free
 * (a syscall per goroutine exit); segmented or copied stacks (pointers into C
 * stacks would dangle).
 */
#include "stack/stack.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <goc/runtime.h>

#include "base/assert.h"
#include "base/failpoint.h"
#include "base/lock.h"

#ifdef GOC_DEBUG
#include <valgrind/valgrind.h>
#endif
#include "base/race.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum { GSTACK_SLAB = 64, GSTACK_CACHE_MAX = 64 };
static const uint64_t gstack_canary = 0x676f635f73746b21ull; /* "goc_stk!" */
enum { GSTACK_CANARY_WORDS = 8 };

enum guard_mode { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT };

/* The global pool. Owner: protected by pool.lock. */
static struct {
    glock lock;
    gstack *hot, *aging, *clean;
    long n;
} pool = {GLOCK_INIT(LR_STACKPOOL), NULL, NULL, NULL, 0};

/* Set once in gstack_init before any goroutine exists; immutable after. */
static size_t page_size = 4096;
static size_t stack_default = GOC_STACK_DEFAULT;
static _Atomic int guard_mode = GUARD_UNKNOWN;
static long mprotect_budget; /* guards mprotect may still make; atomic via builtins */
/* Bytes (guards included) of custom-size stacks mapped now. Atomic; read by
 * tests, which check that exited goroutines' stacks were unmapped. */
static _Atomic size_t custom_mapped;

void gstack_init(void) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0)
        page_size = (size_t)ps;
    long maxmap = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maxmap) != 1)
            maxmap = 65530;
        fclose(f);
    }
    mprotect_budget = maxmap / 4;
}

size_t gstack_default_size(void) { return stack_default; }

size_t gstack_custom_mapped(void) {
    return atomic_load_explicit(&custom_mapped, memory_order_relaxed);
}

const char *gstack_guard_mode(void) {
    switch (atomic_load(&guard_mode)) {
    case GUARD_MADVISE:
        return "madvise-guard";
    case GUARD_MPROTECT:
        return "mprotect-guard";
    default:
        return "unknown";
    }
}

static void canary_write(gstack *s) {
    uint64_t *w = (uint64_t *)(void *)s->lo;
    for (int i = 0; i < GSTACK_CANARY_WORDS; i++)
        w[i] = gstack_canary;
}

bool gstack_canary_ok(const gstack *s) {
    const uint64_t *w = (const uint64_t *)(const void *)s->lo;
    for (int i = 0; i < GSTACK_CANARY_WORDS; i++)
        if (w[i] != gstack_canary)
            return false;
    return true;
}

bool gstack_is_overflow(const gstack *s, const void *addr) {
    const char *a = addr;
    /* The guard page, and anything a little below it: a large frame may skip
     * over the guard (the library itself is built with stack-clash probes). */
    return a < s->lo && a >= s->lo - 16 * (ptrdiff_t)GSTACK_GUARD_BYTES;
}

/* Make the guard of the stack whose usable range starts at lo. Returns the
 * flags the stack gets (0 or GSTACK_CANARY). */
static uint32_t guard_install(char *lo) {
    char *g = lo - GSTACK_GUARD_BYTES;
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode != GUARD_MPROTECT) {
        if (madvise(g, GSTACK_GUARD_BYTES, MADV_GUARD_INSTALL) == 0) {
            if (mode == GUARD_UNKNOWN)
                atomic_store(&guard_mode, GUARD_MADVISE);
            return 0;
        }
        atomic_store(&guard_mode, GUARD_MPROTECT);
    }
    if (__atomic_sub_fetch(&mprotect_budget, 1, __ATOMIC_RELAXED) >= 0 &&
        mprotect(g, GSTACK_GUARD_BYTES, PROT_NONE) == 0)
        return 0;
    return GSTACK_CANARY;
}

static void stack_register(gstack *s) {
#ifdef GOC_DEBUG
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#else
    (void)s;
#endif
}

/* Set when a slab could not be mapped; cleared by the next default stack
 * freed. Atomic: read on every free (a plain load while clear). */
static _Atomic bool exhausted;

bool gstack_exhausted(void) { return atomic_load_explicit(&exhausted, memory_order_relaxed); }

/* Map a new slab and return its stacks as a linked list (NULL on failure). */
static gstack *slab_new(int *count) {
    size_t sz = stack_default;
    gstack *descs =
        gfail_hit(GFAIL_STACK_ALLOC) ? NULL : grace_rt_calloc(GSTACK_SLAB, sizeof(gstack));
    char *base = descs ? mmap(NULL, sz * GSTACK_SLAB, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                       : MAP_FAILED;
    if (base == MAP_FAILED) {
        grace_rt_free(descs);
        atomic_store_explicit(&exhausted, true, memory_order_relaxed);
        return NULL;
    }
    gstack *head = NULL;
    for (int i = GSTACK_SLAB - 1; i >= 0; i--) {
        gstack *s = &descs[i];
        s->lo = base + (size_t)i * sz + GSTACK_GUARD_BYTES;
        s->hi = base + (size_t)(i + 1) * sz;
        s->flags = guard_install(s->lo);
        stack_register(s);
        s->next = head;
        head = s;
    }
    *count = GSTACK_SLAB;
    return head;
}

static gstack *custom_new(size_t size) {
    if (gfail_hit(GFAIL_STACK_ALLOC))
        return NULL;
    size = (size + page_size - 1) & ~(page_size - 1);
    gstack *s = grace_rt_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    char *base = mmap(NULL, size + GSTACK_GUARD_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        grace_rt_free(s);
        return NULL;
    }
    atomic_fetch_add_explicit(&custom_mapped, size + GSTACK_GUARD_BYTES, memory_order_relaxed);
    s->lo = base + GSTACK_GUARD_BYTES;
    s->hi = s->lo + size;
    s->flags = GSTACK_CUSTOM | guard_install(s->lo);
    stack_register(s);
    return s;
}

static void custom_free(gstack *s) {
#ifdef GOC_DEBUG
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    if (!(s->flags & GSTACK_CANARY) && atomic_load(&guard_mode) == GUARD_MPROTECT)
        __atomic_add_fetch(&mprotect_budget, 1, __ATOMIC_RELAXED);
    size_t bytes = (size_t)(s->hi - s->lo) + GSTACK_GUARD_BYTES;
    /* munmap of a whole mapping of ours fails only when splitting VMAs
     * would pass vm.max_map_count: the stack stays mapped, and counted. */
    if (munmap(s->lo - GSTACK_GUARD_BYTES, bytes) == 0)
        atomic_fetch_sub_explicit(&custom_mapped, bytes, memory_order_relaxed);
    grace_rt_free(s);
}

/* Take up to n stacks from the pool into the cache (hot first). */
static void pool_refill(gstack_cache *c, int n) {
    glock_lock(&pool.lock);
    gstack **lists[3] = {&pool.hot, &pool.aging, &pool.clean};
    for (int i = 0; i < 3 && n > 0; i++) {
        while (*lists[i] && n > 0) {
            gstack *s = *lists[i];
            *lists[i] = s->next;
            s->next = c->head;
            c->head = s;
            c->n++;
            pool.n--;
            n--;
        }
    }
    glock_unlock(&pool.lock);
}

#if defined(GOC_RACE)
/* Mapping fresh pages over the usable range, while TSan ignores the calling
 * fiber, makes its mmap interceptor reset the range's shadow (with accesses
 * not ignored it would record a write by the caller instead). The guard
 * below lo is left alone; a canary is written again. */
void gstack_race_reset(gstack *s) {
    uintptr_t lo = ((uintptr_t)s->lo + page_size - 1) & ~(uintptr_t)(page_size - 1);
    uintptr_t hi = (uintptr_t)s->hi & ~(uintptr_t)(page_size - 1);
    if (hi <= lo)
        return;
    grace_ignore_begin();
    void *r = mmap((void *)lo, hi - lo, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    grace_ignore_end();
    if (r == MAP_FAILED)
        gthrow("runtime: cannot remap a goroutine stack for the race detector");
    if (s->flags & GSTACK_CANARY)
        canary_write(s);
}
#endif

static void stack_prepare(gstack *s) {
    /* ASan: a stack abandoned mid-frame (goc_exit) stays poisoned: clean it. */
    gasan_unpoison(s->lo, (size_t)(s->hi - s->lo));
    if (s->flags & GSTACK_CANARY)
        canary_write(s);
}

gstack *gstack_get(gstack_cache *c, size_t size) {
    if (size == 0)
        size = stack_default;
    if (size < GOC_STACK_MIN)
        size = GOC_STACK_MIN;
    size = (size + page_size - 1) & ~(page_size - 1);
    gstack *s;
    if (size != stack_default) {
        s = custom_new(size);
        if (s)
            stack_prepare(s);
        return s;
    }
    if (c && !c->head)
        pool_refill(c, GSTACK_CACHE_MAX / 2);
    if (c && c->head) {
        s = c->head;
        c->head = s->next;
        c->n--;
        stack_prepare(s);
        return s;
    }
    if (!c) {
        gstack_cache tmp = {NULL, 0};
        pool_refill(&tmp, 1);
        if (tmp.head) {
            stack_prepare(tmp.head);
            return tmp.head;
        }
    }
    int n = 0;
    gstack *list = slab_new(&n);
    if (!list)
        return NULL;
    s = list;
    list = list->next;
    /* Keep the rest: in the cache when there is one, else in the pool. */
    while (list) {
        gstack *x = list;
        list = x->next;
        gstack_put(c, x);
    }
    stack_prepare(s);
    return s;
}

int gstack_ensure_slow(gstack_cache *c) {
    glock_lock(&pool.lock);
    long free = pool.n;
    glock_unlock(&pool.lock);
    if (free > 0)
        return 0;
    int n = 0;
    gstack *list = slab_new(&n);
    if (!list)
        return -ENOMEM;
    while (list) {
        gstack *x = list;
        list = x->next;
        gstack_put(c, x);
    }
    return 0;
}

void gstack_put(gstack_cache *c, gstack *s) {
    if (s->flags & GSTACK_CUSTOM) {
        custom_free(s);
        return;
    }
    if (GOC_UNLIKELY(atomic_load_explicit(&exhausted, memory_order_relaxed)))
        atomic_store_explicit(&exhausted, false, memory_order_relaxed);
    if (c) {
        s->next = c->head;
        c->head = s;
        if (++c->n <= GSTACK_CACHE_MAX)
            return;
        /* Overflow: move the older half (the coldest) to the pool. */
        gstack *keep = c->head;
        for (int i = 1; i < GSTACK_CACHE_MAX / 2; i++)
            keep = keep->next;
        gstack *spill = keep->next;
        keep->next = NULL;
        int nspill = c->n - GSTACK_CACHE_MAX / 2;
        c->n = GSTACK_CACHE_MAX / 2;
        gstack *tail = spill;
        while (tail->next)
            tail = tail->next;
        glock_lock(&pool.lock);
        tail->next = pool.hot;
        pool.hot = spill;
        pool.n += nspill;
        glock_unlock(&pool.lock);
        return;
    }
    glock_lock(&pool.lock);
    s->next = pool.hot;
    pool.hot = s;
    pool.n++;
    glock_unlock(&pool.lock);
}

void gstack_cache_flush(gstack_cache *c) {
    while (c->head) {
        gstack *s = c->head;
        c->head = s->next;
        c->n--;
        gstack_put(NULL, s);
    }
}

void gstack_scavenge(void) {
    glock_lock(&pool.lock);
    gstack *old = pool.aging;
    pool.aging = pool.hot;
    pool.hot = NULL;
    long n = 0;
    for (gstack *s = old; s; s = s->next)
        n++;
    pool.n -= n;
    glock_unlock(&pool.lock);
    if (!old)
        return;
    /* Outside the lock: madvise takes time; these stacks are ours alone now. */
    gstack *tail = NULL;
    for (gstack *s = old; s; s = s->next) {
        madvise(s->lo, (size_t)(s->hi - s->lo), MADV_DONTNEED);
        tail = s;
    }
    glock_lock(&pool.lock);
    tail->next = pool.clean;
    pool.clean = old;
    pool.n += n;
    glock_unlock(&pool.lock);
}
