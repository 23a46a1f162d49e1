#!/usr/bin/env bash
# Runs each fuzz target for a fixed time (default 60 s each), seeded with the corpus of real
# clients' frames (shards/tests/corpus/). Not part of the test command: it needs cargo-fuzz
# (`cargo install cargo-fuzz`) and builds with sanitizers. Crashes land in fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is required: cargo install cargo-fuzz"; exit 1; }
# cargo fuzz asks for nightly features (sanitizers); the stable toolchain allows them this way.
export RUSTC_BOOTSTRAP=1
mkdir -p corpus/decode_request corpus/record_batch
cp ../shards/tests/corpus/*.bin corpus/decode_request/
# Produce requests carry record batches; their bytes seed the batch target too.
cp ../shards/tests/corpus/*-api0-*.bin corpus/record_batch/
for target in decode_request record_batch; do
  echo "fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
