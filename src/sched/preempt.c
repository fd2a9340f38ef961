/* sched/preempt.c — preemption: a goroutine that runs for 10 ms without a
 * switch while others wait is made to let them run (Go's sysmon retake of
 * _Prunning Ps, preemptone, and signal-based asynchronous preemption).
 *
 * Three ways, from the least to the most forceful. sysmon (sysmon_preempt)
 * watches each running P's schedtick; when it has not moved for 10 ms
 * (Go's forcePreemptNS) and goroutines wait (on that P or globally), it
 * sets the running goroutine's g.preempt and sends SIGURG to its thread
 * (tgkill; at most every RESIGNAL_NS while the request stands).
 *
 *   1. Cooperative. Every public call that may block or yield (goc_go,
 *      goc_yield, channel operations and select, the sync package's
 *      waits, sleeps, goc_blocking) checks g.preempt on entry, before it
 *      takes any lock (gsched_preempt_check), and yields to the global run
 *      queue if it is set (gsched_preempt_slow).
 *
 *   2. Asynchronous switch, where switching stacks is safe. The SIGURG
 *      handler runs on the goroutine's own stack (no SA_ONSTACK), so the
 *      kernel has saved every register — general purpose, flags, x87, SSE,
 *      AVX state — in the signal frame on that stack. If the interrupted
 *      code qualifies (below), the handler unblocks signals and parks the
 *      goroutine on the global run queue from inside the handler, wired to
 *      its thread meanwhile (goc_lock_os_thread's machinery: the thread
 *      hands its P on and sleeps until the goroutine's turn comes back).
 *      When it is resumed, on the same thread, the handler returns and
 *      rt_sigreturn restores the interrupted state exactly. Resuming on the
 *      same thread is what makes switching between two arbitrary
 *      instructions of C code safe: compilers keep thread-local addresses
 *      (errno's, __thread variables') in registers, and a thread may own a
 *      lock (a recursive or error-checking pthread mutex).
 *      Code qualifies when the interrupted PC is in the program's own
 *      executable (not in a shared library such as libc, libm or the
 *      dynamic linker, where a thread may hold a lock of its own, as
 *      malloc does, or keep thread-local state across instructions), and
 *      not in goc's own code (between goc_text_begin and goc_text_end,
 *      which the partial link of libgoc's object sets: scripts/goc-text.ld),
 *      nor in a PLT stub or a libgcc helper that goc's code called (the
 *      executable's text has both; goc may hold a runtime lock across the
 *      call: the return address at the stack top, or lr, is in goc's text
 *      then; goc's code itself calls no libgcc helper, see chan.c's
 *      pos_ord), and the M is not pinned (m.locks == 0). It is off
 *      with GOCDEBUG=asyncpreemptoff=1, in a statically linked program
 *      (libc is then inside the executable), and in sanitizer builds (their
 *      runtimes are linked into the executable too, and ThreadSanitizer
 *      delivers signals at its own points, not at the interrupted one).
 *
 *   3. Processor handoff, everywhere else (the interrupted code is inside
 *      libc or another library, or async preemption is off). The handler
 *      does not switch anything: it marks the P P_SYSCALL, as goc_blocking
 *      does on entry, and leaves the goroutine running on its thread
 *      without a P (m.p == NULL, m.preemptp = the P, g.preempt still set).
 *      sysmon retakes the P at once and hands it, with its run queue, to
 *      another thread, so the waiting goroutines run while the kernel time-
 *      slices the long runner's thread. At its next goc call that checks
 *      g.preempt, the long runner takes its P back if nobody has it, or an
 *      idle P, or else queues itself globally and its thread stops
 *      (gsched_preempt_slow). A goroutine that parks or exits without such
 *      a check goes through schedule, which reclaims the P the same way
 *      (preempt_reclaimp).
 *
 * The frame of an asynchronous switch needs room on the goroutine stack
 * (the kernel's frame is ~3.5 KiB with AVX-512 state). The handler switches
 * only with SWITCH_HEADROOM to spare, else it hands the P off. If the
 * kernel cannot even write the frame (the goroutine is within a few KiB of
 * its stack's end), it raises SIGSEGV with si_code SI_KERNEL instead;
 * diagnostics' handler asks gsched_preempt_frame_lost, which hands the P
 * off from the alternate signal stack and lets the goroutine go on.
 *
 * What a program may rely on: a goroutine may be moved to another thread
 * at a goc call (as before), never by preemption: an asynchronously
 * preempted goroutine resumes on its thread, and one that lost its P runs
 * on there. A signal handler the program installed itself without
 * SA_ONSTACK runs on the goroutine's stack and may be preempted like the
 * rest of its code. A system call made directly in a goroutine (not through
 * goc_blocking) may be interrupted once when its P is taken back:
 * restartable calls restart (SA_RESTART), others (nanosleep, poll,
 * epoll_wait) return EINTR as for any signal.
 *
 * Invariants
 *   - Code on a goroutine stack that uses its M's P (run queue, caches,
 *     goid batch, counters) does so with m.locks > 0 (acquirem), and so
 *     does code between deciding to switch and switching (the switch
 *     consumes that count: gogo / gsched_after_switch). The handler does
 *     nothing while m.locks > 0, so no P is taken from under such code.
 *   - The handler acts only for the M's current goroutine, running on its
 *     own stack, with g.preempt set: never on g0, in goc_blocking (curg is
 *     NULL there) or on an M without a P.
 *   - An M whose goroutine runs without a P has m.p == NULL and
 *     m.preemptp set until it reclaims or gives up that P; the P is
 *     P_SYSCALL until sysmon retakes it or the M takes it back by CAS
 *     (P_SYSCALL -> P_RUNNING), exactly as after goc_blocking.
 *
 * sysmon's per-P record (p.sysmontick) is sysmon's alone; g.preempt is set
 * by sysmon and cleared by the goroutine's own M (gogo, the slow path, the
 * handler). Lock order: the handler takes no lock; the slow path takes
 * sched.lock alone.
 *
 * Rejected: switching at any instruction of any code (a goroutine
 * interrupted inside malloc holding the arena lock, resumed after another
 * goroutine on the same thread called malloc: deadlock); a register-saving
 * stub injected by rewriting the signal context (as Go does): on aarch64 C
 * code has no register free to return through, and the kernel's frame
 * already holds the exact state; delivering SIGURG on the alternate stack
 * and copying the frame to the goroutine stack (the layout is the kernel's
 * private business); timer signals (setitimer reaches sleeping threads, not
 * the busy one: see NOTES).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/gocdebug.h"
#include "sched/runtime2.h"

#if defined(GOC_RACE)
#define GOC_RACE_BUILD 1
#else
#define GOC_RACE_BUILD 0
#endif

enum {
    FORCE_PREEMPT_NS = 10 * 1000 * 1000, /* Go's forcePreemptNS */
    RESIGNAL_NS = 2 * 1000 * 1000,       /* a request not yet honoured: ask again */
    SWITCH_HEADROOM = 8 * 1024,          /* stack to spare for a switch in the handler */
};

/* goc's own code: the bounds of its .text, set by the partial link that
 * makes libgoc's object (scripts/goc-text.ld). */
extern const char goc_text_begin[] __attribute__((visibility("hidden")));
extern const char goc_text_end[] __attribute__((visibility("hidden")));

/* The program's executable segments, found once before the first M runs;
 * immutable after (read by signal handlers). */
enum { MAX_EXE_SEGMENTS = 8 };
static uintptr_t exe_lo[MAX_EXE_SEGMENTS], exe_hi[MAX_EXE_SEGMENTS];
static int nexe;
static bool async_on; /* asynchronous switches allowed at all; immutable after init */

static int find_exe(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    bool *dynamic = arg;
    *dynamic = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_INTERP || ph->p_type == PT_DYNAMIC)
            *dynamic = true;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && nexe < MAX_EXE_SEGMENTS) {
            exe_lo[nexe] = info->dlpi_addr + ph->p_vaddr;
            exe_hi[nexe] = exe_lo[nexe] + ph->p_memsz;
            nexe++;
        }
    }
    return 1; /* the first object is the program itself */
}

void preempt_init(void) {
    bool dynamic = false;
    dl_iterate_phdr(find_exe, &dynamic);
    async_on = nexe > 0 && dynamic && gocdebug_int("asyncpreemptoff", 0) == 0;
#if defined(GOC_RACE) || defined(GOC_ASAN)
    async_on = false;
#endif
}

static bool in_goc(uintptr_t pc) {
    return pc >= (uintptr_t)goc_text_begin && pc < (uintptr_t)goc_text_end;
}

static bool in_program(uintptr_t pc) {
    for (int i = 0; i < nexe; i++)
        if (pc >= exe_lo[i] && pc < exe_hi[i])
            return true;
    return false;
}

static uintptr_t uc_pc(const ucontext_t *uc) {
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "preempt.c: unsupported architecture"
#endif
}

/* Where the interrupted code returns to if it is a leaf or a PLT stub (the
 * return address at the stack top on x86_64, lr on aarch64); 0 if sp is
 * too close to the stack's top to read it. */
static uintptr_t uc_ret(const ucontext_t *uc, uintptr_t sp, uintptr_t hi) {
#if defined(__x86_64__)
    (void)uc;
    if (sp + sizeof(uintptr_t) > hi)
        return 0;
    return *(const uintptr_t *)sp;
#elif defined(__aarch64__)
    (void)sp;
    (void)hi;
    return (uintptr_t)uc->uc_mcontext.regs[30];
#endif
}

static uintptr_t uc_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

/* ------------------------------------------------------------------ */
/* sysmon's side                                                       */

static void preemptone(p *pp) {
    m *mp = __atomic_load_n(&pp->m, __ATOMIC_RELAXED);
    if (!mp)
        return;
    g *gp = __atomic_load_n(&mp->curg, __ATOMIC_RELAXED);
    if (!gp)
        return; /* in the scheduler: it finds the waiting work itself */
    /* gp may have stopped running by now (gs are never freed): a spurious
     * request costs it one yield at its next goc call. */
    atomic_store_explicit(&gp->preempt, 1, memory_order_relaxed);
    pid_t tid = __atomic_load_n(&mp->tid, __ATOMIC_RELAXED);
    if (tid > 0)
        syscall(SYS_tgkill, getpid(), tid, SIGURG);
}

int64_t sysmon_preempt(int64_t now) {
    int64_t due = INT64_MAX;
    bool global = atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0;
    int32_t n = atomic_load(&nallp);
    for (int32_t i = 0; i < n; i++) {
        p *pp = allp[i];
        if (atomic_load_explicit(&pp->status, memory_order_relaxed) != P_RUNNING) {
            pp->sysmontick.schedwhen = 0;
            continue;
        }
        uint32_t t = atomic_load_explicit(&pp->schedtick, memory_order_relaxed);
        if (t != pp->sysmontick.schedtick || pp->sysmontick.schedwhen == 0) {
            pp->sysmontick.schedtick = t;
            pp->sysmontick.schedwhen = now;
            pp->sysmontick.preemptwhen = 0;
            if (now + FORCE_PREEMPT_NS < due)
                due = now + FORCE_PREEMPT_NS;
            continue;
        }
        int64_t at = pp->sysmontick.schedwhen + FORCE_PREEMPT_NS;
        if (now < at) {
            if (at < due)
                due = at;
            continue;
        }
        /* It ran long enough; stop it only if someone waits, or if its P
         * is to retire (goc_maxprocs shrank: its M gives it up only in the
         * scheduler; preempt_retiring asked at once, this repeats it). */
        if (!global && runqempty(pp) &&
            pp->id < atomic_load_explicit(&gomaxprocs, memory_order_relaxed))
            continue;
        int64_t last = pp->sysmontick.preemptwhen;
        if (last && now - last < RESIGNAL_NS) {
            if (last + RESIGNAL_NS < due)
                due = last + RESIGNAL_NS;
            continue;
        }
        pp->sysmontick.preemptwhen = now;
        preemptone(pp);
        if (now + RESIGNAL_NS < due)
            due = now + RESIGNAL_NS;
    }
    return due;
}

/* goc_maxprocs shrank to n: ask the goroutine running on each P beyond n
 * to stop, so that its M reaches the scheduler and retires the P now
 * rather than at its next park (Go stops the world for GOMAXPROCS). The
 * request makes its next goc call yield even with nothing else queued
 * (gsched_gosched, goc_yield), and sysmon repeats it while the P runs. */
void preempt_retiring(int32_t n) {
    int32_t np = atomic_load(&nallp);
    for (int32_t i = n; i < np; i++)
        if (atomic_load_explicit(&allp[i]->status, memory_order_relaxed) == P_RUNNING)
            preemptone(allp[i]);
}

/* ------------------------------------------------------------------ */
/* The goroutine's side                                                */

void preempt_reclaimp(m *mp) {
    p *pp = mp->preemptp;
    mp->preemptp = NULL;
    if (!pp || mp->p)
        return;
    /* Ours again unless sysmon retook it; as in exitsyscall, the CAS may
     * take a P that meanwhile went to another M's goc_blocking call, from
     * which it is then taken as a retake would (see syscall.c). */
    uint32_t s = P_SYSCALL;
    if (atomic_compare_exchange_strong(&pp->status, &s, P_RUNNING)) {
        mp->p = pp;
        pp->m = mp;
    }
}

void gsched_preempt_slow(void) {
    m *mp = acquirem();
    g *gp = mp ? mp->curg : NULL;
    if (!gp) {
        releasem(mp);
        return;
    }
    atomic_store_explicit(&gp->preempt, 0, memory_order_relaxed);
#ifdef GOC_DEBUG
    /* A preemption check is for public entry points: the runtime's own
     * callers holding a lock must not get here (see hacking.md). */
    if (glock_nheld() != 0)
        gthrow("runtime: preemption check with %d runtime lock(s) held", glock_nheld());
#endif
    if (mp->p) {
        /* Asked to let others run: yield to the global queue (Go's
         * gopreempt_m). */
        releasem(mp);
        gsched_gosched();
        return;
    }
    /* Running without a P since the signal took it: take it back, or an
     * idle one, or wait in the global queue for one. */
    if (mp->preemptp)
        preempt_reclaimp(mp);
    if (!mp->p) {
        glock_lock(&sched.lock);
        p *np = pidleget_locked();
        glock_unlock(&sched.lock);
        if (np)
            acquirep(mp, np);
    }
    releasem(mp);
    if (!mp->p)
        preempt_park_global(mp, gp);
}

/* ------------------------------------------------------------------ */
/* The signal handler                                                  */

/* Give up the P without switching anything (in a signal handler: only
 * stores to this M's own state, the P's status, and a futex wake). */
static void handoff_from_signal(m *mp) {
    p *pp = mp->p;
    mp->p = NULL;
    mp->preemptp = pp;
    atomic_store_explicit(&pp->syscallwhen, 0, memory_order_relaxed); /* retake at once */
    atomic_store(&pp->status, P_SYSCALL);
    gsched_sysmon_poke(INT64_MIN + 1);
}

/* Switch out from inside the handler (see the design comment). The
 * goroutine is wired to this thread until it resumes (as by
 * goc_lock_os_thread): the interrupted code may hold this thread's
 * thread-local addresses in registers (errno's, a __thread variable's) or a
 * lock that belongs to the thread, so it must go on here. Meanwhile the
 * thread runs nothing else: it hands its P to another thread and sleeps
 * (stoplockedm) until whoever takes the goroutine from the global queue
 * hands a P back (startlockedm). */
static void switch_in_handler(m *mp, g *gp, ucontext_t *uc) {
    atomic_store_explicit(&gp->preempt, 0, memory_order_relaxed);
    if (!gp->lockedm) {
        gp->preemptlocked = true;
        gp->lockedm = mp;
        mp->lockedg = gp;
    }
    /* The thread's signals, blocked while the handler runs, must reach it
     * again while it waits (a preemption request for the next goroutine it
     * runs; a fault). */
    pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
    preempt_park_global(mp, gp);
    GOC_CHECK(getm() == mp); /* resumed on its own thread */
    if (gp->preemptlocked) {
        gp->preemptlocked = false;
        gp->lockedm = NULL;
        mp->lockedg = NULL;
    }
}

/* May the goroutine interrupted at uc lose its P (or be switched out)? */
static g *preemptible(m *mp, const ucontext_t *uc) {
    g *gp = mp->curg;
    if (!gp || !atomic_load_explicit(&gp->preempt, memory_order_relaxed))
        return NULL;
    if (atomic_load_explicit(&mp->locks, memory_order_relaxed) != 0 || !mp->p)
        return NULL;
    if (gstatus_of(gp) != G_RUNNING)
        return NULL;
    const gstack *st = gp->stack;
    uintptr_t sp = uc_sp(uc);
    if (!st || sp <= (uintptr_t)st->lo || sp > (uintptr_t)st->hi)
        return NULL;
    /* Under ThreadSanitizer the handler runs where TSan chose to deliver,
     * and uc is where the signal arrived: m.locks alone decides there. */
    if (!GOC_RACE_BUILD && in_goc(uc_pc(uc)))
        return NULL;
    return gp;
}

void gsched_sigpreempt(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    int saved_errno = errno;
    m *mp = getm();
    ucontext_t *uc = ucv;
    g *gp = mp ? preemptible(mp, uc) : NULL;
    if (gp) {
        char here;
        uintptr_t pc = uc_pc(uc), sp = uc_sp(uc);
        /* Not in code that goc's own called: a PLT stub or a libgcc
         * helper lies in the program's text, but goc may hold a runtime
         * lock around the call (the interrupted code's return address,
         * a leaf's or a stub's, is in goc's text then). */
        if (async_on && in_program(pc) && !in_goc(uc_ret(uc, sp, (uintptr_t)gp->stack->hi)) &&
            (uintptr_t)&here - (uintptr_t)gp->stack->lo > SWITCH_HEADROOM)
            switch_in_handler(mp, gp, uc);
        else
            handoff_from_signal(mp);
    }
    errno = saved_errno; /* a handler leaves errno as it found it */
}

bool gsched_preempt_frame_lost(void *ucv) {
    m *mp = getm();
    if (!mp)
        return false;
    g *gp = preemptible(mp, ucv);
    if (!gp)
        return false;
    const gstack *st = gp->stack;
    if (uc_sp(ucv) - (uintptr_t)st->lo > 3 * SWITCH_HEADROOM)
        return false; /* room enough for a frame: a real fault */
    /* The kernel could not write the SIGURG frame on this stack. Let the
     * goroutine go on without its P. A real fault at the same place, when
     * it repeats, finds the M without a P and is reported. */
    handoff_from_signal(mp);
    return true;
}

bool gsched_async_preempt_enabled(void) { return async_on; }
