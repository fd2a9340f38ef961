/* tcp_echo.c — a TCP echo server, one goroutine per connection, and its
 * clients in the same program.
 *
 * Go original:
 *
 *     ln, _ := net.Listen("tcp", "127.0.0.1:0")
 *     go func() {
 *         for {
 *             conn, err := ln.Accept()
 *             if err != nil {
 *                 return // net.ErrClosed: the listener was closed
 *             }
 *             go func() { // a goroutine per connection
 *                 defer conn.Close()
 *                 io.Copy(conn, conn) // echo until the client half-closes
 *             }()
 *         }
 *     }()
 *
 *     // each client: a writer goroutine sends, the client reads it all back
 *     conn, _ := net.Dial("tcp", ln.Addr().String())
 *     go func() { conn.Write(data); conn.(*net.TCPConn).CloseWrite() }()
 *     got, _ := io.ReadAll(conn) // until the server closes: every byte checked
 *
 * CLIENTS clients each send BYTES bytes of their own pattern, from a writer
 * goroutine while the client reads the echo back (so neither side waits on
 * a full socket buffer), then half-close; the server echoes until it reads
 * end-of-file and closes. Every byte that comes back is compared with what
 * was sent. At the end goc_close on the listener wakes the accept loop with
 * -EBADF (Go's net.ErrClosed), and no goroutine is left behind. */
#include <errno.h>
#include <goc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>

enum { CLIENTS = 32, BYTES = 256 * 1024, CHUNK = 16 * 1024 };

static goc_waitgroup handlers; /* the per-connection goroutines */
static _Atomic long echoed;    /* bytes the server echoed */

static unsigned char pattern(int client, long i) { /* byte i of client's stream */
    return (unsigned char)(i * 31 + client * 7 + (i >> 9));
}

static void handle(void *arg) { /* go func() { defer conn.Close(); io.Copy(conn, conn) }() */
    int conn = (int)(intptr_t)arg;
    char buf[CHUNK];
    for (;;) {
        ssize_t n = goc_read(conn, buf, sizeof buf, NULL); /* conn.Read(buf) */
        if (n <= 0)
            break; /* 0: the client half-closed (io.EOF); <0: an error */
        if (goc_write(conn, buf, (size_t)n, NULL) != n) /* conn.Write(buf[:n]) */
            break;
        atomic_fetch_add(&echoed, n);
    }
    goc_close(conn); /* defer conn.Close() */
    goc_wg_done(&handlers);
}

struct accept_args {
    int ln;
    goc_chan *done; /* chan int: the error that ended the loop */
};

static void accept_loop(void *arg) {
    struct accept_args *a = arg;
    int err;
    for (;;) {
        int conn = goc_accept(a->ln, NULL, NULL, NULL); /* conn, err := ln.Accept() */
        if (conn < 0) {
            err = conn;
            if (conn == -EBADF)
                break; /* the listener was closed: net.ErrClosed */
            continue;  /* a transient error (EMFILE, ECONNABORTED, ...) */
        }
        goc_wg_add(&handlers, 1);
        if (goc_go(handle, (void *)(intptr_t)conn) != 0) { /* go handle(conn) */
            goc_close(conn);
            goc_wg_done(&handlers);
        }
    }
    goc_chan_send(a->done, &err);
    goc_chan_release(a->done);
}

struct writer_args {
    int conn, client;
    goc_chan *done; /* chan ssize_t: the writer's result */
};

static void writer(void *arg) { /* go func() { conn.Write(data); conn.CloseWrite() }() */
    struct writer_args *w = arg;
    unsigned char buf[CHUNK];
    ssize_t r = 0;
    for (long off = 0; off < BYTES && r >= 0; off += CHUNK) {
        for (int i = 0; i < CHUNK; i++)
            buf[i] = pattern(w->client, off + i);
        r = goc_write(w->conn, buf, CHUNK, NULL);
    }
    if (r >= 0 && shutdown(w->conn, SHUT_WR) != 0) /* CloseWrite: the server sees EOF */
        r = -errno;
    goc_chan_send(w->done, &r);
    goc_chan_release(w->done);
}

struct client_args {
    const char *port;
    int client;
    goc_waitgroup *wg;
    _Atomic long *received, *bad;
};

static void client(void *arg) {
    struct client_args *c = arg;
    long got = 0, bad = 0;
    int conn = goc_dial_tcp("127.0.0.1", c->port, NULL); /* net.Dial("tcp", addr) */
    if (conn < 0) {
        fprintf(stderr, "tcp_echo: client %d: dial: %s\n", c->client, goc_strerror(conn));
        atomic_fetch_add(c->bad, 1);
        goc_wg_done(c->wg);
        return;
    }
    goc_chan *done = goc_chan_make(sizeof(ssize_t), 1);
    GOC_GO(writer, struct writer_args, .conn = conn, .client = c->client,
           .done = goc_chan_retain(done));
    unsigned char buf[CHUNK];
    for (;;) { /* io.ReadAll(conn) */
        ssize_t n = goc_read(conn, buf, sizeof buf, NULL);
        if (n < 0) {
            fprintf(stderr, "tcp_echo: client %d: read: %s\n", c->client, goc_strerror((int)n));
            bad++;
        }
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            bad += buf[i] != pattern(c->client, got + i);
        got += n;
    }
    ssize_t wr;
    goc_chan_recv(done, &wr); /* the writer has finished with conn */
    goc_chan_release(done);
    if (wr < 0)
        fprintf(stderr, "tcp_echo: client %d: write: %s\n", c->client, goc_strerror((int)wr));
    goc_close(conn);
    if (got != BYTES || wr < 0)
        bad++;
    atomic_fetch_add(c->received, got);
    atomic_fetch_add(c->bad, bad);
    goc_wg_done(c->wg);
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    int ln = goc_listen_tcp("127.0.0.1", "0", 128); /* net.Listen("tcp", "127.0.0.1:0") */
    if (ln < 0) {
        fprintf(stderr, "tcp_echo: listen: %s\n", goc_strerror(ln));
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(ln, (struct sockaddr *)&sin, &sl); /* ln.Addr() */
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sin.sin_port));

    goc_chan *accept_done = goc_chan_make(sizeof(int), 1);
    GOC_GO(accept_loop, struct accept_args, .ln = ln, .done = goc_chan_retain(accept_done));

    int64_t t0 = goc_now();
    goc_waitgroup clients = {0};
    _Atomic long received = 0, bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        goc_wg_add(&clients, 1);
        GOC_GO(client, struct client_args, .port = port, .client = i, .wg = &clients,
               .received = &received, .bad = &bad);
    }
    goc_wg_wait(&clients);
    double secs = (double)(goc_now() - t0) / 1e9;

    goc_close(ln); /* ln.Close(): Accept returns net.ErrClosed */
    int accept_err;
    goc_chan_recv(accept_done, &accept_err);
    goc_chan_release(accept_done);
    goc_wg_wait(&handlers);

    for (int i = 0; i < 1000 && goc_num_goroutine() > start; i++)
        goc_sleep(GOC_MILLISECOND);
    int left = goc_num_goroutine() - start;

    long total = (long)CLIENTS * BYTES;
    printf("%d clients echoed %ld bytes (%ld KiB each) in %.3f s (%.1f MiB/s), %ld bad\n", CLIENTS,
           atomic_load(&received), (long)BYTES / 1024, secs,
           (double)atomic_load(&received) * 2 / (1 << 20) / secs, atomic_load(&bad));
    printf("accept loop ended with: %s; goroutines left behind: %d\n", goc_strerror(accept_err),
           left);
    if (atomic_load(&received) != total || atomic_load(&echoed) != total ||
        atomic_load(&bad) != 0 || accept_err != -EBADF || left != 0) {
        fprintf(stderr, "tcp_echo: received %ld, echoed %ld (want %ld), %ld bad, accept: %s\n",
                atomic_load(&received), atomic_load(&echoed), total, atomic_load(&bad),
                goc_strerror(accept_err));
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
