//! Fuzz target `card_apdu`: see `homevisit_fuzz::checks::card_apdu`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homevisit_fuzz::checks::card_apdu(data));
