/* worker_pool.c — a fixed pool of workers tracked by a WaitGroup.
 *
 * Go original (worker pool):
 *
 *     tasksCh := make(chan Task)
 *     resultsCh := make(chan Result, len(tasks))
 *
 *     var wg sync.WaitGroup
 *     for i := 0; i < numWorkers; i++ {
 *         wg.Add(1)
 *         go func() {
 *             defer wg.Done()
 *             for task := range tasksCh {
 *                 resultsCh <- process(task)
 *             }
 *         }()
 *     }
 *     for _, t := range tasks { tasksCh <- t }
 *     close(tasksCh)
 *
 *     wg.Wait()
 *     close(resultsCh)
 *     for r := range resultsCh { results = append(results, r) }
 *
 * The results buffer has room for every task, so the workers never block on
 * it and the main goroutine can wait before it reads. Which worker handles
 * which task varies; the set of results does not. */
#include <goc.h>
#include <stdio.h>

enum { TASKS = 200, WORKERS = 5 };

struct result {
    int task, value, worker;
};

struct pool {
    goc_chan *tasks;   /* chan int */
    goc_chan *results; /* chan struct result, cap TASKS */
    _Atomic int next_id;
};

static void worker(void *arg) { /* go func() { defer wg.Done(); ... }() */
    struct pool *p = arg;
    int id = p->next_id++; /* atomic: a worker number for the printout */
    int task;
    while (goc_chan_recv(p->tasks, &task)) {        /* for task := range tasksCh */
        struct result r = {task, task * 3 + 1, id}; /* process(task) */
        goc_chan_send(p->results, &r);
    }
}

static int run(void *arg) {
    (void)arg;
    struct pool p = {.tasks = goc_chan_make(sizeof(int), 0),
                     .results = goc_chan_make(sizeof(struct result), TASKS)};
    if (!p.tasks || !p.results) {
        fprintf(stderr, "worker_pool: out of memory\n");
        return 1;
    }
    goc_waitgroup wg = {0};
    for (int i = 0; i < WORKERS; i++)
        if (goc_wg_go(&wg, worker, &p) != 0) { /* wg.Add(1); go ...; defer wg.Done() */
            fprintf(stderr, "worker_pool: cannot start a worker\n");
            return 1;
        }
    for (int t = 0; t < TASKS; t++)
        goc_chan_send(p.tasks, &t);
    goc_chan_close(p.tasks); /* close(tasksCh): the workers' range loops end */

    goc_wg_wait(&wg);          /* wg.Wait() */
    goc_chan_close(p.results); /* close(resultsCh) */

    bool seen[TASKS] = {false};
    int per_worker[WORKERS] = {0};
    int count = 0, bad = 0;
    struct result r;
    while (goc_chan_recv(p.results, &r)) { /* for r := range resultsCh */
        count++;
        if (r.task < 0 || r.task >= TASKS || seen[r.task] || r.value != r.task * 3 + 1 ||
            r.worker < 0 || r.worker >= WORKERS) {
            bad++;
            continue;
        }
        seen[r.task] = true;
        per_worker[r.worker]++;
    }
    goc_chan_release(p.tasks);
    goc_chan_release(p.results);

    for (int i = 0; i < WORKERS; i++)
        printf("worker %d processed %d tasks\n", i, per_worker[i]);
    printf("%d results for %d tasks\n", count, TASKS);
    if (count != TASKS || bad != 0) {
        fprintf(stderr, "worker_pool: got %d results (%d wrong), want %d\n", count, bad, TASKS);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
