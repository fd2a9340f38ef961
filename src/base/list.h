/* base/list.h — the one intrusive doubly linked list of the runtime.
 *
 * A glist is {first, last}; a glist_node {next, prev} lives inside the
 * element (a sudog, a context, a map entry, ...) and glist_entry gets the
 * element back. The list is NULL-terminated, not circular, so the zero value
 * of both is an empty list and an unlinked node: structures made by calloc
 * or declared static need no initialisation.
 *
 * Invariants (checked in Debug builds by glist_check):
 *   - first == NULL iff last == NULL;
 *   - first->prev == NULL and last->next == NULL;
 *   - for every linked node n: n->next->prev == n and n->prev->next == n.
 * Whoever owns the list owns its nodes' links: every field here is
 * protected by whatever protects the list (its lock, or its single owner).
 *
 * Rejected: a circular list with a sentinel (Linux's list_head): it needs
 * initialising, which zero-valued sync types and calloc'd objects cannot do;
 * macro-generated typed lists: one node type plus glist_entry is as safe and
 * keeps the code small.
 */
#ifndef GOC_BASE_LIST_H
#define GOC_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/assert.h"

typedef struct glist_node {
    struct glist_node *next, *prev;
} glist_node;

typedef struct glist {
    glist_node *first, *last;
} glist;

/* The element of type `type` whose member `member` is node n. */
#define glist_entry(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

static inline bool glist_empty(const glist *l) { return l->first == NULL; }

static inline void glist_push_back(glist *l, glist_node *n) {
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static inline void glist_push_front(glist *l, glist_node *n) {
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

/* Link n right after `at` (a node of l). */
static inline void glist_insert_after(glist *l, glist_node *at, glist_node *n) {
    n->prev = at;
    n->next = at->next;
    if (at->next)
        at->next->prev = n;
    else
        l->last = n;
    at->next = n;
}

static inline void glist_remove(glist *l, glist_node *n) {
    GOC_ASSERT(n->prev ? n->prev->next == n : l->first == n);
    GOC_ASSERT(n->next ? n->next->prev == n : l->last == n);
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->next = n->prev = NULL;
}

static inline glist_node *glist_pop_front(glist *l) {
    glist_node *n = l->first;
    if (n) { /* glist_remove, knowing n->prev is NULL: hot in channel handoffs */
        GOC_ASSERT(n->prev == NULL);
        l->first = n->next;
        if (n->next)
            n->next->prev = NULL;
        else
            l->last = NULL;
        n->next = NULL;
    }
    return n;
}

/* Is n linked into l? O(1) for a node that is in some list; a node that is
 * in no list has both links NULL and is not l's only element. */
static inline bool glist_contains_node(const glist *l, const glist_node *n) {
    return n->prev || n->next || l->first == n;
}

/* Walk every link of l (Debug builds): the invariants above. */
static inline void glist_check(const glist *l) {
#ifdef GOC_DEBUG
    GOC_CHECK((l->first == NULL) == (l->last == NULL));
    const glist_node *prev = NULL;
    for (const glist_node *n = l->first; n; prev = n, n = n->next)
        GOC_CHECK(n->prev == prev);
    GOC_CHECK(prev == l->last);
#else
    (void)l;
#endif
}

#define glist_for_each(n, l) for (glist_node *n = (l)->first; n; n = n->next)

#endif
