/* test_deadlock.c — the deadlock detector, goroutine dumps and SIGQUIT.
 *
 * Each report is produced by a child process (CHILD cases, run by
 * expect_child) whose stderr is matched against Go's shapes:
 *
 *   fatal error: all goroutines are asleep - deadlock!
 *
 *   goroutine 1 [chan receive, 0ms]:
 *   function(...)
 *   	/path/object+0x1d2 pc=0x...
 *
 * and the negative cases check that nothing is reported while anything
 * could still wake the program: a sleeping main goroutine, a pending
 * timer, a plain thread doing its own work, or a main goroutine that has
 * already returned. Each case is one behaviour; `test_deadlock --list`
 * names them. */
#include "testing.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS GOC_MILLISECOND

#define DEADLOCK_RE "^fatal error: all goroutines are asleep - deadlock!$"

/* ================================================================== */
/* Reported deadlocks                                                  */

__attribute__((noinline)) int goc_test_main_recv_unbuffered(void *arg);

__attribute__((noinline)) int goc_test_main_recv_unbuffered(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int x;
    goc_chan_recv(c, &x);
    return 1;
}

CHILD(main_recv_alone) { test_run_main(goc_test_main_recv_unbuffered); }

TEST(report_main_blocked_on_receive) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan receive, [0-9.]+(ms|s|minutes)\\]:$",
                  "goc_test_main_recv_unbuffered"},
    };
    char *err = expect_child_opts("main_recv_alone", &o);
    CHECK(!test_regex_match(err, "goc_run returned"));
    /* The report comes first, then the goroutine. */
    const char *f = strstr(err, "fatal error: all goroutines are asleep");
    const char *g = strstr(err, "goroutine 1 [");
    CHECK(f && g && f < g);
    CHECK_EQ_INT(test_count_dump_headers(err), 1);
    free(err);
}

static int main_send_unbuffered(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int x = 1;
    goc_chan_send(c, &x);
    return 1;
}

CHILD(main_send_alone) { test_run_main(main_send_unbuffered); }

TEST(report_main_blocked_on_send) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan send, [^]]*\\]:$"},
    };
    free(expect_child_opts("main_send_alone", &o));
}

/* A full buffer blocks too. */
static int main_send_full(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 2);
    for (int x = 0; x < 3; x++)
        goc_chan_send(c, &x);
    return 1;
}

CHILD(main_send_full_buffer) { test_run_main(main_send_full); }

TEST(report_main_blocked_on_full_buffer) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan send, [^]]*\\]:$"},
    };
    free(expect_child_opts("main_send_full_buffer", &o));
}

/* main waits on a WaitGroup for two workers that are blocked on each
 * other: A sends on ab (B would receive it after receiving on ba), B
 * receives on ba (A would send on it after its send on ab). */
struct pair {
    goc_chan *ab, *ba;
    goc_waitgroup *wg;
};

__attribute__((noinline)) void goc_test_worker_a(void *arg);
__attribute__((noinline)) void goc_test_worker_b(void *arg);

__attribute__((noinline)) void goc_test_worker_a(void *arg) {
    struct pair *p = arg;
    goc_set_name("worker-a");
    int x = 1;
    goc_chan_send(p->ab, &x);
    goc_chan_send(p->ba, &x);
    goc_wg_done(p->wg);
}

__attribute__((noinline)) void goc_test_worker_b(void *arg) {
    struct pair *p = arg;
    goc_set_name("worker-b");
    int x;
    goc_chan_recv(p->ba, &x);
    goc_chan_recv(p->ab, &x);
    goc_wg_done(p->wg);
}

__attribute__((noinline)) int goc_test_main_wg_two_workers(void *arg);

__attribute__((noinline)) int goc_test_main_wg_two_workers(void *arg) {
    (void)arg;
    static goc_waitgroup wg;
    static struct pair p;
    p.ab = goc_chan_make(sizeof(int), 0);
    p.ba = goc_chan_make(sizeof(int), 0);
    p.wg = &wg;
    goc_wg_add(&wg, 2);
    goc_go(goc_test_worker_a, &p);
    goc_go(goc_test_worker_b, &p);
    goc_wg_wait(&wg);
    return 1;
}

CHILD(all_blocked) { test_run_main(goc_test_main_wg_two_workers); }

TEST(report_lists_every_blocked_goroutine) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[sync\\.WaitGroup\\.Wait, [^]]*\\]:$",
                  "^goroutine [0-9]+ \"worker-a\" \\[chan send, [^]]*\\]:$",
                  "^goroutine [0-9]+ \"worker-b\" \\[chan receive, [^]]*\\]:$",
                  "goc_test_main_wg_two_workers", "goc_test_worker_a", "goc_test_worker_b"},
    };
    char *err = expect_child_opts("all_blocked", &o);
    CHECK_EQ_INT(test_count_dump_headers(err), 3);
    free(err);
}

static int main_select_no_cases(void *arg) {
    (void)arg;
    goc_select(NULL, 0);
    return 1;
}

CHILD(select_no_cases) { test_run_main(main_select_no_cases); }

TEST(report_select_no_cases) {
    expect_child("select_no_cases", TEST_FATAL_EXIT,
                 "^goroutine 1 \\[select \\(no cases\\), [^]]*\\]:$");
}

static int main_select_blocked(void *arg) {
    (void)arg;
    goc_chan *a = goc_chan_make(sizeof(int), 0), *b = goc_chan_make(sizeof(int), 0);
    int x = 0, y = 0;
    goc_case cs[] = {GOC_RECV(a, &x, NULL), GOC_SEND(b, &y), GOC_RECV(NULL, NULL, NULL)};
    goc_select(cs, 3);
    return 1;
}

CHILD(select_blocked) { test_run_main(main_select_blocked); }

TEST(report_select_blocked) {
    expect_child("select_blocked", TEST_FATAL_EXIT, "^goroutine 1 \\[select, [^]]*\\]:$");
}

static int main_recv_nil(void *arg) {
    (void)arg;
    int x;
    goc_chan_recv(NULL, &x);
    return 1;
}

CHILD(recv_nil) { test_run_main(main_recv_nil); }

TEST(report_receive_on_nil_channel) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan receive \\(nil chan\\), [^]]*\\]:$"},
    };
    free(expect_child_opts("recv_nil", &o));
}

static int main_send_nil(void *arg) {
    (void)arg;
    int x = 0;
    goc_chan_send(NULL, &x);
    return 1;
}

CHILD(send_nil) { test_run_main(main_send_nil); }

TEST(report_send_on_nil_channel) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan send \\(nil chan\\), [^]]*\\]:$"},
    };
    free(expect_child_opts("send_nil", &o));
}

/* Goroutines that blocked first, then main: all are listed. */
__attribute__((noinline)) void goc_test_block_on_recv(void *arg);

__attribute__((noinline)) void goc_test_block_on_recv(void *arg) {
    goc_chan_recv((goc_chan *)arg, NULL);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static int main_many_blocked(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(0, 0);
    for (int i = 0; i < 10; i++)
        goc_go(goc_test_block_on_recv, c);
    goc_sleep(20 * MS); /* a pending timer: not yet a deadlock */
    goc_chan_recv(c, NULL);
    return 1;
}

CHILD(many_blocked) { test_run_main(main_many_blocked); }

TEST(report_after_main_sleeps_then_blocks) {
    struct child_opts o = {
        .expect = TEST_FATAL_EXIT,
        .regex = {DEADLOCK_RE, "^goroutine 1 \\[chan receive, [^]]*\\]:$",
                  "goc_test_block_on_recv"},
    };
    char *err = expect_child_opts("many_blocked", &o);
    CHECK_EQ_INT(test_count_dump_headers(err), 11);
    free(err);
}

/* ================================================================== */
/* No false reports                                                    */

/* A channel nobody ever sends on. Global: reachable for LeakSanitizer at
 * exit (goroutine stacks are not scanned). */
static goc_chan *never;

static void block_forever(void *arg) {
    (void)arg;
    goc_chan_recv(never, NULL);
}

static void spawn_blocked(int n) {
    if (!never)
        never = goc_chan_make(0, 0);
    for (int i = 0; i < n; i++)
        TEST_GO(block_forever, NULL);
}

/* Every other goroutine is blocked for good, main sleeps: a pending timer. */
static int main_sleeps(void *arg) {
    (void)arg;
    spawn_blocked(3);
    goc_sleep(200 * MS);
    return 0;
}

CHILD(main_sleeping) { test_run_main(main_sleeps); }

static void expect_clean_exit(const char *child) {
    struct child_opts o = {.expect = 0, .regex = {"^goc_run returned 0$"}};
    char *err = expect_child_opts(child, &o);
    CHECK_MSG(!test_regex_match(err, "deadlock|fatal error|^goroutine "), "unexpected report:\n%s",
              err);
    free(err);
}

TEST(no_report_while_main_sleeps) { expect_clean_exit("main_sleeping"); }

/* main waits on a channel that a plain thread (not a goroutine) sends to
 * after doing its own work: that thread may still wake main. */
static void *plain_sender(void *arg) {
    test_sleep_ns(200 * MS);
    int x = 7;
    goc_chan_send((goc_chan *)arg, &x);
    goc_chan_release((goc_chan *)arg); /* the reference main gave this thread */
    return NULL;
}

static int main_waits_on_plain_thread(void *arg) {
    (void)arg;
    spawn_blocked(2);
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    CHECK_EQ_INT(pthread_detach(test_thread_start(plain_sender, goc_chan_retain(c))), 0);
    int x = 0;
    CHECK(goc_chan_recv(c, &x));
    CHECK_EQ_INT(x, 7);
    goc_chan_release(c);
    return 0;
}

CHILD(plain_thread_sender) { test_run_main(main_waits_on_plain_thread); }

TEST(no_report_while_plain_thread_works) { expect_clean_exit("plain_thread_sender"); }

/* main waits on a goc_after timer. */
static int main_waits_on_after(void *arg) {
    (void)arg;
    spawn_blocked(2);
    int64_t t0 = goc_now();
    goc_chan *c = goc_after(200 * MS);
    int64_t v = 0;
    CHECK(goc_chan_recv(c, &v));
    CHECK_GE_INT(v, t0 + 200 * MS);
    goc_chan_release(c);
    return 0;
}

CHILD(main_after) { test_run_main(main_waits_on_after); }

TEST(no_report_while_timer_pending) { expect_clean_exit("main_after"); }

/* main waits, over and over, on timers that are due at once or very soon,
 * so that they fire while main is parking and the last M goes idle: a
 * timer being fired still counts as something that will wake main. */
static int main_waits_on_firing_timers(void *arg) {
    (void)arg;
    spawn_blocked(2);
    /* A few seconds of it: each wait is a narrow window. */
    const int64_t until = goc_now() + 3 * GOC_SECOND;
    goc_timer *t = goc_timer_new(0);
    CHECK(t != NULL);
    while (goc_now() < until) {
        for (int i = 0; i < 500; i++) {
            goc_duration d = i % 3 == 0 ? 0 : (goc_duration)(i % 50) * GOC_MICROSECOND;
            goc_chan *c = goc_after(d);
            CHECK(c != NULL);
            CHECK(goc_chan_recv(c, NULL));
            goc_chan_release(c);
        }
        for (int i = 0; i < 200; i++) {
            CHECK(goc_chan_recv(goc_timer_chan(t), NULL));
            goc_timer_reset(t, (goc_duration)(i % 20) * GOC_MICROSECOND);
        }
        for (int i = 0; i < 200; i++)
            goc_sleep((goc_duration)(1 + i % 30) * GOC_MICROSECOND);
    }
    goc_timer_free(t);
    return 0;
}

CHILD(timers_firing) { test_run_main(main_waits_on_firing_timers); }

TEST(no_report_while_timers_fire) { expect_clean_exit("timers_firing"); }

/* main waits on a goroutine that sleeps, then sends. */
static void sleep_then_send(void *arg) {
    goc_sleep(200 * MS);
    int x = 3;
    goc_chan_send((goc_chan *)arg, &x);
    goc_chan_release((goc_chan *)arg);
}

static int main_waits_on_sleeper(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    TEST_GO(sleep_then_send, goc_chan_retain(c));
    int x = 0;
    CHECK(goc_chan_recv(c, &x));
    CHECK_EQ_INT(x, 3);
    goc_chan_release(c);
    return 0;
}

CHILD(goroutine_sleeper) { test_run_main(main_waits_on_sleeper); }

TEST(no_report_while_goroutine_sleeps) { expect_clean_exit("goroutine_sleeper"); }

/* main waits on an AfterFunc that will wake it. */
static void after_func_send(void *arg) {
    goc_chan_send((goc_chan *)arg, NULL);
    goc_chan_release((goc_chan *)arg);
}

static int main_waits_on_after_func(void *arg) {
    (void)arg;
    goc_chan *c = goc_chan_make(0, 0);
    goc_timer *t = goc_after_func(200 * MS, after_func_send, goc_chan_retain(c));
    CHECK(t != NULL);
    CHECK(goc_chan_recv(c, NULL));
    goc_timer_free(t);
    goc_chan_release(c);
    return 0;
}

CHILD(after_func_wakes) { test_run_main(main_waits_on_after_func); }

TEST(no_report_while_after_func_pending) { expect_clean_exit("after_func_wakes"); }

/* A goroutine blocked for good while main returns: goc_run returns and the
 * program goes on (and may wait) without a report. */
static int main_returns(void *arg) {
    (void)arg;
    spawn_blocked(3);
    goc_yield();
    return 0;
}

CHILD(blocked_after_main_returns) {
    test_run_main(main_returns);
    test_sleep_ns(200 * MS); /* time for a (wrong) report */
}

TEST(no_report_after_main_returned) { expect_clean_exit("blocked_after_main_returns"); }

/* Without goc_run there is no main goroutine: blocked goroutines are no
 * deadlock while the plain thread goes on. */
CHILD(no_main_goroutine) {
    spawn_blocked(3);
    test_sleep_ns(200 * MS);
    fprintf(stderr, "goc_run returned 0\n");
}

TEST(no_report_without_main_goroutine) { expect_clean_exit("no_main_goroutine"); }

/* ================================================================== */
/* goc_dump                                                            */

/* Non-static and not inlined so that the backtrace names it. */
__attribute__((noinline)) void goc_test_dump_blocked_in_recv(goc_chan *c);

__attribute__((noinline)) void goc_test_dump_blocked_in_recv(goc_chan *c) {
    int x = 0;
    goc_chan_recv(c, &x);
    __asm__ volatile("" : : "r"(&x) : "memory"); /* not a tail call */
}

struct dump_state {
    goc_chan *c;
    goc_waitgroup started, done;
    _Atomic uint64_t blocker_id, sleeper_id;
    atomic_int stop; /* ends dump_sleeper */
};

static void dump_blocker(void *arg) {
    struct dump_state *s = arg;
    goc_set_name("dump-blocker");
    atomic_store(&s->blocker_id, goc_id());
    goc_wg_done(&s->started);
    goc_test_dump_blocked_in_recv(s->c);
    goc_wg_done(&s->done);
}

static void dump_sleeper(void *arg) {
    struct dump_state *s = arg;
    atomic_store(&s->sleeper_id, goc_id());
    goc_wg_done(&s->started);
    while (!atomic_load(&s->stop))
        goc_sleep(20 * MS);
    goc_wg_done(&s->done);
}

/* The header line of goroutine id in a dump, or NULL. */
static const char *find_header(const char *dump, uint64_t id) {
    char pat[64];
    snprintf(pat, sizeof pat, "goroutine %llu ", (unsigned long long)id);
    for (const char *p = dump; (p = strstr(p, pat)) != NULL; p++)
        if (p == dump || p[-1] == '\n')
            return p;
    return NULL;
}

/* The milliseconds shown in a header's "[reason, <duration>]". */
static double header_wait_ms(const char *header) {
    const char *comma = strchr(header, ',');
    const char *end = strchr(header, '\n');
    CHECK(comma && (!end || comma < end));
    double v = 0;
    char unit[16] = "";
    CHECK_EQ_INT(sscanf(comma + 1, " %lf%15[a-z]", &v, unit), 2);
    if (strcmp(unit, "ms") == 0)
        return v;
    if (strcmp(unit, "s") == 0)
        return v * 1e3;
    if (strcmp(unit, "minutes") == 0)
        return v * 60e3;
    FAIL("unknown duration unit \"%s\"", unit);
}

static bool dump_ready(const char *d) {
    return test_regex_match(d, "^goroutine [0-9]+ \"dump-blocker\" \\[chan receive, ") &&
           test_regex_match(d, "^goroutine [0-9]+ \\[sleep, ");
}

GTEST(dump_lists_goroutines_with_state_and_backtrace) {
    static struct dump_state s;
    s.c = goc_chan_make(sizeof(int), 0);
    goc_set_name("dump-main");
    goc_wg_add(&s.started, 2);
    goc_wg_add(&s.done, 2);
    TEST_GO(dump_blocker, &s);
    TEST_GO(dump_sleeper, &s);
    goc_wg_wait(&s.started);
    goc_sleep(300 * MS);
    char *d = NULL;
    test_deadline dl = test_deadline_in(TEST_PATIENCE_S);
    for (;;) {
        d = test_dump();
        if (dump_ready(d) || test_deadline_passed(&dl))
            break;
        free(d);
        goc_sleep(10 * MS);
    }
    CHECK_MSG(dump_ready(d), "dump:\n%s", d);

    /* The blocked goroutine: id, name, reason, how long, and where. */
    const char *hb = find_header(d, atomic_load(&s.blocker_id));
    CHECK_MSG(hb, "no goroutine %llu in the dump:\n%s", (unsigned long long)s.blocker_id, d);
    CHECK_MSG(test_regex_match(hb, "^goroutine [0-9]+ \"dump-blocker\" \\[chan receive, "
                                   "[0-9.]+(ms|s|minutes)\\]:$"),
              "dump:\n%s", d);
    double waited = header_wait_ms(hb);
    CHECK_MSG(waited >= 250 && waited < 60e3, "blocked for %g ms, shown as such:\n%s", waited, d);
    /* Its backtrace (the lines after its header) names the blocked function. */
    const char *next = strstr(hb + 1, "\ngoroutine ");
    const char *fn = strstr(hb, "goc_test_dump_blocked_in_recv");
    CHECK_MSG(fn && (!next || fn < next), "no goc_test_dump_blocked_in_recv frame:\n%s", d);

    const char *hs = find_header(d, atomic_load(&s.sleeper_id));
    CHECK_MSG(hs && test_regex_match(hs, "^goroutine [0-9]+ \\[sleep, [^]]*\\]:$"), "dump:\n%s", d);
    /* The dumping goroutine itself, running, under its name. */
    const char *hm = find_header(d, goc_id());
    CHECK_MSG(hm && test_regex_match(hm, "^goroutine [0-9]+ \"dump-main\" \\[running\\]:$"),
              "dump:\n%s", d);
    /* Frames look like Go's: "function(...)" then an indented location. */
    CHECK(test_regex_match(d, "^goc_test_dump_blocked_in_recv\\(\\.\\.\\.\\)$"));
    CHECK(test_regex_match(d, "^\t[^ ]+\\+0x[0-9a-f]+ pc=0x[0-9a-f]+"));
    free(d);

    int x = 1;
    goc_chan_send(s.c, &x);
    atomic_store(&s.stop, 1);
    goc_wg_wait(&s.done);
    goc_chan_release(s.c);
}

/* goc_dump from a plain thread lists the goroutines too. */
static atomic_int named_blocker_started;

static void named_blocker(void *arg) {
    goc_set_name("plain-dump-blocker");
    atomic_store(&named_blocker_started, 1);
    goc_test_dump_blocked_in_recv((goc_chan *)arg);
}

TEST(dump_from_plain_thread) {
    int base = goc_num_goroutine();
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    TEST_GO(named_blocker, c);
    /* Dump once it is (about to be) parked: dumps of goroutines in the middle
     * of a switch are not what this case is about. */
    WAIT_UNTIL(atomic_load(&named_blocker_started), TEST_PATIENCE_S);
    test_sleep_ns(50 * MS);
    char *d = NULL;
    test_deadline dl = test_deadline_in(TEST_PATIENCE_S);
    const char *re = "^goroutine [0-9]+ \"plain-dump-blocker\" \\[chan receive, [^]]*\\]:$";
    for (;;) {
        d = test_dump();
        if (test_regex_match(d, re) || test_deadline_passed(&dl))
            break;
        free(d);
        test_sleep_ns(5 * MS);
    }
    CHECK_MSG(test_regex_match(d, re), "dump:\n%s", d);
    CHECK_MSG(strstr(d, "goc_test_dump_blocked_in_recv"), "dump:\n%s", d);
    free(d);
    int x = 1;
    goc_chan_send(c, &x);
    test_settle_goroutines(base);
    goc_chan_release(c);
}

/* ================================================================== */
/* SIGQUIT                                                             */

static int main_sigquit(void *arg) {
    (void)arg;
    static struct dump_state s;
    s.c = goc_chan_make(sizeof(int), 0);
    goc_wg_add(&s.started, 2);
    goc_wg_add(&s.done, 1);
    TEST_GO(dump_blocker, &s);
    TEST_GO(dump_sleeper, &s);
    goc_wg_wait(&s.started);
    goc_sleep(50 * MS);
    kill(getpid(), SIGQUIT);
    goc_sleep(30 * GOC_SECOND); /* the handler exits first */
    return 1;
}

CHILD(sigquit) { test_run_main(main_sigquit); }

TEST(sigquit_dumps_goroutines_and_exits_2) {
    struct child_opts o = {
        .expect = 2,
        .regex = {"^SIGQUIT: quit$",
                  "^goroutine [0-9]+ \"dump-blocker\" \\[chan receive, [^]]*\\]:$",
                  "^goroutine [0-9]+ \\[sleep, [^]]*\\]:$", "goc_test_dump_blocked_in_recv",
                  /* main has parked in its sleep, or is just getting there */
                  "^goroutine 1 \\[(sleep, [^]]*|running)\\]:$"},
    };
    char *err = expect_child_opts("sigquit", &o);
    CHECK(!test_regex_match(err, "goc_run returned"));
    const char *q = strstr(err, "SIGQUIT: quit");
    const char *g = strstr(err, "\ngoroutine ");
    CHECK(q && g && q < g);
    free(err);
}

/* SIGQUIT from a plain thread while the runtime idles. */
CHILD(sigquit_idle) {
    static struct dump_state s;
    s.c = goc_chan_make(sizeof(int), 0);
    goc_wg_add(&s.started, 1);
    TEST_GO(dump_blocker, &s);
    goc_wg_wait(&s.started);
    test_sleep_ns(50 * MS);
    kill(getpid(), SIGQUIT);
    test_sleep_ns(30 * GOC_SECOND);
    fprintf(stderr, "SIGQUIT did not end the program\n");
}

TEST(sigquit_while_idle) {
    struct child_opts o = {
        .expect = 2,
        .regex = {"^SIGQUIT: quit$",
                  "^goroutine [0-9]+ \"dump-blocker\" \\[chan receive, [^]]*\\]:$"},
    };
    free(expect_child_opts("sigquit_idle", &o));
}
