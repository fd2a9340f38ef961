/* once_lazy.c — lazy initialization with sync.Once, and a Once whose
 * initializer can fail.
 *
 * Go original (singleton):
 *
 *     var (
 *         instance *Config
 *         once     sync.Once
 *     )
 *     func GetConfig() *Config {
 *         once.Do(func() { instance = loadConfig() })
 *         return instance
 *     }
 *
 * and with an error:
 *
 *     type singleton struct {
 *         once     sync.Once
 *         instance *Database
 *         err      error
 *     }
 *     func GetDB() (*Database, error) {
 *         db.once.Do(func() {
 *             db.instance, db.err = connectToDatabase()
 *         })
 *         return db.instance, db.err
 *     }
 *
 * Many goroutines ask at once: each initializer runs exactly once, every
 * caller gets the same instance, and when connecting fails every caller
 * gets the same stored error (Once does not retry). */
#include <errno.h>
#include <goc.h>
#include <stdatomic.h>
#include <stdio.h>

enum { CALLERS = 16 };

struct config {
    int port;
};

static goc_once config_once = GOC_ONCE_INIT;
static struct config *config_instance;
static struct config config_storage;
static _Atomic int config_loads;

static void load_config(void *arg) { /* loadConfig: slow, so callers pile up */
    (void)arg;
    atomic_fetch_add(&config_loads, 1);
    goc_sleep(GOC_MILLISECOND);
    config_storage.port = 8080;
    config_instance = &config_storage;
}

static struct config *get_config(void) {
    goc_once_do(&config_once, load_config, NULL); /* once.Do(...) */
    return config_instance;
}

struct database {
    const char *dsn;
};

static struct {
    goc_once once;
    struct database *instance;
    int err;
} db = {GOC_ONCE_INIT, NULL, 0};
static _Atomic int db_connects;

static void connect_to_database(void *arg) { /* the connection is refused */
    (void)arg;
    atomic_fetch_add(&db_connects, 1);
    goc_sleep(GOC_MILLISECOND);
    db.instance = NULL;
    db.err = -ECONNREFUSED;
}

static int get_db(struct database **out) {
    goc_once_do(&db.once, connect_to_database, NULL);
    *out = db.instance;
    return db.err;
}

struct caller {
    struct config *cfg;
    struct database *dbp;
    int err;
};

static void caller(void *arg) {
    struct caller *c = arg;
    c->cfg = get_config();
    c->err = get_db(&c->dbp);
}

static int run(void *arg) {
    (void)arg;
    struct caller cs[CALLERS];
    goc_waitgroup wg = {0};
    for (int i = 0; i < CALLERS; i++)
        if (goc_wg_go(&wg, caller, &cs[i]) != 0) {
            fprintf(stderr, "once_lazy: cannot start a goroutine\n");
            return 1;
        }
    goc_wg_wait(&wg);
    struct database *again;
    int err_again = get_db(&again); /* later calls: the stored error, no retry */

    int bad = 0;
    for (int i = 0; i < CALLERS; i++)
        bad += cs[i].cfg != &config_storage || cs[i].cfg->port != 8080 || cs[i].dbp != NULL ||
               cs[i].err != -ECONNREFUSED;
    printf("%d callers: config loaded %d time(s), port %d\n", CALLERS, atomic_load(&config_loads),
           get_config()->port);
    printf("database connect tried %d time(s); every caller got: %s\n", atomic_load(&db_connects),
           goc_strerror(cs[0].err));
    if (bad || atomic_load(&config_loads) != 1 || atomic_load(&db_connects) != 1 ||
        err_again != -ECONNREFUSED || again != NULL) {
        fprintf(stderr, "once_lazy: %d callers saw a wrong result; loads %d, connects %d\n", bad,
                atomic_load(&config_loads), atomic_load(&db_connects));
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
