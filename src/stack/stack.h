/* stack/stack.h — goroutine stacks: reservation, guard pages, per-P caches.
 * Design and invariants: stack/stack.c. */
#ifndef GOC_STACK_H
#define GOC_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GSTACK_CUSTOM = 1u << 0, /* own mapping (non-default size): unmapped when freed */
    GSTACK_CANARY = 1u << 1, /* no guard page: canary words checked at every switch */
    GSTACK_SMALL = 1u << 2,  /* sub-default size carved from a shared small-stack slab */
};

typedef struct gstack {
    char *lo;            /* lowest usable byte, just above the guard; immutable */
    char *hi;            /* one past the highest usable byte; immutable */
    struct gstack *next; /* free-list link; owned by the list that holds the stack */
    uint32_t flags;      /* GSTACK_*; immutable */
    unsigned vg_id;      /* valgrind stack id (debug builds); immutable */
} gstack;

/* A processor's private cache of default-size stacks. Owner: the M holding the P. */
typedef struct gstack_cache {
    gstack *head;
    int n;
} gstack_cache;

#define GSTACK_GUARD_BYTES 4096u

void gstack_init(void);
/* size 0: default size. Returns NULL when no memory could be had. */
gstack *gstack_get(gstack_cache *c, size_t size);
void gstack_put(gstack_cache *c, gstack *s);
/* Make sure a default-size stack can be had from c or the global pool,
 * mapping a new slab if both are empty: 0, or -ENOMEM when the address
 * space or memory ran out. newproc calls it, so that running out is the
 * spawn's -ENOMEM rather than a fatal error when the goroutine first runs
 * (its stack is still taken lazily, at the first switch: see proc.c). */
int gstack_ensure_slow(gstack_cache *c);
static inline int gstack_ensure(gstack_cache *c) {
    return c && c->head ? 0 : gstack_ensure_slow(c); /* the spawn path: one load */
}
/* Did mapping stacks fail since a default stack was last freed? */
bool gstack_exhausted(void);
void gstack_cache_flush(gstack_cache *c);
/* Return the pages of stacks that stayed unused since the last call. */
void gstack_scavenge(void);
/* Canary mode: false if the bottom of the stack was overwritten. */
bool gstack_canary_ok(const gstack *s);
/* Is addr inside s's guard region (or just below it)? */
bool gstack_is_overflow(const gstack *s, const void *addr);
size_t gstack_default_size(void);
/* Bytes of custom-size stacks mapped now, guards included (for tests). */
size_t gstack_custom_mapped(void);
#if defined(GOC_RACE)
/* ThreadSanitizer: forget every access made to s's memory (by goroutines
 * that used it before), before a new goroutine starts on it. */
void gstack_race_reset(gstack *s);
#endif
const char *gstack_guard_mode(void);

#endif
