/* bounded_parallelism.c — a fixed number of workers digest the files a
 * walker produces; the results are gathered and checked.
 *
 * Go original (bounded parallelism, from "Go Concurrency Patterns:
 * Pipelines and cancellation"):
 *
 *     const numWorkers = 20
 *     paths, errc := walkFiles(done, root)
 *     c := make(chan result)
 *
 *     var wg sync.WaitGroup
 *     wg.Add(numWorkers)
 *     for i := 0; i < numWorkers; i++ {
 *         go func() {
 *             defer wg.Done()
 *             for path := range paths {
 *                 data, err := os.ReadFile(path)
 *                 select {
 *                 case c <- result{path, md5.Sum(data), err}:
 *                 case <-done:
 *                     return
 *                 }
 *             }
 *         }()
 *     }
 *     go func() {
 *         wg.Wait()
 *         close(c)
 *     }()
 *
 *     m := make(map[string][md5.Size]byte)
 *     for r := range c { m[r.path] = r.sum }
 *
 * Here the "file system" is in-process: file i is the text "file-<i>" and
 * its digest a simple hash, so the gathered results can be checked
 * exactly. Paths are fixed-size strings sent by value on the channel. */
#include <goc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FILES = 64, WORKERS = 4, PATH_MAX_LEN = 32 };

struct path {
    char name[PATH_MAX_LEN];
};

struct result {
    struct path path;
    uint32_t sum;
    int err; /* 0, or a negative errno from the "read" */
};

static uint32_t digest(const char *data) { /* md5.Sum stand-in: FNV-1a */
    uint32_t h = 2166136261u;
    for (; *data; data++)
        h = (h ^ (unsigned char)*data) * 16777619u;
    return h;
}

static int read_file(const struct path *p, char *buf, size_t n) { /* os.ReadFile */
    int i;
    if (sscanf(p->name, "/data/%d.txt", &i) != 1)
        return -2; /* -ENOENT */
    snprintf(buf, n, "file-%d", i);
    return 0;
}

struct walk_args {
    goc_chan *paths; /* chan struct path */
    goc_chan *done;  /* chan struct{} */
};

static void walk_files(void *arg) { /* walkFiles: emit every path, then close */
    struct walk_args *a = arg;
    for (int i = 0; i < FILES; i++) {
        struct path p;
        snprintf(p.name, sizeof p.name, "/data/%d.txt", i);
        goc_case cs[] = {GOC_SEND(a->paths, &p), GOC_RECV(a->done, NULL, NULL)};
        if (goc_select(cs, 2) == 1)
            break; /* case <-done: return */
    }
    goc_chan_close(a->paths);
    goc_chan_release(a->paths);
    goc_chan_release(a->done);
}

struct shared {
    goc_chan *paths, *c, *done;
    goc_waitgroup wg;
};

static void digester(void *arg) {
    struct shared *s = arg;
    struct path p;
    while (goc_chan_recv(s->paths, &p)) { /* for path := range paths */
        char data[64];
        struct result r = {.path = p};
        r.err = read_file(&p, data, sizeof data);
        r.sum = r.err ? 0 : digest(data);
        goc_case cs[] = {GOC_SEND(s->c, &r), GOC_RECV(s->done, NULL, NULL)};
        if (goc_select(cs, 2) == 1)
            break;
    }
    goc_wg_done(&s->wg); /* defer wg.Done() */
}

static void closer(void *arg) { /* go func() { wg.Wait(); close(c) }() */
    struct shared *s = arg;
    goc_wg_wait(&s->wg);
    goc_chan_close(s->c);
}

static int run(void *arg) {
    (void)arg;
    struct shared s = {.paths = goc_chan_make(sizeof(struct path), 0),
                       .c = goc_chan_make(sizeof(struct result), 0),
                       .done = goc_chan_make(0, 0)};
    if (!s.paths || !s.c || !s.done) {
        fprintf(stderr, "bounded_parallelism: out of memory\n");
        return 1;
    }
    GOC_GO(walk_files, struct walk_args, .paths = goc_chan_retain(s.paths),
           .done = goc_chan_retain(s.done));

    goc_wg_add(&s.wg, WORKERS); /* wg.Add(numWorkers) */
    for (int i = 0; i < WORKERS; i++)
        goc_go(digester, &s);
    goc_waitgroup closer_wg = {0}; /* so that s outlives the closer */
    goc_wg_go(&closer_wg, closer, &s);

    uint32_t got[FILES];
    bool seen[FILES] = {false};
    int count = 0, bad = 0;
    struct result r;
    while (goc_chan_recv(s.c, &r)) { /* for r := range c { m[r.path] = r.sum } */
        int i;
        count++;
        if (r.err || sscanf(r.path.name, "/data/%d.txt", &i) != 1 || i < 0 || i >= FILES ||
            seen[i]) {
            bad++;
            continue;
        }
        seen[i] = true;
        got[i] = r.sum;
    }
    goc_chan_close(s.done); /* defer close(done): nothing is left to stop here */
    goc_wg_wait(&closer_wg);

    for (int i = 0; i < FILES && !bad; i++) {
        char data[64];
        snprintf(data, sizeof data, "file-%d", i);
        if (!seen[i] || got[i] != digest(data))
            bad++;
    }
    printf("%d workers digested %d files; /data/0.txt -> %08x, /data/%d.txt -> %08x\n", WORKERS,
           count, got[0], FILES - 1, got[FILES - 1]);
    goc_chan_release(s.paths);
    goc_chan_release(s.c);
    goc_chan_release(s.done);
    if (count != FILES || bad) {
        fprintf(stderr, "bounded_parallelism: %d results, %d wrong; want %d\n", count, bad, FILES);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
