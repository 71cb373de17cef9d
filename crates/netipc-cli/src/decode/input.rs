//! Reading the bytes to decode: a file or stdin, raw or as hex text.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use super::error::DecodeError;

/// Reads `path` (`-` for stdin); with `hex`, the content is hex text and
/// is converted to bytes.
///
/// # Errors
/// [`DecodeError::Io`] when reading fails, [`DecodeError::Hex`] for text
/// that is not hex.
pub fn read_input(path: &Path, hex: bool) -> Result<Vec<u8>, DecodeError> {
    let raw = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|source| DecodeError::Io {
                what: "stdin".to_owned(),
                source,
            })?;
        buf
    } else {
        fs::read(path).map_err(|source| DecodeError::Io {
            what: format!("`{}`", path.display()),
            source,
        })?
    };
    if hex { parse_hex(&raw) } else { Ok(raw) }
}

/// Converts hex text to bytes. Whitespace (including newlines) is ignored
/// anywhere, also between the two digits of a byte; upper and lower case
/// are accepted.
///
/// # Errors
/// [`DecodeError::Hex`] naming the line and column of the first character
/// that is neither a hex digit nor whitespace, or reporting an odd number
/// of digits.
pub fn parse_hex(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let (mut line, mut column) = (1usize, 0usize);
    for &c in text {
        column += 1;
        if c == b'\n' {
            line += 1;
            column = 0;
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(nibble) = hex_value(c) else {
            return Err(DecodeError::Hex(format!(
                "unexpected {} at line {line}, column {column} (only hex digits and whitespace are allowed)",
                describe_byte(c)
            )));
        };
        match high.take() {
            Some(h) => out.push(h << 4 | nibble),
            None => high = Some(nibble),
        }
    }
    if high.is_some() {
        return Err(DecodeError::Hex(format!(
            "odd number of hex digits ({} bytes and one digit left over)",
            out.len()
        )));
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn describe_byte(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("character '{}'", char::from(c))
    } else {
        format!("byte 0x{c:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_with_whitespace() {
        assert_eq!(
            parse_hex(b"43 50\n49 4E\t0 1").unwrap(),
            [0x43, 0x50, 0x49, 0x4e, 0x01]
        );
    }

    #[test]
    fn hex_errors() {
        let err = parse_hex(b"00\n0g").unwrap_err().to_string();
        assert!(err.contains("'g' at line 2, column 2"), "{err}");
        let err = parse_hex(b"abc").unwrap_err().to_string();
        assert!(err.contains("odd number"), "{err}");
    }
}
