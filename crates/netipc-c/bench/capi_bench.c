/*
 * The C side of `cargo xtask bench-c`: times one scenario of the C API
 * against the Rust fixture provider (tests/c/fixture_provider.rs) and
 * prints "SCENARIO NS_PER_OP OPS". rust_bench.rs times the same scenarios
 * through the Rust API; xtask runs both in turn and compares the medians.
 *
 *   capi_bench RUN_DIR SCENARIO MILLIS
 *
 * To add a scenario (for example one of the cache), add a row to
 * `scenarios` below, the same scenario to rust_bench.rs and its name to
 * BENCH_SCENARIOS in xtask/src/bench.rs.
 */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOKUP_KEYS 64

static nipc_str_view_t paths[LOOKUP_KEYS];
static char path_text[LOOKUP_KEYS][32];

/* One operation; adds what it read to *sink; returns 0 on success. */
typedef int (*op_fn)(nipc_client_ctx_t *ctx, uint64_t *sink);

/* A snapshot refresh: the call and every item read. */
static int snapshot(nipc_client_ctx_t *ctx, uint64_t *sink) {
    nipc_cgroups_resp_view_t view;
    uint32_t i;
    if (nipc_client_call_cgroups_snapshot(ctx, &view) != NIPC_OK) {
        return 1;
    }
    for (i = 0; i < view.item_count; i++) {
        nipc_cgroups_item_view_t item;
        if (nipc_cgroups_resp_item(&view, i, &item) != NIPC_OK) {
            return 1;
        }
        *sink += item.hash + item.name.len + item.path.len;
    }
    return 0;
}

/* A lookup of 64 paths: the call and every answer read. */
static int lookup(nipc_client_ctx_t *ctx, uint64_t *sink) {
    nipc_cgroups_lookup_resp_view_t view;
    uint32_t i;
    if (nipc_client_call_cgroups_lookup(ctx, paths, LOOKUP_KEYS, &view) != NIPC_OK) {
        return 1;
    }
    for (i = 0; i < view.item_count; i++) {
        nipc_cgroups_lookup_item_view_t item;
        if (nipc_cgroups_lookup_resp_item(&view, i, &item) != NIPC_OK) {
            return 1;
        }
        *sink += item.status + item.name.len;
    }
    return 0;
}

/* The names of the fixture's snapshot and their hashes. */
static char names[LOOKUP_KEYS][16];
static uint32_t hashes[LOOKUP_KEYS];
#define CACHE_LOOKUPS 16

/* Cache lookups: one read guard, 16 lookups by (hash, name). */
static nipc_cgroups_cache_t cache;

static int cache_lookups(nipc_client_ctx_t *ctx, uint64_t *sink) {
    nipc_cgroups_cache_read_guard_t guard;
    uint32_t i;
    (void)ctx;
    if (!nipc_cgroups_cache_read_lock(&cache, &guard)) {
        return 1;
    }
    for (i = 0; i < CACHE_LOOKUPS; i++) {
        const nipc_cgroups_cache_item_view_t *item =
            nipc_cgroups_cache_get(&guard, hashes[i], names[i]);
        if (item == NULL) {
            nipc_cgroups_cache_read_unlock(&guard);
            return 1;
        }
        *sink += item->path_len;
    }
    nipc_cgroups_cache_read_unlock(&guard);
    return 0;
}

static const struct scenario {
    const char *name;
    const char *service;
    uint32_t profiles;
    op_fn op;
} scenarios[] = {
    {"snapshot-16-socket", "fx-snapshot", NIPC_PROFILE_BASELINE, snapshot},
    {"snapshot-16-shm", "fx-snapshot", 0, snapshot},
    {"lookup-64-socket", "fx-cgroups-lookup", NIPC_PROFILE_BASELINE, lookup},
    {"lookup-64-shm", "fx-cgroups-lookup", 0, lookup},
    {"cache-lookup-16", "fx-snapshot", 0, cache_lookups},
};

static double now_ns(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const struct scenario *s = NULL;
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    uint64_t sink = 0, ops = 0;
    double millis, started, elapsed;
    size_t i;

    if (argc != 4) {
        fprintf(stderr, "usage: capi_bench RUN_DIR SCENARIO MILLIS\n");
        return 2;
    }
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(scenarios[i].name, argv[2]) == 0) {
            s = &scenarios[i];
        }
    }
    if (s == NULL) {
        fprintf(stderr, "capi_bench: unknown scenario %s\n", argv[2]);
        return 2;
    }
    millis = atof(argv[3]);
    for (i = 0; i < LOOKUP_KEYS; i++) {
        int len = snprintf(path_text[i], sizeof path_text[i], "/sys/fs/cgroup/cg-%u", (unsigned)i);
        paths[i].ptr = path_text[i];
        paths[i].len = (uint32_t)len;
        snprintf(names[i], sizeof names[i], "cg-%u", (unsigned)i);
        hashes[i] = nipc_netdata_hash(names[i]);
    }
    memset(&config, 0, sizeof config);
    config.supported_profiles = s->profiles;
    if (nipc_client_init(&ctx, argv[1], s->service, &config) != NIPC_OK ||
        nipc_client_wait_ready(&ctx, 10000) != NIPC_OK) {
        fprintf(stderr, "capi_bench: %s\n", nipc_client_last_error(&ctx));
        nipc_client_close(&ctx);
        return 1;
    }
    if (s->op == cache_lookups) {
        /* the cache holds its own client; the context is not used */
        nipc_cgroups_cache_init(&cache, argv[1], s->service, &config);
        if (nipc_cgroups_cache_wait_ready(&cache, 10000) != NIPC_OK) {
            fprintf(stderr, "capi_bench: %s\n", nipc_cgroups_cache_last_error(&cache));
            nipc_cgroups_cache_close(&cache);
            nipc_client_close(&ctx);
            return 1;
        }
    }
    /* warm up: a tenth of the time */
    started = now_ns();
    while (now_ns() - started < millis * 1e5) {
        if (s->op(&ctx, &sink) != 0) {
            fprintf(stderr, "capi_bench: %s: %s\n", s->name, nipc_client_last_error(&ctx));
            nipc_client_close(&ctx);
            return 1;
        }
    }
    started = now_ns();
    do {
        if (s->op(&ctx, &sink) != 0) {
            fprintf(stderr, "capi_bench: %s: %s\n", s->name, nipc_client_last_error(&ctx));
            nipc_client_close(&ctx);
            return 1;
        }
        ops++;
        elapsed = now_ns() - started;
    } while (elapsed < millis * 1e6);
    nipc_client_close(&ctx);
    nipc_cgroups_cache_close(&cache); /* nothing for a zeroed cache */
    printf("%s %.1f %llu\n", s->name, elapsed / (double)ops, (unsigned long long)ops);
    return sink == 0; /* the reads were not optimised away */
}
