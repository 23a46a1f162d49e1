#!/usr/bin/env bash
# The one test command (README.md): installs what the tests need, checks formatting and lints,
# then runs every test. Needs: the Rust toolchain, kcat, e2fsprogs and iptables (Debian), root
# (the full-disk test loop-mounts a small ext4, the power-loss test mounts a FUSE fault disk and
# an ext4 on a loop device over it, the fault checker makes network namespaces), a Python venv in .venv with kafka-python and
# confluent-kafka (PyPI), and kafkajs, sarama and kafka-go (scripts/install-clients.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
if ! command -v kcat >/dev/null; then
  echo "installing kcat"
  apt-get install -y kcat >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y kcat >/dev/null; }
fi
if ! command -v mkfs.ext4 >/dev/null; then
  echo "installing e2fsprogs (the full-disk test makes a small ext4)"
  apt-get install -y e2fsprogs >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y e2fsprogs >/dev/null; }
fi
if ! command -v iptables >/dev/null; then
  echo "installing iptables (the fault checker partitions brokers' networks)"
  apt-get install -y iptables >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y iptables >/dev/null; }
fi
if ! .venv/bin/python -c 'import kafka, confluent_kafka' 2>/dev/null; then
  echo "installing the Python Kafka clients into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet kafka-python confluent-kafka
fi
./scripts/install-clients.sh
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
