//! Transport profiles: the set a peer offers or prefers, and the one a
//! handshake selects.

use std::fmt;
use std::str::FromStr;

bitflags::bitflags! {
    /// A set of transport profiles, negotiated in the handshake.
    ///
    /// The bit values are the protocol's and the same on every operating
    /// system; what a shared-memory profile does depends on the OS both
    /// peers run on (see each constant). Configs and options hold a set
    /// (what a peer offers or prefers); a session's selected profile is a
    /// set of one ([`SessionInfo::profile`](crate::service::SessionInfo::profile)).
    ///
    /// An empty set in a [`ClientConfig`](crate::service::ClientConfig) or
    /// [`ServerConfig`](crate::service::ServerConfig) means the default
    /// ([`DEFAULT_PROFILES`](crate::service::DEFAULT_PROFILES)), in a
    /// preference "no preference".
    ///
    /// It prints as the profiles' names joined by `|` (`baseline|shm-hybrid`;
    /// bits the protocol does not define as hex, the empty set as `none`)
    /// and parses from the same text, names in any case, `_` or `-`, joined
    /// by `|` or `,` ([`FromStr`]). [`bits`](Self::bits) and
    /// [`from_bits_retain`](Self::from_bits_retain) convert to and from the
    /// wire's `u32` mask (the HELLO's fields). Iterating
    /// ([`iter`](Self::iter)) yields each defined profile in the set, then
    /// any undefined bits as one value.
    ///
    /// ```
    /// use netipc::service::Profiles;
    ///
    /// let offer: Profiles = "baseline|shm-hybrid".parse()?;
    /// assert_eq!(offer, Profiles::BASELINE | Profiles::SHM_HYBRID);
    /// assert!(offer.contains(Profiles::SHM_HYBRID));
    /// assert_eq!(offer.to_string(), "baseline|shm-hybrid");
    /// assert_eq!(offer.bits(), 0x03);
    /// # Ok::<(), netipc::wire::ParseProfilesError>(())
    /// ```
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Profiles: u32 {
        /// The baseline transport: a Unix SEQPACKET socket on Linux, a
        /// named pipe on Windows. Always available.
        const BASELINE = 0x01;
        /// Shared memory, spin then sleep: Linux futex, Windows named
        /// events. The default shared-memory profile on both OSes.
        const SHM_HYBRID = 0x02;
        /// Bit `0x04`, whose data plane differs by OS. Linux: an alias of
        /// [`SHM_HYBRID`](Self::SHM_HYBRID), the same region and algorithm
        /// (the reference peers call it `SHM_FUTEX`). Windows: shared
        /// memory with pure spinning and no kernel objects (the reference
        /// peers call it `SHM_BUSYWAIT`): the lowest latency, but a waiting
        /// thread keeps a core busy. Never offered unless configured.
        const SHM_ALT = 0x04;
        /// Shared memory with `WaitOnAddress`: defined by the protocol but
        /// implemented by no peer (never selected by netipc).
        const SHM_WAITADDR = 0x08;
    }
}

impl Profiles {
    /// Every profile that moves the data plane to shared memory
    /// (`SHM_HYBRID | SHM_ALT`).
    pub const SHM_ANY: Self = Self::SHM_HYBRID.union(Self::SHM_ALT);

    /// The profile a handshake selects from the common profiles `self`:
    /// the highest bit of `self & preferred` if there is one, else the
    /// highest bit of `self`; empty when `self` is. `preferred` is what
    /// both sides prefer (the client's preference `&` the server's).
    #[must_use]
    pub const fn select(self, preferred: Self) -> Self {
        let pref = self.bits() & preferred.bits();
        let pool = if pref != 0 { pref } else { self.bits() };
        if pool == 0 {
            Self::empty()
        } else {
            Self::from_bits_retain(1 << (31 - pool.leading_zeros()))
        }
    }

    /// `self`, or `default` when `self` is empty (the rule of config
    /// fields).
    pub(crate) const fn or(self, default: Self) -> Self {
        if self.is_empty() { default } else { self }
    }
}

/// The empty set: in a config, "use the default".
impl Default for Profiles {
    fn default() -> Self {
        Self::empty()
    }
}

/// The printed name of each defined profile.
const NAMES: [(Profiles, &str); 4] = [
    (Profiles::BASELINE, "baseline"),
    (Profiles::SHM_HYBRID, "shm-hybrid"),
    (Profiles::SHM_ALT, "shm-alt"),
    (Profiles::SHM_WAITADDR, "shm-waitaddr"),
];

impl fmt::Display for Profiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut sep = "";
        for bit in (0..32).map(|i| 1u32 << i).filter(|b| self.bits() & b != 0) {
            f.write_str(sep)?;
            sep = "|";
            match NAMES.iter().find(|(p, _)| p.bits() == bit) {
                Some((_, name)) => f.write_str(name)?,
                None => write!(f, "{bit:#x}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Profiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A text that does not name a set of transport profiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{word}` is not a transport profile: use baseline, shm-hybrid, shm-alt, shm-waitaddr or a hex bit such as 0x10, joined by `|` or `,` (or `none` for the empty set)"
)]
pub struct ParseProfilesError {
    /// The part that is not a profile (the whole text when it is empty).
    pub word: String,
}

impl FromStr for Profiles {
    type Err = ParseProfilesError;

    /// Parses names as [`Display`](fmt::Display) prints them (in any case,
    /// with `_` or `-`, joined by `|` or `,`, spaces ignored), hex bits
    /// (`0x10`) and `none`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |word: &str| ParseProfilesError {
            word: word.to_owned(),
        };
        if text.trim().is_empty() {
            return Err(bad(text));
        }
        let mut set = Self::empty();
        for word in text.split(['|', ',']).map(str::trim) {
            let name = word.to_ascii_lowercase().replace('_', "-");
            let hex = name.strip_prefix("0x");
            set |= match (name.as_str(), hex) {
                ("none", _) => Self::empty(),
                (_, Some(digits)) => u32::from_str_radix(digits, 16)
                    .map(Self::from_bits_retain)
                    .map_err(|_| bad(word))?,
                _ => NAMES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(p, _)| *p)
                    .ok_or_else(|| bad(word))?,
            };
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_names_and_parses_them_back() {
        let cases = [
            (Profiles::empty(), "none"),
            (Profiles::BASELINE, "baseline"),
            (
                Profiles::BASELINE | Profiles::SHM_HYBRID,
                "baseline|shm-hybrid",
            ),
            (Profiles::all(), "baseline|shm-hybrid|shm-alt|shm-waitaddr"),
            (Profiles::from_bits_retain(0x11), "baseline|0x10"),
        ];
        for (set, text) in cases {
            assert_eq!(set.to_string(), text);
            assert_eq!(format!("{set:?}"), text);
            assert_eq!(text.parse::<Profiles>(), Ok(set), "{text}");
        }
        assert_eq!(
            " SHM_HYBRID , Baseline".parse::<Profiles>(),
            Ok(Profiles::BASELINE | Profiles::SHM_HYBRID)
        );
        for bad in ["", "shm", "baseline|", "0xzz", "shm-futex"] {
            let err = bad.parse::<Profiles>().unwrap_err();
            assert!(err.to_string().contains("is not a transport profile"));
        }
        assert_eq!("baseline|shm".parse::<Profiles>().unwrap_err().word, "shm");
    }

    #[test]
    fn iterates_single_profiles_and_converts_to_the_wire() {
        let set = Profiles::from_bits_retain(0x07);
        let singles: Vec<Profiles> = set.iter().collect();
        assert_eq!(
            singles,
            [Profiles::BASELINE, Profiles::SHM_HYBRID, Profiles::SHM_ALT]
        );
        assert_eq!(set.bits(), 0x07);
        assert_eq!(Profiles::default(), Profiles::empty());
        assert_eq!(Profiles::SHM_ANY.bits(), 0x06);
    }

    #[test]
    fn select_prefers_the_common_preference_then_the_highest_bit() {
        let all = Profiles::from_bits_retain(0x07);
        assert_eq!(all.select(Profiles::SHM_HYBRID), Profiles::SHM_HYBRID);
        assert_eq!(
            all.select(Profiles::empty()),
            Profiles::SHM_ALT,
            "no preference: the highest common bit"
        );
        assert_eq!(
            Profiles::from_bits_retain(0x03).select(Profiles::SHM_ALT),
            Profiles::SHM_HYBRID,
            "a preference outside the common set does not count"
        );
        assert_eq!(Profiles::empty().select(Profiles::all()), Profiles::empty());
    }
}
