/*
 * netipc_service.h - typed clients (level 2), managed servers and the
 * cgroups snapshot cache (level 3) of netipc, for C. The same header and the
 * same struct sizes on Linux and Windows: plugin code written against it
 * compiles unchanged on both (no #ifdef needed or present).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The rules in netipc_protocol.h (initialisation, no copies after init,
 * errors, views) hold for everything here. Threads:
 *
 *  - A client context is used by one thread at a time; only
 *    nipc_client_abort may be called from another thread while a call runs
 *    (and nipc_client_status, which reads counters).
 *  - A managed server: nipc_server_run blocks the calling thread;
 *    nipc_server_stop, nipc_server_drain and status functions may be called
 *    from any thread while it runs; nipc_server_destroy only after run has
 *    returned. Handlers run on the server's worker threads, several at once.
 *  - A cache: one thread refreshes (nipc_cgroups_cache_refresh); any number
 *    of threads read at the same time through read guards, which never wait
 *    for a refresh.
 *
 * Blocking calls take a deadline: the context's call timeout (30 s unless
 * configured) or the per-call timeout_ms of the _timeout variants (0 = the
 * context's).
 */
#ifndef NETIPC_SERVICE_H
#define NETIPC_SERVICE_H

#include "netipc_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Constants                                                                 */
/* ------------------------------------------------------------------------ */

/* Transport profiles (bit flags). 0 in a config means
 * NIPC_PROFILE_BASELINE | NIPC_PROFILE_SHM_HYBRID, preferring shared memory.
 * Shared memory falls back to the baseline transport when it cannot be set
 * up; the baseline is a Unix socket on Linux and a named pipe on Windows. */
#define NIPC_PROFILE_BASELINE 0x01u
#define NIPC_PROFILE_SHM_HYBRID 0x02u
/* Bit 0x04: Linux, an alias of SHM_HYBRID (the reference's SHM_FUTEX);
 * Windows, spinning shared memory without kernel objects (SHM_BUSYWAIT).
 * Never offered unless configured. */
#define NIPC_PROFILE_SHM_ALT 0x04u

#define NIPC_CLIENT_CALL_TIMEOUT_DEFAULT_MS 30000u
#define NIPC_LOGICAL_LOOKUP_ITEMS_DEFAULT 65536u
#define NIPC_LOGICAL_LOOKUP_SUBCALLS_DEFAULT 4096u
#define NIPC_LOGICAL_LOOKUP_RESPONSE_BYTES_DEFAULT (64u * 1024u * 1024u)
/* The response size a server left at 0 starts from (it grows to 1 MiB). */
#define NIPC_SERVER_RESPONSE_START_DEFAULT (64u * 1024u)

/* ------------------------------------------------------------------------ */
/* Configurations (plain data; zero means the documented default)            */
/* ------------------------------------------------------------------------ */

/* How a client (or a cache) connects and calls. One struct for every
 * service. */
typedef struct nipc_client_config {
    uint32_t supported_profiles;       /* 0: BASELINE | SHM_HYBRID */
    uint32_t preferred_profiles;       /* 0: SHM_HYBRID when both offer it */
    uint32_t max_request_payload_bytes;/* 0: start at 1024, grow to 1 MiB; else fixed */
    uint32_t max_request_batch_items;  /* 0: 1 */
    uint32_t max_response_payload_bytes;/* 0: accept up to 1 MiB; else the most accepted */
    uint32_t call_timeout_ms;          /* 0: 30000 */
    uint64_t auth_token;               /* must equal the provider's */
    uint32_t max_logical_lookup_items;    /* 0: 65536 keys per lookup */
    uint32_t max_logical_lookup_subcalls; /* 0: 4096 exchanges per lookup */
    uint32_t max_logical_lookup_response_bytes; /* 0: 64 MiB */
    uint32_t reserved_;                /* keep 0 */
} nipc_client_config_t;

/* How a managed server listens and answers. */
typedef struct nipc_server_config {
    uint32_t supported_profiles;       /* 0: BASELINE | SHM_HYBRID */
    uint32_t preferred_profiles;       /* 0: SHM_HYBRID */
    uint32_t max_request_payload_bytes;/* 0: up to 1 MiB (each session uses its client's proposal) */
    uint32_t max_request_batch_items;  /* accepted for source compatibility; batches are sized by clients */
    uint32_t max_response_payload_bytes;/* 0: start at 64 KiB, grow to 1 MiB; else fixed */
    uint32_t max_sessions;             /* 0: 1024 clients at once */
    uint64_t auth_token;               /* clients must present it */
    uint32_t send_timeout_ms;          /* 0: 5000 (a client that stops reading) */
    uint32_t reserved_;                /* keep 0 */
} nipc_server_config_t;

_Static_assert(sizeof(nipc_client_config_t) == 48, "nipc_client_config_t size");
_Static_assert(sizeof(nipc_server_config_t) == 40, "nipc_server_config_t size");

/* <<< client: nipc_client_ctx_t, state, status, init/refresh/ready/status/
 *     set_call_timeout/abort/clear_abort/close/last_error, typed calls >>> */

/* <<< server: nipc_managed_server_t, handlers, init_typed/init_cgroups_lookup/
 *     init_apps_lookup, run/stop/drain/destroy, last_error >>> */

/* <<< cache: nipc_cgroups_cache_t, read guard, item views, init/refresh/
 *     ready/read_lock/read_unlock/get/item_dup/item_free/status/close >>> */

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_SERVICE_H */
