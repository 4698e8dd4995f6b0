#!/usr/bin/env bash
# End to end in the real app: builds mend-desktop and mend, starts Xvfb and
# tauri-driver (WebKitWebDriver underneath), and runs ui/tests/e2e/app.e2e.mjs
# against a fresh data directory: the first-start demo heals, escalates, the
# test decides in the approval popup, the job completes, the journal shows
# the decision. Screenshots land in ui/test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing (Debian package webkit2gtk-driver)" >&2; exit 2; }
[ -f ui/dist/index.html ] || (cd ui && npm run build --silent)
cargo build --locked -p mend-desktop -p mend-cli

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
export DISPLAY="$display" MEND_DATA_DIR="$work/data" MEND_JOBS_DIR="$work/jobs" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/share"
tauri-driver --port "$port" --native-port $((port + 1)) >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -s "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
  sleep 0.2
done
MEND_E2E_APP="$PWD/target/debug/mend-desktop" MEND_E2E_CLI="$PWD/target/debug/mend" MEND_E2E_DRIVER="http://127.0.0.1:$port" \
  node --test ui/tests/e2e/app.e2e.mjs || { echo "--- tauri-driver log"; tail -50 "$work/driver.log"; exit 1; }
