/* diag/dump.c — goroutine dumps (goc_dump, SIGQUIT, the deadlock report).
 *
 * Every goroutine in Go's shape: "goroutine 5 [chan receive, 3.2s]:" then its
 * stack, unwound from the context saved at its last switch. Goroutines
 * running on other threads are listed as such (their stacks are live).
 * SIGQUIT dumps and exits with status 2, as Go does.
 *
 * goc_dump and the deadlock report work in three steps, so that the
 * all-goroutines lock is held only while goroutines are copied, never
 * while stacks are unwound, frames symbolized or output written (a slow fd
 * would otherwise stall every spawn and every exit of a custom-stack
 * goroutine, and the processor of whoever waits for the lock):
 *   1. snapshot: under allglock (gsched_for_each_g_pin_stacks), copy what
 *      the dump shows of each goroutine (id, name, status, wait reason and
 *      since, started, entry, saved sp, stack bounds) into a malloc'd array;
 *   2. unwind: after the lock, walk each switched-out goroutine's frame
 *      pointers (diag_walk_saved, every read bounded to the stack's range)
 *      into an array of pcs; then gsched_unpin_stacks;
 *   3. print: name each distinct pc once (libunwind's symbol lookup reads
 *      /proc/self/maps and maps the object file at every call: ~0.2 ms a
 *      frame on a busy 2-core machine, seconds for 10,000 goroutines; so
 *      the text of each frame is cached for the dump in an open-addressing
 *      table keyed by pc) and write from a 64 KiB buffer.
 *
 * Why step 2 is memory-safe although the goroutines run on meanwhile: a
 * parked goroutine may resume, its stack change and the goroutine exit while
 * we read it. Reading garbage is harmless (the walk only follows frame
 * pointers that climb within [lo, hi), and prints at most the frames it
 * found); reading unmapped memory is not. Default-size stacks live in slabs
 * that are never unmapped (stack/stack.c; pages returned with MADV_DONTNEED
 * read as zeros; guard pages lie outside [lo, hi)). Custom-size stacks are
 * unmapped when their goroutine exits (gfput), which clears g->stack under
 * allglock: the snapshot either sees g->stack cleared (and does not unwind
 * it) or sees the stack and, in the same critical section, pins all stacks;
 * until the unpin after step 2 gfput defers unmapping to the last unpin.
 * The saved sp and the stack are read at slightly different moments (sp is
 * written at every switch, without the lock): the walk checks that sp lies
 * in the stack, so a mismatched pair only yields an empty or odd backtrace,
 * never a stray read. A g reused by a new goroutine keeps its g struct (gs
 * are never freed) and gets another stack; the old mapping stays pinned.
 * Pins nest: stacks freed while dumps overlap wait for the moment no dump
 * is in step 2 (a few milliseconds each).
 *
 * The text is what libunwind's unwind of the saved context printed: frames
 * are the frame-pointer chain (goc is built with -fno-omit-frame-pointer;
 * callers of code built without frame pointers are left out, as by every
 * frame-pointer unwinder), named by libunwind's symbol lookup, at most 101
 * and then "...additional frames elided...".
 *
 * Creation sites: newproc stores only the return address of the public
 * spawn call and the creator's goid in g (gopc, parentgoid: a spawn costs
 * two stores, never a symbol lookup); dumps name that pc like any frame
 * (its text is a return address's, so it shares the frame cache) and print
 * it as Go's "created by f in goroutine N" and the location below it.
 *
 * goc_leak_check (goleak's VerifyNone) lives here because its output is a
 * dump: it counts the goroutines other than the caller and goc's own
 * (g->system) under allglock, and while some remain and time is left it
 * sleeps with no lock held (goc_sleep on a goroutine, nanosleep on a plain
 * thread) and counts again, sleeps doubling from 10 us up to 100 ms and
 * never past the deadline; at the deadline it dumps the ones left through
 * the same three steps, filtered, and returns how many it dumped. Counting
 * rather than comparing goroutine ids: ids are unique, so a count of
 * survivors is the answer, and a walk that only counts keeps the lock
 * briefly.
 *
 * The SIGQUIT handler cannot allocate: it walks the goroutines in place
 * (gsched_for_each_g_in_signal, which never waits long for the lock and
 * never reads freed memory), and names frames with dladdr. A dump whose
 * snapshot cannot be allocated walks in place too, under allglock (as every
 * dump did before). Fields of a goroutine that may be running elsewhere are
 * read with relaxed atomics (G_LOAD): a dump is a momentary snapshot, never
 * a data race.
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <goc/runtime.h>
#include <goc/testing.h>
#include <goc/time.h>

#include "base/throw.h"

static void print_waited(gprintbuf *o, int64_t ns) {
    if (ns >= 60LL * 1000000000)
        gprintf(o, ", %lld minutes", (long long)(ns / (60LL * 1000000000)));
    else if (ns >= 1000000000)
        gprintf(o, ", %.1fs", (double)ns / 1e9);
    else
        gprintf(o, ", %lldms", (long long)(ns / 1000000));
}

/* What goc_leak_check reports: every goroutine but the caller and goc's
 * own (g->system). Called under allglock, or in place. */
/* Go's traceback names a goroutine's bubble ("synctest bubble N"). A live
 * goroutine's bubble outlives it (freed after its last member exits). */
static uint64_t bubble_of(const g *gp) {
    gbubble *b = __atomic_load_n(&gp->bubble, __ATOMIC_RELAXED);
    return b ? b->id : 0;
}

static bool is_leak(g *gp) { return !gsched_g_is_current(gp) && !G_LOAD(gp->system); }

/* goc_leak_check's dump filter (see keep below). */
static bool keep_leak(const void *gp, void *arg) {
    (void)arg;
    return is_leak((g *)gp);
}

/* "created by f in goroutine N\n\t<where>\n" (Go's line for where a
 * goroutine was started) from the text diag_print_frame printed for the
 * spawn call's return address, "f(...)\n\t<where>\n". */
static void put_created(void (*put)(void *o, const char *p, size_t n), void *o, const char *text,
                        size_t len, uint64_t parent) {
    const char *cut = memmem(text, len, "(...)\n", 6);
    put(o, "created by ", 11);
    if (!cut) {
        put(o, text, len);
        return;
    }
    put(o, text, (size_t)(cut - text));
    if (parent) {
        char b[48];
        int k = snprintf(b, sizeof b, " in goroutine %llu", (unsigned long long)parent);
        put(o, b, (size_t)k);
    }
    put(o, cut + 5, len - (size_t)(cut + 5 - text));
}

/* ------------------------------------------------------------------ */
/* In place: the SIGQUIT handler, and the fallback when out of memory  */

struct dumpctx {
    gprintbuf *o;
    int64_t now;
    void *uc; /* the current thread's signal context, if any */
    bool in_signal;
    bool (*keep)(const void *gp, void *arg); /* if set: only those it keeps (counted) */
    void *keep_arg;
    int count;
};

/* Raw bytes into a gprintbuf (its gprintf truncates at 511 characters). */
static void gpb_put(void *arg, const char *p, size_t n) {
    gprintbuf *o = arg;
    while (n > 0) {
        if (o->n == sizeof o->b)
            gprint_flush(o);
        size_t k = sizeof o->b - o->n < n ? sizeof o->b - o->n : n;
        memcpy(o->b + o->n, p, k);
        o->n += k;
        p += k;
        n -= k;
    }
}

static void dump_one(g *gp, void *arg) {
    struct dumpctx *d = arg;
    if (d->keep && !d->keep(gp, d->keep_arg))
        return;
    d->count++;
    if (d->o->fd < 0)
        return;
    gprintbuf *o = d->o;
    uint32_t st = gstatus_of(gp);
    char name[G_NAME_MAX];
    for (size_t i = 0; i < G_NAME_MAX; i++)
        name[i] = G_LOAD(gp->name[i]);
    name[G_NAME_MAX - 1] = '\0';
    gprintf(o, "goroutine %llu", (unsigned long long)G_LOAD(gp->goid));
    if (name[0])
        gprintf(o, " \"%s\"", name);
    uint64_t bubble = bubble_of(gp);
    if (st == G_WAITING) {
        gprintf(o, " [%s", gwaitreason_string(G_LOAD(gp->waitreason)));
        print_waited(o, d->now - G_LOAD(gp->waitsince));
    } else {
        gprintf(o, " [%s", gstatus_string(st));
    }
    if (bubble)
        gprintf(o, ", synctest bubble %llu", (unsigned long long)bubble);
    gprintf(o, "]:\n");
    if (gsched_g_is_current(gp)) {
        gprint_flush(o);
        diag_backtrace_to(o, d->uc, d->uc ? 0 : 3);
    } else if (st == G_RUNNING) {
        gprintf(o, "\tgoroutine running on other thread; stack unavailable\n");
    } else if (!G_LOAD(gp->started)) {
        gprintf(o, "created, not yet started: ");
        diag_print_frame(o, (void *)(uintptr_t)G_LOAD(gp->fn), NULL, 0);
    } else {
        diag_backtrace_saved(o, gp, d->in_signal);
    }
    uintptr_t gopc = G_LOAD(gp->gopc);
    if (gopc) {
        /* Symbols by dladdr in a handler (libunwind allocates). */
        gprintbuf t = GPRINTBUF_INIT(-1);
        if (d->in_signal)
            diag_print_frame(&t, (void *)gopc, NULL, 0);
        else
            diag_print_pc(&t, (void *)gopc);
        put_created(gpb_put, o, t.b, t.n, G_LOAD(gp->parentgoid));
    }
    gprintf(o, "\n");
    gprint_flush(o);
}

static int dump_in_place(int fd, void *uc, bool in_signal, bool (*keep)(const void *, void *),
                         void *keep_arg) {
    gprintbuf o = GPRINTBUF_INIT(fd);
    struct dumpctx d = {&o, gnanotime_coarse(), uc, in_signal, keep, keep_arg, 0};
    if (in_signal)
        gsched_for_each_g_in_signal(dump_one, &d);
    else
        gsched_for_each_g(dump_one, &d);
    if (fd >= 0)
        gprint_flush(&o);
    return d.count;
}

/* ------------------------------------------------------------------ */
/* Step 1: the snapshot                                                */

struct grec {
    uint64_t goid, parentgoid;
    uint64_t bubble; /* its synctest bubble's id, 0 if none */
    int64_t waitsince;
    uintptr_t fn, sp, gopc;
    const char *lo, *hi; /* the stack; NULL when it has none */
    size_t pc0;          /* step 2: its frames are pcs[pc0, pc0 + npc) */
    uint32_t npc;
    uint32_t status;
    uint8_t waitreason;
    bool started, current, elided;
    char name[G_NAME_MAX];
};

struct snapshot {
    struct grec *r;
    size_t n, cap, seen; /* seen > cap: the array was too small */
    uintptr_t *pcs;      /* step 2 */
    size_t npcs, pccap;
    bool pcs_full; /* out of memory: the frames that did not fit are left out */
    bool (*keep)(const void *gp, void *arg); /* if set: only those it keeps */
    void *keep_arg;
};

/* Under allglock: as little as possible. */
static void snap_one(g *gp, void *arg) {
    struct snapshot *s = arg;
    if (s->keep && !s->keep(gp, s->keep_arg))
        return;
    if (s->seen++ >= s->cap)
        return;
    struct grec *r = &s->r[s->n++];
    r->goid = G_LOAD(gp->goid);
    r->parentgoid = G_LOAD(gp->parentgoid);
    r->bubble = bubble_of(gp);
    r->gopc = G_LOAD(gp->gopc);
    r->status = gstatus_of(gp);
    r->waitreason = G_LOAD(gp->waitreason);
    r->waitsince = G_LOAD(gp->waitsince);
    r->started = G_LOAD(gp->started);
    r->fn = (uintptr_t)G_LOAD(gp->fn);
    r->sp = (uintptr_t)G_LOAD(gp->sp);
    r->current = gsched_g_is_current(gp);
    const gstack *st = G_LOAD(gp->stack);
    r->lo = st ? st->lo : NULL;
    r->hi = st ? st->hi : NULL;
    r->npc = 0;
    r->elided = false;
    size_t i = 0;
    for (; i < G_NAME_MAX - 1 && (r->name[i] = G_LOAD(gp->name[i])) != '\0'; i++) {
    }
    r->name[i] = '\0';
}

/* Take the snapshot; on success the stacks are pinned. */
static bool snapshot_take(struct snapshot *s) {
    size_t cap = (size_t)goc_num_goroutine() + 64;
    for (;;) {
        s->r = malloc(cap * sizeof *s->r);
        if (!s->r)
            return false;
        /* Fault its pages in now, not under the lock. */
        memset(s->r, 0, cap * sizeof *s->r);
        s->n = s->seen = 0;
        s->cap = cap;
        gsched_for_each_g_pin_stacks(snap_one, s);
        if (s->seen <= s->cap)
            return true;
        /* More goroutines than room: again, larger. */
        gsched_unpin_stacks();
        free(s->r);
        cap = s->seen + s->seen / 4 + 64;
    }
}

/* ------------------------------------------------------------------ */
/* Step 2: unwinding, without the lock                                 */

static void collect_pc(void *pc, void *arg) {
    struct snapshot *s = arg;
    if (s->npcs == s->pccap) {
        if (s->pcs_full)
            return;
        size_t ncap = s->pccap ? 2 * s->pccap : 8 * s->n + 256;
        uintptr_t *np = realloc(s->pcs, ncap * sizeof *np);
        if (!np) {
            s->pcs_full = true;
            return;
        }
        s->pcs = np;
        s->pccap = ncap;
    }
    s->pcs[s->npcs++] = (uintptr_t)pc;
}

static bool unwound(const struct grec *r) {
    return !r->current && r->status != G_RUNNING && r->started;
}

static void snapshot_unwind(struct snapshot *s) {
    for (size_t i = 0; i < s->n; i++) {
        struct grec *r = &s->r[i];
        if (!unwound(r) || !r->lo)
            continue;
        r->pc0 = s->npcs;
        r->elided = diag_walk_saved((const void *)r->sp, r->lo, r->hi, collect_pc, s);
        r->npc = (uint32_t)(s->npcs - r->pc0);
    }
}

/* ------------------------------------------------------------------ */
/* Step 3: printing                                                    */

/* The output: a large buffer written with write(2), as base/print does. */
struct obuf {
    int fd;
    size_t n;
    char b[64 * 1024];
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

static void ob_write(struct obuf *o, const char *p, size_t len) {
    while (len > 0) {
        if (o->n == sizeof o->b)
            ob_flush(o);
        size_t k = sizeof o->b - o->n;
        if (k > len)
            k = len;
        memcpy(o->b + o->n, p, k);
        o->n += k;
        p += k;
        len -= k;
    }
}

/* Formats as gprintf does (each call at most 511 characters). */
__attribute__((format(printf, 2, 3))) static void ob_printf(struct obuf *o, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        ob_write(o, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* The text of each frame printed, by pc: keys are pc << 1 | kind (user
 * addresses leave the top bit free), values a range of `text`. */
enum { FRAME_PC = 0, FRAME_ENTRY = 1 }; /* a return address / "created" entry */

struct sent {
    uintptr_t key; /* 0: empty */
    uint32_t off, len;
};

struct symcache {
    struct sent *t;
    size_t mask, n;
    char *text;
    size_t tlen, tcap;
};

static void frame_text(gprintbuf *o, uintptr_t pc, int kind) {
    if (kind == FRAME_PC)
        diag_print_pc(o, (void *)pc);
    else
        diag_print_frame(o, (void *)pc, NULL, 0);
}

static bool cache_grow(struct symcache *c) {
    size_t ncap = c->t ? 2 * (c->mask + 1) : 1024;
    struct sent *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return false;
    for (size_t i = 0; c->t && i <= c->mask; i++) {
        if (!c->t[i].key)
            continue;
        size_t j = (c->t[i].key * 0x9e3779b97f4a7c15ull) >> 20 & (ncap - 1);
        while (nt[j].key)
            j = (j + 1) & (ncap - 1);
        nt[j] = c->t[i];
    }
    free(c->t);
    c->t = nt;
    c->mask = ncap - 1;
    return true;
}

static void ob_put(void *o, const char *p, size_t n) { ob_write(o, p, n); }

/* A frame's text; with created, as the "created by" line of a goroutine
 * whose creator is goroutine parent (the text is a FRAME_PC's). */
static void emit_frame(struct obuf *o, const char *text, size_t len, bool created,
                       uint64_t parent) {
    if (created)
        put_created(ob_put, o, text, len, parent);
    else
        ob_write(o, text, len);
}

static void print_frame_as(struct obuf *o, struct symcache *c, uintptr_t pc, int kind, bool created,
                           uint64_t parent) {
    uintptr_t key = pc << 1 | (uintptr_t)kind;
    size_t j = 0;
    if (c->t || cache_grow(c)) {
        for (j = (key * 0x9e3779b97f4a7c15ull) >> 20 & c->mask; c->t[j].key;
             j = (j + 1) & c->mask) {
            if (c->t[j].key == key) {
                emit_frame(o, c->text + c->t[j].off, c->t[j].len, created, parent);
                return;
            }
        }
    }
    /* A miss. diag_print_frame's gprintf calls (at most 511 + 511 + 1
     * characters) fit the buffer unflushed: capture its text. */
    gprintbuf cap = GPRINTBUF_INIT(-1);
    frame_text(&cap, pc, kind);
    emit_frame(o, cap.b, cap.n, created, parent);
    if (!c->t || (c->n + 1) * 2 > c->mask + 1)
        return; /* no table, or half full and it could not grow: uncached */
    if (c->tlen + cap.n > c->tcap) {
        size_t ncap = c->tcap ? 2 * c->tcap : 16 * 1024;
        while (ncap < c->tlen + cap.n)
            ncap *= 2;
        char *nt = ncap <= UINT32_MAX ? realloc(c->text, ncap) : NULL;
        if (!nt)
            return;
        c->text = nt;
        c->tcap = ncap;
    }
    memcpy(c->text + c->tlen, cap.b, cap.n);
    c->t[j] = (struct sent){key, (uint32_t)c->tlen, (uint32_t)cap.n};
    c->tlen += cap.n;
    if (++c->n * 2 > c->mask + 1)
        cache_grow(c); /* on failure the table just stops taking entries */
}

static void print_frame(struct obuf *o, struct symcache *c, uintptr_t pc, int kind) {
    print_frame_as(o, c, pc, kind, false, 0);
}

/* The dumping goroutine's own stack, live, from dump_all's frame: frames
 * 0-3 are diag_backtrace_to, this function, print_one and dump_snapshot
 * (none inlined). */
__attribute__((noinline)) static void print_current(struct obuf *o) {
    ob_flush(o);
    gprintbuf gb = GPRINTBUF_INIT(o->fd);
    diag_backtrace_to(&gb, NULL, 4);
    gprint_flush(&gb);
}

__attribute__((noinline)) static void print_one(struct obuf *o, struct symcache *c,
                                                const struct snapshot *s, const struct grec *r,
                                                int64_t now) {
    ob_printf(o, "goroutine %llu", (unsigned long long)r->goid);
    if (r->name[0])
        ob_printf(o, " \"%s\"", r->name);
    if (r->status == G_WAITING) {
        ob_printf(o, " [%s", gwaitreason_string(r->waitreason));
        gprintbuf w = GPRINTBUF_INIT(-1);
        print_waited(&w, now - r->waitsince);
        ob_write(o, w.b, w.n);
    } else {
        ob_printf(o, " [%s", gstatus_string(r->status));
    }
    if (r->bubble)
        ob_printf(o, ", synctest bubble %llu", (unsigned long long)r->bubble);
    ob_write(o, "]:\n", 3);
    if (r->current) {
        print_current(o);
    } else if (r->status == G_RUNNING) {
        ob_printf(o, "\tgoroutine running on other thread; stack unavailable\n");
    } else if (!r->started) {
        ob_printf(o, "created, not yet started: ");
        print_frame(o, c, r->fn, FRAME_ENTRY);
    } else {
        for (uint32_t i = 0; i < r->npc; i++)
            print_frame(o, c, s->pcs[r->pc0 + i], FRAME_PC);
        if (r->elided)
            ob_printf(o, "...additional frames elided...\n");
    }
    if (r->gopc)
        print_frame_as(o, c, r->gopc, FRAME_PC, true, r->parentgoid);
    ob_write(o, "\n", 1);
}

/* How many goroutines it printed; -1 when out of memory before anything
 * was printed. */
__attribute__((noinline)) static int dump_snapshot(int fd, bool (*keep)(const void *, void *),
                                                   void *keep_arg) {
    struct obuf *o = malloc(sizeof *o);
    if (!o)
        return -1;
    struct snapshot s = {.keep = keep, .keep_arg = keep_arg};
    int64_t now = gnanotime_coarse();
    if (!snapshot_take(&s)) {
        free(o);
        return -1;
    }
    snapshot_unwind(&s);
    gsched_unpin_stacks();

    o->fd = fd;
    o->n = 0;
    struct symcache c = {0};
    for (size_t i = 0; i < s.n; i++)
        print_one(o, &c, &s, &s.r[i], now);
    ob_flush(o);
    free(c.t);
    free(c.text);
    free(s.pcs);
    free(s.r);
    free(o);
    return (int)s.n;
}

__attribute__((noinline)) static void dump_all(int fd) {
    if (dump_snapshot(fd, NULL, NULL) < 0)
        dump_in_place(fd, NULL, false, NULL, NULL);
}

void diag_dumpsome(int fd, bool (*keep)(const void *gp, void *arg), void *arg) {
    if (dump_snapshot(fd, keep, arg) < 0)
        dump_in_place(fd, NULL, false, keep, arg);
}

void goc_dump(int fd) { dump_all(fd); }

/* ------------------------------------------------------------------ */
/* goc_leak_check                                                      */

static void count_leak(g *gp, void *arg) {
    if (is_leak(gp))
        ++*(int *)arg;
}

/* Sleeps without a lock held: on a goroutine with goc_sleep (its M runs
 * others meanwhile), on a plain thread with nanosleep (no need to start the
 * runtime for a sleep). */
static void leak_sleep(int64_t ns) {
    if (gsched_on_goroutine()) {
        goc_sleep(ns);
    } else {
        struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

int goc_leak_check(goc_duration wait, int fd) {
    /* goleak's retry: 1 us, doubling, at most 100 ms a sleep. Here from
     * 10 us (a sleep costs a timer); never past the deadline. Each round
     * only counts (allglock held for a walk of allgs, nothing else). */
    int64_t deadline = gnanotime() + (wait > 0 ? wait : 0);
    int64_t pause = 10 * 1000;
    for (;;) {
        int n = 0;
        gsched_for_each_g(count_leak, &n);
        if (n == 0)
            return 0;
        int64_t left = deadline - gnanotime();
        if (left <= 0)
            break;
        leak_sleep(pause < left ? pause : left);
        pause = pause * 2 < 100 * GOC_MILLISECOND ? pause * 2 : 100 * GOC_MILLISECOND;
    }
    /* The last look is the one reported: the count is what was dumped. */
    if (fd < 0) {
        int n = 0;
        gsched_for_each_g(count_leak, &n);
        return n;
    }
    int n = dump_snapshot(fd, keep_leak, NULL);
    return n >= 0 ? n : dump_in_place(fd, NULL, false, keep_leak, NULL);
}

void diag_dumpall(int fd) { dump_all(fd); }

void diag_sigquit(int sig, siginfo_t *si, void *uc) {
    (void)si;
    if (gfatal_try_begin()) {
        gprintbuf o = GPRINTBUF_INIT(2);
        gprintf(&o, "SIGQUIT: quit\n\n");
        gprint_flush(&o);
        dump_in_place(2, uc, true, NULL, NULL);
    }
    _exit(2);
    (void)sig;
}
