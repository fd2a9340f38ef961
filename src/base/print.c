/* base/print.c — see print.h. */
#include "base/print.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void write_all(int fd, const char *p, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void gprint_flush(gprintbuf *o) {
    write_all(o->fd, o->b, o->n);
    o->n = 0;
}

void gvprintf(gprintbuf *o, const char *fmt, va_list ap) {
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (k < 0)
        return;
    size_t len = (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1;
    if (o->n + len > sizeof o->b)
        gprint_flush(o);
    memcpy(o->b + o->n, tmp, len);
    o->n += len;
}

void gprintf(gprintbuf *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gvprintf(o, fmt, ap);
    va_end(ap);
}

void gprint_str(int fd, const char *s) { write_all(fd, s, strlen(s)); }
