/* target.c: server addresses (TCP over IPv4/IPv6, Unix sockets) and the
 * reachability probe run before a phase starts. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int mcs_target_resolve(struct mcs_target *t, const char *host, const char *port,
                       char *err, size_t errlen)
{
    char h[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        hl -= 2;
        host++;
    }
    if (hl >= sizeof(h)) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(h, host, hl);
    h[hl] = '\0';
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(h, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s port %s: %s", h, port, gai_strerror(rc));
        return -1;
    }
    memset(t, 0, sizeof(*t));
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(t->name, sizeof(t->name), strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, port);
    return 0;
}

int mcs_target_unix(struct mcs_target *t, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&t->addr;
    memset(t, 0, sizeof(*t));
    if (strlen(path) >= sizeof(sun->sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path);
    t->addrlen = sizeof(*sun);
    snprintf(t->name, sizeof(t->name), "%s", path);
    return 0;
}

static int probe_once(const struct mcs_target *t)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int ret = 0;
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0) {
        ret = -errno;
        if (ret == -EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (poll(&p, 1, 2000) <= 0)
                ret = -ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
                ret = -soerr;
        }
    }
    close(fd);
    return ret;
}

int mcs_target_probe(const struct mcs_target *t, int attempts)
{
    int ret = 0;
    for (int i = 0; i < attempts; i++) {
        ret = probe_once(t);
        if (ret == 0)
            return 0;
        struct timespec ts = { 0, 200000000L * (i + 1) };
        if (i + 1 < attempts)
            nanosleep(&ts, NULL);
    }
    return ret;
}
