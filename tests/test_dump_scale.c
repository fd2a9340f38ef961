/* test_dump_scale.c — goc_dump of many goroutines while the program goes on.
 *
 * goc_dump copies the goroutines under the all-goroutines lock and unwinds,
 * names and writes them after releasing it (src/diag/dump.c). These cases
 * check what that promises: every parked goroutine is listed with its
 * frames; spawning goroutines goes on while a dump waits for a slow reader;
 * goroutines with custom-size stacks may exit (and their stacks be
 * unmapped) while dumps unwind them, without a crash and without keeping
 * the stacks mapped once the dumps are done. */
#include "testing.h"

#include "stack/stack.h" /* gstack_custom_mapped */

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS GOC_MILLISECOND

static void sleep_plain_ns(int64_t ns) {
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Count the lines that start with `prefix`. */
static int count_lines(const char *text, const char *prefix) {
    int n = 0;
    size_t k = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, k) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* N goroutines parked on one channel                                  */

struct herd {
    goc_chan *c;
    atomic_int arrived;
    goc_waitgroup done;
};

/* Non-static and not inlined so that the backtrace names it. */
__attribute__((noinline)) void goc_test_dump_scale_parked(struct herd *h);

__attribute__((noinline)) void goc_test_dump_scale_parked(struct herd *h) {
    atomic_fetch_add(&h->arrived, 1);
    goc_chan_recv(h->c, NULL);
    __asm__ volatile("" : : "r"(h) : "memory"); /* not a tail call */
}

static void herd_member(void *arg) {
    struct herd *h = arg;
    goc_test_dump_scale_parked(h);
    goc_wg_done(&h->done);
}

static void herd_start(struct herd *h, int n) {
    h->c = goc_chan_make(0, 0);
    CHECK(h->c != NULL);
    atomic_store(&h->arrived, 0);
    goc_wg_add(&h->done, n);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(goc_go(herd_member, h), 0);
    WAIT_UNTIL(atomic_load(&h->arrived) == n, TEST_PATIENCE_S);
}

static void herd_release(struct herd *h) {
    goc_chan_close(h->c);
    goc_wg_wait(&h->done);
    goc_chan_release(h->c);
}

/* Every parked goroutine is listed, in its wait, with the function it
 * parked in. */
GTEST(dump_lists_every_parked_goroutine) {
    enum { N = TEST_SCALE(10000, 2000) };
    static struct herd h;
    herd_start(&h, N);
    char *d = NULL;
    test_deadline dl = test_deadline_in(TEST_PATIENCE_S);
    for (;;) {
        /* The last ones to arrive may still be on their way into the park. */
        d = test_dump();
        if (count_lines(d, "goc_test_dump_scale_parked(...)") == N || test_deadline_passed(&dl))
            break;
        free(d);
        goc_sleep(10 * MS);
    }
    CHECK_EQ_INT(count_lines(d, "goc_test_dump_scale_parked(...)"), N);
    CHECK_GE_INT(test_count_dump_headers(d), N + 1);
    CHECK_GE_INT(count_lines(d, "goroutine "), N + 1);
    CHECK(test_regex_match(d, "^goroutine [0-9]+ \\[chan receive, [0-9.]+(ms|s|minutes)\\]:$"));
    /* Frames in Go's shape, and the dumping goroutine itself. */
    CHECK(test_regex_match(d, "^\t[^ ]+\\+0x[0-9a-f]+ pc=0x[0-9a-f]+"));
    char re[64];
    snprintf(re, sizeof re, "^goroutine %llu \\[running\\]:$", (unsigned long long)goc_id());
    CHECK_MSG(test_regex_match(d, re), "no running goroutine %llu", (unsigned long long)goc_id());
    free(d);
    herd_release(&h);
}

/* ------------------------------------------------------------------ */
/* Spawns go on while a dump waits for a slow reader                   */

static struct {
    int pipe[2];
    atomic_int first_read; /* the reader has the dump's first bytes */
    atomic_long spawned;   /* goroutines spawned since then that have run */
    atomic_int stop;       /* ends the spawner */
    atomic_int dump_done;  /* goc_dump has returned */
    atomic_int progressed; /* 100 spawns while the dump was blocked in write */
    char *text;            /* what the reader received */
    size_t len;
    goc_chan *hold; /* the spawned goroutines wait here */
    goc_waitgroup spawned_done;
} slow;

static void spawned_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&slow.spawned, 1);
    goc_chan_recv(slow.hold, NULL); /* stays alive: the next spawn needs a new g */
    goc_wg_done(&slow.spawned_done);
}

/* From the dump's first bytes on, spawns goroutines that stay alive (so
 * that spawning allocates new gs, under the all-goroutines lock), up to
 * a bound. */
static void spawner(void *arg) {
    goc_waitgroup *wg = arg;
    long n = 0;
    while (!atomic_load(&slow.stop)) {
        if (!atomic_load(&slow.first_read) || n >= 2000) {
            goc_sleep(1 * MS);
            continue;
        }
        goc_wg_add(&slow.spawned_done, 1);
        CHECK_EQ_INT(goc_go(spawned_fn, NULL), 0);
        n++;
        goc_yield();
    }
    goc_wg_done(wg);
}

static void *dumper_thread(void *arg) {
    (void)arg;
    goc_dump(slow.pipe[1]);
    atomic_store(&slow.dump_done, 1);
    close(slow.pipe[1]);
    return NULL;
}

/* Reads one chunk, then nothing until 100 goroutines have been spawned (or
 * 10 s have passed), then the rest at full speed. The dump is much larger
 * than the pipe's buffer: until then the dumper blocks in write. */
static void *slow_reader(void *arg) {
    (void)arg;
    size_t cap = 1 << 20;
    slow.text = malloc(cap);
    CHECK(slow.text != NULL);
    ssize_t k = read(slow.pipe[0], slow.text, 4096);
    CHECK(k > 0);
    slow.len = (size_t)k;
    atomic_store(&slow.first_read, 1);
    test_deadline dl = test_deadline_in(10.0);
    while (atomic_load(&slow.spawned) < 100 && !test_deadline_passed(&dl))
        sleep_plain_ns(1 * MS);
    atomic_store(&slow.progressed,
                 atomic_load(&slow.spawned) >= 100 && !atomic_load(&slow.dump_done));
    for (;;) {
        if (slow.len + 65536 > cap) {
            cap *= 2;
            slow.text = realloc(slow.text, cap);
            CHECK(slow.text != NULL);
        }
        k = read(slow.pipe[0], slow.text + slow.len, cap - slow.len - 1);
        CHECK(k >= 0);
        if (k == 0)
            break;
        slow.len += (size_t)k;
    }
    slow.text[slow.len] = '\0';
    return NULL;
}

GTEST(spawns_go_on_while_dump_writes_to_slow_reader) {
    enum { N = TEST_SCALE(5000, 1000) };
    static struct herd h;
    herd_start(&h, N);
    slow.hold = goc_chan_make(0, 0);
    CHECK(slow.hold != NULL);
    CHECK_EQ_INT(pipe(slow.pipe), 0);

    goc_waitgroup spawner_done = {0};
    goc_wg_add(&spawner_done, 1);
    CHECK_EQ_INT(goc_go(spawner, &spawner_done), 0);

    pthread_t dt, rt;
    CHECK_EQ_INT(pthread_create(&rt, NULL, slow_reader, NULL), 0);
    CHECK_EQ_INT(pthread_create(&dt, NULL, dumper_thread, NULL), 0);
    WAIT_UNTIL(atomic_load(&slow.dump_done), TEST_PATIENCE_S);
    CHECK_EQ_INT(pthread_join(dt, NULL), 0);
    CHECK_EQ_INT(pthread_join(rt, NULL), 0);
    atomic_store(&slow.stop, 1);
    goc_wg_wait(&spawner_done);

    CHECK_MSG(atomic_load(&slow.progressed),
              "spawns stalled while the dump waited for its reader (%ld spawned by now)",
              (long)atomic_load(&slow.spawned));
    CHECK_GE_INT(test_count_dump_headers(slow.text), N);
    CHECK_GE_INT(count_lines(slow.text, "goc_test_dump_scale_parked(...)"), N - 64);
    free(slow.text);
    close(slow.pipe[0]);

    goc_chan_close(slow.hold);
    goc_wg_wait(&slow.spawned_done);
    goc_chan_release(slow.hold);
    herd_release(&h);
}

/* ------------------------------------------------------------------ */
/* Custom-size stacks unmapped while dumps unwind them                 */

enum { CUSTOM_STACK = 128 * 1024 };       /* not the default size: its own mapping */
enum { B_CUSTOM = TEST_SCALE(400, 100) }; /* goroutines per churner round */

static struct {
    atomic_int stop;
    atomic_long dumps, rounds;
    atomic_size_t most_mapped; /* gstack_custom_mapped() with a round's herd parked */
} churn;

/* A few frames deep, so that unwinding reads up the stack. */
__attribute__((noinline)) static void deep_park(struct herd *h, int depth) {
    if (depth > 0) {
        deep_park(h, depth - 1);
        __asm__ volatile("" : : "r"(h) : "memory");
        return;
    }
    goc_test_dump_scale_parked(h);
}

static void custom_member(void *arg) {
    struct herd *h = *(struct herd **)arg;
    deep_park(h, 8);
    goc_wg_done(&h->done);
}

/* Rounds of B custom-stack goroutines: all park, then all exit at once. */
static void churner(void *arg) {
    goc_waitgroup *wg = arg;
    enum { B = B_CUSTOM };
    struct herd h = {0};
    while (!atomic_load(&churn.stop)) {
        h.c = goc_chan_make(0, 0);
        CHECK(h.c != NULL);
        atomic_store(&h.arrived, 0);
        goc_wg_add(&h.done, B);
        struct herd *hp = &h;
        for (int i = 0; i < B; i++)
            CHECK_EQ_INT(goc_go_sized(custom_member, &hp, sizeof hp, CUSTOM_STACK), 0);
        while (atomic_load(&h.arrived) < B)
            goc_yield();
        size_t mapped = gstack_custom_mapped(), most = atomic_load(&churn.most_mapped);
        while (mapped > most && !atomic_compare_exchange_weak(&churn.most_mapped, &most, mapped)) {
        }
        goc_chan_close(h.c); /* every one exits, its stack unmapped */
        goc_wg_wait(&h.done);
        goc_chan_release(h.c);
        atomic_fetch_add(&churn.rounds, 1);
    }
    goc_wg_done(wg);
}

static void *dump_loop(void *arg) {
    int fd = *(int *)arg;
    while (!atomic_load(&churn.stop)) {
        goc_dump(fd);
        atomic_fetch_add(&churn.dumps, 1);
    }
    return NULL;
}

GTEST(dump_while_custom_stack_goroutines_exit) {
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    /* Two dumpers (dumps overlap: stacks stay pinned until the last one
     * is done), started and warmed up before the baseline is taken. */
    enum { DUMPERS = 2 };
    pthread_t th[DUMPERS];
    for (int i = 0; i < DUMPERS; i++)
        CHECK_EQ_INT(pthread_create(&th[i], NULL, dump_loop, &fd), 0);
    WAIT_UNTIL(atomic_load(&churn.dumps) >= 4, TEST_PATIENCE_S);
    size_t before = gstack_custom_mapped();

    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 2);
    CHECK_EQ_INT(goc_go(churner, &wg), 0);
    CHECK_EQ_INT(goc_go(churner, &wg), 0);
    long d0 = atomic_load(&churn.dumps);
    int64_t end = test_now_ns() + TEST_SCALE(1500, 3000) * (int64_t)MS;
    while (test_now_ns() < end || atomic_load(&churn.rounds) < 10 ||
           atomic_load(&churn.dumps) < d0 + 10)
        goc_sleep(10 * MS);
    atomic_store(&churn.stop, 1);
    goc_wg_wait(&wg);
    for (int i = 0; i < DUMPERS; i++)
        CHECK_EQ_INT(pthread_join(th[i], NULL), 0);
    close(fd);

    /* The dumps are over, so every stack freed during one has been unmapped;
     * the runtime's count of mapped custom-size stacks must come back to
     * where it was. (Not VmSize: new threads' malloc arenas reserve 64 MiB
     * of it each.) Wait for that first: the last members call goc_wg_done
     * before they exit, and a stack goes only at its goroutine's exit. A
     * stack left mapped keeps the count up and fails the check below. */
    WAIT_FOR(gstack_custom_mapped() == before, TEST_PATIENCE_S);
    size_t after = gstack_custom_mapped();
    test_note(
        "%ld rounds of custom-stack goroutines, %ld dumps; custom stacks mapped %zu -> %zu bytes",
        (long)atomic_load(&churn.rounds), (long)atomic_load(&churn.dumps), before, after);
    CHECK_GE_INT((long)atomic_load(&churn.most_mapped), (long)before + B_CUSTOM * CUSTOM_STACK);
    CHECK_EQ_INT((long)after, (long)before);
}
