//! Windows shared memory (not implemented yet: no SHM profile is offered,
//! so none of this is reached).

use std::time::Instant;

use super::Interrupt;
use crate::error::{Error, Result};
use crate::transport::ShmAttachError;
use crate::transport::shm::ShmKey;

fn unsupported() -> Error {
    Error::io(
        "Windows shared memory",
        std::io::ErrorKind::Unsupported.into(),
    )
}

#[derive(Debug)]
pub(crate) struct ShmRegion {
    _private: (),
}

impl ShmRegion {
    pub(crate) fn attach(_key: &ShmKey<'_>, _profile: u32) -> Result<Self, ShmAttachError> {
        Err(ShmAttachError::NotReady)
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

#[derive(Debug)]
pub(crate) struct ShmOffer {
    _private: (),
}

impl ShmOffer {
    pub(crate) fn provision(key: &ShmKey<'_>, _profiles: u32, _req: u32, _resp: u32) -> Self {
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

/// Kernel objects vanish with their last handle: nothing is ever stale.
pub(crate) fn cleanup_stale(_run_dir: &str, _service: &str) {}

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

pub(crate) fn shm_profiles() -> u32 {
    0
}
