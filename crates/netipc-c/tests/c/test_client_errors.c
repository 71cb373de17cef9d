/* Calls that fail on purpose against the Rust fixture provider: time limits
 * (per call and per context), an abort from another thread while a call
 * waits, the abort flag until cleared, and a wrong auth token. */
#define _POSIX_C_SOURCE 200809L
#include "fixture.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&t, &t) != 0) {
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void timeouts(const char *run_dir) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    nipc_client_status_t status;
    double started;

    fx_connect(&ctx, run_dir, FX_SLOW, 0);
    started = now_ms();
    CHECK_CODE(nipc_client_call_cgroups_snapshot_timeout(&ctx, &view, 200), NIPC_ERR_TIMEOUT);
    CHECK(now_ms() - started < FX_SLOW_MS / 2); /* the provider did not answer */
    CHECK(strstr(nipc_client_last_error(&ctx), "timed out") != NULL);
    CHECK(view.payload == NULL);
    CHECK(fx_state(&ctx) == NIPC_CLIENT_BROKEN);

    /* the context's timeout, then 0 restoring the default */
    CHECK(nipc_client_refresh(&ctx));
    CHECK(nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_set_call_timeout(&ctx, 150), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_TIMEOUT);
    CHECK(strstr(nipc_client_last_error(&ctx), "after 150ms") != NULL);
    CHECK_CODE(nipc_client_set_call_timeout(&ctx, 0), NIPC_OK);
    CHECK(nipc_client_refresh(&ctx));
    /* the timeout of the context survives a close */
    CHECK_CODE(nipc_client_set_call_timeout(&ctx, 100), NIPC_OK);
    nipc_client_close(&ctx);
    CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_TIMEOUT);
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.error_count == 3 && status.call_count == 0);
    CHECK(status.connect_count == 2 && status.reconnect_count == 2);
    nipc_client_close(&ctx);
}

struct call {
    nipc_client_ctx_t *ctx;
    nipc_error_t result;
    double elapsed_ms;
};

static void *slow_call(void *arg) {
    struct call *call = arg;
    nipc_cgroups_resp_view_t view;
    double started = now_ms();
    call->result = nipc_client_call_cgroups_snapshot_timeout(call->ctx, &view, 60000);
    call->elapsed_ms = now_ms() - started;
    return NULL;
}

static void abort_from_another_thread(const char *run_dir) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    nipc_client_status_t status;
    struct call call;
    pthread_t thread;

    fx_connect(&ctx, run_dir, FX_SLOW, 0);
    call.ctx = &ctx;
    call.result = NIPC_OK;
    CHECK(pthread_create(&thread, NULL, slow_call, &call) == 0);
    sleep_ms(300);
    /* while the call waits: these never block */
    CHECK(nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK_CODE(nipc_client_abort(&ctx), NIPC_OK);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_CODE(call.result, NIPC_ERR_ABORTED);
    CHECK(call.elapsed_ms < FX_SLOW_MS / 2); /* well before the answer */
    CHECK(strstr(nipc_client_last_error(&ctx), "nipc_client_clear_abort") != NULL);
    CHECK(fx_state(&ctx) == NIPC_CLIENT_BROKEN);

    /* the flag stays until cleared: reconnecting works, calls do not */
    CHECK(nipc_client_refresh(&ctx));
    CHECK(nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_ABORTED);
    CHECK_CODE(nipc_client_clear_abort(&ctx), NIPC_OK);
    CHECK(nipc_client_ready(&ctx));
    nipc_client_close(&ctx);

    /* close clears it too */
    fx_connect(&ctx, run_dir, FX_SNAPSHOT, 0);
    CHECK_CODE(nipc_client_abort(&ctx), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_ABORTED);
    nipc_client_close(&ctx);
    CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_OK);
    CHECK(view.item_count == FX_SNAPSHOT_ITEMS);

    /* an abort before the context connects: connecting is not a call */
    nipc_client_close(&ctx);
    CHECK_CODE(nipc_client_abort(&ctx), NIPC_OK);
    CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_ABORTED);
    nipc_client_close(&ctx);
}

static void *abort_later(void *arg) {
    sleep_ms(300);
    nipc_client_abort(arg);
    return NULL;
}

/* An abort ends a wait for a provider that does not come. */
static void abort_wait_ready(const char *run_dir) {
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    pthread_t thread;
    double started;
    memset(&config, 0, sizeof config);
    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_NOBODY, &config), NIPC_OK);
    CHECK(pthread_create(&thread, NULL, abort_later, &ctx) == 0);
    started = now_ms();
    CHECK_CODE(nipc_client_wait_ready(&ctx, 60000), NIPC_ERR_ABORTED);
    CHECK(now_ms() - started < 30000);
    CHECK(pthread_join(thread, NULL) == 0);
    nipc_client_close(&ctx);
}

static void wrong_auth_token(const char *run_dir) {
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    memset(&config, 0, sizeof config);
    config.auth_token = FX_AUTH_TOKEN + 1;
    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_AUTH, &config), NIPC_OK);
    CHECK(nipc_client_refresh(&ctx));
    CHECK(fx_state(&ctx) == NIPC_CLIENT_AUTH_FAILED);
    CHECK(strstr(nipc_client_last_error(&ctx), "auth") != NULL);
    /* sticky: refresh does nothing, wait_ready fails at once */
    CHECK(!nipc_client_refresh(&ctx));
    CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_ERR_AUTH_FAILED);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_NOT_READY);
    nipc_client_close(&ctx);

    config.auth_token = FX_AUTH_TOKEN;
    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_AUTH, &config), NIPC_OK);
    CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_OK);
    CHECK(view.item_count == FX_SNAPSHOT_ITEMS);
    nipc_client_close(&ctx);
}

int main(int argc, char **argv) {
    const char *run_dir = fx_run_dir(argc, argv);
    timeouts(run_dir);
    abort_from_another_thread(run_dir);
    abort_wait_ready(run_dir);
    wrong_auth_token(run_dir);
    return fx_finish("test_client_errors");
}
