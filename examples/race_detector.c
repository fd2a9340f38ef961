/* race_detector.c — a data race for the race detector to find.
 *
 * Go original (the classic from "Introducing the Go Race Detector"):
 *
 *     func main() {
 *         hits := 0
 *         var wg sync.WaitGroup
 *         for i := 0; i < 2; i++ {
 *             wg.Add(1)
 *             go func() {
 *                 defer wg.Done()
 *                 hits++ // DATA RACE: two goroutines, no synchronization
 *             }()
 *         }
 *         wg.Wait()
 *         fmt.Println("hits:", hits)
 *     }
 *
 * `go run -race` reports the race. So does goc's race build: configure goc
 * with clang and -DGOC_SANITIZE=thread (make test-race does), build this
 * program with -fsanitize=thread, and ThreadSanitizer prints
 * "WARNING: ThreadSanitizer: data race" with both stacks, naming the
 * goroutines ("goroutine 2", "goroutine 3") as go test -race does, at any
 * GOCMAXPROCS, including 1. The CTest case example.race_detector expects
 * that report in the race build; in other builds nothing looks for races
 * and the program just runs (make test-race reports it).
 *
 * The fix is what Go's would be: a goc_mutex around hits++, an atomic, or
 * one goroutine owning the counter and the others sending to it. */
#include <goc.h>
#include <stdio.h>

static int hits;         /* hits := 0 (shared, unprotected) */
static goc_waitgroup wg; /* var wg sync.WaitGroup */

static void hit(void *arg) { /* go func() { ... }() */
    (void)arg;
    hits++;           /* hits++  -- the race */
    goc_wg_done(&wg); /* defer wg.Done() */
}

static int run(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) { /* for i := 0; i < 2; i++ */
        goc_wg_add(&wg, 1);       /* wg.Add(1) */
        if (goc_go(hit, NULL) != 0) {
            fprintf(stderr, "goc_go failed\n");
            return 1;
        }
    }
    goc_wg_wait(&wg);           /* wg.Wait() */
    printf("hits: %d\n", hits); /* fmt.Println("hits:", hits) */
    return 0;                   /* 2, or 1 if an increment was lost: the race decides */
}

int main(void) { return goc_run(run, NULL); }
