/* goc/io.h — goroutine-aware I/O, blocking calls and signals.
 *
 * Included by <goc.h>. Every call that waits parks the goroutine, never its
 * OS thread, and takes a context as its last argument (NULL: none). When the
 * context ends first the call returns the context's error (-ECANCELED or
 * -ETIMEDOUT) and nothing is lost: no byte is consumed that the caller did
 * not receive. Descriptors are switched to non-blocking mode on first use.
 * Called from a plain thread, each call blocks that thread instead, with the
 * same results. Errors are negative errno values, never errno.
 *
 * Sockets, pipes, terminals and eventfds wait on the netpoller (epoll).
 * Regular files cannot be polled: goc_read / goc_write / goc_pread /
 * goc_pwrite on a regular file (or anything else epoll refuses: a
 * directory, /dev/zero) go through io_uring where the kernel allows it: the
 * goroutine parks until the operation completes, and its processor runs
 * other goroutines meanwhile. Where io_uring is unavailable (a kernel
 * before 5.6, a seccomp profile that blocks it, as Docker's default does,
 * the kernel.io_uring_disabled sysctl) or GOCDEBUG contains iouring=0, they
 * go through the blocking-call handoff (goc_blocking) instead, with the
 * same results. goc_io_uring_enabled says which. goc_read without offset
 * reads at the file position and advances it, as read(2) does. A file
 * operation is not cancellable once started: the context is checked
 * before, and the result (bytes moved, or the error) is returned even if
 * the context ends meanwhile.
 */
#ifndef GOC_IO_H
#define GOC_IO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <goc/chan.h>
#include <goc/context.h>
#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOC_READABLE 1
#define GOC_WRITABLE 2

/* read(2): >0 bytes read, 0 at end of file, or -errno. Waits until some
 * data is there (io.Reader's Read). */
GOC_API ssize_t goc_read(int fd, void *buf, size_t n, goc_ctx *ctx);
/* Writes all n bytes (waiting for room as needed): n, or -errno (then some
 * bytes may have been written, as with Go's Write). -EPIPE, never SIGPIPE,
 * for a socket or pipe whose reader is gone. */
GOC_API ssize_t goc_write(int fd, const void *buf, size_t n, goc_ctx *ctx);
/* pread(2) / pwrite(2) at offset off (pwrite writes all n bytes). */
GOC_API ssize_t goc_pread(int fd, void *buf, size_t n, off_t off, goc_ctx *ctx);
GOC_API ssize_t goc_pwrite(int fd, const void *buf, size_t n, off_t off, goc_ctx *ctx);
/* recvfrom(2) / sendto(2) (one datagram or one chunk of a stream). */
GOC_API ssize_t goc_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                             socklen_t *addrlen, goc_ctx *ctx);
GOC_API ssize_t goc_sendto(int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *addr, socklen_t addrlen, goc_ctx *ctx);
/* accept(2): the new connection's fd (non-blocking, close-on-exec), or
 * -errno. addr and len may be NULL. */
GOC_API int goc_accept(int listen_fd, struct sockaddr *addr, socklen_t *len, goc_ctx *ctx);
/* connect(2), waiting for the connection to complete: 0 or -errno
 * (-ECONNREFUSED, -ETIMEDOUT, ...). */
GOC_API int goc_connect(int fd, const struct sockaddr *addr, socklen_t len, goc_ctx *ctx);
/* Wait until fd is ready for events (GOC_READABLE | GOC_WRITABLE): 0, or
 * -errno. */
GOC_API int goc_fd_wait(int fd, int events, goc_ctx *ctx);
/* Close fd: every goroutine blocked on it returns -EBADF at once (Go's "use
 * of closed network connection"), then the fd is closed. 0 or -errno. */
GOC_API int goc_close(int fd);
/* A listening TCP socket (SO_REUSEADDR, non-blocking, close-on-exec) on
 * host:port. host NULL: all addresses; port "0": any free port
 * (getsockname tells which). The fd, or -errno. */
GOC_API int goc_listen_tcp(const char *host, const char *port, int backlog);
/* A TCP connection to host:port: the name is looked up without stalling a
 * processor (through goc_blocking), and each address is tried in turn. The
 * fd, or -errno (the last address's error). */
GOC_API int goc_dial_tcp(const char *host, const char *port, goc_ctx *ctx);

/* 1 when reads and writes of regular files go through io_uring, 0 when
 * through the blocking-call handoff (io_uring unavailable, or GOCDEBUG has
 * iouring=0). Probes at the first call; fixed for the life of the process. */
GOC_API int goc_io_uring_enabled(void);

/* Run fn(arg), which may block its OS thread (a C library call, a system
 * call), without stalling other goroutines: the processor is handed to
 * another thread while fn runs (Go's entersyscall/exitsyscall). Returns fn's
 * value. From a plain thread it just calls fn. */
GOC_API int goc_blocking(int (*fn)(void *arg), void *arg);

/* signal.Notify: deliver each of the n signals to c, a channel of int
 * (elem_size sizeof(int)), without blocking (a signal is dropped if c has
 * no room, as in Go); n == 0: every catchable signal. Calling it again for
 * the same c adds signals. 0, -EINVAL (a signal that cannot be caught, is
 * out of range or is a synchronous fault: SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP belong to goc's diagnostics; c NULL or of another element size),
 * or -ENOMEM / -EAGAIN. goc keeps a reference to c (goc_chan_retain) until
 * goc_signal_stop(c); do not close c before that. A SIGQUIT sent to a
 * channel is not a goroutine dump. Never blocks. SIGPIPE, notified or not,
 * never kills a goc program: writes return -EPIPE. */
GOC_API int goc_signal_notify(goc_chan *c, const int *signals, size_t n);
/* signal.Stop: no more deliveries to c (none once this returns), and c's
 * reference is released; a signal no channel wants goes back to what it
 * was before goc_signal_notify (its default action, unless the program had
 * set its own; SIGQUIT: the goroutine dump). c not registered, or NULL:
 * nothing. */
GOC_API void goc_signal_stop(goc_chan *c);

#ifdef __cplusplus
}
#endif

#endif /* GOC_IO_H */
