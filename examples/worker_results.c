/* worker_results.c — a worker pool: a jobs channel, a results channel, and a
 * WaitGroup that closes results once every worker is done.
 *
 * Go original (worker pool):
 *
 *     jobs := make(chan Job, 100)
 *     results := make(chan Result)
 *     go func() { // send the jobs, then close
 *         for i := 0; i < 20; i++ { jobs <- Job{ID: i, N: i + 1} }
 *         close(jobs)
 *     }()
 *
 *     var wg sync.WaitGroup
 *     for w := 0; w < 3; w++ {
 *         wg.Add(1)
 *         go func(id int) {
 *             defer wg.Done()
 *             for job := range jobs { results <- process(job, id) }
 *         }(w)
 *     }
 *     go func() { wg.Wait(); close(results) }() // no more results
 *
 *     for r := range results { collected[r.JobID] = r }
 *
 * Here process(job) counts the Collatz steps of job.N. Results arrive in any
 * order; they are stored by job id, printed in id order and each checked
 * against a plain sequential computation. */
#include <goc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { JOBS = 20, WORKERS = 3 };

struct job {
    int id;
    long n;
};

struct result {
    int job_id;
    int worker;
    long steps;
};

static goc_chan *jobs;    /* chan struct job, buffered */
static goc_chan *results; /* chan struct result, unbuffered */
static goc_waitgroup wg;  /* the zero value is ready to use */

static long collatz_steps(long n) { /* the "work" of one job */
    long steps = 0;
    for (; n != 1; steps++)
        n = n % 2 == 0 ? n / 2 : 3 * n + 1;
    return steps;
}

static void producer(void *arg) {
    (void)arg;
    for (int i = 0; i < JOBS; i++) {
        struct job j = {.id = i, .n = i + 1};
        goc_chan_send(jobs, &j);
    }
    goc_chan_close(jobs); /* the workers' range loops end once it is drained */
}

static void worker(void *arg) {
    int id = (int)(intptr_t)arg;
    struct job j;
    while (goc_chan_recv(jobs, &j)) { /* for job := range jobs */
        struct result r = {.job_id = j.id, .worker = id, .steps = collatz_steps(j.n)};
        goc_chan_send(results, &r);
    }
    goc_wg_done(&wg); /* defer wg.Done() */
}

static void closer(void *arg) { /* go func() { wg.Wait(); close(results) }() */
    (void)arg;
    goc_wg_wait(&wg);
    goc_chan_close(results);
}

static int run(void *arg) {
    (void)arg;
    jobs = goc_chan_make(sizeof(struct job), 100);
    results = goc_chan_make(sizeof(struct result), 0);

    goc_go(producer, NULL);
    for (int w = 0; w < WORKERS; w++) {
        goc_wg_add(&wg, 1); /* Add before go, never inside the goroutine */
        goc_go(worker, (void *)(intptr_t)w);
    }
    goc_go(closer, NULL);

    struct result collected[JOBS];
    bool seen[JOBS] = {false};
    int count = 0, per_worker[WORKERS] = {0};
    struct result r;
    while (goc_chan_recv(results, &r)) { /* for r := range results */
        if (r.job_id < 0 || r.job_id >= JOBS || seen[r.job_id] || r.worker < 0 ||
            r.worker >= WORKERS) {
            fprintf(stderr, "worker_results: bad or duplicate result for job %d\n", r.job_id);
            return 1;
        }
        seen[r.job_id] = true;
        collected[r.job_id] = r;
        per_worker[r.worker]++;
        count++;
    }

    int handled = 0;
    for (int w = 0; w < WORKERS; w++)
        handled += per_worker[w];
    bool ok = count == JOBS && handled == JOBS;
    for (int i = 0; i < JOBS; i++) {
        if (!seen[i]) {
            ok = false;
            continue;
        }
        long want = collatz_steps(i + 1);
        printf("job %2d: collatz(%2d) = %3ld steps\n", i, i + 1, collected[i].steps);
        if (collected[i].steps != want) {
            fprintf(stderr, "worker_results: job %d: got %ld steps, want %ld\n", i,
                    collected[i].steps, want);
            ok = false;
        }
    }
    goc_chan_release(jobs);
    goc_chan_release(results);
    if (!ok) {
        fprintf(stderr, "worker_results: %d of %d results collected correctly\n", count, JOBS);
        return 1;
    }
    printf("%d workers handled %d jobs; every result checked\n", WORKERS, JOBS);
    return 0;
}

int main(void) { return goc_run(run, NULL); }
