/* Smoke test of an installed goc: the header is found, the library links, and
 * the runtime runs a goroutine. The program also defines names the runtime
 * uses internally: they are the program's own (with libgoc.a they used to
 * clash: "multiple definition of `getg'"). check.sh also links it fully
 * statically (cc -static). */
#include <goc.h>
#include <stdio.h>

#include "layout.h" /* the same struct layout as main.cpp asserts in C++ */

int getg(void) { return 7; }
int gopark(int x) { return x + 1; }
long note_sleep = 3;

static int body(void *arg) {
    (void)arg;
    return goc_id() != 0 ? 0 : 1; /* we are on a goroutine, not a plain thread */
}

int main(void) {
    if (getg() != 7 || gopark(1) != 2 || note_sleep != 3) {
        fprintf(stderr, "the program's own getg, gopark, note_sleep were not used\n");
        return 1;
    }
    int rc = goc_run(body, NULL);
    printf("goc_run returned %d\n", rc);
    return rc;
}
