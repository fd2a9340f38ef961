/* test_chan.c — channels: FIFO order, no loss or duplication under many
 * senders and receivers, close semantics and its panics, the nil channel,
 * chan struct{}, len/cap, absurd sizes, large elements, reference counts,
 * plain OS threads talking to goroutines, and Go's prime sieve. Each case is
 * one behaviour; run `test_chan --list` for the names. */
#include "testing.h"

#include "chan/chan.h" /* gchan_buffered (white-box), gchan_test_inflight_hook */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================== */
/* FIFO order, one sender and one receiver                             */

static void check_fifo(size_t cap) {
    static goc_waitgroup wg;
    const long n = TEST_SCALE(20000, 4000);
    goc_chan *c = test_chan_make(sizeof(long), cap);
    goc_wg_add(&wg, 1);
    test_go_send_seq(c, 0, n, true, &wg); /* 0..n-1, then close */
    for (long i = 0; i < n; i++) {
        long v = -1;
        CHECK(goc_chan_recv(c, &v));
        CHECK_MSG(v == i, "cap %zu: received %ld at position %ld", cap, v, i);
        if ((i & 127) == 0)
            goc_yield(); /* vary who runs ahead */
    }
    long v = 7;
    CHECK(!goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 0);
    goc_wg_wait(&wg);
    goc_chan_release(c);
}

GTEST(fifo_order_unbuffered) { check_fifo(0); }
GTEST(fifo_order_cap1) { check_fifo(1); }
GTEST(fifo_order_cap2) { check_fifo(2); }
GTEST(fifo_order_cap10) { check_fifo(10); }
GTEST(fifo_order_cap100) { check_fifo(100); }

/* ================================================================== */
/* many senders, many receivers: nothing lost, nothing duplicated      */

enum { MPMC_SENDERS = 8, MPMC_RECEIVERS = 8 };
#define MPMC_PER TEST_SCALE(20000L, 2000L)

/* Sender i sends i*MPMC_PER .. (i+1)*MPMC_PER-1. */
struct mpmc {
    goc_chan *c;
    test_tally tally;
};

static void mpmc_recv(void *arg) {
    struct mpmc *m = arg;
    /* Each sender's values must reach any one receiver in increasing order. */
    long last[MPMC_SENDERS];
    for (int i = 0; i < MPMC_SENDERS; i++)
        last[i] = -1;
    long v;
    while (goc_chan_recv(m->c, &v)) {
        test_tally_take(&m->tally, v);
        long from = v / MPMC_PER, idx = v % MPMC_PER;
        CHECK_MSG(idx > last[from], "sender %ld: %ld received after %ld", from, idx, last[from]);
        last[from] = idx;
    }
}

static void check_mpmc(size_t cap) {
    static goc_waitgroup senders;
    static test_group receivers;
    static struct mpmc m;
    test_tally_init(&m.tally, MPMC_SENDERS * MPMC_PER);
    goc_chan *c = m.c = test_chan_make(sizeof(long), cap);
    test_group_go(&receivers, MPMC_RECEIVERS, mpmc_recv, &m);
    goc_wg_add(&senders, MPMC_SENDERS);
    for (long i = 0; i < MPMC_SENDERS; i++)
        test_go_send_seq(c, i * MPMC_PER, MPMC_PER, false, &senders);
    goc_wg_wait(&senders);
    goc_chan_close(c);
    test_group_wait(&receivers);
    test_tally_check(&m.tally);
    CHECK_EQ_INT(goc_chan_len(c), 0);
    goc_chan_release(c);
}

GTEST(many_senders_receivers_exact_unbuffered) { check_mpmc(0); }
GTEST(many_senders_receivers_exact_cap16) { check_mpmc(16); }

/* ================================================================== */
/* close                                                               */

struct triple {
    long a, b, c;
};

/* Buffered values survive close and drain in order; then recv reports
 * false with the destination zeroed, again and again. */
GTEST(close_drains_buffer_then_zero_false) {
    goc_chan *c = test_chan_make(sizeof(struct triple), 5);
    for (long i = 1; i <= 5; i++) {
        struct triple t = {i, i * 10, i * 100};
        goc_chan_send(c, &t);
    }
    goc_chan_close(c);
    CHECK_EQ_INT(goc_chan_len(c), 5);
    CHECK_EQ_INT(goc_chan_cap(c), 5);
    for (long i = 1; i <= 5; i++) {
        struct triple t;
        memset(&t, 0xff, sizeof t);
        CHECK(goc_chan_recv(c, &t));
        CHECK_EQ_INT(t.a, i);
        CHECK_EQ_INT(t.b, i * 10);
        CHECK_EQ_INT(t.c, i * 100);
        CHECK_EQ_INT(goc_chan_len(c), 5 - i);
    }
    for (int k = 0; k < 10; k++) {
        struct triple t;
        memset(&t, 0xff, sizeof t);
        CHECK(!goc_chan_recv(c, &t));
        static const struct triple zero;
        CHECK(memcmp(&t, &zero, sizeof t) == 0);
    }
    CHECK(!goc_chan_recv(c, NULL));
    goc_chan_release(c);
}

GTEST(close_unbuffered_recv_returns_zero_false) {
    goc_chan *c = test_chan_make(sizeof(long), 0);
    goc_chan_close(c);
    for (int k = 0; k < 10; k++) {
        long v;
        memset(&v, 0xff, sizeof v);
        CHECK(!goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, 0);
    }
    CHECK_EQ_INT(goc_chan_len(c), 0);
    goc_chan_release(c);
}

enum { CLOSE_WAITERS = 50 };

struct close_waiter {
    goc_chan *c;
    atomic_int *started;
    atomic_int *got_false;
    goc_waitgroup *wg;
};

static void recv_expect_closed(void *arg) {
    struct close_waiter *w = arg;
    atomic_fetch_add(w->started, 1);
    long v;
    memset(&v, 0xff, sizeof v);
    bool ok = goc_chan_recv(w->c, &v);
    if (!ok && v == 0)
        atomic_fetch_add(w->got_false, 1);
    goc_wg_done(w->wg);
}

static void check_close_wakes_receivers(size_t cap) {
    static goc_waitgroup wg;
    static atomic_int started, got_false;
    atomic_store(&started, 0);
    atomic_store(&got_false, 0);
    goc_chan *c = test_chan_make(sizeof(long), cap);
    goc_wg_add(&wg, CLOSE_WAITERS);
    for (int i = 0; i < CLOSE_WAITERS; i++)
        TEST_GO_ARGS(recv_expect_closed, struct close_waiter, c, &started, &got_false, &wg);
    WAIT_UNTIL(atomic_load(&started) == CLOSE_WAITERS, TEST_PATIENCE_S);
    test_let_others_run(); /* let them all park */
    CHECK_EQ_INT(atomic_load(&got_false), 0);
    goc_chan_close(c);
    goc_wg_wait(&wg);
    CHECK_EQ_INT(atomic_load(&got_false), CLOSE_WAITERS);
    goc_chan_release(c);
}

GTEST(close_wakes_all_blocked_receivers_unbuffered) { check_close_wakes_receivers(0); }
GTEST(close_wakes_all_blocked_receivers_buffered) { check_close_wakes_receivers(4); }

/* A goroutine parked in send; another goroutine closes the channel: the
 * sender panics, as in Go. */
static atomic_int blocked_sender_started;

static void send_until_blocked(void *arg) {
    goc_chan *c = arg;
    long v = 1;
    goc_chan_send(c, &v); /* fills the one slot */
    atomic_store(&blocked_sender_started, 1);
    goc_chan_send(c, &v); /* blocks */
    fprintf(stderr, "send returned after close\n");
}

static int close_under_blocked_sender(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 1);
    TEST_GO(send_until_blocked, c);
    WAIT_UNTIL(atomic_load(&blocked_sender_started) == 1, TEST_PATIENCE_S);
    test_let_others_run();
    goc_chan_close(c);
    goc_sleep(5 * GOC_SECOND); /* the sender's panic ends the process first */
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(close_with_blocked_sender) { run_in_goc(close_under_blocked_sender, NULL); }

TEST(close_makes_blocked_sender_panic) {
    expect_child("close_with_blocked_sender", -SIGABRT, "^panic: send on closed channel$");
}

static int send_on_closed_main(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 4);
    goc_chan_close(c);
    long v = 1;
    goc_chan_send(c, &v);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(send_on_closed_goroutine) { run_in_goc(send_on_closed_main, NULL); }

CHILD(send_on_closed_plain_thread) {
    goc_chan *c = test_chan_make(0, 0);
    goc_chan_close(c);
    goc_chan_send(c, NULL);
    fprintf(stderr, "no panic\n");
}

TEST(send_on_closed_panics) {
    expect_child("send_on_closed_goroutine", -SIGABRT, "^panic: send on closed channel$");
}

TEST(send_on_closed_panics_on_plain_thread) {
    expect_child("send_on_closed_plain_thread", -SIGABRT, "^panic: send on closed channel$");
}

static int close_closed_main(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 0);
    goc_chan_close(c);
    goc_chan_close(c);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(close_closed) { run_in_goc(close_closed_main, NULL); }

TEST(close_of_closed_panics) {
    struct child_opts o = {
        .expect = -SIGABRT,
        .regex = {"^panic: close of closed channel$", "^goroutine [0-9]+ \\[running\\]:"},
    };
    free(expect_child_opts("close_closed", &o));
}

static int close_nil_main(void *arg) {
    (void)arg;
    goc_chan_close(NULL);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(close_nil) { run_in_goc(close_nil_main, NULL); }

TEST(close_of_nil_panics) { expect_child("close_nil", -SIGABRT, "^panic: close of nil channel$"); }

/* ================================================================== */
/* the nil channel                                                     */

static atomic_int nil_recv_started, nil_recv_finished;

static void recv_on_nil(void *arg) {
    (void)arg;
    atomic_store(&nil_recv_started, 1);
    long v;
    goc_chan_recv(NULL, &v);
    atomic_store(&nil_recv_finished, 1);
}

GTEST(nil_recv_blocks_forever) {
    /* The goroutine blocks forever by design (nothing can wake it) and
     * cannot be made to exit: it outlives the case. */
    test_skip_leak_check();
    TEST_GO(recv_on_nil, NULL);
    test_check_stays_blocked(&nil_recv_started, &nil_recv_finished);
}

static atomic_int nil_send_started, nil_send_finished;

static void send_on_nil(void *arg) {
    (void)arg;
    atomic_store(&nil_send_started, 1);
    long v = 1;
    goc_chan_send(NULL, &v);
    atomic_store(&nil_send_finished, 1);
}

GTEST(nil_send_blocks_forever) {
    /* The goroutine blocks forever by design (nothing can wake it) and
     * cannot be made to exit: it outlives the case. */
    test_skip_leak_check();
    TEST_GO(send_on_nil, NULL);
    test_check_stays_blocked(&nil_send_started, &nil_send_finished);
}

TEST(nil_len_cap_zero) {
    CHECK_EQ_INT(goc_chan_len(NULL), 0);
    CHECK_EQ_INT(goc_chan_cap(NULL), 0);
}

/* ================================================================== */
/* chan struct{}                                                       */

GTEST(zero_size_elements_buffered) {
    goc_chan *c = test_chan_make(0, 3);
    CHECK_EQ_INT(goc_chan_cap(c), 3);
    for (int i = 0; i < 3; i++) {
        goc_chan_send(c, NULL);
        CHECK_EQ_INT(goc_chan_len(c), i + 1);
    }
    goc_case full[] = {GOC_SEND(c, NULL)};
    CHECK_EQ_INT(goc_select_try(full, 1), -1); /* full */
    for (int i = 0; i < 3; i++) {
        CHECK(goc_chan_recv(c, NULL));
        CHECK_EQ_INT(goc_chan_len(c), 2 - i);
    }
    goc_case empty[] = {GOC_RECV(c, NULL, NULL)};
    CHECK_EQ_INT(goc_select_try(empty, 1), -1); /* empty */
    goc_chan_send(c, NULL);
    goc_chan_close(c);
    CHECK(goc_chan_recv(c, NULL));
    CHECK(!goc_chan_recv(c, NULL));
    goc_chan_release(c);
}

struct token_sender {
    goc_chan *c;
    int n;
    goc_waitgroup *wg;
};

static void send_tokens(void *arg) {
    struct token_sender *s = arg;
    for (int i = 0; i < s->n; i++)
        goc_chan_send(s->c, NULL);
    goc_wg_done(s->wg);
}

GTEST(zero_size_elements_unbuffered) {
    static goc_waitgroup wg;
    const int n = TEST_SCALE(10000, 2000);
    goc_chan *c = test_chan_make(0, 0);
    goc_wg_add(&wg, 4);
    for (int i = 0; i < 4; i++)
        TEST_GO_ARGS(send_tokens, struct token_sender, c, n, &wg);
    for (int i = 0; i < 4 * n; i++) {
        char sentinel = 'x';
        CHECK(goc_chan_recv(c, &sentinel)); /* nothing is written for size 0 */
        CHECK_EQ_INT(sentinel, 'x');
    }
    goc_wg_wait(&wg);
    goc_case none[] = {GOC_RECV(c, NULL, NULL)};
    CHECK_EQ_INT(goc_select_try(none, 1), -1);
    goc_chan_close(c);
    char sentinel = 'x';
    CHECK(!goc_chan_recv(c, &sentinel));
    goc_chan_release(c);
}

/* ================================================================== */
/* len, cap, sizes                                                     */

GTEST(len_and_cap) {
    goc_chan *u = test_chan_make(sizeof(int), 0);
    CHECK_EQ_INT(goc_chan_len(u), 0);
    CHECK_EQ_INT(goc_chan_cap(u), 0);
    goc_chan_release(u);

    goc_chan *c = test_chan_make(sizeof(int), 7);
    CHECK_EQ_INT(goc_chan_cap(c), 7);
    for (int i = 0; i < 7; i++) {
        CHECK_EQ_INT(goc_chan_len(c), i);
        goc_chan_send(c, &i);
    }
    CHECK_EQ_INT(goc_chan_len(c), 7);
    /* Wrap the ring around a few times. */
    for (int round = 0; round < 20; round++) {
        int v;
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(goc_chan_len(c), 6);
        goc_chan_send(c, &v);
        CHECK_EQ_INT(goc_chan_len(c), 7);
    }
    for (int i = 7; i > 0; i--) {
        CHECK(goc_chan_recv(c, NULL));
        CHECK_EQ_INT(goc_chan_len(c), i - 1);
    }
    CHECK_EQ_INT(goc_chan_cap(c), 7);
    goc_chan_release(c);
}

TEST(absurd_sizes_return_null) {
    errno = 0;
    CHECK(goc_chan_make(SIZE_MAX / 2, 4) == NULL);
    CHECK(errno == EINVAL || errno == ENOMEM);
    errno = 0;
    CHECK(goc_chan_make(1, SIZE_MAX) == NULL);
    CHECK(errno == EINVAL || errno == ENOMEM);
    errno = 0;
    CHECK(goc_chan_make(SIZE_MAX, SIZE_MAX) == NULL);
    CHECK(errno == EINVAL || errno == ENOMEM);
    errno = 0;
    /* elem_size * cap overflows size_t. */
    CHECK(goc_chan_make((size_t)1 << 33, (size_t)1 << 33) == NULL);
    CHECK(errno == EINVAL || errno == ENOMEM);
    errno = 0;
    CHECK(goc_chan_make(SIZE_MAX, 0) == NULL);
    CHECK(errno == EINVAL || errno == ENOMEM);
    /* Sane sizes still work afterwards. */
    goc_chan *c = test_chan_make(8, 8);
    goc_chan_release(c);
}

/* recv with out == NULL takes the value and discards it. */
GTEST(recv_null_out_discards) {
    static goc_waitgroup wg;
    goc_chan *b = test_chan_make(sizeof(long), 4);
    for (long i = 0; i < 4; i++)
        goc_chan_send(b, &i);
    CHECK(goc_chan_recv(b, NULL));
    CHECK(goc_chan_recv(b, NULL));
    CHECK_EQ_INT(goc_chan_len(b), 2);
    long v = -1;
    CHECK(goc_chan_recv(b, &v));
    CHECK_EQ_INT(v, 2); /* the discarded ones really were 0 and 1 */
    goc_chan_release(b);

    goc_chan *u = test_chan_make(sizeof(long), 0);
    goc_wg_add(&wg, 1);
    test_go_send_seq(u, 0, 100, false, &wg);
    for (long i = 0; i < 100; i++) {
        if (i % 2) {
            CHECK(goc_chan_recv(u, NULL));
        } else {
            CHECK(goc_chan_recv(u, &v));
            CHECK_EQ_INT(v, i);
        }
    }
    goc_wg_wait(&wg);
    goc_chan_close(u);
    CHECK(!goc_chan_recv(u, NULL));
    goc_chan_release(u);
}

/* ================================================================== */
/* large elements                                                      */

struct big_sender {
    goc_chan *c;
    int n;
    goc_waitgroup *wg;
};

static void send_bigs(void *arg) {
    struct big_sender *s = arg;
    for (int i = 0; i < s->n; i++) {
        struct test_big b;
        test_big_fill(&b, (uint64_t)i);
        goc_chan_send(s->c, &b);
        memset(&b, 0xaa, sizeof b); /* the channel holds its own copy */
    }
    goc_chan_close(s->c);
    goc_wg_done(s->wg);
}

static void check_big_transfer(size_t cap) {
    static goc_waitgroup wg;
    const int n = TEST_SCALE(3000, 500);
    goc_chan *c = test_chan_make(sizeof(struct test_big), cap);
    goc_wg_add(&wg, 1);
    TEST_GO_ARGS(send_bigs, struct big_sender, c, n, &wg);
    struct test_big b;
    for (int i = 0; i < n; i++) {
        memset(&b, 0x55, sizeof b);
        CHECK(goc_chan_recv(c, &b));
        test_big_check(&b, (uint64_t)i);
    }
    memset(&b, 0x55, sizeof b);
    CHECK(!goc_chan_recv(c, &b));
    static const struct test_big zero;
    CHECK(memcmp(&b, &zero, sizeof b) == 0);
    goc_wg_wait(&wg);
    goc_chan_release(c);
}

/* Every small element size (the inline copies of 1, 2, 4, 8 and 16 bytes
 * and the memcpy sizes between them), from and to unaligned addresses,
 * through a direct handoff, the buffer, a full buffer's sender handoff and
 * select; a closed channel zeroes exactly elemsize bytes. Exact bytes. */
struct small_sender {
    goc_chan *c;
    size_t size;
    int n;
    goc_waitgroup *wg;
};

static void small_fill(unsigned char *p, size_t size, int i) {
    for (size_t k = 0; k < size; k++)
        p[k] = (unsigned char)(i * 31 + (int)k * 7 + 1);
}

static void send_smalls(void *arg) {
    struct small_sender *s = arg;
    unsigned char raw[40];
    for (int i = 0; i < s->n; i++) {
        unsigned char *p = raw + 1 + (size_t)i % 7; /* unaligned */
        small_fill(p, s->size, i);
        if (i % 3 == 0) {
            goc_case cs[1] = {GOC_SEND(s->c, p)};
            CHECK_EQ_INT(goc_select(cs, 1), 0);
        } else {
            goc_chan_send(s->c, p);
        }
        memset(p, 0xaa, s->size); /* the channel holds its own copy */
    }
    goc_chan_close(s->c);
    goc_wg_done(s->wg);
}

static void check_small_sizes(size_t cap) {
    static goc_waitgroup wg;
    const int n = TEST_SCALE(400, 100);
    for (size_t size = 1; size <= 24; size++) {
        goc_chan *c = test_chan_make(size, cap);
        goc_wg_add(&wg, 1);
        TEST_GO_ARGS(send_smalls, struct small_sender, c, size, n, &wg);
        unsigned char raw[48], want[40];
        for (int i = 0; i < n; i++) {
            unsigned char *p = raw + 3 + (size_t)i % 5;
            memset(raw, 0x55, sizeof raw);
            if (i % 4 == 1) {
                bool ok = false;
                goc_case cs[1] = {GOC_RECV(c, p, &ok)};
                CHECK_EQ_INT(goc_select(cs, 1), 0);
                CHECK(ok);
            } else {
                CHECK(goc_chan_recv(c, p));
            }
            small_fill(want, size, i);
            CHECK(memcmp(p, want, size) == 0);
            CHECK(p[-1] == 0x55 && p[size] == 0x55); /* exactly size bytes */
            if (i % 16 == 0)
                goc_yield(); /* let the buffer fill: the full-buffer handoff */
        }
        memset(raw, 0x55, sizeof raw);
        CHECK(!goc_chan_recv(c, raw + 1));
        for (size_t k = 0; k < size; k++)
            CHECK(raw[1 + k] == 0);
        CHECK(raw[0] == 0x55 && raw[1 + size] == 0x55);
        goc_wg_wait(&wg);
        goc_chan_release(c);
    }
}

GTEST(small_elements_every_size_unbuffered) { check_small_sizes(0); }
GTEST(small_elements_every_size_buffered) { check_small_sizes(3); }

GTEST(large_elements_copied_intact_unbuffered) { check_big_transfer(0); }
GTEST(large_elements_copied_intact_buffered) { check_big_transfer(5); }

/* ================================================================== */
/* reference counting                                                  */

static atomic_int release_blocked_started;

static void recv_forever(void *arg) {
    atomic_store(&release_blocked_started, 1);
    goc_chan_recv(arg, NULL);
}

static int release_busy_main(void *arg) {
    (void)arg;
    goc_chan *c = test_chan_make(sizeof(long), 0);
    TEST_GO(recv_forever, c);
    WAIT_UNTIL(atomic_load(&release_blocked_started) == 1, TEST_PATIENCE_S);
    test_let_others_run();
    goc_chan_release(c);
    fprintf(stderr, "no panic\n");
    return 0;
}

CHILD(release_with_blocked_receiver) { run_in_goc(release_busy_main, NULL); }

TEST(release_with_blocked_goroutine_panics) {
    expect_child("release_with_blocked_receiver", -SIGABRT,
                 "^panic: .*channel freed while goroutines are blocked on it");
}

/* Retain and release balance: the channel lives until the last release
 * (ASan would see a use after free otherwise). */
GTEST(retain_release_counting) {
    goc_chan *c = test_chan_make(sizeof(int), 2);
    CHECK_EQ_PTR(goc_chan_retain(c), c);
    CHECK_EQ_PTR(goc_chan_retain(c), c);
    CHECK_EQ_PTR(goc_chan_retain(c), c);
    goc_chan_release(c);
    goc_chan_release(c);
    goc_chan_release(c);
    int v = 42, w = 0;
    goc_chan_send(c, &v); /* one reference left: still usable */
    CHECK(goc_chan_recv(c, &w));
    CHECK_EQ_INT(w, 42);
    CHECK_EQ_INT(goc_chan_cap(c), 2);
    goc_chan_release(c);

    CHECK_EQ_PTR(goc_chan_retain(NULL), NULL);
    goc_chan_release(NULL); /* no-op */
}

/* Each goroutine holds its own reference and drops it when done; whoever
 * releases last frees the channel. */
struct ref_user {
    goc_chan *c;
    goc_waitgroup *wg;
};

static void use_then_release(void *arg) {
    struct ref_user *u = arg;
    for (int i = 0; i < 100; i++) {
        int v = i;
        goc_chan_send(u->c, &v);
        CHECK(goc_chan_recv(u->c, &v));
    }
    goc_chan_release(u->c);
    goc_wg_done(u->wg);
}

GTEST(retain_per_goroutine_last_release_frees) {
    static goc_waitgroup wg;
    const int n = 16;
    goc_chan *c = test_chan_make(sizeof(int), 4);
    goc_wg_add(&wg, n);
    for (int i = 0; i < n; i++)
        TEST_GO_ARGS(use_then_release, struct ref_user, goc_chan_retain(c), &wg);
    goc_chan_release(c); /* the goroutines hold the rest */
    goc_wg_wait(&wg);
}

/* ================================================================== */
/* plain OS threads and goroutines                                     */

enum { XT_THREADS = 4, XT_GOROUTINES = 4 };
#define XT_PER TEST_SCALE(5000L, 1000L)

/* Sender i sends i*XT_PER .. (i+1)*XT_PER-1 on c, unbuffered; the
 * receivers tally every value. */
struct xt {
    goc_chan *c;
    test_tally tally;
    test_group receivers;
};

static void xt_start(struct xt *x) {
    test_tally_init(&x->tally, XT_THREADS * XT_PER);
    x->c = test_chan_make(sizeof(long), 0);
}

static void xt_finish(struct xt *x) {
    test_group_wait(&x->receivers);
    test_tally_check(&x->tally);
    goc_chan_release(x->c);
}

static void xt_receive(void *arg) {
    struct xt *x = arg;
    test_recv_tally(x->c, &x->tally);
}

static void xt_receive_on_plain_thread(void *arg) {
    CHECK_EQ_INT(goc_id(), 0);
    xt_receive(arg);
}

struct xt_sender {
    goc_chan *c;
    long id;
};

static void *thread_sender(void *arg) {
    struct xt_sender *s = arg;
    CHECK_EQ_INT(goc_id(), 0);
    test_send_seq(s->c, s->id * XT_PER, XT_PER);
    return NULL;
}

TEST(plain_threads_send_goroutines_receive) {
    static struct xt x;
    xt_start(&x);
    test_group_go(&x.receivers, XT_GOROUTINES, xt_receive, &x);
    pthread_t th[XT_THREADS];
    struct xt_sender senders[XT_THREADS];
    for (int i = 0; i < XT_THREADS; i++) {
        senders[i] = (struct xt_sender){x.c, i};
        th[i] = test_thread_start(thread_sender, &senders[i]);
    }
    for (int i = 0; i < XT_THREADS; i++)
        test_thread_join(th[i]);
    goc_chan_close(x.c);
    xt_finish(&x);
}

TEST(goroutines_send_plain_threads_receive) {
    static struct xt x;
    static goc_waitgroup senders;
    xt_start(&x);
    test_group_thread(&x.receivers, XT_THREADS, xt_receive_on_plain_thread, &x);
    goc_wg_add(&senders, XT_THREADS);
    for (int i = 0; i < XT_THREADS; i++)
        test_go_send_seq(x.c, i * XT_PER, XT_PER, false, &senders);
    test_go_close_after_wait(&senders, &x.c, 1);
    xt_finish(&x);
}

/* A plain thread and a goroutine bounce a counter over two unbuffered
 * channels: each side blocks on every exchange. */
struct pingpong {
    goc_chan *ping, *pong;
    long rounds;
};

/* Answer every value on ping with value+1 on pong, until ping closes. */
static void pong(void *arg) {
    struct pingpong *p = arg;
    long v;
    while (goc_chan_recv(p->ping, &v)) {
        v++;
        goc_chan_send(p->pong, &v);
    }
}

/* Send p->rounds values on ping, each the last answer; close ping. Returns
 * the last answer (p->rounds when every exchange added 1). */
static long ping(struct pingpong *p) {
    long v = 0;
    for (long i = 0; i < p->rounds; i++) {
        goc_chan_send(p->ping, &v);
        long back = -1;
        CHECK(goc_chan_recv(p->pong, &back));
        CHECK_EQ_INT(back, v + 1);
        v = back;
    }
    goc_chan_close(p->ping);
    return v;
}

static void *ping_thread(void *arg) {
    struct pingpong *p = arg;
    CHECK_EQ_INT(ping(p), p->rounds);
    return NULL;
}

TEST(plain_thread_goroutine_ping_pong) {
    static struct pingpong p;
    static test_group ponger;
    p.ping = test_chan_make(sizeof(long), 0);
    p.pong = test_chan_make(sizeof(long), 0);
    p.rounds = TEST_SCALE(20000, 3000);
    test_group_go(&ponger, 1, pong, &p);
    test_thread_join(test_thread_start(ping_thread, &p));
    test_group_wait(&ponger);
    goc_chan_release(p.ping);
    goc_chan_release(p.pong);
}

/* The same exchange with goc_run's main goroutine on the goroutine side:
 * every time the thread is woken, the main goroutine blocks again before
 * the thread is back in goc, and that is no deadlock (the thread is about
 * to answer). */
static void pong_on_plain_thread(void *arg) {
    CHECK_EQ_INT(goc_id(), 0);
    pong(arg);
}

static int ping_from_main_goroutine(void *arg) {
    struct pingpong *p = arg;
    return (int)(ping(p) == p->rounds);
}

TEST(main_goroutine_ping_pong_with_plain_thread) {
    static struct pingpong p;
    static test_group ponger;
    p.ping = test_chan_make(sizeof(long), 0);
    p.pong = test_chan_make(sizeof(long), 0);
    p.rounds = TEST_SCALE(20000, 3000);
    test_group_thread(&ponger, 1, pong_on_plain_thread, &p);
    CHECK_EQ_INT(run_in_goc(ping_from_main_goroutine, &p), 1);
    test_group_wait(&ponger);
    goc_chan_release(p.ping);
    goc_chan_release(p.pong);
}

/* ================================================================== */
/* the prime sieve                                                     */

/* Go's concurrent prime sieve: a generator feeds 2, 3, 4, ... into a daisy
 * chain of filter goroutines, one per prime found. Here the generator stops
 * after SIEVE_LIMIT (the 100th prime) and closes its channel; every filter
 * closes its output when its input closes, so the chain winds down. */
enum { SIEVE_PRIMES = 100, SIEVE_LIMIT = 541 };

struct sieve_gen {
    goc_chan *out;
};

static void sieve_generate(void *arg) {
    struct sieve_gen *s = arg;
    for (int i = 2; i <= SIEVE_LIMIT; i++)
        goc_chan_send(s->out, &i);
    goc_chan_close(s->out);
    goc_chan_release(s->out);
}

struct sieve_filter {
    goc_chan *in, *out;
    int prime;
};

static void sieve_filter(void *arg) {
    struct sieve_filter *f = arg;
    int v;
    while (goc_chan_recv(f->in, &v))
        if (v % f->prime != 0)
            goc_chan_send(f->out, &v);
    goc_chan_release(f->in);
    goc_chan_close(f->out);
    goc_chan_release(f->out);
}

static bool is_prime(int n) {
    if (n < 2)
        return false;
    for (int d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

GTEST(prime_sieve_first_100) {
    /* Each channel has two references: its writer's and its reader's. */
    goc_chan *ch = test_chan_make(sizeof(int), 0);
    TEST_GO_ARGS(sieve_generate, struct sieve_gen, goc_chan_retain(ch));
    int primes[SIEVE_PRIMES];
    for (int i = 0; i < SIEVE_PRIMES; i++) {
        int p = 0;
        CHECK(goc_chan_recv(ch, &p));
        primes[i] = p;
        goc_chan *next = test_chan_make(sizeof(int), 0);
        TEST_GO_ARGS(sieve_filter, struct sieve_filter, ch, goc_chan_retain(next), p);
        ch = next;
    }
    int expect = 1;
    for (int i = 0; i < SIEVE_PRIMES; i++) {
        do
            expect++;
        while (!is_prime(expect));
        CHECK_MSG(primes[i] == expect, "prime #%d: got %d, want %d", i + 1, primes[i], expect);
    }
    CHECK_EQ_INT(primes[SIEVE_PRIMES - 1], SIEVE_LIMIT);
    int v = -1;
    CHECK(!goc_chan_recv(ch, &v)); /* nothing after the limit: the chain closed */
    CHECK_EQ_INT(v, 0);
    goc_chan_release(ch);
}

/* ================================================================== */
/* the lock-free ring of buffered channels: one race per case          */

/* Producers send values tagged with their index; each consumer checks
 * that every producer's values reach it in increasing order, and the tally
 * checks that every value arrives exactly once. */
enum { RING_PRODUCERS = 6, RING_CONSUMERS = 6 };

struct ring_stress {
    goc_chan *c;
    long per;         /* values per producer */
    int burst;        /* producers yield after this many sends (0: never) */
    int consumer_nap; /* consumers yield after this many receives (0: never) */
    atomic_long next; /* producer index dispenser */
    test_tally tally;
};

static void ring_producer(void *arg) {
    struct ring_stress *r = arg;
    long id = atomic_fetch_add(&r->next, 1);
    for (long i = 0; i < r->per; i++) {
        long v = id * r->per + i;
        goc_chan_send(r->c, &v);
        if (r->burst && (i + 1) % r->burst == 0)
            goc_yield(); /* let consumers drain to empty and park */
    }
}

static void ring_consumer(void *arg) {
    struct ring_stress *r = arg;
    long last[RING_PRODUCERS];
    for (int i = 0; i < RING_PRODUCERS; i++)
        last[i] = -1;
    long v, n = 0;
    while (goc_chan_recv(r->c, &v)) {
        test_tally_take(&r->tally, v);
        long from = v / r->per, idx = v % r->per;
        CHECK_MSG(idx > last[from], "producer %ld: %ld received after %ld", from, idx, last[from]);
        last[from] = idx;
        if (r->consumer_nap && ++n % r->consumer_nap == 0)
            goc_yield(); /* let the ring fill and producers park */
    }
    /* ok=false only once everything sent is received or being received. */
    CHECK_EQ_INT(goc_chan_len(r->c), 0);
}

static void run_ring_stress(size_t cap, long per, int burst, int consumer_nap) {
    static struct ring_stress r;
    static goc_waitgroup producers;
    static test_group consumers;
    r.c = test_chan_make(sizeof(long), cap);
    r.per = per;
    r.burst = burst;
    r.consumer_nap = consumer_nap;
    atomic_store(&r.next, 0);
    test_tally_init(&r.tally, RING_PRODUCERS * per);
    test_group_go(&consumers, RING_CONSUMERS, ring_consumer, &r);
    for (int i = 0; i < RING_PRODUCERS; i++)
        CHECK_EQ_INT(goc_wg_go(&producers, ring_producer, &r), 0);
    goc_wg_wait(&producers);
    goc_chan_close(r.c); /* while consumers are still draining */
    test_group_wait(&consumers);
    test_tally_check(&r.tally);
    CHECK_EQ_INT(goc_chan_len(r.c), 0);
    CHECK_EQ_INT(gchan_buffered(r.c), 0);
    goc_chan_release(r.c);
}

/* (1) Many producers and consumers on small rings: exact sums, FIFO per
 * producer, including the wrap of a cap that is not a power of two. */
GTEST(ring_mpmc_exact_cap1) { run_ring_stress(1, TEST_SCALE(20000, 2000), 0, 0); }
GTEST(ring_mpmc_exact_cap2) { run_ring_stress(2, TEST_SCALE(20000, 2000), 0, 0); }
GTEST(ring_mpmc_exact_cap7) { run_ring_stress(7, TEST_SCALE(20000, 2000), 0, 0); }

/* (2) Consumers keep draining the ring to empty and parking while
 * producers send in bursts: a receiver that parks as a fast send
 * completes must not miss it (the run would hang, or lose values). */
GTEST(ring_receivers_park_while_fast_sends) { run_ring_stress(4, TEST_SCALE(20000, 2000), 3, 0); }

/* (3) The ring is kept full: producers park while consumers' fast
 * receives free slots (the lost wakeup the other way round). */
GTEST(ring_senders_park_while_fast_receives) { run_ring_stress(3, TEST_SCALE(20000, 2000), 0, 2); }

/* (3) A sender parked on a full ring keeps its place: a later sender (its
 * fast path sees the parked one) goes behind it, and a receive moves the
 * parked value into the freed slot before anything else. */
static void send_one_long(void *arg) {
    goc_chan *c = ((void **)arg)[0];
    long v = (long)(intptr_t)((void **)arg)[1];
    goc_chan_send(c, &v);
}

GTEST(ring_parked_sender_keeps_fifo) {
    static goc_waitgroup wg;
    goc_chan *c = test_chan_make(sizeof(long), 2);
    long v = 1;
    goc_chan_send(c, &v);
    v = 2;
    goc_chan_send(c, &v); /* full */
    static void *a[2], *b[2];
    a[0] = b[0] = c;
    a[1] = (void *)(intptr_t)3;
    b[1] = (void *)(intptr_t)4;
    CHECK_EQ_INT(goc_wg_go(&wg, send_one_long, a), 0);
    goc_sleep(20 * GOC_MILLISECOND); /* the first sender parks */
    CHECK_EQ_INT(goc_chan_len(c), 2);
    CHECK_EQ_INT(goc_wg_go(&wg, send_one_long, b), 0);
    goc_sleep(20 * GOC_MILLISECOND); /* the second parks behind it */
    for (long want = 1; want <= 4; want++) {
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, want);
    }
    goc_wg_wait(&wg);
    CHECK_EQ_INT(goc_chan_len(c), 0);
    goc_chan_release(c);
}

/* (4) close while consumers are parked on, or fast-receiving from, the
 * ring, right after the last producer's send returned: every value sent
 * is received exactly once, and no consumer sees ok=false before the ring
 * is empty (ring_consumer checks len then). Repeated, small rounds. */
GTEST(ring_close_races_receivers) {
    for (int round = 0; round < TEST_SCALE(200, 20); round++)
        run_ring_stress((size_t)(round % 5) + 1, 50, round % 3, round % 4);
}

/* (4) Sends that won a slot before close are delivered; sends after it
 * panic (send_on_closed_panics), and a receiver of a closed ring gets the
 * values before ok=false. */
GTEST(ring_close_delivers_buffered_then_false) {
    goc_chan *c = test_chan_make(sizeof(long), 5);
    for (long i = 0; i < 5; i++)
        goc_chan_send(c, &i);
    goc_chan_close(c);
    CHECK_EQ_INT(goc_chan_len(c), 5);
    long v;
    for (long i = 0; i < 5; i++) {
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, i);
    }
    v = 9;
    CHECK(!goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 0);
    goc_chan_release(c);
}

/* (5) Close while a send is in flight (it has won its slot, not yet
 * published the element): the send is delivered, and only then are
 * receivers told the channel is closed. Debug builds stall the sender in
 * that window (gchan_test_inflight_hook) until the receiver or the close
 * under test is inside it; release builds run the same sequence with the
 * send done first (the same outcome must hold). Sender, closer and
 * releaser are plain threads: a goroutine is never stalled inside goc's
 * code, and one that spins on an in-flight slot keeps its processor. */
static struct {
    goc_chan *c;
    atomic_int entered, release;
    atomic_llong exited_ns; /* when the stalled sender went on */
} inf;

/* A stalling hook's body: its first call for channel `want` sets entered
 * and waits (at most TEST_PATIENCE_S) for release. True if this call
 * stalled. */
static bool hook_stall_once(goc_chan *c, goc_chan *want, atomic_int *entered, atomic_int *release) {
    if (c != want || atomic_exchange(entered, 1))
        return false;
    test_deadline d = test_deadline_in(TEST_PATIENCE_S);
    while (!atomic_load(release) && !test_deadline_passed(&d))
        usleep(100);
    return true;
}

static void inflight_hook(goc_chan *c) {
    if (hook_stall_once(c, inf.c, &inf.entered, &inf.release))
        atomic_store(&inf.exited_ns, test_now_ns());
}

static void *inflight_sender(void *arg) {
    (void)arg;
    long v = 42;
    goc_chan_send(inf.c, &v);
    return NULL;
}

/* Start the sender; return once its send is in flight (Debug) or done. */
static pthread_t inflight_start(size_t cap) {
    inf.c = test_chan_make(sizeof(long), cap);
    atomic_store(&inf.entered, 0);
    atomic_store(&inf.release, 0);
    atomic_store(&inf.exited_ns, 0);
    atomic_store(&gchan_test_inflight_hook, inflight_hook);
    pthread_t s = test_thread_start(inflight_sender, NULL);
    if (gchan_test_inflight_hook_works) {
        WAIT_UNTIL(atomic_load(&inf.entered), TEST_PATIENCE_S);
    } else {
        test_thread_join(s);
        atomic_store(&inf.release, 1);
    }
    return s;
}

static void inflight_finish(pthread_t s) {
    atomic_store(&inf.release, 1);
    if (gchan_test_inflight_hook_works)
        test_thread_join(s);
    atomic_store(&gchan_test_inflight_hook, NULL);
}

struct inflight_recv {
    atomic_int started, done;
    long long started_ns;
    long v1, v2;
    bool ok1, ok2;
};

static void inflight_recv_twice(struct inflight_recv *r) {
    r->started_ns = test_now_ns();
    atomic_store(&r->started, 1);
    r->v1 = r->v2 = -1;
    r->ok1 = goc_chan_recv(inf.c, &r->v1);
    r->ok2 = goc_chan_recv(inf.c, &r->v2);
    atomic_store(&r->done, 1);
}

static void *inflight_recv_thread(void *arg) {
    inflight_recv_twice(arg);
    return NULL;
}

static void inflight_recv_go(void *arg) { inflight_recv_twice(arg); }

static void inflight_check(struct inflight_recv *r) {
    CHECK(r->ok1);
    CHECK_EQ_INT(r->v1, 42);
    CHECK(!r->ok2);
    CHECK_EQ_INT(r->v2, 0);
}

/* Close returns at once (nobody parked); a receiver that comes after it,
 * while the send is still in flight, must wait for the element rather
 * than report the channel closed and empty. */
TEST(ring_close_while_send_in_flight_delivers_it) {
    static struct inflight_recv r;
    pthread_t s = inflight_start(2);
    goc_chan_close(inf.c);
    pthread_t rt = test_thread_start(inflight_recv_thread, &r);
    WAIT_UNTIL(atomic_load(&r.started), TEST_PATIENCE_S);
    usleep(20000); /* the receiver is inside its receive, waiting */
    if (gchan_test_inflight_hook_works)
        CHECK(!atomic_load(&r.done));
    inflight_finish(s);
    test_thread_join(rt);
    inflight_check(&r);
    if (gchan_test_inflight_hook_works)
        CHECK_LT_INT(r.started_ns, atomic_load(&inf.exited_ns)); /* it did meet the window */
    goc_chan_release(inf.c);
}

static void *inflight_closer(void *arg) {
    goc_chan_close(arg);
    return NULL;
}

/* A receiver parked on the empty ring: RECVWAIT is in sendpos too, so a
 * send fails its fast CAS and takes the lock, where it hands the element
 * to the receiver; it is never in flight (the Debug hook, which would
 * stall it, is not called). A close after it tells the receiver's second
 * receive that the channel is closed and empty. */
TEST(ring_send_to_parked_receiver_is_never_in_flight) {
    static struct inflight_recv r;
    goc_chan *c = inf.c = test_chan_make(sizeof(long), 2);
    CHECK_EQ_INT(goc_go(inflight_recv_go, &r), 0);
    WAIT_PARKED("chan receive", 1);
    atomic_store(&inf.entered, 0);
    atomic_store(&inf.release, 0);
    atomic_store(&gchan_test_inflight_hook, inflight_hook);
    pthread_t s = test_thread_start(inflight_sender, NULL);
    test_thread_join(s); /* a stalled send would wait in the hook for TEST_PATIENCE_S */
    CHECK_EQ_INT(atomic_load(&inf.entered), 0);
    atomic_store(&gchan_test_inflight_hook, NULL);
    pthread_t ct = test_thread_start(inflight_closer, c);
    test_thread_join(ct);
    WAIT_UNTIL(atomic_load(&r.done), TEST_PATIENCE_S);
    inflight_check(&r);
    goc_chan_release(c);
}

/* Plain threads on the ring too (they block their thread rather than
 * park): fast and slow paths mixed with goroutines. */
GTEST(ring_plain_threads_and_goroutines_exact) {
    static struct ring_stress r;
    static goc_waitgroup producers;
    static test_group consumers;
    long per = TEST_SCALE(10000, 1000);
    r.c = test_chan_make(sizeof(long), 3);
    r.per = per;
    r.burst = 0;
    r.consumer_nap = 0;
    atomic_store(&r.next, 0);
    test_tally_init(&r.tally, RING_PRODUCERS * per);
    test_group_thread(&consumers, 2, ring_consumer, &r);
    test_group_go(&consumers, RING_CONSUMERS - 2, ring_consumer, &r);
    for (int i = 0; i < RING_PRODUCERS; i++)
        CHECK_EQ_INT(goc_wg_go(&producers, ring_producer, &r), 0);
    goc_wg_wait(&producers);
    goc_chan_close(r.c);
    test_group_wait(&consumers);
    test_tally_check(&r.tally);
    goc_chan_release(r.c);
}

/* ------------------------------------------------------------------ */
/* The lone processor's plain ring operations (chan.c): exact counts when */
/* another thread starts using a ring in the middle of lone traffic.     */

#if defined(__x86_64__) && !defined(GOC_RACE)
#define LONE_BUILD 1 /* chan.c's CHAN_LONE */
#else
#define LONE_BUILD 0
#endif

enum { LONE_GOROUTINE_PRODUCERS = 3, LONE_CONSUMERS = 2 };

static struct {
    goc_chan *c;
    long per;
    atomic_long next; /* producer ids */
    atomic_long sent; /* values sent so far, by every producer */
    test_tally tally;
} lone;

static void lone_send_all(void) {
    long id = atomic_fetch_add(&lone.next, 1);
    for (long i = 0; i < lone.per; i++) {
        long v = id * lone.per + i;
        goc_chan_send(lone.c, &v);
        atomic_fetch_add(&lone.sent, 1);
    }
}

static void lone_producer(void *arg) {
    (void)arg;
    lone_send_all();
}

static void *lone_plain_producer(void *arg) {
    (void)arg;
    lone_send_all();
    return NULL;
}

static int lone_blocking_producer(void *arg) {
    (void)arg;
    lone_send_all(); /* on an M that gave up its P: not the lone owner */
    return 0;
}

static void lone_blocking_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ_INT(goc_blocking(lone_blocking_producer, NULL), 0);
}

static void lone_consumer(void *arg) {
    (void)arg;
    long v;
    while (goc_chan_recv(lone.c, &v))
        test_tally_take(&lone.tally, v);
}

static void *lone_plain_consumer(void *arg) {
    lone_consumer(arg);
    return NULL;
}

enum lone_intruder { LONE_PLAIN_THREAD, LONE_BLOCKING_CALL, LONE_MAXPROCS_GROWS, LONE_TICKER };

/* Goroutine producers and consumers on one ring (lone traffic at one
 * processor: the ring fills and drains in turns of 256); once some of it
 * went through, a fourth producer of another kind joins (the intruder; a
 * plain thread comes with a consumer too), and then everything must
 * arrive exactly once. The intruders that touch the ring off any P end
 * the lone mode for good; a ticker's sends do not (sysmon leaves them to
 * the P); a processor added may or may not. */
static void lone_run(enum lone_intruder who) {
    lone.c = test_chan_make(sizeof(long), 256);
    lone.per = TEST_SCALE(20000, 2000);
    atomic_store(&lone.next, 0);
    atomic_store(&lone.sent, 0);
    test_tally_init(&lone.tally, (LONE_GOROUTINE_PRODUCERS + 1) * lone.per);
    if (LONE_BUILD && goc_maxprocs(0) == 1)
        CHECK(gchan_lone_mode()); /* nothing but P 0's goroutines used a ring yet */
    test_group consumers = {0};
    goc_waitgroup producers = {0};
    test_group_go(&consumers, LONE_CONSUMERS, lone_consumer, NULL);
    for (int i = 0; i < LONE_GOROUTINE_PRODUCERS; i++)
        CHECK_EQ_INT(goc_wg_go(&producers, lone_producer, NULL), 0);
    WAIT_UNTIL(atomic_load(&lone.sent) >= lone.per, TEST_PATIENCE_S);
    pthread_t th = 0, thc = 0;
    int prev = 0;
    goc_ticker *tk = NULL;
    switch (who) {
    case LONE_PLAIN_THREAD:
        thc = test_thread_start(lone_plain_consumer, NULL);
        th = test_thread_start(lone_plain_producer, NULL);
        break;
    case LONE_BLOCKING_CALL:
        CHECK_EQ_INT(goc_wg_go(&producers, lone_blocking_goroutine, NULL), 0);
        break;
    case LONE_MAXPROCS_GROWS:
        prev = goc_maxprocs(4);
        CHECK_EQ_INT(goc_wg_go(&producers, lone_producer, NULL), 0);
        break;
    case LONE_TICKER:
        /* Timer channels are rings (cap 1) that sysmon may fire into. */
        tk = goc_ticker_new(GOC_MILLISECOND);
        CHECK(tk != NULL);
        CHECK_EQ_INT(goc_wg_go(&producers, lone_producer, NULL), 0);
        break;
    }
    goc_wg_wait(&producers);
    if (th)
        test_thread_join(th);
    if (tk) {
        int64_t t;
        CHECK(goc_chan_recv(goc_ticker_chan(tk), &t)); /* it ticks all the while */
        goc_ticker_stop(tk);
    }
    goc_chan_close(lone.c);
    test_group_wait(&consumers);
    if (thc)
        test_thread_join(thc);
    test_tally_check(&lone.tally);
    CHECK_EQ_INT(goc_chan_len(lone.c), 0);
    goc_chan_release(lone.c);
    if (who == LONE_MAXPROCS_GROWS)
        goc_maxprocs(prev);
    if (who == LONE_PLAIN_THREAD || who == LONE_BLOCKING_CALL)
        CHECK(!gchan_lone_mode());
    if (who == LONE_TICKER && LONE_BUILD && goc_maxprocs(0) == 1)
        CHECK(gchan_lone_mode()); /* the ticks were sent on the P (time.c) */
}

GTEST(ring_lone_traffic_exact_when_plain_thread_joins) { lone_run(LONE_PLAIN_THREAD); }
GTEST(ring_lone_traffic_exact_when_blocking_call_joins) { lone_run(LONE_BLOCKING_CALL); }
GTEST(ring_lone_traffic_exact_when_maxprocs_grows) { lone_run(LONE_MAXPROCS_GROWS); }
GTEST(ring_lone_traffic_exact_beside_ticker) { lone_run(LONE_TICKER); }

/* The handshake itself, made to happen (Debug builds, at one processor):
 * the lone owner is stalled inside a plain send (gchan_test_lone_hook);
 * a plain thread that sends on another ring meanwhile must not get past
 * the handshake until the owner's operation is over, and afterwards the
 * mode is off and both values arrived. The controller is a plain thread:
 * the stalled owner holds the only processor. */
static struct {
    goc_chan *c, *c2;
    atomic_int entered, release, sharer_done;
    int sharer_done_early;
} lh;

static void lone_stall_hook(goc_chan *c) {
    (void)hook_stall_once(c, lh.c, &lh.entered, &lh.release);
}

static void *lone_sharer(void *arg) {
    (void)arg;
    long v = 2;
    goc_chan_send(lh.c2, &v); /* waits out the stalled plain send first */
    atomic_store(&lh.sharer_done, 1);
    return NULL;
}

static void *lone_controller(void *arg) {
    (void)arg;
    WAIT_UNTIL(atomic_load(&lh.entered), TEST_PATIENCE_S);
    pthread_t t = test_thread_start(lone_sharer, NULL);
    usleep(20000); /* long enough for the sharer to be waiting */
    lh.sharer_done_early = atomic_load(&lh.sharer_done);
    atomic_store(&lh.release, 1);
    test_thread_join(t);
    return NULL;
}

static void lone_stalled_sender(void *arg) {
    goc_waitgroup *wg = arg;
    long v = 1;
    goc_chan_send(lh.c, &v); /* the hooked plain send */
    goc_wg_done(wg);
}

GTEST(ring_lone_sharer_waits_out_a_plain_send) {
    lh.c = test_chan_make(sizeof(long), 4);
    lh.c2 = test_chan_make(sizeof(long), 4);
    atomic_store(&lh.entered, 0);
    atomic_store(&lh.release, 0);
    atomic_store(&lh.sharer_done, 0);
    bool lone = LONE_BUILD && goc_maxprocs(0) == 1;
    if (lone)
        CHECK(gchan_lone_mode());
    /* Without the hook (release builds) or the mode (more processors, the
     * race build), the same sequence with the send done first. */
    bool stall = lone && gchan_test_inflight_hook_works;
    pthread_t ctl = 0;
    if (stall) {
        atomic_store(&gchan_test_lone_hook, lone_stall_hook);
        ctl = test_thread_start(lone_controller, NULL);
    }
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 1);
    TEST_GO(lone_stalled_sender, &wg);
    goc_wg_wait(&wg);
    if (stall) {
        test_thread_join(ctl);
        atomic_store(&gchan_test_lone_hook, NULL);
        CHECK_EQ_INT(lh.sharer_done_early, 0); /* it waited for the plain send */
    } else {
        test_thread_join(test_thread_start(lone_sharer, NULL));
    }
    CHECK_EQ_INT(atomic_load(&lh.sharer_done), 1);
    CHECK(!gchan_lone_mode());
    long v = 0;
    CHECK(goc_chan_recv(lh.c, &v));
    CHECK_EQ_INT(v, 1);
    CHECK(goc_chan_recv(lh.c2, &v));
    CHECK_EQ_INT(v, 2);
    goc_chan_release(lh.c);
    goc_chan_release(lh.c2);
}
