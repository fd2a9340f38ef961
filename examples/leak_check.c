/* leak_check.c — catching a goroutine leak with goc_leak_check (goleak).
 *
 * Go original: the "first response wins" query with an unbuffered channel,
 * the classic goroutine leak, caught in a test by go.uber.org/goleak:
 *
 *     func First(query string, replicas ...Search) Result {
 *         c := make(chan Result)                     // BUG: unbuffered
 *         for _, r := range replicas {
 *             go func(r Search) { c <- r(query) }(r) // the losers block forever
 *         }
 *         return <-c
 *     }
 *
 *     func TestFirst(t *testing.T) {
 *         defer goleak.VerifyNone(t) // fails: 2 goroutines [chan send]
 *         First("golang", fake1, fake2, fake3)
 *     }
 *
 * The fix: c := make(chan Result, len(replicas)): every loser's send
 * completes into the buffer and its goroutine exits. (Or pass a context and
 * select on ctx.Done() beside the send.)
 *
 * goc_leak_check(wait, fd) is VerifyNone: it waits up to `wait` for every
 * goroutine but the caller to exit, and returns how many are left, having
 * written their dump (id, wait reason and for how long, stack, and "created
 * by f in goroutine N": where each was started) to fd. */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { REPLICAS = 3 };

struct search {
    goc_chan *results; /* chan long */
    int replica;
    long query;
};

static void replica(void *arg) { /* go func(r Search) { c <- r(query) }(r) */
    struct search *s = arg;
    for (int i = 0; i < s->replica; i++) /* the replicas answer in turn */
        goc_sleep(GOC_MILLISECOND);
    long answer = s->query * 10 + s->replica;
    goc_chan_send(s->results, &answer); /* the losers of the leaky version block here */
    goc_chan_release(s->results);
}

/* First(query) with a results channel of capacity `cap`: 0 is the bug,
 * REPLICAS the fix. */
static long first(long query, size_t cap, goc_chan **keep) {
    goc_chan *c = goc_chan_make(sizeof(long), cap);
    for (int r = 0; r < REPLICAS; r++)
        GOC_GO(replica, struct search, .results = goc_chan_retain(c), .replica = r, .query = query);
    long answer;
    goc_chan_recv(c, &answer); /* return <-c */
    if (keep)
        *keep = c; /* only so that this demo can unblock the losers later */
    else
        goc_chan_release(c);
    return answer;
}

/* goc_leak_check with its dump captured in a temporary file, printed
 * indented, and returned for the checks below. */
static int leak_check(goc_duration wait, char *dump, size_t size) {
    FILE *f = tmpfile();
    if (!f)
        return -1;
    int n = goc_leak_check(wait, fileno(f));
    ssize_t k = pread(fileno(f), dump, size - 1, 0);
    dump[k > 0 ? k : 0] = '\0';
    fclose(f);
    for (const char *p = dump; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("    | %.*s\n", len, p);
        p += len + (nl != NULL);
    }
    return n;
}

static int run(void *arg) {
    (void)arg;
    static char dump[1 << 16];
    bool ok = true;

    /* The bug: two losers stay blocked in [chan send] forever. */
    goc_chan *leaky = NULL;
    long a = first(4, 0, &leaky);
    printf("unbuffered: first answer %ld\n", a);
    int n = leak_check(100 * GOC_MILLISECOND, dump, sizeof dump);
    printf("leak check: %d goroutine(s) still alive\n", n);
    ok = ok && n == REPLICAS - 1;
    ok = ok && strstr(dump, "[chan send, ") != NULL && strstr(dump, "created by ") != NULL;

    /* (Only a demo can reach in and unblock them: take their answers.) */
    for (int i = 0; i < REPLICAS - 1; i++)
        goc_chan_recv(leaky, NULL);
    goc_chan_release(leaky);

    /* The fix: room for every answer, so every replica exits. */
    a = first(5, REPLICAS, NULL);
    printf("buffered: first answer %ld\n", a);
    n = leak_check(GOC_SECOND, dump, sizeof dump);
    printf("leak check after the fix: %d goroutine(s) still alive\n", n);
    ok = ok && n == 0;

    if (!ok) {
        fprintf(stderr, "leak_check: the leak was not reported as expected\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}

int main(void) { return goc_run(run, NULL); }
