/*
 * A consumer plugin in C: asks cgroups-lookup for the names of a few cgroup
 * paths and prints each answer. The same source builds and behaves the same
 * on Linux and Windows (no #ifdef).
 *
 *   lookup_consumer RUN_DIR [PREFIX] [PATH...]
 *
 * RUN_DIR and PREFIX as for netipc's cgroups_provider example (the service
 * is PREFIX-lookup, by default cgroups-lookup). Without paths it asks for two
 * that the example provider knows and one that it does not. Exits 0 once
 * every path has an answer (an "unknown" answer is an answer), 1 with a
 * message on standard error otherwise.
 */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <string.h>

#define PROVIDER_WAIT_MS 10000u
#define MAX_PATHS 64

static const char *const default_paths[] = {
    "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
    "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
    "/sys/fs/cgroup/system.slice/not-a-container.scope",
};

static const char *status_name(uint16_t status) {
    switch (status) {
    case NIPC_CGROUPS_LOOKUP_STATUS_KNOWN: return "KNOWN";
    case NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_RETRY_LATER: return "UNKNOWN_RETRY_LATER";
    case NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT: return "UNKNOWN_PERMANENT";
    case NIPC_CGROUPS_LOOKUP_STATUS_OVERSIZED_ITEM: return "OVERSIZED_ITEM";
    default: return "?";
    }
}

static const char *orchestrator_name(uint16_t orchestrator) {
    static const char *const names[] = {"unknown", "systemd", "docker", "k8s",
                                        "kvm",     "lxc",     "podman", "nspawn"};
    return orchestrator < sizeof names / sizeof names[0] ? names[orchestrator] : "other";
}

/* Prints one answer; 0 on success. */
static int print_item(const nipc_cgroups_lookup_resp_view_t *answer, uint32_t i) {
    nipc_cgroups_lookup_item_view_t item;
    uint32_t l;
    nipc_error_t err = nipc_cgroups_lookup_resp_item(answer, i, &item);
    if (err != NIPC_OK) {
        fprintf(stderr, "lookup_consumer: item %u: %s\n", i, nipc_error_str(err));
        return 1;
    }
    if (item.status != NIPC_CGROUPS_LOOKUP_STATUS_KNOWN) {
        /* No name: a plugin falls back to the path, and asks again later
         * for UNKNOWN_RETRY_LATER ones. */
        printf("  %-20s %s\n", status_name(item.status), item.path.ptr);
        return 0;
    }
    printf("  %-20s %s -> %s (%s) [", status_name(item.status), item.path.ptr, item.name.ptr,
           orchestrator_name(item.orchestrator));
    for (l = 0; l < item.label_count; l++) {
        nipc_label_t label;
        if (nipc_cgroups_lookup_item_label(&item, l, &label) != NIPC_OK) {
            return 1;
        }
        printf("%s%s=%s", l ? ", " : "", label.key.ptr, label.value.ptr);
    }
    printf("]\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *run_dir, *prefix;
    char service[NIPC_CLIENT_SERVICE_MAX + 1];
    nipc_str_view_t paths[MAX_PATHS];
    uint32_t count = 0, i;
    nipc_client_config_t config;
    nipc_client_ctx_t client;
    nipc_cgroups_lookup_resp_view_t answer;
    nipc_error_t err;
    int failed = 0;

    if (argc < 2 || argv[1][0] == '-' || argc - 3 > MAX_PATHS) {
        fprintf(stderr, "usage: lookup_consumer RUN_DIR [PREFIX] [PATH...] (at most %d paths)\n",
                MAX_PATHS);
        return 1;
    }
    run_dir = argv[1];
    prefix = argc > 2 ? argv[2] : "cgroups";
    snprintf(service, sizeof service, "%s-lookup", prefix);
    for (i = 3; i < (uint32_t)argc; i++) {
        paths[count].ptr = argv[i];
        paths[count].len = (uint32_t)strlen(argv[i]);
        count++;
    }
    if (count == 0) {
        for (i = 0; i < sizeof default_paths / sizeof default_paths[0]; i++) {
            paths[count].ptr = default_paths[i];
            paths[count].len = (uint32_t)strlen(default_paths[i]);
            count++;
        }
    }

    memset(&config, 0, sizeof config);
    if (nipc_client_init(&client, run_dir, service, &config) != NIPC_OK) {
        fprintf(stderr, "lookup_consumer: %s\n", nipc_client_last_error(&client));
        return 1;
    }
    err = nipc_client_wait_ready(&client, PROVIDER_WAIT_MS);
    if (err != NIPC_OK) {
        fprintf(stderr,
                "lookup_consumer: %s (is cgroups_provider running with the same RUN_DIR and "
                "PREFIX?)\n",
                nipc_client_last_error(&client));
        nipc_client_close(&client);
        return 1;
    }

    /* One logical call, however many paths: the client splits it into as
     * many requests as the negotiated sizes need and stitches the answers
     * back together, one item per path, in order, from one generation. */
    err = nipc_client_call_cgroups_lookup(&client, paths, count, &answer);
    if (err != NIPC_OK) {
        fprintf(stderr, "lookup_consumer: %s\n", nipc_client_last_error(&client));
        nipc_client_close(&client);
        return 1;
    }
    printf("lookup on `%s`: generation %llu, %u paths\n", service,
           (unsigned long long)answer.generation, answer.item_count);
    for (i = 0; i < answer.item_count && !failed; i++) {
        failed = print_item(&answer, i);
    }
    nipc_client_close(&client);
    return failed;
}
