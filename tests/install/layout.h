/* The layout of goc's public structs, asserted by main.c (C11) and main.cpp
 * (C++11 and later) alike: a C++ program sees the same sizes, alignments and
 * field offsets as the C library it calls (the headers use plain aligned
 * integers in C++ where C has _Atomic). The numbers are those of the LP64
 * targets goc supports (x86_64, aarch64). */
#ifndef GOC_TESTS_INSTALL_LAYOUT_H
#define GOC_TESTS_INSTALL_LAYOUT_H

#include <goc.h>
#include <stddef.h>

#ifdef __cplusplus
#define LAYOUT_ASSERT(e) static_assert(e, #e)
#define LAYOUT_ALIGNOF(t) alignof(t)
#else
#define LAYOUT_ASSERT(e) _Static_assert(e, #e)
#define LAYOUT_ALIGNOF(t) _Alignof(t)
#endif

/* sizeof, alignment */
#define LAYOUT_TYPE(t, size, align)                                                                \
    LAYOUT_ASSERT(sizeof(t) == (size));                                                            \
    LAYOUT_ASSERT(LAYOUT_ALIGNOF(t) == (align))
#define LAYOUT_FIELD(t, f, off) LAYOUT_ASSERT(offsetof(t, f) == (off))

LAYOUT_TYPE(goc_mutex, 8, 4);
LAYOUT_FIELD(goc_mutex, state, 0);
LAYOUT_FIELD(goc_mutex, sema, 4);

LAYOUT_TYPE(goc_rwmutex, 24, 4);
LAYOUT_FIELD(goc_rwmutex, w, 0);
LAYOUT_FIELD(goc_rwmutex, writer_sem, 8);
LAYOUT_FIELD(goc_rwmutex, reader_sem, 12);
LAYOUT_FIELD(goc_rwmutex, reader_count, 16);
LAYOUT_FIELD(goc_rwmutex, reader_wait, 20);

LAYOUT_TYPE(goc_waitgroup, 16, 8);
LAYOUT_FIELD(goc_waitgroup, state, 0);
LAYOUT_FIELD(goc_waitgroup, sema, 8);

LAYOUT_TYPE(goc_once, 12, 4);
LAYOUT_FIELD(goc_once, done, 0);
LAYOUT_FIELD(goc_once, m, 4);

LAYOUT_TYPE(goc_cond, 56, 8);
LAYOUT_FIELD(goc_cond, L, 0);
LAYOUT_FIELD(goc_cond, checker, 8);
LAYOUT_FIELD(goc_cond, wait, 16);
LAYOUT_FIELD(goc_cond, notify, 20);
LAYOUT_FIELD(goc_cond, lock, 24);
LAYOUT_FIELD(goc_cond, head, 40);
LAYOUT_FIELD(goc_cond, tail, 48);

LAYOUT_TYPE(goc_pool, 24, 8);
LAYOUT_FIELD(goc_pool, new_fn, 0);
LAYOUT_FIELD(goc_pool, free_fn, 8);
LAYOUT_FIELD(goc_pool, impl, 16);

LAYOUT_TYPE(goc_case, 32, 8);
LAYOUT_FIELD(goc_case, ch, 0);
LAYOUT_FIELD(goc_case, elem, 8);
LAYOUT_FIELD(goc_case, ok, 16);
LAYOUT_FIELD(goc_case, dir, 24);

LAYOUT_TYPE(goc_duration, 8, 8);

#endif /* GOC_TESTS_INSTALL_LAYOUT_H */
