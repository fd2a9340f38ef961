/* config_reload.c — hot config reload through an atomic pointer: readers
 * never block, and an old config is freed only when no reader can still
 * hold it.
 *
 * Go original (the seeds, "Atomic Pointer for Config Reload"):
 *
 *     var currentConfig atomic.Pointer[Config]
 *     func GetConfig() *Config { return currentConfig.Load() }
 *     func ReloadConfig() error {
 *         newConfig, err := loadFromFile()
 *         if err != nil { return err }
 *         currentConfig.Store(newConfig) // atomic swap
 *         return nil
 *     }
 *
 * Go's garbage collector frees the old Config once no reader refers to it.
 * C has no collector, so this example pairs the atomic pointer with hazard
 * pointers: each reader publishes the config it is about to use in a slot
 * of its own (a plain atomic store, then a re-check that it is still the
 * current one); the reloader swaps the pointer, then waits until no slot
 * holds the old config before freeing it. Readers never wait for anything;
 * only the (rare) reloader waits, and only for readers in the middle of one
 * use. A reader that saw a freed config would see its poisoned `magic`:
 * the example checks that none ever does. */
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum { READERS = 8, RELOADS = 2000, CONFIG_MAGIC = 0x436f6e66 };

struct config {
    int magic;   /* CONFIG_MAGIC while alive; poisoned before free */
    int version; /* Feature2 stands in for the rest of the config */
    bool feature1;
};

static struct config *_Atomic current;         /* currentConfig */
static struct config *_Atomic hazard[READERS]; /* each reader's published config */
static _Atomic bool stop;
static _Atomic long reads, bad;

/* GetConfig, with the reader's hazard slot: the config stays valid until
 * put_config. */
static struct config *get_config(int reader) {
    struct config *c;
    do {
        c = atomic_load(&current);
        atomic_store(&hazard[reader], c);
    } while (c != atomic_load(&current)); /* swapped meanwhile: publish again */
    return c;
}

static void put_config(int reader) { atomic_store(&hazard[reader], NULL); }

static struct config *load_from_file(int version) {
    struct config *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = (struct config){CONFIG_MAGIC, version, version % 2 == 0};
    return c;
}

/* ReloadConfig: swap, then free the old config once no reader holds it. */
static int reload_config(int version) {
    struct config *fresh = load_from_file(version);
    if (!fresh)
        return -1;
    struct config *old = atomic_exchange(&current, fresh);
    for (int i = 0; i < READERS; i++)
        while (atomic_load(&hazard[i]) == old)
            goc_yield(); /* that reader is between get and put: let it finish */
    old->magic = 0;      /* poison: a reader still using it would notice */
    free(old);
    return 0;
}

static goc_waitgroup wg;

static void reader(void *arg) {
    int id = (int)(long)arg;
    int last = 0;
    while (!atomic_load(&stop)) {
        struct config *c = get_config(id);
        if (c->magic != CONFIG_MAGIC || c->version < last || c->feature1 != (c->version % 2 == 0))
            atomic_fetch_add(&bad, 1);
        last = c->version; /* versions only move forward */
        put_config(id);
        atomic_fetch_add(&reads, 1);
        goc_yield(); /* scheduling is cooperative until preemption lands */
    }
    goc_wg_done(&wg);
}

static int run(void *arg) {
    (void)arg;
    atomic_store(&current, load_from_file(0));
    goc_wg_add(&wg, READERS);
    for (long i = 0; i < READERS; i++)
        goc_go(reader, (void *)i);
    for (int v = 1; v <= RELOADS; v++) {
        if (reload_config(v) != 0)
            return 1;
        if (v % 100 == 0)
            goc_sleep(GOC_MILLISECOND);
    }
    atomic_store(&stop, true);
    goc_wg_wait(&wg);
    struct config *last = atomic_load(&current);
    printf("%d reloads, %ld reads by %d readers, %ld bad reads, final version %d\n", RELOADS,
           atomic_load(&reads), READERS, atomic_load(&bad), last->version);
    int ok = atomic_load(&bad) == 0 && last->version == RELOADS;
    free(last);
    return ok ? 0 : 1;
}

int main(void) { return goc_run(run, NULL); }
