#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deadbolt_fuzz_targets::mfa_verify_body(data));
