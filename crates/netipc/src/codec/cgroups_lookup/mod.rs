//! CGROUPS_LOOKUP (method 4): ordered cgroup path -> metadata.

mod builder;
mod request;
mod response;

pub use builder::{CgroupsLookupBuilder, cgroups_lookup_placeholder_len, dispatch_cgroups_lookup};
pub use request::{
    CgroupsLookupRequest, cgroups_lookup_request_len, cgroups_lookup_single_request_len,
    encode_cgroups_lookup_request,
};
pub use response::{
    CGROUPS_LOOKUP_ITEM_HEADER_LEN, CgroupsEntry, CgroupsLookupItem, CgroupsLookupStatus,
    CgroupsLookupView, encode_cgroups_lookup_raw_response,
};
