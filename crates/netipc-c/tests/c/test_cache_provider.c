/* The snapshot cache against a running provider: the example provider
 * (examples/cgroups_provider, in Rust or C) serving nginx, checkout-api and
 * netdata at generation 1 as <PREFIX>-snapshot under RUN_DIR.
 *
 * Both transport profiles; status counters; lookups, iteration and copies;
 * views that outlive refreshes and the cache; reader, status and dup threads
 * during a stream of refreshes; abort.
 *
 * With --provider-stops it then prints "stop the provider", waits for a line
 * on stdin, checks that the last good copy is still served while refreshes
 * fail, prints "start the provider", waits for another line and expects the
 * provider back with generation 2 and a fourth cgroup, "redis" (the
 * netipc-c test driver plays that provider).
 *
 * usage: test_cache_provider RUN_DIR PREFIX [--provider-stops]
 * (without arguments it only prints that it was skipped) */
#define _POSIX_C_SOURCE 200809L
#include <netipc/netipc_service.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

/* nipc_client_state_t values (level2.md 3). */
enum { STATE_READY = 2 };
enum { IS_UNIFIED = 0x4 };

static const struct {
    const char *name, *path;
} EXPECTED[] = {
    {"nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"},
    {"checkout-api", "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice"},
    {"netdata", "/sys/fs/cgroup/system.slice/netdata.service"},
};
enum { ITEMS = sizeof EXPECTED / sizeof EXPECTED[0] };

static char service[256];
static const char *run_dir;

static bool view_is(const nipc_cgroups_cache_item_view_t *v, size_t i) {
    return v != NULL && v->hash == nipc_netdata_hash(EXPECTED[i].name) &&
           v->options == IS_UNIFIED && v->enabled == 1 && strcmp(v->name, EXPECTED[i].name) == 0 &&
           strcmp(v->path, EXPECTED[i].path) == 0 && v->name_len == strlen(EXPECTED[i].name) &&
           v->path_len == strlen(EXPECTED[i].path);
}

static const nipc_cgroups_cache_item_view_t *lookup(const nipc_cgroups_cache_read_guard_t *g,
                                                    const char *name) {
    return nipc_cgroups_cache_get(g, nipc_netdata_hash(name), name);
}

static void init(nipc_cgroups_cache_t *cache, uint32_t profiles) {
    nipc_client_config_t config = {0};
    config.supported_profiles = profiles;
    nipc_cgroups_cache_init(cache, run_dir, service, &config);
    nipc_error_t err = nipc_cgroups_cache_wait_ready(cache, 30000);
    if (err != NIPC_OK)
        fprintf(stderr, "test_cache_provider: %s: %s\n", nipc_error_str(err),
                nipc_cgroups_cache_last_error(cache));
    CHECK(err == NIPC_OK);
}

/* Both profiles: the first refresh publishes the provider's table. */
static void first_refresh(uint32_t profiles, uint32_t expected_profile) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t s;
    nipc_cgroups_cache_read_guard_t guard;

    init(&cache, profiles);
    CHECK(nipc_cgroups_cache_ready(&cache));
    CHECK(strcmp(nipc_cgroups_cache_last_error(&cache), "") == 0);
    CHECK(nipc_cgroups_cache_status(&cache, &s) == NIPC_OK);
    CHECK(s.populated && s.item_count == ITEMS && s.generation == 1 && s.systemd_enabled == 1);
    CHECK(s.refresh_success_count == 1);
    CHECK(s.connection_state == STATE_READY);
    CHECK(s.transport_profile == expected_profile);
    CHECK(s.last_refresh_ts >= 1);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    CHECK(nipc_cgroups_cache_count(&guard) == ITEMS);
    for (size_t i = 0; i < ITEMS; i++) CHECK(view_is(lookup(&guard, EXPECTED[i].name), i));
    nipc_cgroups_cache_read_unlock(&guard);
    CHECK(nipc_cgroups_cache_refresh(&cache));
    CHECK(nipc_cgroups_cache_status(&cache, &s) == NIPC_OK);
    CHECK(s.refresh_success_count == 2 && s.transport_profile == expected_profile);
    nipc_cgroups_cache_close(&cache);
}

/* get, count, item_at: exact matches only, the provider's order. */
static void lookups(nipc_cgroups_cache_t *cache) {
    nipc_cgroups_cache_read_guard_t guard;

    CHECK(nipc_cgroups_cache_read_lock(cache, &guard));
    CHECK(nipc_cgroups_cache_count(&guard) == ITEMS);
    for (size_t i = 0; i < ITEMS; i++) {
        const nipc_cgroups_cache_item_view_t *v = nipc_cgroups_cache_item_at(&guard, i);
        CHECK(view_is(v, i));
        CHECK(lookup(&guard, EXPECTED[i].name) == v); /* the same view, not a copy */
    }
    CHECK(nipc_cgroups_cache_item_at(&guard, ITEMS) == NULL);
    CHECK(nipc_cgroups_cache_item_at(&guard, (size_t)-1) == NULL);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("nginx") + 1, "nginx") == NULL);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("nginx"), "ngin") == NULL);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("nginx"), "nginxx") == NULL);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("nginx"), "netdata") == NULL);
    CHECK(lookup(&guard, "") == NULL);
    CHECK(lookup(&guard, "redis") == NULL);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("nginx"), NULL) == NULL);
    nipc_cgroups_cache_read_unlock(&guard);
}

static bool item_is(const nipc_cgroups_cache_item_t *item, size_t i) {
    return item != NULL && item->hash == nipc_netdata_hash(EXPECTED[i].name) &&
           item->options == IS_UNIFIED && item->enabled == 1 &&
           strcmp(item->name, EXPECTED[i].name) == 0 && strcmp(item->path, EXPECTED[i].path) == 0 &&
           item->name_len == strlen(EXPECTED[i].name) && item->path_len == strlen(EXPECTED[i].path);
}

/* Owned copies outlive their guard, later refreshes and the cache; views
 * outlive refreshes and the cache while their guard is locked. */
static void lifetimes(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_read_guard_t old, fresh;
    nipc_cgroups_cache_item_t *copies[4];

    init(&cache, 0);
    lookups(&cache);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &old));
    const nipc_cgroups_cache_item_view_t *v = lookup(&old, "checkout-api");
    CHECK(view_is(v, 1));
    copies[0] = nipc_cgroups_cache_item_dup(&old, v);
    copies[1] = nipc_cgroups_cache_item_dup(&old, nipc_cgroups_cache_item_at(&old, 2));
    /* A view the guard did not return: its strings are copied up to the NUL. */
    nipc_cgroups_cache_item_view_t foreign = *lookup(&old, "nginx");
    copies[2] = nipc_cgroups_cache_item_dup(&old, &foreign);
    foreign.path = NULL;
    CHECK(nipc_cgroups_cache_item_dup(&old, &foreign) == NULL);
    CHECK(item_is(copies[0], 1) && item_is(copies[1], 2) && item_is(copies[2], 0));
    CHECK(copies[0] != NULL && copies[0]->name != v->name); /* owned, not borrowed */

    /* A refresh (by the thread holding the guard) publishes a new table;
     * the old guard keeps its own. */
    CHECK(nipc_cgroups_cache_refresh(&cache));
    CHECK(nipc_cgroups_cache_read_lock(&cache, &fresh));
    const nipc_cgroups_cache_item_view_t *w = lookup(&fresh, "checkout-api");
    CHECK(view_is(w, 1) && w != v);
    CHECK(view_is(v, 1));
    nipc_cgroups_cache_read_unlock(&fresh);

    /* Close: the locked guard and its views stay valid until unlocked. */
    nipc_cgroups_cache_close(&cache);
    CHECK(view_is(v, 1));
    CHECK(nipc_cgroups_cache_count(&old) == ITEMS);
    CHECK(view_is(lookup(&old, "netdata"), 2));
    copies[3] = nipc_cgroups_cache_item_dup(&old, v);
    CHECK(item_is(copies[3], 1));
    nipc_cgroups_cache_read_unlock(&old);
    nipc_cgroups_cache_read_unlock(&old);
    CHECK(lookup(&old, "netdata") == NULL);

    CHECK(item_is(copies[0], 1) && item_is(copies[1], 2) && item_is(copies[2], 0));
    for (size_t i = 0; i < 4; i++) nipc_cgroups_cache_item_free(copies[i]);
}

/* Readers, a status reader and a copier run while a thread refreshes. */
enum { READERS = 4, REFRESHES = 200 };

static nipc_cgroups_cache_t shared;
static atomic_int refreshing;

typedef struct {
    pthread_t thread;
    long rounds, bad;
} worker_t;

static void *reader(void *arg) {
    worker_t *w = arg;
    do {
        nipc_cgroups_cache_read_guard_t guard;
        if (!nipc_cgroups_cache_read_lock(&shared, &guard)) w->bad++;
        if (nipc_cgroups_cache_count(&guard) != ITEMS) w->bad++;
        for (size_t i = 0; i < ITEMS; i++) {
            const nipc_cgroups_cache_item_view_t *v = lookup(&guard, EXPECTED[i].name);
            if (!view_is(v, i) || nipc_cgroups_cache_item_at(&guard, i) != v) w->bad++;
        }
        if (w->rounds % 16 == 0) {
            nipc_cgroups_cache_item_t *copy = nipc_cgroups_cache_item_dup(&guard, lookup(&guard, "netdata"));
            if (!item_is(copy, 2)) w->bad++;
            nipc_cgroups_cache_item_free(copy);
        }
        nipc_cgroups_cache_status_t s;
        if (nipc_cgroups_cache_status(&shared, &s) != NIPC_OK || !s.populated || s.item_count != ITEMS)
            w->bad++;
        if (!nipc_cgroups_cache_ready(&shared)) w->bad++;
        nipc_cgroups_cache_read_unlock(&guard);
        w->rounds++;
    } while (atomic_load(&refreshing) || w->rounds < 100);
    return NULL;
}

static void concurrent_readers(void) {
    worker_t workers[READERS];
    nipc_cgroups_cache_status_t s;
    int failed_refreshes = 0;

    init(&shared, 0);
    atomic_store(&refreshing, 1);
    for (int i = 0; i < READERS; i++) {
        workers[i].rounds = workers[i].bad = 0;
        CHECK(pthread_create(&workers[i].thread, NULL, reader, &workers[i]) == 0);
    }
    for (int i = 0; i < REFRESHES; i++)
        if (!nipc_cgroups_cache_refresh(&shared)) failed_refreshes++;
    atomic_store(&refreshing, 0);
    for (int i = 0; i < READERS; i++) {
        CHECK(pthread_join(workers[i].thread, NULL) == 0);
        CHECK(workers[i].bad == 0);
        CHECK(workers[i].rounds >= 100);
    }
    CHECK(failed_refreshes == 0);
    CHECK(nipc_cgroups_cache_status(&shared, &s) == NIPC_OK);
    CHECK(s.refresh_success_count == 1 + REFRESHES && s.refresh_failure_count == 0);
    nipc_cgroups_cache_close(&shared);
}

/* An aborted refresh fails and keeps the snapshot; clearing allows more. */
static void abort_keeps_the_snapshot(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t s;
    nipc_cgroups_cache_read_guard_t guard;

    init(&cache, 0);
    CHECK(nipc_cgroups_cache_abort(&cache) == NIPC_OK);
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(strlen(nipc_cgroups_cache_last_error(&cache)) > 0);
    CHECK(nipc_cgroups_cache_ready(&cache));
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    CHECK(view_is(lookup(&guard, "nginx"), 0));
    nipc_cgroups_cache_read_unlock(&guard);
    CHECK(nipc_cgroups_cache_clear_abort(&cache) == NIPC_OK);
    CHECK(nipc_cgroups_cache_set_call_timeout(&cache, 5000) == NIPC_OK);
    CHECK(nipc_cgroups_cache_refresh(&cache));
    CHECK(nipc_cgroups_cache_status(&cache, &s) == NIPC_OK);
    CHECK(s.refresh_success_count == 2 && s.refresh_failure_count == 1);
    nipc_cgroups_cache_close(&cache);
}

static void wait_for_line(const char *prompt) {
    char line[64];
    printf("%s\n", prompt);
    fflush(stdout);
    CHECK(fgets(line, sizeof line, stdin) != NULL);
}

/* The provider goes away: the last good copy is served; it comes back with
 * generation 2 and redis. */
static void provider_stops(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t s;
    nipc_cgroups_cache_read_guard_t guard;

    init(&cache, 0);
    wait_for_line("stop the provider");
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(strlen(nipc_cgroups_cache_last_error(&cache)) > 0);
    CHECK(nipc_cgroups_cache_ready(&cache));
    CHECK(nipc_cgroups_cache_status(&cache, &s) == NIPC_OK);
    CHECK(s.populated && s.item_count == ITEMS && s.generation == 1);
    CHECK(s.refresh_success_count == 1 && s.refresh_failure_count == 2);
    CHECK(s.connection_state != STATE_READY && s.transport_profile == 0);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    for (size_t i = 0; i < ITEMS; i++) CHECK(view_is(lookup(&guard, EXPECTED[i].name), i));
    nipc_cgroups_cache_read_unlock(&guard);

    wait_for_line("start the provider");
    CHECK(nipc_cgroups_cache_refresh(&cache));
    CHECK(strcmp(nipc_cgroups_cache_last_error(&cache), "") == 0);
    CHECK(nipc_cgroups_cache_status(&cache, &s) == NIPC_OK);
    CHECK(s.item_count == ITEMS + 1 && s.generation == 2 && s.refresh_success_count == 2);
    CHECK(s.connection_state == STATE_READY);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    const nipc_cgroups_cache_item_view_t *redis = lookup(&guard, "redis");
    CHECK(redis != NULL && nipc_cgroups_cache_item_at(&guard, ITEMS) == redis);
    CHECK(view_is(lookup(&guard, "nginx"), 0));
    nipc_cgroups_cache_read_unlock(&guard);
    nipc_cgroups_cache_close(&cache);
}

int main(int argc, char **argv) {
    if (argc == 1) {
        /* Run without a provider (a runner that starts every test alike):
         * say so rather than fail or pretend. */
        printf("test_cache_provider: skipped: give RUN_DIR PREFIX of a running example provider\n");
        return 0;
    }
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--provider-stops") != 0)) {
        fprintf(stderr, "usage: test_cache_provider RUN_DIR PREFIX [--provider-stops]\n");
        return 2;
    }
    run_dir = argv[1];
    snprintf(service, sizeof service, "%s-snapshot", argv[2]);

    first_refresh(NIPC_PROFILE_BASELINE, NIPC_PROFILE_BASELINE);
    first_refresh(0, NIPC_PROFILE_SHM_HYBRID);
    lifetimes();
    concurrent_readers();
    abort_keeps_the_snapshot();
    if (argc == 4) provider_stops();

    if (failures) {
        fprintf(stderr, "test_cache_provider: %d failures\n", failures);
        return 1;
    }
    printf("test_cache_provider: ok\n");
    return 0;
}
