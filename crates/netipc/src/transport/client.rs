//! The client side of a session.

use std::time::Duration;

use super::channel::{Channel, DataPlane, Message, Wait, deadline};
use super::framing::{InFlight, LimitExceeded, Limits, ProtocolError};
use super::handshake::{HANDSHAKE_PACKET_MAX, SessionParams, client_handshake, hello_message};
use super::shm::{ShmAttachError, ShmKey};
use super::{ClientOptions, Interrupt, PeerCredentials, sys};
use crate::error::{Error, Result};
use crate::wire::{HEADER_LEN, Header, MessageKind};

/// A connected, handshaken client session.
///
/// Requests are sent with [`send_request`](Self::send_request) (or
/// [`send_batch`](Self::send_batch)) and their responses received with
/// [`recv`](Self::recv). Several requests may be in flight at once
/// (pipelining); responses are matched by message id and may arrive in any
/// order. A message id may be in flight only once.
///
/// Any send or receive error other than a refused send (limits, duplicate
/// id) leaves the session unusable and forgets every in-flight id; connect
/// again. Dropping the session closes it.
///
/// A session is `Send` but not `Sync`: one thread uses it at a time. Use an
/// [`Interrupt`] to wake a blocked receive from another thread.
///
/// # Platform-specific behavior
///
/// The baseline transport is a Unix SEQPACKET socket on POSIX (available
/// through `AsFd`) and a message-mode named pipe on Windows (through
/// `AsRawHandle`, opened for overlapped I/O). The default packet size is
/// the socket's send buffer minus the kernel's per-datagram overhead on
/// Linux, 65536 on Windows. Shared memory is a file in the run directory
/// on Linux (profile bits 0x02 and 0x04 select the same spin-then-futex
/// region) and a page-file-backed mapping plus events on Windows (0x02:
/// spin then event, 0x04: spin only).
#[derive(Debug)]
#[must_use = "dropping a ClientSession closes the connection"]
pub struct ClientSession {
    pub(crate) chan: Channel,
    in_flight: InFlight,
    send_timeout: Duration,
    /// The largest response payload this client accepts.
    response_limit: u32,
}

impl ClientSession {
    /// Connects to `service` under `run_dir` and runs the handshake.
    ///
    /// Blocks until the server answered the HELLO and, for a shared-memory
    /// session, the region is attached; all of it together takes at most
    /// the handshake timeout (a provider whose backlog is full included).
    ///
    /// Before the HELLO (which carries the auth token) is sent, the
    /// provider's identity is checked against the options'
    /// `provider_identity` (see [`super::identity`]).
    ///
    /// # Errors
    /// `RunDir` when the run directory is empty or does not exist (on every
    /// OS), `NotFound` when no server listens, `Name` for an invalid service
    /// name or a too-long path, `UntrustedProvider` when the provider runs
    /// as an identity `provider_identity` does not accept (nothing was
    /// sent), `Handshake` when the server rejects the proposal (auth token,
    /// this client's identity, profiles, limits, a provider at its session
    /// limit) or answers garbage, `Timeout`, `Disconnected`, `Io`.
    pub fn connect(run_dir: &str, service: &str, options: &ClientOptions) -> Result<Self> {
        Self::connect_until(
            run_dir,
            service,
            options,
            crate::wire::HELLO_FLAG_EXTENSIONS,
            deadline(Some(options.handshake_timeout())),
            None,
        )
    }

    /// [`connect`](Self::connect) with explicit HELLO flags (0 behaves like
    /// a reference client: no netipc extensions), ending at `until` at the
    /// latest or when `interrupt` is raised.
    pub(crate) fn connect_until(
        run_dir: &str,
        service: &str,
        options: &ClientOptions,
        hello_flags: u16,
        until: Option<std::time::Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Self> {
        let run_dir = &super::run_dir::endpoint_dir(run_dir, service)?;
        let raised = interrupt.map(Interrupt::sys);
        let conn = sys::connect(run_dir, service, until, raised)?;
        // Before anything is sent: the HELLO carries the auth token.
        super::identity::check_provider(&conn, &options.provider_identity, || {
            sys::endpoint_name(run_dir, service)
        })?;
        let mut offer = options.offer(conn.default_packet_size(), sys::shm_profiles());
        offer.flags = hello_flags;
        conn.send_packet(&[&hello_message(&offer.hello())], until, raised)?;
        let mut reply = [0u8; HANDSHAKE_PACKET_MAX];
        let n = conn.recv_packet(&mut reply, until, raised)?;
        let mut params = client_handshake(&reply[..n.min(HANDSHAKE_PACKET_MAX)])?;
        // The provider's ceiling is adopted up to this client's own limit,
        // never beyond: a larger announcement must not size anything here.
        let response_limit = options.response_limit();
        params.max_response_payload_bytes = params.max_response_payload_bytes.min(response_limit);
        let shm = if params.is_shm() {
            let key = ShmKey {
                run_dir,
                service,
                auth_token: options.auth_token,
                session_id: params.session_id,
                owner: conn.peer().uid,
                access: Default::default(),
            };
            Some(attach(
                &conn,
                &key,
                params.selected_profile.bits(),
                until,
                interrupt,
            )?)
        } else {
            None
        };
        let inbound = Limits {
            max_payload: params.max_response_payload_bytes,
            max_items: params.max_response_batch_items,
        };
        let outbound = Limits {
            max_payload: params.max_request_payload_bytes,
            max_items: params.max_request_batch_items,
        };
        Ok(Self {
            chan: Channel::new(conn, params, inbound, outbound, shm),
            in_flight: InFlight::new(),
            send_timeout: options.send_timeout(),
            response_limit,
        })
    }

    /// The negotiated session parameters, with the response ceiling capped
    /// at this client's own limit (`ClientOptions::response_payload_limit`)
    /// when the server announced more.
    #[must_use]
    pub fn params(&self) -> &SessionParams {
        &self.chan.params
    }

    /// The serving process, as the operating system reports it.
    #[must_use]
    pub fn peer(&self) -> PeerCredentials {
        self.chan.conn.peer()
    }

    /// How this session moves its messages.
    #[must_use]
    pub fn data_plane(&self) -> DataPlane {
        self.chan.data_plane()
    }

    /// Whether the data plane runs over shared memory (then one request
    /// may be in flight at a time).
    #[must_use]
    pub fn is_shm(&self) -> bool {
        self.chan.is_shm()
    }

    /// Number of requests sent and not yet answered.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Sends a single request (`flags = 0`, `item_count = 1`). Waits at
    /// most the send timeout for the server to make room.
    ///
    /// # Errors
    /// `DuplicateMessageId` or `LimitExceeded` (nothing sent, session still
    /// usable); `Timeout`, `Disconnected` or `Io` (session broken).
    pub fn send_request(&mut self, code: u16, message_id: u64, payload: &[u8]) -> Result<()> {
        self.send(
            &Header::new(MessageKind::Request, code, message_id, 0),
            payload,
        )
    }

    /// Sends one request with an arbitrary header (`kind` must be REQUEST;
    /// `payload_len` is filled in from `payload`).
    ///
    /// # Errors
    /// As [`send_request`](Self::send_request); `WrongKind` for another kind.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<()> {
        self.send_with(header, payload, Wait::Within(self.send_timeout))
    }

    /// Sends `items` as one batch request (BATCH flag, `item_count` =
    /// number of items).
    ///
    /// # Errors
    /// As [`send_request`](Self::send_request).
    pub fn send_batch<'i, I>(&mut self, code: u16, message_id: u64, items: I) -> Result<()>
    where
        I: IntoIterator<Item = &'i [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let wait = Wait::Within(self.send_timeout);
        self.send_batch_with(code, message_id, items, wait)
    }

    /// The longest a send waits for the server to make room.
    #[must_use]
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// Changes the send timeout; zero restores
    /// [`DEFAULT_SEND_TIMEOUT`](super::DEFAULT_SEND_TIMEOUT).
    pub fn set_send_timeout(&mut self, timeout: Duration) {
        self.send_timeout = if timeout.is_zero() {
            super::DEFAULT_SEND_TIMEOUT
        } else {
            timeout
        };
    }

    /// [`send`](Self::send), waiting for room as `wait` says (never
    /// [`Wait::Now`]: a client sends whole messages).
    pub(crate) fn send_with(
        &mut self,
        header: &Header,
        payload: &[u8],
        wait: Wait<'_>,
    ) -> Result<()> {
        self.start(header)?;
        let result = self.chan.send(header, payload, wait).map(|_| ());
        self.finish_send(header, result)
    }

    /// [`send_batch`](Self::send_batch), waiting for room as `wait` says.
    pub(crate) fn send_batch_with<'i, I>(
        &mut self,
        code: u16,
        message_id: u64,
        items: I,
        wait: Wait<'_>,
    ) -> Result<()>
    where
        I: IntoIterator<Item = &'i [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let header = Header::new(MessageKind::Request, code, message_id, 0);
        self.start(&header)?;
        let result = self.chan.send_batch(&header, items, wait).map(|_| ());
        self.finish_send(&header, result)
    }

    fn start(&mut self, header: &Header) -> Result<()> {
        if header.kind != MessageKind::Request {
            return Err(Error::WrongKind {
                side: "client",
                kind: header.kind.spec_name(),
            });
        }
        if self.in_flight.contains(header.message_id) {
            return Err(Error::DuplicateMessageId(header.message_id));
        }
        if self.chan.is_shm() && !self.in_flight.is_empty() {
            return Err(Error::Busy);
        }
        self.in_flight.insert(header.message_id);
        Ok(())
    }

    fn finish_send(&mut self, header: &Header, result: Result<()>) -> Result<()> {
        match &result {
            Ok(()) => {}
            Err(e) if !e.breaks_session() => {
                self.in_flight.remove(header.message_id);
            }
            Err(_) => self.in_flight.clear(),
        }
        result
    }

    /// Receives the next response. `timeout` bounds the whole message (all
    /// of its packets); `None` waits forever.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Disconnected`, `Protocol` (including a
    /// response whose id is not in flight), `Io`. Every error forgets the
    /// in-flight ids: the session is unusable.
    pub fn recv(
        &mut self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Message<'_>> {
        self.recv_until(deadline(timeout), interrupt)
    }

    /// [`recv`](Self::recv) ending at `until` or when `interrupt` is
    /// raised.
    pub(crate) fn recv_until(
        &mut self,
        until: Option<std::time::Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Message<'_>> {
        match self.chan.recv(until, interrupt, Some(&mut self.in_flight)) {
            Ok(m) => Ok(m),
            Err(e) => {
                self.in_flight.clear();
                Err(too_large(e, self.response_limit))
            }
        }
    }

    /// The last response [`recv`](Self::recv) returned, still in the
    /// session's buffer; `None` after a failed receive or before the first.
    #[must_use]
    pub fn last_response(&self) -> Option<Message<'_>> {
        self.chan.last()
    }

    /// Sends one request and waits for its response (the only one in
    /// flight).
    ///
    /// # Errors
    /// As [`send_request`](Self::send_request) and [`recv`](Self::recv).
    pub fn call(
        &mut self,
        code: u16,
        message_id: u64,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Message<'_>> {
        self.send_request(code, message_id, payload)?;
        self.recv(timeout, None)
    }
}

/// A receive error caused by a response above the client's own limit
/// `limit`, as [`Error::ResponseTooLarge`]; other errors unchanged.
fn too_large(e: Error, limit: u32) -> Error {
    let len = match &e {
        Error::Protocol(ProtocolError::Limit(LimitExceeded::Payload { len, .. })) => *len,
        Error::Protocol(ProtocolError::ShmMessageTooLarge { len, .. }) => {
            u32::try_from(len.saturating_sub(HEADER_LEN)).unwrap_or(u32::MAX)
        }
        _ => return e,
    };
    if len <= limit {
        return e;
    }
    Error::ResponseTooLarge {
        len,
        limit,
        setting: "ClientOptions::response_payload_limit",
    }
}

/// How long a client keeps retrying to attach a region that is not there
/// yet, and how often.
const ATTACH_BUDGET: Duration = Duration::from_secs(5);
const ATTACH_RETRY: Duration = Duration::from_millis(5);

/// Attaches the session's region, retrying transient failures (a server
/// may create the region late) for up to five seconds or half the time
/// left until `until`, whichever is shorter; then the last failure is the
/// error (so that the caller can connect again without shared memory).
///
/// A server that closed the connection meanwhile is reported as
/// `Disconnected`, not as an attach failure: the caller should retry later,
/// not give up on shared memory.
fn attach(
    conn: &sys::Conn,
    key: &ShmKey<'_>,
    profile: u32,
    until: Option<std::time::Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<sys::ShmRegion> {
    // Half of the time left at most: the other half is for connecting
    // again without shared memory.
    let now = std::time::Instant::now();
    let budget = until.map_or(ATTACH_BUDGET, |u| {
        ATTACH_BUDGET.min(u.saturating_duration_since(now) / 2)
    });
    let give_up = now + budget;
    loop {
        match sys::ShmRegion::attach(key, profile) {
            Ok(region) => return Ok(region),
            Err(_) if conn.peer_closed() => return Err(Error::Disconnected),
            // Sabotage of this session's region, not a lack of shared
            // memory: the next session gets a new one.
            Err(ShmAttachError::Lost(region)) => return Err(Error::ShmRegionLost { region }),
            Err(e) if e.is_transient() && std::time::Instant::now() < give_up => {
                if interrupt.is_some_and(Interrupt::is_raised) {
                    return Err(Error::Interrupted);
                }
                std::thread::sleep(
                    ATTACH_RETRY.min(give_up.saturating_duration_since(std::time::Instant::now())),
                );
            }
            Err(e) => return Err(Error::ShmAttach(e)),
        }
    }
}
