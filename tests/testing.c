/* testing.c — the goc test harness: case table, main(), death tests, and
 * the helpers the test programs share. See testing.h. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- registry ---- */

static struct test_case *cases_head, **cases_tail = &cases_head;
static char self_exe[4096];
static const char *argv0 = "test";

void test_register(struct test_case *tc) {
    tc->next = NULL;
    *cases_tail = tc;
    cases_tail = &tc->next;
}

static struct test_case *find_case(const char *name, bool child) {
    for (struct test_case *tc = cases_head; tc; tc = tc->next)
        if (tc->child == child && strcmp(tc->name, name) == 0)
            return tc;
    return NULL;
}

/* ---- failures ---- */

void test_fail(const char *file, int line, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned long long gid = (unsigned long long)goc_id();
    /* One write, so that concurrent failures do not interleave. */
    char out[2300];
    int n;
    if (gid)
        n = snprintf(out, sizeof out, "%s:%d: FAIL (goroutine %llu): %s\n", file, line, gid, msg);
    else
        n = snprintf(out, sizeof out, "%s:%d: FAIL (thread %ld): %s\n", file, line, test_gettid(),
                     msg);
    if (n > (int)sizeof out - 1)
        n = (int)sizeof out - 1;
    fflush(stdout);
    ssize_t w = write(2, out, (size_t)n);
    (void)w;
    _exit(1);
}

bool test_str_eq_(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void test_note(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("note: %s\n", msg);
    fflush(stdout);
}

/* ---- running ---- */

int run_in_goc(int (*fn)(void *), void *arg) { return goc_run(fn, arg); }

/* ---- threads and time ---- */

long test_gettid(void) { return (long)syscall(SYS_gettid); }

int test_cpu(void) { return sched_getcpu(); }

int test_ncpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int64_t test_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

test_deadline test_deadline_in(double seconds) {
    test_deadline d = {test_now_ns() + (int64_t)(seconds * 1e9), 0};
    return d;
}

bool test_deadline_passed(const test_deadline *d) { return test_now_ns() >= d->end; }

void test_pause(test_deadline *d) {
    d->spins++;
    goc_yield();
    if ((d->spins & 63) == 0) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
}

void test_sleep_ns(int64_t ns) {
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- goroutines and plain threads ---- */

pthread_t test_thread_start(void *(*fn)(void *), void *arg) {
    pthread_t th;
    int rc = pthread_create(&th, NULL, fn, arg);
    CHECK_MSG(rc == 0, "pthread_create: %s", strerror(rc));
    return th;
}

void test_thread_join(pthread_t th) {
    int rc = pthread_join(th, NULL);
    CHECK_MSG(rc == 0, "pthread_join: %s", strerror(rc));
}

static void group_goroutine(void *p) {
    struct test_group_call *c = p;
    goc_wg_done(c->started);
    c->fn(c->arg);
    goc_wg_done(c->wg);
}

void test_group_go(test_group *g, int n, void (*fn)(void *), void *arg) {
    goc_wg_add(&g->started, n);
    goc_wg_add(&g->wg, n);
    for (int i = 0; i < n; i++)
        TEST_GO_ARGS(group_goroutine, struct test_group_call, fn, arg, &g->started, &g->wg);
}

static void *group_thread(void *p) {
    struct test_group_call *c = p;
    c->fn(c->arg);
    return NULL;
}

void test_group_thread(test_group *g, int n, void (*fn)(void *), void *arg) {
    for (int i = 0; i < n; i++) {
        CHECK_MSG(g->nthreads < TEST_GROUP_MAX_THREADS, "test_group: more than %d threads",
                  TEST_GROUP_MAX_THREADS);
        struct test_group_call *c = &g->call[g->nthreads];
        *c = (struct test_group_call){fn, arg, NULL, NULL};
        g->th[g->nthreads++] = test_thread_start(group_thread, c);
    }
}

void test_group_wait_started(test_group *g) { goc_wg_wait(&g->started); }

void test_group_wait(test_group *g) {
    goc_wg_wait(&g->wg);
    for (int i = 0; i < g->nthreads; i++)
        test_thread_join(g->th[i]);
    g->nthreads = 0;
}

void test_count(void *counter) { atomic_fetch_add((atomic_long *)counter, 1); }

int test_run_main(int (*fn)(void *)) {
    int rc = goc_run(fn, NULL);
    fprintf(stderr, "goc_run returned %d\n", rc);
    return rc;
}

void test_atomic_max(atomic_long *max, long v) {
    long m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v)) {
    }
}

/* ---- waiting for goroutines ---- */

void test_settle_goroutines(int want) { WAIT_UNTIL(goc_num_goroutine() == want, TEST_PATIENCE_S); }

void test_let_others_run(void) {
    for (int i = 0; i < 1000; i++)
        goc_yield();
    goc_sleep(20 * GOC_MILLISECOND);
    for (int i = 0; i < 200; i++)
        goc_yield();
}

void test_check_stays_blocked(atomic_int *started, atomic_int *finished) {
    WAIT_UNTIL(atomic_load(started) == 1, TEST_PATIENCE_S);
    test_let_others_run();
    CHECK_EQ_INT(atomic_load(finished), 0);
}

struct wg_closer {
    goc_waitgroup *wg;
    goc_chan *fin;
};

static void wg_closer_fn(void *arg) {
    struct wg_closer *w = arg;
    goc_wg_wait(w->wg);
    goc_chan_close(w->fin);
    goc_chan_release(w->fin);
}

void test_wg_wait_bounded(goc_waitgroup *wg, double seconds, const char *what) {
    goc_chan *fin = test_chan_make(0, 0);
    TEST_GO_ARGS(wg_closer_fn, struct wg_closer, wg, goc_chan_retain(fin));
    goc_chan *t = goc_after((goc_duration)(seconds * 1e9));
    CHECK(t != NULL);
    goc_case cs[] = {GOC_RECV(fin, NULL, NULL), GOC_RECV(t, NULL, NULL)};
    int i = goc_select(cs, 2);
    if (i != 0) {
        goc_dump(2);
        FAIL("%s: not finished after %g s (deadlock?)", what, seconds);
    }
    goc_chan_release(t);
    goc_chan_release(fin);
}

char *test_read_and_close(FILE *f) {
    long n = lseek(fileno(f), 0, SEEK_END);
    CHECK(n >= 0);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK_EQ_INT(pread(fileno(f), buf, (size_t)n, 0), n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

char *test_dump(void) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    goc_dump(fileno(f));
    return test_read_and_close(f);
}

int test_count_dump_headers(const char *text) {
    int n = 0;
    for (const char *p = text; p && *p;) {
        if (strncmp(p, "goroutine ", 10) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

int test_count_parked(const char *reason) {
    char *buf = test_dump();
    char pat[64];
    snprintf(pat, sizeof pat, "[%s,", reason);
    int count = 0;
    for (const char *p = buf; (p = strstr(p, pat)) != NULL; p++)
        count++;
    free(buf);
    return count;
}

/* ---- channels, producers and consumers ---- */

goc_chan *test_chan_make(size_t elem_size, size_t cap) {
    goc_chan *c = goc_chan_make(elem_size, cap);
    CHECK_MSG(c != NULL, "goc_chan_make(%zu, %zu) failed", elem_size, cap);
    return c;
}

int test_try_recv(goc_chan *c, void *out) {
    goc_case cs[] = {GOC_RECV(c, out, NULL)};
    return goc_select_try(cs, 1);
}

int test_try_send(goc_chan *c, const void *v) {
    goc_case cs[] = {GOC_SEND(c, v)};
    return goc_select_try(cs, 1);
}

void test_send_seq(goc_chan *c, long from, long n) {
    for (long i = 0; i < n; i++) {
        long v = from + i;
        goc_chan_send(c, &v);
    }
}

struct seq_sender {
    goc_chan *c;
    long from, n;
    bool close_after;
    goc_waitgroup *wg;
};

static void seq_sender_fn(void *arg) {
    struct seq_sender *s = arg;
    test_send_seq(s->c, s->from, s->n);
    if (s->close_after)
        goc_chan_close(s->c);
    if (s->wg)
        goc_wg_done(s->wg);
}

void test_go_send_seq(goc_chan *c, long from, long n, bool close_after, goc_waitgroup *wg) {
    TEST_GO_ARGS(seq_sender_fn, struct seq_sender, c, from, n, close_after, wg);
}

struct closer {
    goc_waitgroup *wg;
    goc_chan *chans[8];
    int n;
};

static void closer_fn(void *arg) {
    struct closer *k = arg;
    goc_wg_wait(k->wg);
    for (int i = 0; i < k->n; i++)
        goc_chan_close(k->chans[i]);
}

void test_go_close_after_wait(goc_waitgroup *wg, goc_chan *const *chans, int n) {
    struct closer k = {.wg = wg, .n = n};
    CHECK(n >= 0 && n <= 8);
    for (int i = 0; i < n; i++)
        k.chans[i] = chans[i];
    CHECK_EQ_INT(goc_go_args(closer_fn, &k, sizeof k), 0);
}

void test_tally_init(test_tally *t, long n) {
    t->n = n;
    t->seen = calloc(n > 0 ? (size_t)n : 1, sizeof *t->seen);
    CHECK(t->seen != NULL);
    atomic_store(&t->count, 0);
    atomic_store(&t->sum, 0);
}

void test_tally_take(test_tally *t, long v) {
    CHECK_MSG(v >= 0 && v < t->n, "value %ld out of range", v);
    CHECK_MSG(atomic_fetch_add(&t->seen[v], 1) == 0, "value %ld received twice", v);
    atomic_fetch_add(&t->count, 1);
    atomic_fetch_add(&t->sum, v);
}

void test_tally_check(test_tally *t) {
    CHECK_EQ_INT(atomic_load(&t->count), t->n);
    CHECK_EQ_INT(atomic_load(&t->sum), t->n * (t->n - 1) / 2);
    for (long i = 0; i < t->n; i++)
        CHECK_MSG(atomic_load(&t->seen[i]) == 1, "value %ld received %d times", i,
                  (int)atomic_load(&t->seen[i]));
    free(t->seen);
    t->seen = NULL;
}

long test_recv_tally(goc_chan *c, test_tally *t) {
    long v, got = 0;
    while (goc_chan_recv(c, &v)) {
        test_tally_take(t, v);
        got++;
    }
    return got;
}

static unsigned char big_byte(uint64_t seq, size_t j) {
    return (unsigned char)(seq * 31 + j * 7 + (j >> 8));
}

void test_big_fill(struct test_big *b, uint64_t seq) {
    b->seq = seq;
    for (size_t j = 0; j < sizeof b->bytes; j++)
        b->bytes[j] = big_byte(seq, j);
}

void test_big_check(const struct test_big *b, uint64_t seq) {
    CHECK_EQ_U64(b->seq, seq);
    for (size_t j = 0; j < sizeof b->bytes; j++)
        CHECK_MSG(b->bytes[j] == big_byte(seq, j), "element %llu byte %zu corrupted",
                  (unsigned long long)seq, j);
}

/* ---- random numbers ---- */

uint64_t test_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

uint64_t test_rand_seed(uint64_t salt) {
    uint64_t s = (uint64_t)test_now_ns() ^ (salt * 0x9E3779B97F4A7C15ULL);
    return s ? s : 1;
}

/* ---- contexts ---- */

bool test_ctx_done_closed(goc_ctx *c) {
    goc_chan *d = goc_ctx_done(c);
    if (!d)
        return false;
    bool ok = true;
    goc_case cs[] = {GOC_RECV(d, NULL, &ok)};
    return goc_select_try(cs, 1) == 0 && !ok;
}

bool test_ctx_done_open(goc_ctx *c) {
    goc_chan *d = goc_ctx_done(c);
    return d && test_try_recv(d, NULL) == -1;
}

struct delayed_cancel {
    goc_ctx *ctx; /* a reference of its own */
    goc_duration after;
};

static void delayed_cancel_fn(void *arg) {
    struct delayed_cancel *d = arg;
    goc_sleep(d->after);
    goc_ctx_cancel_cause(d->ctx, 0);
    goc_ctx_release(d->ctx);
}

void test_cancel_later(goc_ctx *c, goc_duration after) {
    TEST_GO_ARGS(delayed_cancel_fn, struct delayed_cancel, goc_ctx_retain(c), after);
}

/* ---- regexes ---- */

bool test_regex_match(const char *text, const char *re) {
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
    if (rc != 0) {
        char err[256];
        regerror(rc, &rx, err, sizeof err);
        FAIL("bad regex \"%s\": %s", re, err);
    }
    bool ok = regexec(&rx, text, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* ---- death tests ---- */

static bool env_name_eq(const char *entry, const char *spec) {
    size_t n = strcspn(spec, "=");
    return strncmp(entry, spec, n) == 0 && entry[n] == '=';
}

static char **child_environ(const char *const *changes) {
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (k < 8 && changes[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    if (!env)
        FAIL("out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t c = 0; c < k; c++)
            replaced = replaced || env_name_eq(environ[i], changes[c]);
        if (!replaced)
            env[j++] = environ[i];
    }
    for (size_t c = 0; c < k; c++)
        if (strchr(changes[c], '='))
            env[j++] = (char *)changes[c];
    env[j] = NULL;
    return env;
}

static void describe_status(int st, char *buf, size_t n) {
    if (st >= 0)
        snprintf(buf, n, "exit status %d", st);
    else
        snprintf(buf, n, "signal %d (%s)", -st, strsignal(-st));
}

char *expect_child_opts(const char *case_name, const struct child_opts *o) {
    if (!find_case(case_name, true))
        FAIL("expect_child: no CHILD(%s) in this program", case_name);
    char arg[512];
    snprintf(arg, sizeof arg, "child:%s", case_name);
    char **env = child_environ(o->env);
    const char *exe = self_exe[0] ? self_exe : "/proc/self/exe";
    /* Under an emulator (qemu-user without binfmt_misc) the program cannot
     * exec itself directly: GOC_TEST_EMULATOR gives the command that runs
     * it, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu". */
    char emu[1024] = "";
    char *av[32];
    int ac = 0;
    const char *emu_env = getenv("GOC_TEST_EMULATOR");
    if (emu_env && *emu_env) {
        snprintf(emu, sizeof emu, "%s", emu_env);
        for (char *save = NULL, *tok = strtok_r(emu, " ", &save); tok && ac < 28;
             tok = strtok_r(NULL, " ", &save))
            av[ac++] = tok;
    }
    bool emulated = ac > 0;
    const char *file = emulated ? av[0] : exe;
    av[ac++] = emulated ? (char *)exe : (char *)argv0;
    av[ac++] = arg;
    av[ac] = NULL;

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        FAIL("pipe2: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        dup2(pfd[1], 2);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        if (file[0] == '/' || strchr(file, '/'))
            execve(file, av, env);
        else
            execvpe(file, av, env);
        execve("/proc/self/exe", av, env);
        _exit(127);
    }
    close(pfd[1]);
    free(env);

    size_t cap = 1 << 16, len = 0;
    const size_t maxlen = 4u << 20;
    char *buf = malloc(cap);
    if (!buf)
        FAIL("out of memory");
    double timeout = o->timeout_s > 0 ? o->timeout_s : 120.0;
    test_deadline dl = test_deadline_in(timeout);
    bool timed_out = false;
    for (;;) {
        int64_t left_ms = (dl.end - test_now_ns()) / 1000000;
        if (left_ms <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, left_ms > 1000 ? 1000 : (int)left_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (cap - len < 4096 && cap < maxlen) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                FAIL("out of memory");
            buf = nb;
        }
        char discard[4096];
        char *dst = cap - len > 1 ? buf + len : discard;
        size_t room = cap - len > 1 ? cap - len - 1 : sizeof discard;
        ssize_t r = read(pfd[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != discard)
            len += (size_t)r;
    }
    close(pfd[0]);
    buf[len] = '\0';

    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            FAIL("waitpid: %s", strerror(errno));
    }
    int got = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : 9999;

    const char *bad = NULL;
    char why[512] = "";
    if (timed_out) {
        snprintf(why, sizeof why, "child did not finish within %g s (killed)", timeout);
        bad = why;
    } else if (got != o->expect) {
        char g[128], e[128];
        describe_status(got, g, sizeof g);
        describe_status(o->expect, e, sizeof e);
        snprintf(why, sizeof why, "child ended with %s, expected %s", g, e);
        bad = why;
    } else {
        for (int i = 0; i < 8 && o->regex[i]; i++) {
            if (!test_regex_match(buf, o->regex[i])) {
                snprintf(why, sizeof why, "child stderr does not match /%s/", o->regex[i]);
                bad = why;
                break;
            }
        }
    }
    if (bad) {
        fprintf(stderr, "---- stderr of child:%s ----\n%s%s---- end of child stderr ----\n",
                case_name, buf, len && buf[len - 1] != '\n' ? "\n" : "");
        FAIL("child:%s: %s", case_name, bad);
    }
    return buf;
}

void expect_child(const char *case_name, int expect, const char *stderr_regex) {
    struct child_opts o = {.expect = expect, .regex = {stderr_regex}};
    free(expect_child_opts(case_name, &o));
}

/* ---- main ---- */

static bool skip_leak_check, leak_check_off;

void test_skip_leak_check(void) { skip_leak_check = true; }

static void run_case(struct test_case *tc) {
    skip_leak_check = false;
    tc->fn();
    if (skip_leak_check) {
        leak_check_off = true; /* its goroutines stay: later cases would see them */
    } else if (!leak_check_off) {
        fflush(stdout);
        int n = goc_leak_check(TEST_LEAK_WAIT_NS, 2);
        if (n > 0)
            FAIL("%s: %d goroutine(s) still alive %g s after the case returned (dump above)",
                 tc->name, n, (double)TEST_LEAK_WAIT_NS / 1e9);
    }
    printf("ok %s\n", tc->name);
    fflush(stdout);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 0 && argv[0])
        argv0 = argv[0];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';

    if (argc < 2) {
        int count = 0;
        for (struct test_case *tc = cases_head; tc; tc = tc->next) {
            if (!tc->child) {
                run_case(tc);
                count++;
            }
        }
        printf("ok all (%d cases)\n", count);
        return 0;
    }
    const char *name = argv[1];
    if (strcmp(name, "--list") == 0) {
        for (struct test_case *tc = cases_head; tc; tc = tc->next)
            if (!tc->child)
                printf("%s\n", tc->name);
        return 0;
    }
    if (strncmp(name, "child:", 6) == 0) {
        struct test_case *tc = find_case(name + 6, true);
        if (!tc) {
            fprintf(stderr, "%s: no child case \"%s\"\n", argv0, name + 6);
            return 125;
        }
        tc->fn();
        fflush(stdout);
        fflush(stderr);
        return 0;
    }
    struct test_case *tc = find_case(name, false);
    if (!tc) {
        fprintf(stderr, "%s: no case \"%s\" (try --list)\n", argv0, name);
        return 125;
    }
    run_case(tc);
    return 0;
}
