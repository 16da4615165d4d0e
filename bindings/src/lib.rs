//! homevisit-ffi: the thin uniffi layer over `homevisit-core`. Only wrappers live here: every rule,
//! every byte format and every decision is in the core.

uniffi::setup_scaffolding!();
