/* netpoll/backend.h — the contract between the netpoller and the kernel
 * interface beneath it (Go's netpollinit / netpollopen / netpollclose /
 * netpoll(delay) / netpollBreak). netpoll_epoll.c implements it with
 * Linux's epoll; a kqueue or io_uring backend implements the same five
 * calls and nothing else changes.
 *
 *   init()              once, before any other call: 0 or -errno.
 *   open(fd, key)       watch fd for reading and writing, edge-triggered,
 *                       once for the fd's life; events carry `key`.
 *                       0, -EPERM for a file that cannot be polled (a
 *                       regular file), or another -errno.
 *   close(fd)           stop watching fd (before it is closed).
 *   poll(delay, ev, n)  wait for events: delay < 0 blocks until one comes
 *                       or break() is called, 0 never blocks, > 0 waits at
 *                       most that many nanoseconds. Fills ev[0..n) and
 *                       returns how many (0 on timeout or break).
 *   break_poll()        make a blocked (or the next) poll return at once.
 *                       Async-signal-safe.
 * Every call may be made from any thread, concurrently; poll may run in
 * several threads at once (each event goes to one of them).
 */
#ifndef GOC_NETPOLL_BACKEND_H
#define GOC_NETPOLL_BACKEND_H

#include <stdint.h>

typedef struct gpoll_event {
    uint64_t key;
    int mode; /* GNETPOLL_READ | GNETPOLL_WRITE (errors and hang-ups: both) */
} gpoll_event;

int gpoll_backend_init(void);
int gpoll_backend_open(int fd, uint64_t key);
void gpoll_backend_close(int fd);
int gpoll_backend_poll(int64_t delay, gpoll_event *ev, int n);
void gpoll_backend_break(void);

#endif
