/* ctx_values.c — request-scoped values through a call chain.
 *
 * Go original:
 *
 *     type ctxKey int
 *     const requestIDKey ctxKey = 0
 *
 *     func handle(ctx context.Context, id string) string {
 *         ctx = context.WithValue(ctx, requestIDKey, id)
 *         return authenticate(ctx)
 *     }
 *     func authenticate(ctx context.Context) string {
 *         ctx = context.WithValue(ctx, userKey, "user-of-"+reqID(ctx))
 *         return query(ctx)
 *     }
 *     func query(ctx context.Context) string {
 *         return fmt.Sprintf("[%s] rows for %s", ctx.Value(requestIDKey), ctx.Value(userKey))
 *     }
 *
 * Keys are the addresses of private static objects, so no other package
 * can collide with them (Go's unexported key type). Eight requests run at
 * once, each in its own goroutine: every one sees its own id at the bottom
 * of the chain. */
#include <goc.h>
#include <stdio.h>
#include <string.h>

enum { REQUESTS = 8 };

static const char request_id_key; /* the keys: their addresses matter */
static const char user_key;

static const char *request_id(goc_ctx *ctx) {
    const char *id = goc_ctx_value(ctx, &request_id_key);
    return id ? id : "no-request";
}

/* The bottom of the chain: it never gets the id as an argument. */
static void query(goc_ctx *ctx, char *out, size_t n) {
    const char *user = goc_ctx_value(ctx, &user_key);
    goc_sleep(GOC_MILLISECOND); /* the database */
    snprintf(out, n, "[%s] rows for %s", request_id(ctx), user ? user : "anonymous");
}

static void authenticate(goc_ctx *ctx, char *out, size_t n) {
    char user[64];
    snprintf(user, sizeof user, "user-of-%s", request_id(ctx));
    goc_ctx *uctx = goc_ctx_with_value(ctx, &user_key, user);
    query(uctx, out, n);
    goc_ctx_release(uctx);
}

struct request {
    goc_ctx *base;
    char id[32];
    char reply[128];
    goc_waitgroup *wg;
};

static void handle(void *arg) {
    struct request *r = arg;
    goc_ctx *ctx = goc_ctx_with_value(r->base, &request_id_key, r->id);
    authenticate(ctx, r->reply, sizeof r->reply);
    goc_ctx_release(ctx);
    goc_wg_done(r->wg);
}

static int run(void *arg) {
    (void)arg;
    goc_ctx *base = goc_ctx_with_cancel(goc_ctx_background()); /* the server's */
    goc_waitgroup wg = {0};
    struct request reqs[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        reqs[i] = (struct request){.base = base, .wg = &wg};
        snprintf(reqs[i].id, sizeof reqs[i].id, "req-%d", 100 + i);
        goc_wg_add(&wg, 1);
        goc_go(handle, &reqs[i]);
    }
    goc_wg_wait(&wg);

    int bad = 0;
    for (int i = 0; i < REQUESTS; i++) {
        char want[128];
        snprintf(want, sizeof want, "[%s] rows for user-of-%s", reqs[i].id, reqs[i].id);
        printf("%s\n", reqs[i].reply);
        bad += strcmp(reqs[i].reply, want) != 0;
    }
    /* Outside any request, the values are not there. */
    const char *outside = request_id(base);
    printf("outside a request: %s\n", outside);
    bad += strcmp(outside, "no-request") != 0;
    goc_ctx_release(base);
    if (bad) {
        fprintf(stderr, "ctx_values: unexpected outcome\n");
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
