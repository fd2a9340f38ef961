/* Smoke test of an installed goc: the header is found, the library links, and
 * the runtime runs a goroutine. */
#include <goc.h>
#include <stdio.h>

static int body(void *arg) {
    (void)arg;
    return goc_id() != 0 ? 0 : 1; /* we are on a goroutine, not a plain thread */
}

int main(void) {
    int rc = goc_run(body, NULL);
    printf("goc_run returned %d\n", rc);
    return rc;
}
