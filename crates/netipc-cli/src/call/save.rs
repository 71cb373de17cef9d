//! `netipc call --save FILE --save-response FILE`: the call as one
//! request/response exchange whose messages are written to files for
//! `netipc decode`.
//!
//! The typed clients may split a lookup into several exchanges, re-send a
//! request after a broken session and reconnect with larger sizes, so
//! "the" messages of a typed call are not one pair. Saving therefore makes
//! the call on a transport session of its own: the whole request in one
//! message (message id 1, as a fresh typed client numbers its first
//! exchange), proposing a request size that takes it. When the response
//! does not fit the size the provider announced (`LIMIT_EXCEEDED`), the
//! provider learns a larger size and the request is sent again on a new
//! session, up to [`MAX_ATTEMPTS`] times in all and only while the
//! announced size grows (the typed client's recovery); the files hold the
//! last exchange. Each file is one message: its 32-byte header and its
//! whole payload, as sent or received (a message that travelled in chunks
//! is saved reassembled, which is what it would be unchunked). A response
//! with an error status is saved too, and then the call fails.

use std::path::Path;
use std::time::{Duration, Instant};

use netipc::codec::{
    AppsLookupView, CgroupsLookupStatus, CgroupsLookupView, INCREMENT_PAYLOAD_LEN, PidStatus,
    SNAPSHOT_REQUEST_LEN, SnapshotRequest, SnapshotView, apps_lookup_request_len,
    cgroups_lookup_request_len, decode_increment, decode_string_reverse,
    encode_apps_lookup_request, encode_cgroups_lookup_request, encode_increment,
    encode_string_reverse, string_reverse_len,
};
use netipc::transport::{ClientOptions, ClientSession, HandshakeError};
use netipc::wire::{Header, MAX_PAYLOAD_DEFAULT, MessageKind, TransportStatus};

use super::{Request, Target, Took};
use crate::common::{CliError, connect_failed};

/// Exchanges at most, as many as the typed client's overflow recovery.
pub const MAX_ATTEMPTS: u32 = 8;

/// The message id of the saved request.
const MESSAGE_ID: u64 = 1;

/// Where to write the messages.
pub struct Files<'a> {
    /// The request message.
    pub request: Option<&'a Path>,
    /// The response message.
    pub response: Option<&'a Path>,
}

/// The request payload of a call.
fn encode(request: &Request) -> Result<Vec<u8>, netipc::CodecError> {
    let too_large =
        || netipc::CodecError::new(netipc::CodecErrorKind::Overflow, "lookup request", 0);
    let mut buf = vec![
        0u8;
        match request {
            Request::Snapshot => SNAPSHOT_REQUEST_LEN,
            Request::CgroupsLookup(paths) =>
                cgroups_lookup_request_len(paths).ok_or_else(too_large)?,
            Request::AppsLookup(pids) => apps_lookup_request_len(pids.len()),
            Request::Increment(_) => INCREMENT_PAYLOAD_LEN,
            Request::StringReverse(t) => string_reverse_len(t.len()),
        }
    ];
    let len = match request {
        Request::Snapshot => SnapshotRequest::default().encode(&mut buf),
        Request::CgroupsLookup(paths) => encode_cgroups_lookup_request(paths, &mut buf),
        Request::AppsLookup(pids) => encode_apps_lookup_request(pids, &mut buf),
        Request::Increment(n) => encode_increment(*n, &mut buf),
        Request::StringReverse(t) => encode_string_reverse(t.as_bytes(), &mut buf),
    }?;
    buf.truncate(len);
    Ok(buf)
}

/// A payload size proposal that takes `len` bytes: a power of two, at
/// least the protocol's default.
fn proposal(len: usize) -> u32 {
    let want = len.max(MAX_PAYLOAD_DEFAULT as usize).next_power_of_two();
    u32::try_from(want).unwrap_or(u32::MAX)
}

/// A message as one byte string: its header, then its payload.
fn message_bytes(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

/// Writes `bytes` to `path` when there is one.
fn write(path: Option<&Path>, bytes: &[u8], what: &str) -> Result<(), CliError> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, bytes).map_err(|e| {
        CliError::failed(format!(
            "cannot write the {what} message to {}: {e}",
            path.display()
        ))
    })?;
    eprintln!(
        "netipc call: saved the {what} message ({} bytes) to {}",
        bytes.len(),
        path.display()
    );
    Ok(())
}

/// The exchange that answered: the response and how it came.
struct Answer {
    header: Header,
    payload: Vec<u8>,
    took: Took,
    /// Exchanges made, the answered one included.
    attempts: u32,
    /// The response size the provider allowed in the last session.
    response_size: u32,
}

/// Makes the call as one exchange (see the module documentation), saves
/// its messages and prints the answer as a typed call would.
pub fn call(
    target: &Target,
    request: &Request,
    options: &ClientOptions,
    timeout: Duration,
    files: &Files<'_>,
) -> Result<String, CliError> {
    let payload = encode(request)
        .map_err(|e| CliError::usage(format!("the request cannot be put into one message: {e}")))?;
    let len = u32::try_from(payload.len())
        .map_err(|_| CliError::usage("the request is larger than a NetIPC message can be"))?;
    let header = Header::new(
        MessageKind::Request,
        target.kind.method().code(),
        MESSAGE_ID,
        len,
    );
    let answer = exchange(target, &header, &payload, options, timeout, files)?;
    write(
        files.response,
        &message_bytes(&answer.header, &answer.payload),
        "response",
    )?;
    if answer.attempts > 1 {
        eprintln!(
            "netipc call: note: the response did not fit at first (LIMIT_EXCEEDED): the request was sent {} times, each on a new session, the last with a response size of {} bytes; the files hold the last exchange",
            answer.attempts, answer.response_size
        );
    }
    check(target, &answer, files)?;
    show(target, request, &answer, files)
}

/// Sends the request until it is answered with something other than
/// `LIMIT_EXCEEDED`, or the provider's response size stops growing.
fn exchange(
    target: &Target,
    header: &Header,
    payload: &[u8],
    options: &ClientOptions,
    timeout: Duration,
    files: &Files<'_>,
) -> Result<Answer, CliError> {
    let mut options = ClientOptions {
        max_request_payload_bytes: proposal(payload.len()),
        send_timeout: timeout,
        ..*options
    };
    let mut saved = false;
    let mut last_size = 0;
    for attempt in 1..=MAX_ATTEMPTS {
        let mut session = ClientSession::connect(&target.run_dir, &target.service, &options)
            .map_err(|e| connect_error(target, &e, options.max_request_payload_bytes))?;
        let shm = session.is_shm();
        let size = session.params().max_response_payload_bytes;
        let start = Instant::now();
        session
            .send(header, payload)
            .map_err(|e| target.failed(&e))?;
        if !saved {
            write(files.request, &message_bytes(header, payload), "request")?;
            saved = true;
        }
        let response = session
            .recv(Some(timeout), None)
            .map_err(|e| target.failed(&e))?;
        let took = Took {
            time: start.elapsed(),
            shm,
        };
        let answer = Answer {
            header: response.header,
            payload: response.payload.to_vec(),
            took,
            attempts: attempt,
            response_size: size,
        };
        let overflow = answer.header.transport_status == TransportStatus::LIMIT_EXCEEDED;
        if !overflow || attempt == MAX_ATTEMPTS || (attempt > 1 && size <= last_size) {
            return Ok(answer);
        }
        // The provider closes the session after LIMIT_EXCEEDED and grows
        // the size it announces; the proposal is the client's hint.
        last_size = size;
        options.max_response_payload_bytes = proposal(2 * size as usize);
    }
    unreachable!("the last attempt returns")
}

/// A failed connection as an error; a refused request size says why it
/// was proposed.
fn connect_error(target: &Target, e: &netipc::Error, proposed: u32) -> CliError {
    match e {
        netipc::Error::Handshake(HandshakeError::LimitExceeded) => CliError::failed(format!(
            "the provider of \"{}\" refused a request size of {proposed} bytes: --save sends the whole request in one message, and this one needs that much; look up fewer keys, or call without --save (the typed call splits a lookup)",
            target.service
        )),
        other => connect_failed(Some(target.kind), &target.run_dir, &target.service, other),
    }
}

/// Where the saved response is, for error messages.
fn saved_in(files: &Files<'_>) -> String {
    match files.response {
        Some(path) => format!(
            "the response is saved in {0}: `netipc decode {0}` shows it",
            path.display()
        ),
        None => "save the response with --save-response FILE and `netipc decode FILE` shows it"
            .to_owned(),
    }
}

/// Checks that the response answers the request with status OK.
fn check(target: &Target, answer: &Answer, files: &Files<'_>) -> Result<(), CliError> {
    let h = &answer.header;
    let code = target.kind.method().code();
    if h.kind != MessageKind::Response || h.code != code || h.message_id != MESSAGE_ID {
        return Err(CliError::failed(format!(
            "the provider of \"{}\" answered with a {} message of method code {} and message id {} instead of the RESPONSE of method code {code} and message id {MESSAGE_ID}; {}",
            target.service,
            h.kind.spec_name(),
            h.code,
            h.message_id,
            saved_in(files)
        )));
    }
    match h.transport_status {
        TransportStatus::OK => Ok(()),
        TransportStatus::LIMIT_EXCEEDED => Err(CliError::failed(format!(
            "the response of \"{}\" does not fit the {} bytes the provider allows, after {} exchanges (LIMIT_EXCEEDED); {}",
            target.service,
            answer.response_size,
            answer.attempts,
            saved_in(files)
        ))),
        status => {
            let e = target.failed(&netipc::Error::Rejected(status));
            Err(CliError {
                message: format!("{}; {}", e.message, saved_in(files)),
                ..e
            })
        }
    }
}

/// The answer as the typed call prints it, with notes on standard error
/// for lookup answers that were cut short.
fn show(
    target: &Target,
    request: &Request,
    answer: &Answer,
    files: &Files<'_>,
) -> Result<String, CliError> {
    let p = &answer.payload[..];
    let malformed = |e: netipc::CodecError| {
        CliError::failed(format!(
            "the response of \"{}\" is malformed ({e}); {}",
            target.service,
            saved_in(files)
        ))
    };
    let took = answer.took;
    Ok(match request {
        Request::Snapshot => {
            target.show_snapshot(&SnapshotView::decode(p).map_err(malformed)?, took)?
        }
        Request::CgroupsLookup(paths) => {
            let view = CgroupsLookupView::decode(p).map_err(malformed)?;
            let cut = view
                .iter()
                .position(|i| i.status == CgroupsLookupStatus::PayloadExceeded);
            note_cut(answer, paths.len(), view.len(), cut);
            target.show_cgroups(&view, took)
        }
        Request::AppsLookup(pids) => {
            let view = AppsLookupView::decode(p).map_err(malformed)?;
            let cut = view
                .iter()
                .position(|i| i.entry.status == PidStatus::PayloadExceeded);
            note_cut(answer, pids.len(), view.len(), cut);
            target.show_apps(&view, took)
        }
        Request::Increment(n) => target.show_increment(*n, decode_increment(p).map_err(malformed)?),
        Request::StringReverse(t) => {
            target.show_reversed(t, decode_string_reverse(p).map_err(malformed)?)
        }
    })
}

/// Says on standard error when a lookup answer is not the whole answer.
fn note_cut(answer: &Answer, asked: usize, answered: usize, cut: Option<usize>) {
    if answered != asked {
        eprintln!("netipc call: note: the provider answered {answered} items for {asked} keys");
    }
    if let Some(at) = cut {
        eprintln!(
            "netipc call: note: the answer was cut short at item {at} (PAYLOAD_EXCEEDED from there on): it does not fit the {} bytes the provider allows; without --save the call asks for the rest in further exchanges",
            answer.response_size
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_take_the_request() {
        assert_eq!(proposal(0), 1024);
        assert_eq!(proposal(1024), 1024);
        assert_eq!(proposal(1025), 2048);
        assert_eq!(proposal(3 << 20), 4 << 20);
    }

    #[test]
    fn every_request_encodes() {
        let requests = [
            Request::Snapshot,
            Request::CgroupsLookup(vec!["/a".into(), "/b/c".into()]),
            Request::AppsLookup(vec![1, 2, 3]),
            Request::Increment(41),
            Request::StringReverse("abc".into()),
        ];
        let lens: Vec<usize> = requests
            .iter()
            .map(|r| encode(r).expect("encodes").len())
            .collect();
        assert_eq!(lens[0], SNAPSHOT_REQUEST_LEN);
        assert_eq!(lens[2], apps_lookup_request_len(3));
        assert_eq!(lens[3], 8);
        assert_eq!(lens[4], string_reverse_len(3));
    }
}
