/* diag/traceback.c — tracebacks as Go prints them, and the fault handlers.
 *
 *   goroutine 7 "name" [running]:
 *   function_name(...)
 *   	/path/to/object+0x1d2 pc=0x55d0c2a1b1d2
 *
 * The diagnostics layer sits above every other subsystem and only reads
 * their state. Nothing below calls it: at load time (a constructor) it
 * registers its printers with base/throw (the traceback for fatal errors
 * and panics, the all-goroutines dump for the deadlock report) and its
 * handlers with the signal owner (SIGSEGV/SIGBUS here, SIGQUIT in dump.c).
 *
 * Backtraces are symbolized with libunwind (Debian's libunwind-dev) where the
 * build has it, else by walking frame pointers and asking dladdr. Inside a
 * signal handler (stack overflow, faults, SIGQUIT) frame pointers are walked
 * even when libunwind is there: libunwind allocates, which a handler must not.
 * Switched-out goroutines are always unwound by their frame pointers, every
 * read bounded to their stack (diag_walk_saved): their stacks may change
 * under the unwinder, and libunwind would follow whatever it found there;
 * outside signal handlers libunwind still names their frames
 * (diag_print_pc), so the text is the same as its unwinds'.
 *
 * Stack overflow: every M runs its signals on an alternate stack (set up by
 * src/signal); the SIGSEGV / SIGBUS handler asks whether the faulting
 * address lies in the running goroutine's guard region and if so the
 * scheduler reports Go's
 *   runtime: goroutine stack exceeds N-byte limit
 *   fatal error: stack overflow
 * with the goroutine's backtrace, and exits with status 2. Any other fault is
 * reported in Go's shape ("[signal SIGSEGV: segmentation violation ...]")
 * and then re-raised with the default action, so the process still dies of
 * the signal (and dumps core where enabled), as a C programmer expects.
 * A SIGSEGV handler the program installed before goc started is kept: goc
 * then does not install its own.
 *
 * Invariants: this layer only reads scheduler state. Output goes through
 * base/print (write(2) from a stack buffer): no malloc, no stdio locks, so
 * it works in a signal handler and while another thread holds a runtime lock.
 * Lock order: tracebacks take no locks; dumps take allglock (dump.c).
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/frame.h"
#include "base/throw.h"
#include "signal/signal.h"

#ifdef GOC_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

/* pc: a return address unless it is the innermost frame of a signal
 * context; symbols are looked up at pc-1 so that a call to a _Noreturn
 * function at the very end of its caller still names the caller. */
void diag_print_frame(gprintbuf *o, void *pc, const char *name, unsigned long off) {
    Dl_info info;
    const char *obj = "?";
    uintptr_t rel = (uintptr_t)pc;
    /* Integer arithmetic: a pc read from a stack that is changing under a
     * dump may be any value, 0 and 1 included. */
    if ((uintptr_t)pc >= 4096 && dladdr((void *)((uintptr_t)pc - 1), &info) && info.dli_fname) {
        obj = info.dli_fname;
        rel = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
        if (!name && info.dli_sname) {
            name = info.dli_sname;
            off = (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_saddr);
        }
    }
    gprintf(o, "%s(...)\n\t%s+0x%lx pc=%p", name ? name : "?", obj, (unsigned long)rel, pc);
    if (name && off)
        gprintf(o, " (%s+0x%lx)", name, off);
    gprintf(o, "\n");
}

/* Walk the frame-pointer chain from fp, within [lo, hi) when given. */
static void walk_fp(gprintbuf *o, void **fp, int skip, const char *lo, const char *hi) {
    for (int depth = 0; fp && depth < 64; depth++) {
        if (lo && ((const char *)fp < lo || (const char *)(fp + 2) > hi))
            break;
        void *pc = fp[1];
        if (!pc)
            break;
        if (depth >= skip)
            diag_print_frame(o, pc, NULL, 0);
        void **next = fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
}

__attribute__((noinline)) static void backtrace_fp(gprintbuf *o, int skip) {
    walk_fp(o, __builtin_frame_address(0), skip, NULL, NULL);
}

/* From a signal context: libunwind may allocate, which is not allowed in a
 * signal handler (and could deadlock if the fault was inside malloc), so
 * walk frame pointers from the interrupted pc/fp. */
static void backtrace_signal(gprintbuf *o, void *ucontext) {
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
        diag_print_frame(o, (void *)((uintptr_t)pc + 1), NULL,
                         0); /* innermost: not a return address */
    const gstack *st = gsched_current_stack();
    walk_fp(o, fp, 0, st ? st->lo : NULL, st ? st->hi : NULL);
}

#ifdef GOC_HAVE_LIBUNWIND
/* Print the frames unwound from uc, skipping the first `skip`. False if
 * libunwind could not start (the caller falls back to frame pointers). */
static bool unwind_print(gprintbuf *o, unw_context_t *uc, int skip) {
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
                diag_print_frame(o, (void *)ip, name, (unsigned long)off);
            else
                diag_print_frame(o, (void *)ip, NULL, 0);
        }
        if (++depth > DIAG_MAX_FRAMES) {
            gprintf(o, "...additional frames elided...\n");
            break;
        }
    } while (unw_step(&cur) > 0);
    return true;
}
#endif

/* skip counts frames from this function's own: 2 skips it and its caller. */
__attribute__((noinline)) void diag_backtrace_to(gprintbuf *o, void *ucontext, int skip) {
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

static void header(gprintbuf *o) {
    g *gp = gsched_current_g_or_null();
    if (gp) {
        if (gp->name[0])
            gprintf(o, "goroutine %llu \"%s\" [running]:\n", (unsigned long long)gp->goid,
                    gp->name);
        else
            gprintf(o, "goroutine %llu [running]:\n", (unsigned long long)gp->goid);
    } else {
        gprintf(o, "goroutine 0 [running, plain thread %ld]:\n", (long)syscall(SYS_gettid));
    }
}

/* The traceback printer registered with base/throw: skip counts frames
 * above our caller (1 drops the caller itself); diag_backtrace_to counts
 * from its own frame, and ours is between. */
__attribute__((noinline)) void diag_traceback_here(int fd, void *ucontext, int skip) {
    gprintbuf o = GPRINTBUF_INIT(fd);
    header(&o);
    diag_backtrace_to(&o, ucontext, skip + 2);
    gprint_flush(&o);
}

/* One word of a switched-out goroutine's stack. The goroutine may be
 * running again and rewriting it: the read is deliberately unsynchronized
 * and hidden from the sanitizers (the word may lie in an ASan redzone of a
 * newer frame; TSan would call it the race a dump accepts). The caller keeps
 * addr inside the stack, which stays mapped (see diag_walk_saved). */
__attribute__((no_sanitize_address, no_sanitize_thread)) static uintptr_t
stack_word(uintptr_t addr) {
    return *(const volatile uintptr_t *)addr;
}

bool diag_walk_saved(const void *sp, const void *lo, const void *hi,
                     void (*emit)(void *pc, void *arg), void *arg) {
    const uintptr_t l = (uintptr_t)lo, h = (uintptr_t)hi, w = sizeof(uintptr_t);
    uintptr_t s = (uintptr_t)sp;
    if (!s || s < l || s % w || s + GARCH_FRAME_SIZE > h)
        return false;
    void *pc = (void *)stack_word(s + GARCH_FRAME_PC);
    uintptr_t fp = stack_word(s + GARCH_FRAME_FP);
    /* The bounds of unwind_print (libunwind): 101 frames, then a note. */
    for (int depth = 0; pc;) {
        emit(pc, arg);
        if (++depth > DIAG_MAX_FRAMES)
            return true;
        if (fp < l || fp % w || fp + 2 * w > h)
            break;
        pc = (void *)stack_word(fp + w);
        uintptr_t next = stack_word(fp);
        /* The chain climbs the stack; anything else ends it (after this
         * frame's return address, which is good: garch_start's, under the
         * first frame, whose saved fp is 0). */
        fp = next > fp ? next : 0;
    }
    return false;
}

void diag_print_pc(gprintbuf *o, void *pc) {
#if defined(GOC_HAVE_LIBUNWIND) && defined(__x86_64__)
    /* A cursor at pc alone: unw_get_proc_name needs no more than the ip,
     * and looks up ip-1 as for any caller's frame. */
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)pc;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&uc;
    unw_cursor_t cur;
    char name[256];
    unw_word_t off = 0;
    if (unw_init_local(&cur, (unw_context_t *)&uc) == 0 &&
        unw_get_proc_name(&cur, name, sizeof name, &off) == 0) {
        diag_print_frame(o, pc, name, (unsigned long)off);
        return;
    }
#endif
    diag_print_frame(o, pc, NULL, 0);
}

static void emit_dladdr(void *pc, void *o) { diag_print_frame(o, pc, NULL, 0); }
static void emit_named(void *pc, void *o) { diag_print_pc(o, pc); }

/* Unwind a switched-out goroutine from its saved context, by its frame
 * pointers (libunwind must not read a stack that may change under it). In a
 * signal handler frames are named by dladdr alone (libunwind allocates). */
void diag_backtrace_saved(gprintbuf *o, g *gp, bool in_signal) {
    const gstack *stk = G_LOAD(gp->stack);
    if (!stk)
        return;
    if (diag_walk_saved(G_LOAD(gp->sp), stk->lo, stk->hi, in_signal ? emit_dladdr : emit_named, o))
        gprintf(o, "...additional frames elided...\n");
}

static const char *signame(int sig) {
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV: segmentation violation";
    case SIGBUS:
        return "SIGBUS: bus error";
    case SIGFPE:
        return "SIGFPE: floating-point exception";
    case SIGILL:
        return "SIGILL: illegal instruction";
    default:
        return "signal";
    }
}

static void fault_handler(int sig, siginfo_t *si, void *uc) {
    /* Not a fault: the kernel could not write a preemption signal's frame
     * on a nearly full goroutine stack (the scheduler deals with it). */
    if (sig == SIGSEGV && si->si_code == SI_KERNEL && gsched_preempt_frame_lost(uc))
        return;
    g *gp = gsched_current_g_or_null();
    if (gp && gp->stack && (sig == SIGSEGV || sig == SIGBUS) &&
        gstack_is_overflow(gp->stack, si->si_addr))
        gsched_stack_overflow(gp, uc);
    if (gfatal_try_begin()) {
        gprintbuf o = GPRINTBUF_INIT(2);
        void *pc = NULL;
#if defined(__x86_64__)
        pc = (void *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
        pc = (void *)((ucontext_t *)uc)->uc_mcontext.pc;
#endif
        if (sig == SIGSEGV && (uintptr_t)si->si_addr < 4096)
            gprintf(&o, "panic: runtime error: invalid memory address or nil pointer "
                        "dereference\n");
        else
            gprintf(&o, "unexpected signal during goc execution\n");
        gprintf(&o, "[signal %s code=%#x addr=%p pc=%p]\n\n", signame(sig), si->si_code,
                si->si_addr, pc);
        gprint_flush(&o);
        diag_traceback_here(2, uc, 0);
    }
    /* Die of the signal itself. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static const gthrow_printers diag_printers = {
    .traceback = diag_traceback_here,
    .dumpall = diag_dumpall,
    .dumpsome = diag_dumpsome,
};

/* Load time: before main, before any goc thread. Dispositions are only
 * recorded here; src/signal installs them when the runtime starts. */
__attribute__((constructor)) static void diag_register(void) {
    gthrow_set_printers(&diag_printers);
    gsig_register(SIGSEGV, fault_handler, GSIG_SYNC | GSIG_KEEP_PROGRAMS);
    gsig_register(SIGBUS, fault_handler, GSIG_SYNC | GSIG_KEEP_PROGRAMS);
    gsig_register(SIGQUIT, diag_sigquit, GSIG_KEEP_PROGRAMS);
}
