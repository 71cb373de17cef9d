//! Shared-memory pieces shared by every backend: what identifies a
//! session's region, and why attaching it can fail.

/// The reason a shared-memory attach failed. After any of these the session
/// is closed; the client must connect again without the shared-memory
/// profiles ([`Error::ShmAttach`](crate::Error::ShmAttach)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmAttachError {
    /// The region (file or mapping object) could not be opened.
    #[error("cannot open the region: {0}")]
    Open(std::io::Error),
    /// The region exists but is not initialised yet.
    #[error("the region is not ready")]
    NotReady,
    /// The region's magic number is wrong.
    #[error("the region has a bad magic number")]
    BadMagic,
    /// The region's layout version is not supported.
    #[error("the region has layout version {0}")]
    BadVersion(u32),
    /// The region's header length or offsets are malformed.
    #[error("the region header is malformed: {0}")]
    BadHeader(&'static str),
    /// The region is smaller than its header says.
    #[error("the region is smaller than its areas")]
    BadSize,
    /// The region was made for another profile.
    #[error("the region was created for profile {0:#x}")]
    BadProfile(u32),
    /// The region's name leads to something other than a regular file of
    /// the provider's user (a symbolic link, another kind of file, or a
    /// file of another user). It was not followed or used.
    #[error(
        "{path} is a {kind} owned by uid {owner}, not a region file of the provider (uid {expected}): it was not used"
    )]
    Foreign {
        /// The region path.
        path: String,
        /// What is there.
        kind: &'static str,
        /// Its owner.
        owner: u32,
        /// The uid the region file should belong to.
        expected: u32,
    },
    /// Another process truncated or replaced the region file while it was
    /// being attached (Linux).
    #[error("the region {0} was truncated or replaced by another process while it was attached")]
    Lost(String),
    /// Mapping or another OS call failed.
    #[error("cannot map the region: {0}")]
    Map(std::io::Error),
}

impl ShmAttachError {
    /// Whether a retry shortly after may succeed (the server may still be
    /// creating the region).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Open(_) | Self::NotReady | Self::BadMagic)
    }
}

/// Everything that names one session's shared-memory objects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShmKey<'a> {
    pub(crate) run_dir: &'a str,
    pub(crate) service: &'a str,
    /// Part of the object names on Windows.
    #[allow(dead_code, reason = "read only by backends that name objects by token")]
    pub(crate) auth_token: u64,
    pub(crate) session_id: u64,
    /// The uid the region file must belong to (client side: the provider's,
    /// from the connection's peer credentials; `None`: this user or root).
    /// Checked on POSIX only.
    #[allow(dead_code, reason = "read only by backends with file regions")]
    pub(crate) owner: Option<u32>,
    /// Who may open the region (the provider's endpoint access; a client
    /// only opens regions and leaves it at the default).
    pub(crate) access: super::EndpointAccess,
}

/// Region creations attempted by this process (both backends count in
/// their `ShmOffer::provision`, the only way a server creates a region);
/// read by `transport::testing::shm_provisions`.
static PROVISIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts one attempt to create a session's shared-memory objects.
pub(crate) fn count_provision() {
    PROVISIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Region creations attempted by this process so far.
#[cfg(feature = "test-support")]
pub(crate) fn provisions() -> u64 {
    PROVISIONS.load(std::sync::atomic::Ordering::Relaxed)
}
