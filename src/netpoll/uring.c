/* netpoll/uring.c — reads and writes of regular files through io_uring,
 * completed through the poll driver.
 *
 * Regular files cannot be polled: epoll refuses them, and read(2) on one
 * blocks its thread until the data is in memory. goc_read / goc_write /
 * goc_pread / goc_pwrite on such a file (src/io) hand the operation to the
 * kernel on one io_uring ring and park the goroutine until it completes;
 * the processor runs other goroutines meanwhile, and no thread is handed
 * off. Where there is no ring, src/io uses the blocking-call handoff
 * (goc_blocking) instead, as before.
 *
 * How a completion wakes its goroutine: the ring has an eventfd
 * (IORING_REGISTER_EVENTFD) that the kernel signals whenever it posts
 * completions, and that eventfd sits in the netpoller's epoll set under
 * key GURING_KEY. So every poll the scheduler already does (findrunnable's
 * poll(0) before stealing, sysmon's poll after 10 ms, the last idle M
 * blocked in epoll_wait) notices completions; np_poll calls guring_reap,
 * which returns the finished goroutines in the same list as the fds' ones.
 * guring_inflight() is part of the driver's waiting() and pending(), so an
 * M blocks in the poll while operations are in flight, and the deadlock
 * check stays quiet. The submitter also reaps right after submitting: a
 * read served from the page cache completes inside io_uring_enter, and then
 * the goroutine does not park at all (it yields once instead, through the
 * global run queue (gsched_gosched), since goc has no preemption: a loop
 * of cached reads must not starve the other goroutines).
 *
 * Data structures
 *   ring: one io_uring instance for the process, set up at first use (256
 *   submission entries, 512 completion entries), its rings mapped once (a
 *   single mmap, IORING_FEAT_SINGLE_MMAP) and its submission array set to
 *   the identity, so that slot i of the SQ always names SQE i.
 *   uwaiter: per operation, on the caller's stack: its g, the result, and
 *   two flags (done, parked). The SQE's user_data points to it.
 *   inflight: operations submitted and not yet reaped. At most cq_entries,
 *   so the completion queue never overflows; an operation that finds the
 *   ring full goes through goc_blocking instead of waiting for room.
 *
 * Protocol (ringlock protects the SQ tail, the CQ head and every uwaiter)
 *   submit   under the lock: fill the SQE at the tail, publish the tail,
 *            inflight++. Then, without the lock, io_uring_enter until the
 *            kernel's SQ head has passed our slot (several threads may enter
 *            at once; each submits whatever is pending, and each leaves only
 *            once its own SQE was consumed, so none is ever stranded).
 *   wait     under the lock: reap; if our uwaiter is done, return its
 *            result; else set parked and gopark with the lock's unlock as
 *            unlockf, so no reaper sees parked before our context is saved.
 *   reap     under the lock: for each CQE, store the result in its uwaiter,
 *            set done, and if it parked, ready its g (into the poll's list,
 *            or goready for a plain thread or when not called by the poll).
 *            A uwaiter that has not parked belongs to a submitter between
 *            its submission and its own reap: it finds done set.
 * The kernel may post a completion from its worker threads, or from task
 * work that runs on the submitting thread (which the kernel interrupts for
 * it, IORING_SETUP_COOP_TASKRUN being off); both signal the eventfd.
 *
 * Invariants
 *   - inflight == SQEs published - CQEs reaped <= cq_entries.
 *   - A uwaiter is referenced by the ring from the moment its SQE is
 *     published until its CQE is reaped; its frame lives that long because
 *     its owner does not return before done is set.
 *   - parked is set only under the lock and only with done clear; whoever
 *     clears it readies the g, exactly once.
 *
 * Cancellation: none. A context is checked before submitting; once
 * submitted an operation runs to its end (on a regular file that is soon),
 * and its result is returned even if the context ends meanwhile, so that
 * nothing read or written is lost: a read without an offset moves the file
 * position, and data that moved it must reach the caller.
 *
 * Probe: the first call (pthread_once) sets the ring up unless GOCDEBUG
 * has iouring=0. io_uring_setup failing (ENOSYS: old kernel or none;
 * EPERM: seccomp, as in Docker's default profile, or the
 * kernel.io_uring_disabled sysctl), a kernel without IORING_FEAT_RW_CUR_POS
 * (before 5.6: offset -1 would not mean the file position), a NOP that
 * does not complete, or a failure to register the eventfd: no ring, for
 * the life of the process, and every file operation uses goc_blocking.
 *
 * Lock order (base/lockrank.h): uring.lock < sched.lock (reaping readies
 * goroutines); nothing is held when it is taken.
 *
 * Why raw system calls and not liburing: the three calls (setup, enter,
 * register) and the ring layout are a stable kernel ABI, and this file
 * uses one ring in one fixed way, which is a few dozen lines. liburing
 * would be one more build and install dependency (and one more fallback
 * build without it) for no capability that is used here. Only
 * <linux/io_uring.h> is needed; without it (or without the system call
 * numbers) this compiles to "no ring".
 *
 * Rejected: a ring per P (submission without a shared lock, but an
 * eventfd per ring in epoll, and a goroutine that moves between Ps would
 * have to find its ring's completion); IORING_REGISTER_EVENTFD_ASYNC
 * (signals only completions posted by worker threads, and misses those
 * posted by task work on the submitting thread); IORING_SETUP_SQPOLL (a
 * kernel thread spinning for submissions: a CPU burnt on a 2-core
 * machine); cancelling in-flight reads by context (IORING_OP_ASYNC_CANCEL
 * races with completion, and a completed read without offset has consumed
 * its bytes: see Cancellation); polling the ring's fd itself in epoll
 * (works, but an eventfd is the documented way and behaves the same on
 * every kernel since 5.1).
 */
#define _GNU_SOURCE
#include "netpoll/uring.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <goc/runtime.h>

#include "base/gocdebug.h"
#include "base/lock.h"
#include "base/throw.h"
#include "netpoll/netpoll.h"

#if defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#endif
#endif

#if defined(IORING_FEAT_RW_CUR_POS) && defined(IORING_OFF_SQES) && defined(__NR_io_uring_setup) && \
    defined(__NR_io_uring_enter) && defined(__NR_io_uring_register)
#define GURING_HAVE 1
#else
#define GURING_HAVE 0
#endif

static _Atomic int32_t inflight;
static _Atomic uint64_t completed;

int32_t guring_inflight(void) { return atomic_load_explicit(&inflight, memory_order_relaxed); }
uint64_t guring_completed(void) { return atomic_load_explicit(&completed, memory_order_relaxed); }

#if GURING_HAVE

#include <sys/eventfd.h>
#include <sys/mman.h>

#include "netpoll/backend.h"

enum { SQ_ENTRIES = 256, MAX_RW = 0x7ffff000 };

typedef struct uwaiter {
    g *g;
    int32_t res;
    bool done, parked;
} uwaiter;

static struct {
    int fd;
    unsigned sq_entries, sq_mask, cq_entries, cq_mask;
    unsigned *sq_head, *sq_tail; /* shared with the kernel */
    unsigned *cq_head, *cq_tail;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned sq_tail_local; /* the next SQ slot; ringlock */
} ring = {.fd = -1};

static glock ringlock = GLOCK_INIT(LR_URING);
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;
/* Set once by ring_init (release), after the ring is complete. The poller
 * may see the eventfd's first edge before that: it then reaps nothing,
 * and no operation can have been submitted yet. */
static _Atomic bool ring_on;

/* The system calls, returning -errno (out of line: see sysret in io.c). */
__attribute__((noinline)) static long sys_ret(long r) {
    if (r >= 0)
        return r;
    int e = errno;
    __asm__ __volatile__("" ::: "memory");
    return -e;
}

static long sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags) {
    return sys_ret(syscall(__NR_io_uring_enter, ring.fd, to_submit, min_complete, flags, NULL, 0));
}

/* Submit one NOP and wait for its completion: proves that io_uring_enter
 * works (a seccomp filter may allow setup and not enter). */
static bool probe_nop(void) {
    struct io_uring_sqe *sqe = &ring.sqes[0];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_NOP;
    __atomic_store_n(ring.sq_tail, 1, __ATOMIC_RELEASE);
    long r;
    do
        r = sys_enter(1, 1, IORING_ENTER_GETEVENTS);
    while (r == -EINTR);
    if (r != 1)
        return false;
    unsigned head = __atomic_load_n(ring.cq_head, __ATOMIC_RELAXED);
    if (__atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE) == head)
        return false;
    __atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
    ring.sq_tail_local = 1;
    return true;
}

static void ring_init(void) {
    if (gocdebug_int("iouring", 1) == 0)
        return;
    if (gnetpoll_init() != 0)
        return;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)sys_ret(syscall(__NR_io_uring_setup, SQ_ENTRIES, &p));
    if (fd < 0)
        return; /* ENOSYS, EPERM (seccomp, sysctl), ENOMEM */
    unsigned need = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_RW_CUR_POS;
    if ((p.features & need) != need) {
        close(fd);
        return;
    }
    size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t sz = sqsz > cqsz ? sqsz : cqsz;
    char *rp =
        mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (rp == MAP_FAILED) {
        close(fd);
        return;
    }
    size_t sqesz = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes =
        mmap(NULL, sqesz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        munmap(rp, sz);
        close(fd);
        return;
    }
    ring.fd = fd;
    ring.sq_entries = p.sq_entries;
    ring.sq_mask = *(unsigned *)(rp + p.sq_off.ring_mask);
    ring.cq_entries = p.cq_entries;
    ring.cq_mask = *(unsigned *)(rp + p.cq_off.ring_mask);
    ring.sq_head = (unsigned *)(rp + p.sq_off.head);
    ring.sq_tail = (unsigned *)(rp + p.sq_off.tail);
    ring.cq_head = (unsigned *)(rp + p.cq_off.head);
    ring.cq_tail = (unsigned *)(rp + p.cq_off.tail);
    ring.sqes = sqes;
    ring.cqes = (struct io_uring_cqe *)(rp + p.cq_off.cqes);
    unsigned *array = (unsigned *)(rp + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++)
        array[i] = i;
    int efd = -1;
    bool ok = probe_nop();
    if (ok)
        ok = (efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0;
    if (ok)
        ok = sys_ret(syscall(__NR_io_uring_register, fd, IORING_REGISTER_EVENTFD, &efd, 1)) == 0;
    if (ok)
        ok = gpoll_backend_open(efd, GURING_KEY) == 0;
    if (!ok) {
        if (efd >= 0)
            close(efd);
        munmap(sqes, sqesz);
        munmap(rp, sz);
        close(fd);
        ring.fd = -1;
        return;
    }
    atomic_store_explicit(&ring_on, true, memory_order_release);
}

bool guring_enabled(void) {
    pthread_once(&ring_once, ring_init);
    return atomic_load_explicit(&ring_on, memory_order_acquire);
}

/* Reap every CQE (ringlock held); see the protocol above. list NULL:
 * ready every parked g at once. */
static g *reap_locked(g **list) {
    glock_assert_held(&ringlock);
    unsigned head = __atomic_load_n(ring.cq_head, __ATOMIC_RELAXED);
    unsigned tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
    if (head == tail)
        return list ? *list : NULL;
    int32_t n = 0;
    for (; head != tail; head++, n++) {
        struct io_uring_cqe *c = &ring.cqes[head & ring.cq_mask];
        uwaiter *w = (uwaiter *)(uintptr_t)c->user_data;
        w->res = c->res;
        w->done = true;
        if (w->parked) {
            w->parked = false;
            g *gp = w->g; /* w may be gone as soon as gp runs */
            if (list && !gp->thread_g) {
                gp->schedlink = *list;
                *list = gp;
            } else {
                goready(gp);
            }
        }
    }
    __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
    atomic_fetch_add_explicit(&completed, (uint64_t)n, memory_order_relaxed);
    if (atomic_fetch_sub(&inflight, n) == n && gsched_poller_blocked())
        gpoll_backend_break(); /* the blocked poller may have nothing left to wait for */
    return list ? *list : NULL;
}

g *guring_reap(g *list) {
    if (!atomic_load_explicit(&ring_on, memory_order_acquire))
        return list;
    glock_lock(&ringlock);
    reap_locked(&list);
    glock_unlock(&ringlock);
    return list;
}

/* io_uring_enter until the kernel has consumed the SQE in slot idx. */
static void submit(unsigned idx) {
    for (;;) {
        unsigned head = __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE);
        if ((int32_t)(head - idx) > 0)
            return;
        unsigned tail = __atomic_load_n(ring.sq_tail, __ATOMIC_ACQUIRE);
        long r = sys_enter(tail - head, 0, 0);
        if (r >= 0 || r == -EINTR)
            continue;
        if (r == -EAGAIN || r == -EBUSY) { /* short of memory, or completions to reap */
            glock_lock(&ringlock);
            reap_locked(NULL);
            glock_unlock(&ringlock);
            goc_yield();
            continue;
        }
        gthrow("io_uring_enter failed: errno %ld", -r);
    }
}

static bool unlock_ring(g *gp, void *arg) {
    (void)gp;
    glock_unlock(arg);
    return true;
}

bool guring_rw(gpolldesc *pd, int fd, int op, void *buf, size_t n, int64_t off, ssize_t *res) {
    if (!guring_enabled())
        return false;
    if (n > MAX_RW)
        n = MAX_RW;
    uwaiter w = {.g = getg()};
    glock_lock(&ringlock);
    unsigned tail = ring.sq_tail_local;
    unsigned head = __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE);
    if (tail - head >= ring.sq_entries ||
        atomic_load_explicit(&inflight, memory_order_relaxed) >= (int32_t)ring.cq_entries) {
        glock_unlock(&ringlock);
        return false;
    }
    struct io_uring_sqe *sqe = &ring.sqes[tail & ring.sq_mask];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = op == GURING_WRITE ? IORING_OP_WRITE : IORING_OP_READ;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = (uint32_t)n;
    sqe->off = (uint64_t)off; /* -1: the file position */
    sqe->user_data = (uint64_t)(uintptr_t)&w;
    ring.sq_tail_local = tail + 1;
    atomic_fetch_add(&inflight, 1);
    __atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
    glock_unlock(&ringlock);

    submit(tail);
    gnetpoll_unref(pd); /* the kernel holds the file now */

    glock_lock(&ringlock);
    reap_locked(NULL);
    if (w.done) {
        glock_unlock(&ringlock);
        /* Completed inside io_uring_enter (page cache): no park, so let the
         * other runnable goroutines run, as a park would have. */
        gsched_gosched();
    } else {
        w.parked = true;
        gsched_poller_needed();
        gopark(unlock_ring, &ringlock, WAIT_IO);
    }
    *res = w.res;
    return true;
}

#else /* !GURING_HAVE: no io_uring headers or system calls at build time */

bool guring_enabled(void) { return false; }

g *guring_reap(g *list) { return list; }

bool guring_rw(gpolldesc *pd, int fd, int op, void *buf, size_t n, int64_t off, ssize_t *res) {
    (void)pd, (void)fd, (void)op, (void)buf, (void)n, (void)off, (void)res;
    return false;
}

#endif
