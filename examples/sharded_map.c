/* sharded_map.c — a map split into shards, each behind its own RWMutex,
 * so that writers to different shards do not contend; then the same
 * counting with goc_map (Go's sync.Map).
 *
 * Go original (sharded map):
 *
 *     type shard struct {
 *         mu sync.RWMutex
 *         m  map[string]int
 *     }
 *     type ShardedMap [numShards]*shard
 *
 *     func (s *ShardedMap) shard(key string) *shard {
 *         return s[fnv32(key)%numShards]
 *     }
 *     func (s *ShardedMap) Add(key string, delta int) {
 *         sh := s.shard(key)
 *         sh.mu.Lock()
 *         sh.m[key] += delta
 *         sh.mu.Unlock()
 *     }
 *     func (s *ShardedMap) Get(key string) int {
 *         sh := s.shard(key)
 *         sh.mu.RLock()
 *         defer sh.mu.RUnlock()
 *         return sh.m[key]
 *     }
 *
 * Each writer goroutine adds 1 to every key ROUNDS times, so every key
 * must end at WRITERS * ROUNDS exactly. Each shard here is a small
 * open-addressing table with fixed-size keys. */
#include <goc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { SHARDS = 8, SLOTS = 32, KEYS = 40, WRITERS = 6, ROUNDS = 50, KEY_LEN = 16 };

struct shard {
    goc_rwmutex mu;
    int used;
    char keys[SLOTS][KEY_LEN];
    long vals[SLOTS];
};

static struct shard shards[SHARDS];

static uint32_t fnv32(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int find(struct shard *sh, const char *key) { /* slot of key, or -1 */
    for (int i = 0; i < sh->used; i++)
        if (strcmp(sh->keys[i], key) == 0)
            return i;
    return -1;
}

static bool sharded_add(const char *key, long delta) {
    struct shard *sh = &shards[fnv32(key) % SHARDS];
    goc_rwmutex_lock(&sh->mu); /* sh.mu.Lock() */
    int i = find(sh, key);
    if (i < 0 && sh->used < SLOTS) {
        i = sh->used++;
        snprintf(sh->keys[i], KEY_LEN, "%s", key);
        sh->vals[i] = 0;
    }
    if (i >= 0)
        sh->vals[i] += delta; /* sh.m[key] += delta */
    goc_rwmutex_unlock(&sh->mu);
    return i >= 0;
}

static long sharded_get(const char *key) {
    struct shard *sh = &shards[fnv32(key) % SHARDS];
    goc_rwmutex_rlock(&sh->mu); /* sh.mu.RLock() */
    int i = find(sh, key);
    long v = i < 0 ? 0 : sh->vals[i];
    goc_rwmutex_runlock(&sh->mu);
    return v;
}

struct writer {
    goc_map *m;
    int id;
    _Atomic int *failures;
};

static void writer(void *arg) {
    struct writer *w = arg;
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < KEYS; k++) {
            int key = (k + w->id * 7) % KEYS; /* writers visit the keys in different orders */
            char name[KEY_LEN];
            snprintf(name, sizeof name, "key-%d", key);
            if (!sharded_add(name, 1))
                (*w->failures)++;
            /* sync.Map: one counter per key; LoadOrStore, then CompareAndSwap in a loop. */
            void *cur;
            if (goc_map_load_or_store(w->m, name, strlen(name), (void *)(intptr_t)1, &cur) == 1)
                while (!goc_map_compare_and_swap(w->m, name, strlen(name), cur,
                                                 (void *)((intptr_t)cur + 1)))
                    goc_map_load(w->m, name, strlen(name), &cur);
            if ((r + k) % 16 == 0)
                goc_yield(); /* mix the writers up on one processor too */
        }
}

struct totals {
    long sum;
    int keys;
};

static bool add_up(const void *key, size_t len, void *val, void *arg) {
    (void)key, (void)len;
    struct totals *t = arg;
    t->sum += (long)(intptr_t)val;
    t->keys++;
    return true;
}

static int run(void *arg) {
    (void)arg;
    goc_map *m = goc_map_new();
    if (!m) {
        fprintf(stderr, "sharded_map: out of memory\n");
        return 1;
    }
    _Atomic int failures = 0;
    goc_waitgroup wg = {0};
    struct writer ws[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (struct writer){.m = m, .id = i, .failures = &failures};
        if (goc_wg_go(&wg, writer, &ws[i]) != 0) {
            fprintf(stderr, "sharded_map: cannot start a writer\n");
            return 1;
        }
    }
    goc_wg_wait(&wg);

    int wrong = 0;
    long total = 0;
    for (int k = 0; k < KEYS; k++) {
        char name[KEY_LEN];
        snprintf(name, sizeof name, "key-%d", k);
        long v = sharded_get(name);
        void *mv = NULL;
        goc_map_load(m, name, strlen(name), &mv);
        total += v;
        wrong += v != WRITERS * ROUNDS || (intptr_t)mv != WRITERS * ROUNDS;
    }
    struct totals t = {0, 0};
    goc_map_range(m, add_up, &t);
    size_t len = goc_map_len(m);
    goc_map_free(m);

    printf("sharded map: %d keys in %d shards (", KEYS, SHARDS);
    for (int s = 0; s < SHARDS; s++)
        printf("%s%d", s ? " " : "", shards[s].used);
    printf("), each %ld, total %ld\n", sharded_get("key-0"), total);
    printf("goc_map: %zu keys, range total %ld\n", len, t.sum);
    long want = (long)KEYS * WRITERS * ROUNDS;
    if (wrong || failures || total != want || t.sum != want || t.keys != KEYS || len != KEYS) {
        fprintf(stderr, "sharded_map: %d wrong keys, totals %ld / %ld, want %ld\n", wrong, total,
                t.sum, want);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
