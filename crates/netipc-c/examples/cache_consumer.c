/*
 * cache_consumer: a consumer plugin in C that keeps an L3 snapshot cache of a
 * cgroups-snapshot provider, refreshes it every INTERVAL_MS and, after each
 * refresh, looks a few cgroups up by (hash, name) and prints them.
 *
 *     cache_consumer RUN_DIR [PREFIX] [REFRESHES] [INTERVAL_MS]
 *
 * RUN_DIR and PREFIX as given to the provider (examples/cgroups_provider;
 * the service is <PREFIX>-snapshot, PREFIX defaults to "cgroups"). It waits
 * up to 10 s for the provider, then refreshes REFRESHES times (default 3),
 * INTERVAL_MS apart (default 100), and exits 0; it exits 1 when no snapshot
 * could be fetched. A refresh that fails keeps the previous snapshot: the
 * plugin goes on with the last good copy.
 *
 * The same source builds with gcc on Linux and with mingw-w64 for Windows:
 *     cc -std=c11 -I<prefix>/include cache_consumer.c -lnetipc_c ...
 * (see the README's "C API" section for the libraries to link).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The cgroups this plugin wants to name; the last one is not served. */
static const char *const WANTED[] = {"nginx", "checkout-api", "netdata", "no-such-cgroup"};
enum { WANTED_COUNT = sizeof WANTED / sizeof WANTED[0] };

static void sleep_ms(unsigned ms) {
    struct timespec pause = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Prints the cache's state and the wanted cgroups, under one read guard. */
static void report(nipc_cgroups_cache_t *cache, int round) {
    nipc_cgroups_cache_status_t status;
    if (nipc_cgroups_cache_status(cache, &status) != NIPC_OK) return;
    printf("refresh %d: generation %llu, %u cgroups (refreshes: %u ok, %u failed)\n", round,
           (unsigned long long)status.generation, status.item_count, status.refresh_success_count,
           status.refresh_failure_count);

    /* A guard pins one snapshot: lookups through it never wait for a
     * refresh, and what they return stays valid until the unlock. Hold it
     * for a batch of lookups, not across sleeps. */
    nipc_cgroups_cache_read_guard_t guard;
    if (!nipc_cgroups_cache_read_lock(cache, &guard)) return;
    for (int i = 0; i < WANTED_COUNT; i++) {
        /* Providers hash names with Netdata's simple_hash. */
        const nipc_cgroups_cache_item_view_t *item =
            nipc_cgroups_cache_get(&guard, nipc_netdata_hash(WANTED[i]), WANTED[i]);
        if (item != NULL)
            printf("  %-14s %08x enabled=%u %s\n", item->name, (unsigned)item->hash,
                   (unsigned)item->enabled, item->path);
        else
            printf("  %-14s not cached\n", WANTED[i]);
    }
    nipc_cgroups_cache_read_unlock(&guard);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 5 || argv[1][0] == '-') {
        fprintf(stderr, "usage: cache_consumer RUN_DIR [PREFIX] [REFRESHES] [INTERVAL_MS]\n");
        return 2;
    }
    const char *run_dir = argv[1];
    const char *prefix = argc > 2 ? argv[2] : "cgroups";
    int refreshes = argc > 3 ? atoi(argv[3]) : 3;
    unsigned interval_ms = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 100;
    char service[256];
    snprintf(service, sizeof service, "%s-snapshot", prefix);

    /* Zero means every default: shared memory when the provider offers it,
     * payload sizes that grow as needed, a 30 s call timeout. */
    nipc_client_config_t config = {0};
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_init(&cache, run_dir, service, &config); /* no I/O */

    /* At start-up the provider may not be running yet. */
    nipc_error_t err = nipc_cgroups_cache_wait_ready(&cache, 10000);
    if (err != NIPC_OK) {
        fprintf(stderr, "cache_consumer: no snapshot of %s in %s: %s (%s)\n", service, run_dir,
                nipc_cgroups_cache_last_error(&cache), nipc_error_str(err));
        nipc_cgroups_cache_close(&cache);
        return 1;
    }
    report(&cache, 1);

    /* A copy that outlives guards, refreshes and the cache itself. */
    nipc_cgroups_cache_item_t *kept = NULL;
    nipc_cgroups_cache_read_guard_t guard;
    if (nipc_cgroups_cache_read_lock(&cache, &guard)) {
        kept = nipc_cgroups_cache_item_dup(&guard, nipc_cgroups_cache_item_at(&guard, 0));
        nipc_cgroups_cache_read_unlock(&guard);
    }

    /* The collection loop: one refresh per cycle. */
    for (int round = 2; round <= refreshes; round++) {
        sleep_ms(interval_ms);
        if (!nipc_cgroups_cache_refresh(&cache))
            printf("refresh %d failed, keeping the last good snapshot: %s\n", round,
                   nipc_cgroups_cache_last_error(&cache));
        report(&cache, round);
    }

    nipc_cgroups_cache_close(&cache);
    if (kept != NULL) {
        printf("first cgroup, copied before the refreshes: %s %s\n", kept->name, kept->path);
        nipc_cgroups_cache_item_free(kept);
    }
    return 0;
}
