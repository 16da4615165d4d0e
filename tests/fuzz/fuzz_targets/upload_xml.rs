//! Fuzz target `upload_xml`: see `homevisit_fuzz::checks::upload_xml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::upload_xml(data));
