/* sync/map.c — sync.Map for byte-string keys: a sharded hash table.
 *
 * Data structures
 *   goc_map: a random hash seed and MAP_SHARDS (64) shards, each on its own
 *   cache line. A key's 64-bit hash picks the shard (top 6 bits) and the
 *   bucket within it (low bits).
 *   map_shard:
 *     mu       a goc_rwmutex (goroutine-aware: a contended shard parks
 *              goroutines, never threads) guarding the hash chains:
 *              buckets, nbuckets, every entry's hnext, and changes of count.
 *     buckets  nbuckets chain heads (power of two; allocated on the first
 *              insert, doubled when count exceeds nbuckets).
 *     count    live entries; changed under mu held for writing, read with no
 *              lock by goc_map_len.
 *     list_lock a glock guarding the insertion list (head, tail, each
 *              entry's lnode), seq, and each entry's pins and dead.
 *     head/tail every entry of the shard in insertion order: the live ones
 *              and "zombies" (deleted while a Range had them pinned).
 *     seq      the insertion number the next entry gets.
 *   map_entry: the key (copied, inline), its hash and seq (immutable), the
 *     value (atomic: written with mu held in either mode, read with mu held
 *     or, by Range, with list_lock), and pins (Ranges whose cursor it is).
 *
 * Operations
 *   Load, and Store/Swap/LoadOrStore/CompareAndSwap on a present key, run
 *   under mu's read lock: the value is an atomic, and the chain cannot
 *   change (that needs the write lock). Inserting and deleting take the
 *   write lock (after a read-locked look when that can avoid it).
 *   Delete unlinks the entry from its chain, then under list_lock marks it
 *   dead and unlinks it from the list and frees it unless it is pinned; a
 *   pinned zombie is freed by the Range that drops the last pin.
 *   Range walks each shard's list under list_lock only: it skips dead
 *   entries, stops at the first entry whose seq is not below the shard's
 *   seq when the walk began, pins the entry, reads its value, drops the
 *   lock, calls fn, retakes the lock, steps to lnext and unpins. No lock is
 *   held while fn runs, so fn may use the map freely and may block.
 *
 * Invariants
 *   - An entry is in a chain iff it is live (!dead); a live entry is in its
 *     shard's list; a dead entry is in the list iff pins > 0.
 *   - One live entry per key. Entries are freed only when dead and unpinned,
 *     by whoever makes that true, after unlinking under list_lock.
 *   - List order is insertion order (append at tail, seq strictly rising),
 *     and an entry never moves: so a key live for a whole Range is visited
 *     exactly once (its entry lies in the walked prefix and stays linked),
 *     and no key twice (a later entry for the same key has a newer seq).
 *   - count == number of live entries of the shard when no writer is inside.
 *
 * Lock order: mu (either mode) -> list_lock. Range takes list_lock alone.
 *   list_lock (a glock) is held only for bounded work, never across fn, a
 *   goroutine switch, or a goc_rwmutex operation.
 *
 * Allocation: an insert needs one malloc (entry + key); failing, the map is
 *   unchanged and -ENOMEM is returned. A failed table growth keeps the old
 *   table (longer chains). Range and every other operation never allocate.
 *
 * Rejected designs
 *   - Go's read-only map plus dirty map with promotion (built on the GC for
 *     safe lock-free reads; in C it needs hazard pointers or epochs, and
 *     Range would copy the whole map).
 *   - Range snapshotting a shard into an array (O(n) memory, and an
 *     allocation that can fail halfway through a Range).
 *   - Calling fn with a shard lock held (deadlocks if fn writes the shard,
 *     and a glock must never be held across a possible block).
 *   - One global rwmutex (every writer would serialize all readers).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <goc/sync.h>

#include "base/assert.h"
#include "base/failpoint.h"
#include "base/list.h"
#include "base/lock.h"
#include "sched/sched.h"

enum { MAP_SHARD_BITS = 6, MAP_SHARDS = 1 << MAP_SHARD_BITS, MAP_MIN_BUCKETS = 8 };

struct map_entry {
    struct map_entry *hnext; /* shard mu */
    glist_node lnode;        /* the shard's list; shard list_lock */
    uint64_t hash;           /* immutable */
    uint64_t seq;            /* immutable after insertion */
    void *_Atomic val;       /* see the design comment */
    uint32_t pins;           /* list_lock */
    bool dead;               /* list_lock (set with mu write-held too) */
    size_t len;              /* immutable */
    unsigned char key[];     /* immutable */
};

struct map_shard {
    goc_rwmutex mu;
    _Atomic size_t count;       /* written under mu (write) */
    size_t nbuckets;            /* mu */
    struct map_entry **buckets; /* mu */
    glock list_lock;
    uint64_t seq; /* list_lock */
    glist list;   /* of map_entry.lnode, insertion order; list_lock */
} __attribute__((aligned(64)));

/* The entry of list node n, or NULL. */
static inline struct map_entry *lentry(glist_node *n) {
    return n ? glist_entry(n, struct map_entry, lnode) : NULL;
}

struct goc_map {
    uint64_t seed; /* immutable */
    struct map_shard shard[MAP_SHARDS];
};

/* ---- hashing ---- */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t map_hash(uint64_t seed, const unsigned char *p, size_t n) {
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = seed ^ ((uint64_t)n * k);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w ^ ((uint64_t)n << 59)) * k;
    }
    return mix64(h);
}

static inline struct map_shard *shard_of(goc_map *m, uint64_t h) {
    return &m->shard[h >> (64 - MAP_SHARD_BITS)];
}

/* ---- chains (mu held) ---- */

static inline bool entry_is(const struct map_entry *e, uint64_t h, const void *key, size_t len) {
    return e->hash == h && e->len == len && (len == 0 || memcmp(e->key, key, len) == 0);
}

/* The link that points to key's entry, or NULL if absent. */
static struct map_entry **find_link(struct map_shard *s, uint64_t h, const void *key, size_t len) {
    if (s->nbuckets == 0)
        return NULL;
    struct map_entry **link = &s->buckets[h & (s->nbuckets - 1)];
    for (; *link; link = &(*link)->hnext)
        if (entry_is(*link, h, key, len))
            return link;
    return NULL;
}

static struct map_entry *find(struct map_shard *s, uint64_t h, const void *key, size_t len) {
    struct map_entry **link = find_link(s, h, key, len);
    return link ? *link : NULL;
}

/* mu write-held. Doubles the table; on failure keeps the old one. */
static void grow(struct map_shard *s) {
    size_t nb = s->nbuckets ? s->nbuckets * 2 : MAP_MIN_BUCKETS;
    if (nb < s->nbuckets || nb > SIZE_MAX / sizeof(struct map_entry *))
        return;
    struct map_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct map_entry *e = s->buckets[i];
        while (e) {
            struct map_entry *next = e->hnext;
            struct map_entry **head = &b[e->hash & (nb - 1)];
            e->hnext = *head;
            *head = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* mu write-held; key absent. Returns the new entry or NULL (no memory). */
static struct map_entry *insert(struct map_shard *s, uint64_t h, const void *key, size_t len,
                                void *val) {
    if (len > SIZE_MAX - sizeof(struct map_entry))
        return NULL;
    size_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
    if (count >= s->nbuckets)
        grow(s);
    if (s->nbuckets == 0 || gfail_hit(GFAIL_ALLOC))
        return NULL;
    struct map_entry *e = malloc(sizeof *e + len);
    if (!e)
        return NULL;
    e->hash = h;
    e->len = len;
    if (len)
        memcpy(e->key, key, len);
    e->pins = 0;
    e->dead = false;
    atomic_store_explicit(&e->val, val, memory_order_relaxed);
    struct map_entry **head = &s->buckets[h & (s->nbuckets - 1)];
    e->hnext = *head;
    *head = e;
    atomic_store_explicit(&s->count, count + 1, memory_order_relaxed);

    glock_lock(&s->list_lock);
    e->seq = s->seq++;
    /* insertion order: seq strictly rising along the list */
    GOC_ASSERT(!s->list.last || lentry(s->list.last)->seq < e->seq);
    glist_push_back(&s->list, &e->lnode);
    glock_unlock(&s->list_lock);
    return e;
}

/* list_lock held. */
static void list_unlink(struct map_shard *s, struct map_entry *e) {
    glock_assert_held(&s->list_lock);
    /* a live entry, or a pinned dead one, stays in the list */
    GOC_ASSERT(e->dead && e->pins == 0 && e->hnext == NULL);
    glist_remove(&s->list, &e->lnode);
}

/* mu write-held; *link is the entry to delete. */
static void remove_at(struct map_shard *s, struct map_entry **link) {
    struct map_entry *e = *link;
    *link = e->hnext;
    e->hnext = NULL;
    GOC_ASSERT(!e->dead);
    GOC_ASSERT(atomic_load_explicit(&s->count, memory_order_relaxed) > 0);
    atomic_store_explicit(&s->count, atomic_load_explicit(&s->count, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    bool free_it = false;
    glock_lock(&s->list_lock);
    e->dead = true;
    if (e->pins == 0) {
        list_unlink(s, e);
        free_it = true;
    }
    glock_unlock(&s->list_lock);
    if (free_it)
        free(e); /* else the last Range to unpin it frees it */
}

/* ---- public ---- */

goc_map *goc_map_new(void) {
    goc_map *m = gfail_hit(GFAIL_ALLOC) ? NULL : aligned_alloc(_Alignof(goc_map), sizeof(goc_map));
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    memset(m, 0, sizeof *m);
    for (int i = 0; i < MAP_SHARDS; i++)
        glock_init(&m->shard[i].list_lock, LR_MAP);
    m->seed = mix64(((uint64_t)gfastrand() << 32 | gfastrand()) ^ (uint64_t)(uintptr_t)m ^
                    (uint64_t)gnanotime());
    return m;
}

void goc_map_free(goc_map *m) {
    if (!m)
        return;
    for (int i = 0; i < MAP_SHARDS; i++) {
        struct map_shard *s = &m->shard[i];
        glist_check(&s->list);
        struct map_entry *e = lentry(s->list.first);
        while (e) {
            struct map_entry *next = lentry(e->lnode.next);
            free(e);
            e = next;
        }
        free(s->buckets);
    }
    free(m);
}

bool goc_map_load(goc_map *m, const void *key, size_t len, void **val) {
    uint64_t h = map_hash(m->seed, key, len);
    struct map_shard *s = shard_of(m, h);
    goc_rwmutex_rlock(&s->mu);
    struct map_entry *e = find(s, h, key, len);
    void *v = e ? atomic_load_explicit(&e->val, memory_order_acquire) : NULL;
    goc_rwmutex_runlock(&s->mu);
    if (val)
        *val = v;
    return e != NULL;
}

/* The operations that store: kind selects what happens on a present key.
 * Returns 1 (present), 0 (inserted) or -ENOMEM; *out gets the value Go
 * would return (the loaded one, or the previous one). */
enum store_kind { STORE, SWAP, LOAD_OR_STORE };

static int do_store(goc_map *m, const void *key, size_t len, void *val, void **out,
                    enum store_kind kind) {
    uint64_t h = map_hash(m->seed, key, len);
    struct map_shard *s = shard_of(m, h);
    void *prev = NULL;
    int rc;
    /* A present key needs only the read lock: the value is an atomic. */
    goc_rwmutex_rlock(&s->mu);
    struct map_entry *e = find(s, h, key, len);
    if (e) {
        if (kind == LOAD_OR_STORE)
            prev = atomic_load_explicit(&e->val, memory_order_acquire);
        else
            prev = atomic_exchange_explicit(&e->val, val, memory_order_acq_rel);
    }
    goc_rwmutex_runlock(&s->mu);
    if (e) {
        rc = 1;
        goto out;
    }
    goc_rwmutex_lock(&s->mu);
    e = find(s, h, key, len);
    if (e) {
        if (kind == LOAD_OR_STORE)
            prev = atomic_load_explicit(&e->val, memory_order_acquire);
        else
            prev = atomic_exchange_explicit(&e->val, val, memory_order_acq_rel);
        rc = 1;
    } else if (insert(s, h, key, len, val)) {
        prev = kind == LOAD_OR_STORE ? val : NULL;
        rc = 0;
    } else {
        rc = -ENOMEM;
    }
    goc_rwmutex_unlock(&s->mu);
out:
    if (out)
        *out = prev;
    return rc;
}

int goc_map_store(goc_map *m, const void *key, size_t len, void *val) {
    int rc = do_store(m, key, len, val, NULL, STORE);
    return rc < 0 ? rc : 0;
}

int goc_map_load_or_store(goc_map *m, const void *key, size_t len, void *val, void **actual) {
    return do_store(m, key, len, val, actual, LOAD_OR_STORE);
}

int goc_map_swap(goc_map *m, const void *key, size_t len, void *val, void **previous) {
    return do_store(m, key, len, val, previous, SWAP);
}

bool goc_map_compare_and_swap(goc_map *m, const void *key, size_t len, void *old, void *new_val) {
    uint64_t h = map_hash(m->seed, key, len);
    struct map_shard *s = shard_of(m, h);
    goc_rwmutex_rlock(&s->mu);
    struct map_entry *e = find(s, h, key, len);
    bool ok = e && atomic_compare_exchange_strong_explicit(
                       &e->val, &old, new_val, memory_order_acq_rel, memory_order_acquire);
    goc_rwmutex_runlock(&s->mu);
    return ok;
}

/* Delete key (if match, only when its value is old). Returns whether it
 * deleted; *val = the deleted value. */
static bool do_delete(goc_map *m, const void *key, size_t len, bool match, void *old, void **val) {
    uint64_t h = map_hash(m->seed, key, len);
    struct map_shard *s = shard_of(m, h);
    /* Look first under the read lock: a miss needs no write lock. */
    goc_rwmutex_rlock(&s->mu);
    struct map_entry *e = find(s, h, key, len);
    bool maybe = e && (!match || atomic_load_explicit(&e->val, memory_order_relaxed) == old);
    goc_rwmutex_runlock(&s->mu);
    void *v = NULL;
    bool deleted = false;
    if (maybe) {
        goc_rwmutex_lock(&s->mu);
        struct map_entry **link = find_link(s, h, key, len);
        if (link) {
            v = atomic_load_explicit(&(*link)->val, memory_order_acquire);
            if (!match || v == old) {
                remove_at(s, link);
                deleted = true;
            }
        }
        goc_rwmutex_unlock(&s->mu);
    }
    if (val)
        *val = deleted ? v : NULL;
    return deleted;
}

bool goc_map_load_and_delete(goc_map *m, const void *key, size_t len, void **val) {
    return do_delete(m, key, len, false, NULL, val);
}

void goc_map_delete(goc_map *m, const void *key, size_t len) {
    do_delete(m, key, len, false, NULL, NULL);
}

bool goc_map_compare_and_delete(goc_map *m, const void *key, size_t len, void *old) {
    return do_delete(m, key, len, true, old, NULL);
}

/* One shard's part of a Range; false if fn asked to stop. */
static bool range_shard(struct map_shard *s, bool (*fn)(const void *, size_t, void *, void *),
                        void *arg) {
    struct map_entry *garbage = NULL; /* an unpinned zombie, freed after unlock */
    glock_lock(&s->list_lock);
    uint64_t limit = s->seq; /* entries from here on were inserted after we began */
    struct map_entry *e = lentry(s->list.first);
    for (;;) {
        while (e && e->dead) {
            GOC_ASSERT(e->pins > 0); /* a dead entry is listed only while pinned */
            e = lentry(e->lnode.next);
        }
        if (!e || e->seq >= limit)
            break;
        e->pins++;
        void *v = atomic_load_explicit(&e->val, memory_order_acquire);
        glock_unlock(&s->list_lock);
        free(garbage);
        garbage = NULL;

        bool more = fn(e->key, e->len, v, arg);

        glock_lock(&s->list_lock);
        GOC_ASSERT(e->pins > 0 && glist_contains_node(&s->list, &e->lnode));
        struct map_entry *next = lentry(e->lnode.next); /* e is still linked: pinned */
        if (--e->pins == 0 && e->dead) {
            list_unlink(s, e);
            garbage = e;
        }
        if (!more) {
            glock_unlock(&s->list_lock);
            free(garbage);
            return false;
        }
        e = next;
    }
    glock_unlock(&s->list_lock);
    free(garbage);
    return true;
}

void goc_map_range(goc_map *m, bool (*fn)(const void *key, size_t len, void *val, void *arg),
                   void *arg) {
    for (int i = 0; i < MAP_SHARDS; i++)
        if (!range_shard(&m->shard[i], fn, arg))
            return;
}

size_t goc_map_len(goc_map *m) {
    size_t n = 0;
    for (int i = 0; i < MAP_SHARDS; i++)
        n += atomic_load_explicit(&m->shard[i].count, memory_order_relaxed);
    return n;
}

void goc_map_clear(goc_map *m) {
    for (int i = 0; i < MAP_SHARDS; i++) {
        struct map_shard *s = &m->shard[i];
        /* An insert racing with this look counts as after the Clear. */
        if (atomic_load_explicit(&s->count, memory_order_relaxed) == 0)
            continue;
        goc_rwmutex_lock(&s->mu);
        for (size_t b = 0; b < s->nbuckets; b++)
            while (s->buckets[b])
                remove_at(s, &s->buckets[b]);
        goc_rwmutex_unlock(&s->mu);
    }
}
