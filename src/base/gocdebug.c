/* base/gocdebug.c — parsing GOCDEBUG (see gocdebug.h). No malloc: it may
 * run while the runtime starts. */
#include "base/gocdebug.h"

#include <stdlib.h>
#include <string.h>

/* s[0..len) as a decimal integer (an optional '-'): 1 and *out, or 0. */
static int parse_int(const char *s, size_t len, int *out) {
    size_t i = 0;
    int neg = 0;
    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == len)
        return 0;
    long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 100000000)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = (int)(neg ? -v : v);
    return 1;
}

int gocdebug_int(const char *name, int dflt) {
    const char *env = getenv("GOCDEBUG");
    if (!env)
        return dflt;
    size_t nl = strlen(name);
    int val = dflt;
    for (const char *s = env; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len > nl && memcmp(s, name, nl) == 0 && s[nl] == '=') {
            int v;
            if (parse_int(s + nl + 1, len - nl - 1, &v))
                val = v; /* the last setting wins */
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return val;
}
