/* diag/panic.c — panics, fatal errors and tracebacks, as Go prints them.
 *
 *   panic: <message>                       (goc_panic; then abort())
 *   fatal error: <message>                 (runtime throw; then exit(2))
 *
 *   goroutine 7 "name" [running]:
 *   function_name(...)
 *   	/path/to/object+0x1d2 pc=0x55d0c2a1b1d2
 *
 * Backtraces are symbolized with libunwind (Debian's libunwind-dev) where the
 * build has it, else by walking frame pointers and asking dladdr. Inside a
 * signal handler (stack overflow, faults, SIGQUIT) frame pointers are walked
 * even when libunwind is there: libunwind allocates, which a handler must not.
 *
 * Stack overflow: every M runs its signals on a sigaltstack; the SIGSEGV /
 * SIGBUS handler asks whether the faulting address lies in the running
 * goroutine's guard region and if so reports Go's
 *   runtime: goroutine stack exceeds N-byte limit
 *   fatal error: stack overflow
 * with the goroutine's backtrace, and exits with status 2. Any other fault is
 * reported in Go's shape ("[signal SIGSEGV: segmentation violation ...]")
 * and then re-raised with the default action, so the process still dies of
 * the signal (and dumps core where enabled), as a C programmer expects.
 * A SIGSEGV handler the program installed before goc started is kept: goc
 * then does not install its own.
 *
 * Dumps (goc_dump, SIGQUIT, the deadlock report) print every goroutine in
 * Go's shape: "goroutine 5 [chan receive, 3.2s]:" then its stack, unwound
 * from the context saved at its last switch. Goroutines running on other
 * threads are listed as such (their stacks are live). SIGQUIT dumps and
 * exits with status 2, as Go does.
 *
 * Invariants: this file only reads scheduler state. Output goes through
 * write(2) on fd 2 from a stack buffer: no malloc, no stdio locks, so it
 * works in a signal handler and while another thread holds a runtime lock.
 * Lock order: takes no locks.
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <goc/runtime.h>

#include "debug.h"
#include "arch/arch.h"
#include "sched/internal.h"

#ifdef GOC_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

static _Atomic int dying;           /* set by the first panic/throw */
static _Atomic int threads_blocked; /* plain threads blocked in goc */
static bool handlers_installed;     /* written once by gdiag_init */

/* Bumped with every change of threads_blocked: the deadlock detector reads
 * it before and after counting threads, and trusts the count only if no
 * plain thread blocked or was woken in between. */
static _Atomic uint64_t threads_gen;

void gdiag_thread_blocked(int delta) {
    atomic_fetch_add(&threads_blocked, delta);
    atomic_fetch_add(&threads_gen, 1);
}
int gdiag_threads_blocked(void) { return atomic_load(&threads_blocked); }
uint64_t gdiag_threads_gen(void) { return atomic_load(&threads_gen); }

/* ---- output without malloc ---- */

struct obuf {
    int fd;
    size_t n;
    char b[1024];
};

static void ob_flush(struct obuf *o) {
    size_t off = 0;
    while (off < o->n) {
        ssize_t w = write(o->fd, o->b + off, o->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    o->n = 0;
}

__attribute__((format(printf, 2, 3))) static void ob_printf(struct obuf *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t len = (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1;
    if (o->n + len > sizeof o->b)
        ob_flush(o);
    memcpy(o->b + o->n, tmp, len);
    o->n += len;
}

/* pc: a return address unless it is the innermost frame of a signal
 * context; symbols are looked up at pc-1 so that a call to a _Noreturn
 * function at the very end of its caller still names the caller. */
static void print_frame(struct obuf *o, void *pc, const char *name, unsigned long off) {
    Dl_info info;
    const char *obj = "?";
    uintptr_t rel = (uintptr_t)pc;
    if (dladdr((char *)pc - 1, &info) && info.dli_fname) {
        obj = info.dli_fname;
        rel = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
        if (!name && info.dli_sname) {
            name = info.dli_sname;
            off = (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_saddr);
        }
    }
    ob_printf(o, "%s(...)\n\t%s+0x%lx pc=%p", name ? name : "?", obj, (unsigned long)rel, pc);
    if (name && off)
        ob_printf(o, " (%s+0x%lx)", name, off);
    ob_printf(o, "\n");
}

/* Walk the frame-pointer chain from fp, within [lo, hi) when given. */
static void walk_fp(struct obuf *o, void **fp, int skip, const char *lo, const char *hi) {
    for (int depth = 0; fp && depth < 64; depth++) {
        if (lo && ((const char *)fp < lo || (const char *)(fp + 2) > hi))
            break;
        void *pc = fp[1];
        if (!pc)
            break;
        if (depth >= skip)
            print_frame(o, pc, NULL, 0);
        void **next = fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
}

__attribute__((noinline)) static void backtrace_fp(struct obuf *o, int skip) {
    walk_fp(o, __builtin_frame_address(0), skip, NULL, NULL);
}

/* From a signal context: libunwind may allocate, which is not allowed in a
 * signal handler (and could deadlock if the fault was inside malloc), so
 * walk frame pointers from the interrupted pc/fp. */
static void backtrace_signal(struct obuf *o, void *ucontext) {
    ucontext_t *uc = ucontext;
    void *pc = NULL, **fp = NULL;
#if defined(__x86_64__)
    pc = (void *)uc->uc_mcontext.gregs[REG_RIP];
    fp = (void **)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    pc = (void *)uc->uc_mcontext.pc;
    fp = (void **)uc->uc_mcontext.regs[29];
#endif
    if (pc)
        print_frame(o, (char *)pc + 1, NULL, 0); /* innermost: not a return address */
    const gstack *st = gsched_current_stack();
    walk_fp(o, fp, 0, st ? st->lo : NULL, st ? st->hi : NULL);
}

#ifdef GOC_HAVE_LIBUNWIND
/* Print the frames unwound from uc, skipping the first `skip`. False if
 * libunwind could not start (the caller falls back to frame pointers). */
static bool unwind_print(struct obuf *o, unw_context_t *uc, int skip) {
    unw_cursor_t cur;
    if (unw_init_local(&cur, uc) != 0)
        return false;
    int depth = 0;
    do {
        unw_word_t ip = 0, off = 0;
        unw_get_reg(&cur, UNW_REG_IP, &ip);
        if (!ip)
            break;
        if (depth >= skip) {
            char name[256];
            if (unw_get_proc_name(&cur, name, sizeof name, &off) == 0)
                print_frame(o, (void *)ip, name, (unsigned long)off);
            else
                print_frame(o, (void *)ip, NULL, 0);
        }
        if (++depth > 100) {
            ob_printf(o, "...additional frames elided...\n");
            break;
        }
    } while (unw_step(&cur) > 0);
    return true;
}
#endif

/* skip counts frames from this function's own: 2 skips it and its caller. */
__attribute__((noinline)) static void backtrace_to(struct obuf *o, void *ucontext, int skip) {
    if (ucontext) {
        backtrace_signal(o, ucontext);
        return;
    }
#ifdef GOC_HAVE_LIBUNWIND
    unw_context_t uc;
    unw_getcontext(&uc);
    if (unwind_print(o, &uc, skip))
        return;
#endif
    backtrace_fp(o, skip);
}

static void header(struct obuf *o) {
    g *gp = gsched_current_g_or_null();
    if (gp) {
        if (gp->name[0])
            ob_printf(o, "goroutine %llu \"%s\" [running]:\n", (unsigned long long)gp->goid,
                      gp->name);
        else
            ob_printf(o, "goroutine %llu [running]:\n", (unsigned long long)gp->goid);
    } else {
        ob_printf(o, "goroutine 0 [running, plain thread %ld]:\n", (long)syscall(SYS_gettid));
    }
}

void gdiag_traceback_here(int fd, void *ucontext, int skip) {
    struct obuf o = {.fd = fd};
    header(&o);
    backtrace_to(&o, ucontext, skip);
    ob_flush(&o);
}

/* A second failure while reporting the first: give up quietly. */
static void enter_dying(void) {
    if (atomic_fetch_add(&dying, 1) != 0) {
        static const char msg[] = "fatal error: panic during panic\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
        _exit(2);
    }
}

__attribute__((noinline)) static void report(const char *prefix, const char *fmt, va_list ap, void *uc, int skip) {
    struct obuf o = {.fd = 2};
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ob_printf(&o, "%s%s\n\n", prefix, msg);
    header(&o);
    backtrace_to(&o, uc, skip);
    ob_flush(&o);
}

void goc_panic(const char *fmt, ...) {
    enter_dying();
    va_list ap;
    va_start(ap, fmt);
    report("panic: ", fmt, ap, NULL, 2);
    va_end(ap);
    /* Die of SIGABRT even if the program catches it. */
    signal(SIGABRT, SIG_DFL);
    abort();
}

void gdiag_throw(const char *fmt, ...) {
    enter_dying();
    va_list ap;
    va_start(ap, fmt);
    report("fatal error: ", fmt, ap, NULL, 2);
    va_end(ap);
    _exit(2);
}

void gdiag_stack_overflow(g *gp, void *ctx) {
    enter_dying();
    struct obuf o = {.fd = 2};
    size_t size = gp->stack ? (size_t)(gp->stack->hi - gp->stack->lo) : 0;
    ob_printf(&o, "runtime: goroutine stack exceeds %zu-byte limit\n", size);
    if (gp->stack)
        ob_printf(&o, "runtime: stack=[%p, %p]%s\n", (void *)gp->stack->lo,
                  (void *)gp->stack->hi,
                  (gp->stack->flags & GSTACK_CANARY) ? " (found by canary)" : "");
    ob_printf(&o, "fatal error: stack overflow\n\n");
    ob_flush(&o);
    if (ctx) {
        gdiag_traceback_here(2, ctx, 0);
    } else {
        if (gp->name[0])
            ob_printf(&o, "goroutine %llu \"%s\" [running]:\n", (unsigned long long)gp->goid,
                      gp->name);
        else
            ob_printf(&o, "goroutine %llu [running]:\n", (unsigned long long)gp->goid);
        ob_flush(&o);
    }
    _exit(2);
}

static const char *signame(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV: segmentation violation";
    case SIGBUS: return "SIGBUS: bus error";
    case SIGFPE: return "SIGFPE: floating-point exception";
    case SIGILL: return "SIGILL: illegal instruction";
    default: return "signal";
    }
}

static void fault_handler(int sig, siginfo_t *si, void *uc) {
    g *gp = gsched_current_g_or_null();
    if (gp && gp->stack && (sig == SIGSEGV || sig == SIGBUS) &&
        gstack_is_overflow(gp->stack, si->si_addr))
        gdiag_stack_overflow(gp, uc);
    if (atomic_fetch_add(&dying, 1) == 0) {
        struct obuf o = {.fd = 2};
        void *pc = NULL;
#if defined(__x86_64__)
        pc = (void *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
        pc = (void *)((ucontext_t *)uc)->uc_mcontext.pc;
#endif
        if (sig == SIGSEGV && (uintptr_t)si->si_addr < 4096)
            ob_printf(&o, "panic: runtime error: invalid memory address or nil pointer "
                          "dereference\n");
        else
            ob_printf(&o, "unexpected signal during goc execution\n");
        ob_printf(&o, "[signal %s code=%#x addr=%p pc=%p]\n\n", signame(sig), si->si_code,
                  si->si_addr, pc);
        ob_flush(&o);
        gdiag_traceback_here(2, uc, 0);
    }
    /* Die of the signal itself. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void sigquit_handler(int sig, siginfo_t *si, void *uc);

void gdiag_init(void) {
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0)
            continue;
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL)
            continue; /* the program has its own: leave it */
        if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = sigs[i] == SIGQUIT ? sigquit_handler : fault_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
        handlers_installed = true;
    }
}

void gdiag_minit(m *mp) {
    /* 64 KiB signal stack: libunwind in the handler needs room. */
    size_t sz = 64 * 1024;
    void *st = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (st == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = st, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) == 0)
        *gsched_m_altstack(mp) = st;
    else
        munmap(st, sz);
}

/* ---- goroutine dumps ---- */

static void print_waited(struct obuf *o, int64_t ns) {
    if (ns >= 60LL * 1000000000)
        ob_printf(o, ", %lld minutes", (long long)(ns / (60LL * 1000000000)));
    else if (ns >= 1000000000)
        ob_printf(o, ", %.1fs", (double)ns / 1e9);
    else
        ob_printf(o, ", %lldms", (long long)(ns / 1000000));
}

/* Unwind a switched-out goroutine from its saved context. In a signal
 * handler only frame pointers are walked (libunwind allocates). */
static void backtrace_saved(struct obuf *o, g *gp, bool in_signal) {
    void *sp = gp->sp;
    const gstack *stk = G_LOAD(gp->stack);
    if (!sp || !stk)
        return;
    (void)in_signal; /* only libunwind builds distinguish */
#if defined(GOC_HAVE_LIBUNWIND) && defined(__x86_64__)
    if (in_signal)
        goto fp_walk;
    uint64_t *f = sp;
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.gregs[REG_R15] = (greg_t)f[1];
    uc.uc_mcontext.gregs[REG_R14] = (greg_t)f[2];
    uc.uc_mcontext.gregs[REG_R13] = (greg_t)f[3];
    uc.uc_mcontext.gregs[REG_R12] = (greg_t)f[4];
    uc.uc_mcontext.gregs[REG_RBX] = (greg_t)f[5];
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)f[6];
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)f[7];
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)(f + 8);
    if (unwind_print(o, (unw_context_t *)&uc, 0))
        return;
fp_walk:;
#endif
    /* Frame-pointer walk, bounded to the goroutine's own stack. */
    const char *lo = stk->lo, *hi = stk->hi;
    void *pc = garch_saved_pc(sp);
    void **fp = garch_saved_fp(sp);
    for (int depth = 0; pc && depth < 64; depth++) {
        print_frame(o, pc, NULL, 0);
        if ((const char *)fp < lo || (const char *)(fp + 2) > hi)
            break;
        pc = fp[1];
        void **next = fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
}

struct dumpctx {
    struct obuf *o;
    int64_t now;
    void *uc; /* the current thread's signal context, if any */
    bool in_signal;
};

static void dump_one(g *gp, void *arg) {
    struct dumpctx *d = arg;
    struct obuf *o = d->o;
    uint32_t st = gstatus_of(gp);
    char name[G_NAME_MAX];
    for (size_t i = 0; i < G_NAME_MAX; i++)
        name[i] = G_LOAD(gp->name[i]);
    name[G_NAME_MAX - 1] = '\0';
    ob_printf(o, "goroutine %llu", (unsigned long long)G_LOAD(gp->goid));
    if (name[0])
        ob_printf(o, " \"%s\"", name);
    if (st == G_WAITING) {
        ob_printf(o, " [%s", gwaitreason_string(G_LOAD(gp->waitreason)));
        print_waited(o, d->now - G_LOAD(gp->waitsince));
        ob_printf(o, "]:\n");
    } else {
        ob_printf(o, " [%s]:\n", gstatus_string(st));
    }
    if (gsched_g_is_current(gp)) {
        ob_flush(o);
        backtrace_to(o, d->uc, d->uc ? 0 : 3);
    } else if (st == G_RUNNING) {
        ob_printf(o, "\tgoroutine running on other thread; stack unavailable\n");
    } else if (!G_LOAD(gp->started)) {
        ob_printf(o, "created, not yet started: ");
        print_frame(o, (void *)(uintptr_t)G_LOAD(gp->fn), NULL, 0);
    } else {
        backtrace_saved(o, gp, d->in_signal);
    }
    ob_printf(o, "\n");
    ob_flush(o);
}

static void dump_all(int fd, void *uc, bool in_signal) {
    struct obuf o = {.fd = fd};
    struct dumpctx d = {&o, gnanotime_coarse(), uc, in_signal};
    if (in_signal)
        gsched_for_each_g_in_signal(dump_one, &d);
    else
        gsched_for_each_g(dump_one, &d);
    ob_flush(&o);
}

void goc_dump(int fd) { dump_all(fd, NULL, false); }

void gdiag_deadlock(void) {
    enter_dying();
    static const char msg[] = "fatal error: all goroutines are asleep - deadlock!\n\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    dump_all(2, NULL, false);
    _exit(2);
}

static void sigquit_handler(int sig, siginfo_t *si, void *uc) {
    (void)si;
    if (atomic_fetch_add(&dying, 1) == 0) {
        struct obuf o = {.fd = 2};
        ob_printf(&o, "SIGQUIT: quit\n\n");
        ob_flush(&o);
        dump_all(2, uc, true);
    }
    _exit(2);
    (void)sig;
}

const char *goc_strerror(int err) {
    if (err == -ECANCELED)
        return "context canceled";
    if (err == -ETIMEDOUT)
        return "context deadline exceeded";
    if (err == 0)
        return "success";
    const char *s = strerrordesc_np(err < 0 ? -err : err);
    return s ? s : "unknown error";
}
