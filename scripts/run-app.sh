#!/usr/bin/env bash
# Builds Mend and runs its main job on embedded defaults (no LLM, no server,
# no account): the bundled demo, which heals a flaky service's failures in
# front of you and ends with one approval question on the terminal.
# Installs what is missing first. Extra arguments go to `mend demo`
# (e.g. --approve recommended for a non-interactive run).
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! need cc || ! need pkg-config; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential pkg-config
fi
if ! need cargo; then
  echo "Rust (cargo) is required: https://rustup.rs" >&2
  exit 2
fi
cargo build --release --locked -p mend-cli
exec ./target/release/mend demo "$@"
