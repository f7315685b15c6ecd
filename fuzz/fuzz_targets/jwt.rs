#![no_main]
// the service state is made before the first input, outside libFuzzer's per-input timeout:
// making its keys (an RSA key among them) is slow under the sanitizers
libfuzzer_sys::fuzz_target!(
    init: {
        deadbolt_fuzz_targets::fixture();
    },
    |data: &[u8]| deadbolt_fuzz_targets::jwt(data)
);
