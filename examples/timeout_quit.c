/* timeout_quit.c — a search with a timeout and a quit channel.
 *
 * Go original (Effective Go patterns, "Solution 2: Quit Channel"):
 *
 *     go func() {
 *         select {
 *         case results <- performSearch(query):
 *         case <-quit:
 *             return
 *         }
 *     }()
 *     select {
 *     case r := <-results:  return r, nil
 *     case <-time.After(timeout): close(quit); return Result{}, errors.New("timeout")
 *     }
 *
 * A fast search answers in time; a slow one times out, and closing quit
 * lets its goroutine exit instead of blocking forever on the send. */
#include <goc.h>
#include <stdio.h>

struct search {
    goc_chan *results; /* chan long */
    goc_chan *quit;    /* chan struct{} */
    goc_duration work; /* how long the search takes */
    long answer;
};

static void searcher(void *arg) {
    struct search *s = arg;
    goc_sleep(s->work); /* performSearch */
    goc_case cs[] = {GOC_SEND(s->results, &s->answer), GOC_RECV(s->quit, NULL, NULL)};
    goc_select(cs, 2);
}

/* Returns 0 with *out set, or -1 on timeout. */
static int search(struct search *s, goc_duration timeout, long *out) {
    s->results = goc_chan_make(sizeof(long), 0);
    s->quit = goc_chan_make(0, 0);
    goc_go(searcher, s);
    goc_chan *after = goc_after(timeout);
    long r;
    goc_case cs[] = {GOC_RECV(s->results, &r, NULL), GOC_RECV(after, NULL, NULL)};
    int i = goc_select(cs, 2);
    goc_chan_release(after);
    if (i == 1)
        goc_chan_close(s->quit); /* the searcher gives up its send and exits */
    else
        *out = r;
    return i == 0 ? 0 : -1;
}

static int run(void *arg) {
    (void)arg;
    int start = goc_num_goroutine();
    struct search fast = {.work = 1 * GOC_MILLISECOND, .answer = 42};
    struct search slow = {.work = 200 * GOC_MILLISECOND, .answer = 7};
    long r = 0;
    int rc1 = search(&fast, 100 * GOC_MILLISECOND, &r);
    printf("fast search: %s, result %ld\n", rc1 == 0 ? "ok" : "timeout", r);
    int rc2 = search(&slow, 20 * GOC_MILLISECOND, &r);
    printf("slow search: %s\n", rc2 == 0 ? "ok" : "timeout");
    /* The slow searcher wakes after 200 ms, sees quit closed and exits. */
    for (int i = 0; i < 100 && goc_num_goroutine() > start; i++)
        goc_sleep(10 * GOC_MILLISECOND);
    int leaked = goc_num_goroutine() - start;
    printf("goroutines left behind: %d\n", leaked);
    goc_chan_release(fast.results);
    goc_chan_release(fast.quit);
    goc_chan_release(slow.results);
    goc_chan_release(slow.quit);
    if (rc1 != 0 || r != 42 || rc2 != -1 || leaked != 0) {
        fprintf(stderr, "timeout_quit: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
