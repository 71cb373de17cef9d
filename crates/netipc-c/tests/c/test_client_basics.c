/* Client contexts without a provider: every function's argument errors,
 * zeroed and closed contexts, the state machine when nobody serves the
 * service, and what the last error says. */
#include "fixture.h"

/* Every function on a context that must refuse with code. */
static void refuses_everything(nipc_client_ctx_t *ctx, nipc_error_t code) {
    nipc_cgroups_resp_view_t snap;
    nipc_cgroups_lookup_resp_view_t cgl;
    nipc_apps_lookup_resp_view_t apps;
    nipc_client_status_t status;
    nipc_client_session_info_t info;
    uint32_t pid = 1;
    nipc_str_view_t path = {"/x", 2};

    CHECK(!nipc_client_refresh(ctx));
    CHECK(!nipc_client_ready(ctx));
    CHECK_CODE(nipc_client_wait_ready(ctx, 0), code);
    CHECK_CODE(nipc_client_set_call_timeout(ctx, 10), code);
    CHECK_CODE(nipc_client_abort(ctx), code);
    CHECK_CODE(nipc_client_clear_abort(ctx), code);
    CHECK_CODE(nipc_client_session_info(ctx, &info), code);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(ctx, &snap), code);
    CHECK(snap.payload == NULL && snap.item_count == 0);
    CHECK_CODE(nipc_client_call_cgroups_snapshot_timeout(ctx, &snap, 5), code);
    CHECK_CODE(nipc_client_call_cgroups_lookup(ctx, &path, 1, &cgl), code);
    CHECK_CODE(nipc_client_call_cgroups_lookup_timeout(ctx, &path, 1, &cgl, 5), code);
    CHECK_CODE(nipc_client_call_apps_lookup(ctx, &pid, 1, &apps), code);
    CHECK_CODE(nipc_client_call_apps_lookup_timeout(ctx, &pid, 1, &apps, 5), code);
    if (code == NIPC_ERR_INVALID_ARGUMENT && ctx != NULL) {
        /* an initialised context with bad arguments still has a status */
        CHECK_CODE(nipc_client_status(ctx, &status), NIPC_OK);
        CHECK(status.state == NIPC_CLIENT_DISCONNECTED);
    } else {
        CHECK_CODE(nipc_client_status(ctx, &status), code);
        CHECK(status.state == NIPC_CLIENT_DISCONNECTED && status.call_count == 0);
    }
    CHECK(nipc_client_last_error(ctx) != NULL);
    if (code == NIPC_ERR_INVALID_ARGUMENT && ctx != NULL) {
        CHECK(strstr(nipc_client_last_error(ctx), "nipc_client_init: ") != NULL);
    }
    nipc_client_close(ctx);
    nipc_client_close(ctx);
}

static void null_and_zeroed_contexts(void) {
    nipc_client_ctx_t zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    refuses_everything(NULL, NIPC_ERR_INVALID_ARGUMENT);
    refuses_everything(&zeroed, NIPC_ERR_NOT_INITIALIZED);
    CHECK(strstr(nipc_client_last_error(NULL), "NULL") != NULL);
    CHECK(strstr(nipc_client_last_error(&zeroed), "not initialized") != NULL);
}

static void bad_init_arguments(const char *run_dir) {
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    char long_name[200];
    memset(&config, 0, sizeof config);
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';

    CHECK_CODE(nipc_client_init(NULL, run_dir, FX_NOBODY, &config), NIPC_ERR_INVALID_ARGUMENT);

    CHECK_CODE(nipc_client_init(&ctx, NULL, FX_NOBODY, &config), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "run_dir") != NULL);
    refuses_everything(&ctx, NIPC_ERR_INVALID_ARGUMENT);
    /* close freed the message too */
    CHECK(strcmp(nipc_client_last_error(&ctx), "") == 0);

    CHECK_CODE(nipc_client_init(&ctx, run_dir, NULL, &config), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "service_name") != NULL);
    refuses_everything(&ctx, NIPC_ERR_INVALID_ARGUMENT);

    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_NOBODY, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "config") != NULL);
    refuses_everything(&ctx, NIPC_ERR_INVALID_ARGUMENT);

    CHECK_CODE(nipc_client_init(&ctx, run_dir, long_name, &config), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "at most 127") != NULL);
    refuses_everything(&ctx, NIPC_ERR_INVALID_ARGUMENT);

    CHECK_CODE(nipc_client_init(&ctx, run_dir, "\xff\xfe", &config), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "UTF-8") != NULL);
    refuses_everything(&ctx, NIPC_ERR_INVALID_ARGUMENT);
}

static void no_provider(const char *run_dir) {
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    nipc_client_status_t status;
    nipc_cgroups_resp_view_t snap;
    memset(&config, 0, sizeof config);

    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_NOBODY, &config), NIPC_OK);
    CHECK(fx_state(&ctx) == NIPC_CLIENT_DISCONNECTED);
    CHECK(strcmp(nipc_client_last_error(&ctx), "") == 0);

    /* a call before refresh: NOT_READY without I/O, counted */
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &snap), NIPC_ERR_NOT_READY);
    CHECK(strstr(nipc_client_last_error(&ctx), "not connected") != NULL);

    /* the first refresh changes the state, the second does not */
    CHECK(nipc_client_refresh(&ctx));
    CHECK(fx_state(&ctx) == NIPC_CLIENT_NOT_FOUND);
    CHECK(!nipc_client_ready(&ctx));
    CHECK(strstr(nipc_client_last_error(&ctx), FX_NOBODY) != NULL);
    CHECK(!nipc_client_refresh(&ctx));
    CHECK(fx_state(&ctx) == NIPC_CLIENT_NOT_FOUND);

    CHECK_CODE(nipc_client_wait_ready(&ctx, 0), NIPC_ERR_NOT_FOUND);
    CHECK_CODE(nipc_client_wait_ready(&ctx, 100), NIPC_ERR_NOT_FOUND);
    CHECK(strstr(nipc_client_last_error(&ctx), FX_NOBODY) != NULL);

    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &snap), NIPC_ERR_NOT_READY);
    CHECK(strstr(nipc_client_last_error(&ctx), FX_NOBODY) != NULL);
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.state == NIPC_CLIENT_NOT_FOUND);
    CHECK(status.connect_count == 0 && status.call_count == 0);
    CHECK(status.error_count == 2);
    CHECK_CODE(nipc_client_session_info(&ctx, NULL), NIPC_ERR_INVALID_ARGUMENT);
    {
        nipc_client_session_info_t info;
        CHECK_CODE(nipc_client_session_info(&ctx, &info), NIPC_ERR_NOT_READY);
        CHECK(info.profile == 0);
    }

    /* close keeps the context and its counters; closing twice is fine */
    nipc_client_close(&ctx);
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.state == NIPC_CLIENT_DISCONNECTED && status.error_count == 2);
    nipc_client_close(&ctx);
    CHECK(nipc_client_refresh(&ctx));
    CHECK(fx_state(&ctx) == NIPC_CLIENT_NOT_FOUND);
    nipc_client_close(&ctx);
}

static void missing_run_dir(const char *run_dir) {
    char dir[512];
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    memset(&config, 0, sizeof config);
    snprintf(dir, sizeof dir, "%s/no-such-directory", run_dir);
    CHECK_CODE(nipc_client_init(&ctx, dir, FX_SNAPSHOT, &config), NIPC_OK);
    CHECK(nipc_client_refresh(&ctx));
    CHECK(!nipc_client_ready(&ctx));
    CHECK(strstr(nipc_client_last_error(&ctx), "no-such-directory") != NULL);
    nipc_client_close(&ctx);
}

static void null_arguments_of_calls(const char *run_dir) {
    nipc_client_config_t config;
    nipc_client_ctx_t ctx;
    nipc_cgroups_lookup_resp_view_t cgl;
    nipc_apps_lookup_resp_view_t apps;
    nipc_str_view_t paths[2] = {{"/a", 2}, {NULL, 3}};
    memset(&config, 0, sizeof config);
    CHECK_CODE(nipc_client_init(&ctx, run_dir, FX_NOBODY, &config), NIPC_OK);
    CHECK_CODE(nipc_client_status(&ctx, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, paths, 1, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_client_call_apps_lookup(&ctx, NULL, 0, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, NULL, 3, &cgl), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "count is 3") != NULL);
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, paths, 2, &cgl), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "paths[1] is NULL") != NULL);
    CHECK_CODE(nipc_client_call_apps_lookup(&ctx, NULL, 2, &apps), NIPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nipc_client_last_error(&ctx), "pids is NULL") != NULL);
    /* checked before anything else: no error counted */
    {
        nipc_client_status_t status;
        CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
        CHECK(status.error_count == 0);
    }
    /* zero keys with NULL arrays are valid calls (not ready here) */
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, NULL, 0, &cgl), NIPC_ERR_NOT_READY);
    CHECK_CODE(nipc_client_call_apps_lookup(&ctx, NULL, 0, &apps), NIPC_ERR_NOT_READY);
    nipc_client_close(&ctx);
}

int main(int argc, char **argv) {
    const char *run_dir = fx_run_dir(argc, argv);
    null_and_zeroed_contexts();
    bad_init_arguments(run_dir);
    no_provider(run_dir);
    missing_run_dir(run_dir);
    null_arguments_of_calls(run_dir);
    return fx_finish("test_client_basics");
}
