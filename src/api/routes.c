// SPDX-License-Identifier: MIT
/*
 * The endpoints.  Decoding (path, method, JSON body, field types) is kept
 * apart from execution so that the fuzzer can drive every byte a client
 * controls without a VM behind it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kite/api.h>
#include <kite/migrate.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio_net.h>
#include <kite/vm.h>

struct api_route {
	const char *path;
	const char *method;
	enum api_op op;
};

static const struct api_route api_routes[] = {
	{ "/", "GET", API_GET_INFO },
	{ "/machine-config", "GET", API_GET_MACHINE_CONFIG },
	{ "/vm", "PATCH", API_PATCH_VM },
	{ "/actions", "PUT", API_PUT_ACTIONS },
	{ "/kite/vm", "GET", API_GET_KITE_VM },
	{ "/kite/stop", "PUT", API_PUT_KITE_STOP },
	{ "/kite/stats", "GET", API_GET_KITE_STATS },
	{ "/metrics", "GET", API_GET_METRICS },
	{ "/kite/console", "GET", API_GET_CONSOLE },
	{ "/snapshot/create", "PUT", API_PUT_SNAPSHOT_CREATE },
	{ "/snapshot/load", "PUT", API_PUT_SNAPSHOT_LOAD },
	{ "/kite/migrate", "PUT", API_PUT_MIGRATE },
	{ "/kite/migrate", "GET", API_GET_MIGRATE },
	{ "/kite/migrate/cancel", "PUT", API_PUT_MIGRATE_CANCEL },
};

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

static void api_set_body(struct api_response *resp, int status, const char *type, char *body)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = body ? type : NULL;
	resp->body = body;
	resp->len = body ? strlen(body) : 0;
}

void api_fault(struct api_response *resp, int status, const char *fmt, ...)
{
	char msg[256];
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote client bytes (paths, keys cut at a length): keep them printable ASCII, so valid UTF-8. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < ' ' || (unsigned char)*c > '~')
			*c = '?';
	j = json_pack("{s:s}", "fault_message", msg);
	api_set_body(resp, status, "application/json", j ? json_dumps(j, JSON_COMPACT) : NULL);
	json_decref(j);
}

/* Takes the reference to j. */
static void api_json(struct api_response *resp, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;

	json_decref(j);
	if (!s) {
		api_fault(resp, 500, "cannot build the response (out of memory, or text that is not UTF-8)");
		return;
	}
	api_set_body(resp, status, "application/json", s);
}

static void api_no_content(struct api_response *resp)
{
	api_set_body(resp, 204, NULL, NULL);
}

static int api_route_find(const struct http_request *req, struct api_call *call, struct api_response *resp)
{
	char allow[48] = "";
	bool known = false;

	for (size_t i = 0; i < ARRAY_SIZE(api_routes); i++) {
		const struct api_route *r = &api_routes[i];

		if (strcmp(r->path, req->path))
			continue;
		if (!strcmp(r->method, req->method)) {
			call->op = r->op;
			return 0;
		}
		known = true;
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", *allow ? ", " : "", r->method);
	}
	if (!known) {
		api_fault(resp, 404, "no endpoint at %s", req->path);
		return -1;
	}
	api_fault(resp, 405, "%s %s: method not allowed (allowed: %s)", req->method, req->path, allow);
	snprintf(resp->extra, sizeof(resp->extra), "Allow: %s\r\n", allow);
	return -1;
}

/* The body as a JSON object with only the fields in `allowed`; NULL after a 400. */
static json_t *api_body_object(const struct http_request *req, const char *const *allowed,
			       struct api_response *resp)
{
	json_error_t e;
	const char *key;
	json_t *j, *v;

	if (!req->body_len) {
		api_fault(resp, 400, "%s %s needs a JSON body", req->method, req->path);
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		api_fault(resp, 400, "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		api_fault(resp, 400, "the body must be a JSON object");
		json_decref(j);
		return NULL;
	}
	json_object_foreach(j, key, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok) {
			api_fault(resp, 400, "unknown field \"%.64s\"", key);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

/* The required string field `name` of j, or NULL after a 400. */
static const char *api_string_field(json_t *j, const char *name, struct api_response *resp)
{
	json_t *v = json_object_get(j, name);

	if (!v) {
		api_fault(resp, 400, "missing field \"%s\"", name);
		return NULL;
	}
	if (!json_is_string(v)) {
		api_fault(resp, 400, "field \"%s\" must be a string", name);
		return NULL;
	}
	return json_string_value(v);
}

static int api_decode_vm_state(const struct http_request *req, struct api_call *call, struct api_response *resp)
{
	static const char *const fields[] = { "state", NULL };
	json_t *j = api_body_object(req, fields, resp);
	const char *s;
	int r = -1;

	if (!j)
		return -1;
	s = api_string_field(j, "state", resp);
	if (s && !strcmp(s, "Paused")) {
		call->pause = true;
		r = 0;
	} else if (s && !strcmp(s, "Resumed")) {
		call->pause = false;
		r = 0;
	} else if (s) {
		api_fault(resp, 400, "state \"%.32s\": expected \"Paused\" or \"Resumed\"", s);
	}
	json_decref(j);
	return r;
}

static int api_decode_action(const struct http_request *req, struct api_call *call, struct api_response *resp)
{
	static const char *const fields[] = { "action_type", NULL };
	json_t *j = api_body_object(req, fields, resp);
	const char *s;
	int r = -1;

	if (!j)
		return -1;
	s = api_string_field(j, "action_type", resp);
	if (s && !strcmp(s, "SendCtrlAltDel")) {
		call->action = API_ACTION_CTRL_ALT_DEL;
		r = 0;
	} else if (s && (!strcmp(s, "InstanceStart") || !strcmp(s, "FlushMetrics"))) {
		api_fault(resp, 400, "action_type \"%s\" is not supported by kite (the VM starts with kite run; "
				     "metrics are at GET /metrics)", s);
	} else if (s) {
		api_fault(resp, 400, "action_type \"%.32s\": expected \"SendCtrlAltDel\"", s);
	}
	json_decref(j);
	return r;
}

static int api_decode_console(const struct http_request *req, struct api_response *resp)
{
	const struct http_header *h = http_find_header(req, "Upgrade");

	if (!h || h->value_len != 12 || strncasecmp(h->value, "kite-console", 12)) {
		api_fault(resp, 400, "GET /kite/console needs \"Upgrade: kite-console\" (use kite console NAME)");
		return -1;
	}
	return 0;
}

/* An absolute path field, or NULL after a 400. */
static const char *api_path_field(json_t *j, const char *name, struct api_response *resp)
{
	const char *s = api_string_field(j, name, resp);

	if (s && (s[0] != '/' || strlen(s) >= API_PATH_MAX)) {
		api_fault(resp, 400, "field \"%s\" must be an absolute path shorter than %d bytes", name, API_PATH_MAX);
		return NULL;
	}
	return s;
}

static int api_bool_field(json_t *j, const char *name, bool *out, struct api_response *resp)
{
	json_t *v = json_object_get(j, name);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		api_fault(resp, 400, "field \"%s\" must be true or false", name);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/*
 * {"snapshot_type": "Full", "snapshot_path": P, "mem_file_path": M} as in
 * Firecracker; without mem_file_path, P is a kite snapshot directory.  kite
 * adds "compress" and "stop" (stop the VM once the snapshot is written).
 */
static int api_decode_snapshot_create(const struct http_request *req, struct api_call *call,
				      struct api_response *resp)
{
	static const char *const fields[] = { "snapshot_type", "snapshot_path", "mem_file_path", "compress", "stop",
					      "version", NULL };
	json_t *j = api_body_object(req, fields, resp), *t;
	const char *p, *m = NULL;
	int r = -1;

	if (!j)
		return -1;
	t = json_object_get(j, "snapshot_type");
	if (t && (!json_is_string(t) || strcmp(json_string_value(t), "Full"))) {
		api_fault(resp, 400, "snapshot_type: kite makes \"Full\" snapshots only");
		goto out;
	}
	p = api_path_field(j, "snapshot_path", resp);
	if (!p || (json_object_get(j, "mem_file_path") && !(m = api_path_field(j, "mem_file_path", resp))))
		goto out;
	if (api_bool_field(j, "compress", &call->snap.compress, resp) || api_bool_field(j, "stop", &call->snap.stop, resp))
		goto out;
	snprintf(call->snap.path, sizeof(call->snap.path), "%s", p);
	snprintf(call->snap.mem_path, sizeof(call->snap.mem_path), "%s", m ? m : "");
	r = 0;
out:
	json_decref(j);
	return r;
}

/*
 * {"snapshot_path": S, "mem_backend": {"backend_type": "File", "backend_path": M},
 * "resume_vm": bool} as in Firecracker (or its older "mem_file_path": M);
 * without a memory file, S is a kite snapshot directory.
 */
static int api_decode_snapshot_load(const struct http_request *req, struct api_call *call,
				    struct api_response *resp)
{
	static const char *const fields[] = { "snapshot_path", "mem_backend", "mem_file_path", "resume_vm",
					      "enable_diff_snapshots", "track_dirty_pages", NULL };
	json_t *j = api_body_object(req, fields, resp), *mb, *t;
	const char *p, *m = NULL;
	bool diff = false;
	int r = -1;

	if (!j)
		return -1;
	p = api_path_field(j, "snapshot_path", resp);
	if (!p)
		goto out;
	mb = json_object_get(j, "mem_backend");
	if (mb && json_object_get(j, "mem_file_path")) {
		api_fault(resp, 400, "give mem_backend or mem_file_path, not both");
		goto out;
	}
	if (mb) {
		t = json_is_object(mb) ? json_object_get(mb, "backend_type") : NULL;
		if (!t || !json_is_string(t) || strcmp(json_string_value(t), "File")) {
			api_fault(resp, 400, "mem_backend: kite maps a file ({\"backend_type\": \"File\", "
					     "\"backend_path\": ...}); Uffd is not supported");
			goto out;
		}
		if (!(m = api_path_field(mb, "backend_path", resp)))
			goto out;
	} else if (json_object_get(j, "mem_file_path") && !(m = api_path_field(j, "mem_file_path", resp))) {
		goto out;
	}
	if (api_bool_field(j, "resume_vm", &call->snap.resume, resp) ||
	    api_bool_field(j, "enable_diff_snapshots", &diff, resp) ||
	    api_bool_field(j, "track_dirty_pages", &diff, resp))
		goto out;
	if (diff) {
		api_fault(resp, 400, "kite makes full snapshots only (no dirty page tracking for diff snapshots)");
		goto out;
	}
	snprintf(call->snap.path, sizeof(call->snap.path), "%s", p);
	snprintf(call->snap.mem_path, sizeof(call->snap.mem_path), "%s", m ? m : "");
	r = 0;
out:
	json_decref(j);
	return r;
}

/* An optional integer field within [min, max]; -1 after a 400. */
static int api_uint_field(json_t *j, const char *name, unsigned min, unsigned max, unsigned *out,
			  struct api_response *resp)
{
	json_t *v = json_object_get(j, name);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		api_fault(resp, 400, "field \"%s\" must be an integer from %u to %u", name, min, max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* {"destination": "tcp:HOST:PORT"|"unix:PATH", "downtime_ms", "bandwidth_mib", "max_rounds", "compress", "auto_converge"} */
static int api_decode_migrate(const struct http_request *req, struct api_call *call, struct api_response *resp)
{
	static const char *const fields[] = { "destination", "downtime_ms", "bandwidth_mib", "max_rounds", "compress",
					      "auto_converge", "fd_passing", NULL };
	struct migrate_params *p = &call->mig;
	json_t *j = api_body_object(req, fields, resp);
	bool ac = true, fdp = true;
	const char *d;
	int r = -1;

	if (!j)
		return -1;
	d = api_string_field(j, "destination", resp);
	if (!d)
		goto out;
	if (strlen(d) >= sizeof(p->dest) || migrate_parse_addr(d)) {
		api_fault(resp, 400, "destination \"%.64s\": expected tcp:HOST:PORT or unix:PATH", d);
		goto out;
	}
	snprintf(p->dest, sizeof(p->dest), "%s", d);
	if (api_uint_field(j, "downtime_ms", 1, 600000, &p->downtime_ms, resp) ||
	    api_uint_field(j, "bandwidth_mib", 0, 1u << 20, &p->bandwidth_mib, resp) ||
	    api_uint_field(j, "max_rounds", 1, 10000, &p->max_rounds, resp) ||
	    api_bool_field(j, "compress", &p->compress, resp) || api_bool_field(j, "auto_converge", &ac, resp) ||
	    api_bool_field(j, "fd_passing", &fdp, resp))
		goto out;
	p->no_auto_converge = !ac;
	p->no_fd_passing = !fdp;
	r = 0;
out:
	json_decref(j);
	return r;
}

int api_decode(const struct http_request *req, struct api_call *call, struct api_response *resp)
{
	memset(call, 0, sizeof(*call));
	if (api_route_find(req, call, resp))
		return -1;
	switch (call->op) {
	case API_PATCH_VM:
		return api_decode_vm_state(req, call, resp);
	case API_PUT_ACTIONS:
		return api_decode_action(req, call, resp);
	case API_GET_CONSOLE:
		return api_decode_console(req, resp);
	case API_PUT_SNAPSHOT_CREATE:
		return api_decode_snapshot_create(req, call, resp);
	case API_PUT_SNAPSHOT_LOAD:
		return api_decode_snapshot_load(req, call, resp);
	case API_PUT_MIGRATE:
		return api_decode_migrate(req, call, resp);
	default:
		return 0; /* no body, or a body that is ignored (PUT /kite/stop) */
	}
}

static double api_uptime(struct vm *vm)
{
	return vm->start_ns ? (now_ns() - vm->start_ns) / 1e9 : 0.0;
}

/* The state kite ls shows: the VM's, or "Migrating" while a migration runs. */
static const char *api_vm_state(struct vm *vm)
{
	return migrate_active(vm) ? "Migrating" : vm_state_name(vm_get_state(vm));
}

static void api_get_info(struct api_context *ctx, struct api_response *resp)
{
	struct vm *vm = ctx->vm;

	api_json(resp, 200,
		 json_pack("{s:s, s:s, s:s, s:s}", "id", vm->cfg.name, "state", api_vm_state(vm),
			   "vmm_version", KITE_VERSION, "app_name", "kite"));
}

static void api_get_machine_config(struct api_context *ctx, struct api_response *resp)
{
	struct vm *vm = ctx->vm;

	api_json(resp, 200,
		 json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", (int)vm->ncpus, "mem_size_mib",
			   (json_int_t)(vm->cfg.mem_size >> 20), "smt", 0, "track_dirty_pages", 0, "huge_pages", "None"));
}

static void api_patch_vm(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	struct vm *vm = ctx->vm;
	int r;

	if (migrate_active(vm)) {
		api_fault(resp, 409, "a migration is running (kite migrate --cancel %s first)", vm->cfg.name);
		return;
	}
	r = call->pause ? vm_pause(vm) : vm_resume(vm);
	if (r)
		api_fault(resp, 400, "cannot %s a VM in state %s", call->pause ? "pause" : "resume",
			  vm_state_name(vm_get_state(vm)));
	else
		api_no_content(resp);
}

static void api_put_actions(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	int r = vm_send_ctrl_alt_del(ctx->vm);

	if (r)
		api_fault(resp, 400, "SendCtrlAltDel failed: %s", strerror(-r));
	else
		api_no_content(resp);
}

static void api_put_stop(struct api_context *ctx, struct api_response *resp)
{
	vm_request_stop(ctx->vm, STOP_USER, 0, "stopped through the API (PUT /kite/stop)");
	api_no_content(resp);
}

/* Device names from the buses: every range a device claimed, as "name" and where. */
static json_t *api_bus_devices(struct bus *b, json_t *arr)
{
	pthread_rwlock_rdlock(&b->lock);
	for (unsigned i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];
		char base[24];

		snprintf(base, sizeof(base), "0x%" PRIx64, r->base);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "name", r->name ? r->name : "?", "bus",
						     b->name, "base", base, "size", (json_int_t)r->len));
	}
	pthread_rwlock_unlock(&b->lock);
	return arr;
}

/* The NICs as Firecracker names them (iface_id, host_dev_name, guest_mac), with the link state. */
static json_t *api_nets(struct vm *vm)
{
	struct vm_device_refs d;
	json_t *arr = json_array();

	vm_devices_refs(vm, &d);
	for (unsigned i = 0; i < KITE_MAX_NETS; i++) {
		uint8_t m[6];
		char mac[18];

		if (!d.net[i])
			continue;
		virtio_net_mac(d.net[i], m);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b}", "iface_id", virtio_net_dev(d.net[i])->name,
						     "host_dev_name", virtio_net_tap_name(d.net[i]), "guest_mac", mac,
						     "link_up", virtio_net_link_up(d.net[i])));
	}
	return arr;
}

static void api_get_kite_vm(struct api_context *ctx, struct api_response *resp)
{
	struct vm *vm = ctx->vm;
	json_t *devs = json_array();

	api_bus_devices(&vm->pio, devs);
	api_bus_devices(&vm->mmio, devs);
	api_json(resp, 200,
		 json_pack("{s:s, s:i, s:s, s:i, s:I, s:I, s:f, s:s, s:s?, s:s?, s:s?, s:o, s:o}", "name", vm->cfg.name,
			   "pid", (int)getpid(), "state", api_vm_state(vm), "vcpus", (int)vm->ncpus,
			   "memory_mib", (json_int_t)(vm->cfg.mem_size >> 20), "memory_bytes",
			   (json_int_t)vm->cfg.mem_size, "uptime_seconds", api_uptime(vm), "version", KITE_VERSION,
			   "api_socket", ctx->socket_path, "kernel", vm->cfg.kernel, "cmdline", vm->cfg.cmdline,
			   "devices", devs, "network_interfaces", api_nets(vm)));
}

static uint64_t vcpu_exit_count(const struct vcpu *v, unsigned i)
{
	return __atomic_load_n(&v->exits[i], __ATOMIC_RELAXED);
}

static void api_add_device_stat(void *opaque, const char *device, const char *counter, uint64_t value)
{
	json_t *devs = opaque, *d = json_object_get(devs, device);

	if (!d) {
		d = json_object();
		json_object_set_new(devs, device, d);
	}
	json_object_set_new(d, counter, json_integer((json_int_t)value));
}

static json_t *api_bus_stats(struct bus *b)
{
	return json_pack("{s:I, s:I}", "unclaimed_reads", (json_int_t)__atomic_load_n(&b->unclaimed_reads, __ATOMIC_RELAXED),
			 "unclaimed_writes", (json_int_t)__atomic_load_n(&b->unclaimed_writes, __ATOMIC_RELAXED));
}

static void api_get_stats(struct api_context *ctx, struct api_response *resp)
{
	struct vm *vm = ctx->vm;
	json_t *vcpus = json_array(), *totals = json_object(), *devs = json_object();
	uint64_t sum[EXIT_STAT_NR] = { 0 };

	for (unsigned c = 0; c < vm->ncpus; c++) {
		json_t *exits = json_object();
		uint64_t all = 0;

		for (unsigned i = 0; i < EXIT_STAT_NR; i++) {
			uint64_t n = vcpu_exit_count(&vm->vcpus[c], i);

			json_object_set_new(exits, vcpu_exit_stat_names[i], json_integer((json_int_t)n));
			sum[i] += n;
			all += n;
		}
		json_object_set_new(exits, "total", json_integer((json_int_t)all));
		json_array_append_new(vcpus, json_pack("{s:i, s:o}", "vcpu", (int)c, "exits", exits));
	}
	for (unsigned i = 0; i < EXIT_STAT_NR; i++)
		json_object_set_new(totals, vcpu_exit_stat_names[i], json_integer((json_int_t)sum[i]));
	vm_devices_stats(vm, api_add_device_stat, devs);
	api_json(resp, 200,
		 json_pack("{s:s, s:f, s:o, s:o, s:o, s:{s:o, s:o}, s:{s:I, s:I, s:I}}", "name", vm->cfg.name,
			   "uptime_seconds", api_uptime(vm), "vcpus", vcpus, "exits", totals, "devices", devs, "bus",
			   "pio", api_bus_stats(&vm->pio), "mmio", api_bus_stats(&vm->mmio), "api", "requests",
			   (json_int_t)ctx->requests, "errors", (json_int_t)ctx->errors, "connections",
			   (json_int_t)ctx->connections));
}

/* A growing text buffer for the Prometheus exposition. */
struct text {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += n;
			return;
		}
		size_t cap = t->cap * 2 + n + 256;
		char *b = realloc(t->buf, cap);

		if (!b) {
			t->oom = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

struct metrics_dev {
	struct text *t;
	const char *vm;
};

static void metrics_device_stat(void *opaque, const char *device, const char *counter, uint64_t value)
{
	struct metrics_dev *m = opaque;

	text_printf(m->t, "kite_device_counter_total{vm=\"%s\",device=\"%s\",counter=\"%s\"} %" PRIu64 "\n", m->vm,
		    device, counter, value);
}

static void api_get_metrics(struct api_context *ctx, struct api_response *resp)
{
	struct vm *vm = ctx->vm;
	const char *name = vm->cfg.name; /* [A-Za-z0-9._-] only (kite run checks): no escaping needed */
	enum vm_state st = vm_get_state(vm);
	struct text t = { 0 };
	struct metrics_dev md = { &t, name };

	text_printf(&t, "# HELP kite_vcpu_exits_total vCPU exits to kite, by reason.\n"
			"# TYPE kite_vcpu_exits_total counter\n");
	for (unsigned c = 0; c < vm->ncpus; c++)
		for (unsigned i = 0; i < EXIT_STAT_NR; i++)
			text_printf(&t, "kite_vcpu_exits_total{vm=\"%s\",vcpu=\"%u\",reason=\"%s\"} %" PRIu64 "\n", name,
				    c, vcpu_exit_stat_names[i], vcpu_exit_count(&vm->vcpus[c], i));
	text_printf(&t, "# HELP kite_device_counter_total Per-device counters (bytes, requests).\n"
			"# TYPE kite_device_counter_total counter\n");
	vm_devices_stats(vm, metrics_device_stat, &md);
	text_printf(&t, "# HELP kite_vm_state 1 for the VM's current state.\n# TYPE kite_vm_state gauge\n");
	for (enum vm_state s = VM_CREATED; s <= VM_STOPPED; s++)
		text_printf(&t, "kite_vm_state{vm=\"%s\",state=\"%s\"} %d\n", name, vm_state_name(s), s == st);
	text_printf(&t,
		    "# HELP kite_vm_uptime_seconds Time since the vCPUs started.\n# TYPE kite_vm_uptime_seconds gauge\n"
		    "kite_vm_uptime_seconds{vm=\"%s\"} %.3f\n"
		    "# HELP kite_vm_vcpus Number of vCPUs.\n# TYPE kite_vm_vcpus gauge\nkite_vm_vcpus{vm=\"%s\"} %u\n"
		    "# HELP kite_vm_memory_bytes Guest RAM.\n# TYPE kite_vm_memory_bytes gauge\n"
		    "kite_vm_memory_bytes{vm=\"%s\"} %" PRIu64 "\n"
		    "# HELP kite_api_requests_total Requests on the control socket.\n"
		    "# TYPE kite_api_requests_total counter\nkite_api_requests_total{vm=\"%s\"} %" PRIu64 "\n"
		    "# HELP kite_api_errors_total Requests answered with 4xx or 5xx.\n"
		    "# TYPE kite_api_errors_total counter\nkite_api_errors_total{vm=\"%s\"} %" PRIu64 "\n",
		    name, api_uptime(vm), name, vm->ncpus, name, vm->cfg.mem_size, name, ctx->requests, name,
		    ctx->errors);
	if (t.oom) {
		free(t.buf);
		api_fault(resp, 500, "out of memory building the metrics");
		return;
	}
	api_set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf);
}

static void api_snapshot_create(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	const struct api_snapshot *sn = &call->snap;
	struct snapshot_opts o = { .compress = sn->compress, .progress = true, .stop_after = sn->stop };
	int r;

	/* A snapshot pauses and resumes the VM: it would resume it under a migration's stop-and-copy. */
	if (migrate_active(ctx->vm)) {
		api_fault(resp, 409, "a migration is running");
		return;
	}
	if (sn->mem_path[0]) {
		o.state_path = sn->path;
		o.mem_path = sn->mem_path;
	} else {
		o.dir = sn->path;
	}
	r = snapshot_create(ctx->vm, &o);
	if (r) {
		api_fault(resp, r == -EEXIST || r == -EINVAL || r == -ENOTSUP ? 400 : 500, "snapshot failed: %s%s",
			  strerror(-r), r == -ENOTSUP ? " (a device cannot be saved yet; see the VM's log)" : "");
		return;
	}
	api_no_content(resp);
}

static void api_put_migrate(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	int r = migrate_start(ctx->vm, &call->mig);

	if (r == -EBUSY)
		api_fault(resp, 409, "a migration is already running");
	else if (r == -EINVAL)
		api_fault(resp, 409, "cannot migrate a VM in state %s", vm_state_name(vm_get_state(ctx->vm)));
	else if (r)
		api_fault(resp, 500, "cannot start the migration: %s", strerror(-r));
	else
		api_json(resp, 202, json_pack("{s:s, s:s}", "status", "setup", "destination", call->mig.dest));
}

static json_t *api_migrate_rounds(const struct migrate_stats *s)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < s->nhistory; i++) {
		const struct migrate_round *h = &s->history[i];

		json_array_append_new(a, json_pack("{s:i, s:I, s:I, s:I, s:f, s:i}", "round", (int)i + 1, "pages",
						   (json_int_t)h->pages, "bytes", (json_int_t)h->bytes, "dirty_pages",
						   (json_int_t)h->dirty_pages, "ms", h->ns / 1e6, "throttle_pct",
						   (int)h->throttle_pct));
	}
	return a;
}

/* Where the downtime went (docs/migration.md), in ms. */
static json_t *api_migrate_phases(const struct migrate_stats *s)
{
	const struct migrate_phases *p = &s->phases;

	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "pause_ms", p->pause_ns / 1e6, "harvest_ms",
			 p->harvest_ns / 1e6, "last_pages_ms", p->pages_ns / 1e6, "state_save_ms", p->save_ns / 1e6,
			 "state_send_ms", p->state_send_ns / 1e6, "until_ready_ms", p->ready_ns / 1e6,
			 "target_load_ms", p->target_load_ns / 1e6, "go_to_done_ms", p->handover_ns / 1e6,
			 "target_wake_ms", p->target_wake_ns / 1e6);
}

static void api_get_migrate(struct api_context *ctx, struct api_response *resp)
{
	struct migrate_stats *s = malloc(sizeof(*s));

	if (!s || migrate_get_stats(ctx->vm, s)) {
		free(s);
		api_fault(resp, 404, "no migration was started on this VM");
		return;
	}
	api_json(resp, 200,
		 json_pack("{s:s, s:s, s:s?, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:i, s:b, s:b, s:f, s:f, "
			   "s:f, s:f, s:f, s:o, s:o}",
			   "status", migrate_status_name(s->status), "destination", s->dest, "error",
			   s->error[0] ? s->error : NULL, "round", (int)s->round, "memory_bytes", (json_int_t)s->mem_bytes,
			   "bytes", (json_int_t)s->bytes, "pages", (json_int_t)s->pages, "zero_pages",
			   (json_int_t)s->zero_pages, "remaining_pages", (json_int_t)s->remaining_pages,
			   "bandwidth_mibs", s->bandwidth_mibs, "dirty_pages_per_s", s->dirty_pages_per_s,
			   "est_downtime_ms", s->est_downtime_ms, "throttle_pct", (int)s->throttle_pct, "fd_passed",
			   s->fd_passed, "guest_paused", s->guest_paused, "total_ms", s->total_ns / 1e6, "setup_ms",
			   s->setup_ns / 1e6, "downtime_ms", s->downtime_ns / 1e6, "target_downtime_ms",
			   s->target_downtime_ns / 1e6, "downtime_sent_ms", s->sent_ns / 1e6, "downtime_phases",
			   api_migrate_phases(s), "rounds", api_migrate_rounds(s)));
	free(s);
}

static void api_put_migrate_cancel(struct api_context *ctx, struct api_response *resp)
{
	int r = migrate_cancel(ctx->vm);

	if (r == -ENOENT)
		api_fault(resp, 404, "no migration is running");
	else if (r == -EALREADY)
		api_fault(resp, 409, "too late: the target runs the guest");
	else
		api_no_content(resp);
}

/* No VM yet (kite run --api PATH alone): a load makes one; GET / answers; the rest waits for it. */
static void api_execute_no_vm(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	char why[512] = "";
	int r;

	switch (call->op) {
	case API_GET_INFO:
		api_json(resp, 200,
			 json_pack("{s:s, s:s, s:s, s:s}", "id", ctx->id ? ctx->id : "", "state", "Not started",
				   "vmm_version", KITE_VERSION, "app_name", "kite"));
		return;
	case API_GET_KITE_VM: /* kite ls and kite info show a waiting kite as such */
		api_json(resp, 200,
			 json_pack("{s:s, s:i, s:s, s:s, s:s}", "name", ctx->id ? ctx->id : "", "pid", (int)getpid(),
				   "state", "Not started", "version", KITE_VERSION, "api_socket", ctx->socket_path));
		return;
	case API_PUT_SNAPSHOT_LOAD:
		if (!ctx->load) {
			api_fault(resp, 400, "this kite cannot load a snapshot");
			return;
		}
		r = ctx->load(ctx->load_opaque, &call->snap, why, sizeof(why));
		if (r)
			api_fault(resp, r == -ENOMEM || r == -EIO ? 500 : 400, "snapshot load failed: %s",
				  why[0] ? why : strerror(-r));
		else
			api_no_content(resp);
		return;
	default:
		api_fault(resp, 400, "there is no VM yet: load one with PUT /snapshot/load");
		return;
	}
}

void api_execute(struct api_context *ctx, const struct api_call *call, struct api_response *resp)
{
	if (!ctx->vm)
		return api_execute_no_vm(ctx, call, resp);
	switch (call->op) {
	case API_GET_INFO:
		return api_get_info(ctx, resp);
	case API_GET_MACHINE_CONFIG:
		return api_get_machine_config(ctx, resp);
	case API_PATCH_VM:
		return api_patch_vm(ctx, call, resp);
	case API_PUT_ACTIONS:
		return api_put_actions(ctx, call, resp);
	case API_GET_KITE_VM:
		return api_get_kite_vm(ctx, resp);
	case API_PUT_KITE_STOP:
		return api_put_stop(ctx, resp);
	case API_GET_KITE_STATS:
		return api_get_stats(ctx, resp);
	case API_GET_METRICS:
		return api_get_metrics(ctx, resp);
	case API_PUT_SNAPSHOT_CREATE:
		return api_snapshot_create(ctx, call, resp);
	case API_PUT_MIGRATE:
		return api_put_migrate(ctx, call, resp);
	case API_GET_MIGRATE:
		return api_get_migrate(ctx, resp);
	case API_PUT_MIGRATE_CANCEL:
		return api_put_migrate_cancel(ctx, resp);
	case API_PUT_SNAPSHOT_LOAD:
		api_fault(resp, 400, "this kite already runs a VM: load snapshots into a kite started with only --api "
				     "PATH, or use kite restore DIR");
		return;
	case API_GET_CONSOLE:
		if (ctx->vm->cfg.serial.kind != SERIAL_SOCKET) {
			api_fault(resp, 409, "the VM's serial port is not a socket (start it with --serial socket)");
			return;
		}
		api_set_body(resp, 101, NULL, NULL);
		snprintf(resp->extra, sizeof(resp->extra), "Upgrade: kite-console\r\nConnection: Upgrade\r\n");
		resp->upgrade_console = true;
		return;
	}
	api_fault(resp, 500, "unhandled operation");
}
