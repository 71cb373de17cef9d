//! Unix `SOCK_SEQPACKET` sockets: listen (one provider per endpoint,
//! stale-endpoint recovery and owner-only permissions: see
//! [`super::endpoint`]), accept, connect, and one-packet send/receive.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A connected SEQPACKET socket (blocking: only its `DONTWAIT` calls
/// never wait).
#[derive(Debug)]
pub(crate) struct Conn {
    fd: OwnedFd,
    /// The socket's receive timeout (`SO_RCVTIMEO`) as last set, in
    /// nanoseconds; 0: none (a receive blocks until a packet comes).
    recv_timeout: AtomicU64,
}

impl Conn {
    fn new(fd: OwnedFd) -> Self {
        Self {
            fd,
            recv_timeout: AtomicU64::new(0),
        }
    }

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
        self.receive(deadline, interrupt, |flags| self.recv_into(buf, flags))
    }

    /// Receives one packet into `buf` if one is waiting (`None` otherwise);
    /// returns its real length, as [`recv_packet`](Self::recv_packet).
    pub(crate) fn try_recv_packet(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.recv_into(buf, RecvFlags::DONTWAIT)
    }

    /// Whether [`linger_recv_packet`](Self::linger_recv_packet) waits.
    pub(crate) const LINGERS: bool = true;

    /// Receives one packet into `buf` as
    /// [`try_recv_packet`](Self::try_recv_packet) does, waiting for it in
    /// the kernel first, for about `linger` (not zero): one system call
    /// whether a packet comes or not. The wait is the socket's receive
    /// timeout, set the first time (or when `linger` changes); the kernel
    /// rounds it up to whole timer ticks and its timer wheel may add one
    /// more, so a 1 ms wait ends 1 to 2 ticks after the call (4-8 ms at
    /// 250 Hz).
    pub(crate) fn linger_recv_packet(
        &self,
        buf: &mut [u8],
        linger: Duration,
    ) -> Result<Option<usize>> {
        debug_assert!(!linger.is_zero(), "a zero receive timeout means none");
        let nanos = u64::try_from(linger.as_nanos()).unwrap_or(u64::MAX);
        if self.recv_timeout.load(Ordering::Relaxed) != nanos {
            sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Recv, Some(linger))
                .map_err(|e| Error::io("setting the receive timeout", e.into()))?;
            self.recv_timeout.store(nanos, Ordering::Relaxed);
        }
        self.recv_into(buf, RecvFlags::empty())
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
        self.receive(deadline, interrupt, |flags| {
            self.recv_split_into(head, body, flags)
        })
    }

    /// One blocking receive: `recv` (`RecvFlags::empty()` blocks,
    /// `DONTWAIT` does not; `None` when nothing came) until it yields a
    /// packet, `deadline` passes or `interrupt` is raised.
    ///
    /// With no interrupt, or a closing one, the receive blocks in the
    /// kernel: one system call per packet, the deadline kept by the
    /// socket's receive timeout (see [`recv_timeout`]), and a closing
    /// interrupt ends it by shutting the socket down. An ordinary
    /// interrupt needs a `poll` of the socket and its eventfd first.
    fn receive(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        mut recv: impl FnMut(RecvFlags) -> Result<Option<usize>>,
    ) -> Result<usize> {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Error::Interrupted);
        }
        let blocked = match interrupt {
            None => None,
            Some(i) => match i.block(self.fd.as_fd()) {
                Some(b) => Some(b),
                None => return self.receive_polled(deadline, interrupt, recv),
            },
        };
        let result = self.receive_blocking(deadline, interrupt, &mut recv);
        drop(blocked);
        match result {
            // The raise shut the socket down (or came in between).
            Err(_) if interrupt.is_some_and(Interrupt::is_raised) => Err(Error::Interrupted),
            result => result,
        }
    }

    /// [`receive`](Self::receive) that polls before every receive.
    fn receive_polled(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        mut recv: impl FnMut(RecvFlags) -> Result<Option<usize>>,
    ) -> Result<usize> {
        loop {
            wait_readable(self.fd.as_fd(), deadline, interrupt)?;
            if let Some(n) = recv(RecvFlags::DONTWAIT)? {
                return Ok(n);
            }
        }
    }

    /// [`receive`](Self::receive) blocking in `recv` under the socket's
    /// receive timeout; `interrupt` (a closing one, with the socket
    /// registered) is checked before it blocks.
    fn receive_blocking(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        recv: &mut impl FnMut(RecvFlags) -> Result<Option<usize>>,
    ) -> Result<usize> {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Error::Interrupted);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let current = Duration::from_nanos(self.recv_timeout.load(Ordering::Relaxed));
        match recv_timeout(current, left) {
            RecvTimeout::Keep => {}
            RecvTimeout::Set(t) => {
                sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Recv, t)
                    .map_err(|e| Error::io("setting the receive timeout", e.into()))?;
                let nanos = t.map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
                self.recv_timeout.store(nanos, Ordering::Relaxed);
            }
            // Too little time left for the socket's coarse timer.
            RecvTimeout::Poll => return self.receive_polled(deadline, interrupt, recv),
        }
        if let Some(n) = recv(RecvFlags::empty())? {
            return Ok(n);
        }
        // The receive timeout ran out before the deadline (it is set
        // short of it): wait for the rest with the precise poll timeout.
        self.receive_polled(deadline, interrupt, recv)
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

/// What a blocking receive does about the socket's receive timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvTimeout {
    /// The timeout set now serves.
    Keep,
    /// Set it to this (`None`: no timeout) first.
    Set(Option<Duration>),
    /// Too little time is left: `poll` with the precise timeout instead.
    Poll,
}

/// Shortest time left for which a receive blocks under the socket's
/// receive timeout; below it, `poll` waits.
const MIN_RECV_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest receive timeout set (a longer wait goes on with `poll`).
const MAX_RECV_TIMEOUT: Duration = Duration::from_secs(3600);

/// Chooses the receive timeout of a blocking receive with `left` to go
/// (`None`: no deadline), the socket's timeout being `current` (zero:
/// none).
///
/// The kernel keeps a receive timeout on its coarse timer wheel, which
/// may fire up to an eighth late (plus a tick), so the timeout set stays
/// well short of the deadline: at most three quarters of `left` less
/// 20 ms. It is set anew only when `current` is above that or below half
/// of it, so calls with the same timeout set it once (one system call
/// saved per receive against a `poll`). A receive whose timeout runs out
/// first waits for the rest with `poll`.
fn recv_timeout(current: Duration, left: Option<Duration>) -> RecvTimeout {
    let Some(left) = left else {
        return if current.is_zero() {
            RecvTimeout::Keep
        } else {
            RecvTimeout::Set(None)
        };
    };
    if left < MIN_RECV_TIMEOUT {
        return RecvTimeout::Poll;
    }
    let most = (left - left / 4 - Duration::from_millis(20)).min(MAX_RECV_TIMEOUT);
    if !current.is_zero() && current <= most && current >= most / 2 {
        return RecvTimeout::Keep;
    }
    // Leave room below `most`, so that the next call (whose `left` is a
    // little shorter or longer) keeps it. Rounded to whole milliseconds:
    // what the kernel keeps is coarser anyway.
    let t = most - most / 8;
    RecvTimeout::Set(Some(Duration::from_millis(
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
    )))
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
                return Ok(Conn::new(fd));
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
    #[cfg(feature = "test-support")]
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
                Ok(fd) => return Ok(Conn::new(fd)),
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
                Ok(fd) => return Ok(Some(Conn::new(fd))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pair() -> (Conn, Conn) {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        (Conn::new(a), Conn::new(b))
    }

    fn timeout_of(c: &Conn) -> Duration {
        Duration::from_nanos(c.recv_timeout.load(Ordering::Relaxed))
    }

    #[test]
    fn the_receive_timeout_stays_short_of_the_deadline_and_is_set_once() {
        let ms = Duration::from_millis;
        assert_eq!(recv_timeout(Duration::ZERO, None), RecvTimeout::Keep);
        assert_eq!(recv_timeout(ms(5), None), RecvTimeout::Set(None));
        assert_eq!(
            recv_timeout(Duration::ZERO, Some(ms(99))),
            RecvTimeout::Poll
        );
        let RecvTimeout::Set(Some(t)) = recv_timeout(Duration::ZERO, Some(ms(30_000))) else {
            panic!("a long wait sets a timeout");
        };
        // Late by an eighth and a tick, it still fires before the deadline.
        assert!(t + t / 8 + ms(10) < ms(30_000), "{t:?}");
        assert!(t > ms(15_000), "{t:?}");
        // The next calls, with a little more or less time left, keep it.
        for left in [29_990, 30_000, 30_010, 27_000, 50_000] {
            assert_eq!(recv_timeout(t, Some(ms(left))), RecvTimeout::Keep, "{left}");
        }
        // Much less time left: a shorter one; much more: a longer one.
        assert!(
            matches!(recv_timeout(t, Some(ms(1_000))), RecvTimeout::Set(Some(s)) if s < ms(750))
        );
        assert!(matches!(recv_timeout(t, Some(ms(100_000))), RecvTimeout::Set(Some(s)) if s > t));
        // Huge deadlines are capped, and the cap is kept.
        let RecvTimeout::Set(Some(cap)) = recv_timeout(t, Some(Duration::from_secs(1 << 31)))
        else {
            panic!("a huge wait sets the cap");
        };
        assert!(cap <= MAX_RECV_TIMEOUT);
        assert_eq!(
            recv_timeout(cap, Some(Duration::from_secs(1 << 30))),
            RecvTimeout::Keep
        );
    }

    #[test]
    fn a_blocking_receive_never_ends_before_its_deadline() {
        let (a, _b) = pair();
        for wait in [50u64, 300] {
            let limit = Duration::from_millis(wait);
            let started = Instant::now();
            let err = a
                .recv_packet(&mut [0; 16], Some(started + limit), None)
                .unwrap_err();
            let took = started.elapsed();
            assert!(matches!(err, Error::Timeout { .. }), "{err}");
            assert!(took >= limit, "{took:?} < {limit:?}");
            assert!(took < limit + Duration::from_secs(2), "{took:?}");
        }
    }

    #[test]
    fn receives_with_the_same_timeout_set_the_socket_once() {
        let (a, b) = pair();
        let b = Arc::new(b);
        let mut buf = [0u8; 16];
        let mut set = None;
        for i in 0..3u8 {
            let sender = b.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                sender.send_packet(&[&[i; 3]], None, None).unwrap();
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            assert_eq!(a.recv_packet(&mut buf, Some(deadline), None).unwrap(), 3);
            assert_eq!(buf[..3], [i; 3]);
            t.join().unwrap();
            let now = timeout_of(&a);
            assert!(now > Duration::from_secs(5) && now < Duration::from_secs(8));
            assert_eq!(*set.get_or_insert(now), now, "set again");
        }
        // A receive without a deadline clears it.
        b.send_packet(&[b"x"], None, None).unwrap();
        assert_eq!(a.recv_packet(&mut buf, None, None).unwrap(), 1);
        assert_eq!(timeout_of(&a), Duration::ZERO);
        // What is there already is received even past the deadline.
        b.send_packet(&[b"yz"], None, None).unwrap();
        assert_eq!(
            a.recv_packet(&mut buf, Some(Instant::now()), None).unwrap(),
            2
        );
    }

    #[test]
    fn a_closing_interrupt_ends_a_blocked_receive_and_the_connection() {
        let (a, b) = pair();
        let interrupt = Arc::new(Interrupt::new_closing().unwrap());
        let raiser = interrupt.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            raiser.raise();
        });
        let started = Instant::now();
        for deadline in [None, Some(started + Duration::from_secs(30))] {
            let err = a
                .recv_packet(&mut [0; 16], deadline, Some(&interrupt))
                .unwrap_err();
            assert!(matches!(err, Error::Interrupted), "{err}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        interrupt.clear();
        // The raise shut the blocked connection down, both ways.
        let err = a.recv_packet(&mut [0; 16], None, None).unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err}");
        assert!(b.send_packet(&[b"x"], None, None).is_err());
    }

    #[test]
    fn a_closing_interrupt_leaves_connections_that_are_not_blocked_alone() {
        let (a, b) = pair();
        let interrupt = Interrupt::new_closing().unwrap();
        interrupt.raise();
        let err = a
            .recv_packet(&mut [0; 16], None, Some(&interrupt))
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{err}");
        interrupt.clear();
        b.send_packet(&[b"ok"], None, None).unwrap();
        let mut buf = [0u8; 16];
        let n = a.recv_packet(&mut buf, None, Some(&interrupt)).unwrap();
        assert_eq!(&buf[..n], b"ok");
        // A receive that is over is no longer registered.
        interrupt.raise();
        interrupt.clear();
        b.send_packet(&[b"still"], None, None).unwrap();
        let n = a.recv_packet(&mut buf, None, Some(&interrupt)).unwrap();
        assert_eq!(&buf[..n], b"still");
    }
}
