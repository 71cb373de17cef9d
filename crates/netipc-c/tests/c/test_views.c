/* Response views decoded from bytes (codec.md examples and broken copies of
 * them): nipc_*_resp_decode, the item and label accessors, and their
 * argument errors. No provider needed. */
#include "fixture.h"

static uint8_t buf[256];

static void put16(size_t at, uint16_t v) { memcpy(buf + at, &v, 2); }
static void put32(size_t at, uint32_t v) { memcpy(buf + at, &v, 4); }
static void put64(size_t at, uint64_t v) { memcpy(buf + at, &v, 8); }

/* codec.md 4.4: one item {hash 1, options 0, enabled 1, "test", "/test"},
 * generation 9, systemd_enabled 3: 75 bytes. */
static size_t snapshot_example(void) {
    memset(buf, 0, sizeof buf);
    put16(0, 1);
    put32(4, 1);
    put32(8, 3);
    put64(16, 9);
    put32(24, 0);  /* directory: offset */
    put32(28, 43); /* length */
    put16(32, 1);
    put32(36, 1);  /* hash */
    put32(44, 1);  /* enabled */
    put32(48, 32); /* name */
    put32(52, 4);
    put32(56, 37); /* path */
    put32(60, 5);
    memcpy(buf + 64, "test\0/test\0", 11);
    return 75;
}

static void snapshots(void) {
    nipc_cgroups_resp_view_t view;
    nipc_cgroups_item_view_t item;
    size_t len = snapshot_example();

    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_OK);
    CHECK(view.item_count == 1 && view.generation == 9 && view.systemd_enabled == 3);
    CHECK(view.payload == buf && view.payload_len == 75);
    CHECK_CODE(nipc_cgroups_resp_item(&view, 0, &item), NIPC_OK);
    CHECK(item.hash == 1 && item.options == 0 && item.enabled == 1);
    CHECK(fx_str_is(item.name, "test") && fx_str_is(item.path, "/test"));
    CHECK_CODE(nipc_cgroups_resp_item(&view, 1, &item), NIPC_ERR_OUT_OF_BOUNDS);

    CHECK_CODE(nipc_cgroups_resp_decode(buf, 23, &view), NIPC_ERR_TRUNCATED);
    CHECK(view.payload == NULL && view.item_count == 0);
    CHECK_CODE(nipc_cgroups_resp_decode(NULL, 0, &view), NIPC_ERR_TRUNCATED);
    CHECK_CODE(nipc_cgroups_resp_decode(NULL, 75, &view), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_cgroups_resp_decode(buf, (size_t)1 << 33, &view), NIPC_ERR_INVALID_ARGUMENT);

    put16(2, 1); /* header flags */
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_ERR_BAD_LAYOUT);
    snapshot_example();
    put32(24, 4); /* directory offset */
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_ERR_BAD_ALIGNMENT);
    snapshot_example();
    put32(28, 31); /* item length */
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_ERR_TRUNCATED);

    /* items are checked when read */
    snapshot_example();
    buf[68] = 'x'; /* the name's NUL */
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_OK);
    CHECK_CODE(nipc_cgroups_resp_item(&view, 0, &item), NIPC_ERR_MISSING_NUL);
    CHECK(item.name.ptr == NULL);
    snapshot_example();
    put32(48, 31); /* name offset inside the header */
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_OK);
    CHECK_CODE(nipc_cgroups_resp_item(&view, 0, &item), NIPC_ERR_OUT_OF_BOUNDS);

    /* a view whose fields the caller broke is checked again, not trusted */
    snapshot_example();
    CHECK_CODE(nipc_cgroups_resp_decode(buf, len, &view), NIPC_OK);
    view.payload_len = 40;
    CHECK(nipc_cgroups_resp_item(&view, 0, &item) != NIPC_OK);
    view.payload = NULL;
    CHECK_CODE(nipc_cgroups_resp_item(&view, 0, &item), NIPC_ERR_INVALID_ARGUMENT);
    memset(&view, 0, sizeof view);
    CHECK(nipc_cgroups_resp_item(&view, 0, &item) != NIPC_OK);
}

/* codec.md 6.5: KNOWN, path "/p", name "n", one label k=v (60-byte item),
 * generation 5, in a one-item response. */
static size_t cgroups_lookup_example(void) {
    memset(buf, 0, sizeof buf);
    put16(0, 1);
    put32(4, 1);
    put64(8, 5);
    put32(16, 0);
    put32(20, 60);
    /* the item, at 24 */
    put16(24 + 0, 1);
    put16(24 + 2, NIPC_CGROUPS_LOOKUP_STATUS_KNOWN);
    put16(24 + 4, 999); /* an orchestrator without a name: passed through */
    put32(24 + 8, 28);
    put32(24 + 12, 2);
    put32(24 + 16, 31);
    put32(24 + 20, 1);
    put16(24 + 24, 1);
    memcpy(buf + 24 + 28, "/p\0n\0", 5);
    put32(24 + 40, 56);
    put32(24 + 44, 1);
    put32(24 + 48, 58);
    put32(24 + 52, 1);
    memcpy(buf + 24 + 56, "k\0v\0", 4);
    return 84;
}

static void cgroups_lookups(void) {
    nipc_cgroups_lookup_resp_view_t view;
    nipc_cgroups_lookup_item_view_t item;
    nipc_label_t label;
    size_t len = cgroups_lookup_example();

    CHECK_CODE(nipc_cgroups_lookup_resp_decode(buf, len, &view), NIPC_OK);
    CHECK(view.item_count == 1 && view.generation == 5 && view.payload_len == 84);
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 0, &item), NIPC_OK);
    CHECK(item.status == NIPC_CGROUPS_LOOKUP_STATUS_KNOWN && item.orchestrator == 999);
    CHECK(fx_str_is(item.path, "/p") && fx_str_is(item.name, "n"));
    CHECK(item.label_count == 1);
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_OK);
    CHECK(fx_str_is(label.key, "k") && fx_str_is(label.value, "v"));
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 1, &label), NIPC_ERR_OUT_OF_BOUNDS);
    CHECK_CODE(nipc_cgroups_lookup_item_label(NULL, 0, &label), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, NULL), NIPC_ERR_INVALID_ARGUMENT);
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 1, &item), NIPC_ERR_OUT_OF_BOUNDS);
    CHECK_CODE(nipc_cgroups_lookup_resp_item(NULL, 0, &item), NIPC_ERR_INVALID_ARGUMENT);

    /* every item is checked by the decode */
    put16(24 + 2, 5); /* status */
    CHECK_CODE(nipc_cgroups_lookup_resp_decode(buf, len, &view), NIPC_ERR_BAD_LAYOUT);
    CHECK(view.payload == NULL);
    cgroups_lookup_example();
    put32(20, 61); /* one trailing byte in the item */
    CHECK_CODE(nipc_cgroups_lookup_resp_decode(buf, len + 1, &view), NIPC_ERR_BAD_LAYOUT);
    cgroups_lookup_example();
    CHECK_CODE(nipc_cgroups_lookup_resp_decode(buf, 15, &view), NIPC_ERR_TRUNCATED);

    /* and again by the accessors: a broken payload after the decode */
    cgroups_lookup_example();
    CHECK_CODE(nipc_cgroups_lookup_resp_decode(buf, len, &view), NIPC_OK);
    buf[24 + 28 + 2] = 'x'; /* the path's NUL */
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 0, &item), NIPC_ERR_MISSING_NUL);

    /* a label accessor checks the label it reads: its entry and strings */
    cgroups_lookup_example();
    CHECK_CODE(nipc_cgroups_lookup_resp_item(&view, 0, &item), NIPC_OK);
    buf[24 + 57] = 'x'; /* the key's NUL */
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_ERR_MISSING_NUL);
    CHECK(label.key.ptr == NULL && label.value.ptr == NULL);
    cgroups_lookup_example();
    put32(24 + 48, 600); /* the value's offset */
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_ERR_OUT_OF_BOUNDS);
    cgroups_lookup_example();
    put16(24 + 24, 2); /* a label count past the table */
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 1, &label), NIPC_ERR_OUT_OF_BOUNDS);
    cgroups_lookup_example();
    CHECK_CODE(nipc_cgroups_lookup_item_label(&item, 0, &label), NIPC_OK);
    CHECK(fx_str_is(label.key, "k") && fx_str_is(label.value, "v"));
}

/* codec.md 7.6: the UNKNOWN placeholder of PID 42 (63 bytes), generation 0. */
static size_t apps_lookup_example(void) {
    memset(buf, 0, sizeof buf);
    put16(0, 1);
    put32(4, 1);
    put32(16, 0);
    put32(20, 63);
    put16(24 + 0, 1);
    put16(24 + 2, NIPC_APPS_LOOKUP_STATUS_UNKNOWN);
    put32(24 + 8, 42);
    put32(24 + 16, NIPC_UID_UNSET);
    put32(24 + 32, 60);
    put32(24 + 40, 61);
    put32(24 + 48, 62);
    return 24 + 63;
}

static void apps_lookups(void) {
    nipc_apps_lookup_resp_view_t view;
    nipc_apps_lookup_item_view_t item;
    nipc_label_t label;
    size_t len = apps_lookup_example();

    CHECK_CODE(nipc_apps_lookup_resp_decode(buf, len, &view), NIPC_OK);
    CHECK(view.item_count == 1 && view.generation == 0);
    CHECK_CODE(nipc_apps_lookup_resp_item(&view, 0, &item), NIPC_OK);
    CHECK(item.pid == 42 && item.status == NIPC_APPS_LOOKUP_STATUS_UNKNOWN);
    CHECK(item.uid == NIPC_UID_UNSET && item.ppid == 0 && item.starttime == 0);
    CHECK(fx_str_is(item.comm, "") && fx_str_is(item.cgroup_path, ""));
    CHECK(item.label_count == 0);
    CHECK_CODE(nipc_apps_lookup_item_label(&item, 0, &label), NIPC_ERR_OUT_OF_BOUNDS);
    CHECK_CODE(nipc_apps_lookup_resp_item(&view, 1, &item), NIPC_ERR_OUT_OF_BOUNDS);

    put32(24 + 16, 0); /* uid set on an UNKNOWN pid */
    CHECK_CODE(nipc_apps_lookup_resp_decode(buf, len, &view), NIPC_ERR_BAD_LAYOUT);
    CHECK_CODE(nipc_apps_lookup_resp_decode(buf, len, NULL), NIPC_ERR_INVALID_ARGUMENT);
}

int main(void) {
    snapshots();
    cgroups_lookups();
    apps_lookups();
    return fx_finish("test_views");
}
