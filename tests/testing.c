/* testing.c — the goc test harness: case table, main(), death tests.
 * See testing.h. */
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
        n = snprintf(out, sizeof out, "%s:%d: FAIL (thread %ld): %s\n", file, line,
                     test_gettid(), msg);
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

static void run_case(struct test_case *tc) {
    tc->fn();
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
