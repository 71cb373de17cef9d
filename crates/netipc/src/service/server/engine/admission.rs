//! Admission: accepting connections, answering their HELLOs, and the
//! session limit.

use super::*;
use crate::transport::PeerCredentials;

impl Engine {
    /// Accepts waiting connections and re-arms the listener.
    pub(super) fn accept(&self) {
        let listener = lock(&self.listener);
        let Some(listener) = listener.as_ref() else {
            return;
        };
        for _ in 0..ACCEPT_BATCH {
            match listener.try_accept() {
                Ok(Some(incoming)) => self.admit(incoming),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(
                        target: TARGET,
                        service = %self.service,
                        error = %e,
                        "accept failed"
                    );
                    self.shared
                        .control
                        .schedule(Instant::now() + ACCEPT_BACKOFF, LISTENER);
                    return;
                }
            }
        }
        if let Err(e) = self.poller.rearm_listener(listener, LISTENER) {
            tracing::error!(
                target: TARGET,
                service = %self.service,
                error = %e,
                "listener re-arm failed"
            );
            self.shared
                .control
                .schedule(Instant::now() + ACCEPT_BACKOFF, LISTENER);
        }
    }

    /// Registers a new connection and waits for its HELLO (without a
    /// worker); beyond as many waiting connections as the session limit,
    /// a connection is closed at once.
    pub(super) fn admit(&self, incoming: Incoming) {
        let waiting = &self.counters().handshaking;
        if waiting.load(Ordering::Relaxed) >= self.session_limit {
            bump(&self.counters().dropped_connections);
            let peer = incoming.peer();
            tracing::debug!(
                target: TARGET,
                service = %self.service,
                pid = peer.pid,
                uid = peer.uid,
                handshaking = self.session_limit,
                "connection dropped"
            );
            return;
        }
        waiting.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let entry = lock(&self.registry).insert(|token| Entry {
            token,
            state: Mutex::new(State::Closed),
            close_requested: AtomicBool::new(false),
            shm: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            lingering: AtomicBool::new(false),
        });
        let mut state = lock(&entry.state);
        let registered = self.poller.add_incoming(&incoming, entry.token);
        *state = State::Handshaking { incoming, deadline };
        self.let_go(&entry, state);
        match self.armed(registered) {
            Step::Keep => self.shared.control.schedule(deadline, entry.token),
            Step::Close(why) => self.close(&entry, why),
        }
    }

    /// Takes one open-session slot if the limit allows.
    pub(super) fn reserve_session(&self) -> bool {
        let sessions = &self.counters().sessions;
        let reserved = sessions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.session_limit).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            let now = sessions.load(Ordering::SeqCst);
            self.counters()
                .peak_sessions
                .fetch_max(now, Ordering::Relaxed);
            self.full.store(false, Ordering::Relaxed);
        } else if !self.full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: TARGET,
                service = %self.service,
                session_limit = self.session_limit,
                note = "refusing new clients until sessions close (each at debug)",
                "session limit reached"
            );
        }
        reserved
    }

    /// Counts and logs a handshake that did not open a session: refused
    /// at capacity (`at_capacity`), or failed with `e` after a HELLO
    /// (`empty`: a connection that closed without one).
    fn refused(&self, peer: PeerCredentials, at_capacity: bool, empty: bool, e: &crate::Error) {
        use crate::transport::handshake::HandshakeError;
        let counters = self.counters();
        let service = &self.service;
        let (pid, uid) = (peer.pid, peer.uid);
        match e {
            crate::Error::Handshake(HandshakeError::IdentityRefused) => {
                self.refused_identity(peer);
            }
            _ if at_capacity => {
                bump(&counters.refused_at_capacity);
                tracing::debug!(target: TARGET, service = %service, pid, uid, "refused at capacity");
            }
            crate::Error::Handshake(HandshakeError::AuthFailed) => {
                bump(&counters.handshake_failures);
                bump(&counters.auth_failures);
                tracing::warn!(target: TARGET, service = %service, pid, uid, "authentication failed");
            }
            _ => {
                bump(&counters.handshake_failures);
                // A connection that closes before its HELLO is how a
                // starting provider checks the endpoint is live.
                if empty || matches!(e, crate::Error::Disconnected) {
                    tracing::debug!(
                        target: TARGET,
                        service = %service,
                        pid,
                        uid,
                        error = "the connection closed before its HELLO",
                        "handshake failed"
                    );
                } else {
                    tracing::warn!(
                        target: TARGET,
                        service = %service,
                        pid,
                        uid,
                        error = %e,
                        "handshake failed"
                    );
                }
            }
        }
    }

    /// Counts a consumer refused for its identity; the first one is
    /// logged at warn, later ones at debug (the count is in the stats).
    fn refused_identity(&self, peer: PeerCredentials) {
        bump(&self.counters().refused_identity);
        let policy = self.config.consumer_identity;
        let (pid, uid, gid) = (peer.pid, peer.uid, peer.gid);
        if !self.refused_before.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: TARGET,
                service = %self.service,
                pid,
                uid,
                gid,
                consumer_identity = %policy,
                note = "later refusals are logged at debug and counted in the statistics",
                "consumer identity refused"
            );
        } else {
            tracing::debug!(
                target: TARGET,
                service = %self.service,
                pid,
                uid,
                gid,
                "consumer identity refused"
            );
        }
    }

    pub(super) fn options(&self) -> ServerOptions {
        ServerOptions {
            supported_profiles: self.config.supported(),
            preferred_profiles: self.config.preferred(),
            // Requests: the ceiling. The agreed size is the client's
            // proposal, which starts small and grows on demand; buffers and
            // shared memory follow the agreed size.
            max_request_payload_bytes: crate::service::config::growth(
                self.config.max_request_payload_bytes,
            )
            .1,
            max_response_payload_bytes: self.shared.response_size.get(),
            auth_token: self.config.auth_token,
            packet_size: 0,
            backlog: 0,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            send_timeout: self.config.send_timeout(),
            consumer_identity: self.config.consumer_identity,
            endpoint_access: self.config.endpoint_access,
        }
    }

    /// Answers a connection's HELLO once it has arrived.
    pub(super) fn handshake(&self, entry: &Entry, state: &mut State) -> Step {
        let State::Handshaking { incoming, .. } = state else {
            return Step::Keep;
        };
        let mut packet = [0u8; crate::transport::handshake::HANDSHAKE_PACKET_MAX];
        let n = match incoming.try_read_hello(&mut packet) {
            Ok(Some(n)) => n,
            Ok(None) => return self.armed(self.poller.rearm_incoming(incoming, entry.token)),
            Err(e) => {
                self.refused(incoming.peer(), false, false, &e);
                return Step::Close(Why::Failed);
            }
        };
        let State::Handshaking { incoming, .. } = std::mem::replace(state, State::Closed) else {
            return Step::Close(Why::Failed);
        };
        self.counters().handshaking.fetch_sub(1, Ordering::Relaxed);
        let reserved = self.reserve_session();
        let at_capacity =
            (!reserved).then(|| u32::try_from(self.session_limit).unwrap_or(u32::MAX));
        let session_id = self.next_session_id.fetch_add(1, Ordering::Relaxed);
        let peer = incoming.peer();
        let result = incoming.finish_handshake(
            &packet[..n],
            session_id,
            &self.options(),
            multiplex::extensions(),
            at_capacity,
            Wait::Now,
        );
        let session = match result {
            Ok(session) => session,
            Err(e) => {
                if reserved {
                    self.counters().sessions.fetch_sub(1, Ordering::SeqCst);
                }
                self.refused(peer, !reserved, n == 0, &e);
                // The connection was closed with the failed handshake,
                // which also took it out of the poller.
                return Step::Close(Why::Failed);
            }
        };
        bump(&self.counters().sessions_opened);
        self.session_opened(&session);
        entry.shm.store(session.chan.is_shm(), Ordering::SeqCst);
        *state = State::Open(Box::new(Open {
            session,
            stall_deadline: None,
            watch: None,
            served: 0,
            linger: Linger::default(),
        }));
        let State::Open(open) = state else {
            return Step::Close(Why::Failed);
        };
        let step = self.armed(self.poller.arm_session(&open.session, entry.token));
        if step == Step::Keep && open.session.chan.is_shm() {
            return self.idle_shm(entry, open);
        }
        step
    }
}
