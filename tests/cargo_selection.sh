# Sourced by tests/run.sh, tests/kotlin/run.sh and tests/browser/run.sh.
# The one cargo selection every test step builds with. Cargo resolves features per selection, so a
# `-p <crate>` build after the workspace tests would rebuild half the dependency tree with another
# feature set; with one selection every step after the first reuses the same artifacts.
# `homevisit-core/ble` (the btleplug backend, always on phones) is in it, so the workspace tests also
# check that the real Bluetooth backend builds and reports "no adapter" cleanly here.
CARGO_SELECTION=(--workspace --features homevisit-core/ble)
