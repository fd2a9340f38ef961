/* test_preempt.c — preemption of goroutines that never make a goc call.
 *
 * A goroutine that spins without a scheduling point (no goc call at all)
 * must not keep its processor: sysmon notices it after ~10 ms and either
 * switches it out asynchronously (its interrupted PC is in the program's
 * own code) or takes its processor away as for a blocking call (in libc,
 * with GOCDEBUG=asyncpreemptoff=1, under TSan). These cases check what a
 * program sees:
 *
 *   - others keep running: a sleeper beside one spinner on one processor,
 *     a 5 ms ticker and a 50 ms context timeout with every processor
 *     spinning, wake on time (generous bounds: the machine is loaded);
 *   - a spinner inside libc (snprintf, malloc/free) is preempted without
 *     deadlock or heap corruption, while other goroutines malloc too;
 *   - sync.Pool keeps its guarantees when its users are preempted between
 *     (and maybe inside) Get and Put: no item is handed to two holders at
 *     once, none is lost (every item made is freed exactly once by the
 *     pool's free_fn by the end of goc_pool_destroy);
 *   - a preempted spinner's work is intact: integer and SSE (and, where the
 *     CPU has it, AVX) registers hold exactly what they should after many
 *     preemptions; goc_id() is the same afterwards; errno set by the
 *     goroutine's own libc call just before a long spin is still its
 *     value after it.
 *
 * Every spinner stops by itself: it checks a stop flag and a deadline read
 * with clock_gettime (at most SPIN_LIMIT_S), never a goc call. The main
 * goroutine probes with short sleeps while the spinners run and the cases
 * assert on the lateness it saw. Without preemption the spinners hold every
 * processor until their deadline and each case fails on an assertion
 * within a few seconds (never by CTest's timeout).
 *
 * tests/cases.cmake registers every case twice more with
 * GOCDEBUG=asyncpreemptoff=1 (preempt.<case>.asyncpreemptoff.p1/p2): there
 * no goroutine is switched out asynchronously, the processor is taken from
 * the long runner instead, and the same assertions must hold.
 *
 * Under ThreadSanitizer a signal is delivered only when the thread reaches
 * an atomic operation or an intercepted call. The spinners that read a
 * relaxed atomic (or call libc) in their loop can be preempted there; the
 * ones that run a loop without atomics or calls cannot, and their cases
 * carry the label notsan (skipped by `make test-race`):
 *     spinner_registers_and_sse_avx_state_survive_preemption
 *     errno_of_own_libc_call_survives_preemption_in_spin
 * AddressSanitizer runs every case. */
#include "testing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS GOC_MILLISECOND
#define NS_PER_MS 1000000LL

/* Every spinner stops after this long, preempted or not. */
#define SPIN_LIMIT_S 3.0
/* The "work" spinners (libc, pool, registers) run this long: some 60
 * preemptions each. */
#define WORK_S 0.6
/* How late a sleep (or tick, or timeout) may be while spinners run. With
 * preemption it is ~10-20 ms; without it, seconds. */
#define LATE_BOUND_MS TEST_SCALE(500, 1000)
/* Sleeps of 10 ms that must end while the spinners (WORK_S) still spin
 * (the lateness bound is what matters; this says the probe saw them). */
#define MIN_WAKES TEST_SCALE(3, 1)

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int nprocs(void) { return goc_maxprocs(0); }

/* ---- spinners and the probe ---- */

static atomic_int stop;     /* spinners: stop now (relaxed reads) */
static atomic_int started;  /* spinners that have begun */
static atomic_int finished; /* spinners that have stopped spinning */
static goc_waitgroup spin_wg;

static void spin_begin(void) { atomic_fetch_add(&started, 1); }
static void spin_end(void) { atomic_fetch_add(&finished, 1); }

/* Spin until stop or the limit, reading a relaxed atomic (TSan can deliver
 * signals there) and the clock now and then. No goc call. */
static void spin_relaxed(int64_t end) {
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if ((++n & 0x3ff) == 0 && now_ns() > end)
            break;
    }
}

static void atomic_spinner(void *arg) {
    (void)arg;
    spin_begin();
    spin_relaxed(now_ns() + (int64_t)(SPIN_LIMIT_S * 1e9));
    spin_end();
}

/* Start n goroutines running fn(arg[i * stride]) (arg NULL: fn(NULL)) and
 * wait until all of them spin. The caller yields to get them going: on a
 * runtime without preemption the first spinner keeps the processor until
 * its deadline, and this fails (a spinner finished before the last one
 * started, or they never all started). */
static void start_spinners(int n, void (*fn)(void *), void *arg, size_t stride) {
    atomic_store(&stop, 0);
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    for (int i = 0; i < n; i++) {
        void *a = arg ? (char *)arg + (size_t)i * stride : NULL;
        CHECK_EQ_INT(goc_wg_go(&spin_wg, fn, a), 0);
    }
    int64_t t0 = now_ns();
    WAIT_FOR(atomic_load(&started) == n, 10.0);
    int64_t el = (now_ns() - t0) / NS_PER_MS;
    CHECK_MSG(atomic_load(&finished) == 0,
              "%d of %d spinners already ran to their deadline before this goroutine ran again "
              "(%lld ms): nothing took the processor from them",
              atomic_load(&finished), n, (long long)el);
    CHECK_MSG(atomic_load(&started) == n, "only %d of %d spinners started in %lld ms",
              atomic_load(&started), n, (long long)el);
}

static void stop_spinners(void) {
    atomic_store(&stop, 1);
    test_wg_wait_bounded(&spin_wg, TEST_PATIENCE_S, "spinners");
    atomic_store(&stop, 0);
}

struct probe {
    int wakes; /* sleeps that ended while some spinner still spun */
    int64_t max_late_ns;
};

/* Sleep `period` over and over until every spinner has finished (or
 * `max_s` passed), recording how late each sleep ended. */
static struct probe probe_until_finished(int n, goc_duration period, double max_s) {
    struct probe p = {0, 0};
    int64_t end = now_ns() + (int64_t)(max_s * 1e9);
    while (atomic_load(&finished) < n && now_ns() < end) {
        int64_t t0 = now_ns();
        goc_sleep(period);
        int64_t late = now_ns() - t0 - period;
        if (late > p.max_late_ns)
            p.max_late_ns = late;
        if (atomic_load(&finished) < n)
            p.wakes++;
    }
    return p;
}

static void check_probe(const struct probe *p, int min_wakes, const char *what) {
    test_note("%s: %d wakes while spinning, worst lateness %.1f ms", what, p->wakes,
              (double)p->max_late_ns / 1e6);
    CHECK_MSG(p->max_late_ns <= LATE_BOUND_MS * NS_PER_MS,
              "%s: a sleep ended %.1f ms late (bound %d ms) while goroutines spun", what,
              (double)p->max_late_ns / 1e6, LATE_BOUND_MS);
    CHECK_MSG(p->wakes >= min_wakes, "%s: only %d wakes while goroutines spun (want >= %d)", what,
              p->wakes, min_wakes);
}

/* ---- others keep running ---- */

/* One processor: a goroutine spinning on a relaxed atomic load; this one
 * sleeps 20 ms ten times and wakes within the bound each time. */
GTEST(sleeper_wakes_on_time_beside_spinner_on_one_processor) {
    int old = goc_maxprocs(1);
    start_spinners(1, atomic_spinner, NULL, 0);
    int64_t worst = 0;
    for (int i = 0; i < 10; i++) {
        int64_t t0 = now_ns();
        goc_sleep(20 * MS);
        int64_t late = now_ns() - t0 - 20 * NS_PER_MS;
        if (late > worst)
            worst = late;
        CHECK_MSG(late <= LATE_BOUND_MS * NS_PER_MS,
                  "sleep %d of 20 ms ended %.1f ms late beside a spinner (bound %d ms)", i,
                  (double)late / 1e6, LATE_BOUND_MS);
    }
    CHECK_MSG(atomic_load(&finished) == 0,
              "the spinner stopped on its own before the sleeps ended");
    stop_spinners();
    goc_maxprocs(old);
    test_note("worst lateness of a 20 ms sleep: %.1f ms", (double)worst / 1e6);
}

/* Every processor spins; a 5 ms ticker keeps delivering: at least 20
 * ticks received within 1 s (a tick per 50 ms on average). */
GTEST(ticker_keeps_ticking_while_every_processor_spins) {
    int n = nprocs();
    start_spinners(n, atomic_spinner, NULL, 0);
    goc_ticker *t = goc_ticker_new(5 * MS);
    CHECK(t != NULL);
    int ticks = 0;
    int64_t t0 = now_ns(), end = t0 + 1000 * NS_PER_MS;
    int64_t last = t0, worst_gap = 0;
    while (now_ns() < end) {
        int64_t v;
        goc_chan_recv(goc_ticker_chan(t), &v);
        int64_t now = now_ns();
        if (now - last > worst_gap)
            worst_gap = now - last;
        last = now;
        if (now <= end)
            ticks++;
    }
    bool spun_throughout = atomic_load(&finished) == 0;
    goc_ticker_free(t);
    stop_spinners();
    test_note("%d ticks of 5 ms in 1 s beside %d spinners, longest gap %.1f ms", ticks, n,
              (double)worst_gap / 1e6);
    CHECK_MSG(spun_throughout, "the spinners stopped on their own before the second ended");
    CHECK_MSG(ticks >= 20, "only %d ticks in 1 s with every processor spinning", ticks);
    CHECK_MSG(worst_gap <= LATE_BOUND_MS * NS_PER_MS, "%.1f ms without a tick (bound %d ms)",
              (double)worst_gap / 1e6, LATE_BOUND_MS);
}

/* Every processor spins; a context with a 50 ms timeout is done within
 * 50 ms + the bound, with -ETIMEDOUT. */
GTEST(context_timeout_fires_on_time_while_every_processor_spins) {
    int n = nprocs();
    start_spinners(n, atomic_spinner, NULL, 0);
    int64_t t0 = now_ns();
    goc_ctx *ctx = goc_ctx_with_timeout(NULL, 50 * MS);
    CHECK(ctx != NULL);
    goc_chan_recv(goc_ctx_done(ctx), NULL);
    int64_t el = now_ns() - t0;
    bool spun_throughout = atomic_load(&finished) == 0;
    CHECK_EQ_INT(goc_ctx_err(ctx), -ETIMEDOUT);
    goc_ctx_release(ctx);
    stop_spinners();
    test_note("50 ms timeout done after %.1f ms beside %d spinners", (double)el / 1e6, n);
    CHECK_MSG(el >= 50 * NS_PER_MS, "done after %.1f ms, before its 50 ms", (double)el / 1e6);
    CHECK_MSG(el <= (50 + LATE_BOUND_MS) * NS_PER_MS, "50 ms timeout done after %.1f ms (bound %d)",
              (double)el / 1e6, 50 + LATE_BOUND_MS);
    CHECK_MSG(spun_throughout, "the spinners stopped on their own before the timeout");
}

/* ---- libc under preemption ---- */

struct libc_result {
    long rounds;
};

/* snprintf into a buffer and parse it back; malloc/free blocks of varying
 * sizes, each filled with a pattern checked before it is freed. */
static void libc_spinner(void *arg) {
    struct libc_result *res = arg;
    spin_begin();
    enum { SLOTS = 64 };
    unsigned char *blk[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    uint64_t rng = test_rand_seed((uint64_t)(uintptr_t)arg);
    int64_t end = now_ns() + (int64_t)(WORK_S * 1e9);
    long rounds = 0;
    char buf[128];
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && now_ns() < end) {
        uint64_t r = test_rand(&rng);
        unsigned v = (unsigned)r;
        long i = rounds;
        int w = snprintf(buf, sizeof buf, "%08x-%ld-%s-%.3f", v, i, "goc", (double)(v % 1000) / 8);
        CHECK(w > 0 && (size_t)w < sizeof buf);
        unsigned v2 = 0;
        long i2 = -1;
        char word[8] = "";
        double d2 = -1;
        CHECK_EQ_INT(sscanf(buf, "%8x-%ld-%3[a-z]-%lf", &v2, &i2, word, &d2), 4);
        CHECK_EQ_U64(v2, v);
        CHECK_EQ_INT(i2, i);
        CHECK_STR_EQ(word, "goc");
        CHECK_MSG(d2 == (double)(v % 1000) / 8, "parsed %f from \"%s\"", d2, buf);

        int s = (int)((r >> 32) % SLOTS);
        if (blk[s]) {
            unsigned char pat = (unsigned char)(s + len[s]);
            for (size_t k = 0; k < len[s]; k++)
                CHECK_MSG(blk[s][k] == pat, "block %d byte %zu of %zu: %02x, want %02x", s, k,
                          len[s], blk[s][k], pat);
            free(blk[s]);
        }
        /* sizes from 1 byte to 64 KiB: small bins, large bins, mmap'd */
        len[s] = 1 + (size_t)((r >> 40) % ((r & 1) ? 256 : 65536));
        blk[s] = malloc(len[s]);
        CHECK(blk[s] != NULL);
        memset(blk[s], (unsigned char)(s + len[s]), len[s]);
        rounds++;
    }
    for (int s = 0; s < SLOTS; s++)
        free(blk[s]);
    res->rounds = rounds;
    spin_end();
}

static atomic_long mallocer_rounds;

/* Another goroutine that mallocs and frees, with short sleeps between
 * batches (it makes goc calls: it is not a spinner). */
static void mallocer(void *arg) {
    (void)arg;
    uint64_t rng = test_rand_seed(77);
    while (atomic_load(&finished) < atomic_load(&started) || atomic_load(&started) == 0) {
        void *p[16];
        for (int k = 0; k < 16; k++) {
            size_t n = 1 + test_rand(&rng) % 4096;
            p[k] = malloc(n);
            CHECK(p[k] != NULL);
            memset(p[k], k, n);
        }
        for (int k = 0; k < 16; k++)
            free(p[k]);
        atomic_fetch_add(&mallocer_rounds, 1);
        goc_sleep(1 * MS);
    }
}

/* Every processor runs a libc-heavy spinner for WORK_S; two goroutines
 * malloc/free beside them; this one sleeps 10 ms at a time and must wake
 * on time throughout. Nothing deadlocks, every check of the formatted
 * strings and heap blocks passes. */
GTEST(libc_heavy_spinners_keep_heap_intact_while_preempted) {
    int n = nprocs();
    static struct libc_result res[8];
    CHECK(n <= 8);
    memset(res, 0, sizeof res);
    atomic_store(&mallocer_rounds, 0);
    static goc_waitgroup mwg;
    start_spinners(n, libc_spinner, res, sizeof res[0]);
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(goc_wg_go(&mwg, mallocer, NULL), 0);
    struct probe p = probe_until_finished(n, 10 * MS, 10.0);
    stop_spinners();
    test_wg_wait_bounded(&mwg, TEST_PATIENCE_S, "mallocers");
    for (int i = 0; i < n; i++) {
        test_note("libc spinner %d: %ld rounds", i, res[i].rounds);
        CHECK_GT_INT(res[i].rounds, 0);
    }
    test_note("mallocers: %ld batches", atomic_load(&mallocer_rounds));
    CHECK_GE_INT(atomic_load(&mallocer_rounds), 2);
    check_probe(&p, MIN_WAKES, "libc spinners");
}

/* ---- sync.Pool under preemption ---- */

struct pitem {
    uint64_t tag;
    atomic_int held;  /* 1 while a goroutine owns it (between Get and Put) */
    atomic_int freed; /* 1 once the pool's free_fn got it */
    uint64_t owner;   /* goc_id of the holder */
    struct pitem *all_next;
};

static goc_pool pool;
static _Atomic(struct pitem *) pool_all; /* every item ever made */
static atomic_long pool_made, pool_freed, pool_ops;

static void *pitem_new(void) {
    struct pitem *it = calloc(1, sizeof *it);
    CHECK(it != NULL);
    it->tag = (uint64_t)atomic_fetch_add(&pool_made, 1) + 1;
    struct pitem *head = atomic_load(&pool_all);
    do
        it->all_next = head;
    while (!atomic_compare_exchange_weak(&pool_all, &head, it));
    return it;
}

/* The pool drops an item: mark it (the memory stays, on pool_all, so that
 * a second free or a Get of a dropped item shows). */
static void pitem_free(void *p) {
    struct pitem *it = p;
    CHECK_MSG(atomic_exchange(&it->freed, 1) == 0, "item %llu freed twice",
              (unsigned long long)it->tag);
    CHECK_MSG(atomic_load(&it->held) == 0, "item %llu freed while a goroutine holds it",
              (unsigned long long)it->tag);
    atomic_fetch_add(&pool_freed, 1);
}

/* A short spin between pool calls: no goc call, a relaxed atomic read. */
static void short_spin(unsigned n) {
    for (unsigned k = 0; k < n; k++)
        if (atomic_load_explicit(&stop, memory_order_relaxed))
            break;
}

static void pool_worker(void *arg) {
    (void)arg;
    spin_begin();
    uint64_t me = goc_id();
    uint64_t rng = test_rand_seed(me);
    int64_t end = now_ns() + (int64_t)(WORK_S * 1e9);
    long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && now_ns() < end) {
        struct pitem *h[3];
        int k = 1 + (int)(test_rand(&rng) % 3);
        for (int j = 0; j < k; j++) {
            h[j] = goc_pool_get(&pool);
            CHECK(h[j] != NULL);
            CHECK_MSG(atomic_exchange(&h[j]->held, 1) == 0,
                      "Get handed item %llu to goroutine %llu while goroutine %llu holds it",
                      (unsigned long long)h[j]->tag, (unsigned long long)me,
                      (unsigned long long)h[j]->owner);
            CHECK_MSG(atomic_load(&h[j]->freed) == 0, "Get returned item %llu after it was freed",
                      (unsigned long long)h[j]->tag);
            h[j]->owner = me;
            short_spin((unsigned)(test_rand(&rng) % 256));
        }
        short_spin((unsigned)(test_rand(&rng) % 1024));
        for (int j = k - 1; j >= 0; j--) {
            CHECK_MSG(h[j]->owner == me, "item %llu changed owner to %llu while %llu held it",
                      (unsigned long long)h[j]->tag, (unsigned long long)h[j]->owner,
                      (unsigned long long)me);
            atomic_store(&h[j]->held, 0);
            goc_pool_put(&pool, h[j]);
            /* Put then Get with no goc call between: Go promises nothing
             * about which item comes back (the pool may drop; the
             * goroutine may have moved to another processor), only that
             * it is one nobody else holds. Checked by the next Get. */
            short_spin((unsigned)(test_rand(&rng) % 64));
        }
        ops += k;
    }
    atomic_fetch_add(&pool_ops, ops);
    spin_end();
}

/* 4 goroutines per processor get 1-3 items, spin, put them back, for
 * WORK_S, never making a goc call other than the pool's; this goroutine
 * sleeps 10 ms at a time meanwhile. No item is held by two goroutines at
 * once, none is returned after it was dropped, and after goc_pool_destroy
 * every item made was freed exactly once. */
GTEST(pool_items_never_lost_or_duplicated_under_preemption) {
    int n = 4 * nprocs();
    atomic_store(&pool_all, NULL);
    atomic_store(&pool_made, 0);
    atomic_store(&pool_freed, 0);
    atomic_store(&pool_ops, 0);
    goc_pool_init(&pool, pitem_new, pitem_free);
    start_spinners(n, pool_worker, NULL, 0);
    struct probe p = probe_until_finished(n, 10 * MS, 10.0);
    stop_spinners();
    goc_pool_destroy(&pool);
    long made = atomic_load(&pool_made), freed = atomic_load(&pool_freed);
    test_note("%ld gets/puts by %d goroutines; %ld items made, %ld freed", atomic_load(&pool_ops),
              n, made, freed);
    long walked = 0;
    struct pitem *it = atomic_load(&pool_all);
    while (it) {
        struct pitem *next = it->all_next;
        CHECK_MSG(atomic_load(&it->held) == 0, "item %llu still held", (unsigned long long)it->tag);
        CHECK_MSG(atomic_load(&it->freed) == 1, "item %llu lost: never freed by the pool",
                  (unsigned long long)it->tag);
        free(it);
        walked++;
        it = next;
    }
    CHECK_EQ_INT(walked, made);
    CHECK_EQ_INT(freed, made);
    CHECK_GT_INT(atomic_load(&pool_ops), n);
    check_probe(&p, MIN_WAKES, "pool workers");
}

/* ---- the preempted goroutine's own state ---- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX_PART 1
typedef double v4d __attribute__((vector_size(32)));

/* The same counting loop with four doubles in one AVX register (the upper
 * two live only in the ymm register's upper half). */
__attribute__((target("avx"), noinline)) static uint64_t avx_spin(int64_t end, v4d *out) {
    v4d acc = {0, 0, 0, 0};
    const v4d inc = {0.5, 0.25, 2.0, 4.0};
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < 4096; k++) {
            __asm__ volatile("" : "+x"(acc));
            acc += inc;
            n++;
        }
        if (atomic_load_explicit(&stop, memory_order_relaxed) || now_ns() > end)
            break;
    }
    *out = acc;
    return n;
}
#else
#define HAVE_AVX_PART 0
#endif

struct regs_result {
    uint64_t n, sum, ds_n;
    double half, quarter, ds;
    uint64_t avx_n;
    double avx[4];
    int avx_ran;
};

/* sum_{i<n} i modulo 2^64 */
static uint64_t tri(uint64_t n) { return (n % 2 == 0) ? (n / 2) * (n - 1) : n * ((n - 1) / 2); }

/* sum_{i<n} (i & 1023), exact */
static uint64_t tri1024(uint64_t n) { return (n / 1024) * (1023 * 1024 / 2) + tri(n % 1024); }

/* Count in a plain local, with integer and double accumulators in
 * registers, for WORK_S; then (x86-64 with AVX) the same with a ymm
 * register. No atomics, no calls inside the inner loop. */
static void regs_spinner(void *arg) {
    struct regs_result *res = arg;
    spin_begin();
    int64_t end = now_ns() + (int64_t)(WORK_S * 1e9 * (HAVE_AVX_PART ? 0.5 : 1.0));
    uint64_t n = 0, sum = 0;
    double half = 0, quarter = 0, ds = 0;
    for (;;) {
        for (int k = 0; k < 4096; k++) {
            /* the compiler may not fold the loop: n is "changed" here */
            __asm__ volatile("" : "+r"(n));
            sum += n;
            ds += (double)(n & 1023);
            half += 0.5;
            quarter -= 0.25;
            n++;
        }
        if (now_ns() > end)
            break;
    }
    res->n = n;
    res->sum = sum;
    res->ds = ds;
    res->half = half;
    res->quarter = quarter;
#if HAVE_AVX_PART
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx")) {
        v4d acc;
        res->avx_n = avx_spin(end + (int64_t)(WORK_S * 0.5e9), &acc);
        for (int i = 0; i < 4; i++)
            res->avx[i] = acc[i];
        res->avx_ran = 1;
    }
#endif
    spin_end();
}

/* One spinner per processor counts for WORK_S in registers (integers, SSE
 * doubles, AVX) while this goroutine sleeps 10 ms at a time (so each is
 * preempted ~100 times); every result is exact. notsan: the inner loop has
 * no atomics and no calls. */
GTEST(spinner_registers_and_sse_avx_state_survive_preemption) {
    int n = nprocs();
    static struct regs_result res[8];
    CHECK(n <= 8);
    memset(res, 0, sizeof res);
    start_spinners(n, regs_spinner, res, sizeof res[0]);
    struct probe p = probe_until_finished(n, 10 * MS, 10.0);
    stop_spinners();
    for (int i = 0; i < n; i++) {
        struct regs_result *r = &res[i];
        test_note("spinner %d: %llu iterations, avx %llu", i, (unsigned long long)r->n,
                  (unsigned long long)r->avx_n);
        CHECK(r->n > 0 && r->n % 4096 == 0);
        CHECK_EQ_U64(r->sum, tri(r->n));
        CHECK_MSG(r->ds == (double)tri1024(r->n), "ds %.1f, want %llu", r->ds,
                  (unsigned long long)tri1024(r->n));
        CHECK_MSG(r->half == (double)r->n * 0.5, "half %.1f, want %.1f", r->half,
                  (double)r->n * 0.5);
        CHECK_MSG(r->quarter == (double)r->n * -0.25, "quarter %.2f, want %.2f", r->quarter,
                  (double)r->n * -0.25);
        if (r->avx_ran) {
            const double inc[4] = {0.5, 0.25, 2.0, 4.0};
            CHECK(r->avx_n > 0 && r->avx_n % 4096 == 0);
            for (int l = 0; l < 4; l++)
                CHECK_MSG(r->avx[l] == (double)r->avx_n * inc[l], "ymm lane %d: %.2f, want %.2f", l,
                          r->avx[l], (double)r->avx_n * inc[l]);
        }
    }
    check_probe(&p, MIN_WAKES, "register spinners");
}

struct id_slot {
    uint64_t before, after;
};

static void id_spinner(void *arg) {
    struct id_slot *s = arg;
    s->before = goc_id();
    spin_begin();
    spin_relaxed(now_ns() + (int64_t)(WORK_S * 1e9));
    spin_end();
    s->after = goc_id();
}

/* One spinner per processor notes goc_id(), spins WORK_S (preempted many
 * times, maybe resumed on other threads), and goc_id() afterwards is the
 * same, nonzero, and differs from every other goroutine's. */
GTEST(preempted_goroutine_keeps_its_goc_id) {
    int n = nprocs();
    static struct id_slot ids[8];
    CHECK(n <= 8);
    memset(ids, 0, sizeof ids);
    start_spinners(n, id_spinner, ids, sizeof ids[0]);
    struct probe p = probe_until_finished(n, 10 * MS, 10.0);
    stop_spinners();
    for (int i = 0; i < n; i++) {
        CHECK_NE_INT(ids[i].before, 0);
        CHECK_EQ_U64(ids[i].after, ids[i].before);
        CHECK_MSG(ids[i].before != goc_id(), "spinner %d has the main goroutine's id", i);
        for (int j = 0; j < i; j++)
            CHECK_MSG(ids[i].before != ids[j].before, "spinners %d and %d share id %llu", i, j,
                      (unsigned long long)ids[i].before);
    }
    check_probe(&p, MIN_WAKES, "id spinners");
}

/* errno only through fresh calls. glibc declares __errno_location const,
 * so the compiler may compute &errno once per function and keep it across
 * the spin (and across goc calls): after the goroutine moved to another
 * thread that address is the old thread's errno, which no runtime can fix.
 * These calls keep the address from outliving one access, so the case
 * checks only what the runtime can guarantee: the value. */
__attribute__((noinline)) static void clear_errno(void) { errno = 0; }
__attribute__((noinline)) static int fail_with_ebadf(void) { return close(-1); }
__attribute__((noinline)) static int read_errno(void) { return errno; }

struct errno_result {
    long rounds, wrong;
    int last_bad;
};

/* A C program's libc call sets errno; a long stretch of plain computation
 * may follow before errno is read. If the goroutine is switched out there
 * and resumes on another thread, its errno must come along (Go has no
 * errno; this is goc's own guarantee). */
static void errno_spinner(void *arg) {
    struct errno_result *res = arg;
    spin_begin();
    int64_t end = now_ns() + (int64_t)(WORK_S * 1e9);
    long rounds = 0, wrong = 0;
    uint64_t x = 1;
    while (now_ns() < end) {
        clear_errno();
        CHECK_EQ_INT(fail_with_ebadf(), -1);
        for (int k = 0; k < 200000; k++) {
            __asm__ volatile("" : "+r"(x));
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        }
        int e = read_errno();
        if (e != EBADF) {
            wrong++;
            res->last_bad = e;
        }
        rounds++;
    }
    res->rounds = rounds;
    res->wrong = wrong;
    spin_end();
}

/* One spinner per processor: close(-1) (errno EBADF), ~0.1-1 ms of plain
 * computation, then read errno: always EBADF, however often the spinner
 * was preempted (and moved) in between. notsan: no atomics in the spin. */
GTEST(errno_of_own_libc_call_survives_preemption_in_spin) {
    int n = nprocs();
    static struct errno_result res[8];
    CHECK(n <= 8);
    memset(res, 0, sizeof res);
    start_spinners(n, errno_spinner, res, sizeof res[0]);
    struct probe p = probe_until_finished(n, 10 * MS, 10.0);
    stop_spinners();
    for (int i = 0; i < n; i++) {
        test_note("errno spinner %d: %ld rounds, %ld with errno changed", i, res[i].rounds,
                  res[i].wrong);
        CHECK_GT_INT(res[i].rounds, 0);
        CHECK_MSG(res[i].wrong == 0,
                  "errno spinner %d: errno read %d (not EBADF) after the spin in %ld of %ld "
                  "rounds",
                  i, res[i].last_bad, res[i].wrong, res[i].rounds);
    }
    check_probe(&p, MIN_WAKES, "errno spinners");
}
