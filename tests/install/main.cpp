// A C++ program against an installed goc (CTest install.cxx.*): <goc.h>
// compiles as C++11 and later (built by check.sh with -std=c++11, c++17 and
// c++20, -Wall -Wextra -pedantic -Werror), its structs have the layout the C
// library has (layout.h), and the runtime runs: GOC_GO, channels and select
// with GOC_SEND / GOC_RECV, a mutex, a WaitGroup and a context.
#include <goc.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "layout.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

namespace {

struct job {
    int id;
    goc_chan *out; // chan long; the job's own reference
};

void worker(void *p) {
    const job *j = static_cast<const job *>(p);
    long v = 10L * j->id;
    goc_chan_send(j->out, &v);
    goc_chan_release(j->out);
}

goc_mutex mu = GOC_MUTEX_INIT;
goc_waitgroup wg = {};
long total;

void adder(void *arg) {
    goc_mutex_lock(&mu);
    total += static_cast<long>(reinterpret_cast<std::intptr_t>(arg));
    goc_mutex_unlock(&mu);
    goc_wg_done(&wg);
}

// goc_panic is noreturn in C++ too: no "control reaches end" warning here.
int positive(int x) {
    if (x > 0)
        return x;
    goc_panic("not positive: %d", x);
}

int body(void *) {
    CHECK(goc_id() != 0);

    // GOC_GO: each worker gets its own copy of a job.
    goc_chan *results = goc_chan_make(sizeof(long), 0);
    CHECK(results != nullptr);
    for (int i = 1; i <= 4; i++)
        CHECK(GOC_GO(worker, job, i, goc_chan_retain(results)) == 0);
#if __cplusplus >= 202002L
    CHECK(GOC_GO(worker, job, .id = 5, .out = goc_chan_retain(results)) == 0);
    const int jobs = 5;
#else
    const int jobs = 4;
#endif

    // select: receive every result while sending one value into a buffered
    // channel; a nil channel's case never fires.
    goc_chan *buf = goc_chan_make(sizeof(long), 1);
    CHECK(buf != nullptr);
    const long out = 42;
    long v = 0, sum = 0;
    bool ok = false;
    int received = 0, sent = 0;
    while (received < jobs || sent < 1) {
        goc_case cases[] = {
            GOC_RECV(received < jobs ? results : nullptr, &v, &ok),
            GOC_SEND(sent < 1 ? buf : nullptr, &out),
            GOC_RECV(nullptr, nullptr, nullptr),
        };
        int i = goc_select(cases, sizeof cases / sizeof cases[0]);
        CHECK(i == 0 || i == 1);
        if (i == 0) {
            CHECK(ok);
            sum += v;
            received++;
        } else {
            sent++;
        }
    }
    CHECK(sum == 10L * jobs * (jobs + 1) / 2);
    CHECK(goc_chan_recv(buf, &v) && v == 42);
    goc_chan_close(buf);
    goc_case closed[] = {GOC_RECV(buf, &v, &ok)};
    CHECK(goc_select_try(closed, 1) == 0 && !ok && v == 0);
    goc_chan_release(buf);
    goc_chan_release(results);

    // A WaitGroup and a mutex (zero values, as in Go).
    for (int i = 1; i <= 100; i++) {
        goc_wg_add(&wg, 1);
        CHECK(goc_go(adder, reinterpret_cast<void *>(static_cast<std::intptr_t>(i))) == 0);
    }
    goc_wg_wait(&wg);
    goc_mutex_lock(&mu);
    CHECK(total == 5050);
    goc_mutex_unlock(&mu);

    // A context: its deadline ends a receive that nothing would satisfy, and
    // its Done channel fires in a select.
    goc_chan *never = goc_chan_make(sizeof(long), 0);
    goc_ctx *ctx = goc_ctx_with_timeout(nullptr, 20 * GOC_MILLISECOND);
    CHECK(never != nullptr && ctx != nullptr);
    CHECK(goc_chan_recv_ctx(never, &v, &ok, ctx) == -ETIMEDOUT);
    goc_case done[] = {GOC_RECV(never, &v, nullptr), GOC_RECV(goc_ctx_done(ctx), nullptr, nullptr)};
    CHECK(goc_select(done, 2) == 1);
    CHECK(goc_ctx_err(ctx) == -ETIMEDOUT);
    goc_ctx_release(ctx);
    goc_chan_release(never);

    return positive(1) - 1;
}

} // namespace

int main() {
    int rc = goc_run(body, nullptr);
    std::printf("C++ %ld: goc_run returned %d\n", static_cast<long>(__cplusplus), rc);
    return rc;
}
