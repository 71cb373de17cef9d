//! The method-independent client: connection state machine, at-least-once
//! retry with one reconnect, capacity growth on overflow, timeouts and
//! aborts (level2 spec sections 3 to 7).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::service::config::ClientSettings;
use crate::service::{AbortHandle, ClientState, ClientStatus};
use crate::transport::framing::{LimitExceeded, ProtocolError};
use crate::transport::handshake::HandshakeError;
use crate::transport::run_dir::RunDirError;
use crate::transport::{ClientOptions, ClientSession, Interrupt, Message, Wait};
use crate::wire::{MessageKind, Method, Profiles, TransportStatus};

/// Attempts per call when overflow recovery keeps growing sizes.
const MAX_OVERFLOW_ATTEMPTS: u32 = 8;
/// Smallest size the growth rounds to.
const GROWTH_FLOOR: u32 = 16;

/// What one request carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    Single(&'a [u8]),
    /// Items stored back to back in `bytes`; item `i` ends at `ends[i]`.
    Batch {
        bytes: &'a [u8],
        ends: &'a [usize],
    },
}

impl<'a> Payload<'a> {
    fn items(
        bytes: &'a [u8],
        ends: &'a [usize],
    ) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + 'a {
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &bytes[start..ends[i]]
        })
    }
}

/// How an attempt failed, which decides what the retry policy does.
enum Failure {
    /// Timeout or abort inside a wait, or a response above what the client
    /// accepts: no retry, session dropped.
    Fatal(Error),
    /// Something did not fit: grow, reconnect, try again.
    Overflow(Error),
    /// The provider answered with an error status (any but `OK` and
    /// `LIMIT_EXCEEDED`): a live provider received the request and
    /// processed it (its handler failed or panicked, or it cannot serve
    /// the request), so sending it again would repeat the failure and run
    /// the handler twice. No retry; the session stays as it is.
    Answered(Error),
    /// Anything else: one reconnect and one re-send.
    Ordinary(Error),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Self::Fatal(e) | Self::Overflow(e) | Self::Answered(e) | Self::Ordinary(e) => e,
        }
    }
}

/// When an operation must end, and the time limit that set it (reported
/// by a timeout).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) limit: Duration,
}

/// The deadline `timeout` from now (far in the future for huge timeouts).
pub(crate) fn deadline_after(timeout: Duration) -> Deadline {
    let now = Instant::now();
    Deadline {
        at: now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 31)),
        limit: timeout,
    }
}

/// `e` with the time limit filled in when it is a transport timeout.
pub(crate) fn with_limit(e: Error, limit: Duration) -> Error {
    match e {
        Error::Timeout { limit: None } => Error::Timeout { limit: Some(limit) },
        other => other,
    }
}

/// `max(current, next_power_of_two(want))`, capped at `ceiling`.
fn grow(current: u32, want: u64, ceiling: u32) -> u32 {
    let want = want
        .max(u64::from(GROWTH_FLOOR))
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX);
    let want = u32::try_from(want).unwrap_or(u32::MAX).min(ceiling);
    current.max(want)
}

#[derive(Debug)]
pub(crate) struct ClientCore {
    run_dir: String,
    service: String,
    method: Method,
    settings: ClientSettings,
    /// Profiles still offered: SHM bits drop out for good after an attach
    /// failure.
    supported: Profiles,
    preferred: Profiles,
    request_proposal: u32,
    response_proposal: u32,
    session: Option<ClientSession>,
    state: ClientState,
    status: ClientStatus,
    /// Successful exchanges so far; the next message id is this plus one.
    exchanges: u64,
    abort: AbortHandle,
    call_timeout: Duration,
    /// The smallest request size the provider refused, if any (until
    /// `close`): lookups do not propose it again.
    refused_request: Option<u32>,
    /// A call is running: reconnects end when the client is aborted.
    in_call: bool,
    /// Why the most recent connection attempt failed; `None` once one
    /// succeeds.
    last_error: Option<Arc<Error>>,
}

impl ClientCore {
    pub(crate) fn new(
        run_dir: &str,
        service: &str,
        method: Method,
        settings: ClientSettings,
    ) -> Self {
        Self {
            run_dir: run_dir.to_owned(),
            service: service.to_owned(),
            method,
            supported: settings.supported_profiles,
            preferred: settings.preferred_profiles,
            request_proposal: settings.request_start,
            response_proposal: settings.response_start,
            settings,
            session: None,
            state: ClientState::Disconnected,
            status: ClientStatus {
                state: ClientState::Disconnected,
                connect_count: 0,
                reconnect_count: 0,
                call_count: 0,
                error_count: 0,
            },
            exchanges: 0,
            abort: AbortHandle::default(),
            call_timeout: settings.call_timeout,
            refused_request: None,
            in_call: false,
            last_error: None,
        }
    }

    /// Makes the following calls use `method` (see `Client::rebind`).
    pub(crate) fn set_method(&mut self, method: Method) {
        self.method = method;
    }

    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    pub(crate) fn state(&self) -> ClientState {
        self.state
    }

    pub(crate) fn status(&self) -> ClientStatus {
        ClientStatus {
            state: self.state,
            ..self.status
        }
    }

    pub(crate) fn abort_handle(&self) -> &AbortHandle {
        &self.abort
    }

    pub(crate) fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    pub(crate) fn set_call_timeout(&mut self, timeout: Duration) {
        self.call_timeout = if timeout.is_zero() {
            self.settings.call_timeout
        } else {
            timeout
        };
    }

    pub(crate) fn session(&self) -> Option<&ClientSession> {
        self.session.as_ref()
    }

    /// The request payload size the next request must fit.
    pub(crate) fn request_capacity(&self) -> u32 {
        self.session.as_ref().map_or(self.request_proposal, |s| {
            s.params().max_request_payload_bytes
        })
    }

    /// The response payload size the next response may have.
    pub(crate) fn response_capacity(&self) -> u32 {
        self.session.as_ref().map_or(self.response_proposal, |s| {
            s.params().max_response_payload_bytes
        })
    }

    pub(crate) fn request_ceiling(&self) -> u32 {
        self.settings.request_ceiling
    }

    /// Whether proposing a request size of `size` bytes might be accepted
    /// (the provider has not refused it or a smaller one).
    pub(crate) fn may_propose(&self, size: u32) -> bool {
        size <= self.settings.request_ceiling
            && self
                .refused_request
                .is_none_or(|refused| grow(0, u64::from(size), u32::MAX) < refused)
    }

    pub(crate) fn count_error(&mut self) {
        self.status.error_count = self.status.error_count.wrapping_add(1);
    }

    /// Why the most recent connection attempt failed (`None` once one
    /// succeeds).
    pub(crate) fn last_error(&self) -> Option<&Arc<Error>> {
        self.last_error.as_ref()
    }

    /// The error of a call or connect refused because the client is not
    /// ready: its state and the cause of the last failed connection.
    pub(crate) fn not_ready(&self) -> Error {
        Error::NotReady {
            state: self.state,
            cause: self.last_error.clone(),
        }
    }

    /// Connects if disconnected or not found, reconnects if broken (at
    /// most until `until`); `AuthFailed` and `Incompatible` stay as they
    /// are until `close`. `Ok` when the client is ready.
    pub(crate) fn connect(&mut self, until: Instant) -> Result<()> {
        let reconnect = match self.state {
            ClientState::Ready => return Ok(()),
            ClientState::Disconnected | ClientState::NotFound | ClientState::Connecting => false,
            ClientState::Broken => true,
            ClientState::AuthFailed | ClientState::Incompatible => return Err(self.not_ready()),
        };
        if self.try_connect(until) != ClientState::Ready {
            return Err(self.not_ready());
        }
        if reconnect {
            self.count_reconnect();
        } else {
            self.status.connect_count = self.status.connect_count.wrapping_add(1);
        }
        Ok(())
    }

    fn count_reconnect(&mut self) {
        self.status.reconnect_count = self.status.reconnect_count.wrapping_add(1);
        tracing::info!(
            target: "netipc::client",
            service = %self.service,
            run_dir = %self.run_dir,
            reconnects = self.status.reconnect_count,
            "reconnected to the provider"
        );
    }

    /// Drops the session; the state becomes `Disconnected`, the abort flag
    /// is cleared and the configured profiles are offered again (a shared
    /// memory failure withdraws them only until `close`).
    pub(crate) fn close(&mut self) {
        self.session = None;
        self.state = ClientState::Disconnected;
        self.supported = self.settings.supported_profiles;
        self.preferred = self.settings.preferred_profiles;
        self.refused_request = None;
        self.last_error = None;
        self.abort.clear();
    }

    fn options(&self) -> ClientOptions {
        ClientOptions {
            supported_profiles: self.supported,
            preferred_profiles: self.preferred,
            max_request_payload_bytes: self.request_proposal,
            max_request_batch_items: self.settings.batch_items,
            max_response_payload_bytes: self.response_proposal,
            response_payload_limit: self.settings.response_ceiling,
            auth_token: self.settings.auth_token,
            packet_size: 0,
            handshake_timeout: self.call_timeout,
            send_timeout: self.call_timeout,
            provider_identity: self.settings.provider_identity,
        }
    }

    /// One connection (connect, handshake, shared-memory attach) that ends
    /// at `until` at the latest, or (inside a call) when the client is
    /// aborted.
    fn open_session(&self, until: Instant) -> Result<ClientSession> {
        ClientSession::connect_until(
            &self.run_dir,
            &self.service,
            &self.options(),
            crate::wire::HELLO_FLAG_EXTENSIONS,
            Some(until),
            if self.in_call {
                self.abort.interrupt()
            } else {
                None
            },
        )
    }

    /// One connection attempt ending at `until` at the latest; sets and
    /// returns the new state. A failed shared-memory attach withdraws the
    /// SHM profiles for good and connects again without them.
    fn try_connect(&mut self, until: Instant) -> ClientState {
        let started = Instant::now();
        self.state = ClientState::Connecting;
        self.session = None;
        if self.supported.is_empty() {
            // Only shared memory was allowed and it failed: nothing is
            // left to offer until `close()` restores the configuration
            // (the attach failure stays the last error).
            self.state = ClientState::Incompatible;
            return self.state;
        }
        let mut result = self.open_session(until);
        // A provider that closes the connection during the handshake of a
        // grown proposal may have refused it without its rejection being
        // read (reference named-pipe servers can disconnect before the
        // LIMIT_EXCEEDED HELLO_ACK reaches the client): same fallback.
        let refused_or_lost = matches!(
            result,
            Err(Error::Handshake(HandshakeError::LimitExceeded) | Error::Disconnected)
        );
        if refused_or_lost && self.request_proposal > self.settings.request_start {
            // The provider refuses the grown request size. Start over from
            // the configured size, so that a request the provider cannot
            // take fails its call without locking the client out for good.
            let refused = self.refused_request.get_or_insert(self.request_proposal);
            *refused = (*refused).min(self.request_proposal);
            self.request_proposal = self.settings.request_start;
            result = self.open_session(until);
        }
        if matches!(result, Err(Error::ShmAttach(_))) {
            self.supported.remove(Profiles::SHM_ANY);
            self.preferred.remove(Profiles::SHM_ANY);
            result = if self.supported.is_empty() {
                // Shared memory was the only transport allowed.
                Err(Error::Handshake(HandshakeError::NoCommonProfile))
            } else {
                self.open_session(until)
            };
        }
        let error = match result {
            Ok(session) => {
                self.session = Some(session);
                self.last_error = None;
                self.state = ClientState::Ready;
                return self.state;
            }
            Err(e) => e,
        };
        self.state = match &error {
            Error::NotFound { .. } | Error::RunDir(RunDirError::Missing { .. }) => {
                ClientState::NotFound
            }
            Error::Handshake(HandshakeError::AuthFailed | HandshakeError::IdentityRefused) => {
                ClientState::AuthFailed
            }
            // A fixed request size above the provider's maximum is a
            // configuration mismatch like a missing profile.
            Error::Handshake(
                HandshakeError::NoCommonProfile
                | HandshakeError::Incompatible(_)
                | HandshakeError::LimitExceeded,
            ) => ClientState::Incompatible,
            _ => ClientState::Disconnected,
        };
        let error = with_limit(error, until.saturating_duration_since(started));
        tracing::debug!(
            target: "netipc::client",
            service = %self.service,
            run_dir = %self.run_dir,
            state = ?self.state,
            error = %error,
            "connection failed"
        );
        self.last_error = Some(Arc::new(error));
        self.state
    }

    fn break_session(&mut self) {
        self.session = None;
        self.state = ClientState::Broken;
    }

    /// The sizes whose growth justifies another overflow attempt: the
    /// negotiated ones and the request proposal. The response proposal is
    /// left out: the provider's response size wins the negotiation, so
    /// growing the proposal alone would only repeat the overflow against a
    /// provider whose response size is fixed.
    fn sizes(&self) -> (u32, u32, u32) {
        let (req, resp) = self.session.as_ref().map_or((0, 0), |s| {
            (
                s.params().max_request_payload_bytes,
                s.params().max_response_payload_bytes,
            )
        });
        (req, resp, self.request_proposal)
    }

    /// Runs one call with the at-least-once retry policy; every step of it
    /// (sends, waits, reconnects) ends by `until`. On success the response
    /// is the session's last response.
    pub(crate) fn call(
        &mut self,
        payload: Payload<'_>,
        deadline: Deadline,
        check: &dyn Fn(&Message<'_>) -> Result<()>,
    ) -> Result<()> {
        self.in_call = true;
        let result = self.call_with_retry(payload, deadline.at, check);
        self.in_call = false;
        match result {
            // A reconnect inside the call was cut short by the abort.
            Err(_) if self.abort.is_aborted() && self.state != ClientState::Ready => {
                Err(Error::Aborted)
            }
            Err(e) => Err(with_limit(e, deadline.limit)),
            Ok(()) => Ok(()),
        }
    }

    fn call_with_retry(
        &mut self,
        payload: Payload<'_>,
        until: Instant,
        check: &dyn Fn(&Message<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.state != ClientState::Ready {
            self.count_error();
            return Err(self.not_ready());
        }
        if self.abort.is_aborted() {
            self.count_error();
            return Err(Error::Aborted);
        }
        let mut overflow_attempts = 0;
        loop {
            let before = self.sizes();
            let failure = match self.attempt(payload, until, check) {
                Ok(()) => {
                    self.count_call();
                    return Ok(());
                }
                Err(f) => f,
            };
            if !matches!(failure, Failure::Answered(_)) {
                self.break_session();
            }
            let overflow = match failure {
                Failure::Fatal(e) | Failure::Answered(e) => return Err(self.fail(e)),
                Failure::Ordinary(e) => {
                    if self.try_connect(until) != ClientState::Ready {
                        return Err(self.fail(e));
                    }
                    self.count_reconnect();
                    return match self.attempt(payload, until, check) {
                        Ok(()) => {
                            self.count_call();
                            Ok(())
                        }
                        Err(Failure::Answered(e)) => Err(self.fail(e)),
                        Err(f) => {
                            self.break_session();
                            Err(self.fail(f.into_error()))
                        }
                    };
                }
                Failure::Overflow(e) => e,
            };
            if self.try_connect(until) != ClientState::Ready {
                return Err(self.fail(overflow));
            }
            self.count_reconnect();
            overflow_attempts += 1;
            let after = self.sizes();
            let grew = after.0 > before.0 || after.1 > before.1 || after.2 > before.2;
            if !grew || overflow_attempts >= MAX_OVERFLOW_ATTEMPTS {
                self.break_session();
                return Err(self.fail(Error::CapacityExhausted));
            }
        }
    }

    fn count_call(&mut self) {
        self.exchanges += 1;
        self.status.call_count = self.status.call_count.wrapping_add(1);
    }

    fn fail(&mut self, e: Error) -> Error {
        self.count_error();
        e
    }

    /// One request/response exchange on the current session.
    fn attempt(
        &mut self,
        payload: Payload<'_>,
        until: Instant,
        check: &dyn Fn(&Message<'_>) -> Result<()>,
    ) -> Result<(), Failure> {
        let id = self.exchanges + 1;
        let code = self.method.code();
        let interrupt = self.abort.interrupt();
        let Some(session) = self.session.as_mut() else {
            return Err(Failure::Ordinary(Error::Disconnected));
        };
        let header = crate::wire::Header::new(MessageKind::Request, code, id, 0);
        let wait = Wait::Until(Some(until), interrupt.map(Interrupt::sys));
        let sent = match payload {
            Payload::Single(p) => session.send_with(&header, p, wait),
            Payload::Batch { bytes, ends } => {
                session.send_batch_with(code, id, Payload::items(bytes, ends), wait)
            }
        };
        match sent {
            Ok(()) => {}
            Err(Error::LimitExceeded(LimitExceeded::Payload { len, .. })) => {
                self.request_proposal = grow(
                    self.request_proposal,
                    u64::from(len),
                    self.settings.request_ceiling,
                );
                return Err(Failure::Overflow(Error::CapacityExhausted));
            }
            Err(Error::Interrupted) => return Err(Failure::Fatal(Error::Aborted)),
            Err(e @ Error::Timeout { .. }) => return Err(Failure::Fatal(e)),
            Err(e) => return Err(Failure::Ordinary(e)),
        }
        let negotiated_response = session.params().max_response_payload_bytes;
        let message = match session.recv_until(Some(until), interrupt) {
            Ok(m) => m,
            Err(Error::Interrupted) => return Err(Failure::Fatal(Error::Aborted)),
            Err(e @ Error::Timeout { .. }) => return Err(Failure::Fatal(e)),
            // Above what this client accepts at all: no growth or re-send
            // can help, and nothing was allocated for it.
            Err(Error::ResponseTooLarge { len, limit, .. }) => {
                return Err(Failure::Fatal(Error::ResponseTooLarge {
                    len,
                    limit,
                    setting: "ClientConfig::max_response_payload_bytes",
                }));
            }
            Err(Error::Protocol(ProtocolError::Limit(_))) => {
                self.response_proposal = grow(
                    self.response_proposal,
                    2 * u64::from(negotiated_response),
                    self.settings.response_ceiling,
                );
                return Err(Failure::Overflow(Error::CapacityExhausted));
            }
            Err(e) => return Err(Failure::Ordinary(e)),
        };
        let h = message.header;
        if h.kind != MessageKind::Response {
            return Err(Failure::Ordinary(Error::BadResponse(
                "the reply is not a RESPONSE",
            )));
        }
        if h.code != code {
            return Err(Failure::Ordinary(Error::BadResponse(
                "the response is for another method",
            )));
        }
        if h.message_id != id {
            return Err(Failure::Ordinary(Error::BadResponse(
                "the response has another message id",
            )));
        }
        match h.transport_status {
            TransportStatus::OK => {}
            TransportStatus::LIMIT_EXCEEDED => {
                self.response_proposal = grow(
                    self.response_proposal,
                    2 * u64::from(negotiated_response),
                    self.settings.response_ceiling,
                );
                return Err(Failure::Overflow(Error::CapacityExhausted));
            }
            other => return Err(Failure::Answered(Error::Rejected(other))),
        }
        if let Payload::Batch { ends, .. } = payload {
            if !h.is_batch() || h.item_count as usize != ends.len() {
                return Err(Failure::Ordinary(Error::BadResponse(
                    "the batch response has another item count",
                )));
            }
        }
        check(&message).map_err(Failure::Ordinary)
    }

    /// The last response, after a successful [`call`](Self::call).
    pub(crate) fn response(&self) -> Option<Message<'_>> {
        self.session.as_ref().and_then(ClientSession::last_response)
    }

    /// Grows the request proposal so that a request of `needed` bytes fits,
    /// reconnects (by `until`), and reports whether the new session takes
    /// it.
    pub(crate) fn renegotiate_request(&mut self, needed: u32, until: Instant) -> bool {
        let before = self.request_capacity();
        self.request_proposal = grow(
            self.request_proposal,
            u64::from(needed),
            self.settings.request_ceiling,
        );
        self.break_session();
        if self.try_connect(until) != ClientState::Ready {
            return false;
        }
        self.count_reconnect();
        let after = self.request_capacity();
        after > before && after >= needed
    }

    /// Gives up the session after a failed renegotiation.
    pub(crate) fn mark_broken(&mut self) {
        self.break_session();
    }
}
