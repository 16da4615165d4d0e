//! homevisit-e2e: helpers shared by the end-to-end tests in `tests/tests/` and the crash children
//! in `src/bin/`.

pub mod crash;
