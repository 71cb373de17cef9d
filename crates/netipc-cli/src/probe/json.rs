//! What `netipc probe --json` prints, serialized by serde.

use netipc::transport::handshake::SessionParams;
use serde::Serialize;

/// The probe of one provider.
#[derive(Serialize)]
pub struct Probe<'a> {
    pub service: &'a str,
    pub run_dir: &'a str,
    pub endpoint: &'a str,
    pub kind: &'static str,
    pub method: &'static str,
    pub handshake_ns: u64,
    /// The negotiated session.
    #[serde(flatten)]
    pub session: Session,
    pub peer_pid: Option<u32>,
    pub round_trip: RoundTrip,
    pub notes: Vec<String>,
}

/// What the handshake settled.
#[derive(Serialize)]
pub struct Session {
    profile: u32,
    profile_name: String,
    shared_memory: bool,
    data_plane: String,
    session_id: u64,
    max_request_payload_bytes: u32,
    max_request_batch_items: u32,
    max_response_payload_bytes: u32,
    max_response_batch_items: u32,
    packet_size: u32,
    extensions: u32,
}

impl Session {
    /// The session of `params`, whose data plane reads `data_plane`.
    pub fn new(params: &SessionParams, data_plane: String) -> Self {
        Self {
            profile: params.selected_profile.bits(),
            profile_name: params.selected_profile.to_string(),
            shared_memory: params.is_shm(),
            data_plane,
            session_id: params.session_id,
            max_request_payload_bytes: params.max_request_payload_bytes,
            max_request_batch_items: params.max_request_batch_items,
            max_response_payload_bytes: params.max_response_payload_bytes,
            max_response_batch_items: params.max_response_batch_items,
            packet_size: params.packet_size,
            extensions: params.extensions,
        }
    }
}

/// The measured round trips, in nanoseconds.
#[derive(Serialize)]
pub struct RoundTrip {
    pub calls: u32,
    /// What one call was.
    pub measured: String,
    pub median_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
}
