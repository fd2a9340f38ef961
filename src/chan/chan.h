/* chan/chan.h — what the runtime layers above chan may ask of a channel
 * beyond <goc/chan.h>.
 *
 * Generic on purpose: a channel knows nothing of who made it. The time
 * layer uses these for its timer channels (time -> chan, never the reverse),
 * but nothing here mentions timers.
 *
 * The setters are for the channel's creator, called once, before the
 * channel is shared with anyone. */
#ifndef GOC_CHAN_CHAN_H
#define GOC_CHAN_CHAN_H

#include <stdbool.h>
#include <stddef.h>

#include <goc/chan.h>

/* Present c as unbuffered: goc_chan_len and goc_chan_cap report 0, while
 * sends and receives still use c's buffer, which becomes a private detail
 * of its creator (Go 1.23's timer channels: a one-value buffer that looks
 * synchronous to the program). */
void gchan_hide_buffer(goc_chan *c);

/* Call fn(arg) when the last reference to c is released, just before c is
 * freed. During the call c is still valid memory but no one holds a
 * reference: fn may still receive from it or send to it (to drain it, or
 * because a send was already under way), and must make sure nothing uses
 * it after fn returns. fn is called with no lock held, from the thread or
 * goroutine that released c, so it may take any lock that ranks below
 * hchan's (and must not park). With this, a creator can keep a pointer to
 * c that holds no reference (a weak one) and learn when c dies. */
void gchan_on_last_release(goc_chan *c, void (*fn)(void *arg), void *arg);

/* Elements buffered in c now, even when gchan_hide_buffer hides them from
 * goc_chan_len (for white-box tests). */
size_t gchan_buffered(goc_chan *c);

/* The element size given to goc_chan_make (immutable). c not NULL. */
size_t gchan_elemsize(const goc_chan *c);

/* Tests only, Debug builds only (gchan_test_inflight_hook_works): while
 * set, a buffered send's fast path calls it between winning its slot (its
 * CAS on the send position) and publishing the element, the "in flight"
 * window that close, receivers and parkers must wait out (chan.c's design
 * comment). It runs on the sender's thread and may stall it there (spin,
 * sleep), not call into goc. Release builds never call it: the fast path
 * stays as it is. */
extern void (*_Atomic gchan_test_inflight_hook)(goc_chan *c);
extern const bool gchan_test_inflight_hook_works;

/* Is the lone processor's plain ring mode still on (chan.c)? False for
 * good once any thread but the lone processor's owner touched a ring, and
 * always in builds without it (the race build, other than x86-64). Tests,
 * and time.c, which then fires channel timers on the P. */
bool gchan_lone_mode(void);

/* Tests only, Debug builds only (as gchan_test_inflight_hook): while set,
 * the lone owner's plain send calls it inside its operation (lone_inop
 * set, before it moves the position), on the owner's thread, pinned to
 * its P: it may stall there (spin, sleep), not call into goc. A thread
 * that starts using rings meanwhile must wait until it returns. */
extern void (*_Atomic gchan_test_lone_hook)(goc_chan *c);

#endif
