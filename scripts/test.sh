#!/usr/bin/env bash
# The one test command (README.md): checks formatting and lints, then runs every test.
# Installs what is missing first; today the tests need only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Tests share 2 cores; each opens its own small io_uring executor (tuning/GUIDE.md).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line for the whole run: cargo prints one per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
