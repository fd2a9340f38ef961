/* query_racing.c — ask several replicas the same query; the first answer wins.
 *
 * Go original (Go Concurrency Patterns, "replicated search"):
 *
 *     func Query(conns []Conn, query string) Result {
 *         ch := make(chan Result, len(conns)) // room for every answer
 *         for _, conn := range conns {
 *             go func(c Conn) { ch <- c.DoQuery(query) }(conn)
 *         }
 *         return <-ch // the first answer wins
 *     }
 *
 * The buffer is what keeps this leak-free: the losers' sends still complete
 * (into the buffer), so every replica goroutine exits although nobody ever
 * receives their answers. With an unbuffered channel the losers would block
 * forever. (A buffer of 1 plus `select { case ch <- r: default: }` in each
 * replica is the other common way to get the same guarantee.)
 *
 * Which replica wins depends on scheduling, so that part of the output
 * varies; the answer does not. */
#include <goc.h>
#include <stdbool.h>
#include <stdio.h>

enum { REPLICAS = 4, QUERIES = 5 };

struct answer {
    int replica;
    long value;
};

struct replica_args {
    goc_chan *results; /* chan struct answer, capacity REPLICAS */
    int replica;
    long query;
};

static void replica(void *arg) { /* go func(c Conn) { ch <- c.DoQuery(query) }(conn) */
    struct replica_args *a = arg;
    /* "Do the query": each replica takes a different number of steps. */
    for (int i = 0; i < 1 + a->replica * 3; i++)
        goc_yield();
    struct answer ans = {a->replica, a->query * a->query};
    goc_chan_send(a->results, &ans); /* never blocks: there is room for everyone */
    goc_chan_release(a->results);
}

static struct answer query(long q) {
    goc_chan *results = goc_chan_make(sizeof(struct answer), REPLICAS);
    for (int r = 0; r < REPLICAS; r++)
        GOC_GO(replica, struct replica_args, .results = goc_chan_retain(results), .replica = r,
               .query = q);
    struct answer first;
    goc_chan_recv(results, &first); /* return <-ch */
    goc_chan_release(results);      /* the losers still hold their references */
    return first;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    bool ok = true;
    for (long q = 1; q <= QUERIES; q++) {
        struct answer a = query(q);
        printf("query %ld: answer %ld (first from replica %d)\n", q, a.value, a.replica);
        ok = ok && a.value == q * q && a.replica >= 0 && a.replica < REPLICAS;
    }

    /* Every losing replica finishes its send into the buffer and exits. They
     * may run on other OS threads: yield (a bounded number of times, cheap
     * when there is nothing else to run here) until they are gone. */
    for (long i = 0; i < 10000000 && goc_num_goroutine() > start; i++)
        goc_yield();
    int leaked = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", leaked);

    if (!ok || leaked != 0) {
        fprintf(stderr, "query_racing: %s, %d goroutines leaked\n",
                ok ? "answers right" : "wrong answer", leaked);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
