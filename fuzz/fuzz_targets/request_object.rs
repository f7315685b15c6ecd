#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deadbolt_fuzz_targets::request_object(data));
