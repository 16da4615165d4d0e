#!/usr/bin/env bash
# Browser test of the pharmacy web page: headless Debian Chromium driven through chromedriver.
# The Rust test starts the pharmacy server on 127.0.0.1 and runs tests/browser/pharmacy.py, which
# prints `browser: N passed, N failed`. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cargo_selection.sh
for bin in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$bin" ]; then
    echo "browser: $bin is missing (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
done
cargo test -q "${CARGO_SELECTION[@]}" --test rx_browser -- --nocapture
