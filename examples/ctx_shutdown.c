/* ctx_shutdown.c — graceful shutdown with tracked handler goroutines.
 *
 * Go original (in the shape of http.Server.Shutdown):
 *
 *     type Server struct {
 *         base     context.Context    // parent of every request context
 *         cancel   context.CancelFunc
 *         handlers sync.WaitGroup
 *     }
 *
 *     func (s *Server) Serve(req Request) {
 *         s.handlers.Add(1)
 *         go func() { defer s.handlers.Done(); handle(s.base, req) }()
 *     }
 *
 *     func (s *Server) Shutdown(timeout time.Duration) error {
 *         ctx, cancel := context.WithTimeout(context.Background(), timeout)
 *         defer cancel()
 *         s.cancel() // tell every handler to stop
 *         idle := make(chan struct{})
 *         go func() { s.handlers.Wait(); close(idle) }()
 *         select {
 *         case <-idle:
 *             return nil
 *         case <-ctx.Done():
 *             return ctx.Err() // some handler did not stop in time
 *         }
 *     }
 *
 * Round 1: every handler honours its context; Shutdown returns nil at once.
 * Round 2: one handler ignores its context and takes 200 ms; Shutdown gives
 * up after 40 ms with "context deadline exceeded", and the program then
 * waits for that handler before exiting, so nothing is left behind. */
#include <errno.h>
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>

struct server {
    goc_ctx *base;
    goc_waitgroup handlers;
    goc_chan *idle; /* closed once every handler returned (made by shutdown) */
    atomic_int finished, interrupted;
};

struct request {
    struct server *srv;
    goc_duration work;
    bool stubborn; /* ignores its context */
};

static void handler(void *arg) {
    struct request *r = arg;
    goc_ctx *ctx = goc_ctx_with_cancel(r->srv->base); /* the request's context */
    int err = 0;
    if (r->stubborn)
        goc_sleep(r->work);
    else
        err = goc_sleep_ctx(r->work, ctx);
    atomic_fetch_add(err ? &r->srv->interrupted : &r->srv->finished, 1);
    goc_ctx_release(ctx);
    goc_wg_done(&r->srv->handlers);
}

static void serve(struct server *s, goc_duration work, bool stubborn) {
    goc_wg_add(&s->handlers, 1);
    if (GOC_GO(handler, struct request, s, work, stubborn) != 0)
        goc_wg_done(&s->handlers);
}

struct idle_waiter {
    struct server *srv;
    goc_chan *idle; /* its own reference */
};

static void wait_idle(void *arg) {
    struct idle_waiter *w = arg;
    goc_wg_wait(&w->srv->handlers);
    goc_chan_close(w->idle);
    goc_chan_release(w->idle);
}

/* 0 once every handler returned, or -ETIMEDOUT. */
static int shutdown_server(struct server *s, goc_duration timeout) {
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), timeout);
    goc_ctx_cancel(s->base);
    s->idle = goc_chan_make(0, 0);
    GOC_GO(wait_idle, struct idle_waiter, s, goc_chan_retain(s->idle));
    goc_case cs[] = {GOC_RECV(s->idle, NULL, NULL), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
    int err = goc_select(cs, 2) == 0 ? 0 : goc_ctx_err(ctx);
    goc_ctx_release(ctx);
    return err;
}

static int round_trip(const char *name, bool with_stubborn, int *finished, int *interrupted,
                      double *ms) {
    struct server s = {.base = goc_ctx_with_cancel(goc_ctx_background())};
    serve(&s, 1 * GOC_MILLISECOND, false); /* quick ones finish */
    serve(&s, 2 * GOC_MILLISECOND, false);
    for (int i = 0; i < 5; i++)
        serve(&s, 10 * GOC_SECOND, false); /* long ones are interrupted */
    if (with_stubborn)
        serve(&s, 200 * GOC_MILLISECOND, true);
    goc_sleep(20 * GOC_MILLISECOND);

    int64_t t0 = goc_now();
    int err = shutdown_server(&s, 40 * GOC_MILLISECOND);
    *ms = (goc_now() - t0) / 1e6;
    printf("%s: shutdown %s%s after %.0f ms\n", name, err ? "gave up: " : "clean",
           err ? goc_strerror(err) : "", *ms);
    /* Never exit with handlers running. Wait on idle rather than on the
     * group: idle closes only after the waiter goroutine is done with s. */
    goc_chan_recv(s.idle, NULL);
    goc_chan_release(s.idle);
    *finished = atomic_load(&s.finished);
    *interrupted = atomic_load(&s.interrupted);
    printf("%s: %d handlers finished, %d interrupted\n", name, *finished, *interrupted);
    goc_ctx_release(s.base);
    return err;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    int f1, i1, f2, i2;
    double ms1, ms2;
    int err1 = round_trip("round 1", false, &f1, &i1, &ms1);
    int err2 = round_trip("round 2", true, &f2, &i2, &ms2);
    for (int i = 0; i < 100 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", left);
    /* Round 1 returned before its timeout (err1 == 0); round 2 gave up at
     * the timeout, never before it. */
    if (err1 != 0 || f1 != 2 || i1 != 5 || err2 != -ETIMEDOUT || f2 != 3 || i2 != 5 || ms2 < 40 ||
        left != 0) {
        fprintf(stderr, "ctx_shutdown: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
