//! The server's `tracing` events: one target ([`TARGET`]), one message per
//! kind of event and the same field names everywhere. The list users see
//! is in the [service module docs](crate::service#observing-a-provider);
//! keep the two in step.
//!
//! Events cost one relaxed load when nothing listens (no subscriber, or
//! one that filters the level or target out): field values are computed
//! only for a subscriber that takes the event. Nothing here allocates on
//! the way to a disabled event, so the hot path (the per-request `trace`
//! event) stays free.

use super::*;
use crate::service::server::request::{Cause, panic_message};

/// The target of every event of a managed server.
pub(super) const TARGET: &str = "netipc::server";

/// Why a session ended (the `reason` field of `session closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The client closed its end.
    ClientLeft,
    /// The client broke the protocol (logged as `protocol error`).
    ProtocolError,
    /// The client did not read a response, or finish a request, within
    /// the send timeout.
    SendTimeout,
    /// The session ends after a `LIMIT_EXCEEDED` (the client reconnects
    /// with larger sizes) or `BAD_ENVELOPE` response.
    ErrorResponse,
    /// The server stopped.
    Stopped,
    /// Sending, receiving or waiting failed for another reason (logged at
    /// `debug` with the error).
    Failed,
}

impl Why {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::ClientLeft => "client left",
            Self::ProtocolError => "protocol error",
            Self::SendTimeout => "send timeout",
            Self::ErrorResponse => "error response",
            Self::Stopped => "server stopped",
            Self::Failed => "I/O error",
        }
    }
}

impl Engine {
    /// `session opened` (debug).
    pub(super) fn session_opened(&self, session: &ServerSession) {
        let peer = session.peer();
        let params = session.params();
        tracing::debug!(
            target: TARGET,
            service = %self.service,
            session = params.session_id,
            profile = %params.selected_profile,
            pid = peer.pid,
            uid = peer.uid,
            max_request_bytes = params.max_request_payload_bytes,
            max_response_bytes = params.max_response_payload_bytes,
            "session opened"
        );
    }

    /// `session closed` (debug).
    pub(super) fn session_closed(&self, open: &Open, why: Why) {
        tracing::debug!(
            target: TARGET,
            service = %self.service,
            session = open.session.session_id(),
            reason = why.as_str(),
            requests = open.served,
            "session closed"
        );
    }

    /// `request` (trace): one answered request.
    pub(super) fn request_answered(
        &self,
        session: u64,
        header: &Header,
        status: TransportStatus,
        received: usize,
        sent: usize,
    ) {
        tracing::trace!(
            target: TARGET,
            service = %self.service,
            session,
            id = header.message_id,
            status = %status,
            request_bytes = received,
            response_bytes = sent,
            "request"
        );
    }

    /// Counts and logs a failed request: `handler failed` (warn),
    /// `handler panicked` (error), `request failed`.
    pub(super) fn request_failed(
        &self,
        session: u64,
        header: &Header,
        status: TransportStatus,
        cause: Cause,
    ) {
        let id = header.message_id;
        match cause {
            Cause::Handler(error) => {
                bump(&self.counters().handler_errors);
                tracing::warn!(
                    target: TARGET,
                    service = %self.service,
                    session,
                    id,
                    status = %status,
                    error = %error,
                    "handler failed"
                );
            }
            Cause::Panic(payload) => {
                bump(&self.counters().handler_panics);
                tracing::error!(
                    target: TARGET,
                    service = %self.service,
                    session,
                    id,
                    status = %status,
                    panic = panic_message(&*payload),
                    "handler panicked"
                );
            }
            Cause::WrongMethod => {
                let wrong = WrongMethod {
                    code: header.code,
                    served: self.dispatcher.method(),
                };
                self.refused_request(session, id, status, &wrong);
            }
            Cause::Dispatch(e) => self.refused_request(session, id, status, &e),
        }
    }

    /// `request failed`: warn, or debug for `LIMIT_EXCEEDED` (the client
    /// recovers by growing its sizes).
    fn refused_request(
        &self,
        session: u64,
        id: u64,
        status: TransportStatus,
        error: &dyn std::fmt::Display,
    ) {
        if status == TransportStatus::LIMIT_EXCEEDED {
            tracing::debug!(
                target: TARGET,
                service = %self.service,
                session,
                id,
                status = %status,
                error = %error,
                "request failed"
            );
        } else {
            tracing::warn!(
                target: TARGET,
                service = %self.service,
                session,
                id,
                status = %status,
                error = %error,
                "request failed"
            );
        }
    }
}

/// The `error` of a request for another method than the server's.
struct WrongMethod {
    code: u16,
    served: crate::wire::Method,
}

impl std::fmt::Display for WrongMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match crate::wire::Method::from_code(self.code) {
            Some(method) => write!(f, "a {} request", method.spec_name()),
            None => write!(f, "a request for method {}", self.code),
        }?;
        write!(f, "; this server answers {}", self.served.spec_name())
    }
}
