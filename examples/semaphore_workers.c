/* semaphore_workers.c — a weighted semaphore bounds how many goroutines
 * work at once.
 *
 * Go original (golang.org/x/sync/semaphore):
 *
 *     sem := semaphore.NewWeighted(maxWorkers)
 *     for i := range tasks {
 *         if err := sem.Acquire(ctx, 1); err != nil {
 *             break
 *         }
 *         go func(i int) {
 *             defer sem.Release(1)
 *             out[i] = work(i)
 *         }(i)
 *     }
 *     // Acquire all of the tokens to wait for any remaining workers.
 *     if err := sem.Acquire(ctx, maxWorkers); err != nil { ... }
 *
 * Every task starts its own goroutine, but at most maxWorkers of them are
 * past Acquire at any moment: each counts itself in and out with an atomic,
 * and the highest count seen is checked. Acquiring the whole capacity at
 * the end is the wait for the stragglers. */
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>

enum { TASKS = 40, MAX_WORKERS = 3 };

static _Atomic int in_flight, max_in_flight;
static long out[TASKS];

struct task {
    goc_sema *sem;
    int i;
};

static void work(void *arg) {
    struct task *t = arg;
    int now = atomic_fetch_add(&in_flight, 1) + 1;
    int seen = atomic_load(&max_in_flight);
    while (now > seen && !atomic_compare_exchange_weak(&max_in_flight, &seen, now)) {
    }
    goc_sleep(GOC_MILLISECOND / 4); /* some work, so that workers overlap */
    out[t->i] = (long)t->i * t->i;  /* out[i] = work(i) */
    atomic_fetch_sub(&in_flight, 1);
    goc_sema_release(t->sem, 1); /* defer sem.Release(1) */
}

static int run(void *arg) {
    (void)arg;
    goc_sema *sem = goc_sema_new(MAX_WORKERS); /* semaphore.NewWeighted(maxWorkers) */
    if (!sem) {
        fprintf(stderr, "semaphore_workers: out of memory\n");
        return 1;
    }
    for (int i = 0; i < TASKS; i++) {
        int err = goc_sema_acquire(sem, 1, NULL);
        if (err) {
            fprintf(stderr, "semaphore_workers: acquire: %s\n", goc_strerror(err));
            return 1;
        }
        if (GOC_GO(work, struct task, .sem = sem, .i = i) != 0) {
            fprintf(stderr, "semaphore_workers: cannot start a goroutine\n");
            return 1;
        }
    }
    int err = goc_sema_acquire(sem, MAX_WORKERS, NULL); /* wait for the rest */
    if (err) {
        fprintf(stderr, "semaphore_workers: final acquire: %s\n", goc_strerror(err));
        return 1;
    }
    bool free_now = !goc_sema_try_acquire(sem, 1); /* every unit is ours: none is free */
    goc_sema_release(sem, MAX_WORKERS);
    goc_sema_free(sem);

    long sum = 0, want = 0;
    for (int i = 0; i < TASKS; i++) {
        sum += out[i];
        want += (long)i * i;
    }
    int max = atomic_load(&max_in_flight);
    printf("%d tasks, at most %d in flight (limit %d), sum of results %ld\n", TASKS, max,
           MAX_WORKERS, sum);
    if (max < 1 || max > MAX_WORKERS || sum != want || atomic_load(&in_flight) != 0 || !free_now) {
        fprintf(stderr, "semaphore_workers: max in flight %d (limit %d), sum %ld want %ld\n", max,
                MAX_WORKERS, sum, want);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
