//! The server side: listener, incoming connections and server sessions.

use std::time::Duration;

use super::channel::{Channel, DataPlane, Message, Wait, deadline, send_packet};
use super::framing::Limits;
use super::handshake::{
    HANDSHAKE_PACKET_MAX, ServerOffer, ServerOutcome, SessionParams, capacity_rejection,
    identity_rejection, peek_hello, server_handshake,
};
use super::shm::ShmKey;
use super::{Interrupt, PeerCredentials, ServerOptions, sys};
use crate::error::{Error, Result};
use crate::wire::{FLAG_BATCH, Header, MessageKind, Profiles, TransportStatus};

/// A listening endpoint for one service.
///
/// # Platform-specific behavior
///
/// On POSIX the endpoint is the socket file `<run_dir>/<service>.sock`,
/// created with mode 0600 (0660 and a group with
/// [`EndpointAccess::OwnerAndGroup`](super::EndpointAccess)). The run directory must belong to this user or
/// root and must not be writable by every user
/// ([`Error::RunDir`]; see [`run_dir`](super::run_dir) for the stricter
/// checks of [`prepare_run_dir`](super::run_dir::prepare_run_dir)). The
/// listener holds an `flock` on `<run_dir>/<service>.lock` (with its pid
/// in it) for its whole life, so exactly one netipc provider serves an
/// endpoint: another one fails with [`Error::AddressInUse`] naming that
/// pid. A socket file left behind by a dead server of this user is
/// removed when binding; a live server (also one of another
/// implementation, which takes no lock) keeps its endpoint. A symbolic
/// link, an entry of another user or a non-empty directory at the socket
/// path is never followed or removed: the bind fails with
/// [`Error::ForeignEntry`] naming it. The socket appears at its path
/// already listening and with its final mode (it is bound under a
/// temporary name and linked into place). Dropping the listener removes
/// the socket file and the lock file. The listening socket is available
/// through `AsFd`.
///
/// On Windows the endpoint is the named pipe
/// `\\.\pipe\netipc-<hash of run_dir>-<service>` (the hash of the run
/// directory's canonical spelling; the directory must exist, as on POSIX,
/// but holds no files). The listener keeps a backlog of pipe instances waiting for
/// clients (the `backlog` option, at most 63), so clients arriving together
/// never find the pipe busy. Pipes accept local clients only, and their
/// security descriptor grants access to the creating user's account,
/// SYSTEM and the Administrators group (and a group of
/// [`EndpointAccess::OwnerAndGroup`](super::EndpointAccess), without the
/// right to create pipe instances), nobody else. A crashed server
/// leaves nothing behind (pipe names vanish with their last handle); a live
/// one makes the bind fail with [`Error::AddressInUse`], naming its pid
/// when a client connection can reach it (`GetNamedPipeServerProcessId`;
/// the probing connection is closed at once). There is no
/// `AsRawHandle` for the listener: its waiting instances change with every
/// accept.
#[derive(Debug)]
#[must_use = "dropping a Listener removes its endpoint at once"]
pub struct Listener {
    pub(crate) inner: sys::Listener,
    /// Shared with every accepted connection (the options are large:
    /// identity lists are held inline).
    options: std::sync::Arc<ServerOptions>,
    run_dir: String,
    service: String,
}

impl Listener {
    /// Creates the endpoint and starts listening.
    ///
    /// # Errors
    /// `AddressInUse` when a live server owns the endpoint (with its pid
    /// when known), `RunDir` for a missing, empty or unsafe run directory,
    /// `ForeignEntry` for something at an endpoint path that netipc may not
    /// follow or remove, `Name` for an invalid service name or a too-long
    /// path, `Io`.
    pub fn bind(run_dir: &str, service: &str, options: &ServerOptions) -> Result<Self> {
        let run_dir = &super::run_dir::endpoint_dir(run_dir, service)?;
        let inner = sys::Listener::bind_with(
            run_dir,
            service,
            options.backlog(),
            &options.endpoint_access,
        )?;
        if options.supported_profiles.intersects(sys::shm_profiles()) {
            sys::cleanup_stale(run_dir, service);
        }
        Ok(Self {
            inner,
            options: std::sync::Arc::new(*options),
            run_dir: run_dir.to_owned(),
            service: service.to_owned(),
        })
    }

    /// Waits for one connection. `timeout` of `None` waits forever; an
    /// [`Interrupt`] ends the wait from another thread.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Io`.
    pub fn accept(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Incoming> {
        let conn = self
            .inner
            .accept(deadline(timeout), interrupt.map(Interrupt::sys))?;
        Ok(self.incoming(conn))
    }

    /// Accepts one waiting connection without blocking (`None` when none
    /// is waiting; a multi-session server calls it when the listener is
    /// ready).
    pub(crate) fn try_accept(&self) -> Result<Option<Incoming>> {
        Ok(self.inner.try_accept()?.map(|conn| self.incoming(conn)))
    }

    fn incoming(&self, conn: sys::Conn) -> Incoming {
        Incoming {
            peer: conn.peer(),
            conn,
            options: self.options.clone(),
            run_dir: self.run_dir.clone(),
            service: self.service.clone(),
        }
    }

    /// The endpoint (socket path or pipe name).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    /// The options given to [`bind`](Self::bind).
    #[must_use]
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }
}

/// An accepted connection whose handshake has not run yet.
#[derive(Debug)]
#[must_use = "an incoming connection is served only after handshake(); dropping it closes the connection"]
pub struct Incoming {
    conn: sys::Conn,
    peer: PeerCredentials,
    options: std::sync::Arc<ServerOptions>,
    run_dir: String,
    service: String,
}

impl Incoming {
    /// The connecting process.
    #[must_use]
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    /// Runs the server handshake with the listener's options, assigning
    /// `session_id`.
    ///
    /// # Errors
    /// See [`handshake_with`](Self::handshake_with).
    pub fn handshake(self, session_id: u64) -> Result<ServerSession> {
        let options = self.options.clone();
        self.handshake_with(session_id, &options, None)
    }

    /// Runs the server handshake with `options` (for servers whose limits
    /// change over time), assigning `session_id`. Waits at most the
    /// handshake timeout for the client's HELLO; raising `interrupt` ends
    /// the wait early.
    ///
    /// When the negotiation accepts the client (auth token and limits
    /// included) with a shared-memory profile, the session's region is
    /// created then, before the reply is sent, sized for the agreed request
    /// size and the offered response size; a rejected HELLO gets no region,
    /// mapping or buffer sized by what it proposed. If creating the region
    /// fails, that profile is left out of this handshake's offer.
    ///
    /// # Errors
    /// `Handshake` when the HELLO is rejected (the rejection reply, if the
    /// protocol has one, was sent; `IdentityRefused` when the options'
    /// `consumer_identity` does not accept the client), `Timeout`, `Interrupted`,
    /// `Disconnected`, `Io`. The connection is closed in every error case.
    pub fn handshake_with(
        self,
        session_id: u64,
        options: &ServerOptions,
        interrupt: Option<&Interrupt>,
    ) -> Result<ServerSession> {
        self.handshake_offering(session_id, options, sys::extensions(), interrupt)
    }

    /// The server handshake offering the given netipc `extensions` (0
    /// behaves like a reference server).
    pub(crate) fn handshake_offering(
        self,
        session_id: u64,
        options: &ServerOptions,
        extensions: u32,
        interrupt: Option<&Interrupt>,
    ) -> Result<ServerSession> {
        let until = deadline(Some(options.handshake_timeout()));
        let raised = interrupt.map(Interrupt::sys);
        let mut hello = [0u8; HANDSHAKE_PACKET_MAX];
        let n = self.conn.recv_packet(&mut hello, until, raised)?;
        let packet = &hello[..n.min(HANDSHAKE_PACKET_MAX)];
        let reply = Wait::Until(until, raised);
        self.finish_handshake(packet, session_id, options, extensions, None, reply)
    }

    /// The connection, for a multi-session server's poller.
    pub(crate) fn conn(&self) -> &sys::Conn {
        &self.conn
    }

    /// Receives the client's HELLO packet into `buf` if it has arrived,
    /// without waiting; returns its length (capped at the buffer).
    pub(crate) fn try_read_hello(
        &self,
        buf: &mut [u8; HANDSHAKE_PACKET_MAX],
    ) -> Result<Option<usize>> {
        Ok(self
            .conn
            .try_recv_packet(buf)?
            .map(|n| n.min(HANDSHAKE_PACKET_MAX)))
    }

    /// Answers the HELLO in `packet`. With `at_capacity` set (the session
    /// limit), a well-formed HELLO is refused with the capacity rejection
    /// and no shared memory is created; otherwise the negotiation runs as
    /// in [`handshake_with`](Self::handshake_with). The reply is sent as
    /// `reply` allows (a fresh connection always has room for it).
    pub(crate) fn finish_handshake(
        self,
        packet: &[u8],
        session_id: u64,
        options: &ServerOptions,
        extensions: u32,
        at_capacity: Option<u32>,
        reply: Wait<'_>,
    ) -> Result<ServerSession> {
        let Incoming {
            conn,
            peer,
            run_dir,
            service,
            ..
        } = self;
        let hello = peek_hello(packet);
        // A consumer the provider does not serve is refused before any
        // negotiation, whatever it proposes: nothing is set up for it.
        let refused = super::identity::refused_consumer(&conn, &options.consumer_identity);
        // Typed out so that a build without a backend reports only the
        // backend's `compile_error!`, not an inference failure here.
        let (outcome, shm): (ServerOutcome, Option<sys::ShmRegion>) = match (at_capacity, &hello) {
            (_, Some(hello)) if refused.is_some() => (identity_rejection(hello), None),
            (_, None) if refused.is_some() => {
                // Answered as any malformed first packet is; still a refusal.
                let mut outcome = server_handshake(packet, &refusing_offer(), session_id);
                outcome.result = Err(super::handshake::HandshakeError::IdentityRefused);
                (outcome, None)
            }
            (Some(limit), Some(hello)) => (capacity_rejection(hello, limit), None),
            _ => {
                let mut offer =
                    options.offer(conn.default_packet_size(), sys::shm_profiles(), extensions);
                let key = ShmKey {
                    run_dir: &run_dir,
                    service: &service,
                    auth_token: offer.auth_token,
                    session_id,
                    owner: None,
                    access: options.endpoint_access,
                };
                accept_hello(packet, &mut offer, &key)
            }
        };
        if let Some(ack) = outcome.reply {
            if !send_packet(&conn, &[&ack], reply)? {
                return Err(Error::Timeout { limit: None });
            }
        }
        let params = outcome.result?;
        let inbound = Limits {
            max_payload: params.max_request_payload_bytes,
            max_items: params.max_request_batch_items,
        };
        let outbound = Limits {
            max_payload: params.max_response_payload_bytes,
            max_items: params.max_response_batch_items,
        };
        Ok(ServerSession {
            chan: Channel::new(conn, params, inbound, outbound, shm),
            peer,
            send_timeout: options.send_timeout(),
        })
    }
}

/// An offer no HELLO can satisfy, for answering a malformed first packet
/// of a refused consumer exactly as any malformed packet is answered.
fn refusing_offer() -> ServerOffer {
    ServerOffer {
        supported_profiles: Profiles::empty(),
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 0,
        max_response_payload_bytes: 0,
        auth_token: 0,
        packet_size: 0,
        extensions: 0,
    }
}

/// Runs the negotiation for the HELLO in `packet` and, only once it
/// accepted the client (auth token and limits included) with a
/// shared-memory profile, creates that profile's objects: nothing sized by
/// the client exists before. The request area is sized for the agreed
/// request size (the client's proposal, at most the server's maximum), the
/// response area for the offered response size. A profile whose objects
/// cannot be created is withdrawn from `offer` and the negotiation runs
/// again without it, so the client falls back to what is left.
fn accept_hello(
    packet: &[u8],
    offer: &mut ServerOffer,
    key: &ShmKey<'_>,
) -> (ServerOutcome, Option<sys::ShmRegion>) {
    loop {
        let outcome = server_handshake(packet, offer, key.session_id);
        let params = match &outcome.result {
            Ok(params) if params.is_shm() => *params,
            _ => return (outcome, None),
        };
        let request = match params.max_request_payload_bytes {
            0 => offer.max_request_payload_bytes,
            r => r.min(offer.max_request_payload_bytes),
        };
        let selected = params.selected_profile;
        let provisioned = sys::ShmOffer::provision(
            key,
            selected.bits(),
            request,
            offer.max_response_payload_bytes,
        );
        if let Some(region) = provisioned.take(selected.bits()) {
            return (outcome, Some(region));
        }
        offer.supported_profiles.remove(selected);
        offer.preferred_profiles.remove(selected);
    }
}

/// A handshaken server session.
///
/// Receive requests with [`recv`](Self::recv) and answer them with
/// [`respond`](Self::respond), [`respond_batch`](Self::respond_batch) or
/// [`respond_status`](Self::respond_status), in any order. Any receive or
/// send error other than a refused send leaves the session unusable.
/// Dropping the session closes it (and, for a shared-memory session,
/// removes its region). `Send`, not `Sync`.
///
/// # Platform-specific behavior
///
/// The connected socket is available through `AsFd` on POSIX, the pipe
/// instance through `AsRawHandle` on Windows (opened for overlapped I/O).
/// [`peer`](Self::peer) reports pid, uid and gid on Linux, the pid only on
/// Windows.
#[derive(Debug)]
pub struct ServerSession {
    pub(crate) chan: Channel,
    peer: PeerCredentials,
    send_timeout: Duration,
}

impl ServerSession {
    /// The negotiated session parameters.
    #[must_use]
    pub fn params(&self) -> &SessionParams {
        &self.chan.params
    }

    /// The session id assigned at the handshake.
    #[must_use]
    pub fn session_id(&self) -> u64 {
        self.chan.params.session_id
    }

    /// The client process.
    #[must_use]
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    /// How this session moves its messages.
    #[must_use]
    pub fn data_plane(&self) -> DataPlane {
        self.chan.data_plane()
    }

    /// Receives the next message (normally a REQUEST; kinds are not
    /// filtered here). `timeout` bounds the whole message.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Disconnected`, `Protocol`, `Io`.
    pub fn recv(
        &mut self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Message<'_>> {
        self.chan.recv(deadline(timeout), interrupt, None)
    }

    /// Sends a response with an arbitrary header (`kind` must be
    /// RESPONSE; `payload_len` is filled in). Waits at most the send
    /// timeout for the client to make room.
    ///
    /// # Errors
    /// `LimitExceeded` (nothing sent), `WrongKind`, `Timeout`,
    /// `Disconnected`, `Io`.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<()> {
        check_response(header)?;
        let wait = Wait::Within(self.send_timeout);
        self.chan.send(header, payload, wait).map(|_| ())
    }

    /// Answers `request` with an OK single response carrying `payload`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn respond(&mut self, request: &Header, payload: &[u8]) -> Result<()> {
        self.send(&response_header(request, TransportStatus::OK), payload)
    }

    /// Answers `request` with an OK batch response of `items`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn respond_batch<'i, I>(&mut self, request: &Header, items: I) -> Result<()>
    where
        I: IntoIterator<Item = &'i [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let wait = Wait::Within(self.send_timeout);
        self.chan
            .send_batch(&response_header(request, TransportStatus::OK), items, wait)
            .map(|_| ())
    }

    /// Answers `request` with an empty response carrying `status`
    /// (`flags = 0`, `item_count = 1`).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn respond_status(&mut self, request: &Header, status: TransportStatus) -> Result<()> {
        self.send(&status_header(request, status), &[])
    }

    /// The longest a send waits for the client to make room.
    #[must_use]
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// Receives the next request if all of it has arrived, without
    /// waiting (`None`: not yet; the packets so far are kept).
    pub(crate) fn try_recv(&mut self) -> Result<Option<Message<'_>>> {
        self.chan.try_recv()
    }

    /// Whether [`linger_recv`](Self::linger_recv) waits: on sockets, not
    /// on Windows pipes (see [`sys::Conn::linger_recv_packet`]).
    pub(crate) const LINGERS: bool = sys::Conn::LINGERS;

    /// [`try_recv`](Self::try_recv), waiting about `linger` in the kernel
    /// for a request to begin (see [`sys::Conn::linger_recv_packet`]).
    /// Shared memory and Windows pipes do not wait.
    pub(crate) fn linger_recv(&mut self, linger: Duration) -> Result<Option<Message<'_>>> {
        self.chan.linger_recv(linger)
    }

    /// Sends a response without waiting: `false` when part of it is left
    /// for [`flush`](Self::flush) once the connection is writable.
    pub(crate) fn try_send(&mut self, header: &Header, payload: &[u8]) -> Result<bool> {
        check_response(header)?;
        self.chan.send(header, payload, Wait::Now)
    }

    /// Sends what [`try_send`](Self::try_send) left; `true` once all is sent.
    pub(crate) fn flush(&mut self) -> Result<bool> {
        self.chan.flush()
    }
}

fn check_response(header: &Header) -> Result<()> {
    if header.kind != MessageKind::Response {
        return Err(Error::WrongKind {
            side: "server",
            kind: header.kind.spec_name(),
        });
    }
    Ok(())
}

/// The empty response carrying a non-OK `status` for `request`
/// (`flags = 0`, `item_count = 1`).
pub(crate) fn status_header(request: &Header, status: TransportStatus) -> Header {
    let mut h = response_header(request, status);
    h.flags = 0;
    h.item_count = 1;
    h
}

/// The response header for `request`: same code and message id; BATCH and
/// the item count are copied for a batch request.
#[must_use]
pub fn response_header(request: &Header, status: TransportStatus) -> Header {
    let batch = request.is_batch() && request.item_count >= 1;
    Header {
        kind: MessageKind::Response,
        flags: if batch { FLAG_BATCH } else { 0 },
        code: request.code,
        transport_status: status,
        payload_len: 0,
        item_count: if batch { request.item_count } else { 1 },
        message_id: request.message_id,
    }
}
