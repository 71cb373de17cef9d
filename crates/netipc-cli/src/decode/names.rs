//! Names and string forms shared by the text and JSON output: enum names,
//! flag and profile masks, escaped strings.

use std::fmt::Write as _;

use netipc::codec::orchestrator;
use netipc::wire::{FLAG_BATCH, Header, MessageKind, Method, Profiles, control};

/// The name of the header's `code`: a control opcode for CONTROL messages,
/// a method otherwise; `None` when the value is not defined.
pub fn code_name(header: &Header) -> Option<&'static str> {
    match header.kind {
        MessageKind::Control => match header.code {
            control::HELLO => Some("HELLO"),
            control::HELLO_ACK => Some("HELLO_ACK"),
            _ => None,
        },
        MessageKind::Request | MessageKind::Response => {
            Method::from_code(header.code).map(Method::spec_name)
        }
    }
}

/// What kind of value `code` is for this header.
pub fn code_meaning(header: &Header) -> &'static str {
    match header.kind {
        MessageKind::Control => "control opcode",
        MessageKind::Request | MessageKind::Response => "method",
    }
}

/// The names of the set header flag bits (`BATCH`, `0x0004`).
pub fn flag_names(flags: u16) -> Vec<String> {
    (0..16)
        .map(|bit| 1u16 << bit)
        .filter(|mask| flags & mask != 0)
        .map(|mask| {
            if mask == FLAG_BATCH {
                "BATCH".to_owned()
            } else {
                format!("0x{mask:04x}")
            }
        })
        .collect()
}

/// The names of the bits of a profile mask (as [`Profiles`] prints them;
/// undefined bits as hex).
pub fn profile_names(mask: u32) -> Vec<String> {
    (0..32)
        .map(|bit| 1u32 << bit)
        .filter(|b| mask & b != 0)
        .map(|b| Profiles::from_bits_retain(b).to_string())
        .collect()
}

/// A profile mask as `0x03 (baseline|shm-hybrid)`, or `0x00 (none)`.
pub fn profile_mask(mask: u32) -> String {
    format!("0x{mask:02x} ({})", Profiles::from_bits_retain(mask))
}

/// An orchestrator value's name, or `unrecognized`.
pub fn orchestrator_name(value: u16) -> &'static str {
    orchestrator::name(value).unwrap_or("unrecognized")
}

/// The bytes as text: valid UTF-8 as is, backslash and (when `quoted`)
/// double quotes escaped, control characters as `\n`, `\t`, `\r`, `\0` or
/// `\u{..}`, and bytes that are not UTF-8 as `\xNN`.
pub fn escape(bytes: &[u8], quoted: bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    if quoted {
        out.push('"');
    }
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' if quoted => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\0' => out.push_str("\\0"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if quoted {
        out.push('"');
    }
    out
}

/// `1 byte`, `2 bytes`.
pub fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

/// Lower-case hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, profile_mask};

    #[test]
    fn escapes() {
        assert_eq!(escape(b"a\"b\\c", true), r#""a\"b\\c""#);
        assert_eq!(
            escape(b"x\n\0\x1b\xff\xc3\xa9", false),
            r"x\n\0\u{1b}\xff".to_owned() + "é"
        );
    }

    #[test]
    fn profiles() {
        assert_eq!(profile_mask(0x03), "0x03 (baseline|shm-hybrid)");
        assert_eq!(profile_mask(0), "0x00 (none)");
        assert_eq!(profile_mask(0x11), "0x11 (baseline|0x10)");
    }
}
