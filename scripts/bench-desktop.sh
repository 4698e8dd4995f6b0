#!/usr/bin/env bash
# The desktop benchmarks (BENCHMARKS.md): a release build with the embedded
# UI, under Xvfb, driven through tauri-driver by ui/tests/e2e/bench.mjs.
# MEND_BENCH_ROUNDS (default 5) sets the rounds. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
(cd ui && npm run build --silent)
cargo build --release --locked -p mend-desktop --features mend-desktop/custom-protocol

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
sleep 1
port=$((4500 + RANDOM % 400))
export DISPLAY="$display" MEND_BENCH_LOG="$work/bench.log" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/share"
tauri-driver --port "$port" --native-port $((port + 1)) >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -s "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
  sleep 0.2
done
MEND_E2E_APP="$PWD/target/release/mend-desktop" MEND_E2E_DRIVER="http://127.0.0.1:$port" node ui/tests/e2e/bench.mjs
