/*
 * fixture.h - what the C client tests share: the CHECK macros and the
 * services of the Rust fixture provider (fixture_provider.rs), which the c
 * lane starts before it runs a test. Every test takes the provider's run
 * directory as its only argument.
 *
 * Keep the FX_ values in step with fixture_provider.rs.
 */
#ifndef NETIPC_TEST_FIXTURE_H
#define NETIPC_TEST_FIXTURE_H

#include <netipc/netipc_service.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CGROUPS_SNAPSHOT, 16 items (below), both profiles offered. */
#define FX_SNAPSHOT "fx-snapshot"
/* The same, baseline transport only. */
#define FX_SNAPSHOT_BASELINE "fx-snapshot-baseline"
/* CGROUPS_LOOKUP: "/sys/fs/cgroup/cg-N" for N < FX_KNOWN is KNOWN, name
 * "cg-N", orchestrator DOCKER, one label index=N; paths starting with
 * "/retry/" are UNKNOWN_RETRY_LATER; others UNKNOWN_PERMANENT. */
#define FX_CGROUPS_LOOKUP "fx-cgroups-lookup"
#define FX_CGROUPS_LOOKUP_BASELINE "fx-cgroups-lookup-baseline"
/* APPS_LOOKUP: PID 1..FX_KNOWN is KNOWN: comm "proc-P", ppid P/2, uid
 * 1000 + P%3, starttime 100*P, cgroup KNOWN "/sys/fs/cgroup/cg-(P%16)" named
 * "cg-(P%16)", orchestrator DOCKER, one label pid=P; other PIDs UNKNOWN. */
#define FX_APPS_LOOKUP "fx-apps-lookup"
#define FX_APPS_LOOKUP_BASELINE "fx-apps-lookup-baseline"
/* The snapshot again, for clients with auth token FX_AUTH_TOKEN only. */
#define FX_AUTH "fx-auth"
#define FX_AUTH_TOKEN 0x5eedu
/* The snapshot after FX_SLOW_MS. */
#define FX_SLOW "fx-slow"
#define FX_SLOW_MS 10000u
/* A snapshot provider whose handler always fails. */
#define FX_FAILING "fx-failing"
/* Nobody serves it. */
#define FX_NOBODY "fx-nobody"

/* Snapshot item i (0 <= i < FX_SNAPSHOT_ITEMS): name "cg-i", path
 * "/sys/fs/cgroup/cg-i", hash nipc_netdata_hash(name), options i, enabled
 * i % 2. */
#define FX_SNAPSHOT_ITEMS 16u
#define FX_GENERATION 7u
#define FX_SYSTEMD_ENABLED 1u
#define FX_KNOWN 40000u

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* expr must return the nipc_error_t code. */
#define CHECK_CODE(expr, code)                                                   \
    do {                                                                         \
        nipc_error_t got_ = (expr);                                              \
        if (got_ != (code)) {                                                    \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__,    \
                    __LINE__, #expr, nipc_error_str(got_), nipc_error_str(code)); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

/* Whether str (a view) holds exactly text. */
static inline int fx_str_is(nipc_str_view_t str, const char *text) {
    size_t len = strlen(text);
    return str.ptr != NULL && str.len == len && memcmp(str.ptr, text, len) == 0 &&
           str.ptr[len] == '\0';
}

/* The state of ctx. */
static inline nipc_client_state_t fx_state(const nipc_client_ctx_t *ctx) {
    nipc_client_status_t status;
    if (nipc_client_status(ctx, &status) != NIPC_OK) {
        return (nipc_client_state_t)-1;
    }
    return status.state;
}

/* A client of service with a default config (or with auth_token), waited
 * for until ready. */
static inline void fx_connect(nipc_client_ctx_t *ctx, const char *run_dir, const char *service,
                       uint32_t profiles) {
    nipc_client_config_t config;
    memset(&config, 0, sizeof config);
    config.supported_profiles = profiles;
    CHECK_CODE(nipc_client_init(ctx, run_dir, service, &config), NIPC_OK);
    nipc_error_t err = nipc_client_wait_ready(ctx, 10000);
    if (err != NIPC_OK) {
        fprintf(stderr, "cannot connect to %s in %s: %s: %s\n", service, run_dir,
                nipc_error_str(err), nipc_client_last_error(ctx));
        failures++;
    }
}

/* The run directory: the only argument. */
static inline const char *fx_run_dir(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s RUN_DIR (the c_fixture_provider's)\n", argv[0]);
        exit(2);
    }
    return argv[1];
}

/* The exit status: 0 when every check passed. */
static inline int fx_finish(const char *name) {
    if (failures) {
        fprintf(stderr, "%s: %d failures\n", name, failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif /* NETIPC_TEST_FIXTURE_H */
