#![no_main]
//! libFuzzer's input to `once_fuzz::envelope_open::run` (its module documentation: input layout, properties).
libfuzzer_sys::fuzz_target!(|data: &[u8]| once_fuzz::envelope_open::run(data));
