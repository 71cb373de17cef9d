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

/* ------------------------------------------------------------------------ */
/* Client (level 2): one context per provider, any typed call                */
/* ------------------------------------------------------------------------ */

/*
 * A client context connects to one service (run_dir + service_name) and
 * makes typed calls to it. Like the reference, it is not bound to a method:
 * any nipc_client_call_* may be used on any context (a provider serves one
 * method and answers another with an error status: NIPC_ERR_REJECTED).
 *
 * Lifecycle: nipc_client_init (no I/O; the provider need not exist), then
 * nipc_client_refresh at the caller's cadence (connects, and reconnects
 * after a failure; no background threads or timers) or nipc_client_wait_ready
 * at start-up, calls, and nipc_client_close at the end. States and counters
 * follow level2.md section 3: a call made while not READY fails with
 * NIPC_ERR_NOT_READY without I/O; a call whose session breaks reconnects
 * once and sends the request again (at-least-once); a timeout or abort
 * ends the call (state BROKEN until the next refresh); AUTH_FAILED and
 * INCOMPATIBLE stay until nipc_client_close.
 *
 * nipc_client_close disconnects and frees everything the context allocated
 * (call it before the context's memory goes away, or its allocations leak).
 * The context then stays initialised, as in the reference: state
 * DISCONNECTED, counters kept, call timeout kept, abort cleared; refresh
 * connects it again (the way out of AUTH_FAILED and INCOMPATIBLE); a closed
 * context needs no further cleanup (closing twice does nothing).
 *
 * Errors: every function returning nipc_error_t returns
 * NIPC_ERR_INVALID_ARGUMENT for NULL pointers (ctx, out, ...) and
 * NIPC_ERR_NOT_INITIALIZED for a zeroed context; a context whose init got
 * invalid arguments returns NIPC_ERR_INVALID_ARGUMENT from every function.
 * nipc_client_last_error says why the latest operation failed, with the
 * cause (no provider at <path>, permission denied with the endpoint's owner
 * and mode, a wrong auth token, an incompatible provider, a provider at
 * capacity, a time limit...).
 *
 * Threads: a context is used by one thread at a time. From other threads,
 * while a call runs: nipc_client_abort (and nipc_client_clear_abort),
 * nipc_client_ready and nipc_client_status. Other functions called from a
 * second thread wait for the running one (they do not corrupt the context,
 * but views of the first call become invalid, and so does a text of
 * nipc_client_last_error). Never call nipc_client_init or
 * nipc_client_close on a context another thread may be using.
 *
 * Views returned by calls borrow the context's buffers: valid until the next
 * call (or wait_ready, refresh, set_call_timeout, session_info) on the same
 * context, or its close. Copy what must live longer.
 */

/* Client states (level2.md section 3; the reference's values). */
typedef enum nipc_client_state {
    NIPC_CLIENT_DISCONNECTED = 0, /* new, closed, or a transient connection failure */
    NIPC_CLIENT_CONNECTING = 1,   /* only seen while a connection attempt runs */
    NIPC_CLIENT_READY = 2,        /* connected: calls may be made */
    NIPC_CLIENT_NOT_FOUND = 3,    /* no provider (or no run directory): refresh retries */
    NIPC_CLIENT_AUTH_FAILED = 4,  /* wrong auth token or refused identity: sticky until close */
    NIPC_CLIENT_INCOMPATIBLE = 5, /* no common profile or limits: sticky until close */
    NIPC_CLIENT_BROKEN = 6        /* the session broke (timeout, abort, error): refresh reconnects */
} nipc_client_state_t;

/* A snapshot of a context's state and counters (plain data). */
typedef struct nipc_client_status {
    nipc_client_state_t state;
    uint32_t connect_count;   /* successful first connections */
    uint32_t reconnect_count; /* successful reconnections (after BROKEN, or inside a call) */
    uint32_t call_count;      /* successful request/response exchanges (a lookup of k sub-calls counts k) */
    uint32_t error_count;     /* failed calls */
} nipc_client_status_t;

/* What the current session negotiated (plain data; for diagnostics). */
typedef struct nipc_client_session_info {
    uint32_t profile;                    /* the selected NIPC_PROFILE_* bit */
    uint32_t shared_memory;              /* 1 when messages travel through shared memory */
    uint32_t max_request_payload_bytes;  /* largest request the provider accepts */
    uint32_t max_request_batch_items;
    uint32_t max_response_payload_bytes; /* largest response accepted */
    uint32_t reserved_;
} nipc_client_session_info_t;

/* Longest run_dir and service_name a context takes, in bytes (longer ones
 * are refused, not truncated). */
#define NIPC_CLIENT_RUN_DIR_MAX 255u
#define NIPC_CLIENT_SERVICE_MAX 127u

/* A client context: allocate it yourself (stack, global, inside your own
 * struct); zero it or pass it to nipc_client_init before any other use; do
 * not copy or move it after init. */
#define NIPC_CLIENT_CTX_WORDS 512
typedef struct nipc_client_ctx {
    uint64_t opaque_[NIPC_CLIENT_CTX_WORDS];
} nipc_client_ctx_t;

_Static_assert(sizeof(nipc_client_ctx_t) == NIPC_CLIENT_CTX_WORDS * 8, "nipc_client_ctx_t size");
_Static_assert(sizeof(nipc_client_status_t) == 20, "nipc_client_status_t size");
_Static_assert(sizeof(nipc_client_session_info_t) == 24, "nipc_client_session_info_t size");

/* Initialises ctx for the service service_name under run_dir (the identical
 * string the provider uses; the directory must exist when connecting).
 * Copies both strings and *config (zero fields mean the defaults). No I/O.
 * Returns NIPC_OK, or NIPC_ERR_INVALID_ARGUMENT when ctx is NULL (nothing is
 * written) or an argument is NULL, not UTF-8 or too long: ctx is then
 * initialised but refuses every operation with NIPC_ERR_INVALID_ARGUMENT,
 * and nipc_client_last_error says which argument (the reference returns
 * void: ignoring the result is fine). Either way, nipc_client_close frees
 * what the context holds. Calling it on a live context leaks that context. */
nipc_error_t nipc_client_init(nipc_client_ctx_t *ctx, const char *run_dir,
                              const char *service_name, const nipc_client_config_t *config);

/* Connects when DISCONNECTED or NOT_FOUND, reconnects when BROKEN; does
 * nothing when READY, AUTH_FAILED or INCOMPATIBLE. Blocks for at most the
 * call timeout. Returns true when the state changed (read it with
 * nipc_client_ready / nipc_client_status; nipc_client_last_error says why a
 * connection failed). false for NULL or uninitialised contexts. */
bool nipc_client_refresh(nipc_client_ctx_t *ctx);

/* Whether the state is READY. No system call; any thread. false for NULL or
 * uninitialised contexts. */
bool nipc_client_ready(const nipc_client_ctx_t *ctx);

/* The state and counters, as of the end of the latest operation. Any
 * thread; never blocks. On error *out is zeroed. */
nipc_error_t nipc_client_status(const nipc_client_ctx_t *ctx, nipc_client_status_t *out);

/* What the current session negotiated; NIPC_ERR_NOT_READY when there is no
 * session. */
nipc_error_t nipc_client_session_info(nipc_client_ctx_t *ctx, nipc_client_session_info_t *out);

/* Sets the context's call timeout (the default of every call and the limit
 * of refresh); 0 restores NIPC_CLIENT_CALL_TIMEOUT_DEFAULT_MS (30000). Kept
 * across nipc_client_close. */
nipc_error_t nipc_client_set_call_timeout(nipc_client_ctx_t *ctx, uint32_t timeout_ms);

/* Refreshes until READY or until timeout_ms passed, sleeping a little longer
 * after each failed attempt (10 ms doubling up to 250 ms); 0 makes one
 * attempt. For start-up, when the provider may not run yet. Returns NIPC_OK,
 * or the code of the last attempt's cause (NIPC_ERR_NOT_FOUND,
 * NIPC_ERR_PERMISSION, NIPC_ERR_AUTH_FAILED at once, NIPC_ERR_INCOMPATIBLE
 * at once, NIPC_ERR_TIMEOUT, NIPC_ERR_ABORTED...) with the message in
 * nipc_client_last_error. */
nipc_error_t nipc_client_wait_ready(nipc_client_ctx_t *ctx, uint32_t timeout_ms);

/* Makes the running call (from any thread: it returns promptly) and every
 * later call fail with NIPC_ERR_ABORTED until nipc_client_clear_abort or
 * nipc_client_close. */
nipc_error_t nipc_client_abort(nipc_client_ctx_t *ctx);
/* Allows calls again after nipc_client_abort. Any thread. */
nipc_error_t nipc_client_clear_abort(nipc_client_ctx_t *ctx);

/* Disconnects and frees what the context allocated; see above: the context
 * stays initialised (DISCONNECTED, counters kept). Nothing for NULL, zeroed
 * or already closed contexts. */
void nipc_client_close(nipc_client_ctx_t *ctx);

/* Why the latest operation on ctx failed ("" when it succeeded), with the
 * cause. Never NULL (NULL and uninitialised contexts get a static text).
 * Valid until the next operation on ctx (copy it to keep it): read it on
 * the thread that uses the context. */
const char *nipc_client_last_error(const nipc_client_ctx_t *ctx);

/*
 * Typed calls. Each returns NIPC_OK and fills *out (a view into the context's
 * buffers, see above), or an error with *out zeroed: NIPC_ERR_NOT_READY (not
 * connected; the last error holds the cause), NIPC_ERR_TIMEOUT,
 * NIPC_ERR_ABORTED, NIPC_ERR_REJECTED (the provider answered with an error
 * status: its handler failed, or it serves another method), NIPC_ERR_OVERFLOW
 * (a configured limit or the provider's size), NIPC_ERR_DISCONNECTED,
 * codec errors of a malformed response, ... The _timeout variants take a
 * limit in ms for this call (0: the context's call timeout).
 */

/* The full cgroups snapshot (service cgroups-snapshot). The timeout bounds
 * each attempt (a re-send after a reconnect gets a new one). */
nipc_error_t nipc_client_call_cgroups_snapshot(nipc_client_ctx_t *ctx,
                                               nipc_cgroups_resp_view_t *out);
nipc_error_t nipc_client_call_cgroups_snapshot_timeout(nipc_client_ctx_t *ctx,
                                                       nipc_cgroups_resp_view_t *out,
                                                       uint32_t timeout_ms);

/* Looks up count cgroup paths (service cgroups-lookup) in one logical call:
 * one item per path, in order, all of one generation (the client splits the
 * keys into as many requests as the negotiated sizes need and stitches the
 * answers). count 0 is a generation probe. An empty path, a path that is
 * NULL with a length, or paths NULL with a non-zero count:
 * NIPC_ERR_INVALID_ARGUMENT; a path holding a NUL byte is refused by the
 * request encoder: NIPC_ERR_BAD_LAYOUT (codec.md 6.2). The timeout covers
 * the whole logical call.
 * More than the config's max_logical_lookup_items: NIPC_ERR_OVERFLOW. */
nipc_error_t nipc_client_call_cgroups_lookup(nipc_client_ctx_t *ctx, const nipc_str_view_t *paths,
                                             uint32_t count, nipc_cgroups_lookup_resp_view_t *out);
nipc_error_t nipc_client_call_cgroups_lookup_timeout(nipc_client_ctx_t *ctx,
                                                     const nipc_str_view_t *paths, uint32_t count,
                                                     nipc_cgroups_lookup_resp_view_t *out,
                                                     uint32_t timeout_ms);

/* Looks up count PIDs (service apps-lookup), as above. */
nipc_error_t nipc_client_call_apps_lookup(nipc_client_ctx_t *ctx, const uint32_t *pids,
                                          uint32_t count, nipc_apps_lookup_resp_view_t *out);
nipc_error_t nipc_client_call_apps_lookup_timeout(nipc_client_ctx_t *ctx, const uint32_t *pids,
                                                  uint32_t count, nipc_apps_lookup_resp_view_t *out,
                                                  uint32_t timeout_ms);


/* ------------------------------------------------------------------------ */
/* Managed servers (providers)                                               */
/* ------------------------------------------------------------------------ */

/*
 * A managed server serves one service with one typed handler:
 *
 *     nipc_managed_server_t server;                  (stack, global, your struct)
 *     err = nipc_server_init_typed(&server, run_dir, NIPC_CGROUPS_SNAPSHOT_SERVICE,
 *                                  &config, 2, &handler);    creates the endpoint
 *     err = nipc_server_run(&server);                blocks until stopped
 *     nipc_server_destroy(&server);                  after run returned
 *
 * Init creates the endpoint at once: another live provider of the same
 * run_dir/service_name makes it fail with NIPC_ERR_ADDR_IN_USE (the last
 * error names its pid when the OS reports it). The run directory must
 * exist (a missing one: NIPC_ERR_NOT_FOUND, with its path in the last
 * error); on Linux it must belong to this user or root and not be
 * writable by every user (init fails otherwise, naming its owner and mode).
 *
 * Threads:
 *  - nipc_server_run blocks the thread that calls it; one run at a time
 *    (a second concurrent run returns NIPC_ERR_BUSY).
 *  - nipc_server_stop may be called from any thread, and from a signal
 *    handler (on Linux it is an atomic store and a futex wake; on Windows
 *    console control handlers run on their own thread anyway).
 *  - nipc_server_drain, nipc_server_stats and nipc_server_last_error may be
 *    called from any thread while the server runs.
 *  - nipc_server_destroy only once run has returned (join the thread that
 *    ran it) or if run was never called, from one thread, never from a
 *    handler.
 *  - Handlers run on the server's worker_count worker threads, several at
 *    once, with the `user` pointer of the handler struct: protect the data
 *    they share. worker_count is how many handlers run at the same time,
 *    not how many clients are served: up to config.max_sessions clients
 *    (1024 by default) are connected at once whatever worker_count is. (The
 *    reference C library serves one client per worker; here an idle client
 *    costs no thread.) worker_count < 1 means 1; more than 1024 means 1024.
 *
 * Handler results (level2.md 11.4): a handler returns true when it answered
 * (also when every key is "unknown": that is an item status, not a
 * failure) and false when it cannot answer at all. false answers the
 * client with the status INTERNAL_ERROR (the client's call fails with
 * NIPC_ERR_REJECTED; a netipc client does not send the request again) and
 * the session goes on; the server counts it in handler_errors. A builder
 * that ran out of room answers LIMIT_EXCEEDED instead, whatever the
 * handler returns, and the client grows its response size and asks again.
 * A lookup handler that adds fewer or more items than keys answers
 * BAD_ENVELOPE. A handler must return: a handler that crashes takes the
 * process with it (netipc cannot contain C crashes; a failure inside
 * netipc's own code during a call is contained and answers
 * INTERNAL_ERROR).
 */

#define NIPC_MANAGED_SERVER_WORDS 64
typedef struct nipc_managed_server {
    uint64_t opaque_[NIPC_MANAGED_SERVER_WORDS];
} nipc_managed_server_t;

_Static_assert(sizeof(nipc_managed_server_t) == NIPC_MANAGED_SERVER_WORDS * 8,
               "nipc_managed_server_t size");

/* Handler function types: `req` and `builder` are valid during the call
 * only (see the server views section of netipc_protocol.h). */
typedef bool (*nipc_cgroups_handler_fn)(void *user, const nipc_cgroups_req_t *req,
                                        nipc_cgroups_builder_t *builder);
typedef bool (*nipc_cgroups_lookup_handler_fn)(void *user,
                                               const nipc_cgroups_lookup_req_view_t *req,
                                               nipc_cgroups_lookup_builder_t *builder);
typedef bool (*nipc_apps_lookup_handler_fn)(void *user, const nipc_apps_lookup_req_view_t *req,
                                            nipc_apps_lookup_builder_t *builder);

/* A cgroups-snapshot handler: snapshot_max_items is the most items it adds
 * (0: as many as the response holds; an add beyond it overflows). `user`
 * is passed to every call and must stay valid until nipc_server_destroy
 * returns. The struct is copied by init. */
typedef struct nipc_cgroups_service_handler {
    nipc_cgroups_handler_fn handle;
    uint32_t snapshot_max_items;
    void *user;
} nipc_cgroups_service_handler_t;

/* A cgroups-lookup handler (copied by init). */
typedef struct nipc_cgroups_lookup_service_handler {
    nipc_cgroups_lookup_handler_fn handle;
    void *user;
} nipc_cgroups_lookup_service_handler_t;

/* An apps-lookup handler (copied by init). */
typedef struct nipc_apps_lookup_service_handler {
    nipc_apps_lookup_handler_fn handle;
    void *user;
} nipc_apps_lookup_service_handler_t;

_Static_assert(sizeof(nipc_cgroups_service_handler_t) == 3 * sizeof(void *),
               "nipc_cgroups_service_handler_t size");
_Static_assert(sizeof(nipc_cgroups_lookup_service_handler_t) == 2 * sizeof(void *),
               "nipc_cgroups_lookup_service_handler_t size");
_Static_assert(sizeof(nipc_apps_lookup_service_handler_t) == 2 * sizeof(void *),
               "nipc_apps_lookup_service_handler_t size");

/* What a server has done so far and holds now (plain data, filled by
 * nipc_server_stats). Counters start at 0 at init and only grow; sessions,
 * handshaking and session_limit are current values. Read while requests
 * are answered, some fields may be a request or two behind. */
typedef struct nipc_server_stats {
    uint64_t sessions;            /* client sessions open now */
    uint64_t peak_sessions;       /* most sessions open at once so far */
    uint64_t session_limit;       /* max_sessions, or less when the descriptor limit is lower */
    uint64_t handshaking;         /* connections waiting for their HELLO now */
    uint64_t sessions_opened;     /* successful handshakes */
    uint64_t refused_at_capacity; /* clients refused because session_limit sessions were open */
    uint64_t refused_identity;    /* consumers refused for the identity the OS reports */
    uint64_t handshake_failures;  /* failed handshakes (auth token, profiles, sizes, malformed) */
    uint64_t auth_failures;       /* ... of which a wrong auth token */
    uint64_t handshake_timeouts;  /* ... of which no HELLO in time */
    uint64_t dropped_connections; /* closed unanswered: too many connections waiting for HELLO */
    uint64_t send_timeouts;       /* sessions closed: the client did not read within send_timeout_ms */
    uint64_t requests;            /* requests answered, any status */
    uint64_t responses_ok;        /* ... answered OK */
    uint64_t responses_bad_envelope;   /* ... request did not decode, or a lookup answer with the wrong item count */
    uint64_t responses_unsupported;    /* ... another method than the server's */
    uint64_t responses_limit_exceeded; /* ... the answer did not fit (the client grows and asks again) */
    uint64_t responses_internal_error; /* ... a handler returned false (or failed inside netipc) */
    uint64_t failed_requests;     /* every response but OK */
    uint64_t handler_errors;      /* handler calls that returned false or passed an invalid argument */
    uint64_t handler_panics;      /* failures inside netipc's own code during a handler call */
    uint64_t bytes_received;      /* request bytes (32-byte headers and payloads) */
    uint64_t bytes_sent;          /* response bytes, counted the same way */
    uint64_t protocol_errors;     /* sessions closed because their client broke the protocol */
    uint64_t reserved_[8];        /* 0 */
} nipc_server_stats_t;

_Static_assert(sizeof(nipc_server_stats_t) == 32 * 8, "nipc_server_stats_t size");

/* Initialises *server as a cgroups-snapshot provider of service_name in
 * run_dir (both copied; UTF-8) and creates its endpoint. config is read
 * (zeroed: the defaults), handler copied. worker_count: handlers at once
 * (see above). Returns NIPC_OK, or: NIPC_ERR_INVALID_ARGUMENT (NULL
 * pointers, a NULL handle, strings that are not UTF-8, an invalid service
 * name), NIPC_ERR_ADDR_IN_USE, NIPC_ERR_NOT_FOUND (no run directory),
 * NIPC_ERR_PERMISSION, NIPC_ERR_IO (also an unsafe run directory). On
 * failure nipc_server_last_error says why (with the path, pid, owner and
 * mode where they apply) and nothing is held: destroying the struct is
 * allowed and not needed. Does not block beyond creating the endpoint. */
nipc_error_t nipc_server_init_typed(nipc_managed_server_t *server, const char *run_dir,
                                    const char *service_name, const nipc_server_config_t *config,
                                    int worker_count,
                                    const nipc_cgroups_service_handler_t *handler);
/* The same for a cgroups-lookup provider. */
nipc_error_t nipc_server_init_cgroups_lookup(nipc_managed_server_t *server, const char *run_dir,
                                             const char *service_name,
                                             const nipc_server_config_t *config, int worker_count,
                                             const nipc_cgroups_lookup_service_handler_t *handler);
/* The same for an apps-lookup provider. */
nipc_error_t nipc_server_init_apps_lookup(nipc_managed_server_t *server, const char *run_dir,
                                          const char *service_name,
                                          const nipc_server_config_t *config, int worker_count,
                                          const nipc_apps_lookup_service_handler_t *handler);

/* Serves until nipc_server_stop or nipc_server_drain; blocks the calling
 * thread (worker_count more threads answer requests). When stopped, the
 * endpoint is removed at once, handlers still running get up to 500 ms,
 * every session is closed (shared memory removed) and run returns NIPC_OK.
 * Stopping is final: run on a server stopped before (or after a previous
 * run) returns NIPC_OK at once. Errors: NIPC_ERR_BUSY (already running on
 * another thread), NIPC_ERR_NOT_INITIALIZED (zeroed, destroyed, or init
 * failed), NIPC_ERR_IO (threads could not be started). */
nipc_error_t nipc_server_run(nipc_managed_server_t *server);

/* Asks the server to stop and returns at once; run returns soon after. Any
 * thread, a signal handler too; before run, run then returns at once.
 * Does nothing for NULL, zeroed or destroyed servers. */
void nipc_server_stop(nipc_managed_server_t *server);

/* Stops like nipc_server_stop (a server that never ran removes its
 * endpoint at once), then waits up to timeout_ms for run to finish and for
 * handlers that are still running to return. Returns true iff no handler
 * is running any more (false also for NULL or uninitialised servers).
 * Sessions are closed by the server either way; a handler that is still
 * running keeps its worker thread and answers its client when it returns
 * (nipc_server_destroy waits for it). Any thread but a handler's. */
bool nipc_server_drain(nipc_managed_server_t *server, uint32_t timeout_ms);

/* Releases the server: the endpoint if it never ran, the message of a
 * failed init. Waits for handlers that are still running (after a drain
 * that returned false) to return, so `user` may be freed afterwards.
 * Call it once run has returned, or without run; a NULL, zeroed or
 * destroyed server is ignored (destroying twice is harmless). */
void nipc_server_destroy(nipc_managed_server_t *server);

/* The message of the server's last failure (init, run), with its cause;
 * "" when none, and for NULL. Valid until the next failure of the same
 * server or its destroy. */
const char *nipc_server_last_error(const nipc_managed_server_t *server);

/* Copies the server's counters into *out. Any thread, at any time between
 * init and destroy (also after run returned). NIPC_ERR_INVALID_ARGUMENT for
 * NULL, NIPC_ERR_NOT_INITIALIZED. */
nipc_error_t nipc_server_stats(const nipc_managed_server_t *server, nipc_server_stats_t *out);

/* ------------------------------------------------------------------------ */
/* cgroups snapshot cache (level 3)                                          */
/* ------------------------------------------------------------------------ */

/*
 * A consumer's in-memory copy of a cgroups-snapshot provider's table, looked
 * up by (hash, name) without I/O. The caller drives it: one thread calls
 * nipc_cgroups_cache_refresh at its own cadence (no background thread, no
 * timer); any number of threads read through read guards at the same time.
 *
 *     nipc_cgroups_cache_t cache;
 *     nipc_cgroups_cache_init(&cache, "/run/netdata", NIPC_CGROUPS_SNAPSHOT_SERVICE, &config);
 *     if (!nipc_cgroups_cache_refresh(&cache))     (the last good copy stays)
 *         fprintf(stderr, "%s\n", nipc_cgroups_cache_last_error(&cache));
 *     nipc_cgroups_cache_read_guard_t guard;
 *     nipc_cgroups_cache_read_lock(&cache, &guard);
 *     const nipc_cgroups_cache_item_view_t *item =
 *         nipc_cgroups_cache_get(&guard, nipc_netdata_hash(name), name);
 *     if (item) use(item->path);
 *     nipc_cgroups_cache_read_unlock(&guard);
 *     nipc_cgroups_cache_close(&cache);
 *
 * Every refresh fetches the full snapshot (with the level 2 client's
 * reconnect and retry rules), copies and indexes it privately, and publishes
 * it with one atomic pointer swap. A failed refresh keeps the previous
 * snapshot. Readers never wait for a refresh and a refresh never waits for
 * readers: a read guard pins the snapshot it took, and everything it returns
 * stays valid and unchanged until nipc_cgroups_cache_read_unlock, whatever
 * refreshes (or nipc_cgroups_cache_close) happen meanwhile. Old snapshots are
 * freed when their last guard is unlocked.
 *
 * Threads: nipc_cgroups_cache_refresh and _wait_ready from any thread (they
 * run one at a time); _read_lock, _ready, _status, _set_call_timeout, _abort
 * and _clear_abort from any thread at any time (they never block); guards
 * are used by one thread at a time and may be unlocked on another thread than
 * the one that locked them; _last_error from the thread that refreshes;
 * _init and _close while no other thread uses the cache (guards may still be
 * locked: they stay valid after close). A thread may refresh while it holds
 * a guard. The cache struct must not be copied or moved after _init; a guard
 * must not be copied while locked.
 */

/* A cache (allocate it anywhere; zero it or _init it before any use). */
#define NIPC_CGROUPS_CACHE_WORDS 400
typedef struct nipc_cgroups_cache {
    uint64_t opaque_[NIPC_CGROUPS_CACHE_WORDS];
} nipc_cgroups_cache_t;

/* A read guard: pins one published snapshot between _read_lock and
 * _read_unlock. A zeroed or unlocked guard holds nothing. */
#define NIPC_CGROUPS_CACHE_READ_GUARD_WORDS 4
typedef struct nipc_cgroups_cache_read_guard {
    uint64_t opaque_[NIPC_CGROUPS_CACHE_READ_GUARD_WORDS];
} nipc_cgroups_cache_read_guard_t;

/* One cached cgroup, borrowed from the snapshot its guard pins: the struct
 * and its strings are valid until nipc_cgroups_cache_read_unlock of that
 * guard. Do not write through it. Names and paths are the provider's exact
 * bytes with a NUL after them (the _len fields count the bytes before it; a
 * provider's string with a NUL inside is cut short when read as a C
 * string). */
typedef struct nipc_cgroups_cache_item_view {
    uint32_t hash;       /* the provider's hash of the name (Netdata's simple_hash) */
    uint32_t options;    /* opaque option flags */
    uint32_t enabled;    /* opaque enabled value */
    const char *name;
    const char *path;
    uint32_t name_len;
    uint32_t path_len;
} nipc_cgroups_cache_item_view_t;

/* An owned copy of a cached cgroup, made by nipc_cgroups_cache_item_dup: it
 * outlives its guard, every refresh and the cache. Release it only with
 * nipc_cgroups_cache_item_free (not free()). Same fields as the view. */
typedef struct nipc_cgroups_cache_item {
    uint32_t hash;
    uint32_t options;
    uint32_t enabled;
    char *name;
    char *path;
    uint32_t name_len;
    uint32_t path_len;
} nipc_cgroups_cache_item_t;

/* State and counters of a cache (plain data). */
typedef struct nipc_cgroups_cache_status {
    bool populated;                 /* a snapshot is published (a refresh succeeded since _init) */
    uint32_t item_count;            /* items in the published snapshot (0 if none) */
    uint32_t systemd_enabled;       /* the published snapshot's value (0 if none) */
    uint64_t generation;            /* the published snapshot's generation, as sent (it may go down when the provider restarts; 0 if none) */
    uint32_t refresh_success_count; /* refreshes that published a snapshot */
    uint32_t refresh_failure_count; /* refreshes that failed (the previous snapshot was kept) */
    uint32_t connection_state;      /* a nipc_client_state_t: the connection after the last refresh */
    uint32_t transport_profile;     /* the negotiated NIPC_PROFILE_* bit; 0 when not connected */
    uint64_t last_refresh_ts;       /* when the last snapshot was published: ms since _init (>= 1); 0 if never */
    uint64_t last_refresh_age_ms;   /* ms since the last snapshot was published; 0 if never */
} nipc_cgroups_cache_status_t;

_Static_assert(sizeof(nipc_cgroups_cache_t) == NIPC_CGROUPS_CACHE_WORDS * 8, "nipc_cgroups_cache_t size");
_Static_assert(sizeof(nipc_cgroups_cache_read_guard_t) == NIPC_CGROUPS_CACHE_READ_GUARD_WORDS * 8,
               "nipc_cgroups_cache_read_guard_t size");
_Static_assert(sizeof(nipc_cgroups_cache_item_view_t) == 40, "nipc_cgroups_cache_item_view_t size");
_Static_assert(sizeof(nipc_cgroups_cache_item_t) == 40, "nipc_cgroups_cache_item_t size");
_Static_assert(sizeof(nipc_cgroups_cache_status_t) == 56, "nipc_cgroups_cache_status_t size");

/* An empty cache of service_name under run_dir (spelled like the provider's;
 * it must exist when the cache refreshes). No I/O: the provider need not
 * exist yet. config NULL means every default. A NULL cache is ignored; a NULL
 * or non-UTF-8 run_dir or service_name still initializes the cache, whose
 * refreshes then fail (NIPC_ERR_INVALID_ARGUMENT) and whose last error says
 * which argument was wrong. _init on a live cache leaks it. */
void nipc_cgroups_cache_init(nipc_cgroups_cache_t *cache, const char *run_dir,
                             const char *service_name, const nipc_client_config_t *config);

/* Connects if needed, fetches the full snapshot and publishes it. Blocks for
 * up to the call timeout (twice if the session breaks and the request is
 * sent again), and while another thread's refresh runs. Returns false when
 * nothing was published: the previous snapshot stays, the failure is
 * counted, and nipc_cgroups_cache_last_error says why (no provider, a
 * refused auth token, a timeout, a malformed snapshot...); also false for a
 * NULL, zeroed or closed cache. */
bool nipc_cgroups_cache_refresh(nipc_cgroups_cache_t *cache);

/* Refreshes until a snapshot is published or timeout_ms has passed, pausing
 * between failures (10 ms, doubling up to 250 ms): for start-up, when the
 * provider may not run yet. NIPC_OK at once when a snapshot is already
 * published. Blocks for at most timeout_ms plus one refresh. Errors: the last
 * refresh's (NIPC_ERR_NOT_READY with the cause in the last error, ...), at
 * once for a refused auth token or an incompatible provider, and
 * NIPC_ERR_ABORTED; NIPC_ERR_INVALID_ARGUMENT / NIPC_ERR_NOT_INITIALIZED for
 * the cache. */
nipc_error_t nipc_cgroups_cache_wait_ready(nipc_cgroups_cache_t *cache, uint32_t timeout_ms);

/* Whether a snapshot is published (not whether the provider is connected
 * now). No I/O, never blocks; false for a NULL, zeroed or closed cache. */
bool nipc_cgroups_cache_ready(const nipc_cgroups_cache_t *cache);

/* Pins the published snapshot (possibly none yet) in *guard and returns
 * true; never waits for a refresh (one atomic increment). The guard's
 * previous content is not read: unlock a guard before locking it again.
 * Returns false for a NULL, zeroed or closed cache (the guard then holds
 * nothing) and for a NULL guard. */
bool nipc_cgroups_cache_read_lock(const nipc_cgroups_cache_t *cache,
                                  nipc_cgroups_cache_read_guard_t *guard);

/* Releases the guard's snapshot: the views it returned become invalid.
 * NULL, zeroed and unlocked guards are ignored (unlocking twice is
 * harmless). */
void nipc_cgroups_cache_read_unlock(nipc_cgroups_cache_read_guard_t *guard);

/* The first item (in the provider's order) whose hash equals hash and whose
 * name equals name (NUL-terminated, compared byte for byte), or NULL when
 * there is none, nothing is published, name is NULL or the guard holds
 * nothing. No I/O, no allocation, no lock. Valid until the guard is
 * unlocked. */
const nipc_cgroups_cache_item_view_t *nipc_cgroups_cache_get(const nipc_cgroups_cache_read_guard_t *guard,
                                                              uint32_t hash, const char *name);

/* Items in the guard's snapshot (0 when it holds nothing). */
size_t nipc_cgroups_cache_count(const nipc_cgroups_cache_read_guard_t *guard);

/* The item at index (0 .. count - 1, the provider's order), or NULL past the
 * end. Valid until the guard is unlocked. */
const nipc_cgroups_cache_item_view_t *nipc_cgroups_cache_item_at(const nipc_cgroups_cache_read_guard_t *guard,
                                                                  size_t index);

/* An owned copy of view (which the guard returned; for another view the
 * strings are copied up to their NUL), allocated by the library: release it
 * with nipc_cgroups_cache_item_free. NULL when the guard holds nothing or
 * view (or one of its strings) is NULL. */
nipc_cgroups_cache_item_t *nipc_cgroups_cache_item_dup(const nipc_cgroups_cache_read_guard_t *guard,
                                                       const nipc_cgroups_cache_item_view_t *view);

/* Releases a copy made by nipc_cgroups_cache_item_dup; NULL is ignored. Any
 * thread. */
void nipc_cgroups_cache_item_free(nipc_cgroups_cache_item_t *item);

/* Fills *out with the cache's state and counters. Never blocks (also not
 * during a refresh). NIPC_ERR_INVALID_ARGUMENT for a NULL cache or out,
 * NIPC_ERR_NOT_INITIALIZED for a zeroed or closed cache; *out (when not
 * NULL) is then zeroed. */
nipc_error_t nipc_cgroups_cache_status(const nipc_cgroups_cache_t *cache,
                                       nipc_cgroups_cache_status_t *out);

/* The time a refresh's call may take, from the next refresh on; 0 restores
 * the configured call_timeout_ms. Any thread. */
nipc_error_t nipc_cgroups_cache_set_call_timeout(nipc_cgroups_cache_t *cache, uint32_t timeout_ms);

/* Makes the refresh in progress, and every later one until
 * nipc_cgroups_cache_clear_abort, fail with NIPC_ERR_ABORTED (the previous
 * snapshot stays). Any thread; for example to stop a refresh at shutdown
 * before joining the refreshing thread. */
nipc_error_t nipc_cgroups_cache_abort(nipc_cgroups_cache_t *cache);

/* Allows refreshes again after nipc_cgroups_cache_abort. */
nipc_error_t nipc_cgroups_cache_clear_abort(nipc_cgroups_cache_t *cache);

/* Why the last refresh or wait_ready (or _init's arguments) failed, with the
 * whole cause; "" after a success. For a NULL, zeroed or closed cache, the
 * text of that error. Never NULL. Valid until the next refresh, wait_ready or
 * close of the cache: call it from the thread that refreshes. */
const char *nipc_cgroups_cache_last_error(const nipc_cgroups_cache_t *cache);

/* Closes the connection and frees the cache (ready becomes false; every
 * function then returns NIPC_ERR_NOT_INITIALIZED or false). Guards still
 * locked keep their snapshot, and their views stay valid, until they are
 * unlocked. NULL, zeroed and closed caches are ignored;
 * _init makes a closed cache usable again. */
void nipc_cgroups_cache_close(nipc_cgroups_cache_t *cache);

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_SERVICE_H */
