/* base/assert.h — assertions shared by every subsystem.
 *
 * GOC_ASSERT is for invariants: compiled in Debug builds (GOC_DEBUG), where
 * they are meant to be dense, SQLite-style. GOC_CHECK stays in every build and
 * is for conditions whose failure would silently corrupt memory. Both end in
 * gthrow, a fatal runtime error naming the file and line. */
#ifndef GOC_BASE_ASSERT_H
#define GOC_BASE_ASSERT_H

#include "base/throw.h"

#define GOC_CHECK(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            gthrow("runtime: invariant failed: %s (%s:%d)", #cond, __FILE__, __LINE__);            \
    } while (0)

#ifdef GOC_DEBUG
#define GOC_ASSERT(cond) GOC_CHECK(cond)
#else
#define GOC_ASSERT(cond) ((void)0)
#endif

#define GOC_LIKELY(x) __builtin_expect(!!(x), 1)
#define GOC_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
