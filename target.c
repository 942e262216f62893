/* target.c: server addresses (TCP over IPv4/IPv6, Unix sockets), resolved
 * once at start. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

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
