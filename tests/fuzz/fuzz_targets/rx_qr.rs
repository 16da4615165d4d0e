//! Fuzz target `rx_qr`: see `homevisit_fuzz::checks::rx_qr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::rx_qr(data));
