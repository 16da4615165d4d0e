//! The fuzz targets' shared checks (see `checks`); each `fuzz_targets/*.rs` calls one of them.

pub mod checks;
