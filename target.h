/* target.h: resolving the server address once, at start. */
#ifndef MCS_TARGET_H
#define MCS_TARGET_H

#include <stddef.h>
#include "run.h"

/* host may be a name, an IPv4 or an IPv6 address (with or without []).
 * 0, or -1 with a message in err. */
int mcs_target_resolve(struct mcs_target *t, const char *host, const char *port,
                       char *err, size_t errlen);
int mcs_target_unix(struct mcs_target *t, const char *path, char *err, size_t errlen);

#endif
