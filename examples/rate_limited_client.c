/* rate_limited_client.c — a client that sends requests to a server at most
 * RATE per second, with a burst allowance, and measures the rate it got.
 *
 * Go original (Go by Example, "Rate Limiting": the bursty limiter):
 *
 *     burstyLimiter := make(chan time.Time, 5)
 *     for i := 0; i < 5; i++ {
 *         burstyLimiter <- time.Now() // the burst allowance, available at once
 *     }
 *     go func() {
 *         for t := range time.Tick(time.Second / rate) {
 *             burstyLimiter <- t // one more request allowed per tick
 *         }
 *     }()
 *     conn, _ := net.Dial("tcp", addr)
 *     r := bufio.NewReader(conn)
 *     for req := range requests {
 *         <-burstyLimiter
 *         fmt.Fprintf(conn, "req %d\n", req)
 *         line, _ := r.ReadString('\n')
 *     }
 *
 * The Go version leaves the ticking goroutine running forever; here it also
 * watches a context and stops when the client is done.
 *
 * The server, in the same program, answers "req N\n" with "ok N\n" on a
 * keep-alive connection. The checks: every answer is right; the first BURST
 * requests used the burst allowance (their tokens are the ones put in before
 * the ticker started; the limiter is FIFO, so this does not depend on
 * timing); and request BURST + k was not sent before k + 1 ticks had passed,
 * so no stretch of time ever saw more than RATE per second beyond the burst.
 * The achieved rates are printed. */
#include <errno.h>
#include <goc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { RATE = 100, BURST = 5, REQUESTS = 40 };
#define PERIOD (GOC_SECOND / RATE)

/* ---- the server: "req N\n" -> "ok N\n" ---- */

struct server {
    int ln;
    goc_waitgroup wg; /* the accept loop and its connections */
    long served;      /* written by the one connection's goroutine; read after wg */
};

struct conn_args {
    struct server *s;
    int conn;
};

static void serve_conn(void *arg) {
    struct conn_args *c = arg;
    char buf[256];
    size_t have = 0;
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', have)) != NULL) { /* every complete request */
            long n = strtol(buf + 4, NULL, 10);
            char resp[32];
            int len = snprintf(resp, sizeof resp, "ok %ld\n", n);
            if (strncmp(buf, "req ", 4) != 0 || goc_write(c->conn, resp, (size_t)len, NULL) < 0)
                goto done;
            c->s->served++;
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
        if (have == sizeof buf)
            break; /* a line too long: not our protocol */
        ssize_t n = goc_read(c->conn, buf + have, sizeof buf - have, NULL);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
done:
    goc_close(c->conn);
    goc_wg_done(&c->s->wg);
}

static void accept_loop(void *arg) {
    struct server *s = arg;
    for (;;) {
        int conn = goc_accept(s->ln, NULL, NULL, NULL);
        if (conn == -EBADF)
            break; /* the listener was closed */
        if (conn < 0)
            continue;
        goc_wg_add(&s->wg, 1);
        if (GOC_GO(serve_conn, struct conn_args, .s = s, .conn = conn) != 0) {
            goc_close(conn);
            goc_wg_done(&s->wg);
        }
    }
    goc_wg_done(&s->wg);
}

/* ---- the limiter: go func() { for t := range time.Tick(d) { limiter <- t } }() ---- */

struct ticking_args {
    goc_chan *limiter; /* chan int64_t, capacity BURST */
    goc_ctx *ctx;      /* ends the goroutine */
};

static void ticking(void *arg) {
    struct ticking_args *a = arg;
    goc_ticker *tick = goc_ticker_new(PERIOD); /* time.Tick(time.Second / rate) */
    goc_chan *done = goc_ctx_done(a->ctx);
    for (;;) {
        int64_t t;
        goc_case wait[] = {GOC_RECV(goc_ticker_chan(tick), &t, NULL), GOC_RECV(done, NULL, NULL)};
        if (goc_select(wait, 2) == 1)
            break; /* case <-ctx.Done() */
        goc_case give[] = {GOC_SEND(a->limiter, &t), GOC_RECV(done, NULL, NULL)};
        if (goc_select(give, 2) == 1) /* burstyLimiter <- t (or stop) */
            break;
    }
    goc_ticker_free(tick);
    goc_chan_release(a->limiter);
    goc_ctx_release(a->ctx);
}

/* ---- the client ---- */

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    struct server s = {.ln = goc_listen_tcp("127.0.0.1", "0", 16)};
    if (s.ln < 0) {
        fprintf(stderr, "rate_limited_client: listen: %s\n", goc_strerror(s.ln));
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(s.ln, (struct sockaddr *)&sin, &sl);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sin.sin_port));
    goc_wg_add(&s.wg, 1);
    goc_go(accept_loop, &s);

    int conn = goc_dial_tcp("127.0.0.1", port, NULL); /* net.Dial("tcp", addr) */
    if (conn < 0) {
        fprintf(stderr, "rate_limited_client: dial: %s\n", goc_strerror(conn));
        return 1;
    }

    int64_t t0 = goc_now();
    goc_chan *limiter = goc_chan_make(sizeof(int64_t), BURST); /* make(chan time.Time, 5) */
    for (int i = 0; i < BURST; i++)
        goc_chan_send(limiter, &(int64_t){0}); /* the burst allowance (time 0: "not a tick") */
    goc_ctx *ctx = goc_ctx_with_cancel(NULL);
    GOC_GO(ticking, struct ticking_args, .limiter = goc_chan_retain(limiter),
           .ctx = goc_ctx_retain(ctx));

    int64_t sent_at[REQUESTS], token[REQUESTS];
    int bad = 0;
    char buf[64];
    size_t have = 0;
    for (int req = 0; req < REQUESTS; req++) {
        goc_chan_recv(limiter, &token[req]); /* <-burstyLimiter */
        sent_at[req] = goc_now();
        int len = snprintf(buf, sizeof buf, "req %d\n", req);
        ssize_t r = goc_write(conn, buf, (size_t)len, NULL);
        have = 0;
        while (r >= 0 && !memchr(buf, '\n', have)) { /* r.ReadString('\n') */
            r = goc_read(conn, buf + have, sizeof buf - 1 - have, NULL);
            if (r == 0)
                r = -ECONNRESET;
            if (r > 0)
                have += (size_t)r;
        }
        buf[have] = '\0';
        char want[32];
        snprintf(want, sizeof want, "ok %d\n", req);
        if (r < 0 || strcmp(buf, want) != 0) {
            fprintf(stderr, "rate_limited_client: request %d: %s\n", req,
                    r < 0 ? goc_strerror((int)r) : buf);
            bad++;
        }
    }
    int64_t t_end = goc_now();
    goc_ctx_cancel(ctx); /* stop the ticking goroutine */
    goc_ctx_release(ctx);
    goc_chan_release(limiter);
    goc_close(conn);
    goc_close(s.ln); /* ln.Close(): the accept loop ends */
    goc_wg_wait(&s.wg);

    /* The checks described at the top. */
    for (int i = 0; i < REQUESTS; i++) {
        bool from_burst = token[i] == 0;
        if (from_burst != (i < BURST)) {
            fprintf(stderr, "rate_limited_client: request %d used %s\n", i,
                    from_burst ? "the burst allowance" : "a tick");
            bad++;
        }
        int64_t earliest = t0 + (int64_t)(i - BURST + 1) * PERIOD;
        if (i >= BURST && sent_at[i] < earliest) {
            fprintf(stderr, "rate_limited_client: request %d sent %.2f ms too early\n", i,
                    (double)(earliest - sent_at[i]) / 1e6);
            bad++;
        }
    }
    double burst_ms = (double)(sent_at[BURST - 1] - t0) / 1e6;
    double steady_s = (double)(sent_at[REQUESTS - 1] - sent_at[BURST - 1]) / 1e9;
    double total_s = (double)(t_end - t0) / 1e9;
    printf("%d requests, limit %d per second with a burst of %d: %ld served\n", REQUESTS, RATE,
           BURST, s.served);
    printf("burst: %d requests in %.2f ms; then %d requests at %.1f per second; "
           "overall %.1f per second over %.3f s\n",
           BURST, burst_ms, REQUESTS - BURST, (REQUESTS - BURST) / steady_s, REQUESTS / total_s,
           total_s);

    for (int i = 0; i < 1000 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    if (bad || s.served != REQUESTS || left != 0) {
        fprintf(stderr, "rate_limited_client: %d bad, %ld served, %d goroutines left\n", bad,
                s.served, left);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
