//! Fuzz target `server_bodies`: see `homevisit_fuzz::checks::server_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::server_bodies(data));
