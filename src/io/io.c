/* io/io.c — goroutine-aware I/O calls (<goc/io.h>): the system call first,
 * and on EAGAIN a wait on the netpoller (Go's internal/poll.FD).
 *
 * Every call follows one shape: try the non-blocking system call; if it
 * would block, wait on the fd's poll descriptor (src/netpoll) for the right
 * direction, then try again. The context: an already-ended context returns
 * its error before anything is done; a context that ends during a wait
 * cancels the wait (gnetpoll_cancel, from a context AfterFunc) and the call
 * returns the context's error having consumed nothing. Regular files cannot
 * be polled: their reads and writes go through io_uring (src/netpoll/uring.c:
 * the goroutine parks until the ring's completion readies it through the
 * poll driver), or, where there is no ring, through goc_blocking (the
 * processor is handed off while the thread is in the kernel). A file
 * operation checks the context before it starts and is not cancelled once
 * started: it completes soon, and a read without offset that completed has
 * moved the file position, so its bytes must be returned.
 *
 * Invariants
 *   - A wait's gpollwaiter lives on the waiting goroutine's stack: the
 *     cancel AfterFunc is stopped before the wait returns, and if it had
 *     started already the wait waits for it to finish (iowait.fnstate), so
 *     it never touches a dead frame.
 *   - No call reports through errno: every failure is a -errno result.
 *
 * Lock order: none of its own; the poll descriptor's lock inside netpoll.
 *
 * Rejected: SIGIO-driven readiness (signals per event, and signal-safety
 * everywhere); a deadline timer per wait inside the netpoller (contexts
 * already have their timers: one AfterFunc per cancellable wait covers both
 * cancellation and deadlines).
 */
#define _GNU_SOURCE
#include <goc/io.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <goc/context.h>

#include "netpoll/netpoll.h"

struct iowait {
    gpolldesc *pd;
    gpollwaiter w, w2; /* w2: the write side of a wait for both directions */
    goc_ctx *ctx;
    _Atomic int fnstate; /* 0: not started, 1: running, 2: done */
};

static void iowait_cancel(void *arg) {
    struct iowait *iw = arg;
    atomic_store(&iw->fnstate, 1);
    int err = goc_ctx_err(iw->ctx);
    gnetpoll_cancel(iw->pd, &iw->w, err ? err : -ECANCELED);
    atomic_store(&iw->fnstate, 2);
}

static int gio_wait(gpolldesc *pd, uint32_t seq, int mode, goc_ctx *ctx) {
    struct iowait iw = {.pd = pd, .ctx = ctx};
    bool both = mode == (GNETPOLL_READ | GNETPOLL_WRITE);
    gnetpoll_waiter_init(&iw.w, both ? GNETPOLL_READ : mode);
    gnetpoll_waiter_init(&iw.w2, GNETPOLL_WRITE);
    goc_ctx_stop *stop = NULL;
    if (ctx && goc_ctx_done(ctx)) {
        int err = goc_ctx_err(ctx);
        if (err)
            return err;
        stop = goc_ctx_after_func(ctx, iowait_cancel, &iw);
        if (!stop)
            return -ENOMEM;
    }
    int r = both ? gnetpoll_wait_either(pd, seq, &iw.w, &iw.w2) : gnetpoll_wait(pd, seq, &iw.w);
    if (stop && !goc_ctx_stop_after_func(stop)) {
        /* The cancel ran or is running: let it finish with our waiter. */
        while (atomic_load(&iw.fnstate) != 2)
            goc_yield();
    }
    return r;
}

/* The fd's descriptor for this call: *kind says whether to poll. */
static gpolldesc *io_open(int fd, uint32_t *seq, int *kind, int *err) {
    gpolldesc *pd = gnetpoll_open(fd, seq, err);
    if (pd)
        *kind = __atomic_load_n(&pd->kind, __ATOMIC_RELAXED);
    return pd;
}

static int ctx_err(goc_ctx *ctx) { return ctx ? goc_ctx_err(ctx) : 0; }

/* r, or -errno when r < 0. Out of line on purpose: compilers treat
 * errno's address as constant within a function and may keep it across a
 * wait, after which the goroutine may run on another thread (NOTES: TLS
 * caching); a fresh call reads the current thread's errno. */
__attribute__((noinline)) static ssize_t sysret(ssize_t r) {
    if (r >= 0)
        return r;
    int e = errno;
    __asm__ __volatile__("" ::: "memory");
    return -e;
}

/* ---- regular files: through io_uring, else through goc_blocking ---- */

struct fileop {
    int fd, op;
    void *buf;
    size_t n;
    off_t off;
    ssize_t r;
    gpolldesc *pd; /* referenced (gnetpoll_ref) until the call is done */
};

enum { OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE };

static int fileop_run(void *arg) {
    struct fileop *f = arg;
    for (;;) {
        switch (f->op) {
        case OP_READ:
            f->r = read(f->fd, f->buf, f->n);
            break;
        case OP_WRITE:
            f->r = write(f->fd, f->buf, f->n);
            break;
        case OP_PREAD:
            f->r = pread(f->fd, f->buf, f->n, f->off);
            break;
        default:
            f->r = pwrite(f->fd, f->buf, f->n, f->off);
            break;
        }
        f->r = sysret(f->r);
        if (f->r != -EINTR)
            break;
    }
    /* Here, not after goc_blocking returns: a goc_close waiting for this
     * reference may hold the only processor that exitsyscall waits for. */
    gnetpoll_unref(f->pd);
    return 0;
}

/* One read or write of a file that cannot be polled, as one call on the
 * descriptor (gnetpoll_ref: goc_close waits for it). The ring first; when
 * it has no room, or the kernel could not do the operation without
 * blocking (-EAGAIN: a file opened O_NONBLOCK) or was interrupted, which
 * transferred nothing, the blocking-call handoff (fileop_run drops the
 * reference inside fn: see there). */
static ssize_t file_io(gpolldesc *pd, uint32_t seq, int fd, int op, void *buf, size_t n,
                       off_t off) {
    bool positional = op == OP_PREAD || op == OP_PWRITE;
    if (positional && off < 0)
        return -EINVAL; /* -1 would mean "the file position" to the ring */
    if (!gnetpoll_ref(pd, seq))
        return -EBADF;
    ssize_t r;
    int rop = op == OP_READ || op == OP_PREAD ? GURING_READ : GURING_WRITE;
    if (guring_rw(pd, fd, rop, buf, n, positional ? (int64_t)off : -1, &r)) {
        /* The ring dropped the reference once it had the operation. */
        if (r != -EAGAIN && r != -EINTR && r != -ECANCELED)
            return r;
        if (!gnetpoll_ref(pd, seq)) /* nothing transferred: again, the other way */
            return -EBADF;
    }
    struct fileop f = {fd, op, buf, n, off, 0, pd};
    goc_blocking(fileop_run, &f);
    return f.r;
}

int goc_io_uring_enabled(void) {
    if (gnetpoll_init() != 0)
        return 0;
    return guring_enabled();
}

/* ---- the calls ---- */

/* One system call, retried across EAGAIN waits and EINTR. */
#define IO_LOOP(fd, mode, ctx, call)                                                               \
    do {                                                                                           \
        int err_ = ctx_err(ctx);                                                                   \
        if (err_)                                                                                  \
            return err_;                                                                           \
        uint32_t seq_;                                                                             \
        int kind_ = GPOLL_UNKNOWN;                                                                 \
        gpolldesc *pd_ = io_open(fd, &seq_, &kind_, &err_);                                        \
        if (!pd_)                                                                                  \
            return err_;                                                                           \
        for (;;) {                                                                                 \
            /* Not on another file that got fd's number from a goc_close                           \
             * (this goroutine may have been woken just before it). */                             \
            if (!gnetpoll_ref(pd_, seq_))                                                          \
                return -EBADF;                                                                     \
            ssize_t r_ = sysret(call);                                                             \
            gnetpoll_unref(pd_);                                                                   \
            if (r_ >= 0)                                                                           \
                return r_;                                                                         \
            if (r_ == -EINTR)                                                                      \
                continue;                                                                          \
            if (r_ != -EAGAIN && r_ != -EWOULDBLOCK)                                               \
                return r_;                                                                         \
            if (kind_ != GPOLL_POLLED)                                                             \
                return -EAGAIN;                                                                    \
            if ((err_ = gio_wait(pd_, seq_, (mode), (ctx))) != 0)                                  \
                return err_;                                                                       \
        }                                                                                          \
    } while (0)

static bool is_file(int fd, gpolldesc **pd, uint32_t *seq, int *err) {
    int kind = GPOLL_UNKNOWN;
    if (!(*pd = io_open(fd, seq, &kind, err)))
        return false;
    *err = 0;
    return kind == GPOLL_FILE;
}

ssize_t goc_read(int fd, void *buf, size_t n, goc_ctx *ctx) {
    int err = ctx_err(ctx);
    if (err)
        return err;
    gpolldesc *pd;
    uint32_t seq;
    if (is_file(fd, &pd, &seq, &err))
        return file_io(pd, seq, fd, OP_READ, buf, n, 0);
    if (err)
        return err;
    IO_LOOP(fd, GNETPOLL_READ, ctx, read(fd, buf, n));
}

ssize_t goc_pread(int fd, void *buf, size_t n, off_t off, goc_ctx *ctx) {
    int err = ctx_err(ctx);
    if (err)
        return err;
    gpolldesc *pd;
    uint32_t seq;
    if (is_file(fd, &pd, &seq, &err))
        return file_io(pd, seq, fd, OP_PREAD, buf, n, off);
    if (err)
        return err;
    IO_LOOP(fd, GNETPOLL_READ, ctx, pread(fd, buf, n, off));
}

ssize_t goc_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                     socklen_t *addrlen, goc_ctx *ctx) {
    IO_LOOP(fd, GNETPOLL_READ, ctx, recvfrom(fd, buf, n, flags, addr, addrlen));
}

ssize_t goc_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                   socklen_t addrlen, goc_ctx *ctx) {
    IO_LOOP(fd, GNETPOLL_WRITE, ctx, sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, addrlen));
}

/* write(2) that never raises SIGPIPE (the contract: -EPIPE instead). A
 * write to a socket or pipe whose reader is gone raises SIGPIPE on the
 * calling thread, and its default action kills the process: a goroutine on
 * the goc_run caller's thread or a plain thread whose mask lets SIGPIPE in
 * died of it. Sockets: send with MSG_NOSIGNAL. Anything else (pipes,
 * FIFOs, terminals): SIGPIPE blocked in this thread for the one write, and
 * the SIGPIPE an EPIPE raised taken back (sigtimedwait) before the mask is
 * restored. *kind: 0 unknown yet, 1 a socket, -1 not a socket. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n, int *kind) {
    if (*kind >= 0) {
        ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0 || errno != ENOTSOCK) {
            *kind = 1;
            return r;
        }
        *kind = -1;
    }
    sigset_t pipeset, old;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeset, &old);
    ssize_t r = write(fd, buf, n);
    int e = errno;
    if (r < 0 && e == EPIPE) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipeset, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    if (!sigismember(&old, SIGPIPE))
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

/* Write all n bytes: one call at a time, each retried across waits. */
static ssize_t write_some(int fd, const void *buf, size_t n, off_t off, bool positional, int *kind,
                          goc_ctx *ctx) {
    if (positional)
        IO_LOOP(fd, GNETPOLL_WRITE, ctx, pwrite(fd, buf, n, off));
    IO_LOOP(fd, GNETPOLL_WRITE, ctx, write_nosigpipe(fd, buf, n, kind));
}

static ssize_t write_all(int fd, const void *buf, size_t n, off_t off, bool positional,
                         goc_ctx *ctx) {
    int err = ctx_err(ctx);
    if (err)
        return err;
    gpolldesc *pd;
    uint32_t seq;
    bool file = is_file(fd, &pd, &seq, &err);
    if (err)
        return err;
    size_t done = 0;
    int kind = 0; /* write_nosigpipe's: a socket? */
    do {
        ssize_t r;
        if (file)
            r = file_io(pd, seq, fd, positional ? OP_PWRITE : OP_WRITE, (char *)buf + done,
                        n - done, off + (off_t)done);
        else
            r = write_some(fd, (const char *)buf + done, n - done, off + (off_t)done, positional,
                           &kind, ctx);
        if (r < 0)
            return r;
        if (r == 0 && n > 0)
            return -EIO; /* a write that makes no progress */
        done += (size_t)r;
    } while (done < n);
    return (ssize_t)n;
}

ssize_t goc_write(int fd, const void *buf, size_t n, goc_ctx *ctx) {
    return write_all(fd, buf, n, 0, false, ctx);
}

ssize_t goc_pwrite(int fd, const void *buf, size_t n, off_t off, goc_ctx *ctx) {
    return write_all(fd, buf, n, off, true, ctx);
}

int goc_accept(int listen_fd, struct sockaddr *addr, socklen_t *len, goc_ctx *ctx) {
    IO_LOOP(listen_fd, GNETPOLL_READ, ctx,
            accept4(listen_fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int goc_fd_wait(int fd, int events, goc_ctx *ctx) {
    if (events & ~(GOC_READABLE | GOC_WRITABLE) || !events)
        return -EINVAL;
    int err = ctx_err(ctx);
    if (err)
        return err;
    uint32_t seq;
    int kind = GPOLL_UNKNOWN;
    gpolldesc *pd = io_open(fd, &seq, &kind, &err);
    if (!pd)
        return err;
    if (kind != GPOLL_POLLED)
        return 0; /* a regular file is always ready */
    /* Edge-triggered: a state that is ready already (data waiting, room to
     * write) produced its edge long ago, so ask the kernel first. */
    struct pollfd pfd = {.fd = fd,
                         .events = (short)((events & GOC_READABLE ? POLLIN : 0) |
                                           (events & GOC_WRITABLE ? POLLOUT : 0))};
    if (!gnetpoll_ref(pd, seq))
        return -EBADF;
    int ready = poll(&pfd, 1, 0);
    gnetpoll_unref(pd);
    if (ready > 0)
        return (pfd.revents & POLLNVAL) ? -EBADF : 0;
    int mode =
        (events & GOC_READABLE ? GNETPOLL_READ : 0) | (events & GOC_WRITABLE ? GNETPOLL_WRITE : 0);
    return gio_wait(pd, seq, mode, ctx);
}

/* After a wake-up of a connect in progress: 0 connected, 1 still in
 * progress, or -errno (the connect failed). */
static int connect_outcome(int fd) {
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        return (int)sysret(-1);
    if (soerr == EINPROGRESS || soerr == EALREADY || soerr == EINTR)
        return 1;
    if (soerr != 0)
        return -soerr;
    /* Writable and no error: connected (check, as Go does, that it really
     * is: a spurious wake-up may precede the outcome). */
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    ssize_t r = sysret(getpeername(fd, (struct sockaddr *)&peer, &pl));
    return r == -ENOTCONN ? 1 : (int)r;
}

int goc_connect(int fd, const struct sockaddr *addr, socklen_t len, goc_ctx *ctx) {
    int err = ctx_err(ctx);
    if (err)
        return err;
    uint32_t seq;
    int kind = GPOLL_UNKNOWN;
    gpolldesc *pd = io_open(fd, &seq, &kind, &err);
    if (!pd)
        return err;
    for (;;) {
        if (!gnetpoll_ref(pd, seq))
            return -EBADF;
        ssize_t r = sysret(connect(fd, addr, len));
        gnetpoll_unref(pd);
        if (r == 0)
            return 0;
        if (r == -EINTR)
            continue;
        if (r != -EINPROGRESS)
            return (int)r;
        break;
    }
    /* In progress: wait until writable, then read the outcome. */
    for (;;) {
        if ((err = gio_wait(pd, seq, GNETPOLL_WRITE, ctx)) != 0)
            return err;
        if (!gnetpoll_ref(pd, seq))
            return -EBADF;
        int r = connect_outcome(fd);
        gnetpoll_unref(pd);
        if (r <= 0)
            return r;
    }
}

int goc_close(int fd) { return gnetpoll_close(fd); }
