/* ctx_detached.c — background work that outlives its request.
 *
 * Go original (Go 1.21's context.WithoutCancel):
 *
 *     func handle(ctx context.Context) {
 *         ctx = context.WithValue(ctx, requestIDKey, "req-7")
 *         go audit(context.WithoutCancel(ctx)) // must finish even if the request ends
 *         go prefetch(ctx)                     // pointless once the request ends
 *     }
 *
 *     func audit(ctx context.Context) {
 *         select {
 *         case <-time.After(50 * time.Millisecond): // the slow write
 *         case <-ctx.Done():                         // never: Done is nil
 *         }
 *         log.Printf("[%s] audit written", ctx.Value(requestIDKey))
 *     }
 *
 * The request context is canceled right after the handler returns. The
 * prefetch sees "context canceled"; the audit keeps running to the end and
 * still knows the request id. */
#include <errno.h>
#include <goc.h>
#include <stdio.h>
#include <string.h>

static const char request_id_key;

struct job {
    goc_ctx *ctx;     /* the job's own reference */
    goc_chan *report; /* chan struct report, buffered */
    const char *name;
};

struct report {
    const char *name;
    int err;
    const char *request_id;
    bool had_done; /* did its context have a Done channel? */
};

static void job(void *arg) {
    struct job *j = arg;
    int err = goc_sleep_ctx(50 * GOC_MILLISECOND, j->ctx);
    struct report r = {j->name, err, goc_ctx_value(j->ctx, &request_id_key),
                       goc_ctx_done(j->ctx) != NULL};
    goc_chan_send(j->report, &r);
    goc_ctx_release(j->ctx);
}

static void handle(goc_ctx *req, goc_chan *report) {
    goc_ctx *ctx = goc_ctx_with_value(req, &request_id_key, "req-7");
    GOC_GO(job, struct job, goc_ctx_without_cancel(ctx), report, "audit");
    GOC_GO(job, struct job, goc_ctx_retain(ctx), report, "prefetch");
    goc_ctx_release(ctx);
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    goc_chan *report = goc_chan_make(sizeof(struct report), 2);
    goc_ctx *req = goc_ctx_with_cancel(goc_ctx_background());
    handle(req, report);
    goc_sleep(5 * GOC_MILLISECOND);
    goc_ctx_cancel(req); /* the request is over */
    printf("request canceled: %s\n", goc_strerror(goc_ctx_err(req)));
    goc_ctx_release(req);

    bool audit_ok = false, prefetch_ok = false;
    for (int i = 0; i < 2; i++) {
        struct report r;
        goc_chan_recv(report, &r);
        printf("%-8s finished: %-17s request id %s, Done %s\n", r.name,
               r.err ? goc_strerror(r.err) : "ran to completion,",
               r.request_id ? r.request_id : "(none)", r.had_done ? "set" : "nil");
        bool id_ok = r.request_id && strcmp(r.request_id, "req-7") == 0;
        if (strcmp(r.name, "audit") == 0)
            audit_ok = r.err == 0 && id_ok && !r.had_done;
        else
            prefetch_ok = r.err == -ECANCELED && id_ok && r.had_done;
    }
    for (int i = 0; i < 100 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", left);
    goc_chan_release(report);
    if (!audit_ok || !prefetch_ok || left != 0) {
        fprintf(stderr, "ctx_detached: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
