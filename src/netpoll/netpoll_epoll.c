/* netpoll/netpoll_epoll.c — the netpoller's backend on Linux epoll; the
 * contract is in backend.h.
 *
 * One epoll instance for the process; every fd is registered once,
 * edge-triggered, for both directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP |
 * EPOLLET), so a readiness change is reported once and never again until
 * the next change: no re-arming per wait, as in Go. An eventfd registered
 * level-triggered breaks a blocked epoll_wait; `breaking` makes repeated
 * breaks cost one write until a poll consumes it.
 *
 * Global state: epfd and breakfd, written once by init (pthread_once in
 * netpoll.c) before any other call; `breaking`, an atomic flag.
 */
#define _GNU_SOURCE
#include "netpoll/backend.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netpoll/netpoll.h"

enum { BREAK_KEY = UINT64_MAX };

static int epfd = -1, breakfd = -1;
static _Atomic bool breaking;

int gpoll_backend_init(void) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (breakfd < 0) {
        int e = -errno;
        close(epfd);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BREAK_KEY};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev) != 0) {
        int e = -errno;
        close(breakfd);
        close(epfd);
        return e;
    }
    return 0;
}

int gpoll_backend_open(int fd, uint64_t key) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = key};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    if (errno == EEXIST) /* the same open file under this number: update the key */
        return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
    return -errno;
}

void gpoll_backend_close(int fd) {
    struct epoll_event ev = {0};
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev); /* ENOENT/EBADF: nothing to undo */
}

int gpoll_backend_poll(int64_t delay, gpoll_event *out, int n) {
    struct epoll_event ev[128];
    if (n > 128)
        n = 128;
    int timeout;
    if (delay < 0)
        timeout = -1;
    else if (delay == 0)
        timeout = 0;
    else if (delay < 1000000)
        timeout = 1; /* epoll_wait's resolution is 1 ms: never spin */
    else if (delay < (int64_t)1e15)
        timeout = (int)(delay / 1000000);
    else
        timeout = 1000000000;
    int k = epoll_wait(epfd, ev, n, timeout);
    if (k < 0)
        return 0; /* EINTR: the caller looks again */
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (ev[i].data.u64 == BREAK_KEY) {
            uint64_t v;
            ssize_t r = read(breakfd, &v, sizeof v);
            (void)r;
            atomic_store(&breaking, false);
            continue;
        }
        uint32_t e = ev[i].events;
        int mode = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mode |= GNETPOLL_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            mode |= GNETPOLL_WRITE;
        if (mode) {
            out[m].key = ev[i].data.u64;
            out[m].mode = mode;
            m++;
        }
    }
    return m;
}

void gpoll_backend_break(void) {
    if (atomic_exchange(&breaking, true))
        return; /* a break is pending already */
    uint64_t one = 1;
    ssize_t r = write(breakfd, &one, sizeof one);
    (void)r;
}
