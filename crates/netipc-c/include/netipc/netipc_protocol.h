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
 * inside the item and end with a NUL; label accessors check the item's
 * label table. They return NIPC_OK, NIPC_ERR_INVALID_ARGUMENT for NULL
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

/* One key=value label of a lookup item. */
typedef struct nipc_lookup_label_view {
    nipc_str_view_t key;   /* never empty */
    nipc_str_view_t value; /* may be empty */
} nipc_lookup_label_view_t;

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
_Static_assert(sizeof(nipc_lookup_label_view_t) == 32, "nipc_lookup_label_view_t size");
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
                                            uint32_t index, nipc_lookup_label_view_t *out);

/* Checks a whole APPS_LOOKUP response payload, every item included, and
 * fills *out, which borrows payload. */
nipc_error_t nipc_apps_lookup_resp_decode(const void *payload, size_t len,
                                          nipc_apps_lookup_resp_view_t *out);
/* Item index of an APPS_LOOKUP response. */
nipc_error_t nipc_apps_lookup_resp_item(const nipc_apps_lookup_resp_view_t *view,
                                        uint32_t index, nipc_apps_lookup_item_view_t *out);
/* Label index of an APPS_LOOKUP item's cgroup. */
nipc_error_t nipc_apps_lookup_item_label(const nipc_apps_lookup_item_view_t *item,
                                         uint32_t index, nipc_lookup_label_view_t *out);


/* <<< server views: request views and builders for handlers >>> */

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_PROTOCOL_H */
