/* goc/chan.h — channels and select, with Go's semantics.
 *
 * A channel carries elements of a fixed size, copied in and out by value
 * (memcpy); the element type is the caller's convention, as is direction
 * (chan<- / <-chan). NULL is the nil channel: sends and receives on it
 * block forever, and its select cases never fire. A channel is reference
 * counted: goc_chan_make returns one reference; the last goc_chan_release
 * frees it (freeing a channel that goroutines are blocked on panics).
 * Closing is separate from releasing: close(c) is a signal, release gives
 * back memory.
 *
 * Blocking calls park a goroutine (never its OS thread) and block a plain
 * thread; either may resume on another OS thread. */
#ifndef GOC_CHAN_H
#define GOC_CHAN_H

#include <goc/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_chan goc_chan;

/* make(chan T, cap) with sizeof(T) == elem_size (0: chan struct{}); cap 0
 * is unbuffered. Returns the channel with one reference (the caller's), or
 * NULL with errno EINVAL when elem_size, cap or the buffer (elem_size * cap)
 * exceeds 2^40 bytes, ENOMEM when memory is short. Never blocks. */
GOC_API goc_chan *goc_chan_make(size_t elem_size, size_t cap);
/* c <- *elem: copy elem_size bytes from elem into the channel. Blocks until a
 * receiver takes the value or buffer space is free. Panics "send on closed
 * channel" (also when c is closed while the sender waits); nil blocks
 * forever. */
GOC_API void goc_chan_send(goc_chan *c, const void *elem);
/* v, ok := <-c: copy the next element into out and return true; blocks
 * until one is available. Returns false once c is closed and drained (out
 * zeroed: Go's zero value). out may be NULL (the value is dropped). nil
 * blocks forever. `while (goc_chan_recv(c, &v))` is `for v := range c`. */
GOC_API bool goc_chan_recv(goc_chan *c, void *out);
/* close(c): no more values will be sent. Waiting receivers get false (out
 * zeroed) once the buffer is drained; waiting senders panic. Never blocks;
 * does not release c. Panics "close of nil channel" / "close of closed
 * channel". */
GOC_API void goc_chan_close(goc_chan *c);
/* len(c): elements buffered now (0 for nil and unbuffered channels). */
GOC_API size_t goc_chan_len(goc_chan *c);
/* cap(c): the buffer capacity given to goc_chan_make (0 for nil). */
GOC_API size_t goc_chan_cap(goc_chan *c);
/* Take one more reference to c and return c (NULL stays NULL). Give each
 * goroutine that uses c its own reference, released when it is done. No Go
 * counterpart (Go's garbage collector does this). */
GOC_API goc_chan *goc_chan_retain(goc_chan *c);
/* Drop one reference; the last one frees the channel and any elements still
 * buffered (their bytes only: what they point to is the caller's). NULL is
 * ignored. Panics "goc_chan_release: channel freed while goroutines are
 * blocked on it" and "... released more times than retained". */
GOC_API void goc_chan_release(goc_chan *c);

/* One case of a select. Build cases with GOC_SEND / GOC_RECV. The pointers
 * must stay valid until goc_select returns. */
typedef struct goc_case {
    goc_chan *ch; /* NULL: a case that never fires */
    void *elem;   /* send: the value to send; receive: where to store (may be NULL) */
    bool *ok;     /* receive: set to false if the channel was closed (may be NULL) */
    int dir;      /* GOC_CASE_SEND or GOC_CASE_RECV */
} goc_case;

/* goc_case.dir values: a send case, a receive case. */
#define GOC_CASE_SEND 1
#define GOC_CASE_RECV 2

/* GOC_SEND: `case ch <- *elem_ptr:` as a goc_case value (ch NULL: never
 * fires).
 * GOC_RECV: `case v, ok := <-ch:` as a goc_case value: the element goes to
 * out_ptr, the ok flag to ok_ptr (false: ch closed and drained, *out_ptr
 * zeroed); either may be NULL. ch NULL: never fires.
 * In C both are compound literals; in C++ the same values as goc_case{...}. */
#ifdef __cplusplus
#define GOC_SEND(ch, elem_ptr)                                                                     \
    (goc_case{(ch), const_cast<void *>(static_cast<const void *>(elem_ptr)), nullptr,              \
              GOC_CASE_SEND})
#define GOC_RECV(ch, out_ptr, ok_ptr)                                                              \
    (goc_case{(ch), static_cast<void *>(out_ptr), (ok_ptr), GOC_CASE_RECV})
#else
#define GOC_SEND(ch, elem_ptr) ((goc_case){(ch), (void *)(elem_ptr), (bool *)0, GOC_CASE_SEND})
#define GOC_RECV(ch, out_ptr, ok_ptr) ((goc_case){(ch), (void *)(out_ptr), (ok_ptr), GOC_CASE_RECV})
#endif

/* select: block until one case can proceed, do it, and return its index.
 * Chooses uniformly at random among ready cases. With no usable case
 * (n == 0 or all nil) it blocks forever, like select {}. A channel may
 * appear in several cases. Returns -ENOMEM if memory for a select of more
 * than 16 cases cannot be had (nothing was sent or received). A send case
 * on a closed channel counts as ready, and choosing it panics "send on
 * closed channel", as in Go. */
GOC_API int goc_select(goc_case *cases, size_t n);
/* select with a default case: do one ready case and return its index, or
 * return -1 at once if no case is ready (n == 0 or all nil: -1). Never
 * blocks. -ENOMEM and panics as goc_select. */
GOC_API int goc_select_try(goc_case *cases, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* GOC_CHAN_H */
