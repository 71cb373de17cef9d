/* Typed calls against the Rust fixture provider over both profiles: the
 * snapshot, both lookups (a few keys and 32,768), their views and labels,
 * the counters, rebinding one context to another method, close and
 * reconnect, a provider whose handler fails, and saved payloads decoded
 * again. */
#include "fixture.h"

#define MANY 32768u

static char names[MANY][32];

static void check_snapshot(const nipc_cgroups_resp_view_t *view) {
    uint32_t i;
    CHECK(view->item_count == FX_SNAPSHOT_ITEMS);
    CHECK(view->generation == FX_GENERATION);
    CHECK(view->systemd_enabled == FX_SYSTEMD_ENABLED);
    CHECK(view->payload != NULL && view->payload_len > 24);
    for (i = 0; i < view->item_count; i++) {
        nipc_cgroups_item_view_t item;
        char name[32], path[64];
        snprintf(name, sizeof name, "cg-%u", i);
        snprintf(path, sizeof path, "/sys/fs/cgroup/cg-%u", i);
        CHECK_CODE(nipc_cgroups_resp_item(view, i, &item), NIPC_OK);
        CHECK(fx_str_is(item.name, name));
        CHECK(fx_str_is(item.path, path));
        CHECK(strcmp(item.name.ptr, name) == 0); /* NUL-terminated */
        CHECK(item.hash == nipc_netdata_hash(name));
        CHECK(item.options == i && item.enabled == i % 2);
    }
    {
        nipc_cgroups_item_view_t item;
        CHECK_CODE(nipc_cgroups_resp_item(view, view->item_count, &item),
                   NIPC_ERR_OUT_OF_BOUNDS);
        CHECK(item.name.ptr == NULL && item.hash == 0);
        CHECK_CODE(nipc_cgroups_resp_item(NULL, 0, &item), NIPC_ERR_INVALID_ARGUMENT);
        CHECK_CODE(nipc_cgroups_resp_item(view, 0, NULL), NIPC_ERR_INVALID_ARGUMENT);
    }
}

static void snapshot(const char *run_dir, const char *service, uint32_t profiles,
                     uint32_t expected_profile) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    nipc_client_status_t status;
    nipc_client_session_info_t info;
    int round;

    fx_connect(&ctx, run_dir, service, profiles);
    CHECK(nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_session_info(&ctx, &info), NIPC_OK);
    CHECK(info.profile == expected_profile);
    CHECK(info.shared_memory == (expected_profile == NIPC_PROFILE_SHM_HYBRID));
    for (round = 0; round < 3; round++) {
        CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_OK);
        check_snapshot(&view);
    }
    CHECK_CODE(nipc_client_call_cgroups_snapshot_timeout(&ctx, &view, 5000), NIPC_OK);
    check_snapshot(&view);
    CHECK(strcmp(nipc_client_last_error(&ctx), "") == 0);

    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.state == NIPC_CLIENT_READY);
    CHECK(status.connect_count == 1 && status.reconnect_count == 0);
    CHECK(status.call_count == 4 && status.error_count == 0);

    /* a refresh while ready changes nothing */
    CHECK(!nipc_client_refresh(&ctx));
    CHECK(nipc_client_ready(&ctx));

    /* close keeps the counters; refresh connects again */
    nipc_client_close(&ctx);
    CHECK(!nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_NOT_READY);
    CHECK(nipc_client_refresh(&ctx));
    CHECK(nipc_client_ready(&ctx));
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_OK);
    check_snapshot(&view);
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.connect_count == 2 && status.call_count == 5 && status.error_count == 1);
    nipc_client_close(&ctx);
    nipc_client_close(&ctx);
}

static void check_cgroups_item(const nipc_cgroups_lookup_resp_view_t *view, uint32_t index,
                               const char *path, uint32_t known_index) {
    nipc_cgroups_lookup_item_view_t item;
    nipc_label_t label;
    char name[32], value[16];
    CHECK_CODE(nipc_cgroups_lookup_resp_item(view, index, &item), NIPC_OK);
    CHECK(fx_str_is(item.path, path));
    if (known_index == (uint32_t)-1) {
        CHECK(item.status == NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT);
        CHECK(item.name.len == 0 && item.label_count == 0 && item.orchestrator == 0);
        CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_ERR_OUT_OF_BOUNDS);
        return;
    }
    snprintf(name, sizeof name, "cg-%u", known_index);
    snprintf(value, sizeof value, "%u", known_index);
    CHECK(item.status == NIPC_CGROUPS_LOOKUP_STATUS_KNOWN);
    CHECK(item.orchestrator == NIPC_ORCHESTRATOR_DOCKER);
    CHECK(fx_str_is(item.name, name));
    CHECK(item.label_count == 1);
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_OK);
    CHECK(fx_str_is(label.key, "index") && fx_str_is(label.value, value));
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 1, &label), NIPC_ERR_OUT_OF_BOUNDS);
    CHECK(label.key.ptr == NULL);
}

static void cgroups_lookup(const char *run_dir, const char *service, uint32_t profiles) {
    static nipc_str_view_t paths[MANY];
    nipc_client_ctx_t ctx;
    nipc_cgroups_lookup_resp_view_t view;
    nipc_client_status_t status;
    nipc_str_view_t few[3] = {
        {"/sys/fs/cgroup/cg-5", 19}, {"/retry/x", 8}, {"/not/known", 10}};
    nipc_cgroups_lookup_item_view_t item;
    uint32_t i;

    fx_connect(&ctx, run_dir, service, profiles);
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, few, 3, &view), NIPC_OK);
    CHECK(view.item_count == 3 && view.generation == FX_GENERATION);
    check_cgroups_item(&view, 0, "/sys/fs/cgroup/cg-5", 5);
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 1, &item), NIPC_OK);
    CHECK(item.status == NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_RETRY_LATER);
    check_cgroups_item(&view, 2, "/not/known", (uint32_t)-1);
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 3, &item), NIPC_ERR_OUT_OF_BOUNDS);

    /* zero keys: a generation probe */
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, NULL, 0, &view), NIPC_OK);
    CHECK(view.item_count == 0 && view.generation == FX_GENERATION);

    /* keys the client refuses before sending: an empty one as an argument
     * (not counted), one holding a NUL byte in the request encoder (a failed
     * call, codec.md 6.2) */
    {
        nipc_str_view_t empty = {"", 0};
        nipc_str_view_t nul = {"/a\0b", 4};
        CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, &empty, 1, &view),
                   NIPC_ERR_INVALID_ARGUMENT);
        CHECK(strstr(nipc_client_last_error(&ctx), "paths[0] is empty") != NULL);
        CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, &nul, 1, &view), NIPC_ERR_BAD_LAYOUT);
        CHECK(strstr(nipc_client_last_error(&ctx), "request path") != NULL);
        CHECK(nipc_client_ready(&ctx));
    }

    /* 32,768 keys in one logical call: answered in order */
    for (i = 0; i < MANY; i++) {
        int len = snprintf(names[i], sizeof names[i], "/sys/fs/cgroup/cg-%u", i * 7 % 50000);
        paths[i].ptr = names[i];
        paths[i].len = (uint32_t)len;
    }
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, paths, MANY, &view), NIPC_OK);
    CHECK(view.item_count == MANY && view.generation == FX_GENERATION);
    for (i = 0; i < MANY && failures < 10; i++) {
        uint32_t n = i * 7 % 50000;
        check_cgroups_item(&view, i, names[i], n < FX_KNOWN ? n : (uint32_t)-1);
    }
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.state == NIPC_CLIENT_READY && status.error_count == 1);
    CHECK(status.call_count >= 3); /* sub-calls count one each */

    /* a config limit below the key count */
    nipc_client_close(&ctx);
    {
        nipc_client_config_t config;
        memset(&config, 0, sizeof config);
        config.supported_profiles = profiles;
        config.max_logical_lookup_items = 2;
        CHECK_CODE(nipc_client_init(&ctx, run_dir, service, &config), NIPC_OK);
        CHECK_CODE(nipc_client_wait_ready(&ctx, 10000), NIPC_OK);
        CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, few, 3, &view), NIPC_ERR_OVERFLOW);
        CHECK(strstr(nipc_client_last_error(&ctx), "max_lookup_items") != NULL);
        CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, few, 2, &view), NIPC_OK);
        nipc_client_close(&ctx);
    }
}

static void check_apps_item(const nipc_apps_lookup_resp_view_t *view, uint32_t index,
                            uint32_t pid) {
    nipc_apps_lookup_item_view_t item;
    nipc_label_t label;
    char comm[32], path[64], name[32], value[16];
    CHECK_CODE(nipc_apps_lookup_resp_item(view, index, &item), NIPC_OK);
    CHECK(item.pid == pid);
    if (pid == 0 || pid > FX_KNOWN) {
        CHECK(item.status == NIPC_APPS_LOOKUP_STATUS_UNKNOWN);
        CHECK(item.uid == NIPC_UID_UNSET && item.comm.len == 0 && item.label_count == 0);
        CHECK(item.comm.ptr != NULL && item.comm.ptr[0] == '\0');
        return;
    }
    snprintf(comm, sizeof comm, "proc-%u", pid);
    snprintf(path, sizeof path, "/sys/fs/cgroup/cg-%u", pid % 16);
    snprintf(name, sizeof name, "cg-%u", pid % 16);
    snprintf(value, sizeof value, "%u", pid);
    CHECK(item.status == NIPC_APPS_LOOKUP_STATUS_KNOWN);
    CHECK(item.cgroup_status == NIPC_APPS_CGROUP_STATUS_KNOWN);
    CHECK(item.orchestrator == NIPC_ORCHESTRATOR_DOCKER);
    CHECK(item.ppid == pid / 2 && item.uid == 1000 + pid % 3);
    CHECK(item.starttime == 100 * (uint64_t)pid);
    CHECK(fx_str_is(item.comm, comm));
    CHECK(fx_str_is(item.cgroup_path, path));
    CHECK(fx_str_is(item.cgroup_name, name));
    CHECK(item.label_count == 1);
    CHECK_CODE(nipc_apps_lookup_item_label(&item, 0, &label), NIPC_OK);
    CHECK(fx_str_is(label.key, "pid") && fx_str_is(label.value, value));
    CHECK_CODE(nipc_apps_lookup_item_label(&item, 1, &label), NIPC_ERR_OUT_OF_BOUNDS);
}

static void apps_lookup(const char *run_dir, const char *service, uint32_t profiles) {
    static uint32_t pids[MANY];
    nipc_client_ctx_t ctx;
    nipc_apps_lookup_resp_view_t view;
    uint32_t few[4] = {1, 12345, 0, 99999};
    uint32_t i;

    fx_connect(&ctx, run_dir, service, profiles);
    CHECK_CODE(nipc_client_call_apps_lookup_timeout(&ctx, few, 4, &view, 5000), NIPC_OK);
    CHECK(view.item_count == 4 && view.generation == FX_GENERATION);
    for (i = 0; i < 4; i++) {
        check_apps_item(&view, i, few[i]);
    }
    for (i = 0; i < MANY; i++) {
        pids[i] = (i * 13 + 1) % 45000;
    }
    CHECK_CODE(nipc_client_call_apps_lookup(&ctx, pids, MANY, &view), NIPC_OK);
    CHECK(view.item_count == MANY);
    for (i = 0; i < MANY && failures < 10; i++) {
        check_apps_item(&view, i, pids[i]);
    }
    nipc_client_close(&ctx);
}

/* One context, three methods: the snapshot provider answers the others
 * with an error status, and the context keeps its session and counters. */
static void rebinding(const char *run_dir) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t snap;
    nipc_cgroups_lookup_resp_view_t cgl;
    nipc_apps_lookup_resp_view_t apps;
    nipc_client_status_t status;
    nipc_str_view_t path = {"/sys/fs/cgroup/cg-1", 19};
    uint32_t pid = 3;

    fx_connect(&ctx, run_dir, FX_SNAPSHOT, 0);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &snap), NIPC_OK);
    CHECK_CODE(nipc_client_call_cgroups_lookup(&ctx, &path, 1, &cgl), NIPC_ERR_REJECTED);
    CHECK(strstr(nipc_client_last_error(&ctx), "UNSUPPORTED") != NULL);
    CHECK(cgl.payload == NULL);
    CHECK_CODE(nipc_client_call_apps_lookup(&ctx, &pid, 1, &apps), NIPC_ERR_REJECTED);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &snap), NIPC_OK);
    check_snapshot(&snap);
    CHECK_CODE(nipc_client_status(&ctx, &status), NIPC_OK);
    CHECK(status.state == NIPC_CLIENT_READY);
    CHECK(status.connect_count == 1 && status.reconnect_count == 0);
    CHECK(status.call_count == 2 && status.error_count == 2);
    nipc_client_close(&ctx);
}

static void failing_handler(const char *run_dir) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view;
    fx_connect(&ctx, run_dir, FX_FAILING, 0);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_ERR_REJECTED);
    CHECK(strstr(nipc_client_last_error(&ctx), "INTERNAL_ERROR") != NULL);
    CHECK(view.payload == NULL && view.item_count == 0);
    CHECK(nipc_client_ready(&ctx));
    nipc_client_close(&ctx);
}

/* A payload copied out of a call decodes again into the same view. */
static void saved_payloads(const char *run_dir) {
    nipc_client_ctx_t ctx;
    nipc_cgroups_resp_view_t view, again;
    unsigned char *saved;
    fx_connect(&ctx, run_dir, FX_SNAPSHOT, 0);
    CHECK_CODE(nipc_client_call_cgroups_snapshot(&ctx, &view), NIPC_OK);
    saved = malloc(view.payload_len);
    CHECK(saved != NULL);
    if (saved != NULL) {
        memcpy(saved, view.payload, view.payload_len);
        nipc_client_close(&ctx);
        CHECK_CODE(nipc_cgroups_resp_decode(saved, view.payload_len, &again), NIPC_OK);
        check_snapshot(&again);
        CHECK(again.payload == saved);
        free(saved);
    } else {
        nipc_client_close(&ctx);
    }
}

int main(int argc, char **argv) {
    const char *run_dir = fx_run_dir(argc, argv);
    snapshot(run_dir, FX_SNAPSHOT, 0, NIPC_PROFILE_SHM_HYBRID);
    snapshot(run_dir, FX_SNAPSHOT, NIPC_PROFILE_BASELINE, NIPC_PROFILE_BASELINE);
    snapshot(run_dir, FX_SNAPSHOT_BASELINE, 0, NIPC_PROFILE_BASELINE);
    cgroups_lookup(run_dir, FX_CGROUPS_LOOKUP, 0);
    cgroups_lookup(run_dir, FX_CGROUPS_LOOKUP_BASELINE, 0);
    apps_lookup(run_dir, FX_APPS_LOOKUP, 0);
    apps_lookup(run_dir, FX_APPS_LOOKUP_BASELINE, NIPC_PROFILE_BASELINE);
    rebinding(run_dir);
    failing_handler(run_dir);
    saved_payloads(run_dir);
    return fx_finish("test_client_calls");
}
