//! Decoding a method or handshake payload into the report model with the
//! library's decoders.

use netipc::codec::{
    AppsLookupRequest, AppsLookupView, CgroupsLookupRequest, CgroupsLookupView,
    INCREMENT_PAYLOAD_LEN, LOOKUP_HEADER_LEN, SNAPSHOT_REQUEST_LEN, SnapshotRequest, SnapshotView,
    decode_increment, decode_string_reverse, string_reverse_len,
};
use netipc::wire::{DIR_ENTRY_LEN, HELLO_ACK_LEN, HELLO_LEN, Hello, HelloAck};
use netipc::{CodecError, CodecErrorKind};

use super::error::Malformed;
use super::model::{Decoded, Direction, Payload, PayloadType};

/// Offset of the HELLO_ACK reserved field, which clients do not check.
const HELLO_ACK_RESERVED: usize = 36;

/// The readable name of a layout and direction (`INCREMENT request`,
/// `HELLO_ACK`).
pub fn label(ty: PayloadType, direction: Direction) -> String {
    match ty {
        PayloadType::Hello | PayloadType::HelloAck => ty.spec_name().to_owned(),
        _ => format!("{} {}", ty.spec_name(), direction.name()),
    }
}

/// Decodes `bytes`, which start at input byte `start`.
///
/// `region` names the enclosing structure for error messages (`payload`,
/// `batch item 1`).
///
/// # Errors
/// [`Malformed`] naming the field and the offset counted from the input
/// start; for a CGROUPS_SNAPSHOT response the first item that fails its
/// (lazy) validation.
pub fn decode_at<'a>(
    ty: PayloadType,
    direction: Direction,
    bytes: &'a [u8],
    start: usize,
    region: &str,
) -> Result<Decoded<'a>, Malformed> {
    let name = label(ty, direction);
    let context = if start == 0 {
        format!("{name} payload")
    } else {
        format!("{name} {region}")
    };
    let (value, used) = decode(ty, direction, bytes).map_err(|(err, item)| {
        let item = item.or_else(|| lookup_item_at(ty, direction, bytes, err.offset()));
        let context = match item {
            Some(i) => format!("{context}, item {i}"),
            None => context.clone(),
        };
        Malformed::codec(context, err, start, region)
    })?;
    Ok(Decoded {
        ty,
        direction,
        len: bytes.len(),
        start,
        value,
        ignored_tail: used.map(|u| bytes.len().saturating_sub(u)),
    })
}

type PayloadResult<'a> = Result<(Payload<'a>, Option<usize>), (CodecError, Option<usize>)>;

/// Decodes `bytes` and returns the value plus, for the layouts whose
/// decoders ignore trailing bytes, how many bytes they read.
fn decode(ty: PayloadType, direction: Direction, bytes: &[u8]) -> PayloadResult<'_> {
    let plain = |err| (err, None);
    match (ty, direction) {
        (PayloadType::Increment, _) => {
            let value = decode_increment(bytes).map_err(plain)?;
            Ok((Payload::Increment { value }, Some(INCREMENT_PAYLOAD_LEN)))
        }
        (PayloadType::StringReverse, _) => {
            let text = decode_string_reverse(bytes).map_err(plain)?;
            let used = string_reverse_len(text.len());
            Ok((Payload::StringReverse { text }, Some(used)))
        }
        (PayloadType::CgroupsSnapshot, Direction::Request) => {
            SnapshotRequest::decode(bytes).map_err(plain)?;
            Ok((Payload::SnapshotRequest, Some(SNAPSHOT_REQUEST_LEN)))
        }
        (PayloadType::CgroupsSnapshot, Direction::Response) => {
            let view = SnapshotView::decode(bytes).map_err(plain)?;
            let mut items = Vec::with_capacity(view.len());
            for (i, item) in view.iter().enumerate() {
                items.push(item.map_err(|err| (err, Some(i)))?);
            }
            let value = Payload::Snapshot {
                systemd_enabled: view.systemd_enabled(),
                generation: view.generation(),
                items,
            };
            Ok((value, None))
        }
        (PayloadType::CgroupsLookup, Direction::Request) => {
            let request = CgroupsLookupRequest::decode(bytes).map_err(plain)?;
            let paths = request.paths().collect();
            Ok((Payload::CgroupsLookupRequest { paths }, None))
        }
        (PayloadType::CgroupsLookup, Direction::Response) => {
            let view = CgroupsLookupView::decode(bytes).map_err(plain)?;
            let items = (0..view.len())
                .map(|i| view.item(i).ok_or((reread_failed(), Some(i))))
                .collect::<Result<_, _>>()?;
            let value = Payload::CgroupsLookup {
                generation: view.generation(),
                items,
            };
            Ok((value, None))
        }
        (PayloadType::AppsLookup, Direction::Request) => {
            let request = AppsLookupRequest::decode(bytes).map_err(plain)?;
            let pids = request.pids().collect();
            Ok((Payload::AppsLookupRequest { pids }, None))
        }
        (PayloadType::AppsLookup, Direction::Response) => {
            let view = AppsLookupView::decode(bytes).map_err(plain)?;
            let items = (0..view.len())
                .map(|i| view.item(i).ok_or((reread_failed(), Some(i))))
                .collect::<Result<_, _>>()?;
            let value = Payload::AppsLookup {
                generation: view.generation(),
                items,
            };
            Ok((value, None))
        }
        (PayloadType::Hello, _) => {
            let hello = Hello::decode(bytes).map_err(plain)?;
            Ok((Payload::Hello(hello), Some(HELLO_LEN)))
        }
        (PayloadType::HelloAck, _) => {
            let ack = HelloAck::decode(bytes).map_err(plain)?;
            let mut reserved = [0u8; 4];
            reserved.copy_from_slice(&bytes[HELLO_ACK_RESERVED..HELLO_ACK_RESERVED + 4]);
            let value = Payload::HelloAck {
                ack,
                reserved: u32::from_ne_bytes(reserved),
            };
            Ok((value, Some(HELLO_ACK_LEN)))
        }
    }
}

/// The index of the lookup response item whose bytes contain `offset`,
/// read from the (ordered) directory, so an item error can name its item.
fn lookup_item_at(
    ty: PayloadType,
    direction: Direction,
    payload: &[u8],
    offset: usize,
) -> Option<usize> {
    if direction != Direction::Response
        || !matches!(ty, PayloadType::CgroupsLookup | PayloadType::AppsLookup)
    {
        return None;
    }
    let read = |at: usize| -> Option<usize> {
        let b = payload.get(at..at.checked_add(4)?)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = read(4)?;
    let packed = count
        .checked_mul(DIR_ENTRY_LEN)?
        .checked_add(LOOKUP_HEADER_LEN)?;
    if offset < packed || packed > payload.len() {
        return None;
    }
    (0..count).find(|&i| {
        let at = LOOKUP_HEADER_LEN + i * DIR_ENTRY_LEN;
        let range = read(at).zip(read(at + 4)).and_then(|(off, len)| {
            let start = packed.checked_add(off)?;
            Some(start..start.checked_add(len)?)
        });
        range.is_some_and(|r| r.contains(&offset))
    })
}

/// A lookup view validated every item when it was created, so reading one
/// back cannot fail; should the library ever disagree with itself, say so
/// instead of dropping the item.
fn reread_failed() -> CodecError {
    CodecError::new(
        CodecErrorKind::BadLayout,
        "lookup item (validated by the view but not readable)",
        0,
    )
}
