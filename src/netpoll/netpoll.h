/* netpoll/netpoll.h — goroutines waiting for file descriptors (Go's
 * netpoll.go). Design: netpoll.c. Used by the I/O calls (src/io). */
#ifndef GOC_NETPOLL_H
#define GOC_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/list.h"
#include "base/lock.h"
#include "sched/sched.h"

enum { GNETPOLL_READ = 1, GNETPOLL_WRITE = 2 };

/* What kind of file a descriptor is, found on first use. */
enum gpoll_kind {
    GPOLL_UNKNOWN = 0,
    GPOLL_POLLED, /* registered with the poller (socket, pipe, tty, eventfd) */
    GPOLL_FILE,   /* cannot be polled (a regular file, a directory) */
};

/* One per fd number, made on first use and never freed (reused when the
 * number is). Fields: lock. */
typedef struct gpolldesc {
    glock lock;
    int fd;                    /* immutable */
    uint32_t seq;              /* bumped by every goc_close of this fd number (written
                                  under lock, atomically: gnetpoll_ref reads it without) */
    _Atomic uint32_t inflight; /* system calls on fd between gnetpoll_ref and unref */
    uint8_t kind;              /* enum gpoll_kind for the current seq */
    uint8_t ready;             /* GNETPOLL_* edges seen and not yet consumed */
    glist waiters[2];          /* [0] read, [1] write: gpollwaiter.node */
} gpolldesc;

/* A goroutine (or plain thread) waiting on a gpolldesc; lives on the
 * waiter's stack. Fields: the descriptor's lock. */
typedef struct gpollwaiter {
    glist_node node;
    g *g;
    int mode;   /* GNETPOLL_READ or GNETPOLL_WRITE */
    int result; /* 0: ready; else -errno (-EBADF: closed; a cancel error) */
    bool queued;
    int cancel;                  /* set by gnetpoll_cancel: the error to return */
    struct gpollwaiter *partner; /* the other direction of a wait for both */
} gpollwaiter;

/* The descriptor of fd, made (and the fd registered with the poller and set
 * non-blocking) on first use, or again after goc_close. NULL with *err set
 * for a bad fd (-EBADF) or out of memory. *seq receives the generation the
 * caller must pass to gnetpoll_wait. */
gpolldesc *gnetpoll_open(int fd, uint32_t *seq, int *err);

/* Wait until fd is ready for `mode` (an edge arrived since the last wait
 * consumed one), or it is closed (-EBADF), or the waiter is cancelled.
 * 0 means: try the system call again. w is the caller's; it may be
 * cancelled by another goroutine through gnetpoll_cancel from the moment
 * gnetpoll_waiter_init returns. */
void gnetpoll_waiter_init(gpollwaiter *w, int mode);
int gnetpoll_wait(gpolldesc *pd, uint32_t seq, gpollwaiter *w);
/* Wait for either direction: r (GNETPOLL_READ) and w (GNETPOLL_WRITE) are
 * queued together and woken together. Cancel either to cancel both. */
int gnetpoll_wait_either(gpolldesc *pd, uint32_t seq, gpollwaiter *r, gpollwaiter *w);
/* End w's wait with err (from any goroutine or thread): if w is queued it
 * is woken; if it has not queued yet, its wait returns err at once. */
void gnetpoll_cancel(gpolldesc *pd, gpollwaiter *w, int err);

/* Hold the fd number for one system call: false (the caller returns
 * -EBADF) when goc_close has run since the caller's gnetpoll_open gave it
 * seq, else true, and gnetpoll_close waits for the matching gnetpoll_unref
 * before it closes the fd. So a call that started on a file never reaches
 * another file that gets the same number after a goc_close (Go's fdMutex
 * reference). Never held across a wait. */
bool gnetpoll_ref(gpolldesc *pd, uint32_t seq);
void gnetpoll_unref(gpolldesc *pd);

/* goc_close: wake every waiter of fd with -EBADF, take fd off the poller,
 * wait for the system calls in flight on it (gnetpoll_ref), then close it.
 * 0 or -errno. */
int gnetpoll_close(int fd);

/* Start the netpoller (and the runtime) if it has not started: 0 or -errno.
 * gnetpoll_open does it too. */
int gnetpoll_init(void);

/* ---- regular files through io_uring (uring.c) ---- */

enum { GURING_READ = 0, GURING_WRITE = 1 };

/* Is the ring in use? Set up at the first call (after gnetpoll_init); false
 * for good when io_uring is unavailable (old kernel, seccomp, disabled by
 * sysctl) or GOCDEBUG has iouring=0. */
bool guring_enabled(void);
/* One read or write (op) of n bytes (at most 0x7ffff000, as read(2)) of fd
 * at offset off, or at the file position when off is -1 (read(2) /
 * write(2): the position advances), through the ring: the caller parks
 * until it completes (a plain thread blocks), and nothing cancels it.
 * true with *res set (bytes transferred, or -errno) when the ring did it;
 * false when the caller must do it another way (no ring; the ring is full
 * for the moment). pd: the caller's gnetpoll_ref on fd, dropped as soon as
 * the kernel has taken the operation (it then holds the file itself), so a
 * goc_close waiting for calls in flight never waits for a completion that
 * only a parked goroutine would collect; when false is returned the
 * reference is still held. */
bool guring_rw(gpolldesc *pd, int fd, int op, void *buf, size_t n, int64_t off, ssize_t *res);
/* Operations completed through the ring since the start (for tests). */
uint64_t guring_completed(void);

#endif
