/* leaky_buffer.c — a buffered channel as a free list of buffers.
 *
 * Go original (Effective Go, "A leaky buffer"):
 *
 *     var freeList = make(chan *Buffer, 100)
 *     var serverChan = make(chan *Buffer)
 *
 *     func client() {
 *         for {
 *             var b *Buffer
 *             select {
 *             case b = <-freeList: // grab a buffer if one is free
 *             default:
 *                 b = new(Buffer)  // none free: allocate a new one
 *             }
 *             load(b)
 *             serverChan <- b
 *         }
 *     }
 *
 *     func server() {
 *         for {
 *             b := <-serverChan
 *             process(b)
 *             select {
 *             case freeList <- b: // reuse the buffer if there is room
 *             default:            // free list full: drop it
 *             }
 *         }
 *     }
 *
 * Both free-list operations are non-blocking: goc_select_try is the select
 * with a default. Go leaves dropped buffers to the garbage collector; in C
 * the server frees them. The channel carries pointers (struct buffer *).
 *
 * The number of allocations depends on scheduling (it is printed, not
 * checked exactly); what is checked: every message arrives intact, buffers
 * are reused (far fewer allocations than messages), and every allocated
 * buffer is freed in the end. */
#include <goc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MESSAGES = 100, FREE_LIST_CAP = 4 };

struct buffer {
    char data[64];
};

static goc_chan *free_list;   /* chan *struct buffer, capacity FREE_LIST_CAP */
static goc_chan *server_chan; /* chan *struct buffer, unbuffered */
static _Atomic int allocations, frees;
static long received_sum; /* written by the server only, read after wg.Wait */
static int received;

static struct buffer *get_buffer(void) {
    struct buffer *b;
    goc_case cases[] = {GOC_RECV(free_list, &b, NULL)};
    if (goc_select_try(cases, 1) == 0)
        return b; /* case b = <-freeList */
    atomic_fetch_add(&allocations, 1);
    return malloc(sizeof(struct buffer)); /* default: new(Buffer) */
}

static void put_buffer(struct buffer *b) {
    memset(b, 0, sizeof *b); /* b.Reset() */
    goc_case cases[] = {GOC_SEND(free_list, &b)};
    if (goc_select_try(cases, 1) < 0) { /* default: the free list is full */
        atomic_fetch_add(&frees, 1);
        free(b);
    }
}

static void client(void *arg) {
    (void)arg;
    for (int i = 0; i < MESSAGES; i++) {
        struct buffer *b = get_buffer();
        if (!b)
            goc_panic("leaky_buffer: out of memory");
        snprintf(b->data, sizeof b->data, "message %d", i); /* load(b) */
        goc_chan_send(server_chan, &b);
    }
    goc_chan_close(server_chan); /* no more messages */
}

static void server(void *arg) {
    goc_waitgroup *wg = arg;
    struct buffer *b;
    while (goc_chan_recv(server_chan, &b)) {
        int n;
        if (sscanf(b->data, "message %d", &n) == 1) { /* process(b) */
            received_sum += n;
            received++;
        }
        put_buffer(b);
    }
    goc_wg_done(wg);
}

static int run(void *arg) {
    (void)arg;
    free_list = goc_chan_make(sizeof(struct buffer *), FREE_LIST_CAP);
    server_chan = goc_chan_make(sizeof(struct buffer *), 0);
    goc_waitgroup wg = {0};
    goc_wg_add(&wg, 1);
    goc_go(server, &wg);
    goc_go(client, NULL);
    goc_wg_wait(&wg); /* the server has handled every message */

    /* Empty the free list: what is left there was never dropped. */
    int on_free_list = 0;
    struct buffer *b;
    goc_case cases[] = {GOC_RECV(free_list, &b, NULL)};
    while (goc_select_try(cases, 1) == 0) {
        free(b);
        on_free_list++;
    }
    goc_chan_release(free_list);
    goc_chan_release(server_chan);

    int allocs = atomic_load(&allocations), dropped = atomic_load(&frees);
    printf("%d messages received, checksum %ld\n", received, received_sum);
    printf("%d buffers allocated, %d reused from the free list\n", allocs, MESSAGES - allocs);
    long want_sum = (long)MESSAGES * (MESSAGES - 1) / 2;
    if (received != MESSAGES || received_sum != want_sum) {
        fprintf(stderr, "leaky_buffer: %d messages summing to %ld, want %d summing to %ld\n",
                received, received_sum, MESSAGES, want_sum);
        return 1;
    }
    if (allocs < 1 || allocs >= MESSAGES / 2) {
        fprintf(stderr, "leaky_buffer: %d allocations for %d messages: no reuse\n", allocs,
                MESSAGES);
        return 1;
    }
    if (dropped + on_free_list != allocs) {
        fprintf(stderr, "leaky_buffer: %d allocated but %d dropped + %d on the free list\n", allocs,
                dropped, on_free_list);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
