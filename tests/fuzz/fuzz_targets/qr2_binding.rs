//! Fuzz target `qr2_binding`: see `homevisit_fuzz::checks::qr2_binding`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::qr2_binding(data));
