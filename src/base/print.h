/* base/print.h — formatted output without malloc.
 *
 * A gprintbuf collects text in a buffer on the caller's stack and writes it
 * with write(2): no malloc, no stdio lock, so it can be used in a signal
 * handler, while another thread holds a runtime lock, and after the heap is
 * corrupt. vsnprintf is not on POSIX's async-signal-safe list but glibc's
 * does not allocate for the conversions used here (%s %d %u %x %p %zu %ll).
 */
#ifndef GOC_BASE_PRINT_H
#define GOC_BASE_PRINT_H

#include <stdarg.h>
#include <stddef.h>

typedef struct gprintbuf {
    int fd;
    size_t n;
    char b[1024];
} gprintbuf;

#define GPRINTBUF_INIT(fdv)                                                                        \
    { .fd = (fdv), .n = 0 }

void gprint_flush(gprintbuf *o);
void gprintf(gprintbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gvprintf(gprintbuf *o, const char *fmt, va_list ap);
/* Write a string to fd at once (no buffer). */
void gprint_str(int fd, const char *s);

#endif
