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

/* <<< client views: response views for consumers (snapshot, lookups) >>> */

/* <<< server views: request views and builders for handlers >>> */

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_PROTOCOL_H */
