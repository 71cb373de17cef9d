//! APPS_LOOKUP (method 5): ordered PID -> process and cgroup metadata.

mod builder;
mod request;
mod response;

pub use builder::{APPS_LOOKUP_PLACEHOLDER_LEN, AppsLookupBuilder, dispatch_apps_lookup};
pub use request::{
    APPS_LOOKUP_KEY_LEN, AppsLookupRequest, apps_lookup_request_len, encode_apps_lookup_request,
};
pub use response::{
    APPS_LOOKUP_ITEM_HEADER_LEN, AppsEntry, AppsLookupItem, AppsLookupView, COMM_MAX_LEN,
    CgroupStatus, PidStatus, UID_UNSET, encode_apps_lookup_raw_response,
};
