//! Unix `SOCK_SEQPACKET` sockets: listen (one provider per endpoint,
//! stale-endpoint recovery and owner-only permissions: see
//! [`super::endpoint`]), accept, connect, and one-packet send/receive.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvFlags, SendAncillaryBuffer, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType, accept_with, connect as sys_connect, recv, recvmsg, sendmsg,
    socket_with, sockopt,
};

use super::Interrupt;
use super::endpoint::{EndpointLock, bind_and_publish, clear_socket_path, unpublish};
use super::run_dir::open_endpoint_dir;
use super::wait::{wait_readable, wait_writable};
use crate::error::{Error, Result};
use crate::transport::PeerCredentials;
use crate::transport::identity::EndpointAccess;
use crate::transport::names::socket_path;
use crate::wire::HEADER_LEN;

/// Packet size when `SO_SNDBUF` cannot be read.
const FALLBACK_PACKET_SIZE: u32 = 65536;
/// Linux refuses a SEQPACKET datagram longer than `sk_sndbuf - 32`.
const SNDBUF_OVERHEAD: usize = 32;

pub(super) fn new_socket(nonblocking: bool) -> std::io::Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        flags,
        None,
    )?)
}

fn unix_addr(path: &str) -> Result<SocketAddrUnix> {
    SocketAddrUnix::new(path).map_err(|e| Error::io("building the socket address", e.into()))
}

/// A connected SEQPACKET socket.
#[derive(Debug)]
pub(crate) struct Conn {
    fd: OwnedFd,
}

impl Conn {
    /// Sends one packet made of `parts` (one datagram, `MSG_NOSIGNAL`),
    /// waiting for room in the socket until `deadline` (or until
    /// `interrupt` is raised).
    pub(crate) fn send_packet(
        &self,
        parts: &[&[u8]],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<()> {
        while !self.try_send_packet(parts)? {
            wait_writable(self.fd.as_fd(), deadline, interrupt)?;
        }
        Ok(())
    }

    /// Sends one packet made of `parts` without waiting; `false` when the
    /// socket has no room for it now (nothing was sent).
    pub(crate) fn try_send_packet(&self, parts: &[&[u8]]) -> Result<bool> {
        let iov = [
            IoSlice::new(parts.first().copied().unwrap_or_default()),
            IoSlice::new(parts.get(1).copied().unwrap_or_default()),
        ];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        loop {
            match sendmsg(
                &self.fd,
                &iov,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            ) {
                Ok(n) if n == total => return Ok(true),
                Ok(_) => {
                    return Err(Error::io(
                        "sending a packet",
                        std::io::ErrorKind::WriteZero.into(),
                    ));
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(false),
                Err(e) => return Err(map_io_error("sending a packet", e)),
            }
        }
    }

    /// Waits (until `deadline`, or until `interrupt` is raised) for one
    /// packet and receives it into `buf`; returns its real length, which is
    /// larger than `buf` when the packet did not fit.
    pub(crate) fn recv_packet(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<usize> {
        wait_readable(self.fd.as_fd(), deadline, interrupt)?;
        loop {
            if let Some(n) = self.recv_into(buf, RecvFlags::empty())? {
                return Ok(n);
            }
            wait_readable(self.fd.as_fd(), deadline, interrupt)?;
        }
    }

    /// Receives one packet into `buf` if one is waiting (`None` otherwise);
    /// returns its real length, as [`recv_packet`](Self::recv_packet).
    pub(crate) fn try_recv_packet(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.recv_into(buf, RecvFlags::DONTWAIT)
    }

    fn recv_into(&self, buf: &mut [u8], flags: RecvFlags) -> Result<Option<usize>> {
        loop {
            match recv(&self.fd, &mut *buf, RecvFlags::TRUNC | flags) {
                Ok((_, 0)) => return Err(Error::Disconnected),
                Ok((_, real)) => return Ok(Some(real)),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(map_io_error("receiving a packet", e)),
            }
        }
    }

    /// Like [`recv_packet`](Self::recv_packet), with the first 32 bytes of
    /// the packet going to `head` and the rest to `body`.
    pub(crate) fn recv_packet_split(
        &self,
        head: &mut [u8; HEADER_LEN],
        body: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<usize> {
        wait_readable(self.fd.as_fd(), deadline, interrupt)?;
        loop {
            if let Some(n) = self.recv_split_into(head, body, RecvFlags::empty())? {
                return Ok(n);
            }
            wait_readable(self.fd.as_fd(), deadline, interrupt)?;
        }
    }

    /// Like [`try_recv_packet`](Self::try_recv_packet), split as
    /// [`recv_packet_split`](Self::recv_packet_split).
    pub(crate) fn try_recv_packet_split(
        &self,
        head: &mut [u8; HEADER_LEN],
        body: &mut [u8],
    ) -> Result<Option<usize>> {
        self.recv_split_into(head, body, RecvFlags::DONTWAIT)
    }

    fn recv_split_into(
        &self,
        head: &mut [u8; HEADER_LEN],
        body: &mut [u8],
        flags: RecvFlags,
    ) -> Result<Option<usize>> {
        loop {
            let mut iov = [IoSliceMut::new(head), IoSliceMut::new(body)];
            match recvmsg(
                &self.fd,
                &mut iov,
                &mut RecvAncillaryBuffer::default(),
                RecvFlags::TRUNC | flags,
            ) {
                Ok(m) if m.bytes == 0 => return Err(Error::Disconnected),
                Ok(m) => return Ok(Some(m.bytes)),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(map_io_error("receiving a packet", e)),
            }
        }
    }

    /// Whether the peer has closed its end (checked without blocking). Used
    /// as the liveness signal while the data plane is in shared memory.
    pub(crate) fn peer_closed(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN | PollFlags::RDHUP)];
        match poll(
            &mut fds,
            Some(&Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        ) {
            Ok(0) | Err(Errno::INTR) => false,
            Ok(_) => {
                let r = fds[0].revents();
                if r.intersects(
                    PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR | PollFlags::NVAL,
                ) {
                    return true;
                }
                let mut byte = [0u8; 1];
                matches!(
                    recv(&self.fd, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT),
                    Ok((_, 0)) | Err(Errno::CONNRESET | Errno::NOTCONN | Errno::PIPE)
                )
            }
            Err(_) => true,
        }
    }

    /// The largest packet this socket can send: `SO_SNDBUF` minus the
    /// kernel's per-datagram overhead (65536 if it cannot be read).
    pub(crate) fn default_packet_size(&self) -> u32 {
        match sockopt::socket_send_buffer_size(&self.fd) {
            Ok(n) if n > SNDBUF_OVERHEAD + HEADER_LEN => {
                u32::try_from(n - SNDBUF_OVERHEAD).unwrap_or(u32::MAX)
            }
            _ => FALLBACK_PACKET_SIZE,
        }
    }

    /// The peer's process id, user id and group id (`SO_PEERCRED`).
    pub(crate) fn peer(&self) -> PeerCredentials {
        match sockopt::socket_peercred(&self.fd) {
            Ok(cred) => PeerCredentials {
                pid: u32::try_from(cred.pid.as_raw_nonzero().get()).ok(),
                uid: Some(cred.uid.as_raw()),
                gid: Some(cred.gid.as_raw()),
            },
            Err(_) => PeerCredentials::default(),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn map_io_error(context: &'static str, e: Errno) -> Error {
    match e {
        Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN => Error::Disconnected,
        e => Error::io(context, e.into()),
    }
}

/// Longest single blocking `connect` while the provider's backlog is full;
/// the deadline and the interrupt are checked between slices.
const CONNECT_SLICE: Duration = Duration::from_millis(50);

/// Connects to the service's socket. A provider whose listen backlog is
/// full makes `connect` wait for room; that wait ends at `deadline`
/// (`Timeout`) or when `interrupt` is raised (`Interrupted`).
pub(crate) fn connect(
    run_dir: &str,
    service: &str,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<Conn> {
    let path = socket_path(run_dir, service)?;
    let addr = unix_addr(&path)?;
    let fd = new_socket(false).map_err(|e| Error::io("creating a socket", e))?;
    loop {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Error::Interrupted);
        }
        // A blocking Unix-socket connect waits for backlog room for at most
        // the socket's send timeout, then fails with EAGAIN.
        let slice = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(CONNECT_SLICE),
                _ => return Err(Error::Timeout { limit: None }),
            },
            None => CONNECT_SLICE,
        };
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(slice))
            .map_err(|e| Error::io("setting the connect timeout", e.into()))?;
        match sys_connect(&fd, &addr) {
            Ok(()) => {
                sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, None)
                    .map_err(|e| Error::io("clearing the connect timeout", e.into()))?;
                return Ok(Conn { fd });
            }
            Err(Errno::INTR | Errno::AGAIN | Errno::INPROGRESS | Errno::TIMEDOUT) => {}
            Err(Errno::NOENT | Errno::NOTDIR) => return Err(missing(run_dir, path)),
            Err(Errno::CONNREFUSED) => return Err(Error::NotFound { endpoint: path }),
            Err(Errno::ACCESS | Errno::PERM) => return Err(denied(path)),
            Err(e) => return Err(Error::io("connecting to the provider", e.into())),
        }
    }
}

/// Why nothing is at `path`: the run directory itself is missing (or is
/// not a directory), or no provider has created the socket in it.
fn missing(run_dir: &str, path: String) -> Error {
    use crate::transport::run_dir::RunDirError;
    match rustix::fs::stat(run_dir) {
        Err(Errno::NOENT | Errno::NOTDIR) => Error::RunDir(RunDirError::Missing {
            path: run_dir.to_owned(),
        }),
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                != rustix::fs::FileType::Directory =>
        {
            Error::RunDir(RunDirError::NotADirectory {
                path: run_dir.to_owned(),
                kind: super::run_dir::kind_of(&st),
            })
        }
        _ => Error::NotFound { endpoint: path },
    }
}

/// The endpoint at `path` exists but this process may not connect to it;
/// reports its owner and mode (read without following a link).
fn denied(path: String) -> Error {
    let st = rustix::fs::lstat(path.as_str()).ok();
    Error::PermissionDenied {
        owner: st.as_ref().map(|st| st.st_uid),
        group: st.as_ref().map(|st| st.st_gid),
        mode: st.map(|st| st.st_mode & 0o7777),
        endpoint: path,
    }
}

/// A listening socket; closing it removes the socket file and the lock.
#[derive(Debug)]
pub(crate) struct Listener {
    fd: OwnedFd,
    path: String,
    /// The run directory, opened once: every later step is relative to it.
    dir: OwnedFd,
    /// `<service>.sock`.
    name: String,
    /// Device and inode of the socket file we created, so that drop never
    /// removes a file someone else put there.
    node: (u64, u64),
    /// Held for the listener's whole life (see [`super::endpoint`]).
    lock: EndpointLock,
}

impl Listener {
    /// Binds the service's socket (see [`super::endpoint`] for the steps):
    /// checks the run directory, takes the endpoint lock, recovers a stale
    /// endpoint, refuses a live one, and publishes a socket that is
    /// already listening with its final permissions.
    pub(crate) fn bind(run_dir: &str, service: &str, backlog: u32) -> Result<Self> {
        Self::bind_with(run_dir, service, backlog, &EndpointAccess::OwnerOnly)
    }

    /// [`bind`](Self::bind) with the socket file given the mode and group
    /// of `access` (see [`super::identity::apply_access`]) before it
    /// listens and appears under its name.
    pub(crate) fn bind_with(
        run_dir: &str,
        service: &str,
        backlog: u32,
        access: &EndpointAccess,
    ) -> Result<Self> {
        let path = socket_path(run_dir, service)?;
        let name = format!("{service}.sock");
        let dir = open_endpoint_dir(run_dir)?;
        let lock = EndpointLock::acquire(&dir, run_dir, service, &path)?;
        let published = (|| {
            for _ in 0..3 {
                clear_socket_path(&dir, &name, &path)?;
                if let Some(published) = bind_and_publish(&dir, run_dir, service, backlog, access)?
                {
                    return Ok(published);
                }
            }
            // Something keeps appearing at the path although we hold the
            // lock: a provider that takes no lock, or someone else's doing.
            Err(Error::AddressInUse {
                endpoint: path.clone(),
                pid: None,
            })
        })();
        match published {
            Ok(published) => Ok(Self {
                fd: published.fd,
                path,
                dir,
                name,
                node: published.node,
                lock,
            }),
            Err(e) => {
                lock.release(&dir);
                Err(e)
            }
        }
    }

    /// Waits for and accepts one connection.
    pub(crate) fn accept(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Conn> {
        loop {
            wait_readable(self.fd.as_fd(), deadline, interrupt)?;
            match accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => return Ok(Conn { fd }),
                Err(Errno::AGAIN | Errno::INTR | Errno::CONNABORTED) => {}
                Err(e) => return Err(Error::io("accepting a connection", e.into())),
            }
        }
    }

    /// Accepts one waiting connection without blocking (`None` when none
    /// is waiting).
    pub(crate) fn try_accept(&self) -> Result<Option<Conn>> {
        loop {
            match accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => return Ok(Some(Conn { fd })),
                Err(Errno::AGAIN) => return Ok(None),
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(e) => return Err(Error::io("accepting a connection", e.into())),
            }
        }
    }

    /// The socket path.
    pub(crate) fn endpoint(&self) -> &str {
        &self.path
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        unpublish(&self.dir, &self.name, self.node);
        // The lock goes last (its descriptor closes after this body), so
        // the next provider never finds our socket still there.
        self.lock.release(&self.dir);
    }
}
