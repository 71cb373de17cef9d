/*
 * matrix_peer.c - the C peer of the interop matrix (docs/interop-matrix.md):
 * a provider and a consumer of the matrix's data set, written with the
 * public C API only (<netipc/netipc_service.h> and libnetipc_c.a). One
 * source for Linux and Windows.
 *
 *     matrix_peer serve RUN_DIR PREFIX PROFILE
 *     matrix_peer check RUN_DIR PREFIX PROFILE
 *
 * PROFILE is baseline, shm-hybrid or shm-alt; both roles support the
 * baseline and PROFILE and prefer PROFILE.
 *
 * serve: starts PREFIX-snapshot (16 cgroups), PREFIX-snapshot-big (5,000),
 * PREFIX-cgroups-lookup and PREFIX-apps-lookup, prints "ready", and serves
 * until standard input reaches end-of-file; then stops the four servers and
 * exits 0 (1 when a server failed to start or to run).
 *
 * check: runs the checks snapshot, snapshot-big, cgroups-lookup,
 * apps-lookup and cache against those services and prints one line each,
 * "ok CHECK PROFILE_USED DETAIL" or "FAIL CHECK REASON"; exits 0 when all
 * five passed, 1 otherwise. Bad arguments exit 2.
 *
 * Built by the interop lane (not the c lane) like every C program of netipc:
 *   gcc -std=c11 -Wall -Wextra -Werror -pedantic -I crates/netipc-c/include
 *       matrix_peer.c libnetipc_c.a -lpthread -ldl -lm -lrt -lutil
 *   x86_64-w64-mingw32-gcc (same flags and sources) -static -lws2_32
 *       -luserenv -lntdll -lbcrypt -ladvapi32 -ldbghelp -lpthread -lkernel32
 */
#define _POSIX_C_SOURCE 200809L

#include <netipc/netipc_service.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The data set                                                              */
/* ------------------------------------------------------------------------ */

#define GENERATION 7u
#define SYSTEMD_ENABLED 1u
#define SNAPSHOT_ITEMS 16u
#define CGROUPS 5000u
#define LOOKUP_KEYS 32768u
#define APPS_PIDS 1000u
#define PATH_PREFIX "/sys/fs/cgroup/netipc-matrix/"

/* Cgroup i's name and path, made once at start-up. */
typedef struct cgroup {
    char name[16];
    char path[64];
    uint32_t name_len;
    uint32_t path_len;
} cgroup_t;

static cgroup_t cgroups[CGROUPS];

static void make_cgroups(void) {
    uint32_t i;
    for (i = 0; i < CGROUPS; i++) {
        cgroup_t *cg = &cgroups[i];
        cg->name_len = (uint32_t)snprintf(cg->name, sizeof cg->name, "cg-%u", (unsigned)i);
        cg->path_len = (uint32_t)snprintf(cg->path, sizeof cg->path, PATH_PREFIX "cg-%u.scope",
                                          (unsigned)i);
    }
}

static uint32_t cgroup_hash(uint32_t i) {
    return (uint32_t)((uint64_t)i * 2654435761u);
}

static uint32_t cgroup_options(uint32_t i) {
    return i % 7u;
}

static uint32_t cgroup_enabled(uint32_t i) {
    return i % 3u != 0 ? 1u : 0u;
}

/* The cgroup whose path is exactly path, or -1. */
static long cgroup_of_path(nipc_str_view_t path) {
    static const char prefix[] = PATH_PREFIX "cg-";
    const size_t skip = sizeof prefix - 1;
    uint32_t i = 0;
    size_t at;
    if (path.len <= skip || memcmp(path.ptr, prefix, skip) != 0) {
        return -1;
    }
    for (at = skip; at < path.len && at < skip + 4 && path.ptr[at] >= '0' && path.ptr[at] <= '9';
         at++) {
        i = i * 10u + (uint32_t)(path.ptr[at] - '0');
    }
    if (at == skip || i >= CGROUPS || cgroups[i].path_len != path.len ||
        memcmp(cgroups[i].path, path.ptr, path.len) != 0) {
        return -1;
    }
    return (long)i;
}

/* ------------------------------------------------------------------------ */
/* serve                                                                     */
/* ------------------------------------------------------------------------ */

/* The item count a snapshot server publishes (its handler's user). */
static uint32_t snapshot_items = SNAPSHOT_ITEMS;
static uint32_t snapshot_big_items = CGROUPS;

static bool handle_snapshot(void *user, const nipc_cgroups_req_t *req,
                            nipc_cgroups_builder_t *b) {
    const uint32_t count = *(const uint32_t *)user;
    uint32_t i;
    (void)req;
    if (nipc_cgroups_builder_set_header(b, SYSTEMD_ENABLED, GENERATION) != NIPC_OK) {
        return false;
    }
    for (i = 0; i < count; i++) {
        const cgroup_t *cg = &cgroups[i];
        if (nipc_cgroups_builder_add(b, cgroup_hash(i), cgroup_options(i), cgroup_enabled(i),
                                     cg->name, cg->name_len, cg->path,
                                     cg->path_len) != NIPC_OK) {
            return false; /* NIPC_ERR_OVERFLOW: the client asks again with more room */
        }
    }
    return true;
}

static bool handle_cgroups_lookup(void *user, const nipc_cgroups_lookup_req_view_t *req,
                                  nipc_cgroups_lookup_builder_t *b) {
    uint32_t k;
    (void)user;
    if (nipc_cgroups_lookup_builder_set_generation(b, GENERATION) != NIPC_OK) {
        return false;
    }
    for (k = 0; k < req->item_count; k++) {
        nipc_str_view_t path;
        nipc_error_t err;
        long found;
        if (nipc_cgroups_lookup_req_path(req, k, &path) != NIPC_OK) {
            return false;
        }
        found = cgroup_of_path(path);
        if (found < 0) {
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, k, NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT, 0, NULL, 0, NULL, 0);
        } else {
            const uint32_t i = (uint32_t)found;
            char value[16];
            nipc_label_t label = {{"index", 5}, {value, 0}};
            label.value.len = (uint32_t)snprintf(value, sizeof value, "%u", (unsigned)i);
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, k, NIPC_CGROUPS_LOOKUP_STATUS_KNOWN, (uint16_t)(i % 3u), cgroups[i].name,
                cgroups[i].name_len, &label, i % 2u == 0 ? 1u : 0u);
        }
        if (err != NIPC_OK) {
            return false;
        }
    }
    return true;
}

static bool handle_apps_lookup(void *user, const nipc_apps_lookup_req_view_t *req,
                               nipc_apps_lookup_builder_t *b) {
    uint32_t k;
    (void)user;
    if (nipc_apps_lookup_builder_set_generation(b, GENERATION) != NIPC_OK) {
        return false;
    }
    for (k = 0; k < req->item_count; k++) {
        uint32_t p;
        nipc_error_t err;
        if (nipc_apps_lookup_req_pid(req, k, &p) != NIPC_OK) {
            return false;
        }
        if (p % 5u == 0) {
            err = nipc_apps_lookup_builder_add_status(b, p, NIPC_APPS_LOOKUP_STATUS_UNKNOWN);
        } else {
            const cgroup_t *cg = &cgroups[p % CGROUPS];
            char comm[16], value[16];
            nipc_apps_lookup_entry_t entry;
            nipc_label_t label = {{"pid", 3}, {value, 0}};
            memset(&entry, 0, sizeof entry);
            entry.status = NIPC_APPS_LOOKUP_STATUS_KNOWN;
            entry.cgroup_status = NIPC_APPS_CGROUP_STATUS_KNOWN;
            entry.orchestrator = (uint16_t)(p % 3u);
            entry.ppid = p / 2u;
            entry.uid = 1000u + p % 3u;
            entry.starttime = (uint64_t)p * 100u;
            entry.comm.ptr = comm;
            entry.comm.len = (uint32_t)snprintf(comm, sizeof comm, "proc-%u", (unsigned)(p % 1000u));
            entry.cgroup_path.ptr = cg->path;
            entry.cgroup_path.len = cg->path_len;
            entry.cgroup_name.ptr = cg->name;
            entry.cgroup_name.len = cg->name_len;
            label.value.len = (uint32_t)snprintf(value, sizeof value, "%u", (unsigned)p);
            err = nipc_apps_lookup_builder_add(b, p, &entry, &label, p % 2u == 0 ? 1u : 0u);
        }
        if (err != NIPC_OK) {
            return false;
        }
    }
    return true;
}

enum { SERVERS = 4 };

typedef struct server {
    const char *suffix;
    nipc_managed_server_t server;
    pthread_t thread;
    nipc_error_t result;
} server_t;

static void *run_server(void *arg) {
    server_t *s = arg;
    s->result = nipc_server_run(&s->server);
    return NULL;
}

static int serve(const char *run_dir, const char *prefix, uint32_t profile) {
    static const char *const suffixes[SERVERS] = {"snapshot", "snapshot-big", "cgroups-lookup",
                                                  "apps-lookup"};
    static server_t servers[SERVERS];
    const nipc_cgroups_service_handler_t snapshot = {handle_snapshot, 0, &snapshot_items};
    const nipc_cgroups_service_handler_t snapshot_big = {handle_snapshot, 0, &snapshot_big_items};
    const nipc_cgroups_lookup_service_handler_t cgroups_lookup = {handle_cgroups_lookup, NULL};
    const nipc_apps_lookup_service_handler_t apps_lookup = {handle_apps_lookup, NULL};
    nipc_server_config_t config;
    int inited = 0, started = 0, status = 0, i;

    memset(&config, 0, sizeof config);
    config.supported_profiles = NIPC_PROFILE_BASELINE | profile;
    config.preferred_profiles = profile;
    for (; inited < SERVERS; inited++) {
        server_t *s = &servers[inited];
        char service[NIPC_CLIENT_SERVICE_MAX + 1];
        nipc_error_t err;
        s->suffix = suffixes[inited];
        snprintf(service, sizeof service, "%s-%s", prefix, s->suffix);
        switch (inited) {
        case 0:
            err = nipc_server_init_typed(&s->server, run_dir, service, &config, 2, &snapshot);
            break;
        case 1:
            err = nipc_server_init_typed(&s->server, run_dir, service, &config, 2, &snapshot_big);
            break;
        case 2:
            err = nipc_server_init_cgroups_lookup(&s->server, run_dir, service, &config, 2,
                                                  &cgroups_lookup);
            break;
        default:
            err = nipc_server_init_apps_lookup(&s->server, run_dir, service, &config, 2,
                                               &apps_lookup);
            break;
        }
        if (err != NIPC_OK) {
            fprintf(stderr, "matrix_peer: serve %s: %s: %s\n", service, nipc_error_str(err),
                    nipc_server_last_error(&s->server));
            status = 1;
            break;
        }
    }
    for (; status == 0 && started < SERVERS; started++) {
        if (pthread_create(&servers[started].thread, NULL, run_server, &servers[started]) != 0) {
            fprintf(stderr, "matrix_peer: serve: cannot start a thread\n");
            status = 1;
        }
    }
    if (status == 0) {
        printf("ready\n");
        fflush(stdout);
        while (getchar() != EOF) {
        }
    }
    for (i = 0; i < inited; i++) {
        nipc_server_stop(&servers[i].server);
    }
    for (i = 0; i < started; i++) {
        pthread_join(servers[i].thread, NULL);
        if (servers[i].result != NIPC_OK) {
            fprintf(stderr, "matrix_peer: serve %s-%s: %s: %s\n", prefix, servers[i].suffix,
                    nipc_error_str(servers[i].result),
                    nipc_server_last_error(&servers[i].server));
            status = 1;
        }
    }
    for (i = 0; i < inited; i++) {
        nipc_server_destroy(&servers[i].server);
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* check                                                                     */
/* ------------------------------------------------------------------------ */

/* One check's outcome: the profile its session negotiated (0: unknown) and,
 * when it failed, why (one line). */
typedef struct outcome {
    uint32_t profile;
    bool failed;
    char reason[512];
} outcome_t;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static bool fail(outcome_t *o, const char *fmt, ...) {
    va_list args;
    char *c;
    if (o->failed) {
        return false; /* keep the first reason */
    }
    o->failed = true;
    va_start(args, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, args);
    va_end(args);
    for (c = o->reason; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r') {
            *c = ' ';
        }
    }
    return false;
}

static bool str_is(nipc_str_view_t v, const char *s, uint32_t len) {
    return v.len == len && (len == 0 || (v.ptr != NULL && memcmp(v.ptr, s, len) == 0));
}

/* At most 64 bytes of a view, for messages. */
static const char *shown(nipc_str_view_t v, char buf[80]) {
    uint32_t len = v.len > 64 ? 64 : v.len;
    if (v.ptr == NULL) {
        return "(null)";
    }
    snprintf(buf, 80, "\"%.*s\"%s", (int)len, v.ptr, v.len > len ? "..." : "");
    return buf;
}

static nipc_client_config_t client_config(uint32_t profile) {
    nipc_client_config_t config;
    memset(&config, 0, sizeof config);
    config.supported_profiles = NIPC_PROFILE_BASELINE | profile;
    config.preferred_profiles = profile;
    return config;
}

/* Connects ctx to PREFIX-SUFFIX (waiting up to the default call timeout). */
static bool connect_client(nipc_client_ctx_t *ctx, const char *run_dir, const char *prefix,
                           const char *suffix, uint32_t profile, outcome_t *o) {
    char service[NIPC_CLIENT_SERVICE_MAX + 1];
    nipc_client_config_t config = client_config(profile);
    nipc_error_t err;
    snprintf(service, sizeof service, "%s-%s", prefix, suffix);
    err = nipc_client_init(ctx, run_dir, service, &config);
    if (err == NIPC_OK) {
        err = nipc_client_wait_ready(ctx, NIPC_CLIENT_CALL_TIMEOUT_DEFAULT_MS);
    }
    if (err != NIPC_OK) {
        return fail(o, "connect %s: %s: %s", service, nipc_error_str(err),
                    nipc_client_last_error(ctx));
    }
    return true;
}

/* The negotiated profile, into o (after the views are checked: asking for
 * the session information ends them). */
static void session_profile(nipc_client_ctx_t *ctx, outcome_t *o) {
    nipc_client_session_info_t info;
    nipc_error_t err = nipc_client_session_info(ctx, &info);
    if (err != NIPC_OK) {
        fail(o, "session info: %s: %s", nipc_error_str(err), nipc_client_last_error(ctx));
        return;
    }
    o->profile = info.profile;
}

static void check_snapshot(const char *run_dir, const char *prefix, uint32_t profile,
                           const char *suffix, uint32_t count, outcome_t *o) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    nipc_error_t err;
    uint32_t i;
    char a[80], b[80];

    if (connect_client(&ctx, run_dir, prefix, suffix, profile, o)) {
        err = nipc_client_call_cgroups_snapshot(&ctx, &view);
        if (err != NIPC_OK) {
            fail(o, "refresh: %s: %s", nipc_error_str(err), nipc_client_last_error(&ctx));
        } else if (view.item_count != count || view.generation != GENERATION ||
                   view.systemd_enabled != SYSTEMD_ENABLED) {
            fail(o, "%u items, generation %llu, systemd_enabled %u; expected %u, %u, %u",
                 (unsigned)view.item_count, (unsigned long long)view.generation,
                 (unsigned)view.systemd_enabled, (unsigned)count, GENERATION, SYSTEMD_ENABLED);
        } else {
            for (i = 0; i < count && !o->failed; i++) {
                const cgroup_t *cg = &cgroups[i];
                nipc_cgroups_item_view_t item;
                err = nipc_cgroups_resp_item(&view, i, &item);
                if (err != NIPC_OK) {
                    fail(o, "item %u: %s", (unsigned)i, nipc_error_str(err));
                } else if (!str_is(item.name, cg->name, cg->name_len) ||
                           !str_is(item.path, cg->path, cg->path_len)) {
                    fail(o, "item %u: name %s path %s; expected cgroup %u", (unsigned)i,
                         shown(item.name, a), shown(item.path, b), (unsigned)i);
                } else if (item.hash != cgroup_hash(i) || item.options != cgroup_options(i) ||
                           item.enabled != cgroup_enabled(i)) {
                    fail(o, "item %u: hash %u options %u enabled %u; expected %u %u %u",
                         (unsigned)i, (unsigned)item.hash, (unsigned)item.options,
                         (unsigned)item.enabled, (unsigned)cgroup_hash(i),
                         (unsigned)cgroup_options(i), (unsigned)cgroup_enabled(i));
                }
            }
        }
        session_profile(&ctx, o);
    }
    nipc_client_close(&ctx);
}

/* Whether label 0 of an item (and only it) is key = <number>. */
static bool one_label(nipc_error_t err, const nipc_label_t *label, const char *key,
                      uint32_t number) {
    char value[16];
    uint32_t len = (uint32_t)snprintf(value, sizeof value, "%u", (unsigned)number);
    return err == NIPC_OK && str_is(label->key, key, (uint32_t)strlen(key)) &&
           str_is(label->value, value, len);
}

static void check_cgroups_lookup(const char *run_dir, const char *prefix, uint32_t profile,
                                 outcome_t *o) {
    enum { MISSING_LEN = 64 };
    nipc_client_ctx_t ctx;
    nipc_cgroups_lookup_resp_view_t view;
    nipc_str_view_t *keys = calloc(LOOKUP_KEYS, sizeof *keys);
    char *missing = calloc(LOOKUP_KEYS / 4u, MISSING_LEN);
    nipc_error_t err;
    uint32_t j;
    char a[80], b[80];

    if (keys == NULL || missing == NULL) {
        fail(o, "out of memory");
        free(keys);
        free(missing);
        return;
    }
    for (j = 0; j < LOOKUP_KEYS; j++) {
        if (j % 4u == 3u) {
            char *path = missing + (size_t)(j / 4u) * MISSING_LEN;
            keys[j].ptr = path;
            keys[j].len = (uint32_t)snprintf(path, MISSING_LEN, PATH_PREFIX "missing-%u",
                                             (unsigned)j);
        } else {
            const cgroup_t *cg = &cgroups[(uint64_t)j * 7919u % CGROUPS];
            keys[j].ptr = cg->path;
            keys[j].len = cg->path_len;
        }
    }
    if (connect_client(&ctx, run_dir, prefix, "cgroups-lookup", profile, o)) {
        err = nipc_client_call_cgroups_lookup(&ctx, keys, LOOKUP_KEYS, &view);
        if (err != NIPC_OK) {
            fail(o, "lookup: %s: %s", nipc_error_str(err), nipc_client_last_error(&ctx));
        } else if (view.item_count != LOOKUP_KEYS || view.generation != GENERATION) {
            fail(o, "%u items, generation %llu; expected %u, %u", (unsigned)view.item_count,
                 (unsigned long long)view.generation, LOOKUP_KEYS, GENERATION);
        }
        for (j = 0; j < LOOKUP_KEYS && !o->failed; j++) {
            nipc_cgroups_lookup_item_view_t item;
            nipc_label_t label;
            err = nipc_cgroups_lookup_resp_item(&view, j, &item);
            if (err != NIPC_OK) {
                fail(o, "key %u: %s", (unsigned)j, nipc_error_str(err));
            } else if (!str_is(item.path, keys[j].ptr, keys[j].len)) {
                fail(o, "key %u: path %s; expected %s", (unsigned)j, shown(item.path, a),
                     shown(keys[j], b));
            } else if (j % 4u == 3u) {
                if (item.status != NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT ||
                    item.name.len != 0 || item.orchestrator != 0 || item.label_count != 0) {
                    fail(o, "key %u (%s): status %u name %s orchestrator %u labels %u; expected "
                         "UNKNOWN_PERMANENT and nothing else", (unsigned)j, shown(keys[j], a),
                         (unsigned)item.status, shown(item.name, b), (unsigned)item.orchestrator,
                         (unsigned)item.label_count);
                }
            } else {
                const uint32_t i = (uint32_t)((uint64_t)j * 7919u % CGROUPS);
                const uint32_t labels = i % 2u == 0 ? 1u : 0u;
                if (item.status != NIPC_CGROUPS_LOOKUP_STATUS_KNOWN ||
                    !str_is(item.name, cgroups[i].name, cgroups[i].name_len) ||
                    item.orchestrator != i % 3u || item.label_count != labels) {
                    fail(o, "key %u (%s): status %u name %s orchestrator %u labels %u; expected "
                         "KNOWN %s %u %u", (unsigned)j, shown(keys[j], a), (unsigned)item.status,
                         shown(item.name, b), (unsigned)item.orchestrator,
                         (unsigned)item.label_count, cgroups[i].name, (unsigned)(i % 3u),
                         (unsigned)labels);
                } else if (labels == 1 &&
                           !one_label(nipc_cgroups_lookup_item_label(&item, 0, &label), &label,
                                      "index", i)) {
                    fail(o, "key %u (%s): label 0 is not index=%u", (unsigned)j,
                         shown(keys[j], a), (unsigned)i);
                }
            }
        }
        session_profile(&ctx, o);
    }
    nipc_client_close(&ctx);
    free(keys);
    free(missing);
}

static void check_apps_lookup(const char *run_dir, const char *prefix, uint32_t profile,
                              outcome_t *o) {
    nipc_client_ctx_t ctx;
    nipc_apps_lookup_resp_view_t view;
    uint32_t pids[APPS_PIDS];
    nipc_error_t err;
    uint32_t j;
    char a[80], b[80], c[80];

    for (j = 0; j < APPS_PIDS; j++) {
        pids[j] = 1u + 3u * j;
    }
    if (connect_client(&ctx, run_dir, prefix, "apps-lookup", profile, o)) {
        err = nipc_client_call_apps_lookup(&ctx, pids, APPS_PIDS, &view);
        if (err != NIPC_OK) {
            fail(o, "lookup: %s: %s", nipc_error_str(err), nipc_client_last_error(&ctx));
        } else if (view.item_count != APPS_PIDS || view.generation != GENERATION) {
            fail(o, "%u items, generation %llu; expected %u, %u", (unsigned)view.item_count,
                 (unsigned long long)view.generation, APPS_PIDS, GENERATION);
        }
        for (j = 0; j < APPS_PIDS && !o->failed; j++) {
            const uint32_t p = pids[j];
            nipc_apps_lookup_item_view_t item;
            nipc_label_t label;
            err = nipc_apps_lookup_resp_item(&view, j, &item);
            if (err != NIPC_OK) {
                fail(o, "pid %u: %s", (unsigned)p, nipc_error_str(err));
            } else if (item.pid != p) {
                fail(o, "item %u: pid %u; expected %u", (unsigned)j, (unsigned)item.pid,
                     (unsigned)p);
            } else if (p % 5u == 0) {
                if (item.status != NIPC_APPS_LOOKUP_STATUS_UNKNOWN || item.ppid != 0 ||
                    item.uid != NIPC_UID_UNSET || item.starttime != 0 ||
                    item.cgroup_status != NIPC_APPS_CGROUP_STATUS_KNOWN ||
                    item.orchestrator != 0 || item.label_count != 0 || item.comm.len != 0 ||
                    item.cgroup_path.len != 0 || item.cgroup_name.len != 0) {
                    fail(o, "pid %u: status %u ppid %u uid %u starttime %llu cgroup status %u "
                         "orchestrator %u labels %u comm %s path %s name %s; expected UNKNOWN "
                         "and nothing else", (unsigned)p, (unsigned)item.status,
                         (unsigned)item.ppid, (unsigned)item.uid,
                         (unsigned long long)item.starttime, (unsigned)item.cgroup_status,
                         (unsigned)item.orchestrator, (unsigned)item.label_count,
                         shown(item.comm, a), shown(item.cgroup_path, b),
                         shown(item.cgroup_name, c));
                }
            } else {
                const cgroup_t *cg = &cgroups[p % CGROUPS];
                const uint32_t labels = p % 2u == 0 ? 1u : 0u;
                char comm[16];
                uint32_t comm_len =
                    (uint32_t)snprintf(comm, sizeof comm, "proc-%u", (unsigned)(p % 1000u));
                if (item.status != NIPC_APPS_LOOKUP_STATUS_KNOWN || item.ppid != p / 2u ||
                    item.uid != 1000u + p % 3u || item.starttime != (uint64_t)p * 100u ||
                    item.cgroup_status != NIPC_APPS_CGROUP_STATUS_KNOWN ||
                    item.orchestrator != p % 3u || item.label_count != labels ||
                    !str_is(item.comm, comm, comm_len) ||
                    !str_is(item.cgroup_path, cg->path, cg->path_len) ||
                    !str_is(item.cgroup_name, cg->name, cg->name_len)) {
                    fail(o, "pid %u: status %u ppid %u uid %u starttime %llu cgroup status %u "
                         "orchestrator %u labels %u comm %s path %s name %s; expected KNOWN %u "
                         "%u %llu KNOWN %u %u %s %s %s", (unsigned)p, (unsigned)item.status,
                         (unsigned)item.ppid, (unsigned)item.uid,
                         (unsigned long long)item.starttime, (unsigned)item.cgroup_status,
                         (unsigned)item.orchestrator, (unsigned)item.label_count,
                         shown(item.comm, a), shown(item.cgroup_path, b),
                         shown(item.cgroup_name, c), (unsigned)(p / 2u),
                         (unsigned)(1000u + p % 3u), (unsigned long long)p * 100u,
                         (unsigned)(p % 3u), (unsigned)labels, comm, cg->path, cg->name);
                } else if (labels == 1 &&
                           !one_label(nipc_apps_lookup_item_label(&item, 0, &label), &label,
                                      "pid", p)) {
                    fail(o, "pid %u: label 0 is not pid=%u", (unsigned)p, (unsigned)p);
                }
            }
        }
        session_profile(&ctx, o);
    }
    nipc_client_close(&ctx);
}

static void check_cache(const char *run_dir, const char *prefix, uint32_t profile,
                        outcome_t *o) {
    char service[NIPC_CLIENT_SERVICE_MAX + 1];
    nipc_client_config_t config = client_config(profile);
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t status;
    nipc_cgroups_cache_read_guard_t guard;
    uint32_t i;

    snprintf(service, sizeof service, "%s-snapshot-big", prefix);
    nipc_cgroups_cache_init(&cache, run_dir, service, &config);
    if (!nipc_cgroups_cache_refresh(&cache)) {
        fail(o, "refresh of %s: %s", service, nipc_cgroups_cache_last_error(&cache));
        nipc_cgroups_cache_close(&cache);
        return;
    }
    if (nipc_cgroups_cache_status(&cache, &status) != NIPC_OK) {
        fail(o, "no cache status");
    } else {
        o->profile = status.transport_profile;
        if (!status.populated || status.item_count != CGROUPS ||
            status.generation != GENERATION || status.systemd_enabled != SYSTEMD_ENABLED) {
            fail(o, "populated %d, %u items, generation %llu, systemd_enabled %u; expected 1, "
                 "%u, %u, %u", (int)status.populated, (unsigned)status.item_count,
                 (unsigned long long)status.generation, (unsigned)status.systemd_enabled,
                 CGROUPS, GENERATION, SYSTEMD_ENABLED);
        }
    }
    if (!nipc_cgroups_cache_read_lock(&cache, &guard)) {
        fail(o, "read lock refused");
    } else {
        if (nipc_cgroups_cache_count(&guard) != CGROUPS) {
            fail(o, "%lu items cached; expected %u", (unsigned long)nipc_cgroups_cache_count(&guard),
                 CGROUPS);
        }
        for (i = 0; i < CGROUPS && !o->failed; i++) {
            const cgroup_t *cg = &cgroups[i];
            const nipc_cgroups_cache_item_view_t *item =
                nipc_cgroups_cache_get(&guard, cgroup_hash(i), cg->name);
            if (item == NULL) {
                fail(o, "%s (hash %u) not found", cg->name, (unsigned)cgroup_hash(i));
            } else if (item->hash != cgroup_hash(i) || item->name_len != cg->name_len ||
                       strcmp(item->name, cg->name) != 0 || item->path_len != cg->path_len ||
                       strcmp(item->path, cg->path) != 0 || item->options != cgroup_options(i) ||
                       item->enabled != cgroup_enabled(i)) {
                fail(o, "%s: hash %u name \"%.64s\" path \"%.64s\" options %u enabled %u; "
                     "expected %u %s %s %u %u", cg->name, (unsigned)item->hash, item->name,
                     item->path, (unsigned)item->options, (unsigned)item->enabled,
                     (unsigned)cgroup_hash(i), cg->name, cg->path, (unsigned)cgroup_options(i),
                     (unsigned)cgroup_enabled(i));
            }
        }
        if (nipc_cgroups_cache_get(&guard, 1, "cg-missing") != NULL) {
            fail(o, "cg-missing (hash 1) found");
        }
        nipc_cgroups_cache_read_unlock(&guard);
    }
    nipc_cgroups_cache_close(&cache);
}

typedef struct profile_name {
    const char *name;
    uint32_t bit;
} profile_name_t;

static const profile_name_t PROFILES[] = {
    {"baseline", NIPC_PROFILE_BASELINE},
    {"shm-hybrid", NIPC_PROFILE_SHM_HYBRID},
    {"shm-alt", NIPC_PROFILE_SHM_ALT},
};

static const char *profile_text(uint32_t bit) {
    size_t i;
    for (i = 0; i < sizeof PROFILES / sizeof PROFILES[0]; i++) {
        if (PROFILES[i].bit == bit) {
            return PROFILES[i].name;
        }
    }
    return "none";
}

/* Prints the check's line; returns whether it passed. */
static bool report(const char *check, uint32_t profile, const outcome_t *o, const char *detail) {
    if (o->failed) {
        printf("FAIL %s %s\n", check, o->reason);
    } else if (o->profile != profile) {
        printf("FAIL %s negotiated %s, expected %s\n", check, profile_text(o->profile),
               profile_text(profile));
    } else {
        printf("ok %s %s %s\n", check, profile_text(o->profile), detail);
    }
    fflush(stdout);
    return !o->failed && o->profile == profile;
}

static int check(const char *run_dir, const char *prefix, uint32_t profile) {
    outcome_t o;
    int failures = 0;

    memset(&o, 0, sizeof o);
    check_snapshot(run_dir, prefix, profile, "snapshot", SNAPSHOT_ITEMS, &o);
    failures += !report("snapshot", profile, &o, "16 items");

    memset(&o, 0, sizeof o);
    check_snapshot(run_dir, prefix, profile, "snapshot-big", CGROUPS, &o);
    failures += !report("snapshot-big", profile, &o, "5000 items");

    memset(&o, 0, sizeof o);
    check_cgroups_lookup(run_dir, prefix, profile, &o);
    failures += !report("cgroups-lookup", profile, &o, "32768 keys");

    memset(&o, 0, sizeof o);
    check_apps_lookup(run_dir, prefix, profile, &o);
    failures += !report("apps-lookup", profile, &o, "1000 pids");

    memset(&o, 0, sizeof o);
    check_cache(run_dir, prefix, profile, &o);
    failures += !report("cache", profile, &o, "5000 items");

    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    uint32_t profile = 0;
    size_t i;

    for (i = 0; argc == 5 && i < sizeof PROFILES / sizeof PROFILES[0]; i++) {
        if (strcmp(argv[4], PROFILES[i].name) == 0) {
            profile = PROFILES[i].bit;
        }
    }
    /* PREFIX-snapshot-big must fit a service name. */
    if (profile == 0 || strlen(argv[3]) + sizeof "-snapshot-big" > NIPC_CLIENT_SERVICE_MAX + 1 ||
        (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "check") != 0)) {
        fprintf(stderr, "usage: matrix_peer serve|check RUN_DIR PREFIX "
                        "baseline|shm-hybrid|shm-alt\n");
        return 2;
    }
    make_cgroups();
    if (strcmp(argv[1], "serve") == 0) {
        return serve(argv[2], argv[3], profile);
    }
    return check(argv[2], argv[3], profile);
}
