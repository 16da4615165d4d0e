//! Fuzz target `reader_frame`: see `homevisit_fuzz::checks::reader_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::reader_frame(data));
