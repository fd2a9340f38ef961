/* pool_buffers.c — reuse buffers through sync.Pool instead of allocating
 * one per use.
 *
 * Go original:
 *
 *     var bufPool = sync.Pool{
 *         New: func() any { return new(bytes.Buffer) },
 *     }
 *
 *     func render(w io.Writer, v int) {
 *         buf := bufPool.Get().(*bytes.Buffer)
 *         buf.Reset()
 *         defer bufPool.Put(buf)
 *         fmt.Fprintf(buf, "item %d", v)
 *         w.Write(buf.Bytes())
 *     }
 *
 * Several goroutines render many items; the pool hands buffers back, so
 * New runs far fewer times than there are uses. How many buffers are made
 * depends on scheduling (and the pool may drop items), so only "fewer than
 * uses" is checked, plus every rendered line. The pool frees its cached
 * buffers on destroy (free_fn); the counters show none is lost. */
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WORKERS = 4, ITEMS = 250, BUF_SIZE = 64 };

struct buffer {
    size_t len;
    char data[BUF_SIZE];
};

static _Atomic int made, freed;

static void *new_buffer(void) { /* New: func() any { return new(bytes.Buffer) } */
    atomic_fetch_add(&made, 1);
    return calloc(1, sizeof(struct buffer));
}

static void free_buffer(void *b) {
    atomic_fetch_add(&freed, 1);
    free(b);
}

static goc_pool buf_pool;

struct worker {
    int id;
    long checksum; /* sum of the rendered lengths */
    int bad;
};

static void render_all(void *arg) {
    struct worker *w = arg;
    for (int v = 0; v < ITEMS; v++) {
        struct buffer *buf = goc_pool_get(&buf_pool); /* bufPool.Get() */
        if (!buf) {
            w->bad++;
            continue;
        }
        buf->len = 0; /* buf.Reset() */
        int n = snprintf(buf->data, BUF_SIZE, "worker %d item %d", w->id, v);
        buf->len = (size_t)n;
        char want[BUF_SIZE];
        snprintf(want, sizeof want, "worker %d item %d", w->id, v);
        w->bad += strcmp(buf->data, want) != 0; /* w.Write(buf.Bytes()) */
        w->checksum += (long)buf->len;
        goc_pool_put(&buf_pool, buf); /* defer bufPool.Put(buf) */
        if (v % 32 == 0)
            goc_yield();
    }
}

static int run(void *arg) {
    (void)arg;
    goc_pool_init(&buf_pool, new_buffer, free_buffer);
    struct worker ws[WORKERS];
    goc_waitgroup wg = {0};
    for (int i = 0; i < WORKERS; i++) {
        ws[i] = (struct worker){.id = i};
        if (goc_wg_go(&wg, render_all, &ws[i]) != 0) {
            fprintf(stderr, "pool_buffers: cannot start a goroutine\n");
            return 1;
        }
    }
    goc_wg_wait(&wg);
    goc_pool_destroy(&buf_pool); /* free the cached buffers */

    int bad = 0;
    long checksum = 0, want = 0;
    for (int i = 0; i < WORKERS; i++) {
        bad += ws[i].bad;
        checksum += ws[i].checksum;
        for (int v = 0; v < ITEMS; v++)
            want += snprintf(NULL, 0, "worker %d item %d", i, v);
    }
    int uses = WORKERS * ITEMS, m = atomic_load(&made), f = atomic_load(&freed);
    printf("%d uses, %d buffers made, %d freed; rendered %ld bytes\n", uses, m, f, checksum);
    if (bad || checksum != want || m < 1 || m >= uses || f != m) {
        fprintf(stderr, "pool_buffers: %d bad renders, %d made for %d uses, %d freed\n", bad, m,
                uses, f);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
