/* goc-sum — md5sum / sha1sum / sha256sum over whole directory trees, with
 * the hashing spread over goroutines.
 *
 *   goc-sum [-a md5|sha1|sha224|sha256|sha384|sha512] [-j N] [-v] [PATH...]
 *
 * Prints, for every regular file under the PATHs, exactly the line coreutils
 * prints for it ("<hex>  <path>\n"; a name containing a backslash, newline
 * or carriage return is escaped and its line starts with a backslash), all
 * lines sorted by path in byte order (as LC_ALL=C sort). Errors go to stderr
 * as coreutils writes them ("goc-sum: <name>: Permission denied", the name
 * shell-quoted when needed) and make the exit status 1. Default algorithm
 * sha256; default N is 4 x goc_maxprocs(0). Usage errors exit with 2.
 * -v says on stderr how files are read (below); nothing else changes.
 *
 * What is hashed
 *   - A PATH naming a directory is walked recursively; every other PATH is
 *     hashed as coreutils would hash it (a fifo or device is read). Symlinks
 *     named on the command line are followed (as find -H does). "-", or no
 *     PATH at all, is standard input.
 *   - In the walk: regular files are hashed. A symlink is followed if it
 *     leads to a regular file, and reported under its own path, which is
 *     what coreutils prints when given that path; a symlink to a directory
 *     is not followed (no cycles, no file hashed twice through two routes);
 *     a dangling or looping symlink is reported as the error coreutils gives
 *     for it ("No such file or directory", "Too many levels of symbolic
 *     links"). Fifos, sockets and devices met in the walk are skipped. So
 *     the output equals
 *         find PATH... -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
 *     plus the errors for dangling symlinks (find -xtype l).
 *   - Paths are joined as find joins them: "dir" + "x" is "dir/x"; a PATH
 *     that already ends in '/' gets no second one.
 *
 * Structure (Go's bounded-parallelism pipeline)
 *   walker goroutine --paths chan--> N digester goroutines --results chan-->
 *   main goroutine (collects, sorts, prints)
 *   The walker and the digesters run in one errgroup; its context is
 *   canceled only by a fatal error (out of memory): per-file errors are
 *   results, not failures of the group. A closer goroutine waits for the
 *   group, then closes results, ending the main goroutine's loop. The
 *   walker discovers files while the digesters hash the ones already found.
 *
 * Files are read with goc_read: through io_uring where the kernel allows
 * it (the digester parks while the kernel reads, and its processor hashes
 * for another digester), else through the blocking-call handoff
 * (GOCDEBUG=iouring=0 forces it); -v prints which ("goc-sum: reading files
 * with io_uring" / "... with the blocking-call handoff"). Standard input is
 * read with goc_read only when it is a regular file: goc_read would make a
 * pipe or terminal non-blocking, and that mode belongs to the open file,
 * which the shell shares. Files are closed with goc_close, so that goc
 * forgets what kind of file the number was before the number is reused.
 * Hashing uses OpenSSL's EVP interface (libcrypto).
 */
#define _GNU_SOURCE
#include <goc.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include <openssl/evp.h>

#define PROG "goc-sum"
#define READ_BUF (128 * 1024)
#define CHAN_CAP 256

/* One file (or one error): made by the walker, filled by a digester,
 * collected by main. Owned by whoever holds the pointer. */
struct job {
    char *path;      /* as printed */
    int err;         /* 0 or a positive errno value */
    bool from_stdin; /* "-" */
    unsigned dlen;
    unsigned char digest[EVP_MAX_MD_SIZE];
};

struct sum {
    const EVP_MD *md;  /* immutable */
    char **seeds;      /* immutable */
    int nseeds;        /* immutable */
    goc_chan *paths;   /* struct job *: walker -> digesters */
    goc_chan *results; /* struct job *: walker, digesters -> main */
    goc_errgroup *g;
    int fatal; /* the group's error; written before results closes */
};

static struct job *job_new(const char *path, size_t len) {
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->path = malloc(len + 1);
    if (!j->path) {
        free(j);
        return NULL;
    }
    memcpy(j->path, path, len);
    j->path[len] = '\0';
    return j;
}

static void job_free(struct job *j) {
    if (j) {
        free(j->path);
        free(j);
    }
}

/* ---- system calls ----
 *
 * Every call that reports through errno goes through one of these
 * wrappers, which return -errno. A goroutine may resume on another OS
 * thread after any blocking goc call, and the compiler may keep errno's
 * (thread-local) address in a register across such a call inside one
 * function: reading errno in a function that also parks would read the old
 * thread's errno. The wrappers are never inlined, so each reads its own
 * thread's errno right after the call. */

#define NOINLINE __attribute__((noinline))

static NOINLINE int sys_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static NOINLINE ssize_t sys_read(int fd, void *buf, size_t n) {
    ssize_t r;
    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static NOINLINE int sys_stat(const char *path, struct stat *st, bool follow) {
    int r = follow ? stat(path, st) : lstat(path, st);
    return r != 0 ? -errno : 0;
}

static NOINLINE int sys_opendir(const char *path, DIR **out) {
    *out = opendir(path);
    return *out ? 0 : -errno;
}

/* 0 with *out NULL at the end of the directory. */
static NOINLINE int sys_readdir(DIR *d, struct dirent **out) {
    errno = 0;
    *out = readdir(d);
    return *out || errno == 0 ? 0 : -errno;
}

static NOINLINE int sys_errno(void) { return errno; }

/* ---- walking ---- */

/* A growable stack of directory paths still to read. */
struct dirstack {
    char **v;
    size_t n, cap;
};

static bool dirstack_push(struct dirstack *s, char *path) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = path;
    return true;
}

/* dir + "/" + name, as find joins them. */
static char *path_join(const char *dir, const char *name, size_t *len_out) {
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + slash + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    *len_out = dl + slash + nl;
    return p;
}

/* Hand a job on: files to the digesters, errors straight to the results.
 * Takes ownership of j. */
static int emit(struct sum *S, struct job *j, goc_ctx *ctx) {
    goc_chan *c = j->err ? S->results : S->paths;
    int rc = goc_chan_send_ctx(c, &j, ctx);
    if (rc)
        job_free(j);
    return rc;
}

static int emit_path(struct sum *S, const char *path, size_t len, int err, goc_ctx *ctx) {
    struct job *j = job_new(path, len);
    if (!j)
        return -ENOMEM;
    j->err = err;
    return emit(S, j, ctx);
}

/* What to do with an entry met in the walk. */
enum kind { K_SKIP, K_FILE, K_DIR, K_ERROR };

static enum kind classify(const char *path, unsigned char d_type, int *err) {
    struct stat st;
    if (d_type == DT_REG)
        return K_FILE;
    if (d_type == DT_DIR)
        return K_DIR;
    if (d_type == DT_UNKNOWN) {
        int rc = sys_stat(path, &st, false);
        if (rc) {
            *err = -rc;
            return K_ERROR;
        }
        if (S_ISREG(st.st_mode))
            return K_FILE;
        if (S_ISDIR(st.st_mode))
            return K_DIR;
        if (!S_ISLNK(st.st_mode))
            return K_SKIP;
        d_type = DT_LNK;
    }
    if (d_type != DT_LNK)
        return K_SKIP; /* fifo, socket, device */
    /* A symlink: follow it to a regular file only. */
    int rc = sys_stat(path, &st, true);
    if (rc) {
        *err = -rc; /* dangling, looping, or not searchable */
        return K_ERROR;
    }
    return S_ISREG(st.st_mode) ? K_FILE : K_SKIP;
}

/* Walk one directory tree rooted at `root` (a seed known to be a directory). */
static int walk_tree(struct sum *S, const char *root, goc_ctx *ctx) {
    struct dirstack stack = {0};
    int rc = 0;
    char *first = strdup(root);
    if (!first || !dirstack_push(&stack, first)) {
        free(first);
        free(stack.v);
        return -ENOMEM;
    }
    while (stack.n > 0 && rc == 0) {
        char *dir = stack.v[--stack.n];
        DIR *d;
        int err = sys_opendir(dir, &d);
        if (err) {
            rc = emit_path(S, dir, strlen(dir), -err, ctx);
            free(dir);
            continue;
        }
        for (;;) {
            struct dirent *e;
            err = sys_readdir(d, &e);
            if (err || !e) {
                if (err)
                    rc = emit_path(S, dir, strlen(dir), -err, ctx);
                break;
            }
            const char *name = e->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            size_t len;
            char *path = path_join(dir, name, &len);
            if (!path) {
                rc = -ENOMEM;
                break;
            }
            err = 0;
            switch (classify(path, e->d_type, &err)) {
            case K_DIR:
                if (!dirstack_push(&stack, path)) {
                    free(path);
                    rc = -ENOMEM;
                }
                path = NULL;
                break;
            case K_FILE:
                rc = emit_path(S, path, len, 0, ctx);
                break;
            case K_ERROR:
                rc = emit_path(S, path, len, err, ctx);
                break;
            case K_SKIP:
                break;
            }
            free(path);
            if (rc)
                break;
        }
        closedir(d);
        free(dir);
    }
    while (stack.n > 0)
        free(stack.v[--stack.n]);
    free(stack.v);
    return rc;
}

static int walker(goc_ctx *ctx, void *arg) {
    struct sum *S = arg;
    int rc = 0;
    for (int i = 0; i < S->nseeds && rc == 0; i++) {
        const char *seed = S->seeds[i];
        size_t len = strlen(seed);
        if (strcmp(seed, "-") == 0) {
            struct job *j = job_new(seed, len);
            if (!j) {
                rc = -ENOMEM;
                break;
            }
            j->from_stdin = true;
            rc = emit(S, j, ctx);
            continue;
        }
        struct stat st;
        int err = sys_stat(seed, &st, true);
        if (err)
            rc = emit_path(S, seed, len, -err, ctx);
        else if (S_ISDIR(st.st_mode))
            rc = walk_tree(S, seed, ctx);
        else
            rc = emit_path(S, seed, len, 0, ctx);
    }
    goc_chan_close(S->paths); /* the digesters finish what is queued */
    return rc;
}

/* ---- hashing ---- */

static NOINLINE bool is_regular(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* use_goc: read with goc_read (else read(2), for a shared stdin). */
static int hash_fd(int fd, bool use_goc, EVP_MD_CTX *mctx, unsigned char *buf) {
    for (;;) {
        ssize_t n = use_goc ? goc_read(fd, buf, READ_BUF, NULL) : sys_read(fd, buf, READ_BUF);
        if (n == 0)
            return 0;
        if (n < 0)
            return (int)-n;
        if (!EVP_DigestUpdate(mctx, buf, (size_t)n))
            return EIO;
    }
}

static void hash_job(struct sum *S, EVP_MD_CTX *mctx, unsigned char *buf, struct job *j) {
    if (!EVP_DigestInit_ex(mctx, S->md, NULL)) {
        j->err = EIO;
        return;
    }
    int fd = 0;
    if (!j->from_stdin) {
        fd = sys_open(j->path);
        if (fd < 0) {
            j->err = -fd;
            return;
        }
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    int err = hash_fd(fd, !j->from_stdin || is_regular(fd), mctx, buf);
    if (!j->from_stdin)
        goc_close(fd);
    if (err) {
        j->err = err;
        return;
    }
    if (!EVP_DigestFinal_ex(mctx, j->digest, &j->dlen))
        j->err = EIO;
}

static int digester(goc_ctx *ctx, void *arg) {
    struct sum *S = arg;
    EVP_MD_CTX *mctx = NULL;
    unsigned char *buf = NULL; /* made at the first job: idle digesters cost a stack only */
    int rc = 0;
    for (;;) {
        struct job *j;
        bool ok;
        rc = goc_chan_recv_ctx(S->paths, &j, &ok, ctx);
        if (rc || !ok)
            break;
        if (!buf) {
            mctx = EVP_MD_CTX_new();
            buf = malloc(READ_BUF);
            if (!mctx || !buf) {
                job_free(j);
                rc = -ENOMEM;
                break;
            }
        }
        hash_job(S, mctx, buf, j);
        rc = goc_chan_send_ctx(S->results, &j, ctx);
        if (rc) {
            job_free(j);
            break;
        }
    }
    free(buf);
    EVP_MD_CTX_free(mctx);
    return rc == -ECANCELED ? 0 : rc; /* canceled: someone else failed first */
}

static void closer(void *arg) {
    struct sum *S = arg;
    S->fatal = goc_errgroup_wait(S->g);
    struct job *j;
    while (goc_chan_recv(S->paths, &j)) /* closed by the walker: ends */
        job_free(j);
    goc_chan_close(S->results);
}

/* ---- output ---- */

static int cmp_jobs(const void *a, const void *b) {
    const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
    return strcmp(x->path, y->path); /* unsigned bytes: LC_ALL=C order */
}

/* One checksum line, escaped as coreutils escapes it. */
static void print_line(const struct job *j) {
    static const char hex[] = "0123456789abcdef";
    const char *p = j->path;
    bool escape = strpbrk(p, "\\\n\r") != NULL;
    if (escape)
        putchar('\\');
    for (unsigned i = 0; i < j->dlen; i++) {
        putchar(hex[j->digest[i] >> 4]);
        putchar(hex[j->digest[i] & 15]);
    }
    fputs("  ", stdout);
    if (!escape) {
        fputs(p, stdout);
    } else {
        for (; *p; p++) {
            switch (*p) {
            case '\\':
                fputs("\\\\", stdout);
                break;
            case '\n':
                fputs("\\n", stdout);
                break;
            case '\r':
                fputs("\\r", stdout);
                break;
            default:
                putchar(*p);
                break;
            }
        }
    }
    putchar('\n');
}

/* A file name in an error message, shell-quoted only when needed, the way
 * coreutils quotes it: plain if it has no shell-special character; in
 * double quotes if its only trouble is a single quote; else in single
 * quotes, with ' written '\'' and unprintable bytes as $'\ooo' segments. */
struct qunit {
    size_t len;
    bool printable;
};

static struct qunit next_unit(const char *s, size_t left, mbstate_t *st) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x80)
        return (struct qunit){1, c >= 0x20 && c < 0x7f};
    wchar_t wc;
    size_t n = mbrtowc(&wc, s, left, st);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
        memset(st, 0, sizeof *st);
        return (struct qunit){1, false};
    }
    return (struct qunit){n, iswprint((wint_t)wc) != 0};
}

static void put_escape(FILE *f, unsigned char c) {
    static const char named[] = "\aa\bb\tt\nn\vv\ff\rr";
    const char *k = c ? strchr(named, c) : NULL;
    if (k && (k - named) % 2 == 0)
        fprintf(f, "\\%c", k[1]);
    else
        fprintf(f, "\\%03o", c);
}

static void put_quoted(FILE *f, const char *name) {
    size_t len = strlen(name);
    bool special = len == 0, squote = false, unprintable = false, dq_trouble = false;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < len;) {
        struct qunit u = next_unit(name + i, len - i, &st);
        char c = name[i];
        if (!u.printable) {
            unprintable = true;
        } else if (u.len == 1) {
            if (strchr(" !\"$&'()*;<=>?[\\^`|:", c))
                special = true;
            if ((c == '#' || c == '~') && i == 0)
                special = true;
            if ((c == '{' || c == '}') && len == 1)
                special = true;
            if (c == '\'')
                squote = true;
            if (strchr("\"$`\\!", c))
                dq_trouble = true;
        }
        i += u.len;
    }
    if (!special && !unprintable) {
        fputs(name, f);
        return;
    }
    if (squote && !unprintable && !dq_trouble) {
        fprintf(f, "\"%s\"", name);
        return;
    }
    bool in_dollar = false;
    fputc('\'', f);
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < len;) {
        struct qunit u = next_unit(name + i, len - i, &st);
        if (!u.printable) {
            if (!in_dollar)
                fputs("'$'", f);
            in_dollar = true;
            for (size_t k = 0; k < u.len; k++)
                put_escape(f, (unsigned char)name[i + k]);
        } else {
            if (in_dollar)
                fputs("''", f);
            in_dollar = false;
            if (name[i] == '\'')
                fputs("'\\''", f);
            else
                fwrite(name + i, 1, u.len, f);
        }
        i += u.len;
    }
    fputc('\'', f);
}

static void report(const char *path, int err) {
    fflush(stdout);
    fputs(PROG ": ", stderr);
    put_quoted(stderr, path);
    fprintf(stderr, ": %s\n", strerror(err));
}

/* ---- main ---- */

struct opts {
    const char *algo;
    int jobs;
    bool verbose;
    int nseeds;
    char **seeds;
};

static struct opts opts;

static void usage(FILE *f) {
    fprintf(f, "usage: " PROG " [-a md5|sha1|sha224|sha256|sha384|sha512] [-j N] [-v] [PATH...]\n"
               "Print checksums of the files under each PATH (directories are walked),\n"
               "in the format of md5sum/sha1sum/sha256sum, sorted by path.\n"
               "  -a ALGO  digest algorithm (default sha256)\n"
               "  -j N     hash with N goroutines (default 4 x processors)\n"
               "  -v       say how files are read (io_uring or the blocking-call handoff)\n");
}

static int run(void *arg) {
    (void)arg;
    static const struct {
        const char *opt, *name;
    } algos[] = {{"md5", "MD5"},       {"sha1", "SHA1"},     {"sha224", "SHA224"},
                 {"sha256", "SHA256"}, {"sha384", "SHA384"}, {"sha512", "SHA512"}};
    const char *name = NULL;
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++)
        if (strcmp(opts.algo, algos[i].opt) == 0)
            name = algos[i].name;
    if (!name) {
        fprintf(stderr, PROG ": unknown algorithm '%s'\n", opts.algo);
        usage(stderr);
        return 2;
    }
    struct sum S = {0};
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD *fetched = EVP_MD_fetch(NULL, name, NULL); /* once, not per file */
    S.md = fetched;
#else
    S.md = EVP_get_digestbyname(name);
#endif
    if (!S.md) {
        fprintf(stderr, PROG ": %s is not available in libcrypto\n", name);
        return 2;
    }
    if (opts.verbose)
        fprintf(stderr, PROG ": reading files with %s\n",
                goc_io_uring_enabled() ? "io_uring" : "the blocking-call handoff");
    int jobs = opts.jobs > 0 ? opts.jobs : 4 * goc_maxprocs(0);
    static char dash[] = "-";
    static char *stdin_seed[] = {dash};
    S.seeds = opts.nseeds ? opts.seeds : stdin_seed;
    S.nseeds = opts.nseeds ? opts.nseeds : 1;
    S.paths = goc_chan_make(sizeof(struct job *), CHAN_CAP);
    S.results = goc_chan_make(sizeof(struct job *), CHAN_CAP);
    S.g = goc_errgroup_new(goc_ctx_background());
    int status = 0;
    if (!S.paths || !S.results || !S.g) {
        fprintf(stderr, PROG ": %s\n", strerror(ENOMEM));
        status = 1;
        goto out;
    }
    goc_errgroup_go(S.g, walker, &S);
    for (int i = 0; i < jobs; i++)
        goc_errgroup_go(S.g, digester, &S);
    int rc = goc_go(closer, &S);
    if (rc) {
        fprintf(stderr, PROG ": cannot start a goroutine: %s\n", goc_strerror(rc));
        exit(1);
    }

    struct job **all = NULL, *j;
    size_t n = 0, cap = 0;
    bool oom = false;
    while (goc_chan_recv(S.results, &j)) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 1024;
            struct job **v = realloc(all, ncap * sizeof *v);
            if (!v) {
                job_free(j);
                oom = true;
                continue; /* keep draining so nobody blocks */
            }
            all = v;
            cap = ncap;
        }
        all[n++] = j;
    }
    if (S.fatal || oom) {
        fprintf(stderr, PROG ": %s\n", goc_strerror(S.fatal ? S.fatal : -ENOMEM));
        status = 1;
    } else {
        if (n > 1)
            qsort(all, n, sizeof *all, cmp_jobs);
        for (size_t i = 0; i < n; i++) {
            if (all[i]->err) {
                report(all[i]->path, all[i]->err);
                status = 1;
            } else {
                print_line(all[i]);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        job_free(all[i]);
    free(all);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": write error: %s\n", strerror(sys_errno()));
        status = 1;
    }
out:
    goc_errgroup_free(S.g);
    goc_chan_release(S.paths);
    goc_chan_release(S.results);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD_free(fetched);
#endif
    return status;
}

int main(int argc, char **argv) {
    setlocale(LC_ALL, ""); /* printable characters in quoted names, messages */
    opts.algo = "sha256";
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "a:j:hv", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            opts.algo = optarg;
            break;
        case 'j': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 1 || v > 100000) {
                fprintf(stderr, PROG ": invalid number of goroutines '%s'\n", optarg);
                return 2;
            }
            opts.jobs = (int)v;
            break;
        }
        case 'v':
            opts.verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    opts.seeds = argv + optind;
    opts.nseeds = argc - optind;
    static char big_stdout[1 << 16];
    setvbuf(stdout, big_stdout, _IOFBF, sizeof big_stdout);
    return goc_run(run, NULL);
}
