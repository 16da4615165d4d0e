//! Fuzz target `reader_session`: see `homevisit_fuzz::checks::reader_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::reader_session(data));
