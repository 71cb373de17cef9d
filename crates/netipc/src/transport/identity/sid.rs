//! [`Sid`]: a Windows security identifier as plain data, on every OS.

use std::fmt;
use std::str::FromStr;

use super::IdentityParseError;

/// Most sub-authorities a Windows SID has.
const SID_MAX_SUB_AUTHORITIES: usize = 15;

/// A Windows security identifier (`S-1-5-21-…`), held as plain data on
/// every OS (so that configurations parse everywhere).
///
/// Parsed from and displayed in the standard string form: `S-1-`, the
/// identifier authority (decimal, or `0x` and 12 hex digits when it does
/// not fit 32 bits), then up to 15 sub-authorities (decimal, or `0x`
/// hex). The revision is always 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// The 48-bit identifier authority, big-endian as on the wire.
    authority: [u8; 6],
    count: u8,
    /// The sub-authorities; entries from `count` on are zero.
    sub: [u32; SID_MAX_SUB_AUTHORITIES],
}

impl Sid {
    /// LocalSystem, `S-1-5-18`.
    pub const LOCAL_SYSTEM: Sid = Sid::nt(&[18]);
    /// The built-in Administrators group, `S-1-5-32-544`.
    pub const ADMINISTRATORS: Sid = Sid::nt(&[32, 544]);

    /// A SID of the NT authority (5) with the given sub-authorities.
    const fn nt(sub_authorities: &[u32]) -> Sid {
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        let mut i = 0;
        while i < sub_authorities.len() {
            sub[i] = sub_authorities[i];
            i += 1;
        }
        Sid {
            authority: [0, 0, 0, 0, 0, 5],
            count: sub_authorities.len() as u8,
            sub,
        }
    }

    /// Decodes the binary form Windows uses (revision 1, sub-authority
    /// count, 6-byte big-endian authority, little-endian sub-authorities).
    /// `None` when `bytes` is not a valid SID; bytes after the SID are
    /// ignored.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Sid> {
        let (&revision, rest) = bytes.split_first()?;
        let (&count, rest) = rest.split_first()?;
        if revision != 1 || usize::from(count) > SID_MAX_SUB_AUTHORITIES {
            return None;
        }
        let authority: [u8; 6] = rest.get(..6)?.try_into().ok()?;
        let subs = rest.get(6..6 + 4 * usize::from(count))?;
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        for (slot, chunk) in sub.iter_mut().zip(subs.chunks_exact(4)) {
            *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Sid {
            authority,
            count,
            sub,
        })
    }

    /// The binary form (see [`from_bytes`](Self::from_bytes)).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * usize::from(self.count));
        out.push(1);
        out.push(self.count);
        out.extend_from_slice(&self.authority);
        for s in self.sub_authorities() {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// The 48-bit identifier authority (5 for `S-1-5-…`).
    #[must_use]
    pub fn authority(&self) -> u64 {
        self.authority
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// The sub-authorities, in order.
    #[must_use]
    pub fn sub_authorities(&self) -> &[u32] {
        &self.sub[..usize::from(self.count)]
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = self.authority();
        if authority >> 32 == 0 {
            write!(f, "S-1-{authority}")?;
        } else {
            write!(f, "S-1-0x{authority:012X}")?;
        }
        for s in self.sub_authorities() {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A decimal or `0x`-hex number of at most `max`.
pub(super) fn parse_number(s: &str, max: u64) -> Option<u64> {
    let value = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        None => return None,
    };
    (value <= max).then_some(value)
}

impl FromStr for Sid {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdentityParseError::syntax(s, "a SID (S-1-5-…)");
        let rest = s
            .strip_prefix("S-")
            .or_else(|| s.strip_prefix("s-"))
            .ok_or_else(bad)?;
        let mut parts = rest.split('-');
        if parts.next() != Some("1") {
            return Err(bad());
        }
        let authority = parts
            .next()
            .and_then(|a| parse_number(a, (1 << 48) - 1))
            .ok_or_else(bad)?;
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        let mut count = 0usize;
        for part in parts {
            let slot = sub.get_mut(count).ok_or_else(bad)?;
            *slot = parse_number(part, u64::from(u32::MAX))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(bad)?;
            count += 1;
        }
        let be = authority.to_be_bytes();
        Ok(Sid {
            authority: [be[2], be[3], be[4], be[5], be[6], be[7]],
            count: count as u8,
            sub,
        })
    }
}
