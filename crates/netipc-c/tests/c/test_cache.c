/* The snapshot cache without a provider: every function with NULL, zeroed,
 * closed and badly initialised objects; a cache whose provider is absent
 * (refresh fails and counts, guards hold nothing, get finds nothing); guards
 * that outlive the cache; reader and status threads while another thread
 * refreshes and fails.
 *
 * usage: test_cache [RUN_DIR]   (default: $TMPDIR, $TEMP or /tmp) */
#define _POSIX_C_SOURCE 200809L
#include <netipc/netipc_service.h>

#include <pthread.h>
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
enum { STATE_DISCONNECTED = 0, STATE_NOT_FOUND = 3 };

static const char *run_dir;
static const char *const ABSENT = "test-cache-absent-snapshot";

static bool starts_with(const char *text, const char *prefix) {
    return text != NULL && strncmp(text, prefix, strlen(prefix)) == 0;
}

static bool status_is_zero(const nipc_cgroups_cache_status_t *s) {
    return !s->populated && s->item_count == 0 && s->systemd_enabled == 0 && s->generation == 0 &&
           s->refresh_success_count == 0 && s->refresh_failure_count == 0 &&
           s->connection_state == 0 && s->transport_profile == 0 && s->last_refresh_ts == 0 &&
           s->last_refresh_age_ms == 0;
}

/* Every function with NULL objects: errors, NULL, false, never a crash. */
static void null_objects(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t status;
    nipc_cgroups_cache_read_guard_t guard;
    nipc_cgroups_cache_item_view_t view = {1, 0, 0, "a", "/a", 1, 2};

    nipc_cgroups_cache_init(NULL, run_dir, ABSENT, NULL);
    CHECK(!nipc_cgroups_cache_refresh(NULL));
    CHECK(nipc_cgroups_cache_wait_ready(NULL, 10) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(!nipc_cgroups_cache_ready(NULL));
    memset(&status, 0xab, sizeof status);
    CHECK(nipc_cgroups_cache_status(NULL, &status) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(status_is_zero(&status));
    CHECK(nipc_cgroups_cache_set_call_timeout(NULL, 10) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(nipc_cgroups_cache_abort(NULL) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(nipc_cgroups_cache_clear_abort(NULL) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(starts_with(nipc_cgroups_cache_last_error(NULL), "NIPC_ERR_INVALID_ARGUMENT"));
    nipc_cgroups_cache_close(NULL);

    /* A NULL cache: the guard holds nothing (it need not be unlocked). */
    CHECK(!nipc_cgroups_cache_read_lock(NULL, &guard));
    CHECK(nipc_cgroups_cache_get(&guard, 1, "a") == NULL);
    CHECK(nipc_cgroups_cache_count(&guard) == 0);
    CHECK(nipc_cgroups_cache_item_dup(&guard, &view) == NULL);
    nipc_cgroups_cache_read_unlock(&guard);

    /* NULL guards and views. */
    nipc_cgroups_cache_init(&cache, run_dir, ABSENT, NULL);
    CHECK(!nipc_cgroups_cache_read_lock(&cache, NULL));
    CHECK(nipc_cgroups_cache_status(&cache, NULL) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(nipc_cgroups_cache_get(NULL, 1, "a") == NULL);
    CHECK(nipc_cgroups_cache_count(NULL) == 0);
    CHECK(nipc_cgroups_cache_item_at(NULL, 0) == NULL);
    CHECK(nipc_cgroups_cache_item_dup(NULL, &view) == NULL);
    nipc_cgroups_cache_read_unlock(NULL);
    nipc_cgroups_cache_item_free(NULL);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    CHECK(nipc_cgroups_cache_get(&guard, 1, NULL) == NULL);
    CHECK(nipc_cgroups_cache_item_dup(&guard, NULL) == NULL);
    nipc_cgroups_cache_read_unlock(&guard);
    nipc_cgroups_cache_close(&cache);
}

/* A zeroed cache and guard, and a cache after close: NOT_INITIALIZED. */
static void zeroed_and_closed(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t status;
    nipc_cgroups_cache_read_guard_t guard;

    for (int round = 0; round < 2; round++) {
        if (round == 0) {
            memset(&cache, 0, sizeof cache);
        } else {
            nipc_cgroups_cache_init(&cache, run_dir, ABSENT, NULL);
            CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
            nipc_cgroups_cache_close(&cache);
        }
        CHECK(!nipc_cgroups_cache_refresh(&cache));
        CHECK(nipc_cgroups_cache_wait_ready(&cache, 10) == NIPC_ERR_NOT_INITIALIZED);
        CHECK(!nipc_cgroups_cache_ready(&cache));
        memset(&status, 0xab, sizeof status);
        CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_ERR_NOT_INITIALIZED);
        CHECK(status_is_zero(&status));
        CHECK(nipc_cgroups_cache_set_call_timeout(&cache, 10) == NIPC_ERR_NOT_INITIALIZED);
        CHECK(nipc_cgroups_cache_abort(&cache) == NIPC_ERR_NOT_INITIALIZED);
        CHECK(nipc_cgroups_cache_clear_abort(&cache) == NIPC_ERR_NOT_INITIALIZED);
        CHECK(starts_with(nipc_cgroups_cache_last_error(&cache), "NIPC_ERR_NOT_INITIALIZED"));
        CHECK(!nipc_cgroups_cache_read_lock(&cache, &guard));
        CHECK(nipc_cgroups_cache_count(&guard) == 0);
        CHECK(nipc_cgroups_cache_get(&guard, 1, "a") == NULL);
        nipc_cgroups_cache_read_unlock(&guard);
        nipc_cgroups_cache_close(&cache); /* twice (or on a zeroed cache): nothing */
        nipc_cgroups_cache_close(&cache);
    }

    /* A zeroed guard holds nothing; unlocking it (twice) is harmless. */
    memset(&guard, 0, sizeof guard);
    CHECK(nipc_cgroups_cache_get(&guard, 1, "a") == NULL);
    CHECK(nipc_cgroups_cache_item_at(&guard, 0) == NULL);
    CHECK(nipc_cgroups_cache_count(&guard) == 0);
    nipc_cgroups_cache_read_unlock(&guard);
    nipc_cgroups_cache_read_unlock(&guard);

    /* A closed cache can be initialised again. */
    nipc_cgroups_cache_init(&cache, run_dir, ABSENT, NULL);
    CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
    nipc_cgroups_cache_close(&cache);
}

/* NULL strings given to init are refused by every refresh, with the name of
 * the argument in the last error. */
static void bad_init_arguments(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t status;

    nipc_cgroups_cache_init(&cache, NULL, ABSENT, NULL);
    CHECK(strstr(nipc_cgroups_cache_last_error(&cache), "run_dir") != NULL);
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(strstr(nipc_cgroups_cache_last_error(&cache), "run_dir") != NULL);
    CHECK(nipc_cgroups_cache_wait_ready(&cache, 10) == NIPC_ERR_INVALID_ARGUMENT);
    CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
    CHECK(status.refresh_failure_count == 2 && status.refresh_success_count == 0);
    CHECK(!status.populated && status.connection_state == STATE_DISCONNECTED);
    nipc_cgroups_cache_close(&cache);

    nipc_cgroups_cache_init(&cache, run_dir, NULL, NULL);
    CHECK(strstr(nipc_cgroups_cache_last_error(&cache), "service_name") != NULL);
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    nipc_cgroups_cache_close(&cache);

    nipc_cgroups_cache_init(&cache, NULL, NULL, NULL);
    CHECK(strstr(nipc_cgroups_cache_last_error(&cache), "run_dir and a service_name") != NULL);
    nipc_cgroups_cache_close(&cache);

    /* Not UTF-8. */
    nipc_cgroups_cache_init(&cache, run_dir, "bad-\xff", NULL);
    CHECK(strstr(nipc_cgroups_cache_last_error(&cache), "service_name") != NULL);
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    nipc_cgroups_cache_close(&cache);
}

/* No provider: nothing published, refreshes fail and count, lookups find
 * nothing, the last error names the cause. */
static void absent_provider(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_status_t status;
    nipc_cgroups_cache_read_guard_t guard;
    nipc_client_config_t config = {0};
    nipc_cgroups_cache_item_view_t view = {1, 0, 0, "a", "/a", 1, 2};

    config.call_timeout_ms = 2000;
    nipc_cgroups_cache_init(&cache, run_dir, ABSENT, &config);
    CHECK(!nipc_cgroups_cache_ready(&cache));
    CHECK(strcmp(nipc_cgroups_cache_last_error(&cache), "") == 0);
    CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
    CHECK(!status.populated && status.item_count == 0 && status.generation == 0);
    CHECK(status.refresh_success_count == 0 && status.refresh_failure_count == 0);
    CHECK(status.connection_state == STATE_DISCONNECTED && status.transport_profile == 0);
    CHECK(status.last_refresh_ts == 0 && status.last_refresh_age_ms == 0);

    /* Get before any refresh. */
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    CHECK(nipc_cgroups_cache_count(&guard) == 0);
    CHECK(nipc_cgroups_cache_get(&guard, nipc_netdata_hash("a"), "a") == NULL);
    CHECK(nipc_cgroups_cache_item_at(&guard, 0) == NULL);
    CHECK(nipc_cgroups_cache_item_dup(&guard, &view) == NULL);
    nipc_cgroups_cache_read_unlock(&guard);

    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(!nipc_cgroups_cache_ready(&cache));
    CHECK(strlen(nipc_cgroups_cache_last_error(&cache)) > 0);
    CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
    CHECK(!status.populated && status.refresh_failure_count == 1);
    CHECK(status.connection_state == STATE_NOT_FOUND);

    CHECK(nipc_cgroups_cache_set_call_timeout(&cache, 50) == NIPC_OK);
    CHECK(nipc_cgroups_cache_set_call_timeout(&cache, 0) == NIPC_OK);
    nipc_error_t err = nipc_cgroups_cache_wait_ready(&cache, 100);
    CHECK(err == NIPC_ERR_NOT_READY || err == NIPC_ERR_NOT_FOUND);
    CHECK(nipc_cgroups_cache_status(&cache, &status) == NIPC_OK);
    CHECK(status.refresh_failure_count >= 2);

    CHECK(nipc_cgroups_cache_abort(&cache) == NIPC_OK);
    CHECK(!nipc_cgroups_cache_refresh(&cache));
    CHECK(nipc_cgroups_cache_wait_ready(&cache, 200) != NIPC_OK);
    CHECK(nipc_cgroups_cache_clear_abort(&cache) == NIPC_OK);
    nipc_cgroups_cache_close(&cache);
}

/* A guard locked on an empty cache outlives the cache. */
static void guard_outlives_cache(void) {
    nipc_cgroups_cache_t cache;
    nipc_cgroups_cache_read_guard_t guard;

    nipc_cgroups_cache_init(&cache, run_dir, ABSENT, NULL);
    CHECK(nipc_cgroups_cache_read_lock(&cache, &guard));
    nipc_cgroups_cache_close(&cache);
    CHECK(nipc_cgroups_cache_count(&guard) == 0);
    CHECK(nipc_cgroups_cache_get(&guard, 1, "a") == NULL);
    nipc_cgroups_cache_read_unlock(&guard);
}

/* Readers and a status reader while another thread refreshes (and fails). */
enum { READERS = 3, ROUNDS = 2000, REFRESHES = 20 };

static nipc_cgroups_cache_t shared;

static void *reader(void *arg) {
    long *bad = arg;
    for (int i = 0; i < ROUNDS; i++) {
        nipc_cgroups_cache_read_guard_t guard;
        nipc_cgroups_cache_status_t status;
        if (!nipc_cgroups_cache_read_lock(&shared, &guard)) (*bad)++;
        if (nipc_cgroups_cache_get(&guard, 1, "a") != NULL) (*bad)++;
        if (nipc_cgroups_cache_count(&guard) != 0) (*bad)++;
        nipc_cgroups_cache_read_unlock(&guard);
        if (nipc_cgroups_cache_status(&shared, &status) != NIPC_OK || status.populated) (*bad)++;
        if (nipc_cgroups_cache_ready(&shared)) (*bad)++;
    }
    return NULL;
}

static void *refresher(void *arg) {
    long *bad = arg;
    for (int i = 0; i < REFRESHES; i++)
        if (nipc_cgroups_cache_refresh(&shared)) (*bad)++;
    return NULL;
}

static void threads_while_refreshing(void) {
    pthread_t readers[READERS], writer;
    long bad[READERS + 1] = {0};
    nipc_cgroups_cache_status_t status;

    nipc_cgroups_cache_init(&shared, run_dir, ABSENT, NULL);
    CHECK(pthread_create(&writer, NULL, refresher, &bad[READERS]) == 0);
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&readers[i], NULL, reader, &bad[i]) == 0);
    for (int i = 0; i < READERS; i++) CHECK(pthread_join(readers[i], NULL) == 0);
    CHECK(pthread_join(writer, NULL) == 0);
    for (int i = 0; i <= READERS; i++) CHECK(bad[i] == 0);
    CHECK(nipc_cgroups_cache_status(&shared, &status) == NIPC_OK);
    CHECK(status.refresh_failure_count == REFRESHES);
    nipc_cgroups_cache_close(&shared);
}

int main(int argc, char **argv) {
    run_dir = argc > 1 ? argv[1] : getenv("TMPDIR");
    if (run_dir == NULL) run_dir = getenv("TEMP");
    if (run_dir == NULL) run_dir = "/tmp";

    null_objects();
    zeroed_and_closed();
    bad_init_arguments();
    absent_provider();
    guard_outlives_cache();
    threads_while_refreshing();

    if (failures) {
        fprintf(stderr, "test_cache: %d failures\n", failures);
        return 1;
    }
    printf("test_cache: ok\n");
    return 0;
}
