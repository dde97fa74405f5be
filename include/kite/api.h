/* SPDX-License-Identifier: MIT */
#ifndef KITE_API_H
#define KITE_API_H

/*
 * The control socket: HTTP/1.1 + JSON over a UNIX socket, in Firecracker's
 * vocabulary where Firecracker has the same function and under /kite/ where
 * it does not (docs/api.md).  The server lives on the VM's event loop; every
 * request is decoded (api_decode: no side effects, fuzzed) and then executed
 * (api_execute) on the loop thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kite/http.h>
#include <kite/migrate.h>

struct vm;
struct event_loop;

enum api_op {
	API_GET_INFO,           /* GET / */
	API_GET_MACHINE_CONFIG, /* GET /machine-config */
	API_PATCH_VM,           /* PATCH /vm {"state": ...} */
	API_PUT_ACTIONS,        /* PUT /actions {"action_type": ...} */
	API_GET_KITE_VM,        /* GET /kite/vm */
	API_PUT_KITE_STOP,      /* PUT /kite/stop */
	API_GET_KITE_STATS,     /* GET /kite/stats */
	API_GET_METRICS,        /* GET /metrics */
	API_GET_CONSOLE,        /* GET /kite/console with Upgrade: kite-console */
	API_PUT_SNAPSHOT_CREATE, /* PUT /snapshot/create (src/state) */
	API_PUT_SNAPSHOT_LOAD,   /* PUT /snapshot/load: only before a VM exists (api_server_wait) */
	API_PUT_MIGRATE,         /* PUT /kite/migrate (src/migrate) */
	API_GET_MIGRATE,         /* GET /kite/migrate: progress and the final report */
	API_PUT_MIGRATE_CANCEL,  /* PUT /kite/migrate/cancel */
};

#define API_PATH_MAX 4096

/*
 * PUT /snapshot/create and /snapshot/load: a kite directory (mem_path "") or
 * Firecracker's two files; resume: load's resume_vm.
 */
struct api_snapshot {
	char path[API_PATH_MAX];
	char mem_path[API_PATH_MAX];
	bool compress, stop, resume;
};

/*
 * Makes the VM of a PUT /snapshot/load on a server that has none yet (the
 * caller then attaches it): 0, or -errno with `why` set for the client.
 */
typedef int (*api_load_fn)(void *opaque, const struct api_snapshot *sn, char *why, size_t len);

enum api_action { API_ACTION_CTRL_ALT_DEL };

struct api_call {
	enum api_op op;
	bool pause;             /* API_PATCH_VM: true = "Paused", false = "Resumed" */
	enum api_action action; /* API_PUT_ACTIONS */
	struct api_snapshot snap; /* API_PUT_SNAPSHOT_* */
	struct migrate_params mig; /* API_PUT_MIGRATE */
};

struct api_response {
	int status;
	const char *content_type; /* NULL when there is no body */
	char *body;               /* malloc'd */
	size_t len;
	char extra[64];           /* extra header lines (Allow:, Upgrade:), CRLF-terminated */
	bool upgrade_console;     /* 101: the connection becomes the serial console */
};

/* What the executor needs besides the VM: the server's own numbers. */
struct api_context {
	struct vm *vm; /* NULL while waiting for PUT /snapshot/load */
	const char *id; /* the instance's name while there is no VM */
	api_load_fn load;
	void *load_opaque;
	const char *socket_path;
	uint64_t requests, errors, connections;
};

/* routes.c */
/* Decodes a request; 0, or -1 with resp holding the 4xx to send. */
int api_decode(const struct http_request *req, struct api_call *call, struct api_response *resp);
/* Performs a decoded call; always fills resp.  Loop thread only. */
void api_execute(struct api_context *ctx, const struct api_call *call, struct api_response *resp);
/* Fills resp with `status` and {"fault_message": "..."}. */
void api_fault(struct api_response *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void api_response_free(struct api_response *resp);

/* server.c */
struct api_server;
/*
 * Binds and listens at `path` (mode 0600).  A live socket there (another VM
 * answers) gives -EADDRINUSE; a stale one (nobody listening) is replaced.
 */
int api_server_open(struct api_server **out, const char *path);
/*
 * Serves requests for vm on vm->loop until api_server_detach(); a server
 * that was waiting (api_server_wait) moves there with its connections.
 */
int api_server_attach(struct api_server *s, struct vm *vm);
/*
 * Serves on `loop` with no VM yet: GET / says "Not started", PUT
 * /snapshot/load calls load(opaque, ...), anything needing a VM gets 400.
 */
int api_server_wait(struct api_server *s, struct event_loop *loop, const char *id, api_load_fn load, void *opaque);
/* Drops every connection and stops serving (loop stopped, or on the loop thread). */
void api_server_detach(struct api_server *s);
/* Detaches, closes and removes the socket file. */
void api_server_close(struct api_server *s);
const char *api_server_path(const struct api_server *s);
/*
 * For kite run: opens api_path, or DIR/NAME.sock when it is NULL (see
 * kite/api_registry.h); "none" opens nothing (*out = NULL, returns 0).
 */
int api_server_open_default(struct api_server **out, const char *api_path, const char *name);

#endif
