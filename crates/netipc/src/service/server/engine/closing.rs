//! Closing connections: on request from another thread, on a deadline,
//! and what a closed connection gives back.

use super::*;

impl Engine {
    /// Closes a connection whose client left now if nobody else holds it,
    /// or has its holder close it when it lets go.
    pub(super) fn request_close(&self, entry: &Arc<Entry>) {
        entry.close_requested.store(true, Ordering::SeqCst);
        if let Some(mut state) = try_lock(&entry.state) {
            self.close_held(entry, &mut state, Why::ClientLeft);
        }
    }

    /// Removes a connection from the server and closes it (removing its
    /// shared-memory region). Idempotent.
    pub(super) fn close(&self, entry: &Entry, why: Why) {
        self.close_held(entry, &mut lock(&entry.state), why);
    }

    /// [`close`](Self::close) with the connection's state already held.
    /// The state itself tells whether it is closed already, so a connection
    /// the shutdown left to a late handler is still released by it.
    pub(super) fn close_held(&self, entry: &Entry, state: &mut State, why: Why) {
        lock(&self.registry).remove(entry.token);
        let old = std::mem::replace(state, State::Closed);
        self.release(entry.token, old, why);
    }

    /// Unregisters what a connection holds and drops it.
    pub(super) fn release(&self, token: u64, state: State, why: Why) {
        match state {
            State::Handshaking { incoming, .. } => {
                self.poller.remove_incoming(&incoming);
                self.counters().handshaking.fetch_sub(1, Ordering::Relaxed);
            }
            State::Open(open) => {
                self.poller.remove_session(&open.session);
                if let Some(id) = open.watch {
                    self.waiters.unwatch(id, token);
                }
                self.counters().sessions.fetch_sub(1, Ordering::SeqCst);
                // After the count: whoever sees the event finds it counted.
                self.session_closed(&open, why);
            }
            State::Closed => {}
        }
    }

    /// A deadline of `token` passed.
    pub(super) fn expire(&self, token: u64) {
        if token == LISTENER {
            return self.accept();
        }
        let Some(entry) = lock(&self.registry).get(token) else {
            return;
        };
        let now = Instant::now();
        let Some(mut state) = try_lock(&entry.state) else {
            if entry.lingering.load(Ordering::SeqCst) {
                // A worker waits for the session's next request: nothing
                // of it is half way (a wait begins only after a whole
                // request and a whole answer), and a message that stalls
                // later schedules its own deadline.
                return;
            }
            // A worker holds it right now; look again shortly.
            self.shared
                .control
                .schedule(now + Duration::from_millis(10), token);
            return;
        };
        // The reason matters for sessions only (a connection that never
        // said HELLO is reported as `handshake timed out`).
        let expired = match &*state {
            State::Handshaking { deadline, incoming } if *deadline <= now => {
                bump(&self.counters().handshake_failures);
                bump(&self.counters().handshake_timeouts);
                let peer = incoming.peer();
                tracing::warn!(
                    target: TARGET,
                    service = %self.service,
                    pid = peer.pid,
                    uid = peer.uid,
                    timeout_ms = HANDSHAKE_TIMEOUT.as_millis() as u64,
                    "handshake timed out"
                );
                true
            }
            State::Open(open) if open.stall_deadline.is_some_and(|d| d <= now) => {
                bump(&self.counters().send_timeouts);
                tracing::warn!(
                    target: TARGET,
                    service = %self.service,
                    session = open.session.session_id(),
                    timeout_ms = self.config.send_timeout().as_millis() as u64,
                    "send timeout"
                );
                true
            }
            _ => false,
        };
        if expired {
            // Closed with the state held: the control thread never waits
            // for a worker (and its handler) to let go of a connection.
            self.close_held(&entry, &mut state, Why::SendTimeout);
        } else {
            self.let_go(&entry, state);
        }
    }
}
