/*
 * The managed server's lifecycle and error paths (no client needed): init,
 * run, stop, drain, destroy, stats and last_error for the three kinds of
 * server, with NULL, zeroed, failed, never-run, stopped and running servers.
 * Handlers answering real clients are tested from Rust
 * (crates/netipc-c/tests/server/).
 *
 *     test_server RUN_DIR
 *
 * RUN_DIR must exist (the lane's private run directory); the services
 * created here start with "ts-" and are all removed again.
 */
#include <netipc/netipc_service.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

/* Whether the server's last error contains text. */
#define CHECK_LAST_ERROR(server, text)                                             \
    do {                                                                           \
        const char *msg_ = nipc_server_last_error(server);                         \
        if (msg_ == NULL || strstr(msg_, (text)) == NULL) {                        \
            fprintf(stderr, "%s:%d: last error \"%s\" does not contain \"%s\"\n",  \
                    __FILE__, __LINE__, msg_ ? msg_ : "(NULL)", (text));           \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static const char *run_dir;
static const nipc_server_config_t config; /* zero: the defaults */

/* Handlers: no client calls them here; they count calls to prove it. */
static int calls;

static bool snapshot_handler(void *user, const nipc_cgroups_req_t *req,
                             nipc_cgroups_builder_t *builder) {
    (void)req;
    (void)builder;
    (*(int *)user)++;
    return true;
}

static bool cgroups_lookup_handler(void *user, const nipc_cgroups_lookup_req_view_t *req,
                                   nipc_cgroups_lookup_builder_t *builder) {
    (void)req;
    (void)builder;
    (*(int *)user)++;
    return true;
}

static bool apps_lookup_handler(void *user, const nipc_apps_lookup_req_view_t *req,
                                nipc_apps_lookup_builder_t *builder) {
    (void)req;
    (void)builder;
    (*(int *)user)++;
    return true;
}

static const nipc_cgroups_service_handler_t snapshot = {snapshot_handler, 0, &calls};
static const nipc_cgroups_lookup_service_handler_t cgroups_lookup = {cgroups_lookup_handler,
                                                                     &calls};
static const nipc_apps_lookup_service_handler_t apps_lookup = {apps_lookup_handler, &calls};

/* A server of kind `kind` (0 snapshot, 1 cgroups lookup, 2 apps lookup). */
static nipc_error_t init_kind(nipc_managed_server_t *server, int kind, const char *dir,
                              const char *service, int workers) {
    switch (kind) {
    case 0:
        return nipc_server_init_typed(server, dir, service, &config, workers, &snapshot);
    case 1:
        return nipc_server_init_cgroups_lookup(server, dir, service, &config, workers,
                                               &cgroups_lookup);
    default:
        return nipc_server_init_apps_lookup(server, dir, service, &config, workers,
                                            &apps_lookup);
    }
}

/* nipc_server_run on a thread of its own. */
typedef struct runner {
    nipc_managed_server_t *server;
    nipc_error_t result;
    pthread_t thread;
    pthread_mutex_t *lock; /* when set: `returned` is incremented under it */
    pthread_cond_t *cond;
    int *returned;
} runner_t;

static void *run_thread(void *arg) {
    runner_t *r = arg;
    nipc_error_t result = nipc_server_run(r->server);
    if (r->lock) {
        pthread_mutex_lock(r->lock);
        r->result = result;
        (*r->returned)++;
        pthread_cond_signal(r->cond);
        pthread_mutex_unlock(r->lock);
    } else {
        r->result = result;
    }
    return NULL;
}

/* Starts run on a new thread; with `lock`, the thread counts its return in
 * *returned and signals `cond`. */
static void start_counted(runner_t *r, nipc_managed_server_t *server, pthread_mutex_t *lock,
                          pthread_cond_t *cond, int *returned) {
    memset(r, 0, sizeof *r);
    r->server = server;
    r->result = NIPC_ERR_INTERNAL;
    r->lock = lock;
    r->cond = cond;
    r->returned = returned;
    CHECK(pthread_create(&r->thread, NULL, run_thread, r) == 0);
}

static void start(runner_t *r, nipc_managed_server_t *server) {
    start_counted(r, server, NULL, NULL, NULL);
}

static nipc_error_t join(runner_t *r) {
    CHECK(pthread_join(r->thread, NULL) == 0);
    return r->result;
}

/* NULL everywhere, and init failures that say why. */
static void test_invalid_arguments(void) {
    nipc_managed_server_t server;
    nipc_server_stats_t stats;
    int kind;

    CHECK_CODE(nipc_server_init_typed(NULL, run_dir, "ts-null", &config, 1, &snapshot),
               NIPC_ERR_INVALID_ARGUMENT);
    for (kind = 0; kind < 3; kind++) {
        CHECK_CODE(init_kind(&server, kind, NULL, "ts-null", 1), NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "run_dir is NULL");
        CHECK_CODE(init_kind(&server, kind, run_dir, NULL, 1), NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "service_name is NULL");
        CHECK_CODE(init_kind(&server, kind, run_dir, "ts-\xff", 1), NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "not UTF-8");
        CHECK_CODE(init_kind(&server, kind, run_dir, "ts/slash", 1), NIPC_ERR_INVALID_ARGUMENT);
        CHECK(strlen(nipc_server_last_error(&server)) > 0);
        /* A failed server is not live... */
        CHECK_CODE(nipc_server_run(&server), NIPC_ERR_NOT_INITIALIZED);
        CHECK_CODE(nipc_server_stats(&server, &stats), NIPC_ERR_NOT_INITIALIZED);
        CHECK(!nipc_server_drain(&server, 0));
        nipc_server_stop(&server);
        /* ...keeps its message until destroyed, and needs no destroy. */
        CHECK(strlen(nipc_server_last_error(&server)) > 0);
        nipc_server_destroy(&server);
        CHECK(strcmp(nipc_server_last_error(&server), "") == 0);
        nipc_server_destroy(&server);
    }
    CHECK_CODE(nipc_server_init_typed(&server, run_dir, "ts-null", NULL, 1, &snapshot),
               NIPC_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(&server, "config is NULL");
    CHECK_CODE(nipc_server_init_typed(&server, run_dir, "ts-null", &config, 1, NULL),
               NIPC_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(&server, "handler is NULL");
    {
        nipc_cgroups_service_handler_t no_handle = {NULL, 0, &calls};
        nipc_cgroups_lookup_service_handler_t no_lookup = {NULL, &calls};
        nipc_apps_lookup_service_handler_t no_apps = {NULL, &calls};
        CHECK_CODE(nipc_server_init_typed(&server, run_dir, "ts-null", &config, 1, &no_handle),
                   NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "nipc_server_init_typed: handler is NULL or its handle is NULL");
        CHECK_CODE(nipc_server_init_cgroups_lookup(&server, run_dir, "ts-null", &config, 1,
                                                   &no_lookup),
                   NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "nipc_server_init_cgroups_lookup: handler");
        CHECK_CODE(nipc_server_init_apps_lookup(&server, run_dir, "ts-null", &config, 1, &no_apps),
                   NIPC_ERR_INVALID_ARGUMENT);
        CHECK_LAST_ERROR(&server, "nipc_server_init_apps_lookup: handler");
    }

    CHECK_CODE(nipc_server_run(NULL), NIPC_ERR_INVALID_ARGUMENT);
    nipc_server_stop(NULL);
    CHECK(!nipc_server_drain(NULL, 0));
    nipc_server_destroy(NULL);
    CHECK(strcmp(nipc_server_last_error(NULL), "") == 0);
    CHECK_CODE(nipc_server_stats(NULL, &stats), NIPC_ERR_INVALID_ARGUMENT);
}

/* A zeroed server is "not initialized" everywhere and destroys quietly. */
static void test_zeroed(void) {
    nipc_managed_server_t server;
    nipc_server_stats_t stats;

    memset(&server, 0, sizeof server);
    CHECK_CODE(nipc_server_run(&server), NIPC_ERR_NOT_INITIALIZED);
    CHECK_CODE(nipc_server_stats(&server, &stats), NIPC_ERR_NOT_INITIALIZED);
    CHECK(!nipc_server_drain(&server, 10));
    nipc_server_stop(&server);
    CHECK(strcmp(nipc_server_last_error(&server), "") == 0);
    nipc_server_destroy(&server);
    nipc_server_destroy(&server);
    CHECK_CODE(nipc_server_run(&server), NIPC_ERR_NOT_INITIALIZED);
}

/* A run directory that does not exist: NOT_FOUND, naming it. */
static void test_missing_run_dir(void) {
    nipc_managed_server_t server;
    char missing[1024];
    int kind;

    snprintf(missing, sizeof missing, "%s/ts-no-such-dir", run_dir);
    for (kind = 0; kind < 3; kind++) {
        CHECK_CODE(init_kind(&server, kind, missing, "ts-missing", 1), NIPC_ERR_NOT_FOUND);
        CHECK_LAST_ERROR(&server, "ts-no-such-dir");
    }
}

/* Init binds: a second provider of the endpoint fails with ADDR_IN_USE
 * until the first is destroyed (which removes its endpoint even though it
 * never ran). */
static void test_address_in_use(void) {
    nipc_managed_server_t first, second;
    int kind;

    CHECK_CODE(init_kind(&first, 0, run_dir, "ts-in-use", 2), NIPC_OK);
    CHECK(strcmp(nipc_server_last_error(&first), "") == 0);
    for (kind = 0; kind < 3; kind++) {
        CHECK_CODE(init_kind(&second, kind, run_dir, "ts-in-use", 2), NIPC_ERR_ADDR_IN_USE);
        CHECK_LAST_ERROR(&second, "pid");
        CHECK_LAST_ERROR(&second, "ts-in-use");
    }
    nipc_server_destroy(&first);
    nipc_server_destroy(&first);
    for (kind = 0; kind < 3; kind++) {
        CHECK_CODE(init_kind(&second, kind, run_dir, "ts-in-use", 2), NIPC_OK);
        nipc_server_destroy(&second);
    }
    CHECK(calls == 0);
}

/* Run, stop from another thread, run again (returns at once), for every
 * kind and for worker counts below 1 (which mean 1). */
static void test_run_and_stop(void) {
    static const int workers[3] = {1, 0, -5};
    nipc_managed_server_t server;
    nipc_server_stats_t stats;
    runner_t runner;
    int kind;

    for (kind = 0; kind < 3; kind++) {
        CHECK_CODE(init_kind(&server, kind, run_dir, "ts-run", workers[kind]), NIPC_OK);
        CHECK_CODE(nipc_server_stats(&server, &stats), NIPC_OK);
        CHECK(stats.session_limit > 0);
        CHECK(stats.sessions == 0 && stats.requests == 0 && stats.handler_errors == 0);
        CHECK(stats.reserved_[0] == 0 && stats.reserved_[7] == 0);
        CHECK_CODE(nipc_server_stats(&server, NULL), NIPC_ERR_INVALID_ARGUMENT);
        start(&runner, &server);
        nipc_server_stop(&server);
        nipc_server_stop(&server);
        CHECK_CODE(join(&runner), NIPC_OK);
        /* Stopping is final. */
        CHECK_CODE(nipc_server_run(&server), NIPC_OK);
        CHECK_CODE(nipc_server_stats(&server, &stats), NIPC_OK);
        CHECK(stats.requests == 0);
        CHECK(nipc_server_drain(&server, 0));
        nipc_server_destroy(&server);
        CHECK_CODE(nipc_server_stats(&server, &stats), NIPC_ERR_NOT_INITIALIZED);
        nipc_server_destroy(&server);
    }
    CHECK(calls == 0);
}

/* Stopped before it runs: run returns at once. */
static void test_stop_before_run(void) {
    nipc_managed_server_t server;

    CHECK_CODE(init_kind(&server, 1, run_dir, "ts-early-stop", 1), NIPC_OK);
    nipc_server_stop(&server);
    CHECK_CODE(nipc_server_run(&server), NIPC_OK);
    CHECK_CODE(nipc_server_run(&server), NIPC_OK);
    nipc_server_destroy(&server);
    /* The endpoint is gone. */
    CHECK_CODE(init_kind(&server, 1, run_dir, "ts-early-stop", 1), NIPC_OK);
    nipc_server_destroy(&server);
}

/* Two threads run the same server: one gets BUSY, the other serves until
 * stopped. */
static void test_run_twice_is_busy(void) {
    nipc_managed_server_t server;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int returned = 0;
    runner_t a, b;
    nipc_error_t ra, rb;

    CHECK_CODE(init_kind(&server, 2, run_dir, "ts-busy", 1), NIPC_OK);
    start_counted(&a, &server, &lock, &cond, &returned);
    start_counted(&b, &server, &lock, &cond, &returned);
    /* The second run returns at once (BUSY); the first serves until stopped. */
    pthread_mutex_lock(&lock);
    while (returned == 0) {
        pthread_cond_wait(&cond, &lock);
    }
    CHECK(returned == 1);
    CHECK(a.result == NIPC_ERR_BUSY || b.result == NIPC_ERR_BUSY);
    pthread_mutex_unlock(&lock);
    nipc_server_stop(&server);
    ra = join(&a);
    rb = join(&b);
    CHECK((ra == NIPC_ERR_BUSY && rb == NIPC_OK) || (ra == NIPC_OK && rb == NIPC_ERR_BUSY));
    CHECK_LAST_ERROR(&server, "already running");
    nipc_server_destroy(&server);
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&lock);
}

/* Drain: of a running server and of one that never ran (its endpoint goes
 * at once). */
static void test_drain(void) {
    nipc_managed_server_t server;
    runner_t runner;

    CHECK_CODE(init_kind(&server, 0, run_dir, "ts-drain", 2), NIPC_OK);
    start(&runner, &server);
    CHECK(nipc_server_drain(&server, 5000));
    CHECK_CODE(join(&runner), NIPC_OK);
    CHECK(nipc_server_drain(&server, 0));
    nipc_server_destroy(&server);
    CHECK(!nipc_server_drain(&server, 0));

    CHECK_CODE(init_kind(&server, 0, run_dir, "ts-drain", 2), NIPC_OK);
    CHECK(nipc_server_drain(&server, 0));
    {
        nipc_managed_server_t again;
        CHECK_CODE(init_kind(&again, 0, run_dir, "ts-drain", 2), NIPC_OK);
        nipc_server_destroy(&again);
    }
    CHECK_CODE(nipc_server_run(&server), NIPC_OK);
    nipc_server_destroy(&server);
}

/* nipc_server_stop from a signal handler. */
static nipc_managed_server_t signalled;

static void on_signal(int sig) {
    (void)sig;
    nipc_server_stop(&signalled);
}

static void test_stop_from_a_signal_handler(void) {
    runner_t runner;

    CHECK_CODE(init_kind(&signalled, 0, run_dir, "ts-signal", 1), NIPC_OK);
    CHECK(signal(SIGINT, on_signal) != SIG_ERR);
    start(&runner, &signalled);
    CHECK(raise(SIGINT) == 0);
    CHECK_CODE(join(&runner), NIPC_OK);
    CHECK(signal(SIGINT, SIG_DFL) != SIG_ERR);
    nipc_server_destroy(&signalled);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_server RUN_DIR\n");
        return 2;
    }
    run_dir = argv[1];
    test_invalid_arguments();
    test_zeroed();
    test_missing_run_dir();
    test_address_in_use();
    test_run_and_stop();
    test_stop_before_run();
    test_run_twice_is_busy();
    test_drain();
    test_stop_from_a_signal_handler();
    CHECK(calls == 0);
    if (failures) {
        fprintf(stderr, "test_server: %d failures\n", failures);
        return 1;
    }
    printf("test_server: ok\n");
    return 0;
}
