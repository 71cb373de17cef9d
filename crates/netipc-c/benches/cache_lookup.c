/* The cost of a C snapshot-cache lookup (nipc_cgroups_cache_get), for the
 * side-by-side comparison with the Rust CacheGuard::get run by the ignored
 * test lookup_cost_of_c_and_rust in tests/cache.rs (which builds this file
 * with gcc -O2 and serves the cgroups):
 *
 *     cache_lookup RUN_DIR SERVICE ITEMS LOOKUPS
 *
 * The provider serves ITEMS cgroups named docker-<i as 12 hex digits>.scope
 * with hash i * 2654435761. One guard is held for all LOOKUPS lookups, which
 * cycle over every name; each found path's length is summed. The fastest of
 * 20 passes is printed as "ns_per_lookup <value> sum <sum>". */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Passes over the lookups; the fastest one counts (the others absorb the
 * preemptions of a busy machine). */
enum { PASSES = 20 };

static double now_ns(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: cache_lookup RUN_DIR SERVICE ITEMS LOOKUPS\n");
        return 2;
    }
    size_t items = strtoul(argv[3], NULL, 10), lookups = strtoul(argv[4], NULL, 10);
    char (*names)[32] = calloc(items, sizeof *names);
    uint32_t *hashes = calloc(items, sizeof *hashes);
    if (names == NULL || hashes == NULL || items == 0) return 2;
    for (size_t i = 0; i < items; i++) {
        snprintf(names[i], sizeof names[i], "docker-%012zx.scope", i);
        hashes[i] = (uint32_t)i * 2654435761u;
    }

    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_init(&cache, argv[1], argv[2], NULL);
    if (nipc_cgroups_cache_wait_ready(&cache, 30000) != NIPC_OK) {
        fprintf(stderr, "cache_lookup: %s\n", nipc_cgroups_cache_last_error(&cache));
        return 1;
    }
    nipc_cgroups_cache_read_guard_t guard;
    nipc_cgroups_cache_read_lock(&cache, &guard);
    uint64_t sum = 0;
    size_t missing = 0;
    double best = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        size_t i = 0;
        double start = now_ns();
        for (size_t k = 0; k < lookups; k++) {
            const nipc_cgroups_cache_item_view_t *v = nipc_cgroups_cache_get(&guard, hashes[i], names[i]);
            if (v != NULL)
                sum += v->path_len;
            else
                missing++;
            if (++i == items) i = 0;
        }
        double elapsed = now_ns() - start;
        if (pass == 0 || elapsed < best) best = elapsed;
    }
    nipc_cgroups_cache_read_unlock(&guard);
    nipc_cgroups_cache_close(&cache);
    free(names);
    free(hashes);
    if (missing != 0) {
        fprintf(stderr, "cache_lookup: %zu lookups found nothing\n", missing);
        return 1;
    }
    printf("ns_per_lookup %.2f sum %llu\n", best / (double)lookups, (unsigned long long)sum);
    return 0;
}
