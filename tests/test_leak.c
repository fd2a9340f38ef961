/* test_leak.c — goc_leak_check (go.uber.org/goleak's VerifyNone) and the
 * creation sites ("created by f in goroutine N") that goc_dump, the leak
 * check and the SIGQUIT dump print.
 *
 * The spawning functions are non-static (the test programs are linked with
 * -rdynamic) so that even dladdr, which the SIGQUIT handler uses, names
 * them, and noinline so that the call sites lie in them. Every case releases the goroutines it
 * leaked on purpose before it returns: the harness's own leak check runs after each case. */
#include "testing.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* A goroutine blocked sending on an unbuffered channel nobody receives
 * from, until the case receives its value. */
static void send_one(void *arg) {
    goc_chan *c = arg;
    long v = 1;
    goc_chan_send(c, &v);
}

/* The functions whose names the reports must show: not inlined, and not
 * cloned either (at -O3 GCC specializes a function for its constant
 * arguments, and the clone is named leak_spawn_senders.constprop.N). */
#if defined(__GNUC__) && !defined(__clang__)
#define LEAK_NAMED __attribute__((noinline, noclone))
#else
#define LEAK_NAMED __attribute__((noinline))
#endif

void leak_spawn_senders(goc_chan *c, int n);
LEAK_NAMED void leak_spawn_senders(goc_chan *c, int n) {
    for (int i = 0; i < n; i++)
        TEST_GO(send_one, c);
}

static void release_senders(goc_chan *c, int n) {
    for (int i = 0; i < n; i++) {
        long v = 0;
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, 1);
    }
}

/* Run goc_leak_check(wait, fd of a temp file) and return the text written
 * (malloc'd), the count in *n and the time it took in *ns. */
static char *leak_check_text(goc_duration wait, int *n, int64_t *ns) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    int64_t t0 = test_now_ns();
    *n = goc_leak_check(wait, fileno(f));
    if (ns)
        *ns = test_now_ns() - t0;
    return test_read_and_close(f);
}

static int count_of(const char *text, const char *what) {
    int k = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        k++;
    return k;
}

/* ---- clean ---- */

static void finish(void *arg) { goc_wg_done(arg); }

GTEST(clean_after_goroutines_finish) {
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 50);
    for (int i = 0; i < 50; i++)
        TEST_GO(finish, &wg);
    goc_wg_wait(&wg);
    /* Exited or about to: the check waits for the last ones. */
    int n;
    char *out = leak_check_text(2 * GOC_SECOND, &n, NULL);
    CHECK_EQ_INT(n, 0);
    CHECK_MSG(out[0] == '\0', "output when nothing leaked:\n%s", out);
    free(out);
}

GTEST(does_not_count_the_caller) {
    int n;
    int64_t ns;
    char *out = leak_check_text(2 * GOC_SECOND, &n, &ns);
    CHECK_EQ_INT(n, 0);
    CHECK(out[0] == '\0');
    CHECK_MSG(ns < GOC_SECOND, "took %lld ns with nothing to wait for", (long long)ns);
    free(out);
}

/* ---- finds and names blocked goroutines ---- */

GTEST(names_blocked_goroutines) {
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 3);
    WAIT_PARKED("chan send", 3);
    int n;
    char *out = leak_check_text(50 * GOC_MILLISECOND, &n, NULL);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(count_of(out, "\ngoroutine ") + (strncmp(out, "goroutine ", 10) == 0), 3);
    CHECK_EQ_INT(count_of(out, "[chan send, "), 3);
    CHECK_EQ_INT(count_of(out, "\nsend_one(...)\n"), 3);
    /* Creator function and goroutine, and where the call is. */
    char want[128];
    snprintf(want, sizeof want, "created by leak_spawn_senders in goroutine %llu\n\t",
             (unsigned long long)goc_id());
    CHECK_MSG(count_of(out, want) == 3, "no \"%s\" x3 in:\n%s", want, out);
    CHECK_MSG(test_regex_match(out, "^\t[^ ]*test_leak\\+0x[0-9a-f]+ pc=0x[0-9a-f]+ "
                                    "\\(leak_spawn_senders\\+0x[0-9a-f]+\\)$"),
              "no call-site line in:\n%s", out);
    /* The caller is not listed. */
    char self[64];
    snprintf(self, sizeof self, "goroutine %llu [", (unsigned long long)goc_id());
    CHECK(strstr(out, self) == NULL);
    free(out);
    release_senders(c, 3);
    CHECK_EQ_INT(goc_leak_check(2 * GOC_SECOND, 2), 0);
    goc_chan_release(c);
}

/* ---- waits no longer than asked ---- */

GTEST(waits_no_longer_than_asked) {
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 1);
    int64_t t0 = test_now_ns();
    int n = goc_leak_check(100 * GOC_MILLISECOND, -1);
    int64_t took = test_now_ns() - t0;
    CHECK_EQ_INT(n, 1);
    CHECK_MSG(took >= 100 * GOC_MILLISECOND && took < 600 * GOC_MILLISECOND,
              "wait 100 ms took %lld ms", (long long)(took / 1000000));
    /* wait <= 0: one look, no sleep. */
    t0 = test_now_ns();
    CHECK_EQ_INT(goc_leak_check(0, -1), 1);
    CHECK_EQ_INT(goc_leak_check(-GOC_SECOND, -1), 1);
    took = test_now_ns() - t0;
    CHECK_MSG(took < 100 * GOC_MILLISECOND, "wait 0 took %lld ms", (long long)(took / 1000000));
    release_senders(c, 1);
    goc_chan_release(c);
}

/* ---- exits during the wait ---- */

static void nap_then_exit(void *arg) {
    (void)arg;
    goc_sleep(50 * GOC_MILLISECOND);
}

GTEST(does_not_count_a_goroutine_that_exits_meanwhile) {
    TEST_GO(nap_then_exit, NULL);
    int n;
    int64_t ns;
    char *out = leak_check_text(5 * GOC_SECOND, &n, &ns);
    CHECK_EQ_INT(n, 0);
    CHECK(out[0] == '\0');
    /* Back-off never sleeps more than 100 ms at a time. */
    CHECK_MSG(ns < 2 * GOC_SECOND, "returned after %lld ms", (long long)(ns / 1000000));
    free(out);
}

/* ---- fd < 0 ---- */

GTEST(negative_fd_writes_nothing) {
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 2);
    WAIT_PARKED("chan send", 2);
    /* Whatever it wrote would land on stdout or stderr: point both at a
     * file for the call. */
    FILE *f = tmpfile();
    CHECK(f != NULL);
    fflush(stdout);
    fflush(stderr);
    int o1 = dup(1), o2 = dup(2);
    CHECK(o1 >= 0 && o2 >= 0);
    CHECK(dup2(fileno(f), 1) == 1 && dup2(fileno(f), 2) == 2);
    int n = goc_leak_check(10 * GOC_MILLISECOND, -1);
    CHECK(dup2(o1, 1) == 1 && dup2(o2, 2) == 2);
    close(o1);
    close(o2);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(lseek(fileno(f), 0, SEEK_END), 0);
    fclose(f);
    release_senders(c, 2);
    goc_chan_release(c);
}

/* ---- from a plain thread ---- */

TEST(from_a_plain_thread) {
    /* Before anything started: nothing to find, the runtime not needed. */
    CHECK_EQ_INT(goc_leak_check(0, 2), 0);
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 2);
    int n;
    int64_t ns;
    char *out = leak_check_text(30 * GOC_MILLISECOND, &n, &ns);
    CHECK_EQ_INT(n, 2);
    CHECK_MSG(ns < 500 * GOC_MILLISECOND, "took %lld ms", (long long)(ns / 1000000));
    /* Created by a plain thread: no "in goroutine". */
    CHECK_MSG(count_of(out, "created by leak_spawn_senders\n\t") == 2, "in:\n%s", out);
    free(out);
    release_senders(c, 2);
    CHECK_EQ_INT(goc_leak_check(2 * GOC_SECOND, 2), 0);
    goc_chan_release(c);
}

/* ---- goroutines goc starts for the user ---- */

static void wait_for_close(void *arg) { goc_chan_recv(arg, NULL); }

goc_timer *leak_start_after_func(goc_chan *c);
LEAK_NAMED goc_timer *leak_start_after_func(goc_chan *c) {
    goc_timer *t = goc_after_func(0, wait_for_close, c);
    CHECK(t != NULL);
    return t;
}

/* An AfterFunc goroutine shows the call of goc_after_func as its creation
 * site, not the timer code that started it. */
GTEST(after_func_goroutine_shows_the_users_call_site) {
    goc_chan *c = test_chan_make(0, 0);
    goc_timer *t = leak_start_after_func(c);
    WAIT_PARKED("chan receive", 1);
    int n;
    char *out = leak_check_text(0, &n, NULL);
    CHECK_EQ_INT(n, 1);
    CHECK_MSG(strstr(out, "created by leak_start_after_func") != NULL, "in:\n%s", out);
    free(out);
    goc_chan_close(c);
    CHECK_EQ_INT(goc_leak_check(2 * GOC_SECOND, 2), 0);
    goc_timer_free(t);
    goc_chan_release(c);
}

/* ---- goc_dump and SIGQUIT show "created by" ---- */

GTEST(dump_shows_created_by) {
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 1);
    WAIT_PARKED("chan send", 1);
    char *out = test_dump();
    char want[128];
    snprintf(want, sizeof want, "created by leak_spawn_senders in goroutine %llu\n\t",
             (unsigned long long)goc_id());
    CHECK_MSG(strstr(out, want) != NULL, "no \"%s\" in:\n%s", want, out);
    /* Go prints none for the main goroutine. */
    char self[64];
    snprintf(self, sizeof self, "goroutine %llu [running]:", (unsigned long long)goc_id());
    const char *me = strstr(out, self);
    CHECK(me != NULL);
    const char *end = strstr(me, "\n\n");
    CHECK(end != NULL);
    const char *cb = strstr(me, "created by");
    CHECK(cb == NULL || cb > end);
    free(out);
    release_senders(c, 1);
    goc_chan_release(c);
}

static int quit_main(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 0);
    leak_spawn_senders(c, 1);
    WAIT_PARKED("chan send", 1);
    kill(getpid(), SIGQUIT); /* dumps and exits 2 */
    goc_sleep(30 * GOC_SECOND);
    return 1;
}

CHILD(sigquit_dump) {
    int rc = goc_run(quit_main, NULL);
    fprintf(stderr, "goc_run returned %d: SIGQUIT did not end the program\n", rc);
}

TEST(sigquit_dump_shows_created_by) {
    struct child_opts o = {
        .expect = 2,
        .regex = {"^SIGQUIT: quit$", "^goroutine [0-9]+ \\[chan send",
                  "^created by leak_spawn_senders in goroutine 1$",
                  "^\t[^ ]*test_leak\\+0x[0-9a-f]+ pc=0x[0-9a-f]+ \\(leak_spawn_senders\\+0x"},
    };
    free(expect_child_opts("sigquit_dump", &o));
}
