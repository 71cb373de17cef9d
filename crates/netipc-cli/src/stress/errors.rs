//! Failures counted by kind: each kind keeps its count and the message of
//! its first occurrence, so a row can say what went wrong without storing
//! every message.

use netipc::service::ClientState;
use serde::{Serialize, Serializer};

/// One kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `call: <error variant>`, `connect: <client state>` or
    /// `call: wrong answer`.
    pub kind: &'static str,
    pub count: u64,
    /// The message of the first failure of this kind.
    #[serde(rename = "first_message")]
    pub message: String,
}

/// Failures by kind, in the order they were first seen.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    kinds: Vec<Failure>,
}

impl Tally {
    /// Counts one failure of `kind`; `message` is only made for the first
    /// one of its kind.
    pub fn add(&mut self, kind: &'static str, message: impl FnOnce() -> String) {
        self.add_n(kind, 1, message);
    }

    fn add_n(&mut self, kind: &'static str, n: u64, message: impl FnOnce() -> String) {
        match self.kinds.iter_mut().find(|f| f.kind == kind) {
            Some(f) => f.count += n,
            None => self.kinds.push(Failure {
                kind,
                count: n,
                message: message(),
            }),
        }
    }

    /// Counts a failed call.
    pub fn call(&mut self, e: &netipc::Error) {
        self.add(call_kind(e), || e.to_string());
    }

    /// Counts a connection attempt that left the client in `state`, for
    /// `cause` (the client's last error).
    pub fn connect(&mut self, state: ClientState, cause: Option<&netipc::Error>) {
        self.add(connect_kind(state), || match cause {
            Some(cause) => format!("connect() left the client {state:?}: {cause}"),
            None => format!("connect() left the client {state:?}"),
        });
    }

    /// Checks the answer to an INCREMENT of `value`: counts it when it is an
    /// error or not `value + 1`. Returns whether the call succeeded.
    pub fn check(&mut self, value: u64, answer: &netipc::Result<u64>) -> bool {
        match answer {
            Ok(v) if *v == value.wrapping_add(1) => true,
            Ok(v) => {
                self.wrong_answer(value, *v);
                false
            }
            Err(e) => {
                self.call(e);
                false
            }
        }
    }

    /// Counts a call that answered something else than `value + 1`.
    fn wrong_answer(&mut self, value: u64, answer: u64) {
        self.add("call: wrong answer", || {
            format!("INCREMENT of {value} answered {answer}")
        });
    }

    /// Adds the failures of `other`.
    pub fn merge(&mut self, other: &Self) {
        for f in &other.kinds {
            self.add_n(f.kind, f.count, || f.message.clone());
        }
    }

    /// The kinds, most frequent first.
    pub fn kinds(&self) -> Vec<&Failure> {
        let mut v: Vec<&Failure> = self.kinds.iter().collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.count));
        v
    }
}

/// In JSON: the kinds, most frequent first.
impl Serialize for Tally {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.kinds())
    }
}

/// The kind of a failed call: the error variant.
fn call_kind(e: &netipc::Error) -> &'static str {
    use netipc::Error as E;
    match e {
        E::NotFound { .. } => "call: NotFound",
        E::AddressInUse { .. } => "call: AddressInUse",
        E::Name(_) => "call: Name",
        E::Handshake(_) => "call: Handshake",
        E::Protocol(_) => "call: Protocol",
        E::LimitExceeded(_) => "call: LimitExceeded",
        E::DuplicateMessageId(_) => "call: DuplicateMessageId",
        E::WrongKind { .. } => "call: WrongKind",
        E::ShmAttach(_) => "call: ShmAttach",
        E::Busy => "call: Busy",
        E::NotReady { .. } => "call: NotReady",
        E::Aborted => "call: Aborted",
        E::Rejected(_) => "call: Rejected",
        E::BadResponse(_) => "call: BadResponse",
        E::CapacityExhausted => "call: CapacityExhausted",
        E::LookupLimit(_) => "call: LookupLimit",
        E::Timeout { .. } => "call: Timeout",
        E::Interrupted => "call: Interrupted",
        E::Disconnected => "call: Disconnected",
        E::Codec(_) => "call: Codec",
        E::Io { .. } => "call: Io",
        _ => "call: other error",
    }
}

/// The kind of a connection attempt that did not make the client ready.
fn connect_kind(state: ClientState) -> &'static str {
    match state {
        ClientState::Disconnected => "connect: Disconnected",
        ClientState::Connecting => "connect: Connecting",
        ClientState::Ready => "connect: Ready",
        ClientState::NotFound => "connect: NotFound",
        ClientState::AuthFailed => "connect: AuthFailed",
        ClientState::Incompatible => "connect: Incompatible",
        ClientState::Broken => "connect: Broken",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_with_the_first_message() {
        let mut a = Tally::default();
        a.call(&netipc::Error::Timeout { limit: None });
        assert!(!a.check(1, &Err(netipc::Error::Disconnected)));
        a.call(&netipc::Error::Disconnected);
        assert!(a.check(u64::MAX, &Ok(0)));
        assert!(!a.check(1, &Ok(3)));
        let mut b = Tally::default();
        b.connect(ClientState::NotFound, None);
        b.call(&netipc::Error::Disconnected);
        a.merge(&b);
        let kinds = a.kinds();
        assert_eq!(kinds.iter().map(|f| f.count).sum::<u64>(), 6);
        assert_eq!(kinds[0].kind, "call: Disconnected");
        assert_eq!(kinds[0].count, 3);
        assert_eq!(kinds[0].message, "the peer closed the connection");
        assert!(kinds.iter().any(|f| f.kind == "connect: NotFound"));
        assert!(
            kinds
                .iter()
                .any(|f| f.kind == "call: wrong answer" && f.message == "INCREMENT of 1 answered 3")
        );
        let json = serde_json::to_value(&a).expect("JSON");
        assert_eq!(json.as_array().map(Vec::len), Some(4));
        assert_eq!(json[0]["count"], a.kinds()[0].count);
        assert_eq!(json[0]["first_message"], a.kinds()[0].message);
    }
}
