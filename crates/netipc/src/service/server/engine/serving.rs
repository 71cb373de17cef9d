//! Serving a session: receiving its requests, running the handler,
//! sending the answers, and where the session waits next.

use super::linger::LINGER;
use super::*;

impl Engine {
    /// Hands an idle shared-memory session to a wait group.
    pub(super) fn idle_shm(&self, entry: &Entry, open: &mut Open) -> Step {
        let watched = self.waiters.watch(entry.token, &open.session);
        self.armed(watched.map(|id| open.watch = Some(id)))
    }

    /// Whether a worker may poll for a session's next request instead of
    /// handing the session to a wait group: only while another worker is
    /// free and no other session waits for one.
    pub(super) fn may_spin(&self) -> bool {
        self.idle.load(Ordering::SeqCst) > 0 && self.poller.queued() == 0 && !self.stopped()
    }

    /// Whether a worker may wait in a busy socket session's socket for its
    /// next request (see [`linger`](super::linger)): while the server has
    /// fewer sessions than running workers.
    fn may_linger(&self) -> bool {
        ServerSession::LINGERS
            && self.counters().sessions.load(Ordering::Relaxed)
                < self.workers.load(Ordering::Relaxed)
    }

    /// Answers the session's request (and, over shared memory, the ones
    /// that follow while its turn lasts), or waits for its client to read
    /// what is left of a response.
    pub(super) fn serve(&self, entry: &Entry, open: &mut Open, buffers: &mut Buffers) -> Step {
        let token = entry.token;
        let session_id = open.session.session_id();
        if open.session.chan.has_pending() {
            match open.session.flush() {
                Ok(true) => open.stall_deadline = None,
                Ok(false) => {
                    return self.armed(self.poller.arm_session_write(&open.session, token));
                }
                Err(e) => return Step::Close(self.closed_by(session_id, &e)),
            }
        }
        let shm = open.session.chan.is_shm();
        let budget = open.session.params().max_response_payload_bytes;
        let turn_ends = Instant::now() + TURN;
        let keep_going = || !self.stopped() && !entry.close_requested.load(Ordering::SeqCst);
        // Whether to poll for the next shared-memory request before looking
        // (after an answer: the client is still reading it).
        let mut poll_first = false;
        // Whether to wait for the next request in the socket (see
        // `linger`); a request that came through the poller is timed.
        let mut linger = false;
        if !shm {
            open.linger.request_came();
        }
        loop {
            if !keep_going() {
                return Step::Close(if self.stopped() {
                    Why::Stopped
                } else {
                    Why::ClientLeft
                });
            }
            if poll_first && self.may_spin() {
                if let Some(region) = open.session.chan.shm_mut() {
                    region.spin_for_message(keep_going);
                }
            }
            let received = if linger {
                entry.lingering.store(true, Ordering::SeqCst);
                let received = open.session.linger_recv(LINGER);
                entry.lingering.store(false, Ordering::SeqCst);
                received
            } else {
                open.session.try_recv()
            };
            let answered = match received {
                Err(e) => return Step::Close(self.closed_by(session_id, &e)),
                Ok(None) => {
                    if open.session.chan.has_partial() {
                        // A request that has begun must arrive in time.
                        if open.stall_deadline.is_none() {
                            self.stall(open, token);
                        }
                    }
                    None
                }
                Ok(Some(message)) => {
                    open.stall_deadline = None;
                    let header = message.header;
                    let received = HEADER_LEN + message.payload.len();
                    let reply = answer_message(
                        &*self.dispatcher,
                        &self.shared.response_size,
                        &header,
                        message.payload,
                        budget,
                        buffers,
                    );
                    Some((header, received, reply))
                }
            };
            let Some((header, received, reply)) = answered else {
                if linger && !open.session.chan.has_partial() {
                    open.linger.ran_out();
                }
                if shm {
                    return self.idle_shm(entry, open);
                }
                return self.armed(self.poller.arm_session(&open.session, token));
            };
            let (response, len, close) = match reply {
                Reply::Drop => {
                    let kind = header.kind.spec_name();
                    self.protocol_error(
                        session_id,
                        &format_args!("a {kind} message where a REQUEST belongs"),
                    );
                    return Step::Close(Why::ProtocolError);
                }
                Reply::Payload(len) => (response_header(&header, TransportStatus::OK), len, false),
                Reply::Status {
                    status,
                    close,
                    cause,
                } => {
                    self.request_failed(session_id, &header, status, cause);
                    (status_header(&header, status), 0, close)
                }
            };
            // Counted before it leaves: a client that has its answer finds
            // it in the statistics.
            let (status, size) = (response.transport_status, HEADER_LEN + len);
            open.served += 1;
            self.counters()
                .per_worker
                .answered(buffers.worker, status, received, size);
            self.request_answered(session_id, &header, status, received, size);
            let sent = open.session.try_send(&response, &buffers.response[..len]);
            if !shm {
                // A socket session's receive buffer follows its messages;
                // give back an unusually large one. (A shared-memory
                // session's buffer holds its largest legal request, fixed.)
                open.session.chan.shrink_buffers(TRIM_ABOVE);
            }
            match sent {
                _ if close => return Step::Close(Why::ErrorResponse),
                Ok(true) => {}
                Ok(false) => {
                    self.stall(open, token);
                    return self.armed(self.poller.arm_session_write(&open.session, token));
                }
                Err(e) => return Step::Close(self.closed_by(session_id, &e)),
            }
            poll_first = true;
            if !shm {
                if self.may_linger() && open.linger.answered() && self.may_spin() {
                    linger = true;
                    continue;
                }
                // The socket fires again at once if more is waiting, behind
                // the other sessions that are ready.
                return self.armed(self.poller.arm_session(&open.session, token));
            }
            // Other shared-memory sessions wait for a worker, or every
            // worker is busy and this turn is over: let the others go first.
            let others_wait = self.poller.queued() > 0
                || (self.idle.load(Ordering::SeqCst) == 0 && Instant::now() >= turn_ends);
            if others_wait {
                // Go to the back of the line (round robin, one request per
                // turn under load).
                if open.session.chan.shm().is_some_and(|r| r.arrived()) {
                    self.poller.post(token);
                    return Step::Keep;
                }
                return self.idle_shm(entry, open);
            }
        }
    }

    /// Why session `session` ends after `e` (found while receiving or
    /// while answering): counted as a protocol error when its client broke
    /// the protocol or its region was truncated or replaced.
    fn closed_by(&self, session: u64, e: &crate::Error) -> Why {
        match e {
            crate::Error::Disconnected => Why::ClientLeft,
            crate::Error::Protocol(_) | crate::Error::ShmRegionLost { .. } => {
                self.protocol_error(session, e);
                Why::ProtocolError
            }
            _ => {
                tracing::debug!(
                    target: TARGET,
                    service = %self.service,
                    session,
                    error = %e,
                    "session failed"
                );
                Why::Failed
            }
        }
    }

    /// Counts and logs a session closed because its client broke the
    /// protocol.
    pub(super) fn protocol_error(&self, session: u64, what: &dyn std::fmt::Display) {
        bump(&self.counters().protocol_errors);
        tracing::warn!(
            target: TARGET,
            service = %self.service,
            session,
            error = %what,
            "protocol error"
        );
    }

    /// Starts the clock of a message that is half way through.
    pub(super) fn stall(&self, open: &mut Open, token: u64) {
        let deadline = Instant::now() + self.config.send_timeout();
        open.stall_deadline = Some(deadline);
        self.shared.control.schedule(deadline, token);
    }
}
