//! `nipc_client_config_t` and `nipc_server_config_t`: plain C data, turned
//! into the Rust core's configs (zero keeps meaning the documented default).

#![allow(non_camel_case_types)]

use std::time::Duration;

use netipc::service::{ClientConfig, Profiles, ServerConfig};

/// `nipc_client_config_t` (netipc_service.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nipc_client_config_t {
    /// Profiles offered (0: baseline and SHM_HYBRID).
    pub supported_profiles: u32,
    /// Profiles preferred (0: SHM_HYBRID).
    pub preferred_profiles: u32,
    /// Request payload size (0: from 1024, growing to 1 MiB).
    pub max_request_payload_bytes: u32,
    /// Batch items (0: 1).
    pub max_request_batch_items: u32,
    /// Largest response accepted (0: 1 MiB).
    pub max_response_payload_bytes: u32,
    /// Default call timeout in ms (0: 30000).
    pub call_timeout_ms: u32,
    /// Shared secret.
    pub auth_token: u64,
    /// Keys per lookup (0: 65536).
    pub max_logical_lookup_items: u32,
    /// Exchanges per lookup (0: 4096).
    pub max_logical_lookup_subcalls: u32,
    /// Stitched lookup response bytes (0: 64 MiB).
    pub max_logical_lookup_response_bytes: u32,
    /// Keep 0.
    pub reserved_: u32,
}

/// `nipc_server_config_t` (netipc_service.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nipc_server_config_t {
    /// Profiles offered (0: baseline and SHM_HYBRID).
    pub supported_profiles: u32,
    /// Profiles preferred (0: SHM_HYBRID).
    pub preferred_profiles: u32,
    /// Largest request accepted (0: 1 MiB).
    pub max_request_payload_bytes: u32,
    /// Accepted for source compatibility; unused.
    pub max_request_batch_items: u32,
    /// Response size (0: from 64 KiB, growing to 1 MiB; else fixed).
    pub max_response_payload_bytes: u32,
    /// Sessions at once (0: 1024).
    pub max_sessions: u32,
    /// Shared secret.
    pub auth_token: u64,
    /// Send timeout in ms (0: 5000).
    pub send_timeout_ms: u32,
    /// Keep 0.
    pub reserved_: u32,
}

const _: () = assert!(size_of::<nipc_client_config_t>() == 48);
const _: () = assert!(size_of::<nipc_server_config_t>() == 40);

fn profiles(bits: u32) -> Profiles {
    Profiles::from_bits_truncate(bits)
}

impl nipc_client_config_t {
    /// The Rust core's config.
    #[must_use]
    pub fn to_rust(&self) -> ClientConfig {
        ClientConfig {
            supported_profiles: profiles(self.supported_profiles),
            preferred_profiles: profiles(self.preferred_profiles),
            max_request_payload_bytes: self.max_request_payload_bytes,
            max_request_batch_items: self.max_request_batch_items,
            max_response_payload_bytes: self.max_response_payload_bytes,
            auth_token: self.auth_token,
            call_timeout: Duration::from_millis(u64::from(self.call_timeout_ms)),
            max_lookup_items: self.max_logical_lookup_items,
            max_lookup_subcalls: self.max_logical_lookup_subcalls,
            max_lookup_response_bytes: self.max_logical_lookup_response_bytes,
            ..ClientConfig::default()
        }
    }
}

impl nipc_server_config_t {
    /// The Rust core's config with `workers` worker threads (< 1: 1, as
    /// the reference C servers do).
    #[must_use]
    pub fn to_rust(&self, workers: i32) -> ServerConfig {
        ServerConfig {
            supported_profiles: profiles(self.supported_profiles),
            preferred_profiles: profiles(self.preferred_profiles),
            max_request_payload_bytes: self.max_request_payload_bytes,
            max_response_payload_bytes: self.max_response_payload_bytes,
            auth_token: self.auth_token,
            workers: usize::try_from(workers).unwrap_or(1).max(1),
            max_sessions: self.max_sessions as usize,
            send_timeout: Duration::from_millis(u64::from(self.send_timeout_ms)),
            ..ServerConfig::default()
        }
    }
}
