/*
 * The C side of `cargo xtask bench-matrix`: the server and the client of
 * the matrix's scenarios through the C API, speaking the process protocol
 * of `netipc bench-server` / `bench-client` (Rust) and `netipc-go-bench`
 * (Go), so that any client language runs against any server language.
 *
 *   bench_peer server --scenario NAME --run-dir DIR [--service S]
 *   bench_peer client --scenario NAME --run-dir DIR [--service S]
 *                     [--warmup SECONDS] [--duration SECONDS] [--strict] [--json]
 *   bench_peer list
 *
 * The server prints "ready" once it listens. Each line on stdin is
 * answered with one JSON line: "cpu" with the process's CPU time and
 * resident memory, "stats" with the server's counters; "stop" or the end
 * of stdin stops it, after a last JSON line ("event":"stopped"). It runs
 * the C API's managed server with 2 workers (the Rust and Go default on a
 * 2-core machine) and the library's default sizes; an l2-shm-* server
 * offers SHM_HYBRID (preferred) and the baseline transport.
 *
 * The client offers only its scenario's transport (an l2-shm-* client only
 * SHM_HYBRID), waits for the server, calls until a call succeeds (the
 * sizes grow as needed), warms up, then measures, and prints its row
 * (--json: the fields of the Rust client's --json that xtask reads). It
 * checks every answer item for item against the bench data, which the
 * Rust and Go bench servers serve too: --strict is accepted for the
 * protocol's sake and is always on. The client CPU is this process's
 * (clock_gettime(CLOCK_PROCESS_CPUTIME_ID): winpthreads' GetProcessTimes
 * on Windows); the C API does not count allocations (null).
 *
 * The bench data is generated here exactly as crates/netipc-cli/src/bench
 * (snapshot.rs, lookup.rs, client.rs) and go/internal/benchdata do.
 *
 * Same source for gcc (Linux) and mingw-w64 (Windows): no #ifdef.
 */
#define _POSIX_C_SOURCE 200809L
#include <netipc/netipc_service.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */
/* ------------------------------------------------------------------------ */

enum kind { KIND_SNAPSHOT, KIND_LOOKUP, KIND_CACHE };

struct scenario {
    const char *name;
    enum kind kind;
    int shm;      /* 1: shared memory; 0: the baseline transport (or in-process) */
    uint32_t n;   /* snapshot items, lookup keys per call, cache lookups per call */
    const char *summary;
};

/* Items of the snapshot the cache row's cache holds; lookups per call. */
#define CACHE_ITEMS 1000u
#define CACHE_LOOKUPS 1000u

static const struct scenario scenarios[] = {
    {"l2-snapshot-1", KIND_SNAPSHOT, 0, 1,
     "ping-pong: L2 cgroups snapshot refreshes of 1 item (a 4-byte request, a 167-byte "
     "answer), baseline transport"},
    {"l2-shm-snapshot-1", KIND_SNAPSHOT, 1, 1,
     "ping-pong: L2 cgroups snapshot refreshes of 1 item, over shared memory"},
    {"l2-snapshot-16", KIND_SNAPSHOT, 0, 16,
     "L2 cgroups snapshot refreshes of 16 items, every item read, baseline transport"},
    {"l2-shm-snapshot-16", KIND_SNAPSHOT, 1, 16,
     "L2 cgroups snapshot refreshes of 16 items, every item read, over shared memory"},
    {"l2-cgroups-lookup-64", KIND_LOOKUP, 0, 64,
     "L2 cgroups lookups of 64 paths, every item read, baseline transport"},
    {"l2-shm-cgroups-lookup-64", KIND_LOOKUP, 1, 64,
     "L2 cgroups lookups of 64 paths, every item read, over shared memory"},
    {"l3-cache-lookup", KIND_CACHE, 0, CACHE_LOOKUPS,
     "L3 cache lookups by (hash, name), 1000 per call under one read guard, in a cache "
     "filled once from a snapshot server of 1000 items; no I/O"},
};
#define SCENARIO_COUNT (sizeof scenarios / sizeof scenarios[0])

static const struct scenario *find_scenario(const char *name) {
    size_t i;
    for (i = 0; i < SCENARIO_COUNT; i++) {
        if (strcmp(scenarios[i].name, name) == 0) {
            return &scenarios[i];
        }
    }
    return NULL;
}

/* Items of the snapshot a scenario's server answers with. */
static uint32_t snapshot_items(const struct scenario *s) {
    return s->kind == KIND_CACHE ? CACHE_ITEMS : s->n;
}

/* ------------------------------------------------------------------------ */
/* The bench data                                                            */
/* ------------------------------------------------------------------------ */

/* splitmix64: a well-spread value for i. */
static uint64_t mix(uint64_t i) {
    uint64_t z = (i + 1) * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* FNV-1a 32: the bench snapshot's name hash. */
static uint32_t fnv1a(const char *s, size_t len) {
    uint32_t h = 0x811c9dc5u;
    size_t i;
    for (i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x01000193u;
    }
    return h;
}

/* The header values of every bench snapshot. */
#define SNAPSHOT_SYSTEMD_ENABLED 1u
#define SNAPSHOT_GENERATION 7u

/* One cgroup of a bench snapshot: a 20-byte name, an 81-byte path. */
struct cgroup {
    uint32_t hash, options, enabled, name_len, path_len;
    char name[24];
    char path[104];
};

/* The n cgroups of a snapshot scenario (NULL for n 0 or no memory). */
static struct cgroup *snapshot_cgroups(uint32_t n) {
    struct cgroup *list = n ? calloc(n, sizeof *list) : NULL;
    uint32_t i;
    for (i = 0; list != NULL && i < n; i++) {
        struct cgroup *c = &list[i];
        uint64_t a = mix(3 * (uint64_t)i), b = mix(3 * (uint64_t)i + 1), d = mix(3 * (uint64_t)i + 2);
        c->name_len = (uint32_t)snprintf(c->name, sizeof c->name, "docker-%013" PRIx64, a >> 12);
        c->path_len = (uint32_t)snprintf(c->path, sizeof c->path,
                                         "/sys/fs/cgroup/system.slice/docker-%016" PRIx64
                                         "%016" PRIx64 "%08" PRIx64 ".scope",
                                         a, b, d >> 32);
        c->hash = fnv1a(c->name, c->name_len);
        c->options = (i % 3 == 0 ? 1u : 0u) | 0x10u;
        c->enabled = i % 7 != 0 ? 1u : 0u;
    }
    return list;
}

/* One snapshot item folded into the order-dependent checksum of the Rust
 * bench. */
static uint64_t fold_item(uint64_t sum, uint32_t hash, uint32_t options, uint32_t enabled,
                          const char *name, uint32_t name_len, const char *path,
                          uint32_t path_len) {
    uint64_t last_name = name_len ? (uint8_t)name[name_len - 1] : 0;
    uint64_t last_path = path_len ? (uint8_t)path[path_len - 1] : 0;
    uint64_t fields = (uint64_t)hash ^ ((uint64_t)options << 32) ^ ((uint64_t)enabled << 40) ^
                      ((uint64_t)name_len << 44) ^ ((uint64_t)path_len << 52) ^
                      (last_name << 8) ^ (last_path << 16);
    return sum * UINT64_C(0x00000100000001b3) + fields;
}

/* One found cache item folded into the cache row's checksum. */
static uint64_t fold_found(uint64_t sum, uint32_t options, uint32_t enabled, const char *path,
                           uint32_t path_len) {
    uint64_t last = path_len ? (uint8_t)path[path_len - 1] : 0;
    uint64_t fields = (uint64_t)options ^ ((uint64_t)enabled << 32) ^
                      ((uint64_t)path_len << 40) ^ (last << 48);
    return ((sum << 5) | (sum >> 59)) + fields;
}

/* The lookup table: 1024 cgroups with the names and labels of real
 * containers (three in four Docker, the fourth Kubernetes). */
#define LOOKUP_CGROUPS 1024u
#define LOOKUP_GENERATION 11u
#define MAX_LABELS 7u

static const char *const images[8][2] = {
    {"nginx", "docker.io/library/nginx:1.25.3"},
    {"postgres", "docker.io/library/postgres:16.1"},
    {"redis", "docker.io/library/redis:7.2.4"},
    {"api", "registry.example.com/shop/api:2024.11.3"},
    {"worker", "registry.example.com/shop/worker:2024.11.3"},
    {"grafana", "docker.io/grafana/grafana:10.2.3"},
    {"prometheus", "quay.io/prometheus/prometheus:v2.48.1"},
    {"kafka", "docker.io/bitnami/kafka:3.6.1"},
};

struct lookup_cgroup {
    char path[256];
    char name[64];
    char id[65];
    char pod[40];
    char pod_name[32];
    uint32_t path_len, name_len, label_count;
    uint16_t orchestrator;
    nipc_label_t labels[MAX_LABELS];
};

static nipc_str_view_t text(const char *s) {
    nipc_str_view_t v;
    v.ptr = s;
    v.len = (uint32_t)strlen(s);
    return v;
}

static void add_label(struct lookup_cgroup *c, const char *key, const char *value, uint32_t len) {
    nipc_label_t *l = &c->labels[c->label_count++];
    l->key = text(key);
    l->value.ptr = value;
    l->value.len = len;
}

/* Cgroup i of the table. */
static void lookup_cgroup(uint32_t i, struct lookup_cgroup *c) {
    const char *app = images[i % 8][0], *image = images[i % 8][1];
    uint32_t k;
    memset(c, 0, sizeof *c);
    for (k = 0; k < 4; k++) {
        snprintf(c->id + 16 * k, 17, "%016" PRIx64, mix(4 * (uint64_t)i + k));
    }
    if (i % 4 == 3) {
        const char *u = c->id + 32;
        char pod_underscores[40];
        size_t j;
        snprintf(c->pod, sizeof c->pod, "%.8s-%.4s-%.4s-%.4s-%.12s", u, u + 8, u + 12, u + 16,
                 u + 20);
        memcpy(pod_underscores, c->pod, sizeof pod_underscores);
        for (j = 0; pod_underscores[j] != '\0'; j++) {
            if (pod_underscores[j] == '-') {
                pod_underscores[j] = '_';
            }
        }
        snprintf(c->pod_name, sizeof c->pod_name, "%s-%05" PRIx64, app,
                 mix(i) & UINT64_C(0xfffff));
        c->path_len = (uint32_t)snprintf(
            c->path, sizeof c->path,
            "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s"
            ".slice/cri-containerd-%s.scope",
            pod_underscores, c->id);
        c->name_len = (uint32_t)snprintf(c->name, sizeof c->name, "k8s_%s_%s_shop", app,
                                         c->pod_name);
        c->orchestrator = NIPC_ORCHESTRATOR_K8S;
        add_label(c, "container_id", c->id, 12);
        add_label(c, "k8s_namespace", "shop", 4);
        add_label(c, "k8s_pod_name", c->pod_name, (uint32_t)strlen(c->pod_name));
        add_label(c, "k8s_pod_uid", c->pod, (uint32_t)strlen(c->pod));
        add_label(c, "k8s_container_name", app, (uint32_t)strlen(app));
        add_label(c, "k8s_qos_class", "burstable", 9);
        add_label(c, "image", image, (uint32_t)strlen(image));
    } else {
        c->path_len = (uint32_t)snprintf(c->path, sizeof c->path,
                                         "/sys/fs/cgroup/system.slice/docker-%s.scope", c->id);
        c->name_len = (uint32_t)snprintf(c->name, sizeof c->name, "%s-%04u", app, (unsigned)i);
        c->orchestrator = NIPC_ORCHESTRATOR_DOCKER;
        add_label(c, "container_id", c->id, 12);
        add_label(c, "container_name", c->name, c->name_len);
        add_label(c, "image", image, (uint32_t)strlen(image));
    }
}

/* The table, indexed by path (open addressing; the path hashed 8 bytes at a
 * time: a byte-wise FNV-1a is a chain of dependent multiplies that cost the
 * server more than the Rust and Go servers' hash maps do). */
#define INDEX_SLOTS 2048u

struct lookup_table {
    struct lookup_cgroup cgroups[LOOKUP_CGROUPS];
    nipc_str_view_t paths[LOOKUP_CGROUPS];
    uint32_t index[INDEX_SLOTS]; /* cgroup + 1; 0: empty */
};

static uint32_t path_slot(const char *path, uint32_t len) {
    uint64_t h = len, word;
    uint32_t i;
    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&word, path + i, 8);
        h = (h ^ word) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h = (h ^ (uint8_t)path[i]) * UINT64_C(0x100000001b3);
    }
    h ^= h >> 32;
    return (uint32_t)(h % INDEX_SLOTS);
}

static struct lookup_table *new_lookup_table(void) {
    struct lookup_table *t = calloc(1, sizeof *t);
    uint32_t i;
    for (i = 0; t != NULL && i < LOOKUP_CGROUPS; i++) {
        struct lookup_cgroup *c = &t->cgroups[i];
        uint32_t slot;
        lookup_cgroup(i, c);
        t->paths[i].ptr = c->path;
        t->paths[i].len = c->path_len;
        slot = path_slot(c->path, c->path_len);
        while (t->index[slot] != 0) {
            slot = (slot + 1) % INDEX_SLOTS;
        }
        t->index[slot] = i + 1;
    }
    return t;
}

/* The cgroup of path, or NULL. */
static const struct lookup_cgroup *find_path(const struct lookup_table *t, const char *path,
                                             uint32_t len) {
    uint32_t slot = path_slot(path, len);
    while (t->index[slot] != 0) {
        const struct lookup_cgroup *c = &t->cgroups[t->index[slot] - 1];
        if (c->path_len == len && memcmp(c->path, path, len) == 0) {
            return c;
        }
        slot = (slot + 1) % INDEX_SLOTS;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Clocks and process usage                                                  */
/* ------------------------------------------------------------------------ */

static double seconds_of(clockid_t clock) {
    struct timespec t;
    if (clock_gettime(clock, &t) != 0) {
        return -1.0;
    }
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now(void) { return seconds_of(CLOCK_MONOTONIC); }

/* This process's CPU seconds (every thread); negative when unknown. */
static double process_cpu(void) { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }

/* Resident memory from Linux's /proc (0 where there is none). */
static unsigned long long resident_bytes(void) {
    unsigned long long size = 0, pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &pages) != 2) {
        pages = 0;
    }
    fclose(f);
    return pages * 4096ull;
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

struct server_data {
    struct cgroup *cgroups;
    uint32_t count;
    struct lookup_table *table;
};

static bool snapshot_handler(void *user, const nipc_cgroups_req_t *req,
                             nipc_cgroups_builder_t *b) {
    const struct server_data *d = user;
    uint32_t i;
    (void)req;
    if (nipc_cgroups_builder_set_header(b, SNAPSHOT_SYSTEMD_ENABLED, SNAPSHOT_GENERATION) !=
        NIPC_OK) {
        return false;
    }
    for (i = 0; i < d->count; i++) {
        const struct cgroup *c = &d->cgroups[i];
        if (nipc_cgroups_builder_add(b, c->hash, c->options, c->enabled, c->name, c->name_len,
                                     c->path, c->path_len) != NIPC_OK) {
            return true; /* out of room: the server answers LIMIT_EXCEEDED */
        }
    }
    return true;
}

static bool lookup_handler(void *user, const nipc_cgroups_lookup_req_view_t *req,
                           nipc_cgroups_lookup_builder_t *b) {
    const struct server_data *d = user;
    uint32_t i;
    if (nipc_cgroups_lookup_builder_set_generation(b, LOOKUP_GENERATION) != NIPC_OK) {
        return false;
    }
    for (i = 0; i < req->item_count; i++) {
        nipc_str_view_t path;
        const struct lookup_cgroup *c;
        nipc_error_t err;
        if (nipc_cgroups_lookup_req_path(req, i, &path) != NIPC_OK) {
            return false;
        }
        c = find_path(d->table, path.ptr, path.len);
        if (c != NULL) {
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, i, NIPC_CGROUPS_LOOKUP_STATUS_KNOWN, c->orchestrator, c->name,
                c->name_len, c->labels, c->label_count);
        } else {
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, i, NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_RETRY_LATER, 0, NULL, 0, NULL, 0);
        }
        if (err != NIPC_OK) {
            return false;
        }
    }
    return true;
}

static nipc_managed_server_t server;
static double started;

static void *serve(void *arg) {
    nipc_error_t *result = arg;
    *result = nipc_server_run(&server);
    return NULL;
}

/* The JSON line answering "cpu" (and the last one, "stopped"): the fields
 * of the Rust bench-server's line. */
static void cpu_line(const char *event) {
    double cpu = process_cpu(), wall = now() - started;
    unsigned long long rss = resident_bytes();
    double cpu_after = process_cpu(), wall_after = now() - started;
    char rss_text[32];
    if (rss > 0) {
        snprintf(rss_text, sizeof rss_text, "%llu", rss);
    } else {
        strcpy(rss_text, "null");
    }
    if (cpu < 0 || cpu_after < 0) {
        printf("{\"event\":\"%s\",\"cpu_seconds\":null,\"wall_seconds\":%.6f,\"rss_bytes\":%s,"
               "\"cpu_seconds_after_rss\":null,\"wall_seconds_after_rss\":%.6f}\n",
               event, wall, rss_text, wall_after);
    } else {
        printf("{\"event\":\"%s\",\"cpu_seconds\":%.6f,\"wall_seconds\":%.6f,\"rss_bytes\":%s,"
               "\"cpu_seconds_after_rss\":%.6f,\"wall_seconds_after_rss\":%.6f}\n",
               event, cpu, wall, rss_text, cpu_after, wall_after);
    }
    fflush(stdout);
}

static void stats_line(void) {
    nipc_server_stats_t s;
    if (nipc_server_stats(&server, &s) != NIPC_OK) {
        printf("{\"event\":\"stats\",\"error\":\"no statistics\"}\n");
    } else {
        printf("{\"event\":\"stats\",\"sessions\":%llu,\"peak_sessions\":%llu,"
               "\"sessions_opened\":%llu,\"requests\":%llu,\"failed_requests\":%llu,"
               "\"handler_errors\":%llu,\"protocol_errors\":%llu,\"bytes_received\":%llu,"
               "\"bytes_sent\":%llu}\n",
               (unsigned long long)s.sessions, (unsigned long long)s.peak_sessions,
               (unsigned long long)s.sessions_opened, (unsigned long long)s.requests,
               (unsigned long long)s.failed_requests, (unsigned long long)s.handler_errors,
               (unsigned long long)s.protocol_errors, (unsigned long long)s.bytes_received,
               (unsigned long long)s.bytes_sent);
    }
    fflush(stdout);
}

static int run_server(const struct scenario *sc, const char *run_dir, const char *service) {
    nipc_server_config_t config;
    struct server_data data;
    nipc_error_t err, ran = NIPC_OK;
    pthread_t thread;
    char line[256];

    memset(&config, 0, sizeof config);
    memset(&data, 0, sizeof data);
    config.supported_profiles = NIPC_PROFILE_BASELINE;
    if (sc->shm) {
        config.supported_profiles |= NIPC_PROFILE_SHM_HYBRID;
        config.preferred_profiles = NIPC_PROFILE_SHM_HYBRID;
    }
    if (sc->kind == KIND_LOOKUP) {
        nipc_cgroups_lookup_service_handler_t handler;
        data.table = new_lookup_table();
        handler.handle = lookup_handler;
        handler.user = &data;
        err = data.table == NULL ? NIPC_ERR_INTERNAL
                                 : nipc_server_init_cgroups_lookup(&server, run_dir, service,
                                                                   &config, 2, &handler);
    } else {
        nipc_cgroups_service_handler_t handler;
        data.count = snapshot_items(sc);
        data.cgroups = snapshot_cgroups(data.count);
        handler.handle = snapshot_handler;
        handler.snapshot_max_items = data.count; /* the reservation is exact */
        handler.user = &data;
        err = data.count > 0 && data.cgroups == NULL
                  ? NIPC_ERR_INTERNAL
                  : nipc_server_init_typed(&server, run_dir, service, &config, 2, &handler);
    }
    if (err != NIPC_OK) {
        fprintf(stderr,
                "bench_peer server: cannot listen as service \"%s\" in %s for scenario %s: "
                "%s: %s\n",
                service, run_dir, sc->name, nipc_error_str(err), nipc_server_last_error(&server));
        return 1;
    }
    if (pthread_create(&thread, NULL, serve, &ran) != 0) {
        fprintf(stderr, "bench_peer server: cannot start the serving thread\n");
        nipc_server_destroy(&server);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *end = line + strlen(line);
        while (end > line && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) {
            *--end = '\0';
        }
        if (strcmp(line, "cpu") == 0) {
            cpu_line("cpu");
        } else if (strcmp(line, "stats") == 0) {
            stats_line();
        } else if (strcmp(line, "stop") == 0) {
            break;
        } else if (line[0] != '\0') {
            fprintf(stderr, "bench_peer server: unknown control line \"%s\" (use cpu, stats or stop)\n",
                    line);
        }
    }
    nipc_server_stop(&server);
    pthread_join(thread, NULL);
    nipc_server_destroy(&server);
    free(data.cgroups);
    free(data.table);
    cpu_line("stopped");
    if (ran != NIPC_OK) {
        fprintf(stderr, "bench_peer server: run failed: %s\n", nipc_error_str(ran));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */
/* ------------------------------------------------------------------------ */

struct client {
    const struct scenario *sc;
    nipc_client_ctx_t ctx;
    nipc_cgroups_cache_t cache;
    int has_ctx, has_cache;
    /* snapshot: the expected checksum; cache: the keys and their checksum */
    uint64_t expected_sum;
    struct cgroup *list;
    uint32_t *order; /* cache: indexes into list, CACHE_LOOKUPS of them */
    struct lookup_table *table;
    char error[512];
};

/* One call (id: the logical call's number): 0 with the items answered in
 * *items; -1 when the call failed (a retry may help) or -2 when its answer
 * is wrong, with c->error set. */
static int call_snapshot(struct client *c, uint32_t *items) {
    nipc_cgroups_resp_view_t view;
    uint64_t sum = 0;
    uint32_t i;
    nipc_error_t err = nipc_client_call_cgroups_snapshot(&c->ctx, &view);
    if (err != NIPC_OK) {
        snprintf(c->error, sizeof c->error, "%s: %s", nipc_error_str(err),
                 nipc_client_last_error(&c->ctx));
        return -1;
    }
    if (view.item_count != c->sc->n) {
        snprintf(c->error, sizeof c->error,
                 "a snapshot of %u items, expected %u: is the server serving this scenario?",
                 (unsigned)view.item_count, (unsigned)c->sc->n);
        return -2;
    }
    for (i = 0; i < view.item_count; i++) {
        nipc_cgroups_item_view_t item;
        err = nipc_cgroups_resp_item(&view, i, &item);
        if (err != NIPC_OK) {
            snprintf(c->error, sizeof c->error, "snapshot item %u is malformed: %s", (unsigned)i,
                     nipc_error_str(err));
            return -2;
        }
        sum = fold_item(sum, item.hash, item.options, item.enabled, item.name.ptr, item.name.len,
                        item.path.ptr, item.path.len);
    }
    if (sum != c->expected_sum || view.systemd_enabled != SNAPSHOT_SYSTEMD_ENABLED ||
        view.generation != SNAPSHOT_GENERATION) {
        snprintf(c->error, sizeof c->error, "a snapshot with other items than the bench server's");
        return -2;
    }
    *items = view.item_count;
    return 0;
}

static int same(nipc_str_view_t a, const char *b, uint32_t len) {
    return a.len == len && memcmp(a.ptr, b, len) == 0;
}

static int call_lookup(struct client *c, uint64_t id, uint32_t *items) {
    uint32_t keys = c->sc->n, windows = LOOKUP_CGROUPS / keys;
    uint32_t start = (uint32_t)(id % windows) * keys, i, k;
    nipc_cgroups_lookup_resp_view_t view;
    nipc_error_t err =
        nipc_client_call_cgroups_lookup(&c->ctx, &c->table->paths[start], keys, &view);
    if (err != NIPC_OK) {
        snprintf(c->error, sizeof c->error, "%s: %s", nipc_error_str(err),
                 nipc_client_last_error(&c->ctx));
        return -1;
    }
    if (view.item_count != keys || view.generation != LOOKUP_GENERATION) {
        snprintf(c->error, sizeof c->error,
                 "a lookup answer of %u items of generation %" PRIu64 " for %u keys, expected "
                 "generation %u: is the server serving this scenario?",
                 (unsigned)view.item_count, view.generation, (unsigned)keys, LOOKUP_GENERATION);
        return -2;
    }
    for (i = 0; i < keys; i++) {
        const struct lookup_cgroup *g = &c->table->cgroups[start + i];
        nipc_cgroups_lookup_item_view_t item;
        err = nipc_cgroups_lookup_resp_item(&view, i, &item);
        if (err != NIPC_OK || !same(item.path, g->path, g->path_len) ||
            item.status != NIPC_CGROUPS_LOOKUP_STATUS_KNOWN || !same(item.name, g->name, g->name_len) ||
            item.orchestrator != g->orchestrator || item.label_count != g->label_count) {
            snprintf(c->error, sizeof c->error,
                     "a cgroups-lookup answer for %s other than the bench server's (status %u, "
                     "name \"%.*s\")",
                     g->path, (unsigned)item.status, (int)item.name.len,
                     item.name.ptr ? item.name.ptr : "");
            return -2;
        }
        for (k = 0; k < g->label_count; k++) {
            nipc_label_t l;
            if (nipc_cgroups_lookup_item_label(&item, k, &l) != NIPC_OK ||
                !same(l.key, g->labels[k].key.ptr, g->labels[k].key.len) ||
                !same(l.value, g->labels[k].value.ptr, g->labels[k].value.len)) {
                snprintf(c->error, sizeof c->error,
                         "label %u of the cgroups-lookup answer for %s is not the bench server's",
                         (unsigned)k, g->path);
                return -2;
            }
        }
    }
    *items = keys;
    return 0;
}

static int call_cache(struct client *c, uint32_t *items) {
    nipc_cgroups_cache_read_guard_t guard;
    uint64_t sum = 0;
    uint32_t j;
    if (!nipc_cgroups_cache_read_lock(&c->cache, &guard)) {
        snprintf(c->error, sizeof c->error, "the cache cannot be read");
        return -2;
    }
    for (j = 0; j < CACHE_LOOKUPS; j++) {
        const struct cgroup *key = &c->list[c->order[j]];
        const nipc_cgroups_cache_item_view_t *item =
            nipc_cgroups_cache_get(&guard, key->hash, key->name);
        if (item == NULL) {
            nipc_cgroups_cache_read_unlock(&guard);
            snprintf(c->error, sizeof c->error, "no item (0x%x, \"%s\") in the cache",
                     (unsigned)key->hash, key->name);
            return -2;
        }
        sum = fold_found(sum, item->options, item->enabled, item->path, item->path_len);
    }
    nipc_cgroups_cache_read_unlock(&guard);
    if (sum != c->expected_sum) {
        snprintf(c->error, sizeof c->error,
                 "the lookups found other items than the ones looked up");
        return -2;
    }
    *items = CACHE_LOOKUPS;
    return 0;
}

static int call(struct client *c, uint64_t id, uint32_t *items) {
    switch (c->sc->kind) {
    case KIND_SNAPSHOT:
        return call_snapshot(c, items);
    case KIND_LOOKUP:
        return call_lookup(c, id, items);
    default:
        return call_cache(c, items);
    }
}

static uint32_t gcd(uint32_t a, uint32_t b) {
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Prepares the client of sc: connects (waiting up to 10 s for the server)
 * and builds what its checks need. 0 or -1 with c->error set. */
static int open_client(struct client *c, const char *run_dir, const char *service) {
    nipc_client_config_t config;
    nipc_error_t err;
    memset(&config, 0, sizeof config);
    config.supported_profiles = c->sc->shm ? NIPC_PROFILE_SHM_HYBRID : NIPC_PROFILE_BASELINE;
    config.preferred_profiles = config.supported_profiles;
    config.call_timeout_ms = 10000;
    if (c->sc->kind == KIND_CACHE) {
        uint32_t stride = 617, j;
        nipc_cgroups_cache_status_t status;
        c->list = snapshot_cgroups(CACHE_ITEMS);
        c->order = calloc(CACHE_LOOKUPS, sizeof *c->order);
        if (c->list == NULL || c->order == NULL) {
            snprintf(c->error, sizeof c->error, "out of memory");
            return -1;
        }
        while (gcd(stride, CACHE_ITEMS) != 1) {
            stride++;
        }
        /* A scattered order: the stride is coprime to the item count, so
         * every item is looked up once per CACHE_ITEMS lookups. */
        for (j = 0; j < CACHE_LOOKUPS; j++) {
            const struct cgroup *g;
            c->order[j] = (j * stride) % CACHE_ITEMS;
            g = &c->list[c->order[j]];
            c->expected_sum = fold_found(c->expected_sum, g->options, g->enabled, g->path,
                                         g->path_len);
        }
        nipc_cgroups_cache_init(&c->cache, run_dir, service, &config);
        c->has_cache = 1;
        err = nipc_cgroups_cache_wait_ready(&c->cache, 10000);
        if (err != NIPC_OK) {
            snprintf(c->error, sizeof c->error, "the cache was not filled: %s: %s",
                     nipc_error_str(err), nipc_cgroups_cache_last_error(&c->cache));
            return -1;
        }
        if (nipc_cgroups_cache_status(&c->cache, &status) != NIPC_OK ||
            status.item_count != CACHE_ITEMS) {
            snprintf(c->error, sizeof c->error,
                     "the cache holds a snapshot of %u items, expected %u: is the server "
                     "serving this scenario?",
                     (unsigned)status.item_count, CACHE_ITEMS);
            return -1;
        }
        return 0;
    }
    if (c->sc->kind == KIND_LOOKUP) {
        c->table = new_lookup_table();
        if (c->table == NULL) {
            snprintf(c->error, sizeof c->error, "out of memory");
            return -1;
        }
    } else {
        struct cgroup *list = snapshot_cgroups(c->sc->n);
        uint32_t i;
        for (i = 0; list != NULL && i < c->sc->n; i++) {
            c->expected_sum = fold_item(c->expected_sum, list[i].hash, list[i].options,
                                        list[i].enabled, list[i].name, list[i].name_len,
                                        list[i].path, list[i].path_len);
        }
        free(list);
    }
    nipc_client_init(&c->ctx, run_dir, service, &config);
    c->has_ctx = 1;
    err = nipc_client_wait_ready(&c->ctx, 10000);
    if (err != NIPC_OK) {
        snprintf(c->error, sizeof c->error, "cannot connect to service \"%s\" in %s: %s: %s",
                 service, run_dir, nipc_error_str(err), nipc_client_last_error(&c->ctx));
        return -1;
    }
    return 0;
}

static void close_client(struct client *c) {
    if (c->has_ctx) {
        nipc_client_close(&c->ctx);
    }
    if (c->has_cache) {
        nipc_cgroups_cache_close(&c->cache);
    }
    free(c->list);
    free(c->order);
    free(c->table);
}

/* How a phase went; the pacing counts are those of a phase at a rate. */
struct phase {
    uint64_t calls, items;
    double wall;
    /* Calls already due when the client was free to send them, calls it
     * waited for (of which it slept for `sleeps`), and the process CPU
     * seconds spent waiting. */
    uint64_t behind, waits, sleeps;
    double pacing_cpu;
};

/* How long before a due time a waiting client stops sleeping and spins,
 * as the Rust client does. */
#define PACING_SPIN 10e-6

/* Returns at `due` (now() seconds; at once if it has passed): sleeps until
 * PACING_SPIN before it, then spins. Counts the wait in ph. */
static void wait_until(double due, struct phase *ph) {
    double left = due - now(), cpu_before;
    if (left <= 0) {
        ph->behind++;
        return;
    }
    cpu_before = process_cpu();
    ph->waits++;
    if (left > PACING_SPIN) {
        double sleep = left - PACING_SPIN;
        struct timespec ts;
        ts.tv_sec = (time_t)sleep;
        ts.tv_nsec = (long)((sleep - (double)ts.tv_sec) * 1e9);
        ph->sleeps++;
        nanosleep(&ts, NULL);
    }
    while (now() < due) {
        /* spin */
    }
    if (cpu_before >= 0) {
        double cpu_after = process_cpu();
        ph->pacing_cpu += cpu_after > cpu_before ? cpu_after - cpu_before : 0;
    }
}

/* Calls one after the other for `seconds`; at `rate` calls per second
 * (when above 0) call k is due k / rate seconds after the start and only
 * the calls due within `seconds` are made (the first one always), each at
 * its due time or at once when it is late. 0, or -1 with c->error set. */
static int run_phase(struct client *c, double seconds, double rate, uint64_t *id,
                     struct phase *ph) {
    double start = now(), t = start;
    memset(ph, 0, sizeof *ph);
    for (;;) {
        uint32_t items = 0;
        if (rate > 0 && ph->calls > 0) {
            double due = start + (double)ph->calls / rate;
            if (due - start >= seconds || t - start >= seconds) {
                break;
            }
            wait_until(due, ph);
        }
        if (call(c, *id, &items) != 0) {
            return -1;
        }
        ++*id;
        ph->calls++;
        ph->items += items;
        t = now();
        if (rate <= 0 && t - start >= seconds) {
            break;
        }
    }
    ph->wall = t - start;
    return 0;
}

/* Reads a number of seconds (> 0, or >= 0 when zero_ok). */
static int parse_seconds(const char *s, int zero_ok, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || v < 0 || v > 86400 || (v == 0 && !zero_ok)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int run_client(const struct scenario *sc, const char *run_dir, const char *service,
                      double warmup, double duration, double rate, int json) {
    static struct client c; /* the context is large: not on the stack */
    struct phase warm, ph;
    uint64_t id = 1;
    double cpu_before, cpu_after, cores = 0;
    int attempt, rc = -1;

    memset(&c, 0, sizeof c);
    c.sc = sc;
    if (open_client(&c, run_dir, service) != 0) {
        fprintf(stderr, "bench_peer client: error: %s\n", c.error);
        close_client(&c);
        return 1;
    }
    /* Prime: call 0 until it succeeds (connecting and growing the sizes). */
    for (attempt = 0; attempt < 8; attempt++) {
        uint32_t items;
        rc = call(&c, 0, &items);
        if (rc != -1) {
            break;
        }
        if (c.has_ctx) {
            nipc_client_refresh(&c.ctx); /* reconnects a broken session */
        }
    }
    if (rc != 0) {
        fprintf(stderr, "bench_peer client: error: the first calls failed; the last one: %s\n",
                c.error);
        close_client(&c);
        return 1;
    }
    if (sc->shm) {
        nipc_client_session_info_t info;
        if (nipc_client_session_info(&c.ctx, &info) != NIPC_OK || !info.shared_memory) {
            fprintf(stderr, "bench_peer client: error: scenario %s has no shared-memory session\n",
                    sc->name);
            close_client(&c);
            return 1;
        }
    }
    if (warmup > 0 && run_phase(&c, warmup, rate, &id, &warm) != 0) {
        fprintf(stderr, "bench_peer client: error: call %" PRIu64 ": %s\n", id, c.error);
        close_client(&c);
        return 1;
    }
    cpu_before = process_cpu();
    if (run_phase(&c, duration, rate, &id, &ph) != 0) {
        fprintf(stderr, "bench_peer client: error: call %" PRIu64 ": %s\n", id, c.error);
        close_client(&c);
        return 1;
    }
    cpu_after = process_cpu();
    close_client(&c);
    if (cpu_before >= 0 && cpu_after >= 0 && ph.wall > 0) {
        cores = (cpu_after - cpu_before) / ph.wall;
    }
    if (json) {
        char paced[512] = "null";
        if (rate > 0) {
            snprintf(paced, sizeof paced,
                     "{\"target_calls_per_second\":%.0f,\"client_cpu_us_per_call\":%.3f,"
                     "\"pacing_cpu_us_per_call\":%.3f,\"server_cpu_us_per_call\":null,"
                     "\"behind_calls\":%" PRIu64 ",\"waited_calls\":%" PRIu64
                     ",\"slept_calls\":%" PRIu64 "}",
                     rate, cores * ph.wall * 1e6 / (double)ph.calls,
                     ph.pacing_cpu * 1e6 / (double)ph.calls, ph.behind, ph.waits, ph.sleeps);
        }
        printf("{\"tool\":\"netipc-c bench_peer\",\"settings\":{\"warmup_seconds\":%g,"
               "\"duration_seconds\":%g,\"validation\":\"item for item against netipc's bench "
               "data\"},\"rows\":[{\"scenario\":\"%s\",\"summary\":\"%s\",\"round_trips\":%" PRIu64
               ",\"items\":%" PRIu64 ",\"wall_seconds\":%.6f,\"round_trips_per_second\":%.1f,"
               "\"items_per_second\":%.1f,\"cpu_cores\":{\"client\":%.4f,\"server\":null},"
               "\"client_allocations\":null,\"rate\":%s}]}\n",
               warmup, duration, sc->name, sc->summary, ph.calls, ph.items, ph.wall,
               (double)ph.calls / ph.wall, (double)ph.items / ph.wall, cores, paced);
    } else {
        printf("| scenario | round trips/s | items/s | client CPU |\n|---|--:|--:|--:|\n"
               "| %s | %.0f | %.0f | %.2f |\n",
               sc->name, (double)ph.calls / ph.wall, (double)ph.items / ph.wall, cores);
    }
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

static const char usage[] =
    "bench_peer: the C side of cargo xtask bench-matrix.\n\n"
    "Usage:\n"
    "  bench_peer server --scenario NAME --run-dir DIR [--service S]\n"
    "  bench_peer client --scenario NAME --run-dir DIR [--service S]\n"
    "                    [--warmup SECONDS] [--duration SECONDS] [--rate N] [--strict]\n"
    "                    [--json]\n"
    "  bench_peer list\n\n"
    "The roles speak the process protocol of \"netipc bench-server\" and\n"
    "\"netipc bench-client\": the server prints \"ready\", answers \"cpu\" and\n"
    "\"stats\" lines on stdin and stops on \"stop\" or the end of stdin; the\n"
    "client measures (default: 1 s warm-up, 5 s measured) and prints its row;\n"
    "with --rate it paces its calls at N per second (call k due k/N s after\n"
    "the start, a late call made at once; it sleeps until 10 us before a due\n"
    "time, then spins) and reports its pacing's CPU.\n"
    "The client always checks answers item for item against the bench data.\n";

int main(int argc, char **argv) {
    const char *scenario = NULL, *run_dir = NULL, *service = "netipc-bench";
    double warmup = -1, duration = 5, rate = 0;
    int json = 0, i, server_role;
    const struct scenario *sc;

    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        size_t k;
        for (k = 0; k < SCENARIO_COUNT; k++) {
            printf("%-26s %s\n", scenarios[k].name, scenarios[k].summary);
        }
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
        fputs(usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    server_role = strcmp(argv[1], "server") == 0;
    for (i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--json") == 0 || strcmp(arg, "--strict") == 0) {
            json |= strcmp(arg, "--json") == 0;
            continue;
        }
        if (value == NULL) {
            fprintf(stderr, "bench_peer: %s needs a value (or is unknown)\n\n%s", arg, usage);
            return 2;
        }
        if (strcmp(arg, "--scenario") == 0) {
            scenario = value;
        } else if (strcmp(arg, "--run-dir") == 0) {
            run_dir = value;
        } else if (strcmp(arg, "--service") == 0) {
            service = value;
        } else if (!server_role && strcmp(arg, "--warmup") == 0) {
            if (parse_seconds(value, 1, &warmup) != 0) {
                fprintf(stderr, "bench_peer: --warmup %s is not a number of seconds\n", value);
                return 2;
            }
        } else if (!server_role && strcmp(arg, "--duration") == 0) {
            if (parse_seconds(value, 0, &duration) != 0) {
                fprintf(stderr, "bench_peer: --duration %s is not a number of seconds above 0\n",
                        value);
                return 2;
            }
        } else if (!server_role && strcmp(arg, "--rate") == 0) {
            char *end;
            rate = strtod(value, &end);
            if (end == value || *end != '\0' || !(rate >= 1 && rate <= 1e7)) {
                fprintf(stderr,
                        "bench_peer: --rate %s is not a rate in calls per second from 1 to "
                        "10000000\n",
                        value);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_peer: unknown option %s\n\n%s", arg, usage);
            return 2;
        }
        i++;
    }
    if (scenario == NULL || run_dir == NULL) {
        fprintf(stderr, "bench_peer: --scenario and --run-dir are required\n\n%s", usage);
        return 2;
    }
    sc = find_scenario(scenario);
    if (sc == NULL) {
        fprintf(stderr, "bench_peer: unknown scenario \"%s\" (see \"bench_peer list\")\n",
                scenario);
        return 2;
    }
    started = now();
    if (server_role) {
        return run_server(sc, run_dir, service);
    }
    if (warmup < 0) {
        warmup = duration / 5 < 1 ? duration / 5 : 1;
    }
    return run_client(sc, run_dir, service, warmup, duration, rate, json);
}
