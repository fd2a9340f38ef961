/* context/context.c — Go's package context.
 *
 * Data structures
 *   struct goc_ctx is one of: the two roots (background, todo: static, never
 *   freed), a cancel context (with_cancel, and with_deadline/with_timeout,
 *   which add a timer), a value context, or a without_cancel context.
 *   Every context points to its parent (holding a reference on it) and to
 *   its "canceler": the nearest cancel context on the way to the root,
 *   itself for a cancel context, NULL below a without_cancel or a root.
 *   Done, Err and Cause read the canceler; Value walks the parent chain.
 *
 *   A cancel context owns a done channel (chan struct{}, closed on cancel),
 *   a list of attached children (the nearest cancel descendants) and a list
 *   of AfterFunc registrations, all under its mutex mu.
 *
 * Lifetime: two counts. urefs counts users' references and children's
 * references to their parent; when it drops to zero a cancel context is
 * canceled (which detaches it from its canceler's child list) and gives up
 * the memory reference that urefs held. refs counts memory references: that
 * one and a pending deadline timer's. The memory goes with the last one. A
 * context listed as a child is never freed: it must detach first, which
 * takes its parent's lock.
 *
 * Invariants
 *   - err != 0 iff done is closed; err and cause never change once set.
 *   - A child is in its canceler's children list iff it is not canceled and
 *     still attached (child->attached == canceler).
 *   - A pending timer holds one memory reference on its context.
 *
 * Lock order (base/lockrank.h): context.mu < timer.mu < timerheap.lock <
 *   hchan.lock. context.mu nests: a parent's before its child's (cancel holds
 *   a node's lock while it cancels the node's children, as Go does); a child
 *   detaching from its parent takes the parent's lock only after releasing
 *   its own. Timer and channel locks (stopping the deadline timer, closing
 *   done) nest inside mu.
 *
 * Rejected: walking the tree under one global lock (cancel storms on
 * unrelated trees would contend); children holding no reference on their
 * parent (the parent could be freed under a child's Value lookup); Go's lazy
 * creation of done (a CAS on every Done call for little gain in C).
 */
#define _GNU_SOURCE
#include <goc/context.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <goc/time.h>

#include "base/alloc.h"
#include "base/assert.h"
#include "base/failpoint.h"
#include "base/list.h"
#include "base/lock.h"

enum ctx_kind { CTX_ROOT, CTX_CANCEL, CTX_VALUE, CTX_WITHOUT_CANCEL };

typedef struct afunc {
    glist_node node; /* in the canceler's funcs, or a cancel's local list; its mu */
    void (*fn)(void *);
    void *arg;
    goc_ctx *owner;   /* canceler it is registered with (memory ref) */
    _Atomic int refs; /* the list's and the user's */
    bool listed;      /* owner->mu */
    bool started;     /* fn was started (set before it is) */
    /* Handles are slots, never freed, reused with a new generation: the
     * handle the user holds is (generation << 32 | index), so a stop after
     * the first finds a later generation (or the stopped bit) and returns
     * false instead of touching someone else's registration. */
    uint32_t idx;           /* immutable: this slot's index (>= 1) */
    _Atomic uint64_t state; /* generation << 1 | 1 once the user stopped */
    struct afunc *freelink; /* slot free list; slotlock */
} afunc;

struct goc_ctx {
    uint8_t kind; /* immutable */
    _Atomic long urefs;
    _Atomic long refs;
    goc_ctx *parent;   /* immutable; holds a uref */
    goc_ctx *canceler; /* immutable; see design comment */
    /* value contexts */
    const void *key; /* immutable */
    void *val;       /* immutable */
    /* cancel contexts */
    glock mu;
    goc_chan *done;     /* immutable; closed under mu */
    _Atomic int err;    /* written under mu */
    int cause;          /* mu (readable once err != 0) */
    int timeout_cause;  /* immutable: the cause its deadline cancels with (0: the error) */
    int64_t deadline;   /* immutable; INT64_MAX: none of its own */
    bool has_deadline;  /* immutable */
    goc_timer *timer;   /* mu */
    goc_ctx *attached;  /* canceler we are listed in; its mu */
    glist children;     /* attached children (goc_ctx.sibling); mu */
    glist_node sibling; /* in attached->children; attached->mu */
    glist walk;         /* children a cancel walks (goc_ctx.sibling); mu, held by the walker */
    goc_ctx *walk_up;   /* cancel's depth-first walk; mu (held by the walker) */
    glist funcs;        /* registered AfterFuncs (afunc.node); mu */
};

/* goc_ctx_stop is opaque and never dereferenced: a handle is the value
 * (generation << 32 | slot index) cast to a pointer. */
enum { SLOT_CHUNK = 1024, SLOT_CHUNKS = 1 << 16 };
static afunc *_Atomic slotchunks[SLOT_CHUNKS]; /* written once each under slotlock */
static glock slotlock = GLOCK_INIT(LR_LEAF);
static afunc *slotfree;       /* slotlock */
static uint32_t slotnext = 1; /* next never-used index; slotlock */

static afunc *slot_at(uint32_t idx) {
    if (idx == 0 || idx >= (uint32_t)SLOT_CHUNK * SLOT_CHUNKS)
        return NULL;
    afunc *chunk = atomic_load_explicit(&slotchunks[idx / SLOT_CHUNK], memory_order_acquire);
    return chunk ? &chunk[idx % SLOT_CHUNK] : NULL;
}

static afunc *slot_get(void) {
    if (gfail_hit(GFAIL_ALLOC))
        return NULL;
    glock_lock(&slotlock);
    afunc *a = slotfree;
    if (a) {
        slotfree = a->freelink;
    } else if (slotnext < (uint32_t)SLOT_CHUNK * SLOT_CHUNKS) {
        uint32_t idx = slotnext;
        afunc *chunk = atomic_load_explicit(&slotchunks[idx / SLOT_CHUNK], memory_order_relaxed);
        if (!chunk) {
            chunk = calloc(SLOT_CHUNK, sizeof *chunk);
            if (chunk) {
                for (uint32_t i = 0; i < SLOT_CHUNK; i++)
                    chunk[i].idx = idx / SLOT_CHUNK * SLOT_CHUNK + i;
                atomic_store_explicit(&slotchunks[idx / SLOT_CHUNK], chunk, memory_order_release);
            }
        }
        if (chunk) {
            a = &chunk[idx % SLOT_CHUNK];
            slotnext++;
        }
    }
    glock_unlock(&slotlock);
    return a;
}

/* The last reference is gone: a new generation, back on the free list. */
static void slot_put(afunc *a) {
    uint64_t gen = (atomic_load(&a->state) >> 1) + 1;
    atomic_store(&a->state, gen << 1);
    glock_lock(&slotlock);
    a->freelink = slotfree;
    slotfree = a;
    glock_unlock(&slotlock);
}

static goc_ctx_stop *handle_of(afunc *a) {
    uint64_t gen = atomic_load(&a->state) >> 1;
    return (goc_ctx_stop *)(uintptr_t)((gen & 0xffffffffu) << 32 | a->idx);
}

/* The roots: immutable, never freed. */
static goc_ctx ctx_background = {.kind = CTX_ROOT};
static goc_ctx ctx_todo = {.kind = CTX_ROOT};

goc_ctx *goc_ctx_background(void) { return &ctx_background; }
goc_ctx *goc_ctx_todo(void) { return &ctx_todo; }

static goc_ctx *orbg(goc_ctx *c) { return c ? c : &ctx_background; }

static void ctx_unref(goc_ctx *c);
static void ctx_cancel(goc_ctx *c, int err, int cause);

goc_ctx *goc_ctx_retain(goc_ctx *c) {
    if (c && c->kind != CTX_ROOT)
        atomic_fetch_add(&c->urefs, 1);
    return c;
}

void goc_ctx_release(goc_ctx *c) {
    if (!c || c->kind == CTX_ROOT)
        return;
    long r = gref_drop(&c->urefs);
    if (r > 1)
        return;
    if (r < 1)
        goc_panic("goc_ctx_release: context released more times than retained");
    if (c->kind == CTX_CANCEL)
        ctx_cancel(c, -ECANCELED, 0); /* detaches it from its canceler */
    ctx_unref(c);
}

static void ctx_unref(goc_ctx *c) {
    /* Iterative: freeing the bottom of a long chain releases its parent,
     * which may free that one too, and so on up (no recursion: a chain of
     * 10,000 contexts would overflow a goroutine stack). */
    while (c && gref_drop(&c->refs) == 1) {
        /* The last memory reference: nothing can reach c any more. */
        if (c->kind == CTX_CANCEL) {
            GOC_ASSERT(glist_empty(&c->children) && glist_empty(&c->funcs) && !c->attached);
            if (c->timer)
                goc_timer_free(c->timer);
            goc_chan_release(c->done);
        }
        goc_ctx *parent = c->parent;
        free(c);
        c = NULL;
        if (!parent || parent->kind == CTX_ROOT)
            break;
        long r = gref_drop(&parent->urefs);
        if (r < 1)
            goc_panic("goc_ctx_release: context released more times than retained");
        if (r == 1) {
            if (parent->kind == CTX_CANCEL)
                ctx_cancel(parent, -ECANCELED, 0);
            c = parent; /* drop the memory reference its urefs held */
        }
    }
}

static goc_ctx *ctx_new(goc_ctx *parent, enum ctx_kind kind) {
    goc_ctx *c = gmem_zalloc(sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->kind = (uint8_t)kind;
    glock_init(&c->mu, LR_CTX);
    atomic_init(&c->urefs, 1);
    atomic_init(&c->refs, 1);
    c->parent = goc_ctx_retain(parent);
    c->deadline = INT64_MAX;
    return c;
}

/* Detach c from the canceler it is listed in (if any). */
static void ctx_detach(goc_ctx *c) {
    goc_ctx *p = c->canceler == c ? (c->parent ? c->parent->canceler : NULL) : NULL;
    if (!p)
        return;
    glock_lock(&p->mu);
    if (c->attached == p) {
        glist_remove(&p->children, &c->sibling);
        c->attached = NULL;
    }
    glock_unlock(&p->mu);
}

static void afunc_unref(afunc *a) {
    if (atomic_fetch_sub(&a->refs, 1) == 1)
        slot_put(a);
}

/* Cancel x (x->mu held, x not canceled): set err, close done, move its
 * AfterFuncs to *funcs, stop its timer, and hand back its children (now
 * detached) in x->walk for the caller to walk. */
static void cancel_node(goc_ctx *x, int err, int cause, glist *funcs) {
    glock_assert_held(&x->mu);
    x->cause = cause;
    /* Release, not seq_cst (a locked exchange): err publishes cause to
     * goc_ctx_cause's acquire load, and no reader pairs its load of err
     * with a store of its own (waiters learn of the cancel from done,
     * closed below; checks that must not miss it hold mu). */
    atomic_store_explicit(&x->err, err, memory_order_release);
    goc_chan_close(x->done);
    glist_for_each(n, &x->children) glist_entry(n, goc_ctx, sibling)->attached = NULL;
    x->walk = x->children;
    x->children = (glist){NULL, NULL};
    glist_node *n;
    while ((n = glist_pop_front(&x->funcs))) {
        glist_entry(n, afunc, node)->listed = false;
        glist_push_back(funcs, n);
    }
    if (x->timer && goc_timer_stop(x->timer))
        atomic_fetch_sub(&x->refs, 1); /* the timer's reference; x stays referenced */
}

/* Cancel c and its whole subtree, as Go does: each node's lock is held
 * while its children are canceled, so a concurrent cancel of any node in
 * the subtree returns only once that node's own subtree is done. The walk is
 * depth first with an explicit stack threaded through the locked contexts
 * (walk_up, and each node's walk list): a deep chain needs no C stack. */
static void ctx_cancel(goc_ctx *c, int err, int cause) {
    GOC_ASSERT(c->kind == CTX_CANCEL);
    glock_lock(&c->mu);
    if (atomic_load(&c->err) != 0) {
        glock_unlock(&c->mu);
        return;
    }
    if (!cause)
        cause = err;
    glist funcs = {NULL, NULL};
    cancel_node(c, err, cause, &funcs);
    c->walk_up = NULL;
    goc_ctx *cur = c;
    for (;;) {
        glist_node *kn = glist_pop_front(&cur->walk);
        if (kn) {
            goc_ctx *k = glist_entry(kn, goc_ctx, sibling);
            /* k is alive: it can only be freed after detaching from cur,
             * which needs cur's lock, which we hold. */
            glock_lock(&k->mu);
            if (atomic_load(&k->err) != 0) {
                /* Canceled on its own, waiting for cur's lock to detach. */
                glock_unlock(&k->mu);
                continue;
            }
            cancel_node(k, err, cause, &funcs);
            k->walk_up = cur;
            cur = k;
            continue;
        }
        goc_ctx *up = cur->walk_up;
        if (cur == c)
            break;
        glock_unlock(&cur->mu); /* cur's subtree is done; it may go now */
        cur = up;
    }
    glock_unlock(&c->mu);
    glist_node *fn_node;
    while ((fn_node = glist_pop_front(&funcs))) {
        afunc *f = glist_entry(fn_node, afunc, node);
        f->started = true;
        int rc = goc_go(f->fn, f->arg);
        if (rc)
            gthrow("context: cannot start an AfterFunc goroutine (%s)", goc_strerror(rc));
        afunc_unref(f); /* the list's reference */
    }
    ctx_detach(c);
}

static void ctx_timeout(void *arg) {
    goc_ctx *c = arg;
    ctx_cancel(c, -ETIMEDOUT, c->timeout_cause);
    ctx_unref(c); /* the timer's reference (its stop in cancel_node failed) */
}

/* Make c (a new cancel context) a child of parent's canceler. */
static goc_ctx *ctx_attach(goc_ctx *c) {
    goc_ctx *p = c->parent->canceler;
    if (!p)
        return c;
    glock_lock(&p->mu);
    int perr = atomic_load(&p->err);
    if (!perr) {
        c->attached = p;
        glist_push_front(&p->children, &c->sibling);
        glock_unlock(&p->mu);
        return c;
    }
    int pcause = p->cause;
    glock_unlock(&p->mu);
    ctx_cancel(c, perr, pcause); /* a child of a canceled parent starts canceled */
    return c;
}

static goc_ctx *new_cancel_ctx(goc_ctx *parent) {
    goc_ctx *c = ctx_new(parent, CTX_CANCEL);
    if (!c)
        return NULL;
    c->done = goc_chan_make(0, 0);
    if (!c->done) {
        goc_ctx_release(c->parent);
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->canceler = c;
    return c;
}

goc_ctx *goc_ctx_with_cancel(goc_ctx *parent) {
    parent = orbg(parent);
    goc_ctx *c = new_cancel_ctx(parent);
    return c ? ctx_attach(c) : NULL;
}

goc_ctx *goc_ctx_with_deadline(goc_ctx *parent, int64_t deadline) {
    return goc_ctx_with_deadline_cause(parent, deadline, 0);
}

goc_ctx *goc_ctx_with_deadline_cause(goc_ctx *parent, int64_t deadline, int cause) {
    parent = orbg(parent);
    int64_t pd;
    if (goc_ctx_deadline(parent, &pd) && pd <= deadline)
        return goc_ctx_with_cancel(parent); /* the parent's deadline comes first */
    goc_ctx *c = new_cancel_ctx(parent);
    if (!c)
        return NULL;
    c->timeout_cause = cause;
    c->deadline = deadline;
    c->has_deadline = true;
    ctx_attach(c);
    int64_t now = goc_now();
    if (deadline <= now) { /* also INT64_MIN: no overflow computing d below */
        ctx_cancel(c, -ETIMEDOUT, c->timeout_cause);
        return c;
    }
    int64_t d = deadline - now;
    glock_lock(&c->mu);
    if (atomic_load(&c->err) == 0) {
        atomic_fetch_add(&c->refs, 1); /* the timer's reference */
        c->timer = goc_after_func(d, ctx_timeout, c);
        if (!c->timer) {
            glock_unlock(&c->mu);
            atomic_fetch_sub(&c->refs, 1);
            goc_ctx_release(c);
            errno = ENOMEM;
            return NULL;
        }
    }
    glock_unlock(&c->mu);
    return c;
}

/* now + d without overflow: a deadline past INT64_MAX is "never" (the
 * caller asked for centuries), one before INT64_MIN is long past. */
static int64_t deadline_after(goc_duration d) {
    int64_t dl;
    if (__builtin_add_overflow(goc_now(), d, &dl))
        return d > 0 ? INT64_MAX : INT64_MIN;
    return dl;
}

goc_ctx *goc_ctx_with_timeout(goc_ctx *parent, goc_duration d) {
    return goc_ctx_with_deadline_cause(parent, deadline_after(d), 0);
}

goc_ctx *goc_ctx_with_timeout_cause(goc_ctx *parent, goc_duration d, int cause) {
    return goc_ctx_with_deadline_cause(parent, deadline_after(d), cause);
}

goc_ctx *goc_ctx_with_value(goc_ctx *parent, const void *key, void *val) {
    if (!key)
        goc_panic("nil key");
    parent = orbg(parent);
    goc_ctx *c = ctx_new(parent, CTX_VALUE);
    if (!c)
        return NULL;
    c->key = key;
    c->val = val;
    c->canceler = parent->canceler;
    return c;
}

goc_ctx *goc_ctx_without_cancel(goc_ctx *parent) {
    parent = orbg(parent);
    goc_ctx *c = ctx_new(parent, CTX_WITHOUT_CANCEL);
    if (!c)
        return NULL;
    c->canceler = NULL;
    return c;
}

/* The cancel holds a memory reference of its own while it works: whoever
 * waits on Done may release the context the moment Done closes, while the
 * canceler still has to detach it (Go's garbage collector covers that).
 * Always, even when urefs is 1: the canceler need not be the holder (a
 * timer's callback cancels a context its creator holds and releases once
 * Done closes), so urefs says nothing about who else is in here. */
void goc_ctx_cancel_cause(goc_ctx *c, int cause) {
    if (!c || c->kind != CTX_CANCEL)
        return;
    atomic_fetch_add(&c->refs, 1);
    ctx_cancel(c, -ECANCELED, cause);
    ctx_unref(c);
}

void goc_ctx_cancel(goc_ctx *c) { goc_ctx_cancel_cause(c, 0); }

int goc_ctx_err(goc_ctx *c) {
    c = orbg(c);
    return c->canceler ? atomic_load(&c->canceler->err) : 0;
}

int goc_ctx_cause(goc_ctx *c) {
    c = orbg(c);
    goc_ctx *k = c->canceler;
    if (!k || atomic_load(&k->err) == 0)
        return 0;
    glock_lock(&k->mu);
    int cause = k->cause;
    glock_unlock(&k->mu);
    return cause;
}

goc_chan *goc_ctx_done(goc_ctx *c) {
    c = orbg(c);
    return c->canceler ? c->canceler->done : NULL;
}

bool goc_ctx_deadline(goc_ctx *c, int64_t *deadline) {
    for (c = orbg(c); c; c = c->parent) {
        if (c->kind == CTX_WITHOUT_CANCEL || c->kind == CTX_ROOT)
            return false;
        if (c->has_deadline) {
            if (deadline)
                *deadline = c->deadline;
            return true;
        }
    }
    return false;
}

void *goc_ctx_value(goc_ctx *c, const void *key) {
    for (c = orbg(c); c; c = c->parent)
        if (c->kind == CTX_VALUE && c->key == key)
            return c->val;
    return NULL;
}

/* ---- AfterFunc ---- */

goc_ctx_stop *goc_ctx_after_func(goc_ctx *ctx, void (*fn)(void *), void *arg) {
    if (!fn)
        goc_panic("goc_ctx_after_func: nil function");
    ctx = orbg(ctx);
    afunc *a = slot_get();
    if (!a) {
        errno = ENOMEM;
        return NULL;
    }
    a->node.next = a->node.prev = NULL;
    a->fn = fn;
    a->arg = arg;
    a->owner = NULL;
    a->listed = false;
    a->started = false;
    atomic_store(&a->refs, 1); /* the user's */
    goc_ctx_stop *s = handle_of(a);
    goc_ctx *k = ctx->canceler;
    if (!k)
        return s; /* can never be canceled: fn never runs */
    glock_lock(&k->mu);
    if (atomic_load(&k->err) == 0) {
        atomic_fetch_add(&a->refs, 1); /* the list's */
        a->owner = k;
        atomic_fetch_add(&k->refs, 1);
        a->listed = true;
        glist_push_front(&k->funcs, &a->node);
        glock_unlock(&k->mu);
        return s;
    }
    glock_unlock(&k->mu);
    a->started = true;
    int rc = goc_go(fn, arg);
    if (rc)
        gthrow("context: cannot start an AfterFunc goroutine (%s)", goc_strerror(rc));
    return s;
}

bool goc_ctx_stop_after_func(goc_ctx_stop *s) {
    uint64_t h = (uint64_t)(uintptr_t)s;
    afunc *a = slot_at((uint32_t)h);
    if (!a)
        return false;
    /* Only the first stop of this generation goes on; a later one (or one
     * for a handle whose slot was reused since) finds another state. */
    uint64_t cur = atomic_load(&a->state);
    if ((cur & 1) || ((cur >> 1) & 0xffffffffu) != h >> 32 ||
        !atomic_compare_exchange_strong(&a->state, &cur, cur | 1))
        return false;
    bool stopped = false;
    goc_ctx *k = a->owner;
    if (k) {
        glock_lock(&k->mu);
        if (a->listed) {
            glist_remove(&k->funcs, &a->node);
            a->listed = false;
            stopped = true;
        }
        glock_unlock(&k->mu);
        if (stopped)
            afunc_unref(a); /* the list's reference */
        a->owner = NULL;
        ctx_unref(k);
    } else {
        /* Never registered: its context could never be canceled (then fn
         * never runs and stop prevented nothing less than the call), or was
         * canceled already and fn was started. */
        stopped = !a->started;
    }
    afunc_unref(a);
    return stopped;
}

/* ---- blocking calls with a context ---- */

int goc_sleep_ctx(goc_duration d, goc_ctx *ctx) {
    goc_chan *done = goc_ctx_done(ctx);
    int err = goc_ctx_err(ctx);
    if (err)
        return err;
    if (d <= 0)
        return 0;
    if (!done) {
        goc_sleep(d);
        return 0;
    }
    goc_timer *t = goc_timer_new(d);
    if (!t)
        return -ENOMEM;
    goc_case cs[2] = {GOC_RECV(goc_timer_chan(t), NULL, NULL), GOC_RECV(done, NULL, NULL)};
    int i = goc_select(cs, 2);
    goc_timer_free(t);
    return i == 0 ? 0 : goc_ctx_err(ctx);
}

int goc_chan_send_ctx(goc_chan *c, const void *elem, goc_ctx *ctx) {
    int err = goc_ctx_err(ctx);
    if (err)
        return err;
    goc_case cs[2] = {GOC_SEND(c, elem), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
    int i = goc_select(cs, 2);
    return i == 0 ? 0 : goc_ctx_err(ctx);
}

int goc_chan_recv_ctx(goc_chan *c, void *out, bool *ok, goc_ctx *ctx) {
    int err = goc_ctx_err(ctx);
    if (err)
        return err;
    bool got = false;
    goc_case cs[2] = {GOC_RECV(c, out, &got), GOC_RECV(goc_ctx_done(ctx), NULL, NULL)};
    int i = goc_select(cs, 2);
    if (i != 0)
        return goc_ctx_err(ctx);
    if (ok)
        *ok = got;
    return 0;
}
