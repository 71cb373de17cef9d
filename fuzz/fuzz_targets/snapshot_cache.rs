#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netipc_fuzz::snapshot_cache(data));
