/* goc/chan.h — channels and select, with Go's semantics.
 *
 * NULL is the nil channel: sends and receives on it block forever, and its
 * select cases never fire. A channel is reference counted: goc_chan_make
 * returns one reference; the last goc_chan_release frees it (freeing a
 * channel that goroutines are blocked on panics). */
#ifndef GOC_CHAN_H
#define GOC_CHAN_H

#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_chan goc_chan;

/* make(chan T, cap) with sizeof(T) == elem_size (0: chan struct{}).
 * NULL (errno EINVAL or ENOMEM) if the sizes are absurd or memory is short. */
GOC_API goc_chan *goc_chan_make(size_t elem_size, size_t cap);
/* c <- *elem. Blocks; panics "send on closed channel"; nil blocks forever. */
GOC_API void goc_chan_send(goc_chan *c, const void *elem);
/* *out = <-c. Returns false once c is closed and drained (out zeroed).
 * out may be NULL. nil blocks forever. */
GOC_API bool goc_chan_recv(goc_chan *c, void *out);
/* close(c): panics "close of nil channel" / "close of closed channel". */
GOC_API void goc_chan_close(goc_chan *c);
GOC_API size_t goc_chan_len(goc_chan *c);
GOC_API size_t goc_chan_cap(goc_chan *c);
GOC_API goc_chan *goc_chan_retain(goc_chan *c);
GOC_API void goc_chan_release(goc_chan *c);

/* One case of a select. Build cases with GOC_SEND / GOC_RECV. */
typedef struct goc_case {
    goc_chan *ch;   /* NULL: a case that never fires */
    void *elem;     /* send: the value to send; receive: where to store (may be NULL) */
    bool *ok;       /* receive: set to false if the channel was closed (may be NULL) */
    int dir;        /* GOC_CASE_SEND or GOC_CASE_RECV */
} goc_case;

#define GOC_CASE_SEND 1
#define GOC_CASE_RECV 2

#define GOC_SEND(ch, elem_ptr) \
    ((goc_case){(ch), (void *)(elem_ptr), (bool *)0, GOC_CASE_SEND})
#define GOC_RECV(ch, out_ptr, ok_ptr) \
    ((goc_case){(ch), (void *)(out_ptr), (ok_ptr), GOC_CASE_RECV})

/* Block until one case can proceed, do it, and return its index. Chooses
 * uniformly at random among ready cases. With no usable case (n == 0 or all
 * nil) it blocks forever, like select {}. */
GOC_API int goc_select(goc_case *cases, size_t n);
/* select with a default: -1 if no case is ready right now. */
GOC_API int goc_select_try(goc_case *cases, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* GOC_CHAN_H */
