/* server_shutdown.c — a server that tracks its handler goroutines, and a
 * shutdown that stops accepting, then waits for in-flight handlers, but
 * not forever.
 *
 * Go original (tracked goroutines):
 *
 *     type Server struct {
 *         wg   sync.WaitGroup
 *         quit chan struct{}
 *     }
 *
 *     func (s *Server) serve(conns <-chan Conn) {
 *         for {
 *             select {
 *             case <-s.quit:
 *                 return // stop accepting
 *             case c := <-conns:
 *                 s.wg.Add(1)
 *                 go func() {
 *                     defer s.wg.Done()
 *                     handle(c)
 *                 }()
 *             }
 *         }
 *     }
 *
 *     func (s *Server) Shutdown(timeout time.Duration) error {
 *         close(s.quit)
 *         done := make(chan struct{})
 *         go func() { s.wg.Wait(); close(done) }()
 *         select {
 *         case <-done:
 *             return nil
 *         case <-time.After(timeout):
 *             return errors.New("timed out waiting for handlers")
 *         }
 *     }
 *
 * Requests take a few milliseconds; shutdown starts while some are in
 * flight. First with a generous timeout: every accepted request finishes.
 * Then a second server whose handler is stuck: shutdown gives up after its
 * timeout, and afterwards the stuck handler is released so nothing leaks. */
#include <errno.h>
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>

enum { REQUESTS = 20 };

struct server {
    goc_waitgroup wg;      /* the handlers */
    goc_chan *quit;        /* chan struct{}: closed by shutdown */
    goc_chan *conns;       /* chan int: incoming requests */
    goc_chan *release;     /* chan struct{}: what a handler waits for (NULL: a short sleep) */
    goc_waitgroup serving; /* the accept loop */
    _Atomic int accepted, handled;
};

struct handler_args {
    struct server *s;
    int req;
};

static void handle(void *arg) {
    struct handler_args *h = arg;
    if (h->s->release)
        goc_chan_recv(h->s->release, NULL); /* stuck until released */
    else
        goc_sleep(2 * GOC_MILLISECOND); /* the request's work */
    atomic_fetch_add(&h->s->handled, 1);
    goc_wg_done(&h->s->wg); /* defer s.wg.Done() */
}

static void serve(void *arg) {
    struct server *s = arg;
    for (;;) {
        int req;
        goc_case cs[] = {GOC_RECV(s->quit, NULL, NULL), GOC_RECV(s->conns, &req, NULL)};
        if (goc_select(cs, 2) == 0)
            return; /* case <-s.quit: stop accepting */
        atomic_fetch_add(&s->accepted, 1);
        goc_wg_add(&s->wg, 1); /* s.wg.Add(1) before go */
        if (GOC_GO(handle, struct handler_args, .s = s, .req = req) != 0) {
            goc_wg_done(&s->wg);
            atomic_fetch_sub(&s->accepted, 1);
        }
    }
}

struct waiter_args {
    struct server *s;
    goc_chan *done;
};

static void waiter(void *arg) { /* go func() { s.wg.Wait(); close(done) }() */
    struct waiter_args *a = arg;
    goc_wg_wait(&a->s->wg);
    goc_chan_close(a->done);
    goc_chan_release(a->done);
}

/* Shutdown(timeout): 0, or -ETIMEDOUT if handlers were still running. */
static int server_stop(struct server *s, goc_duration timeout) {
    goc_chan_close(s->quit);  /* close(s.quit): stop accepting */
    goc_wg_wait(&s->serving); /* the accept loop has returned */
    goc_chan *done = goc_chan_make(0, 0);
    GOC_GO(waiter, struct waiter_args, .s = s, .done = goc_chan_retain(done));
    goc_chan *timer = goc_after(timeout); /* time.After(timeout) */
    goc_case cs[] = {GOC_RECV(done, NULL, NULL), GOC_RECV(timer, NULL, NULL)};
    int which = goc_select(cs, 2);
    goc_chan_release(timer);
    goc_chan_release(done);
    return which == 0 ? 0 : -ETIMEDOUT;
}

static bool start(struct server *s, goc_chan *release) {
    *s = (struct server){
        .quit = goc_chan_make(0, 0), .conns = goc_chan_make(sizeof(int), 0), .release = release};
    return s->quit && s->conns && goc_wg_go(&s->serving, serve, s) == 0;
}

static void stop(struct server *s) {
    goc_wg_wait(&s->wg); /* every handler (and the waiter's wait) is over */
    goc_chan_release(s->quit);
    goc_chan_release(s->conns);
}

static int run(void *arg) {
    (void)arg;
    int start_goroutines = goc_num_goroutine();

    /* 1: a normal shutdown with requests in flight. */
    struct server s;
    if (!start(&s, NULL)) {
        fprintf(stderr, "server_shutdown: cannot start the server\n");
        return 1;
    }
    for (int r = 0; r < REQUESTS; r++)
        goc_chan_send(s.conns, &r); /* each send is accepted by serve */
    int in_flight = atomic_load(&s.accepted) - atomic_load(&s.handled);
    int err1 = server_stop(&s, GOC_SECOND);
    int handled1 = atomic_load(&s.handled), accepted1 = atomic_load(&s.accepted);
    printf("graceful: accepted %d, %d in flight at shutdown, handled %d, shutdown: %s\n", accepted1,
           in_flight, handled1, err1 ? goc_strerror(err1) : "ok");
    stop(&s);

    /* 2: a handler that does not finish in time. */
    goc_chan *release = goc_chan_make(0, 0);
    struct server t;
    if (!release || !start(&t, release)) {
        fprintf(stderr, "server_shutdown: cannot start the second server\n");
        return 1;
    }
    int req = 0;
    goc_chan_send(t.conns, &req);
    int64_t t0 = goc_now();
    int err2 = server_stop(&t, 20 * GOC_MILLISECOND);
    int64_t waited = goc_now() - t0;
    int handled2 = atomic_load(&t.handled);
    printf("stuck handler: shutdown: %s after ~%lld ms, handled %d of %d\n", goc_strerror(err2),
           (long long)(waited / GOC_MILLISECOND), handled2, atomic_load(&t.accepted));
    goc_chan_close(release); /* let the stuck handler go, so it does not leak */
    stop(&t);
    goc_chan_release(release);

    for (int i = 0; i < 100 && goc_num_goroutine() > start_goroutines; i++)
        goc_sleep(GOC_MILLISECOND); /* the waiter goroutines finish */
    int left = goc_num_goroutine() - start_goroutines;
    printf("goroutines left behind: %d\n", left);

    if (err1 != 0 || accepted1 != REQUESTS || handled1 != REQUESTS || err2 != -ETIMEDOUT ||
        handled2 != 0 || waited < 20 * GOC_MILLISECOND || left != 0) {
        fprintf(stderr, "server_shutdown: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
