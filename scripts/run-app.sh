#!/usr/bin/env bash
# Builds Mend and runs its main job on embedded defaults (no LLM, no server,
# no account). With a display: the desktop app, which on a fresh install
# runs the bundled demo — a flaky service healed before your eyes, ending
# with one approval popup. Without a display (a server, an SSH session) or
# with --cli: the same demo on the terminal (`mend demo`).
# Installs what is missing first. Extra arguments go to the program
# (e.g. --cli --approve recommended for a non-interactive run).
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! need cargo; then
  echo "Rust (cargo) is required: https://rustup.rs" >&2
  exit 2
fi
desktop=1
if [ "${1:-}" = "--cli" ]; then desktop=0; shift; fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  [ $desktop = 1 ] && echo "No display: running the demo on the terminal (the desktop app needs one)." >&2
  desktop=0
fi
missing=()
need cc || missing+=(build-essential)
need pkg-config || missing+=(pkg-config)
if [ $desktop = 1 ]; then
  for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ $desktop = 1 ]; then
  if ! need npm; then
    echo "Node.js 20+ and npm are required to build the desktop UI" >&2
    exit 2
  fi
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
  cargo build --release --locked -p mend-desktop -p mend-cli --features mend-desktop/custom-protocol
  exec ./target/release/mend-desktop "$@"
fi
cargo build --release --locked -p mend-cli
exec ./target/release/mend demo "$@"
