#!/usr/bin/env bash
# Runs every check and test on a fresh Debian/Ubuntu machine: installs what
# is missing first. Used by CI (.ci/run) and by developers alike.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
need cc || missing+=(build-essential)
need pkg-config || missing+=(pkg-config)
need setpriv || missing+=(util-linux)
need curl || missing+=(curl)
# The desktop shell (Tauri 2) builds against WebKitGTK; the browser tests
# drive Debian's Chromium; the end-to-end tests run the real app under Xvfb
# through WebKitWebDriver.
for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev \
  chromium xvfb webkit2gtk-driver; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! need cargo; then
  echo "Rust (cargo) is required: https://rustup.rs" >&2
  exit 2
fi
if ! need node || ! need npm; then
  echo "Node.js 20+ and npm are required for the desktop UI" >&2
  exit 2
fi
export CARGO_TERM_COLOR=never

echo "== ui: npm ci, type check, build"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
echo "== mcp: the published MCP servers the tests run (tests/mcp, pinned)"
# npm ci only when node_modules is older than the lock (npm writes its own
# copy, node_modules/.package-lock.json, last): a second run needs no network.
if [ tests/mcp/node_modules/.package-lock.json -nt tests/mcp/package-lock.json ]; then
  echo "up to date"
else
  (cd tests/mcp && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi

echo "== mcp: the official Python SDK's client (mcp from PyPI, pinned) into target/mcp-py"
# The gateway's tests drive `mend mcp serve` with it (crates/mend-cli/tests/gateway.rs).
[ -x target/mcp-py/venv/bin/python ] || python3 -m venv target/mcp-py/venv
target/mcp-py/venv/bin/python -c "import mcp" 2>/dev/null || target/mcp-py/venv/bin/pip install -q 'mcp==2.3.0'

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q
echo "== cargo test"
cargo test --workspace --all-targets --locked
echo "== ui: browser tests (Chromium, mockIPC)"
(cd ui && npm test --silent)
echo "== desktop: end to end in the real app (Xvfb, tauri-driver)"
./scripts/e2e.sh
echo "== llm: against a real model server (llama-cpp-python + SmolLM2, offline)"
./scripts/test-real-llm.sh
