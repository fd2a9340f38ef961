/* ctx_worker.c — a worker loop that stops cleanly when its context is
 * canceled.
 *
 * Go original:
 *
 *     func worker(ctx context.Context, jobs <-chan int, wg *sync.WaitGroup) error {
 *         defer wg.Done()
 *         for {
 *             select {
 *             case <-ctx.Done():
 *                 return ctx.Err()
 *             case j := <-jobs:
 *                 process(j)
 *             }
 *         }
 *     }
 *
 *     ctx, cancel := context.WithCancel(context.Background())
 *     go worker(ctx, jobs, &wg)
 *     for j := 1; j <= 100; j++ { jobs <- j }
 *     cancel()
 *     wg.Wait()
 *
 * The jobs channel is unbuffered, so every job sent before cancel() was
 * handed to the worker: it processed all 100 (sum 5050), then stopped with
 * "context canceled". No goroutine is left behind. */
#include <errno.h>
#include <goc.h>
#include <stdio.h>

enum { JOBS = 100, WORKERS = 3 };

struct worker {
    goc_ctx *ctx;   /* the worker's own reference */
    goc_chan *jobs; /* chan long */
    goc_waitgroup *wg;
    long sum, count; /* read by main after wg_wait */
    int err;         /* why it stopped */
};

static void worker(void *arg) {
    struct worker *w = arg;
    for (;;) {
        long job = 0;
        goc_case cs[] = {GOC_RECV(goc_ctx_done(w->ctx), NULL, NULL), GOC_RECV(w->jobs, &job, NULL)};
        if (goc_select(cs, 2) == 0) {
            w->err = goc_ctx_err(w->ctx);
            break;
        }
        w->sum += job; /* process(job) */
        w->count++;
    }
    goc_ctx_release(w->ctx);
    goc_wg_done(w->wg);
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_chan *jobs = goc_chan_make(sizeof(long), 0);
    goc_waitgroup wg = {0};
    struct worker ws[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        ws[i] = (struct worker){.ctx = goc_ctx_retain(ctx), .jobs = jobs, .wg = &wg};
        goc_wg_add(&wg, 1);
        goc_go(worker, &ws[i]);
    }
    for (long j = 1; j <= JOBS; j++)
        goc_chan_send(jobs, &j);
    goc_ctx_cancel(ctx); /* stop the workers */
    goc_wg_wait(&wg);

    long sum = 0, count = 0;
    bool bad = false;
    for (int i = 0; i < WORKERS; i++) {
        printf("worker %d: %ld jobs, sum %ld, stopped: %s\n", i, ws[i].count, ws[i].sum,
               goc_strerror(ws[i].err));
        sum += ws[i].sum;
        count += ws[i].count;
        bad |= ws[i].err != -ECANCELED;
    }
    for (int i = 0; i < 100 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("total: %ld jobs, sum %ld; goroutines left behind: %d\n", count, sum, left);
    goc_ctx_release(ctx);
    goc_chan_release(jobs);
    if (bad || count != JOBS || sum != JOBS * (JOBS + 1) / 2 || left != 0) {
        fprintf(stderr, "ctx_worker: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
