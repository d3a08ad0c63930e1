/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BIRD's control socket (birdc's protocol), spoken directly: one command,
 * its reply read whole, and the reply of `show protocols all` parsed into
 * the BGP sessions it lists. For vpcroutectl doctor in route-server mode.
 *
 * The reply is lines "CODE-text" or "CODE text" (CODE four digits; a space
 * after it ends the reply), " text" (the previous code continued) and
 * "+text" (asynchronous, ignored). 0000 is success, 8xxx and 9xxx errors.
 */
#ifndef VR_CTL_BIRD_H
#define VR_CTL_BIRD_H

#include <stdbool.h>
#include <stddef.h>

#define BIRD_MAX_REPLY	 (4u << 20) /* bytes */
#define BIRD_MAX_SESSION 1024	    /* BGP protocols kept from one reply */
#define BIRD_ERRLEN	 256

/* One BGP protocol of `show protocols all`. */
struct bird_session {
	char name[64];
	char state[16];	     /* BIRD's protocol state: up, start, down, flush */
	char bgp_state[32];  /* "BGP state:": Established, Active, Connect, ... ("": not told) */
	char neighbor[64];   /* "Neighbor address:" */
	char last_error[96]; /* "Last error:" ("": none) */
	unsigned long long neighbor_as, local_as; /* 0: not told */
	unsigned long long imported, exported;	  /* summed over its channels */
};

struct bird_sessions {
	struct bird_session *v;
	size_t n;
};

/*
 * The length of the first complete reply in buf (through the newline of its
 * final line), 0 when it is not complete yet.
 */
size_t bird_reply_end(const char *buf, size_t len);

/*
 * The reply of `show protocols all` (the greeting "0001 ..." may lead it):
 * its BGP protocols into out (to free with bird_sessions_free). A reply that
 * is not BIRD's, is cut short, or is an error (8xxx, 9xxx) returns -EINVAL
 * with one line in err naming the line; out is then empty.
 */
int bird_parse_protocols(const char *buf, size_t len, struct bird_sessions *out, char *err,
			 size_t errlen);
void bird_sessions_free(struct bird_sessions *s);

/*
 * Connects to BIRD's control socket at path, reads its greeting, sends cmd
 * and reads the reply whole (at most BIRD_MAX_REPLY bytes, timeout_ms in
 * all). The reply (NUL-terminated, *len bytes) is the caller's to free.
 * Returns 0 or a negative errno, with err saying what failed.
 */
int bird_query(const char *path, const char *cmd, int timeout_ms, char **reply, size_t *len,
	       char *err, size_t errlen);

#endif
