/* query_racing_net.c — ask three servers over TCP; the first response wins,
 * and the others are cancelled through a context.
 *
 * Go original (the replicated query of query_racing.c, over the network,
 * with the losers cancelled instead of left to finish):
 *
 *     func Query(ctx context.Context, addrs []string, q string) (Result, error) {
 *         ctx, cancel := context.WithCancel(ctx)
 *         defer cancel() // the losers' reads end with context.Canceled
 *         ch := make(chan Result, len(addrs)) // room for every answer
 *         for _, addr := range addrs {
 *             go func(addr string) { ch <- ask(ctx, addr, q) }(addr)
 *         }
 *         return <-ch // the first response wins
 *     }
 *
 *     func ask(ctx context.Context, addr, q string) Result {
 *         var d net.Dialer
 *         conn, err := d.DialContext(ctx, "tcp", addr)
 *         if err != nil { return Result{Err: err} }
 *         defer conn.Close()
 *         stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
 *         defer stop()
 *         fmt.Fprintf(conn, "%s\n", q)
 *         line, err := bufio.NewReader(conn).ReadString('\n')
 *         return Result{Line: line, Err: err}
 *     }
 *
 * In Go, a read is cancelled through a deadline set from an AfterFunc; in
 * goc the context is an argument of goc_read itself, which returns the
 * context's error (-ECANCELED) with nothing consumed.
 *
 * Three local servers answer each query after a delay of their own, picked
 * at random at start (about 10 ms, 1 s and 2 s, shuffled, plus up to 9 ms:
 * the gaps are wide so that a loaded machine cannot change the winner, and
 * cost nothing since nobody waits for the losers). The program checks, for
 * every query, that the answer is right, that it came from the fastest
 * server, and that the two others got -ECANCELED from goc_read. Which
 * server is fastest varies from run to run. At the end the servers'
 * context cuts their unfinished work short. */
#include <errno.h>
#include <goc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SERVERS = 3, QUERIES = 4 };

/* ---- the servers: "N\n" -> "N*N\n" after a delay ---- */

struct server {
    int id, ln;
    char port[16];
    goc_duration delay;
    goc_ctx *ctx;        /* the servers' context: cancelled at shutdown */
    goc_waitgroup conns; /* the accept loop and its connection goroutines */
};

struct conn_args {
    struct server *s;
    int conn;
};

static void serve_conn(void *arg) {
    struct conn_args *c = arg;
    char req[64];
    size_t have = 0;
    for (;;) {
        ssize_t n = goc_read(c->conn, req + have, sizeof req - 1 - have, NULL);
        if (n <= 0)
            break; /* the client is gone (a loser closes early: that is expected) */
        have += (size_t)n;
        req[have] = '\0';
        char *nl = strchr(req, '\n');
        if (!nl) {
            if (have == sizeof req - 1)
                break; /* not our protocol */
            continue;
        }
        long q = strtol(req, NULL, 10);
        if (goc_sleep_ctx(c->s->delay, c->s->ctx) != 0) /* the work */
            break;                                      /* shutdown */
        char resp[64];
        int len = snprintf(resp, sizeof resp, "%ld\n", q * q);
        if (goc_write(c->conn, resp, (size_t)len, NULL) < 0)
            break; /* -EPIPE or -ECONNRESET: the client gave up on us */
        have -= (size_t)(nl + 1 - req);
        memmove(req, nl + 1, have);
    }
    goc_close(c->conn);
    goc_wg_done(&c->s->conns);
}

static void accept_loop(void *arg) {
    struct server *s = arg;
    for (;;) {
        int conn = goc_accept(s->ln, NULL, NULL, NULL);
        if (conn == -EBADF)
            break; /* the listener was closed */
        if (conn < 0)
            continue;
        goc_wg_add(&s->conns, 1);
        if (GOC_GO(serve_conn, struct conn_args, .s = s, .conn = conn) != 0) {
            goc_close(conn);
            goc_wg_done(&s->conns);
        }
    }
    goc_wg_done(&s->conns);
}

static int server_start(struct server *s) {
    s->ln = goc_listen_tcp("127.0.0.1", "0", 16);
    if (s->ln < 0)
        return s->ln;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(s->ln, (struct sockaddr *)&sin, &sl);
    snprintf(s->port, sizeof s->port, "%u", ntohs(sin.sin_port));
    goc_wg_add(&s->conns, 1);
    return goc_go(accept_loop, s);
}

/* ---- the client ---- */

struct answer {
    int server;
    int err;           /* 0, or why the ask failed: -ECANCELED for a loser */
    const char *where; /* the call that failed: "dial", "write" or "read" */
    long value;
};

struct ask_args {
    struct server *s;
    long q;
    goc_ctx *ctx;      /* a reference of its own */
    goc_chan *results; /* chan struct answer, room for every server */
};

static void ask(void *arg) { /* go func(addr string) { ch <- ask(ctx, addr, q) }(addr) */
    struct ask_args *a = arg;
    struct answer ans = {.server = a->s->id};
    int conn = goc_dial_tcp("127.0.0.1", a->s->port, a->ctx); /* d.DialContext(ctx, ...) */
    if (conn < 0) {
        ans.err = conn;
        ans.where = "dial";
    } else {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "%ld\n", a->q);
        ssize_t r = goc_write(conn, buf, (size_t)len, a->ctx); /* fmt.Fprintf(conn, ...) */
        ans.where = r < 0 ? "write" : "read";
        size_t have = 0;
        while (r >= 0 && !memchr(buf, '\n', have)) { /* ReadString('\n') */
            r = goc_read(conn, buf + have, sizeof buf - 1 - have, a->ctx);
            if (r == 0)
                r = -ECONNRESET; /* closed before the answer came */
            if (r > 0)
                have += (size_t)r;
        }
        if (r < 0) {
            ans.err = (int)r; /* a loser: -ECANCELED, once the winner is in */
        } else {
            buf[have] = '\0';
            ans.value = strtol(buf, NULL, 10);
        }
        goc_close(conn); /* defer conn.Close() */
    }
    goc_chan_send(a->results, &ans); /* never blocks: room for everyone */
    goc_chan_release(a->results);
    goc_ctx_release(a->ctx);
}

/* Query: the first answer; the others' in losers[] (for the checks). */
static struct answer query(struct server *servers, long q, struct answer losers[SERVERS - 1]) {
    goc_ctx *ctx = goc_ctx_with_cancel(NULL); /* ctx, cancel := context.WithCancel(ctx) */
    goc_chan *results = goc_chan_make(sizeof(struct answer), SERVERS);
    for (int i = 0; i < SERVERS; i++)
        GOC_GO(ask, struct ask_args, .s = &servers[i], .q = q, .ctx = goc_ctx_retain(ctx),
               .results = goc_chan_retain(results));
    struct answer first;
    goc_chan_recv(results, &first); /* return <-ch */
    goc_ctx_cancel(ctx);            /* defer cancel(): the losers stop waiting */
    /* Go would return here; the losers' answers are collected only to show
     * (and check) how they ended. */
    for (int i = 0; i < SERVERS - 1; i++)
        goc_chan_recv(results, &losers[i]);
    goc_chan_release(results);
    goc_ctx_release(ctx);
    return first;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    srand((unsigned)(goc_now() ^ getpid()));
    goc_duration base[SERVERS] = {10 * GOC_MILLISECOND, GOC_SECOND, 2 * GOC_SECOND};
    for (int i = SERVERS - 1; i > 0; i--) { /* shuffle */
        int j = rand() % (i + 1);
        goc_duration t = base[i];
        base[i] = base[j];
        base[j] = t;
    }
    struct server servers[SERVERS] = {0};
    goc_ctx *srv_ctx = goc_ctx_with_cancel(NULL);
    int fastest = 0;
    for (int i = 0; i < SERVERS; i++) {
        servers[i].id = i;
        servers[i].ctx = srv_ctx;
        servers[i].delay = base[i] + (rand() % 10) * GOC_MILLISECOND;
        if (servers[i].delay < servers[fastest].delay)
            fastest = i;
        int err = server_start(&servers[i]);
        if (err < 0) {
            fprintf(stderr, "query_racing_net: server %d: %s\n", i, goc_strerror(err));
            return 1;
        }
        printf("server %d on 127.0.0.1:%s answers after %lld ms\n", i, servers[i].port,
               (long long)(servers[i].delay / GOC_MILLISECOND));
    }

    bool ok = true;
    for (long q = 2; q < 2 + QUERIES; q++) {
        struct answer losers[SERVERS - 1];
        int64_t t0 = goc_now();
        struct answer a = query(servers, q, losers);
        double ms = (double)(goc_now() - t0) / 1e6;
        printf("query %ld: %ld from server %d in %.1f ms;", q, a.value, a.server, ms);
        bool good = a.err == 0 && a.value == q * q && a.server == fastest;
        for (int i = 0; i < SERVERS - 1; i++) {
            printf(" server %d: %s: %s%s", losers[i].server, losers[i].where,
                   goc_strerror(losers[i].err), i < SERVERS - 2 ? "," : "\n");
            good = good && losers[i].err == -ECANCELED && strcmp(losers[i].where, "read") == 0;
        }
        if (!good)
            fprintf(stderr,
                    "query_racing_net: query %ld: want %ld from server %d, losers "
                    "cancelled; got %ld from server %d (%s)\n",
                    q, q * q, fastest, a.value, a.server, goc_strerror(a.err));
        ok = ok && good;
    }

    goc_ctx_cancel(srv_ctx); /* shut the servers down: their work stops */
    for (int i = 0; i < SERVERS; i++) {
        goc_close(servers[i].ln); /* and so does accepting */
        goc_wg_wait(&servers[i].conns);
    }
    goc_ctx_release(srv_ctx);
    for (int i = 0; i < 1000 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", left);
    return !ok || left != 0;
}

int main(void) { return goc_run(run, NULL); }
