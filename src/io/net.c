/* io/net.c — TCP listeners and dialing (Go's net.Listen / net.Dial for
 * "tcp"), on the calls of io.c.
 *
 * goc_dial_tcp looks the name up with getaddrinfo inside goc_blocking (the
 * resolver may sleep in the kernel for seconds: the processor is handed to
 * another thread meanwhile), then tries each address in turn, as Go's
 * dialSerial does, returning the first connection or the last error. The
 * context bounds the whole dial; the lookup itself cannot be interrupted,
 * so a context that ends during it is noticed when it returns.
 */
#define _GNU_SOURCE
#include <goc/io.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* getaddrinfo's EAI_* codes as -errno values. */
static int eai_errno(int rc, int sys_errno) {
    switch (rc) {
    case 0:
        return 0;
    case EAI_SYSTEM:
        return sys_errno ? -sys_errno : -EIO;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return -ENOENT; /* "no such host" */
    case EAI_SERVICE:
        return -ESRCH;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
        return -EAFNOSUPPORT;
    default:
        return -EINVAL;
    }
}

struct lookup {
    const char *host, *port;
    int flags;
    struct addrinfo *res;
    int err;
};

static int do_lookup(void *arg) {
    struct lookup *l = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = l->flags;
    errno = 0;
    int rc = getaddrinfo(l->host, l->port, &hints, &l->res);
    l->err = eai_errno(rc, errno); /* errno read on the thread that ran it */
    return 0;
}

static int lookup(const char *host, const char *port, int flags, struct addrinfo **res) {
    struct lookup l = {host, port, flags, NULL, 0};
    goc_blocking(do_lookup, &l);
    *res = l.res;
    return l.err;
}

/* 0 for a port getaddrinfo may be given, else -EINVAL. glibc takes a
 * numeric port modulo 65536 ("99999" becomes 34463, "65536" becomes 0: any
 * free port) and skips leading blanks and a sign ("+80", " 80"); Go's net
 * rejects all of these ("invalid port"). "" is port 0, as in Go; other
 * strings are service names ("http"), for getaddrinfo to look up. */
static int check_port(const char *port) {
    if (!port)
        return -EINVAL;
    const char *p = port;
    if (*p == '\0')
        return 0;
    if (*p < '0' || *p > '9')
        return (*p == '+' || *p == '-' || *p == ' ' || (*p >= '\t' && *p <= '\r')) ? -EINVAL : 0;
    unsigned long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return -EINVAL;
    }
    return 0;
}

static int sock_for(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    return fd < 0 ? -errno : fd;
}

int goc_listen_tcp(const char *host, const char *port, int backlog) {
    int err = check_port(port);
    if (err)
        return err;
    struct addrinfo *res = NULL;
    err = lookup(host, port, AI_PASSIVE, &res);
    if (err)
        return err;
    err = -EADDRNOTAVAIL;
    /* With no host, prefer the IPv6 wildcard (it takes IPv4 too). */
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = sock_for(ai);
        if (fd < 0) {
            err = fd;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6 && host == NULL) {
            int zero = 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, backlog > 0 ? backlog : SOMAXCONN) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        err = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return err;
}

int goc_dial_tcp(const char *host, const char *port, goc_ctx *ctx) {
    int err = check_port(port);
    if (err)
        return err;
    err = ctx ? goc_ctx_err(ctx) : 0;
    if (err)
        return err;
    struct addrinfo *res = NULL;
    err = lookup(host, port, 0, &res);
    if (err)
        return err;
    err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int ce = ctx ? goc_ctx_err(ctx) : 0;
        if (ce) {
            err = ce;
            break;
        }
        int fd = sock_for(ai);
        if (fd < 0) {
            err = fd;
            continue;
        }
        int rc = goc_connect(fd, ai->ai_addr, ai->ai_addrlen, ctx);
        if (rc == 0) {
            int one = 1; /* Go's default for TCP connections */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            freeaddrinfo(res);
            return fd;
        }
        err = rc;
        goc_close(fd);
        if (rc == -ECANCELED || rc == -ETIMEDOUT) {
            if (ctx && goc_ctx_err(ctx))
                break; /* the context ended: no other address either */
        }
    }
    freeaddrinfo(res);
    return err;
}
