//! [`Identities`]: a short inline list of identities (configs stay `Copy`).

use std::fmt;
use std::str::FromStr;

use super::{Identity, IdentityParseError};

/// Most identities an [`Identities`] list holds (so that the configs that
/// carry one stay `Copy`). Name a group to accept more principals.
pub const MAX_IDENTITIES: usize = 8;

/// A short list of identities (at most [`MAX_IDENTITIES`]), held inline.
///
/// Text form: the identities separated by commas (`uid:0,gid:999`);
/// spaces around the commas are allowed.
#[derive(Clone, Copy)]
pub struct Identities {
    len: u8,
    items: [Identity; MAX_IDENTITIES],
}

impl Identities {
    /// An empty list.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            len: 0,
            items: [Identity::Uid(0); MAX_IDENTITIES],
        }
    }

    /// A list of `items`.
    ///
    /// # Errors
    /// [`IdentityParseError::TooMany`] for more than [`MAX_IDENTITIES`].
    pub fn from_slice(items: &[Identity]) -> Result<Self, IdentityParseError> {
        let mut list = Self::new();
        for &item in items {
            list.push(item)?;
        }
        Ok(list)
    }

    /// Appends `identity` (nothing happens when it is listed already).
    ///
    /// # Errors
    /// [`IdentityParseError::TooMany`] when the list is full.
    pub fn push(&mut self, identity: Identity) -> Result<(), IdentityParseError> {
        if self.contains(&identity) {
            return Ok(());
        }
        let slot = self
            .items
            .get_mut(usize::from(self.len))
            .ok_or(IdentityParseError::TooMany)?;
        *slot = identity;
        self.len += 1;
        Ok(())
    }

    /// The identities, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[Identity] {
        &self.items[..usize::from(self.len)]
    }

    /// Whether `identity` is listed.
    #[must_use]
    pub fn contains(&self, identity: &Identity) -> bool {
        self.as_slice().contains(identity)
    }

    /// Number of identities.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Identities {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Identities {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Identities {}

impl std::hash::Hash for Identities {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            id.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for Identities {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = Self::new();
        for part in s.split(',') {
            list.push(part.trim().parse()?)?;
        }
        Ok(list)
    }
}

impl<'a> IntoIterator for &'a Identities {
    type Item = &'a Identity;
    type IntoIter = std::slice::Iter<'a, Identity>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}
