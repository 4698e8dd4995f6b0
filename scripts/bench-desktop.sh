#!/usr/bin/env bash
# The desktop benchmarks (BENCHMARKS.md): a release build with the embedded
# UI, under Xvfb, driven through tauri-driver by ui/tests/e2e/bench.mjs.
# MEND_BENCH_ROUNDS (default 5) sets the rounds. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd ui && npm run build --silent)
cargo build --release --locked -p mend-desktop --features mend-desktop/custom-protocol
stage="$(mktemp -d)"
export MEND_BENCH_LOG="$stage/bench.log" XDG_CONFIG_HOME="$stage/config" XDG_DATA_HOME="$stage/share"
source scripts/desktop-stage.sh
trap 'stage_cleanup; rm -rf "$stage"' EXIT
MEND_E2E_APP="$PWD/target/release/mend-desktop" node ui/tests/e2e/bench.mjs
