/* test_sched_park.c — gopark records g.waitsince from sysmon's tick, not
 * a clock read (issue 13): what a dump then shows. */
#include "testing.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <goc/chan.h>

/* ================================================================== */
/* gopark's waitsince from sysmon's tick, not a clock read             */

struct parked {
    goc_chan *c;
    _Atomic uint64_t id;
    goc_waitgroup started, done;
};

static void park_on_chan(void *arg) {
    struct parked *s = arg;
    atomic_store(&s->id, goc_id());
    goc_wg_done(&s->started);
    int v;
    CHECK(goc_chan_recv(s->c, &v));
    goc_wg_done(&s->done);
}

/* The milliseconds a dump shows goroutine id waiting ("[chan receive, X]"). */
static double dump_waited_ms(uint64_t id) {
    char *d = test_dump();
    char pat[64];
    snprintf(pat, sizeof pat, "goroutine %llu [chan receive, ", (unsigned long long)id);
    const char *h = strstr(d, pat);
    CHECK_MSG(h, "goroutine %llu not parked in the dump:\n%s", (unsigned long long)id, d);
    double v = 0;
    char unit[16] = "";
    CHECK_EQ_INT(sscanf(h + strlen(pat), "%lf%15[a-z]", &v, unit), 2);
    free(d);
    if (strcmp(unit, "s") == 0)
        return v * 1e3;
    if (strcmp(unit, "minutes") == 0)
        return v * 60e3;
    CHECK_MSG(strcmp(unit, "ms") == 0, "unit %s", unit);
    return v;
}

/* From a plain thread, after the runtime sat idle longer than sysmon's
 * idle sleep (1 s): the goroutine that then starts and parks at once must
 * not be shown as waiting since sysmon last looked. */
TEST(park_waitsince_after_idle) {
    static struct parked s;
    s.c = goc_chan_make(sizeof(int), 0);
    goc_wg_add(&s.started, 1);
    goc_wg_add(&s.done, 1);
    usleep(1300 * 1000); /* every P idle, sysmon asleep */
    int64_t t0 = test_now_ns();
    TEST_GO(park_on_chan, &s);
    goc_wg_wait(&s.started);
    usleep(300 * 1000);
    double shown = dump_waited_ms(atomic_load(&s.id));
    double real = (double)(test_now_ns() - t0) / 1e6;
    /* The tick lags the coarse clock by sysmon's period (<= 10 ms) plus
     * the coarse resolution; under sanitizers or a loaded machine, more. */
    CHECK_MSG(shown >= 250 && shown <= real + 200, "shown %g ms, really %g ms", shown, real);
    int v = 1;
    goc_chan_send(s.c, &v);
    goc_wg_wait(&s.done);
    goc_chan_release(s.c);
}
