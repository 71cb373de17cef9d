/*
 * A consumer plugin in C: fetches the full cgroups snapshot once and prints
 * every cgroup. The same source builds and behaves the same on Linux and
 * Windows (no #ifdef): the library picks the transport.
 *
 *   snapshot_consumer RUN_DIR [PREFIX]
 *
 * RUN_DIR and PREFIX as for netipc's cgroups_provider example (the service
 * is PREFIX-snapshot, by default cgroups-snapshot). Exits 0 once the snapshot
 * is printed, 1 with a message on standard error otherwise.
 */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <string.h>

/* How long to wait for the provider to appear, in ms. */
#define PROVIDER_WAIT_MS 10000u

int main(int argc, char **argv) {
    const char *run_dir, *prefix;
    char service[NIPC_CLIENT_SERVICE_MAX + 1];
    nipc_client_config_t config;
    nipc_client_ctx_t client; /* caller-allocated: no handle, no malloc */
    nipc_cgroups_resp_view_t snapshot;
    nipc_error_t err;
    uint32_t i;

    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: snapshot_consumer RUN_DIR [PREFIX]\n");
        return 1;
    }
    run_dir = argv[1];
    prefix = argc > 2 ? argv[2] : "cgroups";
    snprintf(service, sizeof service, "%s-snapshot", prefix);

    /* Zero means the documented default for every field: both transports
     * offered (shared memory preferred), sizes that grow as needed, a 30 s
     * call timeout. Set auth_token to the provider's secret. */
    memset(&config, 0, sizeof config);
    if (nipc_client_init(&client, run_dir, service, &config) != NIPC_OK) {
        fprintf(stderr, "snapshot_consumer: %s\n", nipc_client_last_error(&client));
        return 1;
    }

    /* A plugin's collection loop calls nipc_client_refresh() once per cycle
     * and skips the cycle while nipc_client_ready() is false. At start-up
     * the provider may not run yet: wait for it for a while. */
    err = nipc_client_wait_ready(&client, PROVIDER_WAIT_MS);
    if (err != NIPC_OK) {
        fprintf(stderr,
                "snapshot_consumer: %s (is cgroups_provider running with the same RUN_DIR and "
                "PREFIX?)\n",
                nipc_client_last_error(&client));
        nipc_client_close(&client);
        return 1;
    }

    /* The view borrows the client's buffers: valid until the next call on
     * the client, or its close. */
    err = nipc_client_call_cgroups_snapshot(&client, &snapshot);
    if (err != NIPC_OK) {
        fprintf(stderr, "snapshot_consumer: %s\n", nipc_client_last_error(&client));
        nipc_client_close(&client);
        return 1;
    }
    printf("snapshot of `%s`: generation %llu, systemd_enabled %u, %u cgroups\n", service,
           (unsigned long long)snapshot.generation, snapshot.systemd_enabled,
           snapshot.item_count);
    for (i = 0; i < snapshot.item_count; i++) {
        nipc_cgroups_item_view_t item;
        /* Items are validated as they are read: a malformed one is an
         * error, not a crash. */
        err = nipc_cgroups_resp_item(&snapshot, i, &item);
        if (err != NIPC_OK) {
            fprintf(stderr, "snapshot_consumer: item %u: %s\n", i, nipc_error_str(err));
            nipc_client_close(&client);
            return 1;
        }
        /* Strings are NUL-terminated inside the response. */
        printf("  %08x %-14s %s\n", item.hash, item.name.ptr, item.path.ptr);
    }

    nipc_client_close(&client);
    return 0;
}
