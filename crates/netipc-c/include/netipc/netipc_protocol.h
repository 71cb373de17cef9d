/*
 * netipc_protocol.h - error codes, strings, views of NetIPC messages and the
 * builders a provider's handlers fill. Part of the netipc C API (the Rust
 * core behind a C ABI); the same header for Linux and Windows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Rules that hold for every type and function of netipc_protocol.h and
 * netipc_service.h:
 *
 *  - Every struct is a complete type: declare it on the stack, as a global or
 *    inside your own structs. Its size and alignment are the same on every
 *    OS (checked below with _Static_assert); no field is part of the API
 *    except where a struct is documented as plain data (configs, statuses,
 *    views' public fields).
 *  - Objects with an _init function (clients, servers, caches) must be
 *    zero-initialised or passed to _init before any other use; a zeroed or
 *    closed object makes every function return NIPC_ERR_NOT_INITIALIZED. They
 *    must not be copied or moved after _init (pass pointers). _close /
 *    _destroy on a zeroed or closed object does nothing; calling _init on a
 *    live object leaks it.
 *  - NULL pointers, lengths that do not fit and strings that are not UTF-8
 *    return NIPC_ERR_INVALID_ARGUMENT; nothing crashes and no Rust panic
 *    unwinds into C (an internal failure returns NIPC_ERR_INTERNAL).
 *  - Views (nipc_*_view_t, const char * into responses) borrow memory owned by
 *    the object that produced them; each type says until when they are valid.
 */
#ifndef NETIPC_PROTOCOL_H
#define NETIPC_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Error codes                                                               */
/* ------------------------------------------------------------------------ */

/*
 * What every fallible function returns. 0..15 have the reference
 * implementation's values; 16 and up are netipc's and name causes the
 * reference folds into others. The full cause (paths, sizes, uids, time
 * limits) is in the object's last-error message (nipc_client_last_error and
 * friends).
 */
typedef enum nipc_error {
    NIPC_OK = 0,
    NIPC_ERR_TRUNCATED = 1,        /* a message or item is shorter than its structure */
    NIPC_ERR_BAD_MAGIC = 2,        /* a header has the wrong magic number */
    NIPC_ERR_BAD_VERSION = 3,      /* a header has an unsupported version */
    NIPC_ERR_BAD_HEADER_LEN = 4,   /* the header length is not 32 */
    NIPC_ERR_BAD_KIND = 5,         /* the message kind is not the expected one */
    NIPC_ERR_BAD_LAYOUT = 6,       /* a layout rule is broken, or a response does not match its request */
    NIPC_ERR_OUT_OF_BOUNDS = 7,    /* an offset or index is past the end */
    NIPC_ERR_MISSING_NUL = 8,      /* a string is not NUL-terminated */
    NIPC_ERR_BAD_ALIGNMENT = 9,    /* a directory offset is not a multiple of 8 */
    NIPC_ERR_BAD_ITEM_COUNT = 10,  /* an item count overflows or does not match */
    NIPC_ERR_OVERFLOW = 11,        /* does not fit: a buffer, a configured limit, the provider's size */
    NIPC_ERR_HANDLER_FAILED = 12,  /* a handler returned failure */
    NIPC_ERR_NOT_READY = 13,       /* not connected to the provider (the last error says why) */
    NIPC_ERR_TIMEOUT = 14,         /* the time limit passed */
    NIPC_ERR_ABORTED = 15,         /* aborted by nipc_client_abort */
    NIPC_ERR_INVALID_ARGUMENT = 16,/* NULL pointer, string not UTF-8, count that does not fit */
    NIPC_ERR_NOT_INITIALIZED = 17, /* the object was not initialised or is closed */
    NIPC_ERR_DISCONNECTED = 18,    /* the peer closed the connection */
    NIPC_ERR_REJECTED = 19,        /* the provider answered with an error status */
    NIPC_ERR_IO = 20,              /* an operating system call failed */
    NIPC_ERR_INTERNAL = 21,        /* an internal failure of netipc was caught */
    NIPC_ERR_BUSY = 22,            /* the object is in use (e.g. a server already running) */
    NIPC_ERR_PERMISSION = 23,      /* access denied (owner and mode in the message) */
    NIPC_ERR_NOT_FOUND = 24,       /* no provider at the endpoint, or no run directory */
    NIPC_ERR_AUTH_FAILED = 25,     /* wrong auth token or refused identity */
    NIPC_ERR_INCOMPATIBLE = 26,    /* no common transport profile, or incompatible limits */
    NIPC_ERR_ADDR_IN_USE = 27      /* another provider serves this endpoint */
} nipc_error_t;

/* The code's name and meaning: a static string, never NULL (also for values
 * that are not codes). Thread-safe. */
const char *nipc_error_str(nipc_error_t err);

/* ------------------------------------------------------------------------ */
/* Names and hashes                                                          */
/* ------------------------------------------------------------------------ */

/* Well-known service names (the endpoint names Netdata's plugins use). */
#define NIPC_CGROUPS_SNAPSHOT_SERVICE "cgroups-snapshot"
#define NIPC_CGROUPS_LOOKUP_SERVICE "cgroups-lookup"
#define NIPC_APPS_LOOKUP_SERVICE "apps-lookup"

/* Netdata's string hash (simple_hash) of a NUL-terminated string; NULL hashes
 * as "". Thread-safe, never fails. */
uint32_t nipc_netdata_hash(const char *text);
/* The same hash of len bytes (no NUL needed; NULL allowed when len is 0). */
uint32_t nipc_netdata_hash_n(const char *bytes, size_t len);

/* A byte string that is not necessarily NUL-terminated. */
typedef struct nipc_str_view {
    const char *ptr;
    uint32_t len;
} nipc_str_view_t;

/* ------------------------------------------------------------------------ */
/* Client views: the responses a consumer reads                              */
/* ------------------------------------------------------------------------ */

/*
 * A response view (nipc_*_resp_view_t) is plain data: the payload it
 * borrows and the header's fields. It comes from a typed call of a client
 * (nipc_client_call_*: valid until the next call on the same context, or its
 * close) or from a _decode function (valid while the bytes given to it are).
 * Items are read by index with the _item functions, labels of lookup items
 * with the _item_label functions; they return views of the same lifetime.
 *
 * Strings of decoded items (nipc_str_view_t) point into the payload and are
 * NUL-terminated there (ptr[len] == '\0'), so they can be printed with "%s"
 * (snapshot names and paths are not checked for interior NUL bytes; lookup
 * strings have none). Accessors never read outside the view's payload:
 * they check the directory entry of the item they read, then the snapshot
 * item in full (snapshots are checked lazily, codec.md 4.3 phase B: a
 * provider may send a snapshot whose item 7 is broken), or, for lookup
 * items (checked whole by the decode), that the strings they return lie
 * inside the item and end with a NUL; label accessors check the same of
 * the label they read, and its entry in the item's label table. They return NIPC_OK, NIPC_ERR_INVALID_ARGUMENT for NULL
 * pointers, NIPC_ERR_OUT_OF_BOUNDS for an index past the end, or the codec
 * error of a malformed item. On error *out is zeroed. Every function here
 * is thread-safe and never blocks; views may be read from several threads
 * at once.
 */

/* CGROUPS_LOOKUP item status (codec.md 6.1; the u16 on the wire). */
typedef enum nipc_cgroups_lookup_status {
    NIPC_CGROUPS_LOOKUP_STATUS_KNOWN = 0,               /* name, orchestrator and labels are set */
    NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_RETRY_LATER = 1, /* not known yet: ask again later */
    NIPC_CGROUPS_LOOKUP_STATUS_UNKNOWN_PERMANENT = 2,   /* will never be known (until the generation changes) */
    NIPC_CGROUPS_LOOKUP_STATUS_PAYLOAD_EXCEEDED = 3,    /* provider-internal; never in a client's answer */
    NIPC_CGROUPS_LOOKUP_STATUS_OVERSIZED_ITEM = 4       /* the answer (or the path) is too large to ever send */
} nipc_cgroups_lookup_status_t;

/* APPS_LOOKUP status of the PID (codec.md 7.1). */
typedef enum nipc_apps_lookup_status {
    NIPC_APPS_LOOKUP_STATUS_KNOWN = 0,            /* the process's fields are set */
    NIPC_APPS_LOOKUP_STATUS_UNKNOWN = 1,          /* no such process (every other field unset) */
    NIPC_APPS_LOOKUP_STATUS_PAYLOAD_EXCEEDED = 2, /* provider-internal; never in a client's answer */
    NIPC_APPS_LOOKUP_STATUS_OVERSIZED_ITEM = 3    /* the answer is too large to ever send */
} nipc_apps_lookup_status_t;

/* APPS_LOOKUP status of the process's cgroup (codec.md 7.1). */
typedef enum nipc_apps_cgroup_status {
    NIPC_APPS_CGROUP_STATUS_KNOWN = 0,               /* path, name, orchestrator and labels are set */
    NIPC_APPS_CGROUP_STATUS_UNKNOWN_RETRY_LATER = 1, /* path may be set; ask again later */
    NIPC_APPS_CGROUP_STATUS_UNKNOWN_PERMANENT = 2,   /* path set, never known */
    NIPC_APPS_CGROUP_STATUS_HOST_ROOT = 3            /* the host's root cgroup (no path) */
} nipc_apps_cgroup_status_t;

/* Orchestrator values of lookup items; any other value is passed through. */
#define NIPC_ORCHESTRATOR_UNKNOWN 0u
#define NIPC_ORCHESTRATOR_SYSTEMD 1u
#define NIPC_ORCHESTRATOR_DOCKER 2u
#define NIPC_ORCHESTRATOR_K8S 3u
#define NIPC_ORCHESTRATOR_KVM 4u
#define NIPC_ORCHESTRATOR_LXC 5u
#define NIPC_ORCHESTRATOR_PODMAN 6u
#define NIPC_ORCHESTRATOR_NSPAWN 7u

/* The uid of an APPS_LOOKUP item that has none. */
#define NIPC_UID_UNSET 0xFFFFFFFFu
/* Longest process name (comm) of an APPS_LOOKUP item, in bytes. */
#define NIPC_APPS_LOOKUP_COMM_MAX 15u

/* One label of a lookup item: a non-empty key and a value (may be empty),
 * neither containing a NUL byte. */
typedef struct nipc_label {
    nipc_str_view_t key;
    nipc_str_view_t value;
} nipc_label_t;

_Static_assert(sizeof(nipc_label_t) == 2 * sizeof(nipc_str_view_t), "nipc_label_t size");

/* A CGROUPS_SNAPSHOT response. */
typedef struct nipc_cgroups_resp_view {
    const uint8_t *payload;   /* the response payload (for example to save it) */
    uint32_t payload_len;
    uint32_t item_count;      /* items, read with nipc_cgroups_resp_item */
    uint32_t systemd_enabled; /* the provider's value, passed through */
    uint32_t reserved_;
    uint64_t generation;      /* the provider's generation */
} nipc_cgroups_resp_view_t;

/* One snapshot item: a cgroup. */
typedef struct nipc_cgroups_item_view {
    uint32_t hash;    /* nipc_netdata_hash of name, as the provider sent it */
    uint32_t options; /* cgroup option flags, passed through */
    uint32_t enabled; /* passed through (not limited to 0/1) */
    uint32_t reserved_;
    nipc_str_view_t name;
    nipc_str_view_t path;
} nipc_cgroups_item_view_t;

/* A CGROUPS_LOOKUP response: one item per path asked for, in order, all of
 * one provider generation. */
typedef struct nipc_cgroups_lookup_resp_view {
    const uint8_t *payload;
    uint32_t payload_len;
    uint32_t item_count;
    uint64_t generation;
} nipc_cgroups_lookup_resp_view_t;

/* One CGROUPS_LOOKUP item. */
typedef struct nipc_cgroups_lookup_item_view {
    nipc_str_view_t path;  /* the path asked for, echoed */
    nipc_str_view_t name;  /* empty unless KNOWN */
    uint16_t status;       /* a nipc_cgroups_lookup_status_t */
    uint16_t orchestrator; /* a NIPC_ORCHESTRATOR_* value (0 unless KNOWN) */
    uint16_t label_count;  /* labels, read with nipc_cgroups_lookup_item_label */
    uint16_t reserved_;
    const uint8_t *item_;  /* the item's bytes: not part of the API */
    uint32_t item_len_;
    uint32_t reserved2_;
} nipc_cgroups_lookup_item_view_t;

/* An APPS_LOOKUP response: one item per PID asked for, in order, all of
 * one provider generation. */
typedef struct nipc_apps_lookup_resp_view {
    const uint8_t *payload;
    uint32_t payload_len;
    uint32_t item_count;
    uint64_t generation;
} nipc_apps_lookup_resp_view_t;

/* One APPS_LOOKUP item. Unless status is KNOWN, only pid is set (uid is
 * NIPC_UID_UNSET, the strings are empty). */
typedef struct nipc_apps_lookup_item_view {
    uint32_t pid;            /* the PID asked for, echoed */
    uint32_t ppid;
    uint32_t uid;            /* or NIPC_UID_UNSET */
    uint16_t status;         /* a nipc_apps_lookup_status_t */
    uint16_t cgroup_status;  /* a nipc_apps_cgroup_status_t */
    uint64_t starttime;      /* Linux: /proc/<pid>/stat field 22 (clock ticks since boot); else 0 */
    uint16_t orchestrator;   /* of the cgroup (0 unless the cgroup is KNOWN) */
    uint16_t label_count;    /* the cgroup's labels, read with nipc_apps_lookup_item_label */
    uint32_t reserved_;
    nipc_str_view_t comm;        /* process name, at most 15 bytes */
    nipc_str_view_t cgroup_path; /* empty for HOST_ROOT */
    nipc_str_view_t cgroup_name; /* empty unless the cgroup is KNOWN */
    const uint8_t *item_;        /* the item's bytes: not part of the API */
    uint32_t item_len_;
    uint32_t reserved2_;
} nipc_apps_lookup_item_view_t;

_Static_assert(sizeof(nipc_str_view_t) == 16, "nipc_str_view_t size");
_Static_assert(sizeof(nipc_cgroups_resp_view_t) == 32, "nipc_cgroups_resp_view_t size");
_Static_assert(sizeof(nipc_cgroups_item_view_t) == 48, "nipc_cgroups_item_view_t size");
_Static_assert(sizeof(nipc_cgroups_lookup_resp_view_t) == 24, "nipc_cgroups_lookup_resp_view_t size");
_Static_assert(sizeof(nipc_cgroups_lookup_item_view_t) == 56, "nipc_cgroups_lookup_item_view_t size");
_Static_assert(sizeof(nipc_apps_lookup_resp_view_t) == 24, "nipc_apps_lookup_resp_view_t size");
_Static_assert(sizeof(nipc_apps_lookup_item_view_t) == 96, "nipc_apps_lookup_item_view_t size");

/* Checks a CGROUPS_SNAPSHOT response payload's header and directory (codec.md
 * 4.3 phase A; items are checked when read) and fills *out, which borrows
 * payload. len above 4 GiB - 1: NIPC_ERR_INVALID_ARGUMENT. */
nipc_error_t nipc_cgroups_resp_decode(const void *payload, size_t len,
                                      nipc_cgroups_resp_view_t *out);
/* Item index of a snapshot (checked now: codec.md 4.3 phase B). */
nipc_error_t nipc_cgroups_resp_item(const nipc_cgroups_resp_view_t *view, uint32_t index,
                                    nipc_cgroups_item_view_t *out);

/* Checks a whole CGROUPS_LOOKUP response payload, every item included, and
 * fills *out, which borrows payload. */
nipc_error_t nipc_cgroups_lookup_resp_decode(const void *payload, size_t len,
                                             nipc_cgroups_lookup_resp_view_t *out);
/* Item index of a CGROUPS_LOOKUP response. */
nipc_error_t nipc_cgroups_lookup_resp_item(const nipc_cgroups_lookup_resp_view_t *view,
                                           uint32_t index,
                                           nipc_cgroups_lookup_item_view_t *out);
/* Label index of a CGROUPS_LOOKUP item (NIPC_ERR_OUT_OF_BOUNDS past
 * label_count). */
nipc_error_t nipc_cgroups_lookup_item_label(const nipc_cgroups_lookup_item_view_t *item,
                                            uint32_t index, nipc_label_t *out);

/* Checks a whole APPS_LOOKUP response payload, every item included, and
 * fills *out, which borrows payload. */
nipc_error_t nipc_apps_lookup_resp_decode(const void *payload, size_t len,
                                          nipc_apps_lookup_resp_view_t *out);
/* Item index of an APPS_LOOKUP response. */
nipc_error_t nipc_apps_lookup_resp_item(const nipc_apps_lookup_resp_view_t *view,
                                        uint32_t index, nipc_apps_lookup_item_view_t *out);
/* Label index of an APPS_LOOKUP item's cgroup. */
nipc_error_t nipc_apps_lookup_item_label(const nipc_apps_lookup_item_view_t *item,
                                         uint32_t index, nipc_label_t *out);


/* ------------------------------------------------------------------------ */
/* Server views: request views and builders for handlers                     */
/* ------------------------------------------------------------------------ */

/*
 * A managed server (netipc_service.h) calls its handler with a request view
 * and a builder that it creates for that one call: both are valid ONLY
 * during the callback, on the thread that runs it (a worker thread of the
 * server). Do not keep them, copy them or pass them to another thread.
 * Strings and labels given to a builder are copied during the call.
 *
 * Builder functions return NIPC_OK or the reason the item was refused. The
 * first refusal is sticky (nipc_*_builder_error returns it) and, like in
 * the Rust core, decides the answer: an item that did not fit
 * (NIPC_ERR_OVERFLOW) makes the server answer LIMIT_EXCEEDED, and the
 * client reconnects with a larger response size and asks again; any other
 * refusal (an item breaking the status rules of codec.md, an argument
 * that is NULL with a non-zero length, a status that is not a value of its
 * enum) makes the request fail, even if the handler returns true, so that
 * no answer is sent with an item silently missing. A builder used outside
 * its callback may return NIPC_ERR_NOT_INITIALIZED, but that is not
 * guaranteed: its storage is gone once the callback returned.
 */

/* --- cgroups-snapshot --------------------------------------------------- */

/* The snapshot request: it has no parameters (always {1, 0}). */
typedef struct nipc_cgroups_req {
    uint16_t layout_version;
    uint16_t flags;
} nipc_cgroups_req_t;

_Static_assert(sizeof(nipc_cgroups_req_t) == 4, "nipc_cgroups_req_t size");

/* The snapshot a snapshot handler fills (header values start at 0). */
#define NIPC_CGROUPS_BUILDER_WORDS 16
typedef struct nipc_cgroups_builder {
    uint64_t opaque_[NIPC_CGROUPS_BUILDER_WORDS];
} nipc_cgroups_builder_t;

_Static_assert(sizeof(nipc_cgroups_builder_t) == NIPC_CGROUPS_BUILDER_WORDS * 8,
               "nipc_cgroups_builder_t size");

/* Appends one cgroup: hash (Netdata's hash of the name, see
 * nipc_netdata_hash_n), options and enabled (opaque to netipc), the name and
 * the path (name_len / path_len bytes; NULL allowed for 0; copied).
 * NIPC_ERR_OVERFLOW when it does not fit the response or
 * snapshot_max_items items exist (the server then answers LIMIT_EXCEEDED and
 * the client asks again with more room; a later add may still succeed but
 * the answer stays LIMIT_EXCEEDED); NIPC_ERR_INVALID_ARGUMENT for NULL with
 * a non-zero length; NIPC_ERR_NOT_INITIALIZED for a builder outside its
 * callback. */
nipc_error_t nipc_cgroups_builder_add(nipc_cgroups_builder_t *b, uint32_t hash, uint32_t options,
                                      uint32_t enabled, const char *name, uint32_t name_len,
                                      const char *path, uint32_t path_len);
/* Sets the snapshot's systemd_enabled (opaque) and generation. */
nipc_error_t nipc_cgroups_builder_set_header(nipc_cgroups_builder_t *b, uint32_t systemd_enabled,
                                             uint64_t generation);
/* The builder's first error: a refused add, else NIPC_ERR_INVALID_ARGUMENT
 * if an argument was refused, else NIPC_OK. */
nipc_error_t nipc_cgroups_builder_error(const nipc_cgroups_builder_t *b);

/* --- cgroups-lookup ----------------------------------------------------- */

/* The decoded request: item_count paths. */
typedef struct nipc_cgroups_lookup_req_view {
    uint32_t item_count;
    uint32_t reserved_;
    uint64_t opaque_[2];
} nipc_cgroups_lookup_req_view_t;

_Static_assert(sizeof(nipc_cgroups_lookup_req_view_t) == 24, "nipc_cgroups_lookup_req_view_t size");

/* Path `index` of the request into *out (non-empty, no NUL byte inside,
 * and followed by a NUL in the request, so out->ptr is also a C string;
 * valid during the callback). NIPC_ERR_OUT_OF_BOUNDS for index >=
 * item_count; NIPC_ERR_INVALID_ARGUMENT for NULL. */
nipc_error_t nipc_cgroups_lookup_req_path(const nipc_cgroups_lookup_req_view_t *req, uint32_t index,
                                          nipc_str_view_t *out);

/* The response a cgroups-lookup handler fills: exactly one item per
 * requested path, in request order (generation starts at 0). */
#define NIPC_CGROUPS_LOOKUP_BUILDER_WORDS 16
typedef struct nipc_cgroups_lookup_builder {
    uint64_t opaque_[NIPC_CGROUPS_LOOKUP_BUILDER_WORDS];
} nipc_cgroups_lookup_builder_t;

_Static_assert(sizeof(nipc_cgroups_lookup_builder_t) == NIPC_CGROUPS_LOOKUP_BUILDER_WORDS * 8,
               "nipc_cgroups_lookup_builder_t size");

/* Adds the answer for the next path: the path (echoed, non-empty), the
 * status, and for NIPC_CGROUPS_LOOKUP_STATUS_KNOWN the orchestrator, the
 * name (may be empty) and label_count labels (NULL allowed for 0). Any other status
 * requires orchestrator 0, an empty name and no labels. When the response
 * budget runs out the builder writes the item (and every later one) as
 * NIPC_CGROUPS_LOOKUP_STATUS_PAYLOAD_EXCEEDED, or the first item as
 * NIPC_CGROUPS_LOOKUP_STATUS_OVERSIZED_ITEM, and returns NIPC_OK: the
 * client asks again for the rest. Errors: NIPC_ERR_BAD_LAYOUT (status rules, empty path
 * or label key, a NUL inside a string), NIPC_ERR_OVERFLOW (more items than
 * paths, or not even a placeholder fits), NIPC_ERR_INVALID_ARGUMENT (NULL
 * with a length, a status outside the enum), NIPC_ERR_NOT_INITIALIZED. */
nipc_error_t nipc_cgroups_lookup_builder_add(nipc_cgroups_lookup_builder_t *b, const char *path,
                                             uint32_t path_len, nipc_cgroups_lookup_status_t status,
                                             uint16_t orchestrator, const char *name,
                                             uint32_t name_len, const nipc_label_t *labels,
                                             uint32_t label_count);
/* The same for path `index` of `req` (the request view of the same call),
 * without passing the path again. NIPC_ERR_BAD_LAYOUT for an index out of
 * range; NIPC_ERR_INVALID_ARGUMENT when req is not this call's view. */
nipc_error_t nipc_cgroups_lookup_builder_add_request_item(
    nipc_cgroups_lookup_builder_t *b, const nipc_cgroups_lookup_req_view_t *req, uint32_t index,
    nipc_cgroups_lookup_status_t status, uint16_t orchestrator, const char *name, uint32_t name_len,
    const nipc_label_t *labels, uint32_t label_count);
/* A not-enriched answer (UNKNOWN_RETRY_LATER, UNKNOWN_PERMANENT) for path. */
nipc_error_t nipc_cgroups_lookup_builder_add_status(nipc_cgroups_lookup_builder_t *b,
                                                    const char *path, uint32_t path_len,
                                                    nipc_cgroups_lookup_status_t status);
/* The provider's generation, sent with the response. */
nipc_error_t nipc_cgroups_lookup_builder_set_generation(nipc_cgroups_lookup_builder_t *b,
                                                        uint64_t generation);
/* The builder's first error (as nipc_cgroups_builder_error). */
nipc_error_t nipc_cgroups_lookup_builder_error(const nipc_cgroups_lookup_builder_t *b);

/* --- apps-lookup -------------------------------------------------------- */

/* The decoded request: item_count PIDs. */
typedef struct nipc_apps_lookup_req_view {
    uint32_t item_count;
    uint32_t reserved_;
    uint64_t opaque_[2];
} nipc_apps_lookup_req_view_t;

_Static_assert(sizeof(nipc_apps_lookup_req_view_t) == 24, "nipc_apps_lookup_req_view_t size");

/* PID `index` of the request into *out. NIPC_ERR_OUT_OF_BOUNDS for index >=
 * item_count; NIPC_ERR_INVALID_ARGUMENT for NULL. */
nipc_error_t nipc_apps_lookup_req_pid(const nipc_apps_lookup_req_view_t *req, uint32_t index,
                                      uint32_t *out);

/* The fields of one apps-lookup answer besides its PID and labels. The
 * rules (codec.md 7.4): a status other than NIPC_APPS_LOOKUP_STATUS_KNOWN
 * needs every field unset (cgroup_status NIPC_APPS_CGROUP_STATUS_KNOWN,
 * orchestrator, ppid and starttime 0, uid NIPC_UID_UNSET, empty strings;
 * nipc_apps_lookup_builder_add_status does that).
 * NIPC_APPS_LOOKUP_STATUS_KNOWN needs a comm of 1 to
 * NIPC_APPS_LOOKUP_COMM_MAX bytes, and by cgroup_status: KNOWN a cgroup
 * path (name, orchestrator, labels optional); UNKNOWN_RETRY_LATER a path
 * or none; UNKNOWN_PERMANENT a path; HOST_ROOT no path; the last three no
 * name, orchestrator or labels. */
typedef struct nipc_apps_lookup_entry {
    uint16_t status;        /* a nipc_apps_lookup_status_t */
    uint16_t cgroup_status; /* a nipc_apps_cgroup_status_t */
    uint16_t orchestrator;  /* NIPC_ORCHESTRATOR_* or another value */
    uint16_t reserved_;     /* keep 0 */
    uint32_t ppid;
    uint32_t uid;           /* or NIPC_UID_UNSET */
    uint64_t starttime;     /* Linux: /proc/<pid>/stat field 22; 0 elsewhere */
    nipc_str_view_t comm;
    nipc_str_view_t cgroup_path;
    nipc_str_view_t cgroup_name;
} nipc_apps_lookup_entry_t;

_Static_assert(sizeof(nipc_apps_lookup_entry_t) == 24 + 3 * sizeof(nipc_str_view_t),
               "nipc_apps_lookup_entry_t size");

/* The response an apps-lookup handler fills: exactly one item per requested
 * PID, in request order (generation starts at 0). */
#define NIPC_APPS_LOOKUP_BUILDER_WORDS 16
typedef struct nipc_apps_lookup_builder {
    uint64_t opaque_[NIPC_APPS_LOOKUP_BUILDER_WORDS];
} nipc_apps_lookup_builder_t;

_Static_assert(sizeof(nipc_apps_lookup_builder_t) == NIPC_APPS_LOOKUP_BUILDER_WORDS * 8,
               "nipc_apps_lookup_builder_t size");

/* Adds the answer for the next PID: the fields of *entry (see its rules)
 * and label_count labels (NULL allowed for 0). Budget handling and errors
 * as nipc_cgroups_lookup_builder_add (NIPC_ERR_INVALID_ARGUMENT also for a
 * NULL entry). */
nipc_error_t nipc_apps_lookup_builder_add(nipc_apps_lookup_builder_t *b, uint32_t pid,
                                          const nipc_apps_lookup_entry_t *entry,
                                          const nipc_label_t *labels, uint32_t label_count);
/* An answer with every field unset and `status` (normally
 * NIPC_APPS_LOOKUP_STATUS_UNKNOWN). */
nipc_error_t nipc_apps_lookup_builder_add_status(nipc_apps_lookup_builder_t *b, uint32_t pid,
                                                 nipc_apps_lookup_status_t status);
/* The provider's generation, sent with the response. */
nipc_error_t nipc_apps_lookup_builder_set_generation(nipc_apps_lookup_builder_t *b,
                                                     uint64_t generation);
/* The builder's first error (as nipc_cgroups_builder_error). */
nipc_error_t nipc_apps_lookup_builder_error(const nipc_apps_lookup_builder_t *b);

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_PROTOCOL_H */
