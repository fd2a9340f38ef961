/* http_hello.c — a minimal HTTP/1.1 server: a goroutine per connection,
 * keep-alive and pipelining, "Hello, World!\n" for every request.
 *
 * Go original:
 *
 *     http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
 *         io.WriteString(w, "Hello, World!\n")
 *     })
 *     log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
 *
 * which net/http runs as (simplified):
 *
 *     ln, _ := net.Listen("tcp", addr)
 *     for {
 *         conn, _ := ln.Accept()
 *         go func() { // (*conn).serve: one goroutine per connection
 *             ctx, cancel := context.WithCancel(srvCtx)
 *             defer cancel() // the request context ends when the client goes away
 *             br := bufio.NewReader(conn) // one read buffer per connection
 *             for {
 *                 req, err := http.ReadRequest(br)
 *                 if err != nil { return }
 *                 handler(w, req.WithContext(ctx))
 *                 // the response is flushed when no pipelined request is buffered
 *             }
 *         }()
 *     }
 *
 * Usage:
 *     http_hello [port]      serve on 127.0.0.1:port (default 8080) until killed
 *     http_hello --selftest  serve on a free port, check the answers to a few
 *                            requests made by goc clients, exit 0 (CTest runs this)
 *
 * Load it with wrk: wrk -t1 -c100 -d10s http://127.0.0.1:8080/
 *
 * What it parses: the request line (method, target, HTTP/1.0 or 1.1),
 * headers (Content-Length, Connection, Transfer-Encoding), bodies by
 * Content-Length (skipped, also when larger than the buffer), pipelined
 * requests, "Connection: close" and HTTP/1.0's default of closing. Chunked
 * request bodies are answered with 501 and the connection closed; a
 * malformed request with 400, a head too large for the buffer with 431.
 *
 * Per connection: one read buffer and one write buffer on the goroutine's
 * stack, and one context; no allocation per request. Every request already
 * in the read buffer is answered into the write buffer, which then goes out
 * with one goc_write: a batch of pipelined requests costs one read and one
 * write. */
/* example-args: --selftest */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <goc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum { RBUF = 8192, WBUF = 16384, MAXRESP = 256 };

#define BODY "Hello, World!\n"
#define BODY_LEN "14" /* strlen(BODY), for Content-Length */
#define HEAD200                                                                                    \
    "HTTP/1.1 200 OK\r\n"                                                                          \
    "Content-Type: text/plain; charset=utf-8\r\n"                                                  \
    "Content-Length: " BODY_LEN "\r\n"
_Static_assert(sizeof BODY - 1 == 14, "BODY_LEN must be strlen(BODY)");

struct server {
    int ln;
    goc_ctx *ctx;        /* the server's context: cancelled at shutdown */
    goc_waitgroup conns; /* the connection goroutines */
    _Atomic long nconns, requests, writes;
};

/* ---- parsing ---- */

struct request {
    const char *method, *target;
    size_t method_len, target_len;
    int minor; /* HTTP/1.minor */
    long long content_length;
    bool close, keep_alive, chunked;
};

static bool token_in(const char *v, size_t len, const char *tok) { /* "a, close" */
    size_t tl = strlen(tok);
    while (len > 0) {
        while (len > 0 && (*v == ' ' || *v == '\t' || *v == ',')) {
            v++;
            len--;
        }
        size_t n = 0;
        while (n < len && v[n] != ',')
            n++;
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, tok, tl) == 0)
            return true;
        v += n;
        len -= n;
    }
    return false;
}

/* Parse the request head at p[0..n): the head's length (through its empty
 * line), 0 if it is not all there yet, -1 if malformed. */
static long parse_head(const char *p, size_t n, struct request *r) {
    const char *end = p + n, *line = p;
    *r = (struct request){0};
    for (int i = 0;; i++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            return 0;
        size_t len = (size_t)(nl - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (i == 0) { /* METHOD SP target SP HTTP/1.x */
            const char *sp1 = memchr(line, ' ', len);
            const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
            if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || line + len - (sp2 + 1) != 8 ||
                strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
                return -1;
            r->method = line;
            r->method_len = (size_t)(sp1 - line);
            r->target = sp1 + 1;
            r->target_len = (size_t)(sp2 - sp1 - 1);
            r->minor = sp2[8] - '0';
        } else if (len == 0) {
            return nl + 1 - p; /* the empty line: end of the head */
        } else {
            const char *colon = memchr(line, ':', len);
            if (!colon || colon == line)
                return -1;
            size_t name_len = (size_t)(colon - line);
            const char *v = colon + 1, *vend = line + len;
            while (v < vend && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(vend - v);
            if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
                if (vlen == 0 || vlen > 15)
                    return -1;
                long long cl = 0;
                for (size_t k = 0; k < vlen; k++) {
                    if (v[k] < '0' || v[k] > '9')
                        return -1;
                    cl = cl * 10 + (v[k] - '0');
                }
                r->content_length = cl;
            } else if (name_len == 10 && strncasecmp(line, "Connection", 10) == 0) {
                r->close |= token_in(v, vlen, "close");
                r->keep_alive |= token_in(v, vlen, "keep-alive");
            } else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
                r->chunked = true;
            }
        }
        line = nl + 1;
    }
}

/* ---- the handler ---- */

/* The application's handler: appends the response to out (room for
 * MAXRESP bytes) and returns its length. ctx is the request's context
 * (Go's r.Context()): a handler that waited on something would pass it on,
 * and stop when the client goes away or the server shuts down. */
static size_t hello(goc_ctx *ctx, const struct request *r, bool closing, char *out) {
    (void)ctx;
    size_t n = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        memcpy(out + n, s, sizeof s - 1);                                                          \
        n += sizeof s - 1;                                                                         \
    } while (0)
    PUT(HEAD200);
    if (closing)
        PUT("Connection: close\r\n");
    else if (r->minor == 0)
        PUT("Connection: keep-alive\r\n"); /* HTTP/1.0 closes unless told otherwise */
    PUT("\r\n");
    if (!(r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0))
        PUT(BODY);
#undef PUT
    return n;
}

/* ---- a connection ---- */

struct conn_args {
    struct server *s;
    int fd;
};

static const char RESP_400[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
static const char RESP_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char RESP_501[] = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";

static void serve_conn(void *arg) { /* go c.serve(ctx) */
    struct conn_args *a = arg;
    struct server *s = a->s;
    int fd = a->fd;
    goc_ctx *ctx = goc_ctx_with_cancel(s->ctx); /* the request context of this connection */
    char rbuf[RBUF], wbuf[WBUF];
    size_t pos = 0, end = 0, wlen = 0;
    long long skip = 0; /* body bytes still to discard */
    bool done = false;
    long nreq = 0, nwrites = 0;

    while (!done && ctx) {
        /* Answer every complete request in the buffer. */
        for (;;) {
            if (skip > 0) {
                size_t take = end - pos < (size_t)skip ? end - pos : (size_t)skip;
                pos += take;
                skip -= (long long)take;
                if (skip > 0)
                    break;
            }
            if (pos == end)
                break;
            struct request r;
            long head = parse_head(rbuf + pos, end - pos, &r);
            const char *err = NULL;
            if (head < 0)
                err = RESP_400;
            else if (head == 0 && pos == 0 && end == RBUF)
                err = RESP_431; /* a head that cannot fit */
            else if (head > 0 && r.chunked)
                err = RESP_501;
            if (err) {
                size_t len = strlen(err);
                memcpy(wbuf + wlen, err, len); /* wlen <= WBUF - MAXRESP here */
                wlen += len;
                done = true;
                break;
            }
            if (head == 0)
                break; /* the rest of this request is still on its way */
            pos += (size_t)head;
            skip = r.content_length;
            bool closing = r.close || (r.minor == 0 && !r.keep_alive);
            wlen += hello(ctx, &r, closing, wbuf + wlen);
            nreq++;
            if (closing) {
                done = true;
                break;
            }
            if (wlen > WBUF - MAXRESP) { /* the write buffer is full: send it now */
                if (goc_write(fd, wbuf, wlen, ctx) < 0)
                    goto out;
                nwrites++;
                wlen = 0;
            }
        }
        /* One write for the whole batch. */
        if (wlen > 0) {
            if (goc_write(fd, wbuf, wlen, ctx) < 0)
                break;
            nwrites++;
            wlen = 0;
        }
        if (done)
            break;
        /* Keep the unparsed part at the front, then read more. */
        if (pos > 0) {
            memmove(rbuf, rbuf + pos, end - pos);
            end -= pos;
            pos = 0;
        }
        ssize_t n = goc_read(fd, rbuf + end, RBUF - end, ctx);
        if (n <= 0)
            break; /* the client went away (0, -ECONNRESET), or shutdown (-ECANCELED) */
        end += (size_t)n;
    }
    if (done)
        shutdown(fd, SHUT_WR); /* the last response is out: FIN, as Go's closeWrite */
out:
    goc_ctx_cancel(ctx); /* defer cancel(): the client is gone */
    goc_ctx_release(ctx);
    goc_close(fd);
    atomic_fetch_add(&s->requests, nreq);
    atomic_fetch_add(&s->writes, nwrites);
    goc_wg_done(&s->conns);
}

static void accept_loop(struct server *s) {
    for (;;) {
        int fd = goc_accept(s->ln, NULL, NULL, s->ctx);
        if (fd == -EBADF || fd == -ECANCELED)
            break; /* the listener was closed, or the server is shutting down */
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE) /* out of descriptors: Go backs off too */
                goc_sleep(5 * GOC_MILLISECOND);
            continue;
        }
        int one = 1; /* Go's default for TCP connections */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add(&s->nconns, 1);
        goc_wg_add(&s->conns, 1);
        if (GOC_GO(serve_conn, struct conn_args, .s = s, .fd = fd) != 0) {
            goc_close(fd);
            goc_wg_done(&s->conns);
        }
    }
}

static void accept_goroutine(void *arg) {
    struct server *s = arg;
    accept_loop(s);
    goc_wg_done(&s->conns);
}

static int server_listen(struct server *s, const char *port) {
    s->ln = goc_listen_tcp("127.0.0.1", port, 4096);
    if (s->ln < 0)
        return s->ln;
    s->ctx = goc_ctx_with_cancel(NULL);
    return s->ctx ? 0 : -ENOMEM;
}

static int server_port(struct server *s) {
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(s->ln, (struct sockaddr *)&sin, &sl);
    return ntohs(sin.sin_port);
}

/* ---- serving for real ---- */

static int serve(void *arg) {
    const char *port = arg;
    struct server s = {0};
    int err = server_listen(&s, port);
    if (err < 0) {
        fprintf(stderr, "http_hello: listen on 127.0.0.1:%s: %s\n", port, goc_strerror(err));
        return 1;
    }
    printf("http_hello: serving http://127.0.0.1:%d/ (Ctrl-C to stop)\n", server_port(&s));
    fflush(stdout);
    accept_loop(&s); /* until killed */
    return 0;
}

/* ---- the self-test: goc clients against the server ---- */

struct client {
    int fd;
    char buf[8192];
    size_t pos, end;
};

struct response {
    int status;
    bool close;
    char body[64];
    size_t body_len;
};

/* Read one response (head, then Content-Length bytes of body unless the
 * request was HEAD): 0, or -errno (-EPROTO: malformed, -ECONNRESET: EOF). */
static int read_response(struct client *c, bool head_request, struct response *resp) {
    *resp = (struct response){0};
    long hlen = 0, clen = -1;
    for (;;) {
        char *p = c->buf + c->pos;
        size_t n = c->end - c->pos;
        char *e = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
        if (e) {
            hlen = e + 4 - p;
            if (sscanf(p, "HTTP/1.1 %d", &resp->status) != 1)
                return -EPROTO;
            for (char *line = memchr(p, '\n', (size_t)hlen) + 1; line < e;
                 line = memchr(line, '\n', (size_t)(e + 2 - line)) + 1) {
                if (strncasecmp(line, "Content-Length:", 15) == 0)
                    clen = strtol(line + 15, NULL, 10);
                else if (strncasecmp(line, "Connection: close", 17) == 0)
                    resp->close = true;
            }
            if (clen < 0 || clen > (long)sizeof resp->body)
                return -EPROTO;
            if (head_request || n >= (size_t)hlen + (size_t)clen)
                break;
        }
        if (c->pos > 0) {
            memmove(c->buf, c->buf + c->pos, c->end - c->pos);
            c->end -= c->pos;
            c->pos = 0;
        }
        if (c->end == sizeof c->buf)
            return -EPROTO;
        ssize_t r = goc_read(c->fd, c->buf + c->end, sizeof c->buf - c->end, NULL);
        if (r <= 0)
            return r == 0 ? -ECONNRESET : (int)r;
        c->end += (size_t)r;
    }
    c->pos += (size_t)hlen;
    if (!head_request) {
        resp->body_len = (size_t)clen;
        memcpy(resp->body, c->buf + c->pos, (size_t)clen);
        c->pos += (size_t)clen;
    }
    return 0;
}

static bool hello_ok(const struct response *r, bool head, bool close) {
    return r->status == 200 && r->close == close && r->body_len == (head ? 0 : sizeof BODY - 1) &&
           memcmp(r->body, BODY, r->body_len) == 0;
}

static int dial(struct client *c, int port) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    c->pos = c->end = 0;
    c->fd = goc_dial_tcp("127.0.0.1", p, NULL);
    return c->fd;
}

static int failures;

static void check(bool ok, const char *what) {
    printf("  %-62s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

#define GET "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

static bool send_str(struct client *c, const char *s) {
    return goc_write(c->fd, s, strlen(s), NULL) == (ssize_t)strlen(s);
}

/* Every case below is one connection. */

static bool test_keepalive(int port) {
    struct client c;
    if (dial(&c, port) < 0)
        return false;
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++) {
        struct response r;
        ok = send_str(&c, GET) && read_response(&c, false, &r) == 0 && hello_ok(&r, false, false);
    }
    goc_close(c.fd);
    return ok;
}

static bool test_pipelined(int port) {
    struct client c;
    if (dial(&c, port) < 0)
        return false;
    /* One write carrying eight requests, a body, a HEAD and an HTTP/1.0 one. */
    static const char reqs[] =
        GET GET "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world" GET
                "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                "get /lf-only HTTP/1.1\nHost: x\n\n" GET;
    bool head[8] = {[4] = true};
    bool ok = send_str(&c, reqs);
    for (int i = 0; i < 8 && ok; i++) {
        struct response r;
        ok = read_response(&c, head[i], &r) == 0 && hello_ok(&r, head[i], false);
    }
    goc_close(c.fd);
    return ok;
}

static bool test_split(int port) { /* a request byte by byte, then a body bigger than RBUF */
    struct client c;
    if (dial(&c, port) < 0)
        return false;
    bool ok = true;
    for (const char *p = GET; *p && ok; p++) {
        ok = goc_write(c.fd, p, 1, NULL) == 1;
        goc_sleep(100 * GOC_MICROSECOND);
    }
    struct response r;
    ok = ok && read_response(&c, false, &r) == 0 && hello_ok(&r, false, false);
    enum { BIG = 3 * RBUF + 123 };
    char head[128];
    snprintf(head, sizeof head, "PUT /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n", BIG);
    ok = ok && send_str(&c, head);
    static char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    for (int left = BIG; left > 0 && ok; left -= (int)sizeof chunk) {
        size_t n = left < (int)sizeof chunk ? (size_t)left : sizeof chunk;
        ok = goc_write(c.fd, chunk, n, NULL) == (ssize_t)n;
    }
    ok = ok && send_str(&c, GET);
    for (int i = 0; i < 2 && ok; i++)
        ok = read_response(&c, false, &r) == 0 && hello_ok(&r, false, false);
    goc_close(c.fd);
    return ok;
}

/* A request that ends the connection: the answer (with wanted status and
 * "Connection: close"), then end-of-file. */
static bool test_closing(int port, const char *req, int status) {
    struct client c;
    if (dial(&c, port) < 0)
        return false;
    struct response r;
    bool ok = send_str(&c, req) && read_response(&c, false, &r) == 0 && r.status == status &&
              (status != 200 || hello_ok(&r, false, true)) && r.close;
    char b;
    ok = ok && c.pos == c.end && goc_read(c.fd, &b, 1, NULL) == 0; /* then EOF */
    goc_close(c.fd);
    return ok;
}

struct load_args {
    int port, requests;
    _Atomic int *ok;
    goc_waitgroup *wg;
};

static void load_client(void *arg) { /* keep-alive, two requests in flight at a time */
    struct load_args *a = arg;
    struct client c;
    int good = 0;
    if (dial(&c, a->port) >= 0) {
        for (int i = 0; i < a->requests; i += 2) {
            struct response r1, r2;
            if (!send_str(&c, GET GET) || read_response(&c, false, &r1) != 0 ||
                read_response(&c, false, &r2) != 0)
                break;
            good += hello_ok(&r1, false, false) + hello_ok(&r2, false, false);
        }
        goc_close(c.fd);
    }
    atomic_fetch_add(a->ok, good);
    goc_wg_done(a->wg);
}

static int selftest(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    struct server s = {0};
    int err = server_listen(&s, "0");
    if (err < 0) {
        fprintf(stderr, "http_hello: listen: %s\n", goc_strerror(err));
        return 1;
    }
    int port = server_port(&s);
    goc_wg_add(&s.conns, 1);
    goc_go(accept_goroutine, &s);
    printf("http_hello --selftest: serving on 127.0.0.1:%d\n", port);

    check(test_keepalive(port), "keep-alive: 3 requests on one connection");
    check(test_pipelined(port), "pipelined: 8 requests in one write (POST body, HEAD, 1.0)");
    check(test_split(port), "a request byte by byte; a 24 KiB body skipped");
    check(test_closing(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 200),
          "Connection: close: answer, then EOF");
    check(test_closing(port, "GET / HTTP/1.0\r\n\r\n", 200), "HTTP/1.0 without keep-alive");
    check(test_closing(port, "BLAH\r\n\r\n", 400), "malformed request: 400, then EOF");
    check(test_closing(port, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
          "chunked body: 501, then EOF");

    enum { LOADERS = 16, PER = 200 };
    goc_waitgroup wg = {0};
    _Atomic int good = 0;
    int64_t t0 = goc_now();
    for (int i = 0; i < LOADERS; i++) {
        goc_wg_add(&wg, 1);
        GOC_GO(load_client, struct load_args, .port = port, .requests = PER, .ok = &good,
               .wg = &wg);
    }
    goc_wg_wait(&wg);
    double secs = (double)(goc_now() - t0) / 1e9;
    char what[80];
    snprintf(what, sizeof what, "%d connections x %d requests (%.0f requests/s)", LOADERS, PER,
             LOADERS * PER / secs);
    check(atomic_load(&good) == LOADERS * PER, what);

    /* An idle keep-alive connection, still open at shutdown. */
    struct client idle;
    bool idle_ok = dial(&idle, port) >= 0 && send_str(&idle, GET);
    struct response r;
    idle_ok = idle_ok && read_response(&idle, false, &r) == 0;

    /* Shutdown: cancel the server's context (ends the idle connection's
     * read), close the listener (ends Accept), wait for every goroutine. */
    goc_ctx_cancel(s.ctx);
    goc_close(s.ln);
    goc_wg_wait(&s.conns);
    char b;
    check(idle_ok && goc_read(idle.fd, &b, 1, NULL) == 0,
          "shutdown closes an idle keep-alive connection");
    goc_close(idle.fd);
    goc_ctx_release(s.ctx);

    for (int i = 0; i < 1000 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;
    check(left == 0, "no goroutine left behind");
    printf("server: %ld connections, %ld requests answered with %ld writes\n",
           atomic_load(&s.nconns), atomic_load(&s.requests), atomic_load(&s.writes));
    if (failures)
        fprintf(stderr, "http_hello: %d checks failed\n", failures);
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--selftest") == 0)
        return goc_run(selftest, NULL);
    if (argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9')) {
        fprintf(stderr, "usage: %s [port] | --selftest\n", argv[0]);
        return 2;
    }
    return goc_run(serve, argc > 1 ? argv[1] : "8080");
}
