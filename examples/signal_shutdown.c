/* signal_shutdown.c — a worker pool that stops cleanly on SIGINT or SIGTERM.
 *
 * Go original (signal.Notify cancelling a context):
 *
 *     func main() {
 *         sigs := make(chan os.Signal, 1)
 *         signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
 *         defer signal.Stop(sigs)
 *
 *         ctx, cancel := context.WithCancel(context.Background())
 *         go func() {
 *             s := <-sigs
 *             fmt.Println("got", s)
 *             cancel()
 *         }()
 *
 *         if len(os.Args) == 1 { // the demo ends by itself
 *             time.AfterFunc(200*time.Millisecond, func() {
 *                 syscall.Kill(os.Getpid(), syscall.SIGTERM)
 *             })
 *         }
 *
 *         jobs := make(chan int)
 *         var done atomic.Int64
 *         var wg sync.WaitGroup
 *         for w := 0; w < 4; w++ {
 *             wg.Add(1)
 *             go func() {
 *                 defer wg.Done()
 *                 for j := range jobs {
 *                     process(j) // 2 ms of work
 *                     done.Add(1)
 *                 }
 *             }()
 *         }
 *
 *         sent := 0
 *     loop:
 *         for {
 *             select {
 *             case jobs <- sent:
 *                 sent++
 *             case <-ctx.Done():
 *                 break loop
 *             }
 *         }
 *         close(jobs) // the workers finish the jobs they took, then return
 *         wg.Wait()
 *         fmt.Println(sent, "jobs sent,", done.Load(), "done")
 *     }
 *
 * Run with no arguments, it sends itself SIGTERM after 200 ms; run with any
 * argument, it works until you press Ctrl-C (SIGINT) or `kill` it. Either
 * way every job handed out is finished before the program exits with 0. */
#include <goc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

enum { WORKERS = 4 };

struct pool {
    goc_chan *jobs; /* chan int */
    _Atomic long done;
};

static void worker(void *arg) { /* go func() { defer wg.Done(); ... }() */
    struct pool *p = arg;
    int job;
    while (goc_chan_recv(p->jobs, &job)) { /* for j := range jobs */
        goc_sleep(2 * GOC_MILLISECOND);    /* process(j) */
        p->done++;                         /* done.Add(1) */
    }
}

struct watcher {
    goc_chan *sigs; /* its own reference */
    goc_ctx *ctx;   /* its own reference */
    int *got;
};

static void watch_signals(void *arg) { /* go func() { ... }() */
    struct watcher *w = arg;
    int sig = 0;
    goc_chan_recv(w->sigs, &sig); /* s := <-sigs */
    printf("got %s\n", sig == SIGINT ? "interrupt" : sig == SIGTERM ? "terminated" : "?");
    *w->got = sig;
    goc_ctx_cancel(w->ctx); /* cancel() */
    goc_ctx_release(w->ctx);
    goc_chan_release(w->sigs);
}

static void send_sigterm(void *arg) { /* func() { syscall.Kill(...) } */
    (void)arg;
    kill(getpid(), SIGTERM);
}

static int run(void *arg) {
    bool demo = *(bool *)arg;
    goc_chan *sigs = goc_chan_make(sizeof(int), 1); /* sigs := make(chan os.Signal, 1) */
    goc_ctx *ctx = goc_ctx_with_cancel(NULL);       /* ctx, cancel := context.WithCancel(...) */
    struct pool p = {.jobs = goc_chan_make(sizeof(int), 0)}; /* jobs := make(chan int) */
    if (!sigs || !ctx || !p.jobs) {
        fprintf(stderr, "signal_shutdown: out of memory\n");
        return 1;
    }
    const int wanted[] = {SIGINT, SIGTERM};
    int err = goc_signal_notify(sigs, wanted, 2); /* signal.Notify(sigs, os.Interrupt, SIGTERM) */
    if (err) {
        fprintf(stderr, "signal_shutdown: goc_signal_notify: %s\n", goc_strerror(err));
        return 1;
    }

    int got = 0; /* written before cancel(), read after <-ctx.Done() */
    if (GOC_GO(watch_signals, struct watcher, goc_chan_retain(sigs), goc_ctx_retain(ctx), &got) !=
        0) { /* go func() { s := <-sigs; ...; cancel() }() */
        fprintf(stderr, "signal_shutdown: cannot start the watcher\n");
        return 1;
    }

    goc_timer *self_kill = NULL;
    if (demo) /* if len(os.Args) == 1 { time.AfterFunc(200ms, ...) } */
        self_kill = goc_after_func(200 * GOC_MILLISECOND, send_sigterm, NULL);
    else
        printf("working: press Ctrl-C to stop\n");

    goc_waitgroup wg = {0};
    for (int i = 0; i < WORKERS; i++)
        if (goc_wg_go(&wg, worker, &p) != 0) { /* wg.Add(1); go func() {...}() */
            fprintf(stderr, "signal_shutdown: cannot start a worker\n");
            return 1;
        }

    int sent = 0;
    for (;;) { /* loop: for { select { ... } } */
        goc_case cs[] = {GOC_SEND(p.jobs, &sent), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
        if (goc_select(cs, 2) == 1) /* case <-ctx.Done(): break loop */
            break;
        sent++; /* case jobs <- sent: sent++ */
    }
    goc_chan_close(p.jobs); /* close(jobs) */
    goc_wg_wait(&wg);       /* wg.Wait() */
    goc_signal_stop(sigs);  /* defer signal.Stop(sigs) */
    /* fmt.Println(sent, "jobs sent,", done.Load(), "done") */
    printf("%d jobs sent, %ld done\n", sent, (long)p.done);

    goc_timer_free(self_kill); /* (C: the timer's memory) */
    goc_ctx_release(ctx);
    goc_chan_release(sigs);
    goc_chan_release(p.jobs);
    if (got != SIGINT && got != SIGTERM) {
        fprintf(stderr, "signal_shutdown: stopped without a signal (%d)\n", got);
        return 1;
    }
    if (sent == 0 || p.done != sent) {
        fprintf(stderr, "signal_shutdown: %d jobs sent but %ld done\n", sent, (long)p.done);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    (void)argv;
    bool demo = argc < 2;
    return goc_run(run, &demo);
}
