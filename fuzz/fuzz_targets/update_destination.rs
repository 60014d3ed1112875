#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skybook_fuzz::update_destination(data));
