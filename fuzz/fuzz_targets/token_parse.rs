#![no_main]
//! libFuzzer's input to `once_fuzz::token_parse::run` (its module documentation: input layout, properties).
libfuzzer_sys::fuzz_target!(|data: &[u8]| once_fuzz::token_parse::run(data));
