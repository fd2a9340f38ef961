/* http_hello: a minimal HTTP/1.1 keep-alive "Hello, World!\n" server, the
 * goc side of the http workload (bench/run.sh loads it with wrk, beside Go
 * net/http, a Go server on a raw listener and nginx).
 *
 *   bench_http_hello [port]      serve on 127.0.0.1:port (default 8080)
 *                                until killed
 *
 * One goroutine per connection, each with a 4 KiB input and a 4 KiB output
 * buffer on its stack: nothing is allocated per request. A read may bring
 * several pipelined requests: every complete one (headers up to the empty
 * line, then Content-Length bytes of body, if any) gets its response
 * appended to the output buffer, and the buffer is written once all
 * complete requests in hand are answered (or when it is full), so pipelined
 * requests are answered in order with one write. "Connection: close" or
 * HTTP/1.0 without keep-alive: the connection is closed after the
 * response. A request that does not fit in 4 KiB gets 431 and a close.
 *
 * The response (the same headers as the Go raw server: Server, Date,
 * Content-Type, Content-Length) is a per-connection template whose Date is
 * patched in place when the second changes. */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

enum { INBUF = 4096, OUTBUF = 4096 };

static const char resp_head[] = "HTTP/1.1 200 OK\r\nServer: goc\r\nDate: ";
static const char resp_tail[] = "\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
                                "Hello, World!\n";
enum {
    DATE_LEN = 29, /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    HEAD_LEN = sizeof resp_head - 1,
    RESP_LEN = HEAD_LEN + DATE_LEN + sizeof resp_tail - 1,
};
static const char too_large[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n";

struct response {
    char text[RESP_LEN];
    time_t sec;
};

static void response_init(struct response *r) {
    memcpy(r->text, resp_head, HEAD_LEN);
    memset(r->text + HEAD_LEN, ' ', DATE_LEN);
    memcpy(r->text + HEAD_LEN + DATE_LEN, resp_tail, sizeof resp_tail - 1);
    r->sec = -1;
}

static void response_date(struct response *r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == r->sec)
        return;
    r->sec = ts.tv_sec;
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char d[DATE_LEN + 1];
    strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    memcpy(r->text + HEAD_LEN, d, DATE_LEN);
}

/* Case-insensitive prefix test on a header line. */
static bool has_prefix(const char *p, const char *end, const char *prefix) {
    for (; *prefix; p++, prefix++)
        if (p >= end || tolower((unsigned char)*p) != *prefix)
            return false;
    return true;
}

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Parse the head in [p, end) (end just past the empty line): whether to
 * close after responding and the body length; false: malformed. */
static bool parse_head(const char *p, const char *end, bool *close_after, size_t *body) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return false;
    const char *rl_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    bool http10 = rl_end - p >= 8 && memcmp(rl_end - 8, "HTTP/1.0", 8) == 0;
    *close_after = http10;
    *body = 0;
    for (p = eol + 1; p < end;) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if (has_prefix(p, eol, "connection:")) {
            const char *v = skip_space(p + 11, eol);
            if (has_prefix(v, eol, "close"))
                *close_after = true;
            else if (has_prefix(v, eol, "keep-alive"))
                *close_after = false;
        } else if (has_prefix(p, eol, "content-length:")) {
            const char *v = skip_space(p + 15, eol);
            size_t n = 0;
            if (v == eol || !isdigit((unsigned char)*v))
                return false;
            for (; v < eol && isdigit((unsigned char)*v); v++) {
                n = n * 10 + (size_t)(*v - '0');
                if (n > ((size_t)1 << 40))
                    return false;
            }
            *body = n;
        } else if (has_prefix(p, eol, "transfer-encoding:")) {
            return false; /* chunked request bodies: not for a hello server */
        }
        p = eol + 1;
    }
    return true;
}

static void conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char in[INBUF], out[OUTBUF];
    size_t have = 0, skip = 0; /* skip: body bytes still to drop */
    struct response resp;
    response_init(&resp);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = goc_read(fd, in + have, sizeof in - have, NULL);
        if (n <= 0)
            break;
        have += (size_t)n;
        size_t pos = 0, outlen = 0;
        bool closing = false;
        response_date(&resp);
        for (;;) {
            if (skip) {
                size_t k = have - pos < skip ? have - pos : skip;
                pos += k;
                skip -= k;
                if (skip)
                    break;
            }
            char *hend = memmem(in + pos, have - pos, "\r\n\r\n", 4);
            if (!hend)
                break;
            size_t end = (size_t)(hend - in) + 4;
            bool close_after;
            size_t body;
            if (!parse_head(in + pos, in + end, &close_after, &body)) {
                closing = true;
                break;
            }
            if (outlen + RESP_LEN > sizeof out) {
                if (goc_write(fd, out, outlen, NULL) != (ssize_t)outlen)
                    goto done;
                outlen = 0;
            }
            memcpy(out + outlen, resp.text, RESP_LEN);
            outlen += RESP_LEN;
            pos = end;
            skip = body;
            if (close_after) {
                closing = true;
                break;
            }
        }
        if (outlen && goc_write(fd, out, outlen, NULL) != (ssize_t)outlen)
            break;
        if (closing)
            break;
        memmove(in, in + pos, have - pos);
        have -= pos;
        if (have == sizeof in) {
            goc_write(fd, too_large, sizeof too_large - 1, NULL);
            break;
        }
    }
done:
    goc_close(fd);
}

static const char *port = "8080";

static int serve(void *arg) {
    (void)arg;
    int lfd = goc_listen_tcp("127.0.0.1", port, 4096);
    if (lfd < 0) {
        fprintf(stderr, "http_hello: listen on 127.0.0.1:%s: %s\n", port, goc_strerror(lfd));
        return 1;
    }
    fprintf(stderr, "http_hello: serving on 127.0.0.1:%s\n", port);
    for (;;) {
        int fd = goc_accept(lfd, NULL, NULL, NULL);
        if (fd < 0) {
            if (fd == -ECONNABORTED || fd == -EINTR)
                continue;
            if (fd == -EMFILE || fd == -ENFILE) { /* out of files: wait, as Go does */
                goc_sleep(10 * GOC_MILLISECOND);
                continue;
            }
            fprintf(stderr, "http_hello: accept: %s\n", goc_strerror(fd));
            return 1;
        }
        if (goc_go(conn, (void *)(intptr_t)fd) != 0)
            goc_close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [port]\n", argv[0]);
        return 2;
    }
    if (argc == 2)
        port = argv[1];
    return goc_run(serve, NULL);
}
