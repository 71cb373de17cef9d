#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netipc_fuzz::cgroups_lookup_response(data));
