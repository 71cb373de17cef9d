/*
 * cgroups_provider.c - a complete netipc provider in C: Netdata's
 * cgroups-snapshot service (a few cgroups) and its cgroups-lookup service
 * (the same cgroups by path). One source for Linux and Windows.
 *
 *     cgroups_provider RUN_DIR [SECONDS]
 *
 * RUN_DIR must exist; on Linux it must belong to you (or root) and not be
 * writable by others (for example: mkdir -m 700 /tmp/netipc-demo). Serves
 * until Ctrl-C, or for SECONDS seconds when given; then prints what it
 * served and exits 0.
 *
 * Build (Linux):   cc -std=c11 -I<prefix>/include cgroups_provider.c
 *                     <prefix>/lib/libnetipc_c.a -lpthread -ldl -lm -o cgroups_provider
 * Build (Windows): x86_64-w64-mingw32-gcc -std=c11 -I<prefix>/include cgroups_provider.c
 *                     <prefix>/lib/libnetipc_c.a -lws2_32 -luserenv -lntdll -lbcrypt
 *                     -ladvapi32 -static -lpthread -o cgroups_provider.exe
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for the optional time limit */

#include <netipc/netipc_service.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The data this provider publishes (a real one reads the cgroup tree). */
typedef struct cgroup {
    const char *name;
    const char *path;
    uint32_t options;
    uint16_t orchestrator;
    const char *image; /* a label when not NULL */
} cgroup_t;

static const cgroup_t cgroups[] = {
    {"system.slice", "/sys/fs/cgroup/system.slice", 0, NIPC_ORCHESTRATOR_SYSTEMD, NULL},
    {"docker-1a2b3c", "/sys/fs/cgroup/system.slice/docker-1a2b3c.scope", 0,
     NIPC_ORCHESTRATOR_DOCKER, "nginx:1.27"},
    {"qemu-1-web", "/sys/fs/cgroup/machine.slice/machine-qemu-1-web.scope", 0,
     NIPC_ORCHESTRATOR_KVM, NULL},
    {"user-1000.slice", "/sys/fs/cgroup/user.slice/user-1000.slice", 0,
     NIPC_ORCHESTRATOR_SYSTEMD, NULL},
};
#define CGROUPS (sizeof cgroups / sizeof cgroups[0])
#define GENERATION 1u

/* What the handlers share. They run on the servers' worker threads,
 * several at once: what they change is protected by `lock`. */
typedef struct provider {
    pthread_mutex_t lock;
    unsigned long snapshots;
    unsigned long lookups;
    unsigned long paths;
} provider_t;

static provider_t provider = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

/* cgroups-snapshot: every cgroup, every time. */
static bool snapshot(void *user, const nipc_cgroups_req_t *req, nipc_cgroups_builder_t *b) {
    provider_t *p = user;
    size_t i;
    (void)req;
    nipc_cgroups_builder_set_header(b, 1 /* systemd_enabled */, GENERATION);
    for (i = 0; i < CGROUPS; i++) {
        const cgroup_t *cg = &cgroups[i];
        nipc_error_t err = nipc_cgroups_builder_add(
            b, nipc_netdata_hash(cg->name), cg->options, 1 /* enabled */, cg->name,
            (uint32_t)strlen(cg->name), cg->path, (uint32_t)strlen(cg->path));
        if (err != NIPC_OK) {
            /* NIPC_ERR_OVERFLOW: the client asks again with more room. */
            return false;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->snapshots++;
    pthread_mutex_unlock(&p->lock);
    return true;
}

/* cgroups-lookup: one answer per requested path, in order. */
static bool lookup(void *user, const nipc_cgroups_lookup_req_view_t *req,
                   nipc_cgroups_lookup_builder_t *b) {
    provider_t *p = user;
    uint32_t i;
    nipc_cgroups_lookup_builder_set_generation(b, GENERATION);
    for (i = 0; i < req->item_count; i++) {
        const cgroup_t *found = NULL;
        nipc_str_view_t path;
        nipc_error_t err;
        size_t c;
        if (nipc_cgroups_lookup_req_path(req, i, &path) != NIPC_OK) {
            return false;
        }
        for (c = 0; c < CGROUPS; c++) {
            if (strlen(cgroups[c].path) == path.len &&
                memcmp(cgroups[c].path, path.ptr, path.len) == 0) {
                found = &cgroups[c];
            }
        }
        if (found == NULL) {
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, i, NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT, 0, NULL, 0, NULL, 0);
        } else {
            nipc_label_t image = {{"image", 5}, {found->image, 0}};
            uint32_t labels = 0;
            if (found->image != NULL) {
                image.value.len = (uint32_t)strlen(found->image);
                labels = 1;
            }
            err = nipc_cgroups_lookup_builder_add_request_item(
                b, req, i, NIPC_CGROUPS_LOOKUP_STATUS_KNOWN, found->orchestrator, found->name,
                (uint32_t)strlen(found->name), &image, labels);
        }
        if (err != NIPC_OK) {
            return false;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->lookups++;
    p->paths += req->item_count;
    pthread_mutex_unlock(&p->lock);
    return true;
}

static nipc_managed_server_t snapshot_server;
static nipc_managed_server_t lookup_server;

/* Ctrl-C: nipc_server_stop may be called from a signal handler. */
static void on_signal(int sig) {
    (void)sig;
    nipc_server_stop(&snapshot_server);
    nipc_server_stop(&lookup_server);
}

/* The optional time limit: stops both servers after `seconds`, unless
 * main says it is done first. */
typedef struct timer {
    pthread_mutex_t lock;
    pthread_cond_t done_changed;
    int done;
    long seconds;
} deadline_t;

static void *time_limit(void *arg) {
    deadline_t *t = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += t->seconds;
    pthread_mutex_lock(&t->lock);
    while (!t->done) {
        if (pthread_cond_timedwait(&t->done_changed, &t->lock, &until) != 0) {
            break; /* the time is up */
        }
    }
    pthread_mutex_unlock(&t->lock);
    nipc_server_stop(&snapshot_server);
    nipc_server_stop(&lookup_server);
    return NULL;
}

static void *run_lookup(void *arg) {
    nipc_error_t *result = arg;
    *result = nipc_server_run(&lookup_server);
    return NULL;
}

int main(int argc, char **argv) {
    nipc_server_config_t config;
    nipc_cgroups_service_handler_t snapshot_handler = {snapshot, 0, &provider};
    nipc_cgroups_lookup_service_handler_t lookup_handler = {lookup, &provider};
    deadline_t timer = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t lookup_thread, timer_thread;
    nipc_error_t snapshot_result, lookup_result = NIPC_OK, err;
    nipc_server_stats_t snapshot_stats, lookup_stats;
    size_t i;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: cgroups_provider RUN_DIR [SECONDS]\n");
        return 2;
    }
    if (argc == 3) {
        timer.seconds = strtol(argv[2], NULL, 10);
    }
    memset(&config, 0, sizeof config); /* zero: the defaults (both transports) */

    /* Init creates the endpoints: from here on clients can connect. */
    err = nipc_server_init_typed(&snapshot_server, argv[1], NIPC_CGROUPS_SNAPSHOT_SERVICE,
                                 &config, 2, &snapshot_handler);
    if (err != NIPC_OK) {
        fprintf(stderr, "cgroups_provider: %s\n", nipc_server_last_error(&snapshot_server));
        return 1;
    }
    err = nipc_server_init_cgroups_lookup(&lookup_server, argv[1], NIPC_CGROUPS_LOOKUP_SERVICE,
                                          &config, 2, &lookup_handler);
    if (err != NIPC_OK) {
        fprintf(stderr, "cgroups_provider: %s\n", nipc_server_last_error(&lookup_server));
        nipc_server_destroy(&snapshot_server);
        return 1;
    }
    printf("cgroups_provider: serving %s and %s in %s, generation %u:\n",
           NIPC_CGROUPS_SNAPSHOT_SERVICE, NIPC_CGROUPS_LOOKUP_SERVICE, argv[1], GENERATION);
    for (i = 0; i < CGROUPS; i++) {
        printf("  %-16s %08x  %s\n", cgroups[i].name, (unsigned)nipc_netdata_hash(cgroups[i].name),
               cgroups[i].path);
    }
    if (timer.seconds > 0) {
        printf("cgroups_provider: stopping after %ld s (or on Ctrl-C)\n", timer.seconds);
    } else {
        printf("cgroups_provider: Ctrl-C stops\n");
    }
    fflush(stdout);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (pthread_create(&lookup_thread, NULL, run_lookup, &lookup_result) != 0) {
        fprintf(stderr, "cgroups_provider: cannot start a thread\n");
        nipc_server_destroy(&lookup_server);
        nipc_server_destroy(&snapshot_server);
        return 1;
    }
    if (timer.seconds > 0 && pthread_create(&timer_thread, NULL, time_limit, &timer) != 0) {
        fprintf(stderr, "cgroups_provider: cannot start a thread\n");
        timer.seconds = 0;
        on_signal(0); /* stop at once */
    }

    snapshot_result = nipc_server_run(&snapshot_server); /* blocks until stopped */

    nipc_server_stop(&lookup_server);
    pthread_join(lookup_thread, NULL);
    if (timer.seconds > 0) {
        pthread_mutex_lock(&timer.lock);
        timer.done = 1;
        pthread_cond_signal(&timer.done_changed);
        pthread_mutex_unlock(&timer.lock);
        pthread_join(timer_thread, NULL);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

    nipc_server_stats(&snapshot_server, &snapshot_stats);
    nipc_server_stats(&lookup_server, &lookup_stats);
    if (snapshot_result != NIPC_OK || lookup_result != NIPC_OK) {
        fprintf(stderr, "cgroups_provider: %s / %s\n", nipc_server_last_error(&snapshot_server),
                nipc_server_last_error(&lookup_server));
    }
    printf("cgroups_provider: stopped: %lu snapshots and %lu lookups (%lu paths) answered, "
           "%llu sessions, %llu failed requests\n",
           provider.snapshots, provider.lookups, provider.paths,
           (unsigned long long)(snapshot_stats.sessions_opened + lookup_stats.sessions_opened),
           (unsigned long long)(snapshot_stats.failed_requests + lookup_stats.failed_requests));
    nipc_server_destroy(&lookup_server);
    nipc_server_destroy(&snapshot_server);
    return snapshot_result == NIPC_OK && lookup_result == NIPC_OK ? 0 : 1;
}
