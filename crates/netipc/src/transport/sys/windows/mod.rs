//! The Windows backend (named pipes and shared memory).
//!
//! The named-pipe transport is not implemented yet: every operation that
//! would open a pipe reports an `Unsupported` I/O error. Everything that
//! does not touch a pipe (codecs, handshake rules, framing) works.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::transport::PeerCredentials;
use crate::wire::HEADER_LEN;

fn unsupported() -> Error {
    Error::io(
        "the Windows named-pipe transport",
        std::io::Error::new(std::io::ErrorKind::Unsupported, "not implemented yet"),
    )
}

#[derive(Debug)]
pub(crate) struct Conn {
    _private: (),
}

impl Conn {
    pub(crate) fn send_packet(&self, _parts: &[&[u8]]) -> Result<()> {
        Err(unsupported())
    }
    pub(crate) fn recv_packet(&self, _buf: &mut [u8]) -> Result<usize> {
        Err(unsupported())
    }
    pub(crate) fn recv_packet_split(
        &self,
        _head: &mut [u8; HEADER_LEN],
        _body: &mut [u8],
    ) -> Result<usize> {
        Err(unsupported())
    }
    pub(crate) fn wait_readable(
        &self,
        _deadline: Option<Instant>,
        _interrupt: Option<&Interrupt>,
    ) -> Result<()> {
        Err(unsupported())
    }
    pub(crate) fn default_packet_size(&self) -> u32 {
        65536
    }
    pub(crate) fn peer(&self) -> PeerCredentials {
        PeerCredentials::default()
    }
    pub(crate) fn peer_closed(&self) -> bool {
        true
    }
}

pub(crate) fn connect(_run_dir: &str, _service: &str) -> Result<Conn> {
    Err(unsupported())
}

#[derive(Debug)]
pub(crate) struct Listener {
    _private: (),
}

impl Listener {
    pub(crate) fn bind(_run_dir: &str, _service: &str, _backlog: u32) -> Result<Self> {
        Err(unsupported())
    }
    pub(crate) fn accept(
        &self,
        _deadline: Option<Instant>,
        _interrupt: Option<&Interrupt>,
    ) -> Result<Conn> {
        Err(unsupported())
    }
    pub(crate) fn endpoint(&self) -> &str {
        ""
    }
}

#[derive(Debug)]
pub(crate) struct Interrupt {
    raised: AtomicBool,
}

impl Interrupt {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            raised: AtomicBool::new(false),
        })
    }
    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
    }
    pub(crate) fn clear(&self) {
        self.raised.store(false, Ordering::SeqCst);
    }
    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

/// Shared-memory profiles this backend can serve (none yet).
pub(crate) fn shm_profiles() -> u32 {
    0
}

/// A shared-memory session region (not implemented on this backend yet;
/// never created because `shm_profiles()` is empty).
#[derive(Debug)]
pub(crate) struct ShmRegion {
    _private: (),
}

impl ShmRegion {
    pub(crate) fn attach(
        _key: &crate::transport::shm::ShmKey<'_>,
        _profile: u32,
    ) -> Result<Self, crate::transport::ShmAttachError> {
        Err(crate::transport::ShmAttachError::NotReady)
    }
    pub(crate) fn recv_capacity(&self) -> usize {
        0
    }
    pub(crate) fn set_extensions(&mut self, _extensions: u32) {}
    pub(crate) fn publish(&mut self, _parts: &[&[u8]]) -> Result<()> {
        Err(unsupported())
    }
    pub(crate) fn receive(
        &mut self,
        _buf: &mut [u8],
        _deadline: Option<Instant>,
        _interrupt: Option<&Interrupt>,
        _peer_alive: impl FnMut() -> bool,
    ) -> Result<usize> {
        Err(unsupported())
    }
}

/// Stale-object cleanup: kernel objects vanish with their last handle.
pub(crate) fn cleanup_stale(_run_dir: &str, _service: &str) {}

/// netipc protocol extensions this backend implements.
pub(crate) fn extensions() -> u32 {
    0
}

/// The raw shared-memory limit row (not implemented on this backend yet).
#[derive(Debug)]
pub(crate) struct RawShm {
    _private: (),
}

impl RawShm {
    pub(crate) fn create(_path: &str) -> Result<Self> {
        Err(unsupported())
    }
    pub(crate) fn open(_path: &str) -> Result<Self> {
        Err(unsupported())
    }
    pub(crate) fn post(&self, _lane: usize, _value: u64) {}
    pub(crate) fn wait(
        &self,
        _lane: usize,
        _value: u64,
        _timeout: std::time::Duration,
    ) -> Result<()> {
        Err(unsupported())
    }
}

/// The shared-memory objects prepared for one handshake (none yet).
#[derive(Debug)]
pub(crate) struct ShmOffer {
    _private: (),
}

impl ShmOffer {
    pub(crate) fn provision(
        key: &crate::transport::shm::ShmKey<'_>,
        _profiles: u32,
        _req: u32,
        _resp: u32,
    ) -> Self {
        let _ = (key.run_dir, key.service, key.session_id, key.auth_token);
        Self { _private: () }
    }
    pub(crate) fn profiles(&self) -> u32 {
        0
    }
    pub(crate) fn take(self, _selected: u32) -> Option<ShmRegion> {
        None
    }
}
