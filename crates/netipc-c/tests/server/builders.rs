//! Builder and request-view functions outside a handler call: NULL is an
//! invalid argument, a zeroed (or finished) builder is not initialized;
//! nothing crashes.

use netipc_c::builders::{
    nipc_apps_lookup_builder_add, nipc_apps_lookup_builder_add_status,
    nipc_apps_lookup_builder_error, nipc_apps_lookup_builder_set_generation,
    nipc_apps_lookup_builder_t, nipc_apps_lookup_req_pid, nipc_apps_lookup_req_view_t,
    nipc_cgroups_builder_add, nipc_cgroups_builder_error, nipc_cgroups_builder_set_header,
    nipc_cgroups_builder_t, nipc_cgroups_lookup_builder_add,
    nipc_cgroups_lookup_builder_add_request_item, nipc_cgroups_lookup_builder_add_status,
    nipc_cgroups_lookup_builder_error, nipc_cgroups_lookup_builder_set_generation,
    nipc_cgroups_lookup_builder_t, nipc_cgroups_lookup_req_path, nipc_cgroups_lookup_req_view_t,
    nipc_str_view_t,
};
use netipc_c::nipc_error_t;

/// Runs every builder and view function on `b*`/`req*` and returns the
/// codes.
///
/// # Safety
/// The pointers are NULL or point to (zeroed) structs of their type.
unsafe fn every_function(
    snapshot: *mut nipc_cgroups_builder_t,
    cgroups: *mut nipc_cgroups_lookup_builder_t,
    cgroups_req: *const nipc_cgroups_lookup_req_view_t,
    apps: *mut nipc_apps_lookup_builder_t,
    apps_req: *const nipc_apps_lookup_req_view_t,
) -> Vec<nipc_error_t> {
    let mut path = nipc_str_view_t {
        ptr: std::ptr::null(),
        len: 0,
    };
    let mut pid = 0;
    let null = std::ptr::null();
    let no_labels = std::ptr::null();
    // SAFETY: the caller's contract.
    unsafe {
        vec![
            nipc_cgroups_builder_add(snapshot, 1, 0, 0, c"n".as_ptr(), 1, c"/p".as_ptr(), 2),
            nipc_cgroups_builder_set_header(snapshot, 1, 2),
            nipc_cgroups_builder_error(snapshot),
            nipc_cgroups_lookup_builder_add(
                cgroups,
                c"/p".as_ptr(),
                2,
                1,
                0,
                null,
                0,
                no_labels,
                0,
            ),
            nipc_cgroups_lookup_builder_add_request_item(
                cgroups,
                cgroups_req,
                0,
                1,
                0,
                null,
                0,
                no_labels,
                0,
            ),
            nipc_cgroups_lookup_builder_add_status(cgroups, c"/p".as_ptr(), 2, 1),
            nipc_cgroups_lookup_builder_set_generation(cgroups, 3),
            nipc_cgroups_lookup_builder_error(cgroups),
            nipc_apps_lookup_builder_add(apps, 1, std::ptr::null(), no_labels, 0),
            nipc_apps_lookup_builder_add_status(apps, 1, 1),
            nipc_apps_lookup_builder_set_generation(apps, 3),
            nipc_apps_lookup_builder_error(apps),
        ]
        .into_iter()
        .chain([
            nipc_cgroups_lookup_req_path(cgroups_req, 0, &raw mut path),
            nipc_apps_lookup_req_pid(apps_req, 0, &raw mut pid),
        ])
        .collect()
    }
}

#[test]
fn null_builders_and_views_are_invalid_arguments() {
    // SAFETY: NULL everywhere.
    let codes = unsafe {
        every_function(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null(),
        )
    };
    assert_eq!(codes.len(), 14);
    assert!(
        codes
            .iter()
            .all(|c| *c == nipc_error_t::NIPC_ERR_INVALID_ARGUMENT),
        "{codes:?}"
    );
}

#[test]
fn zeroed_builders_and_views_are_not_initialized() {
    // SAFETY: the structs are arrays of integers, valid when zeroed.
    let (mut snapshot, mut cgroups, cgroups_req, mut apps, apps_req) = unsafe {
        (
            std::mem::zeroed::<nipc_cgroups_builder_t>(),
            std::mem::zeroed::<nipc_cgroups_lookup_builder_t>(),
            std::mem::zeroed::<nipc_cgroups_lookup_req_view_t>(),
            std::mem::zeroed::<nipc_apps_lookup_builder_t>(),
            std::mem::zeroed::<nipc_apps_lookup_req_view_t>(),
        )
    };
    // SAFETY: zeroed structs of their types.
    let codes = unsafe {
        every_function(
            &raw mut snapshot,
            &raw mut cgroups,
            &raw const cgroups_req,
            &raw mut apps,
            &raw const apps_req,
        )
    };
    assert!(
        codes
            .iter()
            .all(|c| *c == nipc_error_t::NIPC_ERR_NOT_INITIALIZED),
        "{codes:?}"
    );
}
