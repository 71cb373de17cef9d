//! The readiness poller of multi-session servers: one epoll instance that
//! any number of worker threads wait on at once.
//!
//! Every registration is one-shot (`EPOLLONESHOT`): an event disarms its
//! descriptor, so exactly one worker handles it, and the worker re-arms it
//! when it is done. Tokens posted from other threads (`post`) travel through
//! a queue whose eventfd is itself a one-shot registration, so one post
//! wakes one worker.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use rustix::event::{EventfdFlags, Timespec, epoll, eventfd};
use rustix::io::Errno;

use super::socket::{Conn, Listener};
use crate::error::{Error, Result};

/// The token of the posted-token queue's eventfd (never a caller token).
const QUEUE: u64 = u64::MAX;

/// What a registered connection is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// A packet can be received, or the peer hung up.
    Read,
    /// A packet can be sent, or the peer hung up.
    Write,
    /// Only the peer hanging up (a shared-memory session's socket).
    HangUp,
}

impl Interest {
    fn flags(self) -> epoll::EventFlags {
        use epoll::EventFlags as F;
        F::ONESHOT
            | F::RDHUP
            | match self {
                Self::Read => F::IN,
                Self::Write => F::OUT,
                Self::HangUp => F::empty(),
            }
    }
}

/// One event a worker takes from the poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The descriptor registered under `token` is ready for what it was
    /// armed for; `hang_up` when the peer closed or the socket failed.
    Io {
        /// The registration's token.
        token: u64,
        /// The peer hung up (or the socket reported an error).
        hang_up: bool,
    },
    /// A token another thread posted.
    Posted(u64),
}

/// An epoll instance shared by the workers of one server. `Send + Sync`.
#[derive(Debug)]
pub(crate) struct Poller {
    epoll: OwnedFd,
    queue: Mutex<VecDeque<u64>>,
    queue_fd: OwnedFd,
}

impl Poller {
    pub(crate) fn new() -> Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| Error::io("creating the epoll instance", e.into()))?;
        let queue_fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("creating the wake-up eventfd", e.into()))?;
        epoll::add(
            &epoll,
            &queue_fd,
            epoll::EventData::new_u64(QUEUE),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        )
        .map_err(|e| Error::io("registering the wake-up eventfd", e.into()))?;
        Ok(Self {
            epoll,
            queue: Mutex::new(VecDeque::new()),
            queue_fd,
        })
    }

    /// Watches the listener for waiting connections (one-shot, re-armed
    /// with [`rearm_listener`](Self::rearm_listener)).
    pub(crate) fn add_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        epoll::add(
            &self.epoll,
            listener.as_fd(),
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        )
        .map_err(|e| Error::io("registering the listener", e.into()))
    }

    /// Arms the listener for its next event.
    pub(crate) fn rearm_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        epoll::modify(
            &self.epoll,
            listener.as_fd(),
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        )
        .map_err(|e| Error::io("re-arming the listener", e.into()))
    }

    /// Stops watching the listener.
    pub(crate) fn remove_listener(&self, listener: &Listener) {
        let _ = epoll::delete(&self.epoll, listener.as_fd());
    }

    /// Registers a connection under `token`, armed for `interest`.
    pub(crate) fn add(&self, conn: &Conn, token: u64, interest: Interest) -> Result<()> {
        epoll::add(
            &self.epoll,
            conn.as_fd(),
            epoll::EventData::new_u64(token),
            interest.flags(),
        )
        .map_err(|e| Error::io("registering a connection", e.into()))
    }

    /// Arms a registered connection for its next event.
    pub(crate) fn rearm(&self, conn: &Conn, token: u64, interest: Interest) -> Result<()> {
        epoll::modify(
            &self.epoll,
            conn.as_fd(),
            epoll::EventData::new_u64(token),
            interest.flags(),
        )
        .map_err(|e| Error::io("re-arming a connection", e.into()))
    }

    /// Stops watching a connection (before it is closed).
    pub(crate) fn remove(&self, conn: &Conn) {
        let _ = epoll::delete(&self.epoll, conn.as_fd());
    }

    /// Delivers `token` to one waiting worker as [`Event::Posted`].
    pub(crate) fn post(&self, token: u64) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.push_back(token);
        // The counter only needs to be non-zero; a full one still is.
        let _ = rustix::io::write(&self.queue_fd, &1u64.to_ne_bytes());
    }

    /// Waits for one event: `None` when `timeout` passed or the wake-up
    /// was taken by another worker.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let mut buf = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 1];
        let timeout = timeout.map(|t| Timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        let event = match epoll::wait(&self.epoll, &mut buf, timeout.as_ref()) {
            Ok((events, _)) => match events.first() {
                Some(e) => *e,
                None => return Ok(None),
            },
            Err(Errno::INTR) => return Ok(None),
            Err(e) => return Err(Error::io("waiting for events", e.into())),
        };
        let token = event.data.u64();
        if token == QUEUE {
            return Ok(self.take_posted());
        }
        use epoll::EventFlags as F;
        let flags = event.flags;
        let hang_up = flags.intersects(F::HUP | F::RDHUP | F::ERR);
        Ok(Some(Event::Io { token, hang_up }))
    }

    /// Takes one posted token and re-arms the queue's eventfd (it fires
    /// again at once while tokens are left, for the next worker).
    fn take_posted(&self) -> Option<Event> {
        let token = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let token = queue.pop_front();
            if queue.is_empty() {
                let mut drain = [0u8; 8];
                let _ = rustix::io::read(&self.queue_fd, &mut drain);
            }
            token
        };
        let _ = epoll::modify(
            &self.epoll,
            &self.queue_fd,
            epoll::EventData::new_u64(QUEUE),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        );
        token.map(Event::Posted)
    }
}
