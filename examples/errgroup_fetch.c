/* errgroup_fetch.c — fetch every item in parallel with an errgroup, at most
 * a few at a time.
 *
 * Go original (errgroup with a limit):
 *
 *     func fetchAllLimited(ctx context.Context, urls []string) ([]Response, error) {
 *         g, ctx := errgroup.WithContext(ctx)
 *         g.SetLimit(10) // Max 10 concurrent fetches
 *
 *         responses := make([]Response, len(urls))
 *         for i, url := range urls {
 *             g.Go(func() error {
 *                 resp, err := fetch(ctx, url)
 *                 if err != nil {
 *                     return err
 *                 }
 *                 responses[i] = resp
 *                 return nil
 *             })
 *         }
 *         return responses, g.Wait()
 *     }
 *
 * fetch reads from an in-process "server" (a table of pages) and takes a
 * moment, so fetches overlap; an atomic counter checks the limit. */
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum { URLS = 12, LIMIT = 3 };

static _Atomic int active, max_active;

struct fetch {
    const char *url;
    char body[48]; /* responses[i] */
};

/* fetch(ctx, url): the in-process source. Honours ctx like a real client. */
static int fetch(goc_ctx *ctx, const char *url, char *body, size_t n) {
    int err = goc_sleep_ctx(GOC_MILLISECOND / 2, ctx); /* the network */
    if (err)
        return err;
    snprintf(body, n, "<page %s>", url);
    return 0;
}

static int fetch_one(goc_ctx *ctx, void *arg) { /* g.Go(func() error { ... }) */
    struct fetch *f = arg;
    int now = atomic_fetch_add(&active, 1) + 1;
    int seen = atomic_load(&max_active);
    while (now > seen && !atomic_compare_exchange_weak(&max_active, &seen, now)) {
    }
    int err = fetch(ctx, f->url, f->body, sizeof f->body);
    atomic_fetch_sub(&active, 1);
    return err;
}

static int run(void *arg) {
    (void)arg;
    static const char *const urls[URLS] = {"/a", "/b", "/c", "/d", "/e", "/f",
                                           "/g", "/h", "/i", "/j", "/k", "/l"};
    struct fetch fs[URLS];
    goc_errgroup *g = goc_errgroup_new(goc_ctx_background()); /* errgroup.WithContext */
    if (!g) {
        fprintf(stderr, "errgroup_fetch: out of memory\n");
        return 1;
    }
    goc_errgroup_set_limit(g, LIMIT); /* g.SetLimit(LIMIT) */
    for (int i = 0; i < URLS; i++) {
        fs[i] = (struct fetch){.url = urls[i]};
        goc_errgroup_go(g, fetch_one, &fs[i]); /* blocks while LIMIT fetches run */
    }
    int err = goc_errgroup_wait(g); /* g.Wait() */
    goc_errgroup_free(g);

    int bad = 0;
    for (int i = 0; i < URLS; i++) {
        char want[48];
        snprintf(want, sizeof want, "<page %s>", urls[i]);
        bad += strcmp(fs[i].body, want) != 0;
    }
    int max = atomic_load(&max_active);
    printf("fetched %d pages, at most %d at a time (limit %d); first: %s, last: %s; err: %s\n",
           URLS, max, LIMIT, fs[0].body, fs[URLS - 1].body, err ? goc_strerror(err) : "none");
    if (err || bad || max < 1 || max > LIMIT) {
        fprintf(stderr, "errgroup_fetch: err %d, %d wrong pages, max active %d (limit %d)\n", err,
                bad, max, LIMIT);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
