/* tcp_shutdown.c — graceful shutdown of a TCP server: stop accepting, let
 * the requests in flight finish, but not beyond a deadline.
 *
 * Go original (what http.Server.Shutdown does, written out for a plain TCP
 * server):
 *
 *     stop, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
 *     hard, kill := context.WithCancel(ctx) // cuts off work still running
 *     go func() {
 *         for {
 *             conn, err := ln.Accept()
 *             if errors.Is(err, net.ErrClosed) {
 *                 return // the listener was closed: stop accepting
 *             }
 *             wg.Add(1)
 *             go func() { defer wg.Done(); handle(stop, hard, conn) }()
 *         }
 *     }()
 *
 *     <-stop.Done()  // shutdown requested
 *     ln.Close()     // Accept returns net.ErrClosed
 *     sctx, _ := context.WithTimeout(context.Background(), grace)
 *     done := make(chan struct{})
 *     go func() { wg.Wait(); close(done) }()
 *     select {
 *     case <-done: // every request in flight finished
 *     case <-sctx.Done():
 *         kill()    // the deadline passed: cut the rest off
 *         <-done
 *     }
 *
 * handle() reads a request while idle with the stop context, so an idle
 * connection is closed as soon as shutdown begins (Go closes idle
 * connections); once a request has been read, its work and its answer use
 * the hard context, so it finishes unless the deadline passes. An answer
 * given while shutting down is the connection's last, and says so (as
 * HTTP's "Connection: close" does).
 *
 * The program runs its own clients: CLIENTS of them send short requests
 * back to back (25 to 46 ms of work each), one asks for 200 ms of work, one
 * for 5 s, and one connects and sends nothing. Once every connection is
 * accepted and the two long requests are in progress, a timer starts the
 * shutdown TRIGGER later; the grace period is GRACE. The checks: the accept
 * loop ended with -EBADF; the idle connection was closed at once; the
 * 200 ms request, in flight at the trigger, was answered; every request
 * the server read was answered except the 5 s one, which was cut off at
 * the deadline (shutdown returns -ETIMEDOUT); clients got exactly the
 * answers the server sent, each the right one; the program ends well
 * before the slow request would have. A client whose next request crosses
 * the shutdown may find its connection closed unanswered (counted, not an
 * error: Go's HTTP clients retry such requests). */
#include <errno.h>
#include <goc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { CLIENTS = 8, CONNS = CLIENTS + 3, MEDIUM_MS = 200, SLOW_MS = 5000 };
#define TRIGGER (50 * GOC_MILLISECOND)
#define GRACE GOC_SECOND

struct server {
    int ln;
    goc_ctx *stop;       /* cancelled when shutdown begins */
    goc_ctx *hard;       /* cancelled when the grace period is over */
    goc_waitgroup conns; /* the connection goroutines */
    goc_waitgroup busy;  /* CONNS accepted + the two long requests read */
    _Atomic long accepted, long_read;
    _Atomic long read, answered, cut_off, idle_closed, answered_after_stop;
};

/* ---- the server ---- */

struct conn_args {
    struct server *s;
    int conn;
};

static void handle(void *arg) {
    struct conn_args *c = arg;
    struct server *s = c->s;
    char buf[128];
    size_t have = 0;
    for (;;) {
        char *nl;
        while (!(nl = memchr(buf, '\n', have))) {
            /* Idle (nothing of the next request yet): the stop context ends
             * the wait. Part of a request already in: the hard one. */
            goc_ctx *ctx = have == 0 ? s->stop : s->hard;
            ssize_t n = have < sizeof buf ? goc_read(c->conn, buf + have, sizeof buf - have, ctx)
                                          : -EMSGSIZE;
            if (n == -ECANCELED && have == 0)
                atomic_fetch_add(&s->idle_closed, 1);
            if (n <= 0)
                goto out; /* EOF, an error, or shutdown while idle */
            have += (size_t)n;
        }
        long ms = strtol(buf + 5, NULL, 10); /* "work MS\n" */
        atomic_fetch_add(&s->read, 1);
        if (ms >= MEDIUM_MS && atomic_fetch_add(&s->long_read, 1) < 2)
            goc_wg_done(&s->busy);
        int err = goc_sleep_ctx(ms * GOC_MILLISECOND, s->hard); /* the request's work */
        /* Shutting down: this is the connection's last answer, and it says
         * so (HTTP's "Connection: close"), so the client sends no more. */
        bool last = goc_ctx_err(s->stop) != 0;
        char resp[32];
        int len = snprintf(resp, sizeof resp, "done %ld%s\n", ms, last ? " close" : "");
        if (err == 0)
            err = (int)goc_write(c->conn, resp, (size_t)len, s->hard);
        if (err < 0) {
            atomic_fetch_add(&s->cut_off, 1); /* the deadline passed */
            goto out;
        }
        atomic_fetch_add(&s->answered, 1);
        if (last) {
            atomic_fetch_add(&s->answered_after_stop, 1);
            break;
        }
        have -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have);
    }
out:
    goc_close(c->conn);
    goc_wg_done(&s->conns);
}

struct accept_args {
    struct server *s;
    goc_chan *done; /* chan int: why the loop ended */
};

static void accept_loop(void *arg) {
    struct accept_args *a = arg;
    int err;
    for (;;) {
        int conn = goc_accept(a->s->ln, NULL, NULL, NULL);
        if (conn < 0) {
            if ((err = conn) == -EBADF)
                break; /* errors.Is(err, net.ErrClosed): stop accepting */
            continue;
        }
        if (atomic_fetch_add(&a->s->accepted, 1) < CONNS)
            goc_wg_done(&a->s->busy);
        goc_wg_add(&a->s->conns, 1);
        if (GOC_GO(handle, struct conn_args, .s = a->s, .conn = conn) != 0) {
            goc_close(conn);
            goc_wg_done(&a->s->conns);
        }
    }
    goc_chan_send(a->done, &err);
    goc_chan_release(a->done);
}

struct waiter_args {
    goc_waitgroup *wg;
    goc_chan *done;
};

static void waiter(void *arg) { /* go func() { wg.Wait(); close(done) }() */
    struct waiter_args *w = arg;
    goc_wg_wait(w->wg);
    goc_chan_close(w->done);
    goc_chan_release(w->done);
}

/* Shutdown after stop is done: 0 if every request in flight finished
 * within grace, -ETIMEDOUT if some had to be cut off. */
static int shutdown_server(struct server *s, goc_chan *accept_done, int *accept_err) {
    goc_close(s->ln); /* ln.Close(): Accept returns -EBADF */
    goc_chan_recv(accept_done, accept_err);
    goc_ctx *sctx = goc_ctx_with_timeout(NULL, GRACE); /* context.WithTimeout(bg, grace) */
    goc_chan *done = goc_chan_make(0, 0);
    GOC_GO(waiter, struct waiter_args, .wg = &s->conns, .done = goc_chan_retain(done));
    goc_case cs[] = {GOC_RECV(done, NULL, NULL), GOC_RECV(goc_ctx_done(sctx), NULL, NULL)};
    int r = 0;
    if (goc_select(cs, 2) == 1) {
        r = goc_ctx_err(sctx);   /* -ETIMEDOUT */
        goc_ctx_cancel(s->hard); /* kill(): cut the rest off */
        goc_chan_recv(done, NULL);
    }
    goc_chan_release(done);
    goc_ctx_release(sctx);
    return r;
}

/* ---- the clients ---- */

struct client_args {
    const char *port;
    long ms;   /* work per request */
    bool once; /* send one request only */
    bool idle; /* send nothing: wait for the server to close the connection */
    goc_waitgroup *wg;
    _Atomic long *answers, *unanswered, *bad;
    bool *answered; /* set when an answer came */
};

static void client(void *arg) {
    struct client_args *c = arg;
    int conn = goc_dial_tcp("127.0.0.1", c->port, NULL);
    if (conn < 0) {
        atomic_fetch_add(c->bad, 1);
        goc_wg_done(c->wg);
        return;
    }
    char req[32], want[32], buf[64];
    int len = snprintf(req, sizeof req, "work %ld\n", c->ms);
    snprintf(want, sizeof want, "done %ld", c->ms);
    if (c->idle) { /* an idle keep-alive connection: shutdown closes it */
        char b;
        if (goc_read(conn, &b, 1, NULL) != 0)
            atomic_fetch_add(c->bad, 1);
    }
    for (int i = 0; !c->idle && (i == 0 || !c->once); i++) {
        if (goc_write(conn, req, (size_t)len, NULL) < 0) {
            atomic_fetch_add(c->unanswered, 1); /* the server closed the connection */
            break;
        }
        size_t have = 0;
        ssize_t r = 1;
        while (r > 0 && !memchr(buf, '\n', have) && have < sizeof buf - 1) {
            r = goc_read(conn, buf + have, sizeof buf - 1 - have, NULL);
            if (r > 0)
                have += (size_t)r;
        }
        if (r <= 0) {
            /* Closed with this request unanswered: cut off at the deadline,
             * or sent just as the server closed the idle connection (Go's
             * clients retry such idempotent requests). */
            atomic_fetch_add(c->unanswered, 1);
            break;
        }
        buf[have] = '\0';
        bool last = strstr(buf, " close\n") != NULL; /* the server's last answer */
        if (strncmp(buf, want, strlen(want)) != 0)
            atomic_fetch_add(c->bad, 1);
        atomic_fetch_add(c->answers, 1);
        *c->answered = true;
        if (last)
            break;
    }
    goc_close(conn);
    goc_wg_done(c->wg);
}

static void trigger(void *arg) { goc_ctx_cancel(arg); }

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    int64_t t0 = goc_now();
    struct server s = {.ln = goc_listen_tcp("127.0.0.1", "0", 64),
                       .stop = goc_ctx_with_cancel(NULL),
                       .hard = goc_ctx_with_cancel(NULL)};
    if (s.ln < 0) {
        fprintf(stderr, "tcp_shutdown: listen: %s\n", goc_strerror(s.ln));
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(s.ln, (struct sockaddr *)&sin, &sl);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sin.sin_port));
    goc_chan *accept_done = goc_chan_make(sizeof(int), 1);
    goc_wg_add(&s.busy, CONNS + 2);
    GOC_GO(accept_loop, struct accept_args, .s = &s, .done = goc_chan_retain(accept_done));

    goc_waitgroup clients = {0};
    _Atomic long answers = 0, unanswered = 0, bad = 0;
    bool answered[CONNS] = {0};
    for (int i = 0; i < CONNS; i++) { /* CLIENTS, a 200 ms one, a 5 s one, an idle one */
        long ms = i < CLIENTS ? 25 + 3 * i : i == CLIENTS ? MEDIUM_MS : SLOW_MS;
        goc_wg_add(&clients, 1);
        GOC_GO(client, struct client_args, .port = port, .ms = ms, .once = i >= CLIENTS,
               .idle = i == CONNS - 1, .wg = &clients, .answers = &answers,
               .unanswered = &unanswered, .bad = &bad, .answered = &answered[i]);
    }
    /* The server is busy: every connection in, both long requests started
     * (10 s at most, or something is wrong). */
    goc_ctx *wait = goc_ctx_with_timeout(NULL, 10 * GOC_SECOND);
    int busy = goc_wg_wait_ctx(&s.busy, wait);
    goc_ctx_release(wait);
    if (busy != 0) {
        fprintf(stderr, "tcp_shutdown: the server never got busy: %s\n", goc_strerror(busy));
        return 1;
    }

    /* ==== SIGINT / SIGTERM would be wired here ====
     * A real server cancels `stop` on a signal (Go's signal.NotifyContext):
     *     goc_chan *sigs = goc_chan_make(sizeof(int), 1);
     *     goc_signal_notify(sigs, (int[]){SIGINT, SIGTERM}, 2);
     *     a goroutine: goc_chan_recv(sigs, NULL); goc_ctx_cancel(s.stop);
     * This example must end by itself, so a timer cancels it instead. */
    goc_timer *t = goc_after_func(TRIGGER, trigger, s.stop);

    goc_chan_recv(goc_ctx_done(s.stop), NULL); /* <-stop.Done(): shutdown requested */
    int64_t t_stop = goc_now();
    int accept_err;
    int r = shutdown_server(&s, accept_done, &accept_err);
    int64_t t_down = goc_now();
    goc_wg_wait(&clients);
    goc_timer_free(t);
    goc_chan_release(accept_done);
    goc_ctx_release(s.stop);
    goc_ctx_release(s.hard);

    for (int i = 0; i < 1000 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;

    long rd = atomic_load(&s.read), ans = atomic_load(&s.answered);
    long cut = atomic_load(&s.cut_off), after = atomic_load(&s.answered_after_stop);
    printf("shutdown requested after %.0f ms; accept loop ended with: %s; the %d ms request "
           "in flight %s\n",
           (double)(t_stop - t0) / 1e6, goc_strerror(accept_err), MEDIUM_MS,
           answered[CLIENTS] ? "was answered" : "was NOT answered");
    printf("server: %ld requests read, %ld answered (%ld of them in flight at shutdown), "
           "%ld cut off at the deadline, %ld idle connections closed\n",
           rd, ans, after, cut, atomic_load(&s.idle_closed));
    printf("shutdown: %s after %.0f ms (grace %lld ms); clients: %ld answers, %ld unanswered, "
           "%ld wrong\n",
           r ? goc_strerror(r) : "clean", (double)(t_down - t_stop) / 1e6,
           (long long)(GRACE / GOC_MILLISECOND), atomic_load(&answers), atomic_load(&unanswered),
           atomic_load(&bad));
    printf("goroutines left behind: %d\n", left);

    if (accept_err != -EBADF || r != -ETIMEDOUT || cut != 1 || rd != ans + cut ||
        !answered[CLIENTS] || atomic_load(&answers) != ans || atomic_load(&s.idle_closed) < 1 ||
        atomic_load(&bad) != 0 || t_down - t_stop < GRACE ||
        t_down - t_stop > SLOW_MS * GOC_MILLISECOND / 2 || left != 0) {
        fprintf(stderr, "tcp_shutdown: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
