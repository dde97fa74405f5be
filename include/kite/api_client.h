/* SPDX-License-Identifier: MIT */
#ifndef KITE_API_CLIENT_H
#define KITE_API_CLIENT_H

/* The small client the CLI subcommands use to talk to a VM's control socket. */

#include <stddef.h>

struct api_reply {
	int status;
	char *raw;        /* the whole response, NUL-terminated */
	const char *body; /* into raw; NUL-terminated */
	size_t body_len;
};

/* A blocking connection to the socket at path; fd or -errno. */
int api_client_connect(const char *path);
/*
 * Sends one request (json may be NULL) with "Connection: close" and reads the
 * reply; 0, or -errno on a transport failure (-EPROTO: not HTTP).  Waits at
 * most timeout_ms for each read or write.
 */
int api_client_call(const char *path, const char *method, const char *target, const char *json,
		    struct api_reply *rep, int timeout_ms);
void api_reply_free(struct api_reply *rep);
/* The reply's fault_message (or its body) as one line, in a malloc'd string. */
char *api_reply_fault(const struct api_reply *rep);

#endif
